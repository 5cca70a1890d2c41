//! The reconciler's decisions as pure functions: given the store's state
//! and what the cluster runs ([`World`]), [`plan`] says what to do
//! ([`Action`]s); the reconciler (services.rs) only gathers the world and
//! runs the actions. The rules are the module doc of services.rs.

use std::collections::{BTreeMap, HashMap, HashSet};

use proto::v1::ProcessInfo;
use proto::{Gpid, Slot};

use super::{BACKOFF_CAP, BACKOFF_START, CRASH_LOOP_AFTER, RETRY_PLACEMENT, STABLE_RUN};
use crate::cluster::services::{Replica, ReplicaState, Restart, Service, parse_process_name};
use crate::cluster::state::{ClusterState, Member};

/// What the reconciler knows of the cluster in one tick.
#[derive(Clone, Debug, Default)]
pub struct World {
    /// Members that are up, by slot.
    pub up: BTreeMap<Slot, Member>,
    /// Running and stopped processes, by PID (from every node that answered).
    pub live: HashMap<Gpid, ProcessInfo>,
    /// Whether every up node answered the List.
    pub complete: bool,
    /// Down members whose replicas may move (down long enough).
    pub gone: HashSet<Slot>,
    /// Exit statuses of replica processes that are no longer live, as far
    /// as they could be told ([`unknown_ends`] lists the ones to ask for).
    pub ended: HashMap<Gpid, i32>,
    /// Now, in ms since the epoch.
    pub now_ms: u64,
}

/// One thing to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write a replica's record, fenced by the PID it replaces.
    Record {
        name: String,
        index: u32,
        expected_pid: Option<Gpid>,
        replica: Replica,
    },
    /// Spawn a replica on `node` and record the outcome ([`started`] or
    /// [`spawn_failed`] of `record`), fenced by `expected_pid`.
    Start {
        name: String,
        index: u32,
        expected_pid: Option<Gpid>,
        record: Replica,
        node: Member,
    },
    /// Stop a process (SIGTERM, then SIGKILL after the grace period).
    Stop(Gpid),
    /// Forget a replica above the count.
    Drop { name: String, index: u32 },
}

/// The restart delay after `failures` quick ends in a row (1 or more).
pub fn backoff(failures: u32) -> std::time::Duration {
    let exponent = failures.saturating_sub(1).min(16);
    BACKOFF_START.saturating_mul(1 << exponent).min(BACKOFF_CAP)
}

/// `record` after one more quick failure at `now_ms` (an end before a
/// stable run, or a spawn that failed): backoff, or crash loop after
/// [`CRASH_LOOP_AFTER`] in a row.
fn failed(record: &Replica, failures: u32, now_ms: u64) -> Replica {
    Replica {
        state: if failures >= CRASH_LOOP_AFTER {
            ReplicaState::CrashLoop
        } else {
            ReplicaState::Backoff
        },
        failures,
        next_start_ms: now_ms + backoff(failures).as_millis() as u64,
        ..record.clone()
    }
}

/// `record` once its process `pid` started on `node` at `now_ms`.
pub fn started(record: &Replica, node: &Member, pid: Gpid, now_ms: u64) -> Replica {
    Replica {
        state: ReplicaState::Running,
        slot: Some(node.slot),
        pid: Some(pid),
        started_ms: now_ms,
        next_start_ms: 0,
        error: String::new(),
        ..record.clone()
    }
}

/// `record` once its spawn failed with `error` (a missing executable, a
/// bad cwd): backed off like a crash, so the cluster does not spin.
pub fn spawn_failed(record: &Replica, error: String, now_ms: u64) -> Replica {
    Replica {
        error,
        ..failed(record, record.failures + 1, now_ms)
    }
}

/// `record` once its process ended with `status` at `now_ms`: restarted
/// later per the policy, or done.
fn ended(service: &Service, record: &Replica, status: i32, now_ms: u64) -> Replica {
    let restart = match service.spec.restart {
        Restart::Always => true,
        Restart::OnFailure => status != 0,
        Restart::Never => false,
    };
    if !restart {
        return Replica {
            state: ReplicaState::Done,
            last_status: Some(status),
            ..record.clone()
        };
    }
    let ran = now_ms.saturating_sub(record.started_ms);
    let failures = if ran >= STABLE_RUN.as_millis() as u64 {
        1
    } else {
        record.failures + 1
    };
    Replica {
        last_status: Some(status),
        restarts: record.restarts + 1,
        ..failed(record, failures, now_ms)
    }
}

/// The replica processes whose end must be asked for before planning:
/// recorded as running on a node that is up, but not among the live ones.
pub fn unknown_ends(state: &ClusterState, world: &World) -> Vec<Gpid> {
    state
        .services
        .values()
        .flat_map(|s| s.replicas.range(..s.spec.replicas).map(|(_, r)| r))
        .filter(|r| r.state == ReplicaState::Running && world.is_up(r.slot))
        .filter_map(|r| r.pid)
        .filter(|pid| !world.live.contains_key(pid))
        .collect()
}

impl World {
    /// Whether `slot` names a member that is up.
    fn is_up(&self, slot: Option<Slot>) -> bool {
        slot.is_some_and(|s| self.up.contains_key(&s))
    }

    /// Whether `pid` names a live process.
    fn is_live(&self, pid: Option<Gpid>) -> bool {
        pid.is_some_and(|p| self.live.contains_key(&p))
    }
}

/// Whether a tick may have anything to do: a service exists, or some node
/// published a process named as a replica (one to fence: its service was
/// removed while its node was away). Without either, the reconciler need
/// not ask the cluster what it runs.
pub fn has_work(state: &ClusterState) -> bool {
    !state.services.is_empty()
        || state
            .processes
            .values()
            .flat_map(|published| published.iter())
            .any(|p| parse_process_name(&p.name).is_some())
}

/// Everything to do this tick.
pub fn plan(state: &ClusterState, world: &World) -> Vec<Action> {
    let mut actions = Vec::new();
    for (name, service) in &state.services {
        // Placements made earlier in this tick count for the next ones.
        let mut placed = Vec::new();
        for index in 0..service.spec.replicas {
            let record = service.replicas.get(&index).cloned().unwrap_or_default();
            if let Some(action) = plan_replica(name, service, index, record, world, &placed) {
                if let Action::Start { node, .. } = &action {
                    placed.push((index, node.slot));
                }
                actions.push(action);
            }
        }
        for (index, record) in service.replicas.range(service.spec.replicas..) {
            if let Some(pid) = record.pid {
                actions.push(Action::Stop(pid));
            }
            actions.push(Action::Drop {
                name: name.clone(),
                index: *index,
            });
        }
    }
    actions.extend(fence(state, world).into_iter().map(Action::Stop));
    actions
}

/// What to do for one replica, if anything.
fn plan_replica(
    name: &str,
    service: &Service,
    index: u32,
    record: Replica,
    world: &World,
    placed: &[(u32, Slot)],
) -> Option<Action> {
    let now = world.now_ms;
    let node = || crate::placement::spread(service, index, placed, &world.up, world.live.values());
    let start = |expected_pid: Option<Gpid>, record: Replica| match node() {
        Some(node) => Some(Action::Start {
            name: name.to_string(),
            index,
            expected_pid,
            record,
            node,
        }),
        None => {
            let error = unplaceable(service);
            let next = Replica {
                state: ReplicaState::Unschedulable,
                error,
                next_start_ms: now + RETRY_PLACEMENT.as_millis() as u64,
                ..record.clone()
            };
            (next.state != record.state || next.error != record.error).then(|| Action::Record {
                name: name.to_string(),
                index,
                expected_pid,
                replica: next,
            })
        }
    };
    let record_as = |replica: Replica| Action::Record {
        name: name.to_string(),
        index,
        expected_pid: record.pid,
        replica,
    };
    match record.state {
        ReplicaState::Running if !world.is_up(record.slot) => {
            // Down only briefly (maybe restarting): wait. Down for good:
            // start it elsewhere now (not a restart); the old process is
            // fenced if its node comes back.
            if !record.slot.is_some_and(|s| world.gone.contains(&s)) {
                return None;
            }
            let moved = Replica {
                state: ReplicaState::Pending,
                next_start_ms: 0,
                ..record.clone()
            };
            start(record.pid, moved)
        }
        ReplicaState::Running if world.is_live(record.pid) => {
            let stable = now.saturating_sub(record.started_ms) >= STABLE_RUN.as_millis() as u64;
            (record.failures > 0 && stable).then(|| {
                record_as(Replica {
                    failures: 0,
                    ..record.clone()
                })
            })
        }
        ReplicaState::Running => {
            let status = *world.ended.get(&record.pid?)?;
            Some(record_as(ended(service, &record, status, now)))
        }
        ReplicaState::Pending
        | ReplicaState::Backoff
        | ReplicaState::CrashLoop
        | ReplicaState::Unschedulable => {
            (now >= record.next_start_ms).then(|| start(record.pid, record.clone()))?
        }
        ReplicaState::Done => None,
    }
}

/// Why a replica has no node.
fn unplaceable(service: &Service) -> String {
    let wanted: Vec<String> = service
        .spec
        .constraints
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if wanted.is_empty() {
        "no node is up".to_string()
    } else {
        format!("no node that is up has {}", wanted.join(", "))
    }
}

/// Processes named as a replica that the store does not record as that
/// replica (a node back from a partition, a scale-down, a removed service):
/// once stopped, each index runs once.
fn fence(state: &ClusterState, world: &World) -> Vec<Gpid> {
    let mut unwanted: Vec<Gpid> = world
        .live
        .iter()
        .filter(|(pid, process)| {
            let Some((service, index)) = parse_process_name(&process.name) else {
                return false;
            };
            !state.services.get(service).is_some_and(|s| {
                index < s.spec.replicas
                    && s.replicas.get(&index).is_some_and(|r| r.pid == Some(**pid))
            })
        })
        .map(|(pid, _)| *pid)
        .collect();
    unwanted.sort_unstable();
    unwanted
}

#[cfg(test)]
mod tests;
