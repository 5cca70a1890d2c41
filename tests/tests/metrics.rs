//! `--metrics-listen`: each node serves Prometheus text at /metrics, read
//! here as Prometheus would and parsed by the reference parser (Python's
//! prometheus_client, Debian's python3-prometheus-client).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::process::Command;

use tests::{NodeOptions, TIMEOUT, TestCluster, request, wait, wait_until};

/// A free loopback port (the kernel's choice, released for noded to take).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `GET path` over HTTP/1.1: status line and body.
fn get(port: u16, path: &str) -> anyhow::Result<(String, String)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    Ok((
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    ))
}

/// The samples of a scrape as the reference parser reads them:
/// `name{label="value",...}` (labels sorted) to value.
fn parse(text: &str) -> anyhow::Result<HashMap<String, f64>> {
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}} {s.value}")
"#;
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(text.as_bytes())?;
    let out = child.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "the parser refused the scrape: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?
        .lines()
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap_or(f64::NAN)))
        .collect())
}

/// `echo WORD` on `node` piped directly into `cat` on node 0 (the
/// client's), waited for.
async fn pipe_to_node_0(
    client: &mut proto::v1::processes_client::ProcessesClient<tonic::transport::Channel>,
    node: &str,
    word: &str,
) -> anyhow::Result<()> {
    let producer = client
        .spawn(proto::v1::SpawnRequest {
            node: node.to_string(),
            output_backpressure: true,
            ..request(&["echo", word])
        })
        .await?
        .into_inner()
        .pid;
    let consumer = client
        .spawn(proto::v1::SpawnRequest {
            stdin_from: producer,
            ..request(&["cat"])
        })
        .await?
        .into_inner()
        .pid;
    wait(client, consumer).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_serve_metrics_that_prometheus_parses() -> anyhow::Result<()> {
    let ports = [free_port()?, free_port()?];
    let cluster = TestCluster::start_each(2, |i| NodeOptions {
        args: vec!["--metrics-listen".into(), format!("127.0.0.1:{}", ports[i])],
        ..NodeOptions::default()
    })
    .await?;
    let mut client = cluster.nodes[0].client().await?;
    let done = client.spawn(request(&["true"])).await?.into_inner().pid;
    wait(&mut client, done).await?;
    let sleeper = client
        .spawn(request(&["sleep", "1000"]))
        .await?
        .into_inner()
        .pid;
    // Node 0 ran two processes, one still running; both nodes see two
    // members up, and one of them leads the store.
    let samples = wait_until("node 0's metrics", TIMEOUT, || async {
        let (status, body) = get(ports[0], "/metrics").ok()?;
        assert_eq!(status, "HTTP/1.1 200 OK");
        let samples = parse(&body).ok()?;
        (samples.get(r#"nefele_members{state="up"}"#) == Some(&2.0)).then_some(samples)
    })
    .await?;
    let at = |k: &str| samples.get(k).copied().unwrap_or(f64::NAN);
    assert_eq!(at("nefele_spawns_total{}"), 2.0, "{samples:?}");
    assert_eq!(at("nefele_exits_total{}"), 1.0);
    assert_eq!(at(r#"nefele_processes{state="running"}"#), 1.0);
    assert_eq!(at(r#"nefele_processes{state="ended"}"#), 1.0);
    assert_eq!(at("nefele_spawn_duration_seconds_count{}"), 2.0);
    assert!(at(r#"nefele_spawn_duration_seconds_bucket{le="+Inf"}"#) == 2.0);
    assert!(at("nefele_store_term{}") >= 1.0);
    // Gossip rounds with the other node were timed (and took under 1 s).
    assert!(
        at("nefele_gossip_round_trip_seconds_count{}") >= 1.0,
        "{samples:?}"
    );
    assert!(
        at("nefele_gossip_round_trip_seconds_sum{}")
            < at("nefele_gossip_round_trip_seconds_count{}")
    );
    assert!(at("nefele_store_applied_index{}") >= 1.0);
    let other = parse(&get(ports[1], "/metrics")?.1)?;
    assert_eq!(
        at("nefele_store_leader{}") + other[&"nefele_store_leader{}".to_string()],
        1.0
    );
    assert_eq!(other["nefele_spawns_total{}"], 0.0);
    // A direct pipe from node 1 into node 0 counts what node 0 fed.
    pipe_to_node_0(&mut client, &cluster.nodes[1].name, "hello").await?;
    let piped = wait_until("node 0 to count the pipe", TIMEOUT, || async {
        let samples = parse(&get(ports[0], "/metrics").ok()?.1).ok()?;
        samples
            .get(r#"nefele_pipe_bytes_total{to="process"}"#)
            .copied()
            .filter(|v| *v > 0.0)
    })
    .await?;
    assert_eq!(piped, 6.0);
    // The next pipe between the two nodes takes the stream the first one
    // left: no new connection, no handshake.
    pipe_to_node_0(&mut client, &cluster.nodes[1].name, "again").await?;
    let samples = parse(&get(ports[0], "/metrics")?.1)?;
    let at = |k: &str| samples.get(k).copied().unwrap_or(f64::NAN);
    assert_eq!(at(r#"nefele_pipe_bytes_total{to="process"}"#), 12.0);
    assert_eq!(
        at(r#"nefele_pipe_streams_total{connection="new"}"#),
        1.0,
        "{samples:?}"
    );
    assert_eq!(at(r#"nefele_pipe_streams_total{connection="reused"}"#), 1.0);
    // Anything else is 404.
    assert_eq!(get(ports[0], "/")?.0, "HTTP/1.1 404 Not Found");
    client
        .signal(proto::v1::SignalRequest {
            pid: sleeper,
            signal: libc::SIGKILL,
        })
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nefelefs_serves_its_fuse_requests_as_metrics() -> anyhow::Result<()> {
    let cluster = TestCluster::start(1).await?;
    let mut client = cluster.nodes[0].client().await?;
    let sleeper = client
        .spawn(request(&["sleep", "1000"]))
        .await?
        .into_inner()
        .pid;
    let port = free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let mount = tests::Mount::start_with(&cluster.nodes[0], &["--metrics-listen", &listen]).await?;
    // What a user does: list the processes, read one, miss one.
    let proc_dir = mount.path.join("proc");
    let listed = std::fs::read_dir(&proc_dir)?.count();
    assert!(listed > 0);
    let status = std::fs::read_to_string(proc_dir.join(sleeper.to_string()).join("status"))?;
    assert!(status.contains("sleep"), "{status}");
    assert!(std::fs::metadata(proc_dir.join("10999999")).is_err());
    let samples = wait_until("nefelefs's metrics", TIMEOUT, || async {
        let (status, body) = get(port, "/metrics").ok()?;
        assert_eq!(status, "HTTP/1.1 200 OK");
        let samples = parse(&body).ok()?;
        samples
            .contains_key(r#"nefele_fuse_errors_total{errno="ENOENT"}"#)
            .then_some(samples)
    })
    .await?;
    let at = |k: &str| samples.get(k).copied().unwrap_or(0.0);
    for op in ["lookup", "getattr", "open", "read", "readdirplus"] {
        let key = format!(r#"nefele_fuse_requests_total{{op="{op}",view="full"}}"#);
        let readdir = r#"nefele_fuse_requests_total{op="readdir",view="full"}"#;
        // The kernel lists a directory with readdirplus or readdir.
        let count = if op == "readdirplus" {
            at(&key) + at(readdir)
        } else {
            at(&key)
        };
        assert!(count >= 1.0, "{op}: {samples:?}");
    }
    assert!(at(r#"nefele_fuse_errors_total{errno="ENOENT"}"#) >= 1.0);
    assert_eq!(get(port, "/nope")?.0, "HTTP/1.1 404 Not Found");
    client
        .signal(proto::v1::SignalRequest {
            pid: sleeper,
            signal: libc::SIGKILL,
        })
        .await?;
    drop(mount);
    Ok(())
}
