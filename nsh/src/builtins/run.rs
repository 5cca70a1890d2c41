//! `run [-n NODE] [--name NAME] [-e K=V]... [--cwd DIR] [-d] [-t] -- CMD...`:
//! the long form of starting a cluster process, with every `SpawnRequest`
//! field a plain command line cannot give.
//!
//! Without `-d` the process is a foreground command: its output streams to
//! the shell's stdout and stderr, the shell's stdin streams to it, Ctrl-C
//! and Ctrl-Z act on it, and the status is its exit status. With `-d` it is
//! detached: stdin is /dev/null, its output is only captured (see `logs`),
//! its cluster PID is printed and becomes `$!`, and `run` returns at once.
//!
//! `-t` gives it a pseudo-terminal of the shell's terminal's size; the
//! shell's side stays a plain stream (the terminal is not put in raw mode).
//! The environment is the shell's exported variables plus `-e`; the
//! working directory defaults to the shell's, and a relative `--cwd` is
//! taken from the shell's.

use proto::Gpid;
use std::os::fd::AsRawFd;

use clap::Parser;
use proto::v1::{SpawnRequest, StdinMode, TerminalSize};

use crate::remote;
use crate::shell::{Shell, Status};

#[derive(Parser, Debug)]
#[command(name = "run", disable_help_flag = true, disable_version_flag = true)]
pub(super) struct Args {
    /// Where to run: a node name or `@any`; default the shell's node.
    #[arg(short = 'n', long = "node", value_name = "NODE")]
    pub(super) node: Option<String>,
    /// A name shown by `ps -o name` and in /nefele.
    #[arg(long, value_name = "NAME")]
    pub(super) name: Option<String>,
    /// An environment variable, added to the exported ones.
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    pub(super) env: Vec<String>,
    /// Working directory on the node.
    #[arg(long, value_name = "DIR")]
    pub(super) cwd: Option<String>,
    /// Detached: print the PID and return at once.
    #[arg(short = 'd', long = "detach")]
    pub(super) detach: bool,
    /// With a pseudo-terminal.
    #[arg(short = 't', long = "tty")]
    pub(super) tty: bool,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, value_name = "CMD")]
    pub(super) cmd: Vec<String>,
}

/// The size of the terminal on `fd`, if it is one.
pub(crate) fn terminal_size(fd: &impl AsRawFd) -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ only writes the `winsize` we own; a zeroed one is
    // a valid value of this plain C struct.
    let size = unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        if libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut size) != 0 {
            return None;
        }
        size
    };
    (size.ws_row > 0 && size.ws_col > 0).then_some((size.ws_row, size.ws_col))
}

/// The `run` builtin.
pub fn run(shell: &mut Shell, args: Vec<String>) -> Status {
    let args: Args = match super::parse(shell, "run", args) {
        Ok(a) => a,
        Err(status) => return Ok(status),
    };
    start(shell, args, "run", &mut |_, _| Ok(()))
}

/// Starts `args.cmd` as `run` does, calls `started` with its PID once it
/// exists (an error there kills it and fails), then waits for it unless
/// detached. `what` names the builtin in messages.
pub(super) fn start(
    shell: &mut Shell,
    args: Args,
    what: &str,
    started: &mut dyn FnMut(&crate::client::Client, Gpid) -> Result<(), String>,
) -> Status {
    let mut env = shell.environment();
    for pair in &args.env {
        let Some((key, value)) = pair.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            shell.error(format!("{what}: -e {pair}: expected K=V"));
            return super::usage(shell, what);
        };
        env.retain(|(k, _)| k != key);
        env.push((key.to_string(), value.to_string()));
    }
    let cwd = match &args.cwd {
        Some(dir) => shell.cwd.join(dir),
        None => shell.cwd.clone(),
    };
    let tty = args.tty.then(|| {
        let size = [1, 0]
            .into_iter()
            .filter_map(|n| shell.fds.get(n))
            .find_map(|fd| terminal_size(&*fd.file));
        let (rows, cols) = size.unwrap_or((0, 0));
        TerminalSize {
            rows: rows.into(),
            cols: cols.into(),
        }
    });
    let stdin = if args.detach {
        None
    } else {
        super::attach::shell_stdin(shell)
    };
    let (stdout, stderr) = match super::attach::shell_output(shell, what) {
        Ok(fds) => fds,
        Err(e) => {
            shell.error(e);
            return Ok(1);
        }
    };
    let client = match shell.client_for(what) {
        Ok(c) => c,
        Err(status) => return Ok(status),
    };
    let request = SpawnRequest {
        argv: args.cmd.clone(),
        env: env.into_iter().collect(),
        cwd: cwd.to_string_lossy().into_owned(),
        node: args.node.clone().unwrap_or_default(),
        name: args.name.clone().unwrap_or_default(),
        tty,
        stdin: if stdin.is_some() {
            StdinMode::Pipe as i32
        } else {
            StdinMode::Null as i32
        },
        // An attached shell reads every byte, so the process may block like
        // a pipe writer; a detached one has no reader and must not.
        output_backpressure: !args.detach,
        umask: Some(crate::io::umask()),
        ..SpawnRequest::default()
    };
    let pid = match client.spawn(request) {
        Ok((pid, _)) => pid,
        Err(e) => {
            let (message, status) =
                remote::spawn_failure(args.node.as_deref().unwrap_or(""), &args.cmd[0], &e);
            shell.error(format!("{what}: {message}"));
            return Ok(status);
        }
    };
    if let Err(e) = started(&client, pid) {
        let _ = client.signal(pid, libc::SIGKILL);
        shell.error(format!("{what}: {e}"));
        return Ok(1);
    }
    if args.detach {
        shell.last_background = Some(pid.as_raw());
        if let Err(e) = shell.out(&format!("{pid}\n")) {
            shell.error(format!("{what}: write error: {e}"));
            return Ok(1);
        }
        return Ok(0);
    }
    let tracker = shell.tracker.clone();
    match crate::remote::attach_process(
        &client,
        pid,
        crate::remote::Attach {
            replay: true,
            stdin,
            stdout: Some(stdout),
            stdout_via_node: None,
            stderr,
        },
        &tracker,
    ) {
        Ok(member) => shell.wait_foreground(vec![member], &args.cmd.join(" ")),
        Err(e) => {
            shell.error(format!("{what}: {pid}: cannot attach: {e}"));
            Ok(1)
        }
    }
}
