//! What the coordination primitives cost (issue #18), over release-built
//! `noded` on a 3-node loopback cluster, in one run, printed as Markdown
//! for docs/PERFORMANCE.md ("## Coordination"); progress goes to stderr.
//!
//! Per operation, from one client over a node's Unix socket: a KV put (one
//! store write: the baseline), a linearizable get and a serializable one,
//! lock + unlock (two writes plus the owner check), each through the
//! leader and through a follower; watch delivery (put on one follower,
//! event on the other); then the put throughput of 16 concurrent clients.
//!
//! `cargo build --release --bins && cargo bench -p tests --bench coord`;
//! `BENCH_ROUNDS` sets the operations per measure (default 300).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use proto::v1::coord_client::CoordClient;
use proto::v1::coord_owner::Owner;
use proto::v1::{
    CoordOwner, KvGetRequest, KvPutRequest, KvWatchRequest, LockRequest, UnlockRequest,
};
use tests::bench::{self, Stats, utc_now};
use tests::{Node, TestCluster};
use tokio_stream::StreamExt;
use tonic::transport::Channel;

const CLIENTS: usize = 16;
const THROUGHPUT_FOR: Duration = Duration::from_secs(5);

async fn coord(node: &Node) -> anyhow::Result<CoordClient<Channel>> {
    Ok(CoordClient::new(proto::connect(&node.addr()).await?))
}

fn put(key: &str, value: &str) -> KvPutRequest {
    KvPutRequest {
        key: key.into(),
        value: value.as_bytes().to_vec(),
        ..Default::default()
    }
}

/// Microseconds per call of `op`, `n` times.
async fn timed<F, Fut>(n: usize, mut op: F) -> anyhow::Result<Stats>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        op(i).await?;
        samples.push(start.elapsed().as_secs_f64() * 1e6);
    }
    Ok(Stats::of(samples))
}

async fn run() -> anyhow::Result<()> {
    let rounds = bench::env_count("BENCH_ROUNDS", 300);
    let cluster = TestCluster::start(3).await?;
    let leader = cluster.leader().await?;
    let follower = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    let mut rows = Vec::new();
    let mut baseline = 0.0;
    for (place, index) in [("leader", leader), ("follower", follower)] {
        let node = &cluster.nodes[index];
        eprintln!("{place}: {rounds} ops per measure");
        let api = coord(node).await?;
        let s = timed(rounds, |i| {
            let mut api = api.clone();
            async move {
                api.put(put(&format!("bench/{}", i % 100), "v")).await?;
                Ok(())
            }
        })
        .await?;
        if place == "leader" {
            baseline = s.median;
        }
        rows.push((format!("kv put via the {place} (one store write)"), s));
        let s = timed(rounds, |i| {
            let mut api = api.clone();
            async move {
                api.get(KvGetRequest {
                    key: format!("bench/{}", i % 100),
                    serializable: false,
                })
                .await?;
                Ok(())
            }
        })
        .await?;
        rows.push((format!("kv get via the {place}, linearizable"), s));
        let s = timed(rounds, |i| {
            let mut api = api.clone();
            async move {
                api.get(KvGetRequest {
                    key: format!("bench/{}", i % 100),
                    serializable: true,
                })
                .await?;
                Ok(())
            }
        })
        .await?;
        rows.push((format!("kv get via the {place}, serializable"), s));
        let owner = tests::spawn(&mut node.client().await?, &["sleep", "100000"])
            .await?
            .pid;
        let s = timed(rounds, |_| {
            let mut api = api.clone();
            async move {
                let token = api
                    .lock(LockRequest {
                        name: "bench-lock".into(),
                        owner: Some(CoordOwner {
                            owner: Some(Owner::Pid(owner)),
                        }),
                        wait_ms: 0,
                    })
                    .await?
                    .into_inner()
                    .token;
                api.unlock(UnlockRequest {
                    name: "bench-lock".into(),
                    token,
                })
                .await?;
                Ok(())
            }
        })
        .await?;
        rows.push((format!("lock + unlock via the {place}"), s));
    }

    eprintln!("watch delivery");
    let mut stream = coord(&cluster.nodes[follower])
        .await?
        .watch(KvWatchRequest {
            key: "watched".into(),
            prefix: false,
            from_revision: 0,
        })
        .await?
        .into_inner();
    let mut writer = coord(&cluster.nodes[other]).await?;
    let mut samples = Vec::new();
    for i in 0..rounds {
        let start = Instant::now();
        writer.put(put("watched", &i.to_string())).await?;
        let event = tokio::time::timeout(tests::TIMEOUT, stream.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the watch ended"))??;
        anyhow::ensure!(event.kv.unwrap_or_default().value == i.to_string().into_bytes());
        samples.push(start.elapsed().as_secs_f64() * 1e6);
    }
    rows.push((
        "put on one follower until the watch on the other has it".into(),
        Stats::of(samples),
    ));

    eprintln!("throughput: {CLIENTS} clients for {THROUGHPUT_FOR:?}");
    let deadline = Instant::now() + THROUGHPUT_FOR;
    let clients = (0..CLIENTS).map(|c| {
        let node = &cluster.nodes[c % 3];
        async move {
            let mut api = coord(node).await?;
            let mut done = 0u64;
            while Instant::now() < deadline {
                api.put(put(&format!("load/{c}"), "v")).await?;
                done += 1;
            }
            anyhow::Ok(done)
        }
    });
    let started = Instant::now();
    let mut total = 0;
    for done in futures::future::join_all(clients).await {
        total += done?;
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();

    println!(
        "### Coordination bench, {} ({})\n",
        utc_now(),
        bench::machine()
    );
    println!(
        "3 nodes on loopback, one client over a node's socket, {rounds} operations per row; \
         ratio against a KV put through the leader (one store write) in the same run:\n"
    );
    println!("| operation | median µs | p90 µs | vs put |");
    println!("|---|---:|---:|---:|");
    for (what, s) in &rows {
        println!(
            "| {what} | {:.0} | {:.0} | {:.2}x |",
            s.median,
            s.p90,
            s.median / baseline
        );
    }
    println!(
        "\n{CLIENTS} clients spread over the 3 nodes, each putting in a loop for \
         {THROUGHPUT_FOR:?}: {rate:.0} puts/s.\n"
    );
    Ok(())
}

fn main() -> ExitCode {
    bench::async_main("coord", &["noded"], run())
}
