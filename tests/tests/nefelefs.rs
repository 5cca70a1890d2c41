//! nefelefs mounted for real over a real two-node cluster, used with real
//! tools: ls, cat, tr, grep, tail -f, echo into stdin and ctl, Python's
//! parsing of Linux /proc layouts; a signalled reader of `stdout` that
//! does not hang; `svc/` as another user.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use proto::v1::{
    CreateServiceRequest, ListRequest, ProcessState, ServiceSpec, SpawnRequest, StdinMode,
};
use tests::accounts::{Accounts, nsh_as, sh_as};
use tests::{
    Mount, NodeOptions, TIMEOUT, TestCluster, get, request, sh, state, wait, wait_for_state,
};

/// Spawns on node `on` (by name) through node 0.
async fn spawn_on(
    cluster: &TestCluster,
    on: usize,
    argv: &[&str],
    stdin: bool,
) -> anyhow::Result<proto::v1::ProcessInfo> {
    let mut req = SpawnRequest {
        node: cluster.nodes[on].name.clone(),
        ..request(argv)
    };
    if stdin {
        req.stdin = StdinMode::Pipe as i32;
    }
    Ok(cluster.nodes[0]
        .client()
        .await?
        .spawn(req)
        .await?
        .into_inner())
}

/// A parser written for Linux /proc: status is `Key:\tvalue` lines, stat
/// is 52 fields with the comm in parentheses.
const PARSE_PROC: &str = r#"
import sys
status = dict(line.rstrip("\n").split(":\t", 1) for line in open(sys.argv[1] + "/status"))
stat = open(sys.argv[1] + "/stat").read()
comm = stat[stat.index("(") + 1 : stat.rindex(")")]
rest = stat[stat.rindex(")") + 2 :].split()
assert len(rest) + 2 == 52, len(rest)
assert int(stat.split(" ", 1)[0]) == int(status["Pid"])
assert comm == status["Name"], (comm, status["Name"])
assert rest[0] == status["State"][0]
print(status["Pid"], status["Name"], status["State"][0], status["Node"], rest[19], int(rest[21]) >= 0)
"#;

#[tokio::test]
async fn standard_tools_read_the_cluster() -> anyhow::Result<()> {
    let cluster = TestCluster::start(2).await?;
    let local = spawn_on(&cluster, 0, &["sleep", "1000"], false).await?;
    let remote = spawn_on(&cluster, 1, &["sleep", "2000"], false).await?;
    let mount = Mount::start(&cluster.nodes[0]).await?;
    let proc = mount.path.join("proc");
    let p = proc.display();

    // ls lists the PIDs that List returns.
    let listed = cluster.nodes[0]
        .client()
        .await?
        .list(ListRequest::default())
        .await?
        .into_inner();
    let want: HashSet<String> = listed.processes.iter().map(|p| p.pid.to_string()).collect();
    // (Beside the PIDs, proc/ holds the global files procps reads.)
    let (code, out, err) = sh(&format!("ls {p} | grep '^[0-9]'"))?;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().map(str::to_string).collect::<HashSet<_>>(),
        want
    );

    // status and stat parse as Linux formats.
    for info in [&local, &remote] {
        let (code, out, err) = sh(&format!("python3 -c '{PARSE_PROC}' {p}/{}", info.pid))?;
        assert_eq!(code, 0, "{err}\n{}", mount.log());
        let fields: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(
            fields[..4],
            [
                info.pid.to_string().as_str(),
                "sleep",
                "S",
                info.node.as_str()
            ]
        );
    }

    // cmdline, grep over every process, node, exit, cwd.
    let (_, out, _) = sh(&format!("cat {p}/{}/cmdline | tr '\\0' ' '", remote.pid))?;
    assert_eq!(out, "sleep 2000 ");
    let (code, out, _) = sh(&format!("grep -l 2000 {p}/*/cmdline"))?;
    assert_eq!(
        (code, out.trim()),
        (0, format!("{p}/{}/cmdline", remote.pid).as_str())
    );
    let (_, out, _) = sh(&format!("cat {p}/{}/node", remote.pid))?;
    assert_eq!(out.trim(), cluster.nodes[1].name);
    let (_, out, _) = sh(&format!("readlink {p}/{}/cwd", remote.pid))?;
    assert_eq!(out.trim(), "/");
    let (_, out, _) = sh(&format!("ls {}/nodes", mount.path.display()))?;
    let nodes: HashSet<&str> = out.lines().collect();
    assert_eq!(
        nodes,
        cluster.nodes.iter().map(|n| n.name.as_str()).collect()
    );
    let (_, out, _) = sh(&format!(
        "cat {}/nodes/{}/procs",
        mount.path.display(),
        cluster.nodes[1].name
    ))?;
    assert_eq!(out, format!("{}\n", remote.pid));

    // An unknown PID is ENOENT.
    let (code, _, err) = sh(&format!("cat {p}/10000999/status"))?;
    assert!(
        code != 0 && err.contains("No such file or directory"),
        "{err}"
    );
    let (code, _, err) = sh(&format!("cat {p}/20000999/status"))?;
    assert!(
        code != 0 && err.contains("No such file or directory"),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn stdin_ctl_and_stdout_work_on_remote_processes() -> anyhow::Result<()> {
    let cluster = TestCluster::start(2).await?;
    let mount = Mount::start(&cluster.nodes[0]).await?;
    let p = mount.path.join("proc");
    let p = p.display();
    let mut c = cluster.nodes[0].client().await?;

    // echo into stdin reaches a remote cat.
    let cat = spawn_on(&cluster, 1, &["cat"], true).await?;
    let (code, _, err) = sh(&format!("echo hello > {p}/{}/stdin", cat.pid))?;
    assert_eq!(code, 0, "{err}");
    let out = tests::wait_for_stdout(&c, cat.pid, |o| (o == "hello\n").then_some(())).await;
    assert!(out.is_ok(), "cat did not echo: {out:?}");

    // ctl: stop, cont, kill; junk is EINVAL.
    let sleeper = spawn_on(&cluster, 1, &["sleep", "1000"], false).await?;
    let ctl = format!("{p}/{}/ctl", sleeper.pid);
    // Read first, so the kernel holds status's size: the write must drop it.
    let (_, status, _) = sh(&format!("grep State {p}/{}/status", sleeper.pid))?;
    assert_eq!(status.trim(), "State:\tS (sleeping)");
    assert_eq!(sh(&format!("echo stop > {ctl}"))?.0, 0);
    wait_for_state(&c, sleeper.pid, ProcessState::Stopped).await?;
    let (_, status, _) = sh(&format!("grep State {p}/{}/status", sleeper.pid))?;
    assert_eq!(status.trim(), "State:\tT (stopped)");
    assert_eq!(sh(&format!("echo cont > {ctl}"))?.0, 0);
    wait_for_state(&c, sleeper.pid, ProcessState::Running).await?;
    // coreutils echo reports the errno (dash's builtin only says "I/O error").
    let (code, _, err) = sh(&format!("/bin/echo nonsense > {ctl}"))?;
    assert!(
        code != 0 && err.contains("Invalid argument"),
        "{code} {err}"
    );
    assert_eq!(
        state(&get(&mut c, sleeper.pid).await?),
        ProcessState::Running,
        "junk did nothing"
    );
    // A signal from elsewhere: once the listing has expired, the new state
    // replaces what the kernel holds of status (same size, other bytes).
    tests::signal(&mut c, sleeper.pid, libc::SIGSTOP).await?;
    wait_for_state(&c, sleeper.pid, ProcessState::Stopped).await?;
    let grep = format!("grep State {p}/{}/status", sleeper.pid);
    tests::wait_until("status to show the stop", TIMEOUT, || {
        let shown = sh(&grep).map(|r| r.1).unwrap_or_default();
        async move { (shown.trim() == "State:\tT (stopped)").then_some(()) }
    })
    .await?;
    assert_eq!(sh(&format!("echo kill > {ctl}"))?.0, 0);
    let done = wait(&mut c, sleeper.pid).await?;
    assert_eq!(done.signal, Some(9));
    let (_, exit, _) = sh(&format!("cat {p}/{}/exit", sleeper.pid))?;
    assert_eq!(exit, "killed 9\n");

    // tail -f follows a remote process's stdout.
    let talker = spawn_on(
        &cluster,
        1,
        &["sh", "-c", "echo first; read go; echo later; read end"],
        true,
    )
    .await?;
    let mut tail = Command::new("timeout")
        .args(["60", "tail", "-f"])
        .arg(format!("{p}/{}/stdout", talker.pid))
        .stdout(Stdio::piped())
        .spawn()?;
    let lines = BufReader::new(tail.stdout.take().expect("piped")).lines();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(TIMEOUT);
    // Only now, with tail waiting at the end, does the process print more.
    assert_eq!(sh(&format!("echo go > {p}/{}/stdin", talker.pid))?.0, 0);
    let later = rx.recv_timeout(TIMEOUT);
    let _ = tail.kill();
    let _ = tail.wait();
    assert_eq!(
        (first.as_deref(), later.as_deref()),
        (Ok("first"), Ok("later"))
    );
    Ok(())
}

/// Runs `script` until it fails with EIO; every run must end within
/// 15 s (no hang) and the EIO must come within 15 s.
async fn eio_within_seconds(script: &str) -> anyhow::Result<()> {
    tests::wait_until_blocking(
        &format!("EIO from {script}"),
        Duration::from_secs(15),
        || {
            let run = Instant::now();
            let (code, _, err) = sh(script).unwrap_or_else(|e| panic!("{script}: {e}"));
            assert!(
                run.elapsed() < Duration::from_secs(15),
                "{script} took {:?}",
                run.elapsed()
            );
            (code != 0 && err.contains("Input/output error")).then_some(())
        },
    )
}

#[tokio::test]
async fn a_down_node_s_processes_show_as_lost_a_dead_mount_node_gives_eio_and_sigterm_unmounts()
-> anyhow::Result<()> {
    let mut cluster = TestCluster::start(2).await?;
    let remote = spawn_on(&cluster, 1, &["sleep", "1000"], false).await?;
    let mut mount = Mount::start(&cluster.nodes[0]).await?;
    let p = mount.path.join("proc");
    let p = p.display();
    assert_eq!(
        sh(&format!("cat {p}/{}/status > /dev/null", remote.pid))?.0,
        0
    );
    let remote_node = cluster.nodes[1].name.clone();
    tests::wait_until("node 1's processes in the store", TIMEOUT, || async {
        let members = cluster.members(0).await.ok()?;
        members
            .iter()
            .any(|m| m.name == remote_node && m.published_processes >= 1)
            .then_some(())
    })
    .await?;

    // Its node down (noded killed; the keeper keeps the process), the
    // process is still listed, as lost: State X (dead), exit "lost".
    cluster.nodes[1].crash()?;
    let status = format!("{p}/{}/status", remote.pid);
    tests::wait_until("the remote process shown as lost", TIMEOUT, || async {
        let (code, out, _) = sh(&format!("cat {status}")).ok()?;
        (code == 0 && out.contains("State:\tX (dead)")).then_some(())
    })
    .await?;
    let (_, exit, _) = sh(&format!("cat {p}/{}/exit", remote.pid))?;
    assert_eq!(exit, "lost\n");
    let (_, listed, _) = sh(&format!("ls {p}"))?;
    assert!(
        listed.lines().any(|l| l == remote.pid.to_string()),
        "{listed}"
    );
    // The down node's load and memory are unknown (EIO, not zeros); its
    // status counts the processes it left, shown lost.
    let node_dir = mount.path.join("nodes").join(&remote_node);
    let nd = node_dir.display();
    tests::wait_until("the node shown down", TIMEOUT, || async {
        let (_, out, _) = sh(&format!("cat {nd}/status")).ok()?;
        out.contains("State:\tdown").then_some(())
    })
    .await?;
    let (_, status_text, _) = sh(&format!("cat {nd}/status"))?;
    assert!(status_text.contains("Processes:\t1\n"), "{status_text}");
    for file in ["loadavg", "meminfo"] {
        let (code, _, err) = sh(&format!("cat {nd}/{file}"))?;
        assert!(
            code != 0 && err.contains("Input/output error"),
            "{file}: {code} {err}"
        );
    }

    // The mount's own node gone: EIO too, not a hang.
    let local = spawn_on(&cluster, 0, &["true"], false).await?;
    cluster.nodes[0].crash()?;
    eio_within_seconds(&format!("cat {p}/{}/status", local.pid)).await?;
    eio_within_seconds(&format!("ls {p}")).await?;

    assert!(mount.stop().await?.success(), "{}", mount.log());
    assert!(
        !tests::is_mount_point(&mount.path) && !tests::is_mount_point(&mount.procps_view),
        "the mount and its procps view are gone after SIGTERM"
    );
    Ok(())
}

/// The READ requests the full view of a mount serving metrics on `port`
/// has received.
fn reads_received(port: u16) -> Option<u64> {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(TIMEOUT)).ok()?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let line = response.lines().find(|l| {
        l.starts_with("nefele_fuse_requests_total{")
            && l.contains(r#"op="read""#)
            && l.contains(r#"view="full""#)
    });
    // No line yet: no READ yet.
    line.map_or(Some(0), |l| l.rsplit(' ').next()?.parse().ok())
}

/// Starts `cat FILE` and waits until it has printed `first` and its next
/// read, which waits for output to come, has reached nefelefs (the mount
/// serves metrics on `port`): a signal to cat then finds that read in
/// nefelefs's hands, where the kernel no longer ends it by itself.
fn cat_waiting_at_the_end(file: &std::path::Path, first: &str, port: u16) -> anyhow::Result<Child> {
    let before =
        tests::wait_until_blocking("nefelefs's metrics", TIMEOUT, || reads_received(port))?;
    let mut cat = Command::new("cat")
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut out = cat.stdout.take().expect("piped");
    let mut got = vec![0; first.len()];
    // The first read finds output there already and does not wait.
    out.read_exact(&mut got)?;
    assert_eq!(String::from_utf8_lossy(&got), first);
    // Kept open: a closed pipe would end cat by SIGPIPE.
    cat.stdout = Some(out);
    let pid = cat.id();
    tests::wait_until_blocking("cat's second read to wait in nefelefs", TIMEOUT, || {
        let syscall = std::fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
        let in_read = syscall.split_whitespace().next()? == libc::SYS_read.to_string();
        (in_read && reads_received(port)? >= before + 2).then_some(())
    })?;
    Ok(cat)
}

/// Ctrl-C on `tail -f proc/PID/stdout` (or killing it) ends it at once:
/// a read waiting for output answers EINTR when its reader has a signal
/// to take, instead of holding the reader (unkillable) until the process
/// prints or ends. Ctrl-Z stops it, and it reads on when continued.
/// Otherwise the read still waits, and ends at end-of-file when the
/// process ends.
#[tokio::test]
async fn a_signal_ends_a_read_waiting_for_output() -> anyhow::Result<()> {
    let cluster = TestCluster::start(1).await?;
    let silent = spawn_on(
        &cluster,
        0,
        &["sh", "-c", "echo ready; exec sleep 1000"],
        false,
    )
    .await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mount = Mount::start_with(&cluster.nodes[0], &["--metrics-listen", &listen]).await?;
    let p = mount.path.join("proc").join(silent.pid.to_string());
    for signal in [Signal::SIGKILL, Signal::SIGINT] {
        let mut cat = cat_waiting_at_the_end(&p.join("stdout"), "ready\n", port)?;
        kill(Pid::from_raw(cat.id() as i32), signal)?;
        let ended = tests::wait_until_blocking(
            &format!("cat to end after {signal}"),
            Duration::from_secs(10),
            || cat.try_wait().ok().flatten(),
        );
        let status = ended.map_err(|e| anyhow::anyhow!("{e:#}\n{}", mount.log()))?;
        assert_eq!(status.signal(), Some(signal as i32), "{status:?}");
    }

    // A stop (Ctrl-Z) stops the reader, which reads on once continued
    // (cat retries a read that says EINTR); the read waits, and the
    // process's end is end-of-file.
    let mut cat = cat_waiting_at_the_end(&p.join("stdout"), "ready\n", port)?;
    let reads = reads_received(port).expect("metrics");
    let cat_pid = Pid::from_raw(cat.id() as i32);
    kill(cat_pid, Signal::SIGTSTP)?;
    let stat = format!("/proc/{cat_pid}/stat");
    tests::wait_until_blocking("cat to stop", Duration::from_secs(10), || {
        let stat = std::fs::read_to_string(&stat).ok()?;
        (stat.rsplit(") ").next()?.starts_with('T')).then_some(())
    })?;
    kill(cat_pid, Signal::SIGCONT)?;
    tests::wait_until_blocking("cat to read again", TIMEOUT, || {
        (reads_received(port)? > reads).then_some(())
    })?;
    assert_eq!(sh(&format!("echo kill > {}/ctl", p.display()))?.0, 0);
    let status = tests::wait_until_blocking("cat to reach end-of-file", TIMEOUT, || {
        cat.try_wait().ok().flatten()
    })?;
    assert!(status.success(), "{status:?}");
    Ok(())
}

/// Services are their owner's (SPEC §9), in `svc/` as in `svc ls`: another
/// user does not see root's service listed, nor its `spec` (command and
/// environment) or `replicas` (PIDs), even right after root read them
/// (the kernel's caches are shared by all users); a user sees their own
/// services, root and the administrators all.
#[tokio::test]
async fn svc_shows_each_user_only_their_own_services() -> anyhow::Result<()> {
    let accounts = Accounts::create()?;
    let (a, b, c) = (&accounts.users[0], &accounts.users[1], &accounts.users[2]);
    let cluster = TestCluster::start_with(
        1,
        NodeOptions {
            args: vec!["--admin-group".into(), accounts.group.clone()],
            ..NodeOptions::default()
        },
    )
    .await?;
    let n1 = &cluster.nodes[0];
    n1.open_to_local_users()?;
    let mount = Mount::start_with(n1, &["--admin-group", &accounts.group]).await?;
    let svc = mount.path.join("svc");

    let mut services = n1.services().await?;
    services
        .create_service(CreateServiceRequest {
            spec: Some(ServiceSpec {
                name: "rootsvc".into(),
                argv: vec!["sleep".into(), "4747".into()],
                env: [
                    (
                        "PATH".to_string(),
                        std::env::var("PATH").unwrap_or_default(),
                    ),
                    ("SECRET".to_string(), "hunter2".to_string()),
                ]
                .into(),
                replicas: 1,
                ..ServiceSpec::default()
            }),
        })
        .await?;
    let (code, _, err) = nsh_as(a, n1, "svc run asvc -r 1 -- sleep 4848")?;
    assert_eq!(code, 0, "{err}");

    // Root sees both, and reads root's running replica's PID.
    let replicas = svc.join("rootsvc/replicas");
    let pid = tests::wait_until("root's replica to run", TIMEOUT, || {
        let table = std::fs::read_to_string(&replicas).unwrap_or_default();
        let pid = table.lines().nth(1).and_then(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.get(1) == Some(&"running")).then(|| cols.get(3).map(|p| p.to_string()))
        });
        async move { pid.flatten() }
    })
    .await?;
    let (_, listed, _) = sh(&format!("ls {}", svc.display()))?;
    assert_eq!(listed, "asvc\nrootsvc\n");
    assert!(std::fs::read_to_string(svc.join("rootsvc/spec"))?.contains("env: SECRET=hunter2"));

    // B: nothing of either, also through the entries root's reads just
    // left in the kernel's caches.
    let others = ["rootsvc/spec", "rootsvc/replicas", "asvc/spec"];
    let b_sees_nothing = || -> anyhow::Result<()> {
        let (_, out) = sh_as(b, &format!("ls -a {}", svc.display()))?;
        assert_eq!(out, ".\n..\n", "b's listing");
        for file in others {
            let (code, out) = sh_as(b, &format!("cat {}/{file}", svc.display()))?;
            assert!(
                code != 0 && out.contains("No such file or directory"),
                "b reads {file}: {out}"
            );
            assert!(!out.contains("hunter2") && !out.contains(&pid), "{out}");
        }
        let (code, out) = sh_as(b, &format!("ls {}/rootsvc", svc.display()))?;
        assert!(
            code != 0 && !out.contains("spec"),
            "b lists rootsvc/: {out}"
        );
        Ok(())
    };
    b_sees_nothing()?;
    std::fs::read_to_string(svc.join("rootsvc/spec"))?;
    b_sees_nothing()?;

    // A: their own service only.
    let (_, out) = sh_as(a, &format!("ls {}", svc.display()))?;
    assert_eq!(out, "asvc\n");
    let (code, out) = sh_as(a, &format!("cat {}/asvc/spec", svc.display()))?;
    assert!(code == 0 && out.contains("command: sleep 4848"), "{out}");
    let (code, out) = sh_as(a, &format!("cat {}/rootsvc/spec", svc.display()))?;
    assert!(code != 0 && !out.contains("hunter2"), "{out}");

    // C, an administrator: both.
    let (_, out) = sh_as(c, &format!("ls {}", svc.display()))?;
    assert_eq!(out, "asvc\nrootsvc\n");
    let (code, out) = sh_as(c, &format!("cat {}/rootsvc/spec", svc.display()))?;
    assert!(code == 0 && out.contains("env: SECRET=hunter2"), "{out}");

    let (code, _, err) = nsh_as(a, n1, "svc rm asvc")?;
    assert_eq!(code, 0, "{err}");
    services
        .remove_service(proto::v1::RemoveServiceRequest {
            name: "rootsvc".into(),
        })
        .await?;
    Ok(())
}
