//! Moving bytes: output pipes and terminals into the logs (one shared
//! buffer), queued stdin into the process, and the log positions noded is
//! told about.

use super::*;

/// The size asked for output pipes (the kernel's `pipe-max-size` allows it).
const OUTPUT_PIPE_SIZE: libc::c_int = 1 << 20;

/// Tells noded each time a log grows or closes.
pub(super) async fn report_output(keeper: Arc<Keeper>, kept: Arc<Kept>, stream: Stream) {
    let mut pos = kept.log(stream).subscribe();
    while pos.changed().await.is_ok() {
        let closed = pos.borrow_and_update().closed;
        keeper.send(k::from_keeper::Body::Output(output_state(&kept, stream)));
        if closed {
            return;
        }
    }
}

pub(super) fn append(log: &OutputLog, data: &[u8], warned: &mut bool) {
    if let Err(e) = log.append(data)
        && !*warned
    {
        *warned = true;
        tracing::warn!(error = %e, "cannot store output; dropping it");
    }
}

/// How noded asks a pump for its pipe: it sends where the pipe should go.
pub(super) type Taker = oneshot::Sender<OwnedFd>;

/// Copies a pipe into a log until end-of-file, then closes the log. With a
/// window, it reads only while the log has room, so a process whose output
/// is not delivered blocks on its full pipe. A request on `take` stops
/// the copy: the log is closed where it stands and the pipe handed over
/// (a direct pipe's producer, read by noded from then on).
pub(super) async fn pump_pipe(
    fd: OwnedFd,
    log: Arc<OutputLog>,
    take: Option<oneshot::Receiver<Taker>>,
) {
    // A larger pipe than the default 64 KiB: a fast writer wakes the
    // keeper once per PUMP_BUF, not once per write (refused: the default).
    // SAFETY: fcntl on a descriptor we own.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, OUTPUT_PIPE_SIZE) };
    let mut take = take;
    // Waits for `ready` unless a take request comes first.
    async fn or_taken<T>(
        ready: impl std::future::Future<Output = T>,
        take: &mut Option<oneshot::Receiver<Taker>>,
    ) -> Result<T, Option<Taker>> {
        match take {
            None => Ok(ready.await),
            Some(rx) => tokio::select! {
                value = ready => Ok(value),
                taker = rx => Err(taker.ok()),
            },
        }
    }
    if let Ok(rx) = pipe::Receiver::from_owned_fd(fd) {
        let mut warned = false;
        loop {
            let room = match or_taken(log.room(PUMP_BUF), &mut take).await {
                Ok(room) => room,
                Err(taker) => return hand_over(rx, &log, taker, &mut take),
            };
            match or_taken(rx.readable(), &mut take).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => break,
                Err(taker) => return hand_over(rx, &log, taker, &mut take),
            }
            let read = PUMP.with_borrow_mut(|buf| match rx.try_read(&mut buf[..room]) {
                Ok(0) => Some(0),
                Ok(n) => {
                    append(&log, &buf[..n], &mut warned);
                    Some(n)
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    Some(usize::MAX)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "output pipe read failed");
                    None
                }
            });
            if matches!(read, Some(0) | None) {
                break;
            }
        }
    }
    log.close();
}

/// Closes the log and gives the pipe to whoever asked (a dropped request
/// only stops listening for more).
fn hand_over(
    rx: pipe::Receiver,
    log: &OutputLog,
    taker: Option<Taker>,
    take: &mut Option<oneshot::Receiver<Taker>>,
) {
    *take = None;
    log.close();
    if let (Some(taker), Ok(fd)) = (taker, rx.into_nonblocking_fd()) {
        let _ = taker.send(fd);
    }
}

/// Takes a process's stdout pipe from its pump (see [`pump_pipe`]); the
/// keeper keeps a copy of the descriptor, whose number noded takes with
/// pidfd_getfd, until noded says it has its own (`ReleaseStdout`) or the
/// process is forgotten.
pub(super) async fn take_stdout(kept: Arc<Kept>) -> Result<k::reply::Body, Failure> {
    let gone = || {
        Failure::new(
            libc::EPIPE,
            "stdout is not a pipe the keeper reads (a terminal, inherited, taken or ended)".into(),
        )
    };
    let asker = lock(&kept.stdout_take).take().ok_or_else(gone)?;
    let (fd_tx, fd_rx) = oneshot::channel();
    asker.send(fd_tx).map_err(|_| gone())?;
    let fd = fd_rx.await.map_err(|_| gone())?;
    let raw = fd.as_raw_fd();
    *lock(&kept.taken_stdout) = Some(fd);
    Ok(k::reply::Body::Taken(k::Taken { fd: raw }))
}

pub(super) fn set_nonblocking(fd: &OwnedFd) -> std::io::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Registers an owned descriptor with the reactor.
pub(super) fn register(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an OwnedFd is open and keeps referring to the same file
    // description until it is dropped, which happens with the AsyncFd.
    Ok(unsafe { AsyncFd::register(fd) }?)
}

/// Copies a terminal's output into a log until the terminal is gone (EIO
/// once no process has it open), then closes the log.
pub(super) async fn pump_terminal(master: OwnedFd, log: Arc<OutputLog>) {
    let fd = match set_nonblocking(&master).and_then(|_| register(master)) {
        Ok(fd) => fd,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch terminal");
            log.close();
            return;
        }
    };
    let mut warned = false;
    loop {
        let room = log.room(PUMP_BUF).await;
        let Ok(mut guard) = fd.readable().await else {
            break;
        };
        let read = PUMP.with_borrow_mut(|buf| {
            match guard.try_io(|inner| {
                nix::unistd::read(inner.get_ref(), &mut buf[..room]).map_err(std::io::Error::from)
            }) {
                Ok(Ok(0)) => false,
                Ok(Ok(n)) => {
                    append(&log, &buf[..n], &mut warned);
                    true
                }
                Ok(Err(e)) => e.raw_os_error() == Some(libc::EINTR), // EIO: every slave closed
                Err(_would_block) => true,
            }
        });
        if !read {
            break;
        }
    }
    log.close();
}

/// Resolves once the process has finished.
pub(super) async fn finished(exited: &mut watch::Receiver<Option<k::Exited>>) {
    let _ = exited.wait_for(Option::is_some).await;
}

/// Feeds a stdin pipe until EOF is asked for, the reader goes away, or the
/// process finishes; dropping the pipe closes the process's stdin.
pub(super) async fn feed_pipe(
    fd: OwnedFd,
    mut rx: mpsc::Receiver<Input>,
    mut exited: watch::Receiver<Option<k::Exited>>,
) {
    use tokio::io::AsyncWriteExt;
    let Ok(mut tx) = pipe::Sender::from_owned_fd(fd) else {
        return;
    };
    loop {
        tokio::select! {
            input = rx.recv() => match input {
                Some(Input::Data(data)) => {
                    if tx.write_all(&data).await.is_err() {
                        break;
                    }
                }
                Some(Input::Eof) | None => break,
            },
            _ = finished(&mut exited) => break,
        }
    }
}

/// Feeds a terminal: data is typed in, EOF is Ctrl-D.
pub(super) async fn feed_terminal(
    master: OwnedFd,
    mut rx: mpsc::Receiver<Input>,
    mut exited: watch::Receiver<Option<k::Exited>>,
) {
    let fd = match set_nonblocking(&master).and_then(|_| register(master)) {
        Ok(fd) => fd,
        Err(_) => return,
    };
    loop {
        let data = tokio::select! {
            input = rx.recv() => match input {
                Some(Input::Data(data)) => data,
                Some(Input::Eof) => pty::EOF_CHAR.to_vec(),
                None => break,
            },
            _ = finished(&mut exited) => break,
        };
        let mut rest = &data[..];
        while !rest.is_empty() {
            let Ok(mut guard) = fd.writable().await else {
                return;
            };
            match guard.try_io(|inner| {
                nix::unistd::write(inner.get_ref(), rest).map_err(std::io::Error::from)
            }) {
                Ok(Ok(n)) => rest = &rest[n..],
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EINTR) => {}
                Ok(Err(_)) => return,
                Err(_would_block) => {}
            }
        }
    }
}

pub(super) fn output_state(kept: &Kept, stream: Stream) -> k::Output {
    let log = kept.log(stream);
    k::Output {
        pid: kept.pid.as_raw(),
        stream: super::super::wire_stream(stream),
        segments: log
            .segments()
            .into_iter()
            .map(|(base, len)| k::Segment { base, len })
            .collect(),
        closed: log.pos().closed,
        delivered: log.delivered_offset(),
    }
}
