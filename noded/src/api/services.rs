//! The `Services` RPCs (SPEC §7): checks, then store writes (forwarded to
//! the store's leader by `Cluster::write`); reads answer from this node's
//! copy of the store. The reconciler (`crate::services`) does the rest.

use std::sync::Arc;

use proto::Gpid;
use proto::v1::services_server::Services;
use proto::v1::{
    CreateServiceRequest, GetServiceRequest, ListServicesReply, ListServicesRequest,
    RemoveServiceReply, RemoveServiceRequest, ReplicaInfo, ScaleServiceRequest, ServiceInfo,
};
use tonic::{Request, Response, Status};

use super::ApiState;
use crate::auth::Principal;
use crate::cluster::services::{self, Replica, ReplicaState, Restart, Service, ServiceSpec};
use crate::cluster::state::{Command, Refusal, Reply};

/// Largest replica count accepted.
const MAX_REPLICAS: u32 = 10_000;

pub struct ServicesApi {
    state: Arc<ApiState>,
}

impl ServicesApi {
    pub fn new(state: Arc<ApiState>) -> Self {
        ServicesApi { state }
    }

    async fn write(&self, command: Command) -> Result<(), Status> {
        match self.state.cluster.write(command, false).await? {
            Reply::Refused { reason } => Err(reason.into()),
            _ => Ok(()),
        }
    }

    /// The service as this node's store copy has it, if `principal` may
    /// see it; after a write, waits briefly for the copy to catch up.
    async fn read(
        &self,
        name: &str,
        present: bool,
        principal: &Principal,
    ) -> Result<ServiceInfo, Status> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            let found = self
                .state
                .cluster
                .service(name)
                .filter(|s| principal.may_see(s.spec.owner()));
            match found {
                Some(service) => return Ok(info(&service, &self.node_names())),
                None if !present || tokio::time::Instant::now() >= deadline => {
                    return Err(Refusal::NoSuchService(name.to_string()).into());
                }
                None => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
    }

    fn node_names(&self) -> std::collections::BTreeMap<proto::Slot, String> {
        self.state
            .cluster
            .members()
            .into_iter()
            .map(|(slot, m)| (slot, m.name))
            .collect()
    }
}

/// What is wrong with a service request; api/status.rs makes each an
/// InvalidArgument.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{0:?}: a service name is 1 to 64 letters, digits, '-', '_' or '.'")]
    BadName(String),
    #[error("a service needs a spec")]
    NoSpec,
    #[error("a service needs a command")]
    NoCommand,
    #[error("{0} replicas: at most {MAX_REPLICAS}")]
    TooManyReplicas(u32),
    #[error("{0}: replica count must be 0 to {MAX_REPLICAS}")]
    BadCount(i64),
    #[error("restart policy {0}: unknown")]
    UnknownRestart(i32),
}

fn spec_from_wire(wire: proto::v1::ServiceSpec) -> Result<ServiceSpec, SpecError> {
    if !services::valid_name(&wire.name) {
        return Err(SpecError::BadName(wire.name));
    }
    if wire.argv.is_empty() || wire.argv[0].is_empty() {
        return Err(SpecError::NoCommand);
    }
    if wire.replicas > MAX_REPLICAS {
        return Err(SpecError::TooManyReplicas(wire.replicas));
    }
    let restart = match proto::v1::RestartPolicy::try_from(wire.restart) {
        Ok(proto::v1::RestartPolicy::OnFailure) => Restart::OnFailure,
        Ok(proto::v1::RestartPolicy::Never) => Restart::Never,
        Ok(_) => Restart::Always,
        Err(_) => return Err(SpecError::UnknownRestart(wire.restart)),
    };
    Ok(ServiceSpec {
        name: wire.name,
        argv: wire.argv,
        env: wire.env.into_iter().collect(),
        cwd: if wire.cwd.is_empty() {
            "/".to_string()
        } else {
            wire.cwd
        },
        replicas: wire.replicas,
        restart,
        constraints: wire.constraints.into_iter().collect(),
        owner: String::new(),
    })
}

fn spec_to_wire(spec: &ServiceSpec) -> proto::v1::ServiceSpec {
    proto::v1::ServiceSpec {
        name: spec.name.clone(),
        argv: spec.argv.clone(),
        env: spec.env.clone().into_iter().collect(),
        cwd: spec.cwd.clone(),
        replicas: spec.replicas,
        restart: match spec.restart {
            Restart::Always => proto::v1::RestartPolicy::Always,
            Restart::OnFailure => proto::v1::RestartPolicy::OnFailure,
            Restart::Never => proto::v1::RestartPolicy::Never,
        } as i32,
        constraints: spec.constraints.clone().into_iter().collect(),
    }
}

fn replica_to_wire(
    index: u32,
    r: &Replica,
    nodes: &std::collections::BTreeMap<proto::Slot, String>,
) -> ReplicaInfo {
    use proto::v1::ReplicaState as W;
    ReplicaInfo {
        index,
        state: match r.state {
            ReplicaState::Pending => W::Pending,
            ReplicaState::Running => W::Running,
            ReplicaState::Backoff => W::Backoff,
            ReplicaState::CrashLoop => W::CrashLoop,
            ReplicaState::Done => W::Done,
            ReplicaState::Unschedulable => W::Unschedulable,
        } as i32,
        node: r
            .slot
            .and_then(|slot| nodes.get(&slot).cloned())
            .unwrap_or_default(),
        pid: r.pid.map_or(0, Gpid::as_raw),
        restarts: r.restarts,
        started_ms: r.started_ms,
        next_start_ms: r.next_start_ms,
        last_status: r.last_status,
        error: r.error.clone(),
    }
}

/// The wire view of a service: one replica per index below the count (a
/// not yet recorded one is pending).
fn info(service: &Service, nodes: &std::collections::BTreeMap<proto::Slot, String>) -> ServiceInfo {
    let replicas = (0..service.spec.replicas)
        .map(|i| {
            let record = service.replicas.get(&i).cloned().unwrap_or_default();
            replica_to_wire(i, &record, nodes)
        })
        .collect();
    ServiceInfo {
        spec: Some(spec_to_wire(&service.spec)),
        replicas,
        created_ms: service.created_ms,
    }
}

#[tonic::async_trait]
impl Services for ServicesApi {
    async fn create_service(
        &self,
        request: Request<CreateServiceRequest>,
    ) -> Result<Response<ServiceInfo>, Status> {
        let principal = self.state.principal(&request)?;
        let wire = request.into_inner().spec.ok_or(SpecError::NoSpec)?;
        let mut spec = spec_from_wire(wire)?;
        spec.owner = principal.user.clone();
        let name = spec.name.clone();
        let created_ms = proto::now_ms();
        self.write(Command::CreateService { spec, created_ms })
            .await?;
        Ok(Response::new(self.read(&name, true, &principal).await?))
    }

    async fn scale_service(
        &self,
        request: Request<ScaleServiceRequest>,
    ) -> Result<Response<ServiceInfo>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        self.read(&req.name, false, &principal).await?;
        let replicas = u32::try_from(req.replicas)
            .ok()
            .filter(|n| *n <= MAX_REPLICAS)
            .ok_or(SpecError::BadCount(i64::from(req.replicas)))?;
        self.write(Command::ScaleService {
            name: req.name.clone(),
            replicas,
        })
        .await?;
        Ok(Response::new(self.read(&req.name, true, &principal).await?))
    }

    async fn remove_service(
        &self,
        request: Request<RemoveServiceRequest>,
    ) -> Result<Response<RemoveServiceReply>, Status> {
        let principal = self.state.principal(&request)?;
        let name = request.into_inner().name;
        self.read(&name, false, &principal).await?;
        self.write(Command::RemoveService { name }).await?;
        Ok(Response::new(RemoveServiceReply {}))
    }

    async fn get_service(
        &self,
        request: Request<GetServiceRequest>,
    ) -> Result<Response<ServiceInfo>, Status> {
        let principal = self.state.principal(&request)?;
        let name = request.into_inner().name;
        Ok(Response::new(self.read(&name, false, &principal).await?))
    }

    async fn list_services(
        &self,
        request: Request<ListServicesRequest>,
    ) -> Result<Response<ListServicesReply>, Status> {
        let principal = self.state.principal(&request)?;
        let nodes = self.node_names();
        let services = self
            .state
            .cluster
            .services()
            .values()
            .filter(|s| principal.may_see(s.spec.owner()))
            .map(|s| info(s, &nodes))
            .collect();
        Ok(Response::new(ListServicesReply { services }))
    }
}
