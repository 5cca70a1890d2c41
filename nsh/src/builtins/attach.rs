//! `attach [-r] [--no-stdin] PID|%N`: reattach to a running cluster
//! process through the `Attach` RPC, as a plain stream (no terminal mode):
//! its stdout and stderr go to the shell's, the shell's stdin goes to it
//! (when it has a stdin pipe or a terminal, and until end of input, which
//! closes its stdin), Ctrl-C and Ctrl-Z act on it as on a foreground
//! command, and the status is its exit status. Without `-r` only output
//! not yet delivered comes; with it, the output captured so far first.
//!
//! Also [`attach_process`], the attachment `run` uses for the process it
//! starts.

use std::os::fd::AsFd;

use clap::Parser;
use proto::v1::{
    AttachEvent, AttachRequest, AttachStart, ProcessState, attach_event, attach_request,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::client::{CALL_TIMEOUT, Client, ClientError};
use crate::io::{self, Fd};
use crate::jobs::{ExitCell, JobTracker, Member};
use crate::remote;
use crate::shell::{Shell, Status};

#[derive(Parser, Debug)]
#[command(name = "attach", disable_help_flag = true, disable_version_flag = true)]
struct Args {
    /// Send the output captured so far first.
    #[arg(short = 'r', long = "replay")]
    replay: bool,
    /// Do not connect the shell's stdin to the process.
    #[arg(long = "no-stdin")]
    no_stdin: bool,
    /// A cluster PID or a job spec.
    #[arg(value_name = "PID")]
    pid: String,
}

/// Attaches to process `pid`: one thread copies its output to `stdout`
/// and `stderr` (blocking when they are full, so a slow reader slows a
/// process that has output backpressure), one streams `stdin` to it. The
/// returned member's exit cell gets its exit status. The process is
/// recorded with `tracker`, so Ctrl-C and Ctrl-Z reach it in the
/// foreground and `kill %N` in the background.
pub(crate) fn attach_process(
    client: &Client,
    pid: i32,
    replay: bool,
    stdin: Option<Fd>,
    stdout: Fd,
    stderr: Fd,
    tracker: &JobTracker,
) -> Result<Member, ClientError> {
    let (tx, rx) = mpsc::channel::<AttachRequest>(8);
    let start = AttachRequest {
        request: Some(attach_request::Request::Start(AttachStart { pid, replay })),
    };
    // The channel is new and has room: this cannot fail.
    let _ = tx.try_send(start);
    let mut api = client.processes();
    let opened = client.block_on(async move {
        tokio::time::timeout(CALL_TIMEOUT, api.attach(ReceiverStream::new(rx))).await
    });
    let stream = match opened {
        Ok(Ok(reply)) => reply.into_inner(),
        Ok(Err(status)) if status.code() == tonic::Code::NotFound => {
            return Err(ClientError::Status(format!(
                "not found: {}",
                status.message()
            )));
        }
        Ok(Err(status)) => return Err(ClientError::from_status(&status)),
        Err(_) => return Err(ClientError::Timeout(CALL_TIMEOUT)),
    };
    crate::signals::set_client(client);
    tracker.started(pid);
    let exit = ExitCell::default();
    {
        let client = client.clone();
        let exit = exit.clone();
        let tracker = tracker.clone();
        std::thread::Builder::new()
            .name(format!("attach-{pid}"))
            .spawn(move || {
                let status = pump_output(&client, pid, stream, &stdout, &stderr);
                tracker.ended(pid);
                exit.set(status);
            })
            .map_err(|e| ClientError::Status(format!("cannot start a thread: {e}")))?;
    }
    if let Some(input) = stdin {
        let exit = exit.clone();
        std::thread::Builder::new()
            .name(format!("attach-in-{pid}"))
            .spawn(move || pump_input(&input, &tx, &exit))
            .map_err(|e| ClientError::Status(format!("cannot start a thread: {e}")))?;
    }
    Ok(Member {
        pid: Some(pid),
        exit,
    })
}

/// Copies the process's output to the shell's fds until it exits; returns
/// its status.
fn pump_output(
    client: &Client,
    pid: i32,
    mut stream: tonic::Streaming<AttachEvent>,
    stdout: &Fd,
    stderr: &Fd,
) -> i32 {
    let mut broken_pipe = false;
    while let Ok(Some(event)) = client.block_on(stream.message()) {
        match event.event {
            Some(attach_event::Event::Stdout(chunk))
                if !broken_pipe && io::write_all(stdout.file.as_fd(), &chunk.data).is_err() =>
            {
                // Like a pipe whose reader is gone: the writer gets SIGPIPE.
                broken_pipe = true;
                let _ = client.signal(pid, libc::SIGPIPE);
            }
            Some(attach_event::Event::Stdout(_)) => {}
            Some(attach_event::Event::Stderr(chunk)) => {
                let _ = io::write_all(stderr.file.as_fd(), &chunk.data);
            }
            Some(attach_event::Event::Exit(info)) => return remote::status_of(&info),
            Some(attach_event::Event::Error(message)) => {
                let line = format!("nsh: {pid}: {message}\n");
                let _ = io::write_all(stderr.file.as_fd(), line.as_bytes());
            }
            None => {}
        }
    }
    // The stream broke (node gone, connection lost): ask for the end.
    remote::wait_exit(client, pid)
}

/// Streams the input fd to the process until end of file (which closes
/// its stdin) or its exit.
fn pump_input(input: &Fd, tx: &mpsc::Sender<AttachRequest>, exit: &ExitCell) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if exit.get().is_some() {
            return;
        }
        let mut pfd = [nix::poll::PollFd::new(
            input.file.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(200u16)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(_) => break,
        }
        match io::read(input.file.as_fd(), &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let chunk = AttachRequest {
                    request: Some(attach_request::Request::Stdin(buf[..n].to_vec())),
                };
                if tx.blocking_send(chunk).is_err() {
                    return;
                }
            }
        }
    }
    let _ = tx.blocking_send(AttachRequest {
        request: Some(attach_request::Request::StdinEof(true)),
    });
}

/// The shell's stdin for a process it attaches to, unless it belongs to a
/// loop (`while read`) or is the terminal of a background job.
pub(crate) fn shell_stdin(shell: &Shell) -> Option<Fd> {
    let fd = shell.fds.get(0)?;
    let no_input = (fd.loop_input && !shell.stdin_is_own)
        || (!shell.tracker.is_foreground() && fd.is_terminal());
    (!no_input).then(|| fd.clone())
}

/// The shell's stdout and stderr, or the error for a closed one.
pub(crate) fn shell_output(shell: &Shell, name: &str) -> Result<(Fd, Fd), String> {
    match (shell.fds.get(1), shell.fds.get(2)) {
        (Some(out), Some(err)) => Ok((out.clone(), err.clone())),
        _ => Err(format!("{name}: stdout or stderr is closed")),
    }
}

/// The `attach` builtin.
pub fn attach(shell: &mut Shell, args: Vec<String>) -> Status {
    let args: Args = match super::parse(shell, "attach", args) {
        Ok(a) => a,
        Err(status) => return Ok(status),
    };
    let pid = match super::logs::target_pid(shell, "attach", &args.pid) {
        Ok(p) => p,
        Err(e) => {
            shell.error(e);
            return Ok(1);
        }
    };
    let client = match shell.client() {
        Ok(c) => c.clone(),
        Err(e) => {
            shell.error(format!("attach: {e}"));
            return Ok(1);
        }
    };
    let info = match client.get(pid) {
        Ok(info) => info,
        Err(e) => {
            shell.error(super::logs::pid_error("attach", pid, &e));
            return Ok(1);
        }
    };
    if !matches!(
        ProcessState::try_from(info.state),
        Ok(ProcessState::Running | ProcessState::Stopped)
    ) {
        shell.error(format!("attach: {pid}: the process has ended"));
        return Ok(1);
    }
    let (stdout, stderr) = match shell_output(shell, "attach") {
        Ok(fds) => fds,
        Err(e) => {
            shell.error(e);
            return Ok(1);
        }
    };
    let stdin = if args.no_stdin || !(info.stdin_pipe || info.tty) {
        None
    } else {
        shell_stdin(shell)
    };
    let tracker = shell.tracker.clone();
    match attach_process(&client, pid, args.replay, stdin, stdout, stderr, &tracker) {
        Ok(member) => shell.wait_foreground(vec![member], &super::ps::command(&info)),
        Err(e) => {
            shell.error(super::logs::pid_error("attach", pid, &e));
            Ok(1)
        }
    }
}
