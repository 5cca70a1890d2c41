//! Pieces the benchmarks share (`tests/benches/*.rs`): filling a cluster
//! with long-running processes, stopping it, counting what is left, and
//! stamping results.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, ensure};
use futures::StreamExt;
use proto::v1::processes_client::ProcessesClient;
use proto::v1::{ProcessInfo, ProcessState, SpawnRequest, WaitRequest};
use tonic::transport::Channel;

use crate::{TIMEOUT, TestCluster, request};

/// A request for `user` (root on the socket may name one), or as root.
pub fn as_user<T>(message: T, user: Option<&str>) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    if let Some(user) = user
        && let Ok(value) = user.parse()
    {
        req.metadata_mut().insert(proto::USER_HEADER, value);
    }
    req
}

/// Spawn + Wait of `req` (for `user`, see [`as_user`]), which must exit 0;
/// returns the µs from before Spawn to the Wait reply, and the Spawn reply.
pub async fn spawn_wait(
    client: &mut ProcessesClient<Channel>,
    req: SpawnRequest,
    user: Option<&str>,
) -> anyhow::Result<(f64, ProcessInfo)> {
    let start = Instant::now();
    let p = client
        .spawn(as_user(req, user))
        .await
        .context("Spawn")?
        .into_inner();
    let wait = WaitRequest {
        pid: p.pid,
        timeout_ms: TIMEOUT.as_millis() as u64,
    };
    let done = client
        .wait(as_user(wait, user))
        .await
        .context("Wait")?
        .into_inner();
    let us = start.elapsed().as_secs_f64() * 1e6;
    ensure!(
        done.state() == ProcessState::Exited && done.exit_code == Some(0),
        "{:?} ended as {:?}",
        p.argv,
        done.state()
    );
    Ok((us, p))
}

/// Starts `per_node` processes running `argv` on every node of `cluster`,
/// each asked of its own node with `node: <its name>`, `in_flight` at a
/// time, round-robin so that all nodes fill up together. Returns how long
/// it took.
pub async fn fill(
    cluster: &TestCluster,
    per_node: usize,
    argv: &[&str],
    in_flight: usize,
) -> anyhow::Result<Duration> {
    let mut clients = Vec::new();
    for node in &cluster.nodes {
        clients.push((node.client().await?, node.name.clone()));
    }
    let total = cluster.nodes.len() * per_node;
    eprintln!(
        "starting {per_node} `{}` on each of {} nodes ({in_flight} in flight)",
        argv.join(" "),
        cluster.nodes.len()
    );
    let start = Instant::now();
    let mut spawns = futures::stream::iter((0..total).map(|i| {
        let (client, name) = &clients[i % clients.len()];
        let mut client = client.clone();
        let req = SpawnRequest {
            node: name.clone(),
            ..request(argv)
        };
        let name = name.clone();
        async move {
            let info = client
                .spawn(req)
                .await
                .with_context(|| format!("Spawn on {name}"))?
                .into_inner();
            ensure!(
                info.node == name,
                "asked for {name}, it runs on {:?}",
                info.node
            );
            anyhow::Ok(())
        }
    }))
    .buffer_unordered(in_flight);
    let mut done = 0;
    while let Some(result) = spawns.next().await {
        result?;
        done += 1;
        if done % 500 == 0 {
            eprintln!(
                "  {done}/{total} started ({:.1} s)",
                start.elapsed().as_secs_f64()
            );
        }
    }
    Ok(start.elapsed())
}

/// Checks a cluster-wide List before it is timed: every node answered and
/// at least `wanted` processes run; returns how many run.
pub fn check_listed(reply: &proto::v1::ListReply, wanted: usize) -> anyhow::Result<usize> {
    let running = reply
        .processes
        .iter()
        .filter(|p| p.state() == proto::v1::ProcessState::Running)
        .count();
    ensure!(
        reply.unreachable.is_empty() && running >= wanted,
        "List shows {running} running processes ({} in all), not {wanted} (unreachable: {:?})",
        reply.processes.len(),
        reply.unreachable
    );
    Ok(running)
}

/// Stops every running node of `cluster` with SIGTERM, all at once.
pub async fn stop_all(cluster: &mut TestCluster) -> anyhow::Result<()> {
    let stops = cluster
        .nodes
        .iter_mut()
        .filter(|n| n.pid().is_some())
        .map(|n| n.stop());
    for status in futures::future::join_all(stops).await {
        status?;
    }
    Ok(())
}

/// Host processes started by the nodes of `cluster` and still running.
pub fn host_processes(cluster: &TestCluster) -> usize {
    cluster
        .nodes
        .iter()
        .map(|n| n.leftover_processes().len())
        .sum()
}

/// This machine, as the reports print it: `nproc N (CPU model), kernel K`.
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel =
        std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_else(|_| "unknown".into());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("nproc {cpus} ({model}), kernel {}", kernel.trim())
}

/// "met" or "NOT met".
pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// The current UTC time as `YYYY-MM-DD HH:MM`.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01, in 400-year eras that start
    // on March 1st (so that the leap day ends a year).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60
    )
}

/// `main` of a benchmark that drives release-built binaries from async
/// code: checks that `binaries` were built, runs `run` on a fresh runtime
/// and turns an error into a message and a failure exit code.
pub fn async_main<F>(bench: &str, binaries: &[&str], run: F) -> std::process::ExitCode
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    for name in binaries {
        if !crate::bin_dir().join(name).exists() {
            eprintln!(
                "{bench} bench: {name} not found in {}; build first:\n\n    cargo build \
                 --release --bins",
                crate::bin_dir().display()
            );
            return std::process::ExitCode::FAILURE;
        }
    }
    let result = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{bench} bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Median and 90th percentile of some samples (in whatever unit they are).
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    /// The median.
    pub median: f64,
    /// The 90th percentile (nearest rank).
    pub p90: f64,
}

impl Stats {
    /// The statistics of `samples` (at least one).
    pub fn of(mut samples: Vec<f64>) -> Stats {
        assert!(!samples.is_empty(), "at least one sample");
        samples.sort_by(f64::total_cmp);
        let n = samples.len();
        let median = if n % 2 == 1 {
            samples[n / 2]
        } else {
            (samples[n / 2 - 1] + samples[n / 2]) / 2.0
        };
        let rank = (0.9 * n as f64).ceil() as usize;
        let p90 = samples[rank.clamp(1, n) - 1];
        Stats { median, p90 }
    }
}

/// A positive count from environment variable `var`, else `default`.
pub fn env_count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|n: &usize| *n > 0)
        .unwrap_or(default)
}

/// Runs `shell script args...` as the shell benchmarks do (a clean
/// environment, C locale, no stdin, and a node address that does not
/// exist, so a script of builtins never reaches a node); returns the
/// wall time and what it printed. It must succeed.
pub fn run_shell(
    shell: &std::path::Path,
    script: &std::path::Path,
    args: &[&str],
) -> anyhow::Result<(Duration, String)> {
    let start = Instant::now();
    let out = std::process::Command::new(shell)
        .arg(script)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LC_ALL", "C")
        .env("NEFELE_ADDR", "unix:/nonexistent/nsh-bench.sock")
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("running {}", shell.display()))?;
    let took = start.elapsed();
    ensure!(
        out.status.success(),
        "{} {} failed: {}; stderr: {}",
        shell.display(),
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((took, String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// Prints a Markdown table: `columns` as the header (the first column
/// left-aligned, the others right-aligned, as numbers are), then `rows`,
/// each already a `| .. |` line.
pub fn print_table(columns: &[&str], rows: &[String]) {
    println!("| {} |", columns.join(" | "));
    let align: Vec<&str> = (0..columns.len())
        .map(|i| if i == 0 { "---" } else { "---:" })
        .collect();
    println!("|{}|", align.join("|"));
    for row in rows {
        println!("{row}");
    }
}

/// The path of workspace binary `name`, which a benchmark needs built in
/// release mode first.
pub fn built(name: &str) -> anyhow::Result<std::path::PathBuf> {
    let path = crate::bin_dir().join(name);
    ensure!(
        path.exists(),
        "{} is missing: run `cargo build --release --bins` first",
        path.display()
    );
    Ok(path)
}

/// CPU time (user and system) `pid` has used, in seconds; 0 for a process
/// that is gone.
pub fn cpu_seconds(pid: nix::unistd::Pid) -> f64 {
    let ticks = || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which may hold spaces): state is
        // field 3, utime 14 and stime 15.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        Some(utime + stime)
    };
    // SAFETY: sysconf reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = if per_second > 0 {
        per_second as f64
    } else {
        100.0
    };
    ticks().unwrap_or(0) as f64 / per_second
}
