//! What users cost (issue #14), over a real, release-built `noded` started
//! by the test harness, in one run, printed as Markdown for
//! docs/PERFORMANCE.md ("## Users"); progress goes to stderr. Run as root:
//! it makes a local user (and deletes it after).
//!
//! 1. **Spawn + wait as a user vs as root**: `/bin/true` through the node's
//!    socket, once as root and once for the user (root names the user, as
//!    the service reconciler does), alternating. The user's process is
//!    started with setgroups/setgid/setuid before exec (fork + exec instead
//!    of posix_spawn). Target: at most 1.1x root's median.
//! 2. **List, filtered vs not**: 1,000 `sleep` processes of root and 1,000
//!    of the user on one node; List as root (all 2,000) and List for the
//!    user (its 1,000), alternating. Reported.
//!
//! `cargo build --release --bins && cargo bench -p tests --bench users`;
//! `BENCH_ITERS` sets spawn + waits per path (default 300).

use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::ensure;
use futures::StreamExt;
use proto::v1::ListRequest;
use proto::v1::processes_client::ProcessesClient;
use tests::bench::{self, Stats, as_user, utc_now, verdict};
use tests::{Node, request};
use tonic::transport::Channel;

const WARMUP: usize = 50;
const TARGET: f64 = 1.1;
const PROCS_PER_USER: usize = 1_000;
const LIST_ITERS: usize = 30;

/// A local user for the bench, deleted on drop.
struct Account(String);

impl Account {
    fn create() -> anyhow::Result<Account> {
        let name = format!("nb{}", std::process::id() % 100_000);
        let out = Command::new("useradd")
            .args(["-M", "-s", "/bin/sh", &name])
            .output()?;
        ensure!(
            out.status.success(),
            "useradd (run the bench as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(Account(name))
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        let _ = Command::new("pkill")
            .args(["-KILL", "-u", &self.0])
            .status();
        let _ = Command::new("userdel").arg(&self.0).output();
    }
}

async fn spawn_wait(
    client: &mut ProcessesClient<Channel>,
    user: Option<&str>,
) -> anyhow::Result<f64> {
    let (us, p) = bench::spawn_wait(client, request(&["/bin/true"]), user).await?;
    ensure!(p.user == user.unwrap_or("root"), "ran as {:?}", p.user);
    Ok(us)
}

async fn fill(client: &ProcessesClient<Channel>, user: Option<&str>) -> anyhow::Result<()> {
    let mut spawns = futures::stream::iter((0..PROCS_PER_USER).map(|_| {
        let mut client = client.clone();
        async move {
            client
                .spawn(as_user(request(&["sleep", "100000"]), user))
                .await
                .map(|_| ())
        }
    }))
    .buffer_unordered(32);
    while let Some(r) = spawns.next().await {
        r?;
    }
    Ok(())
}

async fn list(
    client: &mut ProcessesClient<Channel>,
    user: Option<&str>,
) -> anyhow::Result<(f64, usize)> {
    let start = Instant::now();
    let reply = client
        .list(as_user(ListRequest::default(), user))
        .await?
        .into_inner();
    Ok((start.elapsed().as_secs_f64() * 1e3, reply.processes.len()))
}

fn main() -> ExitCode {
    let iters = bench::env_count("BENCH_ITERS", 300);
    bench::async_main("users", &["noded"], async move {
        let account = Account::create()?;
        let user = Some(account.0.as_str());
        let node = Node::start().await?;
        let mut client = node.client().await?;
        eprintln!("spawn + wait: {WARMUP} warm-up + {iters} per path");
        let (mut root_us, mut user_us) = (Vec::new(), Vec::new());
        for i in 0..WARMUP + iters {
            let (r, u) = if i % 2 == 0 {
                let r = spawn_wait(&mut client, None).await?;
                (r, spawn_wait(&mut client, user).await?)
            } else {
                let u = spawn_wait(&mut client, user).await?;
                (spawn_wait(&mut client, None).await?, u)
            };
            if i >= WARMUP {
                root_us.push(r);
                user_us.push(u);
            }
        }
        eprintln!("starting {PROCS_PER_USER} sleeps for root and for the user");
        fill(&client, None).await?;
        fill(&client, user).await?;
        let (mut all_ms, mut mine_ms) = (Vec::new(), Vec::new());
        let (mut all_n, mut mine_n) = (0, 0);
        for _ in 0..LIST_ITERS {
            let (ms, n) = list(&mut client, None).await?;
            all_ms.push(ms);
            all_n = n;
            let (ms, n) = list(&mut client, user).await?;
            mine_ms.push(ms);
            mine_n = n;
        }
        // Both also list the `/bin/true` runs of part 1 (exit records).
        ensure!(
            all_n >= 2 * PROCS_PER_USER && mine_n >= PROCS_PER_USER && 2 * mine_n == all_n,
            "root listed {all_n}, the user {mine_n}"
        );
        let (root, as_user) = (Stats::of(root_us), Stats::of(user_us));
        let (all, mine) = (Stats::of(all_ms), Stats::of(mine_ms));
        println!("### Users bench, {} ({})\n", utc_now(), bench::machine());
        println!("Spawn + wait of `/bin/true` over the socket, {iters} per path, alternating:\n");
        println!("| runs as | median µs | p90 µs |");
        println!("|---|---|---|");
        println!("| root | {:.0} | {:.0} |", root.median, root.p90);
        println!(
            "| a user (setgroups, setgid, setuid) | {:.0} | {:.0} |",
            as_user.median, as_user.p90
        );
        let ratio = as_user.median / root.median;
        println!(
            "\nTarget (user median at most {TARGET}x root's): {ratio:.2}x, {}\n",
            verdict(ratio <= TARGET)
        );
        println!(
            "List with {PROCS_PER_USER} processes of root and {PROCS_PER_USER} of the user, {LIST_ITERS} each:\n"
        );
        println!("| List | processes | median ms | p90 ms |");
        println!("|---|---|---|---|");
        println!(
            "| as root (unfiltered) | {all_n} | {:.1} | {:.1} |",
            all.median, all.p90
        );
        println!(
            "| as the user (filtered) | {mine_n} | {:.1} | {:.1} |",
            mine.median, mine.p90
        );
        drop(node);
        Ok(())
    })
}
