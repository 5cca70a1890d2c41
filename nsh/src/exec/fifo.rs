//! Process substitution for a command on a cluster node: the node makes a
//! FIFO (`OpenFifo`) and the command gets its path; a thread of nsh moves
//! the bytes between the FIFO's call and the local pipe of the
//! substitution's command (which runs in nsh, as for any `<(..)`), so the
//! producer and the consumer may run on any nodes.
//!
//! The call, and so the FIFO, lasts until the bytes are through. When the
//! command that got the path ends (the handle is dropped), a FEED stops;
//! a DRAIN reads on to the FIFO's end-of-file if someone opened it (bytes
//! may still be on their way, and a `>(..)` of bash reads to the end),
//! and gives up [`DRAIN_GRACE`] later otherwise.

use std::os::fd::OwnedFd;
use std::time::Duration;

use proto::v1::{FifoDirection, FifoOpen, FifoRequest, fifo_event, fifo_request};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;

use crate::client::{CALL_TIMEOUT, Client, ClientError};

/// Bytes read from the local pipe per message.
const CHUNK: usize = 64 * 1024;

/// A FIFO on a node and the thread feeding or draining it; the call ends
/// when this is dropped.
pub struct RemoteFifo {
    cancel: Option<oneshot::Sender<()>>,
}

impl Drop for RemoteFifo {
    fn drop(&mut self) {
        if let Some(cancel) = self.cancel.take() {
            let _ = cancel.send(());
        }
    }
}

impl std::fmt::Debug for RemoteFifo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RemoteFifo")
    }
}

/// Opens a FIFO on `node` ("" the shell's) connected to `local`: for
/// `feed`, what is read from `local` (the read end of the producer's
/// pipe) goes into the FIFO; otherwise what is written into the FIFO goes
/// to `local` (the write end of the consumer's pipe). Returns the FIFO's
/// path on the node.
pub fn open(
    client: &Client,
    node: &str,
    feed: bool,
    local: OwnedFd,
) -> Result<(String, RemoteFifo), ClientError> {
    let direction = if feed {
        FifoDirection::Feed
    } else {
        FifoDirection::Drain
    };
    let (tx, rx) = mpsc::channel::<FifoRequest>(4);
    let first = FifoRequest {
        request: Some(fifo_request::Request::Open(FifoOpen {
            node: node.to_string(),
            direction: direction as i32,
        })),
    };
    let mut api = client.processes();
    let (path, events) =
        client.block_on(async {
            tx.send(first)
                .await
                .map_err(|_| ClientError::internal("open_fifo: the call ended".into()))?;
            let mut events =
                match tokio::time::timeout(CALL_TIMEOUT, api.open_fifo(ReceiverStream::new(rx)))
                    .await
                {
                    Ok(Ok(response)) => response.into_inner(),
                    Ok(Err(status)) => return Err(ClientError::from_status(&status)),
                    Err(_) => return Err(ClientError::Timeout(CALL_TIMEOUT)),
                };
            match tokio::time::timeout(CALL_TIMEOUT, events.message()).await {
                Ok(Ok(Some(proto::v1::FifoEvent {
                    event: Some(fifo_event::Event::Path(path)),
                }))) => Ok((path, events)),
                Ok(Err(status)) => Err(ClientError::from_status(&status)),
                Err(_) => Err(ClientError::Timeout(CALL_TIMEOUT)),
                Ok(_) => Err(ClientError::internal("open_fifo: no path".into())),
            }
        })?;
    let (cancel, cancelled) = oneshot::channel();
    let client = client.clone();
    if feed {
        std::thread::Builder::new()
            .name("fifo-feed".into())
            .spawn(move || feed_thread(&client, local, tx, events, cancelled))
            .map_err(|e| ClientError::internal(format!("cannot start a thread: {e}")))?;
    } else {
        drop(tx);
        std::thread::Builder::new()
            .name("fifo-drain".into())
            .spawn(move || drain_thread(&client, local, events, cancelled))
            .map_err(|e| ClientError::internal(format!("cannot start a thread: {e}")))?;
    }
    Ok((
        path,
        RemoteFifo {
            cancel: Some(cancel),
        },
    ))
}

/// FEED: the local pipe into the call, then the call's end (the node has
/// written everything) or the cancel, whichever comes first. The call
/// lives in a task of its own so that a cancel ends it even while this
/// thread waits on the pipe.
fn feed_thread(
    client: &Client,
    local: OwnedFd,
    tx: mpsc::Sender<FifoRequest>,
    mut events: tonic::Streaming<proto::v1::FifoEvent>,
    cancelled: oneshot::Receiver<()>,
) {
    // Nothing is sent before a reader has opened the FIFO.
    let (opened_tx, opened_rx) = std::sync::mpsc::channel();
    client.block_on(async {
        tokio::spawn(async move {
            tokio::select! {
                _ = async {
                    while let Ok(Some(event)) = events.message().await {
                        if let Some(fifo_event::Event::Opened(_)) = event.event {
                            let _ = opened_tx.send(());
                        }
                    }
                } => {}
                _ = cancelled => {}
            }
        });
    });
    // The call ended (cancelled) without a reader: nothing to send.
    if opened_rx.recv().is_err() {
        return;
    }
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match crate::io::read(std::os::fd::AsFd::as_fd(&local), &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let data = FifoRequest {
            request: Some(fifo_request::Request::Data(buf[..n].to_vec())),
        };
        // The call ended (cancelled, or the command closed the FIFO).
        if tx.blocking_send(data).is_err() {
            break;
        }
    }
}

/// How long a drain goes on after its command ended while nsh has not
/// heard that anyone opened the FIFO: the news, and the bytes after it,
/// may still be on their way from the node.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// What a drain waits for next.
enum Drained {
    Event(Result<Option<proto::v1::FifoEvent>, tonic::Status>),
    /// The command that got the path ended.
    Cancelled,
    /// Nobody opened the FIFO within [`DRAIN_GRACE`] of that.
    GaveUp,
}

/// DRAIN: what the command writes into the FIFO, into the local pipe,
/// until the FIFO's writers close it, as a `>(..)` of bash reads until
/// end-of-file: the end of the command that got the path does not cut
/// off bytes still on their way. Only a FIFO nobody opened is given up,
/// [`DRAIN_GRACE`] after the command ended.
fn drain_thread(
    client: &Client,
    local: OwnedFd,
    mut events: tonic::Streaming<proto::v1::FifoEvent>,
    mut cancelled: oneshot::Receiver<()>,
) {
    let mut opened = false;
    let mut ended: Option<tokio::time::Instant> = None;
    loop {
        let next = client.block_on(async {
            match ended {
                None => tokio::select! {
                    message = events.message() => Drained::Event(message),
                    _ = &mut cancelled => Drained::Cancelled,
                },
                Some(_) if opened => Drained::Event(events.message().await),
                Some(at) => {
                    match tokio::time::timeout_at(at + DRAIN_GRACE, events.message()).await {
                        Ok(message) => Drained::Event(message),
                        Err(_) => Drained::GaveUp,
                    }
                }
            }
        });
        match next {
            Drained::Cancelled => ended = Some(tokio::time::Instant::now()),
            Drained::GaveUp => return,
            Drained::Event(Ok(Some(proto::v1::FifoEvent {
                event: Some(fifo_event::Event::Data(data)),
            }))) => {
                opened = true;
                if crate::io::write_all(std::os::fd::AsFd::as_fd(&local), &data).is_err() {
                    return;
                }
            }
            Drained::Event(Ok(Some(proto::v1::FifoEvent {
                event: Some(fifo_event::Event::Opened(_)),
            }))) => opened = true,
            Drained::Event(Ok(Some(_))) => {}
            Drained::Event(_) => return,
        }
    }
}
