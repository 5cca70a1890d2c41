//! Test harness for Nefele's integration tests: starts real `noded`
//! processes on free loopback ports in their own temp dirs, waits on
//! conditions with generous timeouts (never bare sleeps), crashes, stops
//! and restarts them, and cleans up everything it started even when a test
//! fails.
//!
//! The binaries must be built first (`cargo build --workspace --bins`, part
//! of the README's test command); `NEFELE_BIN_DIR` overrides where they are.

pub mod accounts;
pub mod bench;
mod cluster;
mod mount;
mod netns;
pub mod nsh;
pub mod pty;

pub use cluster::TestCluster;
pub use mount::{Mount, is_mount_point};
pub use netns::Netns;

use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use proto::v1::cluster_client::ClusterClient;
use proto::v1::processes_client::ProcessesClient;
use proto::v1::{
    GetRequest, OutputStream, ProcessInfo, ProcessState, ReadOutputRequest, SignalRequest,
    SpawnRequest, WaitRequest,
};
use proto::{Addr, connect};
use tonic::transport::Channel;

/// Default patience for conditions: the machine is small and shared.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Polls `condition` until it returns `Some`, or fails after `timeout`:
/// the blocking twin of [`wait_until`], for drops and threads without a
/// runtime (it polls at least every 20 ms, so teardown stays prompt).
pub fn wait_until_blocking<T>(
    what: &str,
    timeout: Duration,
    mut condition: impl FnMut() -> Option<T>,
) -> anyhow::Result<T> {
    let deadline = std::time::Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(value) = condition() {
            return Ok(value);
        }
        if std::time::Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Polls `condition` until it returns `Some`, or fails after `timeout`.
pub async fn wait_until<T, F, Fut>(
    what: &str,
    timeout: Duration,
    mut condition: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(value) = condition().await {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// Where the workspace's binaries are.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("NEFELE_BIN_DIR") {
        return dir.into();
    }
    // Test executables live in target/<profile>/deps; binaries one level up.
    let exe = std::env::current_exe().expect("the test knows its own path");
    let deps = exe.parent().expect("test executable is in a directory");
    if deps.ends_with("deps") {
        deps.parent().expect("deps has a parent").to_path_buf()
    } else {
        deps.to_path_buf()
    }
}

/// The Python that has grpcio, for tests that call the API as a generic
/// client would: `NEFELE_TEST_PYTHON`, else the virtualenv `.ci/run` makes
/// (`target/ci-python`), else `python3`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("NEFELE_TEST_PYTHON") {
        return p.into();
    }
    let venv = bin_dir().join("../ci-python/bin/python");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("python3")
}

/// Path of a workspace binary, checked to exist.
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} not found: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

static NEXT_NODE: AtomicU32 = AtomicU32::new(0);

/// Options for starting a node.
#[derive(Clone, Debug, Default)]
pub struct NodeOptions {
    /// Extra TOML for the config file (e.g. "[limits]\nstop_grace_ms = 500").
    pub config: String,
    /// Members to join (`--join`); empty founds a cluster.
    pub join: Vec<String>,
    /// IP to listen on (default 127.0.0.1).
    pub ip: Option<String>,
    /// Network namespace to run in (`ip netns exec`).
    pub netns: Option<String>,
    /// Join token for a new node (`--token`); [`TestCluster`] and
    /// [`Node::join_options`] fill it in.
    pub token: Option<String>,
    /// Run without TLS (`--insecure`).
    pub insecure: bool,
    /// Extra command-line arguments.
    pub args: Vec<String>,
    /// Port to listen on (default: a free one, chosen by the kernel).
    pub port: Option<u16>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// The noded binary to run (default: the workspace's).
    pub noded: Option<PathBuf>,
}

impl NodeOptions {
    /// Nodes that stop their processes when they stop (`--stop-processes`):
    /// by default the processes outlive a stopped noded, held by its
    /// keeper, and benches that measure a stop want them gone with it.
    pub fn stopping_processes() -> NodeOptions {
        NodeOptions {
            args: vec!["--stop-processes".into()],
            ..NodeOptions::default()
        }
    }
}

/// A running (or crashed) noded under test, with its own temp dir.
pub struct Node {
    /// Unique node name.
    pub name: String,
    /// The temp dir holding data dir, socket and log.
    pub dir: tempfile::TempDir,
    options: NodeOptions,
    /// The port chosen at the first start, kept across restarts.
    port: Option<u16>,
    child: Option<Child>,
}

impl Node {
    /// Starts a node with default options.
    pub async fn start() -> anyhow::Result<Node> {
        Self::start_with(NodeOptions::default()).await
    }

    /// Starts a node.
    pub async fn start_with(options: NodeOptions) -> anyhow::Result<Node> {
        let name = format!(
            "t{}-{}",
            std::process::id(),
            NEXT_NODE.fetch_add(1, Ordering::Relaxed)
        );
        let dir = tempfile::Builder::new().prefix("nefele-test-").tempdir()?;
        let mut node = Node {
            name,
            dir,
            options,
            port: None,
            child: None,
        };
        node.launch().await?;
        Ok(node)
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The Unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("noded.sock")
    }

    /// The Unix socket as an address.
    pub fn addr(&self) -> Addr {
        Addr::Unix(self.socket())
    }

    /// The TCP address, read from the data dir.
    pub fn tcp_addr(&self) -> anyhow::Result<Addr> {
        let text = std::fs::read_to_string(self.data_dir().join("listen.addr"))?;
        Ok(text.trim().parse()?)
    }

    /// The noded's stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("noded.log")).unwrap_or_default()
    }

    /// The noded's host PID, while it runs.
    pub fn pid(&self) -> Option<Pid> {
        self.child.as_ref().map(|c| Pid::from_raw(c.id() as i32))
    }

    /// The noded binary this node runs.
    fn noded(&self) -> PathBuf {
        self.options
            .noded
            .clone()
            .unwrap_or_else(|| binary("noded"))
    }

    /// The command line that starts this node.
    pub fn command(&self) -> Command {
        let config = self.dir.path().join("noded.toml");
        std::fs::write(&config, &self.options.config).expect("temp dir is writable");
        let mut cmd = match &self.options.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(self.noded());
                c
            }
            None => Command::new(self.noded()),
        };
        let ip = self.options.ip.as_deref().unwrap_or("127.0.0.1");
        for seed in &self.options.join {
            cmd.arg("--join").arg(seed);
        }
        if let Some(token) = &self.options.token {
            cmd.arg("--token").arg(token);
        }
        if self.options.insecure {
            cmd.arg("--insecure");
        }
        cmd.args(&self.options.args);
        cmd.envs(self.options.env.iter().cloned());
        cmd.arg("--name")
            .arg(&self.name)
            .arg("--listen")
            .arg(format!(
                "{ip}:{}",
                self.port.or(self.options.port).unwrap_or(0)
            ))
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--socket")
            .arg(self.socket())
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "noded=debug,info");
        cmd
    }

    async fn launch(&mut self) -> anyhow::Result<()> {
        let _ = std::fs::remove_file(self.data_dir().join("listen.addr"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("noded.log"))?;
        let child = self
            .command()
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start noded")?;
        self.child = Some(child);
        let addr = self.addr();
        let data = self.data_dir();
        let started = wait_until("noded to serve", TIMEOUT, || {
            let addr = addr.clone();
            let data = data.clone();
            async move {
                if !data.join("listen.addr").exists() {
                    return None;
                }
                connect(&addr).await.ok()
            }
        })
        .await;
        if let Err(e) = started {
            bail!("{e}\nnoded log:\n{}", self.log());
        }
        if let Ok(Addr::Tcp(hostport) | Addr::Tls(hostport)) = self.tcp_addr() {
            self.port = hostport.rsplit_once(':').and_then(|(_, p)| p.parse().ok());
        }
        Ok(())
    }

    /// The TCP address as `host:port`, for `--join`.
    pub fn hostport(&self) -> String {
        match self.tcp_addr() {
            Ok(Addr::Tcp(hostport) | Addr::Tls(hostport)) => hostport,
            _ => String::new(),
        }
    }

    /// Lets every local user reach the node's socket (its temp dir is
    /// private by default); the socket itself is open to all (SPEC §9).
    pub fn open_to_local_users(&self) -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.dir.path(), std::fs::Permissions::from_mode(0o755))?;
        Ok(())
    }

    /// The cluster CA this node holds (`DATA_DIR/tls/ca.pem`).
    pub fn ca_file(&self) -> PathBuf {
        self.data_dir().join("tls/ca.pem")
    }

    /// A channel to the node's TCP address, verified with its CA (or
    /// plain text for an `--insecure` node). Over TLS it presents the
    /// node's own certificate: until user tokens exist, only nodes may use
    /// the API over TCP.
    pub async fn tcp_channel(&self) -> anyhow::Result<Channel> {
        let addr = self.tcp_addr()?;
        let tls = match addr {
            Addr::Tls(_) => {
                let ca = std::fs::read(self.ca_file())?;
                let cert = std::fs::read(self.data_dir().join("tls/node.pem"))?;
                let key = std::fs::read(self.data_dir().join("tls/node.key"))?;
                Some(proto::tls::ClientTls::new(&ca, Some((&cert, &key)))?)
            }
            _ => None,
        };
        Ok(proto::connect_with(&addr, tls.as_ref(), proto::DEFAULT_CONNECT_TIMEOUT).await?)
    }

    /// Makes a join token on this node (through its socket, as root).
    pub async fn join_token(&self) -> anyhow::Result<String> {
        let mut tokens = proto::v1::tokens_client::TokensClient::new(connect(&self.addr()).await?);
        Ok(tokens
            .create_token(proto::v1::CreateTokenRequest::default())
            .await?
            .into_inner()
            .token)
    }

    /// Options for a new node joining the cluster through this one: its
    /// address and, unless it runs `--insecure`, a fresh join token.
    pub async fn join_options(&self) -> anyhow::Result<NodeOptions> {
        let token = if self.options.insecure {
            None
        } else {
            Some(self.join_token().await?)
        };
        Ok(NodeOptions {
            join: vec![self.hostport()],
            token,
            insecure: self.options.insecure,
            ..NodeOptions::default()
        })
    }

    /// A Processes client over the Unix socket.
    pub async fn client(&self) -> anyhow::Result<ProcessesClient<Channel>> {
        Ok(ProcessesClient::new(connect(&self.addr()).await?))
    }

    /// A Processes client over TCP (TLS verified with the node's CA).
    pub async fn tcp_client(&self) -> anyhow::Result<ProcessesClient<Channel>> {
        Ok(ProcessesClient::new(self.tcp_channel().await?))
    }

    /// A Cluster client over the Unix socket.
    pub async fn cluster(&self) -> anyhow::Result<ClusterClient<Channel>> {
        Ok(ClusterClient::new(connect(&self.addr()).await?))
    }

    /// A Services client over the Unix socket.
    pub async fn services(
        &self,
    ) -> anyhow::Result<proto::v1::services_client::ServicesClient<Channel>> {
        Ok(proto::v1::services_client::ServicesClient::new(
            connect(&self.addr()).await?,
        ))
    }

    /// Kills noded with SIGKILL, as a crash would.
    pub fn crash(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Sends SIGTERM and waits for noded to exit; returns its exit status.
    pub async fn stop(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let mut child = self.child.take().context("node is not running")?;
        kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM)?;
        let status = wait_until("noded to exit", TIMEOUT, || {
            let status = child.try_wait().ok().flatten();
            async move { status }
        })
        .await;
        if status.is_err() {
            let _ = child.kill();
            let _ = child.wait();
        }
        status
    }

    /// Starts noded again on the same data dir (after `crash` or `stop`).
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        assert!(
            self.child.is_none(),
            "stop or crash the node before restarting it"
        );
        self.launch().await
    }

    /// The host PID of the keeper holding this node's processes, if one
    /// runs (from `DATA_DIR/keeper.pid`).
    pub fn keeper_pid(&self) -> Option<Pid> {
        let text = std::fs::read_to_string(self.data_dir().join("keeper.pid")).ok()?;
        let pid = Pid::from_raw(text.trim().parse().ok()?);
        host_alive(pid).then_some(pid)
    }

    /// Stops the keeper with SIGTERM (it kills every process group it holds
    /// and exits) and waits for it to go.
    pub fn stop_keeper(&self) {
        let Some(keeper) = self.keeper_pid() else {
            return;
        };
        let _ = kill(keeper, Signal::SIGTERM);
        let _ = wait_until_blocking("the keeper to go", Duration::from_secs(15), || {
            (!host_alive(keeper)).then_some(())
        });
    }

    /// Host processes still running that this node started (found by the
    /// NEFELE_ADDR in their environment).
    pub fn leftover_processes(&self) -> Vec<Pid> {
        let marker = format!("NEFELE_ADDR=unix:{}", self.socket().display());
        host_processes_with_env(&marker)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = Pid::from_raw(child.id() as i32);
            let _ = kill(pid, Signal::SIGTERM);
            let _ = wait_until_blocking("noded to stop", Duration::from_secs(15), || {
                child.try_wait().ok().flatten()
            });
            let _ = child.kill();
            let _ = child.wait();
        }
        // Processes outlive noded by design: the test ends them.
        self.stop_keeper();
        for pid in self.leftover_processes() {
            let _ = kill(pid, Signal::SIGKILL);
        }
    }
}

/// Runs a shell command line, bounded by `timeout` (coreutils), and returns
/// (status code, stdout, stderr).
pub fn sh(script: &str) -> anyhow::Result<(i32, String, String)> {
    let out = Command::new("timeout")
        .args(["30", "sh", "-c", script])
        .output()
        .context("cannot run sh")?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Host processes whose environment contains the entry `marker` exactly.
pub fn host_processes_with_env(marker: &str) -> Vec<Pid> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|b| *b == 0).any(|e| e == marker.as_bytes()))
                .unwrap_or(false)
        })
        .filter(|pid| host_alive(Pid::from_raw(*pid)))
        .map(Pid::from_raw)
        .collect()
}

/// Whether a host process exists and is not a zombie.
pub fn host_alive(pid: Pid) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            stat.rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next())
                != Some("Z")
        }
        Err(_) => false,
    }
}

/// A SpawnRequest for `argv` with the test's PATH.
pub fn request(argv: &[&str]) -> SpawnRequest {
    SpawnRequest {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        env: [(
            "PATH".to_string(),
            std::env::var("PATH").unwrap_or_default(),
        )]
        .into(),
        ..SpawnRequest::default()
    }
}

/// Spawns `argv` and returns its info.
pub async fn spawn(
    client: &mut ProcessesClient<Channel>,
    argv: &[&str],
) -> anyhow::Result<ProcessInfo> {
    Ok(client.spawn(request(argv)).await?.into_inner())
}

/// Waits (bounded) for a process to finish.
pub async fn wait(client: &mut ProcessesClient<Channel>, pid: i32) -> anyhow::Result<ProcessInfo> {
    let req = WaitRequest {
        pid,
        timeout_ms: TIMEOUT.as_millis() as u64,
    };
    Ok(client.wait(req).await?.into_inner())
}

/// Reads a whole captured stream (no follow).
pub async fn read_output(
    client: &mut ProcessesClient<Channel>,
    pid: i32,
    stream: OutputStream,
) -> anyhow::Result<Vec<u8>> {
    let req = ReadOutputRequest {
        pid,
        stream: stream as i32,
        offset: 0,
        follow: false,
    };
    let mut chunks = client.read_output(req).await?.into_inner();
    let mut out = Vec::new();
    while let Some(chunk) = tokio::time::timeout(TIMEOUT, chunks.message()).await?? {
        out.extend_from_slice(&chunk.data);
    }
    Ok(out)
}

/// The state of a process as an enum.
pub fn state(info: &ProcessInfo) -> ProcessState {
    ProcessState::try_from(info.state).expect("server sends known states")
}

/// Gets a process's info.
pub async fn get(client: &mut ProcessesClient<Channel>, pid: i32) -> anyhow::Result<ProcessInfo> {
    Ok(client
        .get(GetRequest {
            pid,
            with_env: false,
        })
        .await?
        .into_inner())
}

/// Sends a signal.
pub async fn signal(
    client: &mut ProcessesClient<Channel>,
    pid: i32,
    signal: i32,
) -> anyhow::Result<()> {
    client.signal(SignalRequest { pid, signal }).await?;
    Ok(())
}

/// Waits until a process shows `wanted`.
pub async fn wait_for_state(
    client: &ProcessesClient<Channel>,
    pid: i32,
    wanted: ProcessState,
) -> anyhow::Result<ProcessInfo> {
    wait_until(&format!("process {pid} to be {wanted:?}"), TIMEOUT, || {
        let mut c = client.clone();
        async move {
            get(&mut c, pid)
                .await
                .ok()
                .filter(|info| state(info) == wanted)
        }
    })
    .await
}

/// Waits until a process's stdout so far parses with `parse`.
pub async fn wait_for_stdout<T>(
    client: &ProcessesClient<Channel>,
    pid: i32,
    parse: impl Fn(&str) -> Option<T>,
) -> anyhow::Result<T> {
    wait_until(&format!("stdout of process {pid}"), TIMEOUT, || {
        let mut c = client.clone();
        let parsed = async move {
            let out = read_output(&mut c, pid, OutputStream::Stdout).await.ok()?;
            String::from_utf8(out).ok()
        };
        let parse = &parse;
        async move { parse(&parsed.await?) }
    })
    .await
}

/// Fails the test with every failure [`run_cases!`] collected, if any.
pub fn assert_no_failures(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} failures:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Runs each async case `case(ctx)` in turn and returns the failures as
/// "name: error" lines, so a suite on one cluster reports them all at once.
#[macro_export]
macro_rules! run_cases {
    ($ctx:expr, $($case:ident),+ $(,)?) => {{
        let mut failures: Vec<String> = Vec::new();
        $(
            if let Err(e) = $case($ctx).await {
                failures.push(format!("{}: {e:#}", stringify!($case)));
            }
        )+
        failures
    }};
}
