use super::*;

/// Serial `n` of slot 1.
fn p(n: u32) -> Gpid {
    Gpid::new(1, n).unwrap()
}

fn put(s: &mut CoordState, key: &str, value: &str, expect: Expect) -> CoordReply {
    s.apply(&CoordCommand::Put {
        user: "alice".into(),
        key: key.into(),
        value: Bytes(value.as_bytes().to_vec()),
        owner: None,
        expect,
        guard: None,
    })
}

fn lock(s: &mut CoordState, name: &str, owner: Owner) -> CoordReply {
    s.apply(&CoordCommand::Lock {
        user: "alice".into(),
        name: name.into(),
        owner,
        now_ms: 0,
    })
}

#[test]
fn versions_revisions_and_compare_and_swap() {
    let mut s = CoordState::default();
    assert_eq!(
        put(&mut s, "a", "1", Expect::Absent),
        CoordReply::Written {
            revision: 1,
            version: 1
        }
    );
    assert!(matches!(
        put(&mut s, "a", "2", Expect::Absent),
        CoordReply::Refused(CoordError::VersionMismatch { .. })
    ));
    assert!(matches!(
        put(&mut s, "a", "2", Expect::Version(7)),
        CoordReply::Refused(CoordError::VersionMismatch { .. })
    ));
    assert_eq!(
        put(&mut s, "a", "2", Expect::Version(1)),
        CoordReply::Written {
            revision: 2,
            version: 2
        }
    );
    let e = &s.spaces["alice"].kv["a"];
    assert_eq!((e.create_revision, e.mod_revision, e.version), (1, 2, 2));
    // Refusals change nothing: two events, revision 2.
    assert_eq!(s.revision, 2);
    assert_eq!(s.history.len(), 2);
    let del = CoordCommand::Delete {
        user: "alice".into(),
        key: "a".into(),
        expect: Expect::Any,
        guard: None,
    };
    assert_eq!(
        s.apply(&del),
        CoordReply::Written {
            revision: 3,
            version: 0
        }
    );
    assert_eq!(
        s.apply(&del),
        CoordReply::Refused(CoordError::NoSuchKey("a".into()))
    );
    assert_eq!(s.history.back().unwrap().entry, None);
    // A new key of the same name starts over at version 1.
    assert_eq!(
        put(&mut s, "a", "x", Expect::Absent),
        CoordReply::Written {
            revision: 4,
            version: 1
        }
    );
    assert_eq!(s.spaces["alice"].kv_bytes, 1);
}

#[test]
fn users_do_not_see_each_other() {
    let mut s = CoordState::default();
    put(&mut s, "k", "alice's", Expect::Any);
    let bob = CoordCommand::Put {
        user: "bob".into(),
        key: "k".into(),
        value: Bytes(b"bob's".to_vec()),
        owner: None,
        expect: Expect::Absent,
        guard: None,
    };
    assert!(matches!(s.apply(&bob), CoordReply::Written { .. }));
    assert_eq!(s.spaces["alice"].kv["k"].value.0, b"alice's");
    assert_eq!(s.spaces["bob"].kv["k"].value.0, b"bob's");
}

#[test]
fn fencing_tokens_grow_and_guard_writes() {
    let mut s = CoordState::default();
    let p1 = Owner::Process(p(1));
    let p2 = Owner::Process(Gpid::new(2, 1).unwrap());
    assert_eq!(lock(&mut s, "L", p1), CoordReply::Locked { token: 1 });
    assert!(matches!(
        lock(&mut s, "L", p2),
        CoordReply::Refused(CoordError::Held { token: 1, .. })
    ));
    // The holder dies: released; the next grant's token is larger.
    s.apply(&CoordCommand::Release { owners: vec![p1] });
    assert_eq!(lock(&mut s, "L", p2), CoordReply::Locked { token: 2 });
    let guarded = |token| CoordCommand::Put {
        user: "alice".into(),
        key: "data".into(),
        value: Bytes(b"v".to_vec()),
        owner: None,
        expect: Expect::Any,
        guard: Some(Guard {
            lock: "L".into(),
            token,
        }),
    };
    assert_eq!(
        s.apply(&guarded(1)),
        CoordReply::Refused(CoordError::Fenced {
            lock: "L".into(),
            token: 1
        })
    );
    assert!(matches!(s.apply(&guarded(2)), CoordReply::Written { .. }));
    // Unlock needs the token.
    let unlock = |token| CoordCommand::Unlock {
        user: "alice".into(),
        name: "L".into(),
        token,
    };
    assert!(matches!(s.apply(&unlock(1)), CoordReply::Refused(_)));
    assert_eq!(s.apply(&unlock(2)), CoordReply::Done);
    assert!(matches!(s.apply(&guarded(2)), CoordReply::Refused(_)));
}

#[test]
fn leases_expire_by_the_command_s_clock_and_take_what_they_own() {
    let mut s = CoordState::default();
    let grant = s.apply(&CoordCommand::GrantLease {
        user: "alice".into(),
        ttl_ms: 5_000,
        now_ms: 1_000,
    });
    assert_eq!(
        grant,
        CoordReply::Lease {
            id: 1,
            ttl_ms: 5000
        }
    );
    let lease = Owner::Lease(1);
    lock(&mut s, "L", lease);
    s.apply(&CoordCommand::Put {
        user: "alice".into(),
        key: "ephemeral".into(),
        value: Bytes(b"1".to_vec()),
        owner: Some(lease),
        expect: Expect::Any,
        guard: None,
    });
    // Another user cannot use or keep alive alice's lease.
    let bob_keep = CoordCommand::KeepAlive {
        user: "bob".into(),
        id: 1,
        now_ms: 2_000,
    };
    assert_eq!(
        s.apply(&bob_keep),
        CoordReply::Refused(CoordError::NoSuchLease(1))
    );
    s.apply(&CoordCommand::KeepAlive {
        user: "alice".into(),
        id: 1,
        now_ms: 3_000,
    });
    s.apply(&CoordCommand::ExpireLeases { now_ms: 7_000 });
    assert!(s.leases.contains_key(&1), "kept alive until 8000");
    s.apply(&CoordCommand::ExpireLeases { now_ms: 8_000 });
    assert!(s.leases.is_empty());
    let space = &s.spaces["alice"];
    assert!(space.locks.is_empty() && space.kv.is_empty());
    assert_eq!(
        s.history.back().unwrap().entry,
        None,
        "watchers see the delete"
    );
    // A lease that does not exist owns nothing.
    assert_eq!(
        lock(&mut s, "M", Owner::Lease(9)),
        CoordReply::Refused(CoordError::NoSuchLease(9))
    );
}

#[test]
fn barriers_open_at_n_and_lose_the_dead() {
    let mut s = CoordState::default();
    let enter = |s: &mut CoordState, serial: u32, n: u32| {
        s.apply(&CoordCommand::EnterBarrier {
            user: "alice".into(),
            name: "B".into(),
            n,
            owner: Owner::Process(p(serial)),
        })
    };
    assert_eq!(
        enter(&mut s, 1, 3),
        CoordReply::Entered {
            generation: 1,
            opened: false
        }
    );
    assert!(matches!(
        enter(&mut s, 2, 4),
        CoordReply::Refused(CoordError::BarrierSize { .. })
    ));
    enter(&mut s, 2, 3);
    // Participant 2 dies before it opens: it no longer counts.
    s.apply(&CoordCommand::Release {
        owners: vec![Owner::Process(p(2))],
    });
    assert_eq!(
        enter(&mut s, 3, 3),
        CoordReply::Entered {
            generation: 1,
            opened: false
        }
    );
    assert_eq!(
        enter(&mut s, 4, 3),
        CoordReply::Entered {
            generation: 1,
            opened: true
        }
    );
    assert_eq!(s.spaces["alice"].barriers["B"].generation, 2);
    // Leaving after it opened says so.
    let leave = CoordCommand::LeaveBarrier {
        user: "alice".into(),
        name: "B".into(),
        owner: Owner::Process(p(1)),
        generation: 1,
    };
    assert_eq!(
        s.apply(&leave),
        CoordReply::Entered {
            generation: 1,
            opened: true
        }
    );
    assert!(matches!(
        enter(&mut s, 5, 0),
        CoordReply::Refused(CoordError::Invalid(_))
    ));
}

#[test]
fn history_is_compacted_and_limits_hold() {
    let mut s = CoordState::default();
    for i in 0..HISTORY_EVENTS + 5 {
        put(&mut s, &format!("k{}", i % 3), "v", Expect::Any);
    }
    assert_eq!(s.history.len(), HISTORY_EVENTS);
    assert_eq!(s.compacted, 5);
    assert_eq!(s.oldest_revision(), 6);
    assert_eq!(s.history.front().unwrap().revision, 6);
    let huge = "x".repeat(MAX_VALUE_BYTES + 1);
    assert!(matches!(
        put(&mut s, "big", &huge, Expect::Any),
        CoordReply::Refused(CoordError::Limit(_))
    ));
    assert!(matches!(
        put(&mut s, "", "v", Expect::Any),
        CoordReply::Refused(CoordError::Invalid(_))
    ));
    assert!(matches!(
        put(&mut s, &"k".repeat(MAX_KEY_BYTES + 1), "v", Expect::Any),
        CoordReply::Refused(CoordError::Limit(_))
    ));
}

#[test]
fn names_belong_to_one_pid_until_it_ends() {
    let mut s = CoordState::default();
    let set = |n| CoordCommand::SetName {
        user: "alice".into(),
        name: "db".into(),
        pid: p(n),
        owner: Owner::Process(p(n)),
    };
    assert_eq!(s.apply(&set(7)), CoordReply::Done);
    assert_eq!(
        s.apply(&set(8)),
        CoordReply::Refused(CoordError::NameTaken {
            name: "db".into(),
            pid: p(7)
        })
    );
    assert_eq!(s.process_owners(), BTreeSet::from([p(7)]));
    s.apply(&CoordCommand::Release {
        owners: vec![Owner::Process(p(7))],
    });
    assert_eq!(s.apply(&set(8)), CoordReply::Done);
}

#[test]
fn values_travel_as_base64_and_survive_a_snapshot() {
    let mut s = CoordState::default();
    s.apply(&CoordCommand::Put {
        user: "alice".into(),
        key: "bin".into(),
        value: Bytes(vec![0, 255, 10]),
        owner: None,
        expect: Expect::Any,
        guard: None,
    });
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.contains("\"AP8K\""), "{json}");
    let back: CoordState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
}
