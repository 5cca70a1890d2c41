//! Placement: which members may run a process (their labels match what
//! is asked: one matcher for every policy), and which of them to choose,
//! by the two policies: `@any` takes the least loaded node
//! ([`load_score`]); a service's replica goes where the service has the
//! fewest replicas ([`spread`]).

use std::collections::{BTreeMap, HashMap};

use proto::Slot;
use proto::v1::ProcessInfo;

use crate::cluster::services::{ReplicaState, Service};
use crate::cluster::state::Member;
use crate::hostproc::MachineLoad;

/// Whether a member with `labels` has every label `wanted` asks for.
pub fn matches<'a>(
    labels: &BTreeMap<String, String>,
    wanted: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> bool {
    wanted.into_iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// How loaded a node is for `@any`, lowest first: its processes, then its
/// load average, then (more is better) its available memory.
pub fn load_score(procs: u32, load: &MachineLoad) -> (u32, u64, i64) {
    (
        procs,
        (load.loadavg[0] * 100.0) as u64,
        -(load.mem_available as i64),
    )
}

/// The node for replica `index` of `service`: among the `up` members that
/// match its constraints, the one running the fewest replicas of it
/// (counting `placed`, the (index, slot) placements made since the
/// service was read), then the fewest `live` processes, then the lowest
/// slot.
pub fn spread<'a>(
    service: &Service,
    index: u32,
    placed: &[(u32, Slot)],
    up: &BTreeMap<Slot, Member>,
    live: impl IntoIterator<Item = &'a ProcessInfo>,
) -> Option<Member> {
    let mut per_slot: HashMap<Slot, usize> = HashMap::new();
    let recorded = service
        .replicas
        .iter()
        .filter(|(i, r)| {
            r.state == ReplicaState::Running
                && r.pid.is_some()
                && !placed.iter().any(|(p, _)| p == *i)
        })
        .filter_map(|(i, r)| Some((*i, r.slot?)));
    for (i, slot) in recorded.chain(placed.iter().copied()) {
        if i != index {
            *per_slot.entry(slot).or_default() += 1;
        }
    }
    let mut per_node_procs: HashMap<&str, usize> = HashMap::new();
    for p in live {
        *per_node_procs.entry(p.node.as_str()).or_default() += 1;
    }
    up.values()
        .filter(|m| matches(&m.labels, &service.spec.constraints))
        .min_by_key(|m| {
            (
                per_slot.get(&m.slot).copied().unwrap_or(0),
                per_node_procs.get(m.name.as_str()).copied().unwrap_or(0),
                m.slot,
            )
        })
        .cloned()
}
