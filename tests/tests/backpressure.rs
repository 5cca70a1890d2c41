//! Output backpressure (`SpawnRequest.output_backpressure`): a process
//! whose output nobody reads blocks like a writer to a full pipe instead of
//! running ahead of its reader and losing output to rotation; a reader gets
//! every byte; killing it, attaching to it and stopping noded still work;
//! and without the flag nothing changes. The numbers are noded's defaults:
//! a 1 MiB window and a 16 MiB retention cap.

use std::cell::Cell;
use std::time::{Duration, Instant};

use futures::StreamExt;

use proto::v1::processes_client::ProcessesClient;
use proto::v1::{
    AttachRequest, AttachStart, OutputStream, ProcessInfo, ProcessState, ReadOutputRequest,
    SpawnRequest, TerminalSize, WaitRequest, attach_event, attach_request,
};
use tests::{
    Node, NodeOptions, TIMEOUT, TestCluster, get, read_output, request, signal, state, wait_until,
};
use tonic::transport::Channel;

/// noded's default `output_window_bytes`.
const WINDOW: u64 = 1 << 20;
/// noded's default `output_cap_bytes`.
const CAP: u64 = 16 << 20;
/// Room for a pipe's worth of output on top of the window.
const PIPE_SLACK: u64 = 64 << 10;
/// Patience for work that moves a lot of bytes through debug builds on a
/// small, shared machine.
const LONG: Duration = Duration::from_secs(300);
/// How long captured output must stay the same size to count as stopped.
const STILL: Duration = Duration::from_millis(500);

/// Bytes `seq 1 n` prints.
fn seq_bytes(n: u64) -> u64 {
    let mut total = 0;
    let mut low = 1;
    let mut digits = 1;
    while low <= n {
        let high = (low * 10 - 1).min(n);
        total += (high - low + 1) * (digits + 1);
        low *= 10;
        digits += 1;
    }
    total
}

/// `seq 1 n` with the test's PATH, with or without backpressure.
fn seq_request(n: u64, backpressure: bool) -> SpawnRequest {
    let mut req = request(&["seq", "1", &n.to_string()]);
    req.output_backpressure = backpressure;
    req
}

/// Waits until the process's captured stdout has stopped growing (the
/// same, non-zero, size in polls spanning [`STILL`]) or it has finished,
/// and returns its info.
async fn wait_blocked(client: &ProcessesClient<Channel>, pid: i32) -> anyhow::Result<ProcessInfo> {
    let last: Cell<Option<(u64, Instant)>> = Cell::new(None);
    wait_until(&format!("stdout of {pid} to stop growing"), LONG, || {
        let mut c = client.clone();
        let last = &last;
        async move {
            let info = get(&mut c, pid).await.ok()?;
            if state(&info) != ProcessState::Running {
                return Some(info);
            }
            let now = info.stdout_bytes;
            match last.get() {
                Some((before, since)) if before == now => {
                    (now > 0 && since.elapsed() >= STILL).then_some(info)
                }
                _ => {
                    last.set(Some((now, Instant::now())));
                    None
                }
            }
        }
    })
    .await
}

/// Asserts that a process is held back: still running, its captured
/// stdout within the window, and not growing.
async fn assert_held_back(client: &mut ProcessesClient<Channel>, pid: i32) -> anyhow::Result<u64> {
    let blocked = wait_blocked(client, pid).await?;
    assert_eq!(
        state(&blocked),
        ProcessState::Running,
        "a process nobody reads must block, not finish: {blocked:?}"
    );
    assert!(
        blocked.stdout_bytes <= WINDOW + PIPE_SLACK,
        "{} bytes captured while nobody read, window {WINDOW}",
        blocked.stdout_bytes
    );
    assert!(blocked.output_backpressure);
    let again = get(client, pid).await?;
    assert_eq!(state(&again), ProcessState::Running);
    assert_eq!(again.stdout_bytes, blocked.stdout_bytes, "still held back");
    Ok(blocked.stdout_bytes)
}

/// What a follow read of a whole stream saw.
#[derive(Debug, Default)]
struct Followed {
    bytes: u64,
    lines: u64,
    first_line: Vec<u8>,
    tail: Vec<u8>,
}

/// Follows stdout from offset 0 to its end, checking that every chunk
/// starts where the previous one ended (nothing rotated away).
async fn follow_all(client: &mut ProcessesClient<Channel>, pid: i32) -> anyhow::Result<Followed> {
    let req = ReadOutputRequest {
        pid,
        stream: OutputStream::Stdout as i32,
        offset: 0,
        follow: true,
    };
    let mut chunks = client.read_output(req).await?.into_inner();
    let mut seen = Followed::default();
    while let Some(chunk) = tokio::time::timeout(TIMEOUT, chunks.message()).await?? {
        assert_eq!(chunk.offset, seen.bytes, "a gap in the output");
        if seen.first_line.is_empty()
            && let Some(nl) = chunk.data.iter().position(|b| *b == b'\n')
        {
            seen.first_line = chunk.data[..=nl].to_vec();
        }
        seen.bytes += chunk.data.len() as u64;
        seen.lines += chunk.data.iter().filter(|b| **b == b'\n').count() as u64;
        seen.tail.extend_from_slice(&chunk.data);
        let keep = seen.tail.len().saturating_sub(32);
        seen.tail.drain(..keep);
    }
    Ok(seen)
}

/// Waits for the process to finish, with a long timeout.
async fn wait_long(client: &mut ProcessesClient<Channel>, pid: i32) -> anyhow::Result<ProcessInfo> {
    let req = WaitRequest {
        pid,
        timeout_ms: LONG.as_millis() as u64,
    };
    Ok(client.wait(req).await?.into_inner())
}

#[test]
fn seq_bytes_counts_digits_and_newlines() {
    assert_eq!(seq_bytes(9), 18);
    assert_eq!(seq_bytes(10), 21);
    assert_eq!(seq_bytes(100), 9 * 2 + 90 * 3 + 4);
}

#[tokio::test]
async fn a_fast_writer_waits_for_its_reader_and_loses_nothing() -> anyhow::Result<()> {
    const N: u64 = 20_000_000;
    let expected = seq_bytes(N);
    assert!(expected > 10 * CAP, "far beyond what noded keeps");
    let node = Node::start().await?;
    let mut client = node.client().await?;
    let p = client.spawn(seq_request(N, true)).await?.into_inner();
    assert!(p.output_backpressure);

    let held = assert_held_back(&mut client, p.pid).await?;
    assert!(held > 0);

    let seen = follow_all(&mut client, p.pid).await?;
    assert_eq!(seen.bytes, expected, "every byte of seq's output");
    assert_eq!(seen.lines, N);
    assert_eq!(seen.first_line, b"1\n");
    assert!(seen.tail.ends_with(b"\n19999999\n20000000\n"), "{seen:?}");

    let done = wait_long(&mut client, p.pid).await?;
    assert_eq!(state(&done), ProcessState::Exited);
    assert_eq!(done.exit_code, Some(0));
    assert_eq!(done.stdout_bytes, expected);
    Ok(())
}

#[tokio::test]
async fn without_backpressure_a_writer_runs_ahead_and_old_output_rotates_away() -> anyhow::Result<()>
{
    const N: u64 = 20_000_000;
    let expected = seq_bytes(N);
    let node = Node::start().await?;
    let mut client = node.client().await?;
    let p = client.spawn(seq_request(N, false)).await?.into_inner();
    assert!(!p.output_backpressure);

    // Nobody reads, and it finishes anyway.
    let done = wait_long(&mut client, p.pid).await?;
    assert_eq!(state(&done), ProcessState::Exited);
    assert_eq!(done.exit_code, Some(0));
    assert_eq!(done.stdout_bytes, expected);

    // Only the last cap's worth is kept: a reader from 0 starts later.
    let req = ReadOutputRequest {
        pid: p.pid,
        stream: OutputStream::Stdout as i32,
        offset: 0,
        follow: false,
    };
    let mut chunks = client.read_output(req).await?.into_inner();
    let first = tokio::time::timeout(TIMEOUT, chunks.message())
        .await??
        .expect("a chunk");
    assert!(
        first.offset >= expected - CAP,
        "the oldest byte kept is at {}",
        first.offset
    );
    Ok(())
}

#[tokio::test]
async fn a_blocked_writer_dies_promptly_on_sigterm_and_keeps_its_output() -> anyhow::Result<()> {
    let node = Node::start().await?;
    let mut client = node.client().await?;
    let p = client
        .spawn(seq_request(20_000_000, true))
        .await?
        .into_inner();
    let held = assert_held_back(&mut client, p.pid).await?;

    signal(&mut client, p.pid, libc::SIGTERM).await?;
    let done = client
        .wait(WaitRequest {
            pid: p.pid,
            timeout_ms: 10_000,
        })
        .await?
        .into_inner();
    assert_eq!(state(&done), ProcessState::Killed);
    assert_eq!(done.signal, Some(libc::SIGTERM));

    // What it wrote before it died is all there, from the first byte:
    // what noded held plus what was left in the pipe.
    assert!(done.stdout_bytes >= held, "{done:?}");
    let out = read_output(&mut client, p.pid, OutputStream::Stdout).await?;
    assert_eq!(out.len() as u64, done.stdout_bytes);
    assert!(out.starts_with(b"1\n2\n3\n"));
    let last_complete = out.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count();
    assert!(last_complete > 100_000, "{last_complete} lines");
    Ok(())
}

#[tokio::test]
async fn a_terminal_is_held_back_too() -> anyhow::Result<()> {
    let node = Node::start().await?;
    let mut client = node.client().await?;
    let mut req = seq_request(20_000_000, true);
    req.tty = Some(TerminalSize { rows: 24, cols: 80 });
    let p = client.spawn(req).await?.into_inner();
    assert!(p.tty);
    assert_held_back(&mut client, p.pid).await?;
    signal(&mut client, p.pid, libc::SIGKILL).await?;
    let done = wait_long(&mut client, p.pid).await?;
    assert_eq!(done.signal, Some(libc::SIGKILL));
    Ok(())
}

#[tokio::test]
async fn noded_stops_promptly_with_a_blocked_writer_that_ignores_sigterm() -> anyhow::Result<()> {
    let mut node = Node::start_with(NodeOptions {
        config: "[limits]\nstop_grace_ms = 1000\n".into(),
        args: vec!["--stop-processes".into()],
        ..NodeOptions::default()
    })
    .await?;
    let mut client = node.client().await?;
    let mut req = request(&["sh", "-c", "trap '' TERM; seq 1 20000000"]);
    req.output_backpressure = true;
    let p = client.spawn(req).await?.into_inner();
    assert_held_back(&mut client, p.pid).await?;

    let started = std::time::Instant::now();
    let status = node.stop().await?;
    assert!(status.success(), "noded exited with {status}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert!(
        node.leftover_processes().is_empty(),
        "the blocked process was killed"
    );
    Ok(())
}

#[tokio::test]
async fn attach_takes_the_waiting_output_and_paces_the_writer() -> anyhow::Result<()> {
    const N: u64 = 500_000;
    let expected: Vec<u8> = (1..=N)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    assert!(expected.len() as u64 > 2 * WINDOW);
    let node = Node::start().await?;
    let mut client = node.client().await?;
    let p = client.spawn(seq_request(N, true)).await?.into_inner();
    assert_held_back(&mut client, p.pid).await?;

    // Without replay, an attached client still gets what waited in the
    // window: nobody had taken it.
    let start = AttachRequest {
        request: Some(attach_request::Request::Start(AttachStart {
            pid: p.pid,
            replay: false,
            ..Default::default()
        })),
    };
    let input = futures::stream::iter([start]).chain(futures::stream::pending());
    let mut events = client.attach(input).await?.into_inner();
    let mut out = Vec::new();
    let exit = loop {
        let event = tokio::time::timeout(TIMEOUT, events.message())
            .await??
            .expect("the stream ends with the exit");
        match event.event {
            Some(attach_event::Event::Stdout(chunk)) => {
                assert_eq!(chunk.offset, out.len() as u64, "a gap in the output");
                out.extend_from_slice(&chunk.data);
            }
            Some(attach_event::Event::Exit(info)) => break info,
            other => panic!("unexpected event {other:?}"),
        }
    };
    assert_eq!(out.len(), expected.len());
    assert!(out == expected, "attached output differs from seq's");
    assert_eq!(exit.exit_code, Some(0));
    Ok(())
}

#[tokio::test]
async fn backpressure_reaches_across_nodes() -> anyhow::Result<()> {
    // More than the cap: without backpressure a late reader would miss the
    // beginning.
    const N: u64 = 3_000_000;
    let expected = seq_bytes(N);
    assert!(expected > CAP);
    let cluster = TestCluster::start(2).await?;
    let mut client = cluster.nodes[0].client().await?;
    let mut req = seq_request(N, true);
    req.node = cluster.nodes[1].name.clone();
    let p = client.spawn(req).await?.into_inner();
    assert_eq!(p.node, cluster.nodes[1].name);

    // Watched and read through the first node.
    assert_held_back(&mut client, p.pid).await?;
    let seen = follow_all(&mut client, p.pid).await?;
    assert_eq!(seen.bytes, expected);
    assert_eq!(seen.lines, N);
    assert_eq!(seen.first_line, b"1\n");
    assert!(seen.tail.ends_with(b"\n3000000\n"), "{seen:?}");
    let done = wait_long(&mut client, p.pid).await?;
    assert_eq!(done.exit_code, Some(0));
    Ok(())
}
