//! `nsh @NODE CMD` as bash and its users see it (SPEC §3): exit statuses,
//! pipes both ways, separate stderr, forwarded signals, death by the
//! remote signal, errors; under a real pseudo-terminal: a remote terminal
//! of the local size, resizes, Ctrl-C, Ctrl-Z/`fg` in an interactive bash,
//! a `while` loop that Ctrl-C stops; a reader of nsh's stdout that goes
//! away ends the remote writer as a kernel pipe would. And `nsh --dev`: a SIGKILLed nsh
//! leaves no node, mount or temp dir behind; its nodes route each other's
//! PIDs as soon as it says they are up.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use proto::v1::{ListRequest, ProcessInfo, ProcessState};
use tests::{Node, TIMEOUT, TestCluster, binary, host_alive, wait_until};

/// A cluster of two nodes. The second joins only once the first leads
/// the store, so that its join is not retried while the store elects.
async fn two_nodes() -> anyhow::Result<TestCluster> {
    let first = Node::start().await?;
    let (addr, name) = (first.addr(), first.name.clone());
    wait_until("the founder to be in the store", TIMEOUT, || {
        let (addr, name) = (addr.clone(), name.clone());
        async move {
            let channel = proto::connect(&addr).await.ok()?;
            let mut client = proto::v1::cluster_client::ClusterClient::new(channel);
            let nodes = client
                .nodes(proto::v1::NodesRequest {})
                .await
                .ok()?
                .into_inner()
                .nodes;
            nodes
                .iter()
                .any(|m| m.name == name && m.store_leader)
                .then_some(())
        }
    })
    .await?;
    let second = Node::start_with(first.join_options().await?).await?;
    let cluster = TestCluster {
        nodes: vec![first, second],
    };
    cluster.wait_members_up(2).await?;
    Ok(cluster)
}

/// Runs `script` with bash, `nsh` on PATH and NEFELE_ADDR at node 0,
/// bounded by `timeout(1)`.
fn bash(cluster: &TestCluster, script: &str) -> anyhow::Result<Output> {
    Command::new("timeout")
        .args(["60", "bash", "-c", script])
        .env("NEFELE_ADDR", cluster.nodes[0].addr().to_string())
        .env("PATH", path_with_nsh())
        .stdin(Stdio::null())
        .output()
        .context("cannot run bash")
}

fn path_with_nsh() -> String {
    let dir = binary("nsh")
        .parent()
        .expect("a binary is in a directory")
        .to_path_buf();
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The processes of the cluster whose argv contains `word`.
async fn processes_with(cluster: &TestCluster, word: &str) -> anyhow::Result<Vec<ProcessInfo>> {
    let reply = cluster.nodes[0]
        .client()
        .await?
        .list(ListRequest::default())
        .await?
        .into_inner();
    Ok(reply
        .processes
        .into_iter()
        .filter(|p| p.argv.iter().any(|a| a.contains(word)))
        .collect())
}

#[tokio::test]
async fn statuses_pipes_and_errors_are_relayed_as_bash_expects() -> anyhow::Result<()> {
    let cluster = two_nodes().await?;
    let n2 = cluster.nodes[1].name.clone();

    let out = bash(&cluster, &format!("nsh @{n2} sh -c 'exit 5'; echo $?"))?;
    assert_eq!(text(&out.stdout), "5\n", "stderr: {}", text(&out.stderr));

    let out = bash(&cluster, &format!("nsh @{n2} seq 3 | wc -l"))?;
    assert_eq!(
        text(&out.stdout).trim(),
        "3",
        "stderr: {}",
        text(&out.stderr)
    );

    let out = bash(&cluster, &format!("printf 'a\\nb\\n' | nsh @{n2} wc -l"))?;
    assert_eq!(
        text(&out.stdout).trim(),
        "2",
        "stderr: {}",
        text(&out.stderr)
    );

    // The process runs on n2, and stderr stays apart from stdout.
    let out = bash(
        &cluster,
        &format!("nsh @{n2} sh -c 'echo \"on $NEFELE_NODE\"; echo oops >&2; exit 3'"),
    )?;
    assert_eq!(text(&out.stdout), format!("on {n2}\n"));
    assert_eq!(text(&out.stderr), "oops\n");
    assert_eq!(out.status.code(), Some(3));

    // Killed by SIGTERM remotely: nsh dies by SIGTERM, so $? is 143.
    let out = bash(
        &cluster,
        &format!("nsh @{n2} sh -c 'kill -TERM $$'; echo $?"),
    )?;
    assert_eq!(text(&out.stdout), "143\n", "stderr: {}", text(&out.stderr));

    // Seen directly, not through bash: a death by signal, not an exit.
    let status = Command::new(binary("nsh"))
        .args([&format!("@{n2}"), "sh", "-c", "kill -INT $$"])
        .env("NEFELE_ADDR", cluster.nodes[0].addr().to_string())
        .status()?;
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");

    // A script's background job ignores SIGINT, and so does its remote
    // process: nsh does not forward a signal it was told to ignore. (The
    // kill waits until the job runs: bash ignores SIGINT in the child
    // after the fork.)
    let out = bash(
        &cluster,
        &format!(
            "f=$(mktemp); nsh @{n2} sh -c 'echo started; sleep 1; echo survived' > $f &
             until grep -q started $f; do sleep 0.05; done
             kill -INT $!; wait $!; echo status=$?; cat $f; rm $f"
        ),
    )?;
    assert_eq!(
        text(&out.stdout),
        "status=0\nstarted\nsurvived\n",
        "stderr: {}",
        text(&out.stderr)
    );

    let out = bash(&cluster, "nsh @nowhere true")?;
    assert_eq!(text(&out.stderr), "nsh: @nowhere: no such node\n");
    assert_eq!(out.status.code(), Some(1));

    let out = bash(&cluster, &format!("nsh @{n2} no-such-command-here"))?;
    assert_eq!(
        text(&out.stderr),
        "nsh: no-such-command-here: command not found\n"
    );
    assert_eq!(out.status.code(), Some(127));

    let out = bash(&cluster, "nsh @any true; echo $?")?;
    assert_eq!(text(&out.stdout), "0\n", "stderr: {}", text(&out.stderr));

    // --addr wins over NEFELE_ADDR.
    let out = bash(
        &cluster,
        &format!(
            "NEFELE_ADDR=unix:/nonexistent.sock nsh --addr {} @{n2} echo via-addr",
            cluster.nodes[1].addr()
        ),
    )?;
    assert_eq!(
        text(&out.stdout),
        "via-addr\n",
        "stderr: {}",
        text(&out.stderr)
    );
    Ok(())
}

/// When the reader of nsh's stdout goes away, a remote writer ends as a
/// local one would under bash: `yes` by SIGPIPE (141), one that ignores
/// SIGPIPE by EPIPE (`yes`: "Broken pipe", 1), through `nsh @NODE CMD`
/// and through a script's command (`nsh -c`). Compared with bash running
/// the same pipelines locally; before CloseStdout the second kind wrote
/// into a drained stream for ever. Output that cannot be written
/// (/dev/full) is a write error, as under bash.
#[tokio::test]
async fn a_gone_reader_ends_a_remote_writer_as_a_pipe_would() -> anyhow::Result<()> {
    let cluster = two_nodes().await?;
    let n2 = &cluster.nodes[1].name;
    let ignoring = r#"sh -c "trap '' PIPE; exec yes""#;
    let pipelines = [
        (format!("nsh @{n2} yes"), "yes".to_string()),
        (format!("nsh @{n2} {ignoring}"), ignoring.to_string()),
        (
            format!("nsh -c '@{n2} {}'", ignoring.replace('\'', r#"'\''"#)),
            ignoring.to_string(),
        ),
    ];
    for (nsh, local) in pipelines {
        let tail = " | head -1; echo ${PIPESTATUS[@]}";
        let want = bash(&cluster, &format!("{local}{tail}"))?;
        let got = bash(&cluster, &format!("{nsh}{tail}"))?;
        assert_eq!(
            (text(&got.stdout), got.status.code()),
            (text(&want.stdout), Some(0)),
            "{nsh}: {}",
            text(&got.stderr)
        );
        if text(&want.stderr).contains("Broken pipe") {
            assert!(
                text(&got.stderr).contains("Broken pipe"),
                "{nsh}: {}",
                text(&got.stderr)
            );
        }
    }
    // Output that cannot be written (/dev/full) is a write error, as for
    // the local writer: said on stderr, status 1 unless the command
    // failed by itself. The statuses are bash's for the local commands.
    let commands = ["seq 1000000", "/bin/echo hi", "sh -c 'seq 100000; exit 3'"];
    let script = |prefix: &str| {
        commands
            .map(|c| format!("{prefix}{c} > /dev/full; echo s=$?; "))
            .concat()
    };
    let want = bash(&cluster, &script(""))?;
    let got = bash(&cluster, &script(&format!("nsh @{n2} ")))?;
    assert_eq!(text(&want.stdout), "s=1\ns=1\ns=3\n");
    assert_eq!(
        text(&got.stdout),
        text(&want.stdout),
        "{}",
        text(&got.stderr)
    );
    assert_eq!(
        text(&got.stderr)
            .matches("write error: No space left on device")
            .count(),
        3,
        "{}",
        text(&got.stderr)
    );
    Ok(())
}

#[tokio::test]
async fn signals_to_nsh_reach_the_remote_process() -> anyhow::Result<()> {
    let cluster = two_nodes().await?;
    let n2 = cluster.nodes[1].name.clone();
    let marker = "forwarded-signal-test";
    let mut nsh = KillOnDrop(
        Command::new(binary("nsh"))
            .args([
                &format!("@{n2}"),
                "sh",
                "-c",
                &format!("echo {marker}; exec sleep 60"),
            ])
            .env("NEFELE_ADDR", cluster.nodes[0].addr().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?,
    );
    let mut stdout = nsh.0.stdout.take().context("stdout is piped")?;
    let mut line = [0u8; 64];
    let n = stdout.read(&mut line)?;
    assert_eq!(text(&line[..n]), format!("{marker}\n"));
    let remote = wait_until("the remote sleep", TIMEOUT, || async {
        let list = processes_with(&cluster, marker).await.ok()?;
        list.into_iter()
            .find(|p| p.state == ProcessState::Running as i32)
    })
    .await?;

    kill(Pid::from_raw(nsh.0.id() as i32), Signal::SIGTERM)?;
    let status = wait_child(&mut nsh.0)?;
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
    let after = tests::get(&mut cluster.nodes[0].client().await?, remote.pid).await?;
    assert_eq!(after.state, ProcessState::Killed as i32, "{after:?}");
    assert_eq!(after.signal, Some(libc::SIGTERM));
    Ok(())
}

#[tokio::test]
async fn a_terminal_gets_a_remote_terminal_that_follows_its_size() -> anyhow::Result<()> {
    let cluster = two_nodes().await?;
    let n2 = cluster.nodes[1].name.clone();
    let mut nsh = Command::new(binary("nsh"));
    nsh.args([
        &format!("@{n2}"),
        "sh",
        "-c",
        "tty; stty size; trap 'stty size; exit 7' WINCH; echo ready; while :; do sleep 0.1; done",
    ])
    .env("NEFELE_ADDR", cluster.nodes[0].addr().to_string());
    let mut pty = Pty::spawn(nsh, 30, 100)?;
    let out = pty.expect("ready")?;
    assert!(out.contains("/dev/pts/"), "{out:?}");
    assert!(out.contains("30 100"), "{out:?}");
    pty.resize(40, 120)?;
    pty.expect("40 120")?;
    let status = wait_child(&mut pty.child.0)?;
    assert_eq!(status.code(), Some(7));
    Ok(())
}

#[tokio::test]
async fn interactive_bash_gets_ctrl_c_ctrl_z_and_fg() -> anyhow::Result<()> {
    let cluster = two_nodes().await?;
    let n2 = cluster.nodes[1].name.clone();
    let mut bash = Command::new("bash");
    bash.args(["--norc", "--noprofile", "-i"])
        .env("PS1", "PROMPT$ ")
        .env("NEFELE_ADDR", cluster.nodes[0].addr().to_string())
        .env("PATH", path_with_nsh());
    let mut pty = Pty::spawn(bash, 24, 80)?;
    pty.expect("PROMPT$ ")?;

    // Ctrl-Z stops the remote process and nsh, and bash shows the job.
    pty.send(&format!(
        "nsh @{n2} sh -c 'echo st''arted; read x; echo got $x; sleep 60'\r"
    ))?;
    pty.expect("started\r\n")?;
    pty.send("\x1a")?;
    pty.expect("Stopped")?;
    pty.expect("PROMPT$ ")?;
    let stopped = wait_until("the remote process to be stopped", TIMEOUT, || async {
        let list = processes_with(&cluster, "started").await.ok()?;
        list.into_iter()
            .find(|p| p.state == ProcessState::Stopped as i32)
    })
    .await?;

    // fg continues both; input reaches the remote process again.
    pty.send("fg\r")?;
    tests::wait_for_state(
        &cluster.nodes[0].client().await?,
        stopped.pid,
        ProcessState::Running,
    )
    .await?;
    pty.send("hello\r")?;
    pty.expect("got hello")?;

    // Ctrl-C kills it by SIGINT: $? is 130.
    pty.send("\x03")?;
    pty.expect("PROMPT$ ")?;
    pty.send("echo status=$?\r")?;
    pty.expect("status=130")?;
    pty.expect("PROMPT$ ")?;

    // And a loop of remote commands stops on Ctrl-C.
    pty.send(&format!(
        "while :; do nsh @{n2} sh -c 'echo lo''oping; sleep 60'; done; echo after''-loop\r"
    ))?;
    pty.expect("looping")?;
    pty.send("\x03")?;
    pty.expect("PROMPT$ ")?;
    pty.send("echo status=$?\r")?;
    pty.expect("status=130")?;
    let seen = pty.seen();
    assert!(!seen.contains("after-loop\r\n"), "{seen:?}");
    pty.send("exit\r")?;
    Ok(())
}

/// One `nsh --dev` at a time in this file: each mounts /nefele when it
/// is free, and the clean-up checks look at /nefele.
static DEV_SHELL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn a_killed_dev_shell_leaves_nothing_behind() -> anyhow::Result<()> {
    let _one = DEV_SHELL.lock().await;
    let mounted_before = tests::is_mount_point(Path::new("/nefele"));
    let mut nsh = KillOnDrop(
        Command::new(binary("nsh"))
            .args(["--dev", "2"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?,
    );
    let stderr = nsh.0.stderr.take().context("stderr is piped")?;
    let log = Arc::new(Mutex::new(Vec::new()));
    std::thread::spawn({
        let log = log.clone();
        move || copy_into(stderr, &log)
    });
    let seen = || text(&log.lock().unwrap_or_else(|e| e.into_inner()));
    wait_until("the dev cluster to be up", TIMEOUT * 2, || {
        let s = seen();
        async move { s.contains(" up; NEFELE_ADDR=").then_some(()) }
    })
    .await
    .with_context(seen)?;
    let dir: PathBuf = seen()
        .split_once(" nodes in ")
        .and_then(|(_, rest)| rest.split_once(" (logs"))
        .map(|(dir, _)| dir.into())
        .context("the temp dir is announced")?;
    assert!(dir.join("n1.sock").exists(), "{}", seen());
    let mine = || processes_mentioning(&dir);
    assert!(mine().len() >= 2, "two nodes run: {}", seen());

    nsh.0.kill()?;
    nsh.0.wait()?;
    wait_until("the guardian to clean up", TIMEOUT, || {
        let clean = mine().is_empty() && !dir.exists();
        async move { clean.then_some(()) }
    })
    .await
    .with_context(|| format!("left: {:?}, dir exists: {}", mine(), dir.exists()))?;
    if !mounted_before {
        assert!(!tests::is_mount_point(Path::new("/nefele")));
    }
    Ok(())
}

/// As soon as `nsh --dev` says its nodes are up, every node routes every
/// other node's PIDs: pipes between the two nodes that joined last, run
/// at once, twice. (A node whose copy of the store had not caught up yet
/// called a node that had just joined unknown: "no such process
/// 30000001 (slot 3 is not a member of this cluster)", most runs.)
#[tokio::test]
async fn a_dev_cluster_routes_every_pid_at_once() -> anyhow::Result<()> {
    let _one = DEV_SHELL.lock().await;
    let script = "@n3 head -c 5 /dev/zero | @n2 wc -c; @n2 head -c 7 /dev/zero | @n3 wc -c";
    for _ in 0..2 {
        let run = tokio::process::Command::new(binary("nsh"))
            .args(["--dev", "-c", script])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(TIMEOUT * 2, run)
            .await
            .context("nsh --dev -c did not end")??;
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(
            out.status.success() && stdout == "5\n7\n",
            "{:?}: {stdout:?}, {stderr}",
            out.status
        );
    }
    Ok(())
}

/// A dev shell whose stderr's reader goes away (its first line read by
/// `head -1`) still stops what it started: its next message to stderr
/// fails, and nodes, mount and temp dir go (the mount was left behind,
/// announced before it was recorded).
#[tokio::test]
async fn a_dev_shell_without_stderr_leaves_nothing_behind() -> anyhow::Result<()> {
    let _one = DEV_SHELL.lock().await;
    let mounted_before = tests::is_mount_point(Path::new("/nefele"));
    let run = Command::new("timeout")
        .args(["60", "bash", "-c", "nsh --dev -c 'sleep 1' 2>&1 | head -1"])
        .env("PATH", path_with_nsh())
        .stdin(Stdio::null())
        .output()
        .context("cannot run bash")?;
    let first = text(&run.stdout);
    let dir: PathBuf = first
        .split_once(" nodes in ")
        .and_then(|(_, rest)| rest.split_once(" (logs"))
        .map(|(dir, _)| dir.into())
        .with_context(|| format!("the temp dir is announced: {first:?}"))?;
    let mine = || processes_mentioning(&dir);
    let cleaned = wait_until("nsh to clean up", TIMEOUT, || {
        let clean = mine().is_empty() && !dir.exists();
        async move { clean.then_some(()) }
    })
    .await
    .with_context(|| format!("left: {:?}, dir exists: {}", mine(), dir.exists()));
    let mount_left = !mounted_before && tests::is_mount_point(Path::new("/nefele"));
    if cleaned.is_err() || mount_left {
        // What nsh left, this test removes (nefelefs first: it holds the
        // mount).
        for pid in mine() {
            let _ = kill(pid, Signal::SIGKILL);
        }
        if mount_left {
            let _ = Command::new("umount").args(["-l", "/nefele"]).status();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    cleaned?;
    assert!(!mount_left, "/nefele was left mounted");
    Ok(())
}

/// Live host processes whose command line mentions `dir`.
fn processes_mentioning(dir: &Path) -> Vec<Pid> {
    let wanted = dir.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .map(Pid::from_raw)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| text(&c).contains(&wanted))
                .unwrap_or(false)
                && host_alive(*pid)
        })
        .collect()
}

/// A child killed (and reaped) when the test ends, even on failure.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (bounded) for a child to exit.
fn wait_child(child: &mut Child) -> anyhow::Result<std::process::ExitStatus> {
    tests::wait_until_blocking("the child to exit", TIMEOUT, || {
        child.try_wait().ok().flatten()
    })
}

fn copy_into(mut from: impl Read, into: &Mutex<Vec<u8>>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            return;
        }
        into.lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(&buf[..n]);
    }
}

/// A command running as the session leader of a new pseudo-terminal, as
/// under a terminal emulator; what it prints is collected.
struct Pty {
    master: std::fs::File,
    output: Arc<Mutex<Vec<u8>>>,
    /// How far `expect` has consumed the output.
    consumed: usize,
    child: KillOnDrop,
}

impl Pty {
    fn spawn(mut command: Command, rows: u16, cols: u16) -> anyhow::Result<Pty> {
        let size = nix::pty::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&size), None)?;
        let slave: OwnedFd = pty.slave;
        command
            .stdin(slave.try_clone()?)
            .stdout(slave.try_clone()?)
            .stderr(slave);
        // SAFETY: setsid and ioctl are async-signal-safe; fd 0 is the
        // terminal's slave side.
        unsafe {
            command.pre_exec(|| {
                nix::unistd::setsid()?;
                if libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = KillOnDrop(command.spawn().context("cannot start under a pty")?);
        let master = std::fs::File::from(pty.master);
        let output = Arc::new(Mutex::new(Vec::new()));
        std::thread::spawn({
            let reader = master.try_clone()?;
            let output = output.clone();
            move || copy_into(reader, &output)
        });
        Ok(Pty {
            master,
            output,
            consumed: 0,
            child,
        })
    }

    fn seen(&self) -> String {
        text(&self.output.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Waits until `wanted` appears after what was consumed; returns the
    /// output up to it and consumes it.
    fn expect(&mut self, wanted: &str) -> anyhow::Result<String> {
        let consumed = self.consumed;
        let found = tests::wait_until_blocking(&format!("{wanted:?}"), TIMEOUT, || {
            let all = self.seen();
            let at = all.get(consumed..)?.find(wanted)?;
            Some((all[consumed..consumed + at + wanted.len()].to_string(), at))
        });
        match found {
            Ok((got, at)) => {
                self.consumed = consumed + at + wanted.len();
                Ok(got)
            }
            Err(e) => anyhow::bail!(
                "{e}; terminal shows {:?}",
                self.seen().get(consumed..).unwrap_or_default()
            ),
        }
    }

    fn send(&mut self, keys: &str) -> anyhow::Result<()> {
        self.master.write_all(keys.as_bytes())?;
        Ok(())
    }

    /// Resizes the terminal (its foreground process group gets SIGWINCH).
    fn resize(&self, rows: u16, cols: u16) -> anyhow::Result<()> {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize from a live struct; the
        // master fd is open.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
        anyhow::ensure!(rc == 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
        Ok(())
    }
}
