//! Services on a real 3-node cluster, through the API (SPEC §7): replicas
//! spread and carry their identity, restarts back off and show a crash
//! loop, the replicas of a node that stays down run elsewhere and each index
//! runs once after it returns, a node that only restarts keeps its replicas
//! (listed as lost meanwhile), and killing the store's leader neither loses
//! nor duplicates a service.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proto::v1::services_client::ServicesClient;
use proto::v1::{
    CreateServiceRequest, GetRequest, GetServiceRequest, ListRequest, ProcessState,
    RemoveServiceRequest, ReplicaState, ScaleServiceRequest, ServiceInfo, ServiceSpec,
};
use tests::{NodeOptions, TIMEOUT, TestCluster, wait_until};
use tonic::transport::Channel;

fn spec(name: &str, replicas: u32, argv: &[&str]) -> ServiceSpec {
    ServiceSpec {
        name: name.to_string(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        env: [(
            "PATH".to_string(),
            std::env::var("PATH").unwrap_or_default(),
        )]
        .into(),
        replicas,
        ..ServiceSpec::default()
    }
}

async fn get(client: &mut ServicesClient<Channel>, name: &str) -> anyhow::Result<ServiceInfo> {
    Ok(client
        .get_service(GetServiceRequest {
            name: name.to_string(),
        })
        .await?
        .into_inner())
}

/// Waits until every replica of `name` is running; returns the info.
async fn all_running(
    client: &ServicesClient<Channel>,
    name: &str,
    count: usize,
) -> anyhow::Result<ServiceInfo> {
    wait_until(
        &format!("{count} replicas of {name} running"),
        TIMEOUT,
        || {
            let mut c = client.clone();
            async move {
                let info = get(&mut c, name).await.ok()?;
                (info.replicas.len() == count
                    && info
                        .replicas
                        .iter()
                        .all(|r| r.state == ReplicaState::Running as i32 && r.pid != 0))
                .then_some(info)
            }
        },
    )
    .await
}

/// The running processes named as replicas of `name`, by index.
async fn replica_processes(
    cluster: &TestCluster,
    node: usize,
    name: &str,
) -> anyhow::Result<BTreeMap<u32, Vec<i32>>> {
    let mut client = cluster.nodes[node].client().await?;
    let list = client
        .list(ListRequest {
            node: String::new(),
            states: vec![ProcessState::Running as i32],
            ..ListRequest::default()
        })
        .await?
        .into_inner();
    let mut out: BTreeMap<u32, Vec<i32>> = BTreeMap::new();
    for p in list.processes {
        if let Some(index) = p
            .name
            .strip_prefix(&format!("svc/{name}/"))
            .and_then(|i| i.parse().ok())
        {
            out.entry(index).or_default().push(p.pid);
        }
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_spread_scale_and_carry_their_identity() -> anyhow::Result<()> {
    let cluster = TestCluster::start(3).await?;
    let mut services = cluster.nodes[1].services().await?;
    services
        .create_service(CreateServiceRequest {
            spec: Some(spec("web", 5, &["sleep", "1000"])),
        })
        .await?;
    let info = all_running(&services, "web", 5).await?;
    let nodes: BTreeSet<&str> = info.replicas.iter().map(|r| r.node.as_str()).collect();
    assert!(nodes.len() >= 2, "5 replicas on {nodes:?}");
    let mut processes = cluster.nodes[0].client().await?;
    for replica in &info.replicas {
        let p = processes
            .get(GetRequest {
                pid: replica.pid,
                with_env: true,
            })
            .await?
            .into_inner();
        assert!(
            p.env.contains(&"NEFELE_SERVICE=web".to_string()),
            "{:?}",
            p.env
        );
        assert!(
            p.env.contains(&format!("NEFELE_REPLICA={}", replica.index)),
            "{:?}",
            p.env
        );
    }

    // A duplicate name is refused.
    let dup = services
        .create_service(CreateServiceRequest {
            spec: Some(spec("web", 1, &["true"])),
        })
        .await
        .unwrap_err();
    assert_eq!(dup.code(), tonic::Code::AlreadyExists, "{dup:?}");

    services
        .scale_service(ScaleServiceRequest {
            name: "web".into(),
            replicas: 8,
        })
        .await?;
    all_running(&services, "web", 8).await?;
    services
        .scale_service(ScaleServiceRequest {
            name: "web".into(),
            replicas: 2,
        })
        .await?;
    wait_until("2 replicas left, indexes 0 and 1", TIMEOUT, || async {
        let procs = replica_processes(&cluster, 0, "web").await.ok()?;
        (procs.keys().copied().collect::<Vec<_>>() == vec![0, 1]
            && procs.values().all(|p| p.len() == 1))
        .then_some(())
    })
    .await?;
    let bad = services
        .scale_service(ScaleServiceRequest {
            name: "web".into(),
            replicas: -1,
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    let unknown = services
        .scale_service(ScaleServiceRequest {
            name: "nope".into(),
            replicas: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);

    services
        .remove_service(RemoveServiceRequest { name: "web".into() })
        .await?;
    wait_until("no replica left", TIMEOUT, || async {
        replica_processes(&cluster, 0, "web")
            .await
            .ok()?
            .is_empty()
            .then_some(())
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_replicas_restart_and_crash_loops_back_off() -> anyhow::Result<()> {
    let cluster = TestCluster::start(3).await?;
    let mut services = cluster.nodes[0].services().await?;
    services
        .create_service(CreateServiceRequest {
            spec: Some(spec("one", 1, &["sleep", "1000"])),
        })
        .await?;
    let info = all_running(&services, "one", 1).await?;
    let first = info.replicas[0].pid;
    let mut processes = cluster.nodes[0].client().await?;
    tests::signal(&mut processes, first, libc::SIGKILL).await?;
    let info = wait_until("the killed replica back", TIMEOUT, || {
        let mut c = services.clone();
        async move {
            let info = get(&mut c, "one").await.ok()?;
            let r = &info.replicas[0];
            (r.state == ReplicaState::Running as i32 && r.pid != first).then_some(info)
        }
    })
    .await?;
    assert_eq!(info.replicas[0].restarts, 1);
    assert_eq!(info.replicas[0].last_status, Some(128 + libc::SIGKILL));

    // A command that fails at once: restarts spaced by a growing backoff,
    // and the state says crash loop.
    services
        .create_service(CreateServiceRequest {
            spec: Some(spec("crash", 1, &["sh", "-c", "exit 3"])),
        })
        .await?;
    let replica = wait_until("a crash loop", Duration::from_secs(60), || {
        let mut c = services.clone();
        async move {
            let info = get(&mut c, "crash").await.ok()?;
            let r = info.replicas[0].clone();
            (r.state == ReplicaState::CrashLoop as i32).then_some(r)
        }
    })
    .await?;
    assert!(replica.restarts >= 3, "{replica:?}");
    assert_eq!(replica.last_status, Some(3));
    assert!(
        replica.next_start_ms > 0,
        "a crash-looping replica has a next start"
    );
    // Not hundreds of restarts: the backoff holds it. The next restart
    // comes one at a time, and not before the start it announced.
    let later = wait_until(
        "the crash loop's next restart",
        Duration::from_secs(120),
        || {
            let mut c = services.clone();
            async move {
                let info = get(&mut c, "crash").await.ok()?;
                (info.replicas[0].restarts > replica.restarts).then_some(info)
            }
        },
    )
    .await?;
    let seen_ms = proto::now_ms();
    assert_eq!(
        later.replicas[0].restarts,
        replica.restarts + 1,
        "backoff: {replica:?} then {later:?}"
    );
    assert!(
        seen_ms + 100 >= replica.next_start_ms,
        "restarted at {seen_ms}, before its next start {}",
        replica.next_start_ms
    );

    // A command that does not exist reports the error and backs off too.
    services
        .create_service(CreateServiceRequest {
            spec: Some(spec("missing", 1, &["/no/such/command"])),
        })
        .await?;
    let missing = wait_until("the missing command's error", TIMEOUT, || {
        let mut c = services.clone();
        async move {
            let info = get(&mut c, "missing").await.ok()?;
            let r = info.replicas[0].clone();
            (!r.error.is_empty()).then_some(r)
        }
    })
    .await?;
    assert!(missing.error.contains("/no/such/command"), "{missing:?}");
    assert_ne!(missing.state, ReplicaState::Running as i32);

    // Constraints no node matches are reported.
    let mut mars = spec("mars", 1, &["sleep", "1000"]);
    mars.constraints = [("zone".to_string(), "mars".to_string())].into();
    services
        .create_service(CreateServiceRequest { spec: Some(mars) })
        .await?;
    let unplaced = wait_until("unschedulable", TIMEOUT, || {
        let mut c = services.clone();
        async move {
            let info = get(&mut c, "mars").await.ok()?;
            let r = info.replicas[0].clone();
            (r.state == ReplicaState::Unschedulable as i32).then_some(r)
        }
    })
    .await?;
    assert!(unplaced.error.contains("zone=mars"), "{unplaced:?}");
    Ok(())
}

/// Service `name` of `replicas` sleeps, running on a 3-node cluster; returns
/// a node that is not the store's leader (the victim), another node (the
/// asker), the asker's Services client and the running service.
async fn service_and_victim(
    cluster: &TestCluster,
    name: &str,
    replicas: u32,
) -> anyhow::Result<(usize, usize, ServicesClient<Channel>, ServiceInfo)> {
    let leader = cluster.leader().await?;
    let victim = (0..3).find(|i| *i != leader).unwrap_or(1);
    let asker = (0..3).find(|i| *i != victim).unwrap_or(0);
    let mut services = cluster.nodes[asker].services().await?;
    services
        .create_service(CreateServiceRequest {
            spec: Some(spec(name, replicas, &["sleep", "1000"])),
        })
        .await?;
    let info = all_running(&services, name, replicas as usize).await?;
    Ok((victim, asker, services, info))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_node_s_replicas_move_and_run_once_after_it_returns() -> anyhow::Result<()> {
    // Replicas move once their node has been down this long (default 10 s).
    let mut cluster = TestCluster::start_with(
        3,
        NodeOptions {
            config: "[limits]\nreplica_move_after_ms = 1000\n".into(),
            ..NodeOptions::default()
        },
    )
    .await?;
    let (victim, asker, services, info) = service_and_victim(&cluster, "web", 5).await?;
    let victim_name = cluster.nodes[victim].name.clone();
    let on_victim: Vec<u32> = info
        .replicas
        .iter()
        .filter(|r| r.node == victim_name)
        .map(|r| r.index)
        .collect();
    assert!(
        !on_victim.is_empty(),
        "spread puts replicas on every node: {info:?}"
    );

    let killed_at = std::time::Instant::now();
    cluster.nodes[victim].crash()?;
    let moved = wait_until("the victim's replicas elsewhere", TIMEOUT, || {
        let mut c = services.clone();
        let victim_name = victim_name.clone();
        async move {
            let info = get(&mut c, "web").await.ok()?;
            info.replicas
                .iter()
                .all(|r| r.state == ReplicaState::Running as i32 && r.node != victim_name)
                .then_some(())
        }
    })
    .await;
    if let Err(e) = moved {
        // Seen once under CI load: say what the nodes saw.
        let last = get(&mut services.clone(), "web").await;
        let logs: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| {
                let log = n.log();
                let tail: Vec<&str> = log.lines().rev().take(60).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!("--- {} ---\n{}", n.name, tail.join("\n"))
            })
            .collect();
        anyhow::bail!("{e}\nservice now: {last:?}\n{}", logs.join("\n"));
    }
    let moved_in = killed_at.elapsed();
    assert!(
        moved_in < Duration::from_secs(5),
        "replicas ran elsewhere {moved_in:?} after the kill"
    );

    cluster.nodes[victim].restart().await?;
    cluster.wait_members_up(3).await?;
    wait_until("exactly 5 replicas, each index once", TIMEOUT, || async {
        let procs = replica_processes(&cluster, asker, "web").await.ok()?;
        (procs.len() == 5 && procs.values().all(|p| p.len() == 1)).then_some(())
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarting_node_keeps_its_replicas_and_they_show_lost_meanwhile() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start(3).await?;
    let (victim, asker, services, before) = service_and_victim(&cluster, "kept", 3).await?;
    let victim_name = cluster.nodes[victim].name.clone();
    let on_victim: Vec<(u32, i32)> = before
        .replicas
        .iter()
        .filter(|r| r.node == victim_name)
        .map(|r| (r.index, r.pid))
        .collect();
    assert!(!on_victim.is_empty(), "{before:?}");
    // The cluster knows what the victim runs before it goes.
    let count = on_victim.len() as u32;
    wait_until("the victim's processes in the store", TIMEOUT, || async {
        let members = cluster.members(asker).await.ok()?;
        members
            .iter()
            .any(|m| m.name == victim_name && m.published_processes >= count)
            .then_some(())
    })
    .await?;

    assert!(cluster.nodes[victim].stop().await?.success());
    let mut procs = cluster.nodes[asker].client().await?;
    wait_until("the victim's replicas listed as lost", TIMEOUT, || {
        let mut procs = procs.clone();
        let on_victim = on_victim.clone();
        async move {
            let list = procs.list(ListRequest::default()).await.ok()?.into_inner();
            on_victim
                .iter()
                .all(|(_, pid)| {
                    list.processes.iter().any(|p| {
                        p.pid == *pid
                            && p.state == ProcessState::Lost as i32
                            && p.lost_reason.contains("is down")
                    })
                })
                .then_some(())
        }
    })
    .await?;

    cluster.nodes[victim].restart().await?;
    cluster.wait_members_up(3).await?;
    let after = all_running(&services, "kept", 3).await?;
    for (index, pid) in &on_victim {
        let replica = after
            .replicas
            .iter()
            .find(|r| r.index == *index)
            .expect("the replica");
        assert_eq!(
            (replica.pid, replica.restarts),
            (*pid, 0),
            "a restart of its node neither moved nor restarted the replica"
        );
    }
    let list = procs.list(ListRequest::default()).await?.into_inner();
    for (_, pid) in &on_victim {
        let p = list
            .processes
            .iter()
            .find(|p| p.pid == *pid)
            .expect("listed");
        assert_eq!(
            p.state,
            ProcessState::Running as i32,
            "running again: {p:?}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_store_leader_keeps_every_service_once() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start(3).await?;
    let leader = cluster.leader().await?;
    let asker = (0..3).find(|i| *i != leader).unwrap_or(0);
    let mut services = cluster.nodes[asker].services().await?;
    services
        .create_service(CreateServiceRequest {
            spec: Some(spec("api", 3, &["sleep", "1000"])),
        })
        .await?;
    all_running(&services, "api", 3).await?;
    cluster.nodes[leader].crash()?;
    // A new leader takes over: the service is still there, at 3 replicas
    // on the surviving nodes, each index once.
    let survivors: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    wait_until("3 replicas on the survivors", TIMEOUT, || async {
        let procs = replica_processes(&cluster, survivors[0], "api")
            .await
            .ok()?;
        let mut c = services.clone();
        let info = get(&mut c, "api").await.ok()?;
        let dead = cluster.nodes[leader].name.clone();
        (procs.len() == 3
            && procs.values().all(|p| p.len() == 1)
            && info
                .replicas
                .iter()
                .all(|r| r.node != dead && r.state == ReplicaState::Running as i32))
        .then_some(())
    })
    .await
    .map_err(|e| {
        let logs: Vec<String> = survivors
            .iter()
            .map(|i| {
                cluster.nodes[*i]
                    .log()
                    .lines()
                    .filter(|l| l.contains("replica") || l.contains("reconciler"))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .collect();
        e.context(logs.join("\n---\n"))
    })?;
    let list = services
        .list_services(proto::v1::ListServicesRequest {})
        .await?
        .into_inner();
    let names: Vec<String> = list
        .services
        .iter()
        .filter_map(|s| s.spec.as_ref().map(|s| s.name.clone()))
        .collect();
    assert_eq!(names, vec!["api".to_string()]);
    Ok(())
}
