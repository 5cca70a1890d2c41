//! The interactive nsh through a real pseudo-terminal, as a user at a
//! keyboard sees it: the prompt names the node, Ctrl-C interrupts a remote
//! command and the shell survives, Ctrl-Z stops it and `fg` resumes it, Tab
//! completes node names and PIDs, history survives a restart, and a remote
//! command started from a terminal gets a terminal of its own.

use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use proto::v1::{ListRequest, ProcessInfo, ProcessState};
use tests::pty::Pty;
use tests::{TIMEOUT, TestCluster, binary, wait_until};

/// Starts nsh on a terminal, connected to node `node` of `cluster`, with
/// its own HOME (for the history file).
fn nsh(cluster: &TestCluster, node: usize, home: &std::path::Path) -> anyhow::Result<Pty> {
    let mut command = Command::new(binary("nsh"));
    command
        .env("NEFELE_ADDR", cluster.nodes[node].addr().to_string())
        .env("HOME", home)
        .env("TERM", "xterm")
        .current_dir(home);
    Pty::spawn(command)
}

/// A cluster of `nodes` and an nsh on a terminal connected to its first
/// node, at its prompt; also that node's name.
async fn session(nodes: usize) -> anyhow::Result<(TestCluster, tempfile::TempDir, String, Pty)> {
    let cluster = TestCluster::start(nodes).await?;
    let home = tempfile::tempdir()?;
    let n0 = cluster.nodes[0].name.clone();
    let mut sh = nsh(&cluster, 0, home.path())?;
    sh.expect(&format!("{n0}:"), TIMEOUT)?;
    Ok((cluster, home, n0, sh))
}

/// The running processes whose command line is `argv`.
async fn running(cluster: &TestCluster, argv: &[&str]) -> anyhow::Result<Vec<ProcessInfo>> {
    let mut client = cluster.nodes[0].client().await?;
    let list = client
        .list(ListRequest {
            node: String::new(),
            states: vec![ProcessState::Running as i32, ProcessState::Stopped as i32],
            ..ListRequest::default()
        })
        .await?
        .into_inner();
    Ok(list
        .processes
        .into_iter()
        .filter(|p| p.argv == argv)
        .collect())
}

/// Waits for exactly one live process running `argv`, in `state`.
async fn one_in_state(
    cluster: &TestCluster,
    argv: &[&str],
    state: ProcessState,
) -> anyhow::Result<ProcessInfo> {
    let found = wait_until(&format!("{argv:?} to be {state:?}"), TIMEOUT, || async {
        let found = running(cluster, argv).await.ok()?;
        match found.as_slice() {
            [one] if one.state == state as i32 => Some(one.clone()),
            _ => None,
        }
    })
    .await;
    if found.is_err() {
        let now = running(cluster, argv).await?;
        let states: Vec<(i32, i32)> = now.iter().map(|p| (p.pid, p.state)).collect();
        return found.context(format!("found (pid, state): {states:?}"));
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn prompt_ctrl_c_ctrl_z_fg() -> anyhow::Result<()> {
    let (cluster, _home, n0, mut sh) = session(2).await?;
    let n1 = cluster.nodes[1].name.clone();

    // Ctrl-C interrupts a remote sleep; the shell lives on.
    sh.send(&format!("@{n1} sleep 301\r"))?;
    let sleeper = one_in_state(&cluster, &["sleep", "301"], ProcessState::Running).await?;
    assert_eq!(sleeper.node, n1);
    sh.send("\x03")?;
    let mut client = cluster.nodes[0].client().await?;
    let ended = tests::wait(&mut client, sleeper.pid).await?;
    assert_eq!(ended.signal, Some(libc::SIGINT), "{ended:?}");
    // Like with any program that does not read its input, what is typed
    // after the prompt is back goes to the shell.
    sh.expect(&format!("{n0}:"), TIMEOUT)?;
    sh.send("echo status=$?\r")?;
    sh.expect("status=130", TIMEOUT)?;

    // Ctrl-Z stops it and gives the prompt back; fg continues it.
    sh.send("sleep 302\r")?;
    let sleeper = one_in_state(&cluster, &["sleep", "302"], ProcessState::Running)
        .await
        .map_err(|e| e.context(sh.transcript.clone()))?;
    sh.send("\x1a")?;
    sh.expect("Stopped", TIMEOUT)?;
    one_in_state(&cluster, &["sleep", "302"], ProcessState::Stopped)
        .await
        .map_err(|e| e.context(sh.transcript.clone()))?;
    sh.expect(&format!("{n0}:"), TIMEOUT)?;
    // `ps` shows it stopped.
    sh.send(&format!("ps -o pid,stat,cmd | grep -w {}\r", sleeper.pid))?;
    sh.expect(&format!("{} T    sleep 302", sleeper.pid), TIMEOUT)?;
    sh.expect(&format!("{n0}:"), TIMEOUT)?;
    sh.send("jobs\r")?;
    sh.expect("Stopped                 sleep 302", TIMEOUT)?;
    sh.expect(&format!("{n0}:"), TIMEOUT)?;
    sh.send("fg\r")?;
    sh.expect("fg", TIMEOUT)?;
    sh.expect("sleep 302", TIMEOUT)?;
    one_in_state(&cluster, &["sleep", "302"], ProcessState::Running)
        .await
        .map_err(|e| e.context(sh.transcript.clone()))?;
    sh.send("\x03")?;
    let ended = tests::wait(&mut client, sleeper.pid).await?;
    assert_eq!(ended.signal, Some(libc::SIGINT), "{ended:?}");
    sh.expect(&format!("{n0}:"), TIMEOUT)?;
    sh.send("echo alive\r")?;
    sh.expect("alive", TIMEOUT)?;
    sh.expect(&format!("{n0}:"), TIMEOUT)?;
    sh.send("exit\r")?;
    assert_eq!(sh.wait_exit(TIMEOUT)?, Some(0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn tab_completes_nodes_and_pids() -> anyhow::Result<()> {
    let (cluster, _home, n0, mut sh) = session(1).await?;

    // A node name after `@`.
    let prefix = &n0[..n0.len() - 1];
    sh.send(&format!("echo @{prefix}\t"))?;
    sh.send("\r")?;
    sh.expect(&format!("\n@{n0}"), TIMEOUT)?;

    // A PID after `kill`.
    sh.send("sleep 303 &\r")?;
    let sleeper = one_in_state(&cluster, &["sleep", "303"], ProcessState::Running).await?;
    let pid = sleeper.pid.to_string();
    sh.send(&format!("kill {}\t", &pid[..pid.len() - 1]))?;
    sh.expect(&format!("kill {pid}"), TIMEOUT)?;
    sh.send("\r")?;
    let mut client = cluster.nodes[0].client().await?;
    let ended = tests::wait(&mut client, sleeper.pid).await?;
    assert_eq!(ended.signal, Some(libc::SIGTERM), "{ended:?}");
    sh.send("exit\r")?;
    sh.wait_exit(TIMEOUT)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn history_survives_a_restart() -> anyhow::Result<()> {
    let (cluster, home, n0, mut sh) = session(1).await?;
    sh.send("echo remembered-$((6*7))\r")?;
    sh.expect("remembered-42", TIMEOUT)?;
    sh.send("exit\r")?;
    sh.wait_exit(TIMEOUT)?;

    let mut sh = nsh(&cluster, 0, home.path())?;
    sh.expect(&format!("{n0}:"), TIMEOUT)?;
    // Up arrow recalls the commands of the previous session (`exit`
    // first, as in bash).
    sh.send("\x1b[A")?;
    sh.expect("exit", TIMEOUT)?;
    sh.send("\x1b[A")?;
    sh.expect("echo remembered-$((6*7))", TIMEOUT)?;
    sh.send("\r")?;
    sh.expect("remembered-42", TIMEOUT)?;
    sh.send("exit\r")?;
    sh.wait_exit(TIMEOUT)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn multi_line_input_continues() -> anyhow::Result<()> {
    let (_cluster, _home, _n0, mut sh) = session(1).await?;
    sh.send("if true; then\r")?;
    sh.send("echo inside-$((1+1))\r")?;
    sh.send("fi\r")?;
    sh.expect("inside-2", TIMEOUT)?;
    sh.send("exit 3\r")?;
    assert_eq!(sh.wait_exit(Duration::from_secs(30))?, Some(3));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn remote_command_gets_a_terminal() -> anyhow::Result<()> {
    let (cluster, _home, n0, mut sh) = session(2).await?;
    let n1 = cluster.nodes[1].name.clone();
    sh.send(&format!("@{n1} sh\r"))?;
    sh.expect(&format!("@{n1} sh"), TIMEOUT)?;
    // The remote shell's own prompt, on its own terminal.
    sh.expect("# ", TIMEOUT)?;
    sh.send("tty && echo on-$NEFELE_NODE\r")?;
    sh.expect("/dev/pts/", TIMEOUT)?;
    sh.expect(&format!("on-{n1}"), TIMEOUT)?;
    sh.send("exit 4\r")?;
    sh.expect(&format!("{n0}:"), TIMEOUT)?;
    sh.send("echo back=$?\r")?;
    sh.expect("back=4", TIMEOUT)?;
    sh.expect(&format!("{n0}:"), TIMEOUT)?;
    sh.send("exit\r")?;
    sh.wait_exit(TIMEOUT)?;
    Ok(())
}
