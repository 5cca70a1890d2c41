//! The local terminal: whether a descriptor is one, its window size, and
//! raw mode with a guard that restores it (also on panic and on the
//! signals that end nsh).

use super::*;

/// Whether `fd` is a terminal.
pub fn is_terminal(fd: BorrowedFd<'_>) -> bool {
    fd.is_terminal()
}

/// The window size of the terminal `fd`, or `None` if it is not one.
pub fn window_size(fd: BorrowedFd<'_>) -> Option<TerminalSize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` to the pointer, which points
    // to a live, properly aligned `winsize`; `fd` is open for the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    (rc == 0).then_some(TerminalSize {
        rows: u32::from(ws.ws_row),
        cols: u32::from(ws.ws_col),
    })
}

/// The terminal state to put back if nsh panics or kills itself while a
/// [`RawMode`] guard is alive: a duplicate of the terminal fd and its
/// settings before raw mode. A std mutex, never held across an await.
pub(super) static SAVED_TERMINAL: Mutex<Option<(OwnedFd, Termios)>> = Mutex::new(None);
pub(super) static PANIC_HOOK: Once = Once::new();

/// Puts a terminal in raw mode and restores its settings when dropped, when
/// nsh panics, and in [`kill_self`] / [`stop_self`]. One at a time: a
/// second guard replaces the first one's panic-time restore.
pub struct RawMode {
    fd: OwnedFd,
    saved: Termios,
}

impl RawMode {
    /// Switches the terminal `fd` to raw mode (no echo, no line editing, no
    /// signal characters, no output processing).
    pub fn enable(fd: BorrowedFd<'_>) -> Result<RawMode, TerminalError> {
        let fd = fd
            .try_clone_to_owned()
            .map_err(TerminalError::io("duplicate the terminal fd"))?;
        let saved = termios::tcgetattr(&fd)
            .map_err(|e| TerminalError::io("read the terminal settings")(e.into()))?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        PANIC_HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore_terminal();
                previous(info);
            }));
        });
        let spare = fd
            .try_clone()
            .map_err(TerminalError::io("duplicate the terminal fd"))?;
        *SAVED_TERMINAL.lock().unwrap_or_else(|e| e.into_inner()) = Some((spare, saved.clone()));
        if let Err(e) = termios::tcsetattr(&fd, SetArg::TCSADRAIN, &raw) {
            SAVED_TERMINAL
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            return Err(TerminalError::io("set raw mode")(e.into()));
        }
        Ok(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(&self.fd, SetArg::TCSADRAIN, &self.saved);
        SAVED_TERMINAL
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }
}

/// Restores the terminal a live [`RawMode`] guard changed, if any. For the
/// panic hook and for exits that skip destructors.
pub fn restore_terminal() {
    // try_lock: a panic while the lock is held must not deadlock the hook.
    let taken = match SAVED_TERMINAL.try_lock() {
        Ok(mut saved) => saved.take(),
        Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner().take(),
        Err(std::sync::TryLockError::WouldBlock) => None,
    };
    if let Some((fd, saved)) = taken {
        let _ = termios::tcsetattr(&fd, SetArg::TCSADRAIN, &saved);
    }
}
