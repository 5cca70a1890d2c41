//! Many nodes on one machine (issue #19): clusters of N release-built
//! `noded` on loopback (TLS, tokens, keepers: the defaults), for several N,
//! printed as Markdown for docs/PERFORMANCE.md ("## Scale"); progress goes
//! to stderr. For each N:
//!
//! 1. **Formation**: the founder, then N-1 nodes joining at once with a
//!    token, until every node lists N members up. Target at 100: 60 s.
//! 2. **Idle cost**: after a settling pause, the CPU time every noded and
//!    keeper of the cluster use over a 10 s window (in % of one core), and
//!    their resident memory. Target at 100: the whole cluster under 25% of
//!    one core.
//! 3. **Cluster-wide List** of N x 10 `sleep` processes, asked of node 0,
//!    against `ps -e` of this machine (the same processes, and the rest of
//!    the machine's) as the baseline, interleaved. Target at 100: 200 ms.
//! 4. **Store write**: a coordination key put through node 0 (a raft
//!    write on the store's 3 or 5 voters).
//! 5. **Failure detection**: SIGKILL of the last node, until node 0 lists
//!    it down (polled every 10 ms). Target at 100: 3 s.
//!
//! `cargo build --release --bins && cargo bench -p tests --bench scale`.
//! `BENCH_NODES=10,30,100` sets the sizes (a comma-separated list).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use proto::v1::coord_client::CoordClient;
use proto::v1::{KvPutRequest, ListRequest, NodeState, NodesRequest};
use tests::bench::{self, Stats, host_processes, stop_all, utc_now, verdict};
use tests::{NodeOptions, TIMEOUT, TestCluster};

/// Processes per node for the List.
const PROCS_PER_NODE: usize = 10;
/// Pause between formation and the idle window.
const SETTLE: Duration = Duration::from_secs(5);
/// The idle window.
const IDLE_WINDOW: Duration = Duration::from_secs(10);
/// Timed Lists (and `ps -e`), after 3 untimed.
const LIST_ITERS: usize = 20;
/// Timed store writes, after 5 untimed.
const WRITE_ITERS: usize = 50;
/// Between `Nodes` polls while waiting for "down".
const DOWN_POLL: Duration = Duration::from_millis(10);
/// The sizes measured by default.
const SIZES: &[usize] = &[10, 30, 100];

/// What one cluster size measured.
struct Size {
    n: usize,
    formation: Duration,
    /// CPU of all nodes and keepers over the idle window, % of one core.
    idle_cpu: f64,
    /// The busiest noded (the store's leader, as a rule) and the median
    /// one, % of one core.
    busiest: f64,
    median_noded: f64,
    /// All keepers together, % of one core.
    keepers: f64,
    /// Mean resident memory of a noded, and of a keeper, in MiB.
    noded_rss: f64,
    keeper_rss: f64,
    /// Milliseconds.
    list: Stats,
    ps: Stats,
    listed: usize,
    /// Milliseconds.
    write: Stats,
    down: Duration,
}

fn main() -> ExitCode {
    let sizes: Vec<usize> = match std::env::var("BENCH_NODES") {
        Ok(s) => match s
            .split(',')
            .map(|n| n.trim().parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(v) if v.iter().all(|n| *n >= 3) => v,
            _ => {
                eprintln!("scale bench: BENCH_NODES={s:?} is not a list of sizes of 3 or more");
                return ExitCode::FAILURE;
            }
        },
        Err(_) => SIZES.to_vec(),
    };
    bench::async_main("scale", &["noded"], async move {
        let mut results = Vec::new();
        for n in sizes {
            results.push(one_size(n).await?);
        }
        print(&results);
        Ok(())
    })
}

async fn one_size(n: usize) -> anyhow::Result<Size> {
    eprintln!("starting a {n}-node cluster");
    let start = Instant::now();
    let mut cluster = TestCluster::start_with(n, NodeOptions::stopping_processes())
        .await
        .with_context(|| format!("forming {n} nodes"))?;
    let formation = start.elapsed();
    eprintln!("  formed in {:.1} s", formation.as_secs_f64());
    let measured = measure(&mut cluster, n, formation).await;
    eprintln!("stopping the {n}-node cluster");
    let stopped = stop_all(&mut cluster).await;
    let left = host_processes(&cluster);
    drop(cluster);
    let measured = measured?;
    stopped?;
    ensure!(left == 0, "{left} processes outlived their nodes");
    Ok(measured)
}

async fn measure(cluster: &mut TestCluster, n: usize, formation: Duration) -> anyhow::Result<Size> {
    tokio::time::sleep(SETTLE).await;
    let pids: Vec<(nix::unistd::Pid, bool)> = cluster
        .nodes
        .iter()
        .flat_map(|node| {
            [
                node.pid().map(|p| (p, true)),
                node.keeper_pid().map(|p| (p, false)),
            ]
        })
        .flatten()
        .collect();
    let before: Vec<f64> = pids.iter().map(|(p, _)| bench::cpu_seconds(*p)).collect();
    let window = Instant::now();
    tokio::time::sleep(IDLE_WINDOW).await;
    let per_core = |seconds: f64| seconds / window.elapsed().as_secs_f64() * 100.0;
    let used: Vec<(f64, bool)> = pids
        .iter()
        .zip(&before)
        .map(|((pid, noded), was)| (per_core(bench::cpu_seconds(*pid) - was), *noded))
        .collect();
    let idle_cpu = used.iter().map(|(c, _)| c).sum::<f64>();
    let keepers = used.iter().filter(|(_, n)| !n).map(|(c, _)| c).sum::<f64>();
    let nodeds = Stats::of(used.iter().filter(|(_, n)| *n).map(|(c, _)| *c).collect());
    let busiest = used
        .iter()
        .filter(|(_, n)| *n)
        .map(|(c, _)| *c)
        .fold(0.0, f64::max);
    let median_noded = nodeds.median;
    let rss = |noded: bool| {
        let of: Vec<f64> = pids
            .iter()
            .filter(|(_, is_noded)| *is_noded == noded)
            .filter_map(|(pid, _)| rss_kib(*pid))
            .map(|kib| kib as f64 / 1024.0)
            .collect();
        of.iter().sum::<f64>() / of.len().max(1) as f64
    };
    let (noded_rss, keeper_rss) = (rss(true), rss(false));
    eprintln!(
        "  idle: {idle_cpu:.1}% of one core (busiest noded {busiest:.1}%, median {median_noded:.1}%, keepers {keepers:.1}%), noded {noded_rss:.1} MiB, keeper {keeper_rss:.1} MiB"
    );
    if let Ok(secs) = std::env::var("BENCH_HOLD_SECS") {
        // For profiling by hand: the cluster stays up, idle, this long.
        let secs: u64 = secs.parse().unwrap_or(0);
        eprintln!("  holding the cluster for {secs} s");
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }

    bench::fill(cluster, PROCS_PER_NODE, &["sleep", "100000"], 32).await?;
    let (list, ps, listed) = lists(cluster, n).await?;
    eprintln!("  List {:.1} ms, ps -e {:.1} ms", list.median, ps.median);
    let write = writes(cluster).await?;
    eprintln!("  store write {:.2} ms", write.median);
    let down = detection(cluster).await?;
    eprintln!("  down after {:.0} ms", down.as_secs_f64() * 1e3);
    Ok(Size {
        n,
        formation,
        idle_cpu,
        busiest,
        median_noded,
        keepers,
        noded_rss,
        keeper_rss,
        list,
        ps,
        listed,
        write,
        down,
    })
}

/// VmRSS of `pid`, in KiB.
fn rss_kib(pid: nix::unistd::Pid) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The cluster-wide List through node 0 and `ps -e`, interleaved, in ms.
async fn lists(cluster: &TestCluster, n: usize) -> anyhow::Result<(Stats, Stats, usize)> {
    let mut client = cluster.nodes[0].client().await?;
    let reply = client.list(ListRequest::default()).await?.into_inner();
    let running = bench::check_listed(&reply, n * PROCS_PER_NODE)?;
    let (mut list, mut ps) = (Vec::new(), Vec::new());
    for i in 0..LIST_ITERS + 3 {
        let start = Instant::now();
        client.list(ListRequest::default()).await?;
        let took = start.elapsed().as_secs_f64() * 1e3;
        let start = Instant::now();
        let out = std::process::Command::new("ps")
            .arg("-e")
            .output()
            .context("ps -e")?;
        ensure!(out.status.success(), "ps -e failed");
        let ps_took = start.elapsed().as_secs_f64() * 1e3;
        if i >= 3 {
            list.push(took);
            ps.push(ps_took);
        }
    }
    Ok((Stats::of(list), Stats::of(ps), running))
}

/// Coordination puts through node 0, in ms.
async fn writes(cluster: &TestCluster) -> anyhow::Result<Stats> {
    let mut coord = CoordClient::new(proto::connect(&cluster.nodes[0].addr()).await?);
    let mut samples = Vec::new();
    for i in 0..WRITE_ITERS + 5 {
        let start = Instant::now();
        coord
            .put(KvPutRequest {
                key: format!("scale/{}", i % 8),
                value: i.to_string().into_bytes(),
                ..Default::default()
            })
            .await?;
        if i >= 5 {
            samples.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(Stats::of(samples))
}

/// SIGKILL of the last node until node 0 lists it down.
async fn detection(cluster: &mut TestCluster) -> anyhow::Result<Duration> {
    let victim = cluster.nodes.len() - 1;
    let name = cluster.nodes[victim].name.clone();
    let mut observer = cluster.nodes[0].cluster().await?;
    let start = Instant::now();
    cluster.nodes[victim].crash()?;
    loop {
        let nodes = observer.nodes(NodesRequest {}).await?.into_inner().nodes;
        match nodes.iter().find(|m| m.name == name).map(|m| m.state()) {
            Some(NodeState::Down) => return Ok(start.elapsed()),
            Some(_) => {}
            None => bail!("node 0 no longer lists {name}"),
        }
        if start.elapsed() > TIMEOUT {
            bail!("node 0 still does not call {name} down {TIMEOUT:?} after its SIGKILL");
        }
        tokio::time::sleep(DOWN_POLL).await;
    }
}

/// Least-squares line through (n, value): (intercept, slope per node).
fn fit(points: &[(f64, f64)]) -> (f64, f64) {
    let k = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / k, sy / k);
    let var: f64 = points.iter().map(|(x, _)| (x - mx).powi(2)).sum();
    if var == 0.0 {
        return (my, 0.0);
    }
    let slope = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum::<f64>() / var;
    (my - slope * mx, slope)
}

fn print(results: &[Size]) {
    println!("### Scale bench, {} ({})\n", utc_now(), bench::machine());
    println!(
        "| nodes | formation s | idle CPU, whole cluster (% of one core) | busiest noded % | median noded % | keepers % | noded RSS MiB | keeper RSS MiB | List ms (p90) | `ps -e` ms | List / ps | store write ms (p90) | down after ms |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in results {
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} ({:.1}) | {:.1} | {:.2}x | {:.2} ({:.2}) | {:.0} |",
            r.n,
            r.formation.as_secs_f64(),
            r.idle_cpu,
            r.busiest,
            r.median_noded,
            r.keepers,
            r.noded_rss,
            r.keeper_rss,
            r.list.median,
            r.list.p90,
            r.ps.median,
            r.list.median / r.ps.median,
            r.write.median,
            r.write.p90,
            r.down.as_secs_f64() * 1e3,
        );
    }
    type Cost = (&'static str, fn(&Size) -> f64);
    let lines: [Cost; 6] = [
        ("formation s", |r| r.formation.as_secs_f64()),
        ("idle CPU %", |r| r.idle_cpu),
        ("noded RSS MiB", |r| r.noded_rss),
        ("List ms", |r| r.list.median),
        ("store write ms", |r| r.write.median),
        ("down after ms", |r| r.down.as_secs_f64() * 1e3),
    ];
    if results.len() >= 2 {
        println!(
            "\nLeast-squares lines through the sizes measured, and what they give for 214 nodes (the PID scheme's ceiling):\n"
        );
        println!("| cost | fixed | per node | at 214 nodes |");
        println!("|---|---:|---:|---:|");
        for (name, value) in lines {
            let points: Vec<(f64, f64)> = results.iter().map(|r| (r.n as f64, value(r))).collect();
            let (a, b) = fit(&points);
            println!("| {name} | {a:.2} | {b:.4} | {:.1} |", a + b * 214.0);
        }
    }
    if let Some(r) = results.iter().find(|r| r.n == 100) {
        println!("\nTargets at 100 nodes:\n");
        println!(
            "- formation at most 60 s: {:.1} s, {}",
            r.formation.as_secs_f64(),
            verdict(r.formation <= Duration::from_secs(60))
        );
        println!(
            "- idle CPU of the whole cluster at most 25% of one core: {:.1}%, {}",
            r.idle_cpu,
            verdict(r.idle_cpu <= 25.0)
        );
        println!(
            "- cluster-wide List ({} processes) at most 200 ms: {:.1} ms, {}",
            r.listed,
            r.list.median,
            verdict(r.list.median <= 200.0)
        );
        println!(
            "- detection at most 3 s: {:.0} ms, {}",
            r.down.as_secs_f64() * 1e3,
            verdict(r.down <= Duration::from_secs(3))
        );
    }
}
