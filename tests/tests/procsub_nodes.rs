//! Process substitution whose command runs on a cluster node (issue #17):
//! the node makes a FIFO (OpenFifo) and the command gets its path, so
//! `@n2 diff <(@n1 ...) <(...)` and `cmd >(...)` work whichever nodes the
//! command, the producer and the consumer run on. Checked as a user types
//! them under nsh on a 2-node cluster, compared with what bash prints for
//! the same commands run locally; the FIFO sits in a directory only the
//! user can open, in a directory nobody else can change, and goes away, also when the command never opens it;
//! `@any`/`@all` are refused with a clear error; a call whose first
//! message is not `open` is refused.

use std::time::Duration;

use proto::v1::{FifoRequest, fifo_request};
use tempfile::TempDir;
use tests::nsh::ShellCluster;
use tests::wait_until;

type Ctx = ShellCluster;

fn temp_dir() -> anyhow::Result<TempDir> {
    Ok(tempfile::Builder::new()
        .prefix("nefele-procsub-")
        .tempdir()?)
}

/// What bash prints for `script` run locally.
fn bash(script: &str, dir: &std::path::Path) -> anyhow::Result<(String, i32)> {
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()?;
    Ok((
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    ))
}

/// The FIFO directories on this machine (every test node runs here).
fn fifo_dirs() -> Vec<String> {
    let mut dirs: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("nefele-fifo-"))
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// Inputs from two places into a command on the other node, as bash
/// does it locally.
async fn reads_from_two_nodes(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let (n1, n2) = (ctx.name(0), ctx.name(1));
    let local = "diff <(printf 'a\\nb\\n') <(printf 'a\\nc\\n'); echo status=$?";
    let want = bash(local, dir.path())?;
    let script =
        format!("@{n2} diff <(@{n1} printf 'a\\nb\\n') <(printf 'a\\nc\\n'); echo status=$?");
    let run = ctx.nsh_c(&script, dir.path()).await?;
    anyhow::ensure!(
        run.stdout == want.0 && run.status == 0,
        "{run:?} want {want:?}"
    );
    // Nothing lost, on the shell's node too (no @).
    let script = format!("@{n2} wc -l <(@{n1} seq 200000) | cut -d' ' -f1; cat <(seq 3)");
    let run = ctx.nsh_c(&script, dir.path()).await?;
    anyhow::ensure!(
        run.stdout == "200000\n1\n2\n3\n" && run.status == 0,
        "{run:?}"
    );
    Ok(())
}

/// `>(cmd)`: what the command on a node writes reaches the consumer, all
/// of it, though the command's exit may reach nsh before its last bytes
/// do (which lost them until 2026-12-06; a large write and a few rounds
/// make that likely).
async fn writes_to_a_consumer(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let n2 = ctx.name(1);
    let script = format!(
        "for k in 1 2 3 4 5; do @{n2} sh -c 'seq $2 > \"$1\"' sh >(wc -l > count$k) 10000$k; done; \
         for k in 1 2 3 4 5; do \
           for i in $(seq 100); do [ -s count$k ] && break; sleep 0.1; done; cat count$k; \
         done"
    );
    let run = ctx.nsh_c(&script, dir.path()).await?;
    let lines: String = (1..=5).map(|k| format!("10000{k}\n")).collect();
    anyhow::ensure!(run.stdout == lines && run.status == 0, "{run:?}");
    Ok(())
}

/// The FIFO is the user's, mode 0600, in a directory of the node's that
/// others can pass but not list or change (0711), and both go
/// away, also when the command never opens the FIFO (no hang).
async fn fifos_are_private_and_go_away(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let n2 = ctx.name(1);
    let before = fifo_dirs();
    let script = format!(
        "@{n2} sh -c 'stat -c \"%a %U %F\" \"$1\"; stat -c %a \"$(dirname \"$1\")\"' sh <(true); \
         @{n2} true <(yes); echo done"
    );
    let run = tokio::time::timeout(Duration::from_secs(60), ctx.nsh_c(&script, dir.path()))
        .await
        .map_err(|_| anyhow::anyhow!("a FIFO nobody opened held the shell"))??;
    // Nodes run as root make the directory theirs (0711); a node run by
    // the user (a dev cluster) makes it the user's (0700).
    let dir_mode = if nix::unistd::geteuid().is_root() {
        711
    } else {
        700
    };
    let user = nix::unistd::User::from_uid(nix::unistd::geteuid())?
        .map(|u| u.name)
        .unwrap_or_default();
    anyhow::ensure!(
        run.stdout == format!("600 {user} fifo\n{dir_mode}\ndone\n") && run.status == 0,
        "{run:?}"
    );
    let before = &before;
    wait_until(
        "the FIFO directories to go",
        Duration::from_secs(30),
        || async move { (fifo_dirs() == *before).then_some(()) },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e:#}: left {:?}", fifo_dirs()))?;
    Ok(())
}

/// `@any` and `@all` have no known node before they start: refused with
/// an error that says so, nothing run.
async fn unknown_nodes_are_refused(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    for at in ["@any", "@all"] {
        let run = ctx
            .nsh_c(&format!("{at} cat <(echo x); echo after=$?"), dir.path())
            .await?;
        anyhow::ensure!(
            !run.stdout.contains('x') && run.stderr.contains("process substitution"),
            "{at}: {run:?}"
        );
    }
    Ok(())
}

/// A call that does not start with `open` is refused.
async fn calls_must_start_with_open(ctx: &Ctx) -> anyhow::Result<()> {
    let mut api = ctx.cluster.nodes[0].client().await?;
    let first = FifoRequest {
        request: Some(fifo_request::Request::Data(b"junk".to_vec())),
    };
    let status = api
        .open_fifo(futures::stream::iter(vec![first]))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("junk first message accepted"))?;
    anyhow::ensure!(status.code() == tonic::Code::InvalidArgument, "{status:?}");
    Ok(())
}

#[tokio::test]
async fn process_substitution_on_nodes() -> anyhow::Result<()> {
    let ctx = ShellCluster::start(2).await?;
    let failures = tests::run_cases!(
        &ctx,
        reads_from_two_nodes,
        writes_to_a_consumer,
        fifos_are_private_and_go_away,
        unknown_nodes_are_refused,
        calls_must_start_with_open,
    );
    tests::assert_no_failures(&failures);
    Ok(())
}
