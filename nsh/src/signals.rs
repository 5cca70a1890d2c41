//! Signals that nsh itself receives (Ctrl-C, Ctrl-Z, Ctrl-\) and their
//! forwarding to the cluster processes of the foreground job.
//!
//! Handlers run as tasks on the shell's runtime. They set flags the
//! interpreter checks between commands, and signal the foreground job's
//! cluster processes through the API, since those are not in the
//! terminal's process group.

use proto::Gpid;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};

use crate::client::{Client, runtime};

/// Ctrl-C arrived: the foreground command line is abandoned.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// Ctrl-Z arrived: the foreground job was stopped.
pub static SUSPENDED: AtomicBool = AtomicBool::new(false);

/// Cluster PIDs of the foreground job.
static FOREGROUND: Mutex<BTreeSet<Gpid>> = Mutex::new(BTreeSet::new());
static CLIENT: OnceLock<Client> = OnceLock::new();

/// Gives the handlers a client to signal processes with.
pub fn set_client(client: &Client) {
    let _ = CLIENT.set(client.clone());
}

pub fn foreground_add(pid: Gpid) {
    if let Ok(mut set) = FOREGROUND.lock() {
        set.insert(pid);
    }
}

pub fn foreground_remove(pid: Gpid) {
    if let Ok(mut set) = FOREGROUND.lock() {
        set.remove(&pid);
    }
}

/// Whether `pid` belongs to the foreground job.
pub fn is_foreground(pid: Gpid) -> bool {
    FOREGROUND.lock().is_ok_and(|s| s.contains(&pid))
}

fn foreground() -> Vec<Gpid> {
    FOREGROUND
        .lock()
        .map(|s| s.iter().copied().collect())
        .unwrap_or_default()
}

/// Sends `sig` to every foreground cluster process.
fn forward(sig: Signal) {
    let Some(client) = CLIENT.get() else { return };
    for pid in foreground() {
        let mut api = client.processes();
        let request = proto::v1::SignalRequest {
            pid: pid.as_raw(),
            signal: sig as i32,
        };
        tokio::spawn(async move {
            let _ = tokio::time::timeout(crate::client::CALL_TIMEOUT, api.signal(request)).await;
        });
    }
}

/// Installs the handlers. An interactive shell survives Ctrl-C, Ctrl-Z and
/// Ctrl-\ (they act on the foreground job); a script dies of them once its
/// foreground process has been told (bash's behaviour).
pub fn install(interactive: bool) {
    let rt = runtime();
    let _guard = rt.enter();
    let mut handlers = vec![(SignalKind::interrupt(), Signal::SIGINT)];
    if interactive {
        handlers.push((SignalKind::quit(), Signal::SIGQUIT));
        handlers.push((SignalKind::from_raw(libc::SIGTSTP), Signal::SIGTSTP));
        handlers.push((SignalKind::terminate(), Signal::SIGTERM));
        for sig in [Signal::SIGTTOU, Signal::SIGTTIN] {
            // SAFETY: installing SIG_IGN has no handler code to be unsafe.
            unsafe {
                let _ = nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigIgn);
            }
        }
    }
    for (kind, sig) in handlers {
        let Ok(mut stream) = signal(kind) else {
            continue;
        };
        rt.spawn(async move {
            while stream.recv().await.is_some() {
                match sig {
                    Signal::SIGINT => {
                        INTERRUPTED.store(true, Ordering::SeqCst);
                        forward(Signal::SIGINT);
                    }
                    Signal::SIGQUIT => forward(Signal::SIGQUIT),
                    // The waiter stops the processes itself (synchronously,
                    // so a quick `fg` cannot overtake the stop).
                    Signal::SIGTSTP if !foreground().is_empty() => {
                        SUSPENDED.store(true, Ordering::SeqCst);
                    }
                    // An interactive shell ignores SIGTERM, as bash does.
                    _ => {}
                }
            }
        });
    }
}

/// Ends this process with `sig`'s default action (so a parent shell sees
/// "killed by SIGINT" and stops its loop, as with any program).
pub fn die_of(sig: Signal) -> ! {
    // SAFETY: restoring the default disposition runs no handler code.
    unsafe {
        let _ = nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigDfl);
    }
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(sig);
    let _ = set.thread_unblock();
    let _ = nix::sys::signal::raise(sig);
    std::process::exit(proto::signal_status(sig as i32))
}

/// Signals with a `trap` set, seen but not yet handled.
static PENDING: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());
/// Whether `PENDING` may hold something: checked before every command,
/// so the common case takes no lock.
static ANY_PENDING: AtomicBool = AtomicBool::new(false);
static WATCHED: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// Starts noting signal `name` (a `trap` condition without `SIG`) so its
/// trap runs between commands. INT is always handled; EXIT and ERR are not
/// signals.
pub fn watch(name: &str) {
    let Ok(sig) = format!("SIG{name}").parse::<Signal>() else {
        return;
    };
    if matches!(sig, Signal::SIGINT | Signal::SIGKILL | Signal::SIGSTOP) {
        return;
    }
    let Ok(mut watched) = WATCHED.lock() else {
        return;
    };
    if !watched.insert(sig as i32) {
        return;
    }
    let rt = runtime();
    let _guard = rt.enter();
    if let Ok(mut stream) = signal(SignalKind::from_raw(sig as i32)) {
        rt.spawn(async move {
            while stream.recv().await.is_some() {
                if let Ok(mut pending) = PENDING.lock() {
                    pending.insert(sig as i32);
                    ANY_PENDING.store(true, Ordering::SeqCst);
                }
            }
        });
    }
}

/// Signals watched only so that the EXIT trap runs before nsh dies of
/// them (bash runs it on a fatal signal too); none is trapped itself.
static FOR_EXIT_TRAP: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// An EXIT trap was set in a script: SIGTERM and SIGHUP, which would
/// kill nsh at once, are noted instead; a wait for a foreground command
/// gives up on them ([`fatal_pending`]) and the program ends through its
/// EXIT trap, then dies of the signal. (SIGINT already takes that path.)
pub fn watch_for_exit_trap() {
    for sig in [Signal::SIGTERM, Signal::SIGHUP] {
        let name = &sig.as_str()[3..];
        if WATCHED.lock().is_ok_and(|w| w.contains(&(sig as i32))) {
            continue;
        }
        if let Ok(mut set) = FOR_EXIT_TRAP.lock() {
            set.insert(sig as i32);
        }
        watch(name);
    }
}

/// Signal `name` got a trap of its own: a wait no longer gives up on it.
pub fn trapped(name: &str) {
    if let (Ok(sig), Ok(mut set)) = (format!("SIG{name}").parse::<Signal>(), FOR_EXIT_TRAP.lock()) {
        set.remove(&(sig as i32));
    }
}

/// A signal that arrived and should end nsh now (see
/// [`watch_for_exit_trap`]), left pending.
pub fn fatal_pending() -> Option<Signal> {
    if !ANY_PENDING.load(Ordering::SeqCst) {
        return None;
    }
    let pending = PENDING.lock().ok()?;
    let fatal = FOR_EXIT_TRAP.lock().ok()?;
    pending
        .iter()
        .find(|s| fatal.contains(s))
        .and_then(|s| Signal::try_from(*s).ok())
}

/// Takes the signals that arrived since the last call (names without
/// `SIG`).
pub fn take_pending() -> Vec<String> {
    if !ANY_PENDING.load(Ordering::SeqCst) {
        return Vec::new();
    }
    let Ok(mut pending) = PENDING.lock() else {
        return Vec::new();
    };
    ANY_PENDING.store(false, Ordering::SeqCst);
    std::mem::take(&mut *pending)
        .into_iter()
        .filter_map(|n| Signal::try_from(n).ok())
        .map(|s| s.as_str().trim_start_matches("SIG").to_string())
        .collect()
}

/// The largest PID the Linux kernel hands out (`pid_max` at most 2^22):
/// a PID up to this is a process of this machine; cluster PIDs are all
/// above 10,000,000 and job PIDs above 5,000,000.
pub const MAX_LOCAL_PID: i32 = 4_194_304;

/// How long `kill` waits for nsh's own handler to note a signal nsh sent
/// itself.
const SELF_SIGNAL_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// `kill` of a process of this machine with kill(2) (`signal` 0 checks
/// that it exists). When it is nsh itself and the signal is trapped, waits
/// until the handler has noted it, so the trap runs before the next
/// command, as in bash (whose handler runs in the sending process).
pub fn kill_local(pid: nix::unistd::Pid, signal: i32) -> nix::Result<()> {
    let sig = match signal {
        0 => None,
        n => Some(Signal::try_from(n)?),
    };
    let to_self = pid == nix::unistd::getpid();
    let watched = sig.is_some_and(|s| {
        s == Signal::SIGINT || WATCHED.lock().is_ok_and(|w| w.contains(&(s as i32)))
    });
    if to_self && sig == Some(Signal::SIGINT) {
        INTERRUPTED.store(false, Ordering::SeqCst);
    }
    nix::sys::signal::kill(pid, sig)?;
    if let (true, true, Some(sig)) = (to_self, watched, sig) {
        let deadline = std::time::Instant::now() + SELF_SIGNAL_WAIT;
        while std::time::Instant::now() < deadline {
            let noted = if sig == Signal::SIGINT {
                INTERRUPTED.load(Ordering::SeqCst)
            } else {
                PENDING.lock().is_ok_and(|p| p.contains(&(sig as i32)))
            };
            if noted {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    Ok(())
}

/// Whether `sig`'s default action ends the process (so a signal that
/// arrives after its trap was removed ends nsh as it would end bash).
pub fn terminates_by_default(name: &str) -> Option<Signal> {
    let sig = format!("SIG{name}").parse::<Signal>().ok()?;
    let harmless = matches!(
        sig,
        Signal::SIGCHLD
            | Signal::SIGCONT
            | Signal::SIGURG
            | Signal::SIGWINCH
            | Signal::SIGSTOP
            | Signal::SIGTSTP
            | Signal::SIGTTIN
            | Signal::SIGTTOU
    );
    (!harmless).then_some(sig)
}
