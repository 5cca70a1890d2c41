//! Starting processes: checks a spawn request (argv, environment, working
//! directory, the executable as execvp would find it, the user), builds the
//! environment and hands the spawn to the node's keeper (keeper/), which
//! owns the process. Here too: noded's view of a kept process (logs that
//! mirror the keeper's, stdin forwarding), recording exits, and processes
//! found lost (their keeper gone), whose leftovers are killed.
//!
//! Each child leads its own process group (a terminal child its own
//! session), so signals go to the group and its children get them too.
//! docs/design/processes.md has the whole design.

use proto::now_ms;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::unistd::{AccessFlags, Pid, access};
use proto::Gpid;
use proto::keeper as k;
use tokio::sync::{mpsc, watch};

use crate::config::Limits;
use crate::error::ProcError;
use crate::hostproc;
use crate::keeper::client::{self, KeeperLink, LinkError};
use crate::output::{OutputLog, Stream};
use crate::process::{Input, Process, Status};
use crate::records::Journal;
use crate::records::{self, ExitRecord, Outcome, SpawnRecord, StoredProcess};

/// PATH given to processes whose environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Queued stdin messages per process before writers wait: one, so a
/// writer learns that its message was taken only when the keeper has
/// taken the one before (see the keeper's own queue of one).
const STDIN_QUEUE: usize = 1;
/// Largest signal number Linux accepts.
pub const MAX_SIGNAL: i32 = 64;

/// What this node is, as the supervisor needs it.
#[derive(Clone, Debug)]
pub struct NodeContext {
    /// Node name (NEFELE_NODE).
    pub name: String,
    /// Slot of this node's PIDs.
    pub slot: proto::Slot,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The local API address given to processes (NEFELE_ADDR).
    pub api_addr: String,
    /// Tunables.
    pub limits: Limits,
    /// Where spawns and exits are recorded.
    pub journal: Arc<Journal>,
    /// Stop every process when noded stops (`--stop-processes`).
    pub stop_processes: bool,
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
    /// The client's own descriptors the process gets as stdio (checked by
    /// the API: a local client on the socket), taken by the keeper.
    pub inherit: Option<proto::keeper::Inherit>,
    /// The file mode creation mask to exec with (the client's).
    pub umask: Option<u32>,
    /// Resource limits to exec with (the client's `ulimit`s), checked.
    pub rlimits: Vec<proto::keeper::Rlimit>,
    /// stderr goes to stdout's pipe (`2>&1`).
    pub stderr_to_stdout: bool,
    /// stdout (stderr) is the null device: not captured.
    pub stdout_null: bool,
    pub stderr_null: bool,
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

/// How long a user's lookup is reused (as nscd does): a change to the user
/// database applies to spawns within this time.
const RUN_AS_TTL: Duration = Duration::from_secs(5);

/// Recent lookups by user name.
static RUN_AS_CACHE: std::sync::LazyLock<dashmap::DashMap<String, (Instant, RunAs)>> =
    std::sync::LazyLock::new(dashmap::DashMap::new);

impl RunAs {
    /// Looks `user` up on this node (`node` names it in errors), reusing a
    /// lookup younger than [`RUN_AS_TTL`].
    pub fn resolve(user: &str, node: &str) -> Result<RunAs, ProcError> {
        if let Some(hit) = RUN_AS_CACHE.get(user)
            && hit.0.elapsed() < RUN_AS_TTL
        {
            return Ok(hit.1.clone());
        }
        let found = Self::look_up(user, node)?;
        if RUN_AS_CACHE.len() > 10_000 {
            RUN_AS_CACHE.clear();
        }
        RUN_AS_CACHE.insert(user.to_string(), (Instant::now(), found.clone()));
        Ok(found)
    }

    /// Reads the user database.
    fn look_up(user: &str, node: &str) -> Result<RunAs, ProcError> {
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
            return Err(ProcError::IsADirectory(candidate.display().to_string()));
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
            Err(e @ (ProcError::NotExecutable { .. } | ProcError::IsADirectory(_))) => {
                first_refusal.get_or_insert(e);
            }
            Err(_) => {}
        }
    }
    Err(first_refusal.unwrap_or_else(|| {
        ProcError::NoSuchExecutable(format!("{program} (not found in PATH={path_var})"))
    }))
}

/// Starts a prepared process as `gpid` through the keeper. The caller puts
/// it in the table (events for it may already be on their way).
pub async fn start(
    ctx: &Arc<NodeContext>,
    keeper: &Arc<KeeperLink>,
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
    // `$_` as a shell sets it for a command it runs: the program's path.
    env.entry("_".into())
        .or_insert_with(|| exe.display().to_string());

    // What execvp does with a file that has no `#!` and is no binary:
    // /bin/sh runs it as a script (bash does the same).
    let (program, argv) = if runs_with_shell(&exe) {
        let mut argv = vec![spec.argv[0].clone(), exe.display().to_string()];
        argv.extend(spec.argv[1..].iter().cloned());
        ("/bin/sh".to_string(), argv)
    } else {
        (exe.display().to_string(), spec.argv.clone())
    };
    let (uid, gid) = run_as.as_ref().map_or_else(
        || {
            (
                nix::unistd::geteuid().as_raw(),
                nix::unistd::getegid().as_raw(),
            )
        },
        |r| (r.uid, r.gid),
    );
    let mut record = SpawnRecord {
        pid: gpid,
        ppid,
        name: spec.name.clone(),
        argv: spec.argv.clone(),
        env: env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        cwd: cwd.display().to_string(),
        exe: exe.display().to_string(),
        tty: spec.tty.is_some(),
        stdin_pipe: spec.tty.is_some() || spec.stdin_pipe,
        start_time_ms: now_ms(),
        host_pid: 0,
        host_start_ticks: 0,
        uid,
        gid,
        user: if spec.user.is_empty() {
            "root".into()
        } else {
            spec.user.clone()
        },
        output_backpressure: spec.output_backpressure,
        stdout_inherited: spec.inherit.as_ref().is_some_and(|i| i.stdout_fd.is_some())
            || (spec.stdout_null && spec.tty.is_none()),
        stderr_inherited: spec.inherit.as_ref().is_some_and(|i| i.stderr_fd.is_some())
            || (spec.stderr_null && spec.tty.is_none()),
    };
    let (rows, cols) = spec.tty.unwrap_or((0, 0));
    let request = k::Spawn {
        pid: gpid.as_raw(),
        exe: program,
        argv,
        env: record.env.clone(),
        cwd: record.cwd.clone(),
        tty: spec.tty.is_some(),
        rows,
        cols,
        stdin_pipe: spec.stdin_pipe,
        run_as: run_as.as_ref().map(|r| k::Credentials {
            uid: r.uid,
            gid: r.gid,
            groups: r.groups.iter().map(|g| g.as_raw()).collect(),
        }),
        output_cap: ctx.limits.output_cap_bytes,
        output_window: if spec.output_backpressure {
            ctx.limits.output_window()
        } else {
            0
        },
        record: serde_json::to_vec(&record).unwrap_or_default(),
        inherit: spec.inherit,
        umask: spec.umask,
        rlimits: spec.rlimits,
        stderr_to_stdout: spec.stderr_to_stdout,
        stdout_null: spec.stdout_null,
        stderr_null: spec.stderr_null,
    };
    let reply = keeper
        .request(
            k::to_keeper::Body::Spawn(request),
            Some(client::REQUEST_TIMEOUT),
        )
        .await;
    let spawned = match reply {
        Ok(k::reply::Body::Spawned(s)) => s,
        Ok(_) => return Err(ProcError::Keeper("the keeper answered Spawn oddly".into())),
        Err(LinkError::Failed { errno, message }) => {
            return Err(spawn_error(&exe, errno, &message));
        }
        Err(e) => return Err(ProcError::Keeper(format!("cannot start {gpid}: {e}"))),
    };
    record.host_pid = spawned.host_pid;
    record.host_start_ticks = spawned.host_start_ticks;
    if let Err(e) = ctx.journal.record_spawn(&record) {
        tracing::warn!(pid = %gpid, error = %e, "cannot save spawn record; exit may not survive a restart");
    }
    Ok(view(ctx, record, Status::Running, keeper, true))
}

/// noded's view of a process the keeper holds: logs that mirror the
/// keeper's, the status, and (while it runs) the tasks that forward stdin
/// and reader progress to the keeper.
pub fn view(
    ctx: &NodeContext,
    record: SpawnRecord,
    status: Status,
    keeper: &Arc<KeeperLink>,
    stdin_open: bool,
) -> Arc<Process> {
    let gpid = Gpid::from_raw(i64::from(record.pid)).expect("a valid PID");
    let dir = records::proc_dir(&ctx.data_dir, gpid);
    let cap = ctx.limits.output_cap_bytes;
    let log = |stream| {
        Arc::new(if record.output_backpressure {
            OutputLog::with_window(&dir, stream, cap, ctx.limits.output_window())
        } else {
            OutputLog::new(&dir, stream, cap)
        })
    };
    let (stdout, stderr) = (log(Stream::Stdout), log(Stream::Stderr));
    let running = matches!(status, Status::Running);
    let (input, input_rx) = if running && stdin_open && record.stdin_pipe {
        let (tx, rx) = mpsc::channel(STDIN_QUEUE);
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let process = Arc::new(Process {
        gpid,
        record,
        dir,
        stdout,
        stderr,
        status: watch::Sender::new(status),
        input,
        keeper: Some(keeper.clone()),
        waited: Default::default(),
    });
    if running {
        if let Some(rx) = input_rx {
            tokio::spawn(forward_input(
                gpid,
                keeper.clone(),
                rx,
                process.status.subscribe(),
            ));
        }
        if process.record.output_backpressure {
            for stream in [Stream::Stdout, Stream::Stderr] {
                tokio::spawn(forward_delivery(process.clone(), keeper.clone(), stream));
            }
        }
    }
    process
}

/// Forwards queued stdin to the keeper, one message at a time, so a
/// process that does not read holds its writers back like a full pipe.
async fn forward_input(
    gpid: Gpid,
    keeper: Arc<KeeperLink>,
    mut rx: mpsc::Receiver<Input>,
    mut status: watch::Receiver<Status>,
) {
    loop {
        let input = tokio::select! {
            input = rx.recv() => match input {
                Some(input) => input,
                None => return,
            },
            _ = status.wait_for(|s| matches!(s, Status::Finished(_))) => return,
        };
        let (data, eof) = match input {
            Input::Data(data) => (data, false),
            Input::Eof => (Vec::new(), true),
        };
        let body = k::to_keeper::Body::Stdin(k::Stdin {
            pid: gpid.as_raw(),
            data,
            eof,
        });
        if keeper.request(body, None).await.is_err() || eof {
            break;
        }
    }
}

/// Tells the keeper how far readers took a windowed log.
async fn forward_delivery(process: Arc<Process>, keeper: Arc<KeeperLink>, stream: Stream) {
    let Some(mut flow) = process.log(stream).flow() else {
        return;
    };
    let mut status = process.status.subscribe();
    loop {
        tokio::select! {
            changed = flow.changed() => if changed.is_err() { return },
            _ = status.wait_for(|s| matches!(s, Status::Finished(_))) => return,
            _ = keeper.gone.cancelled() => return,
        }
        let offset = flow.borrow_and_update().delivered;
        keeper.notify(k::to_keeper::Body::Delivered(k::Delivered {
            pid: process.gpid.as_raw(),
            stream: crate::keeper::wire_stream(stream),
            offset,
        }));
    }
}

/// Brings a log up to where the keeper says it stands.
pub fn mirror_output(process: &Process, output: &k::Output) {
    let stream = crate::keeper::stream_of(output.stream);
    let segments: Vec<(u64, u64)> = output.segments.iter().map(|s| (s.base, s.len)).collect();
    let log = process.log(stream);
    let before = log.pos().end;
    log.mirror(&segments, output.closed, output.delivered);
    crate::metrics::METRICS
        .output_bytes
        .inc_by(log.pos().end.saturating_sub(before));
}

/// The exit record of a keeper's exit event.
pub fn exit_record(exited: &k::Exited) -> ExitRecord {
    let outcome = match &exited.outcome {
        Some(k::exited::Outcome::Code(code)) => Outcome::Exited { code: *code },
        Some(k::exited::Outcome::Signal(signal)) => Outcome::Killed {
            signal: *signal,
            core_dumped: exited.core_dumped,
        },
        Some(k::exited::Outcome::Lost(reason)) => Outcome::Lost {
            reason: reason.clone(),
        },
        None => Outcome::Lost {
            reason: "the keeper gave no outcome".into(),
        },
    };
    ExitRecord {
        outcome,
        end_time_ms: exited.end_time_ms,
        cpu_time_ms: exited.cpu_time_ms,
        rss_bytes: exited.rss_bytes,
    }
}

/// Records and publishes an exit: journal first, then the logs are final
/// and Wait returns.
pub fn finish(ctx: &NodeContext, process: &Process, exit: ExitRecord) {
    if process.is_finished() {
        return;
    }
    if let Err(e) = ctx.journal.record_exit(process.gpid, &exit) {
        tracing::warn!(pid = %process.gpid, error = %e, "cannot save exit record");
    }
    for stream in [Stream::Stdout, Stream::Stderr] {
        let log = process.log(stream);
        log.mirror(&[], true, 0);
        log.lift_window();
    }
    tracing::debug!(pid = %process.gpid, outcome = ?exit.outcome, "process finished");
    process.status.send_replace(Status::Finished(exit));
}

/// A process whose keeper is gone: whatever is left of its group is killed
/// and it is recorded as lost.
pub fn lose(ctx: &NodeContext, process: &Process, why: &str) {
    if process.is_finished() {
        return;
    }
    let killed = kill_leftovers(&ctx.data_dir, &process.record);
    tracing::warn!(pid = %process.gpid, killed, "process lost: {why}");
    finish(ctx, process, lost_record(why, killed));
}

fn lost_record(why: &str, killed: usize) -> ExitRecord {
    let reason = if killed > 0 {
        format!("{why}; killed {killed} leftover process(es)")
    } else {
        why.to_string()
    };
    ExitRecord {
        outcome: Outcome::Lost { reason },
        end_time_ms: now_ms(),
        cpu_time_ms: 0,
        rss_bytes: 0,
    }
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

fn spawn_error(exe: &Path, errno: i32, message: &str) -> ProcError {
    let path = exe.display().to_string();
    match Errno::from_raw(errno) {
        Errno::ENOENT => ProcError::NoSuchExecutable(format!("{path} (or its interpreter)")),
        Errno::EACCES => ProcError::NotExecutable {
            path,
            why: "permission denied".into(),
        },
        Errno::ENOEXEC => ProcError::NotExecutable {
            path,
            why: "exec format error".into(),
        },
        Errno::E2BIG => ProcError::InvalidArgument("argument list too long".into()),
        Errno::EPERM => ProcError::NotPermitted(path),
        _ if errno != 0 => ProcError::os(
            format!("spawn {path} ({message})"),
            std::io::Error::from_raw_os_error(errno),
        ),
        _ => ProcError::Keeper(format!("spawn {path}: {message}")),
    }
}

/// Brings back a process from the records of an earlier run that the keeper
/// does not hold: one that ended (its record says how), or one that was
/// running when noded died and has no keeper any more (a reboot, or the
/// keeper died too): whatever is left of its group is killed now and it is
/// recorded as lost.
/// Records with an invalid PID (hand-edited files) are skipped.
pub fn restore(ctx: &NodeContext, stored: StoredProcess) -> Option<Arc<Process>> {
    let gpid = Gpid::from_raw(i64::from(stored.spawn.pid)).ok()?;
    let dir = records::proc_dir(&ctx.data_dir, gpid);
    let exit = match stored.exit {
        Some(exit) => exit,
        None => {
            let killed = kill_leftovers(&ctx.data_dir, &stored.spawn);
            tracing::warn!(pid = %gpid, killed, "process lost while noded was down");
            let exit = lost_record("its keeper was gone when noded started", killed);
            if let Err(e) = ctx.journal.record_exit(gpid, &exit) {
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
        input: None,
        keeper: None,
        // Ended under an earlier noded: its parent's wait, if any, is gone
        // with it (as a restart of init reaps everything).
        waited: true.into(),
    }))
}

/// SIGKILLs what is left of a lost process: everything in its cgroup, and
/// every host process still in its group that carries its NEFELE_PID and
/// NEFELE_ADDR (only what noded started).
fn kill_leftovers(data_dir: &Path, spawn: &SpawnRecord) -> usize {
    let cgroup = crate::keeper::cgroup::of(data_dir, spawn.pid);
    let in_cgroup = crate::keeper::cgroup::members(&cgroup);
    let killed = crate::keeper::cgroup::kill_and_remove(&cgroup);
    killed + kill_group_leftovers(spawn, &in_cgroup)
}

/// The part of [`kill_leftovers`] that finds processes by group and
/// environment, skipping `done` (already killed).
fn kill_group_leftovers(spawn: &SpawnRecord, done: &[i32]) -> usize {
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
        if done.contains(&host) {
            continue;
        }
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
