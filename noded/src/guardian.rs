//! The guardian: a small process forked from noded at startup, before any
//! thread exists, that kills every managed process group the moment noded
//! dies, however it dies (SIGKILL, OOM, a crash).
//!
//! noded tells it over a pipe which groups exist (`+PGID` when a process is
//! spawned, `-PGID` once it is reaped). When the pipe reaches end-of-file,
//! noded is gone: the guardian SIGKILLs the groups still listed and exits.
//! The pipe's write end is close-on-exec, so managed processes never hold it
//! open. This replaces `PR_SET_PDEATHSIG`, which needs a `pre_exec` hook (so
//! std must fork instead of `posix_spawn`, a large cost per spawn) and kills
//! only the leader, not its group.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::OwnedFd;
use std::sync::Mutex;

use nix::sys::signal::{SigHandler, Signal, signal};
use nix::unistd::{ForkResult, Pid, fork};

/// noded's end of the guardian's pipe.
#[derive(Debug)]
pub struct Guardian {
    /// Writes are single short lines; the lock keeps lines whole.
    pipe: Mutex<File>,
    /// The guardian's host PID.
    pub pid: Pid,
}

impl Guardian {
    /// Forks the guardian. Call it while noded is still single-threaded
    /// (before the async runtime starts): the child runs ordinary code.
    pub fn start() -> anyhow::Result<Guardian> {
        let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        // SAFETY: noded has no other threads yet (documented precondition),
        // so the child may run any code.
        match unsafe { fork() }? {
            ForkResult::Child => {
                drop(write_end);
                guard(read_end);
            }
            ForkResult::Parent { child } => {
                drop(read_end);
                Ok(Guardian {
                    pipe: Mutex::new(File::from(write_end)),
                    pid: child,
                })
            }
        }
    }

    /// A process group now exists.
    pub fn watch(&self, pgid: Pid) {
        self.send(format!("+{pgid}\n"));
    }

    /// A process group's leader was reaped.
    pub fn forget(&self, pgid: Pid) {
        self.send(format!("-{pgid}\n"));
    }

    fn send(&self, line: String) {
        let mut pipe = self.pipe.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = pipe.write_all(line.as_bytes()) {
            tracing::error!(error = %e, "guardian is gone: processes will outlive a crash of noded");
        }
    }
}

/// The guardian's whole life: track groups until noded is gone, then kill
/// them. Never returns.
fn guard(pipe: OwnedFd) -> ! {
    // Ctrl-C in noded's terminal reaches the guardian too; it must outlive
    // noded's shutdown, so it ignores the signals that stop noded.
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: SigIgn installs no handler code.
        let _ = unsafe { signal(sig, SigHandler::SigIgn) };
    }
    let _ = nix::sys::prctl::set_name(c"noded-guardian");
    let mut groups = HashSet::new();
    for line in BufReader::new(File::from(pipe)).lines() {
        let Ok(line) = line else { break };
        let (op, pgid) = line.split_at(line.len().min(1));
        let Ok(pgid) = pgid.parse::<i32>() else {
            continue;
        };
        match op {
            "+" => groups.insert(pgid),
            "-" => groups.remove(&pgid),
            _ => false,
        };
    }
    for pgid in groups {
        // SAFETY: killpg takes two integers.
        unsafe { libc::killpg(pgid, libc::SIGKILL) };
    }
    std::process::exit(0)
}
