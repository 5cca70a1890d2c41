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

use proto::{Gpid, Slot, now_ms};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use proto::v1::processes_client::ProcessesClient;
use proto::v1::{GetRequest, ListRequest, ProcessState, SignalRequest, SpawnRequest, WaitRequest};
use tokio_util::sync::CancellationToken;

use plan::{Action, World};
use tonic::transport::Channel;

use crate::cluster::Cluster;
use crate::cluster::services::{Replica, process_name};
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

pub use plan::backoff;

mod plan;

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
            // Only the store's leader reconciles; the others wait until
            // they lead (every node waking to find it is not the leader
            // added up on large clusters).
            if !reconciler.cluster.is_leader() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = reconciler.cluster.until_leader() => continue,
                }
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
    down_since: HashMap<Slot, std::time::Instant>,
    /// PIDs being stopped, so each gets one stop task.
    stopping: Arc<std::sync::Mutex<HashSet<Gpid>>>,
}

impl Reconciler {
    /// Gathers the world, plans, and runs the plan.
    async fn tick(&mut self) {
        let state = self.cluster.state();
        if !plan::has_work(&state) {
            // Nothing to run or fence: spare every node a List each tick
            // (on a large cluster, the leader's Lists were most of the
            // cluster's idle CPU).
            return;
        }
        let Some(mut world) = self.world(&state).await else {
            return;
        };
        for pid in plan::unknown_ends(&state, &world) {
            if let Some(status) = self.ended_status(pid, world.complete).await {
                world.ended.insert(pid, status);
            }
        }
        for action in plan::plan(&state, &world) {
            self.run(action).await;
        }
    }

    /// Members that are up and the processes they run.
    async fn world(&mut self, state: &ClusterState) -> Option<World> {
        let up: BTreeMap<Slot, Member> = state
            .members
            .iter()
            .filter(|(slot, m)| {
                !m.left && (**slot == self.cluster.slot || self.cluster.is_up(**slot))
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
            .filter_map(|p| Some((Gpid::from_raw(p.pid.into()).ok()?, p)))
            .collect();
        Some(World {
            up,
            live,
            complete,
            gone,
            ended: HashMap::new(),
            now_ms: now_ms(),
        })
    }

    /// The exit status of a replica's process that is not among the live
    /// ones, or `None` when that cannot be told yet (its node did not
    /// answer).
    async fn ended_status(&mut self, pid: Gpid, complete: bool) -> Option<i32> {
        let request = GetRequest {
            pid: pid.as_raw(),
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
            Ok(Err(status)) if status.code() == tonic::Code::NotFound && complete => Some(255),
            _ => None,
        }
    }

    /// Runs one planned action.
    async fn run(&mut self, action: Action) {
        match action {
            Action::Record {
                name,
                index,
                expected_pid,
                replica,
            } => {
                tracing::info!(service = %name, index, pid = ?expected_pid, state = ?replica.state, status = ?replica.last_status, "replica record");
                self.record(&name, index, expected_pid, replica).await;
            }
            Action::Start {
                name,
                index,
                expected_pid,
                record,
                node,
            } => self.start(&name, index, expected_pid, record, node).await,
            Action::Stop(pid) => {
                tracing::info!(%pid, "stopping a replica process");
                self.stop(pid);
            }
            Action::Drop { name, index } => {
                let _ = self.write(Command::DropReplica { name, index }).await;
            }
        }
    }

    /// Spawns a replica on `node`; records the outcome.
    async fn start(
        &mut self,
        name: &str,
        index: u32,
        expected_pid: Option<Gpid>,
        record: Replica,
        node: Member,
    ) {
        // The spec as the store has it now (the plan was made from a copy).
        let Some(service) = self.cluster.service(name) else {
            return;
        };
        let mut env: HashMap<String, String> = service.spec.env.clone().into_iter().collect();
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
        let now = now_ms();
        let next = match spawned {
            Ok(Ok(reply)) => match Gpid::from_raw(reply.into_inner().pid.into()) {
                Ok(pid) => {
                    tracing::info!(service = name, index, %pid, node = %node.name, "replica started");
                    plan::started(&record, &node, pid, now)
                }
                Err(e) => plan::spawn_failed(&record, e.to_string(), now),
            },
            Ok(Err(status)) => plan::spawn_failed(&record, status.message().to_string(), now),
            Err(_) => return,
        };
        self.record(name, index, expected_pid, next).await;
    }

    /// Writes a replica record, fenced by the PID it replaces.
    async fn record(
        &mut self,
        name: &str,
        index: u32,
        expected_pid: Option<Gpid>,
        replica: Replica,
    ) {
        let new_pid = replica.pid;
        let result = self
            .write(Command::SetReplica {
                name: name.to_string(),
                index,
                expected_pid,
                replica,
            })
            .await;
        if let Some(new_pid) = new_pid
            && !result
            && Some(new_pid) != expected_pid
        {
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

    /// SIGTERM, then SIGKILL after the grace period, in the background.
    fn stop(&self, pid: Gpid) {
        if let Ok(mut stopping) = self.stopping.lock()
            && !stopping.insert(pid)
        {
            return;
        }
        let mut api = self.api.clone();
        let grace = self.stop_grace;
        let stopping = self.stopping.clone();
        tokio::spawn(async move {
            let signal = |sig: i32| SignalRequest {
                pid: pid.as_raw(),
                signal: sig,
            };
            let _ = tokio::time::timeout(CALL_TIMEOUT, api.signal(signal(libc::SIGTERM))).await;
            let waited = tokio::time::timeout(
                grace + CALL_TIMEOUT,
                api.wait(WaitRequest {
                    pid: pid.as_raw(),
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
