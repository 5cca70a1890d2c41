//! The `Cluster` service. On a lone node the membership is this node; the
//! cluster issue fills it from the consistent store and gossip.

use std::sync::Arc;

use proto::v1::cluster_server::Cluster;
use proto::v1::{NodeInfo, NodeLoad, NodeState, NodesReply, NodesRequest};
use tonic::{Request, Response, Status};

use super::ApiState;
use crate::hostproc;

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

#[tonic::async_trait]
impl Cluster for ClusterApi {
    async fn nodes(&self, _request: Request<NodesRequest>) -> Result<Response<NodesReply>, Status> {
        let ctx = self.state.table.ctx();
        let load = tokio::task::spawn_blocking(hostproc::machine_load)
            .await
            .map_err(|e| Status::internal(format!("cannot read load: {e}")))?;
        let me = NodeInfo {
            name: ctx.name.clone(),
            slot: ctx.slot,
            address: self.state.listen_addr.clone(),
            state: NodeState::Up as i32,
            labels: self.state.labels.clone().into_iter().collect(),
            load: Some(NodeLoad {
                load1: load.loadavg[0],
                load5: load.loadavg[1],
                load15: load.loadavg[2],
                mem_total_bytes: load.mem_total,
                mem_available_bytes: load.mem_available,
                cpus: load.cpus,
            }),
            process_count: self.state.table.running_count() as u32,
            started_at_ms: self.state.started_at_ms,
            boot_time_ms: hostproc::boot_time_ms(),
        };
        Ok(Response::new(NodesReply {
            nodes: vec![me],
            unreachable: Vec::new(),
        }))
    }
}
