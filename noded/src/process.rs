//! One cluster process as noded knows it: its spawn record, captured output,
//! input channel and status. The supervisor (supervisor.rs) creates it and
//! is the only writer of its status; the API reads it.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use nix::unistd::Pid;
use proto::Gpid;
use tokio::sync::{mpsc, watch};

use crate::error::ProcError;
use crate::hostproc::{self, HostStat};
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
    /// Published by the supervisor's reaper, watched by Wait and Attach.
    pub(crate) status: watch::Sender<Status>,
    /// True once the leader is reaped. Signals take this lock and check it,
    /// and the reaper reaps under it, so a signal can never reach a process
    /// group whose id the kernel has recycled.
    pub(crate) reaped: Mutex<bool>,
    /// Feeds the stdin writer task; `None` without a stdin pipe or terminal.
    pub(crate) input: Option<mpsc::Sender<Input>>,
    /// The terminal's master side, for resizing; `None` without a terminal
    /// and once the process has finished (the reaper closes it).
    pub(crate) pty_master: Mutex<Option<OwnedFd>>,
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

    /// Resizes its terminal.
    pub fn resize(&self, rows: u32, cols: u32) -> Result<(), ProcError> {
        let master = self.pty_master.lock().unwrap_or_else(|e| e.into_inner());
        let master = master.as_ref().ok_or(if self.record.tty {
            ProcError::Exited(self.gpid)
        } else {
            ProcError::NoTerminal(self.gpid)
        })?;
        crate::pty::resize(master, rows, cols).map_err(|e| ProcError::os("resize terminal", e))
    }
}
