//! Many noded as one cluster: membership with distinct slots, requests for
//! any PID from any node, List over all nodes, `@any` placement, starting
//! and attaching in one call on any node, failures of
//! the store's leader and of nodes, isolation, duplicate names.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use anyhow::Context;

use proto::v1::{
    AttachRequest, AttachStart, ListRequest, NodeState, OutputStream, ProcessState, SpawnRequest,
    attach_event, attach_request,
};
use tests::{
    Node, NodeOptions, TIMEOUT, TestCluster, get, read_output, request, signal, state, wait,
    wait_until,
};
use tonic::Code;

/// Spawns `argv` on `node` (a name, "" or "@any") through `via`.
async fn spawn_on(
    cluster: &TestCluster,
    via: usize,
    node: &str,
    argv: &[&str],
) -> anyhow::Result<proto::v1::ProcessInfo> {
    let req = SpawnRequest {
        node: node.to_string(),
        ..request(argv)
    };
    Ok(cluster.nodes[via]
        .client()
        .await?
        .spawn(req)
        .await?
        .into_inner())
}

async fn wait_state(
    cluster: &TestCluster,
    via: usize,
    name: &str,
    wanted: NodeState,
) -> anyhow::Result<()> {
    wait_until(&format!("{name} to be {wanted:?}"), TIMEOUT, || async {
        let members = cluster.members(via).await.ok()?;
        members
            .iter()
            .any(|m| m.name == name && m.state == wanted as i32)
            .then_some(())
    })
    .await
}

#[tokio::test]
async fn three_nodes_see_each_other_with_distinct_slots() -> anyhow::Result<()> {
    let cluster = TestCluster::start(3).await?;
    for i in 0..3 {
        let members = cluster.members(i).await?;
        let slots: HashSet<u32> = members.iter().map(|m| m.slot).collect();
        assert_eq!(slots.len(), 3, "{members:?}");
        let names: HashSet<&str> = members.iter().map(|m| m.name.as_str()).collect();
        for node in &cluster.nodes {
            assert!(names.contains(node.name.as_str()));
        }
        assert!(members.iter().all(|m| m.state == NodeState::Up as i32));
        assert_eq!(members.iter().filter(|m| m.store_leader).count(), 1);
    }
    // The first nodes up to three are the store's voters.
    cluster.wait_voters(3).await?;
    Ok(())
}

#[tokio::test]
async fn any_pid_is_served_from_any_node() -> anyhow::Result<()> {
    let cluster = TestCluster::start(3).await?;
    let members = cluster.members(0).await?;
    let slot_of: HashMap<String, u32> = members.iter().map(|m| (m.name.clone(), m.slot)).collect();

    // Spawn on each node from each node.
    let mut pids = Vec::new();
    for via in 0..3 {
        for target in &cluster.nodes {
            let script = format!("echo from-{}; exec sleep 1000", target.name);
            let p = spawn_on(&cluster, via, &target.name, &["sh", "-c", &script]).await?;
            assert_eq!(p.node, target.name);
            assert_eq!(
                p.pid as u32 / 10_000_000,
                slot_of[&target.name],
                "the pid's slot names its node"
            );
            pids.push((p.pid, target.name.clone()));
        }
    }

    // List from any node shows all of them with the right node.
    for via in 0..3 {
        let listed = cluster.nodes[via]
            .client()
            .await?
            .list(ListRequest::default())
            .await?
            .into_inner();
        assert!(listed.unreachable.is_empty(), "{:?}", listed.unreachable);
        let seen: HashMap<i32, String> = listed
            .processes
            .iter()
            .map(|p| (p.pid, p.node.clone()))
            .collect();
        for (pid, node) in &pids {
            assert_eq!(seen.get(pid), Some(node), "node {via} lists {pid}");
        }
        let one = ListRequest {
            node: cluster.nodes[2].name.clone(),
            ..ListRequest::default()
        };
        let only = cluster.nodes[via]
            .client()
            .await?
            .list(one)
            .await?
            .into_inner();
        assert!(
            only.processes
                .iter()
                .all(|p| p.node == cluster.nodes[2].name)
        );
        assert_eq!(only.processes.len(), 3);
    }

    // Get, output, kill and wait from a node that does not own the pid.
    for (pid, node) in &pids {
        let owner = cluster
            .nodes
            .iter()
            .position(|n| &n.name == node)
            .expect("ours");
        let via = (owner + 1) % 3;
        let mut c = cluster.nodes[via].client().await?;
        let info = get(&mut c, *pid).await?;
        assert_eq!(
            (info.node.as_str(), state(&info)),
            (node.as_str(), ProcessState::Running)
        );
        let out =
            tests::wait_for_stdout(&c, *pid, |o| (!o.is_empty()).then(|| o.to_string())).await?;
        assert_eq!(out, format!("from-{node}\n"));
        signal(&mut c, *pid, libc::SIGTERM).await?;
        let done = wait(&mut c, *pid).await?;
        assert_eq!(
            (state(&done), done.signal),
            (ProcessState::Killed, Some(libc::SIGTERM))
        );
        assert_eq!(
            read_output(&mut c, *pid, OutputStream::Stdout).await?,
            out.as_bytes()
        );
    }
    Ok(())
}

/// Attach with `start.spawn` through `via`: the call's status, or its
/// events until the stream ends.
async fn spawn_attached(
    cluster: &TestCluster,
    via: usize,
    spawn: SpawnRequest,
) -> Result<Vec<attach_event::Event>, tonic::Status> {
    let start = AttachRequest {
        request: Some(attach_request::Request::Start(AttachStart {
            replay: true,
            spawn: Some(spawn),
            ..Default::default()
        })),
    };
    let mut client = cluster.nodes[via]
        .client()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    // The request side stays open, as a client with stdin would keep it.
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.try_send(start).expect("room for the first message");
    let mut events = client
        .attach(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    let mut all = Vec::new();
    while let Some(event) = tokio::time::timeout(TIMEOUT, events.message())
        .await
        .map_err(|_| tonic::Status::deadline_exceeded("no event in time"))??
    {
        all.extend(event.event);
    }
    drop(tx);
    Ok(all)
}

#[tokio::test]
async fn attach_starts_the_process_on_the_node_it_names() -> anyhow::Result<()> {
    let cluster = TestCluster::start(2).await?;
    let members = cluster.members(0).await?;
    let slot_of: HashMap<String, u32> = members.iter().map(|m| (m.name.clone(), m.slot)).collect();
    let other = cluster.nodes[1].name.clone();
    for node in [
        other.clone(),
        format!("@{other}"),
        String::new(),
        "@any".into(),
    ] {
        let spawn = SpawnRequest {
            node: node.clone(),
            ..request(&["sh", "-c", "echo out; echo err >&2; exit 3"])
        };
        let events = spawn_attached(&cluster, 0, spawn).await?;
        let Some(attach_event::Event::Started(started)) = events.first() else {
            panic!("{node:?}: the first event is not `started`: {events:?}");
        };
        let ran_on = if node.is_empty() {
            cluster.nodes[0].name.clone()
        } else if node == "@any" {
            started.node.clone()
        } else {
            other.clone()
        };
        assert_eq!(started.node, ran_on, "{node:?}");
        assert_eq!(
            started.pid as u32 / 10_000_000,
            slot_of[&ran_on],
            "{node:?}"
        );
        let (mut out, mut err, mut exit) = (Vec::new(), Vec::new(), None);
        for event in &events[1..] {
            match event {
                attach_event::Event::Stdout(c) => out.extend(&c.data),
                attach_event::Event::Stderr(c) => err.extend(&c.data),
                attach_event::Event::Exit(info) => exit = Some(info.clone()),
                other => panic!("{node:?}: unexpected {other:?}"),
            }
        }
        assert_eq!(
            (out.as_slice(), err.as_slice()),
            (&b"out\n"[..], &b"err\n"[..])
        );
        let exit = exit.context("no exit event")?;
        assert_eq!((exit.pid, exit.exit_code), (started.pid, Some(3)));
    }

    // It fails as Spawn fails: the same code for a missing command or
    // node, and descriptors are passed only on the caller's own node.
    let missing = request(&["/no/such/command"]);
    let no_node = SpawnRequest {
        node: "no-such-node".into(),
        ..request(&["true"])
    };
    let remote_inherit = SpawnRequest {
        node: other.clone(),
        inherit: Some(proto::v1::InheritedStdio {
            stdout_fd: Some(1),
            ..Default::default()
        }),
        ..request(&["true"])
    };
    for spawn in [missing, no_node, remote_inherit] {
        let by_spawn = cluster.nodes[0]
            .client()
            .await?
            .spawn(spawn.clone())
            .await
            .expect_err("Spawn fails");
        let by_attach = spawn_attached(&cluster, 0, spawn)
            .await
            .expect_err("Attach fails");
        assert_eq!(
            by_attach.code(),
            by_spawn.code(),
            "{by_attach:?} {by_spawn:?}"
        );
        assert_eq!(by_attach.message(), by_spawn.message());
    }
    Ok(())
}

#[tokio::test]
async fn any_spreads_processes_over_the_nodes() -> anyhow::Result<()> {
    let cluster = TestCluster::start(3).await?;
    let mut per_node: HashMap<String, usize> = HashMap::new();
    for i in 0..30 {
        let p = spawn_on(&cluster, i % 3, "@any", &["sleep", "1000"]).await?;
        *per_node.entry(p.node).or_default() += 1;
    }
    assert_eq!(per_node.len(), 3, "{per_node:?}");
    assert!(
        per_node.values().all(|n| *n >= 5),
        "30 processes spread unevenly: {per_node:?}"
    );
    Ok(())
}

#[tokio::test]
async fn killing_the_store_leader_keeps_the_cluster_working() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start(3).await?;
    let leader = cluster.leader().await?;
    let old_leader = cluster.nodes[leader].name.clone();
    cluster.nodes[leader].crash()?;
    let survivor = (leader + 1) % 3;

    let new_leader = cluster.leader().await?;
    assert_ne!(cluster.nodes[new_leader].name, old_leader);
    // Joins and spawns work again.
    let newcomer = Node::start_with(cluster.nodes[survivor].join_options().await?).await?;
    wait_state(&cluster, survivor, &newcomer.name, NodeState::Up).await?;
    let p = spawn_on(&cluster, survivor, &newcomer.name, &["true"]).await?;
    assert_eq!(
        wait(&mut cluster.nodes[survivor].client().await?, p.pid)
            .await?
            .exit_code,
        Some(0)
    );
    let p = spawn_on(&cluster, survivor, "", &["true"]).await?;
    assert_eq!(p.node, cluster.nodes[survivor].name);
    cluster.nodes.push(newcomer);
    Ok(())
}

#[tokio::test]
async fn a_killed_node_is_marked_down_and_comes_back_with_its_slot() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start(3).await?;
    let victim = 2;
    let name = cluster.nodes[victim].name.clone();
    let before = spawn_on(&cluster, 0, &name, &["sleep", "1000"]).await?;
    let slot = before.pid as u32 / 10_000_000;

    cluster.nodes[victim].crash()?;
    wait_state(&cluster, 0, &name, NodeState::Down).await?;
    let mut c = cluster.nodes[0].client().await?;
    let err = get(&mut c, before.pid).await.expect_err("its node is down");
    let status = err.downcast_ref::<tonic::Status>().expect("a grpc status");
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.message().contains(&name), "{}", status.message());
    let err = c
        .spawn(SpawnRequest {
            node: name.clone(),
            ..request(&["true"])
        })
        .await
        .expect_err("down");
    assert_eq!(err.code(), Code::Unavailable);
    let listed = c.list(ListRequest::default()).await?.into_inner();
    assert!(
        listed.unreachable.iter().any(|u| u.node == name),
        "{:?}",
        listed.unreachable
    );

    cluster.nodes[victim].restart().await?;
    wait_state(&cluster, 0, &name, NodeState::Up).await?;
    let members = cluster.members(0).await?;
    assert_eq!(
        members.iter().find(|m| m.name == name).map(|m| m.slot),
        Some(slot)
    );
    let back = get(&mut c, before.pid).await?;
    assert_eq!(
        (state(&back), back.host_pid),
        (ProcessState::Running, before.host_pid),
        "its process outlived noded and was adopted"
    );
    let after = spawn_on(&cluster, 0, &name, &["true"]).await?;
    assert_eq!(after.pid as u32 / 10_000_000, slot);
    assert!(
        after.pid > before.pid,
        "no pid is given twice: {} then {}",
        before.pid,
        after.pid
    );
    Ok(())
}

#[tokio::test]
async fn a_duplicate_name_is_refused() -> anyhow::Result<()> {
    let cluster = TestCluster::start(2).await?;
    let dir = tempfile::tempdir()?;
    let token = cluster.nodes[0].join_token().await?;
    let out = std::process::Command::new(tests::binary("noded"))
        .args([
            "--name",
            &cluster.nodes[1].name,
            "--listen",
            "127.0.0.1:0",
            "--join",
            &cluster.nodes[0].hostport(),
            "--token",
            &token,
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--socket")
        .arg(dir.path().join("s.sock"))
        .output()?;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already a member"), "{stderr}");
    assert_eq!(cluster.members(0).await?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn five_nodes_have_five_voters_and_survive_losing_the_leader() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start(5).await?;
    cluster.wait_voters(5).await?;
    for i in 0..5 {
        let slots: HashSet<u32> = cluster.members(i).await?.iter().map(|m| m.slot).collect();
        assert_eq!(slots.len(), 5);
    }
    let leader = cluster.leader().await?;
    cluster.nodes[leader].crash()?;
    let survivor = (leader + 1) % 5;
    cluster.leader().await?;
    for target in 0..5 {
        if target == leader {
            continue;
        }
        let p = spawn_on(
            &cluster,
            survivor,
            &cluster.nodes[target].name.clone(),
            &["true"],
        )
        .await?;
        assert_eq!(
            wait(&mut cluster.nodes[survivor].client().await?, p.pid)
                .await?
                .exit_code,
            Some(0)
        );
    }
    Ok(())
}

#[tokio::test]
async fn an_isolated_node_is_marked_down_and_comes_back_when_healed() -> anyhow::Result<()> {
    let netns = tests::Netns::create()?;
    let ip = |i: usize| format!("127.0.0.{}", i + 2);
    let cluster = TestCluster::start_each(3, |i| NodeOptions {
        ip: Some(ip(i)),
        netns: Some(netns.name.clone()),
        ..NodeOptions::default()
    })
    .await?;
    let name = cluster.nodes[2].name.clone();
    let p = spawn_on(&cluster, 0, &name, &["sleep", "1000"]).await?;

    netns.isolate(&ip(2))?;
    wait_state(&cluster, 0, &name, NodeState::Down).await?;
    let err = get(&mut cluster.nodes[0].client().await?, p.pid)
        .await
        .expect_err("cut off");
    let status = err.downcast_ref::<tonic::Status>().expect("a grpc status");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    // The majority side still works.
    let q = spawn_on(&cluster, 0, &cluster.nodes[1].name.clone(), &["true"]).await?;
    wait(&mut cluster.nodes[0].client().await?, q.pid).await?;

    netns.heal(&ip(2))?;
    wait_state(&cluster, 0, &name, NodeState::Up).await?;
    let back = get(&mut cluster.nodes[0].client().await?, p.pid).await?;
    assert_eq!(
        state(&back),
        ProcessState::Running,
        "its process ran on through the partition"
    );
    Ok(())
}

#[tokio::test]
async fn a_node_stopped_with_sigterm_is_restarting_not_leaving() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start(3).await?;
    let name = cluster.nodes[2].name.clone();
    let p = spawn_on(&cluster, 0, &name, &["sleep", "1000"]).await?;
    let slot = p.pid as u32 / 10_000_000;
    assert!(cluster.nodes[2].stop().await?.success());
    wait_state(&cluster, 0, &name, NodeState::Down).await?;
    cluster.nodes[2].restart().await?;
    wait_state(&cluster, 0, &name, NodeState::Up).await?;
    let members = cluster.members(0).await?;
    let member = members.iter().find(|m| m.name == name).expect("listed");
    assert_eq!(member.slot, slot, "the same slot");
    assert!(member.store_voter, "still a voter");
    let back = get(&mut cluster.nodes[0].client().await?, p.pid).await?;
    assert_eq!(state(&back), ProcessState::Running);
    Ok(())
}

#[tokio::test]
async fn a_node_stopped_with_leave_on_exit_leaves_cleanly() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start_with(
        3,
        NodeOptions {
            args: vec!["--leave-on-exit".into()],
            ..NodeOptions::default()
        },
    )
    .await?;
    let name = cluster.nodes[2].name.clone();
    assert!(cluster.nodes[2].stop().await?.success());
    wait_state(&cluster, 0, &name, NodeState::Left).await?;
    let members = cluster.members(1).await?;
    let left = members
        .iter()
        .find(|m| m.name == name)
        .expect("still listed");
    assert!(!left.store_voter, "a node that left is no voter");
    let err = cluster.nodes[0]
        .client()
        .await?
        .spawn(SpawnRequest {
            node: name.clone(),
            ..request(&["true"])
        })
        .await
        .expect_err("it left");
    assert!(err.message().contains("left"), "{}", err.message());
    Ok(())
}

#[tokio::test]
async fn twenty_nodes_form_a_cluster_and_list_works() -> anyhow::Result<()> {
    let cluster = TestCluster::start(20).await?;
    let mut c = cluster.nodes[7].client().await?;
    for node in &cluster.nodes {
        c.spawn(SpawnRequest {
            node: node.name.clone(),
            ..request(&["sleep", "1000"])
        })
        .await?;
    }
    let listed = c.list(ListRequest::default()).await?.into_inner();
    assert!(listed.unreachable.is_empty(), "{:?}", listed.unreachable);
    let nodes: HashSet<&str> = listed.processes.iter().map(|p| p.node.as_str()).collect();
    assert_eq!((listed.processes.len(), nodes.len()), (20, 20));
    Ok(())
}

#[tokio::test]
async fn noded_leave_stops_the_processes_and_leaves_for_good() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start(3).await?;
    let name = cluster.nodes[2].name.clone();
    let p = spawn_on(&cluster, 0, &name, &["sleep", "1000"]).await?;
    let out = tokio::process::Command::new(tests::binary("noded"))
        .arg("leave")
        .arg("--socket")
        .arg(cluster.nodes[2].socket())
        .output()
        .await?;
    assert!(
        out.status.success(),
        "noded leave: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !tests::host_alive(nix::unistd::Pid::from_raw(p.host_pid)),
        "its processes were stopped"
    );
    let status = cluster.nodes[2].stop().await;
    assert!(status.is_err() || status?.success(), "noded exited");
    wait_state(&cluster, 0, &name, NodeState::Left).await?;
    assert!(cluster.nodes[2].leftover_processes().is_empty());
    wait_until(
        "the keeper to exit with nothing to keep",
        TIMEOUT,
        || async { cluster.nodes[2].keeper_pid().is_none().then_some(()) },
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn voters_lost_one_after_another_are_replaced_and_the_store_lives_on() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start(7).await?;
    let voters = |members: &[proto::v1::NodeInfo]| -> Vec<String> {
        members
            .iter()
            .filter(|m| m.store_voter)
            .map(|m| m.name.clone())
            .collect()
    };
    wait_until("five voters of seven nodes", TIMEOUT, || async {
        let members = cluster.members(0).await.ok()?;
        (voters(&members).len() == 5).then_some(())
    })
    .await?;
    // A store write, through the node that stays (index 0).
    let stays = cluster.nodes[0].addr();
    let put = |n: usize| {
        let addr = stays.clone();
        async move {
            let channel = proto::connect(&addr).await?;
            let mut coord = proto::v1::coord_client::CoordClient::new(channel);
            let mut request = tonic::Request::new(proto::v1::KvPutRequest {
                key: "k".into(),
                value: n.to_string().into_bytes(),
                ..Default::default()
            });
            request.set_timeout(Duration::from_secs(10));
            coord.put(request).await?;
            anyhow::Ok(())
        }
    };
    let mut crashed: Vec<String> = Vec::new();
    for round in 0..3 {
        let members = cluster.members(0).await?;
        let victim_name = voters(&members)
            .into_iter()
            .find(|v| *v != cluster.nodes[0].name)
            .context("a voter to crash")?;
        let victim = cluster
            .nodes
            .iter()
            .position(|n| n.name == victim_name)
            .context("the voter's node")?;
        cluster.nodes[victim].crash()?;
        crashed.push(victim_name);
        if round < 2 {
            // A healthy learner takes the lost voter's place.
            wait_until(
                "the lost voter replaced",
                Duration::from_secs(90),
                || async {
                    let members = cluster.members(0).await.ok()?;
                    let now = voters(&members);
                    (now.len() == 5 && !now.iter().any(|v| crashed.contains(v))).then_some(())
                },
            )
            .await?;
        }
        // Without replacement, the third loss would leave 2 of 5 voters.
        wait_until("a store write", Duration::from_secs(60), || async {
            put(round).await.ok()
        })
        .await?;
    }
    Ok(())
}
