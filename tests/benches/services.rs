//! How fast the cluster replaces the replicas of a lost node: a 3-node
//! cluster of release-built noded with default settings runs a 6-replica
//! service; each round SIGKILLs a node that is not the store's leader and
//! times until every replica runs on the other nodes (GetService polled
//! every 20 ms), then restarts the node and waits until each index runs
//! once again. Median over the rounds; target: at most 5 s. Markdown for
//! docs/PERFORMANCE.md ("## Services") on stdout, progress on stderr.
//!
//! `cargo build --release --bins && cargo bench -p tests --bench services`.
//! `BENCH_ROUNDS` sets the rounds (default 5).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use proto::v1::services_client::ServicesClient;
use proto::v1::{CreateServiceRequest, GetServiceRequest, ReplicaState, ServiceSpec};
use tests::bench::{async_main, env_count, machine, stop_all, utc_now, verdict};
use tests::{TIMEOUT, TestCluster, wait_until};
use tonic::transport::Channel;

const REPLICAS: u32 = 6;
const TARGET: Duration = Duration::from_secs(5);
/// How long the victim runs before each kill, so the failure detector has
/// heard from it for a while (as in the cluster bench).
const SETTLE: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let count = env_count("BENCH_ROUNDS", 5);
    async_main("services", &["noded"], run(count))
}

async fn get(client: &mut ServicesClient<Channel>) -> anyhow::Result<proto::v1::ServiceInfo> {
    Ok(client
        .get_service(GetServiceRequest { name: "web".into() })
        .await?
        .into_inner())
}

/// Waits until every replica runs and none on `avoid`; returns when.
async fn settled(
    client: &ServicesClient<Channel>,
    avoid: Option<&str>,
    timeout: Duration,
) -> anyhow::Result<Instant> {
    wait_until("every replica running", timeout, || {
        let mut c = client.clone();
        async move {
            let info = get(&mut c).await.ok()?;
            info.replicas
                .iter()
                .all(|r| r.state == ReplicaState::Running as i32 && Some(r.node.as_str()) != avoid)
                .then(Instant::now)
        }
    })
    .await
}

async fn run(rounds: usize) -> anyhow::Result<()> {
    eprintln!("starting a 3-node cluster");
    let mut cluster = TestCluster::start(3).await?;
    wait_until("3 store voters", TIMEOUT, || async {
        let members = cluster.members(0).await.ok()?;
        (members.iter().filter(|m| m.store_voter).count() == 3).then_some(())
    })
    .await?;
    let leader = cluster.leader().await?;
    let asker = leader;
    let mut services = cluster.nodes[asker].services().await?;
    services
        .create_service(CreateServiceRequest {
            spec: Some(ServiceSpec {
                name: "web".into(),
                argv: vec!["sleep".into(), "100000".into()],
                replicas: REPLICAS,
                ..ServiceSpec::default()
            }),
        })
        .await
        .context("create the service")?;
    settled(&services, None, TIMEOUT).await?;

    let mut times = Vec::new();
    for round in 0..rounds {
        let others: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
        let victim = others[round % others.len()];
        let name = cluster.nodes[victim].name.clone();
        tokio::time::sleep(SETTLE).await;
        let info = get(&mut services).await?;
        let on_victim = info.replicas.iter().filter(|r| r.node == name).count();
        eprintln!("round {}: killing {name} ({on_victim} replicas)", round + 1);
        let killed = Instant::now();
        cluster.nodes[victim].crash()?;
        let done = settled(&services, Some(&name), Duration::from_secs(60)).await?;
        let took = done - killed;
        eprintln!("  all replicas elsewhere after {took:?}");
        times.push((took, on_victim));
        cluster.nodes[victim].restart().await?;
        cluster.wait_members_up(3).await?;
        settled(&services, None, TIMEOUT).await?;
    }
    stop_all(&mut cluster).await?;

    let mut sorted: Vec<Duration> = times.iter().map(|t| t.0).collect();
    sorted.sort();
    let median = sorted[sorted.len() / 2];
    println!("## Services: replacing a lost node's replicas\n");
    println!("Measured {} on {}.\n", utc_now(), machine());
    println!(
        "3 nodes (release builds, default settings), a service of {REPLICAS} `sleep` \
         replicas; each round SIGKILLs a node that is not the store's leader and times \
         until every replica runs on the other nodes.\n"
    );
    println!("| round | replicas moved | time |");
    println!("|---|---|---|");
    for (i, (took, moved)) in times.iter().enumerate() {
        println!("| {} | {moved} | {:.2} s |", i + 1, took.as_secs_f64());
    }
    println!(
        "\nMedian **{:.2} s** (target <= {} s: {}).",
        median.as_secs_f64(),
        TARGET.as_secs(),
        verdict(median <= TARGET)
    );
    Ok(())
}
