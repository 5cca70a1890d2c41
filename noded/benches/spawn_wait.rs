//! What a cluster process costs over a plain one: spawn + wait of
//! `/bin/true` through noded's API (over the Unix socket and over TCP)
//! against `tokio::process` spawn + wait in this process, measured in one
//! run against a real noded binary. Prints a Markdown table for
//! docs/PERFORMANCE.md; progress goes to stderr.
//!
//! Run with `cargo bench -p noded --bench spawn_wait`. `BENCH_ITERS` sets
//! the number of sequential iterations per path (default 500). noded's data
//! dir is created under `$TMPDIR`, and its filesystem shows in the numbers
//! (docs/PERFORMANCE.md).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use proto::Addr;
use proto::v1::processes_client::ProcessesClient;
use proto::v1::{ProcessState, SpawnRequest, WaitRequest};
use tonic::transport::Channel;

/// The program every path starts: as cheap as a process gets, so the
/// overhead is what shows.
const PROGRAM: &str = "/bin/true";
/// Sequential iterations run and thrown away before measuring each path.
const WARMUP: usize = 50;
/// Sequential iterations measured per path unless `BENCH_ITERS` says.
const DEFAULT_ITERS: usize = 500;
/// Concurrent spawn+wait loops in the throughput run.
const IN_FLIGHT: usize = 16;
/// Spawns per path in the throughput run, spread over the loops.
const THROUGHPUT_TOTAL: usize = 2000;
const _: () = assert!(
    THROUGHPUT_TOTAL.is_multiple_of(IN_FLIGHT),
    "every loop does the same share"
);
/// How long noded may take to start serving.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long noded may take to exit after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Interval between readiness (and exit) checks.
const POLL: Duration = Duration::from_millis(5);

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("spawn_wait: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let iters = match std::env::var("BENCH_ITERS") {
        Ok(s) => match s.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("BENCH_ITERS={s:?} is not a positive number")),
        },
        Err(_) => DEFAULT_ITERS,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;

    // Dropped at the end of this function, on success, error or panic.
    let noded = Noded::start()?;
    eprintln!(
        "noded serving on {} and {}",
        noded.socket.display(),
        noded.tcp
    );

    let rows = runtime.block_on(async {
        let unix = connect(&Addr::Unix(noded.socket.clone())).await?;
        let tcp = connect_tls(&noded.tcp, &noded.data_dir).await?;
        let targets = [
            ("baseline", Target::Baseline),
            ("unix", Target::Api(unix)),
            ("tcp", Target::Api(tcp)),
        ];

        let mut latencies = Vec::new();
        for (name, target) in &targets {
            eprintln!("latency: {name} ({WARMUP} warm-up + {iters} iterations)");
            latencies.push(latency(&mut target.clone(), iters).await);
        }
        let mut rates = Vec::new();
        for (name, target) in &targets {
            eprintln!("throughput: {name} ({THROUGHPUT_TOTAL} spawns, {IN_FLIGHT} in flight)");
            rates.push(throughput(target).await);
        }
        let rows: Vec<Row> = targets
            .iter()
            .zip(latencies)
            .zip(rates)
            .map(|(((name, _), lat), rate)| Row {
                name,
                median_us: lat.0,
                p90_us: lat.1,
                per_sec: rate,
            })
            .collect();
        Ok::<_, String>(rows)
    })?;
    drop(runtime);
    drop(noded);

    print_report(&rows, iters);
    Ok(())
}

/// A running noded in a temporary directory; SIGTERMed and waited for when
/// dropped, so it never outlives the bench, even when the bench panics.
struct Noded {
    child: Child,
    socket: PathBuf,
    tcp: Addr,
    /// Its data dir (the certificates the TCP client presents).
    data_dir: PathBuf,
    /// Declared last: removed only after the child has stopped.
    _dir: tempfile::TempDir,
}

impl Noded {
    /// Starts the noded built alongside this bench and waits until both its
    /// Unix socket accepts connections and it has written `listen.addr`.
    fn start() -> Result<Noded, String> {
        let dir = tempfile::Builder::new()
            .prefix("nefele-bench-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let data_dir = dir.path().join("data");
        let socket = dir.path().join("noded.sock");
        let log_path = dir.path().join("noded.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let exe = env!("CARGO_BIN_EXE_noded");
        let child = Command::new(exe)
            .args(["--name", "bench", "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--socket")
            .arg(&socket)
            // The level noded runs at by default; a RUST_LOG=debug inherited
            // from the shell would make every spawn log and skew the numbers.
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start noded ({exe}): {e}"))?;
        // The guard exists before noded serves so that a failed start kills
        // it too; `tcp` is filled in once known.
        let mut noded = Noded {
            child,
            socket,
            tcp: Addr::Tcp(String::new()),
            data_dir: data_dir.clone(),
            _dir: dir,
        };
        noded.tcp = noded.wait_until_serving(&data_dir.join(noded::LISTEN_ADDR_FILE), &log_path)?;
        Ok(noded)
    }

    /// Polls until noded serves, returning its TCP address; fails if it
    /// exits or takes longer than [`START_TIMEOUT`].
    fn wait_until_serving(&mut self, addr_file: &Path, log_path: &Path) -> Result<Addr, String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    return Err(format!(
                        "noded could not be started: it exited with {status}; its log:\n{}",
                        read_log(log_path)
                    ));
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(format!(
                        "noded could not be started: cannot check on it: {e}"
                    ));
                }
            }
            let socket_up = std::os::unix::net::UnixStream::connect(&self.socket).is_ok();
            // noded writes the file atomically, so once it exists it is whole.
            if socket_up && let Ok(contents) = std::fs::read_to_string(addr_file) {
                let contents = contents.trim();
                return contents.parse::<Addr>().map_err(|e| {
                    format!(
                        "noded could not be started: {} holds {contents:?}: {e}",
                        addr_file.display()
                    )
                });
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "noded could not be started: not serving on {} after {START_TIMEOUT:?}; its log:\n{}",
                    self.socket.display(),
                    read_log(log_path)
                ));
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Noded {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        // The child is not reaped until the wait below, so the pid is still ours.
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) if Instant::now() >= deadline => {
                    eprintln!(
                        "spawn_wait: noded did not stop within {STOP_TIMEOUT:?} of SIGTERM; killing it"
                    );
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return;
                }
                Ok(None) => std::thread::sleep(POLL),
            }
        }
    }
}

/// The last few KiB of noded's log, for error messages.
fn read_log(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let _ = file.read_to_string(&mut text);
    }
    let start = text.len().saturating_sub(4096);
    let start = (start..text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    text[start..].to_string()
}

/// Over TLS, as a node: the API over TCP answers only to node
/// certificates until user tokens exist (docs/design/security.md).
async fn connect_tls(addr: &Addr, data_dir: &Path) -> Result<ProcessesClient<Channel>, String> {
    let read = |f: &str| {
        std::fs::read(data_dir.join("tls").join(f)).map_err(|e| format!("cannot read {f}: {e}"))
    };
    let tls = proto::tls::ClientTls::new(
        &read("ca.pem")?,
        Some((&read("node.pem")?, &read("node.key")?)),
    )
    .map_err(|e| e.to_string())?;
    let channel = proto::connect_with(addr, Some(&tls), proto::DEFAULT_CONNECT_TIMEOUT)
        .await
        .map_err(|e| format!("cannot connect to noded: {e}"))?;
    Ok(ProcessesClient::new(channel))
}

async fn connect(addr: &Addr) -> Result<ProcessesClient<Channel>, String> {
    let channel = proto::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to noded: {e}"))?;
    Ok(ProcessesClient::new(channel))
}

/// One way of running `/bin/true` to completion.
#[derive(Clone)]
enum Target {
    /// `tokio::process` in this process.
    Baseline,
    /// noded's Spawn then Wait, on one shared channel.
    Api(ProcessesClient<Channel>),
}

impl Target {
    /// Starts `/bin/true` and waits for it; panics if it did not exit 0.
    async fn spawn_wait(&mut self) {
        match self {
            Target::Baseline => {
                let mut child = tokio::process::Command::new(PROGRAM)
                    .spawn()
                    .expect("spawn /bin/true locally");
                let status = child.wait().await.expect("wait for /bin/true locally");
                assert!(status.success(), "local /bin/true failed: {status}");
            }
            Target::Api(client) => {
                let request = SpawnRequest {
                    argv: vec![PROGRAM.to_string()],
                    ..Default::default()
                };
                let started = client
                    .spawn(request)
                    .await
                    .expect("Spawn /bin/true via noded")
                    .into_inner();
                let done = client
                    .wait(WaitRequest {
                        pid: started.pid,
                        timeout_ms: 0,
                    })
                    .await
                    .expect("Wait for /bin/true via noded")
                    .into_inner();
                assert!(
                    done.state() == ProcessState::Exited && done.exit_code == Some(0),
                    "/bin/true via noded ended as {:?} with exit code {:?}",
                    done.state(),
                    done.exit_code
                );
            }
        }
    }
}

/// Median and p90 latency, in µs, of `iters` sequential spawn+waits after
/// [`WARMUP`] unmeasured ones.
async fn latency(target: &mut Target, iters: usize) -> (f64, f64) {
    for _ in 0..WARMUP {
        target.spawn_wait().await;
    }
    let mut samples = Vec::with_capacity(iters);
    for _ in 0..iters {
        let start = Instant::now();
        target.spawn_wait().await;
        samples.push(start.elapsed().as_secs_f64() * 1e6);
    }
    samples.sort_by(f64::total_cmp);
    (median(&samples), percentile(&samples, 0.9))
}

/// Median of sorted, non-empty samples.
fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Nearest-rank percentile (`q` in 0..=1) of sorted, non-empty samples.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Spawns per second with [`IN_FLIGHT`] loops each doing spawn+wait until
/// [`THROUGHPUT_TOTAL`] are done.
async fn throughput(target: &Target) -> f64 {
    let start = Instant::now();
    let tasks: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let mut target = target.clone();
            tokio::spawn(async move {
                for _ in 0..THROUGHPUT_TOTAL / IN_FLIGHT {
                    target.spawn_wait().await;
                }
            })
        })
        .collect();
    for result in futures::future::join_all(tasks).await {
        // A failed spawn+wait panics inside the task; carry it on here.
        if let Err(e) = result {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    THROUGHPUT_TOTAL as f64 / start.elapsed().as_secs_f64()
}

/// One line of the table.
struct Row {
    name: &'static str,
    median_us: f64,
    p90_us: f64,
    per_sec: f64,
}

fn print_report(rows: &[Row], iters: usize) {
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
    println!("Machine: nproc {cpus} ({model}), kernel {}", kernel.trim());
    println!(
        "Iterations: {WARMUP} warm-up + {iters} sequential per path; throughput {THROUGHPUT_TOTAL} spawns per path, {IN_FLIGHT} in flight; program {PROGRAM}"
    );
    println!();
    println!(
        "| path | median µs | p90 µs | median / baseline | spawns/s ({IN_FLIGHT} in flight) | throughput / baseline |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let Some(base) = rows.first() else { return };
    for row in rows {
        println!(
            "| {} | {:.0} | {:.0} | {:.2}x | {:.0} | {:.2}x |",
            row.name,
            row.median_us,
            row.p90_us,
            row.median_us / base.median_us,
            row.per_sec,
            row.per_sec / base.per_sec
        );
    }
    println!();
    for row in &rows[1..] {
        let ratio = row.median_us / base.median_us;
        let verdict = if ratio <= 2.0 { "met" } else { "NOT met" };
        println!(
            "Target (API median at most 2x baseline median), {}: {ratio:.2}x, {verdict}",
            row.name
        );
    }
}
