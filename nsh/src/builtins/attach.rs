//! `attach [-r] [--no-stdin] PID|%N`: reattach to a running cluster
//! process through the `Attach` RPC, as a plain stream (no terminal mode):
//! its stdout and stderr go to the shell's, the shell's stdin goes to it
//! (when it has a stdin pipe or a terminal, and until end of input, which
//! closes its stdin), Ctrl-C and Ctrl-Z act on it as on a foreground
//! command, and the status is its exit status. Without `-r` only output
//! not yet delivered comes; with it, the output captured so far first.
//!

use clap::Parser;
use proto::v1::ProcessState;

use crate::io::Fd;
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
    let client = match shell.client_for("attach") {
        Ok(c) => c,
        Err(status) => return Ok(status),
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
    match remote::attach_process(
        &client,
        pid,
        remote::Attach {
            replay: args.replay,
            stdin,
            stdout: Some(stdout),
            stdout_via_node: None,
            stderr,
        },
        &tracker,
    ) {
        Ok(member) => shell.wait_foreground(vec![member], &super::ps::command(&info)),
        Err(e) => {
            shell.error(super::logs::pid_error("attach", pid, &e));
            Ok(1)
        }
    }
}
