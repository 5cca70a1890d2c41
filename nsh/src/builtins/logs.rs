//! `logs [-f] [--stderr] PID|%N`: a process's captured stdout (or stderr)
//! from its first byte kept, through the `ReadOutput` RPC, written to the
//! shell's stdout so that `logs PID | grep x` works. With `-f` it follows
//! new output until the process's output is closed (it and every holder of
//! its output have exited) or Ctrl-C; for a process started with output
//! backpressure a follower is a consumer that lets it go on.
//!
//! Also the PID argument parsing that `attach` shares.

use proto::Gpid;
use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::Parser;
use proto::v1::{OutputStream, ReadOutputRequest};
use tokio_stream::StreamExt;

use crate::client::{CALL_TIMEOUT, ClientError};
use crate::shell::{Shell, Status};
use crate::signals;

#[derive(Parser, Debug)]
#[command(name = "logs", disable_help_flag = true, disable_version_flag = true)]
struct Args {
    /// Follow new output until the process's output is closed.
    #[arg(short = 'f', long = "follow")]
    follow: bool,
    /// Standard error instead of standard output.
    #[arg(long)]
    stderr: bool,
    /// A cluster PID or a job spec.
    #[arg(value_name = "PID")]
    pid: String,
}

/// How often a follower looks at Ctrl-C while no output comes.
const POLL: Duration = Duration::from_millis(200);

/// Resolves a `PID` argument: a cluster PID, or a job spec `%N` naming the
/// job's last cluster process. Errors are worded for `nsh: NAME: ...`.
pub(crate) fn target_pid(shell: &Shell, name: &str, spec: &str) -> Result<Gpid, String> {
    if spec.starts_with('%') {
        let table = shell
            .jobs
            .lock()
            .map_err(|_| "job table poisoned".to_string())?;
        let job = table
            .resolve(spec)
            .and_then(|id| table.jobs.iter().find(|j| j.id == id))
            .ok_or_else(|| format!("{name}: {spec}: no such job"))?;
        return match Gpid::from_raw(job.leader.into()) {
            Ok(leader) => Ok(leader),
            Err(_) => job
                .pids()
                .last()
                .copied()
                .ok_or_else(|| format!("{name}: {spec}: the job has no cluster process")),
        };
    }
    match spec.parse::<i32>() {
        // A number that is no cluster PID names no process of the cluster.
        Ok(pid) if pid > 0 => {
            Gpid::from_raw(pid.into()).map_err(|_| format!("{name}: ({pid}) - No such process"))
        }
        _ => Err(format!(
            "{name}: {spec}: arguments must be process or job IDs"
        )),
    }
}

/// Words a failed call about `pid` like `kill` does for a missing one.
pub(crate) fn pid_error(name: &str, pid: Gpid, e: &ClientError) -> String {
    if e.is_not_found() {
        format!("{name}: ({pid}) - No such process")
    } else {
        format!("{name}: {pid}: {e}")
    }
}

fn status_error(status: &tonic::Status) -> ClientError {
    if status.code() == tonic::Code::NotFound {
        ClientError::Status {
            code: tonic::Code::NotFound,
            reason: proto::reason_of(status),
            message: format!("not found: {}", status.message()),
        }
    } else {
        ClientError::from_status(status)
    }
}

/// The `logs` builtin.
pub fn logs(shell: &mut Shell, args: Vec<String>) -> Status {
    let args: Args = match super::parse(shell, "logs", args) {
        Ok(a) => a,
        Err(status) => return Ok(status),
    };
    let pid = match target_pid(shell, "logs", &args.pid) {
        Ok(p) => p,
        Err(e) => {
            shell.error(e);
            return Ok(1);
        }
    };
    let client = match shell.client_for("logs") {
        Ok(c) => c,
        Err(status) => return Ok(status),
    };
    // A stream that went to the shell's own descriptor was never captured:
    // say so rather than show nothing.
    if let Ok(info) = client.get(pid) {
        let (inherited, name) = if args.stderr {
            (info.stderr_inherited, "stderr")
        } else {
            (info.stdout_inherited, "stdout")
        };
        if inherited {
            shell.error(format!(
                "logs: {pid}: its {name} went straight to the shell's file or pipe, not to a log: nothing was captured"
            ));
            return Ok(1);
        }
    }
    let request = ReadOutputRequest {
        pid: pid.as_raw(),
        stream: if args.stderr {
            OutputStream::Stderr as i32
        } else {
            OutputStream::Stdout as i32
        },
        offset: 0,
        follow: args.follow,
    };
    let mut api = client.processes();
    let opened = client
        .block_on(async { tokio::time::timeout(CALL_TIMEOUT, api.read_output(request)).await });
    let mut stream = match opened {
        Ok(Ok(reply)) => reply.into_inner(),
        Ok(Err(status)) => {
            shell.error(pid_error("logs", pid, &status_error(&status)));
            return Ok(1);
        }
        Err(_) => {
            shell.error(pid_error("logs", pid, &ClientError::Timeout(CALL_TIMEOUT)));
            return Ok(1);
        }
    };
    // Without -f the whole answer is already there: a pause as long as a
    // call's timeout means the node is gone.
    let mut idle = Duration::ZERO;
    loop {
        if args.follow && signals::INTERRUPTED.load(Ordering::SeqCst) {
            return Ok(130);
        }
        let next = client.block_on(async { tokio::time::timeout(POLL, stream.next()).await });
        match next {
            Ok(Some(Ok(chunk))) => {
                idle = Duration::ZERO;
                if shell.fds.write(1, &chunk.data).is_err() {
                    // The reader went away (`logs -f PID | head`).
                    return Ok(1);
                }
            }
            Ok(Some(Err(status))) => {
                shell.error(pid_error("logs", pid, &status_error(&status)));
                return Ok(1);
            }
            Ok(None) => return Ok(0),
            Err(_) => {
                idle += POLL;
                if !args.follow && idle >= CALL_TIMEOUT {
                    shell.error(pid_error("logs", pid, &ClientError::Timeout(CALL_TIMEOUT)));
                    return Ok(1);
                }
            }
        }
    }
}
