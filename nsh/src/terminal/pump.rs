//! The threads behind [`super::run_foreground`]: one reads the process's
//! stdin from a local fd, one writes its output to local fds. Blocking
//! reads and writes live here so that the event loop never blocks.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use proto::Gpid;
use tokio::sync::{mpsc, oneshot};

use super::TerminalError;

/// Largest stdin chunk sent in one message.
const STDIN_CHUNK: usize = 64 << 10;

/// Output for the writer thread.
pub(super) enum Out {
    /// For stdout.
    Stdout(Vec<u8>),
    /// For stderr.
    Stderr(Vec<u8>),
}

/// Stdin for the process.
pub(super) enum In {
    /// Bytes read.
    Data(Vec<u8>),
    /// End of file.
    Eof,
}

/// A thread that reads an fd and hands the bytes over, until end of file
/// or until the pump is dropped (a wake-up pipe interrupts its poll, so it
/// never reads a byte meant for whoever reads the fd next).
pub(super) struct StdinPump {
    pub(super) rx: mpsc::Receiver<In>,
    /// Closing it wakes the thread up to exit.
    _wake: io::PipeWriter,
}

impl StdinPump {
    pub(super) fn start(fd: OwnedFd) -> Result<StdinPump, TerminalError> {
        let (wake_rx, wake_tx) = io::pipe().map_err(TerminalError::io("create a pipe"))?;
        let (tx, rx) = mpsc::channel(4);
        std::thread::Builder::new()
            .name("nsh-stdin".into())
            .spawn(move || pump_stdin(&fd, &wake_rx, &tx))
            .map_err(TerminalError::io("start the stdin thread"))?;
        Ok(StdinPump { rx, _wake: wake_tx })
    }
}

fn pump_stdin(fd: &OwnedFd, wake: &io::PipeReader, tx: &mpsc::Sender<In>) {
    let mut buf = vec![0u8; STDIN_CHUNK];
    loop {
        let mut fds = [
            libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a live array of two pollfd whose fds stay open
        // for the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
            if Errno::last() == Errno::EINTR {
                continue;
            }
            let _ = tx.blocking_send(In::Eof);
            return;
        }
        if fds[1].revents != 0 {
            return;
        }
        if fds[0].revents == 0 {
            continue;
        }
        match nix::unistd::read(fd, &mut buf) {
            Ok(0) => {
                let _ = tx.blocking_send(In::Eof);
                return;
            }
            Ok(n) => {
                if tx.blocking_send(In::Data(buf[..n].to_vec())).is_err() {
                    return;
                }
            }
            Err(Errno::EINTR | Errno::EAGAIN) => {}
            // EIO (a terminal hung up) and the like: the input is over.
            Err(_) => {
                let _ = tx.blocking_send(In::Eof);
                return;
            }
        }
    }
}

/// A thread that writes output to the stdout and stderr fds in the order
/// it came, with backpressure (blocking writes never stall the event loop,
/// so signals still get through while stdout is full).
pub(super) struct OutputPump {
    tx: Option<mpsc::Sender<Out>>,
    done_rx: Option<oneshot::Receiver<()>>,
}

impl OutputPump {
    /// The pump of `pid`'s output, and a receiver that resolves with the
    /// error of the first write to stdout that failed: EPIPE when its
    /// reader is gone, or another one (a full disk), which the pump has
    /// said on stderr as `nsh: PID: write error: WHY`. Output to stdout
    /// after a failed write is dropped.
    pub(super) fn start(
        pid: Gpid,
        stdout: OwnedFd,
        stderr: OwnedFd,
    ) -> Result<(OutputPump, oneshot::Receiver<Errno>), TerminalError> {
        let (tx, mut rx) = mpsc::channel::<Out>(4);
        let (broken_tx, broken_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("nsh-output".into())
            .spawn(move || {
                let mut broken_tx = Some(broken_tx);
                let (mut out_ok, mut err_ok) = (true, true);
                while let Some(out) = rx.blocking_recv() {
                    match out {
                        Out::Stdout(data) if out_ok => {
                            if let Err(e) = write_all(stdout.as_fd(), &data) {
                                out_ok = false;
                                if e != Errno::EPIPE {
                                    let why = crate::exec::redirect_message(&e.into());
                                    let line = format!("nsh: {pid}: write error: {why}\n");
                                    let _ = write_all(stderr.as_fd(), line.as_bytes());
                                }
                                if let Some(tx) = broken_tx.take() {
                                    let _ = tx.send(e);
                                }
                            }
                        }
                        Out::Stderr(data) if err_ok => {
                            err_ok = write_all(stderr.as_fd(), &data).is_ok();
                        }
                        _ => {}
                    }
                }
                let _ = done_tx.send(());
            })
            .map_err(TerminalError::io("start the output thread"))?;
        let pump = OutputPump {
            tx: Some(tx),
            done_rx: Some(done_rx),
        };
        Ok((pump, broken_rx))
    }

    /// A slot for the next piece of output (`None` if the thread is gone).
    pub(super) async fn reserve(&self) -> Option<mpsc::Permit<'_, Out>> {
        self.tx.as_ref()?.reserve().await.ok()
    }

    pub(super) async fn send(&self, out: Out) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(out).await;
        }
    }

    /// Waits until everything sent is written.
    pub(super) async fn finish(&mut self) {
        self.tx = None;
        if let Some(done) = self.done_rx.take() {
            let _ = done.await;
        }
    }
}

/// Resolves once with the error of stdout's first failed write (`None` if
/// the output thread ended without one), then never again.
pub(super) async fn broken_stdout(rx: &mut Option<oneshot::Receiver<Errno>>) -> Option<Errno> {
    match rx.as_mut() {
        Some(receiver) => {
            let broken = receiver.await.ok();
            *rx = None;
            broken
        }
        None => std::future::pending().await,
    }
}

/// Writes all of `data`, waiting for room if the fd is non-blocking.
fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> Result<(), Errno> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let mut pfd = libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: one live pollfd on an fd open for the call.
                unsafe { libc::poll(&mut pfd, 1, -1) };
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_all_reports_a_closed_pipe() {
        let (r, w) = io::pipe().expect("pipe");
        drop(r);
        // Rust ignores SIGPIPE, so the write fails with EPIPE.
        let w: OwnedFd = w.into();
        assert_eq!(write_all(w.as_fd(), b"x"), Err(Errno::EPIPE));
    }
}
