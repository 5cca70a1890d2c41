//! Ending a waiting read when its reader is signalled. fuse.rs races every
//! READ against [`signalled`] of the thread that made it.
//!
//! A read of `stdout` at its end waits for output (minutes, hours), and
//! the kernel does not end it by itself: once a request has been handed to
//! nefelefs, the reader waits for the answer even when killed (state D,
//! `request_wait_answer`), so a Ctrl-C or `kill -9` of `tail -f` would
//! hang until the process printed or ended. The kernel's way out is
//! FUSE_INTERRUPT, but fuser 0.18 answers it with ENOSYS itself (a TODO in
//! its `request.rs`: the filesystem never sees it), and the kernel sends
//! no more after that. So a waiting read looks at its reader instead:
//! every [`POLL`] it reads `/proc/TID/status` of the request's thread, and
//! once that thread has a signal it will take (pending, neither blocked
//! nor ignored; SIGKILL always), or is gone, the read answers EINTR, as
//! the kernel would have. The signal is then delivered as the read
//! returns: a killed reader dies, a handler runs (and coreutils' tools
//! retry a read that says EINTR, so a stop with Ctrl-Z does not end
//! `tail -f`).

use std::time::Duration;

/// How often a waiting read looks at its reader.
pub const POLL: Duration = Duration::from_millis(100);

/// Resolves once thread `tid` (a FUSE request's `pid`: the calling
/// thread, numbered in nefelefs's PID namespace) has a signal to take or
/// is gone, looking every [`POLL`]. Never resolves for `tid` 0 (a caller
/// the kernel cannot number for us, as one in another PID namespace):
/// such a read waits as before.
pub async fn signalled(tid: u32) {
    if tid == 0 {
        return std::future::pending().await;
    }
    loop {
        tokio::time::sleep(POLL).await;
        if has_a_signal_to_take(tid) {
            return;
        }
    }
}

/// Whether thread `tid` has a signal to take, or no longer exists.
/// (Reading a /proc file blocks for microseconds, not on I/O.)
pub fn has_a_signal_to_take(tid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{tid}/status")) {
        Ok(status) => takes_a_signal(&status),
        // Gone (ESRCH on a thread that just exited): nobody waits.
        Err(e) => e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH),
    }
}

/// Whether a thread whose `/proc/TID/status` reads `status` has a
/// pending signal (its own, `SigPnd`, or its process's, `ShdPnd`) that it
/// neither blocks (`SigBlk`) nor ignores (`SigIgn`); a pending SIGKILL
/// always counts (a fatal signal to any thread puts one on every thread).
/// A status without those lines has none.
pub fn takes_a_signal(status: &str) -> bool {
    let mask = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0)
    };
    let pending = mask("SigPnd") | mask("ShdPnd");
    let kill = 1u64 << (libc::SIGKILL - 1);
    pending & kill != 0 || pending & !(mask("SigBlk") | mask("SigIgn")) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A status with these masks (and the lines around them).
    fn status(pnd: u64, shd: u64, blk: u64, ign: u64) -> String {
        format!(
            "Name:\tcat\nState:\tS (sleeping)\nSigQ:\t0/7823\n\
             SigPnd:\t{pnd:016x}\nShdPnd:\t{shd:016x}\nSigBlk:\t{blk:016x}\n\
             SigIgn:\t{ign:016x}\nSigCgt:\t0000000000000000\n"
        )
    }

    fn bit(sig: i32) -> u64 {
        1 << (sig - 1)
    }

    #[test]
    fn a_pending_signal_counts_unless_blocked_or_ignored() {
        assert!(!takes_a_signal(&status(0, 0, 0, 0)), "nothing pending");
        assert!(takes_a_signal(&status(0, bit(libc::SIGINT), 0, 0)));
        assert!(takes_a_signal(&status(bit(libc::SIGTERM), 0, 0, 0)));
        let int = bit(libc::SIGINT);
        assert!(!takes_a_signal(&status(0, int, int, 0)), "blocked");
        assert!(!takes_a_signal(&status(0, int, 0, int)), "ignored");
        // One blocked, another not.
        let usr = bit(libc::SIGUSR1);
        assert!(takes_a_signal(&status(usr, int, int, 0)));
        // SIGKILL always (as a fatal SIGINT puts one on the thread).
        let kill = bit(libc::SIGKILL);
        assert!(takes_a_signal(&status(kill, int, u64::MAX, u64::MAX)));
        // Real-time signals live in the high bits.
        assert!(takes_a_signal(&status(0, bit(64), 0, 0)));
        assert!(!takes_a_signal("Name:\tcat\n"), "no masks, no signal");
    }

    #[test]
    fn this_thread_has_none_and_a_gone_thread_counts() {
        let me = nix::unistd::gettid().as_raw() as u32;
        assert!(!has_a_signal_to_take(me));
        // A thread that ran and was joined: its entry goes as the kernel
        // releases it (just after the join may return), and its number is
        // not reused soon (the kernel hands out PIDs in a cycle).
        let gone = std::thread::spawn(|| nix::unistd::gettid().as_raw() as u32)
            .join()
            .expect("the thread ran");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !has_a_signal_to_take(gone) {
            assert!(std::time::Instant::now() < deadline, "{gone} still there");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[tokio::test]
    async fn caller_zero_is_never_signalled() {
        let wait = tokio::time::timeout(POLL * 3, signalled(0)).await;
        assert!(wait.is_err());
    }
}
