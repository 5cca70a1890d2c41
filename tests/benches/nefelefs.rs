//! What reading the cluster through nefelefs costs against reading the
//! host's own `/proc`: two shell commands over a real, release-built
//! `nefelefs` mount of a real 2-node cluster (the test harness's
//! `TestCluster` and `Mount`, mounted via node 0), printed as Markdown
//! tables for docs/PERFORMANCE.md ("## nefelefs"); progress goes to stderr.
//!
//! The cluster runs 1,000 `sleep 100000` (500 on each node, each Spawn
//! asked of its own node with `node: <its name>`, 32 in flight). They are
//! real host processes, so the host's `/proc` lists them too. Each command
//! runs as `sh -c '<script>'`, so that both sides pay the same shell and
//! pipe overhead, and is timed from the spawn of `sh` to its exit:
//!
//! 1. `ls <mount>/proc | wc -l` against `ls /proc | wc -l`;
//! 2. `cat <mount>/proc/*/status > /dev/null` against
//!    `cat /proc/[0-9]*/status > /dev/null`.
//!
//! nefelefs serves `proc/` from one List answer cached for 1 s
//! (nefelefs/src/fs.rs, `LIST_TTL`), so each mount command is measured
//! twice per iteration: **cold**, after a pause longer than that TTL, so the
//! command pays for the List; and **warm**, after another such pause and a
//! `readdir` of `<mount>/proc` made by the bench, which fills the cache
//! afresh (a `readdir` while the List is still fresh reuses it, so without
//! the pause a warm run would start with a cache about to expire). A warm
//! run counts as fully warm only if it ended within the TTL of the start of
//! that `readdir`; past the TTL nefelefs asks Get for every lookup. Targets:
//! each cold median at most 3x the `/proc` median (the cold number is the
//! one a user who runs the command once sees).
//!
//! 3 warm-up iterations, then 20 measured ones; in each, the `ls` trio and
//! then the `cat` trio, with the cold and `/proc` runs alternating which
//! goes first. At the end the mount is stopped with SIGTERM and the nodes
//! too; the bench checks that the mount and every process are gone.
//!
//! Build the binaries first, then run the bench:
//! `cargo build --release --bins && cargo bench -p tests --bench nefelefs`.

use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use proto::v1::ListRequest;
use tests::bench::{self, Stats, host_processes, stop_all};
use tests::{Mount, TestCluster};
use tokio::process::Command;

/// Nodes of the cluster.
const NODES: usize = 2;
/// Long-running processes started on each node.
const PROCS_PER_NODE: usize = 500;
/// What they run: long enough to outlive the bench.
const LONG_PROGRAM: [&str; 2] = ["sleep", "100000"];
/// Spawns in flight while filling the cluster.
const SPAWN_IN_FLIGHT: usize = 32;
/// Unmeasured iterations before measuring.
const WARMUP: usize = 3;
/// Measured iterations.
const ITERS: usize = 20;
/// Target: cold mount median over the `/proc` median, per command.
const TARGET: f64 = 3.0;
/// How long nefelefs keeps one List answer (`LIST_TTL` in
/// nefelefs/src/fs.rs; the tests package does not depend on nefelefs).
const LIST_TTL: Duration = Duration::from_secs(1);
/// Pause before a cold run: the TTL and a margin.
const COLD_PAUSE: Duration = Duration::from_millis(1_200);
/// A command that takes longer than this is killed and fails the bench
/// (a hung mount must not hang the bench).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    // The cluster and the mount live inside `run`: on error or panic they
    // are dropped there, which unmounts, stops every noded and kills what
    // they started.
    bench::async_main("nefelefs", &["noded", "nefelefs"], async {
        run().await.map(|report| report.print())
    })
}

/// Everything measured, for the report.
struct Report {
    /// How long starting the processes took.
    fill: Duration,
    ls: CommandResult,
    cat: CommandResult,
    cleanup: Cleanup,
}

/// What was left after the run.
struct Cleanup {
    /// The nodes' processes found on the host before the stop, and after.
    host_before: usize,
    host_after: usize,
    /// Whether the mount point was still mounted after nefelefs stopped,
    /// and whether its temp dir still existed after the harness dropped it.
    mounted_after: bool,
    dir_after: bool,
}

async fn run() -> anyhow::Result<Report> {
    eprintln!("starting a {NODES}-node cluster");
    let mut cluster =
        TestCluster::start_with(NODES, tests::NodeOptions::stopping_processes()).await?;
    let measured = fill_mount_and_measure(&cluster).await;
    // Whatever happened, stop the nodes: SIGTERM makes each stop its
    // processes (the harness's Drop would do it too, more slowly).
    let host_before = host_processes(&cluster);
    eprintln!("stopping the {NODES}-node cluster and its {host_before} processes");
    let stopped = stop_all(&mut cluster).await;
    let host_after = host_processes(&cluster);
    drop(cluster);

    let (fill, ls, cat, (mounted_after, dir_after)) = measured?;
    stopped?;
    ensure!(
        host_after == 0,
        "{host_after} processes outlived their nodes (the harness has now killed them)"
    );
    Ok(Report {
        fill,
        ls,
        cat,
        cleanup: Cleanup {
            host_before,
            host_after,
            mounted_after,
            dir_after,
        },
    })
}

/// Fills the cluster, mounts it via node 0, measures, and unmounts: the
/// setup time, the two commands' results, and whether the mount point was
/// still mounted after nefelefs stopped and its temp dir still there after
/// the harness dropped it (both must be false).
async fn fill_mount_and_measure(
    cluster: &TestCluster,
) -> anyhow::Result<(Duration, CommandResult, CommandResult, (bool, bool))> {
    let fill = fill(cluster).await?;
    let mut mount = Mount::start(&cluster.nodes[0]).await?;
    let measured = measure(cluster, &mount).await;

    eprintln!("stopping nefelefs");
    let status = mount.stop().await;
    // Either of the two mounts (the full view, the procps view) left.
    let mounted_after =
        tests::is_mount_point(&mount.path) || tests::is_mount_point(&mount.procps_view);
    let dir = mount
        .path
        .parent()
        .context("the mount point is in a temp dir")?
        .to_path_buf();
    let log = mount.log();
    drop(mount);
    let dir_after = dir.exists();

    let (ls, cat) = measured?;
    let status = status.context("stopping nefelefs")?;
    ensure!(
        status.success(),
        "nefelefs exited with {status}; its log:\n{log}"
    );
    ensure!(!mounted_after, "the mount outlived nefelefs's SIGTERM");
    ensure!(!dir_after, "the mount's temp dir outlived the harness");
    Ok((fill, ls, cat, (mounted_after, dir_after)))
}

/// Starts [`PROCS_PER_NODE`] long-running processes on every node, each
/// asked of its own node with `node: <its name>`, [`SPAWN_IN_FLIGHT`] at a
/// time, round-robin over the nodes; checks with List that all run.
async fn fill(cluster: &TestCluster) -> anyhow::Result<Duration> {
    let fill = bench::fill(cluster, PROCS_PER_NODE, &LONG_PROGRAM, SPAWN_IN_FLIGHT).await?;
    let total = cluster.nodes.len() * PROCS_PER_NODE;
    let mut client = cluster.nodes[0].client().await?;

    let reply = client
        .list(ListRequest::default())
        .await
        .context("List")?
        .into_inner();
    let running = bench::check_listed(&reply, total)?;
    eprintln!(
        "  {total} started in {:.1} s; List shows {running} running",
        fill.as_secs_f64()
    );
    Ok(fill)
}

// ---------------------------------------------------------------------------
// Measuring

/// One command, on the mount and on the host.
struct CommandResult {
    /// The two scripts given to `sh -c`.
    mount_script: String,
    host_script: String,
    cold: Stats,
    warm: Stats,
    host: Stats,
    /// Warm runs that ended within the TTL of the cache's filling.
    fully_warm: usize,
    /// Cold runs shorter than the TTL: the List they made (at their first
    /// readdir) served them to the end.
    cold_within_ttl: usize,
    /// Entries each side listed (`ls` only), in the last iteration.
    entries: Option<(usize, usize)>,
    /// Host runs that exited non-zero (a process gone between the glob
    /// and `cat`'s open).
    host_failures: usize,
}

/// Samples of one command, in ms.
struct Samples {
    cold: Vec<f64>,
    warm: Vec<f64>,
    host: Vec<f64>,
    fully_warm: usize,
    cold_within_ttl: usize,
    entries: Option<(usize, usize)>,
    host_failures: usize,
}

impl Samples {
    fn new() -> Samples {
        Samples {
            cold: Vec::with_capacity(ITERS),
            warm: Vec::with_capacity(ITERS),
            host: Vec::with_capacity(ITERS),
            fully_warm: 0,
            cold_within_ttl: 0,
            entries: None,
            host_failures: 0,
        }
    }

    fn result(self, mount_script: String, host_script: String) -> CommandResult {
        CommandResult {
            mount_script,
            host_script,
            cold: Stats::of(self.cold),
            warm: Stats::of(self.warm),
            host: Stats::of(self.host),
            fully_warm: self.fully_warm,
            cold_within_ttl: self.cold_within_ttl,
            entries: self.entries,
            host_failures: self.host_failures,
        }
    }
}

/// Which command of the two.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Ls,
    Cat,
}

/// What one `sh -c` run gave.
struct Run {
    elapsed: Duration,
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs `sh -c script` in its own process group, stdout and stderr in
/// pipes read to the end, and times it from the spawn to the exit. The
/// group is killed if it takes longer than [`COMMAND_TIMEOUT`].
async fn sh(script: &str) -> anyhow::Result<Run> {
    let start = Instant::now();
    let child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run sh -c {script:?}"))?;
    let group = child.id().context("a child just spawned has an id")?;
    let out = match tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output()).await {
        Ok(out) => out.with_context(|| format!("waiting for sh -c {script:?}"))?,
        Err(_) => {
            let _ = killpg(Pid::from_raw(group as i32), Signal::SIGKILL);
            bail!("sh -c {script:?} took more than {COMMAND_TIMEOUT:?}");
        }
    };
    Ok(Run {
        elapsed: start.elapsed(),
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// The line count printed by an `ls ... | wc -l` run.
fn count(run: &Run, script: &str) -> anyhow::Result<usize> {
    ensure!(
        run.success,
        "sh -c {script:?} failed: {}",
        run.stderr.trim()
    );
    run.stdout
        .trim()
        .parse()
        .with_context(|| format!("sh -c {script:?} printed {:?}", run.stdout))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The mount command and the host command, timed cold, warm and on the
/// host, interleaved over [`WARMUP`] + [`ITERS`] iterations.
async fn measure(
    cluster: &TestCluster,
    mount: &Mount,
) -> anyhow::Result<(CommandResult, CommandResult)> {
    let proc = mount.path.join("proc");
    let quoted = quote(&proc)?;
    let ls_mount = format!("ls {quoted} | wc -l");
    let ls_host = "ls /proc | wc -l".to_string();
    let cat_mount = format!("cat {quoted}/*/status > /dev/null");
    let cat_host = "cat /proc/[0-9]*/status > /dev/null".to_string();
    let total = cluster.nodes.len() * PROCS_PER_NODE;

    // Check the answers once, untimed: every process has a status file
    // with its `Pid:` line, and the host's /proc shows the processes.
    let check = sh(&format!("cat {quoted}/*/status | grep -c '^Pid:'")).await?;
    let statuses = count(&check, "cat <mount>/proc/*/status | grep -c ^Pid:")?;
    ensure!(
        statuses >= total,
        "the mount shows {statuses} status files, not {total}"
    );
    let host = count(&sh(&ls_host).await?, &ls_host)?;
    ensure!(
        host >= total,
        "/proc lists {host} entries while the {total} processes run"
    );

    let mut ls = Samples::new();
    let mut cat = Samples::new();
    eprintln!(
        "ls and cat: {WARMUP} warm-up + {ITERS} iterations, cold and warm (each after \
         {} ms) and /proc each",
        COLD_PAUSE.as_millis()
    );
    for i in 0..WARMUP + ITERS {
        let record = i >= WARMUP;
        for which in [Which::Ls, Which::Cat] {
            let (samples, mount_script, host_script) = match which {
                Which::Ls => (&mut ls, &ls_mount, &ls_host),
                Which::Cat => (&mut cat, &cat_mount, &cat_host),
            };
            // Cold: the List answer has expired.
            tokio::time::sleep(COLD_PAUSE).await;
            let (cold, host) = if i % 2 == 0 {
                let cold = sh(mount_script).await?;
                (cold, sh(host_script).await?)
            } else {
                let host = sh(host_script).await?;
                (sh(mount_script).await?, host)
            };
            // Warm: once the List the cold run made has expired too (a
            // readdir within its TTL would reuse it, not renew it), the
            // bench lists the directory (one fresh List) and runs the
            // command at once.
            tokio::time::sleep(COLD_PAUSE).await;
            let primed = Instant::now();
            let listed = std::fs::read_dir(&proc)
                .with_context(|| format!("readdir {}", proc.display()))?
                .count();
            ensure!(
                listed >= total,
                "readdir of the mount gave {listed} entries"
            );
            let warm = sh(mount_script).await?;
            let fully_warm = primed.elapsed() < LIST_TTL;

            for (run, side) in [(&cold, "cold"), (&warm, "warm")] {
                ensure!(
                    run.success,
                    "{side} sh -c {mount_script:?} failed: {}",
                    run.stderr.trim()
                );
            }
            if which == Which::Ls {
                let mount_entries = count(&cold, mount_script)?;
                ensure!(
                    mount_entries >= total && count(&warm, mount_script)? >= total,
                    "{mount_script} counted {mount_entries}, not at least {total}"
                );
                samples.entries = Some((mount_entries, count(&host, host_script)?));
            }
            if !record {
                continue;
            }
            samples.cold.push(ms(cold.elapsed));
            samples.warm.push(ms(warm.elapsed));
            samples.host.push(ms(host.elapsed));
            samples.fully_warm += usize::from(fully_warm);
            samples.cold_within_ttl += usize::from(cold.elapsed < LIST_TTL);
            samples.host_failures += usize::from(!host.success);
        }
        if record {
            eprintln!(
                "  {}/{ITERS}: ls cold {:.1} warm {:.1} /proc {:.1} ms; cat cold {:.1} warm {:.1} /proc {:.1} ms",
                i + 1 - WARMUP,
                ls.cold.last().copied().unwrap_or_default(),
                ls.warm.last().copied().unwrap_or_default(),
                ls.host.last().copied().unwrap_or_default(),
                cat.cold.last().copied().unwrap_or_default(),
                cat.warm.last().copied().unwrap_or_default(),
                cat.host.last().copied().unwrap_or_default(),
            );
        }
    }
    Ok((
        ls.result(ls_mount, ls_host),
        cat.result(cat_mount, cat_host),
    ))
}

/// `path` in single quotes for `sh`.
fn quote(path: &Path) -> anyhow::Result<String> {
    let s = path.to_str().context("the mount path is UTF-8")?;
    ensure!(!s.contains('\''), "the mount path {s:?} contains a quote");
    Ok(format!("'{s}'"))
}

// ---------------------------------------------------------------------------
// The report

impl Report {
    fn print(&self) {
        println!("Date: {} UTC", bench::utc_now());
        println!("Machine: {}", bench::machine());
        println!();
        println!(
            "### {NODES} nodes x {PROCS_PER_NODE} `{}`, mounted via node 0 ({WARMUP} warm-up + {ITERS} iterations, interleaved)",
            LONG_PROGRAM.join(" ")
        );
        println!();
        // The scripts hold pipes, which would split a Markdown table's
        // cells: they are listed above it, and the table names them.
        for (name, c) in [("ls", &self.ls), ("cat", &self.cat)] {
            println!(
                "- {name}: `sh -c \"{}\"` (mount), `sh -c \"{}\"` (/proc)",
                c.mount_script, c.host_script
            );
        }
        println!();
        println!("| command | run | median ms | p90 ms | median / /proc | p90 / /proc |");
        println!("|---|---|---:|---:|---:|---:|");
        for (name, c) in [("ls", &self.ls), ("cat", &self.cat)] {
            for (run, s) in [
                ("mount, cold", c.cold),
                ("mount, warm", c.warm),
                ("/proc", c.host),
            ] {
                println!(
                    "| {name} | {run} | {:.1} | {:.1} | {:.2}x | {:.2}x |",
                    s.median,
                    s.p90,
                    s.median / c.host.median,
                    s.p90 / c.host.p90
                );
            }
        }
        println!();
        for (name, c) in [("ls", &self.ls), ("cat", &self.cat)] {
            let ratio = c.cold.median / c.host.median;
            println!(
                "Target ({name}: cold median at most {TARGET}x /proc): {ratio:.2}x, {}",
                if ratio <= TARGET { "met" } else { "NOT met" }
            );
        }
        println!();
        if let Some((mount, host)) = self.ls.entries {
            println!("Entries: `ls` of the mount counted {mount}, `ls /proc` {host}.");
        }
        for (name, c) in [("ls", &self.ls), ("cat", &self.cat)] {
            println!(
                "{name}: cold runs shorter than the {} ms List TTL (served to the end by the \
                 List they made): {}/{ITERS}; warm runs that ended within the TTL of the \
                 cache's filling: {}/{ITERS}.",
                LIST_TTL.as_millis(),
                c.cold_within_ttl,
                c.fully_warm
            );
        }
        if self.cat.host_failures > 0 {
            println!(
                "The host `cat` exited non-zero in {}/{ITERS} runs (a process gone between the glob and the open).",
                self.cat.host_failures
            );
        }
        let c = &self.cleanup;
        println!(
            "Setup: {} processes started in {:.1} s ({SPAWN_IN_FLIGHT} in flight). Cleanup: {} found on the host before the stop, {} after; mount or procps view mounted after SIGTERM: {}; mount temp dir left: {}.",
            NODES * PROCS_PER_NODE,
            self.fill.as_secs_f64(),
            c.host_before,
            c.host_after,
            if c.mounted_after { "yes" } else { "no" },
            if c.dir_after { "yes" } else { "no" },
        );
    }
}
