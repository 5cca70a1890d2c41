//! Reads the host's /proc: a process's state, CPU time, memory and start
//! time, and the machine's load, memory and boot time. Pure parsing over
//! file contents, so it is tested without processes.

use std::sync::OnceLock;

use nix::unistd::Pid;

/// What /proc/<pid>/stat says about a host process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostStat {
    /// The State letter (R, S, D, T, t, Z, ...).
    pub state: char,
    /// Process group id.
    pub pgrp: i32,
    /// User + system time of the process and its waited-for children, in ms.
    pub cpu_time_ms: u64,
    /// Number of threads.
    pub threads: u32,
    /// Start time in clock ticks after boot; with the PID, a process's
    /// identity (PIDs are reused, this pair is not).
    pub start_ticks: u64,
    /// Resident set size in bytes.
    pub rss_bytes: u64,
}

impl HostStat {
    /// Whether the process is stopped by a signal or a tracer.
    pub fn is_stopped(&self) -> bool {
        matches!(self.state, 'T' | 't')
    }
}

/// Reads /proc/<pid>/stat; `None` if the process does not exist.
pub fn stat(pid: Pid) -> Option<HostStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// The uid and gid owning /proc/<pid> (the process's effective ids).
pub fn owner(pid: Pid) -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(format!("/proc/{pid}")).ok()?;
    Some((meta.uid(), meta.gid()))
}

/// Parses the one line of /proc/<pid>/stat. The comm field is in
/// parentheses and may itself contain spaces and parentheses, so fields are
/// counted from the last ')'.
pub fn parse_stat(text: &str) -> Option<HostStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state) of proc(5).
    let field = |n: usize| fields.get(n - 3).copied();
    let num = |n: usize| field(n).and_then(|f| f.parse::<u64>().ok());
    let ticks = clock_ticks_per_sec();
    let cpu_ticks = num(14)? + num(15)? + num(16)? + num(17)?;
    Some(HostStat {
        state: field(3)?.chars().next()?,
        pgrp: field(5)?.parse().ok()?,
        cpu_time_ms: cpu_ticks * 1000 / ticks,
        threads: num(20)? as u32,
        start_ticks: num(22)?,
        rss_bytes: num(24)? * page_size(),
    })
}

/// Clock ticks per second (USER_HZ).
pub fn clock_ticks_per_sec() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .map(|t| t as u64)
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

fn page_size() -> u64 {
    static PAGE: OnceLock<u64> = OnceLock::new();
    *PAGE.get_or_init(|| {
        nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .map(|t| t as u64)
            .unwrap_or(4096)
    })
}

/// The machine's boot time in ms since the epoch (`btime` of /proc/stat).
pub fn boot_time_ms() -> u64 {
    static BOOT: OnceLock<u64> = OnceLock::new();
    *BOOT.get_or_init(|| {
        std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("btime "))
                    .and_then(|v| v.trim().parse::<u64>().ok())
            })
            .map(|secs| secs * 1000)
            .unwrap_or(0)
    })
}

/// The machine's load and memory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MachineLoad {
    /// 1, 5 and 15 minute load averages.
    pub loadavg: [f64; 3],
    /// MemTotal in bytes.
    pub mem_total: u64,
    /// MemAvailable in bytes.
    pub mem_available: u64,
    /// Online CPUs.
    pub cpus: u32,
}

/// Reads /proc/loadavg and /proc/meminfo.
pub fn machine_load() -> MachineLoad {
    let loadavg = read_proc_file("/proc/loadavg").unwrap_or_default();
    let meminfo = read_proc_file("/proc/meminfo").unwrap_or_default();
    let mut load = parse_meminfo(&meminfo);
    for (slot, value) in load.loadavg.iter_mut().zip(loadavg.split_whitespace()) {
        *slot = value.parse().unwrap_or(0.0);
    }
    load.cpus = cpus();
    load
}

/// A small /proc file, read in one go: /proc reports a size of 0, so
/// `fs::read_to_string` starts with a 32-byte read and doubles (eight
/// reads for /proc/meminfo, every second on every node).
fn read_proc_file(path: &str) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::with_capacity(8 << 10);
    std::fs::File::open(path)?.read_to_string(&mut text)?;
    Ok(text)
}

/// The CPUs this process may use, read once (`available_parallelism`
/// reads the cgroup's files each time: a tenth of an idle node's CPU when
/// sampled every second).
fn cpus() -> u32 {
    static CPUS: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1)
    })
}

fn parse_meminfo(text: &str) -> MachineLoad {
    let kib = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|k| k * 1024)
            .unwrap_or(0)
    };
    MachineLoad {
        mem_total: kib("MemTotal:"),
        mem_available: kib("MemAvailable:"),
        ..MachineLoad::default()
    }
}

/// A pidfd for process `pid` (pidfd_open(2)): it keeps naming that process
/// even if the PID is reused.
pub fn pidfd_open(pid: Pid) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open with integers; a valid result is a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: just returned by the kernel, owned here.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

/// A pidfd for the process an `Inherit` names (its PID, uid and start
/// time), or `None` when it is gone or another process has its PID: the
/// PID is pinned with the pidfd first, then checked.
pub fn pidfd_of(inherit: &proto::keeper::Inherit) -> Option<std::os::fd::OwnedFd> {
    let host = Pid::from_raw(inherit.pid);
    let pidfd = pidfd_open(host).ok()?;
    let same = stat(host).is_some_and(|st| st.start_ticks == inherit.start_ticks)
        && owner(host).is_some_and(|(uid, _)| uid == inherit.uid);
    same.then_some(pidfd)
}

/// A copy of descriptor `fd` of the process behind `pidfd`
/// (pidfd_getfd(2); close-on-exec).
pub fn take_fd(
    pidfd: std::os::fd::BorrowedFd<'_>,
    fd: i32,
) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: pidfd_getfd with a valid pidfd; the result is a new
    // descriptor owned here.
    let got = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if got < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(got as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_a_tricky_comm() {
        let line = "1234 (a) b (c)) T 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 3 0 987654 1000000 25 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.state, 'T');
        assert!(s.is_stopped());
        assert_eq!(s.pgrp, 1234);
        assert_eq!(s.cpu_time_ms, 310 * 1000 / clock_ticks_per_sec());
        assert_eq!(s.threads, 3);
        assert_eq!(s.start_ticks, 987_654);
        assert_eq!(s.rss_bytes, 25 * page_size());
    }

    #[test]
    fn reads_this_process() {
        let me = stat(nix::unistd::getpid()).unwrap();
        assert!("RSD".contains(me.state), "{}", me.state);
        assert!(me.threads >= 1);
        assert!(boot_time_ms() > 0);
        let load = machine_load();
        assert!(load.mem_total > 0 && load.cpus >= 1);
    }
}
