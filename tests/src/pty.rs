//! A program under a real pseudo-terminal, for interactive tests: it is the
//! session leader with the terminal as its controlling tty, so Ctrl-C and
//! Ctrl-Z typed into the master reach it as a user's keys would.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::pty::{OpenptyResult, Winsize, openpty};

/// A child on a pseudo-terminal; killed (by its PID) when dropped.
pub struct Pty {
    master: OwnedFd,
    child: Child,
    /// Everything read from the terminal so far.
    pub transcript: String,
    /// Where the next `expect` starts looking.
    seen: usize,
}

impl Pty {
    /// Starts `command` with a 40x120 terminal as stdin, stdout and stderr.
    pub fn spawn(mut command: Command) -> anyhow::Result<Pty> {
        let size = Winsize {
            ws_row: 40,
            ws_col: 120,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let OpenptyResult { master, slave } = openpty(Some(&size), None).context("openpty")?;
        let slave_raw = slave.as_raw_fd();
        command
            .stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and ioctl are async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                nix::unistd::setsid()?;
                if libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let _ = slave_raw;
                Ok(())
            });
        }
        let child = command.spawn().context("spawn under a pty")?;
        let flags = nix::fcntl::fcntl(master.as_fd(), nix::fcntl::FcntlArg::F_GETFL)?;
        let flags = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(master.as_fd(), nix::fcntl::FcntlArg::F_SETFL(flags))?;
        Ok(Pty {
            master,
            child,
            transcript: String::new(),
            seen: 0,
        })
    }

    /// Types `text` (use "\x03" for Ctrl-C, "\x1a" for Ctrl-Z, "\t" for Tab).
    pub fn send(&mut self, text: &str) -> anyhow::Result<()> {
        let mut data = text.as_bytes();
        while !data.is_empty() {
            match nix::unistd::write(self.master.as_fd(), data) {
                Ok(n) => data = &data[n..],
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => bail!("write to the pty: {e}"),
            }
        }
        Ok(())
    }

    /// Reads what is there without waiting.
    fn pump(&mut self) -> bool {
        let mut buf = [0u8; 8192];
        let mut any = false;
        loop {
            match nix::unistd::read(self.master.as_fd(), &mut buf) {
                Ok(0) => return any,
                Ok(n) => {
                    self.transcript
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                    any = true;
                }
                Err(_) => return any,
            }
        }
    }

    /// Waits until `needle` appears after the previous match; returns the
    /// text from the previous match to the end of this one.
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            self.pump();
            if let Some(i) = self.transcript[self.seen..].find(needle) {
                let end = self.seen + i + needle.len();
                let text = self.transcript[self.seen..end].to_string();
                self.seen = end;
                return Ok(text);
            }
            if Instant::now() >= deadline {
                bail!(
                    "{needle:?} did not appear within {timeout:?}; the terminal showed, since \
                     the last match:\n{}\n--- whole transcript:\n{}",
                    &self.transcript[self.seen..],
                    self.transcript
                );
            }
            let mut pfd = [nix::poll::PollFd::new(
                self.master.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            let _ = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(100u16));
        }
    }

    /// Waits for the child to exit; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<Option<i32>> {
        let exited = crate::wait_until_blocking("the program to exit", timeout, || {
            self.pump();
            self.child.try_wait().transpose()
        });
        match exited {
            Ok(status) => Ok(status?.code()),
            Err(e) => bail!("{e}; the terminal showed:\n{}", self.transcript),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
