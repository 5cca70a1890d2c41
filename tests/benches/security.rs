//! What TLS between nodes costs (issue #13), over real, release-built
//! `noded` processes started by the test harness on loopback, in one run,
//! printed as Markdown for docs/PERFORMANCE.md ("## Security"); progress
//! goes to stderr.
//!
//! 1. **Remote spawn + wait, mTLS vs plain text**: two 2-node clusters, one
//!    with TLS (the default) and one with `--insecure`. Spawn `/bin/true` on
//!    node 1 through node 0's Unix socket (forwarded node to node), then
//!    Wait for it, alternating between the clusters so that drift in the
//!    machine's load hits both alike. Target: the mTLS median at most 1.2x
//!    the plain-text one (peers keep one TLS connection each; nothing is
//!    renegotiated per request).
//! 2. **Cluster formation**: start 5 nodes (founder, then 4 joining at
//!    once) until all list 5 members up, with TLS (tokens, certificates
//!    issued at join) and with `--insecure`, alternating. Reported, with
//!    the ratio; no target is set by the issue.
//! 3. **A stream per command**: nsh on node 0's socket runs
//!    `@NODE1 echo hi > FILE` in a loop, where node 0 writes the file and
//!    reads the output from node 1 over a direct pipe's stream (on a
//!    connection kept from the command before: no handshake); and
//!    `@NODE1 echo hi > /dev/null`, whose output comes back in the
//!    command's gRPC stream. Both clusters, alternating; the time per
//!    command. What the stream and TLS add to a short command, reported.
//!
//! `cargo build --release --bins && cargo bench -p tests --bench security`.
//! `BENCH_ITERS` sets spawn + waits per cluster (default 300),
//! `BENCH_ROUNDS` formation rounds and command loops per mode (default 3),
//! `BENCH_COMMANDS` the commands of each loop (default 200).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::ensure;
use proto::v1::SpawnRequest;
use proto::v1::processes_client::ProcessesClient;
use tests::bench::{self, Stats, utc_now, verdict};
use tests::{NodeOptions, TestCluster, request};
use tonic::transport::Channel;

/// Unmeasured spawn + waits per cluster.
const WARMUP: usize = 50;
/// Target: mTLS median over plain-text median.
const TLS_TARGET: f64 = 1.2;
/// Nodes of the formation measurement.
const FORMATION_NODES: usize = 5;

fn main() -> ExitCode {
    let iters = bench::env_count("BENCH_ITERS", 300);
    let rounds = bench::env_count("BENCH_ROUNDS", 3);
    let commands = bench::env_count("BENCH_COMMANDS", 200);
    bench::async_main("security", &["noded", "nsh"], async move {
        let spawn = spawn_wait(iters).await?;
        let per_command = per_command(rounds, commands).await?;
        let formation = formation(rounds).await?;
        print(iters, rounds, &spawn, &formation);
        print_per_command(rounds, commands, &per_command);
        Ok(())
    })
}

fn options(insecure: bool) -> NodeOptions {
    NodeOptions {
        insecure,
        ..NodeOptions::default()
    }
}

/// Spawn + wait of `/bin/true` on node 1 of `cluster`, asked of node 0;
/// returns the µs it took.
async fn one(client: &mut ProcessesClient<Channel>, cluster: &TestCluster) -> anyhow::Result<f64> {
    let target = cluster.nodes[1].name.clone();
    let req = SpawnRequest {
        node: target.clone(),
        ..request(&["/bin/true"])
    };
    let (us, p) = bench::spawn_wait(client, req, None).await?;
    ensure!(p.node == target, "ran on {:?}, not {target:?}", p.node);
    Ok(us)
}

struct SpawnResult {
    tls: Stats,
    plain: Stats,
}

async fn spawn_wait(iters: usize) -> anyhow::Result<SpawnResult> {
    eprintln!("starting a 2-node TLS cluster and a 2-node --insecure cluster");
    let tls = TestCluster::start_with(2, options(false)).await?;
    let plain = TestCluster::start_with(2, options(true)).await?;
    let mut tls_client = tls.nodes[0].client().await?;
    let mut plain_client = plain.nodes[0].client().await?;
    let (mut tls_us, mut plain_us) = (Vec::new(), Vec::new());
    eprintln!("remote spawn + wait: {WARMUP} warm-up + {iters} per cluster");
    for i in 0..WARMUP + iters {
        let (a, b) = if i % 2 == 0 {
            let a = one(&mut tls_client, &tls).await?;
            (a, one(&mut plain_client, &plain).await?)
        } else {
            let b = one(&mut plain_client, &plain).await?;
            (one(&mut tls_client, &tls).await?, b)
        };
        if i >= WARMUP {
            tls_us.push(a);
            plain_us.push(b);
        }
    }
    Ok(SpawnResult {
        tls: Stats::of(tls_us),
        plain: Stats::of(plain_us),
    })
}

/// Time per command of nsh loops, in ms, by cluster and output.
struct PerCommand {
    tls_stream: Stats,
    plain_stream: Stats,
    tls_pumped: Stats,
    plain_pumped: Stats,
}

/// ms per command of `nsh -c 'for ...; do @NODE1 echo hi > OUT; done'`
/// on `cluster`, through node 0's socket.
fn command_loop(cluster: &TestCluster, commands: usize, out: &str) -> anyhow::Result<f64> {
    let nsh = bench::built("nsh")?;
    let node = &cluster.nodes[1].name;
    let script =
        format!("i=0; while [ $i -lt {commands} ]; do @{node} echo hi > {out}; i=$((i+1)); done");
    let start = Instant::now();
    let status = std::process::Command::new(nsh)
        .arg("-c")
        .arg(&script)
        .env("NEFELE_ADDR", cluster.nodes[0].addr().to_string())
        .stdin(std::process::Stdio::null())
        .status()?;
    let took = start.elapsed();
    ensure!(status.success(), "nsh -c {script:?}: {status}");
    Ok(took.as_secs_f64() * 1e3 / commands as f64)
}

async fn per_command(rounds: usize, commands: usize) -> anyhow::Result<PerCommand> {
    eprintln!("a connection per command: {rounds} loops of {commands} per cluster and output");
    let tls = TestCluster::start_with(2, options(false)).await?;
    let plain = TestCluster::start_with(2, options(true)).await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("out").display().to_string();
    let mut samples: [Vec<f64>; 4] = Default::default();
    // A warm-up loop on each, then the rounds, alternating.
    for round in 0..=rounds {
        let mut taken = Vec::new();
        for out in [file.as_str(), "/dev/null"] {
            for cluster in [&tls, &plain] {
                taken.push(tokio::task::block_in_place(|| {
                    command_loop(cluster, commands, out)
                })?);
            }
        }
        if round > 0 {
            for (all, one) in samples.iter_mut().zip(taken) {
                all.push(one);
            }
        }
    }
    let [tls_stream, plain_stream, tls_pumped, plain_pumped] = samples.map(Stats::of);
    Ok(PerCommand {
        tls_stream,
        plain_stream,
        tls_pumped,
        plain_pumped,
    })
}

struct FormationResult {
    tls: Stats,
    plain: Stats,
}

/// Time from starting the founder to every node listing all members up.
async fn form(insecure: bool) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let cluster = TestCluster::start_with(FORMATION_NODES, options(insecure)).await?;
    let took = start.elapsed();
    drop(cluster);
    Ok(took)
}

async fn formation(rounds: usize) -> anyhow::Result<FormationResult> {
    let (mut tls, mut plain) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        eprintln!("formation of {FORMATION_NODES} nodes, round {}", round + 1);
        tls.push(form(false).await?.as_secs_f64() * 1e3);
        plain.push(form(true).await?.as_secs_f64() * 1e3);
    }
    Ok(FormationResult {
        tls: Stats::of(tls),
        plain: Stats::of(plain),
    })
}

fn print(iters: usize, rounds: usize, spawn: &SpawnResult, formation: &FormationResult) {
    println!("### Security bench, {} ({})\n", utc_now(), bench::machine());
    println!(
        "Remote spawn + wait of `/bin/true` through node 0's socket to node 1, {iters} per cluster, alternating:\n"
    );
    println!("| node to node | median µs | p90 µs |");
    println!("|---|---|---|");
    for (name, s) in [
        ("mTLS", spawn.tls),
        ("plain text (--insecure)", spawn.plain),
    ] {
        println!("| {name} | {:.0} | {:.0} |", s.median, s.p90);
    }
    let ratio = spawn.tls.median / spawn.plain.median;
    println!(
        "\nTarget (mTLS median at most {TLS_TARGET}x plain text): {ratio:.2}x, {}\n",
        verdict(ratio <= TLS_TARGET)
    );
    println!(
        "Formation of {FORMATION_NODES} nodes (founder, then 4 joining at once, until all list 5 up), {rounds} rounds each:\n"
    );
    println!("| cluster | median ms | p90 ms |");
    println!("|---|---|---|");
    for (name, s) in [
        ("TLS (tokens, certificates)", formation.tls),
        ("plain text (--insecure)", formation.plain),
    ] {
        println!("| {name} | {:.0} | {:.0} |", s.median, s.p90);
    }
    println!(
        "\nTLS formation / plain: {:.2}x",
        formation.tls.median / formation.plain.median
    );
}

fn print_per_command(rounds: usize, commands: usize, r: &PerCommand) {
    println!(
        "\nA stream per command: nsh on node 0's socket, `@NODE1 echo hi > OUT` {commands} times, {rounds} loops each, alternating (ms per command):\n"
    );
    println!("| output | mTLS median | plain median | mTLS - plain |");
    println!("|---|---|---|---|");
    for (name, tls, plain) in [
        (
            "into a file (a direct pipe's stream, on a kept connection)",
            r.tls_stream,
            r.plain_stream,
        ),
        (
            "into /dev/null (in the gRPC stream)",
            r.tls_pumped,
            r.plain_pumped,
        ),
    ] {
        println!(
            "| {name} | {:.2} | {:.2} | {:+.2} |",
            tls.median,
            plain.median,
            tls.median - plain.median
        );
    }
}
