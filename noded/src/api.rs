//! The gRPC services of SPEC §5 over the process table. Wire types are
//! converted to domain types in `convert`, errors to statuses in `status`;
//! the services themselves only route.

mod cluster;
mod convert;
mod follow;
mod processes;
mod status;

use std::collections::BTreeMap;
use std::sync::Arc;

use proto::v1::cluster_server::ClusterServer;
use proto::v1::processes_server::ProcessesServer;
use tonic::service::Routes;

use crate::table::ProcessTable;

/// What the services share.
#[derive(Debug)]
pub struct ApiState {
    /// This node's processes.
    pub table: Arc<ProcessTable>,
    /// The TCP address the API is served on (as bound, with the real port).
    pub listen_addr: String,
    /// Labels given with --label.
    pub labels: BTreeMap<String, String>,
    /// When this noded started, ms since the epoch.
    pub started_at_ms: u64,
}

/// The routes of every service, plus gRPC server reflection.
pub fn routes(state: Arc<ApiState>) -> anyhow::Result<Routes> {
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let mut builder = Routes::builder();
    builder
        .add_service(ProcessesServer::new(processes::ProcessesApi::new(
            state.clone(),
        )))
        .add_service(ClusterServer::new(cluster::ClusterApi::new(state)))
        .add_service(reflection);
    Ok(builder.routes())
}
