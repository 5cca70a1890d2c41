//! The only module that spawns, signals and reaps. Each child leads its own
//! process group (a terminal child its own session), so signals go to the
//! group and its children get them too. Per child, one reaper task owns the
//! pidfd and publishes the status; pump tasks copy output into the logs; a
//! writer task feeds stdin.
//!
//! When noded dies, the guardian (guardian.rs) kills every group at once;
//! at the next start [`restore`] kills anything of a group that escaped and
//! records the process as `lost` (docs/design/processes.md).
//!
//! Children are started without a `pre_exec` hook where possible, so std
//! uses `posix_spawn` (vfork-like) rather than fork: only terminal children,
//! which need `setsid` and a controlling terminal, are forked.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::unistd::{AccessFlags, Pid, access};
use proto::Gpid;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, watch};

use crate::config::Limits;
use crate::error::ProcError;
use crate::guardian::Guardian;
use crate::hostproc;
use crate::output::{OutputLog, Stream};
use crate::process::{Input, Process, Status};
use crate::pty;
use crate::records::Journal;
use crate::records::{self, ExitRecord, Outcome, SpawnRecord, StoredProcess};

/// PATH given to processes whose environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// How long the reaper waits, after the leader exited, for the output pipes
/// to reach end-of-file before publishing the exit (a background child that
/// keeps them open must not delay Wait for ever).
const OUTPUT_DRAIN_GRACE: Duration = Duration::from_secs(1);
/// Queued stdin messages per process before writers wait.
const STDIN_QUEUE: usize = 64;
/// Largest read from an output pipe or terminal.
const PUMP_BUF: usize = 64 << 10;
/// Largest signal number Linux accepts.
pub const MAX_SIGNAL: i32 = 64;

/// What this node is, as the supervisor needs it.
#[derive(Clone, Debug)]
pub struct NodeContext {
    /// Node name (NEFELE_NODE).
    pub name: String,
    /// Slot of this node's PIDs.
    pub slot: u32,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The local API address given to processes (NEFELE_ADDR).
    pub api_addr: String,
    /// Tunables.
    pub limits: Limits,
    /// Where spawns and exits are recorded.
    pub journal: Arc<Journal>,
    /// Kills the process groups if noded dies.
    pub guardian: Arc<Guardian>,
}

/// A spawn request, in domain terms.
#[derive(Clone, Debug, Default)]
pub struct SpawnSpec {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Environment as given by the client.
    pub env: BTreeMap<String, String>,
    /// Working directory ("" = "/").
    pub cwd: String,
    /// Display name.
    pub name: String,
    /// Terminal size, if it runs under a terminal.
    pub tty: Option<(u32, u32)>,
    /// Whether stdin is a pipe (always true with a terminal).
    pub stdin_pipe: bool,
    /// Parent cluster PID.
    pub ppid: Option<Gpid>,
    /// Hold the process back like a pipe writer while its output is not
    /// delivered to a reader (output.rs).
    pub output_backpressure: bool,
    /// The user who asked: the process runs as this user (resolved by name
    /// on this node) and belongs to them. Empty: root.
    pub user: String,
}

/// As whom a process runs: a user's uid, gid and groups as this node's
/// user database has them, and what login would set in the environment.
#[derive(Clone, Debug)]
pub struct RunAs {
    /// The user name.
    pub user: String,
    /// Its uid.
    pub uid: u32,
    /// Its primary gid.
    pub gid: u32,
    /// Its supplementary groups.
    pub groups: Vec<nix::unistd::Gid>,
    /// Its home directory.
    pub home: String,
    /// Its login shell.
    pub shell: String,
}

impl RunAs {
    /// Looks `user` up on this node (`node` names it in errors).
    pub fn resolve(user: &str, node: &str) -> Result<RunAs, ProcError> {
        let no_such = || ProcError::NoSuchUser {
            user: user.to_string(),
            node: node.to_string(),
        };
        let entry = nix::unistd::User::from_name(user)
            .ok()
            .flatten()
            .ok_or_else(no_such)?;
        let name = std::ffi::CString::new(user).map_err(|_| no_such())?;
        let groups =
            nix::unistd::getgrouplist(&name, entry.gid).unwrap_or_else(|_| vec![entry.gid]);
        Ok(RunAs {
            user: entry.name,
            uid: entry.uid.as_raw(),
            gid: entry.gid.as_raw(),
            groups,
            home: entry.dir.display().to_string(),
            shell: entry.shell.display().to_string(),
        })
    }
}

/// A request that passed validation: where the executable is, and the
/// final environment.
#[derive(Debug)]
pub struct Prepared {
    spec: SpawnSpec,
    exe: PathBuf,
    cwd: PathBuf,
    ppid: Option<Gpid>,
    /// `None`: as noded itself (root asked, or noded is not root).
    run_as: Option<RunAs>,
}

/// Checks a spawn request before any PID is spent on it: argv and env
/// shape and size, the working directory, and the executable (looked up in
/// the request's PATH like execvp).
pub fn prepare(spec: SpawnSpec, limits: &Limits, node: &str) -> Result<Prepared, ProcError> {
    let invalid = |m: String| Err(ProcError::InvalidArgument(m));
    if spec.argv.is_empty() {
        return invalid("empty argv: name a program to run".into());
    }
    if spec.argv[0].is_empty() {
        return invalid("empty program name in argv[0]".into());
    }
    let mut total = 0usize;
    for arg in &spec.argv {
        if arg.contains('\0') {
            return invalid("argv contains a NUL byte".into());
        }
        if arg.len() > limits.max_arg_bytes {
            return invalid(format!(
                "an argument is {} bytes, over the limit of {} bytes",
                arg.len(),
                limits.max_arg_bytes
            ));
        }
        total += arg.len() + 1;
    }
    for (key, value) in &spec.env {
        if key.is_empty() || key.contains(['=', '\0']) || value.contains('\0') {
            return invalid(format!("invalid environment variable name {key:?}"));
        }
        let len = key.len() + value.len() + 1;
        if len > limits.max_arg_bytes {
            return invalid(format!(
                "environment variable {key} is {len} bytes, over the limit of {} bytes",
                limits.max_arg_bytes
            ));
        }
        total += len + 1;
    }
    if total > limits.max_spawn_bytes {
        return invalid(format!(
            "argv and environment are {total} bytes, over the limit of {} bytes",
            limits.max_spawn_bytes
        ));
    }
    if let Some((rows, cols)) = spec.tty
        && (rows > u32::from(u16::MAX) || cols > u32::from(u16::MAX))
    {
        return invalid(format!("terminal size {rows}x{cols} is too large"));
    }

    let cwd = PathBuf::from(if spec.cwd.is_empty() { "/" } else { &spec.cwd });
    if !cwd.is_absolute() {
        return invalid(format!(
            "working directory {} is not an absolute path",
            cwd.display()
        ));
    }
    match std::fs::metadata(&cwd) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return invalid(format!(
                "working directory {} is not a directory",
                cwd.display()
            ));
        }
        Err(_) => {
            return Err(ProcError::InvalidArgument(format!(
                "no such working directory: {}",
                cwd.display()
            )));
        }
    }

    let ppid = match spec.ppid {
        Some(p) => Some(p),
        None => spec
            .env
            .get("NEFELE_PID")
            .and_then(|s| s.parse::<Gpid>().ok()),
    };
    let path_var = spec.env.get("PATH").map_or(DEFAULT_PATH, String::as_str);
    let exe = resolve_executable(&spec.argv[0], &cwd, path_var)?;
    // A non-root noded runs everything as itself (it cannot switch users).
    let run_as = match spec.user.as_str() {
        "" | "root" => None,
        user if nix::unistd::geteuid().is_root() => Some(RunAs::resolve(user, node)?),
        _ => None,
    };
    Ok(Prepared {
        spec,
        exe,
        cwd,
        ppid,
        run_as,
    })
}

/// Finds the executable as execvp would: a name with a '/' is a path
/// (relative to `cwd`), others are searched in `path_var`.
fn resolve_executable(program: &str, cwd: &Path, path_var: &str) -> Result<PathBuf, ProcError> {
    let check = |candidate: &Path| -> Result<(), ProcError> {
        let meta = std::fs::metadata(candidate)
            .map_err(|_| ProcError::NoSuchExecutable(candidate.display().to_string()))?;
        if meta.is_dir() {
            return Err(ProcError::NotExecutable {
                path: candidate.display().to_string(),
                why: "is a directory".into(),
            });
        }
        access(candidate, AccessFlags::X_OK).map_err(|e| ProcError::NotExecutable {
            path: candidate.display().to_string(),
            why: e.desc().to_lowercase(),
        })
    };
    if program.contains('/') {
        let path = cwd.join(program);
        check(&path)?;
        return Ok(path);
    }
    let mut first_refusal = None;
    for dir in path_var.split(':') {
        let dir = if dir.is_empty() {
            cwd.to_path_buf()
        } else {
            cwd.join(dir)
        };
        let candidate = dir.join(program);
        match check(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(e @ ProcError::NotExecutable { .. }) => {
                first_refusal.get_or_insert(e);
            }
            Err(_) => {}
        }
    }
    Err(first_refusal.unwrap_or_else(|| {
        ProcError::NoSuchExecutable(format!("{program} (not found in PATH={path_var})"))
    }))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Starts a prepared process as `gpid`.
pub fn start(
    ctx: &Arc<NodeContext>,
    gpid: Gpid,
    prepared: Prepared,
) -> Result<Arc<Process>, ProcError> {
    let Prepared {
        spec,
        exe,
        cwd,
        ppid,
        run_as,
    } = prepared;
    let dir = records::proc_dir(&ctx.data_dir, gpid);
    let mut env = spec.env.clone();
    env.entry("PATH".into())
        .or_insert_with(|| DEFAULT_PATH.into());
    if spec.tty.is_some() {
        env.entry("TERM".into()).or_insert_with(|| "xterm".into());
    }
    // As login does: for another user, always; for root, unless given.
    let login = run_as.as_ref().map_or_else(
        || {
            let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
                .ok()
                .flatten();
            me.map(|u| {
                (
                    u.name,
                    u.dir.display().to_string(),
                    u.shell.display().to_string(),
                    false,
                )
            })
        },
        |r| Some((r.user.clone(), r.home.clone(), r.shell.clone(), true)),
    );
    if let Some((user, home, shell, force)) = login {
        for (key, value) in [
            ("HOME", home),
            ("USER", user.clone()),
            ("LOGNAME", user),
            ("SHELL", shell),
        ] {
            if force {
                env.insert(key.into(), value);
            } else {
                env.entry(key.into()).or_insert(value);
            }
        }
    }
    env.insert("NEFELE_PID".into(), gpid.to_string());
    env.insert("NEFELE_NODE".into(), ctx.name.clone());
    env.insert("NEFELE_ADDR".into(), ctx.api_addr.clone());

    let mut command = if runs_with_shell(&exe) {
        // What execvp does with a file that has no `#!` and is no binary:
        // /bin/sh runs it as a script (bash does the same).
        let mut c = std::process::Command::new("/bin/sh");
        c.arg0(&spec.argv[0]).arg(&exe).args(&spec.argv[1..]);
        c
    } else {
        let mut c = std::process::Command::new(&exe);
        c.arg0(&spec.argv[0]).args(&spec.argv[1..]);
        c
    };
    command.env_clear().envs(&env).current_dir(&cwd);
    if let Some(r) = &run_as {
        let (uid, gid, groups) = (
            nix::unistd::Uid::from_raw(r.uid),
            nix::unistd::Gid::from_raw(r.gid),
            r.groups.clone(),
        );
        // SAFETY: setgroups, setgid and setuid are async-signal-safe; the
        // closure allocates nothing (the groups were collected before).
        // Groups and gid go first, while the child still may change them.
        unsafe {
            command.pre_exec(move || {
                nix::unistd::setgroups(&groups)?;
                nix::unistd::setgid(gid)?;
                nix::unistd::setuid(uid)?;
                Ok(())
            });
        }
    }

    let pty = match spec.tty {
        Some((rows, cols)) => {
            let pty = pty::open(rows, cols).map_err(|e| ProcError::os("open terminal", e))?;
            // Everything that can fail is done before the child exists, so
            // a failure never leaves a child running untracked.
            let master_for_io = pty
                .master
                .try_clone()
                .map_err(|e| ProcError::os("open terminal", e))?;
            let slave = || {
                pty.slave
                    .try_clone()
                    .map(Stdio::from)
                    .map_err(|e| ProcError::os("open terminal", e))
            };
            command.stdin(slave()?).stdout(slave()?).stderr(slave()?);
            // SAFETY: the closure only makes async-signal-safe calls
            // (setsid, ioctl).
            unsafe {
                command.pre_exec(pty::become_session_leader_with_ctty);
            }
            Some((pty, master_for_io))
        }
        None => {
            command
                .stdin(if spec.stdin_pipe {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .process_group(0);
            None
        }
    };

    // posix_spawn (or, with a terminal, fork) returns once the child has
    // exec'd: a short block of this worker thread, like a small file write.
    let mut child = command.spawn().map_err(|e| spawn_error(&exe, e))?;
    drop(command);
    let host_pid = Pid::from_raw(child.id() as i32);
    ctx.guardian.watch(host_pid);
    // The pidfd is how the reaper learns of the exit; open it before
    // anything can fail, so the child is never left unwatched.
    let pidfd = open_pidfd(host_pid);

    let (uid, gid) = run_as.as_ref().map_or_else(
        || {
            (
                nix::unistd::geteuid().as_raw(),
                nix::unistd::getegid().as_raw(),
            )
        },
        |r| (r.uid, r.gid),
    );
    let record = SpawnRecord {
        pid: gpid.as_raw(),
        ppid: ppid.map_or(0, Gpid::as_raw),
        name: spec.name.clone(),
        argv: spec.argv.clone(),
        env: env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        cwd: cwd.display().to_string(),
        exe: exe.display().to_string(),
        tty: spec.tty.is_some(),
        stdin_pipe: spec.tty.is_some() || spec.stdin_pipe,
        start_time_ms: now_ms(),
        host_pid: host_pid.as_raw(),
        host_start_ticks: hostproc::stat(host_pid).map_or(0, |s| s.start_ticks),
        uid,
        gid,
        user: if spec.user.is_empty() {
            "root".into()
        } else {
            spec.user.clone()
        },
        output_backpressure: spec.output_backpressure,
    };
    if let Err(e) = ctx.journal.record_spawn(&record) {
        tracing::warn!(pid = %gpid, error = %e, "cannot save spawn record; exit may not survive a restart");
    }

    let cap = ctx.limits.output_cap_bytes;
    let log = |stream| {
        Arc::new(if spec.output_backpressure {
            OutputLog::with_window(&dir, stream, cap, ctx.limits.output_window())
        } else {
            OutputLog::new(&dir, stream, cap)
        })
    };
    let (stdout, stderr) = (log(Stream::Stdout), log(Stream::Stderr));
    let (status, _) = watch::channel(Status::Running);
    let (input, input_rx) = if record.stdin_pipe {
        let (tx, rx) = mpsc::channel(STDIN_QUEUE);
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };

    let mut pty_master = None;
    let mut pty_io = None;
    if let Some((pty, master_for_io)) = pty {
        drop(pty.slave);
        pty_io = Some(master_for_io);
        pty_master = Some(pty.master);
    }
    let process = Arc::new(Process {
        gpid,
        record,
        dir,
        stdout: stdout.clone(),
        stderr: stderr.clone(),
        status,
        reaped: Mutex::new(false),
        input,
        pty_master: Mutex::new(pty_master),
    });

    match pty_io {
        Some(master) => {
            stderr.close();
            let input_fd = master.try_clone().ok();
            tokio::spawn(pump_terminal(master, stdout));
            if let (Some(fd), Some(rx)) = (input_fd, input_rx) {
                tokio::spawn(feed_terminal(fd, rx, process.status.subscribe()));
            }
        }
        None => {
            match child.stdout.take() {
                Some(out) => {
                    tokio::spawn(pump_pipe(out.into(), stdout));
                }
                None => stdout.close(),
            }
            match child.stderr.take() {
                Some(err) => {
                    tokio::spawn(pump_pipe(err.into(), stderr));
                }
                None => stderr.close(),
            }
            if let (Some(stdin), Some(rx)) = (child.stdin.take(), input_rx) {
                tokio::spawn(feed_pipe(stdin.into(), rx, process.status.subscribe()));
            }
        }
    }
    // `child` is dropped without waiting: the reaper below owns the exit.
    drop(child);
    tokio::spawn(reap(process.clone(), pidfd, ctx.clone()));
    Ok(process)
}

/// Whether `exe` is a text file without `#!` (the kernel answers ENOEXEC
/// for it): a file that starts with neither an ELF header nor `#!` and has
/// no NUL byte in its first block.
fn runs_with_shell(exe: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 512];
    let Ok(mut file) = std::fs::File::open(exe) else {
        return false;
    };
    let n = file.read(&mut head).unwrap_or(0);
    let head = &head[..n];
    !(head.starts_with(b"\x7fELF") || head.starts_with(b"#!") || head.contains(&0))
}

fn spawn_error(exe: &Path, e: std::io::Error) -> ProcError {
    let path = exe.display().to_string();
    match e.raw_os_error().map(Errno::from_raw) {
        Some(Errno::ENOENT) => ProcError::NoSuchExecutable(format!("{path} (or its interpreter)")),
        Some(Errno::EACCES) => ProcError::NotExecutable {
            path,
            why: "permission denied".into(),
        },
        Some(Errno::ENOEXEC) => ProcError::NotExecutable {
            path,
            why: "exec format error".into(),
        },
        Some(Errno::E2BIG) => ProcError::InvalidArgument("argument list too long".into()),
        _ => ProcError::os(format!("spawn {path}"), e),
    }
}

fn open_pidfd(pid: Pid) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: pidfd_open takes a pid and flags; on success it returns a new
    // file descriptor that nobody else owns.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    let fd = Errno::result(fd)? as i32;
    // SAFETY: `fd` was just returned by the kernel and is owned here.
    let owned = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    register(owned)
}

/// Registers an owned descriptor with the reactor.
fn register(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an OwnedFd is open and keeps referring to the same file
    // description until it is dropped, which happens with the AsyncFd.
    Ok(unsafe { AsyncFd::register(fd) }?)
}

/// Waits for the leader to exit, reaps it, lets the output drain, records
/// the exit and publishes it. The only reaper of each child.
async fn reap(
    process: Arc<Process>,
    pidfd: std::io::Result<AsyncFd<OwnedFd>>,
    ctx: Arc<NodeContext>,
) {
    let pid = process.host_pid();
    let (outcome, cpu_time_ms, rss_bytes) = loop {
        match &pidfd {
            Ok(fd) => match fd.readable().await {
                Ok(mut guard) => guard.clear_ready(),
                Err(e) => {
                    tracing::warn!(pid = %process.gpid, error = %e, "pidfd wait failed; polling");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
        if let Some(done) = try_reap(&process, pid) {
            ctx.guardian.forget(pid);
            break done;
        }
    };
    // With backpressure, the pumps may be holding the rest of the output
    // in the pipes for a reader: the process is gone, so read it all now
    // (it stays readable in the log) rather than make the exit wait.
    process.stdout.lift_window();
    process.stderr.lift_window();
    let grace = tokio::time::sleep(OUTPUT_DRAIN_GRACE);
    tokio::pin!(grace);
    for log in [&process.stdout, &process.stderr] {
        let mut pos = log.subscribe();
        tokio::select! {
            _ = pos.wait_for(|p| p.closed) => {}
            _ = &mut grace => {}
        }
    }
    // The terminal is of no use once the process is gone: close it now
    // rather than when the record is pruned (a day later).
    process
        .pty_master
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    let exit = ExitRecord {
        outcome,
        end_time_ms: now_ms(),
        cpu_time_ms,
        rss_bytes,
    };
    if let Err(e) = ctx.journal.record_exit(process.gpid.as_raw(), &exit) {
        tracing::warn!(pid = %process.gpid, error = %e, "cannot save exit record");
    }
    tracing::debug!(pid = %process.gpid, outcome = ?exit.outcome, "process finished");
    process.status.send_replace(Status::Finished(exit));
}

/// One non-blocking wait4 under the signal lock.
fn try_reap(process: &Process, pid: Pid) -> Option<(Outcome, u64, u64)> {
    let mut reaped = process.reaped.lock().unwrap_or_else(|e| e.into_inner());
    let mut status = 0;
    // SAFETY: rusage is plain data, fully written by wait4 on success.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to locals; WNOHANG never blocks.
    let rc = unsafe { libc::wait4(pid.as_raw(), &mut status, libc::WNOHANG, &mut usage) };
    match rc {
        0 => None,
        -1 => {
            let errno = Errno::last();
            if errno == Errno::EINTR {
                return None;
            }
            *reaped = true;
            tracing::error!(pid = %process.gpid, %errno, "cannot reap process");
            Some((
                Outcome::Lost {
                    reason: format!("cannot reap: {errno}"),
                },
                0,
                0,
            ))
        }
        _ => {
            *reaped = true;
            let outcome = if libc::WIFEXITED(status) {
                Outcome::Exited {
                    code: libc::WEXITSTATUS(status),
                }
            } else if libc::WIFSIGNALED(status) {
                Outcome::Killed {
                    signal: libc::WTERMSIG(status),
                    core_dumped: libc::WCOREDUMP(status),
                }
            } else {
                return None;
            };
            let ms = |tv: libc::timeval| tv.tv_sec as u64 * 1000 + tv.tv_usec as u64 / 1000;
            Some((
                outcome,
                ms(usage.ru_utime) + ms(usage.ru_stime),
                usage.ru_maxrss as u64 * 1024,
            ))
        }
    }
}

/// Sends `signal` (0..=64; 0 only checks) to the process's group.
pub fn signal(process: &Process, signal: i32) -> Result<(), ProcError> {
    if !(0..=MAX_SIGNAL).contains(&signal) {
        return Err(ProcError::InvalidSignal(signal));
    }
    let reaped = process.reaped.lock().unwrap_or_else(|e| e.into_inner());
    if *reaped {
        return Err(ProcError::Exited(process.gpid));
    }
    // SAFETY: killpg takes two integers. The group is ours: its leader is
    // not reaped (checked under the lock the reaper takes), so its id
    // cannot have been recycled.
    let rc = unsafe { libc::killpg(process.record.host_pid, signal) };
    match Errno::result(rc) {
        Ok(_) => Ok(()),
        Err(Errno::ESRCH) => Err(ProcError::Exited(process.gpid)),
        Err(e) => Err(ProcError::os(format!("signal process {}", process.gpid), e)),
    }
}

/// Copies a pipe into a log until end-of-file, then closes the log. With a
/// window, it reads only while the log has room, so a process whose output
/// is not delivered blocks on its full pipe.
async fn pump_pipe(fd: OwnedFd, log: Arc<OutputLog>) {
    if let Ok(mut rx) = pipe::Receiver::from_owned_fd(fd) {
        let mut buf = vec![0; PUMP_BUF];
        let mut warned = false;
        loop {
            let room = log.room(PUMP_BUF).await;
            match rx.read(&mut buf[..room]).await {
                Ok(0) => break,
                Ok(n) => append(&log, &buf[..n], &mut warned),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!(error = %e, "output pipe read failed");
                    break;
                }
            }
        }
    }
    log.close();
}

fn append(log: &OutputLog, data: &[u8], warned: &mut bool) {
    if let Err(e) = log.append(data)
        && !*warned
    {
        *warned = true;
        tracing::warn!(error = %e, "cannot store output; dropping it");
    }
}

fn set_nonblocking(fd: &OwnedFd) -> std::io::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Copies a terminal's output into a log until the terminal is gone (EIO
/// once no process has it open), then closes the log. A window holds the
/// process back as in [`pump_pipe`].
async fn pump_terminal(master: OwnedFd, log: Arc<OutputLog>) {
    let fd = match set_nonblocking(&master).and_then(|_| register(master)) {
        Ok(fd) => fd,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch terminal");
            log.close();
            return;
        }
    };
    let mut buf = vec![0; PUMP_BUF];
    let mut warned = false;
    loop {
        let room = log.room(PUMP_BUF).await;
        let Ok(mut guard) = fd.readable().await else {
            break;
        };
        match guard.try_io(|inner| {
            nix::unistd::read(inner.get_ref(), &mut buf[..room]).map_err(std::io::Error::from)
        }) {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => append(&log, &buf[..n], &mut warned),
            Ok(Err(e)) if e.raw_os_error() == Some(libc::EINTR) => {}
            Ok(Err(_)) => break, // EIO: every slave closed
            Err(_would_block) => {}
        }
    }
    log.close();
}

/// Feeds a stdin pipe until EOF is asked for, the reader goes away, or the
/// process finishes; dropping the pipe closes the process's stdin.
async fn feed_pipe(
    fd: OwnedFd,
    mut rx: mpsc::Receiver<Input>,
    mut status: watch::Receiver<Status>,
) {
    let Ok(mut tx) = pipe::Sender::from_owned_fd(fd) else {
        return;
    };
    loop {
        tokio::select! {
            input = rx.recv() => match input {
                Some(Input::Data(data)) => {
                    if tx.write_all(&data).await.is_err() {
                        break;
                    }
                }
                Some(Input::Eof) | None => break,
            },
            _ = finished(&mut status) => break,
        }
    }
}

/// Resolves once the status says finished.
async fn finished(status: &mut watch::Receiver<Status>) {
    let _ = status.wait_for(|s| matches!(s, Status::Finished(_))).await;
}

/// Feeds a terminal: data is typed in, EOF is Ctrl-D.
async fn feed_terminal(
    master: OwnedFd,
    mut rx: mpsc::Receiver<Input>,
    mut status: watch::Receiver<Status>,
) {
    let fd = match set_nonblocking(&master).and_then(|_| register(master)) {
        Ok(fd) => fd,
        Err(_) => return,
    };
    loop {
        let data = tokio::select! {
            input = rx.recv() => match input {
                Some(Input::Data(data)) => data,
                Some(Input::Eof) => pty::EOF_CHAR.to_vec(),
                None => break,
            },
            _ = finished(&mut status) => break,
        };
        let mut rest = &data[..];
        while !rest.is_empty() {
            let Ok(mut guard) = fd.writable().await else {
                return;
            };
            match guard.try_io(|inner| {
                nix::unistd::write(inner.get_ref(), rest).map_err(std::io::Error::from)
            }) {
                Ok(Ok(n)) => rest = &rest[n..],
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EINTR) => {}
                Ok(Err(_)) => return,
                Err(_would_block) => {}
            }
        }
    }
}

/// Brings back a process from the records of an earlier run. A process
/// without an exit record was running when noded died: whatever is left of
/// its group is killed now and it is recorded as lost.
/// Records with an invalid PID (hand-edited files) are skipped.
pub fn restore(ctx: &NodeContext, stored: StoredProcess) -> Option<Arc<Process>> {
    let gpid = Gpid::from_raw(i64::from(stored.spawn.pid)).ok()?;
    let dir = records::proc_dir(&ctx.data_dir, gpid);
    let exit = match stored.exit {
        Some(exit) => exit,
        None => {
            let killed = kill_leftovers(&stored.spawn);
            let reason = if killed > 0 {
                format!(
                    "noded stopped while it ran; killed {killed} leftover process(es) at restart"
                )
            } else {
                "noded stopped while it ran; it was gone at restart".to_string()
            };
            tracing::warn!(pid = %gpid, killed, "process lost while noded was down");
            let exit = ExitRecord {
                outcome: Outcome::Lost { reason },
                end_time_ms: now_ms(),
                cpu_time_ms: 0,
                rss_bytes: 0,
            };
            if let Err(e) = ctx.journal.record_exit(gpid.as_raw(), &exit) {
                tracing::warn!(pid = %gpid, error = %e, "cannot save exit record");
            }
            exit
        }
    };
    let cap = ctx.limits.output_cap_bytes;
    let (status, _) = watch::channel(Status::Finished(exit));
    Some(Arc::new(Process {
        gpid,
        stdout: Arc::new(OutputLog::restore(&dir, Stream::Stdout, cap)),
        stderr: Arc::new(OutputLog::restore(&dir, Stream::Stderr, cap)),
        record: stored.spawn,
        dir,
        status,
        reaped: Mutex::new(true),
        input: None,
        pty_master: Mutex::new(None),
    }))
}

/// SIGKILLs every host process still in the lost process's group that
/// carries its NEFELE_PID and NEFELE_ADDR: only what noded started.
fn kill_leftovers(spawn: &SpawnRecord) -> usize {
    let marker = |key: &str| {
        spawn
            .env
            .iter()
            .find(|e| e.starts_with(&format!("{key}=")))
            .cloned()
    };
    let (Some(pid_marker), Some(addr_marker)) = (marker("NEFELE_PID"), marker("NEFELE_ADDR"))
    else {
        return 0;
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut killed = 0;
    for entry in entries.flatten() {
        let Some(host) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let host = Pid::from_raw(host);
        let Some(stat) = hostproc::stat(host) else {
            continue;
        };
        if stat.pgrp != spawn.host_pid || stat.state == 'Z' {
            continue;
        }
        let Ok(environ) = std::fs::read(format!("/proc/{host}/environ")) else {
            continue;
        };
        let has = |m: &str| environ.split(|b| *b == 0).any(|e| e == m.as_bytes());
        if has(&pid_marker)
            && has(&addr_marker)
            && nix::sys::signal::kill(host, nix::sys::signal::SIGKILL).is_ok()
        {
            killed += 1;
        }
    }
    killed
}
