//! nsh's cluster builtins (`ps`, `nodes`, `top`, `logs`, `run`, `help`,
//! `history`) driven through the real `nsh` binary against real noded
//! clusters: each check runs `nsh -c SCRIPT` with `NEFELE_ADDR` set to a
//! node and compares stdout, stderr and the exit status.
//!
//! Scripts use plain words only (no quotes or `$`), and PIDs are carried
//! from one `nsh` run to the next by the test.

use std::collections::HashMap;
use std::process::Stdio;

use tests::{Node, TIMEOUT, TestCluster, binary, wait_until};

/// What one `nsh -c` run gave.
#[derive(Debug)]
struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

/// Runs `nsh -c script` against `node`, with `home` as HOME when given;
/// bounded by [`TIMEOUT`], killed if the test gives up on it.
async fn nsh_with(
    node: &Node,
    script: &str,
    home: Option<&std::path::Path>,
) -> anyhow::Result<Run> {
    let mut command = tokio::process::Command::new(binary("nsh"));
    command
        .arg("-c")
        .arg(script)
        .env("NEFELE_ADDR", node.addr().to_string())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(home) = home {
        command.env("HOME", home);
    }
    let output = tokio::time::timeout(TIMEOUT, command.output()).await??;
    Ok(Run {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

async fn nsh(node: &Node, script: &str) -> anyhow::Result<Run> {
    nsh_with(node, script, None).await
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

/// `run -d ...` and the PID it prints.
async fn run_detached(node: &Node, script: &str) -> anyhow::Result<i32> {
    let out = nsh_ok(node, script).await?;
    Ok(out
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{script} printed {out:?}, not a PID")))
}

/// The rows of a `ps`-style table (after the header) by their first
/// column, split on whitespace.
fn rows(table: &str) -> HashMap<String, Vec<String>> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cells: Vec<String> = line.split_whitespace().map(str::to_string).collect();
            Some((cells.first()?.clone(), cells))
        })
        .collect()
}

#[tokio::test]
async fn ps_and_nodes_show_the_whole_cluster() -> anyhow::Result<()> {
    let cluster = TestCluster::start(3).await?;
    let via = &cluster.nodes[0];
    let n2 = &cluster.nodes[1];
    let n3 = &cluster.nodes[2];

    // nodes: three members, all up, one store leader.
    let out = nsh_ok(via, "nodes").await?;
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "STATE", "SLOT", "ADDRESS", "LOAD", "PROCS", "STORE"]
    );
    let members = rows(&out);
    assert_eq!(members.len(), 3, "{out}");
    for node in &cluster.nodes {
        let row = &members[&node.name];
        assert_eq!(row[1], "up", "{out}");
    }
    assert_eq!(
        members.values().filter(|r| r[6] == "leader").count(),
        1,
        "{out}"
    );
    let json: serde_json::Value = serde_json::from_str(&nsh_ok(via, "nodes --json").await?)?;
    let array = json.as_array().expect("an array");
    assert_eq!(array.len(), 3);
    assert!(array.iter().all(|n| n["state"] == "up"), "{json}");
    let slot_of: HashMap<String, i64> = array
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap_or("").to_string(),
                n["slot"].as_i64().unwrap_or(0),
            )
        })
        .collect();

    // A detached process on n2 prints its PID, of n2's slot.
    let pid = run_detached(via, &format!("run -d -n {} -- sleep 100", n2.name)).await?;
    assert_eq!(i64::from(pid / 10_000_000), slot_of[&n2.name]);

    // ps lists it with its node; the header is the default columns.
    let out = nsh_ok(via, "ps").await?;
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(header, ["PID", "NODE", "STAT", "TIME", "CMD"]);
    let row = rows(&out)
        .remove(&pid.to_string())
        .expect("ps lists the process");
    assert_eq!(row[1], n2.name, "{out}");
    assert_eq!(row[4..], ["sleep", "100"], "{out}");
    // Every node sees it; -n filters by node.
    let out = nsh_ok(n3, &format!("ps -n {}", n2.name)).await?;
    assert!(rows(&out).contains_key(&pid.to_string()), "{out}");
    let out = nsh_ok(via, &format!("ps -n {}", n3.name)).await?;
    assert!(!rows(&out).contains_key(&pid.to_string()), "{out}");

    // JSON with chosen columns.
    let out = nsh_ok(via, "ps -o pid,node,cmd --json").await?;
    let json: serde_json::Value = serde_json::from_str(&out)?;
    let entry = json
        .as_array()
        .expect("an array")
        .iter()
        .find(|p| p["pid"] == pid)
        .unwrap_or_else(|| panic!("{out}"))
        .clone();
    assert_eq!(
        entry,
        serde_json::json!({"pid": pid, "node": n2.name, "cmd": "sleep 100"})
    );

    // Stopped, it shows T.
    nsh_ok(via, &format!("kill -STOP {pid}")).await?;
    wait_until("ps to show the process stopped", TIMEOUT, || async {
        let out = nsh(via, "ps -o pid,stat").await.ok()?;
        (rows(&out.stdout).get(&pid.to_string())?.get(1)? == "T").then_some(())
    })
    .await?;

    // Killed, it leaves the default view; with no cluster parent to wait
    // for it, it is no zombie either (not in -e), but --all shows its
    // record as Z.
    nsh_ok(via, &format!("kill -KILL {pid}")).await?;
    wait_until("ps to drop the killed process", TIMEOUT, || async {
        let out = nsh(via, "ps").await.ok()?;
        (!rows(&out.stdout).contains_key(&pid.to_string())).then_some(())
    })
    .await?;
    let out = nsh_ok(via, "ps -e -o pid,stat,cmd").await?;
    assert!(!rows(&out).contains_key(&pid.to_string()), "{out}");
    let out = nsh_ok(via, "ps --all -o pid,stat,cmd").await?;
    let row = rows(&out)
        .remove(&pid.to_string())
        .expect("ps --all keeps it");
    assert_eq!(row[1], "Z", "{out}");
    Ok(())
}

#[tokio::test]
async fn logs_run_top_help_history_and_errors() -> anyhow::Result<()> {
    let cluster = TestCluster::start(1).await?;
    let node = &cluster.nodes[0];

    // logs of a finished process, after waiting for it.
    let pid = run_detached(node, "run -d -- echo hello-logs").await?;
    let out = nsh_ok(node, &format!("wait {pid}; logs {pid}")).await?;
    assert_eq!(out, "hello-logs\n");
    // logs -f follows until the process's output ends; --stderr is empty.
    let pid = run_detached(node, "run -d -- seq 3").await?;
    assert_eq!(nsh_ok(node, &format!("logs -f {pid}")).await?, "1\n2\n3\n");
    assert_eq!(nsh_ok(node, &format!("logs --stderr {pid}")).await?, "");
    let run = nsh(node, "logs 99999999").await?;
    assert_eq!(run.status, 1, "{run:?}");
    assert_eq!(run.stderr, "nsh: logs: (99999999) - No such process\n");

    // run in the foreground streams output and gives the exit status.
    let run = nsh(node, "run -e GREETING=hi-there -- printenv GREETING").await?;
    assert_eq!(
        (run.status, run.stdout.as_str()),
        (0, "hi-there\n"),
        "{run:?}"
    );
    let run = nsh(node, "run --cwd /tmp -- false").await?;
    assert_eq!(run.status, 1, "{run:?}");
    let run = nsh(node, "run -- no-such-command-here").await?;
    assert_eq!(run.status, 127, "{run:?}");
    assert!(
        run.stderr
            .contains("nsh: run: no-such-command-here: command not found"),
        "{run:?}"
    );

    // top -b shows a running process.
    let pid = run_detached(node, "run -d --name napper -- sleep 100").await?;
    let out = nsh_ok(node, "top -b -n 1").await?;
    assert!(out.starts_with("nsh top - "), "{out}");
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with(&pid.to_string())),
        "{out}"
    );
    let out = nsh_ok(node, "ps -o pid,name").await?;
    assert_eq!(rows(&out)[&pid.to_string()][1], "napper", "{out}");
    nsh_ok(node, &format!("kill -KILL {pid}")).await?;

    // help lists the builtins; --help prints one's usage.
    let out = nsh_ok(node, "help").await?;
    assert!(
        out.lines().any(|l| l
            .trim_start()
            .starts_with("ps [-e] [--all] [-n NODE] [-o COLS] [--json]")),
        "{out}"
    );
    let out = nsh_ok(node, "ps --help").await?;
    assert!(
        out.starts_with("ps: ps [-e] [--all] [-n NODE] [-o COLS] [--json]\n"),
        "{out}"
    );
    let run = nsh(node, "help no-such-builtin").await?;
    assert_eq!(run.status, 1, "{run:?}");

    // Bad options: status 2 and the error.
    let run = nsh(node, "ps -x").await?;
    assert_eq!(run.status, 2, "{run:?}");
    assert!(
        run.stderr
            .starts_with("nsh: ps: unexpected argument '-x' found\n"),
        "{run:?}"
    );
    assert_eq!(run.stdout, "");
    let run = nsh(node, "ps -o pid,bogus").await?;
    assert_eq!(run.status, 2, "{run:?}");
    assert!(
        run.stderr.contains("nsh: ps: unknown column 'bogus'"),
        "{run:?}"
    );
    let run = nsh(node, "top -b -n many").await?;
    assert_eq!(run.status, 2, "{run:?}");

    // history numbers the history file like bash.
    let home = tempfile::tempdir()?;
    std::fs::write(home.path().join(".nsh_history"), "#V2\nls\nps -e\nnodes\n")?;
    let run = nsh_with(node, "history 2", Some(home.path())).await?;
    assert_eq!(
        (run.status, run.stdout.as_str()),
        (0, "    2  ps -e\n    3  nodes\n"),
        "{run:?}"
    );
    Ok(())
}
