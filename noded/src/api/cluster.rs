//! The `Cluster` service: members with their state and load (from the
//! store and gossip), and Join/Leave, which the store's leader carries out.

use std::sync::Arc;

use proto::v1::cluster_server::Cluster;
use proto::v1::{
    JoinReply, JoinRequest, LeaveReply, LeaveRequest, NodeInfo, NodeLoad, NodeState, NodesReply,
    NodesRequest, UnreachableNode,
};
use tonic::{Request, Response, Status};

use super::ApiState;
use super::route::is_forwarded;
use crate::auth::{AuthError, Caller};
use crate::cluster::state::{Command, Reply};
use crate::error::ProcError;
use crate::hostproc::{self, MachineLoad};

/// Implementation of `nefele.v1.Cluster`.
pub struct ClusterApi {
    state: Arc<ApiState>,
}

impl ClusterApi {
    /// A service over the shared state.
    pub fn new(state: Arc<ApiState>) -> Self {
        ClusterApi { state }
    }
}

/// A machine's load on the wire.
fn node_load(l: &MachineLoad) -> NodeLoad {
    NodeLoad {
        load1: l.loadavg[0],
        load5: l.loadavg[1],
        load15: l.loadavg[2],
        mem_total_bytes: l.mem_total,
        mem_available_bytes: l.mem_available,
        cpus: l.cpus,
    }
}

impl ClusterApi {
    /// Fills in what this node knows first-hand about itself: it is up,
    /// where it listens, its load and its processes.
    fn describe_local(&self, info: &mut NodeInfo, load: &MachineLoad) {
        info.state = NodeState::Up as i32;
        info.address = self.state.listen_addr.clone();
        info.load = Some(node_load(load));
        info.process_count = self.state.table.running_count() as u32;
        info.started_at_ms = self.state.started_at_ms;
        info.boot_time_ms = hostproc::boot_time_ms();
    }
}

#[tonic::async_trait]
impl Cluster for ClusterApi {
    async fn nodes(&self, request: Request<NodesRequest>) -> Result<Response<NodesReply>, Status> {
        crate::auth::may_use_public_api(&self.state.caller(&request))?;
        let cluster = &self.state.cluster;
        let local = tokio::task::spawn_blocking(hostproc::machine_load)
            .await
            .map_err(|e| ProcError::Internal(format!("cannot read load: {e}")))?;
        let live = cluster.live();
        let mut reply = NodesReply {
            local: cluster.name.clone(),
            ..NodesReply::default()
        };
        let state = cluster.state();
        for m in state.members.values().cloned() {
            let mut info = NodeInfo {
                name: m.name.clone(),
                slot: m.slot.get(),
                address: m.addr.clone(),
                labels: m.labels.into_iter().collect(),
                published_processes: state.processes.get(&m.slot).map_or(0, |p| p.len() as u32),
                ..NodeInfo::default()
            };
            if m.slot == cluster.slot {
                self.describe_local(&mut info, &local);
            } else if m.left {
                info.state = NodeState::Left as i32;
            } else if let Some(p) = live.get(&m.slot) {
                info.state = NodeState::Up as i32;
                info.address = p.addr.clone();
                info.load = Some(node_load(&p.load));
                info.process_count = p.procs;
                info.boot_time_ms = p.boot_time_ms;
                info.started_at_ms = p.started_at_ms;
            } else {
                info.state = NodeState::Down as i32;
                reply.unreachable.push(UnreachableNode {
                    node: m.name.clone(),
                    error: "node is down".into(),
                });
            }
            (info.store_leader, info.store_voter) = cluster.store_role(m.slot);
            reply.nodes.push(info);
        }
        if reply.nodes.iter().all(|n| n.slot != cluster.slot.get()) {
            // Not yet in the store (it is announcing itself): still list it.
            let mut info = NodeInfo {
                name: cluster.name.clone(),
                slot: cluster.slot.get(),
                labels: self.state.labels.clone().into_iter().collect(),
                ..NodeInfo::default()
            };
            self.describe_local(&mut info, &local);
            reply.nodes.push(info);
        }
        Ok(Response::new(reply))
    }

    async fn join(&self, request: Request<JoinRequest>) -> Result<Response<JoinReply>, Status> {
        let cluster = &self.state.cluster;
        let caller = Caller::of(&request, &cluster.peers());
        let forwarded = is_forwarded(&request, &caller);
        Ok(Response::new(
            cluster
                .join(
                    request.into_inner(),
                    &caller,
                    forwarded,
                    self.state.tls.as_deref(),
                )
                .await?,
        ))
    }

    async fn leave(&self, request: Request<LeaveRequest>) -> Result<Response<LeaveReply>, Status> {
        let cluster = &self.state.cluster;
        let caller = Caller::of(&request, &cluster.peers());
        let forwarded = is_forwarded(&request, &caller);
        let request = request.into_inner();
        if request.this_node {
            if !caller.is_local_root() {
                return Err(AuthError::LeaveNeedsRoot.into());
            }
            tracing::warn!("noded leave: stopping the processes, leaving the cluster for good");
            self.state
                .decommission
                .store(true, std::sync::atomic::Ordering::SeqCst);
            self.state.shutdown.cancel();
            return Ok(Response::new(LeaveReply {}));
        }
        let slot = proto::Slot::new(u64::from(request.slot))
            .map_err(|e| ProcError::InvalidArgument(e.to_string()))?;
        // A node leaves itself; root on a node's socket removes any node
        // (its certificate then stops being accepted).
        let command = match &caller {
            Caller::Node { name }
                if forwarded || cluster.member(slot).is_some_and(|m| m.name == *name) =>
            {
                Some(Command::Leave { slot })
            }
            Caller::Insecure { .. } => Some(Command::Leave { slot }),
            other if other.is_local_root() => Some(Command::Remove { slot }),
            _ => None,
        };
        let Some(command) = command else {
            tracing::warn!(?caller, %slot, "leave refused");
            return Err(if matches!(caller, Caller::Local { .. }) {
                AuthError::RemoveNeedsRoot
            } else {
                AuthError::LeaveNotYours
            }
            .into());
        };
        if matches!(command, Command::Remove { .. }) {
            tracing::warn!(
                %slot,
                "removing a node from the cluster (root on the socket)"
            );
        }
        match cluster.write(command, forwarded).await? {
            Reply::Refused { reason } => Err(reason.into()),
            _ => Ok(Response::new(LeaveReply {})),
        }
    }
}
