//! Raft messages over the existing tonic server: the client side
//! (openraft's `RaftNetwork`, one per peer) and the internal `Raft` gRPC
//! service that hands incoming messages to the local raft instance.
//! Payloads are openraft's own types, JSON-encoded.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use proto::v1::RaftMessage;
use proto::v1::raft_client::RaftClient;
use proto::v1::raft_server::Raft as RaftService;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::{Request, Response, Status};

use proto::Slot;

use super::peers::Peers;
use super::{RaftNode, TypeConfig};

type NodeId = u64;

/// Builds a client per peer; addresses come from [`Peers`] (gossip and
/// the store), falling back to the address in the raft membership.
#[derive(Clone)]
pub struct NetworkFactory {
    peers: Arc<Peers>,
}

impl NetworkFactory {
    /// A factory resolving addresses through `peers`.
    pub fn new(peers: Arc<Peers>) -> Self {
        NetworkFactory { peers }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        PeerClient {
            target,
            fallback_addr: node.addr.clone(),
            peers: self.peers.clone(),
        }
    }
}

/// Raft messages to one peer.
pub struct PeerClient {
    target: NodeId,
    fallback_addr: String,
    peers: Arc<Peers>,
}

impl PeerClient {
    async fn call<Req, Resp, E>(
        &self,
        which: Rpc,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned + 'static,
    {
        let addr = Slot::new(self.target)
            .ok()
            .and_then(|slot| self.peers.addr_of(slot))
            .unwrap_or_else(|| self.fallback_addr.clone());
        let unreachable = |e: &dyn std::error::Error| {
            RPCError::Unreachable(Unreachable::new(&AnyError(e.to_string())))
        };
        let channel = self
            .peers
            .channel(&addr)
            .await
            .map_err(|e| unreachable(&e))?;
        let json = serde_json::to_vec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut request = Request::new(RaftMessage { json });
        request.set_timeout(option.hard_ttl().max(Duration::from_millis(500)));
        let mut client = RaftClient::new(channel);
        let reply = match which {
            Rpc::Append => client.append_entries(request).await,
            Rpc::Vote => client.vote(request).await,
            Rpc::Snapshot => client.install_snapshot(request).await,
        }
        .map_err(|status| unreachable(&status))?;
        let result: Result<Resp, E> = serde_json::from_slice(&reply.into_inner().json)
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

#[derive(Clone, Copy)]
enum Rpc {
    Append,
    Vote,
    Snapshot,
}

/// A transport error as a plain error value for openraft.
#[derive(Debug)]
struct AnyError(String);

impl std::fmt::Display for AnyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AnyError {}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(Rpc::Append, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call(Rpc::Snapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(Rpc::Vote, &rpc, &option).await
    }
}

/// The internal `Raft` gRPC service: it answers only to nodes of this
/// cluster (`auth::require_node`). Until this node's raft exists (a joining
/// node learns its id first), messages are refused as Unavailable and the
/// leader retries.
#[derive(Clone, Default)]
pub struct RaftApi {
    started: Arc<OnceLock<(RaftNode, Arc<Peers>)>>,
}

/// Why the raft service refuses a message; a status only in api/status.rs.
#[derive(Debug, thiserror::Error)]
pub enum RaftNetError {
    /// This node's raft does not exist yet (it is still joining).
    #[error("raft is not started on this node yet")]
    NotStarted,
    /// The caller is not a node of this cluster.
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    /// The message does not decode.
    #[error("bad raft message: {0}")]
    BadMessage(String),
    /// The reply does not encode.
    #[error("cannot encode raft reply: {0}")]
    Encode(String),
    /// A write or read index reached a node that is not the leader.
    #[error("this node is not the store's leader: {0}")]
    NotLeader(String),
}

impl RaftApi {
    /// Hands messages to `raft` from now on; `peers` knows which node
    /// certificates are pinned.
    pub fn set(&self, raft: RaftNode, peers: Arc<Peers>) {
        let _ = self.started.set((raft, peers));
    }

    /// The raft instance, once the caller is known to be a node.
    fn raft<T>(&self, request: &Request<T>) -> Result<&RaftNode, Status> {
        let (raft, peers) = self.started.get().ok_or(RaftNetError::NotStarted)?;
        crate::auth::require_node(request, peers, "the raft service")?;
        Ok(raft)
    }
}

fn decode<T: DeserializeOwned>(msg: RaftMessage) -> Result<T, Status> {
    serde_json::from_slice(&msg.json).map_err(|e| RaftNetError::BadMessage(e.to_string()).into())
}

fn encode<T: Serialize>(value: &T) -> Result<Response<RaftMessage>, Status> {
    let json = serde_json::to_vec(value).map_err(|e| RaftNetError::Encode(e.to_string()))?;
    Ok(Response::new(RaftMessage { json }))
}

#[tonic::async_trait]
impl RaftService for RaftApi {
    async fn append_entries(
        &self,
        request: Request<RaftMessage>,
    ) -> Result<Response<RaftMessage>, Status> {
        let raft = self.raft(&request)?;
        let req: AppendEntriesRequest<TypeConfig> = decode(request.into_inner())?;
        encode(&raft.append_entries(req).await)
    }

    async fn vote(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let raft = self.raft(&request)?;
        let req: VoteRequest<NodeId> = decode(request.into_inner())?;
        encode(&raft.vote(req).await)
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftMessage>,
    ) -> Result<Response<RaftMessage>, Status> {
        let raft = self.raft(&request)?;
        let req: InstallSnapshotRequest<TypeConfig> = decode(request.into_inner())?;
        encode(&raft.install_snapshot(req).await)
    }

    async fn write(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let raft = self.raft(&request)?;
        let command: super::state::Command = decode(request.into_inner())?;
        match raft.client_write(command).await {
            Ok(response) => encode(&response.data),
            Err(e) => Err(RaftNetError::NotLeader(e.to_string()).into()),
        }
    }

    async fn read_index(
        &self,
        request: Request<RaftMessage>,
    ) -> Result<Response<RaftMessage>, Status> {
        let raft = self.raft(&request)?;
        match raft.get_read_log_id().await {
            Ok((read, _applied)) => encode(&read.map(|l| l.index)),
            Err(e) => Err(RaftNetError::NotLeader(e.to_string()).into()),
        }
    }
}
