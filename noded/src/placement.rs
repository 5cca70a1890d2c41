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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proto::{Gpid, Slot};

    use super::*;
    use crate::cluster::services::{Replica, ServiceSpec};

    fn member(slot: u64, labels: &[(&str, &str)]) -> Member {
        Member::for_test(slot, labels)
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_member_matches_when_it_has_every_label_asked_for() {
        type Labels<'a> = &'a [(&'a str, &'a str)];
        let cases: [(Labels, Labels, bool); 5] = [
            (&[], &[], true),
            (&[("zone", "eu")], &[], true),
            (&[("zone", "eu"), ("disk", "ssd")], &[("zone", "eu")], true),
            (&[("zone", "us")], &[("zone", "eu")], false),
            (&[("zone", "eu")], &[("zone", "eu"), ("disk", "ssd")], false),
        ];
        for (has, wanted, expected) in cases {
            let wanted = labels(wanted);
            assert_eq!(
                matches(&labels(has), &wanted),
                expected,
                "{has:?} {wanted:?}"
            );
        }
    }

    #[test]
    fn any_prefers_fewer_processes_then_less_load_then_more_memory() {
        let load = |avg: f64, free: u64| MachineLoad {
            loadavg: [avg, 0.0, 0.0],
            mem_available: free,
            ..MachineLoad::default()
        };
        // (processes, load, free memory) pairs, the first one less loaded.
        let cases = [
            ((1, load(9.0, 1)), (2, load(0.0, 100))),
            ((1, load(0.5, 1)), (1, load(1.0, 100))),
            ((1, load(0.5, 100)), (1, load(0.5, 1))),
        ];
        for ((p1, l1), (p2, l2)) in cases {
            assert!(load_score(p1, &l1) < load_score(p2, &l2), "{l1:?} {l2:?}");
        }
    }

    #[test]
    fn a_replica_goes_where_its_service_has_the_fewest() {
        let up: BTreeMap<Slot, Member> = [
            member(1, &[("zone", "eu")]),
            member(2, &[("zone", "us")]),
            member(3, &[("zone", "eu")]),
        ]
        .into_iter()
        .map(|m| (m.slot, m))
        .collect();
        let running = |slot: u64, serial: u32| Replica {
            state: ReplicaState::Running,
            slot: Slot::new(slot).ok(),
            pid: Gpid::new(slot as u32, serial).ok(),
            ..Replica::default()
        };
        let service = |constraints: &[(&str, &str)], replicas: Vec<(u32, Replica)>| Service {
            spec: ServiceSpec {
                name: "web".into(),
                replicas: 4,
                constraints: labels(constraints).into_iter().collect(),
                ..ServiceSpec::default()
            },
            created_ms: 0,
            replicas: replicas.into_iter().collect(),
        };
        let slot = |n: u64| Slot::new(n).unwrap();
        // (service, index to place, placed this tick, expected slot)
        let cases = [
            (service(&[], vec![]), 0, vec![], Some(1)),
            (service(&[], vec![(0, running(1, 1))]), 1, vec![], Some(2)),
            (
                service(&[], vec![(0, running(1, 1))]),
                1,
                vec![(2, slot(2))],
                Some(3),
            ),
            // A replica's own record does not count against its node.
            (service(&[], vec![(0, running(1, 1))]), 0, vec![], Some(1)),
            (
                service(&[("zone", "eu")], vec![(0, running(1, 1))]),
                1,
                vec![],
                Some(3),
            ),
            (service(&[("zone", "mars")], vec![]), 0, vec![], None),
        ];
        for (service, index, placed, expected) in cases {
            let chosen = spread(&service, index, &placed, &up, []);
            assert_eq!(
                chosen.map(|m| m.slot),
                expected.map(slot),
                "index {index}, placed {placed:?}, {:?}",
                service.replicas
            );
        }
    }
}
