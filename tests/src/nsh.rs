//! Running shells under test: `nsh` (and `bash`, to compare) as real
//! processes with a clean environment, their output captured, bounded by a
//! timeout after which their whole process group is killed; and a line diff
//! for readable mismatch reports. Used by the nsh integration tests.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use proto::Addr;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// How long one shell program may run before it is killed.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// A shell command with the environment the nsh tests give every shell:
/// only `PATH`, `HOME`, `LC_ALL=C` (so `sort` and globbing agree), `TMPDIR`
/// and `NEFELE_ADDR` (ignored by bash). Its cwd is `cwd`.
pub fn shell_command(program: &Path, addr: &Addr, tmpdir: &Path, cwd: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::var_os("HOME").unwrap_or_default())
        .env("LC_ALL", "C")
        .env("TMPDIR", tmpdir)
        .env("NEFELE_ADDR", addr.to_string())
        .current_dir(cwd);
    cmd
}

/// What a shell program did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// Exit status, 128+N when killed by signal N (as a shell reports it).
    pub status: i32,
    /// Whether it was killed for running longer than the timeout.
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Status, stdout and stderr, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "status {}{}\n--- stdout\n{}--- stderr\n{}---",
            self.status,
            if self.timed_out { " (timed out)" } else { "" },
            self.stdout,
            self.stderr
        )
    }
}

/// Runs `cmd` with `stdin` as its input (`None`: /dev/null) in a process
/// group of its own, killing the group after `timeout`.
pub async fn run(
    mut cmd: Command,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
) -> anyhow::Result<Run> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .process_group(0)
    .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    let pgid = Pid::from_raw(child.id().context("a fresh child has a pid")? as i32);
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().context("stdin is piped")?;
        // A shell that does not read all its input must not block the test.
        tokio::spawn(async move {
            let _ = pipe.write_all(&input).await;
        });
    }
    let wait = child.wait_with_output();
    tokio::pin!(wait);
    let (output, timed_out) = match tokio::time::timeout(timeout, &mut wait).await {
        Ok(output) => (output?, false),
        Err(_) => {
            // The leader is not reaped yet (we hold it), so the group id
            // still names this group.
            let _ = killpg(pgid, Signal::SIGKILL);
            match tokio::time::timeout(Duration::from_secs(10), &mut wait).await {
                Ok(output) => (output?, true),
                Err(_) => anyhow::bail!("{cmd:?} survived SIGKILL to its process group"),
            }
        }
    };
    let status = match (output.status.code(), output.status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => proto::signal_status(signal),
        (None, None) => -1,
    };
    Ok(Run {
        status,
        timed_out,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// A line diff of `expected` against `actual` (longest common subsequence):
/// common lines start with two spaces, missing ones with `- `, extra ones
/// with `+ `. A missing final newline shows as `\ no newline at end`.
pub fn line_diff(expected: &str, actual: &str) -> String {
    let split = |s: &str| -> Vec<String> {
        let mut lines: Vec<String> = s.lines().map(str::to_string).collect();
        if !s.is_empty() && !s.ends_with('\n') {
            lines.push("\\ no newline at end".to_string());
        }
        lines
    };
    let (a, b) = (split(expected), split(actual));
    // lcs[i][j]: length of the LCS of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out += &format!("  {}\n", a[i]);
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out += &format!("+ {}\n", b[j]);
            j += 1;
        } else {
            out += &format!("- {}\n", a[i]);
            i += 1;
        }
    }
    out
}

/// Runs `nsh -c script` against `node` (bounded by [`SCRIPT_TIMEOUT`]).
pub async fn nsh_c(node: &crate::Node, script: &str) -> anyhow::Result<Run> {
    let output = tokio::time::timeout(
        SCRIPT_TIMEOUT,
        Command::new(crate::binary("nsh"))
            .arg("-c")
            .arg(script)
            .env("NEFELE_ADDR", node.addr().to_string())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await??;
    Ok(Run {
        status: output.status.code().unwrap_or(-1),
        timed_out: false,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// A cluster with nsh talking to its first node's socket: what a suite of
/// nsh cases on several nodes shares.
pub struct ShellCluster {
    pub cluster: crate::TestCluster,
    /// Node 0's address: nsh's default node.
    pub addr: Addr,
}

impl ShellCluster {
    /// Starts `n` nodes.
    pub async fn start(n: usize) -> anyhow::Result<ShellCluster> {
        let cluster = crate::TestCluster::start(n).await?;
        let addr = cluster.nodes[0].addr();
        Ok(ShellCluster { cluster, addr })
    }

    /// Name of node `i` (0-based; the harness names nodes `t<pid>-<n>`).
    pub fn name(&self, i: usize) -> &str {
        &self.cluster.nodes[i].name
    }

    /// Runs `nsh -c SCRIPT` in `dir`.
    pub async fn nsh_c(&self, script: &str, dir: &Path) -> anyhow::Result<Run> {
        let mut cmd = shell_command(&crate::binary("nsh"), &self.addr, dir, dir);
        cmd.arg("-c").arg(script);
        run(cmd, None, SCRIPT_TIMEOUT).await
    }
}

#[cfg(test)]
mod tests {
    use super::line_diff;

    #[test]
    fn diff_marks_missing_and_extra_lines() {
        assert_eq!(line_diff("a\nb\nc\n", "a\nc\nd\n"), "  a\n- b\n  c\n+ d\n");
        assert_eq!(line_diff("x\n", "x"), "  x\n+ \\ no newline at end\n");
        assert_eq!(line_diff("", ""), "");
    }
}
