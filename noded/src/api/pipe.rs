//! Direct pipes (`SpawnRequest.stdin_from`): this node feeds a process's
//! stdin from another cluster process's stdout. The producer's stdout is
//! read as a follow reader (from its node over the cluster's TLS, or from
//! its log when it runs here) and written into a pipe that is the
//! consumer's stdin, so the bytes go node to node and never through the
//! client that set the pipe up (docs/design/processes.md, "Direct pipes").
//!
//! Pipe semantics carry over: the feeder reads the next chunk only once
//! the last one is in the pipe, so a slow consumer holds the producer back
//! through the producer's output window; a consumer that stops reading
//! makes the producer get SIGPIPE; the producer's end is the consumer's
//! end-of-file.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use proto::Gpid;
use proto::v1::{OutputChunk, OutputStream, ReadOutputRequest, SignalRequest};
use tokio::io::AsyncWriteExt;
use tonic::{Status, Streaming};

use super::ApiState;
use super::follow::Cursor;
use super::route::{Target, outgoing, remote_error};
use crate::auth::Principal;
use crate::error::ProcError;
use crate::hostproc;
use crate::output::OutputLog;

/// Size asked for the consumer's pipe: fewer wake-ups per byte than the
/// default 64 KiB (the kernel's `pipe-max-size` allows 1 MiB).
const PIPE_SIZE: libc::c_int = 1 << 20;

/// Where the producer's stdout is read from.
pub enum Source {
    /// A process of this node: its log.
    Local { log: Arc<OutputLog>, cursor: Cursor },
    /// A process of another node: a follow ReadOutput from there.
    Remote {
        node: String,
        stream: Box<Streaming<OutputChunk>>,
    },
}

impl Source {
    /// Opens the producer's stdout as `principal` (a producer that
    /// principal may not see is NotFound, as everywhere).
    pub async fn open(
        state: &ApiState,
        principal: &Principal,
        producer: Gpid,
    ) -> Result<Source, Status> {
        match state.target_pid(producer, false).await? {
            Target::Local => {
                let process = state
                    .table
                    .get(producer)
                    .ok()
                    .filter(|p| principal.may_see(p.owner()))
                    .ok_or(ProcError::NoSuchProcess(producer))?;
                let log = process.stdout.clone();
                if log.has_window() {
                    log.delivered(0);
                }
                let cursor = Cursor::new(log.clone(), 0);
                Ok(Source::Local { log, cursor })
            }
            Target::Remote { node, mut client } => {
                let request = ReadOutputRequest {
                    pid: producer.as_raw(),
                    stream: OutputStream::Stdout as i32,
                    offset: 0,
                    follow: true,
                };
                let stream = client
                    .read_output(outgoing(request, None, principal))
                    .await
                    .map_err(|e| remote_error(&node, e))?
                    .into_inner();
                Ok(Source::Remote {
                    node,
                    stream: Box::new(stream),
                })
            }
        }
    }

    /// The next chunk, or `None` once the producer's output has ended.
    async fn next(&mut self) -> Result<Option<OutputChunk>, Status> {
        match self {
            Source::Local { cursor, .. } => loop {
                if let Some(chunk) = cursor.read().await? {
                    return Ok(Some(chunk));
                }
                if cursor.done() {
                    return Ok(None);
                }
                cursor.changed().await;
            },
            Source::Remote { node, stream } => {
                stream.message().await.map_err(|e| remote_error(node, e))
            }
        }
    }

    /// Tells a local producer's window that `chunk` reached the consumer
    /// (a remote one counts it as its stream sends it).
    fn delivered(&self, chunk: &OutputChunk) {
        if let Source::Local { log, .. } = self {
            super::follow::delivered(log, chunk);
        }
    }
}

/// The consumer's stdin pipe: the write end stays with the feeder, the
/// read end goes to the keeper, which takes it from this process as it
/// takes a local client's descriptors (`Spawn.inherit`).
pub struct FeedPipe {
    /// The feeder's end.
    pub write: OwnedFd,
    /// The consumer's end; held until the spawn has answered.
    pub read: OwnedFd,
}

impl FeedPipe {
    /// A new pipe (close-on-exec on both ends).
    pub fn new() -> Result<FeedPipe, ProcError> {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| ProcError::os("cannot make a pipe", std::io::Error::from(e)))?;
        // SAFETY: fcntl on a descriptor we own; a refusal leaves the
        // default size, which works too.
        unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE) };
        Ok(FeedPipe { write, read })
    }

    /// What the keeper needs to take the read end from this noded.
    pub fn inherit(&self) -> Result<proto::keeper::Inherit, ProcError> {
        let me = nix::unistd::getpid();
        let stat = hostproc::stat(me)
            .ok_or_else(|| ProcError::Internal("cannot read this noded's own stat".into()))?;
        Ok(proto::keeper::Inherit {
            pid: me.as_raw(),
            uid: nix::unistd::geteuid().as_raw(),
            start_ticks: stat.start_ticks,
            stdin_fd: Some(self.read.as_raw_fd()),
            stdout_fd: None,
            stderr_fd: None,
        })
    }
}

/// Copies the producer's stdout into the consumer's stdin until the
/// producer's output ends, then closes the pipe (end-of-file). Runs on its
/// own task; the consumer's PID is for the log only.
pub async fn feed(
    state: Arc<ApiState>,
    principal: Principal,
    producer: Gpid,
    consumer: Gpid,
    mut source: Source,
    pipe: OwnedFd,
) {
    let mut sink = match tokio::net::unix::pipe::Sender::from_owned_fd(pipe) {
        Ok(sink) => sink,
        Err(e) => {
            tracing::warn!(%producer, %consumer, error = %e, "cannot use the pipe of a direct pipe");
            return;
        }
    };
    // Once the consumer stops reading, the producer is sent SIGPIPE and its
    // output is still read (and dropped), so one that ignores SIGPIPE is
    // not held back by a window nobody empties, as with a real pipe.
    let mut broken = false;
    loop {
        match source.next().await {
            Ok(Some(chunk)) => {
                if !broken && sink.write_all(&chunk.data).await.is_err() {
                    broken = true;
                    signal(&state, &principal, producer, libc::SIGPIPE).await;
                }
                source.delivered(&chunk);
            }
            Ok(None) => return,
            Err(status) => {
                // The producer's node is gone or the stream broke: the
                // consumer reads end-of-file, as after a producer lost with
                // its node.
                tracing::warn!(%producer, %consumer, error = %status.message(), "direct pipe broken");
                return;
            }
        }
    }
}

/// Sends `signal` to the producer, on its node, as `principal`.
async fn signal(state: &ApiState, principal: &Principal, producer: Gpid, signal: i32) {
    let sent = match state.target_pid(producer, false).await {
        Ok(Target::Local) => match state.table.get(producer) {
            Ok(process) => process.signal(signal).await.map_err(Status::from),
            Err(e) => Err(Status::from(e)),
        },
        Ok(Target::Remote { node, mut client }) => {
            let request = SignalRequest {
                pid: producer.as_raw(),
                signal,
            };
            client
                .signal(outgoing(request, Some(state.forward_timeout()), principal))
                .await
                .map(drop)
                .map_err(|e| remote_error(&node, e))
        }
        Err(status) => Err(status),
    };
    if let Err(status) = sent {
        tracing::debug!(%producer, signal, error = %status.message(), "direct pipe: signal not sent");
    }
}
