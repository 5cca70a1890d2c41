//! `nsh --dev [N]` (SPEC §3): a private cluster of N local `noded` on
//! loopback, with nefelefs mounted when possible, that disappears with the
//! shell.
//!
//! Layout, in a fresh temp dir `nsh-dev-*` (printed on stderr):
//! `nK/` data dir, `nK.sock` socket and `nK.log` log of node K (names
//! n1..nN; n1 founds the cluster, the others `--join` it), `nefelefs.log`,
//! and `nefele/` when `/nefele` is taken.
//!
//! Every process started here leads its own process group (Ctrl-C in the
//! shell's terminal does not reach it) and starts with a clean signal mask.
//! Cleanup is twofold: [`DevCluster`]'s drop (or [`DevCluster::shutdown`])
//! stops everything in order and removes the temp dir; and a guardian, a
//! small `sh` started first that holds the read end of a pipe only nsh
//! writes to, does the same if nsh dies without that (SIGKILL, crash,
//! `exit` skipping destructors): it notices the pipe closing. Only PIDs of
//! processes started here are ever signalled.
//!
//! Called by `main.rs` for `--dev`; the shell then talks to
//! [`DevCluster::addr`].

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use proto::Addr;
use proto::v1::cluster_client::ClusterClient;
use proto::v1::{NodeInfo, NodeState, NodesRequest};

use crate::terminal::reset_signal_mask;

mod binaries;
mod guardian;
pub use binaries::build_companions_if_missing;
use binaries::find_binary;
use guardian::Guardian;
/// Nodes started when `--dev` has no N.
pub const DEFAULT_NODES: usize = 3;
/// Where the cluster is mounted when possible.
pub const DEFAULT_MOUNT: &str = "/nefele";
/// How long nodes get to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// How long nefelefs gets to unmount after SIGTERM.
const UNMOUNT_GRACE: Duration = Duration::from_secs(10);
/// Lines of a node's log shown when it fails.
const LOG_TAIL_LINES: usize = 20;

/// Where to mount nefelefs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountPolicy {
    /// At `/nefele` if nsh is root, `/dev/fuse` and `nefelefs` exist and
    /// nothing is mounted there; at a temp dir path if only `/nefele` is
    /// taken; else not at all.
    Auto,
    /// At this path (created if missing), if root, FUSE and nefelefs allow.
    At(PathBuf),
    /// No mount.
    Skip,
}

/// How to start a dev cluster.
#[derive(Clone, Debug)]
pub struct DevOptions {
    /// Number of nodes (at least 1).
    pub nodes: usize,
    /// Where to mount nefelefs.
    pub mount: MountPolicy,
    /// Where `noded` and `nefelefs` are; default: next to the current
    /// executable, else on PATH.
    pub bin_dir: Option<PathBuf>,
    /// How long the nodes (and the mount) get to come up.
    pub timeout: Duration,
}

impl Default for DevOptions {
    fn default() -> Self {
        DevOptions {
            nodes: DEFAULT_NODES,
            mount: MountPolicy::Auto,
            bin_dir: None,
            timeout: Duration::from_secs(60),
        }
    }
}

/// Why a dev cluster could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// A binary is nowhere to be found.
    #[error("cannot find {name} (looked in {looked})")]
    NoBinary {
        /// Its name.
        name: &'static str,
        /// Where it was looked for.
        looked: String,
    },
    /// A node did not come up.
    #[error("node {node} did not come up: {why}\n--- last lines of {} ---\n{tail}", log.display())]
    NodeFailed {
        /// Its name.
        node: String,
        /// What happened.
        why: String,
        /// Its log file.
        log: PathBuf,
        /// The end of its log.
        tail: String,
    },
    /// A local operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What nsh was doing.
        what: String,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// Bad options.
    #[error("{0}")]
    Invalid(String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> DevError {
    let what = what.into();
    move |source| DevError::Io { what, source }
}

/// One running node.
struct DevNode {
    name: String,
    /// Ours alone: signalled by PID only while unreaped.
    child: Child,
    data_dir: PathBuf,
    socket: PathBuf,
    log: PathBuf,
}

/// The nefelefs mount.
struct DevMount {
    path: PathBuf,
    child: Child,
    /// We created the mount point: remove it afterwards.
    created: bool,
}

/// Makes `command` a well-behaved local child: its own process group (so
/// the terminal's Ctrl-C does not reach it) and a clean signal mask.
fn local_child(command: &mut Command) {
    command.process_group(0);
    // SAFETY: reset_signal_mask only makes async-signal-safe calls.
    unsafe { command.pre_exec(reset_signal_mask) };
}

/// A running dev cluster. Dropping it stops everything and removes the
/// temp dir.
pub struct DevCluster {
    dir: Option<tempfile::TempDir>,
    nodes: Vec<DevNode>,
    mount: Option<DevMount>,
    guardian: Option<Guardian>,
}

impl DevCluster {
    /// Starts the nodes, waits until every one is up (or fails naming the
    /// node and showing the end of its log), and mounts nefelefs as
    /// `options.mount` says. Reports what it did on stderr.
    pub async fn start(options: DevOptions) -> Result<DevCluster, DevError> {
        if options.nodes == 0 {
            return Err(DevError::Invalid(
                "--dev: the cluster needs at least one node".into(),
            ));
        }
        let noded = find_binary("noded", options.bin_dir.as_deref())?;
        let dir = tempfile::Builder::new()
            .prefix("nsh-dev-")
            .tempdir()
            .map_err(io_err("cannot create a temp dir"))?;
        let guardian = Guardian::start(dir.path())?;
        let mut cluster = DevCluster {
            dir: Some(dir),
            nodes: Vec::new(),
            mount: None,
            guardian: Some(guardian),
        };
        eprintln!(
            "nsh: dev: starting {} node{} in {} (logs: nK.log)",
            options.nodes,
            if options.nodes == 1 { "" } else { "s" },
            cluster.dir().display()
        );
        let deadline = Instant::now() + options.timeout;
        cluster.start_node(&noded, 1, None)?;
        cluster.wait_serving(0, deadline).await?;
        if options.nodes > 1 {
            cluster.wait_founded(deadline).await?;
        }
        let seed = cluster.hostport(0)?;
        for i in 2..=options.nodes {
            cluster.start_node(&noded, i, Some(&seed))?;
        }
        for i in 1..options.nodes {
            cluster.wait_serving(i, deadline).await?;
        }
        cluster.wait_all_up(deadline).await?;
        cluster.mount(&options).await;
        eprintln!(
            "nsh: dev: {} up; NEFELE_ADDR={}",
            cluster
                .nodes
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            cluster.addr()
        );
        Ok(cluster)
    }

    /// The address the shell talks to: node 1's socket.
    pub fn addr(&self) -> Addr {
        // `start` returns a cluster only once node 1 runs; before that
        // (inside `start`) node 1 is pushed before any call to this.
        Addr::Unix(self.nodes[0].socket.clone())
    }

    /// The temp dir holding data dirs, sockets and logs.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().map_or(Path::new(""), |d| d.path())
    }

    /// Where nefelefs is mounted, if it is.
    pub fn mount_point(&self) -> Option<&Path> {
        self.mount.as_ref().map(|m| m.path.as_path())
    }

    /// Node names, n1 first.
    pub fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// Host PIDs of the nodes.
    pub fn node_pids(&self) -> Vec<Pid> {
        self.nodes
            .iter()
            .map(|n| Pid::from_raw(n.child.id() as i32))
            .collect()
    }

    /// Stops everything in order (nefelefs, then the nodes: SIGTERM, up to
    /// 20 s, SIGKILL), removes the temp dir and stands the guardian down.
    /// Blocks for at most about 30 s.
    pub fn shutdown(mut self) -> Result<(), DevError> {
        self.stop_all()
    }

    fn start_node(&mut self, noded: &Path, i: usize, join: Option<&str>) -> Result<(), DevError> {
        let name = format!("n{i}");
        let dir = self.dir().to_path_buf();
        let data_dir = dir.join(&name);
        let socket = dir.join(format!("{name}.sock"));
        let log = dir.join(format!("{name}.log"));
        let log_file =
            File::create(&log).map_err(io_err(format!("cannot create {}", log.display())))?;
        let mut command = Command::new(noded);
        command
            .arg("--name")
            .arg(&name)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--socket")
            .arg(&socket)
            // A private cluster on loopback, gone when the shell exits:
            // plain text, no certificates (docs/design/security.md).
            .arg("--insecure")
            // Nothing outlives the shell: each node's processes stop with
            // its noded, even a killed one (its keeper is bound to it).
            .arg("--stop-processes")
            .stdin(Stdio::null())
            .stdout(
                log_file
                    .try_clone()
                    .map_err(io_err("cannot open a log file"))?,
            )
            .stderr(log_file);
        if let Some(seed) = join {
            command.arg("--join").arg(seed);
        }
        local_child(&mut command);
        let child = command
            .spawn()
            .map_err(io_err(format!("cannot start {}", noded.display())))?;
        if let Some(g) = &mut self.guardian {
            g.watch(&child);
        }
        self.nodes.push(DevNode {
            name,
            child,
            data_dir,
            socket,
            log,
        });
        Ok(())
    }

    fn node_failed(&self, i: usize, why: String) -> DevError {
        let node = &self.nodes[i];
        DevError::NodeFailed {
            node: node.name.clone(),
            why,
            log: node.log.clone(),
            tail: log_tail(&node.log),
        }
    }

    /// Waits until node `i` serves its socket.
    async fn wait_serving(&mut self, i: usize, deadline: Instant) -> Result<(), DevError> {
        let addr = Addr::Unix(self.nodes[i].socket.clone());
        let listen_addr = self.nodes[i].data_dir.join("listen.addr");
        let mut pause = Duration::from_millis(10);
        loop {
            if let Ok(Some(status)) = self.nodes[i].child.try_wait() {
                return Err(self.node_failed(i, format!("noded exited ({status})")));
            }
            if listen_addr.exists()
                && proto::connect_timeout(&addr, Duration::from_secs(2))
                    .await
                    .is_ok()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.node_failed(i, "it does not answer on its socket".into()));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// Waits until n1 is in the cluster's store (it lists itself as the
    /// store's leader, which it does only once its own announcement is
    /// committed). A node joining earlier could be given n1's slot: noded
    /// lists itself as a member before that commit.
    async fn wait_founded(&mut self, deadline: Instant) -> Result<(), DevError> {
        let addr = self.addr();
        let mut pause = Duration::from_millis(10);
        loop {
            if let Ok(Some(status)) = self.nodes[0].child.try_wait() {
                return Err(self.node_failed(0, format!("noded exited ({status})")));
            }
            let founded = nodes_of(&addr)
                .await
                .iter()
                .any(|m| m.name == self.nodes[0].name && m.store_leader);
            if founded {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.node_failed(0, "it never became the store's leader".into()));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// Node `i`'s TCP address as `host:port`.
    fn hostport(&self, i: usize) -> Result<String, DevError> {
        let path = self.nodes[i].data_dir.join("listen.addr");
        let text = std::fs::read_to_string(&path)
            .map_err(io_err(format!("cannot read {}", path.display())))?;
        match text.trim().parse::<Addr>() {
            Ok(Addr::Tcp(hostport)) => Ok(hostport),
            _ => Err(self.node_failed(i, format!("unexpected listen address {text:?}"))),
        }
    }

    /// Waits until node 1 lists every node as up.
    async fn wait_all_up(&mut self, deadline: Instant) -> Result<(), DevError> {
        let addr = self.addr();
        let mut pause = Duration::from_millis(20);
        loop {
            for i in 0..self.nodes.len() {
                if let Ok(Some(status)) = self.nodes[i].child.try_wait() {
                    return Err(self.node_failed(i, format!("noded exited ({status})")));
                }
            }
            let members = nodes_of(&addr).await;
            let missing = self.nodes.iter().position(|n| {
                !members
                    .iter()
                    .any(|m| m.name == n.name && m.state == NodeState::Up as i32)
            });
            let Some(missing) = missing else {
                return Ok(());
            };
            if Instant::now() >= deadline {
                let why = match members.iter().find(|m| m.name == self.nodes[missing].name) {
                    Some(m) => format!(
                        "n1 sees it {:?}",
                        NodeState::try_from(m.state).unwrap_or(NodeState::Unspecified)
                    ),
                    None => "it never joined the cluster (n1 does not list it)".into(),
                };
                return Err(self.node_failed(missing, why));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    /// Mounts nefelefs as `options.mount` says; says on stderr what it did.
    /// Never fails: without a mount the shell still works.
    async fn mount(&mut self, options: &DevOptions) {
        let wanted = match &options.mount {
            MountPolicy::Skip => return,
            MountPolicy::At(path) => path.clone(),
            MountPolicy::Auto => PathBuf::from(DEFAULT_MOUNT),
        };
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("nsh: dev: not mounting {}: not root", wanted.display());
            return;
        }
        if !Path::new("/dev/fuse").exists() {
            eprintln!("nsh: dev: not mounting {}: no /dev/fuse", wanted.display());
            return;
        }
        let nefelefs = match find_binary("nefelefs", options.bin_dir.as_deref()) {
            Ok(path) => path,
            Err(e) => {
                eprintln!("nsh: dev: not mounting {}: {e}", wanted.display());
                return;
            }
        };
        let path = if is_mount_point(&wanted) {
            if options.mount != MountPolicy::Auto {
                eprintln!(
                    "nsh: dev: not mounting {}: something is mounted there",
                    wanted.display()
                );
                return;
            }
            let instead = self.dir().join("nefele");
            eprintln!(
                "nsh: dev: {} is taken; mounting at {}",
                wanted.display(),
                instead.display()
            );
            instead
        } else {
            wanted
        };
        let created = !path.exists();
        let log = self.dir().join("nefelefs.log");
        let (out, err) = match File::create(&log).and_then(|f| Ok((f.try_clone()?, f))) {
            Ok(files) => files,
            Err(e) => {
                eprintln!(
                    "nsh: dev: not mounting: cannot create {}: {e}",
                    log.display()
                );
                return;
            }
        };
        let mut command = Command::new(&nefelefs);
        command
            .arg("--addr")
            .arg(self.addr().to_string())
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        local_child(&mut command);
        let child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                eprintln!("nsh: dev: not mounting: cannot start nefelefs: {e}");
                return;
            }
        };
        if let Some(g) = &mut self.guardian {
            g.watch(&child);
            g.tell(&format!("mount {}", path.display()));
            if created {
                g.tell(&format!("made {}", path.display()));
            }
        }
        let mut mount = DevMount {
            path,
            child,
            created,
        };
        let deadline = Instant::now() + options.timeout.min(Duration::from_secs(30));
        loop {
            if is_mount_point(&mount.path) && mount.path.join("proc").exists() {
                // Recorded before it is announced: a failed write to
                // stderr (a reader gone: `nsh --dev ... 2>&1 | head -1`)
                // panics, and the unwinding must stop the mount too.
                let at = mount.path.display().to_string();
                self.mount = Some(mount);
                eprintln!("nsh: dev: cluster mounted at {at}");
                return;
            }
            let exited = matches!(mount.child.try_wait(), Ok(Some(_)));
            if exited || Instant::now() >= deadline {
                eprintln!(
                    "nsh: dev: could not mount at {} (see {})",
                    mount.path.display(),
                    log.display()
                );
                stop_mount(&mut mount);
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn stop_all(&mut self) -> Result<(), DevError> {
        if let Some(mut mount) = self.mount.take() {
            stop_mount(&mut mount);
        }
        for node in &self.nodes {
            let _ = kill(Pid::from_raw(node.child.id() as i32), Signal::SIGTERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        for node in &mut self.nodes {
            wait_child(&mut node.child, deadline);
        }
        self.nodes.clear();
        let removed = match self.dir.take() {
            Some(dir) => {
                let path = dir.path().to_path_buf();
                dir.close()
                    .map_err(io_err(format!("cannot remove {}", path.display())))
            }
            None => Ok(()),
        };
        // The nodes are reaped: their PIDs may be reused, so the guardian
        // must not signal them any more, whatever happened to the dir.
        if let Some(guardian) = self.guardian.take() {
            guardian.disarm();
        }
        removed
    }
}

impl Drop for DevCluster {
    fn drop(&mut self) {
        let _ = self.stop_all();
    }
}

/// The members the node at `addr` lists; none if it does not answer.
async fn nodes_of(addr: &Addr) -> Vec<NodeInfo> {
    let ask = async {
        let channel = proto::connect_timeout(addr, Duration::from_secs(2))
            .await
            .ok()?;
        let reply = tokio::time::timeout(
            Duration::from_secs(5),
            ClusterClient::new(channel).nodes(NodesRequest {}),
        )
        .await
        .ok()?
        .ok()?;
        Some(reply.into_inner().nodes)
    };
    ask.await.unwrap_or_default()
}

/// Waits for `child` until `deadline`, then SIGKILLs and reaps it.
fn wait_child(child: &mut Child, deadline: Instant) {
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Stops nefelefs (it unmounts on SIGTERM), makes sure nothing stays
/// mounted, and removes a mount point we created.
fn stop_mount(mount: &mut DevMount) {
    let _ = kill(Pid::from_raw(mount.child.id() as i32), Signal::SIGTERM);
    wait_child(&mut mount.child, Instant::now() + UNMOUNT_GRACE);
    if is_mount_point(&mount.path) {
        let _ = nix::mount::umount2(&mount.path, nix::mount::MntFlags::MNT_DETACH);
    }
    if mount.created {
        let _ = std::fs::remove_dir(&mount.path);
    }
}

/// Whether `path` is a mount point, per /proc/self/mountinfo.
fn is_mount_point(path: &Path) -> bool {
    let wanted = path.to_string_lossy();
    std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|info| {
        info.lines()
            .filter_map(|l| l.split(' ').nth(4))
            .any(|mp| mp.replace("\\040", " ") == wanted)
    })
}

/// The last lines of a log file.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_is_looked_up_on_path() {
        assert!(find_binary("sh", Some(Path::new("/nonexistent"))).is_err());
        let sh = find_binary("sh", None).expect("sh is on PATH");
        assert!(sh.ends_with("sh"));
    }

    /// Where cargo put the workspace's binaries (tests run from deps/).
    fn bin_dir() -> PathBuf {
        let exe = std::env::current_exe().unwrap();
        let dir = exe.parent().unwrap();
        if dir.ends_with("deps") {
            dir.parent().unwrap().to_path_buf()
        } else {
            dir.to_path_buf()
        }
    }

    /// Needs `cargo build --workspace --bins` first (README), root and
    /// /dev/fuse (like the nefelefs tests).
    #[tokio::test(flavor = "multi_thread")]
    async fn a_dev_cluster_comes_up_mounted_and_goes_away_entirely() {
        let scratch = tempfile::tempdir().unwrap();
        let mount_at = scratch.path().join("mnt");
        let options = DevOptions {
            nodes: 2,
            mount: MountPolicy::At(mount_at.clone()),
            bin_dir: Some(bin_dir()),
            timeout: Duration::from_secs(60),
        };
        let cluster = DevCluster::start(options).await.unwrap();
        let dir = cluster.dir().to_path_buf();
        assert_eq!(cluster.node_names(), ["n1", "n2"]);
        let channel = proto::connect(&cluster.addr()).await.unwrap();
        let nodes = ClusterClient::new(channel)
            .nodes(NodesRequest {})
            .await
            .unwrap()
            .into_inner()
            .nodes;
        assert_eq!(nodes.len(), 2, "{nodes:?}");
        assert!(nodes.iter().all(|n| n.state == NodeState::Up as i32));
        assert_eq!(cluster.mount_point(), Some(mount_at.as_path()));
        assert!(is_mount_point(&mount_at) && mount_at.join("proc/").is_dir());
        assert!(dir.join("n1.log").exists() && dir.join("n2.sock").exists());
        let pids = cluster.node_pids();

        tokio::task::spawn_blocking(move || cluster.shutdown())
            .await
            .unwrap()
            .unwrap();
        for pid in pids {
            // Reaped by the shutdown: the PID names no process of ours.
            assert!(kill(pid, None).is_err(), "node {pid} still runs");
        }
        assert!(!dir.exists(), "{} is left", dir.display());
        assert!(!is_mount_point(&mount_at));
        assert!(!mount_at.exists(), "the mount point we made is removed");
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let text: String = (0..30).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, text).unwrap();
        let tail = log_tail(&path);
        assert!(tail.starts_with("line 10\n"));
        assert!(tail.ends_with("line 29"));
    }
}
