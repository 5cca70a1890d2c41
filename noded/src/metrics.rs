//! Prometheus metrics (`--metrics-listen HOST:PORT`, `GET /metrics`, text
//! format 0.0.4), with prometheus-client. Counters and the spawn-latency
//! histogram are process-wide ([`METRICS`]) and counted where things
//! happen (gossip round trips by cluster/gossip.rs's transport); gauges
//! (processes by state, members by state, the store's
//! role, term, indexes) are read from the table and the cluster at each
//! scrape. Names follow Prometheus conventions: `nefele_` prefix, `_total`
//! counters, `_seconds` durations.

use std::sync::{Arc, LazyLock};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cluster::Cluster;
use crate::table::ProcessTable;

/// One label `state`.
type ByState = Family<Vec<(String, String)>, Gauge>;

/// Every metric of this noded.
pub struct Metrics {
    registry: Registry,
    /// Processes started here.
    pub spawns: Counter,
    /// Spawns refused or failed here.
    pub spawn_failures: Counter,
    /// Processes of this node that ended.
    pub exits: Counter,
    /// From the Spawn call's start to the process running.
    pub spawn_seconds: Histogram,
    /// Bytes of output captured (stdout and stderr).
    pub output_bytes: Counter,
    /// From a gossip Syn sent to a peer to its SynAck.
    pub gossip_round_trip_seconds: Histogram,
    /// Bytes this node wrote for direct pipes, by where they went.
    pipe_bytes: Family<Vec<(String, String)>, Counter>,
    /// Streams this node opened to others for direct pipes, by connection.
    pipe_streams: Family<Vec<(String, String)>, Counter>,
    processes: ByState,
    members: ByState,
    store_leader: Gauge,
    store_voter: Gauge,
    store_term: Gauge,
    store_last_log_index: Gauge,
    store_applied_index: Gauge,
    store_apply_lag: Gauge,
}

/// The metrics of this process.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("nefele");
        let m = Metrics {
            spawns: Counter::default(),
            spawn_failures: Counter::default(),
            exits: Counter::default(),
            spawn_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            output_bytes: Counter::default(),
            gossip_round_trip_seconds: Histogram::new(exponential_buckets(0.00005, 2.0, 14)),
            pipe_bytes: Family::default(),
            pipe_streams: Family::default(),
            processes: ByState::default(),
            members: ByState::default(),
            store_leader: Gauge::default(),
            store_voter: Gauge::default(),
            store_term: Gauge::default(),
            store_last_log_index: Gauge::default(),
            store_applied_index: Gauge::default(),
            store_apply_lag: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register("spawns", "Processes started on this node", m.spawns.clone());
        registry.register(
            "spawn_failures",
            "Spawns on this node that were refused or failed",
            m.spawn_failures.clone(),
        );
        registry.register(
            "exits",
            "Processes of this node that ended",
            m.exits.clone(),
        );
        registry.register(
            "spawn_duration_seconds",
            "Time from a Spawn request to its process running",
            m.spawn_seconds.clone(),
        );
        registry.register(
            "output_bytes",
            "Bytes of stdout and stderr captured on this node",
            m.output_bytes.clone(),
        );
        registry.register(
            "gossip_round_trip_seconds",
            "Gossip rounds this node started, from its Syn to the peer's SynAck",
            m.gossip_round_trip_seconds.clone(),
        );
        registry.register(
            "pipe_bytes",
            "Bytes this node wrote for direct pipes: into a process's stdin (to=process) or a client's file (to=file)",
            m.pipe_bytes.clone(),
        );
        registry.register(
            "pipe_streams",
            "Streams this node opened to other nodes for direct pipes and offered files, by connection: new (dialed) or reused (kept from an earlier stream)",
            m.pipe_streams.clone(),
        );
        registry.register(
            "processes",
            "Processes this node holds, by state (running, stopped, ended)",
            m.processes.clone(),
        );
        registry.register(
            "members",
            "Members of the cluster as this node sees them, by state (up, down, left)",
            m.members.clone(),
        );
        registry.register(
            "store_leader",
            "1 if this node is the store's raft leader",
            m.store_leader.clone(),
        );
        registry.register(
            "store_voter",
            "1 if this node votes in the store",
            m.store_voter.clone(),
        );
        registry.register("store_term", "The store's raft term", m.store_term.clone());
        registry.register(
            "store_last_log_index",
            "Index of the last entry of this node's raft log",
            m.store_last_log_index.clone(),
        );
        registry.register(
            "store_applied_index",
            "Index of the last entry this node applied",
            m.store_applied_index.clone(),
        );
        registry.register(
            "store_apply_lag",
            "Entries of this node's log not applied yet",
            m.store_apply_lag.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Counts `bytes` written for a direct pipe into a process's stdin
    /// (`to_file` false) or a client's file (WriteOutputTo).
    pub fn piped(&self, bytes: usize, to_file: bool) {
        let to = if to_file { "file" } else { "process" };
        self.pipe_bytes
            .get_or_create(&vec![("to".to_string(), to.to_string())])
            .inc_by(bytes as u64);
    }

    /// Counts a stream opened to another node for a direct pipe, on a
    /// kept connection (`reused`) or a new one.
    pub fn pipe_stream_opened(&self, reused: bool) {
        let connection = if reused { "reused" } else { "new" };
        self.pipe_streams
            .get_or_create(&vec![("connection".to_string(), connection.to_string())])
            .inc();
    }

    /// Reads the gauges from the table and the cluster, then encodes
    /// everything.
    fn render(&self, table: &ProcessTable, cluster: &Cluster) -> String {
        let (mut running, mut stopped, mut ended) = (0, 0, 0);
        for p in table.list() {
            let snapshot = p.snapshot();
            if p.is_finished() {
                ended += 1;
            } else if snapshot.stopped() {
                stopped += 1;
            } else {
                running += 1;
            }
        }
        for (state, n) in [("running", running), ("stopped", stopped), ("ended", ended)] {
            self.processes
                .get_or_create(&vec![("state".into(), state.into())])
                .set(n);
        }
        let (mut up, mut down, mut left) = (0, 0, 0);
        for m in cluster.members().values() {
            if m.left {
                left += 1;
            } else if m.slot == cluster.slot || cluster.is_up(m.slot) {
                up += 1;
            } else {
                down += 1;
            }
        }
        for (state, n) in [("up", up), ("down", down), ("left", left)] {
            self.members
                .get_or_create(&vec![("state".into(), state.into())])
                .set(n);
        }
        let store = cluster.store_figures();
        self.store_leader.set(i64::from(store.leader));
        self.store_voter.set(i64::from(store.voter));
        self.store_term.set(store.term as i64);
        self.store_last_log_index.set(store.last_log_index as i64);
        self.store_applied_index.set(store.applied_index as i64);
        self.store_apply_lag
            .set(store.last_log_index.saturating_sub(store.applied_index) as i64);
        scrape::encode(&self.registry)
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` (see the scrape
/// crate).
pub fn serve(
    listener: TcpListener,
    table: Arc<ProcessTable>,
    cluster: Arc<Cluster>,
    shutdown: CancellationToken,
) {
    scrape::serve(
        listener,
        Arc::new(move || METRICS.render(&table, &cluster)),
        shutdown,
    );
}
