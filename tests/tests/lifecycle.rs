//! noded's own life: what survives a restart, what happens to processes
//! when noded is stopped or killed, many spawns at once, both listeners and
//! server reflection.

use std::collections::HashSet;

use nix::unistd::Pid;
use proto::v1::{ListRequest, OutputStream, ProcessState};
use tests::{
    Node, NodeOptions, TIMEOUT, get, host_alive, read_output, spawn, state, wait, wait_for_stdout,
    wait_until,
};

#[tokio::test]
async fn exit_records_and_output_survive_a_restart() -> anyhow::Result<()> {
    let mut node = Node::start().await?;
    let mut client = node.client().await?;
    let p = spawn(
        &mut client,
        &["sh", "-c", "echo kept; echo also >&2; exit 5"],
    )
    .await?;
    wait(&mut client, p.pid).await?;
    assert!(node.stop().await?.success(), "noded exits 0 on SIGTERM");

    node.restart().await?;
    let mut client = node.client().await?;
    let info = get(&mut client, p.pid).await?;
    assert_eq!(
        (state(&info), info.exit_code),
        (ProcessState::Exited, Some(5))
    );
    assert_eq!(info.argv, p.argv);
    assert_eq!(
        read_output(&mut client, p.pid, OutputStream::Stdout).await?,
        b"kept\n"
    );
    assert_eq!(
        read_output(&mut client, p.pid, OutputStream::Stderr).await?,
        b"also\n"
    );

    let next = spawn(&mut client, &["true"]).await?;
    assert!(
        next.pid > p.pid,
        "pids are not reused after a restart: {} then {}",
        p.pid,
        next.pid
    );
    Ok(())
}

#[tokio::test]
async fn with_stop_processes_sigterm_stops_every_process_group_and_exits_zero() -> anyhow::Result<()>
{
    let mut node = Node::start_with(NodeOptions {
        config: "[limits]\nstop_grace_ms = 1000\n".into(),
        args: vec!["--stop-processes".into()],
        ..NodeOptions::default()
    })
    .await?;
    let mut client = node.client().await?;
    let polite = spawn(&mut client, &["sh", "-c", "sleep 1000 & wait"]).await?;
    // Ignores SIGTERM (and its child inherits that), so only SIGKILL ends it.
    let stubborn = spawn(
        &mut client,
        &["sh", "-c", "trap '' TERM; sleep 1000 & echo started; wait"],
    )
    .await?;
    wait_for_stdout(&client, stubborn.pid, |out| {
        (out == "started\n").then_some(())
    })
    .await?;
    assert_eq!(node.leftover_processes().len(), 4);

    assert!(
        node.stop().await?.success(),
        "noded exits 0 on SIGTERM\n{}",
        node.log()
    );
    assert!(
        node.leftover_processes().is_empty(),
        "processes outlived noded: {:?}",
        node.leftover_processes()
    );
    assert!(!node.socket().exists(), "the socket is removed");

    node.restart().await?;
    let mut client = node.client().await?;
    let polite = get(&mut client, polite.pid).await?;
    assert_eq!(
        (state(&polite), polite.signal),
        (ProcessState::Killed, Some(libc::SIGTERM))
    );
    let stubborn = get(&mut client, stubborn.pid).await?;
    assert_eq!(
        (state(&stubborn), stubborn.signal),
        (ProcessState::Killed, Some(libc::SIGKILL))
    );
    Ok(())
}

#[tokio::test]
async fn with_stop_processes_processes_of_a_killed_noded_are_killed_and_recorded_as_lost()
-> anyhow::Result<()> {
    let mut node = Node::start_with(NodeOptions {
        args: vec!["--stop-processes".into()],
        ..NodeOptions::default()
    })
    .await?;
    let mut client = node.client().await?;
    let p = spawn(&mut client, &["sh", "-c", "sleep 1000 & echo $!; wait"]).await?;
    let grandchild = wait_for_stdout(&client, p.pid, |out| out.trim().parse().ok()).await?;
    let (leader, grandchild) = (Pid::from_raw(p.host_pid), Pid::from_raw(grandchild));
    let finished = spawn(&mut client, &["true"]).await?;
    wait(&mut client, finished.pid).await?;
    drop(client);

    node.crash()?;
    wait_until(
        "the keeper to kill the whole group when noded dies",
        TIMEOUT,
        || async move { (!host_alive(leader) && !host_alive(grandchild)).then_some(()) },
    )
    .await?;
    assert!(node.leftover_processes().is_empty());

    node.restart().await?;
    let mut client = node.client().await?;
    let lost = get(&mut client, p.pid).await?;
    assert_eq!(state(&lost), ProcessState::Lost);
    assert!(
        lost.lost_reason.contains("keeper was gone"),
        "{}",
        lost.lost_reason
    );
    let kept = get(&mut client, finished.pid).await?;
    assert_eq!(
        (state(&kept), kept.exit_code),
        (ProcessState::Exited, Some(0))
    );
    Ok(())
}

#[tokio::test]
async fn two_hundred_concurrent_spawns_are_all_accounted_for() -> anyhow::Result<()> {
    let node = Node::start().await?;
    let client = node.client().await?;
    let spawns = (0..200).map(|_| {
        let mut c = client.clone();
        async move {
            let p = spawn(&mut c, &["sh", "-c", "echo $NEFELE_PID"]).await?;
            let done = wait(&mut c, p.pid).await?;
            let out = read_output(&mut c, p.pid, OutputStream::Stdout).await?;
            anyhow::Ok((p.pid, done.exit_code, out))
        }
    });
    let results = futures::future::try_join_all(spawns).await?;
    let pids: HashSet<i32> = results.iter().map(|r| r.0).collect();
    assert_eq!(pids.len(), 200, "every spawn got its own pid");
    for (pid, code, out) in &results {
        assert_eq!(*code, Some(0));
        assert_eq!(out, format!("{pid}\n").as_bytes());
    }
    let listed = client
        .clone()
        .list(ListRequest {
            ended: true,
            ..ListRequest::default()
        })
        .await?
        .into_inner();
    let listed: HashSet<i32> = listed.processes.iter().map(|p| p.pid).collect();
    assert_eq!(listed, pids);
    Ok(())
}

#[tokio::test]
async fn the_api_is_served_on_tcp_with_reflection() -> anyhow::Result<()> {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let node = Node::start().await?;
    let mut client = node.tcp_client().await?;
    let p = spawn(&mut client, &["sh", "-c", "exit 0"]).await?;
    assert_eq!(wait(&mut client, p.pid).await?.exit_code, Some(0));

    let channel = node.tcp_channel().await?;
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = ServerReflectionClient::new(channel)
        .server_reflection_info(futures::stream::iter([req]))
        .await?
        .into_inner();
    let reply = replies.message().await?.expect("a reflection reply");
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("unexpected reflection reply {reply:?}");
    };
    let names: HashSet<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains("nefele.v1.Processes") && names.contains("nefele.v1.Cluster"),
        "{names:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_second_noded_cannot_take_the_same_data_dir() -> anyhow::Result<()> {
    let node = Node::start().await?;
    let out = node.command().output()?;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("in use by another noded"), "{stderr}");
    // The first one is unharmed.
    let mut client = node.client().await?;
    spawn(&mut client, &["true"]).await?;
    Ok(())
}

#[tokio::test]
async fn old_exit_records_are_pruned_with_their_output() -> anyhow::Result<()> {
    let mut node = Node::start_with(NodeOptions {
        config: "[limits]\nexit_records_max = 3\n".into(),
        ..NodeOptions::default()
    })
    .await?;
    let mut client = node.client().await?;
    let mut pids = Vec::new();
    for i in 0..5 {
        let p = spawn(&mut client, &["sh", "-c", &format!("echo {i}")]).await?;
        wait(&mut client, p.pid).await?;
        pids.push(p.pid);
    }
    node.stop().await?;
    node.restart().await?;
    let mut client = node.client().await?;
    for (i, pid) in pids.iter().enumerate() {
        let found = get(&mut client, *pid).await;
        let dir = node.data_dir().join("procs").join(pid.to_string());
        if i < 2 {
            let err = found.expect_err("pruned");
            let status = err.downcast_ref::<tonic::Status>().expect("a grpc status");
            assert_eq!(status.code(), tonic::Code::NotFound);
            assert!(!dir.exists(), "output of a pruned record is deleted");
        } else {
            found?;
            assert_eq!(
                read_output(&mut client, *pid, OutputStream::Stdout).await?,
                format!("{i}\n").as_bytes()
            );
        }
    }
    Ok(())
}

/// On an AMD CPU noded starts itself again at once with glibc's memcpy
/// tunable (src/memcpy_tuning.rs): the same PID, name and arguments; the
/// processes it runs do not get the variable; an operator's own
/// `GLIBC_TUNABLES` is left as it is. The keeper is started tuned too.
#[tokio::test]
async fn memcpy_tuning_keeps_the_daemon_and_stays_out_of_its_processes() -> anyhow::Result<()> {
    const TUNED: &str = "GLIBC_TUNABLES=glibc.cpu.x86_rep_movsb_threshold=4194304";
    let environ_of = |pid: i32| -> Vec<String> {
        std::fs::read(format!("/proc/{pid}/environ"))
            .expect("the environment is readable")
            .split(|b| *b == 0)
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect()
    };
    let environ = |node: &Node| environ_of(node.pid().expect("noded runs").as_raw());
    let amd = cfg!(all(target_arch = "x86_64", target_env = "gnu"))
        && std::fs::read_to_string("/proc/cpuinfo")?.contains("AuthenticAMD");

    let node = Node::start().await?;
    let pid = node.pid().expect("noded runs");
    let env = environ(&node);
    assert_eq!(
        env.iter().any(|e| e == TUNED),
        amd,
        "tuned iff the CPU is AMD; noded's environment: {env:?}"
    );
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/comm"))?.trim(),
        "noded",
        "ps and pgrep still see noded"
    );
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))?;
    assert!(
        cmdline
            .split(|b| *b == 0)
            .any(|arg| arg == node.name.as_bytes()),
        "the same arguments after the restart"
    );
    // The keeper copies output into logs: started tuned as well.
    let keeper: i32 = std::fs::read_to_string(node.data_dir().join("keeper.pid"))?
        .trim()
        .parse()?;
    let env = environ_of(keeper);
    assert_eq!(
        env.iter().any(|e| e == TUNED),
        amd,
        "the keeper is tuned iff noded is; its environment: {env:?}"
    );
    let mut client = node.client().await?;
    let p = spawn(
        &mut client,
        &[
            "sh",
            "-c",
            "echo ${GLIBC_TUNABLES-unset} ${NEFELE_MEMCPY_TUNED-unset}",
        ],
    )
    .await?;
    wait(&mut client, p.pid).await?;
    assert_eq!(
        read_output(&mut client, p.pid, OutputStream::Stdout).await?,
        b"unset unset\n"
    );

    let own = "glibc.malloc.trim_threshold=131072";
    let node = Node::start_with(NodeOptions {
        env: vec![("GLIBC_TUNABLES".into(), own.into())],
        ..NodeOptions::default()
    })
    .await?;
    let env = environ(&node);
    assert!(
        env.iter().any(|e| *e == format!("GLIBC_TUNABLES={own}"))
            && !env.iter().any(|e| e.starts_with("NEFELE_MEMCPY_TUNED=")),
        "the operator's tunables are kept and noded did not restart: {env:?}"
    );
    Ok(())
}
