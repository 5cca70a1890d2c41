//! The service reconciler (SPEC §7): a task on every node that acts only
//! while its node is the store's leader. Every tick it compares each
//! service's spec with the replica records and the processes the cluster
//! runs, then starts, restarts, moves and stops replicas through this
//! node's own API (so placement and forwarding are the same as a user's).
//!
//! The rules (docs/design/services.md):
//! - a replica whose node has been down for `replica_move_after_ms` (10 s)
//!   is started again elsewhere (not a restart: no backoff, the counter
//!   does not move); a node that is only restarting is back sooner, and
//!   its keeper kept the replica running;
//! - a replica whose process ended restarts per its policy after a backoff
//!   of 1 s doubling to 30 s, reset after 10 s of stable run; three quick
//!   ends in a row make it `crash_loop`;
//! - fencing: a process named `svc/NAME/INDEX` that is not the PID the
//!   store records for that replica (a node came back from a partition, a
//!   scale-down, a removed service) is stopped, so once the cluster settles
//!   each index runs once;
//! - every record change is a store write fenced by the PID it replaces, so
//!   a leader that lost its leadership cannot undo its successor's work.

use proto::now_ms;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use proto::v1::processes_client::ProcessesClient;
use proto::v1::{
    GetRequest, ListRequest, ProcessInfo, ProcessState, SignalRequest, SpawnRequest, WaitRequest,
};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::cluster::Cluster;
use crate::cluster::services::{
    Replica, ReplicaState, Restart, Service, parse_process_name, process_name,
};
use crate::cluster::state::{ClusterState, Command, Member};

/// How often the leader reconciles.
pub const TICK: Duration = Duration::from_millis(300);
/// First restart delay; it doubles with each quick end, up to the cap.
pub const BACKOFF_START: Duration = Duration::from_secs(1);
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// A run at least this long resets the backoff.
pub const STABLE_RUN: Duration = Duration::from_secs(10);
/// Quick ends in a row after which a replica is `crash_loop`.
pub const CRASH_LOOP_AFTER: u32 = 3;
/// How long an unschedulable replica waits before placement is tried again.
const RETRY_PLACEMENT: Duration = Duration::from_secs(1);
/// Deadline of each API call the reconciler makes.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The restart delay after `failures` quick ends in a row (1 or more).
pub fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    BACKOFF_START.saturating_mul(1 << exponent).min(BACKOFF_CAP)
}

/// Starts the reconciler task; it runs until `shutdown`.
pub fn spawn(
    cluster: Arc<Cluster>,
    api: Channel,
    stop_grace: Duration,
    move_after: Duration,
    shutdown: CancellationToken,
) {
    let mut reconciler = Reconciler {
        cluster,
        api: ProcessesClient::new(api),
        stop_grace,
        move_after,
        down_since: HashMap::new(),
        stopping: Arc::new(std::sync::Mutex::new(HashSet::new())),
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(TICK) => {}
            }
            if !reconciler.cluster.is_leader() {
                continue;
            }
            reconciler.tick().await;
        }
    });
}

struct Reconciler {
    cluster: Arc<Cluster>,
    /// This node's own API: spawns, signals and lists go where a user's
    /// would.
    api: ProcessesClient<Channel>,
    stop_grace: Duration,
    /// How long a node must be down before its replicas move.
    move_after: Duration,
    /// When this reconciler first saw each down member down.
    down_since: HashMap<u64, std::time::Instant>,
    /// PIDs being stopped, so each gets one stop task.
    stopping: Arc<std::sync::Mutex<HashSet<i32>>>,
}

/// What the reconciler knows of the cluster in one tick.
struct View {
    /// Members that are up, by slot.
    up: BTreeMap<u64, Member>,
    /// Running and stopped processes, by PID (from every node that answered).
    live: HashMap<i32, ProcessInfo>,
    /// Whether every up node answered the List.
    complete: bool,
    /// Down members whose replicas may move (down long enough).
    gone: HashSet<u64>,
}

impl Reconciler {
    async fn tick(&mut self) {
        let state = self.cluster.peers.state();
        let Some(view) = self.view(&state).await else {
            return;
        };
        for (name, service) in &state.services {
            for index in 0..service.spec.replicas {
                let record = service.replicas.get(&index).cloned().unwrap_or_default();
                self.reconcile(name, service, index, record, &view).await;
            }
            for (index, record) in service.replicas.range(service.spec.replicas..) {
                if record.pid != 0 {
                    self.stop(record.pid);
                }
                let _ = self
                    .write(Command::DropReplica {
                        name: name.clone(),
                        index: *index,
                    })
                    .await;
            }
        }
        self.fence(&state, &view);
    }

    /// Members that are up and the processes they run.
    async fn view(&mut self, state: &ClusterState) -> Option<View> {
        let up: BTreeMap<u64, Member> = state
            .members
            .iter()
            .filter(|(slot, m)| {
                !m.left && (**slot == self.cluster.slot || self.cluster.peers.is_up(**slot))
            })
            .map(|(slot, m)| (*slot, m.clone()))
            .collect();
        let now = std::time::Instant::now();
        self.down_since.retain(|slot, _| !up.contains_key(slot));
        let mut gone = HashSet::new();
        for (slot, m) in &state.members {
            if up.contains_key(slot) {
                continue;
            }
            if m.left {
                // Left for good: nothing to wait for.
                gone.insert(*slot);
                continue;
            }
            let since = *self.down_since.entry(*slot).or_insert(now);
            if now.duration_since(since) >= self.move_after {
                gone.insert(*slot);
            }
        }
        let request = ListRequest {
            node: String::new(),
            states: vec![ProcessState::Running as i32, ProcessState::Stopped as i32],
            brief: false,
            ended: false,
        };
        let reply = match tokio::time::timeout(CALL_TIMEOUT, self.api.list(request)).await {
            Ok(Ok(reply)) => reply.into_inner(),
            Ok(Err(status)) => {
                tracing::warn!(error = %status.message(), "reconciler cannot list processes");
                return None;
            }
            Err(_) => {
                tracing::warn!("reconciler: no process list within {CALL_TIMEOUT:?}");
                return None;
            }
        };
        let unreachable: HashSet<&str> =
            reply.unreachable.iter().map(|u| u.node.as_str()).collect();
        let complete = !up.values().any(|m| unreachable.contains(m.name.as_str()));
        let live = reply
            .processes
            .into_iter()
            .filter(|p| {
                p.state == ProcessState::Running as i32 || p.state == ProcessState::Stopped as i32
            })
            .map(|p| (p.pid, p))
            .collect();
        Some(View {
            up,
            live,
            complete,
            gone,
        })
    }

    /// Brings one replica toward its spec.
    async fn reconcile(
        &mut self,
        name: &str,
        service: &Service,
        index: u32,
        record: Replica,
        view: &View,
    ) {
        let now = now_ms();
        match record.state {
            ReplicaState::Running => {
                if !view.up.contains_key(&record.slot) {
                    if !view.gone.contains(&record.slot) {
                        // Down only briefly (maybe restarting): wait.
                        return;
                    }
                    // Its node stayed down: start it elsewhere now. The old
                    // process is fenced if the node comes back.
                    tracing::info!(
                        service = name,
                        index,
                        pid = record.pid,
                        "replica's node is down; moving it"
                    );
                    let moved = Replica {
                        state: ReplicaState::Pending,
                        next_start_ms: 0,
                        ..record.clone()
                    };
                    self.start(name, service, index, record.pid, moved, view)
                        .await;
                    return;
                }
                if view.live.contains_key(&record.pid) {
                    if record.failures > 0
                        && now.saturating_sub(record.started_ms) >= STABLE_RUN.as_millis() as u64
                    {
                        let stable = Replica {
                            failures: 0,
                            ..record.clone()
                        };
                        self.record(name, index, record.pid, stable).await;
                    }
                    return;
                }
                let Some(status) = self.ended_status(record.pid, view).await else {
                    return;
                };
                self.ended(name, service, index, record, status, now).await;
            }
            ReplicaState::Pending
            | ReplicaState::Backoff
            | ReplicaState::CrashLoop
            | ReplicaState::Unschedulable => {
                if now >= record.next_start_ms {
                    let pid = record.pid;
                    self.start(name, service, index, pid, record, view).await;
                }
            }
            ReplicaState::Done => {}
        }
    }

    /// The exit status of a replica's process that is not among the live
    /// ones, or `None` when that cannot be told yet (its node did not
    /// answer).
    async fn ended_status(&mut self, pid: i32, view: &View) -> Option<i32> {
        let request = GetRequest {
            pid,
            with_env: false,
        };
        match tokio::time::timeout(CALL_TIMEOUT, self.api.get(request)).await {
            Ok(Ok(reply)) => {
                let info = reply.into_inner();
                let state = info.state;
                if state == ProcessState::Running as i32 || state == ProcessState::Stopped as i32 {
                    return None;
                }
                Some(info.shell_status().unwrap_or(255))
            }
            Ok(Err(status)) if status.code() == tonic::Code::NotFound && view.complete => Some(255),
            _ => None,
        }
    }

    /// A replica's process ended with `status`: restart it later, or not.
    async fn ended(
        &mut self,
        name: &str,
        service: &Service,
        index: u32,
        record: Replica,
        status: i32,
        now: u64,
    ) {
        let pid = record.pid;
        let restart = match service.spec.restart {
            Restart::Always => true,
            Restart::OnFailure => status != 0,
            Restart::Never => false,
        };
        let mut next = Replica {
            last_status: Some(status),
            ..record.clone()
        };
        if !restart {
            next.state = ReplicaState::Done;
        } else {
            let ran = now.saturating_sub(record.started_ms);
            next.failures = if ran >= STABLE_RUN.as_millis() as u64 {
                1
            } else {
                record.failures + 1
            };
            next.restarts = record.restarts + 1;
            next.next_start_ms = now + backoff(next.failures).as_millis() as u64;
            next.state = if next.failures >= CRASH_LOOP_AFTER {
                ReplicaState::CrashLoop
            } else {
                ReplicaState::Backoff
            };
        }
        tracing::info!(service = name, index, pid, status, restart, "replica ended");
        self.record(name, index, pid, next).await;
    }

    /// Places and spawns a replica; records the outcome.
    async fn start(
        &mut self,
        name: &str,
        service: &Service,
        index: u32,
        expected_pid: i32,
        record: Replica,
        view: &View,
    ) {
        let now = now_ms();
        // The store as it is now: placements made earlier in this tick count.
        let fresh = self.cluster.peers.service(name);
        let Some(node) = place(fresh.as_ref().unwrap_or(service), index, view) else {
            let wanted: Vec<String> = service
                .spec
                .constraints
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let error = if wanted.is_empty() {
                "no node is up".to_string()
            } else {
                format!("no node that is up has {}", wanted.join(", "))
            };
            let next = Replica {
                state: ReplicaState::Unschedulable,
                error,
                next_start_ms: now + RETRY_PLACEMENT.as_millis() as u64,
                ..record.clone()
            };
            if next.state != record.state || next.error != record.error {
                self.record(name, index, expected_pid, next).await;
            }
            return;
        };
        let mut env: std::collections::HashMap<String, String> =
            service.spec.env.clone().into_iter().collect();
        env.insert("NEFELE_SERVICE".into(), name.to_string());
        env.insert("NEFELE_REPLICA".into(), index.to_string());
        let request = SpawnRequest {
            argv: service.spec.argv.clone(),
            env,
            cwd: service.spec.cwd.clone(),
            node: node.name.clone(),
            name: process_name(name, index),
            ..SpawnRequest::default()
        };
        // Replicas run as the service's owner: the reconciler, root on the
        // socket, names that user.
        let mut request = tonic::Request::new(request);
        crate::auth::Principal {
            user: service.spec.owner().to_string(),
            admin: false,
        }
        .stamp(&mut request);
        let spawned = tokio::time::timeout(CALL_TIMEOUT, self.api.spawn(request)).await;
        let next = match spawned {
            Ok(Ok(reply)) => {
                let info = reply.into_inner();
                tracing::info!(service = name, index, pid = info.pid, node = %node.name, "replica started");
                Replica {
                    state: ReplicaState::Running,
                    slot: node.slot,
                    pid: info.pid,
                    started_ms: now,
                    next_start_ms: 0,
                    error: String::new(),
                    ..record.clone()
                }
            }
            Ok(Err(status)) => {
                // The command cannot start (missing executable, bad cwd):
                // back off like a crash, so the cluster does not spin.
                let failures = record.failures + 1;
                Replica {
                    state: if failures >= CRASH_LOOP_AFTER {
                        ReplicaState::CrashLoop
                    } else {
                        ReplicaState::Backoff
                    },
                    failures,
                    next_start_ms: now + backoff(failures).as_millis() as u64,
                    error: status.message().to_string(),
                    ..record.clone()
                }
            }
            Err(_) => return,
        };
        self.record(name, index, expected_pid, next).await;
    }

    /// Writes a replica record, fenced by the PID it replaces.
    async fn record(&mut self, name: &str, index: u32, expected_pid: i32, replica: Replica) {
        let new_pid = replica.pid;
        let result = self
            .write(Command::SetReplica {
                name: name.to_string(),
                index,
                expected_pid,
                replica,
            })
            .await;
        if !result && new_pid != expected_pid && new_pid != 0 {
            // The record moved on without us: this process is not wanted.
            self.stop(new_pid);
        }
    }

    async fn write(&self, command: Command) -> bool {
        match self.cluster.write(command, false).await {
            Ok(crate::cluster::state::Reply::Refused { reason }) => {
                tracing::debug!(%reason, "reconciler write refused");
                false
            }
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e.message(), "reconciler write failed");
                false
            }
        }
    }

    /// Stops every process named as a replica that the store does not
    /// record as that replica.
    fn fence(&mut self, state: &ClusterState, view: &View) {
        for process in view.live.values() {
            let Some((service, index)) = parse_process_name(&process.name) else {
                continue;
            };
            let wanted = state.services.get(service).is_some_and(|s| {
                index < s.spec.replicas
                    && s.replicas.get(&index).is_some_and(|r| r.pid == process.pid)
            });
            if !wanted {
                tracing::info!(
                    service,
                    index,
                    pid = process.pid,
                    "stopping a replica the store does not record"
                );
                self.stop(process.pid);
            }
        }
    }

    /// SIGTERM, then SIGKILL after the grace period, in the background.
    fn stop(&self, pid: i32) {
        if let Ok(mut stopping) = self.stopping.lock()
            && !stopping.insert(pid)
        {
            return;
        }
        let mut api = self.api.clone();
        let grace = self.stop_grace;
        let stopping = self.stopping.clone();
        tokio::spawn(async move {
            let signal = |sig: i32| SignalRequest { pid, signal: sig };
            let _ = tokio::time::timeout(CALL_TIMEOUT, api.signal(signal(libc::SIGTERM))).await;
            let waited = tokio::time::timeout(
                grace + CALL_TIMEOUT,
                api.wait(WaitRequest {
                    pid,
                    timeout_ms: grace.as_millis() as u64,
                }),
            )
            .await;
            if !matches!(waited, Ok(Ok(_))) {
                let _ = tokio::time::timeout(CALL_TIMEOUT, api.signal(signal(libc::SIGKILL))).await;
            }
            // Give the next ticks a chance to see it gone before a retry.
            tokio::time::sleep(Duration::from_secs(2)).await;
            if let Ok(mut stopping) = stopping.lock() {
                stopping.remove(&pid);
            }
        });
    }
}

/// The node for a replica: among the up members that match the
/// constraints, the one running the fewest replicas of this service, then
/// the fewest processes, then the lowest slot.
fn place(service: &Service, index: u32, view: &View) -> Option<Member> {
    let mut per_slot: HashMap<u64, usize> = HashMap::new();
    for (i, r) in &service.replicas {
        if *i != index && r.state == ReplicaState::Running && r.pid != 0 {
            *per_slot.entry(r.slot).or_default() += 1;
        }
    }
    let mut per_node_procs: HashMap<&str, usize> = HashMap::new();
    for p in view.live.values() {
        *per_node_procs.entry(p.node.as_str()).or_default() += 1;
    }
    view.up
        .values()
        .filter(|m| {
            service
                .spec
                .constraints
                .iter()
                .all(|(k, v)| m.labels.get(k) == Some(v))
        })
        .min_by_key(|m| {
            (
                per_slot.get(&m.slot).copied().unwrap_or(0),
                per_node_procs.get(m.name.as_str()).copied().unwrap_or(0),
                m.slot,
            )
        })
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(6), Duration::from_secs(30));
        assert_eq!(backoff(100), Duration::from_secs(30));
    }
}
