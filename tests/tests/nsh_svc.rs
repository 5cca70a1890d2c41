//! Services (SPEC §7) driven through the real `nsh -c 'svc ...'` against
//! real noded clusters: replicas spread over the nodes with their
//! NEFELE_SERVICE/NEFELE_REPLICA, scaling up and down, removal, logs (also
//! followed across a restart), placement by label, `/nefele/svc/`, and the
//! bad input that must be reported: unknown services, negative counts,
//! duplicate names, a command that does not exist (backing off, with its
//! error shown) and constraints no node matches (unschedulable, with a
//! reason).

use std::collections::{BTreeSet, HashMap};
use std::process::Stdio;
use std::time::{Duration, Instant};

use proto::v1::{GetRequest, ProcessState};
use serde_json::Value;
use tests::{Mount, Node, NodeOptions, TIMEOUT, TestCluster, binary, sh, wait_until};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Patience for the reconciler to converge on a small, shared machine.
const CONVERGE: Duration = Duration::from_secs(90);

/// Runs `nsh -c script` against `node`.
async fn nsh(node: &Node, script: &str) -> anyhow::Result<tests::nsh::Run> {
    tests::nsh::nsh_c(node, script).await
}

/// Runs a script that must succeed without complaints.
async fn nsh_ok(node: &Node, script: &str) -> anyhow::Result<String> {
    let run = nsh(node, script).await?;
    assert_eq!(
        (run.status, run.stderr.as_str()),
        (0, ""),
        "{script}: {run:?}"
    );
    Ok(run.stdout)
}

/// A script that must fail with `status` and exactly `stderr`.
async fn nsh_fails(node: &Node, script: &str, status: i32, stderr: &str) -> anyhow::Result<()> {
    let run = nsh(node, script).await?;
    assert_eq!(
        (run.status, run.stdout.as_str(), run.stderr.as_str()),
        (status, "", stderr),
        "{script}"
    );
    Ok(())
}

/// `svc ls NAME --json`, or `None` while it fails.
async fn service(node: &Node, name: &str) -> Option<Value> {
    let run = nsh(node, &format!("svc ls {name} --json")).await.ok()?;
    if run.status != 0 {
        return None;
    }
    serde_json::from_str(&run.stdout).ok()
}

/// The replicas of a service's JSON.
fn replicas(info: &Value) -> Vec<Value> {
    info["replicas"].as_array().cloned().unwrap_or_default()
}

/// Its running replicas as (index, pid, node), by index.
fn running(info: &Value) -> Vec<(u64, i32, String)> {
    replicas(info)
        .iter()
        .filter(|r| r["state"] == "running")
        .map(|r| {
            (
                r["index"].as_u64().unwrap_or(u64::MAX),
                r["pid"].as_i64().unwrap_or(0) as i32,
                r["node"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Waits until the service runs exactly the replicas `0..n`.
async fn wait_running(node: &Node, name: &str, n: u64) -> anyhow::Result<Vec<(u64, i32, String)>> {
    wait_until(
        &format!("{name} to run replicas 0..{n}"),
        CONVERGE,
        || async {
            let info = service(node, name).await?;
            let up = running(&info);
            let indexes: Vec<u64> = up.iter().map(|r| r.0).collect();
            (indexes == (0..n).collect::<Vec<_>>()).then_some(up)
        },
    )
    .await
}

/// The row of `name` in the `svc ls` table, split on whitespace.
async fn ls_row(node: &Node, name: &str) -> anyhow::Result<Vec<String>> {
    let out = nsh_ok(node, "svc ls").await?;
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "READY", "STATUS", "RESTARTS", "POLICY", "CMD"],
        "{out}"
    );
    Ok(out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .find(|cells| cells.first().is_some_and(|c| c == name))
        .unwrap_or_default())
}

/// Whether a cluster process is gone or no longer running.
async fn ended(node: &Node, pid: i32) -> bool {
    let Ok(mut client) = node.client().await else {
        return false;
    };
    match client
        .get(GetRequest {
            pid,
            with_env: false,
        })
        .await
    {
        Ok(info) => info.into_inner().state != ProcessState::Running as i32,
        Err(status) => status.code() == tonic::Code::NotFound,
    }
}

#[tokio::test]
async fn services_spread_scale_log_and_go_away() -> anyhow::Result<()> {
    // Nodes 0 and 1 in zone a, node 2 in zone b.
    let cluster = TestCluster::start_each(3, |i| NodeOptions {
        config: format!(
            "labels = {{ zone = \"{}\" }}\n",
            if i == 2 { "b" } else { "a" }
        ),
        ..NodeOptions::default()
    })
    .await?;
    let via = &cluster.nodes[0];

    // Five replicas, silently created, spread over at least two nodes.
    assert_eq!(nsh_ok(via, "svc run web -r 5 -- sleep 1000").await?, "");
    let up = wait_running(via, "web", 5).await?;
    let nodes: BTreeSet<&str> = up.iter().map(|r| r.2.as_str()).collect();
    assert!(nodes.len() >= 2, "replicas all on {nodes:?}");
    // Each knows its service and index.
    let mut client = via.client().await?;
    for (index, pid, _) in &up {
        let info = client
            .get(GetRequest {
                pid: *pid,
                with_env: true,
            })
            .await?
            .into_inner();
        assert_eq!(info.argv, ["sleep", "1000"]);
        for wanted in [
            "NEFELE_SERVICE=web".to_string(),
            format!("NEFELE_REPLICA={index}"),
        ] {
            assert!(info.env.contains(&wanted), "{pid}: {:?}", info.env);
        }
    }
    // The table, from another node too.
    let row = ls_row(&cluster.nodes[2], "web").await?;
    assert_eq!(
        row,
        ["web", "5/5", "running", "0", "always", "sleep", "1000"]
    );
    let json: Value = serde_json::from_str(&nsh_ok(via, "svc ls --json").await?)?;
    let web = json
        .as_array()
        .and_then(|a| a.iter().find(|s| s["spec"]["name"] == "web"))
        .unwrap_or_else(|| panic!("{json}"));
    assert_eq!(web["spec"]["replicas"], 5);
    assert_eq!(web["spec"]["restart"], "always");
    assert_eq!(web["ready"], 5);
    let table = nsh_ok(via, "svc ls web").await?;
    assert_eq!(table.lines().count(), 6, "{table}");
    assert!(table.starts_with("INDEX STATE"), "{table}");

    // /nefele/svc/web, where FUSE mounts work (they do for the nefelefs
    // tests on this machine).
    {
        let mount = Mount::start(via).await?;
        let svc = mount.path.join("svc");
        let (code, out, err) = sh(&format!("ls {}", svc.display()))?;
        assert_eq!((code, out.as_str()), (0, "web\n"), "{err}");
        let (code, out, err) = sh(&format!("cat {}/web/spec", svc.display()))?;
        assert_eq!(code, 0, "{err}");
        assert!(
            out.starts_with("name: web\ncommand: sleep 1000\nreplicas: 5\nrestart: always\n"),
            "{out}"
        );
        assert!(out.contains("\nenv: PATH="), "{out}");
        let (code, out, err) = sh(&format!("cat {}/web/replicas", svc.display()))?;
        assert_eq!(code, 0, "{err}");
        let pids: BTreeSet<String> = out
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
            .collect();
        let want: BTreeSet<String> = up.iter().map(|r| r.1.to_string()).collect();
        assert_eq!(pids, want, "{out}");
    }

    // Scale up, then down to the two lowest indexes; the others stop.
    assert_eq!(nsh_ok(via, "svc scale web 8").await?, "");
    let eight = wait_running(via, "web", 8).await?;
    assert_eq!(nsh_ok(via, "svc scale web 2").await?, "");
    let two = wait_running(via, "web", 2).await?;
    for (index, pid, _) in eight.iter().filter(|r| r.0 >= 2) {
        wait_until(
            &format!("replica {index} ({pid}) to stop"),
            CONVERGE,
            || async { ended(via, *pid).await.then_some(()) },
        )
        .await?;
    }
    let row = ls_row(via, "web").await?;
    assert_eq!(row[..3], ["web", "2/2", "running"]);

    // Logs of every replica, prefixed by PID; -f follows a replacement.
    nsh_ok(
        via,
        "svc run hello -r 2 -- sh -c 'echo hello $NEFELE_REPLICA; echo oops >&2; exec sleep 1000'",
    )
    .await?;
    let hello = wait_running(via, "hello", 2).await?;
    let want: BTreeSet<String> = hello
        .iter()
        .map(|(i, pid, _)| format!("{pid}: hello {i}"))
        .collect();
    let logs = wait_until("both replicas' output", CONVERGE, || async {
        let run = nsh(via, "svc logs hello").await.ok()?;
        let got: BTreeSet<String> = run.stdout.lines().map(str::to_string).collect();
        (run.status == 0 && got == want).then_some(run)
    })
    .await?;
    let errs: BTreeSet<String> = logs.stderr.lines().map(str::to_string).collect();
    let want_errs: BTreeSet<String> = hello
        .iter()
        .map(|(_, pid, _)| format!("{pid}: oops"))
        .collect();
    assert_eq!(errs, want_errs, "stderr lines go to stderr");

    let mut follower = tokio::process::Command::new(binary("nsh"))
        .arg("-c")
        .arg("svc logs -f hello")
        .env("NEFELE_ADDR", via.addr().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(follower.stdout.take().expect("piped")).lines();
    let mut seen = BTreeSet::new();
    while !want.is_subset(&seen) {
        let line = tokio::time::timeout(TIMEOUT, lines.next_line())
            .await??
            .unwrap_or_default();
        seen.insert(line);
    }
    // Kill replica 1: its replacement (a new PID) shows up in the follower.
    let (_, old_pid, _) = hello[1].clone();
    tests::signal(&mut client, old_pid, libc::SIGKILL).await?;
    let replaced = wait_until("replica 1 to be replaced", CONVERGE, || async {
        let info = service(via, "hello").await?;
        running(&info)
            .into_iter()
            .find(|r| r.0 == 1 && r.1 != old_pid)
    })
    .await?;
    let wanted = format!("{}: hello 1", replaced.1);
    let deadline = Instant::now() + CONVERGE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = tokio::time::timeout(left, lines.next_line())
            .await
            .map_err(|_| anyhow::anyhow!("no {wanted:?} from svc logs -f: {seen:?}"))??
            .unwrap_or_default();
        if line == wanted {
            break;
        }
        seen.insert(line);
    }
    // Ctrl-C ends it.
    let nsh_pid = nix::unistd::Pid::from_raw(follower.id().unwrap_or(0) as i32);
    nix::sys::signal::kill(nsh_pid, nix::sys::signal::Signal::SIGINT)?;
    let status = tokio::time::timeout(TIMEOUT, follower.wait()).await??;
    assert!(!status.success(), "{status:?}");

    // Placement: only on the node of zone b.
    nsh_ok(via, "svc run zoned -r 2 --on zone=b -- sleep 1000").await?;
    let zoned = wait_running(via, "zoned", 2).await?;
    assert!(
        zoned.iter().all(|r| r.2 == cluster.nodes[2].name),
        "{zoned:?}"
    );

    // rm: no replica left running, and the service is gone.
    let mut pids: Vec<i32> = two.iter().map(|r| r.1).collect();
    pids.extend(zoned.iter().map(|r| r.1));
    assert_eq!(nsh_ok(via, "svc rm web zoned").await?, "");
    for pid in pids {
        wait_until(&format!("{pid} to stop"), CONVERGE, || async {
            ended(via, pid).await.then_some(())
        })
        .await?;
    }
    nsh_fails(via, "svc ls web", 1, "nsh: svc: web: no such service\n").await?;
    assert!(ls_row(via, "web").await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn bad_input_is_reported() -> anyhow::Result<()> {
    let cluster = TestCluster::start(1).await?;
    let node = &cluster.nodes[0];

    for script in [
        "svc ls nope",
        "svc scale nope 3",
        "svc rm nope",
        "svc logs nope",
    ] {
        nsh_fails(node, script, 1, "nsh: svc: nope: no such service\n").await?;
    }
    nsh_fails(
        node,
        "svc run web -r -1 -- sleep 1000",
        2,
        "nsh: svc: -1: replica count must be 0 or more\n",
    )
    .await?;
    nsh_fails(
        node,
        "svc scale web -1",
        2,
        "nsh: svc: -1: replica count must be 0 or more\n",
    )
    .await?;
    let run = nsh(node, "svc run web -- ").await?;
    assert_eq!(run.status, 2, "no command: {run:?}");
    let run = nsh(node, "svc frobnicate").await?;
    assert_eq!(run.status, 2, "{run:?}");
    assert!(
        run.stderr
            .starts_with("nsh: svc: frobnicate: unknown subcommand"),
        "{run:?}"
    );

    // A duplicate name.
    nsh_ok(node, "svc run dup -- sleep 1000").await?;
    nsh_fails(
        node,
        "svc run dup -- sleep 1",
        1,
        "nsh: svc: dup: service already exists\n",
    )
    .await?;
    wait_running(node, "dup", 1).await?;

    // A command that does not exist: its error shows, and it backs off
    // instead of being retried hundreds of times a second: the times of
    // its next attempts grow further apart. A command that fails at once
    // piles up restarts just as slowly.
    nsh_ok(node, "svc run bad -- /no/such/cmd").await?;
    let created = Instant::now();
    nsh_ok(node, "svc run flaky -- false").await?;
    let (info, row) = wait_until("bad to report its failure", CONVERGE, || async {
        let info = service(node, "bad").await?;
        let replica = replicas(&info).first()?.clone();
        if replica["error"].as_str().unwrap_or("").is_empty() {
            return None;
        }
        let row = ls_row(node, "bad").await.ok()?;
        Some((replica, row))
    })
    .await?;
    assert!(
        ["backoff", "crash-loop"].contains(&info["state"].as_str().unwrap_or("")),
        "{info}"
    );
    assert!(
        ["backoff", "crash-loop"].contains(&row[2].as_str()),
        "svc ls shows it: {row:?}"
    );
    let table = nsh_ok(node, "svc ls bad").await?;
    let line = table.lines().nth(1).unwrap_or_default().to_string();
    assert!(
        line.contains("/no/such/cmd"),
        "the ERROR column explains: {table}"
    );
    let attempts = std::cell::RefCell::new(BTreeSet::new());
    wait_until("four attempts of bad", CONVERGE, || async {
        let info = service(node, "bad").await?;
        let next = replicas(&info).first()?["next_start_ms"].as_u64()?;
        let mut seen = attempts.borrow_mut();
        if next > 0 {
            seen.insert(next);
        }
        (seen.len() >= 4).then_some(())
    })
    .await?;
    let attempts: Vec<u64> = attempts.into_inner().into_iter().collect();
    let gaps: Vec<u64> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().all(|g| *g >= 500) && gaps[gaps.len() - 1] > gaps[0] * 3 / 2,
        "attempts do not back off: gaps of {gaps:?} ms"
    );
    wait_until("flaky to restart three times", CONVERGE, || async {
        let info = service(node, "flaky").await?;
        (replicas(&info).first()?["restarts"].as_u64()? >= 3).then_some(())
    })
    .await?;
    let took = created.elapsed();
    assert!(
        took >= Duration::from_secs(4),
        "three restarts within {took:?} is not backing off"
    );
    let row = ls_row(node, "flaky").await?;
    assert!(
        ["backoff", "crash-loop"].contains(&row[2].as_str()),
        "svc ls shows it: {row:?}"
    );
    let table = nsh_ok(node, "svc ls flaky").await?;
    let exit = table
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(7))
        .unwrap_or_default()
        .to_string();
    assert_eq!(exit, "1", "EXIT shows false's status: {table}");

    // Constraints no node matches: unschedulable, with a reason.
    nsh_ok(node, "svc run mars -r 2 --on zone=mars -- sleep 1000").await?;
    let row = wait_until("mars to be unschedulable", CONVERGE, || async {
        let row = ls_row(node, "mars").await.ok()?;
        (row.get(2)? == "unschedulable").then_some(row)
    })
    .await?;
    assert_eq!(row[1], "0/2", "{row:?}");
    let table = nsh_ok(node, "svc ls mars").await?;
    let rows: HashMap<String, String> = table
        .lines()
        .skip(1)
        .map(|l| {
            let index = l.split_whitespace().next().unwrap_or("").to_string();
            (index, l.to_string())
        })
        .collect();
    assert_eq!(rows.len(), 2, "{table}");
    for line in rows.values() {
        assert!(line.contains(" unschedulable "), "{table}");
        assert!(!line.ends_with(" -"), "a reason: {table}");
    }
    Ok(())
}
