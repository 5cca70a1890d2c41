//! Security between nodes (SPEC §9, issue #13): clusters form over mutual
//! TLS with join tokens; bad tokens, plain text, garbage, clients calling
//! internal services and certificates of another cluster are refused with
//! clear errors, change nothing, and leave the node serving; gossip
//! datagrams from outside the cluster are dropped; wildcard listens with
//! --advertise; two "machines" joined over a veth pair.

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use proto::tls::ClientTls;
use proto::v1::cluster_client::ClusterClient;
use proto::v1::raft_client::RaftClient;
use proto::v1::tokens_client::TokensClient;
use proto::v1::{
    CreateTokenRequest, GetRequest, JoinRequest, LeaveRequest, ListTokensRequest, NodeState,
    NodesRequest, RaftMessage, RevokeTokenRequest, SpawnRequest,
};
use proto::{Addr, connect, connect_with};
use tests::{Netns, Node, NodeOptions, TIMEOUT, TestCluster, request, spawn, wait, wait_until};
use tonic::Code;
use tonic::transport::Channel;

/// Runs a new noded that tries to join through `seed` with `extra` flags;
/// returns whether it succeeded and its stderr. A refused join must end
/// the process by itself (bounded by `timeout` as a guard).
fn try_join(seed: &Node, extra: &[&str]) -> anyhow::Result<(bool, String)> {
    let dir = tempfile::tempdir()?;
    let out = Command::new("timeout")
        .args(["-s", "KILL", "60"])
        .arg(tests::binary("noded"))
        .args(["--name", "intruder", "--listen", "127.0.0.1:0"])
        .args(["--join", &seed.hostport()])
        .args(extra)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--socket")
        .arg(dir.path().join("s.sock"))
        .output()?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

async fn tokens(node: &Node) -> anyhow::Result<TokensClient<Channel>> {
    Ok(TokensClient::new(connect(&node.addr()).await?))
}

async fn token_ids(node: &Node) -> anyhow::Result<Vec<String>> {
    let reply = tokens(node)
        .await?
        .list_tokens(ListTokensRequest {})
        .await?
        .into_inner();
    Ok(reply.tokens.into_iter().map(|t| t.id).collect())
}

async fn member_names(node: &Node) -> anyhow::Result<Vec<String>> {
    let nodes = node
        .cluster()
        .await?
        .nodes(NodesRequest {})
        .await?
        .into_inner()
        .nodes;
    Ok(nodes.into_iter().map(|n| n.name).collect())
}

/// The node still answers over TLS.
async fn still_serves(node: &Node) -> anyhow::Result<()> {
    let mut client = node.tcp_client().await?;
    let p = spawn(&mut client, &["true"]).await?;
    assert_eq!(wait(&mut client, p.pid).await?.exit_code, Some(0));
    Ok(())
}

/// A TLS channel to `node` that verifies it but presents no certificate,
/// as any client would.
async fn client_without_cert(node: &Node) -> anyhow::Result<Channel> {
    let tls = ClientTls::from_ca_file(&node.ca_file())?;
    Ok(connect_with(&node.tcp_addr()?, Some(&tls), TIMEOUT).await?)
}

#[tokio::test]
async fn a_cluster_forms_over_mutual_tls_and_a_joined_node_restarts_without_its_token()
-> anyhow::Result<()> {
    let mut cluster = TestCluster::start(3).await?;
    for node in &cluster.nodes {
        assert!(node.tcp_addr()?.to_string().starts_with("https://"));
        for file in ["ca.pem", "ca.key", "node.pem", "node.key"] {
            assert!(node.data_dir().join("tls").join(file).exists(), "{file}");
        }
    }
    // Every node holds the same CA; keys are private.
    let ca = std::fs::read(cluster.nodes[0].ca_file())?;
    assert_eq!(std::fs::read(cluster.nodes[2].ca_file())?, ca);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(cluster.nodes[1].data_dir().join("tls/node.key"))?.permissions(),
    );
    assert_eq!(mode & 0o077, 0, "node.key is private");

    // Forwarding between nodes works over mTLS.
    let req = SpawnRequest {
        node: cluster.nodes[2].name.clone(),
        ..request(&["true"])
    };
    let mut client = cluster.nodes[0].tcp_client().await?;
    let p = client.spawn(req).await?.into_inner();
    assert_eq!(p.node, cluster.nodes[2].name);
    assert_eq!(wait(&mut client, p.pid).await?.exit_code, Some(0));

    // With every token revoked, a member still comes back after a restart.
    for id in token_ids(&cluster.nodes[0]).await? {
        tokens(&cluster.nodes[0])
            .await?
            .revoke_token(RevokeTokenRequest { id })
            .await?;
    }
    assert!(token_ids(&cluster.nodes[0]).await?.is_empty());
    cluster.nodes[2].stop().await?;
    cluster.nodes[2].restart().await?;
    cluster.wait_members_up(3).await?;
    Ok(())
}

#[tokio::test]
async fn bad_tokens_are_refused_clearly_and_leave_no_trace() -> anyhow::Result<()> {
    let cluster = TestCluster::start(1).await?;
    let seed = &cluster.nodes[0];
    let other = Node::start().await?;
    let mut tokens_api = tokens(seed).await?;

    let good = seed.join_token().await?;
    let revoked = seed.join_token().await?;
    let revoked_id = revoked.split('.').nth(2).unwrap_or_default().to_string();
    tokens_api
        .revoke_token(RevokeTokenRequest { id: revoked_id })
        .await?;
    let expired = tokens_api
        .create_token(CreateTokenRequest {
            ttl_ms: 1,
            ..CreateTokenRequest::default()
        })
        .await?
        .into_inner()
        .token;
    let mut wrong_secret = good.clone();
    wrong_secret.replace_range(good.len() - 4.., "0000");
    if wrong_secret == good {
        wrong_secret.replace_range(good.len() - 4.., "1111");
    }
    let foreign = other.join_token().await?;

    let members = member_names(seed).await?;
    let ids = token_ids(seed).await?;
    let cases: [(&str, Vec<&str>, &str); 7] = [
        (
            "wrong secret",
            vec!["--token", &wrong_secret],
            "wrong secret",
        ),
        ("revoked", vec!["--token", &revoked], "unknown or revoked"),
        ("expired", vec!["--token", &expired], "expired"),
        (
            "truncated",
            vec!["--token", &good[..good.len() - 5]],
            "malformed token",
        ),
        (
            "another cluster",
            vec!["--token", &foreign],
            "the node there is of another cluster",
        ),
        ("missing", vec![], "--token"),
        ("junk", vec!["--token", "hello"], "malformed token"),
    ];
    for (what, flags, expected) in cases {
        let (ok, stderr) = try_join(seed, &flags)?;
        assert!(!ok, "{what}: joined");
        assert!(stderr.contains(expected), "{what}: {stderr}");
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    }
    // Nothing joined, no token appeared or went away.
    assert_eq!(member_names(seed).await?, members);
    assert_eq!(token_ids(seed).await?, ids);
    still_serves(seed).await?;

    // The good token works (and the store now pins the newcomer).
    let newcomer = Node::start_with(NodeOptions {
        join: vec![seed.hostport()],
        token: Some(good),
        ..NodeOptions::default()
    })
    .await?;
    assert!(member_names(seed).await?.contains(&newcomer.name));
    Ok(())
}

#[tokio::test]
async fn plain_text_and_garbage_on_the_tls_port_are_refused_and_the_node_keeps_serving()
-> anyhow::Result<()> {
    let node = Node::start().await?;
    let hostport = node.hostport();

    // A plain-text gRPC client (http://) is refused.
    let plain = Addr::Tcp(hostport.clone());
    let refused = match connect_with(&plain, None, TIMEOUT).await {
        Err(e) => format!("{e:?}"),
        Ok(channel) => {
            let err = ClusterClient::new(channel)
                .nodes(NodesRequest {})
                .await
                .expect_err("plain text must be refused");
            format!("{err:?}")
        }
    };
    assert!(!refused.is_empty());
    // The node logs the refusal once its answer is written.
    wait_until("the refusal in the log", TIMEOUT, || async {
        node.log().contains("plain-text gRPC refused").then_some(())
    })
    .await?;

    // Garbage, then a client that never finishes its handshake, then a
    // TLS client hello cut short: each is dropped on its own.
    let mut garbage = std::net::TcpStream::connect(&hostport)?;
    garbage.set_read_timeout(Some(TIMEOUT))?;
    garbage.write_all(b"\x16\x03\x01\xff\xffGET / HTTP/1.1\r\n\r\n\x00\x01\x02junk")?;
    let mut sink = Vec::new();
    let _ = garbage.read_to_end(&mut sink);
    let _idle = std::net::TcpStream::connect(&hostport)?;
    let mut cut = std::net::TcpStream::connect(&hostport)?;
    cut.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")?;
    drop(cut);
    still_serves(&node).await?;

    // A client that trusts another CA cannot verify this node.
    let other = Node::start().await?;
    let wrong_ca = ClientTls::from_ca_file(&other.ca_file())?;
    let err = connect_with(&node.tcp_addr()?, Some(&wrong_ca), TIMEOUT)
        .await
        .expect_err("another cluster's CA must not verify this node");
    assert!(format!("{err:?}").contains("Invalid"), "{err:?}");
    // NEFELE_ADDR over TLS without a CA says what to do.
    let err = connect_with(&node.tcp_addr()?, None, TIMEOUT)
        .await
        .expect_err("no CA");
    assert!(err.to_string().contains("NEFELE_CA"), "{err}");
    still_serves(&node).await?;
    Ok(())
}

/// Internal calls a client tries; each must be refused.
async fn internal_calls(channel: Channel) -> Vec<(&'static str, tonic::Status)> {
    let mut raft = RaftClient::new(channel.clone());
    let mut cluster = ClusterClient::new(channel);
    // A store write that would add a token of the attacker's.
    let forged = serde_json::json!({"add_token": {"id": "0123456789abcdef", "record": {
        "kind": "join", "secret_sha256": "00", "created_ms": 0, "expires_ms": u64::MAX}}});
    let write = RaftMessage {
        json: serde_json::to_vec(&forged).unwrap_or_default(),
    };
    let junk = || RaftMessage {
        json: b"{}".to_vec(),
    };
    let mut out = Vec::new();
    let mut push = |what, result: Result<tonic::Response<RaftMessage>, tonic::Status>| {
        out.push((what, result.expect_err(what)));
    };
    push("Raft/Write", raft.write(write).await);
    push("Raft/AppendEntries", raft.append_entries(junk()).await);
    push("Raft/Vote", raft.vote(junk()).await);
    push("Raft/InstallSnapshot", raft.install_snapshot(junk()).await);
    let join = cluster
        .join(JoinRequest {
            name: "rogue".into(),
            address: "127.0.0.1:9".into(),
            ..JoinRequest::default()
        })
        .await;
    out.push(("Cluster/Join", join.expect_err("join without a token")));
    let rejoin = cluster
        .join(JoinRequest {
            name: "rogue".into(),
            address: "127.0.0.1:9".into(),
            slot: 1,
            ..JoinRequest::default()
        })
        .await;
    out.push(("Cluster/Join slot", rejoin.expect_err("rejoin as slot 1")));
    out
}

#[tokio::test]
async fn clients_cannot_call_internal_services_and_nothing_changes() -> anyhow::Result<()> {
    let cluster = TestCluster::start(2).await?;
    let node = &cluster.nodes[0];
    let members = member_names(node).await?;
    let ids = token_ids(node).await?;

    // Over TLS without a node certificate.
    for (what, status) in internal_calls(client_without_cert(node).await?).await {
        assert_eq!(status.code(), Code::Unauthenticated, "{what}: {status:?}");
        assert!(status.message().contains("internal"), "{what}: {status:?}");
    }
    // Root on the Unix socket is a client too.
    for (what, status) in internal_calls(connect(&node.addr()).await?).await {
        let expected = if what.starts_with("Raft") {
            Code::PermissionDenied
        } else {
            Code::Unauthenticated
        };
        assert_eq!(status.code(), expected, "{what}: {status:?}");
    }
    // Leave over TCP without a node certificate.
    let leave = ClusterClient::new(client_without_cert(node).await?)
        .leave(LeaveRequest {
            slot: 2,
            this_node: false,
        })
        .await
        .expect_err("leave");
    assert_eq!(leave.code(), Code::Unauthenticated, "{leave:?}");

    // Nor the public API: TLS alone proves nothing about the client.
    let spawn = tests::spawn(
        &mut proto::v1::processes_client::ProcessesClient::new(client_without_cert(node).await?),
        &["true"],
    )
    .await
    .expect_err("spawn over TCP without credentials");
    let status = spawn.downcast_ref::<tonic::Status>().expect("a status");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let nodes = ClusterClient::new(client_without_cert(node).await?)
        .nodes(NodesRequest {})
        .await
        .expect_err("nodes over TCP without credentials");
    assert_eq!(nodes.code(), Code::Unauthenticated, "{nodes:?}");

    assert_eq!(member_names(node).await?, members);
    assert_eq!(token_ids(node).await?, ids);
    cluster.wait_members_up(2).await?;

    // The forwarding mark is a node's: set by a client (here on the
    // socket) it is ignored, so a Get of node 2's PID through node 1 is
    // still forwarded and answered.
    let p = {
        let req = SpawnRequest {
            node: cluster.nodes[1].name.clone(),
            ..request(&["sleep", "30"])
        };
        node.client().await?.spawn(req).await?.into_inner()
    };
    let mut get = tonic::Request::new(GetRequest {
        pid: p.pid,
        with_env: false,
    });
    get.metadata_mut().insert(
        "nefele-forwarded",
        tonic::metadata::MetadataValue::from_static("1"),
    );
    let info = node.client().await?.get(get).await?.into_inner();
    assert_eq!(info.node, cluster.nodes[1].name);
    node.client()
        .await?
        .signal(proto::v1::SignalRequest {
            pid: p.pid,
            signal: 9,
        })
        .await?;
    Ok(())
}

#[tokio::test]
async fn node_certificates_of_another_cluster_or_of_a_removed_node_are_refused()
-> anyhow::Result<()> {
    let cluster = TestCluster::start(2).await?;
    let node = &cluster.nodes[0];
    let other = Node::start().await?;
    let ids = token_ids(node).await?;

    // Another cluster's node key and certificate, trusting this cluster's
    // CA: the handshake fails (this cluster's CA did not sign it).
    let stolen_chain = std::fs::read(other.data_dir().join("tls/node.pem"))?;
    let stolen_key = std::fs::read(other.data_dir().join("tls/node.key"))?;
    let ca = std::fs::read(node.ca_file())?;
    let thief = ClientTls::new(&ca, Some((&stolen_chain, &stolen_key)))?;
    match connect_with(&node.tcp_addr()?, Some(&thief), TIMEOUT).await {
        Err(_) => {}
        Ok(channel) => {
            for (what, status) in internal_calls(channel).await {
                assert_ne!(status.code(), Code::Ok, "{what}");
            }
        }
    }
    assert_eq!(token_ids(node).await?, ids);
    still_serves(node).await?;

    // Node 2, removed by root on node 1's socket: its own certificate no
    // longer opens the internal services.
    let removed = &cluster.nodes[1];
    let chain = std::fs::read(removed.data_dir().join("tls/node.pem"))?;
    let key = std::fs::read(removed.data_dir().join("tls/node.key"))?;
    let slot = cluster
        .members(0)
        .await?
        .iter()
        .find(|m| m.name == removed.name)
        .map(|m| m.slot)
        .unwrap_or_default();
    node.cluster()
        .await?
        .leave(LeaveRequest {
            slot,
            this_node: false,
        })
        .await?;
    let as_removed = ClientTls::new(&ca, Some((&chain, &key)))?;
    let channel = connect_with(&node.tcp_addr()?, Some(&as_removed), TIMEOUT).await?;
    for (what, status) in internal_calls(channel).await {
        assert_eq!(status.code(), Code::Unauthenticated, "{what}: {status:?}");
    }
    assert_eq!(token_ids(node).await?, ids);
    Ok(())
}

/// A free port on 127.0.0.1 (another process may take it first: rare, and
/// the test then fails to bind, loudly).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[tokio::test]
async fn a_wildcard_listen_with_advertise_joins_and_serves() -> anyhow::Result<()> {
    let wildcard = |ip: &str, port: u16| NodeOptions {
        ip: Some(ip.into()),
        port: Some(port),
        args: vec!["--advertise".into(), format!("127.0.0.1:{port}")],
        ..NodeOptions::default()
    };
    // A founder on every IPv4 interface, and a node on every interface
    // (IPv6 and v4-mapped) joining it.
    let (p1, p2) = (free_port()?, free_port()?);
    let first = Node::start_with(wildcard("0.0.0.0", p1)).await?;
    assert_eq!(first.hostport(), format!("127.0.0.1:{p1}"));
    let join = first.join_options().await?;
    let second = Node::start_with(NodeOptions {
        join: join.join,
        token: join.token,
        ..wildcard("[::]", p2)
    })
    .await?;
    assert_eq!(second.hostport(), format!("127.0.0.1:{p2}"));
    let cluster = TestCluster {
        nodes: vec![first, second],
    };
    cluster.wait_members_up(2).await?;
    let members = cluster.members(0).await?;
    for (node, port) in [(0, p1), (1, p2)] {
        let m = members
            .iter()
            .find(|m| m.name == cluster.nodes[node].name)
            .expect("a member");
        assert_eq!(m.address, format!("127.0.0.1:{port}"));
    }
    for (via, on) in [(0, 1), (1, 0)] {
        let req = SpawnRequest {
            node: cluster.nodes[on].name.clone(),
            ..request(&["true"])
        };
        let mut client = cluster.nodes[via].tcp_client().await?;
        let p = client.spawn(req).await?.into_inner();
        assert_eq!(wait(&mut client, p.pid).await?.exit_code, Some(0));
    }
    Ok(())
}

#[tokio::test]
async fn two_machines_on_a_veth_link_form_a_cluster() -> anyhow::Result<()> {
    let a = Netns::create()?;
    let b = Netns::create()?;
    a.link(&b, "10.213.7.1", "10.213.7.2", 24)?;
    // Machine A listens on every interface without --advertise: it must
    // advertise its address on the link (its default route).
    let first = Node::start_with(NodeOptions {
        ip: Some("0.0.0.0".into()),
        netns: Some(a.name.clone()),
        ..NodeOptions::default()
    })
    .await?;
    let hostport = first.hostport();
    assert!(hostport.starts_with("10.213.7.1:"), "{hostport}");
    assert!(
        first
            .log()
            .contains("advertising the default route's address")
    );
    let second = Node::start_with(NodeOptions {
        ip: Some("10.213.7.2".into()),
        netns: Some(b.name.clone()),
        ..first.join_options().await?
    })
    .await?;
    let cluster = TestCluster {
        nodes: vec![first, second],
    };
    cluster.wait_members_up(2).await?;
    let members = cluster.members(0).await?;
    assert!(members.iter().all(|m| m.state == NodeState::Up as i32));
    let req = SpawnRequest {
        node: cluster.nodes[1].name.clone(),
        ..request(&["hostname"])
    };
    let mut client = cluster.nodes[0].client().await?;
    let p = client.spawn(req).await?.into_inner();
    assert_eq!(p.node, cluster.nodes[1].name);
    assert_eq!(wait(&mut client, p.pid).await?.exit_code, Some(0));
    // And the other way, through B.
    let mut client = cluster.nodes[1].client().await?;
    let req = SpawnRequest {
        node: cluster.nodes[0].name.clone(),
        ..request(&["true"])
    };
    let p = client.spawn(req).await?.into_inner();
    assert_eq!(wait(&mut client, p.pid).await?.exit_code, Some(0));
    wait_until("members agree", Duration::from_secs(30), || async {
        (cluster.members(1).await.ok()?.len() == 2).then_some(())
    })
    .await?;
    Ok(())
}

/// The tag every gossip datagram of the cluster with id `cluster_id`
/// starts with (FNV-1a, noded/src/cluster/gossip.rs): what an attacker who
/// learned the cluster's id can put in front of a forgery.
fn gossip_tag(cluster_id: &str) -> [u8; 8] {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in cluster_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash.to_be_bytes()
}

#[tokio::test]
async fn gossip_datagrams_from_outside_the_cluster_change_nothing() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start(3).await?;
    let dead = cluster.nodes[2].name.clone();
    cluster.nodes[2].crash()?;
    wait_until(&format!("{dead} to be down"), TIMEOUT, || async {
        let nodes = cluster.nodes[0].cluster().await.ok()?;
        let nodes = nodes
            .clone()
            .nodes(NodesRequest {})
            .await
            .ok()?
            .into_inner();
        nodes
            .nodes
            .iter()
            .any(|n| n.name == dead && n.state == NodeState::Down as i32)
            .then_some(())
    })
    .await?;
    let identity: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        cluster.nodes[0].data_dir().join("node.json"),
    )?)?;
    let tag = gossip_tag(identity["cluster_id"].as_str().expect("a cluster id"));
    // Every datagram a forger without the CA's key can make: junk, the
    // cluster's tag with junk of every length up to the largest UDP
    // datagram, and the tag with what an unsealed (insecure) cluster would
    // send, from the dead node's address as well as another.
    let targets = [cluster.nodes[0].hostport(), cluster.nodes[1].hostport()];
    let from_other = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let mut sent = 0;
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut junk = |len: usize| -> Vec<u8> {
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    };
    for round in 0..3 {
        for len in (0..1500).step_by(7).chain([65_000]) {
            let mut forged = if round == 0 { Vec::new() } else { tag.to_vec() };
            forged.extend(junk(len));
            for target in &targets {
                from_other.send_to(&forged, target)?;
                sent += 1;
            }
        }
    }
    assert!(sent > 1000);
    // The dead node stays down, the others up, and they serve.
    let down_after = Duration::from_secs(3);
    tokio::time::sleep(down_after).await;
    for via in 0..2 {
        let nodes = cluster.members(via).await?;
        for node in &nodes {
            let wanted = if node.name == dead {
                NodeState::Down
            } else {
                NodeState::Up
            };
            assert_eq!(
                node.state, wanted as i32,
                "{} as node {via} sees it",
                node.name
            );
        }
        still_serves(&cluster.nodes[via]).await?;
    }
    Ok(())
}
