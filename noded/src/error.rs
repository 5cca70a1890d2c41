//! What can go wrong with a request about processes. Converted to a gRPC
//! status in exactly one place (api/status.rs).

use proto::Gpid;

/// Errors of the process table and supervisor.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    /// No process with that PID is known.
    #[error("no such process {0}")]
    NoSuchProcess(Gpid),
    /// The PID belongs to another node's slot, which this node cannot reach.
    #[error("no such process {pid} (slot {slot} is not a member of this cluster)")]
    UnknownSlot {
        /// The PID asked for.
        pid: Gpid,
        /// Its slot.
        slot: proto::Slot,
    },
    /// A number that is not a cluster PID (it names no process).
    #[error("no such process {0} (not a cluster pid)")]
    NotClusterPid(i64),
    /// A forwarded request reached a node that does not own the PID.
    #[error("no such process {0} (forwarded to the wrong node)")]
    MisroutedPid(Gpid),
    /// A forwarded request reached a node that is not the one named.
    #[error("no such node {0:?} (forwarded to the wrong node)")]
    MisroutedNode(String),
    /// The process has finished; it can no longer be signalled or fed.
    #[error("process {0} has already exited")]
    Exited(Gpid),
    /// Not a Linux signal number.
    #[error("invalid signal {0}: expected 0 to 64")]
    InvalidSignal(i32),
    /// A malformed request.
    #[error("{0}")]
    InvalidArgument(String),
    /// The executable does not exist.
    #[error("no such executable: {0}")]
    NoSuchExecutable(String),
    /// The kernel refused what the spawn asks (raising a hard resource
    /// limit as a user).
    #[error("cannot start {0}: operation not permitted (raising a hard resource limit needs root)")]
    NotPermitted(String),
    /// The executable is a directory.
    #[error("cannot execute {0}: is a directory")]
    IsADirectory(String),
    /// The executable exists but cannot be run.
    #[error("cannot execute {path}: {why}")]
    NotExecutable {
        /// The path found.
        path: String,
        /// Why not.
        why: String,
    },
    /// The node named in a request is not a member.
    #[error("no such node {0:?}")]
    NoSuchNode(String),
    /// The user a process is to run as has no account on its node.
    #[error(
        "user {user} does not exist on node {node}: create it there (the same name on every node)"
    )]
    NoSuchUser {
        /// The user name.
        user: String,
        /// The node.
        node: String,
    },
    /// The node is stopping and takes no new work.
    #[error("node {0} is shutting down")]
    ShuttingDown(String),
    /// The process was not started with a stdin pipe or terminal.
    #[error("process {0} has no stdin pipe: start it with stdin=pipe or a terminal")]
    NoStdin(Gpid),
    /// Its stdin was closed already.
    #[error("stdin of process {0} is closed")]
    StdinClosed(Gpid),
    /// A terminal operation on a process without one.
    #[error("process {0} has no terminal")]
    NoTerminal(Gpid),
    /// `inherit` names a descriptor the calling process does not have.
    #[error("inherit: the calling process has no descriptor {0}")]
    NoSuchDescriptor(i32),
    /// Wait gave up.
    #[error("process {pid} still running after {timeout_ms} ms")]
    WaitTimeout {
        /// The PID waited for.
        pid: Gpid,
        /// The timeout given.
        timeout_ms: u64,
    },
    /// No PID left.
    #[error(transparent)]
    Alloc(#[from] crate::pid_alloc::AllocError),
    /// The node's keeper is gone or does not answer.
    #[error("{0}")]
    Keeper(String),
    /// A client opened an Attach stream and sent no start message in time.
    #[error("attach: no start message within {} s", .0.as_secs())]
    NoStartMessage(std::time::Duration),
    /// A task of noded's own failed (a blocking task panicked).
    #[error("{0}")]
    Internal(String),
    /// An operating-system failure.
    #[error("{context}: {source}")]
    Os {
        /// What noded was doing.
        context: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

impl ProcError {
    /// Wraps an OS error with what was being done.
    pub fn os(context: impl Into<String>, source: impl Into<std::io::Error>) -> Self {
        ProcError::Os {
            context: context.into(),
            source: source.into(),
        }
    }
}
