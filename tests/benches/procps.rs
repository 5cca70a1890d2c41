//! `ps -ef` over the cluster: the distribution's `ps -ef` run through
//! `nefele-proc-exec` (nefelefs's view as /proc) over 1,000 cluster
//! processes on two nodes, against plain `ps -ef` on this machine's /proc,
//! which runs the same 1,000 processes, in the same run. Target: at most 3x.
//! Prints a Markdown table for docs/PERFORMANCE.md; progress goes to stderr.
//!
//! `cargo build --release --bins && cargo bench -p tests --bench procps`

use std::io::Read;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use tests::{Mount, TestCluster};

/// Cluster processes in the view (half on each node).
const PROCESSES: usize = 1_000;
/// Spawns in flight while filling the cluster.
const IN_FLIGHT: usize = 32;
/// Unmeasured runs of each command first.
const WARMUP: usize = 3;
/// Measured runs of each command, interleaved.
const ITERS: usize = 20;
/// The view's List cache lives 1 s; waiting longer makes every view run
/// cold (it pays the List).
const COLD: Duration = Duration::from_millis(1_100);
/// The target ratio.
const TARGET: f64 = 3.0;

fn main() -> ExitCode {
    tests::bench::async_main("procps", &["noded", "nefelefs", "nefele-proc-exec"], run())
}

/// Runs a command, reads its output to the end, returns time and lines.
fn timed(cmd: &mut Command) -> anyhow::Result<(Duration, usize)> {
    let start = Instant::now();
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
    let mut out = String::new();
    child
        .stdout
        .take()
        .context("piped")?
        .read_to_string(&mut out)?;
    let status = child.wait()?;
    let took = start.elapsed();
    ensure!(status.success(), "{cmd:?} failed: {status}");
    Ok((took, out.lines().count()))
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn p90(v: &mut [Duration]) -> Duration {
    v.sort();
    v[(v.len() * 9).div_ceil(10).saturating_sub(1)]
}

async fn run() -> anyhow::Result<()> {
    eprintln!("starting 2 nodes and {PROCESSES} processes");
    let cluster = TestCluster::start(2).await?;
    tests::bench::fill(&cluster, PROCESSES / 2, &["sleep", "100000"], IN_FLIGHT).await?;
    let mount = Mount::start(&cluster.nodes[0]).await?;
    let view = || {
        let mut c = Command::new(tests::binary("nefele-proc-exec"));
        c.arg("--view").arg(&mount.path).args(["ps", "-ef"]);
        c
    };
    let host = || {
        let mut c = Command::new("ps");
        c.arg("-ef");
        c
    };
    for _ in 0..WARMUP {
        timed(&mut view())?;
        timed(&mut host())?;
    }
    let (mut cold, mut warm, mut plain) = (Vec::new(), Vec::new(), Vec::new());
    let (mut view_lines, mut host_lines) = (0, 0);
    for i in 0..ITERS {
        eprintln!("iteration {}/{ITERS}", i + 1);
        tokio::time::sleep(COLD).await;
        let (t, n) = timed(&mut view())?;
        cold.push(t);
        view_lines = n;
        warm.push(timed(&mut view())?.0);
        let (t, n) = timed(&mut host())?;
        plain.push(t);
        host_lines = n;
    }
    ensure!(view_lines > PROCESSES, "the view listed {view_lines} lines");
    ensure!(host_lines > PROCESSES, "the host listed {host_lines} lines");
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let base = median(&mut plain);
    println!(
        "### ps -ef, {PROCESSES} cluster processes on 2 nodes, vs /proc ({WARMUP} warm-up + {ITERS} each)\n"
    );
    println!("| command | median ms | p90 ms | lines | median / host |");
    println!("|---|---:|---:|---:|---:|");
    let (cm, wm) = (median(&mut cold), median(&mut warm));
    println!(
        "| `nefele-proc-exec ps -ef`, cold (List cache expired) | {:.1} | {:.1} | {view_lines} | {:.2}x |",
        ms(cm),
        ms(p90(&mut cold)),
        ms(cm) / ms(base)
    );
    println!(
        "| `nefele-proc-exec ps -ef`, warm (right after) | {:.1} | {:.1} | {view_lines} | {:.2}x |",
        ms(wm),
        ms(p90(&mut warm)),
        ms(wm) / ms(base)
    );
    println!(
        "| `ps -ef` on /proc | {:.1} | {:.1} | {host_lines} | 1.00x |",
        ms(base),
        ms(p90(&mut plain))
    );
    let ratio = ms(cm) / ms(base);
    println!(
        "\nTarget (cold view at most {TARGET}x /proc): {ratio:.2}x, {}",
        if ratio <= TARGET { "met" } else { "NOT met" }
    );
    drop(mount);
    Ok(())
}
