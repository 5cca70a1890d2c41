//! Many noded as one cluster (docs/design/cluster.md): membership and slots
//! in a consistent store on openraft (raft_store.rs, raft_net.rs), liveness
//! and load by gossip (gossip.rs), and the directory of peers that routing
//! uses (peers.rs). `run` starts it; the API (api/) reads it.

pub mod coord;
pub mod gossip;
mod join;
pub mod membership;
pub mod peers;
pub mod raft_net;
pub mod raft_store;
pub mod services;
pub mod state;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::{BasicNode, ChangeMembers};
use proto::v1::RaftMessage;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Status};

pub use self::join::JoinError;
use self::peers::Peers;
use self::raft_net::{NetworkFactory, RaftApi};
use self::raft_store::{CoordStore, LogStore, StateMachine};
use proto::Slot;

use self::state::{Command, Reply};

/// An error with its sources, as one line: transport errors hide the
/// useful part (a TLS refusal) in their sources.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

openraft::declare_raft_types!(
    /// Types of Nefele's raft: commands change the cluster state.
    pub TypeConfig:
        D = Command,
        R = Reply,
        NodeId = u64,
        Node = BasicNode,
);

/// This node's raft instance.
pub type RaftNode = openraft::Raft<TypeConfig>;

/// Metadata key marking a request already forwarded by a node, so that
/// stale routing information can never make requests loop.
pub const FORWARDED: &str = "nefele-forwarded";

/// A request to another node, marked as forwarded, with an optional
/// deadline.
pub fn forwarded_request<T>(message: T, timeout: Option<Duration>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert(FORWARDED, tonic::metadata::MetadataValue::from_static("1"));
    if let Some(t) = timeout {
        request.set_timeout(t);
    }
    request
}

/// How long a write to the store may take, leader changes included.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long joining may take, retries included.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the leader checks voters and learners.
const RECONCILE_EVERY: Duration = Duration::from_millis(500);
/// A learner is promoted once it is this close to the leader's log.
const CAUGHT_UP: u64 = 5;

/// Why the store could not take a write or answer a read now; api/status.rs
/// makes each Unavailable (Internal for what is a bug).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("this node is not the store's leader (any more)")]
    NotLeader,
    #[error("the cluster has no leader yet")]
    NoLeader,
    #[error("{0}")]
    Unreachable(String),
    #[error("the cluster store could not take the change: {0}")]
    WriteFailed(String),
    #[error("the cluster store cannot answer a linearizable read now: {0}")]
    ReadFailed(String),
    #[error("this node's copy of the store did not catch up in time: {0}")]
    Behind(String),
    #[error("cannot encode a store write: {0}")]
    Encode(String),
    #[error("bad reply from the leader: {0}")]
    BadReply(String),
}

/// This node's figures of the store (see `Cluster::store_figures`).
#[derive(Clone, Copy, Debug, Default)]
pub struct StoreFigures {
    pub leader: bool,
    pub voter: bool,
    pub term: u64,
    pub last_log_index: u64,
    pub applied_index: u64,
}

/// Slots as raft node ids.
fn raft_ids(slots: &BTreeSet<Slot>) -> BTreeSet<u64> {
    slots.iter().map(|s| s.raft_id()).collect()
}

/// This node's view of and handle on the cluster.
pub struct Cluster {
    /// The raft instance.
    raft: RaftNode,
    /// Members and liveness (the store's copy and gossip).
    peers: Arc<Peers>,
    /// This node's name.
    pub name: String,
    /// This node's slot (its raft node id is `slot.raft_id()`).
    pub slot: Slot,
    /// This node's gRPC address.
    pub addr: String,
    /// The coordination primitives' state (SPEC §8).
    pub coord: CoordStore,
    /// The cluster's unique id (given to joining nodes); set once at start.
    cluster_id: std::sync::OnceLock<String>,
    /// When each remote node was last chosen by `@any`, to spread a burst
    /// of placements before gossip reports the new load.
    recent: std::sync::Mutex<Vec<(Instant, Slot)>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("name", &self.name)
            .field("slot", &self.slot)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Starts this node's raft (slot = raft id). A node that founds a new
    /// cluster (`found`) initializes it with itself as the only voter.
    pub async fn start(
        data_dir: &std::path::Path,
        name: &str,
        slot: Slot,
        addr: &str,
        found: bool,
        raft_api: &RaftApi,
        tls: Option<proto::tls::ClientTls>,
    ) -> anyhow::Result<Arc<Cluster>> {
        let dir = data_dir.join("raft");
        let log = LogStore::open(&dir)?;
        let sm = StateMachine::open(&dir)?;
        let coord = sm.coord();
        let local_ip = addr
            .parse::<std::net::SocketAddr>()
            .ok()
            .map(|a| a.ip())
            .filter(|ip| !ip.is_unspecified());
        let peers = Arc::new(Peers::new(slot, local_ip, sm.subscribe(), tls));
        let config = openraft::Config {
            cluster_name: "nefele".into(),
            heartbeat_interval: 500,
            election_timeout_min: 1500,
            election_timeout_max: 3000,
            install_snapshot_timeout: 2000,
            ..openraft::Config::default()
        }
        .validate()?;
        let raft = RaftNode::new(
            slot.raft_id(),
            Arc::new(config),
            NetworkFactory::new(peers.clone()),
            log,
            sm,
        )
        .await?;
        raft_api.set(raft.clone(), peers.clone());
        if found && !raft.is_initialized().await? {
            raft.initialize(BTreeMap::from([(slot.raft_id(), BasicNode::new(addr))]))
                .await?;
        }
        Ok(Arc::new(Cluster {
            raft,
            peers,
            name: name.to_string(),
            slot,
            addr: addr.to_string(),
            coord,
            cluster_id: std::sync::OnceLock::new(),
            recent: std::sync::Mutex::new(Vec::new()),
        }))
    }

    /// Writes a command through raft, forwarding to the leader if this node
    /// is not it (by calling the leader's Join/Leave RPC), retrying through
    /// leader changes until [`WRITE_TIMEOUT`]. A write that was forwarded
    /// here (`forwarded`) is never forwarded again.
    pub async fn write(&self, command: Command, forwarded: bool) -> Result<Reply, Status> {
        let deadline = Instant::now() + WRITE_TIMEOUT;
        let mut last = String::from("no leader");
        while Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.raft.client_write(command.clone())).await {
                Ok(Ok(resp)) => return Ok(resp.data),
                Ok(Err(e)) => {
                    last = e.to_string();
                    if let Some(fwd) = e.forward_to_leader::<BasicNode>()
                        && let (Some(leader), Some(node)) = (fwd.leader_id, fwd.leader_node.clone())
                        && leader != self.slot.raft_id()
                    {
                        if forwarded {
                            return Err(StoreError::NotLeader.into());
                        }
                        let addr = Slot::new(leader)
                            .ok()
                            .and_then(|leader| self.peers.addr_of(leader))
                            .unwrap_or(node.addr);
                        match self.forward(&addr, command.clone()).await {
                            Err(status) if status.code() == Code::Unavailable => {
                                last = status.message().to_string()
                            }
                            other => return other,
                        }
                    }
                }
                Err(_) => last = "the store's leader did not commit in time".into(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(StoreError::WriteFailed(last).into())
    }

    /// Waits until this node's copy of the store holds every write
    /// committed before the call (raft's read index: the leader confirms
    /// it still leads, this node applies up to its commit), so that a read
    /// that follows is linearizable.
    pub async fn linearize(&self) -> Result<(), Status> {
        let deadline = Instant::now() + WRITE_TIMEOUT;
        let mut last = String::from("no leader");
        while Instant::now() < deadline {
            let index = match self.raft.get_read_log_id().await {
                Ok((read, _)) => Ok(read.map(|l| l.index)),
                Err(e) => match e.forward_to_leader::<BasicNode>() {
                    Some(fwd) if fwd.leader_id.is_some_and(|l| l != self.slot.raft_id()) => {
                        let addr = fwd
                            .leader_id
                            .and_then(|leader| Slot::new(leader).ok())
                            .and_then(|leader| self.peers.addr_of(leader))
                            .or_else(|| fwd.leader_node.as_ref().map(|n| n.addr.clone()))
                            .unwrap_or_default();
                        self.read_index_of(&addr).await
                    }
                    _ => Err(e.to_string()),
                },
            };
            match index {
                Ok(index) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    return self
                        .raft
                        .wait(Some(left))
                        .applied_index_at_least(index, "linearizable read")
                        .await
                        .map(|_| ())
                        .map_err(|e| StoreError::Behind(e.to_string()).into());
                }
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(StoreError::ReadFailed(last).into())
    }

    /// The leader's read index, through its internal `Raft.ReadIndex`.
    async fn read_index_of(&self, leader_addr: &str) -> Result<Option<u64>, String> {
        let channel = self
            .peers
            .channel(leader_addr)
            .await
            .map_err(|e| e.to_string())?;
        let mut raft = proto::v1::raft_client::RaftClient::new(channel);
        let reply = raft
            .read_index(forwarded_request(
                RaftMessage { json: Vec::new() },
                Some(WRITE_TIMEOUT),
            ))
            .await
            .map_err(|s| s.message().to_string())?
            .into_inner();
        serde_json::from_slice(&reply.json).map_err(|e| format!("bad reply from the leader: {e}"))
    }

    /// Hands a write to the leader through its internal `Raft.Write`.
    async fn forward(&self, leader_addr: &str, command: Command) -> Result<Reply, Status> {
        let json = serde_json::to_vec(&command).map_err(|e| StoreError::Encode(e.to_string()))?;
        let channel = self
            .peers
            .channel(leader_addr)
            .await
            .map_err(|e| StoreError::Unreachable(e.to_string()))?;
        let mut raft = proto::v1::raft_client::RaftClient::new(channel);
        let reply = raft
            .write(forwarded_request(RaftMessage { json }, Some(WRITE_TIMEOUT)))
            .await?
            .into_inner();
        serde_json::from_slice(&reply.json).map_err(|e| StoreError::BadReply(e.to_string()).into())
    }

    /// The store's state as this node has it.
    pub fn state(&self) -> crate::cluster::state::ClusterState {
        self.peers.state()
    }

    /// Every member, by slot.
    pub fn members(&self) -> std::collections::BTreeMap<Slot, state::Member> {
        self.peers.members()
    }

    /// The member with `slot`.
    pub fn member(&self, slot: Slot) -> Option<state::Member> {
        self.peers.member(slot)
    }

    /// The member called `name`.
    pub fn member_named(&self, name: &str) -> Option<state::Member> {
        self.peers.member_named(name)
    }

    /// The service called `name`, as the store has it.
    pub fn service(&self, name: &str) -> Option<crate::cluster::services::Service> {
        self.peers.service(name)
    }

    /// Every service, by name, as the store has it.
    pub fn services(
        &self,
    ) -> std::collections::BTreeMap<String, crate::cluster::services::Service> {
        self.peers.services()
    }

    /// A channel to `member`'s API, at the address gossip last saw it use
    /// (else the one it joined with); channels are cached and shared.
    pub async fn channel_to(
        &self,
        member: &state::Member,
    ) -> Result<tonic::transport::Channel, proto::AddrError> {
        let addr = self
            .peers
            .addr_of(member.slot)
            .unwrap_or_else(|| member.addr.clone());
        self.peers.channel(&addr).await
    }

    /// What gossip says of each live member.
    pub fn live(&self) -> std::collections::HashMap<Slot, peers::PeerLoad> {
        self.peers.live()
    }

    /// Whether gossip sees member `slot` up.
    pub fn is_up(&self, slot: Slot) -> bool {
        self.peers.is_up(slot)
    }

    /// The membership view, for what identifies callers by it (the API
    /// guard and `Caller::of`: which certificates are members') and for
    /// gossip, wired to it at start. Everything else asks the methods
    /// above.
    pub fn peers(&self) -> Arc<Peers> {
        self.peers.clone()
    }

    /// Stops the raft instance (the last step of shutdown).
    pub async fn shutdown_raft(&self) {
        let _ = self.raft.shutdown().await;
    }

    /// Records the cluster's id (from this node's data dir).
    pub fn set_cluster_id(&self, id: &str) {
        let _ = self.cluster_id.set(id.to_string());
    }

    /// The cluster's id.
    pub fn cluster_id(&self) -> String {
        self.cluster_id.get().cloned().unwrap_or_default()
    }

    /// Whether `slot` is the store's leader, and whether it is a voter.
    pub fn store_role(&self, slot: Slot) -> (bool, bool) {
        let m = self.raft.metrics().borrow().clone();
        let id = slot.raft_id();
        // A voter of every configuration: while a change is in its joint
        // phase, members coming in (or going out) are not counted yet, so
        // "3 voters" means a settled 3 (losing one cannot stop the store,
        // which it can during the joint phase: the old configuration's
        // majority is needed too).
        let voter = m
            .membership_config
            .membership()
            .get_joint_config()
            .iter()
            .all(|config| config.contains(&id));
        (m.current_leader == Some(id), voter)
    }

    /// This node's figures of the store, for the metrics.
    pub fn store_figures(&self) -> StoreFigures {
        let m = self.raft.metrics().borrow().clone();
        let (leader, voter) = self.store_role(self.slot);
        StoreFigures {
            leader,
            voter,
            term: m.current_term,
            last_log_index: m.last_log_index.unwrap_or(0),
            applied_index: m.last_applied.map_or(0, |l| l.index),
        }
    }

    /// Whether this node is the raft leader now.
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().current_leader == Some(self.slot.raft_id())
    }

    /// Returns once this node leads the store (at once if it does). The
    /// leader-only loops wait here instead of waking every so often on
    /// every node to find that they are not the leader. Never returns
    /// once the store has stopped.
    pub async fn until_leader(&self) {
        let me = self.slot.raft_id();
        let mut server = self.raft.server_metrics();
        if server
            .wait_for(|m| m.current_leader == Some(me))
            .await
            .is_err()
        {
            std::future::pending::<()>().await;
        }
    }

    /// Records that `@any` chose `slot` (see `recent`).
    pub fn note_placement(&self, slot: Slot) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.retain(|(at, _)| at.elapsed() < Duration::from_secs(2));
        recent.push((Instant::now(), slot));
    }

    /// Placements on `slot` in the last two seconds.
    pub fn recent_placements(&self, slot: Slot) -> u32 {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent
            .iter()
            .filter(|(at, s)| *s == slot && at.elapsed() < Duration::from_secs(2))
            .count() as u32
    }

    /// Leaves cleanly: records the member as left and waits (bounded) until
    /// the leader has taken it out of the raft membership.
    pub async fn leave(&self, timeout: Duration) {
        let work = async {
            if let Err(e) = self.write(Command::Leave { slot: self.slot }, false).await {
                tracing::warn!(error = %e, "cannot record leaving the cluster");
                return;
            }
            let mut metrics = self.raft.metrics();
            loop {
                let still_member = {
                    let m = metrics.borrow_and_update();
                    let others = m
                        .membership_config
                        .membership()
                        .voter_ids()
                        .any(|v| v != self.slot.raft_id());
                    others
                        && m.membership_config
                            .membership()
                            .get_node(&self.slot.raft_id())
                            .is_some()
                };
                if !still_member {
                    return;
                }
                if self.is_leader() {
                    self.reconcile(&mut HashMap::new(), Duration::MAX).await;
                }
                tokio::select! {
                    _ = metrics.changed() => {}
                    _ = tokio::time::sleep(RECONCILE_EVERY) => {}
                }
            }
        };
        if tokio::time::timeout(timeout, work).await.is_err() {
            tracing::warn!("leaving the cluster timed out; the others will mark this node down");
        }
    }

    /// Runs the leader's membership upkeep until `shutdown`; a voter down
    /// for `replace_after` is replaced (see membership.rs).
    pub fn spawn_reconciler(
        self: &Arc<Self>,
        replace_after: Duration,
        shutdown: CancellationToken,
    ) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut down_since: HashMap<Slot, Instant> = HashMap::new();
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(RECONCILE_EVERY) => {}
                }
                if !me.is_leader() {
                    down_since.clear();
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = me.until_leader() => continue,
                    }
                }
                me.reconcile(&mut down_since, replace_after).await;
            }
        });
    }

    /// On the leader: what the store's membership should be now
    /// (membership::plan), one change per round.
    async fn reconcile(&self, down_since: &mut HashMap<Slot, Instant>, replace_after: Duration) {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership().clone();
        // Raft's node ids are slots (ids that are not are ignored).
        let slots = |ids: &mut dyn Iterator<Item = u64>| -> BTreeSet<Slot> {
            ids.filter_map(|id| Slot::new(id).ok()).collect()
        };
        let voters = slots(&mut membership.voter_ids());
        let learners = slots(&mut membership.learner_ids());
        let members = self.peers.members();
        let up: BTreeSet<Slot> = members
            .keys()
            .copied()
            .filter(|s| *s == self.slot || self.peers.is_up(*s))
            .collect();
        let now = Instant::now();
        down_since.retain(|slot, _| voters.contains(slot) && !up.contains(slot));
        for v in voters.iter().filter(|v| !up.contains(v)) {
            down_since.entry(*v).or_insert(now);
        }
        let last = metrics.last_log_index.unwrap_or(0);
        let matched = metrics.replication.clone().unwrap_or_default();
        let caught_up = learners
            .iter()
            .copied()
            .filter(|id| {
                matched
                    .get(&id.raft_id())
                    .and_then(|m| m.as_ref())
                    .is_some_and(|log_id| log_id.index + CAUGHT_UP >= last)
            })
            .collect();
        let seen = membership::Seen {
            members,
            voters,
            learners,
            up,
            caught_up,
            down_long: down_since
                .iter()
                .filter(|(_, since)| now.duration_since(**since) >= replace_after)
                .map(|(slot, _)| *slot)
                .collect(),
        };
        let Some(change) = membership::plan(&seen) else {
            return;
        };
        let result = match change.clone() {
            membership::Change::AddLearners(new) => {
                // One change for all of them (see Join: each change
                // restarts replication to every node).
                let nodes = new
                    .iter()
                    .map(|(slot, addr)| (slot.raft_id(), BasicNode::new(addr)))
                    .collect();
                self.raft
                    .change_membership(ChangeMembers::AddNodes(nodes), false)
                    .await
            }
            membership::Change::RemoveVoters(ids) => {
                self.raft
                    .change_membership(ChangeMembers::RemoveVoters(raft_ids(&ids)), false)
                    .await
            }
            membership::Change::RemoveNodes(ids) => {
                self.raft
                    .change_membership(ChangeMembers::RemoveNodes(raft_ids(&ids)), false)
                    .await
            }
            membership::Change::AddVoters(ids) => {
                tracing::info!(candidates = ?ids, "promoting learners to voters");
                self.raft
                    .change_membership(ChangeMembers::AddVoterIds(raft_ids(&ids)), false)
                    .await
            }
            membership::Change::ReplaceVoters(ids) => {
                tracing::warn!(voters = ?ids, down = ?seen.down_long, "replacing voters down for long");
                self.raft
                    .change_membership(ChangeMembers::ReplaceAllVoters(raft_ids(&ids)), false)
                    .await
            }
        };
        if let Err(e) = result {
            tracing::warn!(?change, error = %e, "cannot change the store's membership");
        }
    }
}
