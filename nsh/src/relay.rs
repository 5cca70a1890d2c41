//! `nsh @NODE CMD [ARGS...]` (SPEC §3): runs one command on a node as if
//! it were a local child, for bash, zsh and their scripts.
//!
//! - With a terminal on stdin and stdout, the process gets a remote
//!   terminal of the same size and the local one goes raw, so keys
//!   (Ctrl-C, Ctrl-\, Ctrl-Z) act remotely. Otherwise stdin is piped (end of
//!   file relayed) and stdout and stderr stay separate.
//! - SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 that nsh gets
//!   are forwarded. A remote stop (Ctrl-Z) stops nsh too (SIGTSTP, default
//!   action), so the calling shell sees a stopped job; when nsh is
//!   continued, so is the remote process.
//! - The exit status is relayed: exit code N gives exit N; death by signal
//!   S makes nsh die by S (so `while :; do nsh @n2 sleep 10; done` stops on
//!   Ctrl-C, and `$?` is 128+S).
//! - Errors print `nsh: WHAT: WHY` with bash's statuses: 127 for a command
//!   not found, 126 for one that cannot run, 1 for an unknown node, 2 for a
//!   usage error, 255 when the cluster cannot be reached (as ssh).
//!
//! The remote process is started by noded. The only local child is the
//! command of `nsh @local CMD`, which replaces nsh (exec) with a clean
//! signal mask ([`crate::terminal::reset_signal_mask`]).
//!
//! Called by `main.rs` for argument lists that start with `@`.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use nix::sys::signal::Signal;
use proto::v1::processes_client::ProcessesClient;
use proto::v1::{SpawnRequest, StdinMode};
use proto::{Addr, Gpid, Reason};
use tonic::Code;

use crate::terminal::{
    self, Foreground, Outcome, RawMode, SignalRelay, Start, TerminalError, is_terminal, window_size,
};

/// Signals nsh forwards to the remote process. SIGTSTP too: without a
/// remote terminal, Ctrl-Z reaches nsh as SIGTSTP and must stop the remote
/// process (which then stops nsh).
pub const FORWARDED_SIGNALS: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGTSTP,
];

/// How long Spawn may take.
const SPAWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Where `@NODE` says to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A node by name.
    Node(String),
    /// `@any`: the cluster chooses.
    Any,
    /// `@all`: once on every node (not supported by `nsh @NODE`).
    All,
    /// `@local`: on this machine, as an ordinary child.
    Local,
}

impl Target {
    /// Parses `@NODE` (with or without the `@`).
    pub fn parse(word: &str) -> Result<Target, RelayError> {
        let name = word.strip_prefix('@').unwrap_or(word);
        Ok(match name {
            "" => return Err(RelayError::Usage("@: missing node name".into())),
            "any" => Target::Any,
            "all" => Target::All,
            "local" => Target::Local,
            _ => Target::Node(name.to_string()),
        })
    }

    /// The name after `@`, for messages.
    fn label(&self) -> String {
        self.spawn_node().trim_start_matches('@').to_string()
    }

    /// The `node` field of a SpawnRequest.
    fn spawn_node(&self) -> String {
        match self {
            Target::Node(name) => name.clone(),
            Target::Any => "@any".into(),
            Target::All => "@all".into(),
            Target::Local => "@local".into(),
        }
    }
}

/// Why `nsh @NODE CMD` could not run CMD; [`RelayError::status`] is nsh's
/// exit status for it.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Bad command line.
    #[error("{0}")]
    Usage(String),
    /// The node is not a member of the cluster.
    #[error("@{0}: no such node")]
    NoSuchNode(String),
    /// CMD was not found (in PATH, or at the path given).
    #[error("{cmd}: {why}")]
    NotFound {
        /// argv[0].
        cmd: String,
        /// "command not found" or "No such file or directory", as bash.
        why: &'static str,
    },
    /// CMD exists but cannot be run.
    #[error("{cmd}: {why}")]
    CannotExecute {
        /// argv[0].
        cmd: String,
        /// "Permission denied", "Is a directory", ...
        why: String,
    },
    /// The node refused the spawn for another reason.
    #[error("@{node}: {message}")]
    Spawn {
        /// The node asked for.
        node: String,
        /// The status code.
        code: Code,
        /// The node's message.
        message: String,
    },
    /// No node answers at the address.
    #[error(transparent)]
    Connect(#[from] proto::ConnectError),
    /// No address to talk to.
    #[error(transparent)]
    Addr(#[from] proto::AddrError),
    /// Relaying failed after the process started.
    #[error(transparent)]
    Terminal(#[from] TerminalError),
    /// A local system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What nsh was doing.
        what: &'static str,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}

impl RelayError {
    /// nsh's exit status for this error, following bash (and ssh for a
    /// cluster that cannot be reached).
    pub fn status(&self) -> i32 {
        match self {
            RelayError::Usage(_) => 2,
            RelayError::NoSuchNode(_) => 1,
            RelayError::NotFound { .. } => 127,
            RelayError::CannotExecute { .. } => 126,
            RelayError::Spawn { code, .. } => match code {
                Code::Unavailable | Code::DeadlineExceeded | Code::Unknown | Code::Internal => 255,
                _ => 1,
            },
            RelayError::Addr(_) => 2,
            RelayError::Connect(_) | RelayError::Terminal(_) => 255,
            RelayError::Io { .. } => 1,
        }
    }

    fn io(what: &'static str) -> impl FnOnce(io::Error) -> RelayError {
        move |source| RelayError::Io { what, source }
    }
}

/// Turns a Spawn failure into what bash would say.
fn spawn_error(target: &Target, argv0: &str, status: &tonic::Status) -> RelayError {
    classify_spawn_error(
        &target.label(),
        argv0,
        status.code(),
        proto::reason_of(status),
        status.message(),
    )
}

/// What a Spawn of `argv0` on `node` that failed with `code`, `reason`
/// and `message` means, as bash would say it (the interpreter words its
/// spawn errors the same way).
pub fn classify_spawn_error(
    node: &str,
    argv0: &str,
    code: Code,
    reason: Option<Reason>,
    message: &str,
) -> RelayError {
    match (code, reason) {
        (_, Some(Reason::NoSuchNode)) => RelayError::NoSuchNode(node.to_string()),
        (_, Some(Reason::NoSuchExecutable)) => RelayError::NotFound {
            cmd: argv0.to_string(),
            why: if argv0.contains('/') {
                "No such file or directory"
            } else {
                "command not found"
            },
        },
        (_, Some(Reason::IsADirectory)) => RelayError::CannotExecute {
            cmd: argv0.to_string(),
            why: "Is a directory".into(),
        },
        (Code::PermissionDenied, _) => RelayError::CannotExecute {
            cmd: argv0.to_string(),
            why: "Permission denied".into(),
        },
        // Arguments and environment beyond what one request carries (4
        // MiB, above Linux's own 2 MiB for exec): what exec says.
        (_, _) if message.contains("message length too large") => RelayError::CannotExecute {
            cmd: argv0.to_string(),
            why: "Argument list too long".into(),
        },
        (code, _) => RelayError::Spawn {
            node: node.to_string(),
            code,
            message: message.to_string(),
        },
    }
}

/// `nsh @NODE CMD [ARGS...]`: what to run where.
#[derive(Clone, Debug)]
pub struct Relay {
    /// The node to talk to (`--addr`, `NEFELE_ADDR`, or the default socket).
    pub addr: Addr,
    /// Where to run.
    pub target: Target,
    /// The command and its arguments.
    pub argv: Vec<String>,
}

/// The SpawnRequest for running `argv` on `target` as if locally: this
/// process's environment (what is valid UTF-8) and working directory, a
/// terminal of `tty` size if given, else a stdin pipe.
pub fn spawn_request(
    target: &Target,
    argv: &[String],
    tty: Option<proto::v1::TerminalSize>,
) -> Result<SpawnRequest, RelayError> {
    let cwd =
        std::env::current_dir().map_err(RelayError::io("cannot get the working directory"))?;
    let cwd = cwd
        .to_str()
        .ok_or_else(|| RelayError::Usage(format!("{}: not a UTF-8 path", cwd.display())))?
        .to_string();
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    Ok(SpawnRequest {
        argv: argv.to_vec(),
        env,
        cwd,
        node: target.spawn_node(),
        stdin: if tty.is_some() {
            StdinMode::Null
        } else {
            StdinMode::Pipe
        } as i32,
        tty,
        umask: Some(crate::io::umask()),
        ..SpawnRequest::default()
    })
}

/// Runs the relay to the end: spawns, attaches, follows stops and
/// continues, and returns how the process ended (never `Stopped`).
pub async fn relay(relay: &Relay) -> Result<Outcome, RelayError> {
    let Some(argv0) = relay.argv.first() else {
        return Err(RelayError::Usage(format!(
            "@{}: missing command",
            relay.target.label()
        )));
    };
    match relay.target {
        Target::All => {
            return Err(RelayError::Usage(
                "@all: not supported by `nsh @NODE CMD`; run `nsh -c '@all CMD'`".into(),
            ));
        }
        Target::Local => {
            return Err(RelayError::Usage(
                "@local: runs on this machine, not through a node".into(),
            ));
        }
        Target::Node(_) | Target::Any => {}
    }
    // Before the spawn: a Ctrl-C from now on reaches the process.
    let mut signals = SignalRelay::new(FORWARDED_SIGNALS)?;
    let stdin = io::stdin();
    let stdout = io::stdout();
    let tty = is_terminal(stdin.as_fd()) && is_terminal(stdout.as_fd());
    let size = if tty {
        window_size(stdout.as_fd()).or(Some(proto::v1::TerminalSize::default()))
    } else {
        None
    };
    let mut request = spawn_request(&relay.target, &relay.argv, size)?;
    // `> /dev/null`: the process's own node's null device, so the output
    // does not cross the network to be dropped.
    request.stdout_null = !tty && crate::io::null_sink(stdout.as_fd());
    request.stderr_null = !tty && crate::io::null_sink(io::stderr().as_fd());
    let channel = proto::connect(&relay.addr).await?;
    let mut client = ProcessesClient::new(channel.clone());
    let info = tokio::time::timeout(SPAWN_TIMEOUT, client.spawn(request))
        .await
        .map_err(|_| RelayError::Spawn {
            node: relay.target.label(),
            code: Code::DeadlineExceeded,
            message: format!("no answer within {SPAWN_TIMEOUT:?}"),
        })?
        .map_err(|s| spawn_error(&relay.target, argv0, &s))?
        .into_inner();
    let pid = Gpid::from_raw(i64::from(info.pid)).map_err(|e| RelayError::Spawn {
        node: info.node.clone(),
        code: Code::Internal,
        message: e.to_string(),
    })?;

    let mut start = Start::Beginning;
    let mut resume = false;
    loop {
        let raw = if tty {
            Some(RawMode::enable(stdin.as_fd())?)
        } else {
            None
        };
        let foreground = Foreground {
            pid,
            stdin: Some(standard_fd(stdin.as_fd())),
            stdout: standard_fd(stdout.as_fd()),
            stderr: standard_fd(io::stderr().as_fd()),
            terminal: tty.then(|| standard_fd(stdout.as_fd())),
            start,
            resume,
        };
        let outcome = terminal::run_foreground(channel.clone(), foreground, &mut signals).await;
        drop(raw);
        match outcome? {
            Outcome::Stopped(offsets) => {
                // The remote process stopped: stop here too, so the calling
                // shell shows a stopped job; `fg` continues both.
                terminal::stop_self();
                start = Start::After(offsets);
                resume = true;
            }
            done => return Ok(done),
        }
    }
}

/// A duplicate of a standard fd for the relay; a closed one (`<&-`,
/// `>&-`) or one that cannot be duplicated stands for /dev/null, so the
/// relay never fails after the process is started.
fn standard_fd(fd: BorrowedFd<'_>) -> OwnedFd {
    fd.try_clone_to_owned()
        .or_else(|_| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
                .map(OwnedFd::from)
        })
        // Only when nsh is out of fds, where nothing else could work.
        .unwrap_or_else(|e| {
            eprintln!("nsh: cannot open /dev/null: {e}");
            std::process::exit(255)
        })
}

/// Ends nsh with the relayed outcome: exit code N → exit N, killed by S →
/// die by S, an error → `nsh: WHAT: WHY` and its status.
pub fn finish(result: Result<Outcome, RelayError>) -> ! {
    match result {
        Ok(Outcome::Exited(code)) => std::process::exit(code),
        Ok(Outcome::Signaled { signal, .. }) => terminal::kill_self(signal),
        Ok(Outcome::Lost(reason)) => {
            eprintln!("nsh: process lost: {reason}");
            std::process::exit(255)
        }
        // `relay` continues stopped processes; a caller that stops for
        // good reports it like bash's status for a stopped job.
        Ok(outcome @ Outcome::Stopped(_)) => std::process::exit(outcome.status()),
        Err(e) => {
            eprintln!("nsh: {e}");
            std::process::exit(e.status())
        }
    }
}

/// Replaces nsh with `argv` run locally (`nsh @local CMD`), with the
/// signal mask cleared. Returns only on failure.
pub fn exec_local(argv: &[String]) -> RelayError {
    use std::os::unix::process::CommandExt;
    let Some((program, args)) = argv.split_first() else {
        return RelayError::Usage("@local: missing command".into());
    };
    let mut command = std::process::Command::new(program);
    command.args(args);
    // SAFETY: reset_signal_mask only makes async-signal-safe calls.
    unsafe { command.pre_exec(terminal::reset_signal_mask) };
    let e = command.exec();
    match e.kind() {
        io::ErrorKind::NotFound => RelayError::NotFound {
            cmd: program.clone(),
            why: if program.contains('/') {
                "No such file or directory"
            } else {
                "command not found"
            },
        },
        _ => RelayError::CannotExecute {
            cmd: program.clone(),
            why: e.to_string(),
        },
    }
}

/// The whole of `nsh [--addr ADDR] @NODE CMD [ARGS...]`: never returns.
/// `addr` is `--addr`; without it `NEFELE_ADDR`, else the default socket.
pub fn main(addr: Option<&str>, node: &str, argv: Vec<String>) -> ! {
    let target = match Target::parse(node) {
        Ok(t) => t,
        Err(e) => finish(Err(e)),
    };
    if target == Target::Local {
        finish(Err(exec_local(&argv)));
    }
    let addr = match addr {
        Some(a) => a.parse::<Addr>(),
        None => proto::default_addr(),
    };
    let addr = match addr {
        Ok(a) => a,
        Err(e) => finish(Err(e.into())),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => finish(Err(RelayError::Io {
            what: "cannot start the async runtime",
            source: e,
        })),
    };
    let relay = Relay { addr, target, argv };
    let result = runtime.block_on(self::relay(&relay));
    // Threads still reading stdin must not keep nsh alive.
    runtime.shutdown_background();
    finish(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(Target::parse("@n2").unwrap(), Target::Node("n2".into()));
        assert_eq!(Target::parse("@any").unwrap(), Target::Any);
        assert_eq!(Target::parse("@all").unwrap(), Target::All);
        assert_eq!(Target::parse("@local").unwrap(), Target::Local);
        assert!(Target::parse("@").is_err());
        assert_eq!(Target::Any.spawn_node(), "@any");
    }

    #[test]
    fn spawn_errors_read_like_bash() {
        let node = Target::Node("n9".into());
        let e = spawn_error(
            &node,
            "ls",
            &Reason::NoSuchNode.mark(tonic::Status::not_found("no such node \"n9\"")),
        );
        assert_eq!(e.to_string(), "@n9: no such node");
        assert_eq!(e.status(), 1);
        let e = spawn_error(
            &node,
            "nope",
            &Reason::NoSuchExecutable.mark(tonic::Status::not_found(
                "no such executable: nope (not found in PATH=/bin)",
            )),
        );
        assert_eq!(e.to_string(), "nope: command not found");
        assert_eq!(e.status(), 127);
        let e = spawn_error(
            &node,
            "./x",
            &Reason::NoSuchExecutable.mark(tonic::Status::not_found("no such executable: /x")),
        );
        assert_eq!(e.to_string(), "./x: No such file or directory");
        let e = spawn_error(
            &node,
            "/tmp",
            &Reason::IsADirectory.mark(tonic::Status::permission_denied(
                "cannot execute /tmp: is a directory",
            )),
        );
        assert_eq!(e.to_string(), "/tmp: Is a directory");
        assert_eq!(e.status(), 126);
        let e = spawn_error(
            &node,
            "ls",
            &tonic::Status::unavailable("node n9 is shutting down"),
        );
        assert_eq!(e.status(), 255);
    }

    #[test]
    fn the_request_carries_the_local_context() {
        let argv = vec!["ls".to_string(), "-l".to_string()];
        let req = spawn_request(&Target::Any, &argv, None).unwrap();
        assert_eq!(req.node, "@any");
        assert_eq!(req.argv, argv);
        assert_eq!(req.stdin, StdinMode::Pipe as i32);
        assert_eq!(req.cwd, std::env::current_dir().unwrap().to_str().unwrap());
        assert_eq!(req.env.get("PATH").cloned(), std::env::var("PATH").ok());
        let req = spawn_request(
            &Target::Node("n2".into()),
            &argv,
            Some(proto::v1::TerminalSize { rows: 3, cols: 4 }),
        )
        .unwrap();
        assert_eq!(req.node, "n2");
        assert!(req.tty.is_some());
    }
}
