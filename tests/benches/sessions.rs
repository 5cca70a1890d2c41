//! What a cluster session costs (issue #16), over release-built `noded`,
//! `nefelefs` and `nefele-proc-exec` on a 2-node loopback cluster, in one
//! run, printed as Markdown for docs/PERFORMANCE.md ("## Cluster
//! sessions"); progress goes to stderr.
//!
//! 1. **`kill -0` round trip**: bash's builtin in a loop inside a session,
//!    per call: to a local PID (the filter lets it through), to a cluster
//!    PID on the node the session asks, and to one on the other node (the
//!    call caught, answered by the supervisor through the API).
//! 2. **Filter overhead on a signal-free workload**: a fork/exec loop of
//!    `/bin/true` in bash inside a session against the same loop in a
//!    plain bash, alternating. Target: at most 1.05x.
//!
//! `cargo build --release --bins && cargo bench -p tests --bench sessions`;
//! `BENCH_ROUNDS` sets the rounds per measure (default 15).

use std::process::{Command, ExitCode};

use anyhow::{Context, ensure};
use proto::v1::SpawnRequest;
use tests::bench::{self, Stats, utc_now, verdict};
use tests::{Mount, TestCluster, binary, request};

const KILLS_PER_ROUND: usize = 300;
const FORKS_PER_ROUND: usize = 300;
const OVERHEAD_TARGET: f64 = 1.05;

/// Runs `bash -c SCRIPT` (in a session over `mount` when given) and
/// returns its stdout, which must be one number.
fn bash(session: Option<(&Mount, &str)>, script: &str) -> anyhow::Result<f64> {
    let mut command = match session {
        Some((mount, addr)) => {
            let mut c = Command::new(binary("nefele-proc-exec"));
            c.arg("--view")
                .arg(&mount.path)
                .args(["bash", "-c", script])
                .env("NEFELE_ADDR", addr);
            c
        }
        None => {
            let mut c = Command::new("bash");
            c.args(["-c", script]);
            c
        }
    };
    let out = command.output()?;
    ensure!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .with_context(|| format!("not a number: {text:?}"))
}

/// A bash loop running `body` `n` times, printing the µs it took.
fn timed_loop(n: usize, body: &str) -> String {
    format!(
        "s=$EPOCHREALTIME; for ((i=0;i<{n};i++)); do {body}; done; e=$EPOCHREALTIME; \
         echo $(( ${{e/./}} - ${{s/./}} ))"
    )
}

fn main() -> ExitCode {
    let rounds = bench::env_count("BENCH_ROUNDS", 15);
    bench::async_main(
        "sessions",
        &["noded", "nefelefs", "nefele-proc-exec"],
        async move {
            let cluster = TestCluster::start(2).await?;
            let mount = Mount::start(&cluster.nodes[0]).await?;
            let addr = cluster.nodes[0].addr().to_string();
            let mut client = cluster.nodes[0].client().await?;
            let mut on = async |node: usize| {
                let req = SpawnRequest {
                    node: cluster.nodes[node].name.clone(),
                    ..request(&["sleep", "100000"])
                };
                anyhow::Ok(client.spawn(req).await?.into_inner().pid)
            };
            let (near, far) = (on(0).await?, on(1).await?);

            eprintln!("kill -0: {rounds} rounds of {KILLS_PER_ROUND} per target");
            let targets = [
                ("a local PID (`$$`)", "$$".to_string()),
                ("a cluster PID on the session's node", near.to_string()),
                ("a cluster PID on the other node", far.to_string()),
            ];
            let mut kill_us = vec![Vec::new(); targets.len()];
            for _ in 0..rounds {
                for (i, (_, pid)) in targets.iter().enumerate() {
                    let script = timed_loop(KILLS_PER_ROUND, &format!("kill -0 {pid}"));
                    let us = bash(Some((&mount, &addr)), &script)?;
                    kill_us[i].push(us / KILLS_PER_ROUND as f64);
                }
            }

            eprintln!("fork/exec: {rounds} rounds of {FORKS_PER_ROUND} per path, alternating");
            let script = timed_loop(FORKS_PER_ROUND, "/bin/true");
            let (mut inside, mut outside) = (Vec::new(), Vec::new());
            for round in 0..rounds {
                if round % 2 == 0 {
                    inside.push(bash(Some((&mount, &addr)), &script)?);
                    outside.push(bash(None, &script)?);
                } else {
                    outside.push(bash(None, &script)?);
                    inside.push(bash(Some((&mount, &addr)), &script)?);
                }
            }

            println!(
                "### Cluster sessions bench, {} ({})\n",
                utc_now(),
                bench::machine()
            );
            println!(
                "`kill -0` from bash's builtin inside `nefele-proc-exec`, {rounds} rounds of \
                 {KILLS_PER_ROUND} calls per target:\n"
            );
            println!("| target | median µs per call | p90 µs |");
            println!("|---|---|---|");
            let stats: Vec<Stats> = kill_us.into_iter().map(Stats::of).collect();
            for ((what, _), s) in targets.iter().zip(&stats) {
                println!("| {what} | {:.1} | {:.1} |", s.median, s.p90);
            }
            println!(
                "\nA caught call costs {:.0}x a local one on the session's node, {:.0}x on \
                 another node.\n",
                stats[1].median / stats[0].median,
                stats[2].median / stats[0].median
            );
            let (inside, outside) = (Stats::of(inside), Stats::of(outside));
            println!(
                "`/bin/true` fork/exec loop in bash, {FORKS_PER_ROUND} per round, {rounds} \
                 rounds per path, alternating:\n"
            );
            println!("| path | median ms per round | p90 ms |");
            println!("|---|---|---|");
            println!(
                "| plain bash | {:.1} | {:.1} |",
                outside.median / 1e3,
                outside.p90 / 1e3
            );
            println!(
                "| bash in a cluster session (filter on every process) | {:.1} | {:.1} |",
                inside.median / 1e3,
                inside.p90 / 1e3
            );
            let ratio = inside.median / outside.median;
            println!(
                "\nTarget (at most {OVERHEAD_TARGET}x): {ratio:.3}x, {}",
                verdict(ratio <= OVERHEAD_TARGET)
            );
            Ok(())
        },
    )
}
