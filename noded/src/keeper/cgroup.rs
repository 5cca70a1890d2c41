//! One cgroup per kept process (cgroup v1 `pids` hierarchy), so that what a
//! process starts is found again even if it left the process group
//! (`setsid`, a double fork): `SIGTERM` and `SIGKILL` from the owner reach
//! it, and leftovers of a lost process are killed.
//!
//! Layout: `/sys/fs/cgroup/pids/nefele/<data dir id>/<pid>`. The child joins
//! its cgroup between fork and exec (before it switches users), so nothing
//! it starts can be outside it. Where the hierarchy is missing or not
//! writable (cgroup v2 only, a container), processes run without one and
//! only their group is signalled; the keeper says so once in its log.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The v1 `pids` hierarchy.
const HIERARCHY: &str = "/sys/fs/cgroup/pids";

/// The directory of every cgroup of the keeper of `data_dir`.
pub fn root(data_dir: &Path) -> PathBuf {
    let canonical = data_dir
        .canonicalize()
        .unwrap_or_else(|_| data_dir.to_path_buf());
    let digest = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    let id = proto::tls::hex(&digest[..8]);
    Path::new(HIERARCHY).join("nefele").join(id)
}

/// The cgroup of one process.
pub fn of(data_dir: &Path, pid: proto::Gpid) -> PathBuf {
    root(data_dir).join(pid.to_string())
}

/// Makes the keeper's directory; `false` if cgroups cannot be used here.
pub fn prepare(data_dir: &Path) -> bool {
    let root = root(data_dir);
    match std::fs::create_dir_all(&root) {
        Ok(()) => {
            // Empty cgroups left by an earlier keeper (lost processes).
            for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
                if entry.path().is_dir() {
                    remove(&entry.path());
                }
            }
            true
        }
        Err(e) => {
            tracing::warn!(path = %root.display(), error = %e, "no cgroup for processes: a process that leaves its process group is not stopped with it");
            false
        }
    }
}

/// Makes a process's cgroup; returns the path of its `cgroup.procs` for the
/// child to join (`None`: it runs without one).
pub fn create(dir: &Path) -> Option<CString> {
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            tracing::debug!(path = %dir.display(), error = %e, "cannot make a cgroup");
            return None;
        }
    }
    CString::new(dir.join("cgroup.procs").as_os_str().as_encoded_bytes()).ok()
}

/// In the child, between fork and exec: moves the calling process into the
/// cgroup whose `cgroup.procs` is `procs`. Only async-signal-safe calls
/// (open, write, close); a failure leaves it where it was.
pub fn join(procs: &CString) {
    // SAFETY: a NUL-terminated path; the descriptor is closed below.
    let fd = unsafe { libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd >= 0 {
        // SAFETY: writes one byte from a static buffer ("0": this process).
        unsafe {
            libc::write(fd, b"0".as_ptr().cast(), 1);
            libc::close(fd);
        }
    }
}

/// The host PIDs in a cgroup.
pub fn members(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|text| text.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Sends `signal` to every process in a cgroup that is not in process group
/// `pgid` (the group got it already); returns how many.
pub fn signal_escaped(dir: &Path, pgid: i32, signal: i32) -> usize {
    let mut sent = 0;
    for pid in members(dir) {
        let in_group =
            crate::hostproc::stat(nix::unistd::Pid::from_raw(pid)).is_some_and(|s| s.pgrp == pgid);
        // SAFETY: kill with integers.
        if !in_group && unsafe { libc::kill(pid, signal) } == 0 {
            sent += 1;
        }
    }
    sent
}

/// SIGKILLs everything in a cgroup; returns how many.
pub fn kill_all(dir: &Path) -> usize {
    members(dir)
        .into_iter()
        // SAFETY: kill with integers.
        .filter(|pid| unsafe { libc::kill(*pid, libc::SIGKILL) } == 0)
        .count()
}

/// SIGKILLs everything in a cgroup, waits (up to a second) for it to
/// empty, and removes it; returns how many were killed.
pub fn kill_and_remove(dir: &Path) -> usize {
    let killed = kill_all(dir);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while !members(dir).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    remove(dir);
    killed
}

/// Removes a cgroup if it is empty (best effort: one still in use stays).
pub fn remove(dir: &Path) {
    let _ = std::fs::remove_dir(dir);
}
