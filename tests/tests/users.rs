//! Users and tenants (SPEC §9, issue #14): on a 3-node cluster, real local
//! users made for the test (removed after) run nsh against a node's socket;
//! their processes run as themselves on any node, and each sees and acts
//! on only their own; root and members of --admin-group see all; services
//! belong to their creator; forged identity headers are ignored; another
//! user cannot reach a process substitution's FIFO.

use std::process::Command;

use proto::v1::{ListRequest, SpawnRequest};
use tests::accounts::{Accounts, nsh_as, sh_as};
use tests::{Node, NodeOptions, TestCluster, request, wait};
use tonic::Code;

/// Every process of the cluster, as root sees them.
async fn every_process(node: &Node) -> anyhow::Result<Vec<proto::v1::ProcessInfo>> {
    Ok(node
        .client()
        .await?
        .list(ListRequest::default())
        .await?
        .into_inner()
        .processes)
}

/// Runs `command`: its status, stdout and stderr.
fn status_and_output(command: &mut Command) -> anyhow::Result<(i32, String, String)> {
    let out = command.output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// A 3-node cluster whose sockets every local user can reach, with the
/// test's admin group.
async fn cluster(accounts: &Accounts) -> anyhow::Result<TestCluster> {
    let cluster = TestCluster::start_with(
        3,
        NodeOptions {
            args: vec!["--admin-group".into(), accounts.group.clone()],
            ..NodeOptions::default()
        },
    )
    .await?;
    for node in &cluster.nodes {
        node.open_to_local_users()?;
    }
    Ok(cluster)
}

#[tokio::test]
async fn each_user_runs_as_themselves_and_sees_only_their_own() -> anyhow::Result<()> {
    let accounts = Accounts::create()?;
    let (a, b, c) = (&accounts.users[0], &accounts.users[1], &accounts.users[2]);
    let cluster = cluster(&accounts).await?;
    let (n1, n2) = (&cluster.nodes[0], cluster.nodes[1].name.clone());

    // A's command on another node runs as A, with A's login environment.
    let (status, out, err) = nsh_as(
        a,
        n1,
        &format!("@{n2} id -un; @{n2} sh -c 'echo $HOME $USER'"),
    )?;
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, format!("{a}\n/home/{a} {a}\n"));

    // A leaves a process running on node 2.
    let (status, out, err) = nsh_as(a, n1, &format!("run -n {n2} -d -- sleep 4242"))?;
    assert_eq!(status, 0, "{err}");
    let pid: i32 = out
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {out:?}"));

    // B does not see it, cannot signal it, read it, or wait for it.
    let (_, out, _) = nsh_as(b, n1, "ps -e -o pid,user,cmd")?;
    assert!(!out.contains(&pid.to_string()), "{out}");
    for (script, expected) in [
        (
            format!("kill {pid}"),
            format!("nsh: kill: ({pid}) - No such process"),
        ),
        (format!("logs {pid}"), format!("({pid}) - No such process")),
    ] {
        let (status, _, err) = nsh_as(b, n1, &script)?;
        assert_eq!(status, 1, "{script}: {err}");
        assert!(err.contains(&expected), "{script}: {err}");
    }

    // Nor read it behind the API: a node's data dir (the journal with every
    // process's argv and environment, the output logs, the raft log with
    // everyone's keys) is root's alone.
    for node in &cluster.nodes {
        let data = node.data_dir();
        for file in ["journal", "raft"] {
            let script = format!(
                "cat {}/{file} || ls {}/{file}",
                data.display(),
                data.display()
            );
            let (status, out) = tests::accounts::sh_as(b, &script)?;
            assert_ne!(status, 0, "{b} reads {file} of {}: {out}", data.display());
        }
    }

    // A sees it, as running and as theirs; root and the admin sees A's too.
    let (_, out, _) = nsh_as(a, n1, "ps -e -o pid,user,cmd")?;
    assert!(out.contains(&format!("{pid} {a}")), "{out}");
    let (_, out, _) = nsh_as(c, n1, "ps -e -o pid,user,cmd")?;
    assert!(out.contains(&format!("{pid} {a}")), "admin: {out}");
    let all = every_process(n1).await?;
    let mine = all.iter().find(|p| p.pid == pid).expect("root sees A's");
    assert_eq!(mine.user, *a);
    let host_uid = nix::unistd::User::from_name(a)?.map(|u| u.uid.as_raw());
    assert_eq!(Some(mine.uid), host_uid);

    // Services are their creator's.
    let (status, _, err) = nsh_as(a, n1, "svc run web -r 1 -- sleep 4343")?;
    assert_eq!(status, 0, "{err}");
    let (_, out, _) = nsh_as(b, n1, "svc ls")?;
    assert!(!out.contains("web"), "{out}");
    let (status, _, err) = nsh_as(b, n1, "svc rm web")?;
    assert_ne!(status, 0);
    assert!(err.contains("no such service"), "{err}");
    let (_, out, _) = nsh_as(a, n1, "svc ls")?;
    assert!(out.contains("web"), "{out}");
    tests::wait_until("A's replica to run as A", tests::TIMEOUT, || async {
        let list = n1
            .client()
            .await
            .ok()?
            .list(ListRequest::default())
            .await
            .ok()?;
        list.into_inner()
            .processes
            .iter()
            .any(|p| p.argv.join(" ") == "sleep 4343" && p.user == *a)
            .then_some(())
    })
    .await?;
    let (status, _, err) = nsh_as(a, n1, &format!("svc rm web; kill {pid}"))?;
    assert_eq!(status, 0, "{err}");
    Ok(())
}

#[tokio::test]
async fn identity_cannot_be_forged_and_unknown_users_are_refused() -> anyhow::Result<()> {
    let accounts = Accounts::create()?;
    let (a, b) = (&accounts.users[0], &accounts.users[1]);
    let cluster = cluster(&accounts).await?;
    let n1 = &cluster.nodes[0];

    // B presents headers claiming to be A, an administrator: ignored.
    let python = r#"
import sys, grpc
ch = grpc.insecure_channel("unix:" + sys.argv[1])
spawn = ch.unary_unary("/nefele.v1.Processes/Spawn",
    request_serializer=lambda x: x, response_deserializer=lambda x: x)
req = b"\x0a\x05sleep\x0a\x044444"
spawn(req, metadata=[("nefele-user", sys.argv[2]), ("nefele-admin", "1"),
                     ("nefele-forwarded", "1")], timeout=30)
"#;
    let out = Command::new("timeout")
        .args([
            "-s",
            "KILL",
            "60",
            "setpriv",
            "--reuid",
            b,
            "--regid",
            b,
            "--init-groups",
        ])
        // The system's Python (readable by every user), with Debian's
        // python3-grpcio: any version will do for headers.
        .args(["/usr/bin/python3", "-c", python])
        .arg(n1.socket())
        .arg(a)
        .output()?;
    assert!(
        out.status.success(),
        "/usr/bin/python3 with grpcio is needed (.ci/run installs python3-grpcio): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = every_process(n1).await?;
    let forged = all
        .iter()
        .find(|p| p.argv.join(" ") == "sleep 4444")
        .expect("the spawn ran");
    assert_eq!(forged.user, *b, "the process is B's, not A's");

    // Root may act for a user; one that does not exist on the process's
    // node is a clear error naming the node, and nothing starts.
    let mut req = tonic::Request::new(SpawnRequest {
        node: cluster.nodes[2].name.clone(),
        ..request(&["true"])
    });
    req.metadata_mut()
        .insert("nefele-user", "nosuchuser".parse().expect("ascii"));
    let err = n1
        .client()
        .await?
        .spawn(req)
        .await
        .expect_err("no such user");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(
        err.message().contains("nosuchuser") && err.message().contains(&cluster.nodes[2].name),
        "{err:?}"
    );
    // And root's own processes still run as root.
    let mut client = n1.client().await?;
    let p = client.spawn(request(&["id", "-u"])).await?.into_inner();
    assert_eq!(wait(&mut client, p.pid).await?.exit_code, Some(0));
    assert_eq!((p.uid, p.user.as_str()), (0, "root"));
    for p in all.iter().filter(|p| p.argv.join(" ") == "sleep 4444") {
        client
            .signal(proto::v1::SignalRequest {
                pid: p.pid,
                signal: 9,
            })
            .await?;
    }
    Ok(())
}

/// A user token made by root on `node`.
async fn user_token(node: &Node, user: &str) -> anyhow::Result<String> {
    let mut tokens =
        proto::v1::tokens_client::TokensClient::new(proto::connect(&node.addr()).await?);
    Ok(tokens
        .create_token(proto::v1::CreateTokenRequest {
            user: user.into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .token)
}

/// Runs `nsh --addr https://NODE --token TOKEN -c SCRIPT` (as root: the
/// token, not the local uid, says who acts), with no CA but the token's
/// fingerprint.
fn nsh_tcp(node: &Node, token: &str, script: &str) -> anyhow::Result<(i32, String, String)> {
    status_and_output(
        Command::new("timeout")
            .args(["-s", "KILL", "60"])
            .arg(tests::binary("nsh"))
            .args([
                "--addr",
                &node.tcp_addr()?.to_string(),
                "--token",
                token,
                "-c",
                script,
            ])
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", "/nonexistent")
            .current_dir("/"),
    )
}

/// A channel to `node` over TLS with a client certificate bought with
/// `token` (what nsh does when it connects).
async fn certified(node: &Node, token: &str) -> anyhow::Result<tonic::transport::Channel> {
    let fingerprint = proto::tls::token_fingerprint(token).expect("a token");
    let trust = proto::tls::Trust::Fingerprint(fingerprint);
    let anonymous = proto::tls::ClientTls::with(&trust, None)?;
    let addr = node.tcp_addr()?;
    let channel = proto::connect_with(&addr, Some(&anonymous), tests::TIMEOUT).await?;
    let (public_key, key) = proto::tls::new_client_key()?;
    let reply = proto::v1::tokens_client::TokensClient::new(channel)
        .certify(proto::v1::CertifyRequest {
            token: token.into(),
            public_key,
        })
        .await?
        .into_inner();
    let tls =
        proto::tls::ClientTls::with(&trust, Some((reply.certificate.as_bytes(), key.as_bytes())))?;
    Ok(proto::connect_with(&addr, Some(&tls), tests::TIMEOUT).await?)
}

#[tokio::test]
async fn over_tcp_a_user_token_acts_as_its_user_until_revoked() -> anyhow::Result<()> {
    let accounts = Accounts::create()?;
    let (a, b) = (&accounts.users[0], &accounts.users[1]);
    let cluster = cluster(&accounts).await?;
    let (n1, n2) = (&cluster.nodes[0], cluster.nodes[1].name.clone());
    let (token_a, token_b) = (user_token(n1, a).await?, user_token(n1, b).await?);

    // The token alone (no CA file, run by root) makes the shell act as A.
    let (status, out, err) = nsh_tcp(n1, &token_a, &format!("@{n2} id -un; run -d -- sleep 4545"))?;
    assert_eq!(status, 0, "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(a.as_str()), "{out}");
    let pid: i32 = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid in {out:?}"));
    // Same rules as on the socket: B neither sees nor signals it.
    let (_, out, _) = nsh_tcp(&cluster.nodes[2], &token_b, "ps -e -o pid,user")?;
    assert!(!out.contains(&pid.to_string()), "{out}");
    let (status, _, err) = nsh_tcp(n1, &token_b, &format!("kill {pid}"))?;
    assert_eq!(status, 1);
    assert!(err.contains("No such process"), "{err}");
    let (_, out, _) = nsh_tcp(n1, &token_a, "ps -e -o pid,user")?;
    assert!(out.contains(&format!("{pid} {a}")), "{out}");
    // Nor closes its stdout: CloseStdout answers B as for no such process.
    let mut as_b =
        proto::v1::processes_client::ProcessesClient::new(certified(n1, &token_b).await?);
    let refused = as_b
        .close_stdout(proto::v1::CloseStdoutRequest { pid })
        .await;
    assert_eq!(refused.map(drop).map_err(|s| s.code()), Err(Code::NotFound));

    // Connections made before the revocation stop working too, on every
    // node, within seconds.
    let mut open = Vec::new();
    for node in &cluster.nodes {
        open.push(proto::v1::processes_client::ProcessesClient::new(
            certified(node, &token_a).await?,
        ));
    }
    let id = token_a.split('.').nth(2).unwrap_or_default().to_string();
    proto::v1::tokens_client::TokensClient::new(proto::connect(&n1.addr()).await?)
        .revoke_token(proto::v1::RevokeTokenRequest { id })
        .await?;
    for client in &mut open {
        tests::wait_until("the revoked token to be refused", tests::TIMEOUT, || {
            let mut client = client.clone();
            async move {
                // Saying why: the token, not a missing credential.
                match client.list(ListRequest::default()).await {
                    Err(s)
                        if s.code() == Code::Unauthenticated
                            && s.message().contains("token unknown or revoked") =>
                    {
                        Some(())
                    }
                    _ => None,
                }
            }
        })
        .await?;
    }
    for node in &cluster.nodes {
        // `nodes` needs the cluster (`true` would not connect at all).
        let (status, _, err) = nsh_tcp(node, &token_a, "nodes")?;
        assert_ne!(status, 0);
        assert!(err.contains("unknown or revoked"), "{err}");
    }
    // Wrong secrets, join tokens and junk are refused with a reason.
    let mut wrong = token_b.clone();
    wrong.replace_range(
        wrong.len() - 4..,
        if wrong.ends_with("0000") {
            "1111"
        } else {
            "0000"
        },
    );
    let join = n1.join_token().await?;
    for (token, expected) in [
        (wrong.as_str(), "wrong secret"),
        (join.as_str(), "not a user token"),
        ("N1.junk", "no cluster CA is known"),
    ] {
        let (status, _, err) = nsh_tcp(n1, token, "nodes")?;
        assert_ne!(status, 0, "{token}");
        assert!(err.contains(expected), "{token}: {err}");
    }
    // A token of a user this node does not have: a clear error, naming it.
    let ghost = user_token(n1, "nefeleghost").await?;
    let (status, _, err) = nsh_tcp(n1, &ghost, &format!("@{n2} true"))?;
    assert_ne!(status, 0);
    assert!(err.contains("nefeleghost") && err.contains(&n2), "{err}");
    let (status, _, err) = nsh_tcp(n1, &token_b, &format!("kill {pid} 2>/dev/null; true"))?;
    assert_eq!(status, 0, "{err}");
    n1.client()
        .await?
        .signal(proto::v1::SignalRequest { pid, signal: 9 })
        .await?;
    Ok(())
}

#[tokio::test]
async fn nefelefs_shows_each_user_only_their_own_processes() -> anyhow::Result<()> {
    let accounts = Accounts::create()?;
    let (a, b, c) = (&accounts.users[0], &accounts.users[1], &accounts.users[2]);
    let cluster = cluster(&accounts).await?;
    let n1 = &cluster.nodes[0];
    let mount = tests::Mount::start_with(n1, &["--admin-group", &accounts.group]).await?;
    let proc_dir = mount.path.join("proc");

    let n2 = cluster.nodes[1].name.clone();
    let (status, out, err) = nsh_as(a, n1, &format!("run -n {n2} -d -- sleep 4646"))?;
    assert_eq!(status, 0, "{err}");
    let pid: i32 = out.trim().parse()?;
    let dir = proc_dir.join(pid.to_string());
    let cmdline = format!("tr '\\0' ' ' < {}/cmdline", dir.display());
    let listing = format!("ls {}", proc_dir.display());

    // Root looks first, so the kernel's caches hold the directory.
    let root_sees = std::fs::read_dir(&proc_dir)?
        .flatten()
        .any(|e| e.file_name() == pid.to_string().as_str());
    assert!(root_sees);
    assert!(std::fs::read(dir.join("cmdline"))?.starts_with(b"sleep"));

    // B: not listed, and nothing of it can be read: the kernel still holds
    // root's entry (a walk through it is refused by the directory's mode,
    // EACCES) ...
    let (_, out) = sh_as(b, &listing)?;
    assert!(!out.contains(&pid.to_string()), "{out}");
    for file in ["cmdline", "stdout", "status"] {
        let (status, out) = sh_as(b, &format!("cat {}/{file}", dir.display()))?;
        assert_ne!(status, 0, "{file}: {out}");
        assert!(
            out.contains("No such file or directory") || out.contains("Permission denied"),
            "{file}: {out}"
        );
    }
    // ... and once that entry has expired, the PID is not there (ENOENT).
    tests::wait_until("B's lookup to say ENOENT", tests::TIMEOUT, || async {
        let (status, out) = sh_as(b, &format!("cat {}/cmdline", dir.display())).ok()?;
        (status != 0 && out.contains("No such file or directory")).then_some(())
    })
    .await?;

    // A and the administrator: listed and readable.
    for user in [a, c] {
        let (_, out) = sh_as(user, &listing)?;
        assert!(out.contains(&pid.to_string()), "{user}: {out}");
        let (status, out) = sh_as(user, &cmdline)?;
        assert_eq!((status, out.trim()), (0, "sleep 4646"), "{user}");
    }
    n1.client()
        .await?
        .signal(proto::v1::SignalRequest { pid, signal: 9 })
        .await?;
    Ok(())
}

#[tokio::test]
async fn only_root_may_make_a_node_leave() -> anyhow::Result<()> {
    let accounts = Accounts::create()?;
    let (b, admin) = (&accounts.users[1], &accounts.users[2]);
    let node = Node::start_with(NodeOptions {
        args: vec!["--admin-group".into(), accounts.group.clone()],
        ..NodeOptions::default()
    })
    .await?;
    node.open_to_local_users()?;
    // A user, and a member of the admin group (who sees every process but
    // is not root): `noded leave` is refused and the node serves on.
    for user in [b, admin] {
        let (status, _, err) = status_and_output(
            Command::new("timeout")
                .args([
                    "-s", "KILL", "60", "setpriv", "--reuid", user, "--regid", user,
                ])
                .arg("--init-groups")
                .arg(tests::binary("noded"))
                .arg("leave")
                .arg("--socket")
                .arg(node.socket()),
        )?;
        assert_ne!(status, 0, "{user}: {err}");
        assert!(err.contains("only root"), "{user}: {err}");
    }
    let mut client = node.client().await?;
    let p = tests::spawn(&mut client, &["true"]).await?;
    wait(&mut client, p.pid).await?;
    assert!(node.pid().is_some(), "noded still runs");
    Ok(())
}

#[tokio::test]
async fn a_user_cannot_raise_a_hard_limit_but_may_lower_one() -> anyhow::Result<()> {
    let accounts = Accounts::create()?;
    let a = &accounts.users[0];
    let cluster = cluster(&accounts).await?;
    let n1 = &cluster.nodes[0];
    // Root on the socket acting for A: the process is A's, and its limits
    // are applied as A.
    let spawn_as_a = |hard: u64| {
        let mut req = tonic::Request::new(SpawnRequest {
            limits: vec![proto::v1::ResourceLimit {
                resource: "nofile".into(),
                soft: None,
                hard: Some(hard),
            }],
            ..request(&["sh", "-c", "ulimit -Hn"])
        });
        req.metadata_mut()
            .insert("nefele-user", a.parse().expect("ascii"));
        req
    };
    let err = n1
        .client()
        .await?
        .spawn(spawn_as_a(u64::MAX - 1))
        .await
        .expect_err("raising the hard limit as a user");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let mut client = n1.client().await?;
    let pid = client.spawn(spawn_as_a(100)).await?.into_inner().pid;
    tests::wait(&mut client, pid).await?;
    let out = tests::read_output(&mut client, pid, proto::v1::OutputStream::Stdout).await?;
    assert_eq!(out, b"100\n");
    // An unknown resource is refused before anything starts.
    let mut bad = spawn_as_a(100);
    bad.get_mut().limits[0].resource = "files".into();
    let err = client.spawn(bad).await.expect_err("unknown resource");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    // The shell refuses it as bash does.
    let (status, _, err) = nsh_as(a, n1, "ulimit -H -n unlimited")?;
    assert_eq!(
        (status, err.as_str()),
        (
            1,
            "nsh: ulimit: open files: cannot modify limit: Operation not permitted\n"
        )
    );
    Ok(())
}

/// A process substitution's FIFO on a node (OpenFifo) is its user's alone:
/// while A's command holds one, B can neither read it, list its directory
/// nor put a link in it.
#[tokio::test]
async fn another_user_cannot_reach_a_process_substitution_fifo() -> anyhow::Result<()> {
    let accounts = Accounts::create()?;
    let (a, b) = (accounts.users[0].clone(), accounts.users[1].clone());
    let cluster = cluster(&accounts).await?;
    let n2 = cluster.nodes[1].name.clone();
    let note = format!("/tmp/nefele-fifo-path-{}", std::process::id());
    let _ = std::fs::remove_file(&note);
    // A's command on node 2 writes down its FIFO's path, then holds it.
    let script = format!(
        "@{n2} sh -c 'echo \"$1\" > {note}.tmp && mv {note}.tmp {note}; sleep 6' sh <(echo secret)"
    );
    let node = &cluster.nodes[0];
    let outcome = std::thread::scope(|scope| -> anyhow::Result<()> {
        let holder = scope.spawn(|| nsh_as(&a, node, &script));
        // Waits (a condition, polled) for the note, for up to 30 s.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let path = loop {
            if let Ok(p) = std::fs::read_to_string(&note) {
                break p.trim().to_string();
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline && !holder.is_finished(),
                "A's command never wrote its FIFO's path"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let dir = std::path::Path::new(&path)
            .parent()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        for (attempt, script) in [
            ("read it", format!("cat {path}")),
            ("list its directory", format!("ls {dir}")),
            (
                "link into its directory",
                format!("ln -s /etc/passwd {dir}/other"),
            ),
        ] {
            let (status, out) = sh_as(&b, &script)?;
            anyhow::ensure!(
                status != 0 && out.contains("Permission denied") && !out.contains("secret"),
                "B could {attempt}: {status} {out}"
            );
        }
        let (status, _, err) = holder
            .join()
            .map_err(|_| anyhow::anyhow!("A's shell panicked"))??;
        anyhow::ensure!(status == 0, "{err}");
        Ok(())
    });
    let _ = std::fs::remove_file(&note);
    let _ = std::fs::remove_file(format!("{note}.tmp"));
    outcome
}
