//! nsh's own signals around a foreground process: ending or stopping
//! itself as a signal would, a clean signal mask for children, and the
//! [`SignalRelay`] that forwards the signals it catches.

use super::*;

/// Ends nsh the way `signal` ended a process it stands for, so that its
/// parent (bash) sees "killed by `signal`": restores the terminal, sets the
/// signal's default action, unblocks it and raises it. Core dumps are
/// disabled first (the process that dumped core is remote). A signal whose
/// default action does not terminate falls back to `exit(proto::signal_status(signal))`.
pub fn kill_self(signal: i32) -> ! {
    restore_terminal();
    // SAFETY: plain system calls on valid arguments; `set` and `limit`
    // are initialized before use. Nothing runs after `raise` but exit.
    unsafe {
        let limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &limit);
        libc::signal(signal, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(signal);
    }
    std::process::exit(proto::signal_status(signal))
}

/// Stops nsh as SIGTSTP's default action would (so that the shell that
/// started it sees a stopped job) and returns once it is continued. The
/// previous SIGTSTP action (e.g. tokio's handler) is put back afterwards.
/// The caller restores the terminal first.
pub fn stop_self() {
    // SAFETY: sigaction with a zeroed-then-filled struct and a valid old
    // pointer; raise and pthread_sigmask on valid arguments.
    unsafe {
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut default.sa_mask);
        let mut previous: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGTSTP, &default, &mut previous) != 0 {
            return;
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTSTP);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        // Stops the whole process here; returns after SIGCONT. In an
        // orphaned process group the kernel discards it and we go on.
        libc::raise(libc::SIGTSTP);
        libc::sigaction(libc::SIGTSTP, &previous, std::ptr::null_mut());
    }
}

/// For `CommandExt::pre_exec` of every local child nsh starts (dev nodes,
/// their mount, `@local`): std's `Command` passes the spawning thread's
/// signal mask on to the child, and a program started with signals blocked
/// misbehaves (a noded that never sees SIGTERM). Clears the mask; makes
/// only async-signal-safe calls, as `pre_exec` requires.
pub fn reset_signal_mask() -> io::Result<()> {
    // SAFETY: sigemptyset and sigprocmask on a local, initialized set are
    // async-signal-safe and have no other preconditions.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        if libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Signals nsh catches while a process is in the foreground and forwards
/// to it. Create it right before spawning the process: it catches signals
/// from its creation on (so one that arrives before the attachment still
/// reaches the process), and tokio keeps the handlers installed for the
/// rest of nsh's life (the default action of these signals no longer
/// applies to nsh; see [`kill_self`]).
pub struct SignalRelay {
    /// One tokio listener per forwarded signal.
    forwarded: Vec<(Signal, tokio::signal::unix::Signal)>,
    /// SIGWINCH, forwarded as `resize` when the process has a terminal.
    winch: tokio::signal::unix::Signal,
}

impl SignalRelay {
    /// Catches `signals` (e.g. SIGINT, SIGQUIT, SIGTSTP) and SIGWINCH.
    /// A signal nsh ignores stays ignored and is not forwarded, as shells
    /// do: a background `nsh @n2 cmd &` of a script ignores SIGINT and
    /// SIGQUIT, so Ctrl-C does not reach it. SIGKILL and SIGSTOP cannot be
    /// caught and are refused.
    pub fn new(signals: &[Signal]) -> Result<SignalRelay, TerminalError> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut forwarded = Vec::new();
        for &sig in signals.iter().filter(|s| !is_ignored(**s)) {
            let listener = signal(SignalKind::from_raw(sig as i32))
                .map_err(TerminalError::io("install a signal handler"))?;
            forwarded.push((sig, listener));
        }
        let winch = signal(SignalKind::window_change())
            .map_err(TerminalError::io("install the SIGWINCH handler"))?;
        Ok(SignalRelay { forwarded, winch })
    }

    /// The next signal nsh receives: one to forward, or a window change
    /// (only when `winch` is set).
    pub(super) async fn recv(&mut self, winch: bool) -> Caught {
        let forwarded = async {
            if self.forwarded.is_empty() {
                return std::future::pending().await;
            }
            let waits = self.forwarded.iter_mut().map(|(sig, listener)| {
                Box::pin(async move {
                    // `None` only when the runtime shuts down.
                    if listener.recv().await.is_none() {
                        std::future::pending::<()>().await;
                    }
                    *sig
                })
            });
            select_all(waits).await.0
        };
        let winch_seen = async {
            if !winch || self.winch.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            sig = forwarded => Caught::Forward(sig),
            () = winch_seen => Caught::WindowChanged,
        }
    }
}

/// Whether `signal`'s action is SIG_IGN.
pub(super) fn is_ignored(signal: Signal) -> bool {
    // SAFETY: sigaction with a null new action only reads the current one
    // into `current`, a live, zero-initialized struct.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal as i32, std::ptr::null(), &mut current) == 0
            && current.sa_sigaction == libc::SIG_IGN
    }
}

/// A signal [`SignalRelay`] caught.
pub(super) enum Caught {
    Forward(Signal),
    WindowChanged,
}
