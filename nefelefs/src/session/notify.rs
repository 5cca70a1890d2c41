//! The seccomp user-notification protocol (seccomp_unotify(2)) on the
//! listener a filter install returned: receive a caught call, check that
//! its caller is still waiting, answer it.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// A caught system call.
#[derive(Clone, Copy, Debug)]
pub struct Call {
    /// The kernel's cookie for this call; answers name it.
    pub id: u64,
    /// The calling thread (a host TID).
    pub tid: u32,
    /// The system call number.
    pub nr: i64,
    /// Its six arguments, as the registers held them.
    pub args: [u64; 6],
}

/// The answer to a caught call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The call returns this value.
    Value(i64),
    /// The call fails with this errno.
    Fail(i32),
    /// The kernel carries the call out as if it had not been caught. Safe
    /// here because the supervisor enforces nothing on such calls: it only
    /// decides that they are not about the cluster.
    Continue,
}

/// The listener of a session's filter. Shared between the receiving
/// thread and the tasks that answer: the kernel serialises its ioctls.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Listener {
    /// Wraps the descriptor `filter::install` returned.
    pub fn new(fd: OwnedFd) -> Self {
        Listener { fd }
    }

    /// Waits for the next caught call. `Ok(None)` when that caller went
    /// away before it could be received (its call was interrupted).
    pub fn recv(&self) -> io::Result<Option<Call>> {
        // SAFETY: the kernel requires a zeroed buffer, and fills it.
        let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: ioctl on our listener with a buffer of the right type.
        let rc = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                &mut req as *mut libc::seccomp_notif,
            )
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::ENOENT) | Some(libc::EINTR) => Ok(None),
                _ => Err(err),
            };
        }
        Ok(Some(Call {
            id: req.id,
            tid: req.pid,
            nr: i64::from(req.data.nr),
            args: req.data.args,
        }))
    }

    /// Whether the call `id` still waits for an answer (its caller has not
    /// been killed and its TID not reused): checked after reading anything
    /// about the caller from /proc.
    pub fn is_waiting(&self, id: u64) -> bool {
        // SAFETY: ioctl on our listener with a u64.
        unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
                &id as *const u64,
            ) == 0
        }
    }

    /// Answers call `id`. A caller that went away meanwhile is not an
    /// error.
    pub fn answer(&self, id: u64, reply: Reply) -> io::Result<()> {
        let (val, error, flags) = match reply {
            Reply::Value(val) => (val, 0, 0),
            Reply::Fail(errno) => (0, -errno, 0),
            Reply::Continue => (0, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32),
        };
        let mut resp = libc::seccomp_notif_resp {
            id,
            val,
            error,
            flags,
        };
        // SAFETY: ioctl on our listener with a response of the right type.
        let rc = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND,
                &mut resp as *mut libc::seccomp_notif_resp,
            )
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ENOENT) {
                return Ok(());
            }
            return Err(err);
        }
        Ok(())
    }
}
