//! One cluster process as noded knows it: its spawn record, captured output,
//! input channel and status. The keeper holds the process itself; the
//! supervisor (supervisor.rs) creates this view, the process table writes
//! its status from the keeper's events, and the API reads it. Signals,
//! stdin and terminal resizes go to the keeper.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;

use nix::unistd::Pid;
use proto::Gpid;
use tokio::sync::{mpsc, watch};

use crate::error::ProcError;
use crate::hostproc::{self, HostStat};
use crate::keeper::client::{KeeperLink, LinkError};
use crate::output::{OutputLog, Stream};
use crate::records::{ExitRecord, SpawnRecord};

/// Running, or finished with an exit record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Not reaped yet (it may be stopped: see [`Snapshot::stopped`]).
    Running,
    /// Reaped, or found lost; the record is on disk.
    Finished(ExitRecord),
}

/// Something for the process's stdin.
#[derive(Debug)]
pub enum Input {
    /// Bytes to write.
    Data(Vec<u8>),
    /// Close stdin (a terminal gets Ctrl-D).
    Eof,
}

/// A process's state at one moment, with live figures from the host.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Running or finished.
    pub status: Status,
    /// Live figures from /proc while it runs.
    pub host: Option<HostStat>,
}

impl Snapshot {
    /// Whether a running process is stopped by a signal.
    pub fn stopped(&self) -> bool {
        matches!(self.status, Status::Running)
            && self.host.as_ref().is_some_and(HostStat::is_stopped)
    }
}

/// A process's stdout pipe taken from the keeper ([`Process::take_stdout`]).
pub struct TakenStdout {
    /// The pipe's read end.
    pub fd: OwnedFd,
    /// The keeper closed its copy: closing this one leaves the pipe with
    /// no reader, and the producer's next write gets EPIPE and SIGPIPE.
    pub sole_reader: bool,
}

/// One process.
#[derive(Debug)]
pub struct Process {
    /// Its cluster PID.
    pub gpid: Gpid,
    /// What was started.
    pub record: SpawnRecord,
    /// Its directory under `<data>/procs`.
    pub dir: PathBuf,
    /// Captured stdout (or terminal output).
    pub stdout: Arc<OutputLog>,
    /// Captured stderr.
    pub stderr: Arc<OutputLog>,
    /// Published by the process table from the keeper's exit event (or
    /// when the process is found lost), watched by Wait and Attach.
    pub(crate) status: watch::Sender<Status>,
    /// Feeds the task that forwards stdin to the keeper; `None` without a
    /// stdin pipe or terminal.
    pub(crate) input: Option<mpsc::Sender<Input>>,
    /// The keeper holding it while it runs; `None` for a record of a process
    /// that ended under an earlier noded.
    pub(crate) keeper: Option<Arc<KeeperLink>>,
    /// Its exit was taken by a waiter (Wait, or an Attach that received
    /// it), as a parent reaps a zombie: it leaves default listings.
    pub(crate) waited: std::sync::atomic::AtomicBool,
}

impl Process {
    /// The user it belongs to (records from before users: root).
    pub fn owner(&self) -> &str {
        if self.record.user.is_empty() {
            "root"
        } else {
            &self.record.user
        }
    }

    /// The host PID, which is also the process group id.
    pub fn host_pid(&self) -> Pid {
        Pid::from_raw(self.record.host_pid)
    }

    /// Current status.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// Status plus live host figures.
    pub fn snapshot(&self) -> Snapshot {
        let status = self.status();
        let host = match status {
            Status::Running => hostproc::stat(self.host_pid()),
            Status::Finished(_) => None,
        };
        Snapshot { status, host }
    }

    /// Whether it has finished.
    pub fn is_finished(&self) -> bool {
        matches!(*self.status.borrow(), Status::Finished(_))
    }

    /// Waits until it has finished and returns the exit record.
    pub async fn finished(&self) -> ExitRecord {
        let mut rx = self.status.subscribe();
        loop {
            if let Status::Finished(exit) = &*rx.borrow_and_update() {
                return exit.clone();
            }
            if rx.changed().await.is_err() {
                // The sender lives in `self`, so it cannot be dropped while
                // we borrow `self`; treat it as "never finishes".
                std::future::pending::<()>().await;
            }
        }
    }

    /// Marks the exit as taken (see `waited`).
    pub fn reap(&self) {
        self.waited
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether an ended process still shows in default listings: as a
    /// zombie, while it has a cluster parent that has not waited for it.
    /// `parent_alive` says whether that parent still runs (a parent that
    /// ended leaves its zombies to be reaped, as init does).
    pub fn is_zombie(&self, parent_alive: impl Fn(Gpid) -> bool) -> bool {
        self.is_finished()
            && !self.waited.load(std::sync::atomic::Ordering::Relaxed)
            && self.record.ppid.is_some_and(parent_alive)
    }

    /// The log of one stream.
    pub fn log(&self, stream: Stream) -> &Arc<OutputLog> {
        match stream {
            Stream::Stdout => &self.stdout,
            Stream::Stderr => &self.stderr,
        }
    }

    /// Queues input for the process's stdin, waiting while the queue is full.
    pub async fn write_input(&self, input: Input) -> Result<(), ProcError> {
        let sender = self.input.as_ref().ok_or(ProcError::NoStdin(self.gpid))?;
        if self.is_finished() {
            return Err(ProcError::Exited(self.gpid));
        }
        sender
            .send(input)
            .await
            .map_err(|_| ProcError::StdinClosed(self.gpid))
    }

    /// Takes its stdout pipe from the keeper, for a direct pipe: the log
    /// ends where it stands (read it to its end first) and the caller
    /// reads the pipe from then on; then asks the keeper to close its own
    /// copy (`sole_reader` says whether it did). Fails when stdout is no
    /// pipe the keeper reads (a terminal, inherited, taken before, or
    /// ended).
    pub async fn take_stdout(&self) -> Result<TakenStdout, ProcError> {
        let keeper = match &self.keeper {
            Some(k) if !self.is_finished() => k,
            _ => return Err(ProcError::Exited(self.gpid)),
        };
        let body = proto::keeper::to_keeper::Body::TakeStdout(proto::keeper::TakeStdout {
            pid: self.gpid.as_raw(),
        });
        let reply = keeper
            .request(body, Some(crate::keeper::client::REQUEST_TIMEOUT))
            .await
            .map_err(|e| self.link_error("take the stdout of", e))?;
        let proto::keeper::reply::Body::Taken(taken) = reply else {
            return Err(ProcError::Keeper(format!(
                "unexpected answer to taking the stdout of {}",
                self.gpid
            )));
        };
        let keeper_pid =
            Pid::from_raw(keeper.keeper_pid.load(std::sync::atomic::Ordering::Relaxed));
        let fd = hostproc::pidfd_open(keeper_pid)
            .and_then(|pidfd| hostproc::take_fd(pidfd.as_fd(), taken.fd))
            .map_err(|e| ProcError::os(format!("take the stdout of {}", self.gpid), e))?;
        let release = proto::keeper::to_keeper::Body::ReleaseStdout(proto::keeper::ReleaseStdout {
            pid: self.gpid.as_raw(),
        });
        // A keeper from before ReleaseStdout refuses it: the pipe keeps a
        // second reader, and the caller drains it instead of closing it.
        let sole_reader = matches!(
            keeper
                .request(release, Some(crate::keeper::client::REQUEST_TIMEOUT))
                .await,
            Ok(proto::keeper::reply::Body::Ok(true))
        );
        Ok(TakenStdout { fd, sole_reader })
    }

    /// Resizes its terminal.
    pub async fn resize(&self, rows: u32, cols: u32) -> Result<(), ProcError> {
        if !self.record.tty {
            return Err(ProcError::NoTerminal(self.gpid));
        }
        let body = proto::keeper::to_keeper::Body::Resize(proto::keeper::Resize {
            pid: self.gpid.as_raw(),
            rows,
            cols,
        });
        self.ask_keeper(body, "resize terminal").await
    }

    /// Sends `signal` (0..=64; 0 only checks) to the process's group.
    pub async fn signal(&self, signal: i32) -> Result<(), ProcError> {
        if !(0..=crate::supervisor::MAX_SIGNAL).contains(&signal) {
            return Err(ProcError::InvalidSignal(signal));
        }
        let body = proto::keeper::to_keeper::Body::Signal(proto::keeper::Signal {
            pid: self.gpid.as_raw(),
            signal,
        });
        self.ask_keeper(body, "signal process").await
    }

    /// Sends a request about this process to its keeper while it runs;
    /// `what` names the action in errors.
    async fn ask_keeper(
        &self,
        body: proto::keeper::to_keeper::Body,
        what: &str,
    ) -> Result<(), ProcError> {
        let keeper = match &self.keeper {
            Some(k) if !self.is_finished() => k,
            _ => return Err(ProcError::Exited(self.gpid)),
        };
        keeper
            .request(body, Some(crate::keeper::client::REQUEST_TIMEOUT))
            .await
            .map(drop)
            .map_err(|e| self.link_error(what, e))
    }

    /// What a failed keeper request means for this process.
    pub(crate) fn link_error(&self, what: &str, e: LinkError) -> ProcError {
        match e {
            LinkError::Failed { errno, .. } if errno == libc::ESRCH => ProcError::Exited(self.gpid),
            LinkError::Failed { errno, message } if errno != 0 => ProcError::os(
                format!("{what} {} ({message})", self.gpid),
                std::io::Error::from_raw_os_error(errno),
            ),
            other => ProcError::Keeper(format!("{what} {}: {other}", self.gpid)),
        }
    }
}
