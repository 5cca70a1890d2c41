//! Processes outlive noded (SPEC §2, §10): a crash, a planned restart or an
//! upgrade of the daemon stops nothing; the keeper holds the processes and
//! the next noded adopts them. Only the keeper's own death (or a reboot)
//! loses them, and then they are reported lost, never left unaccounted.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use proto::v1::{
    AttachRequest, AttachStart, InputChunk, OutputStream, ProcessState, SpawnRequest, StdinMode,
    TerminalSize, attach_event, attach_request,
};
use tests::{
    Node, TIMEOUT, TestCluster, get, host_alive, read_output, request, signal, spawn, state, wait,
    wait_for_stdout, wait_until,
};

/// A shell loop printing 0, 1, 2, ... every 100 ms.
const COUNTER: &str = "i=0; while :; do echo $i; i=$((i+1)); sleep 0.1; done";

/// The numbers a counter printed, checked to be 0, 1, 2, ... with no gap.
fn counted(out: &[u8]) -> usize {
    let text = String::from_utf8_lossy(out);
    let numbers: Vec<usize> = text.lines().map(|l| l.parse().expect("a number")).collect();
    for (i, n) in numbers.iter().enumerate() {
        assert_eq!(*n, i, "the output has a gap or a repeat: {text}");
    }
    numbers.len()
}

/// How noded goes away in a test.
#[derive(Clone, Copy, Debug)]
enum Away {
    Crash,
    Stop,
}

async fn go_away(node: &mut Node, how: Away) -> anyhow::Result<()> {
    match how {
        Away::Crash => node.crash(),
        Away::Stop => {
            let status = node.stop().await?;
            anyhow::ensure!(status.success(), "noded exits 0 on SIGTERM: {status}");
            Ok(())
        }
    }
}

/// The whole story of issue #15 for one way of going away, on node 2 of a
/// cluster, watched through node 1: a counter, a stdin pipe and a process
/// that exits while noded is away.
async fn processes_survive(how: Away) -> anyhow::Result<()> {
    let mut cluster = TestCluster::start(2).await?;
    let n2 = cluster.nodes[1].name.clone();
    let on_n2 = |argv: &[&str]| SpawnRequest {
        node: n2.clone(),
        ..request(argv)
    };
    let mut client = cluster.nodes[0].client().await?;
    let counter = client
        .spawn(on_n2(&["sh", "-c", COUNTER]))
        .await?
        .into_inner();
    let mut cat = on_n2(&["cat"]);
    cat.stdin = StdinMode::Pipe as i32;
    let cat = client.spawn(cat).await?.into_inner();
    let trigger = cluster.nodes[1].data_dir().join("exit-now");
    let script = format!(
        "while [ ! -e {} ]; do sleep 0.05; done; echo bye; exit 7",
        trigger.display()
    );
    let sevens = client
        .spawn(on_n2(&["sh", "-c", &script]))
        .await?
        .into_inner();
    assert_eq!(
        (counter.node.as_str(), sevens.node.as_str()),
        (n2.as_str(), n2.as_str())
    );
    wait_for_stdout(&client, counter.pid, |out| {
        (out.lines().count() >= 3).then_some(())
    })
    .await?;

    go_away(&mut cluster.nodes[1], how).await?;
    let leader = Pid::from_raw(counter.host_pid);
    assert!(host_alive(leader), "the counter outlives noded");
    assert!(host_alive(Pid::from_raw(cat.host_pid)));
    // While noded is away: one process ends, the counter keeps counting.
    std::fs::write(&trigger, b"")?;
    let sevens_host = Pid::from_raw(sevens.host_pid);
    wait_until(
        "the process to exit while noded is away",
        TIMEOUT,
        || async { (!host_alive(sevens_host)).then_some(()) },
    )
    .await?;
    let log = cluster.nodes[1]
        .data_dir()
        .join(format!("procs/{}/stdout.0", counter.pid));
    let before = std::fs::read(&log)?.len();
    wait_until("the counter to write while noded is away", TIMEOUT, || {
        let log = log.clone();
        async move { (std::fs::read(&log).ok()?.len() > before + 8).then_some(()) }
    })
    .await?;

    cluster.nodes[1].restart().await?;
    cluster.wait_members_up(2).await?;
    let back = get(&mut client, counter.pid).await?;
    assert_eq!(state(&back), ProcessState::Running, "{back:?}");
    assert_eq!(back.host_pid, counter.host_pid, "the same host process");
    let ended = get(&mut client, sevens.pid).await?;
    assert_eq!(
        (state(&ended), ended.exit_code),
        (ProcessState::Exited, Some(7)),
        "the real exit status of a process that ended while noded was away"
    );
    assert_eq!(
        read_output(&mut client, sevens.pid, OutputStream::Stdout).await?,
        b"bye\n"
    );
    // Output followed live after the restart, with nothing missing.
    let seen = wait_for_stdout(&client, counter.pid, |out| {
        let n = out.lines().count();
        (n >= 3 + 20).then_some(out.as_bytes().to_vec())
    })
    .await?;
    let whole_lines = seen.iter().rposition(|b| *b == b'\n').expect("a line") + 1;
    counted(&seen[..whole_lines]);

    // stdin is still connected.
    let chunks = [
        InputChunk {
            pid: cat.pid,
            data: b"still here\n".to_vec(),
            eof: false,
        },
        InputChunk {
            pid: cat.pid,
            data: Vec::new(),
            eof: true,
        },
    ];
    client.write_input(futures::stream::iter(chunks)).await?;
    let cat_done = wait(&mut client, cat.pid).await?;
    assert_eq!(cat_done.exit_code, Some(0));
    assert_eq!(
        read_output(&mut client, cat.pid, OutputStream::Stdout).await?,
        b"still here\n"
    );

    // Signal and Wait work on the adopted process.
    signal(&mut client, counter.pid, libc::SIGTERM).await?;
    let done = wait(&mut client, counter.pid).await?;
    assert_eq!(
        (state(&done), done.signal),
        (ProcessState::Killed, Some(libc::SIGTERM))
    );
    counted(&read_output(&mut client, counter.pid, OutputStream::Stdout).await?);
    assert!(!host_alive(leader));

    let next = client.spawn(on_n2(&["true"])).await?.into_inner();
    assert!(next.pid > sevens.pid, "PIDs are not reused");
    Ok(())
}

#[tokio::test]
async fn processes_outlive_a_crashed_noded_and_are_adopted() -> anyhow::Result<()> {
    processes_survive(Away::Crash).await
}

#[tokio::test]
async fn processes_outlive_a_planned_restart_and_are_adopted() -> anyhow::Result<()> {
    processes_survive(Away::Stop).await
}

/// Reads attach events until `done` says the output is what it waits for.
async fn read_until(
    events: &mut tonic::Streaming<proto::v1::AttachEvent>,
    out: &mut Vec<u8>,
    done: impl Fn(&str) -> bool,
) -> anyhow::Result<()> {
    while !done(&String::from_utf8_lossy(out)) {
        match tokio::time::timeout(TIMEOUT, events.message())
            .await??
            .and_then(|e| e.event)
        {
            Some(attach_event::Event::Stdout(c)) => out.extend(c.data),
            Some(attach_event::Event::Error(e)) => anyhow::bail!("attach error: {e}"),
            // The node acknowledges each stdin message.
            Some(attach_event::Event::StdinAccepted(_)) => {}
            other => anyhow::bail!(
                "unexpected {other:?} after {:?}",
                String::from_utf8_lossy(out)
            ),
        }
    }
    Ok(())
}

/// A process started right before its noded stops (SIGTERM, well inside
/// the 2 s between two publications of the running set) shows as `lost`
/// on the other nodes while its node is away, not hidden (SPEC §10).
#[tokio::test]
async fn a_process_started_just_before_a_restart_shows_as_lost_meanwhile() -> anyhow::Result<()> {
    use proto::v1::ListRequest;
    let mut cluster = TestCluster::start(2).await?;
    let mut asker = cluster.nodes[0].client().await?;
    let spawned = asker
        .spawn(proto::v1::SpawnRequest {
            node: cluster.nodes[1].name.clone(),
            ..request(&["sleep", "4747"])
        })
        .await?
        .into_inner();
    assert!(cluster.nodes[1].stop().await?.success());
    wait_until("the process listed as lost", TIMEOUT, || {
        let mut asker = asker.clone();
        async move {
            let list = asker.list(ListRequest::default()).await.ok()?.into_inner();
            list.processes
                .iter()
                .any(|p| p.pid == spawned.pid && p.state == ProcessState::Lost as i32)
                .then_some(())
        }
    })
    .await?;
    cluster.nodes[1].restart().await?;
    cluster.wait_members_up(2).await?;
    let mut owner = cluster.nodes[1].client().await?;
    assert_eq!(
        state(&get(&mut owner, spawned.pid).await?),
        ProcessState::Running
    );
    signal(&mut owner, spawned.pid, libc::SIGKILL).await?;
    Ok(())
}

/// A restart of the node a foreground command runs on is not its end for
/// the shell (SPEC §10): `nsh @n2 CMD` run from another shell, and a
/// script's `@n2 CMD` whose output nsh relays, attach again once n2 is
/// back and relay the rest of the output, without gaps or repeats, and
/// the command's own exit status.
#[tokio::test]
async fn nsh_attaches_again_after_the_command_s_node_restarts() -> anyhow::Result<()> {
    use std::io::Read;
    let mut cluster = TestCluster::start(2).await?;
    let n2 = cluster.nodes[1].name.clone();
    let dir = tempfile::tempdir()?;
    let d = dir.path().display();
    let counter = |tag: &str| {
        format!(
            "touch {d}/started-{tag}; i=0; while [ ! -e {d}/go ]; do echo $i; i=$((i+1)); sleep 0.2; done; echo done; exit 4"
        )
    };
    let nsh = |args: &[&str]| {
        std::process::Command::new(tests::binary("nsh"))
            .args(args)
            .env("NEFELE_ADDR", cluster.nodes[0].addr().to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
    };
    let relay = nsh(&[&format!("@{n2}"), "sh", "-c", &counter("relay")])?;
    let script = format!(
        "@{n2} sh -c '{}'; echo status $?",
        counter("script").replace('\'', "'\\''")
    );
    let scripted = nsh(&["-c", &script])?;
    wait_until("both commands to run", TIMEOUT, || async {
        (dir.path().join("started-relay").exists() && dir.path().join("started-script").exists())
            .then_some(())
    })
    .await?;
    assert!(cluster.nodes[1].stop().await?.success());
    cluster.nodes[1].restart().await?;
    cluster.wait_members_up(2).await?;
    std::fs::write(dir.path().join("go"), "")?;
    for (mut child, what, status, last) in [
        (relay, "nsh @n2", Some(4), "done"),
        (scripted, "nsh -c", Some(0), "status 4"),
    ] {
        let ended = wait_until(&format!("{what} to end"), TIMEOUT, || {
            let ended = child.try_wait().ok().flatten();
            async move { ended }
        })
        .await;
        if ended.is_err() {
            let _ = child.kill();
        }
        let mut out = String::new();
        let mut err = String::new();
        child.stdout.take().map(|mut s| s.read_to_string(&mut out));
        child.stderr.take().map(|mut s| s.read_to_string(&mut err));
        let ended = ended?;
        let lines: Vec<&str> = out.lines().collect();
        let numbers = &lines[..lines
            .len()
            .saturating_sub(if what == "nsh -c" { 2 } else { 1 })];
        let counted = numbers
            .iter()
            .enumerate()
            .all(|(i, l)| l.parse::<usize>() == Ok(i));
        assert!(
            ended.code() == status && counted && numbers.len() > 1 && lines.last() == Some(&last),
            "{what}: {ended:?}\n--- stdout\n{out}--- stderr\n{err}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_terminal_process_can_be_attached_again_after_a_restart() -> anyhow::Result<()> {
    let mut node = Node::start().await?;
    let mut client = node.client().await?;
    let mut req = request(&["sh"]);
    req.tty = Some(TerminalSize { rows: 24, cols: 80 });
    let p = client.spawn(req).await?.into_inner();
    node.crash()?;
    node.restart().await?;
    let mut client = node.client().await?;

    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let msg = |r| AttachRequest { request: Some(r) };
    tx.send(msg(attach_request::Request::Start(AttachStart {
        pid: p.pid,
        replay: false,
        ..Default::default()
    })))
    .await?;
    let mut events = client
        .attach(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    tx.send(msg(attach_request::Request::Stdin(
        b"echo $((6*7))-after\n".to_vec(),
    )))
    .await?;
    let mut out = Vec::new();
    read_until(&mut events, &mut out, |o| o.contains("42-after")).await?;
    tx.send(msg(attach_request::Request::Resize(TerminalSize {
        rows: 30,
        cols: 100,
    })))
    .await?;
    tx.send(msg(attach_request::Request::Stdin(b"stty size\n".to_vec())))
        .await?;
    read_until(&mut events, &mut out, |o| o.contains("30 100")).await?;
    tx.send(msg(attach_request::Request::Stdin(b"exit 3\n".to_vec())))
        .await?;
    let exit = loop {
        match tokio::time::timeout(TIMEOUT, events.message())
            .await??
            .and_then(|e| e.event)
        {
            Some(attach_event::Event::Exit(info)) => break info,
            Some(_) => continue,
            None => anyhow::bail!("the stream ended without an exit"),
        }
    };
    assert_eq!(exit.exit_code, Some(3));
    Ok(())
}

#[tokio::test]
async fn a_killed_keeper_leaves_its_processes_lost_and_stopped() -> anyhow::Result<()> {
    let node = Node::start().await?;
    let mut client = node.client().await?;
    let p = spawn(&mut client, &["sh", "-c", "sleep 1000 & echo $!; wait"]).await?;
    let grandchild: i32 = wait_for_stdout(&client, p.pid, |out| out.trim().parse().ok()).await?;
    let keeper = node.keeper_pid().expect("a keeper runs");
    // `ps -e` and top show it by a name of its own (not `exe`, nor
    // `noded`, which `pkill noded` would reach).
    let comm = std::fs::read_to_string(format!("/proc/{keeper}/comm"))?;
    assert_eq!(comm.trim(), "nefele-keeper");
    kill(keeper, Signal::SIGKILL)?;

    let lost = wait_until("the process to be reported lost", TIMEOUT, || {
        let mut c = client.clone();
        async move {
            let info = get(&mut c, p.pid).await.ok()?;
            (state(&info) == ProcessState::Lost).then_some(info)
        }
    })
    .await?;
    assert!(
        lost.lost_reason.contains("keeper died"),
        "{}",
        lost.lost_reason
    );
    assert!(
        !host_alive(Pid::from_raw(p.host_pid)),
        "the leader died with its keeper"
    );
    assert!(
        !host_alive(Pid::from_raw(grandchild)),
        "what the leader started is stopped too"
    );
    assert!(node.leftover_processes().is_empty());

    // A new keeper takes the next processes.
    let next = spawn(&mut client, &["sh", "-c", "echo fresh"]).await?;
    wait(&mut client, next.pid).await?;
    assert_eq!(
        read_output(&mut client, next.pid, OutputStream::Stdout).await?,
        b"fresh\n"
    );
    assert_ne!(node.keeper_pid(), Some(keeper));
    Ok(())
}

#[tokio::test]
async fn stopping_the_keeper_stops_every_process() -> anyhow::Result<()> {
    let mut node = Node::start().await?;
    let mut client = node.client().await?;
    let p = spawn(&mut client, &["sh", "-c", "sleep 1000 & wait"]).await?;
    drop(client);
    node.stop().await?;
    assert!(host_alive(Pid::from_raw(p.host_pid)));
    node.stop_keeper();
    assert!(node.keeper_pid().is_none(), "the keeper exits on SIGTERM");
    wait_until(
        "the keeper to take every group with it",
        TIMEOUT,
        || async { node.leftover_processes().is_empty().then_some(()) },
    )
    .await?;
    node.restart().await?;
    let info = get(&mut node.client().await?, p.pid).await?;
    assert_eq!(state(&info), ProcessState::Lost);
    Ok(())
}

/// One length-delimited message to the keeper's socket, and its answer.
fn exchange(
    stream: &mut std::os::unix::net::UnixStream,
    frame: &[u8],
) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::{Read, Write};
    stream.write_all(&(frame.len() as u32).to_be_bytes())?;
    stream.write_all(frame)?;
    let mut len = [0u8; 4];
    match stream.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut body = vec![0; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body)?;
    Ok(Some(body))
}

#[tokio::test]
async fn the_keeper_refuses_another_protocol_version_and_junk() -> anyhow::Result<()> {
    use prost::Message;
    use proto::keeper as k;
    let node = Node::start().await?;
    let mut client = node.client().await?;
    let p = spawn(&mut client, &["sleep", "1000"]).await?;
    let socket = node.data_dir().join("keeper.sock");
    let connect = || -> anyhow::Result<std::os::unix::net::UnixStream> {
        let s = std::os::unix::net::UnixStream::connect(&socket)?;
        s.set_read_timeout(Some(TIMEOUT))?;
        Ok(s)
    };

    // A noded of another protocol version is told so, and adopts nothing.
    let hello = k::ToKeeper {
        id: 1,
        body: Some(k::to_keeper::Body::Hello(k::Hello {
            version: 999,
            bound: true,
        })),
    };
    let answer = exchange(&mut connect()?, &hello.encode_to_vec())?.expect("an answer");
    let reply = k::FromKeeper::decode(answer.as_slice())?;
    let Some(k::from_keeper::Body::Reply(k::Reply {
        body: Some(k::reply::Body::Failure(f)),
        ..
    })) = reply.body
    else {
        panic!("expected a refusal, got {reply:?}");
    };
    assert_eq!(f.errno, libc::EPROTONOSUPPORT, "{}", f.message);

    // Junk instead of Hello: the connection is closed.
    assert_eq!(exchange(&mut connect()?, b"\xff\xfe junk")?, None);

    // Neither harmed the keeper nor its processes (the "bound" Hello of
    // the wrong version bound nothing).
    signal(&mut client, p.pid, 0).await?;
    assert_eq!(
        state(&get(&mut client, p.pid).await?),
        ProcessState::Running
    );
    let q = spawn(&mut client, &["sh", "-c", "echo ok"]).await?;
    wait(&mut client, q.pid).await?;
    assert_eq!(
        read_output(&mut client, q.pid, OutputStream::Stdout).await?,
        b"ok\n"
    );
    Ok(())
}

#[tokio::test]
async fn stopping_a_process_stops_what_left_its_group() -> anyhow::Result<()> {
    if !std::path::Path::new("/sys/fs/cgroup/pids").is_dir() {
        eprintln!("skipped: no cgroup v1 pids hierarchy on this machine");
        return Ok(());
    }
    let node = Node::start().await?;
    let mut client = node.client().await?;
    // `setsid` puts the sleep in a session and group of its own: a signal to
    // the process's group does not reach it.
    let p = spawn(
        &mut client,
        &["sh", "-c", "setsid sleep 1000 & echo $!; wait"],
    )
    .await?;
    let escaped: i32 = wait_for_stdout(&client, p.pid, |out| out.trim().parse().ok()).await?;
    let escaped = Pid::from_raw(escaped);
    wait_until("the sleep to run in its own session", TIMEOUT, || async {
        let stat = std::fs::read_to_string(format!("/proc/{escaped}/stat")).ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        (fields.get(2) == Some(&escaped.to_string().as_str())).then_some(())
    })
    .await?;
    signal(&mut client, p.pid, libc::SIGTERM).await?;
    wait(&mut client, p.pid).await?;
    wait_until("the escaped process to be stopped too", TIMEOUT, || async {
        (!host_alive(escaped)).then_some(())
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn processes_survive_an_upgrade_in_place() -> anyhow::Result<()> {
    // The installed binary is replaced as a package manager does (a new
    // file under the same name) while noded is stopped; the keeper runs on
    // from the old one and the new noded adopts its processes.
    let bin = tempfile::tempdir()?;
    let exe = bin.path().join("noded");
    std::fs::copy(tests::binary("noded"), &exe)?;
    let mut node = Node::start_with(tests::NodeOptions {
        noded: Some(exe.clone()),
        ..tests::NodeOptions::default()
    })
    .await?;
    let mut client = node.client().await?;
    let p = spawn(&mut client, &["sh", "-c", COUNTER]).await?;
    wait_for_stdout(&client, p.pid, |out| {
        (out.lines().count() >= 2).then_some(())
    })
    .await?;
    let keeper = node.keeper_pid().expect("a keeper runs");
    drop(client);

    assert!(node.stop().await?.success());
    std::fs::remove_file(&exe)?;
    std::fs::copy(tests::binary("noded"), &exe)?;
    node.restart().await?;
    let keeper_exe = std::fs::read_link(format!("/proc/{keeper}/exe"))?;
    assert!(
        keeper_exe.to_string_lossy().ends_with("(deleted)"),
        "the keeper still runs the replaced binary: {}",
        keeper_exe.display()
    );
    assert_eq!(node.keeper_pid(), Some(keeper), "the same keeper");
    let mut client = node.client().await?;
    let back = get(&mut client, p.pid).await?;
    assert_eq!(
        (state(&back), back.host_pid),
        (ProcessState::Running, p.host_pid)
    );
    signal(&mut client, p.pid, libc::SIGKILL).await?;
    let done = wait(&mut client, p.pid).await?;
    assert_eq!(done.signal, Some(libc::SIGKILL));
    counted(&read_output(&mut client, p.pid, OutputStream::Stdout).await?);
    Ok(())
}
