//! Unmodified procps and psmisc over the cluster: `ps`, `pgrep`, `top` and
//! `pstree` run through `nefele-proc-exec` with nefelefs's view as /proc,
//! on a three-node cluster with processes on every node.

use proto::v1::SpawnRequest;
use tests::{Mount, TIMEOUT, TestCluster, binary, request, signal, wait_for_state, wait_until};

/// Runs `argv` with the cluster view of `mount` as /proc.
fn proc_exec(mount: &Mount, argv: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new("timeout")
        .arg("60")
        .arg(binary("nefele-proc-exec"))
        .arg("--view")
        .arg(&mount.path)
        .args(argv)
        .env("COLUMNS", "200")
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(
        out.status.success(),
        "{argv:?} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(stdout)
}

/// The line of `out` whose whitespace-separated `column` is `value`.
fn row<'a>(out: &'a str, column: usize, value: &str) -> Option<Vec<&'a str>> {
    out.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cols| cols.get(column) == Some(&value))
}

#[tokio::test]
async fn procps_shows_every_nodes_processes() -> anyhow::Result<()> {
    let cluster = TestCluster::start(3).await?;
    let mut c = cluster.nodes[0].client().await?;
    let mut on = async |node: usize, argv: &[&str], parent: i32| {
        let mut req = SpawnRequest {
            node: cluster.nodes[node].name.clone(),
            ..request(argv)
        };
        req.parent_pid = parent;
        anyhow::Ok(c.spawn(req).await?.into_inner())
    };
    let a = on(0, &["sleep", "1000"], 0).await?;
    let b = on(1, &["sleep", "1001"], 0).await?;
    // A parent and a child started inside it (its NEFELE_PID passed on).
    let parent = on(2, &["sleep", "1002"], 0).await?;
    let child = on(1, &["sleep", "1003"], parent.pid).await?;
    let stopped = on(2, &["sleep", "1004"], 0).await?;
    let mut c = cluster.nodes[0].client().await?;
    signal(&mut c, stopped.pid, libc::SIGSTOP).await?;
    wait_for_state(&c, stopped.pid, proto::v1::ProcessState::Stopped).await?;
    let all = [&a, &b, &parent, &child, &stopped];
    let mount = Mount::start(&cluster.nodes[0]).await?;

    // ps -ef: PID, PPID, user, command line, a sane start time.
    let out = proc_exec(&mount, &["ps", "-ef"])?;
    for p in all {
        let cols = row(&out, 1, &p.pid.to_string())
            .unwrap_or_else(|| panic!("ps -ef lacks {}:\n{out}", p.pid));
        assert_eq!(cols[0], "root", "{cols:?}");
        assert_eq!(cols[2], p.ppid.to_string(), "{cols:?}");
        assert!(
            cols[4].len() == 5 && cols[4].contains(':'),
            "STIME is a time of today: {cols:?}"
        );
        assert_eq!(
            cols[cols.len() - 2..].join(" "),
            p.argv.join(" "),
            "{cols:?}"
        );
    }
    assert_eq!(
        row(&out, 1, &child.pid.to_string()).expect("child")[2],
        parent.pid.to_string()
    );

    // ps aux and a custom format; the stopped one shows T.
    let out = proc_exec(&mount, &["ps", "aux"])?;
    for p in all {
        let cols = row(&out, 1, &p.pid.to_string())
            .unwrap_or_else(|| panic!("ps aux lacks {}:\n{out}", p.pid));
        assert_eq!(cols[0], "root");
    }
    let out = proc_exec(&mount, &["ps", "-eo", "pid,stat,rss,etime,cmd"])?;
    let cols = row(&out, 0, &stopped.pid.to_string()).expect("stopped process listed");
    assert!(cols[1].starts_with('T'), "{cols:?}");
    // Continued, it shows S once the view's listing has expired: the
    // kernel's cached stat is replaced, not kept.
    signal(&mut c, stopped.pid, libc::SIGCONT).await?;
    wait_for_state(&c, stopped.pid, proto::v1::ProcessState::Running).await?;
    let pid = stopped.pid.to_string();
    wait_until("ps to show the continued process", TIMEOUT, || {
        let stat = proc_exec(&mount, &["ps", "-o", "stat=", "-p", &pid]).unwrap_or_default();
        async move { stat.trim().starts_with('S').then_some(()) }
    })
    .await?;
    // The helper used the procps view: no files that need an open file.
    let files = proc_exec(&mount, &["ls", &format!("/proc/{}", b.pid)])?;
    assert!(
        files.contains("status") && !files.contains("stdout") && !files.contains("ctl"),
        "{files}"
    );
    let cols = row(&out, 0, &b.pid.to_string()).expect("remote process listed");
    assert!(cols[1].starts_with('S'), "{cols:?}");
    assert!(
        cols[2].parse::<u64>()? > 0,
        "rss from the remote node: {cols:?}"
    );

    // pgrep finds remote sleeps; top lists them.
    let out = proc_exec(&mount, &["pgrep", "-a", "sleep"])?;
    for p in all {
        assert!(
            out.contains(&format!("{} {}", p.pid, p.argv.join(" "))),
            "{out}"
        );
    }
    let out = proc_exec(&mount, &["top", "-b", "-n", "1", "-w", "200"])?;
    for p in all {
        assert!(
            row(&out, 0, &p.pid.to_string()).is_some(),
            "top lacks {}:\n{out}",
            p.pid
        );
    }

    // pstree shows the child under its parent.
    let out = proc_exec(&mount, &["pstree", "-p", "0"])?;
    let edge = format!("sleep({})---sleep({})", parent.pid, child.pid);
    assert!(out.contains(&edge), "pstree lacks {edge}:\n{out}");
    Ok(())
}

#[tokio::test]
async fn commands_nsh_ran_leave_ps_but_keep_their_exit() -> anyhow::Result<()> {
    let cluster = TestCluster::start(2).await?;
    let n2 = cluster.nodes[1].name.clone();
    let dir = tempfile::tempdir()?;
    let script = format!("for i in $(seq 50); do @{n2} true; done; @{n2} sh -c 'echo $NEFELE_PID'");
    let mut cmd = tests::nsh::shell_command(
        &binary("nsh"),
        &cluster.nodes[0].addr(),
        dir.path(),
        dir.path(),
    );
    cmd.arg("-c").arg(&script);
    let run = tests::nsh::run(cmd, None, tests::nsh::SCRIPT_TIMEOUT).await?;
    assert_eq!(run.status, 0, "{}", run.describe());
    let last: i32 = run.stdout.trim().parse()?;
    // Something still runs, as on any machine (procps wants a process).
    let mut c = cluster.nodes[0].client().await?;
    let alive = c.spawn(request(&["sleep", "1000"])).await?.into_inner();
    let mount = Mount::start(&cluster.nodes[0]).await?;
    // nsh took every exit, as bash reaps its children: no zombies left.
    let out = proc_exec(&mount, &["ps", "-e", "-o", "pid,stat,comm"])?;
    let zombies: Vec<&str> = out.lines().filter(|l| l.contains(" Z")).collect();
    assert!(zombies.is_empty(), "ps -e shows zombies:\n{out}");
    assert!(row(&out, 0, &last.to_string()).is_none(), "{out}");
    assert!(row(&out, 0, &alive.pid.to_string()).is_some(), "{out}");
    // The record is still there by PID.
    let exit = std::fs::read_to_string(mount.path.join(format!("proc/{last}/exit")))?;
    assert_eq!(exit, "exited 0\n");
    Ok(())
}
