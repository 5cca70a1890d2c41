//! What running a script's commands on the cluster costs: a 500-line nsh
//! script of `@nX true` (X cycling over the nodes of a 3-node cluster)
//! against a 500-line bash script of `/bin/true`, and, when `sshd` is
//! installed, against `ssh 127.0.0.1 true` (one connection per command, as
//! a script that loops over `ssh` does). Release-built binaries, real noded
//! processes on loopback; the result is printed as Markdown for
//! docs/PERFORMANCE.md ("## nsh"), progress goes to stderr.
//!
//! Targets: nsh at most 3x bash; nsh at least 10x faster than ssh.
//!
//! `cargo build --release --bins && cargo bench -p tests --bench nsh_script`.
//! `BENCH_RUNS` sets the measured runs of each script (default 5).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use tests::TestCluster;
use tests::bench::{async_main, env_count, machine, stop_all, utc_now, verdict};

/// Lines of each script.
const LINES: usize = 500;
/// Target: nsh script time over bash script time.
const BASH_TARGET: f64 = 3.0;
/// Target: ssh time per command over nsh time per command.
const SSH_TARGET: f64 = 10.0;
/// `ssh 127.0.0.1 true` runs measured (each is a full connection).
const SSH_RUNS: usize = 20;

fn main() -> ExitCode {
    let count = env_count("BENCH_RUNS", 5);
    async_main("nsh_script", &["noded", "nsh"], run(count))
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// Runs `command` to completion, checking it succeeded; returns the time.
fn timed(mut command: Command) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let out = command
        .stdin(Stdio::null())
        .output()
        .context("run the script")?;
    let elapsed = start.elapsed();
    ensure!(
        out.status.success(),
        "{command:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(elapsed)
}

async fn run(runs: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    eprintln!("starting a 3-node cluster");
    let mut cluster = TestCluster::start(3).await?;
    let names: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
    let addr = cluster.nodes[0].addr().to_string();

    let nsh_script = dir.path().join("remote.nsh");
    let bash_script = dir.path().join("local.sh");
    let mut nsh_text = String::new();
    let mut bash_text = String::new();
    for i in 0..LINES {
        nsh_text.push_str(&format!("@{} true\n", names[i % names.len()]));
        bash_text.push_str("/bin/true\n");
    }
    std::fs::write(&nsh_script, nsh_text)?;
    std::fs::write(&bash_script, bash_text)?;

    let nsh = tests::binary("nsh");
    let nsh_run = || {
        let mut c = Command::new(&nsh);
        c.arg(&nsh_script).env("NEFELE_ADDR", &addr);
        c
    };
    let bash_run = || {
        let mut c = Command::new("bash");
        c.arg(&bash_script);
        c
    };
    eprintln!("warming up");
    timed(nsh_run())?;
    timed(bash_run())?;
    let mut nsh_times = Vec::new();
    let mut bash_times = Vec::new();
    for run in 0..runs {
        eprintln!("run {}/{runs}", run + 1);
        nsh_times.push(timed(nsh_run())?);
        bash_times.push(timed(bash_run())?);
    }
    let nsh_median = median(nsh_times);
    let bash_median = median(bash_times);
    let per_nsh = nsh_median / LINES as u32;
    let per_bash = bash_median / LINES as u32;
    let ratio = nsh_median.as_secs_f64() / bash_median.as_secs_f64();

    eprintln!("stopping the cluster");
    stop_all(&mut cluster).await?;
    drop(cluster);

    let ssh = match Sshd::start(dir.path()) {
        Ok(Some(sshd)) => Some(sshd.time_true(SSH_RUNS)?),
        Ok(None) => None,
        Err(e) => {
            eprintln!("sshd could not run on loopback: {e:#}");
            None
        }
    };

    println!("## nsh: scripts of cluster commands\n");
    println!("Measured {} on {}.\n", utc_now(), machine());
    println!(
        "A {LINES}-line script, run {runs} times after a warm-up; medians. nsh runs \
         `@nX true` with X cycling over the 3 nodes of a loopback cluster (two thirds \
         of the commands are forwarded by the shell's node); bash runs `/bin/true`.\n"
    );
    println!("| script | median | per command | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| bash, `/bin/true` x {LINES} | {:.0} ms | {:.2} ms | 1.00 | |",
        bash_median.as_secs_f64() * 1e3,
        per_bash.as_secs_f64() * 1e3
    );
    println!(
        "| nsh, `@nX true` x {LINES} | {:.0} ms | {:.2} ms | {ratio:.2} | <= {BASH_TARGET}x bash: {} |",
        nsh_median.as_secs_f64() * 1e3,
        per_nsh.as_secs_f64() * 1e3,
        verdict(ratio <= BASH_TARGET)
    );
    match ssh {
        Some(per_ssh) => {
            let speedup = per_ssh.as_secs_f64() / per_nsh.as_secs_f64();
            println!(
                "| `ssh 127.0.0.1 true` (median of {SSH_RUNS}) | | {:.2} ms | nsh {speedup:.1}x faster | >= {SSH_TARGET}x: {} |",
                per_ssh.as_secs_f64() * 1e3,
                verdict(speedup >= SSH_TARGET)
            );
        }
        None => println!(
            "| `ssh 127.0.0.1 true` | not measured: sshd is not installed on this machine | | | |"
        ),
    }
    Ok(())
}

/// An sshd on a free loopback port with a throw-away host key and a
/// throw-away client key; killed (by its PID) when dropped.
struct Sshd {
    child: Child,
    port: u16,
    key: PathBuf,
    known_hosts: PathBuf,
}

impl Sshd {
    /// `Ok(None)` when sshd is not installed.
    fn start(dir: &Path) -> anyhow::Result<Option<Sshd>> {
        let sshd = ["/usr/sbin/sshd", "/usr/bin/sshd"]
            .iter()
            .map(Path::new)
            .find(|p| p.exists());
        let Some(sshd) = sshd else {
            return Ok(None);
        };
        let dir = dir.join("ssh");
        std::fs::create_dir_all(&dir)?;
        let host_key = dir.join("host_key");
        let key = dir.join("client_key");
        for path in [&host_key, &key] {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(path)
                .status()?;
            ensure!(status.success(), "ssh-keygen failed");
        }
        let authorized = dir.join("authorized_keys");
        std::fs::copy(key.with_extension("pub"), &authorized)?;
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            listener.local_addr()?.port()
        };
        let config = dir.join("sshd_config");
        let mut file = std::fs::File::create(&config)?;
        writeln!(
            file,
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\n\
             PasswordAuthentication no\nPermitRootLogin yes\nUsePAM no\nPidFile {}\n\
             StrictModes no",
            host_key.display(),
            authorized.display(),
            dir.join("sshd.pid").display()
        )?;
        std::fs::create_dir_all("/run/sshd")?;
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start sshd")?;
        let sshd = Sshd {
            child,
            port,
            key,
            known_hosts: dir.join("known_hosts"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("sshd did not listen on 127.0.0.1:{port}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Some(sshd))
    }

    fn ssh_true(&self) -> Command {
        let mut c = Command::new("ssh");
        c.args([
            "-q",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-p",
        ])
        .arg(self.port.to_string())
        .arg("-i")
        .arg(&self.key)
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
        .args(["127.0.0.1", "true"]);
        c
    }

    /// Median time of one `ssh 127.0.0.1 true`.
    fn time_true(&self, runs: usize) -> anyhow::Result<Duration> {
        timed(self.ssh_true())?;
        let mut times = Vec::new();
        for _ in 0..runs {
            times.push(timed(self.ssh_true())?);
        }
        Ok(median(times))
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
