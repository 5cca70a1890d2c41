//! Liveness and load by gossip: SWIM with suspicion (foca), the protocol
//! Consul's and Nomad's memberlist runs beside raft. Each node probes one
//! member per period and hears from the others; what changes (a member up,
//! suspect or down, a node's load) rides on those messages. So a node's
//! work per period does not grow with the cluster, where a digest of every
//! node in every message did (chitchat, before: at 100 nodes it was most of
//! the idle cluster's CPU; docs/PERFORMANCE.md, "Scale").
//!
//! A node's identity carries its slot, address, boot and start times (all
//! fixed for one run of noded); its load is a custom broadcast, sent again
//! when it changes and every [`LOAD_REPEAT`] so that nodes that joined
//! later learn it. Any node can then route and place without asking the
//! leader. Gossip runs over UDP on the same port number as the gRPC API;
//! every datagram starts with a tag of the cluster's id, so two clusters
//! on one network ignore each other. With TLS (the default) datagrams are
//! sealed (ChaCha20-Poly1305, a key derived from the cluster CA's key that
//! only members hold) and stamped: a forged, altered or old datagram is
//! dropped (docs/design/security.md, "Gossip").

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::num::{NonZeroU8, NonZeroUsize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use foca::{
    Codec, Foca, Message, OwnedNotification, PeriodicParams, PostcardCodec, ProbeNumber, Timer,
};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::time::DelayQueue;

use proto::Slot;

mod wire;

use super::peers::{PeerLoad, Peers};
use crate::hostproc::{self, MachineLoad};
use wire::Wire;

/// The step free memory is published in (64 MiB).
const MEM_STEP: u64 = 64 << 20;

/// How often this node samples its load to publish (the kernel's load
/// averages move every 5 s; each change is gossiped to every node).
pub const LOAD_EVERY: Duration = Duration::from_secs(1);

/// A node's load is broadcast again this often even when it did not
/// change: broadcasts reach the nodes that are members when they are sent.
const LOAD_REPEAT: Duration = Duration::from_secs(15);

/// How often members the store has but gossip does not see are asked to
/// announce themselves (joining, healing a partition, a restarted node).
const REPAIR_EVERY: Duration = Duration::from_secs(1);

/// How many such members are asked each time.
const REPAIR_FANOUT: usize = 3;

/// How long a seed's host name may take to resolve.
const LOOKUP_TIMEOUT: Duration = Duration::from_millis(500);

/// The largest datagram sent or taken (foca's own limit, plus the tag).
const MAX_PACKET: usize = 1400;

/// Of the periodic gossip rounds (one with each probe), the ones that go
/// out for load notes alone: every third. Membership news (a suspect, a
/// node down) goes every round; load notes also ride on every probe and
/// ack. In an idle cluster, where loads move and membership does not, this
/// is most of what a node sends.
const LOAD_GOSSIP_ROUNDS: u64 = 3;

/// Who this node is to gossip.
#[derive(Clone, Debug)]
pub struct GossipConfig {
    pub cluster_id: String,
    pub slot: Slot,
    /// Where gossip listens (UDP, the API's port).
    pub listen: SocketAddr,
    /// The address peers are told.
    pub advertise: SocketAddr,
    /// Members to gossip with first.
    pub seeds: Vec<String>,
    /// How long a silent node takes to be declared down.
    pub down_after: Duration,
    /// What gossip's sealing key is derived from (the cluster CA's key);
    /// `None` in an `--insecure` cluster (datagrams in the clear).
    pub secret: Option<String>,
}

/// What this node says of its own load: the machine's, and how many
/// processes it runs (sampled by whoever owns them; see
/// `ProcessTable::sample_load`).
#[derive(Clone, Debug, Default)]
pub struct SelfLoad {
    pub machine: MachineLoad,
    pub procs: usize,
}

/// A node as gossip knows it: fixed for one run of noded. A node declared
/// down by mistake comes back under a renewed identity (`bump` + 1).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct NodeId {
    addr: SocketAddr,
    slot: u32,
    boot_ms: u64,
    started_ms: u64,
    bump: u16,
}

impl std::fmt::Debug for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}#{}", self.slot, self.addr, self.bump)
    }
}

impl foca::Identity for NodeId {
    type Addr = SocketAddr;

    fn renew(&self) -> Option<Self> {
        Some(NodeId {
            bump: self.bump.wrapping_add(1),
            ..self.clone()
        })
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Two identities at one address: the later run of noded wins, then
    /// the later renewal.
    fn win_addr_conflict(&self, other: &Self) -> bool {
        (self.started_ms, self.bump) > (other.started_ms, other.bump)
    }
}

impl NodeId {
    /// Stands for whoever is at `addr` (to ask it to announce itself).
    fn at(addr: SocketAddr) -> NodeId {
        NodeId {
            addr,
            slot: 0,
            boot_ms: 0,
            started_ms: 0,
            bump: 0,
        }
    }
}

/// A node's load as broadcast; a later `(started_ms, seq)` from the same
/// address replaces an earlier one.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct LoadNote {
    addr: SocketAddr,
    started_ms: u64,
    seq: u64,
    loadavg: [f64; 3],
    mem_total: u64,
    mem_available: u64,
    cpus: u32,
    procs: u32,
}

/// What identifies a load note for foca (which note replaces which).
struct LoadKey {
    addr: SocketAddr,
    started_ms: u64,
    seq: u64,
}

impl foca::Invalidates for LoadKey {
    fn invalidates(&self, other: &Self) -> bool {
        self.addr == other.addr && (self.started_ms, self.seq) > (other.started_ms, other.seq)
    }
}

/// The latest load note of each address, shared by foca's broadcast
/// handler and the task that builds the live set.
#[derive(Clone, Default)]
struct Loads(Arc<Mutex<LoadNotes>>);

#[derive(Default)]
struct LoadNotes {
    by_addr: HashMap<SocketAddr, LoadNote>,
    /// Counts the notes taken in (tells the gossip task one came).
    taken: u64,
}

impl Loads {
    fn lock(&self) -> std::sync::MutexGuard<'_, LoadNotes> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("malformed load note: {0}")]
struct BadNote(postcard::Error);

impl foca::BroadcastHandler<NodeId> for Loads {
    type Key = LoadKey;
    type Error = BadNote;

    fn receive_item(
        &mut self,
        data: &[u8],
        _sender: Option<&NodeId>,
    ) -> Result<Option<LoadKey>, BadNote> {
        let note: LoadNote = postcard::from_bytes(data).map_err(BadNote)?;
        let mut loads = self.lock();
        let newer = loads
            .by_addr
            .get(&note.addr)
            .is_none_or(|known| (note.started_ms, note.seq) > (known.started_ms, known.seq));
        if !newer {
            return Ok(None);
        }
        let key = LoadKey {
            addr: note.addr,
            started_ms: note.started_ms,
            seq: note.seq,
        };
        loads.by_addr.insert(note.addr, note);
        loads.taken += 1;
        Ok(Some(key))
    }
}

/// Gossip's settings for a cluster that marks a silent node down after
/// `down_after`: a probe period of a seventh of it, suspicion for a
/// quarter. Each period some member or other probes a given node (each
/// member probes all the others in turn, one per period), so a dead node
/// is suspect after one to three periods, down a quarter of `down_after`
/// later, and the news reaches every node within a few gossip rounds.
fn swim_config(down_after: Duration) -> foca::Config {
    let period = (down_after / 7).max(Duration::from_millis(100));
    foca::Config {
        probe_period: period,
        probe_rtt: period * 2 / 5,
        num_indirect_probes: NonZeroUsize::new(3).expect("non-zero"),
        max_transmissions: NonZeroU8::new(10).expect("non-zero"),
        suspect_to_down_after: (down_after / 4).max(period),
        remove_down_after: Some(Duration::from_secs(3600)),
        max_packet_size: NonZeroUsize::new(MAX_PACKET - Wire::OVERHEAD).expect("non-zero"),
        notify_down_members: true,
        periodic_announce: Some(PeriodicParams {
            frequency: Duration::from_secs(30),
            num_members: NonZeroUsize::new(1).expect("non-zero"),
        }),
        periodic_announce_to_down_members: Some(PeriodicParams {
            frequency: down_after,
            num_members: NonZeroUsize::new(2).expect("non-zero"),
        }),
        // Ours instead ([`Node::gossip_round`]): foca's would gossip load
        // notes as eagerly as membership news.
        periodic_gossip: None,
    }
}

/// Running gossip: [`Gossip::shutdown`] stops it.
pub struct Gossip {
    task: JoinHandle<()>,
    stop: CancellationToken,
}

impl Gossip {
    /// Stops gossiping (the others will see this node go down).
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

type Swim = Foca<NodeId, PostcardCodec, SmallRng, Loads>;

/// Starts gossip for this node: it publishes its load (each time `load`
/// changes) and keeps `peers`' live set, until `shutdown`.
pub async fn start(
    config: GossipConfig,
    peers: Arc<Peers>,
    load: watch::Receiver<SelfLoad>,
    shutdown: CancellationToken,
) -> anyhow::Result<Gossip> {
    let socket = UdpSocket::bind(config.listen).await?;
    let me = NodeId {
        addr: config.advertise,
        slot: config.slot.get(),
        boot_ms: hostproc::boot_time_ms(),
        started_ms: proto::now_ms(),
        bump: 0,
    };
    let loads = Loads::default();
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let mut rng = SmallRng::seed_from_u64(u64::from_le_bytes(seed));
    let foca = Foca::with_custom_broadcast(
        me.clone(),
        swim_config(config.down_after),
        SmallRng::from_rng(&mut rng),
        PostcardCodec,
        loads.clone(),
    );
    let stop = shutdown.child_token();
    let node = Node {
        foca,
        runtime: foca::AccumulatingRuntime::new(),
        socket,
        wire: Wire::new(&config.cluster_id, config.secret.as_deref()),
        me,
        loads,
        peers,
        timers: DelayQueue::new(),
        seeds: config.seeds,
        pings: HashMap::new(),
        rng,
        load_seq: 0,
        published: None,
        stop: stop.clone(),
    };
    let task = tokio::spawn(node.run(load));
    Ok(Gossip { task, stop })
}

/// The gossip task's state.
struct Node {
    foca: Swim,
    runtime: foca::AccumulatingRuntime<NodeId>,
    socket: UdpSocket,
    wire: Wire,
    me: NodeId,
    loads: Loads,
    peers: Arc<Peers>,
    /// foca's timers, due in this task.
    timers: DelayQueue<Timer<NodeId>>,
    seeds: Vec<String>,
    /// Pings in flight, for the round-trip metric: by peer address.
    pings: HashMap<SocketAddr, (ProbeNumber, Instant)>,
    /// Picks which unseen members to ask.
    rng: SmallRng,
    load_seq: u64,
    /// The load last broadcast, and when.
    published: Option<(SelfLoad, Instant)>,
    stop: CancellationToken,
}

impl Node {
    async fn run(mut self, mut load: watch::Receiver<SelfLoad>) {
        let mut buf = vec![0u8; MAX_PACKET + 1];
        let mut repair = tokio::time::interval(REPAIR_EVERY);
        repair.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Periodic gossip goes with each probe (one timer fewer per node).
        let mut rounds = 0u64;
        // Load notes arrive many times a second in a large cluster: they
        // reach the live set at most once a second (members at once).
        let mut loads_changed = false;
        let mut live_built = Instant::now();
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => return,
                received = self.socket.recv_from(&mut buf) => {
                    let Ok((len, from)) = received else { continue };
                    loads_changed |= self.receive(&mut buf[..len], from);
                }
                Some(due) = futures::future::poll_fn(|cx| self.timers.poll_expired(cx)) => {
                    let timer = due.into_inner();
                    let probe = matches!(timer, Timer::ProbeRandomMember(_));
                    if let Err(e) = self.foca.handle_timer(timer, &mut self.runtime) {
                        tracing::debug!(error = %e, "gossip timer");
                    }
                    if probe {
                        rounds += 1;
                        self.gossip_round(rounds.is_multiple_of(LOAD_GOSSIP_ROUNDS));
                    }
                }
                sampled = load.changed() => {
                    if sampled.is_err() {
                        return;
                    }
                    let sample = load.borrow_and_update().clone();
                    self.publish_load(sample);
                }
                _ = repair.tick() => self.repair().await,
            }
            let changed = self.drain().await;
            if changed || (loads_changed && live_built.elapsed() >= LOAD_EVERY) {
                self.peers.set_live(self.live());
                live_built = Instant::now();
                loads_changed = false;
            }
        }
    }

    /// A periodic gossip round, run with each probe: what foca has to
    /// spread, to a few members (as many as an indirect probe asks), when
    /// there is membership news, or when there are load notes and
    /// `loads_too`.
    fn gossip_round(&mut self, loads_too: bool) {
        let due = self.foca.updates_backlog() > 0
            || (loads_too && self.foca.custom_broadcast_backlog() > 0);
        if due && let Err(e) = self.foca.gossip(&mut self.runtime) {
            tracing::debug!(error = %e, "gossip round");
        }
    }

    /// Hands a datagram to foca; whether a load changed.
    fn receive(&mut self, data: &mut [u8], from: SocketAddr) -> bool {
        let Some(payload) = self.wire.unframe(data, proto::now_ms()) else {
            tracing::debug!(%from, "gossip datagram dropped: another cluster's, not sealed by a member, altered, or too old");
            return false;
        };
        if let Ok(header) = Codec::<NodeId>::decode_header(&mut PostcardCodec, payload)
            && let Message::Ack(number) = header.message
            && let Some((sent_number, at)) = self.pings.get(&from).copied()
            && sent_number == number
        {
            self.pings.remove(&from);
            crate::metrics::METRICS
                .gossip_round_trip_seconds
                .observe(at.elapsed().as_secs_f64());
        }
        let taken_before = self.loads.lock().taken;
        if let Err(e) = self.foca.handle_data(payload, &mut self.runtime) {
            tracing::trace!(%from, error = %e, "gossip datagram refused");
        }
        self.loads.lock().taken != taken_before
    }

    /// Broadcasts this node's load if it changed (rounded), or if it was
    /// last sent [`LOAD_REPEAT`] ago (the sample comes every
    /// [`LOAD_EVERY`], changed or not).
    fn publish_load(&mut self, sample: SelfLoad) {
        let rounded = SelfLoad {
            machine: MachineLoad {
                // Free memory in steps, so that its small moves do not
                // make a new note each second.
                mem_available: sample.machine.mem_available / MEM_STEP * MEM_STEP,
                ..sample.machine
            },
            procs: sample.procs,
        };
        let due = match &self.published {
            None => true,
            Some((last, at)) => at.elapsed() >= LOAD_REPEAT || !same_load(last, &rounded),
        };
        if !due {
            return;
        }
        self.load_seq += 1;
        let note = LoadNote {
            addr: self.me.addr,
            started_ms: self.me.started_ms,
            seq: self.load_seq,
            loadavg: rounded.machine.loadavg,
            mem_total: rounded.machine.mem_total,
            mem_available: rounded.machine.mem_available,
            cpus: rounded.machine.cpus,
            procs: rounded.procs.try_into().unwrap_or(u32::MAX),
        };
        let mut out = [0u8; 256];
        match postcard::to_slice(&note, &mut out) {
            Ok(bytes) => {
                if let Err(e) = self.foca.add_broadcast(bytes) {
                    tracing::debug!(error = %e, "cannot broadcast load");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot encode load"),
        }
        self.published = Some((rounded, Instant::now()));
    }

    /// Asks members the store has and gossip does not see (and the seeds,
    /// while gossip sees nobody) to announce themselves.
    async fn repair(&mut self) {
        let active: HashSet<SocketAddr> = self.foca.iter_members().map(|m| m.id().addr).collect();
        let me = self.me.slot;
        // Members gossip does not see (usually none; an address that is
        // a host name is looked up below).
        let mut missing: Vec<String> = self.peers.with_members(|members| {
            members
                .values()
                .filter(|m| !m.left && !m.removed && m.slot.get() != me)
                .filter(|m| {
                    m.addr
                        .parse::<SocketAddr>()
                        .map_or(true, |addr| !active.contains(&addr))
                })
                .map(|m| m.addr.clone())
                .collect()
        });
        if active.is_empty() {
            missing.extend(self.seeds.iter().cloned());
        }
        let mut targets = Vec::new();
        for addr in missing {
            // Members' addresses are IP:port; a seed may be a host name,
            // whose lookup must not hold gossip up.
            let lookup = tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host(&addr));
            let Ok(Ok(mut resolved)) = lookup.await else {
                continue;
            };
            if let Some(addr) = resolved.next()
                && addr != self.me.addr
                && !active.contains(&addr)
                && !targets.contains(&addr)
            {
                targets.push(addr);
            }
        }
        // A few at random each time (one node that stays down is asked
        // about once a second by each node).
        use rand::seq::SliceRandom;
        targets.shuffle(&mut self.rng);
        for addr in targets.into_iter().take(REPAIR_FANOUT) {
            if let Err(e) = self.foca.announce(NodeId::at(addr), &mut self.runtime) {
                tracing::debug!(%addr, error = %e, "cannot announce");
            }
        }
    }

    /// Carries out what foca asked for: datagrams, timers, notifications;
    /// whether the live set changed.
    async fn drain(&mut self) -> bool {
        let mut out = Vec::with_capacity(MAX_PACKET);
        while let Some((to, data)) = self.runtime.to_send() {
            self.send(&mut out, to.addr, &data).await;
        }
        while let Some((after, timer)) = self.runtime.to_schedule() {
            self.timers.insert(timer, after);
        }
        let mut changed = false;
        while let Some(notification) = self.runtime.to_notify() {
            match notification {
                OwnedNotification::MemberUp(_)
                | OwnedNotification::MemberDown(_)
                | OwnedNotification::Rename(..) => changed = true,
                OwnedNotification::Rejoin(id) => {
                    tracing::info!(identity = ?id, "declared down by the cluster; rejoined");
                    self.me = id;
                    changed = true;
                }
                OwnedNotification::Defunct => {
                    tracing::warn!("declared down by the cluster");
                    changed = true;
                }
                _ => {}
            }
        }
        changed
    }

    /// Sends one datagram (tagged), noting pings for the round-trip metric.
    async fn send(&mut self, out: &mut Vec<u8>, to: SocketAddr, data: &[u8]) {
        if let Ok(header) = Codec::<NodeId>::decode_header(&mut PostcardCodec, data)
            && let Message::Ping(number) = header.message
        {
            self.pings.insert(to, (number, Instant::now()));
        }
        self.wire.frame(out, data, proto::now_ms());
        if out.is_empty() {
            return;
        }
        if let Err(e) = self.socket.send_to(&out[..], to).await {
            tracing::trace!(%to, error = %e, "gossip send failed");
        }
    }

    /// The live peers by slot, with their load.
    fn live(&self) -> HashMap<Slot, PeerLoad> {
        let loads = self.loads.lock();
        self.foca
            .iter_members()
            .filter_map(|member| {
                let id = member.id();
                let slot = Slot::new(u64::from(id.slot)).ok()?;
                let note = loads
                    .by_addr
                    .get(&id.addr)
                    .filter(|n| n.started_ms == id.started_ms);
                Some((
                    slot,
                    PeerLoad {
                        addr: id.addr.to_string(),
                        load: note
                            .map(|n| MachineLoad {
                                loadavg: n.loadavg,
                                mem_total: n.mem_total,
                                mem_available: n.mem_available,
                                cpus: n.cpus,
                            })
                            .unwrap_or_default(),
                        boot_time_ms: id.boot_ms,
                        started_at_ms: id.started_ms,
                        procs: note.map(|n| n.procs).unwrap_or(0),
                    },
                ))
            })
            .collect()
    }
}

/// How far a load average moves before it is gossiped again (the kernel
/// updates them every 5 s, each time by a little: gossiping every such
/// move kept every node's update queue busy at 100 nodes).
const LOADAVG_STEP: f64 = 0.1;

/// Whether `b` is close enough to `a`, last gossiped, to leave unsaid.
fn same_load(a: &SelfLoad, b: &SelfLoad) -> bool {
    a.procs == b.procs
        && a.machine
            .loadavg
            .iter()
            .zip(&b.machine.loadavg)
            .all(|(x, y)| (x - y).abs() < LOADAVG_STEP)
        && a.machine.mem_total == b.machine.mem_total
        && a.machine.mem_available == b.machine.mem_available
        && a.machine.cpus == b.machine.cpus
}

#[cfg(test)]
mod tests {
    use super::*;
    use foca::{BroadcastHandler, Identity, Invalidates};

    fn id(started_ms: u64, bump: u16) -> NodeId {
        NodeId {
            addr: "127.0.0.1:7000".parse().unwrap(),
            slot: 2,
            boot_ms: 1,
            started_ms,
            bump,
        }
    }

    #[test]
    fn a_later_run_or_renewal_wins_the_address() {
        assert!(id(2, 0).win_addr_conflict(&id(1, 5)));
        assert!(!id(1, 5).win_addr_conflict(&id(2, 0)));
        let renewed = id(1, 0).renew().unwrap();
        assert!(renewed.win_addr_conflict(&id(1, 0)));
        assert_eq!(renewed.addr(), id(1, 0).addr());
    }

    #[test]
    fn only_newer_load_notes_are_kept_and_passed_on() {
        let mut loads = Loads::default();
        let note = |started_ms, seq, procs| LoadNote {
            addr: "127.0.0.1:7000".parse().unwrap(),
            started_ms,
            seq,
            loadavg: [0.5, 0.25, 0.0],
            mem_total: 1 << 30,
            mem_available: 1 << 29,
            cpus: 2,
            procs,
        };
        let bytes = |n: &LoadNote| postcard::to_slice(n, &mut [0u8; 256]).unwrap().to_vec();
        assert!(
            loads
                .receive_item(&bytes(&note(1, 2, 7)), None)
                .unwrap()
                .is_some()
        );
        // Stale: the same or an earlier sequence of the same run.
        assert!(
            loads
                .receive_item(&bytes(&note(1, 2, 9)), None)
                .unwrap()
                .is_none()
        );
        assert!(
            loads
                .receive_item(&bytes(&note(1, 1, 9)), None)
                .unwrap()
                .is_none()
        );
        // A later run of noded at that address starts its sequence again.
        let key = loads
            .receive_item(&bytes(&note(2, 1, 3)), None)
            .unwrap()
            .unwrap();
        let old = LoadKey {
            addr: key.addr,
            started_ms: 1,
            seq: 2,
        };
        assert!(key.invalidates(&old));
        assert!(!old.invalidates(&key));
        assert_eq!(loads.lock().by_addr[&key.addr].procs, 3);
        assert!(loads.receive_item(b"\xff\xff", None).is_err());
    }

    #[test]
    fn a_dead_node_is_down_within_down_after() {
        let config = swim_config(Duration::from_secs(3));
        // Probed within three periods, suspect at the period's end, down
        // after the suspicion: within 2.5 s of a 3 s budget, leaving the
        // rest for the news to spread.
        let worst = config.probe_period * 4 + config.suspect_to_down_after;
        assert!(worst <= Duration::from_millis(2500), "{worst:?}");
        assert!(config.probe_rtt < config.probe_period);
    }

    #[test]
    fn small_moves_of_the_load_are_not_gossiped() {
        let load = |load1, procs| SelfLoad {
            machine: MachineLoad {
                loadavg: [load1, 0.5, 0.5],
                mem_total: 1 << 30,
                mem_available: 1 << 29,
                cpus: 2,
            },
            procs,
        };
        assert!(same_load(&load(1.0, 3), &load(1.05, 3)));
        assert!(!same_load(&load(1.0, 3), &load(1.15, 3)));
        assert!(
            !same_load(&load(1.0, 3), &load(1.0, 4)),
            "a process more is news"
        );
    }
}
