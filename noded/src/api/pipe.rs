//! Direct pipes (`SpawnRequest.stdin_from`): this node feeds a process's
//! stdin from another cluster process's stdout. The producer's stdout is
//! read as a follow reader (from its node over a stream of its own, or
//! from its log and pipe when it runs here) and written into a pipe that is the
//! consumer's stdin, so the bytes go node to node and never through the
//! client that set the pipe up (docs/design/processes.md, "Direct pipes").
//!
//! Between nodes the bytes travel on a TLS connection of their own (ALPN
//! `nefele-pipe/1`, [`serve_pipes`] on the producer's node; plain TCP
//! starting with `NEFELE-PIPE/1` in an `--insecure` cluster), not in gRPC
//! messages: one copy into TLS records and out of them. The producer's
//! node reads the producer's stdout pipe itself, taken from the keeper
//! (`TakeStdout`), once what the log held has gone. Within one node the
//! taken pipe is spliced into the consumer's ([`splice_local`]): no copy.
//! The same streams carry a client's file that its node offers as the
//! stdin of a process on another node (`PipeOpen.offer`, stdin_file.rs).
//!
//! Pipe semantics carry over: the feeder reads the next chunk only once
//! the last one is in the pipe, so a slow consumer holds the producer back
//! through the producer's output window; a consumer that stops reading
//! closes the producer's pipe (EPIPE and SIGPIPE on its next write); the
//! producer's end is the consumer's end-of-file.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use prost::Message;
use proto::Gpid;
use proto::v1::{
    OutputChunk, PipeOpen, PipeOpened, SignalRequest, WriteOutputToReply, WriteOutputToRequest,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::mpsc;
use tonic::{Code, Status};

use super::ApiState;
use super::convert;
use super::follow::Cursor;
use super::route::{RouteError, Target, outgoing, remote_error};
use crate::auth::{AuthError, Caller, Principal};
use crate::cluster::peers::{PeerStream, Peers};
use crate::error::ProcError;
use crate::hostproc;
use crate::output::OutputLog;
use crate::tls::Conn;

/// Size asked for the consumer's pipe: fewer wake-ups per byte than the
/// default 64 KiB (the kernel's `pipe-max-size` allows 1 MiB).
const PIPE_SIZE: libc::c_int = 1 << 20;

/// Most bytes read at once from a producer's pipe or stream.
const CHUNK: usize = super::follow::CHUNK;

/// Chunks read ahead of the writer.
const PREFETCH: usize = 2;

/// Where the producer's stdout is read from.
pub enum Source {
    /// A process of this node: its log, then its stdout pipe, taken from
    /// the keeper (`None` when it could not be: the log has it all).
    Local {
        log: Arc<OutputLog>,
        cursor: Cursor,
        pipe: Option<pipe::Receiver>,
        /// The keeper closed its copy of the pipe: dropping this source
        /// leaves it with no reader ([`crate::process::TakenStdout`]).
        sole_reader: bool,
    },
    /// A process of another node, or a file another node offered as
    /// stdin (`stdin_file`): that node's byte stream.
    Stream(PeerSource),
    /// A file of a client of this node, offered as another node's
    /// process's stdin (`stdin_file`).
    File(Arc<std::fs::File>),
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
                // What the log holds comes first; from the take on, the
                // bytes skip the keeper and the log.
                let (pipe, sole_reader) = match process.take_stdout().await {
                    Ok(taken) => (
                        pipe::Receiver::from_owned_fd(taken.fd).ok(),
                        taken.sole_reader,
                    ),
                    Err(e) => {
                        tracing::debug!(%producer, error = %e, "direct pipe: reading the log only");
                        (None, false)
                    }
                };
                Ok(Source::Local {
                    log,
                    cursor,
                    sole_reader: sole_reader && pipe.is_some(),
                    pipe,
                })
            }
            Target::Remote { node, .. } => {
                let open = PipeOpen {
                    pid: producer.as_raw(),
                    user: principal.user.clone(),
                    admin: principal.admin,
                    offer: Vec::new(),
                    framed: true,
                };
                match Source::open_stream(state, producer.slot(), open).await?.1 {
                    Ok(stream) => Ok(Source::Stream(stream)),
                    Err(refused) if Code::from(refused.code) == Code::NotFound => {
                        Err(ProcError::NoSuchProcess(producer).into())
                    }
                    Err(refused) => Err(RouteError::Unreachable {
                        node,
                        why: refused.message,
                    }
                    .into()),
                }
            }
        }
    }

    /// Opens the file that the node in `offer.slot` offered as a process's
    /// stdin (SpawnRequest.stdin_offer), as `principal`.
    pub async fn open_offer(
        state: &ApiState,
        principal: &Principal,
        offer: &proto::v1::StdinOffer,
    ) -> Result<Source, Status> {
        let slot = proto::Slot::new(offer.slot.into()).map_err(|_| {
            ProcError::InvalidArgument(format!("stdin_offer: no slot {}", offer.slot))
        })?;
        let open = PipeOpen {
            pid: 0,
            user: principal.user.clone(),
            admin: principal.admin,
            offer: offer.ticket.clone(),
            framed: true,
        };
        match Source::open_stream(state, slot, open).await? {
            (_, Ok(stream)) => Ok(Source::Stream(stream)),
            (node, Err(refused)) => Err(Status::failed_precondition(format!(
                "stdin from a file on {node}: {}",
                refused.message
            ))),
        }
    }

    /// Asks the node in `slot` for a byte stream (`open`), on a stream
    /// kept from an earlier pipe to it or a new one: the node's name, and
    /// the stream once it said yes or its refusal. No such member, no
    /// connection or no answer in time is the error.
    async fn open_stream(
        state: &ApiState,
        slot: proto::Slot,
        open: PipeOpen,
    ) -> Result<(String, Result<PeerSource, PipeOpened>), Status> {
        let member = state.caught_up(|c| c.member(slot)).await;
        let node = member
            .as_ref()
            .map_or_else(|| format!("slot {slot}"), |m| m.name.clone());
        let unreachable = |why: String| RouteError::Unreachable {
            node: node.clone(),
            why,
        };
        let member = member.ok_or_else(|| unreachable("not a member any more".into()))?;
        let peers = state.cluster.peers();
        let (stream, answer) = loop {
            let (mut stream, kept) = peers
                .pipe_stream(&member.addr)
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            let answer = tokio::time::timeout(OPEN_TIMEOUT, async {
                write_frame(&mut stream, &open).await?;
                read_frame::<PipeOpened>(&mut stream).await
            })
            .await
            .map_err(|_| RouteError::TooSlow(node.clone()))?;
            match answer {
                Ok(answer) => break (stream, answer),
                // A kept stream its peer closed since (it restarted): the
                // next try takes another kept one or dials.
                Err(_) if kept => continue,
                Err(e) => return Err(unreachable(e.to_string()).into()),
            }
        };
        if Code::from(answer.code) != Code::Ok {
            return Ok((node, Err(answer)));
        }
        let source = PeerSource {
            node: node.clone(),
            addr: member.addr,
            stream: Some(stream),
            // An older node sends the bytes unframed, to the stream's end.
            frame: answer.framed.then_some(Frame::START),
            peers,
        };
        Ok((node, Ok(source)))
    }

    /// The next chunk, or `None` once the producer's output has ended.
    /// `data` is an empty buffer of [`CHUNK`] capacity for the bytes
    /// read from a pipe or a stream (a log's chunks come in their own).
    async fn next(&mut self, data: Vec<u8>) -> Result<Option<OutputChunk>, Status> {
        match self {
            Source::Local { cursor, pipe, .. } => {
                if let Some(chunk) = next_logged(cursor).await? {
                    return Ok(Some(chunk));
                }
                let Some(pipe) = pipe else { return Ok(None) };
                read_pipe(pipe, data).await
            }
            Source::Stream(peer) => peer.next(data).await,
            Source::File(file) => Ok(super::stdin_file::read_chunk(file, data)
                .await?
                .map(|data| OutputChunk { offset: 0, data })),
        }
    }
}

/// The next chunk of what a local producer's log holds, waiting for the
/// log to grow; `None` once the log is closed and all read.
async fn next_logged(cursor: &mut Cursor) -> Result<Option<OutputChunk>, Status> {
    loop {
        if let Some(chunk) = cursor.read().await? {
            return Ok(Some(chunk));
        }
        if cursor.done() {
            return Ok(None);
        }
        cursor.changed().await;
    }
}

/// Another node's byte stream of a direct pipe or an offered file.
pub struct PeerSource {
    /// The node's name.
    node: String,
    /// Its address, to keep the stream for once the pipe ended.
    addr: String,
    /// `None` once the pipe ended.
    stream: Option<PeerStream>,
    /// Where the reading of a framed stream (PipeOpened.framed) stands;
    /// `None`: the bytes run unframed to the stream's end (an older node).
    frame: Option<Frame>,
    peers: Arc<Peers>,
}

/// Where the reading of a framed stream stands: each frame is its 4-byte
/// big-endian length and its bytes; an empty frame is the end.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Frame {
    /// In a frame's length: the bytes of it read so far.
    Length([u8; 4], usize),
    /// In a frame's bytes: how many are left.
    Bytes(u32),
    /// The empty frame was read.
    Ended,
}

impl Frame {
    const START: Frame = Frame::Length([0; 4], 0);
}

impl PeerSource {
    /// The next chunk; `None` at the end, when a framed stream goes back
    /// to the peers' kept streams for the next pipe to that node.
    async fn next(&mut self, mut data: Vec<u8>) -> Result<Option<OutputChunk>, Status> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(None);
        };
        let read = match &mut self.frame {
            Some(frame) => read_framed(stream, frame, &mut data).await,
            None => read_unframed(stream, &mut data).await,
        };
        match read {
            Ok(0) => {
                if let Some(stream) = self.stream.take()
                    && self.frame == Some(Frame::Ended)
                {
                    self.peers.keep_pipe_stream(&self.addr, stream);
                }
                Ok(None)
            }
            Ok(_) => Ok(Some(OutputChunk { offset: 0, data })),
            Err(e) => {
                self.stream = None;
                Err(RouteError::Unreachable {
                    node: self.node.clone(),
                    why: e.to_string(),
                }
                .into())
            }
        }
    }
}

/// Reads into `data` what an unframed stream has: 0 at its end. Once a
/// read gave bytes, what else is ready is added without waiting (up to
/// `data`'s capacity): a TLS stream gives one record (16 KiB) per read,
/// and a chunk per record would cost a hand-over between tasks and a
/// write of its own. An end or an error stops the gathering; the next
/// read meets it again.
async fn read_unframed(stream: &mut PeerStream, data: &mut Vec<u8>) -> std::io::Result<usize> {
    let start = data.len();
    if stream.read_buf(data).await? > 0 {
        while data.len() < data.capacity() {
            match stream.read_buf(data).now_or_never() {
                Some(Ok(n)) if n > 0 => {}
                _ => break,
            }
        }
    }
    Ok(data.len() - start)
}

/// `read` awaited, or only polled once when not `waits` (`None`: it was
/// not ready, and a read that is not ready consumed nothing).
async fn awaited_or_ready<T>(read: impl Future<Output = T>, waits: bool) -> Option<T> {
    if waits {
        Some(read.await)
    } else {
        read.now_or_never()
    }
}

/// Reads into `data` the next bytes of a framed stream, across frames as
/// long as they are ready (as [`read_unframed`] gathers records); 0 at
/// the empty frame. Only the first read waits; `frame` keeps a length
/// read in part, since a read that is not ready consumes nothing. An end
/// or an error stops the gathering; the next call meets it again (an end
/// inside a frame is an error).
async fn read_framed(
    stream: &mut PeerStream,
    frame: &mut Frame,
    data: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let start = data.len();
    while data.len() < data.capacity() {
        let waits = data.len() == start;
        let read = match frame {
            Frame::Ended => break,
            Frame::Length(bytes, have) => {
                awaited_or_ready(stream.read(&mut bytes[*have..]), waits).await
            }
            Frame::Bytes(left) => {
                let want = (*left as usize).min(data.capacity() - data.len());
                awaited_or_ready((&mut *stream).take(want as u64).read_buf(data), waits).await
            }
        };
        let Some(read) = read else { break };
        let read = match read {
            Ok(0) | Err(_) if !waits => break, // met again by the next call
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            read => read?,
        };
        *frame = match *frame {
            Frame::Length(bytes, have) if have + read == 4 => match u32::from_be_bytes(bytes) {
                0 => Frame::Ended,
                len => Frame::Bytes(len),
            },
            Frame::Length(bytes, have) => Frame::Length(bytes, have + read),
            Frame::Bytes(left) if left as usize == read => Frame::START,
            Frame::Bytes(left) => Frame::Bytes(left - read as u32),
            Frame::Ended => Frame::Ended,
        };
    }
    Ok(data.len() - start)
}

/// The next chunk of a producer's stdout pipe; `None` at end-of-file
/// (every writer has closed it).
async fn read_pipe(
    pipe: &mut pipe::Receiver,
    mut data: Vec<u8>,
) -> Result<Option<OutputChunk>, Status> {
    // Read into spare capacity: no zeroing of the buffer.
    match pipe.read_buf(&mut data).await {
        Ok(0) => Ok(None),
        Ok(_) => Ok(Some(OutputChunk { offset: 0, data })),
        Err(e) => Err(ProcError::os("cannot read a direct pipe", e).into()),
    }
}

/// A [`Source`] read ahead on a task of its own, so that reading (and
/// decrypting) the next chunk overlaps writing the last one. Buffers go
/// back to the reader once written ([`Prefetched::delivered`]): a fresh
/// 256 KiB buffer per chunk costs page faults on every chunk.
pub struct Prefetched {
    chunks: mpsc::Receiver<Result<Option<OutputChunk>, Status>>,
    spare: mpsc::Sender<Vec<u8>>,
    /// A local producer's log, told what was delivered.
    log: Option<Arc<OutputLog>>,
    /// Dropping the source ends the producer's output as a pipe whose
    /// reader is gone does: another node's stream (its node closes the
    /// producer's pipe in turn), or a local pipe nobody else reads.
    closes_producer: bool,
}

impl Source {
    /// Starts reading ahead (two chunks); dropping the result stops it
    /// and closes the source.
    pub fn prefetch(mut self) -> Prefetched {
        let log = match &self {
            Source::Local { log, .. } => Some(log.clone()),
            _ => None,
        };
        let closes_producer = matches!(
            self,
            Source::Stream { .. }
                | Source::File(_)
                | Source::Local {
                    sole_reader: true,
                    ..
                }
        );
        let (tx, chunks) = mpsc::channel(PREFETCH);
        // As many spares as chunks ahead: enough to keep a fast stream
        // from allocating, and what an idle pipe keeps is small (its
        // spares, each up to a chunk, and the buffer being read into).
        let (spare, mut spares) = mpsc::channel(PREFETCH);
        tokio::spawn(async move {
            loop {
                let mut data = spares
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
                data.clear();
                // Dropped by the writer: the source closes now, not after
                // a next chunk that may never come.
                let next = tokio::select! {
                    next = self.next(data) => next,
                    () = tx.closed() => return,
                };
                let more = matches!(next, Ok(Some(_)));
                if tx.send(next).await.is_err() || !more {
                    return;
                }
            }
        });
        Prefetched {
            chunks,
            spare,
            log,
            closes_producer,
        }
    }
}

impl Prefetched {
    /// The next chunk, `None` at the end.
    async fn next(&mut self) -> Result<Option<OutputChunk>, Status> {
        self.chunks.recv().await.unwrap_or(Ok(None))
    }

    /// Tells a local producer's window that `chunk` reached the consumer
    /// (a remote one counts it as its stream sends it), and gives its
    /// buffer back to the reader.
    fn delivered(&self, chunk: OutputChunk) {
        if let Some(log) = &self.log {
            super::follow::delivered(log, &chunk);
        }
        if chunk.data.capacity() >= CHUNK {
            let _ = self.spare.try_send(chunk.data);
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
            extra: Vec::new(),
        })
    }
}

/// Copies the producer's stdout into the consumer's stdin until the
/// producer's output ends, then closes the pipe (end-of-file). Runs on its
/// own task; the consumer's PID is for the log only.
pub async fn feed(
    state: Arc<ApiState>,
    principal: Principal,
    producer: Option<Gpid>,
    consumer: Gpid,
    source: Source,
    pipe: OwnedFd,
) {
    let mut sink = match pipe::Sender::from_owned_fd(pipe) {
        Ok(sink) => sink,
        Err(e) => {
            tracing::warn!(?producer, %consumer, error = %e, "cannot use the pipe of a direct pipe");
            return;
        }
    };
    // Once the consumer stops reading, see `consumer_gone`.
    let mut broken = false;
    let source = match source {
        Source::Local {
            log,
            mut cursor,
            pipe: Some(from),
            sole_reader,
        } => {
            match splice_local(&log, &mut cursor, &from, &mut sink).await {
                Ok(Fed::Ended) => return,
                Ok(Fed::Broken) => {
                    if consumer_gone(&state, &principal, producer, sole_reader).await {
                        return;
                    }
                    broken = true;
                }
                // The copying loop below takes over from where this stopped
                // (and meets a read error again, if that was one).
                Err(e) => {
                    tracing::debug!(?producer, %consumer, error = %e, "direct pipe: splice stopped, copying")
                }
            }
            Source::Local {
                log,
                cursor,
                pipe: Some(from),
                sole_reader,
            }
        }
        other => other,
    };
    let mut source = source.prefetch();
    loop {
        match source.next().await {
            Ok(Some(chunk)) => {
                if !broken && sink.write_all(&chunk.data).await.is_err() {
                    if consumer_gone(&state, &principal, producer, source.closes_producer).await {
                        return;
                    }
                    broken = true;
                } else if !broken {
                    crate::metrics::METRICS.piped(chunk.data.len(), false);
                }
                source.delivered(chunk);
            }
            Ok(None) => return,
            Err(status) => {
                // The producer's node is gone or the stream broke: the
                // consumer reads end-of-file, as after a producer lost with
                // its node.
                tracing::warn!(?producer, %consumer, error = %status.message(), "direct pipe broken");
                return;
            }
        }
    }
}

/// How a local producer's output went into the consumer's pipe.
enum Fed {
    /// All of it: the producer's stdout reached end-of-file.
    Ended,
    /// The consumer's end closed first.
    Broken,
}

/// Feeds the consumer's pipe from a producer of this node: what its log
/// holds, written, then its stdout pipe moved with splice(2), which hands
/// the pipe's pages from one pipe to the other: no copy through noded,
/// as if the two processes shared one pipe (within a node a direct pipe
/// costs what a local pipe does). An error other than a closed consumer
/// is returned with the cursor and the pipe where they stopped.
async fn splice_local(
    log: &OutputLog,
    cursor: &mut Cursor,
    from: &pipe::Receiver,
    to: &mut pipe::Sender,
) -> std::io::Result<Fed> {
    let logged = |e: Status| std::io::Error::other(e.message().to_string());
    while let Some(chunk) = next_logged(cursor).await.map_err(logged)? {
        if to.write_all(&chunk.data).await.is_err() {
            return Ok(Fed::Broken);
        }
        crate::metrics::METRICS.piped(chunk.data.len(), false);
        super::follow::delivered(log, &chunk);
    }
    loop {
        from.readable().await?;
        to.writable().await?;
        let moved = from.try_io(|| {
            let step = to.try_io(|| splice_once(from, to));
            match step {
                Ok(Splice::SourceEmpty) => Err(std::io::ErrorKind::WouldBlock.into()),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(Splice::SinkFull),
                other => other,
            }
        });
        match moved {
            Ok(Splice::Moved(n)) => crate::metrics::METRICS.piped(n, false),
            Ok(Splice::End) => return Ok(Fed::Ended),
            Ok(Splice::SinkFull | Splice::SourceEmpty) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(Fed::Broken),
            Err(e) => return Err(e),
        }
    }
}

/// What one splice between two pipes did.
enum Splice {
    Moved(usize),
    /// The source's writers have all closed it and it is empty.
    End,
    SourceEmpty,
    SinkFull,
}

/// One non-blocking splice from `from` to `to`. When it would block, the
/// error is returned only if `to` is full, so that `to.try_io` clears the
/// sink's readiness and `from.try_io` (on `SourceEmpty`) the source's:
/// each waits for the side that really blocked.
fn splice_once(from: &pipe::Receiver, to: &pipe::Sender) -> std::io::Result<Splice> {
    // SAFETY: splice(2) on two pipe descriptors this task owns, no offsets.
    let n = unsafe {
        libc::splice(
            from.as_raw_fd(),
            std::ptr::null_mut(),
            to.as_raw_fd(),
            std::ptr::null_mut(),
            PIPE_SIZE as usize,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    match n {
        0 => Ok(Splice::End),
        n if n > 0 => Ok(Splice::Moved(n as usize)),
        _ => {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::WouldBlock {
                return Err(e);
            }
            let mut sink = libc::pollfd {
                fd: to.as_raw_fd(),
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: one pollfd of ours, no wait.
            let polled = unsafe { libc::poll(&mut sink, 1, 0) };
            if polled == 1 && sink.revents & libc::POLLOUT != 0 {
                Ok(Splice::SourceEmpty)
            } else {
                Err(e)
            }
        }
    }
}

/// What happens to the producer once its consumer stops reading; true
/// when the caller is to drop its source and stop (always, without a
/// producer process: a file offered as stdin). A source whose drop
/// closes the producer's pipe for good (`closes_producer`) is dropped:
/// the producer's next write gets EPIPE and SIGPIPE from the kernel, as
/// under bash (a producer that is not writing is left alone until it
/// writes). Otherwise (a keeper that keeps a copy of the pipe, or a
/// producer read from its log only) the producer is sent SIGPIPE now and the caller reads and
/// drops the rest of its output, so one that ignores SIGPIPE is not held
/// by a window nobody empties.
async fn consumer_gone(
    state: &ApiState,
    principal: &Principal,
    producer: Option<Gpid>,
    closes_producer: bool,
) -> bool {
    match producer {
        Some(producer) if !closes_producer => {
            signal(state, principal, producer, libc::SIGPIPE).await;
            false
        }
        _ => true,
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

/// Most bytes of a PipeOpen or PipeOpened message.
const MAX_FRAME: u32 = 64 << 10;
/// How long a pipe's opening exchange may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Writes one message as its 4-byte big-endian length and its encoding.
async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    message: &impl Message,
) -> std::io::Result<()> {
    let body = message.encode_to_vec();
    w.write_all(&(body.len() as u32).to_be_bytes()).await?;
    w.write_all(&body).await?;
    w.flush().await
}

/// Reads one message written by [`write_frame`].
async fn read_frame<M: Message + Default>(r: &mut (impl AsyncRead + Unpin)) -> std::io::Result<M> {
    let len = r.read_u32().await?;
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "a {len}-byte message is too long"
        )));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body).await?;
    M::decode(body.as_slice()).map_err(std::io::Error::other)
}

/// Serves other nodes' requests for this node's processes' stdout (the
/// producer's side of a direct pipe), one task per connection.
pub async fn serve_pipes(state: Arc<ApiState>, mut conns: mpsc::Receiver<Conn>) {
    while let Some(conn) = conns.recv().await {
        tokio::spawn(serve_pipe(state.clone(), conn));
    }
}

/// How long a framed stream waits for its next pipe (its reader keeps it
/// for less: `peers::KEPT_STREAM_IDLE`).
const BETWEEN_PIPES: Duration = Duration::from_secs(60);

/// A connection for direct pipes' producer sides: checks the caller (a
/// pinned node certificate) and each request, then copies the producer's
/// stdout into the stream until it ends; a reader that goes away first
/// closes the producer's pipe ([`consumer_gone`]). A framed pipe that
/// ended leaves the connection waiting for the next request.
async fn serve_pipe(state: Arc<ApiState>, mut conn: Conn) {
    let remote = conn.info().remote;
    let mut wait = OPEN_TIMEOUT;
    loop {
        // The request is read before the caller is judged, so a refused
        // client's request is not left unread (closing on unread data
        // resets the connection, which can lose the answer on the way).
        let open = match tokio::time::timeout(wait, read_frame::<PipeOpen>(&mut conn)).await {
            Ok(Ok(open)) => Ok(open),
            // The reader let a kept stream go.
            Ok(Err(_)) if wait == BETWEEN_PIPES => return,
            Ok(Err(e)) => Err(e),
            Err(_) => {
                if wait == OPEN_TIMEOUT {
                    tracing::info!(?remote, "a direct pipe was not asked for in time");
                }
                return;
            }
        };
        let opened = tokio::time::timeout(OPEN_TIMEOUT, open_for_peer(&state, &conn, open)).await;
        let asked = match opened {
            Ok(Ok(asked)) => asked,
            Ok(Err(refusal)) => {
                tracing::info!(?remote, error = %refusal.message(), "direct pipe refused");
                let answer = PipeOpened {
                    code: refusal.code() as i32,
                    message: refusal.message().to_string(),
                    framed: false,
                };
                let _ = tokio::time::timeout(OPEN_TIMEOUT, async {
                    let _ = write_frame(&mut conn, &answer).await;
                    let _ = conn.shutdown().await;
                })
                .await;
                return;
            }
            Err(_) => {
                tracing::info!(?remote, "a direct pipe could not be opened in time");
                return;
            }
        };
        if !send_pipe(&state, &mut conn, asked).await {
            return;
        }
        wait = BETWEEN_PIPES;
    }
}

/// A peer's pipe request, checked, with its source opened.
struct Asked {
    /// The producer (none for an offered file).
    producer: Option<Gpid>,
    principal: Principal,
    source: Source,
    /// The reader takes the bytes framed (PipeOpen.framed).
    framed: bool,
}

/// Sends one pipe's bytes (framed or to the stream's end); whether the
/// stream is fit for the next pipe (it was framed and ended cleanly).
async fn send_pipe(state: &ApiState, conn: &mut Conn, asked: Asked) -> bool {
    let Asked {
        producer,
        principal,
        source,
        framed,
    } = asked;
    let ok = PipeOpened {
        code: Code::Ok as i32,
        message: String::new(),
        framed,
    };
    let mut source = source.prefetch();
    let mut reader_gone = write_frame(conn, &ok).await.is_err();
    if reader_gone && consumer_gone(state, &principal, producer, source.closes_producer).await {
        return false;
    }
    loop {
        match source.next().await {
            Ok(Some(chunk)) if chunk.data.is_empty() => source.delivered(chunk),
            Ok(Some(chunk)) => {
                if !reader_gone && write_chunk(conn, &chunk.data, framed).await.is_err() {
                    if consumer_gone(state, &principal, producer, source.closes_producer).await {
                        return false;
                    }
                    reader_gone = true;
                }
                source.delivered(chunk);
            }
            Ok(None) => break,
            Err(status) => {
                tracing::warn!(?producer, error = %status.message(), "direct pipe: cannot read the producer");
                return false;
            }
        }
    }
    if reader_gone {
        return false;
    }
    if framed {
        // The end marker; the stream stays for the next pipe.
        return write_chunk(conn, &[], true).await.is_ok() && conn.flush().await.is_ok();
    }
    // close_notify: the reader sees a clean end-of-file.
    let _ = conn.shutdown().await;
    false
}

/// Writes `data` to a pipe's stream: as one frame (its length first, in
/// one write with the bytes: TLS puts both in one record) or as it is.
async fn write_chunk(conn: &mut Conn, data: &[u8], framed: bool) -> std::io::Result<()> {
    if !framed {
        return conn.write_all(data).await;
    }
    let length = (data.len() as u32).to_be_bytes();
    let mut parts = [std::io::IoSlice::new(&length), std::io::IoSlice::new(data)];
    let mut parts = &mut parts[..];
    while !parts.is_empty() {
        let written = conn.write_vectored(parts).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        std::io::IoSlice::advance_slices(&mut parts, written);
    }
    Ok(())
}

/// Checks a peer's PipeOpen and opens the producer's stdout (or the file
/// offered, without a producer).
async fn open_for_peer(
    state: &ApiState,
    conn: &Conn,
    open: std::io::Result<PipeOpen>,
) -> Result<Asked, Status> {
    let mut probe = tonic::Request::new(());
    probe.extensions_mut().insert(conn.info().clone());
    if !Caller::of(&probe, &state.cluster.peers()).is_node() {
        return Err(AuthError::InternalOnly("a direct pipe").into());
    }
    let open = open.map_err(|e| ProcError::InvalidArgument(format!("direct pipe: {e}")))?;
    if open.user.is_empty() {
        return Err(ProcError::InvalidArgument("direct pipe: no user".into()).into());
    }
    let principal = Principal {
        user: open.user,
        admin: open.admin,
    };
    if !open.offer.is_empty() {
        let file = state.offers.claim(&open.offer, &principal)?;
        return Ok(Asked {
            producer: None,
            principal,
            source: Source::File(file),
            framed: open.framed,
        });
    }
    let producer = convert::gpid(open.pid)?;
    if producer.slot() != state.cluster.slot {
        return Err(ProcError::InvalidArgument(format!(
            "direct pipe: {producer} is not a process of this node"
        ))
        .into());
    }
    let source = Source::open(state, &principal, producer).await?;
    Ok(Asked {
        producer: Some(producer),
        principal,
        source,
        framed: open.framed,
    })
}

/// WriteOutputTo: the process's stdout into a descriptor of a client on
/// this node's socket (`client` names it, checked by the API), read from
/// the process's node as a direct pipe is; writes happen on the blocking
/// pool, as a child's writes to a file would block.
pub async fn write_output_to(
    state: Arc<ApiState>,
    principal: Principal,
    client: &proto::keeper::Inherit,
    req: WriteOutputToRequest,
) -> Result<WriteOutputToReply, Status> {
    let producer = convert::gpid(req.pid)?;
    let pidfd = hostproc::pidfd_of(client).ok_or_else(|| {
        ProcError::InvalidArgument("WriteOutputTo: the calling process is gone".into())
    })?;
    let file = hostproc::take_fd(pidfd.as_fd(), req.fd)
        .map_err(|_| ProcError::NoSuchDescriptor(req.fd))?;
    if nix::unistd::isatty(&file).unwrap_or(false) {
        return Err(ProcError::InvalidArgument(
            "WriteOutputTo: a terminal stays with the client (use Attach)".into(),
        )
        .into());
    }
    let file = Arc::new(std::fs::File::from(file));
    let mut source = Source::open(&state, &principal, producer).await?.prefetch();
    let mut reply = WriteOutputToReply::default();
    loop {
        let Some(chunk) = source.next().await? else {
            return Ok(reply);
        };
        if reply.broken_pipe {
            source.delivered(chunk);
            continue;
        }
        let out = file.clone();
        let written = tokio::task::spawn_blocking(move || {
            use std::io::Write;
            (&*out).write_all(&chunk.data).map(|()| chunk)
        })
        .await
        .map_err(|e| ProcError::Internal(format!("the writer task failed: {e}")))?;
        match written {
            Ok(chunk) => {
                reply.bytes_written += chunk.data.len() as u64;
                crate::metrics::METRICS.piped(chunk.data.len(), true);
                source.delivered(chunk);
            }
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                reply.broken_pipe = true;
                if consumer_gone(&state, &principal, Some(producer), source.closes_producer).await {
                    return Ok(reply);
                }
            }
            Err(e) => return Err(ProcError::os("cannot write the output", e).into()),
        }
    }
}

/// The producer of a direct pipe (`SpawnRequest.stdin_from`), if the
/// rest of the request allows one.
pub(super) fn direct_pipe_producer(
    raw: i32,
    req: &proto::v1::SpawnRequest,
    inherit: bool,
) -> Result<proto::Gpid, Status> {
    let refuse = |why: &str| Status::from(ProcError::InvalidArgument(format!("stdin_from: {why}")));
    let producer =
        super::convert::gpid(raw).map_err(|_| refuse(&format!("{raw} is not a cluster pid")))?;
    if req.tty.is_some() {
        return Err(refuse("a process with a terminal reads the terminal"));
    }
    if inherit {
        return Err(refuse("not with inherit"));
    }
    if req.stdin != proto::v1::StdinMode::Null as i32 {
        return Err(refuse(
            "stdin is fed from the producer (stdin mode must be null)",
        ));
    }
    Ok(producer)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames written in awkward pieces (a length split across writes,
    /// several frames in one write) read back as the bytes, across frames
    /// when ready, up to the empty frame, after which the stream is at the
    /// next request.
    #[tokio::test]
    async fn framed_reads_gather_frames_and_stop_at_the_end() {
        let (mut writer, reader) = tokio::io::duplex(1 << 20);
        let mut stream: PeerStream = Box::new(reader);
        let mut wire: Vec<u8> = Vec::new();
        for part in [&b"hello "[..], b"framed", b" world"] {
            wire.extend((part.len() as u32).to_be_bytes());
            wire.extend(part);
        }
        wire.extend(0u32.to_be_bytes());
        wire.extend(b"next request");
        let mut frame = Frame::START;
        let mut got: Vec<u8> = Vec::new();
        // The first two bytes of the first length alone: nothing to give.
        writer.write_all(&wire[..2]).await.unwrap();
        let first =
            read_framed(&mut stream, &mut frame, &mut Vec::with_capacity(64)).now_or_never();
        assert!(first.is_none(), "a partial length gave {first:?}");
        assert_eq!(frame, Frame::Length([0, 0, 0, 0], 2));
        writer.write_all(&wire[2..7]).await.unwrap();
        // Then the rest but the next request, in one write: read across
        // frames, 8 bytes at a time (the buffer's capacity).
        let mut data = Vec::with_capacity(8);
        assert_eq!(
            read_framed(&mut stream, &mut frame, &mut data)
                .await
                .unwrap(),
            3
        );
        got.extend(&data);
        let end = wire.len() - b"next request".len();
        writer.write_all(&wire[7..end]).await.unwrap();
        loop {
            let mut data = Vec::with_capacity(8);
            match read_framed(&mut stream, &mut frame, &mut data)
                .await
                .unwrap()
            {
                0 => break,
                n => assert_eq!(n, data.len()),
            }
            got.extend(&data);
        }
        assert_eq!(got, b"hello framed world");
        assert_eq!(frame, Frame::Ended);
        writer.write_all(&wire[end..]).await.unwrap();
        let mut rest = [0u8; 12];
        stream.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"next request");
    }

    /// A stream that ends inside a frame is an error, not an end.
    #[tokio::test]
    async fn a_stream_cut_inside_a_frame_is_an_error() {
        let (mut writer, reader) = tokio::io::duplex(1 << 10);
        let mut stream: PeerStream = Box::new(reader);
        writer.write_all(&10u32.to_be_bytes()).await.unwrap();
        writer.write_all(b"abc").await.unwrap();
        drop(writer);
        let mut frame = Frame::START;
        let mut data = Vec::with_capacity(64);
        assert_eq!(
            read_framed(&mut stream, &mut frame, &mut data)
                .await
                .unwrap(),
            3
        );
        let cut = read_framed(&mut stream, &mut frame, &mut Vec::with_capacity(64)).await;
        assert_eq!(cut.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
    }
}
