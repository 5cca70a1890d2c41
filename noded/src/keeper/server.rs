//! The keeper process (`noded keeper --data-dir DIR`): one per data dir,
//! single-threaded, the parent and subreaper of the node's processes.
//!
//! It forks each child (from a small process, so the fork is cheap even when
//! the child must switch users), copies output into the logs with one shared
//! buffer, feeds stdin, reaps on SIGCHLD and holds each exit until noded has
//! recorded it (`Forget`). Children get `PR_SET_PDEATHSIG`: if the keeper
//! itself is killed, the processes die with it and noded reports them lost,
//! rather than leaving them running with nobody to take their output.
//!
//! It lives while it holds a process or noded is connected. With a bound
//! connection (noded --stop-processes), the end of the connection kills every
//! process group and the keeper. SIGTERM does the same: it is how an
//! administrator stops a node's processes for good without noded.

use std::cell::RefCell;
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use nix::errno::Errno;
use nix::unistd::Pid;
use prost::Message;
use proto::Gpid;
use proto::keeper as k;
use tokio::io::unix::AsyncFd;
use tokio::net::unix::pipe;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, watch};

use super::cgroup;
use crate::hostproc;
use crate::output::{OutputLog, Stream};
use crate::process::Input;
use crate::pty;
use crate::records;

mod pumps;
mod reap;
use pumps::*;
use reap::*;

/// How long a finished process's output may take to reach end-of-file (a
/// background child that keeps the pipes open must not delay the exit).
const OUTPUT_DRAIN_GRACE: Duration = Duration::from_secs(1);
/// Queued stdin messages per process: one, so the reply to a Stdin
/// request comes once the message before it is in the process's pipe, and
/// a process that does not read holds its writers back within a message
/// of what its pipe holds (docs/design/nsh.md, "Standard input").
const STDIN_QUEUE: usize = 1;
/// Largest read from an output pipe or terminal.
const PUMP_BUF: usize = 256 << 10;
/// How long a new connection has to say Hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

thread_local! {
    /// The one read buffer of every pump: the keeper has one thread and a
    /// pump never holds it across an await, so each kept process costs no
    /// buffer of its own.
    static PUMP: RefCell<Vec<u8>> = RefCell::new(vec![0; PUMP_BUF]);
}

/// Runs the keeper for `data_dir` until it has nothing left to keep.
/// Returns at once if another keeper holds the data dir.
pub fn run(data_dir: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    // Started from /proc/self/exe (the binary noded runs, even if replaced
    // on disk since), which would make its name `exe` in `ps -e` and top;
    // a name of its own, which `pkill noded` and `killall noded` miss.
    // SAFETY: prctl with a NUL-terminated name of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"nefele-keeper".as_ptr(), 0, 0, 0) };
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "cannot become a subreaper: processes that fork away are reparented to init");
    }
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data_dir.join("keeper.lock"))
        .with_context(|| format!("cannot open the keeper lock in {}", data_dir.display()))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        tracing::info!("another keeper holds {}; exiting", data_dir.display());
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the keeper's runtime")?;
    let result = runtime.block_on(serve(data_dir.to_path_buf()));
    drop(lock);
    result
}

/// One process the keeper holds.
#[derive(Debug)]
struct Kept {
    pid: Gpid,
    /// Its kernel PID, also its process group.
    host_pid: i32,
    host_start_ticks: u64,
    /// noded's spawn record, opaque here.
    record: Vec<u8>,
    stdout: Arc<OutputLog>,
    stderr: Arc<OutputLog>,
    stdin: Mutex<Option<mpsc::Sender<Input>>>,
    /// The terminal's master, for resizing; closed once it has finished.
    pty: Mutex<Option<OwnedFd>>,
    /// Its cgroup, if the machine has them (cgroup.rs).
    cgroup: Option<PathBuf>,
    /// Set (on the keeper's only thread) when the leader is reaped; a
    /// signal checks it first, so it never reaches a recycled group id.
    reaped: AtomicBool,
    /// Where the reaper sends the wait status.
    on_reaped: Mutex<Option<oneshot::Sender<Reaped>>>,
    /// The exit once final (reaped and output drained).
    exited: watch::Sender<Option<k::Exited>>,
    /// Asks the stdout pump for its pipe (`TakeStdout`), while it runs.
    stdout_take: Mutex<Option<oneshot::Sender<Taker>>>,
    /// The stdout pipe once taken, until noded has its own copy
    /// (`ReleaseStdout`).
    taken_stdout: Mutex<Option<OwnedFd>>,
}

impl Kept {
    fn log(&self, stream: Stream) -> &Arc<OutputLog> {
        match stream {
            Stream::Stdout => &self.stdout,
            Stream::Stderr => &self.stderr,
        }
    }
}

/// What wait4 said.
#[derive(Debug)]
struct Reaped {
    status: i32,
    cpu_time_ms: u64,
    rss_bytes: u64,
}

/// The current noded connection.
#[derive(Debug)]
struct Conn {
    id: u64,
    tx: mpsc::UnboundedSender<k::FromKeeper>,
    bound: bool,
}

#[derive(Debug)]
struct Keeper {
    data_dir: PathBuf,
    /// Whether processes get a cgroup each.
    cgroups: bool,
    procs: Mutex<HashMap<Gpid, Arc<Kept>>>,
    /// Host PID of each leader not yet reaped.
    by_host: Mutex<HashMap<i32, Arc<Kept>>>,
    conn: Mutex<Option<Conn>>,
    next_conn: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn serve(data_dir: PathBuf) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    use tokio::signal::unix::{SignalKind, signal};
    let socket = super::socket_path(&data_dir);
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket)?;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))?;
    records::write_atomically(
        &super::pid_path(&data_dir),
        format!("{}\n", std::process::id()).as_bytes(),
    )?;
    // Before any child exists, so no SIGCHLD is missed.
    let children = signal(SignalKind::child())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let cgroups = cgroup::prepare(&data_dir);
    let keeper = Arc::new(Keeper {
        cgroups,
        data_dir,
        procs: Mutex::new(HashMap::new()),
        by_host: Mutex::new(HashMap::new()),
        conn: Mutex::new(None),
        next_conn: AtomicU64::new(1),
    });
    tokio::spawn(reap_children(keeper.clone(), children));
    tracing::info!(pid = std::process::id(), "keeper ready");
    let me = nix::unistd::geteuid().as_raw();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // The socket is 0600; check anyway: only our own user
                    // (noded) may drive the keeper.
                    match stream.peer_cred() {
                        Ok(cred) if cred.uid() == me => {
                            tokio::spawn(connection(keeper.clone(), stream));
                        }
                        _ => tracing::warn!("refused a connection from another user"),
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = term.recv() => {
                keeper.kill_all();
                keeper.exit("SIGTERM: killed every process");
            }
            _ = hangup.recv() => {}
            _ = interrupt.recv() => {}
        }
    }
}

impl Keeper {
    /// Sends to the current noded, if one is connected.
    fn send(&self, body: k::from_keeper::Body) {
        if let Some(conn) = lock(&self.conn).as_ref() {
            let _ = conn.tx.send(k::FromKeeper { body: Some(body) });
        }
    }

    /// SIGKILLs every process group not yet reaped, and everything in the
    /// processes' cgroups.
    fn kill_all(&self) {
        for kept in lock(&self.by_host).values() {
            // SAFETY: killpg with integers; the group's leader is not reaped
            // (it is in `by_host`), so the id is still its own.
            unsafe { libc::killpg(kept.host_pid, libc::SIGKILL) };
        }
        let dirs: Vec<PathBuf> = lock(&self.procs)
            .values()
            .filter_map(|k| k.cgroup.clone())
            .collect();
        for dir in &dirs {
            cgroup::kill_all(dir);
        }
        // Give them a moment to go, so their cgroups can be removed.
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        while dirs.iter().any(|d| !cgroup::members(d).is_empty())
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        for dir in &dirs {
            cgroup::remove(dir);
        }
    }

    /// Removes the socket and pid file and exits the process.
    fn exit(&self, why: &str) -> ! {
        for kept in lock(&self.procs).values() {
            if let Some(dir) = &kept.cgroup {
                cgroup::remove(dir);
            }
        }
        cgroup::remove(&cgroup::root(&self.data_dir));
        let _ = std::fs::remove_file(super::socket_path(&self.data_dir));
        let _ = std::fs::remove_file(super::pid_path(&self.data_dir));
        tracing::info!("keeper exits: {why}");
        std::process::exit(0)
    }

    /// Exits if nothing is left to keep and nobody is connected.
    fn exit_if_idle(&self) {
        if lock(&self.conn).is_none() && lock(&self.procs).is_empty() {
            self.exit("no process left and noded is gone");
        }
    }

    /// Everything noded needs to adopt the processes.
    fn welcome(&self) -> k::Welcome {
        let mut processes: Vec<k::Kept> = lock(&self.procs)
            .values()
            .map(|kept| k::Kept {
                pid: kept.pid.as_raw(),
                host_pid: kept.host_pid,
                host_start_ticks: kept.host_start_ticks,
                record: kept.record.clone(),
                stdout: Some(output_state(kept, Stream::Stdout)),
                stderr: Some(output_state(kept, Stream::Stderr)),
                exited: kept.exited.borrow().clone(),
                stdin_open: lock(&kept.stdin).is_some(),
            })
            .collect();
        processes.sort_by_key(|p| p.pid);
        k::Welcome {
            version: super::VERSION,
            keeper_pid: std::process::id() as i32,
            processes,
        }
    }

    fn get(&self, pid: Gpid) -> Result<Arc<Kept>, Failure> {
        lock(&self.procs)
            .get(&pid)
            .cloned()
            .ok_or_else(|| Failure::new(libc::ESRCH, format!("no process {pid} is kept here")))
    }

    /// Answers one request; stdin replies come later, from their own task.
    fn handle(self: &Arc<Self>, msg: k::ToKeeper, tx: &mpsc::UnboundedSender<k::FromKeeper>) {
        use k::reply::Body as R;
        use k::to_keeper::Body as B;
        let id = msg.id;
        let reply = |body: Result<R, Failure>| {
            let _ = tx.send(reply_message(id, body.unwrap_or_else(|f| f.into())));
        };
        match msg.body {
            None | Some(B::Hello(_)) => {
                reply(Err(Failure::new(libc::EINVAL, "unexpected message".into())))
            }
            Some(B::Spawn(spawn)) => reply(self.spawn(spawn).map(R::Spawned)),
            Some(B::Signal(s)) => {
                reply(gpid(s.pid).and_then(|pid| self.signal(pid, s.signal).map(|()| R::Ok(true))))
            }
            Some(B::Resize(r)) => reply(self.resize(r).map(|()| R::Ok(true))),
            Some(B::Delivered(d)) => {
                if let Ok(kept) = gpid(d.pid).and_then(|pid| self.get(pid)) {
                    kept.log(super::stream_of(d.stream)).delivered(d.offset);
                }
                reply(Ok(R::Ok(true)));
            }
            Some(B::ReleaseStdout(r)) => {
                let released = gpid(r.pid)
                    .and_then(|pid| self.get(pid))
                    .map(|kept| lock(&kept.taken_stdout).take().is_some());
                reply(released.map(R::Ok));
            }
            Some(B::Forget(f)) => {
                let removed = gpid(f.pid).ok().and_then(|pid| {
                    let mut procs = lock(&self.procs);
                    match procs.get(&pid) {
                        Some(kept) if kept.exited.borrow().is_some() => procs.remove(&pid),
                        _ => None,
                    }
                });
                if let Some(dir) = removed.as_ref().and_then(|k| k.cgroup.as_ref()) {
                    cgroup::remove(dir);
                }
                reply(Ok(R::Ok(removed.is_some())));
            }
            Some(B::TakeStdout(t)) => {
                let kept = gpid(t.pid).and_then(|pid| self.get(pid));
                let tx = tx.clone();
                tokio::spawn(async move {
                    let result = match kept {
                        Ok(kept) => take_stdout(kept).await,
                        Err(f) => Err(f),
                    };
                    let _ = tx.send(reply_message(id, result.unwrap_or_else(|f| f.into())));
                });
            }
            Some(B::Stdin(input)) => {
                let sender = gpid(input.pid)
                    .and_then(|pid| self.get(pid))
                    .map(|kept| lock(&kept.stdin).clone());
                let tx = tx.clone();
                tokio::spawn(async move {
                    let result = match sender {
                        Err(f) => Err(f),
                        Ok(None) => Err(Failure::new(libc::EPIPE, "stdin is closed".into())),
                        Ok(Some(sender)) => {
                            let mut sent = true;
                            if !input.data.is_empty() {
                                sent = sender.send(Input::Data(input.data)).await.is_ok();
                            }
                            if sent && input.eof {
                                sent = sender.send(Input::Eof).await.is_ok();
                            }
                            if sent {
                                Ok(R::Ok(true))
                            } else {
                                Err(Failure::new(libc::EPIPE, "stdin is closed".into()))
                            }
                        }
                    };
                    let _ = tx.send(reply_message(id, result.unwrap_or_else(|f| f.into())));
                });
            }
        }
    }

    fn signal(&self, pid: Gpid, signal: i32) -> Result<(), Failure> {
        let kept = self.get(pid)?;
        if kept.reaped.load(Ordering::SeqCst) {
            return Err(Failure::new(libc::ESRCH, "the process has exited".into()));
        }
        // SAFETY: killpg with integers. Reaping happens on this same thread,
        // so the leader cannot be reaped between the check and the call.
        let rc = unsafe { libc::killpg(kept.host_pid, signal) };
        Errno::result(rc)
            .map(drop)
            .map_err(|e| Failure::new(e as i32, e.desc().into()))?;
        // Stopping a process stops what it started, even what left its
        // group; other signals are job control and go to the group only.
        if matches!(signal, libc::SIGTERM | libc::SIGKILL)
            && let Some(dir) = &kept.cgroup
        {
            let escaped = cgroup::signal_escaped(dir, kept.host_pid, signal);
            if escaped > 0 {
                tracing::info!(
                    %pid,
                    signal,
                    escaped,
                    "signalled processes that left the group"
                );
            }
        }
        Ok(())
    }

    fn resize(&self, r: k::Resize) -> Result<(), Failure> {
        let kept = self.get(gpid(r.pid)?)?;
        let pty = lock(&kept.pty);
        let master = pty
            .as_ref()
            .ok_or_else(|| Failure::new(libc::ENOTTY, "no terminal".into()))?;
        pty::resize(master, r.rows, r.cols).map_err(|e| Failure::new(e as i32, e.desc().into()))
    }

    /// Starts a process. Everything that can fail is done before the child
    /// exists, so a failure never leaves a child running untracked.
    fn spawn(self: &Arc<Self>, s: k::Spawn) -> Result<k::Spawned, Failure> {
        if s.argv.is_empty() {
            return Err(Failure::new(libc::EINVAL, "empty argv".into()));
        }
        let pid = gpid(s.pid)?;
        if lock(&self.procs).contains_key(&pid) {
            return Err(Failure::new(
                libc::EEXIST,
                format!("process {pid} is already kept"),
            ));
        }
        let mut command = std::process::Command::new(&s.exe);
        command
            .arg0(&s.argv[0])
            .args(&s.argv[1..])
            .env_clear()
            .envs(s.env.iter().filter_map(|e| e.split_once('=')))
            .current_dir(&s.cwd);
        let keeper_pid = nix::unistd::getpid().as_raw();
        let umask = s.umask.map(|m| m & 0o777);
        let rlimits: Vec<proto::rlimit::Rlimit> = s
            .rlimits
            .iter()
            .map(|r| (r.resource as libc::__rlimit_resource_t, r.soft, r.hard))
            .collect();
        let cgroup_dir = self.cgroups.then(|| cgroup::of(&self.data_dir, pid));
        let cgroup_procs = cgroup_dir.as_deref().and_then(cgroup::create);
        let creds = s.run_as.map(|c| {
            (
                nix::unistd::Uid::from_raw(c.uid),
                nix::unistd::Gid::from_raw(c.gid),
                c.groups
                    .into_iter()
                    .map(nix::unistd::Gid::from_raw)
                    .collect::<Vec<_>>(),
            )
        });
        // SAFETY: between fork and exec the closure makes only
        // async-signal-safe calls (umask, prctl, getppid, setgroups, setgid,
        // setuid, getrlimit, setrlimit) and allocates nothing (the groups
        // and limits were collected before).
        unsafe {
            command.pre_exec(move || {
                // Into its cgroup first, while still root.
                if let Some(procs) = &cgroup_procs {
                    cgroup::join(procs);
                }
                if let Some(mask) = umask {
                    libc::umask(mask as libc::mode_t);
                }
                if let Some((uid, gid, groups)) = &creds {
                    // Groups and gid first, while the child may still change them.
                    nix::unistd::setgroups(groups)?;
                    nix::unistd::setgid(*gid)?;
                    nix::unistd::setuid(*uid)?;
                }
                // As the user: only root may raise a hard limit.
                proto::rlimit::apply(&rlimits)?;
                // Die with the keeper: nobody else could take the output and
                // the exit. After the credentials change, which clears it;
                // the check covers a keeper that died before prctl.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0
                    || libc::getppid() != keeper_pid
                {
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
        let os = |what: &str, e: std::io::Error| {
            Failure::new(e.raw_os_error().unwrap_or(0), format!("{what}: {e}"))
        };
        // Extra inherited descriptors, open until the child has them.
        let mut extra_fds: Vec<(i32, OwnedFd)> = Vec::new();
        let terminal = if s.tty {
            let pty = pty::open(s.rows, s.cols)
                .map_err(|e| Failure::new(e as i32, format!("open terminal: {}", e.desc())))?;
            let slave = || {
                pty.slave
                    .try_clone()
                    .map(Stdio::from)
                    .map_err(|e| os("open terminal", e))
            };
            command.stdin(slave()?).stdout(slave()?).stderr(slave()?);
            // SAFETY: the closure only makes async-signal-safe calls
            // (setsid, ioctl).
            unsafe {
                command.pre_exec(pty::become_session_leader_with_ctty);
            }
            Some(pty)
        } else {
            let ClientFds { stdio, extra } = match &s.inherit {
                Some(inherit) => take_client_fds(inherit)?,
                None => ClientFds::default(),
            };
            let [stdin, stdout, stderr] = stdio;
            if !extra.is_empty() {
                let moves: Vec<(i32, i32)> = extra
                    .iter()
                    .map(|(target, fd)| (*target, fd.as_raw_fd()))
                    .collect();
                // SAFETY: dup2 is async-signal-safe; the descriptors stay
                // open in this process until the spawn returned (`extra`).
                unsafe {
                    command.pre_exec(move || {
                        for (target, fd) in &moves {
                            if libc::dup2(*fd, *target) < 0 {
                                return Err(std::io::Error::last_os_error());
                            }
                        }
                        Ok(())
                    });
                }
            }
            extra_fds = extra;
            // `2>&1`: stderr becomes stdout in the child (below), so it
            // gets no pipe of its own.
            let merged = s.stderr_to_stdout && stderr.is_none();
            if merged {
                // SAFETY: dup2 is async-signal-safe. pre_exec hooks run
                // after the standard descriptors are in place.
                unsafe {
                    command.pre_exec(|| {
                        if libc::dup2(1, 2) < 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
            }
            command
                .stdin(match stdin {
                    Some(fd) => Stdio::from(fd),
                    None if s.stdin_pipe => Stdio::piped(),
                    None => Stdio::null(),
                })
                .stdout(match stdout {
                    Some(fd) => Stdio::from(fd),
                    None if s.stdout_null => Stdio::null(),
                    None => Stdio::piped(),
                })
                .stderr(match stderr {
                    Some(fd) => Stdio::from(fd),
                    None if merged || s.stderr_null => Stdio::null(),
                    None => Stdio::piped(),
                })
                .process_group(0);
            None
        };
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                if let Some(dir) = &cgroup_dir {
                    cgroup::remove(dir);
                }
                return Err(os("spawn", e));
            }
        };
        drop(command);
        drop(extra_fds);
        let host_pid = child.id() as i32;
        let host_start_ticks = hostproc::stat(Pid::from_raw(host_pid)).map_or(0, |s| s.start_ticks);

        let dir = records::proc_dir(&self.data_dir, pid);
        let cap = s.output_cap.max(2);
        let log = |stream| {
            Arc::new(if s.output_window > 0 {
                OutputLog::with_window(&dir, stream, cap, s.output_window)
            } else {
                OutputLog::new(&dir, stream, cap)
            })
        };
        let (on_reaped, reaped_rx) = oneshot::channel();
        let (stdin_tx, stdin_rx) = if s.tty || s.stdin_pipe {
            let (tx, rx) = mpsc::channel(STDIN_QUEUE);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let kept = Arc::new(Kept {
            pid,
            host_pid,
            host_start_ticks,
            record: s.record,
            stdout: log(Stream::Stdout),
            stderr: log(Stream::Stderr),
            stdin: Mutex::new(stdin_tx),
            pty: Mutex::new(None),
            cgroup: cgroup_dir,
            reaped: AtomicBool::new(false),
            on_reaped: Mutex::new(Some(on_reaped)),
            exited: watch::Sender::new(None),
            stdout_take: Mutex::new(None),
            taken_stdout: Mutex::new(None),
        });
        // Registered before the next await, so the reaper (same thread)
        // always finds it.
        lock(&self.by_host).insert(host_pid, kept.clone());
        lock(&self.procs).insert(pid, kept.clone());

        match terminal {
            Some(pty) => {
                drop(pty.slave);
                kept.stderr.close();
                match (pty.master.try_clone(), pty.master.try_clone()) {
                    (Ok(output), Ok(input)) => {
                        tokio::spawn(pump_terminal(output, kept.stdout.clone()));
                        if let Some(rx) = stdin_rx {
                            tokio::spawn(feed_terminal(input, rx, kept.exited.subscribe()));
                        }
                    }
                    _ => kept.stdout.close(),
                }
                *lock(&kept.pty) = Some(pty.master);
            }
            None => {
                match child.stdout.take() {
                    Some(out) => {
                        let (asker, take) = oneshot::channel();
                        *lock(&kept.stdout_take) = Some(asker);
                        tokio::spawn(pump_pipe(out.into(), kept.stdout.clone(), Some(take)));
                    }
                    None => kept.stdout.close(),
                }
                match child.stderr.take() {
                    Some(err) => {
                        tokio::spawn(pump_pipe(err.into(), kept.stderr.clone(), None));
                    }
                    None => kept.stderr.close(),
                }
                if let (Some(stdin), Some(rx)) = (child.stdin.take(), stdin_rx) {
                    tokio::spawn(feed_pipe(stdin.into(), rx, kept.exited.subscribe()));
                }
            }
        }
        // The reaper below owns the exit, not `child`.
        drop(child);
        for stream in [Stream::Stdout, Stream::Stderr] {
            tokio::spawn(report_output(self.clone(), kept.clone(), stream));
        }
        tokio::spawn(finish(self.clone(), kept, reaped_rx));
        Ok(k::Spawned {
            host_pid,
            host_start_ticks,
        })
    }
}

/// A client's descriptors for a child: stdin, stdout, stderr, and the
/// extra ones with the numbers the child gets them as.
#[derive(Default)]
struct ClientFds {
    stdio: [Option<OwnedFd>; 3],
    extra: Vec<(i32, OwnedFd)>,
}

/// The client's descriptors named in `inherit`, taken with pidfd_getfd
/// from the process noded vouched for: its PID is pinned with a pidfd
/// first, then its uid and start time are checked, so nothing is taken
/// from another process that reused the PID. The extra ones are numbered
/// above every target, so that putting one in place in the child never
/// overwrites another still to be moved.
fn take_client_fds(inherit: &k::Inherit) -> Result<ClientFds, Failure> {
    let pidfd = hostproc::pidfd_of(inherit)
        .ok_or_else(|| Failure::new(libc::ESRCH, "the client process is gone".into()))?;
    let take = |fd: i32| -> Result<OwnedFd, Failure> {
        hostproc::take_fd(pidfd.as_fd(), fd).map_err(|e| {
            Failure::new(
                e.raw_os_error().unwrap_or(libc::EBADF),
                format!("cannot take the client's descriptor {fd}: {e}"),
            )
        })
    };
    let stdio = [
        inherit.stdin_fd.map(take).transpose()?,
        inherit.stdout_fd.map(take).transpose()?,
        inherit.stderr_fd.map(take).transpose()?,
    ];
    let above = inherit.extra.iter().map(|e| e.target).max().unwrap_or(0) + 1;
    let extra = inherit
        .extra
        .iter()
        .map(|e| {
            let taken = take(e.fd)?;
            let high = nix::fcntl::fcntl(&taken, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(above))
                .map_err(|err| {
                    Failure::new(
                        err as i32,
                        format!("cannot number descriptor {}: {err}", e.fd),
                    )
                })?;
            // SAFETY: F_DUPFD_CLOEXEC returned a fresh descriptor we own.
            Ok((e.target, unsafe { OwnedFd::from_raw_fd(high) }))
        })
        .collect::<Result<_, Failure>>()?;
    Ok(ClientFds { stdio, extra })
}

/// A failed request.
#[derive(Debug)]
struct Failure {
    errno: i32,
    message: String,
}

impl Failure {
    fn new(errno: i32, message: String) -> Self {
        Failure { errno, message }
    }
}

/// A request's PID, as noded's cluster PID (the protocol carries `pid_t`).
fn gpid(raw: i32) -> Result<Gpid, Failure> {
    Gpid::from_raw(i64::from(raw)).map_err(|e| Failure::new(libc::EINVAL, e.to_string()))
}

impl From<Failure> for k::reply::Body {
    fn from(f: Failure) -> Self {
        k::reply::Body::Failure(k::Failure {
            errno: f.errno,
            message: f.message,
        })
    }
}

/// The reply to request `id`.
fn reply_message(id: u64, body: k::reply::Body) -> k::FromKeeper {
    k::FromKeeper {
        body: Some(k::from_keeper::Body::Reply(k::Reply {
            id,
            body: Some(body),
        })),
    }
}

/// One connection from noded: Hello, then requests until it ends.
async fn connection(keeper: Arc<Keeper>, stream: UnixStream) {
    let (mut sink, mut source) =
        StreamExt::split::<tokio_util::bytes::Bytes>(super::framed(stream));
    let (tx, mut rx) = mpsc::unbounded_channel::<k::FromKeeper>();
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if sink.send(msg.encode_to_vec().into()).await.is_err() {
                break;
            }
        }
    });
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, source.next()).await {
        Ok(Some(Ok(frame))) => k::ToKeeper::decode(frame.freeze()).ok(),
        _ => None,
    };
    let Some((hello_id, hello)) = hello.and_then(|m| match m.body {
        Some(k::to_keeper::Body::Hello(h)) => Some((m.id, h)),
        _ => None,
    }) else {
        tracing::warn!("a connection did not start with Hello; closed");
        return;
    };
    let reply = |body| reply_message(hello_id, body);
    if hello.version != super::VERSION {
        let _ = tx.send(reply(k::reply::Body::Failure(k::Failure {
            errno: libc::EPROTONOSUPPORT,
            message: format!(
                "this keeper speaks version {}, not {}",
                super::VERSION,
                hello.version
            ),
        })));
        drop(tx);
        let _ = writer.await;
        return;
    }
    let id = keeper.next_conn.fetch_add(1, Ordering::SeqCst);
    {
        // Taking over and listing happen with no await in between, so the
        // Welcome is first on the new connection and every later change
        // follows it.
        let mut conn = lock(&keeper.conn);
        if conn.is_some() {
            tracing::info!("a new noded connected; the previous connection is dropped");
        }
        *conn = Some(Conn {
            id,
            tx: tx.clone(),
            bound: hello.bound,
        });
        let _ = tx.send(reply(k::reply::Body::Welcome(keeper.welcome())));
    }
    tracing::info!(bound = hello.bound, "noded connected");
    while let Some(frame) = source.next().await {
        let Ok(frame) = frame else { break };
        match k::ToKeeper::decode(frame.freeze()) {
            Ok(msg) => keeper.handle(msg, &tx),
            Err(e) => {
                tracing::warn!(error = %e, "undecodable message; closing the connection");
                break;
            }
        }
    }
    let bound = {
        let mut conn = lock(&keeper.conn);
        match conn.as_ref() {
            Some(c) if c.id == id => conn.take().map(|c| c.bound),
            _ => None,
        }
    };
    writer.abort();
    match bound {
        Some(true) => {
            keeper.kill_all();
            keeper.exit("noded is gone and asked for its processes to stop with it");
        }
        Some(false) => {
            tracing::info!("noded disconnected; keeping the processes");
            keeper.exit_if_idle();
        }
        None => {}
    }
}
