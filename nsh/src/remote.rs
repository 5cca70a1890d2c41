//! Starting commands: cluster processes through `Spawn` + `Attach`, with
//! their stdio pumped from and to the shell's fds, and `@local` children.
//!
//! Each cluster process gets one thread that drives its attach stream
//! (writing output to the shell's fds, blocking when they are full, which
//! is the backpressure a pipe gives) and, when it has input, one thread
//! that reads the input fd and streams it in.

use proto::Gpid;
use std::os::fd::AsFd;
use std::time::Duration;

use proto::v1::{
    AttachRequest, AttachStart, ProcessInfo, ProcessState, SpawnRequest, StdinMode, attach_event,
    attach_request,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::client::{CALL_TIMEOUT, Client, ClientError};
use crate::io::{self, Fd};
use crate::jobs::{ExitCell, JobTracker, Member};

/// What to start, after expansion.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: String,
    /// `""` for the shell's node, a node name, or `@any`.
    pub node: String,
    /// The shell's `ulimit` settings, which the command runs with.
    pub limits: Vec<proto::v1::ResourceLimit>,
    /// The shell's descriptors from 3 up, which a command on the shell's
    /// node gets as a child of bash would (`exec 200>lock; flock 200`).
    pub extra_fds: Vec<(i32, Fd)>,
}

/// The shell's exit status for a process that ended (128+N for a signal).
pub fn status_of(info: &ProcessInfo) -> i32 {
    if let Some(status) = info.shell_status() {
        return status;
    }
    if info.state == ProcessState::Lost as i32 {
        return 255;
    }
    0
}

/// The error a failed spawn of `argv0` on `node` prints and its status,
/// worded as `nsh @NODE CMD` words them (`CMD: command not found`, 127;
/// `CMD: Permission denied`, 126; `@NODE: no such node`, 1); anything else
/// is `CMD: why`, 126.
pub fn spawn_failure(node: &str, argv0: &str, e: &ClientError) -> (String, i32) {
    if let ClientError::Status {
        code,
        reason,
        message,
    } = e
    {
        let node = node.trim_start_matches('@');
        match crate::relay::classify_spawn_error(node, argv0, *code, *reason, message) {
            crate::relay::RelayError::Spawn { .. } => {}
            known => return (known.to_string(), known.status()),
        }
    }
    (format!("{argv0}: {e}"), 126)
}

/// Whether a command gets the shell's descriptor `fd` itself rather than
/// a pumped copy: it runs on the shell's own node (reached through its
/// Unix socket; by default or named with `@`) and `fd` is no terminal.
/// Terminals stay pumped, so job control and the line editor keep the
/// terminal (docs/design/nsh.md, "Standard input").
pub fn inherits(client: &Client, launch: &Launch, fd: &Fd) -> bool {
    client.is_unix() && !fd.is_terminal() && client.is_local_node(&launch.node)
}

/// Starts a cluster process and its pumps; returns at once. Streams that
/// [`inherits`] allows are the shell's own descriptors, passed to the
/// process (it reads only what it reads, as a child of bash would);
/// the others are pumped.
pub fn start_remote(
    client: &Client,
    launch: &Launch,
    stdin: Option<Fd>,
    stdout: Fd,
    stderr: Fd,
    tracker: &JobTracker,
) -> Result<Member, ClientError> {
    let output = Output {
        stdout,
        stderr,
        capture_stdout: false,
    };
    start_attached(client, launch, Input::Fd(stdin), output, tracker).map(|(_, member)| member)
}

/// Where a cluster process's stdout and stderr go.
pub struct Output {
    pub stdout: Fd,
    pub stderr: Fd,
    /// Keep stdout captured on the node even where the process could get
    /// the shell's descriptor: the next command of a pipe reads it there.
    pub capture_stdout: bool,
}

/// Where a cluster process's stdin comes from.
pub enum Input {
    /// The shell's descriptor (passed or pumped), or nothing (/dev/null).
    Fd(Option<Fd>),
    /// A file that the command's own redirection opened (`cmd < FILE`),
    /// which nobody reads after it: passed, pumped, or for a large one
    /// read by the shell's node, whose read-ahead then harms no one
    /// (SpawnRequest.stdin_file_fd).
    OwnFile(Fd),
    /// Another cluster process's stdout, node to node (a direct pipe:
    /// `SpawnRequest.stdin_from`); the shell is not in the data path.
    Process(Gpid),
}

/// A cluster process started but not attached yet: the first command of
/// a pipe until the next one says whether it reads the first's output
/// itself (a direct pipe) or through the shell.
pub struct Held {
    client: Client,
    pid: Gpid,
    stdio: Stdio,
    tracker: JobTracker,
}

impl Held {
    /// Its cluster PID.
    pub fn pid(&self) -> Gpid {
        self.pid
    }

    /// Attaches to it (see [`attach_process`]), its stdout going to
    /// `reader`: another cluster process (a direct pipe: the shell gets
    /// only its stderr and exit), a process on the shell's node that got
    /// the pipe itself, or the shell's descriptor.
    pub fn attach(self, reader: Reader) -> Result<Member, ClientError> {
        let how = self.stdio.attach_for(&self.client, reader);
        attach_to(&self.client, Target::Pid(self.pid), how, &self.tracker).map(|(_, member)| member)
    }
}

/// A cluster process's stdio on the shell's side, once its spawn request
/// is made.
#[derive(Clone)]
struct Stdio {
    stdin: Option<Fd>,
    stdout: Fd,
    /// The process got the shell's stdout descriptor itself, or its own
    /// node's null device for the shell's.
    stdout_passed: bool,
    stderr: Fd,
}

impl Stdio {
    /// How to attach, its stdout going to `reader`: another cluster
    /// process (a direct pipe: the shell gets only its stderr and exit), a
    /// process on the shell's node that got the pipe itself, or the
    /// shell's descriptor.
    fn attach_for(self, client: &Client, reader: Reader) -> Attach {
        // The shell's node writes it into the shell's own file or pipe
        // (WriteOutputTo), node to node, so the bytes skip the shell: for
        // a regular file, and for a pipe that a process of the shell's node
        // reads. Pipes the shell reads itself (`$(..)`, builtins) and
        // terminals stay pumped: a stream costs a TLS handshake, more than
        // most commands' output is worth, and the terminal stays with the
        // line editor.
        let into = match reader {
            Reader::Process => None,
            Reader::NodeProcess => Some(true),
            Reader::Shell => Some(self.stdout.is_regular_file()),
        };
        let via_node = |wanted: bool| wanted && !self.stdout_passed && client.is_unix();
        let (stdout, stdout_via_node) = match into {
            None => (None, None),
            Some(wanted) if via_node(wanted) => (None, Some(self.stdout)),
            Some(_) => (Some(self.stdout), None),
        };
        Attach {
            replay: true,
            stdin: self.stdin,
            stdout,
            stdout_via_node,
            stderr: self.stderr,
        }
    }
}

/// Who reads a held process's stdout (see [`Held::attach`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    /// Whatever the shell's descriptor leads to.
    Shell,
    /// Another cluster process, node to node (`stdin_from`).
    Process,
    /// A cluster process on the shell's node that got the pipe's read end.
    NodeProcess,
}

/// Starts a cluster process without attaching to it (see
/// [`start_remote`]): the caller attaches with [`Held::attach`].
pub fn spawn_remote(
    client: &Client,
    launch: &Launch,
    input: Input,
    output: Output,
    tracker: &JobTracker,
) -> Result<Held, ClientError> {
    let (request, stdio) = spawn_request(client, launch, input, output);
    // The descriptors stay open (held by `stdio`) until the reply: the
    // node takes them during the call.
    let (pid, _) = client.spawn(request)?;
    started(client, pid, tracker);
    Ok(Held {
        client: client.clone(),
        pid,
        stdio,
        tracker: tracker.clone(),
    })
}

/// Starts a cluster process and attaches to it, its stdout going to the
/// shell's descriptor, in one call (`AttachStart.spawn`): what
/// [`spawn_remote`] and [`Held::attach`] do, a round trip sooner. Fails
/// as a spawn does. Returns its PID too.
pub fn start_attached(
    client: &Client,
    launch: &Launch,
    input: Input,
    output: Output,
    tracker: &JobTracker,
) -> Result<(Gpid, Member), ClientError> {
    let (request, stdio) = spawn_request(client, launch, input, output);
    let again = (request.clone(), stdio.clone());
    let how = stdio.attach_for(client, Reader::Shell);
    match attach_to(client, Target::Spawn(Box::new(request)), how, tracker) {
        // A node older than `AttachStart.spawn` looks for PID 0. (A spawn
        // whose `stdin_from` is gone fails the same way twice.)
        Err(ClientError::Status {
            reason: Some(proto::Reason::NoSuchProcess),
            ..
        }) => {
            let (request, stdio) = again;
            let (pid, _) = client.spawn(request)?;
            started(client, pid, tracker);
            let how = stdio.attach_for(client, Reader::Shell);
            attach_to(client, Target::Pid(pid), how, tracker)
        }
        other => other,
    }
}

/// The spawn request for `launch`, and the shell's side of its stdio.
fn spawn_request(
    client: &Client,
    launch: &Launch,
    input: Input,
    output: Output,
) -> (SpawnRequest, Stdio) {
    let Output {
        stdout,
        stderr,
        capture_stdout,
    } = output;
    let (stdin, stdin_from, own_file) = match input {
        Input::Fd(fd) => (fd, None, false),
        Input::OwnFile(fd) => (Some(fd), None, true),
        Input::Process(pid) => (None, Some(pid), false),
    };
    let passed = |fd: &Fd| inherits(client, launch, fd).then(|| fd.raw());
    // stdout kept on the node for the next command (a direct pipe): a
    // stderr that goes to the same pipe (`2>&1 |`) goes with it.
    let stderr_follows = capture_stdout && stdout.same_file(&stderr);
    // Descriptors 3 and up reach only a command on the shell's node: one
    // elsewhere cannot share them (docs/compat.md).
    let extra = match client.is_unix() && client.is_local_node(&launch.node) {
        true => launch
            .extra_fds
            .iter()
            .map(|(target, fd)| proto::v1::ExtraFd {
                target: *target,
                fd: fd.raw(),
            })
            .collect(),
        false => Vec::new(),
    };
    let inherit = proto::v1::InheritedStdio {
        stdin_fd: stdin.as_ref().and_then(passed),
        stdout_fd: passed(&stdout).filter(|_| !capture_stdout),
        stderr_fd: passed(&stderr).filter(|_| !stderr_follows),
        extra,
    };
    let any_passed = inherit.stdin_fd.is_some()
        || inherit.stdout_fd.is_some()
        || inherit.stderr_fd.is_some()
        || !inherit.extra.is_empty();
    // Both to one place (`>file 2>&1`, `2>&1 |`, one terminal): one pipe
    // on the node keeps the order in which the process wrote them.
    let merged = inherit.stderr_fd.is_none() && stdout.same_file(&stderr);
    // A large file of the command's own redirection that the process
    // does not get itself (`@n2 cmd < FILE`): the shell's node reads it
    // and the process's node pulls the bytes, so they skip the shell
    // (SpawnRequest.stdin_file_fd). The redirection keeps the file open
    // until the spawn answered.
    let stdin_file = stdin
        .as_ref()
        .filter(|_| own_file && inherit.stdin_fd.is_none() && client.is_unix())
        .filter(|fd| io::regular_file_left(fd.file.as_fd()).is_some_and(|n| n >= STDIN_FILE_MIN))
        .map(Fd::raw);
    let stdin = if inherit.stdin_fd.is_some() || stdin_file.is_some() {
        None
    } else {
        stdin
    };
    // `> /dev/null` of a command that cannot get the shell's descriptor:
    // its own node's null device, so the output does not cross the
    // network to be dropped.
    let stdout_null = !capture_stdout && inherit.stdout_fd.is_none() && stdout.is_null_sink();
    let stderr_null = inherit.stderr_fd.is_none() && !stderr_follows && stderr.is_null_sink();
    let stdout_passed = inherit.stdout_fd.is_some() || stdout_null;
    let request = SpawnRequest {
        argv: launch.argv.clone(),
        env: launch.env.iter().cloned().collect(),
        cwd: launch.cwd.clone(),
        node: launch.node.clone(),
        stdin: if stdin_file.is_some() {
            StdinMode::File as i32
        } else if stdin.is_some() {
            StdinMode::Pipe as i32
        } else {
            StdinMode::Null as i32
        },
        stdin_from: stdin_from.map_or(0, Gpid::as_raw),
        stdin_file_fd: stdin_file,
        // nsh reads every byte: the process blocks like a pipe writer
        // when nsh (or what nsh writes to) is slower.
        output_backpressure: true,
        inherit: any_passed.then_some(inherit),
        // The shell's file creation mask and limits go with the command, on
        // any node.
        umask: Some(io::umask()),
        limits: launch.limits.clone(),
        stderr_to_stdout: merged && !stderr_null,
        stdout_null,
        stderr_null,
        ..SpawnRequest::default()
    };
    let stdio = Stdio {
        stdin,
        stdout,
        stdout_passed,
        stderr,
    };
    (request, stdio)
}

/// The least of a regular file left to read for a command on another
/// node to get it from the shell's node rather than from nsh's pump: the
/// stream costs about what pumping 0.4 MiB does (docs/design/nsh.md).
const STDIN_FILE_MIN: u64 = 1 << 20;

/// A process just started: in the foreground from now on, so a Ctrl-C
/// that comes before its attach is set up still reaches it.
fn started(client: &Client, pid: Gpid, tracker: &JobTracker) {
    crate::signals::set_client(client);
    tracker.started(pid);
    if tracker.is_foreground()
        && crate::signals::INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
    {
        // Ctrl-C came while the spawn was on its way.
        let _ = client.signal(pid, libc::SIGINT);
    }
    // Its background job was killed while the spawn was on its way (the
    // kill signalled the processes the job had then).
    if let Some(sig) = tracker.killed_by() {
        let _ = client.signal(pid, sig as i32);
    }
}

/// Which process an attach is for.
enum Target {
    /// One that runs.
    Pid(Gpid),
    /// One the call starts first (`AttachStart.spawn`).
    Spawn(Box<SpawnRequest>),
}

/// What an attached client does with a process's stdio.
pub struct Attach {
    /// Send the output captured so far first.
    pub replay: bool,
    /// Pumped into its stdin.
    pub stdin: Option<Fd>,
    /// Where its stdout goes; `None`: not sent (another process reads
    /// it, or `stdout_via_node`).
    pub stdout: Option<Fd>,
    /// A file of the shell that the shell's node writes the stdout into
    /// (WriteOutputTo); the process's end waits for that copy's end.
    pub stdout_via_node: Option<Fd>,
    /// Where its stderr goes.
    pub stderr: Fd,
}

/// Attaches to process `pid`: one thread copies its output to `stdout`
/// and `stderr` (blocking when they are full, so a slow reader slows a
/// process that has output backpressure), one streams `stdin` to it. The
/// returned member's exit cell gets its exit status. The process is
/// recorded with `tracker`, so Ctrl-C and Ctrl-Z reach it in the
/// foreground and `kill %N` in the background.
pub fn attach_process(
    client: &Client,
    pid: Gpid,
    how: Attach,
    tracker: &JobTracker,
) -> Result<Member, ClientError> {
    attach_to(client, Target::Pid(pid), how, tracker).map(|(_, member)| member)
}

/// [`attach_process`] to a process that runs or that the call starts;
/// also returns its PID.
fn attach_to(
    client: &Client,
    target: Target,
    how: Attach,
    tracker: &JobTracker,
) -> Result<(Gpid, Member), ClientError> {
    let Attach {
        replay,
        stdin,
        stdout,
        stdout_via_node,
        stderr,
    } = how;
    let (tx, rx) = mpsc::channel::<AttachRequest>(8);
    let (pid, spawn) = match target {
        Target::Pid(pid) => (Some(pid), None),
        Target::Spawn(request) => (None, Some(*request)),
    };
    let start = AttachRequest {
        request: Some(attach_request::Request::Start(AttachStart {
            pid: pid.map_or(0, Gpid::as_raw),
            replay,
            without_stdout: stdout.is_none(),
            spawn,
        })),
    };
    // The channel is new and has room: this cannot fail.
    let _ = tx.try_send(start);
    let mut api = client.processes();
    let opened = client.block_on(async move {
        tokio::time::timeout(CALL_TIMEOUT, api.attach(ReceiverStream::new(rx))).await
    });
    let mut stream = match opened {
        Ok(Ok(reply)) => reply.into_inner(),
        Ok(Err(status)) => return Err(ClientError::from_status(&status)),
        Err(_) => return Err(ClientError::Timeout(CALL_TIMEOUT)),
    };
    let pid = match pid {
        Some(pid) => {
            crate::signals::set_client(client);
            tracker.started(pid);
            pid
        }
        None => {
            let pid = started_event(client, &mut stream)?;
            started(client, pid, tracker);
            pid
        }
    };
    let exit = ExitCell::default();
    // The node's word that it took a stdin message, from the output
    // thread (which reads the events) to the input thread.
    let (accepted_tx, accepted_rx) = std::sync::mpsc::channel::<()>();
    let copy = match stdout_via_node {
        Some(file) => Some(copy_via_node(client, pid, file, &stderr)?),
        None => None,
    };
    {
        let client = client.clone();
        let exit = exit.clone();
        let tracker = tracker.clone();
        std::thread::Builder::new()
            .name(format!("out-{pid}"))
            .spawn(move || {
                let (mut status, mut lost) =
                    pump_output(&client, pid, stream, &stdout, &stderr, &accepted_tx);
                // Its output is all in the file before the shell goes on.
                if let Some(copy) = copy {
                    lost |= copy.join().unwrap_or(true);
                }
                if lost {
                    status = crate::terminal::status_after_a_write_error(status);
                }
                tracker.ended(pid);
                exit.set(status);
            })
            .map_err(|e| ClientError::internal(format!("cannot start a thread: {e}")))?;
    }
    let mut input_done = None;
    if let Some(input) = stdin {
        let exit = exit.clone();
        let done = ExitCell::default();
        input_done = Some(done.clone());
        std::thread::Builder::new()
            .name(format!("in-{pid}"))
            .spawn(move || {
                pump_input(pid, &input, &tx, &exit, &accepted_rx);
                done.set(0);
            })
            .map_err(|e| ClientError::internal(format!("cannot start a thread: {e}")))?;
    }
    let member = Member {
        pid: Some(pid),
        exit,
        input_done,
    };
    Ok((pid, member))
}

/// The PID in the first event of an attach that spawned (`started`).
fn started_event(
    client: &Client,
    stream: &mut tonic::Streaming<proto::v1::AttachEvent>,
) -> Result<Gpid, ClientError> {
    let first =
        client.block_on(async { tokio::time::timeout(CALL_TIMEOUT, stream.message()).await });
    let info = match first {
        Ok(Ok(Some(proto::v1::AttachEvent {
            event: Some(attach_event::Event::Started(info)),
        }))) => info,
        Ok(Ok(other)) => {
            return Err(ClientError::internal(format!(
                "the node answered a spawn with {other:?}"
            )));
        }
        Ok(Err(status)) => return Err(ClientError::from_status(&status)),
        Err(_) => return Err(ClientError::Timeout(CALL_TIMEOUT)),
    };
    crate::client::spawned_pid(&info)
}

/// Starts the thread that has the shell's node write `pid`'s stdout into
/// `file` (WriteOutputTo); a failure is reported on `stderr`. The thread
/// says whether output was lost.
fn copy_via_node(
    client: &Client,
    pid: Gpid,
    file: Fd,
    stderr: &Fd,
) -> Result<std::thread::JoinHandle<bool>, ClientError> {
    let (client, stderr) = (client.clone(), stderr.clone());
    std::thread::Builder::new()
        .name(format!("copy-{pid}"))
        .spawn(move || {
            // `file` stays open here until the node has written it all.
            match client.write_output_to(pid, file.raw()) {
                Ok(_) => false,
                Err(e) => {
                    let line = format!("nsh: {pid}: output lost: {e}\n");
                    let _ = io::write_all(stderr.file.as_fd(), line.as_bytes());
                    true
                }
            }
        })
        .map_err(|e| ClientError::internal(format!("cannot start a thread: {e}")))
}

/// Copies the process's output to the shell's fds until it exits; returns
/// its status, and whether output was lost to a write error other than a
/// closed pipe (reported on `stderr`).
fn pump_output(
    client: &Client,
    pid: Gpid,
    mut stream: tonic::Streaming<proto::v1::AttachEvent>,
    stdout: &Option<Fd>,
    stderr: &Fd,
    accepted: &std::sync::mpsc::Sender<()>,
) -> (i32, bool) {
    let mut broken_pipe = false;
    let mut lost = false;
    // How much of each stream was written: an attachment made again
    // replays from the start, and what was written is skipped.
    let mut relayed = crate::terminal::Offsets::default();
    // The request side of an attachment made again, kept open with it.
    let mut _requests = None;
    let mut reattaches = 0;
    {
        loop {
            let event = client.block_on(stream.message());
            let event = match event {
                Ok(Some(event)) => event,
                // The attachment broke without an exit: the node went away
                // (a restart keeps the process, SPEC §10). Attach again
                // once it is back.
                _ => match (reattaches < MAX_REATTACHES)
                    .then(|| reattach(client, pid, stdout.is_none()))
                    .flatten()
                {
                    Some((requests, events)) => {
                        reattaches += 1;
                        _requests = Some(requests);
                        stream = events;
                        continue;
                    }
                    None => break,
                },
            };
            match event.event {
                Some(attach_event::Event::Stdout(chunk)) if !broken_pipe => {
                    let Some(out) = stdout else { continue };
                    let Some(data) = crate::terminal::trim(&chunk, &mut relayed.stdout) else {
                        continue;
                    };
                    let Err(e) = io::write_all(out.file.as_fd(), &data) else {
                        continue;
                    };
                    // Like a pipe whose reader is gone: the writer's next
                    // write gets EPIPE and SIGPIPE. Any other error (a full
                    // disk) is said, as the writer would have said it.
                    broken_pipe = true;
                    if e.kind() != std::io::ErrorKind::BrokenPipe {
                        lost = true;
                        let line = format!(
                            "nsh: {pid}: write error: {}\n",
                            crate::exec::redirect_message(&e)
                        );
                        let _ = io::write_all(stderr.file.as_fd(), line.as_bytes());
                    }
                    let _ = client.close_stdout(pid);
                }
                Some(attach_event::Event::Stdout(_)) => {}
                Some(attach_event::Event::Stderr(chunk)) => {
                    if let Some(data) = crate::terminal::trim(&chunk, &mut relayed.stderr) {
                        let _ = io::write_all(stderr.file.as_fd(), &data);
                    }
                }
                Some(attach_event::Event::StdinAccepted(_)) => {
                    let _ = accepted.send(());
                }
                Some(attach_event::Event::Exit(info)) => return (status_of(&info), lost),
                Some(attach_event::Event::Error(message)) => {
                    let line = format!("nsh: {pid}: {message}\n");
                    let _ = io::write_all(stderr.file.as_fd(), line.as_bytes());
                }
                // Only first, and taken before this loop.
                Some(attach_event::Event::Started(_)) | None => {}
            }
        }
    }
    // The stream broke (node gone, connection lost): ask for the end.
    (wait_exit(client, pid), lost)
}

/// Most attachments made again for one process (a node that keeps
/// dropping them is given up on: the status then comes from `Wait`).
const MAX_REATTACHES: u32 = 20;

/// Attaches again, with replay, to `pid` whose attachment broke, until it
/// works or the terminal's [`GIVE_UP_AFTER`](crate::terminal::GIVE_UP_AFTER)
/// passed: the request side to keep open, and the events (a process that
/// ended meanwhile gives its output and exit).
fn reattach(
    client: &Client,
    pid: Gpid,
    without_stdout: bool,
) -> Option<(
    mpsc::Sender<AttachRequest>,
    tonic::Streaming<proto::v1::AttachEvent>,
)> {
    use crate::terminal::{GIVE_UP_AFTER, REATTACH_EVERY, TerminalError, open_attach};
    let deadline = std::time::Instant::now() + GIVE_UP_AFTER;
    loop {
        let mut api = client.processes();
        match client.block_on(open_attach(&mut api, pid, true, without_stdout)) {
            Ok(opened) => return Some(opened),
            // Gone for good: nothing to wait for.
            Err(TerminalError::Rpc {
                code: tonic::Code::NotFound,
                ..
            }) => return None,
            _ if std::time::Instant::now() >= deadline => return None,
            _ => std::thread::sleep(REATTACH_EVERY),
        }
    }
}

/// Waits for a process's end with the `Wait` RPC, retrying while the node
/// answers; 255 when it cannot be learned.
pub fn wait_exit(client: &Client, pid: Gpid) -> i32 {
    for _ in 0..3 {
        let mut api = client.processes();
        let reply = client.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(3600),
                api.wait(proto::v1::WaitRequest {
                    pid: pid.as_raw(),
                    timeout_ms: 0,
                }),
            )
            .await
        });
        match reply {
            Ok(Ok(info)) => return status_of(&info.into_inner()),
            Ok(Err(status)) if status.code() == tonic::Code::NotFound => return 127,
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    255
}

/// Bytes read from the shell's input for the first stdin message.
const INPUT_CHUNK: usize = 16 * 1024;
/// Most bytes per stdin message: messages double from [`INPUT_CHUNK`]
/// after every [`INPUT_GROW_AFTER`] full ones the node took in a row, so
/// a process that reads a lot gets it in bigger messages (each costs a
/// round trip) while one that reads a little and stops still leaves later
/// readers all but about its pipe's worth.
const INPUT_CHUNK_MAX: usize = 256 * 1024;
/// Full messages taken in a row before the next ones double.
const INPUT_GROW_AFTER: usize = 4;
/// Stdin messages sent before the node says it took the first. One keeps
/// what a process that stops reading can take from later readers within
/// about its pipe's worth (measured: 35 KiB beyond `head -c 5`); two
/// double it, for a third more throughput (docs/design/nsh.md).
const INPUT_WINDOW: usize = 1;

/// Streams the input fd to the process until end of file or its exit,
/// reading the next chunk only once the node took the last one
/// (`accepted`): nsh never reads more than a chunk ahead of what the node
/// took, and the node takes a message only once the one before is in the
/// process's pipe, so input the process never reads stays for the next
/// reader beyond about its pipe's worth (docs/design/nsh.md).
fn pump_input(
    pid: Gpid,
    input: &Fd,
    tx: &mpsc::Sender<AttachRequest>,
    exit: &ExitCell,
    accepted: &std::sync::mpsc::Receiver<()>,
) {
    let mut buf = vec![0u8; INPUT_CHUNK_MAX];
    // The size of the next message, and full messages taken at that size.
    let (mut chunk_size, mut full_taken) = (INPUT_CHUNK, 0usize);
    // Messages sent that the node has not said it took.
    let mut in_flight = 0usize;
    let terminal = input.is_terminal();
    loop {
        if exit.get().is_some() {
            return;
        }
        // A stopped job does not read the terminal: what is typed then is
        // for the shell (`fg`, `jobs`), as with a kernel job.
        if terminal && !crate::signals::is_foreground(pid) {
            std::thread::sleep(std::time::Duration::from_millis(50));
            continue;
        }
        let mut pfd = [nix::poll::PollFd::new(
            input.file.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(50u16)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(_) => break,
        }
        // Input that arrives after the process ended belongs to whoever
        // reads next (the shell's prompt, for a terminal).
        if exit.get().is_some() {
            return;
        }
        // The shell's line editor reads the same terminal once the job is
        // stopped: read only bytes that are there, never block in read(2)
        // (a blocked read would take the next line typed at the prompt).
        let mut len = chunk_size;
        if terminal {
            let available = available_bytes(input);
            if available == 0 || !crate::signals::is_foreground(pid) {
                continue;
            }
            len = len.min(available);
        }
        match io::read(input.file.as_fd(), &mut buf[..len]) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let chunk = AttachRequest {
                    request: Some(attach_request::Request::Stdin(buf[..n].to_vec())),
                };
                if tx.blocking_send(chunk).is_err() {
                    return;
                }
                in_flight += 1;
                // Wait for the node to take enough; the process's end ends
                // the wait (its output thread then stops sending).
                while in_flight >= INPUT_WINDOW {
                    match accepted.recv_timeout(Duration::from_millis(50)) {
                        Ok(()) => {
                            in_flight -= 1;
                            full_taken = if n == len { full_taken + 1 } else { 0 };
                            if full_taken >= INPUT_GROW_AFTER && chunk_size < INPUT_CHUNK_MAX {
                                chunk_size *= 2;
                                full_taken = 0;
                            }
                        }
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                            if exit.get().is_some() {
                                return;
                            }
                        }
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
            }
        }
    }
    let _ = tx.blocking_send(AttachRequest {
        request: Some(attach_request::Request::StdinEof(true)),
    });
}

/// Bytes ready to read on a terminal (FIONREAD).
fn available_bytes(input: &Fd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer we pass.
    let result = unsafe { libc::ioctl(input.raw(), libc::FIONREAD, &mut n) };
    if result == 0 { n.max(0) as usize } else { 0 }
}

/// Starts an ordinary child of the shell on this machine (`@local`), with
/// a clean signal mask and default signal dispositions. A failure is the
/// message and the status bash gives (127 not found, 126 otherwise).
pub fn start_local(
    launch: &Launch,
    stdin: &Fd,
    stdout: &Fd,
    stderr: &Fd,
) -> Result<Member, (String, i32)> {
    use std::os::unix::process::CommandExt;
    let argv0 = launch.argv.first().cloned().unwrap_or_default();
    let mut command = std::process::Command::new(&argv0);
    command
        .args(&launch.argv[1..])
        .env_clear()
        .envs(launch.env.iter().cloned())
        .current_dir(&launch.cwd)
        .stdin(stdin.dup().map_err(|e| (e.to_string(), 126))?)
        .stdout(stdout.dup().map_err(|e| (e.to_string(), 126))?)
        .stderr(stderr.dup().map_err(|e| (e.to_string(), 126))?);
    let limits = crate::builtins::ulimit::for_local(&launch.limits);
    // SAFETY: only async-signal-safe calls (sigprocmask, signal, getrlimit,
    // setrlimit) run between fork and exec; the limits were collected
    // before.
    unsafe {
        command.pre_exec(move || {
            proto::rlimit::apply(&limits)?;
            let empty = nix::sys::signal::SigSet::empty();
            let _ = empty.thread_set_mask();
            for sig in [
                libc::SIGINT,
                libc::SIGQUIT,
                libc::SIGTSTP,
                libc::SIGTTOU,
                libc::SIGTTIN,
                libc::SIGPIPE,
            ] {
                libc::signal(sig, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => (format!("{argv0}: command not found"), 127),
        _ => (format!("{argv0}: {e}"), 126),
    })?;
    let exit = ExitCell::default();
    let cell = exit.clone();
    std::thread::spawn(move || {
        use std::os::unix::process::ExitStatusExt;
        let status = match child.wait() {
            Ok(s) => s
                .code()
                .or_else(|| s.signal().map(proto::signal_status))
                .unwrap_or(1),
            Err(_) => 1,
        };
        cell.set(status);
    });
    Ok(Member {
        pid: None,
        exit,
        input_done: None,
    })
}
