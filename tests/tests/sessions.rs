//! Cluster sessions (SPEC §11, issue #16): unmodified `kill` (bash's
//! builtin and /bin/kill), `pkill`, `killall`, top's `k` and a statically
//! linked busybox, run through `nefele-proc-exec` on a three-node cluster,
//! signal processes on every node, with Linux's answers (status and
//! errno) and SPEC §9's rules; local processes stay untouched.

use std::process::Command;
use std::time::Duration;

use proto::v1::{ProcessInfo, ProcessState, SpawnRequest};
use tests::accounts::Accounts;
use tests::bench::as_user;
use tests::pty::Pty;
use tests::{
    Mount, Node, NodeOptions, TIMEOUT, TestCluster, binary, get, request, state, wait,
    wait_for_state,
};

/// Runs `bash -c SCRIPT` in a cluster session over `mount`, asking `node`:
/// status, stdout, stderr.
fn session(node: &Node, mount: &Mount, script: &str) -> anyhow::Result<(i32, String, String)> {
    session_cmd(node, mount, &["bash", "-c", script])
}

/// Runs `argv` in a cluster session: status, stdout, stderr.
fn session_cmd(node: &Node, mount: &Mount, argv: &[&str]) -> anyhow::Result<(i32, String, String)> {
    let out = session_command(node, mount, argv).output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn session_command(node: &Node, mount: &Mount, argv: &[&str]) -> Command {
    let mut command = Command::new("timeout");
    command
        .args(["-s", "KILL", "60"])
        .arg(binary("nefele-proc-exec"))
        .arg("--view")
        .arg(&mount.path)
        .args(argv)
        .env("NEFELE_ADDR", node.addr().to_string())
        .env("COLUMNS", "200");
    command
}

/// Starts `argv` on node `node` of `cluster` (as root, or as `user`).
async fn start_on(
    cluster: &TestCluster,
    node: usize,
    argv: &[&str],
    user: Option<&str>,
) -> anyhow::Result<ProcessInfo> {
    let req = SpawnRequest {
        node: cluster.nodes[node].name.clone(),
        ..request(argv)
    };
    let mut c = cluster.nodes[0].client().await?;
    Ok(c.spawn(as_user(req, user)).await?.into_inner())
}

/// Waits for `pid` to end and returns the signal that killed it (0 when it
/// exited).
async fn killed_by(node: &Node, pid: i32) -> anyhow::Result<i32> {
    let mut c = node.client().await?;
    let info = wait(&mut c, pid).await?;
    Ok(info.signal.unwrap_or(0))
}

#[tokio::test]
async fn standard_tools_signal_processes_on_every_node() -> anyhow::Result<()> {
    let cluster = TestCluster::start(3).await?;
    let mount = Mount::start(&cluster.nodes[0]).await?;
    let n0 = &cluster.nodes[0];
    let c = n0.client().await?;

    // bash's builtin: stop, continue, probe, terminate a process on node 1.
    let a = start_on(&cluster, 1, &["sleep", "4242"], None).await?;
    let (code, _, err) = session(n0, &mount, &format!("kill -STOP {}", a.pid))?;
    assert_eq!(code, 0, "{err}");
    wait_for_state(&c, a.pid, ProcessState::Stopped).await?;
    let (code, _, err) = session(n0, &mount, &format!("kill -CONT {}", a.pid))?;
    assert_eq!(code, 0, "{err}");
    wait_for_state(&c, a.pid, ProcessState::Running).await?;
    let (_, out, _) = session(n0, &mount, &format!("kill -0 {} && echo alive", a.pid))?;
    assert_eq!(out, "alive\n");
    let (code, _, err) = session(n0, &mount, &format!("kill {}", a.pid))?;
    assert_eq!(code, 0, "{err}");
    assert_eq!(killed_by(n0, a.pid).await?, libc::SIGTERM);

    // procps's /bin/kill.
    let b = start_on(&cluster, 2, &["sleep", "4243"], None).await?;
    let (code, _, err) = session(n0, &mount, &format!("/bin/kill -9 {}", b.pid))?;
    assert_eq!(code, 0, "{err}");
    assert_eq!(killed_by(n0, b.pid).await?, libc::SIGKILL);

    // pkill -f kills exactly the matching ones, on both nodes.
    let m1 = start_on(&cluster, 1, &["sleep", "4244"], None).await?;
    let m2 = start_on(&cluster, 2, &["sleep", "4244"], None).await?;
    let other = start_on(&cluster, 2, &["sleep", "4245"], None).await?;
    let live = start_on(&cluster, 1, &["tail", "-f", "/dev/null"], None).await?;
    let (code, _, err) = session(n0, &mount, "pkill -f 'sleep 4244'")?;
    assert_eq!(code, 0, "{err}");
    assert_eq!(killed_by(n0, m1.pid).await?, libc::SIGTERM);
    assert_eq!(killed_by(n0, m2.pid).await?, libc::SIGTERM);
    assert_eq!(
        state(&get(&mut c.clone(), other.pid).await?),
        ProcessState::Running
    );

    // killall (psmisc signals through pidfd_send_signal on /proc/PID).
    let (code, _, err) = session(n0, &mount, "killall sleep")?;
    assert_eq!(code, 0, "{err}");
    assert_eq!(killed_by(n0, other.pid).await?, libc::SIGTERM);
    assert_eq!(
        state(&get(&mut c.clone(), live.pid).await?),
        ProcessState::Running
    );

    // Unknown PIDs: a free number of a real slot, a slot nobody has.
    let slot = live.pid / 10_000_000;
    for unknown in [slot * 10_000_000 + 9_999_998, 2_130_000_001] {
        let (code, _, err) = session(n0, &mount, &format!("kill {unknown}"))?;
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("No such process"), "{err}");
        let (code, _, err) = session(n0, &mount, &format!("/bin/kill -0 {unknown}"))?;
        assert_eq!(code, 1, "{err}");
    }

    // The system calls' errnos, as Linux gives them: signal 0 probes, an
    // out-of-range signal is EINVAL for a process that exists and ESRCH
    // for one that does not; thread calls and process groups too.
    let probe = format!(
        r#"
import ctypes, errno, os, signal
libc = ctypes.CDLL(None, use_errno=True)
def call(name, *args):
    rc = libc.syscall(name, *args)
    return 0 if rc == 0 else ctypes.get_errno()
def kill(pid, sig):
    try:
        os.kill(pid, sig)
        return 0
    except OSError as e:
        return e.errno
live, unknown = {live}, {unknown}
print("kill0", kill(live, 0))
print("kill99", kill(live, 99))
print("kill99unknown", kill(unknown, 99))
print("killneg", kill(-live, 0))
print("tgkill", call(234, live, live, 0))
print("tgkillthread", call(234, live, live + 1, 0))
print("tkill", call(200, live, 0))
try:
    os.pidfd_open(live)
    print("pidfd_open", 0)
except OSError as e:
    print("pidfd_open", e.errno)
"#,
        live = live.pid,
        unknown = slot * 10_000_000 + 9_999_998,
    );
    let (code, out, err) = session_cmd(n0, &mount, &["python3", "-c", &probe])?;
    assert_eq!(code, 0, "{err}");
    let want = format!(
        "kill0 0\nkill99 {einval}\nkill99unknown {esrch}\nkillneg 0\ntgkill 0\ntgkillthread {esrch}\ntkill 0\npidfd_open {esrch}\n",
        einval = libc::EINVAL,
        esrch = libc::ESRCH
    );
    assert_eq!(out, want, "{err}");

    // A zombie (ended, its cluster parent has not waited) still exists for
    // kill(2), as on Linux; once waited for, it is gone.
    let parent = start_on(&cluster, 1, &["sleep", "4246"], None).await?;
    let mut child_req = SpawnRequest {
        node: cluster.nodes[2].name.clone(),
        ..request(&["true"])
    };
    child_req.parent_pid = parent.pid;
    let child = c.clone().spawn(child_req).await?.into_inner();
    wait_for_state(&c, child.pid, ProcessState::Exited).await?;
    let (code, _, err) = session(n0, &mount, &format!("kill -0 {}", child.pid))?;
    assert_eq!(code, 0, "a zombie: {err}");
    wait(&mut c.clone(), child.pid).await?;
    let (code, _, err) = session(n0, &mount, &format!("kill -0 {}", child.pid))?;
    assert_eq!(code, 1, "reaped: {err}");

    // A local PID is the local process, untouched.
    let (_, out, err) = session(n0, &mount, "sleep 300 & kill $!; wait $!; echo $?")?;
    assert_eq!(out, "143\n", "{err}");

    // A static binary: the filter does not depend on libc.
    let busybox = which("busybox").expect("busybox-static is installed (.ci/run)");
    let (code, _, err) = session_cmd(
        n0,
        &mount,
        &[&busybox, "kill", "-STOP", &live.pid.to_string()],
    )?;
    assert_eq!(code, 0, "{err}");
    wait_for_state(&c, live.pid, ProcessState::Stopped).await?;
    let (code, _, err) = session_cmd(n0, &mount, &[&busybox, "killall", "-9", "tail"])?;
    assert_eq!(code, 0, "{err}");
    assert_eq!(killed_by(n0, live.pid).await?, libc::SIGKILL);
    Ok(())
}

/// The path of `program` on PATH.
fn which(program: &str) -> Option<String> {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .ok()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!path.is_empty()).then_some(path)
}

#[tokio::test]
async fn a_user_in_a_session_signals_only_their_own() -> anyhow::Result<()> {
    let accounts = Accounts::create()?;
    let (user, admin) = (&accounts.users[0], &accounts.users[2]);
    let cluster = TestCluster::start_with(
        3,
        NodeOptions {
            args: vec!["--admin-group".into(), accounts.group.clone()],
            ..NodeOptions::default()
        },
    )
    .await?;
    let mount = Mount::start(&cluster.nodes[0]).await?;
    let n0 = &cluster.nodes[0];
    let c = n0.client().await?;
    let roots = start_on(&cluster, 1, &["sleep", "4250"], None).await?;
    let theirs = start_on(&cluster, 2, &["sleep", "4251"], Some(user)).await?;

    let as_user = |who: &str, script: &str| {
        session_cmd(
            n0,
            &mount,
            &[
                "setpriv",
                "--reuid",
                who,
                "--regid",
                who,
                "--init-groups",
                "bash",
                "-c",
                script,
            ],
        )
    };
    // Another user's process looks absent (SPEC §9); their own obeys.
    let (code, _, err) = as_user(user, &format!("kill -0 {}", roots.pid))?;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("No such process"), "{err}");
    let (code, _, err) = as_user(user, &format!("kill -STOP {}", theirs.pid))?;
    assert_eq!(code, 0, "{err}");
    wait_for_state(&c, theirs.pid, ProcessState::Stopped).await?;
    // A member of --admin-group acts on everyone's.
    let (code, _, err) = as_user(
        admin,
        &format!("kill -CONT {}; kill -0 {}", theirs.pid, roots.pid),
    )?;
    assert_eq!(code, 0, "{err}");
    wait_for_state(&c, theirs.pid, ProcessState::Running).await?;

    // With its supervisor gone, a caught call fails at once (ENOSYS):
    // nothing hangs.
    let script = format!(
        "sup=$PPID; kill -9 $sup; while kill -0 $sup 2>/dev/null; do :; done; kill -0 {}; echo \"after $?\"",
        roots.pid
    );
    let started = std::time::Instant::now();
    let (_, out, err) = session(n0, &mount, &script)?;
    assert_eq!(out, "after 1\n", "{err}");
    assert!(err.contains("Function not implemented"), "{err}");
    assert!(started.elapsed() < TIMEOUT, "took {:?}", started.elapsed());
    assert_eq!(
        state(&get(&mut c.clone(), roots.pid).await?),
        ProcessState::Running
    );
    Ok(())
}

#[tokio::test]
async fn top_kills_a_remote_process_with_k() -> anyhow::Result<()> {
    let cluster = TestCluster::start(3).await?;
    let mount = Mount::start(&cluster.nodes[0]).await?;
    let n0 = &cluster.nodes[0];
    let target = start_on(&cluster, 2, &["sleep", "4260"], None).await?;
    let pid = target.pid.to_string();

    let mut command = session_command(n0, &mount, &["top", "-d", "1", "-p", &pid]);
    command.env("TERM", "xterm");
    let mut top = Pty::spawn(command)?;
    top.expect(&pid, TIMEOUT)?;
    top.send("k")?;
    // The process top shows first is the default: Enter takes it. (A PID
    // typed here goes through top's float parsing, which rounds numbers
    // above 2^24: docs/design/sessions.md.)
    top.expect(
        &format!("PID to signal/kill [default pid = {pid}]"),
        TIMEOUT,
    )?;
    top.send("\r")?;
    top.expect(&format!("Send pid {pid} signal"), TIMEOUT)?;
    top.send("9\r")?;
    let killed = killed_by(n0, target.pid).await;
    assert_eq!(killed.ok(), Some(libc::SIGKILL), "{}", top.transcript);
    top.send("q")?;
    top.wait_exit(Duration::from_secs(30))?;
    Ok(())
}

#[tokio::test]
async fn a_session_exits_as_its_command_did() -> anyhow::Result<()> {
    let node = Node::start().await?;
    let mount = Mount::start(&node).await?;
    let (code, _, _) = session(&node, &mount, "exit 3")?;
    assert_eq!(code, 3);
    let (code, _, err) = session_cmd(&node, &mount, &["nosuchcommand-4242"])?;
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("nosuchcommand-4242"), "{err}");
    // Killed by a signal: the supervisor dies of the same one (and
    // timeout(1) after it).
    use std::os::unix::process::ExitStatusExt;
    let status = session_command(&node, &mount, &["bash", "-c", "kill -TERM $$"]).status()?;
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status}");
    let (code, _, err) = session_cmd(&node, &mount, &["--no-such-flag"])?;
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("usage"), "{err}");

    // Without a command: the user's shell, reading its commands.
    use std::io::Write;
    let mut command = session_command(&node, &mount, &[]);
    command
        .env("SHELL", "/bin/bash")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = command.spawn()?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(b"echo \"in a session: $BASH_VERSION\" | cut -c1-13\n")?;
    let out = child.wait_with_output()?;
    assert_eq!(String::from_utf8_lossy(&out.stdout), "in a session:\n");
    Ok(())
}
