//! Liveness and load by gossip (chitchat: scuttlebutt with phi-accrual
//! failure detection), the pattern Consul and Nomad use beside raft. Each
//! node publishes its slot, gRPC address and load; any node can then route
//! and place without asking the leader. Gossip runs over UDP on the same
//! port number as the gRPC API.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chitchat::transport::{RecvOutcome, SendOutcome, Socket, Transport, UdpTransport};
use chitchat::{
    ChitchatConfig, ChitchatEnvelope, ChitchatHandle, ChitchatId, ChitchatMessage,
    FailureDetectorConfig, spawn_chitchat,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use proto::Slot;

use super::peers::{PeerLoad, Peers};
use crate::hostproc::{self, MachineLoad};

/// How often a node gossips.
pub const GOSSIP_INTERVAL: Duration = Duration::from_millis(500);
/// The step free memory is published in (64 MiB).
const MEM_STEP: u64 = 64 << 20;

/// How often this node samples its load to publish (the kernel's load
/// averages move every 5 s; each change is gossiped to every node).
pub const LOAD_EVERY: Duration = Duration::from_secs(1);

/// Who this node is to gossip.
#[derive(Clone, Debug)]
pub struct GossipConfig {
    pub cluster_id: String,
    pub name: String,
    pub slot: Slot,
    /// Where gossip listens (UDP, the API's port).
    pub listen: SocketAddr,
    /// The address peers are told.
    pub advertise: SocketAddr,
    /// Members to gossip with first.
    pub seeds: Vec<String>,
    /// How long a silent node takes to be declared down.
    pub down_after: Duration,
}

/// What this node says of its own load: the machine's, and how many
/// processes it runs (sampled by whoever owns them; see
/// `ProcessTable::sample_load`).
#[derive(Clone, Debug, Default)]
pub struct SelfLoad {
    pub machine: MachineLoad,
    pub procs: usize,
}

/// Puts this node's load into its gossiped state (a key whose value did
/// not change makes no new version).
fn publish_load(me: &mut chitchat::NodeState, load: &MachineLoad, procs: usize) {
    me.set("load1", load.loadavg[0]);
    me.set("load5", load.loadavg[1]);
    me.set("load15", load.loadavg[2]);
    me.set("mem_total", load.mem_total);
    // Rounded, so that the small moves of free memory do not make a new
    // version of every node's state at each sample (each one gossiped to
    // every node).
    me.set("mem_available", load.mem_available / MEM_STEP * MEM_STEP);
    me.set("cpus", load.cpus);
    me.set("procs", procs);
}

/// The live peers as last read from gossip, each with the version of its
/// state it was read at: an update parses only the peers whose state
/// changed (at 100 nodes, parsing every peer's keys on a 250 ms timer was
/// a tenth of the idle cluster's CPU).
#[derive(Default)]
struct LiveSet {
    peers: HashMap<ChitchatId, (u64, Option<(Slot, PeerLoad)>)>,
}

impl LiveSet {
    /// Takes in the live nodes as chitchat lists them (`me` among them);
    /// whether anything changed.
    fn update(
        &mut self,
        me: &ChitchatId,
        nodes: &BTreeMap<ChitchatId, chitchat::NodeState>,
    ) -> bool {
        let mut changed = false;
        for (id, state) in nodes.iter().filter(|(id, _)| *id != me) {
            let version = state.max_version();
            match self.peers.get(id) {
                Some((known, _)) if *known == version => {}
                _ => {
                    self.peers.insert(id.clone(), (version, peer_load(state)));
                    changed = true;
                }
            }
        }
        if self.peers.len() != nodes.len() - usize::from(nodes.contains_key(me)) {
            // Some went down (or left gossip): keep only the live ones.
            self.peers.retain(|id, _| nodes.contains_key(id));
            changed = true;
        }
        changed
    }

    /// The live peers by slot (those that publish one).
    fn by_slot(&self) -> HashMap<Slot, PeerLoad> {
        self.peers
            .values()
            .filter_map(|(_, peer)| peer.clone())
            .collect()
    }
}

/// A peer's slot and load from its gossiped state; `None` until it
/// publishes a slot.
fn peer_load(state: &chitchat::NodeState) -> Option<(Slot, PeerLoad)> {
    let slot = state
        .get("slot")
        .and_then(|s| s.parse::<u64>().ok())
        .and_then(|s| Slot::new(s).ok())?;
    let num = |k: &str| {
        state
            .get(k)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let load = PeerLoad {
        addr: state.get("addr").unwrap_or_default().to_string(),
        load: MachineLoad {
            loadavg: [num("load1"), num("load5"), num("load15")],
            mem_total: num("mem_total") as u64,
            mem_available: num("mem_available") as u64,
            cpus: num("cpus") as u32,
        },
        boot_time_ms: num("boot_ms") as u64,
        started_at_ms: num("started_ms") as u64,
        procs: num("procs") as u32,
    };
    Some((slot, load))
}

/// Starts gossip for this node and a task that publishes its load (each
/// time `load` changes) and copies the live set into `peers`, until
/// `shutdown`.
pub async fn start(
    config: GossipConfig,
    peers: Arc<Peers>,
    mut load: watch::Receiver<SelfLoad>,
    shutdown: CancellationToken,
) -> anyhow::Result<ChitchatHandle> {
    let GossipConfig {
        cluster_id,
        name,
        slot,
        listen,
        advertise,
        seeds,
        down_after,
    } = config;
    let generation = proto::now_ms();
    // chitchat's phi is the silence divided by the mean heartbeat interval.
    // Heartbeats arrive at most one gossip interval apart (more often in
    // larger clusters, where peers relay them), so a threshold of 2/3 of
    // `down_after` in intervals marks a silent node down after about
    // 2/3 of `down_after`, and never later than it.
    let phi_threshold =
        (down_after.as_secs_f64() / GOSSIP_INTERVAL.as_secs_f64() * 2.0 / 3.0).max(2.0);
    let config = ChitchatConfig {
        chitchat_id: ChitchatId::new(name, generation, advertise),
        cluster_id,
        gossip_interval: GOSSIP_INTERVAL,
        listen_addr: listen,
        seed_nodes: seeds,
        failure_detector_config: FailureDetectorConfig {
            phi_threshold,
            sampling_window_size: 100,
            max_interval: down_after,
            initial_interval: GOSSIP_INTERVAL,
            dead_node_grace_period: Duration::from_secs(3600),
        },
        marked_for_deletion_grace_period: Duration::from_secs(3600),
        catchup_callback: None,
        extra_liveness_predicate: None,
        protocol_version: chitchat::ProtocolVersion::V0,
    };
    let initial = vec![
        ("slot".to_string(), slot.to_string()),
        ("addr".to_string(), advertise.to_string()),
        ("boot_ms".to_string(), hostproc::boot_time_ms().to_string()),
        ("started_ms".to_string(), generation.to_string()),
    ];
    let handle = spawn_chitchat(config, initial, &TimedUdp).await?;
    let chitchat = handle.chitchat();
    let me = chitchat.lock().await.self_chitchat_id().clone();
    // chitchat says when a node comes up or goes down, or a live node's
    // state changes (once per gossip round at most); heartbeats alone do
    // not wake this task.
    let mut watcher = chitchat.lock().await.live_nodes_watcher();
    tokio::spawn(async move {
        let mut live = LiveSet::default();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                changed = load.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let SelfLoad {
                        machine: load,
                        procs,
                    } = load.borrow_and_update().clone();
                    publish_load(chitchat.lock().await.self_node_state(), &load, procs);
                }
                changed = watcher.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let changed = live.update(&me, &watcher.borrow_and_update());
                    if changed {
                        peers.set_live(live.by_slot());
                    }
                }
            }
        }
    });
    Ok(handle)
}

/// chitchat's UDP transport, timing each gossip round it starts: from a
/// Syn sent to a peer to that peer's SynAck
/// (`nefele_gossip_round_trip_seconds`). chitchat itself keeps no such
/// figure.
struct TimedUdp;

#[tonic::async_trait]
impl Transport for TimedUdp {
    async fn open(&self, listen: SocketAddr) -> anyhow::Result<Box<dyn Socket>> {
        Ok(Box::new(TimedSocket {
            inner: UdpTransport.open(listen).await?,
            syn_sent: HashMap::new(),
        }))
    }
}

/// A gossip socket and when a Syn last went to each peer.
struct TimedSocket {
    inner: Box<dyn Socket>,
    syn_sent: HashMap<SocketAddr, std::time::Instant>,
}

#[tonic::async_trait]
impl Socket for TimedSocket {
    fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        self.inner.local_addr()
    }

    async fn send(
        &mut self,
        to: SocketAddr,
        envelope: ChitchatEnvelope,
    ) -> anyhow::Result<SendOutcome> {
        if matches!(envelope.message, ChitchatMessage::Syn { .. }) {
            self.syn_sent.insert(to, std::time::Instant::now());
        }
        self.inner.send(to, envelope).await
    }

    async fn recv(&mut self) -> anyhow::Result<RecvOutcome> {
        let received = self.inner.recv().await?;
        if matches!(received.envelope.message, ChitchatMessage::SynAck { .. })
            && let Some(sent) = self.syn_sent.remove(&received.from_addr)
        {
            crate::metrics::METRICS
                .gossip_round_trip_seconds
                .observe(sent.elapsed().as_secs_f64());
        }
        Ok(received)
    }
}
