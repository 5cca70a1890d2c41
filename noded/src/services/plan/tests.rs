//! The reconciler's rules, table-driven, without a cluster.

use std::collections::{BTreeMap, HashMap, HashSet};

use proto::v1::ProcessInfo;

use super::*;
use crate::cluster::services::{
    Replica, ReplicaState, Restart, Service, ServiceSpec, process_name,
};
use crate::cluster::state::{ClusterState, Member};

const NOW: u64 = 1_000_000;

fn sl(n: u64) -> Slot {
    Slot::new(n).unwrap()
}

fn g(raw: i64) -> Gpid {
    Gpid::from_raw(raw).unwrap()
}

fn member(slot: u64, labels: &[(&str, &str)]) -> Member {
    Member::for_test(slot, labels)
}

fn service(replicas: u32, restart: Restart, records: &[(u32, Replica)]) -> Service {
    Service {
        spec: ServiceSpec {
            name: "web".into(),
            argv: vec!["srv".into()],
            replicas,
            restart,
            ..ServiceSpec::default()
        },
        created_ms: 1,
        replicas: records.iter().cloned().collect(),
    }
}

fn running(slot: u64, pid: i64, started_ms: u64, failures: u32) -> Replica {
    Replica {
        state: ReplicaState::Running,
        slot: Some(sl(slot)),
        pid: Some(g(pid)),
        started_ms,
        failures,
        ..Replica::default()
    }
}

fn live(pid: i64, node: &str, name: &str) -> (Gpid, ProcessInfo) {
    (
        g(pid),
        ProcessInfo {
            pid: g(pid).as_raw(),
            node: node.into(),
            name: name.into(),
            ..ProcessInfo::default()
        },
    )
}

fn world(up: &[Member], live: Vec<(Gpid, ProcessInfo)>) -> World {
    World {
        up: up.iter().map(|m| (m.slot, m.clone())).collect(),
        live: live.into_iter().collect(),
        complete: true,
        gone: HashSet::new(),
        ended: HashMap::new(),
        now_ms: NOW,
    }
}

fn state(service: Service) -> ClusterState {
    ClusterState {
        services: BTreeMap::from([("web".to_string(), service)]),
        ..ClusterState::default()
    }
}

/// The record written for replica 0, if the plan writes one.
fn recorded(actions: &[Action]) -> Option<&Replica> {
    actions.iter().find_map(|a| match a {
        Action::Record { replica, .. } => Some(replica),
        _ => None,
    })
}

#[test]
fn backoff_doubles_to_the_cap() {
    let secs = |n| backoff(n).as_secs();
    assert_eq!([1, 2, 3, 4, 5, 6, 100].map(secs), [1, 2, 4, 8, 16, 30, 30]);
}

#[test]
fn an_end_restarts_per_policy_with_a_growing_backoff_then_crash_loop() {
    // (policy, exit status, failures before, ran for ms) ->
    // (state, failures after, restarts, next start in ms)
    let cases = [
        (
            Restart::Always,
            0,
            0,
            100,
            ReplicaState::Backoff,
            1,
            1,
            1_000,
        ),
        (
            Restart::Always,
            3,
            1,
            100,
            ReplicaState::Backoff,
            2,
            1,
            2_000,
        ),
        (
            Restart::Always,
            3,
            2,
            100,
            ReplicaState::CrashLoop,
            3,
            1,
            4_000,
        ),
        (
            Restart::Always,
            3,
            5,
            100,
            ReplicaState::CrashLoop,
            6,
            1,
            30_000,
        ),
        // A stable run resets the ladder.
        (
            Restart::Always,
            3,
            5,
            60_000,
            ReplicaState::Backoff,
            1,
            1,
            1_000,
        ),
        (
            Restart::OnFailure,
            3,
            0,
            100,
            ReplicaState::Backoff,
            1,
            1,
            1_000,
        ),
        (Restart::OnFailure, 0, 0, 100, ReplicaState::Done, 0, 0, 0),
        (Restart::Never, 3, 0, 100, ReplicaState::Done, 0, 0, 0),
    ];
    let n1 = member(1, &[]);
    for (policy, status, before, ran, state_after, failures, restarts, next_in) in cases {
        let record = running(1, 10000001, NOW - ran, before);
        let state = state(service(1, policy, &[(0, record)]));
        let mut w = world(std::slice::from_ref(&n1), vec![]);
        assert_eq!(unknown_ends(&state, &w), [g(10000001)]);
        w.ended.insert(g(10000001), status);
        let actions = plan(&state, &w);
        let r = recorded(&actions).unwrap_or_else(|| panic!("{policy:?} {status}: {actions:?}"));
        let case = format!("{policy:?} status {status} after {before} failures, ran {ran} ms");
        assert_eq!(r.state, state_after, "{case}");
        assert_eq!(r.last_status, Some(status), "{case}");
        if state_after != ReplicaState::Done {
            assert_eq!(r.failures, failures, "{case}");
            assert_eq!(r.restarts, restarts, "{case}");
            assert_eq!(r.next_start_ms, NOW + next_in, "{case}");
        }
    }
}

#[test]
fn an_end_that_cannot_be_told_yet_waits() {
    let state = state(service(
        1,
        Restart::Always,
        &[(0, running(1, 10000001, 0, 0))],
    ));
    let w = world(&[member(1, &[])], vec![]);
    assert_eq!(plan(&state, &w), []);
}

#[test]
fn a_stable_run_resets_failures_and_a_live_replica_is_left_alone() {
    let n1 = member(1, &[]);
    let name = process_name("web", 0);
    for (started_ms, failures, expect_write) in [
        (NOW - 60_000, 2, true),
        (NOW - 1_000, 2, false),
        (NOW - 60_000, 0, false),
    ] {
        let state = state(service(
            1,
            Restart::Always,
            &[(0, running(1, 10000001, started_ms, failures))],
        ));
        let w = world(std::slice::from_ref(&n1), vec![live(10000001, "n1", &name)]);
        let actions = plan(&state, &w);
        assert_eq!(recorded(&actions).is_some(), expect_write, "{actions:?}");
        if let Some(r) = recorded(&actions) {
            assert_eq!((r.failures, r.state), (0, ReplicaState::Running));
        }
    }
}

#[test]
fn a_down_node_s_replica_waits_then_moves_without_a_restart() {
    let (n1, n2) = (member(1, &[]), member(2, &[]));
    let record = Replica {
        restarts: 4,
        ..running(1, 10000001, 0, 0)
    };
    let state = state(service(1, Restart::Always, &[(0, record)]));
    // Down briefly: nothing.
    let mut w = world(std::slice::from_ref(&n2), vec![]);
    assert_eq!(plan(&state, &w), []);
    // Down for good: start elsewhere, fenced by the old PID, same count.
    w.gone.insert(n1.slot);
    match plan(&state, &w).as_slice() {
        [
            Action::Start {
                expected_pid,
                record,
                node,
                ..
            },
        ] => {
            assert_eq!(*expected_pid, Some(g(10000001)));
            assert_eq!(node.slot, sl(2));
            assert_eq!((record.state, record.restarts), (ReplicaState::Pending, 4));
            let started = started(record, node, g(20000001), NOW);
            assert_eq!(
                (started.state, started.slot, started.pid, started.restarts),
                (ReplicaState::Running, Some(sl(2)), Some(g(20000001)), 4)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn placement_spreads_replicas_and_honours_constraints() {
    let up = [
        member(1, &[("zone", "eu")]),
        member(2, &[("zone", "us")]),
        member(3, &[("zone", "eu")]),
    ];
    // Three new replicas, no constraint: one per node, in one tick.
    let state_all = state(service(3, Restart::Always, &[]));
    let slots: Vec<u64> = plan(&state_all, &world(&up, vec![]))
        .iter()
        .filter_map(|a| match a {
            Action::Start { node, .. } => Some(node.slot.raft_id()),
            _ => None,
        })
        .collect();
    assert_eq!(slots, [1, 2, 3]);
    // zone=eu: only nodes 1 and 3.
    let mut eu = service(2, Restart::Always, &[]);
    eu.spec.constraints = BTreeMap::from([("zone".into(), "eu".into())]);
    let slots: Vec<u64> = plan(&state(eu), &world(&up, vec![]))
        .iter()
        .filter_map(|a| match a {
            Action::Start { node, .. } => Some(node.slot.raft_id()),
            _ => None,
        })
        .collect();
    assert_eq!(slots, [1, 3]);
    // zone=mars: unschedulable, said once, retried later.
    let mut mars = service(1, Restart::Always, &[]);
    mars.spec.constraints = BTreeMap::from([("zone".into(), "mars".into())]);
    let actions = plan(&state(mars.clone()), &world(&up, vec![]));
    let r = recorded(&actions).expect("an unschedulable record");
    assert_eq!(r.state, ReplicaState::Unschedulable);
    assert_eq!(r.error, "no node that is up has zone=mars");
    mars.replicas.insert(0, r.clone());
    let mut later = world(&up, vec![]);
    later.now_ms = r.next_start_ms;
    assert_eq!(plan(&state(mars), &later), []);
}

#[test]
fn a_backed_off_replica_starts_when_its_time_comes() {
    let record = Replica {
        state: ReplicaState::Backoff,
        pid: Some(g(10000001)),
        next_start_ms: NOW + 1,
        failures: 1,
        ..Replica::default()
    };
    let state = state(service(1, Restart::Always, &[(0, record.clone())]));
    let mut w = world(&[member(1, &[])], vec![]);
    assert_eq!(plan(&state, &w), []);
    w.now_ms = NOW + 1;
    assert!(matches!(
        plan(&state, &w).as_slice(),
        [Action::Start {
            expected_pid: Some(pid),
            ..
        }] if *pid == g(10000001)
    ));
    // A spawn that fails backs off like a crash.
    let failed = spawn_failed(&record, "no such executable".into(), NOW);
    assert_eq!(
        (failed.state, failed.failures, failed.next_start_ms),
        (ReplicaState::Backoff, 2, NOW + 2_000)
    );
}

#[test]
fn scale_down_and_fencing_stop_what_the_store_does_not_record() {
    let n1 = member(1, &[]);
    let records = [
        (0, running(1, 10000001, NOW, 0)),
        (1, running(1, 10000002, NOW, 0)),
    ];
    let state = state(service(1, Restart::Always, &records));
    let w = world(
        std::slice::from_ref(&n1),
        vec![
            live(10000001, "n1", &process_name("web", 0)),
            live(10000002, "n1", &process_name("web", 1)),
            // A replica 0 back from a partition, not the recorded one.
            live(10000009, "n1", &process_name("web", 0)),
            // Someone else's process that merely looks like one.
            live(10000010, "n1", "web"),
        ],
    );
    let actions = plan(&state, &w);
    assert!(actions.contains(&Action::Stop(g(10000002))), "{actions:?}");
    assert!(actions.contains(&Action::Drop {
        name: "web".into(),
        index: 1
    }));
    assert!(actions.contains(&Action::Stop(g(10000009))));
    assert!(!actions.contains(&Action::Stop(g(10000001))));
    assert!(!actions.contains(&Action::Stop(g(10000010))));
}
