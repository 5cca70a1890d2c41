//! Moving bytes: output pipes and terminals into the logs (one shared
//! buffer), queued stdin into the process, and the log positions noded is
//! told about.

use super::*;

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

/// Copies a pipe into a log until end-of-file, then closes the log. With a
/// window, it reads only while the log has room, so a process whose output
/// is not delivered blocks on its full pipe.
pub(super) async fn pump_pipe(fd: OwnedFd, log: Arc<OutputLog>) {
    if let Ok(rx) = pipe::Receiver::from_owned_fd(fd) {
        let mut warned = false;
        loop {
            let room = log.room(PUMP_BUF).await;
            if rx.readable().await.is_err() {
                break;
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
