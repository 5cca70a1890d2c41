//! Bad input gets a clear error and noded keeps serving: missing
//! executables and directories, unknown PIDs, bad signals, empty or huge
//! argv and env, and clients that go away in the middle of a stream.

use proto::v1::{
    AttachRequest, AttachStart, GetRequest, InputChunk, ListRequest, OutputStream,
    ReadOutputRequest, SignalRequest, SpawnRequest, WaitRequest, attach_request,
};
use tests::{Node, TIMEOUT, read_output, request, spawn, wait};
use tonic::Code;

/// Asserts a call failed with `code` and a message containing `needle`.
fn expect_err<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, needle: &str) {
    let status = result.expect_err("the call must fail");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(needle),
        "message {:?} lacks {needle:?}",
        status.message()
    );
}

#[tokio::test]
async fn spawn_rejects_bad_requests_with_clear_errors() -> anyhow::Result<()> {
    let node = Node::start().await?;
    let mut c = node.client().await?;

    expect_err(
        c.spawn(request(&["/no/such/program"])).await,
        Code::NotFound,
        "/no/such/program",
    );
    expect_err(
        c.spawn(request(&["no-such-program-xyz"])).await,
        Code::NotFound,
        "no-such-program-xyz",
    );
    expect_err(
        c.spawn(request(&[])).await,
        Code::InvalidArgument,
        "empty argv",
    );
    let not_executable = node.dir.path().join("data.txt");
    std::fs::write(&not_executable, "just text\n")?;
    let not_executable = not_executable.to_str().expect("utf-8 temp path");
    expect_err(
        c.spawn(request(&[not_executable])).await,
        Code::PermissionDenied,
        not_executable,
    );
    expect_err(
        c.spawn(request(&["/tmp"])).await,
        Code::PermissionDenied,
        "directory",
    );

    let mut missing_cwd = request(&["true"]);
    missing_cwd.cwd = "/no/such/dir".into();
    expect_err(
        c.spawn(missing_cwd).await,
        Code::InvalidArgument,
        "/no/such/dir",
    );
    let mut relative_cwd = request(&["true"]);
    relative_cwd.cwd = "tmp".into();
    expect_err(
        c.spawn(relative_cwd).await,
        Code::InvalidArgument,
        "absolute",
    );

    let huge = "x".repeat(200 * 1024);
    expect_err(
        c.spawn(request(&["echo", &huge])).await,
        Code::InvalidArgument,
        "limit",
    );
    let many: Vec<String> = (0..20).map(|_| "y".repeat(100 * 1024)).collect();
    let mut argv = vec!["echo"];
    argv.extend(many.iter().map(String::as_str));
    expect_err(
        c.spawn(request(&argv)).await,
        Code::InvalidArgument,
        "limit",
    );
    let mut big_env = request(&["true"]);
    for i in 0..20 {
        big_env.env.insert(format!("V{i}"), "z".repeat(100 * 1024));
    }
    expect_err(c.spawn(big_env).await, Code::InvalidArgument, "limit");
    let mut bad_env = request(&["true"]);
    bad_env.env.insert("A=B".into(), "1".into());
    expect_err(c.spawn(bad_env).await, Code::InvalidArgument, "A=B");
    let past_grpc_limit = "w".repeat(5 << 20);
    assert!(c.spawn(request(&["echo", &past_grpc_limit])).await.is_err());

    let mut other_node = request(&["true"]);
    other_node.node = "elsewhere".into();
    expect_err(c.spawn(other_node).await, Code::NotFound, "elsewhere");
    let bad_stdin = SpawnRequest {
        stdin: 7,
        ..request(&["true"])
    };
    expect_err(c.spawn(bad_stdin).await, Code::InvalidArgument, "stdin");

    // None of that cost a PID or broke the node.
    let ok = spawn(&mut c, &["true"]).await?;
    assert_eq!(ok.pid, 10_000_001, "failed spawns spend no pid");
    assert_eq!(wait(&mut c, ok.pid).await?.exit_code, Some(0));
    assert_eq!(
        c.list(ListRequest {
            ended: true,
            ..ListRequest::default()
        })
        .await?
        .into_inner()
        .processes
        .len(),
        1
    );
    Ok(())
}

#[tokio::test]
async fn unknown_pids_and_bad_signals_are_refused() -> anyhow::Result<()> {
    let node = Node::start().await?;
    let mut c = node.client().await?;
    for pid in [10_000_999, 20_000_001, 1234, 0, -5] {
        expect_err(
            c.get(GetRequest {
                pid,
                with_env: false,
            })
            .await,
            Code::NotFound,
            &pid.to_string(),
        );
        expect_err(
            c.signal(SignalRequest { pid, signal: 15 }).await,
            Code::NotFound,
            "no such process",
        );
        expect_err(
            c.wait(WaitRequest { pid, timeout_ms: 0 }).await,
            Code::NotFound,
            "no such process",
        );
        let read = ReadOutputRequest {
            pid,
            stream: 0,
            offset: 0,
            follow: true,
        };
        expect_err(c.read_output(read).await, Code::NotFound, "no such process");
    }

    let p = spawn(&mut c, &["sleep", "1000"]).await?;
    for signal in [-1, 65, 1000] {
        expect_err(
            c.signal(SignalRequest { pid: p.pid, signal }).await,
            Code::InvalidArgument,
            "invalid signal",
        );
    }
    c.signal(SignalRequest {
        pid: p.pid,
        signal: 0,
    })
    .await?;
    expect_err(
        c.wait(WaitRequest {
            pid: p.pid,
            timeout_ms: 50,
        })
        .await,
        Code::DeadlineExceeded,
        "still running",
    );
    let no_stdin = futures::stream::iter([InputChunk {
        pid: p.pid,
        data: b"x".to_vec(),
        eof: false,
    }]);
    expect_err(
        c.write_input(no_stdin).await,
        Code::FailedPrecondition,
        "no stdin",
    );
    let bad_stream = ReadOutputRequest {
        pid: p.pid,
        stream: 9,
        offset: 0,
        follow: false,
    };
    expect_err(
        c.read_output(bad_stream).await,
        Code::InvalidArgument,
        "stream",
    );
    expect_err(
        c.write_input(futures::stream::iter([])).await,
        Code::InvalidArgument,
        "empty input",
    );
    let not_start = AttachRequest {
        request: Some(attach_request::Request::Stdin(b"x".to_vec())),
    };
    expect_err(
        c.attach(futures::stream::iter([not_start])).await,
        Code::InvalidArgument,
        "start",
    );

    c.signal(SignalRequest {
        pid: p.pid,
        signal: 9,
    })
    .await?;
    wait(&mut c, p.pid).await?;
    expect_err(
        c.signal(SignalRequest {
            pid: p.pid,
            signal: 15,
        })
        .await,
        Code::NotFound,
        "already exited",
    );
    Ok(())
}

#[tokio::test]
async fn clients_that_disconnect_mid_stream_do_not_hurt_the_node() -> anyhow::Result<()> {
    let node = Node::start().await?;
    let mut c = node.client().await?;
    let p = spawn(
        &mut c,
        &["sh", "-c", "while :; do echo tick; sleep 0.05; done"],
    )
    .await?;

    for _ in 0..5 {
        let mut other = node.client().await?;
        let follow = ReadOutputRequest {
            pid: p.pid,
            stream: OutputStream::Stdout as i32,
            offset: 0,
            follow: true,
        };
        let mut stream = other.read_output(follow).await?.into_inner();
        tokio::time::timeout(TIMEOUT, stream.message())
            .await??
            .expect("a chunk");
        drop(stream);
        drop(other);

        let mut attacher = node.client().await?;
        let start = AttachRequest {
            request: Some(attach_request::Request::Start(AttachStart {
                pid: p.pid,
                replay: true,
                ..Default::default()
            })),
        };
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tx.send(start).await?;
        let mut events = attacher
            .attach(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await?
            .into_inner();
        tokio::time::timeout(TIMEOUT, events.message())
            .await??
            .expect("an event");
        drop(events);
        drop(tx);
    }
    let waiter = {
        let mut w = node.client().await?;
        tokio::spawn(async move {
            w.wait(WaitRequest {
                pid: p.pid,
                timeout_ms: 0,
            })
            .await
        })
    };
    waiter.abort();

    // The process was not touched and the node still answers.
    let info = c
        .get(GetRequest {
            pid: p.pid,
            with_env: false,
        })
        .await?
        .into_inner();
    assert_eq!(info.state, proto::v1::ProcessState::Running as i32);
    let out = read_output(&mut c, p.pid, OutputStream::Stdout).await?;
    assert!(out.starts_with(b"tick\n"));
    c.signal(SignalRequest {
        pid: p.pid,
        signal: 9,
    })
    .await?;
    assert_eq!(wait(&mut c, p.pid).await?.signal, Some(9));
    Ok(())
}
