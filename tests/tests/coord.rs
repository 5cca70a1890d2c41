//! Coordination primitives (SPEC §8) on real 3-node clusters: `lock` from
//! two nodes never overlaps and its fencing tokens only grow; a holder
//! killed with SIGKILL, or whose node crashes, loses the lock and the next
//! token is larger; a fenced write with a lost token is refused; CAS races
//! have one winner; a watch loses and repeats nothing across a leader
//! crash and a reconnect to another node; a barrier of five processes on
//! three nodes opens once all are in, without the one killed before; names
//! go with their process; bad input gets clear errors.

use anyhow::Context;
use std::time::Duration;

use proto::v1::coord_client::CoordClient;
use proto::v1::coord_owner::Owner;
use proto::v1::{CoordOwner, Fence, KvPutRequest, KvWatchRequest, LockRequest, SpawnRequest};
use tests::{Node, TIMEOUT, TestCluster, binary, request, wait_until};
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::transport::Channel;

/// What one `nsh -c` run gave: status, stdout, stderr.
async fn nsh(node: &Node, script: &str) -> anyhow::Result<(i32, String, String)> {
    let run = tests::nsh::nsh_c(node, script).await?;
    Ok((run.status, run.stdout, run.stderr))
}

async fn coord(node: &Node) -> anyhow::Result<CoordClient<Channel>> {
    Ok(CoordClient::new(proto::connect(&node.addr()).await?))
}

fn pid_owner(pid: i32) -> Option<CoordOwner> {
    Some(CoordOwner {
        owner: Some(Owner::Pid(pid)),
    })
}

/// Starts `sleep 1000` on `node` and gives its cluster PID.
async fn sleeper(node: &Node) -> anyhow::Result<i32> {
    Ok(tests::spawn(&mut node.client().await?, &["sleep", "1000"])
        .await?
        .pid)
}

/// Takes `name` for `owner`, waiting at most `wait`.
async fn lock(node: &Node, name: &str, owner: i32, wait: Duration) -> Result<u64, tonic::Status> {
    let mut api = coord(node)
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    Ok(api
        .lock(LockRequest {
            name: name.into(),
            owner: pid_owner(owner),
            wait_ms: wait.as_millis() as i64,
        })
        .await?
        .into_inner()
        .token)
}

/// A put of `data` guarded by lock `L`'s fencing token `token`.
fn fenced(token: u64) -> KvPutRequest {
    KvPutRequest {
        key: "data".into(),
        value: b"v".to_vec(),
        fence: Some(Fence {
            lock: "L".into(),
            token,
        }),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lock_from_two_nodes_never_overlaps_and_tokens_grow() -> anyhow::Result<()> {
    let cluster = TestCluster::start(3).await?;
    let dir = tempfile::tempdir()?;
    let d = dir.path().display();
    // Each round: fail if another holder is inside, stay a moment, and
    // append the fencing token (under the lock, so file order is grant
    // order).
    let body = format!(
        "if [ -e {d}/inside ]; then echo overlap >> {d}/bad; fi; touch {d}/inside; \
         sleep 0.01; rm {d}/inside; echo $NEFELE_LOCK_TOKEN >> {d}/tokens"
    );
    let (one, two) = (&cluster.nodes[0].name, &cluster.nodes[1].name);
    let script = |node: &str| {
        format!("for i in $(seq 50); do lock -n {node} L sh -c '{body}' || exit 1; done")
    };
    let (one, two) = (script(one), script(two));
    let (a, b) = tokio::join!(nsh(&cluster.nodes[0], &one), nsh(&cluster.nodes[1], &two));
    let (a, b) = (a?, b?);
    assert_eq!(a.0, 0, "{a:?}");
    assert_eq!(b.0, 0, "{b:?}");
    assert!(!dir.path().join("bad").exists(), "two holders at once");
    let tokens: Vec<u64> = std::fs::read_to_string(dir.path().join("tokens"))?
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(tokens.len(), 100);
    assert!(
        tokens.windows(2).all(|w| w[0] < w[1]),
        "tokens must grow: {tokens:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_or_crashed_holder_loses_the_lock_and_its_token_is_fenced() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start(3).await?;
    let (n1, n2) = (&cluster.nodes[0], &cluster.nodes[1]);
    let holder = sleeper(n2).await?;
    let t1 = lock(n1, "L", holder, Duration::ZERO).await?;
    let other = sleeper(n1).await?;
    let busy = lock(n1, "L", other, Duration::ZERO).await.unwrap_err();
    assert_eq!(busy.code(), Code::Aborted, "{busy:?}");
    // A write fenced by the holder's token is accepted while it holds.
    coord(n1).await?.put(fenced(t1)).await?;
    // SIGKILL: the holder's node notices the exit and releases.
    tests::signal(&mut n2.client().await?, holder, libc::SIGKILL).await?;
    let t2 = lock(n1, "L", other, TIMEOUT).await?;
    assert!(t2 > t1, "{t2} after {t1}");
    let stale = coord(n1).await?.put(fenced(t1)).await.unwrap_err();
    assert_eq!(stale.code(), Code::FailedPrecondition, "{stale:?}");
    assert!(stale.message().contains("fencing token"), "{stale:?}");

    // The holder's node crashes: released once it is declared down.
    let on_n3 = sleeper(&cluster.nodes[2]).await?;
    let mut api = coord(n1).await?;
    api.unlock(proto::v1::UnlockRequest {
        name: "L".into(),
        token: t2,
    })
    .await?;
    let t3 = lock(n1, "L", on_n3, Duration::ZERO).await?;
    cluster.nodes[2].crash()?;
    let n1 = &cluster.nodes[0];
    let t4 = lock(n1, "L", other, Duration::from_secs(60)).await?;
    assert!(t4 > t3);
    cluster.nodes[2].restart().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cas_races_have_exactly_one_winner() -> anyhow::Result<()> {
    let cluster = TestCluster::start(3).await?;
    for round in 0..10u64 {
        // Each round's winner made the next version.
        let version = round;
        let attempts = (0..10).map(|i| {
            let node = &cluster.nodes[i % 3];
            async move {
                let mut api = coord(node).await?;
                let reply = api
                    .put(KvPutRequest {
                        key: "counter".into(),
                        value: format!("{round}-{i}").into_bytes(),
                        expect_version: Some(version),
                        ..Default::default()
                    })
                    .await;
                anyhow::Ok(reply)
            }
        });
        let results = futures::future::join_all(attempts).await;
        let mut wins = 0;
        for r in results {
            match r? {
                Ok(_) => wins += 1,
                Err(e) => assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}"),
            }
        }
        assert_eq!(wins, 1, "round {round}");
    }
    Ok(())
}

/// Collects `n` watch events from `node` starting at `from`.
async fn watch_events(
    node: &Node,
    from: u64,
    n: usize,
) -> anyhow::Result<Vec<(u64, String, String)>> {
    let mut stream = coord(node)
        .await?
        .watch(KvWatchRequest {
            key: "w/".into(),
            prefix: true,
            from_revision: from,
        })
        .await?
        .into_inner();
    let mut events = Vec::new();
    while events.len() < n {
        let event = tokio::time::timeout(TIMEOUT * 2, stream.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("watch ended after {events:?}"))??;
        let kv = event.kv.unwrap_or_default();
        events.push((
            event.revision,
            kv.key,
            String::from_utf8_lossy(&kv.value).into_owned(),
        ));
    }
    Ok(events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watch_across_a_leader_crash_loses_and_repeats_nothing() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start(3).await?;
    let leader = cluster.leader().await?;
    let watcher = (leader + 1) % 3;
    let writer = (leader + 2) % 3;
    let first = coord(&cluster.nodes[writer])
        .await?
        .put(KvPutRequest {
            key: "w/0".into(),
            value: b"0".to_vec(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .revision;
    let watch = {
        let node = &cluster.nodes[watcher];
        let mut stream = coord(node)
            .await?
            .watch(KvWatchRequest {
                key: "w/".into(),
                prefix: true,
                from_revision: first,
            })
            .await?
            .into_inner();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while seen.len() < 41 {
                match tokio::time::timeout(TIMEOUT * 2, stream.next()).await {
                    Ok(Some(Ok(e))) => seen.push((e.revision, e.kv.unwrap_or_default().key)),
                    _ => break,
                }
            }
            seen
        })
    };
    for i in 1..=20 {
        let mut api = coord(&cluster.nodes[writer]).await?;
        api.put(KvPutRequest {
            key: format!("w/{i}"),
            value: i.to_string().into_bytes(),
            ..Default::default()
        })
        .await?;
    }
    cluster.nodes[leader].crash()?;
    for i in 21..=40 {
        // Writes retry through the election.
        wait_until("a write after the leader crash", TIMEOUT * 2, || {
            let node = &cluster.nodes[writer];
            async move {
                let mut api = coord(node).await.ok()?;
                api.put(KvPutRequest {
                    key: format!("w/{i}"),
                    value: i.to_string().into_bytes(),
                    ..Default::default()
                })
                .await
                .ok()
            }
        })
        .await?;
    }
    let seen = watch.await?;
    let keys: Vec<String> = seen.iter().map(|(_, k)| k.clone()).collect();
    let expected: Vec<String> = (0..=40).map(|i| format!("w/{i}")).collect();
    assert_eq!(keys, expected, "every event once, in order");
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0));
    // A watcher reconnecting to another node from its last revision + 1
    // gets exactly the rest.
    let resume_from = seen[30].0 + 1;
    let rest = watch_events(&cluster.nodes[writer], resume_from, 10).await?;
    let rest_keys: Vec<String> = rest.iter().map(|(_, k, _)| k.clone()).collect();
    assert_eq!(rest_keys, expected[31..].to_vec());
    cluster.nodes[leader].restart().await?;
    Ok(())
}

/// Waits until `n` participants wait at barrier B.
async fn barrier_entered(node: &Node, n: u32) -> anyhow::Result<()> {
    wait_until(&format!("{n} at the barrier"), TIMEOUT, || async {
        let mut api = coord(node).await.ok()?;
        let status = api
            .barrier_status(proto::v1::BarrierStatusRequest { name: "B".into() })
            .await
            .ok()?
            .into_inner();
        (status.entered == n).then_some(())
    })
    .await
}

/// Starts `nsh -c script` as a cluster process on `node`.
async fn cluster_nsh(node: &Node, script: &str) -> anyhow::Result<i32> {
    let nsh = binary("nsh");
    let SpawnRequest { env, .. } = request(&[]);
    let req = SpawnRequest {
        argv: vec![nsh.display().to_string(), "-c".into(), script.into()],
        env,
        ..SpawnRequest::default()
    };
    Ok(node.client().await?.spawn(req).await?.into_inner().pid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_barrier_of_five_on_three_nodes_opens_without_the_dead() -> anyhow::Result<()> {
    let cluster = TestCluster::start(3).await?;
    let mut pids = Vec::new();
    let result = barrier_of_five(&cluster, &mut pids).await;
    if result.is_err() {
        // What each participant and node saw, for the failure report.
        for (i, pid) in &pids {
            let mut client = cluster.nodes[i % 3].client().await?;
            let info = tests::get(&mut client, *pid).await;
            let err = tests::read_output(&mut client, *pid, proto::v1::OutputStream::Stderr).await;
            eprintln!("participant {pid}: {info:?} stderr {err:?}");
        }
        for node in &cluster.nodes {
            let log = node.log();
            let notable = log
                .lines()
                .filter(|l| l.contains("WARN") || l.contains("releasing") || l.contains("down"));
            eprintln!(
                "node {}:\n{}",
                node.name,
                notable.collect::<Vec<_>>().join("\n")
            );
        }
    }
    result
}

async fn barrier_of_five(
    cluster: &TestCluster,
    pids: &mut Vec<(usize, i32)>,
) -> anyhow::Result<()> {
    let node = |i: usize| &cluster.nodes[i % 3];
    for i in 0..4 {
        pids.push((i, cluster_nsh(node(i), "barrier B 5 && echo passed").await?));
    }
    let entered = |n: u32| barrier_entered(&cluster.nodes[0], n);
    entered(4).await?;
    // Kill one participant before the barrier opens.
    let (victim_node, victim) = pids.pop().context("no participant")?;
    tests::signal(
        &mut node(victim_node).client().await?,
        victim,
        libc::SIGKILL,
    )
    .await?;
    entered(3).await?;
    pids.push((4, cluster_nsh(node(4), "barrier B 5 && echo passed").await?));
    entered(4).await?;
    // Four alive are in: it must not open.
    for (i, pid) in pids.iter() {
        let info = tests::get(&mut node(*i).client().await?, *pid).await?;
        assert_eq!(tests::state(&info), proto::v1::ProcessState::Running);
    }
    pids.push((5, cluster_nsh(node(5), "barrier B 5 && echo passed").await?));
    for (i, pid) in pids.iter() {
        let mut client = node(*i).client().await?;
        let info = tests::wait(&mut client, *pid).await?;
        assert_eq!(info.exit_code, Some(0), "{info:?}");
        let out = tests::read_output(&mut client, *pid, proto::v1::OutputStream::Stdout).await?;
        assert_eq!(out, b"passed\n");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kv_and_names_from_the_shell_and_bad_input() -> anyhow::Result<()> {
    let cluster = TestCluster::start(3).await?;
    let (n1, n2) = (&cluster.nodes[0], &cluster.nodes[1]);
    let ok = |r: (i32, String, String)| {
        assert_eq!((r.0, r.2.as_str()), (0, ""), "{r:?}");
        r.1
    };
    ok(nsh(n1, "kv set app/port 8080 && kv set app/host db1").await?);
    assert_eq!(ok(nsh(n2, "kv get app/port").await?), "8080\n");
    assert_eq!(ok(nsh(n2, "kv ls app/").await?), "app/host\napp/port\n");
    let json: serde_json::Value =
        serde_json::from_str(&ok(nsh(n2, "kv get app/port --json").await?))?;
    assert_eq!(json["version"], 1);
    // CAS: right version wins, wrong one fails with status 1.
    ok(nsh(n1, "kv cas app/port 1 9090").await?);
    let lost = nsh(n1, "kv cas app/port 1 7070").await?;
    assert_eq!(lost.0, 1);
    assert_eq!(lost.2, "nsh: kv: app/port: version is 2, not 1\n");
    // A key tied to a process goes with it; a name too.
    let pid = sleeper(n2).await?;
    ok(nsh(
        n1,
        &format!("kv set --pid {pid} app/leader me && name set db {pid}"),
    )
    .await?);
    assert_eq!(ok(nsh(n1, "name get db").await?), format!("{pid}\n"));
    tests::signal(&mut n2.client().await?, pid, libc::SIGKILL).await?;
    wait_until(
        "the key and name to go with the process",
        TIMEOUT,
        || async {
            let a = nsh(n1, "kv get app/leader").await.ok()?;
            let b = nsh(n1, "name get db").await.ok()?;
            (a.0 == 1 && b.0 == 1).then_some((a, b))
        },
    )
    .await
    .map(|(a, b)| {
        assert_eq!(a.2, "nsh: kv: app/leader: no such key\n");
        assert_eq!(b.2, "nsh: name: no name db\n");
    })?;
    // A watch from the shell sees a put.
    let watch = nsh(n1, "kv watch --prefix app/ --from 1 --count 2");
    let (status, out, err) = watch.await?;
    assert_eq!((status, err.as_str()), (0, ""));
    assert!(out.starts_with("1 put app/port 8080\n"), "{out}");
    // Bad input.
    let bad = |script: &'static str| nsh(n1, script);
    let (s, _, e) = bad("kv set '' v").await?;
    assert_eq!((s, e.as_str()), (2, "nsh: kv: the key is empty\n"));
    let (s, _, e) = bad("kv set big \"$(head -c 70000 /dev/zero | tr '\\0' x)\"").await?;
    assert_eq!(s, 1);
    assert!(e.contains("at most 65536"), "{e}");
    let (s, _, e) = bad("kv watch k --from 999999").await?;
    assert_eq!(s, 2);
    assert!(e.contains("is in the future"), "{e}");
    let (s, _, e) = bad("kv set --lease 424242 k v").await?;
    assert_eq!((s, e.as_str()), (1, "nsh: kv: no lease 424242\n"));
    let (s, _, e) = bad("lock -w 0 '' true").await?;
    assert_eq!(s, 2, "{e}");
    let (s, _, e) = bad("kv get nothing-here").await?;
    assert_eq!((s, e.as_str()), (1, "nsh: kv: nothing-here: no such key\n"));
    let (s, _, e) = bad("barrier B 0").await?;
    assert_eq!(s, 2, "{e}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn users_have_their_own_keys_and_cannot_own_with_another_s_pid() -> anyhow::Result<()> {
    let accounts = tests::accounts::Accounts::create()?;
    let nsh_as = tests::accounts::nsh_as;
    let (a, b) = (&accounts.users[0], &accounts.users[1]);
    let cluster = TestCluster::start(3).await?;
    for node in &cluster.nodes {
        node.open_to_local_users()?;
    }
    let (n1, n2) = (&cluster.nodes[0], &cluster.nodes[1]);
    assert_eq!(
        nsh_as(a, n1, "kv set secret a-only && kv get secret")?,
        (0, "a-only\n".into(), String::new())
    );
    // b does not see a's key, and b's key of the same name is b's own.
    assert_eq!(
        nsh_as(b, n2, "kv get secret")?,
        (1, String::new(), "nsh: kv: secret: no such key\n".into())
    );
    assert_eq!(nsh_as(b, n2, "kv ls")?.1, "");
    nsh_as(b, n2, "kv set secret b-only")?;
    assert_eq!(nsh_as(a, n2, "kv get secret")?.1, "a-only\n");
    // a's process cannot be b's owner, nor can b name it; a's lock is not
    // b's to take over with a's token.
    // The answer is the one for a PID that never was (on the same node):
    // nothing tells b that a's process exists (SPEC §9).
    let (_, pid, _) = nsh_as(a, n1, "run -d sleep 1000")?;
    let pid = pid.trim();
    let never: i64 = pid.parse::<i64>()? + 777;
    for command in ["kv set --pid PID k v", "name set x PID"] {
        let (s, _, e) = nsh_as(b, n1, &command.replace("PID", pid))?;
        assert_eq!(s, 1);
        assert!(e.contains("no such process"), "{e}");
        let (_, _, unknown) = nsh_as(b, n1, &command.replace("PID", &never.to_string()))?;
        assert_eq!(
            e.replace(pid, "PID"),
            unknown.replace(&never.to_string(), "PID"),
            "{command}"
        );
    }
    // A lease of a is unknown to b.
    let mut api = coord(n1).await?;
    let root_lease = api
        .grant_lease(proto::v1::GrantLeaseRequest { ttl_ms: 60_000 })
        .await?
        .into_inner()
        .id;
    let (s, _, e) = nsh_as(b, n1, &format!("kv set --lease {root_lease} k v"))?;
    assert_eq!((s, e), (1, format!("nsh: kv: no lease {root_lease}\n")));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partitioned_holder_runs_on_but_its_token_is_fenced() -> anyhow::Result<()> {
    let netns = tests::Netns::create()?;
    let ip = |i: usize| format!("127.0.0.{}", i + 2);
    let cluster = TestCluster::start_each(3, |i| tests::NodeOptions {
        ip: Some(ip(i)),
        netns: Some(netns.name.clone()),
        ..tests::NodeOptions::default()
    })
    .await?;
    let leader = cluster.leader().await?;
    // Cut off a node that is not the leader, with the lock's holder on it.
    let cut = (leader + 1) % 3;
    let majority = (leader + 2) % 3;
    let holder = sleeper(&cluster.nodes[cut]).await?;
    let t1 = lock(&cluster.nodes[cut], "L", holder, Duration::ZERO).await?;
    netns.isolate(&ip(cut))?;
    // The majority gives the lock to another once the node is down.
    let other = sleeper(&cluster.nodes[majority]).await?;
    let t2 = lock(
        &cluster.nodes[majority],
        "L",
        other,
        Duration::from_secs(60),
    )
    .await?;
    assert!(t2 > t1, "{t2} after {t1}");
    // The cut-off holder ran on, unaware.
    let info = tests::get(&mut cluster.nodes[cut].client().await?, holder).await?;
    assert_eq!(tests::state(&info), proto::v1::ProcessState::Running);
    netns.heal(&ip(cut))?;
    // Its late write, guarded by its old token, is refused; the new
    // holder's goes through.
    let stale = wait_until("the healed node to write again", TIMEOUT * 2, || async {
        let mut api = coord(&cluster.nodes[cut]).await.ok()?;
        match api.put(fenced(t1)).await {
            Err(e) if e.code() == Code::Unavailable => None,
            other => Some(other),
        }
    })
    .await?;
    let refused = stale.expect_err("a stale token must be refused");
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    coord(&cluster.nodes[majority])
        .await?
        .put(fenced(t2))
        .await?;
    Ok(())
}

/// `sh -c script` with `K` set to the mount's `kv/`; fails unless `sh`
/// exits 0, returning its stdout.
fn sh_ok(script: &str) -> anyhow::Result<String> {
    let (status, out, err) = tests::sh(script)?;
    anyhow::ensure!(status == 0, "{script}: status {status}: {err}");
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kv_keys_are_files_in_nefelefs() -> anyhow::Result<()> {
    let cluster = TestCluster::start(3).await?;
    let (n1, n2) = (&cluster.nodes[0], &cluster.nodes[1]);
    let mount = tests::Mount::start(n1).await?;
    let k = format!("K={}/kv;", mount.path.display());
    // A write sets the key, a read gets it, from the shell and the API.
    sh_ok(&format!("{k} echo 8080 > $K/port"))?;
    assert_eq!(sh_ok(&format!("{k} cat $K/port"))?, "8080\n");
    // `kv get` ends the value with a newline, as etcdctl does.
    assert_eq!(nsh(n2, "kv get port").await?.1, "8080\n\n");
    // Slashes are directories, made with mkdir -p or by a key set elsewhere.
    sh_ok(&format!(
        "{k} mkdir -p $K/app/db && printf h1 > $K/app/db/host"
    ))?;
    assert_eq!(nsh(n2, "kv get app/db/host").await?.1, "h1\n");
    let (status, _, err) = nsh(n2, "kv set cfg/a/b v1").await?;
    assert_eq!(status, 0, "{err}");
    assert_eq!(sh_ok(&format!("{k} ls $K"))?, "app\ncfg\nport\n");
    assert_eq!(sh_ok(&format!("{k} cat $K/cfg/a/b"))?, "v1");
    assert_eq!(sh_ok(&format!("{k} wc -c < $K/app/db/host"))?, "2\n");
    assert_eq!(
        sh_ok(&format!("{k} find $K -type f | sort"))?,
        sh_ok(&format!(
            "{k} printf '%s\\n' $K/app/db/host $K/cfg/a/b $K/port"
        ))?
    );
    // `cmd > KEY` on an existing key makes one version, never an empty one.
    let version = |json: String| -> anyhow::Result<u64> {
        let v: serde_json::Value = serde_json::from_str(&json)?;
        v["version"].as_u64().context("no version")
    };
    let before = version(nsh(n2, "kv get port --json").await?.1)?;
    sh_ok(&format!("{k} echo 9090 > $K/port"))?;
    assert_eq!(version(nsh(n2, "kv get port --json").await?.1)?, before + 1);
    assert_eq!(sh_ok(&format!("{k} cat $K/port"))?, "9090\n");
    // Append, truncate, rename, remove.
    sh_ok(&format!("{k} echo more >> $K/port"))?;
    assert_eq!(nsh(n2, "kv get port").await?.1, "9090\nmore\n\n");
    sh_ok(&format!("{k} : > $K/port"))?;
    assert_eq!(nsh(n2, "kv get port").await?.1, "\n");
    sh_ok(&format!("{k} mv $K/app/db/host $K/app/host2"))?;
    assert_eq!(nsh(n2, "kv ls app/").await?.1, "app/host2\n");
    sh_ok(&format!("{k} rm -r $K/app && test ! -e $K/app"))?;
    assert_eq!(nsh(n2, "kv ls app/").await?.1, "");
    // What a user gets wrong gets the usual errors, and loses nothing.
    let (status, _, err) = tests::sh(&format!("{k} head -c 70000 /dev/zero > $K/cfg/a/b"))?;
    assert_ne!(status, 0);
    assert!(err.contains("File too large"), "{err}");
    assert_eq!(nsh(n2, "kv get cfg/a/b").await?.1, "v1\n");
    let (status, _, err) = tests::sh(&format!("{k} cat $K/nope"))?;
    assert_ne!(status, 0);
    assert!(err.contains("No such file or directory"), "{err}");
    let (status, _, err) = tests::sh(&format!("{k} rmdir $K/cfg"))?;
    assert_ne!(status, 0);
    assert!(err.contains("not empty"), "{err}");
    let (status, _, err) = tests::sh(&format!("{k} mkdir $K/port"))?;
    assert_ne!(status, 0);
    assert!(err.contains("File exists"), "{err}");
    // With its node gone, the mount answers EIO in seconds: no hang.
    let mut cluster = cluster;
    cluster.nodes[0].crash()?;
    let (status, _, err) = tests::sh(&format!("{k} cat $K/port"))?;
    assert_ne!(status, 0);
    assert!(err.contains("Input/output error"), "{err}");
    let (status, _, err) = tests::sh(&format!("{k} echo x > $K/port"))?;
    assert_ne!(status, 0);
    assert!(err.contains("Input/output error"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kv_files_are_each_user_s_own() -> anyhow::Result<()> {
    let accounts = tests::accounts::Accounts::create()?;
    let (a, b) = (&accounts.users[0], &accounts.users[1]);
    let cluster = TestCluster::start(3).await?;
    for node in &cluster.nodes {
        node.open_to_local_users()?;
    }
    let n1 = &cluster.nodes[0];
    let mount = tests::Mount::start(n1).await?;
    let kv = mount.path.join("kv");
    let sh_as = |user: &str, script: &str| {
        tests::accounts::sh_as(user, &format!("K={}; {script}", kv.display()))
    };
    assert_eq!(
        sh_as(
            a,
            "echo a-only > $K/secret && cat $K/secret && ls -ld $K/secret | cut -d' ' -f1,3"
        )?,
        (0, format!("a-only\n-rw-r--r-- {a}\n"))
    );
    assert_eq!(
        tests::accounts::nsh_as(a, n1, "kv get secret")?.1,
        "a-only\n\n"
    );
    // b and root do not see it; b's key of that name is b's own.
    let (status, out) = sh_as(b, "cat $K/secret")?;
    assert_ne!(status, 0);
    assert!(out.contains("No such file or directory"), "{out}");
    assert_eq!(sh_as(b, "ls -A $K")?, (0, String::new()));
    assert!(!kv.join("secret").exists());
    assert_eq!(
        sh_as(b, "echo b-only > $K/secret && cat $K/secret")?,
        (0, "b-only\n".into())
    );
    assert_eq!(sh_as(a, "cat $K/secret")?, (0, "a-only\n".into()));
    // b cannot remove a's key either.
    assert_eq!(sh_as(b, "rm $K/secret")?.0, 0);
    assert_eq!(sh_as(a, "cat $K/secret")?, (0, "a-only\n".into()));
    Ok(())
}
