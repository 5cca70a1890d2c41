//! What keepers cost (issue #15), over a real, release-built `noded` started
//! by the test harness, in one run, printed as Markdown for
//! docs/PERFORMANCE.md ("## Keepers"); progress goes to stderr.
//!
//! 1. **Spawn + wait through the keeper vs a plain tokio spawn**: `/bin/true`
//!    over the node's socket (noded asks its keeper, which forks, execs,
//!    reaps and reports) against `tokio::process::Command` of the same
//!    program in this process, alternating. Target: at most 2x.
//! 2. **Memory per kept process**: the keeper's RSS with 1,000 `sleep`
//!    processes, minus its RSS before they started, over 1,000. Target:
//!    at most 16 KiB (one keeper per node).
//! 3. **Restart to all adopted**: SIGKILL noded with the 1,000 running,
//!    start it again, and time from the start until List shows all 1,000
//!    running; the same for a noded with no process, as the baseline of
//!    noded's own start. Target: at most 1 s.
//!
//! `cargo build --release --bins && cargo bench -p tests --bench keepers`;
//! `BENCH_ITERS` sets spawn + waits per path (default 300).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use proto::v1::processes_client::ProcessesClient;
use proto::v1::{ListRequest, ProcessState};
use tests::bench::{self, Stats, utc_now, verdict};
use tests::{Node, TIMEOUT, request};
use tonic::transport::Channel;

const WARMUP: usize = 50;
const SPAWN_TARGET: f64 = 2.0;
const KEPT: usize = 1_000;
const RSS_TARGET_KIB: f64 = 16.0;
const ADOPT_TARGET: Duration = Duration::from_secs(1);
const RESTARTS: usize = 5;

async fn through_noded(client: &mut ProcessesClient<Channel>) -> anyhow::Result<f64> {
    Ok(bench::spawn_wait(client, request(&["/bin/true"]), None)
        .await?
        .0)
}

async fn plain() -> anyhow::Result<f64> {
    let start = Instant::now();
    let status = tokio::process::Command::new("/bin/true")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .status()
        .await?;
    ensure!(status.success());
    Ok(start.elapsed().as_secs_f64() * 1e6)
}

/// VmRSS of a host process, in KiB.
fn rss_kib(pid: nix::unistd::Pid) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")
}

async fn running(client: &mut ProcessesClient<Channel>) -> anyhow::Result<usize> {
    let reply = client
        .list(ListRequest {
            states: vec![ProcessState::Running as i32],
            brief: true,
            ..ListRequest::default()
        })
        .await?
        .into_inner();
    Ok(reply.processes.len())
}

/// Crashes noded and starts it again; returns the time from the start to
/// List showing `expect` running processes.
async fn restart_until_adopted(node: &mut Node, expect: usize) -> anyhow::Result<f64> {
    node.crash()?;
    let start = Instant::now();
    node.restart().await?;
    let mut client = node.client().await?;
    loop {
        let n = running(&mut client).await?;
        if n >= expect {
            break;
        }
        ensure!(start.elapsed() < TIMEOUT, "only {n} of {expect} adopted");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(start.elapsed().as_secs_f64() * 1e3)
}

fn main() -> ExitCode {
    let iters = bench::env_count("BENCH_ITERS", 300);
    bench::async_main("keepers", &["noded"], async move {
        let mut node = Node::start().await?;
        let mut client = node.client().await?;
        eprintln!("spawn + wait: {WARMUP} warm-up + {iters} per path");
        let (mut kept_us, mut plain_us) = (Vec::new(), Vec::new());
        for i in 0..WARMUP + iters {
            let (k, p) = if i % 2 == 0 {
                let k = through_noded(&mut client).await?;
                (k, plain().await?)
            } else {
                let p = plain().await?;
                (through_noded(&mut client).await?, p)
            };
            if i >= WARMUP {
                kept_us.push(k);
                plain_us.push(p);
            }
        }

        eprintln!("restarting an idle noded {RESTARTS} times");
        let mut idle_ms = Vec::new();
        for _ in 0..RESTARTS {
            idle_ms.push(restart_until_adopted(&mut node, 0).await?);
        }

        let keeper = node.keeper_pid().context("no keeper")?;
        let rss_before = rss_kib(keeper)?;
        eprintln!("starting {KEPT} sleeps");
        let mut cluster = tests::TestCluster { nodes: vec![node] };
        bench::fill(&cluster, KEPT, &["sleep", "100000"], 32).await?;
        let keeper_after = cluster.nodes[0].keeper_pid().context("no keeper")?;
        ensure!(keeper_after == keeper, "the keeper changed");
        let rss_after = rss_kib(keeper)?;
        let per_process = (rss_after.saturating_sub(rss_before)) as f64 / KEPT as f64;

        eprintln!("restarting noded with {KEPT} processes {RESTARTS} times");
        let mut adopt_ms = Vec::new();
        for _ in 0..RESTARTS {
            adopt_ms.push(restart_until_adopted(&mut cluster.nodes[0], KEPT).await?);
        }
        cluster.nodes[0].stop_keeper();

        let (kept, plain) = (Stats::of(kept_us), Stats::of(plain_us));
        let (idle, adopt) = (Stats::of(idle_ms), Stats::of(adopt_ms));
        println!("### Keepers bench, {} ({})\n", utc_now(), bench::machine());
        println!("Spawn + wait of `/bin/true`, {iters} per path, alternating:\n");
        println!("| path | median µs | p90 µs |");
        println!("|---|---|---|");
        println!(
            "| plain tokio spawn in the bench process | {:.0} | {:.0} |",
            plain.median, plain.p90
        );
        println!(
            "| Spawn + Wait over the socket, through the keeper | {:.0} | {:.0} |",
            kept.median, kept.p90
        );
        let ratio = kept.median / plain.median;
        println!(
            "\nTarget (at most {SPAWN_TARGET}x plain spawn): {ratio:.2}x, {}\n",
            verdict(ratio <= SPAWN_TARGET)
        );
        println!(
            "Keeper RSS: {rss_before} KiB before, {rss_after} KiB with {KEPT} processes: \
             {per_process:.1} KiB per kept process. Target (at most {RSS_TARGET_KIB} KiB): {}\n",
            verdict(per_process <= RSS_TARGET_KIB)
        );
        println!("noded killed and started again, {RESTARTS} times each:\n");
        println!("| processes held | start to all adopted, median ms | p90 ms |");
        println!("|---|---|---|");
        println!(
            "| 0 (noded's own start) | {:.0} | {:.0} |",
            idle.median, idle.p90
        );
        println!("| {KEPT} | {:.0} | {:.0} |", adopt.median, adopt.p90);
        println!(
            "\nTarget (at most {} ms with {KEPT}): {}",
            ADOPT_TARGET.as_millis(),
            verdict(adopt.median <= ADOPT_TARGET.as_secs_f64() * 1e3)
        );
        Ok(())
    })
}
