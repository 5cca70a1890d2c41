//! Terminal and foreground helpers shared by the shell and `nsh @NODE`:
//! a raw-mode guard, the window size, what a foreground cluster process
//! did ([`Outcome`]), and [`run_foreground`], which attaches to a cluster
//! process through the `Attach` RPC and relays stdin, stdout, stderr,
//! window sizes and signals until it exits or stops.
//!
//! Callers: `relay.rs` (`nsh @NODE CMD`) and the interpreter's foreground
//! commands, `fg` and `attach`.
//!
//! Two ways to run a process in the foreground:
//! - with a remote terminal (local stdin and stdout are terminals): the
//!   caller puts the local terminal in raw mode ([`RawMode`]), so Ctrl-C
//!   and Ctrl-\ are bytes that the remote terminal turns into signals;
//!   Ctrl-Z becomes a SIGSTOP (see `SUSPEND_BYTE` for why); SIGWINCH
//!   becomes `resize`;
//! - with pipes: stdin comes from any fd (or nothing), stdout and stderr go
//!   to any fds, and the signals the caller lists in [`SignalRelay`]
//!   (SIGINT, SIGQUIT, ...) are forwarded when nsh receives them.
//!
//! Either way a stop of the remote process (Ctrl-Z, SIGTSTP, SIGSTOP from
//! anywhere) is noticed by polling `Get` (fast right after a Ctrl-Z byte or
//! a forwarded stop signal, every second otherwise) and ends the call with
//! [`Outcome::Stopped`], which carries the output offsets relayed so far;
//! `fg` passes them back as [`Start::After`] with `resume: true`, so no
//! output is lost or repeated across the stop.

mod pump;
mod raw;
mod signals;

use std::io::{self, IsTerminal};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Mutex, Once};
use std::time::Duration;

use futures::future::select_all;
use nix::sys::signal::Signal;
use nix::sys::termios::{self, SetArg, Termios};
use proto::Gpid;
use proto::v1::processes_client::ProcessesClient;
use proto::v1::{
    AttachEvent, AttachRequest, AttachStart, GetRequest, OutputChunk, OutputStream, ProcessInfo,
    ProcessState, ReadOutputRequest, SignalRequest, TerminalSize, attach_event, attach_request,
};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use pump::{In, Out, OutputPump, StdinPump, broken_stdout};
pub use raw::{RawMode, is_terminal, restore_terminal, window_size};
use signals::Caught;
pub use signals::{SignalRelay, kill_self, reset_signal_mask, stop_self};

/// Deadline of each unary call (Get, Signal) and of opening the attachment.
const RPC_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline of the state checks made while attached: short, since the
/// event loop waits for them.
const POLL_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the state is checked while attached, to notice a stop.
const SLOW_POLL: Duration = Duration::from_secs(1);
/// How often it is checked right after something that may stop it.
const FAST_POLL: Duration = Duration::from_millis(50);
/// How long the fast checks go on.
const FAST_POLL_FOR: Duration = Duration::from_secs(3);
/// How long the cluster may stay silent (every check failing) before the
/// attachment is given up.
pub(crate) const GIVE_UP_AFTER: Duration = Duration::from_secs(30);
/// How often a broken attachment is tried again while the node is away.
pub(crate) const REATTACH_EVERY: Duration = Duration::from_millis(500);
/// How long to wait for the exit event once `Get` says the process ended.
const EXIT_EVENT_GRACE: Duration = Duration::from_secs(5);
/// The terminal's default suspend character (VSUSP), Ctrl-Z. With a
/// remote terminal it is not passed on: noded makes a terminal process the
/// leader of its own session, so its process group is orphaned (its parent,
/// noded, is in another session) and Linux discards the SIGTSTP the remote
/// terminal would generate. nsh sends SIGSTOP to the process group instead,
/// which stops it whatever it is (a program that reads Ctrl-Z as a key
/// does not see it; Ctrl-L redraws after `fg`).
const SUSPEND_BYTE: u8 = 0x1a;

/// What went wrong while attached to a process or with the terminal.
#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    /// A local system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What nsh was doing.
        what: &'static str,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The node refused or failed a request.
    #[error("{what} {pid}: {message}")]
    Rpc {
        /// The request.
        what: &'static str,
        /// The process it was about.
        pid: Gpid,
        /// The status code.
        code: tonic::Code,
        /// The node's message.
        message: String,
    },
    /// The cluster stopped answering about the process.
    #[error("lost contact with process {pid}: {why}")]
    Lost {
        /// The process.
        pid: Gpid,
        /// The last error seen.
        why: String,
    },
}

impl TerminalError {
    fn io(what: &'static str) -> impl FnOnce(io::Error) -> TerminalError {
        move |source| TerminalError::Io { what, source }
    }

    fn rpc(what: &'static str, pid: Gpid, status: &tonic::Status) -> TerminalError {
        TerminalError::Rpc {
            what,
            pid,
            code: status.code(),
            message: status.message().to_string(),
        }
    }
}

/// Logical byte offsets of stdout and stderr: how much of each stream has
/// been relayed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offsets {
    /// Next stdout byte to relay.
    pub stdout: u64,
    /// Next stderr byte to relay.
    pub stderr: u64,
}

/// Where relaying output starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Everything the process wrote (a process just spawned).
    Beginning,
    /// Only output written from now on (`attach` to a running process).
    Now,
    /// Right after what an earlier attachment relayed (`fg` of a job that
    /// [`Outcome::Stopped`]).
    After(Offsets),
}

/// How a foreground process ended its time in the foreground.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It exited with this code.
    Exited(i32),
    /// A signal killed it.
    Signaled {
        /// Linux signal number.
        signal: i32,
        /// Whether it dumped core.
        core_dumped: bool,
    },
    /// It stopped; it is still there for `fg`/`bg`. The offsets say how far
    /// its output was relayed (pass them to [`Start::After`]).
    Stopped(Offsets),
    /// Its node lost track of it (SPEC §6); the reason.
    Lost(String),
}

impl Outcome {
    /// The shell status for `$?`: the exit code, 128 + the signal, 128 +
    /// SIGTSTP for a stop (as bash), 255 when lost.
    pub fn status(&self) -> i32 {
        match self {
            Outcome::Exited(code) => *code,
            Outcome::Signaled { signal, .. } => proto::signal_status(*signal),
            Outcome::Stopped(_) => proto::signal_status(libc::SIGTSTP),
            Outcome::Lost(_) => 255,
        }
    }

    /// The outcome of a process whose output could not be written (see
    /// [`status_after_a_write_error`]).
    pub fn after_a_write_error(self) -> Outcome {
        let status = self.status();
        match status_after_a_write_error(status) {
            same if same == status => self,
            changed => Outcome::Exited(changed),
        }
    }

    /// The outcome a finished process's info describes, `None` while it
    /// runs.
    pub fn of_finished(info: &ProcessInfo) -> Option<Outcome> {
        match ProcessState::try_from(info.state) {
            Ok(ProcessState::Exited) => Some(Outcome::Exited(info.exit_code.unwrap_or(0))),
            Ok(ProcessState::Killed) => Some(Outcome::Signaled {
                signal: info.signal.unwrap_or(libc::SIGKILL),
                core_dumped: info.core_dumped,
            }),
            Ok(ProcessState::Lost) => Some(Outcome::Lost(if info.lost_reason.is_empty() {
                "lost".to_string()
            } else {
                info.lost_reason.clone()
            })),
            _ => None,
        }
    }
}

/// The status of a process whose output could not be written (a full
/// disk, an I/O error): a program that meets a write error says so and
/// exits 1, as coreutils do; here the process never saw the error (it
/// ended, or died of the SIGPIPE that closing its output gave it), so the
/// shell gives it that status. A failure of its own stays.
pub fn status_after_a_write_error(status: i32) -> i32 {
    match status {
        0 => 1,
        s if s == proto::signal_status(libc::SIGPIPE) => 1,
        s => s,
    }
}

/// A process to run in the foreground and where its I/O goes.
pub struct Foreground {
    /// The cluster process (already spawned).
    pub pid: Gpid,
    /// Where its stdin comes from, `None` to send none. Read by a thread
    /// that stops when the call returns (bytes read but not yet sent then
    /// are dropped). End of file is relayed (with a terminal: Ctrl-D).
    pub stdin: Option<OwnedFd>,
    /// Where its stdout (with a terminal: all of its output) goes.
    pub stdout: OwnedFd,
    /// Where its stderr goes.
    pub stderr: OwnedFd,
    /// The local terminal, when the process has a remote one: its size is
    /// sent at once and on every SIGWINCH. The caller puts it in raw mode.
    pub terminal: Option<OwnedFd>,
    /// Where output relaying starts.
    pub start: Start,
    /// Send SIGCONT once attached (`fg` of a stopped job).
    pub resume: bool,
}

/// Runs `fg.pid` in the foreground through the node behind `channel`
/// until it exits, is killed, is lost or stops (see the module doc).
/// Output received is written to its fds before this returns (waiting,
/// like a local process would, while a pipe reader is slow). Cancelling
/// the future detaches without touching the process. Attaching to a
/// process that is already stopped, without `resume`, returns `Stopped`.
pub async fn run_foreground(
    channel: Channel,
    fg: Foreground,
    signals: &mut SignalRelay,
) -> Result<Outcome, TerminalError> {
    let pid = fg.pid;
    let mut client = ProcessesClient::new(channel);
    let (mut req_tx, mut events) =
        open_attach(&mut client, pid, fg.start == Start::Beginning, false).await?;

    let (mut out, broken_rx) = OutputPump::start(pid, fg.stdout, fg.stderr)?;
    let mut broken_rx = Some(broken_rx);
    // Whether output was lost to a write error other than a closed pipe.
    let mut write_error = false;
    let mut relayed = match fg.start {
        Start::After(offsets) => offsets,
        _ => Offsets::default(),
    };
    if let Start::After(from) = fg.start {
        // Output written between the detach and this attachment.
        relayed = catch_up(&mut client, pid, from, &mut out).await?;
    }
    if fg.resume {
        send_signal(&mut client, pid, Signal::SIGCONT).await?;
    }
    let terminal = fg.terminal;
    if let Some(size) = terminal.as_ref().and_then(|t| window_size(t.as_fd())) {
        let _ = req_tx.try_send(resize(size));
    }
    let mut stdin = match fg.stdin {
        Some(fd) => Some(StdinPump::start(fd)?),
        None => None,
    };
    let mut pending_in: Option<AttachRequest> = None;
    let mut pending_out: Option<Out> = None;
    let mut next_poll = Instant::now() + SLOW_POLL;
    let mut fast_until: Option<Instant> = None;
    let mut silent_since: Option<Instant> = None;
    let mut finished_at: Option<(Instant, Outcome)> = None;
    // The attachment broke: attached again at the top of the loop (the
    // select borrows what that takes).
    let mut broken = false;
    let outcome = loop {
        if std::mem::take(&mut broken) {
            match reattach(&mut client, pid, &mut relayed, &mut out).await? {
                Reattached::Ended(outcome) => break outcome,
                Reattached::Attached(tx, stream) => {
                    req_tx = tx;
                    events = *stream;
                }
            }
        }
        tokio::select! {
            event = events.message(), if pending_out.is_none() => match event {
                Ok(Some(event)) => match event.event {
                    Some(attach_event::Event::Stdout(chunk)) => {
                        pending_out = trim(&chunk, &mut relayed.stdout).map(Out::Stdout);
                    }
                    Some(attach_event::Event::Stderr(chunk)) => {
                        pending_out = trim(&chunk, &mut relayed.stderr).map(Out::Stderr);
                    }
                    Some(attach_event::Event::Exit(info)) => {
                        if let Some(outcome) = Outcome::of_finished(&info) {
                            break outcome;
                        }
                    }
                    // A request the node could not carry out (stdin of a
                    // process that closed it, a resize without a terminal):
                    // the attachment goes on, as a local write would fail
                    // silently for a process that stopped reading.
                    // Acknowledgements matter to pumps that pace their
                    // reads by them; a terminal's keys are few. This
                    // attach spawned nothing, so nothing `started`.
                    Some(
                        attach_event::Event::Error(_)
                        | attach_event::Event::StdinAccepted(_)
                        | attach_event::Event::Started(_),
                    )
                    | None => {}
                },
                Ok(None) | Err(_) => {
                    // The stream ended without an exit: its node went
                    // away (a restart keeps the process, SPEC §10). Wait
                    // for it, then attach again or learn how it ended.
                    broken = true;
                }
            },
            permit = out.reserve(), if pending_out.is_some() => {
                if let (Some(permit), Some(data)) = (permit, pending_out.take()) {
                    permit.send(data);
                }
            }
            input = recv_input(&mut stdin), if pending_in.is_none() && stdin.is_some() => {
                match input {
                    Some(In::Data(mut data)) => {
                        if terminal.is_some() && data.contains(&SUSPEND_BYTE) {
                            // See SUSPEND_BYTE: the key stops the process
                            // with SIGSTOP instead of going through.
                            data.retain(|b| *b != SUSPEND_BYTE);
                            let _ = send_signal(&mut client, pid, Signal::SIGSTOP).await;
                            fast_until = Some(Instant::now() + FAST_POLL_FOR);
                            next_poll = Instant::now() + FAST_POLL;
                        }
                        if !data.is_empty() {
                            pending_in = Some(AttachRequest {
                                request: Some(attach_request::Request::Stdin(data)),
                            });
                        }
                    }
                    Some(In::Eof) | None => {
                        stdin = None;
                        pending_in = Some(AttachRequest {
                            request: Some(attach_request::Request::StdinEof(true)),
                        });
                    }
                }
            }
            permit = req_tx.reserve(), if pending_in.is_some() => {
                if let (Ok(permit), Some(req)) = (permit, pending_in.take()) {
                    permit.send(req);
                }
            }
            caught = signals.recv(terminal.is_some()) => match caught {
                Caught::Forward(sig) => {
                    // A Ctrl-Z typed before the terminal went raw: stopped
                    // as the key is (see SUSPEND_BYTE).
                    let sig = if sig == Signal::SIGTSTP && terminal.is_some() {
                        Signal::SIGSTOP
                    } else {
                        sig
                    };
                    // A separate call, so that stdin queued behind a
                    // process that does not read it never holds a signal
                    // back.
                    let _ = send_signal(&mut client, pid, sig).await;
                    if matches!(
                        sig,
                        Signal::SIGTSTP | Signal::SIGSTOP | Signal::SIGTTIN | Signal::SIGTTOU
                    ) {
                        fast_until = Some(Instant::now() + FAST_POLL_FOR);
                        next_poll = Instant::now() + FAST_POLL;
                    }
                }
                Caught::WindowChanged => {
                    if let Some(size) = terminal.as_ref().and_then(|t| window_size(t.as_fd())) {
                        // Dropped if the queue is full: the next change
                        // fixes it.
                        let _ = req_tx.try_send(resize(size));
                    }
                }
            },
            broken = broken_stdout(&mut broken_rx) => {
                // Like a local writer whose reader went away: the
                // process's next write gets EPIPE and SIGPIPE. After
                // another error (said by the pump) the same, and the
                // status is a write error's (see `after_a_write_error`).
                if let Some(errno) = broken {
                    write_error |= errno != nix::errno::Errno::EPIPE;
                    let _ = close_stdout(&mut client, pid).await;
                }
            }
            () = tokio::time::sleep_until(next_poll) => {
                let now = Instant::now();
                let fast = fast_until.is_some_and(|t| now < t);
                next_poll = now + if fast { FAST_POLL } else { SLOW_POLL };
                match get(&mut client, pid, POLL_TIMEOUT).await {
                    Ok(info) => {
                        silent_since = None;
                        match ProcessState::try_from(info.state) {
                            Ok(ProcessState::Stopped) => break Outcome::Stopped(relayed),
                            Ok(ProcessState::Lost) => {
                                if let Some(outcome) = Outcome::of_finished(&info) {
                                    break outcome;
                                }
                            }
                            _ => {}
                        }
                        // Finished, but the exit event has not come: give
                        // the stream a little time to drain, then stop
                        // waiting for it.
                        if let Some(outcome) = Outcome::of_finished(&info) {
                            match &finished_at {
                                Some((since, outcome)) if since.elapsed() > EXIT_EVENT_GRACE => {
                                    break outcome.clone();
                                }
                                Some(_) => {}
                                None => finished_at = Some((now, outcome)),
                            }
                        }
                    }
                    Err(e) => {
                        let since = *silent_since.get_or_insert(now);
                        if since.elapsed() > GIVE_UP_AFTER {
                            return Err(TerminalError::Lost { pid, why: e.to_string() });
                        }
                    }
                }
            }
        }
    };
    drop(stdin);
    if let Some(data) = pending_out.take() {
        out.send(data).await;
    }
    out.finish().await;
    // The last output may have failed after the loop.
    if let Some(Ok(errno)) = broken_rx.as_mut().map(|rx| rx.try_recv()) {
        write_error |= errno != nix::errno::Errno::EPIPE;
    }
    Ok(match outcome {
        Outcome::Stopped(_) => Outcome::Stopped(relayed),
        other if write_error => other.after_a_write_error(),
        other => other,
    })
}

/// Opens an attachment to `pid` (from its first byte with `replay`, else
/// from what no reader took yet; its stdout too unless `without_stdout`):
/// where its requests go, and its events.
pub(crate) async fn open_attach(
    client: &mut ProcessesClient<Channel>,
    pid: Gpid,
    replay: bool,
    without_stdout: bool,
) -> Result<(mpsc::Sender<AttachRequest>, tonic::Streaming<AttachEvent>), TerminalError> {
    let (req_tx, req_rx) = mpsc::channel::<AttachRequest>(16);
    let start = AttachRequest {
        request: Some(attach_request::Request::Start(AttachStart {
            pid: pid.as_raw(),
            replay,
            without_stdout,
            spawn: None,
        })),
    };
    // Cannot fail: the receiver is alive and the channel empty.
    let _ = req_tx.try_send(start);
    let attach = tokio::time::timeout(RPC_TIMEOUT, client.attach(ReceiverStream::new(req_rx)))
        .await
        .map_err(|_| TerminalError::Lost {
            pid,
            why: format!("no answer to attach within {RPC_TIMEOUT:?}"),
        })?
        .map_err(|s| TerminalError::rpc("attach", pid, &s))?;
    Ok((req_tx, attach.into_inner()))
}

/// What became of a process whose attachment broke.
enum Reattached {
    /// It ended (its last output relayed).
    Ended(Outcome),
    /// It runs, attached again.
    Attached(
        mpsc::Sender<AttachRequest>,
        Box<tonic::Streaming<AttachEvent>>,
    ),
}

/// After an attachment broke without an exit (its node or the caller's
/// node restarting): until [`GIVE_UP_AFTER`], asks how the process is
/// and attaches again, relaying the output written meanwhile from where
/// `relayed` stands; a process that ended meanwhile gives its outcome
/// once its output is relayed.
async fn reattach(
    client: &mut ProcessesClient<Channel>,
    pid: Gpid,
    relayed: &mut Offsets,
    out: &mut OutputPump,
) -> Result<Reattached, TerminalError> {
    let deadline = Instant::now() + GIVE_UP_AFTER;
    loop {
        let tried = match get(client, pid, RPC_TIMEOUT).await {
            Ok(info) => match Outcome::of_finished(&info) {
                Some(outcome) => catch_up(client, pid, *relayed, out)
                    .await
                    .map(|r| (r, Reattached::Ended(outcome))),
                None => match open_attach(client, pid, false, false).await {
                    // Attached first, then what was written before it:
                    // nothing falls between (repeats are trimmed).
                    Ok((tx, events)) => catch_up(client, pid, *relayed, out)
                        .await
                        .map(|r| (r, Reattached::Attached(tx, Box::new(events)))),
                    Err(e) => Err(e),
                },
            },
            Err(e) => Err(e),
        };
        match tried {
            Ok((now, reattached)) => {
                *relayed = now;
                return Ok(reattached);
            }
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(REATTACH_EVERY).await,
        }
    }
}

/// The part of `chunk` not relayed yet, advancing `relayed` past it: the
/// attachment after a catch-up (`Start::After`) may repeat bytes. A chunk
/// past `relayed` (output not relayed before it rotated away, or a `Start`
/// that skips the past) is relayed from its own offset.
pub(crate) fn trim(chunk: &OutputChunk, relayed: &mut u64) -> Option<Vec<u8>> {
    let end = chunk.offset + chunk.data.len() as u64;
    if end <= *relayed {
        return None;
    }
    let from = relayed.saturating_sub(chunk.offset) as usize;
    *relayed = end;
    Some(chunk.data[from..].to_vec())
}

fn resize(size: TerminalSize) -> AttachRequest {
    AttachRequest {
        request: Some(attach_request::Request::Resize(size)),
    }
}

async fn recv_input(stdin: &mut Option<StdinPump>) -> Option<In> {
    match stdin {
        Some(pump) => pump.rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Relays both streams from `from` to their current ends (no follow).
async fn catch_up(
    client: &mut ProcessesClient<Channel>,
    pid: Gpid,
    from: Offsets,
    out: &mut OutputPump,
) -> Result<Offsets, TerminalError> {
    let mut relayed = from;
    for stream in [OutputStream::Stdout, OutputStream::Stderr] {
        let position = match stream {
            OutputStream::Stdout => &mut relayed.stdout,
            OutputStream::Stderr => &mut relayed.stderr,
        };
        let req = ReadOutputRequest {
            pid: pid.as_raw(),
            stream: stream as i32,
            offset: *position,
            follow: false,
        };
        let lost = |why: String| TerminalError::Lost { pid, why };
        let mut chunks = tokio::time::timeout(RPC_TIMEOUT, client.read_output(req))
            .await
            .map_err(|_| lost(format!("no output within {RPC_TIMEOUT:?}")))?
            .map_err(|s| TerminalError::rpc("read output of", pid, &s))?
            .into_inner();
        while let Some(chunk) = tokio::time::timeout(RPC_TIMEOUT, chunks.message())
            .await
            .map_err(|_| lost(format!("no output within {RPC_TIMEOUT:?}")))?
            .map_err(|s| TerminalError::rpc("read output of", pid, &s))?
        {
            if let Some(data) = trim(&chunk, position) {
                out.send(match stream {
                    OutputStream::Stdout => Out::Stdout(data),
                    OutputStream::Stderr => Out::Stderr(data),
                })
                .await;
            }
        }
    }
    Ok(relayed)
}

async fn get(
    client: &mut ProcessesClient<Channel>,
    pid: Gpid,
    timeout: Duration,
) -> Result<ProcessInfo, TerminalError> {
    let req = GetRequest {
        pid: pid.as_raw(),
        with_env: false,
    };
    match tokio::time::timeout(timeout, client.get(req)).await {
        Ok(Ok(reply)) => Ok(reply.into_inner()),
        Ok(Err(status)) => Err(TerminalError::rpc("get", pid, &status)),
        Err(_) => Err(TerminalError::Lost {
            pid,
            why: format!("no answer within {timeout:?}"),
        }),
    }
}

/// Tells the process's node that the reader of its stdout is gone
/// (CloseStdout; a node from before it is asked for SIGPIPE instead).
async fn close_stdout(
    client: &mut ProcessesClient<Channel>,
    pid: Gpid,
) -> Result<(), TerminalError> {
    let req = proto::v1::CloseStdoutRequest { pid: pid.as_raw() };
    match tokio::time::timeout(RPC_TIMEOUT, client.close_stdout(req)).await {
        Ok(Err(status)) if status.code() == tonic::Code::Unimplemented => {
            send_signal(client, pid, Signal::SIGPIPE).await
        }
        answer => settled("close stdout", pid, answer),
    }
}

/// What a call about `pid` came to: a process already gone is fine.
fn settled<T>(
    what: &'static str,
    pid: Gpid,
    answer: Result<Result<T, tonic::Status>, tokio::time::error::Elapsed>,
) -> Result<(), TerminalError> {
    match answer {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(status)) if status.code() == tonic::Code::NotFound => Ok(()),
        Ok(Err(status)) => Err(TerminalError::rpc(what, pid, &status)),
        Err(_) => Err(TerminalError::Lost {
            pid,
            why: format!("no answer to {what} within {RPC_TIMEOUT:?}"),
        }),
    }
}

/// Sends `signal` to the process's group (SIGCONT on resume, forwarded
/// signals). A process that has just finished is not an error.
async fn send_signal(
    client: &mut ProcessesClient<Channel>,
    pid: Gpid,
    signal: Signal,
) -> Result<(), TerminalError> {
    let req = SignalRequest {
        pid: pid.as_raw(),
        signal: signal as i32,
    };
    settled(
        "signal",
        pid,
        tokio::time::timeout(RPC_TIMEOUT, client.signal(req)).await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(offset: u64, data: &[u8]) -> OutputChunk {
        OutputChunk {
            offset,
            data: data.to_vec(),
        }
    }

    #[test]
    fn trim_skips_what_was_relayed_and_goes_on_after_gaps() {
        let mut at = 0;
        assert_eq!(trim(&chunk(0, b"abc"), &mut at), Some(b"abc".to_vec()));
        assert_eq!(at, 3);
        assert_eq!(trim(&chunk(0, b"abc"), &mut at), None);
        assert_eq!(trim(&chunk(2, b"cde"), &mut at), Some(b"de".to_vec()));
        assert_eq!(at, 5);
        assert_eq!(trim(&chunk(9, b"xy"), &mut at), Some(b"xy".to_vec()));
        assert_eq!(at, 11);
    }

    #[test]
    fn statuses_follow_bash() {
        assert_eq!(Outcome::Exited(3).status(), 3);
        let killed = Outcome::Signaled {
            signal: 15,
            core_dumped: false,
        };
        assert_eq!(killed.status(), 143);
        assert_eq!(Outcome::Stopped(Offsets::default()).status(), 148);
    }

    #[test]
    fn a_write_error_fails_a_command_that_did_not_fail_itself() {
        assert_eq!(Outcome::Exited(0).after_a_write_error(), Outcome::Exited(1));
        let sigpipe = Outcome::Signaled {
            signal: libc::SIGPIPE,
            core_dumped: false,
        };
        assert_eq!(sigpipe.after_a_write_error(), Outcome::Exited(1));
        assert_eq!(Outcome::Exited(3).after_a_write_error(), Outcome::Exited(3));
        let killed = Outcome::Signaled {
            signal: libc::SIGTERM,
            core_dumped: false,
        };
        assert_eq!(killed.clone().after_a_write_error(), killed);
    }

    #[test]
    fn finished_states_become_outcomes() {
        let info = |state: ProcessState| ProcessInfo {
            state: state as i32,
            exit_code: Some(4),
            signal: Some(9),
            ..ProcessInfo::default()
        };
        assert_eq!(
            Outcome::of_finished(&info(ProcessState::Exited)),
            Some(Outcome::Exited(4))
        );
        assert_eq!(
            Outcome::of_finished(&info(ProcessState::Killed)),
            Some(Outcome::Signaled {
                signal: 9,
                core_dumped: false
            })
        );
        assert_eq!(Outcome::of_finished(&info(ProcessState::Running)), None);
        assert_eq!(Outcome::of_finished(&info(ProcessState::Stopped)), None);
    }
}
