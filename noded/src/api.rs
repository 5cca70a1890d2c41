//! The gRPC services of SPEC §5 over the process table and the cluster.
//! Wire types are converted to domain types in `convert`, errors to
//! statuses in `status`, requests for other nodes forwarded by `route`; the
//! services themselves only dispatch.

mod cluster;
mod convert;
mod coord;
mod fifo;
mod follow;
mod pipe;
pub use pipe::serve_pipes;
mod processes;
mod route;
mod services;
mod status;
mod stdin_file;
mod tokens;

use std::collections::BTreeMap;
use std::sync::Arc;

use proto::v1::cluster_server::ClusterServer;
use proto::v1::processes_server::ProcessesServer;
use proto::v1::raft_server::RaftServer;
use tonic::service::Routes;

use crate::cluster::Cluster;
use crate::cluster::raft_net::RaftApi;
use crate::table::ProcessTable;

/// What the services share.
#[derive(Debug)]
pub struct ApiState {
    /// This node's processes.
    pub table: Arc<ProcessTable>,
    /// The cluster: members, liveness, the store.
    pub cluster: Arc<Cluster>,
    /// The TCP address the API is served on (as bound, with the real port).
    pub listen_addr: String,
    /// Labels given with --label.
    pub labels: BTreeMap<String, String>,
    /// When this noded started, ms since the epoch.
    pub started_at_ms: u64,
    /// The cluster's certificates (`None` with `--insecure`).
    pub tls: Option<Arc<crate::tls::ClusterTls>>,
    /// `--admin-group`.
    pub admin_group: Option<String>,
    /// Cancelled to stop noded (`noded leave`).
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Set by `noded leave`: stop the processes and leave the cluster at
    /// shutdown, whatever the flags say.
    pub decommission: Arc<std::sync::atomic::AtomicBool>,
    /// Clients' files offered as stdin to processes of other nodes.
    pub offers: Arc<stdin_file::Offers>,
}

/// The routes of every service (the internal Raft one included: it checks
/// its callers itself, see auth.rs), plus gRPC server reflection.
pub fn routes(state: Arc<ApiState>, raft: RaftApi) -> anyhow::Result<Routes> {
    // Both reflection versions: older generic clients (grpcio-reflection,
    // older grpcurl, GUIs) speak only v1alpha.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let reflection = reflection().build_v1()?;
    let guard = crate::auth::public_api_guard(state.cluster.peers());
    let mut builder = Routes::builder();
    builder
        .add_service(ProcessesServer::with_interceptor(
            processes::ProcessesApi::new(state.clone()),
            guard.clone(),
        ))
        // Join answers new nodes (tokens) too: the service checks callers.
        .add_service(ClusterServer::new(cluster::ClusterApi::new(state.clone())))
        .add_service(
            proto::v1::services_server::ServicesServer::with_interceptor(
                services::ServicesApi::new(state.clone()),
                guard.clone(),
            ),
        )
        .add_service(proto::v1::coord_server::CoordServer::with_interceptor(
            coord::CoordApi::new(state.clone()),
            guard,
        ))
        .add_service(proto::v1::tokens_server::TokensServer::new(
            tokens::TokensApi::new(state),
        ))
        .add_service(RaftServer::new(raft).max_decoding_message_size(64 << 20))
        .add_service(reflection)
        .add_service(reflection_v1alpha);
    Ok(builder.routes())
}
