//! Pseudo-terminals for processes started with a terminal: opening a pair
//! (close-on-exec from the start, so concurrent spawns never inherit it),
//! resizing, and the child-side setup that makes the slave the controlling
//! terminal. Used only by supervisor.rs.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};

/// A terminal pair: the master stays in noded, the slave goes to the child.
pub struct Pty {
    /// noded's end: output is read here, input written here.
    pub master: OwnedFd,
    /// The child's end (its stdin, stdout and stderr).
    pub slave: OwnedFd,
}

/// Opens a new terminal of `rows` x `cols` (0 means 24 x 80).
pub fn open(rows: u32, cols: u32) -> nix::Result<Pty> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let name = ptsname_r(&master)?;
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let master: OwnedFd = master.into();
    resize(&master, rows, cols)?;
    Ok(Pty { master, slave })
}

/// Sets the terminal size (the kernel sends SIGWINCH to its foreground group).
pub fn resize(master: &impl AsRawFd, rows: u32, cols: u32) -> nix::Result<()> {
    let size = libc::winsize {
        ws_row: if rows == 0 {
            24
        } else {
            rows.min(u16::MAX as u32) as u16
        },
        ws_col: if cols == 0 {
            80
        } else {
            cols.min(u16::MAX as u32) as u16
        },
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which is valid
    // for the duration of the call.
    let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    nix::errno::Errno::result(rc).map(drop)
}

/// In the child, after stdio is the slave and before exec: start a new
/// session and make stdin its controlling terminal.
///
/// Only async-signal-safe calls: this runs between fork and exec.
pub fn become_session_leader_with_ctty() -> std::io::Result<()> {
    nix::unistd::setsid()?;
    // SAFETY: TIOCSCTTY takes an int argument; fd 0 is the slave.
    let rc = unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) };
    nix::errno::Errno::result(rc)?;
    Ok(())
}

/// The terminal's end-of-file character sequence (Ctrl-D).
pub const EOF_CHAR: &[u8] = b"\x04";
