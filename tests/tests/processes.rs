//! Running processes through a real noded: exit status, output capture and
//! streaming, stdin, terminals, signals to process groups, stop/continue,
//! attach, environment and output rotation.

use proto::v1::{
    AttachRequest, AttachStart, GetRequest, InputChunk, ListRequest, NodesRequest, OutputStream,
    ProcessState, ReadOutputRequest, SignalRequest, StdinMode, TerminalSize, attach_event,
    attach_request,
};
use tests::{
    Node, NodeOptions, TIMEOUT, get, host_alive, read_output, request, signal, spawn, state, wait,
    wait_for_state, wait_for_stdout, wait_until,
};

#[tokio::test]
async fn exit_code_and_both_streams_are_captured() -> anyhow::Result<()> {
    let node = Node::start().await?;
    let mut client = node.client().await?;
    let started = spawn(&mut client, &["sh", "-c", "echo out; echo err >&2; exit 3"]).await?;
    assert!(
        started.pid > 10_000_000 && started.pid < 20_000_000,
        "slot 1 pid, got {}",
        started.pid
    );
    assert_eq!(started.node, node.name);
    assert!(started.host_pid > 0);

    let done = wait(&mut client, started.pid).await?;
    assert_eq!(state(&done), ProcessState::Exited);
    assert_eq!(done.exit_code, Some(3));
    assert_eq!(done.signal, None);
    assert!(done.end_time_ms >= done.start_time_ms);
    assert_eq!(
        read_output(&mut client, started.pid, OutputStream::Stdout).await?,
        b"out\n"
    );
    assert_eq!(
        read_output(&mut client, started.pid, OutputStream::Stderr).await?,
        b"err\n"
    );
    Ok(())
}

#[tokio::test]
async fn stdout_streams_while_the_process_runs() -> anyhow::Result<()> {
    let node = Node::start().await?;
    let mut client = node.client().await?;
    let mut req = request(&[
        "sh",
        "-c",
        "echo first; read line; echo \"got $line\"; read more",
    ]);
    req.stdin = StdinMode::Pipe as i32;
    let p = client.spawn(req).await?.into_inner();

    let follow = ReadOutputRequest {
        pid: p.pid,
        stream: OutputStream::Stdout as i32,
        offset: 0,
        follow: true,
    };
    let mut stream = client.read_output(follow).await?.into_inner();
    let first = tokio::time::timeout(TIMEOUT, stream.message())
        .await??
        .expect("a chunk");
    assert_eq!((first.offset, first.data.as_slice()), (0, &b"first\n"[..]));
    let now = get(&mut client, p.pid).await?;
    assert_eq!(
        state(&now),
        ProcessState::Running,
        "output arrived while it runs"
    );

    let input = futures::stream::iter([InputChunk {
        pid: p.pid,
        data: b"hello\n".to_vec(),
        eof: false,
    }]);
    client.write_input(input).await?;
    let second = tokio::time::timeout(TIMEOUT, stream.message())
        .await??
        .expect("a chunk");
    assert_eq!(
        (second.offset, second.data.as_slice()),
        (6, &b"got hello\n"[..])
    );

    let eof = futures::stream::iter([InputChunk {
        pid: p.pid,
        data: Vec::new(),
        eof: true,
    }]);
    client.write_input(eof).await?;
    let end = tokio::time::timeout(TIMEOUT, stream.message()).await??;
    assert!(
        end.is_none(),
        "the follow stream ends when the process is done"
    );
    assert_eq!(
        wait(&mut client, p.pid).await?.exit_code,
        Some(1),
        "`read more` hit EOF"
    );
    Ok(())
}

#[tokio::test]
async fn stdin_of_cat_comes_back_on_stdout() -> anyhow::Result<()> {
    let node = Node::start().await?;
    let mut client = node.client().await?;
    let mut req = request(&["cat"]);
    req.stdin = StdinMode::Pipe as i32;
    let p = client.spawn(req).await?.into_inner();
    assert!(p.stdin_pipe);
    let chunks = futures::stream::iter([
        InputChunk {
            pid: p.pid,
            data: b"hello ".to_vec(),
            eof: false,
        },
        InputChunk {
            pid: 0,
            data: b"cat\n".to_vec(),
            eof: true,
        },
    ]);
    let reply = client.write_input(chunks).await?.into_inner();
    assert_eq!(reply.bytes_written, 10);
    assert_eq!(wait(&mut client, p.pid).await?.exit_code, Some(0));
    assert_eq!(
        read_output(&mut client, p.pid, OutputStream::Stdout).await?,
        b"hello cat\n"
    );
    Ok(())
}

#[tokio::test]
async fn a_terminal_process_sees_a_tty_of_the_requested_size() -> anyhow::Result<()> {
    let node = Node::start().await?;
    let mut client = node.client().await?;
    let mut req = request(&[
        "sh",
        "-c",
        "tty; stty size; test -t 0 && test -t 2 && echo all-tty",
    ]);
    req.tty = Some(TerminalSize {
        rows: 30,
        cols: 100,
    });
    let p = client.spawn(req).await?.into_inner();
    assert!(p.tty);
    let done = wait(&mut client, p.pid).await?;
    let out = String::from_utf8(read_output(&mut client, p.pid, OutputStream::Stdout).await?)?;
    assert_eq!(done.exit_code, Some(0), "output: {out}");
    let lines: Vec<&str> = out.lines().map(str::trim_end).collect();
    assert!(
        lines[0].starts_with("/dev/pts/"),
        "tty printed {:?}",
        lines[0]
    );
    assert_eq!(lines[1], "30 100");
    assert_eq!(lines[2], "all-tty");
    assert!(
        read_output(&mut client, p.pid, OutputStream::Stderr)
            .await?
            .is_empty()
    );
    Ok(())
}

#[tokio::test]
async fn stop_and_continue_are_visible() -> anyhow::Result<()> {
    let node = Node::start().await?;
    let mut client = node.client().await?;
    let p = spawn(&mut client, &["sleep", "1000"]).await?;
    signal(&mut client, p.pid, libc::SIGSTOP).await?;
    wait_for_state(&client, p.pid, ProcessState::Stopped).await?;
    signal(&mut client, p.pid, libc::SIGCONT).await?;
    wait_for_state(&client, p.pid, ProcessState::Running).await?;
    signal(&mut client, p.pid, libc::SIGKILL).await?;
    let done = wait(&mut client, p.pid).await?;
    assert_eq!((state(&done), done.signal), (ProcessState::Killed, Some(9)));
    Ok(())
}

#[tokio::test]
async fn sigterm_reaches_the_whole_process_group() -> anyhow::Result<()> {
    let node = Node::start().await?;
    let mut client = node.client().await?;
    let p = spawn(&mut client, &["sh", "-c", "sleep 1000 & echo $!; wait"]).await?;
    let grandchild = wait_for_stdout(&client, p.pid, |out| out.trim().parse().ok()).await?;
    let grandchild = nix::unistd::Pid::from_raw(grandchild);
    assert!(host_alive(grandchild));

    signal(&mut client, p.pid, libc::SIGTERM).await?;
    let done = wait(&mut client, p.pid).await?;
    assert_eq!(
        (state(&done), done.signal),
        (ProcessState::Killed, Some(libc::SIGTERM))
    );
    wait_until("the grandchild to die", TIMEOUT, || async move {
        (!host_alive(grandchild)).then_some(())
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn processes_get_their_cluster_environment_and_parent() -> anyhow::Result<()> {
    let node = Node::start().await?;
    let mut client = node.client().await?;
    let parent = spawn(&mut client, &["sleep", "1000"]).await?;
    let mut req = request(&[
        "sh",
        "-c",
        "echo $NEFELE_PID $NEFELE_NODE $NEFELE_ADDR $PATH",
    ]);
    req.env.insert("NEFELE_PID".into(), parent.pid.to_string());
    req.env.insert("PATH".into(), "/usr/bin:/bin".into());
    req.cwd = "/tmp".into();
    req.name = "child".into();
    let child = client.spawn(req).await?.into_inner();
    assert_eq!(
        child.ppid, parent.pid,
        "NEFELE_PID passed along makes the parent"
    );
    assert_eq!((child.cwd.as_str(), child.name.as_str()), ("/tmp", "child"));
    // Ended, and its parent has not waited: a zombie, listed as Linux does.
    wait_until("the child to end", TIMEOUT, || {
        let mut c = client.clone();
        async move { (state(&get(&mut c, child.pid).await.ok()?) == ProcessState::Exited).then_some(()) }
    })
    .await?;
    let listed = client.list(ListRequest::default()).await?.into_inner();
    let pids: Vec<i32> = listed.processes.iter().map(|p| p.pid).collect();
    assert_eq!(pids, vec![parent.pid, child.pid], "the zombie is listed");
    wait(&mut client, child.pid).await?;
    let out = String::from_utf8(read_output(&mut client, child.pid, OutputStream::Stdout).await?)?;
    let expected = format!(
        "{} {} unix:{} /usr/bin:/bin\n",
        child.pid,
        node.name,
        node.socket().display()
    );
    assert_eq!(out, expected);

    let with_env = client
        .get(GetRequest {
            pid: child.pid,
            with_env: true,
        })
        .await?
        .into_inner();
    assert!(with_env.env.contains(&format!("NEFELE_PID={}", child.pid)));
    let without = get(&mut client, child.pid).await?;
    assert!(without.env.is_empty());

    // Waited for, it leaves the listing; its record stays.
    let listed = client.list(ListRequest::default()).await?.into_inner();
    let pids: Vec<i32> = listed.processes.iter().map(|p| p.pid).collect();
    assert_eq!(pids, vec![parent.pid], "a waited-for child is reaped");
    let every = ListRequest {
        ended: true,
        ..ListRequest::default()
    };
    let listed = client.list(every).await?.into_inner();
    let pids: Vec<i32> = listed.processes.iter().map(|p| p.pid).collect();
    assert_eq!(pids, vec![parent.pid, child.pid]);
    let running = ListRequest {
        states: vec![ProcessState::Running as i32],
        ..ListRequest::default()
    };
    let running = client.list(running).await?.into_inner();
    assert_eq!(
        running.processes.iter().map(|p| p.pid).collect::<Vec<_>>(),
        vec![parent.pid]
    );
    assert!(
        running.processes[0].rss_bytes > 0,
        "rss comes from the host's /proc"
    );
    Ok(())
}

#[tokio::test]
async fn attach_carries_input_signals_output_and_the_exit() -> anyhow::Result<()> {
    let node = Node::start().await?;
    let mut client = node.client().await?;
    let mut req = request(&[
        "sh",
        "-c",
        "echo ready; while read l; do echo \"echo:$l\"; done; exit 7",
    ]);
    req.stdin = StdinMode::Pipe as i32;
    let p = client.spawn(req).await?.into_inner();

    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let msg = |r| AttachRequest { request: Some(r) };
    tx.send(msg(attach_request::Request::Start(AttachStart {
        pid: p.pid,
        replay: true,
        ..Default::default()
    })))
    .await?;
    let mut events = client
        .attach(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    let mut out = Vec::new();
    let mut next = async || tokio::time::timeout(TIMEOUT, events.message()).await;
    while !out.ends_with(b"ready\n") {
        match next().await??.and_then(|e| e.event) {
            Some(attach_event::Event::Stdout(c)) => out.extend(c.data),
            // The node acknowledges each stdin message.
            Some(attach_event::Event::StdinAccepted(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    tx.send(msg(attach_request::Request::Stdin(b"hi\n".to_vec())))
        .await?;
    tx.send(msg(attach_request::Request::Resize(
        proto::v1::TerminalSize { rows: 1, cols: 1 },
    )))
    .await?;
    let mut saw_error = false;
    while !out.ends_with(b"echo:hi\n") || !saw_error {
        match next().await??.and_then(|e| e.event) {
            Some(attach_event::Event::Stdout(c)) => out.extend(c.data),
            Some(attach_event::Event::Error(e)) => {
                assert!(e.contains("no terminal"), "{e}");
                saw_error = true;
            }
            // The node acknowledges each stdin message.
            Some(attach_event::Event::StdinAccepted(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    tx.send(msg(attach_request::Request::StdinEof(true)))
        .await?;
    let exit = loop {
        match next().await??.and_then(|e| e.event) {
            Some(attach_event::Event::Exit(info)) => break info,
            Some(attach_event::Event::Stdout(c)) => out.extend(c.data),
            // The node acknowledges each stdin message.
            Some(attach_event::Event::StdinAccepted(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(exit.exit_code, Some(7));
    assert!(next().await??.is_none(), "the stream ends after the exit");
    assert_eq!(out, b"ready\necho:hi\n");
    Ok(())
}

#[tokio::test]
async fn attach_can_signal_a_terminal_process() -> anyhow::Result<()> {
    let node = Node::start().await?;
    let mut client = node.client().await?;
    let mut req = request(&["sleep", "1000"]);
    req.tty = Some(TerminalSize { rows: 0, cols: 0 });
    let p = client.spawn(req).await?.into_inner();
    let start = AttachRequest {
        request: Some(attach_request::Request::Start(AttachStart {
            pid: p.pid,
            replay: false,
            ..Default::default()
        })),
    };
    let sig = AttachRequest {
        request: Some(attach_request::Request::Signal(libc::SIGINT)),
    };
    let mut events = client
        .attach(futures::stream::iter([start, sig]))
        .await?
        .into_inner();
    let exit = loop {
        match tokio::time::timeout(TIMEOUT, events.message())
            .await??
            .and_then(|e| e.event)
        {
            Some(attach_event::Event::Exit(info)) => break info,
            Some(_) => continue,
            None => panic!("stream ended without an exit"),
        }
    };
    assert_eq!(exit.signal, Some(libc::SIGINT));
    Ok(())
}

#[tokio::test]
async fn output_is_capped_and_rotated() -> anyhow::Result<()> {
    let cap = 64 * 1024;
    let node = Node::start_with(NodeOptions {
        config: format!("[limits]\noutput_cap_bytes = {cap}\n"),
        ..NodeOptions::default()
    })
    .await?;
    let mut client = node.client().await?;
    let total = 1_000_000;
    let p = spawn(
        &mut client,
        &["sh", "-c", &format!("yes 0123456789 | head -c {total}")],
    )
    .await?;
    let done = wait(&mut client, p.pid).await?;
    assert_eq!(done.stdout_bytes, total);

    let req = ReadOutputRequest {
        pid: p.pid,
        stream: OutputStream::Stdout as i32,
        offset: 0,
        follow: false,
    };
    let mut chunks = client.read_output(req).await?.into_inner();
    let first = chunks.message().await?.expect("some output is kept");
    assert!(
        first.offset >= total - cap,
        "old output rotated away, first offset {}",
        first.offset
    );
    let mut kept = first.data.len() as u64;
    while let Some(c) = chunks.message().await? {
        kept += c.data.len() as u64;
    }
    assert_eq!(
        first.offset + kept,
        total,
        "everything after the first kept byte is there"
    );
    let on_disk: u64 = std::fs::read_dir(node.data_dir().join("procs").join(p.pid.to_string()))?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("stdout."))
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum();
    assert!(
        on_disk <= cap,
        "{on_disk} bytes of stdout on disk, cap {cap}"
    );
    Ok(())
}

#[tokio::test]
async fn nodes_describes_this_node() -> anyhow::Result<()> {
    let node = Node::start().await?;
    let mut client = node.client().await?;
    let _sleeper = spawn(&mut client, &["sleep", "1000"]).await?;
    let reply = node
        .cluster()
        .await?
        .nodes(NodesRequest {})
        .await?
        .into_inner();
    assert_eq!(reply.nodes.len(), 1);
    let me = &reply.nodes[0];
    assert_eq!(
        (me.name.as_str(), me.slot, me.process_count),
        (node.name.as_str(), 1, 1)
    );
    assert_eq!(me.state, proto::v1::NodeState::Up as i32);
    assert_eq!(me.address, node.hostport());
    assert!(me.load.as_ref().is_some_and(|l| l.mem_total_bytes > 0));
    Ok(())
}

#[tokio::test]
async fn attach_resizes_a_terminal() -> anyhow::Result<()> {
    let node = Node::start().await?;
    let mut client = node.client().await?;
    let mut req = request(&["sh", "-c", "stty size; read go; stty size"]);
    req.tty = Some(TerminalSize { rows: 24, cols: 80 });
    let p = client.spawn(req).await?.into_inner();

    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let msg = |r| AttachRequest { request: Some(r) };
    tx.send(msg(attach_request::Request::Start(AttachStart {
        pid: p.pid,
        replay: true,
        ..Default::default()
    })))
    .await?;
    let mut events = client
        .attach(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    let mut out = String::new();
    let mut resized = false;
    let exit = loop {
        match tokio::time::timeout(TIMEOUT, events.message())
            .await??
            .and_then(|e| e.event)
        {
            Some(attach_event::Event::Stdout(c)) => out.push_str(&String::from_utf8_lossy(&c.data)),
            Some(attach_event::Event::Exit(info)) => break info,
            // The node acknowledges each stdin message.
            Some(attach_event::Event::StdinAccepted(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
        if !resized && out.contains("24 80") {
            resized = true;
            tx.send(msg(attach_request::Request::Resize(TerminalSize {
                rows: 40,
                cols: 120,
            })))
            .await?;
            tx.send(msg(attach_request::Request::Stdin(b"go\r".to_vec())))
                .await?;
        }
    };
    assert_eq!(exit.exit_code, Some(0), "output: {out:?}");
    assert!(out.contains("40 120"), "output after resize: {out:?}");
    Ok(())
}

#[tokio::test]
async fn cpu_time_of_a_running_process_comes_from_the_host() -> anyhow::Result<()> {
    let node = Node::start().await?;
    let mut client = node.client().await?;
    let p = spawn(&mut client, &["sh", "-c", "while :; do :; done"]).await?;
    let busy = wait_until("cpu time to show", TIMEOUT, || {
        let mut c = client.clone();
        async move {
            let info = get(&mut c, p.pid).await.ok()?;
            (info.cpu_time_ms >= 100).then_some(info)
        }
    })
    .await?;
    assert_eq!(state(&busy), ProcessState::Running);
    assert!(busy.threads >= 1 && busy.rss_bytes > 0);
    client
        .signal(SignalRequest {
            pid: p.pid,
            signal: libc::SIGKILL,
        })
        .await?;
    let done = wait(&mut client, p.pid).await?;
    assert!(
        done.cpu_time_ms >= busy.cpu_time_ms,
        "the exit record keeps the cpu time"
    );
    assert!(done.rss_bytes > 0, "peak rss from wait4");
    Ok(())
}
