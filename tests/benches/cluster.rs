//! What being a cluster costs: three measurements over real, release-built
//! `noded` processes started by the test harness on loopback, all in one
//! run, printed as Markdown tables for docs/PERFORMANCE.md ("## Cluster");
//! progress goes to stderr.
//!
//! 1. **Remote vs local spawn + wait** (3 nodes): Spawn `/bin/true` then
//!    Wait for it through node 0's Unix socket, once on node 1 (`node:
//!    <name>`, forwarded) and once on node 0 itself (`node: ""`).
//!    Target: remote median at most 1.5x the local median.
//! 2. **List at scale** (5 nodes x 1,000 `sleep` processes): List of the
//!    whole cluster from node 0 against `ps -e` on this machine, which runs
//!    the same 5,000 processes. Target: List median at most 3x `ps -e`.
//!    Pieces of that List show where the time goes: node 0's own table, and
//!    node 1's table forwarded by node 0 and asked of node 1 directly (over
//!    its Unix socket and over TCP).
//! 3. **Failure detection** (3 nodes): SIGKILL node 2 and poll `Nodes` on
//!    node 0 until it says node 2 is down. Target: down within 3 s.
//!
//! Build the binaries first, then run the bench:
//! `cargo build --release --bins && cargo bench -p tests --bench cluster`.
//! `BENCH_ITERS` sets the number of measured spawn + waits per path
//! (default 300).

use std::io::Read;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use prost::Message;
use proto::v1::processes_client::ProcessesClient;
use proto::v1::{ListReply, ListRequest, NodeState, NodesRequest, ProcessState, WaitRequest};
use tests::bench::{self, Stats, host_processes, stop_all, utc_now, verdict};
use tests::{TIMEOUT, TestCluster, request};
use tonic::transport::Channel;

/// The program of the spawn + wait measurement: as cheap as a process gets,
/// so the overhead is what shows.
const PROGRAM: &str = "/bin/true";
/// Unmeasured spawn + waits per path before measuring.
const WARMUP: usize = 50;
/// Measured spawn + waits per path unless `BENCH_ITERS` says.
const DEFAULT_ITERS: usize = 300;
/// Target: remote spawn + wait median over the local one.
const REMOTE_TARGET: f64 = 1.5;

/// Nodes of the List measurement.
const LIST_NODES: usize = 5;
/// Long-running processes started on each of them.
const PROCS_PER_NODE: usize = 1_000;
/// What they run: long enough to outlive the bench.
const LONG_PROGRAM: [&str; 2] = ["sleep", "100000"];
/// Spawns in flight while filling the cluster.
const SPAWN_IN_FLIGHT: usize = 32;
/// Unmeasured Lists (and `ps -e` runs) before measuring.
const LIST_WARMUP: usize = 5;
/// Measured Lists (and `ps -e` runs).
const LIST_ITERS: usize = 30;
/// Target: List median over the `ps -e` median.
const LIST_TARGET: f64 = 3.0;

/// Crash-and-detect rounds.
const CRASH_ROUNDS: usize = 3;
/// Interval between `Nodes` polls while waiting for "down".
const DOWN_POLL: Duration = Duration::from_millis(10);
/// How long the victim runs before each crash, so that every round crashes a
/// node the others have heard from for a while (a node seen for only a
/// second or two is called down later: its heartbeat history is short).
const SETTLE: Duration = Duration::from_secs(5);
/// Target: time from SIGKILL to "down" in `Nodes`.
const DOWN_TARGET: Duration = Duration::from_secs(3);

fn main() -> ExitCode {
    let iters = match std::env::var("BENCH_ITERS") {
        Ok(s) => match s.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("cluster bench: BENCH_ITERS={s:?} is not a positive number");
                return ExitCode::FAILURE;
            }
        },
        Err(_) => DEFAULT_ITERS,
    };
    // The clusters live inside `run`: on error or panic they are dropped
    // there, which stops every noded and kills what they started.
    bench::async_main("cluster", &["noded"], async {
        run(iters).await.map(|report| report.print())
    })
}

/// Everything measured, for the report.
struct Report {
    iters: usize,
    spawn: SpawnResult,
    down: DownResult,
    list: ListResult,
}

async fn run(iters: usize) -> anyhow::Result<Report> {
    eprintln!("starting a 3-node cluster");
    let mut cluster = TestCluster::start(3).await?;
    let cluster_up = Instant::now();
    let spawn = remote_vs_local(&cluster, iters).await?;
    let down = time_to_down(&mut cluster, cluster_up).await?;
    eprintln!("stopping the 3-node cluster");
    stop_all(&mut cluster).await?;
    drop(cluster);

    let list = list_at_scale().await?;
    Ok(Report {
        iters,
        spawn,
        down,
        list,
    })
}

// ---------------------------------------------------------------------------
// 1. Remote vs local spawn + wait

/// Per-path latencies, in µs.
struct PathResult {
    name: &'static str,
    /// Spawn + Wait, each iteration.
    total: Stats,
    /// The Spawn call alone.
    spawn: Stats,
    /// The Wait call alone.
    wait: Stats,
}

struct SpawnResult {
    local: PathResult,
    remote: PathResult,
}

/// One way to run `/bin/true`: where to ask for it, and where it must run.
struct Path {
    name: &'static str,
    /// `SpawnRequest.node`.
    node: String,
    /// The node it must have run on.
    expect: String,
    spawn: Vec<f64>,
    wait: Vec<f64>,
    total: Vec<f64>,
}

impl Path {
    fn new(name: &'static str, node: String, expect: String, iters: usize) -> Path {
        Path {
            name,
            node,
            expect,
            spawn: Vec::with_capacity(iters),
            wait: Vec::with_capacity(iters),
            total: Vec::with_capacity(iters),
        }
    }

    /// Runs `/bin/true` to completion via `client` and, if `record`, keeps
    /// the times.
    async fn spawn_wait(
        &mut self,
        client: &mut ProcessesClient<Channel>,
        record: bool,
    ) -> anyhow::Result<()> {
        let req = proto::v1::SpawnRequest {
            node: self.node.clone(),
            ..request(&[PROGRAM])
        };
        let wait_req = |pid| WaitRequest {
            pid,
            timeout_ms: TIMEOUT.as_millis() as u64,
        };
        let start = Instant::now();
        let started = client
            .spawn(req)
            .await
            .with_context(|| format!("{} Spawn", self.name))?
            .into_inner();
        let spawned = Instant::now();
        let done = client
            .wait(wait_req(started.pid))
            .await
            .with_context(|| format!("{} Wait", self.name))?
            .into_inner();
        let end = Instant::now();
        ensure!(
            started.node == self.expect,
            "{}: {PROGRAM} ran on {:?}, not on {:?}",
            self.name,
            started.node,
            self.expect
        );
        ensure!(
            done.state() == ProcessState::Exited && done.exit_code == Some(0),
            "{}: {PROGRAM} ended as {:?} with exit code {:?}",
            self.name,
            done.state(),
            done.exit_code
        );
        if record {
            let us = |d: Duration| d.as_secs_f64() * 1e6;
            self.spawn.push(us(spawned - start));
            self.wait.push(us(end - spawned));
            self.total.push(us(end - start));
        }
        Ok(())
    }

    fn result(self) -> PathResult {
        PathResult {
            name: self.name,
            total: Stats::of(self.total),
            spawn: Stats::of(self.spawn),
            wait: Stats::of(self.wait),
        }
    }
}

/// Spawn + wait of `/bin/true` on node 1 and on node 0, both asked of node
/// 0 on one channel. The two paths alternate (and alternate which goes
/// first), so that drift in the shared machine's load hits both alike.
async fn remote_vs_local(cluster: &TestCluster, iters: usize) -> anyhow::Result<SpawnResult> {
    let mut client = cluster.nodes[0].client().await?;
    let local_name = cluster.nodes[0].name.clone();
    let remote_name = cluster.nodes[1].name.clone();
    let mut local = Path::new("local", String::new(), local_name, iters);
    let mut remote = Path::new("remote", remote_name.clone(), remote_name, iters);
    eprintln!("spawn + wait: {WARMUP} warm-up + {iters} iterations per path");
    for i in 0..WARMUP + iters {
        let record = i >= WARMUP;
        if i % 2 == 0 {
            local.spawn_wait(&mut client, record).await?;
            remote.spawn_wait(&mut client, record).await?;
        } else {
            remote.spawn_wait(&mut client, record).await?;
            local.spawn_wait(&mut client, record).await?;
        }
    }
    Ok(SpawnResult {
        local: local.result(),
        remote: remote.result(),
    })
}

// ---------------------------------------------------------------------------
// 3. Failure detection

struct DownRound {
    /// How long the victim had been up (as seen by the bench) when crashed.
    uptime: Duration,
    /// From just before SIGKILL to the first `Nodes` reply saying down.
    detected: Duration,
    /// `Nodes` calls made meanwhile.
    polls: usize,
}

struct DownResult {
    rounds: Vec<DownRound>,
}

/// Crashes node 2 [`CRASH_ROUNDS`] times, each time once it has been up for
/// at least [`SETTLE`], and times how long node 0 takes to call it down;
/// restarts it between rounds. `cluster_up` is when all three were up.
async fn time_to_down(
    cluster: &mut TestCluster,
    cluster_up: Instant,
) -> anyhow::Result<DownResult> {
    const VICTIM: usize = 2;
    let name = cluster.nodes[VICTIM].name.clone();
    let mut observer = cluster.nodes[0].cluster().await?;
    let mut up_since = cluster_up;
    let mut rounds = Vec::new();
    for round in 1..=CRASH_ROUNDS {
        cluster.wait_members_up(3).await?;
        tokio::time::sleep(SETTLE.saturating_sub(up_since.elapsed())).await;
        let uptime = up_since.elapsed();
        eprintln!(
            "failure detection, round {round}/{CRASH_ROUNDS}: SIGKILL {name} (up {:.1} s)",
            uptime.as_secs_f64()
        );
        let start = Instant::now();
        cluster.nodes[VICTIM].crash()?;
        let mut polls = 0;
        let detected = loop {
            let nodes = observer
                .nodes(NodesRequest {})
                .await
                .context("Nodes on node 0")?
                .into_inner()
                .nodes;
            polls += 1;
            let state = nodes.iter().find(|n| n.name == name).map(|n| n.state());
            match state {
                Some(NodeState::Down) => break start.elapsed(),
                Some(_) => {}
                None => bail!("node 0 no longer lists {name}"),
            }
            if start.elapsed() > TIMEOUT {
                bail!("node 0 still does not call {name} down {TIMEOUT:?} after its SIGKILL");
            }
            tokio::time::sleep(DOWN_POLL).await;
        };
        eprintln!("  down after {:.0} ms", detected.as_secs_f64() * 1e3);
        rounds.push(DownRound {
            uptime,
            detected,
            polls,
        });
        cluster.nodes[VICTIM].restart().await?;
        cluster.wait_members_up(3).await?;
        up_since = Instant::now();
    }
    Ok(DownResult { rounds })
}

// ---------------------------------------------------------------------------
// 2. List at scale

/// Latency of one kind of query.
struct Query {
    name: String,
    stats: Stats,
    /// Size of one answer, in bytes (the encoded reply, or ps's output).
    bytes: usize,
    /// Entries in one answer.
    entries: usize,
}

struct ListResult {
    /// Setup: how long starting the processes took.
    fill: Duration,
    /// The whole cluster from node 0, then `ps -e`, then the pieces.
    all: Query,
    ps: Query,
    pieces: Vec<Query>,
    /// Our host processes found before the stop and after it.
    host_before: usize,
    host_after: usize,
    /// How long stopping the 5 nodes (and their processes) took.
    stop: Duration,
}

async fn list_at_scale() -> anyhow::Result<ListResult> {
    eprintln!("starting a {LIST_NODES}-node cluster");
    let mut cluster =
        TestCluster::start_with(LIST_NODES, tests::NodeOptions::stopping_processes()).await?;
    let result = measure_lists(&cluster).await;
    // Whatever happened, stop the nodes: SIGTERM makes each stop its
    // processes (the harness's Drop would do it too, more slowly).
    let host_before = host_processes(&cluster);
    eprintln!("stopping the {LIST_NODES}-node cluster and its {host_before} processes");
    let stopping = Instant::now();
    let stopped = stop_all(&mut cluster).await;
    let stop = stopping.elapsed();
    let host_after = host_processes(&cluster);
    drop(cluster);
    let (fill, all, ps, pieces) = result?;
    stopped?;
    ensure!(
        host_after == 0,
        "{host_after} processes outlived their nodes (the harness has now killed them)"
    );
    Ok(ListResult {
        fill,
        all,
        ps,
        pieces,
        host_before,
        host_after,
        stop,
    })
}

/// Fills the cluster with processes, then times List (whole, and pieces)
/// and `ps -e`, interleaved.
async fn measure_lists(
    cluster: &TestCluster,
) -> anyhow::Result<(Duration, Query, Query, Vec<Query>)> {
    let fill = fill(cluster).await?;
    let mut client = cluster.nodes[0].client().await?;

    // Check the answer once, untimed.
    let reply = list(&mut client, ListRequest::default()).await?;
    bench::check_listed(&reply, LIST_NODES * PROCS_PER_NODE)?;

    // What is timed: the whole cluster, ps -e, and pieces of the whole:
    // node 0's own table; one other node's table through node 0 (over
    // TCP between the nodes); and that node's table asked of it directly,
    // over its Unix socket and over TCP.
    let local_name = cluster.nodes[0].name.clone();
    let remote_name = cluster.nodes[1].name.clone();
    let direct_unix = cluster.nodes[1].client().await?;
    let direct_tcp = cluster.nodes[1].tcp_client().await?;
    let mut requests = [
        (
            "List, all 5 nodes, via node 0",
            client.clone(),
            String::new(),
        ),
        (
            "List, node 0 only (its own table)",
            client.clone(),
            local_name,
        ),
        (
            "List, node 1 only, via node 0",
            client.clone(),
            remote_name.clone(),
        ),
        (
            "List, node 1 only, node 1's Unix socket",
            direct_unix,
            remote_name.clone(),
        ),
        (
            "List, node 1 only, node 1's TCP port",
            direct_tcp,
            remote_name,
        ),
    ];
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(LIST_ITERS); requests.len()];
    let mut sizes = vec![(0, 0); requests.len()];
    let mut ps_samples = Vec::with_capacity(LIST_ITERS);
    let mut ps_size = (0, 0);
    eprintln!(
        "List and ps -e: {LIST_WARMUP} warm-up + {LIST_ITERS} iterations each, {} processes",
        reply.processes.len()
    );
    for i in 0..LIST_WARMUP + LIST_ITERS {
        let record = i >= LIST_WARMUP;
        for (k, (_, client, node)) in requests.iter_mut().enumerate() {
            let req = ListRequest {
                node: node.clone(),
                ..ListRequest::default()
            };
            let start = Instant::now();
            let reply = list(client, req).await?;
            let elapsed = start.elapsed();
            ensure!(
                reply.unreachable.is_empty(),
                "List reports unreachable nodes: {:?}",
                reply.unreachable
            );
            if record {
                samples[k].push(elapsed.as_secs_f64() * 1e6);
            }
            sizes[k] = (reply.encoded_len(), reply.processes.len());
        }
        let start = Instant::now();
        let out = ps_e()?;
        let elapsed = start.elapsed();
        if record {
            ps_samples.push(elapsed.as_secs_f64() * 1e6);
        }
        ps_size = (out.len(), out.iter().filter(|b| **b == b'\n').count());
    }
    ensure!(
        ps_size.1 > LIST_NODES * PROCS_PER_NODE,
        "ps -e listed only {} lines while the {} processes run",
        ps_size.1,
        LIST_NODES * PROCS_PER_NODE
    );
    let mut queries = requests.into_iter().zip(samples).zip(sizes).map(
        |(((name, _, _), samples), (bytes, entries))| Query {
            name: name.to_string(),
            stats: Stats::of(samples),
            bytes,
            entries,
        },
    );
    let all = queries.next().context("the whole-cluster List")?;
    let pieces = queries.collect();
    let ps = Query {
        name: "`ps -e` (subprocess, output read fully)".to_string(),
        stats: Stats::of(ps_samples),
        bytes: ps_size.0,
        // Minus the header line.
        entries: ps_size.1.saturating_sub(1),
    };
    Ok((fill, all, ps, pieces))
}

/// Starts [`PROCS_PER_NODE`] long-running processes on every node.
async fn fill(cluster: &TestCluster) -> anyhow::Result<Duration> {
    bench::fill(cluster, PROCS_PER_NODE, &LONG_PROGRAM, SPAWN_IN_FLIGHT).await
}

async fn list(
    client: &mut ProcessesClient<Channel>,
    req: ListRequest,
) -> anyhow::Result<ListReply> {
    Ok(client.list(req).await.context("List")?.into_inner())
}

/// Runs `ps -e` with its output in a pipe, reads the output fully and
/// waits for it.
fn ps_e() -> anyhow::Result<Vec<u8>> {
    let mut child = Command::new("ps")
        .arg("-e")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run ps -e")?;
    let mut out = Vec::new();
    child
        .stdout
        .take()
        .context("ps has a stdout pipe")?
        .read_to_end(&mut out)
        .context("reading ps -e")?;
    let status = child.wait().context("waiting for ps -e")?;
    ensure!(status.success(), "ps -e failed: {status}");
    Ok(out)
}

// ---------------------------------------------------------------------------
// The report

impl Report {
    fn print(&self) {
        println!("Date: {} UTC", utc_now());
        println!("Machine: {}", bench::machine());
        println!();
        self.print_spawn();
        println!();
        self.print_list();
        println!();
        self.print_down();
    }

    fn print_spawn(&self) {
        let s = &self.spawn;
        println!(
            "### 1. Spawn + wait of {PROGRAM}, 3 nodes, asked of node 0 ({WARMUP} warm-up + {} per path, alternating)",
            self.iters
        );
        println!();
        println!(
            "| path | median µs | p90 µs | Spawn median µs | Wait median µs | median / local |"
        );
        println!("|---|---:|---:|---:|---:|---:|");
        for p in [&s.local, &s.remote] {
            println!(
                "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2}x |",
                p.name,
                p.total.median,
                p.total.p90,
                p.spawn.median,
                p.wait.median,
                p.total.median / s.local.total.median
            );
        }
        println!();
        let ratio = s.remote.total.median / s.local.total.median;
        println!(
            "Target (remote median at most {REMOTE_TARGET}x local): {ratio:.2}x, {}",
            verdict(ratio <= REMOTE_TARGET)
        );
    }

    fn print_list(&self) {
        let l = &self.list;
        println!(
            "### 2. List, {LIST_NODES} nodes x {PROCS_PER_NODE} processes ({LIST_WARMUP} warm-up + {LIST_ITERS} each, interleaved)"
        );
        println!();
        println!("| query | median ms | p90 ms | entries | bytes | median / ps |");
        println!("|---|---:|---:|---:|---:|---:|");
        for q in std::iter::once(&l.all)
            .chain(std::iter::once(&l.ps))
            .chain(&l.pieces)
        {
            println!(
                "| {} | {:.1} | {:.1} | {} | {} | {:.2}x |",
                q.name,
                q.stats.median / 1e3,
                q.stats.p90 / 1e3,
                q.entries,
                q.bytes,
                q.stats.median / l.ps.stats.median
            );
        }
        println!();
        let ratio = l.all.stats.median / l.ps.stats.median;
        println!(
            "Target (List median at most {LIST_TARGET}x ps -e): {ratio:.2}x, {}",
            verdict(ratio <= LIST_TARGET)
        );
        println!(
            "Setup: {} processes started in {:.1} s ({SPAWN_IN_FLIGHT} in flight); {} found on the host before the stop, {} after; stopping the nodes took {:.1} s",
            LIST_NODES * PROCS_PER_NODE,
            l.fill.as_secs_f64(),
            l.host_before,
            l.host_after,
            l.stop.as_secs_f64()
        );
    }

    fn print_down(&self) {
        let rounds = &self.down.rounds;
        println!(
            "### 3. SIGKILL of node 2 to \"down\" in Nodes on node 0 (3 nodes, polled every {} ms)",
            DOWN_POLL.as_millis()
        );
        println!();
        println!("| round | node up for s | down after ms | Nodes polls |");
        println!("|---:|---:|---:|---:|");
        for (i, r) in rounds.iter().enumerate() {
            println!(
                "| {} | {:.1} | {:.0} | {} |",
                i + 1,
                r.uptime.as_secs_f64(),
                r.detected.as_secs_f64() * 1e3,
                r.polls
            );
        }
        let ms: Vec<f64> = rounds
            .iter()
            .map(|r| r.detected.as_secs_f64() * 1e3)
            .collect();
        let median = Stats::of(ms.clone()).median;
        let worst = ms.iter().copied().fold(0.0, f64::max);
        println!("| median | | {median:.0} | |");
        println!();
        println!(
            "Target (down within {} s): median {median:.0} ms, worst {worst:.0} ms, {}",
            DOWN_TARGET.as_secs(),
            verdict(worst <= DOWN_TARGET.as_secs_f64() * 1e3)
        );
    }
}
