//! The inode scheme: what each inode number is ([`Entry`]), computed
//! rather than stored, and which files are sized or immutable.
//!
//! A PID directory is `pid << 8`, its files `pid << 8 | n`, its `task/`
//! entries `pid << 8 | 0x40` and up; node directories live above `1 << 48`
//! by slot, service directories above `1 << 49` by the name's number, and
//! `kv/` entries above `1 << 50` by the number of their (user, path); the
//! fixed directories and `proc/`'s global files have small numbers.

use std::time::Duration;

use proto::{Gpid, Slot};

/// Root directory inode.
pub const ROOT: u64 = 1;
pub(super) const PROC: u64 = 2;
pub(super) const NODES: u64 = 3;
pub(super) const SELF: u64 = 4;
pub(super) const THREAD_SELF: u64 = 5;
pub(super) const SYS: u64 = 6;
pub(super) const SYS_KERNEL: u64 = 7;
pub(super) const SVC: u64 = 8;
pub(super) const KV: u64 = 9;
pub(super) const GLOBAL_BASE: u64 = 16;
pub(super) const SYS_FILE_BASE: u64 = 32;
pub(super) const NODE_BASE: u64 = 1 << 48;
pub(super) const SVC_BASE: u64 = 1 << 49;
pub(super) const KV_BASE: u64 = 1 << 50;
pub(super) const HOST_PID_BASE: u64 = 1 << 47;
pub(super) const TASK_DIR: u64 = 0x40;
pub(super) const TASK: u64 = 0x80;

/// Global files of `proc/`, as the tools read them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GlobalFile {
    /// `btime` is the cluster's boot time (the earliest node's).
    Stat,
    /// Seconds since the cluster's boot time.
    Uptime,
    /// Memory of all nodes that are up, summed.
    Meminfo,
    /// Load of all nodes that are up, summed; process counts of the cluster.
    Loadavg,
    /// The mount host's CPUs.
    Cpuinfo,
}

pub(super) const GLOBAL_FILES: [(GlobalFile, &str); 5] = [
    (GlobalFile::Stat, "stat"),
    (GlobalFile::Uptime, "uptime"),
    (GlobalFile::Meminfo, "meminfo"),
    (GlobalFile::Loadavg, "loadavg"),
    (GlobalFile::Cpuinfo, "cpuinfo"),
];

/// Files of `proc/sys/kernel/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SysFile {
    /// Wide enough for every cluster PID, so columns line up.
    PidMax,
    /// The mount host's kernel release.
    Osrelease,
}

pub(super) const SYS_FILES: [(SysFile, &str); 2] = [
    (SysFile::PidMax, "pid_max"),
    (SysFile::Osrelease, "osrelease"),
];

/// `pid_max` as served: as many digits as the largest cluster PID.
pub const PID_MAX: &str = "2147483647";

/// Files in a process directory, in listing order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PidFile {
    /// Linux status layout.
    Status,
    /// Linux stat layout.
    Stat,
    /// argv, NUL-ended.
    Cmdline,
    /// Environment, NUL-ended.
    Environ,
    /// Node name.
    Node,
    /// Symlink to the working directory.
    Cwd,
    /// Symlink to the executable.
    Exe,
    /// Captured stdout.
    Stdout,
    /// Captured stderr.
    Stderr,
    /// Writes go to stdin.
    Stdin,
    /// Control commands.
    Ctl,
    /// Exit status.
    Exit,
    /// Memory in pages, as Linux's statm.
    Statm,
    /// The command name.
    Comm,
    /// The controlling terminal, empty without one.
    Ctty,
}

/// Files of `task/<tid>/`.
pub(super) const TASK_FILES: [PidFile; 5] = [
    PidFile::Status,
    PidFile::Stat,
    PidFile::Statm,
    PidFile::Cmdline,
    PidFile::Comm,
];

pub(super) const PID_FILES: [(PidFile, &str); 15] = [
    (PidFile::Status, "status"),
    (PidFile::Stat, "stat"),
    (PidFile::Cmdline, "cmdline"),
    (PidFile::Environ, "environ"),
    (PidFile::Node, "node"),
    (PidFile::Cwd, "cwd"),
    (PidFile::Exe, "exe"),
    (PidFile::Stdout, "stdout"),
    (PidFile::Stderr, "stderr"),
    (PidFile::Stdin, "stdin"),
    (PidFile::Ctl, "ctl"),
    (PidFile::Exit, "exit"),
    (PidFile::Statm, "statm"),
    (PidFile::Comm, "comm"),
    (PidFile::Ctty, "ctty"),
];

/// Files in a node directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeFile {
    /// State, slot, address, labels, uptime.
    Status,
    /// As /proc/loadavg.
    Loadavg,
    /// As /proc/meminfo.
    Meminfo,
    /// Its PIDs, one a line.
    Procs,
}

pub(super) const NODE_FILES: [(NodeFile, &str); 4] = [
    (NodeFile::Status, "status"),
    (NodeFile::Loadavg, "loadavg"),
    (NodeFile::Meminfo, "meminfo"),
    (NodeFile::Procs, "procs"),
];

/// Files in a service directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SvcFile {
    /// The spec as `key: value` lines.
    Spec,
    /// The replicas as a table.
    Replicas,
}

pub(super) const SVC_FILES: [(SvcFile, &str); 2] =
    [(SvcFile::Spec, "spec"), (SvcFile::Replicas, "replicas")];

/// What an inode is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// `/`.
    Root,
    /// `/proc`.
    ProcDir,
    /// `/nodes`.
    NodesDir,
    /// `/proc/<pid>`.
    Pid(Gpid),
    /// `/proc/<pid>/<file>`.
    PidFile(Gpid, PidFile),
    /// `/nodes/<name>`, by slot.
    NodeDir(Slot),
    /// `/nodes/<name>/<file>`, by slot.
    NodeFile(Slot, NodeFile),
    /// `/proc/self`: a symlink to the caller's /proc entry.
    SelfLink,
    /// `/proc/thread-self`.
    ThreadSelfLink,
    /// `/proc/<host pid>` of the caller itself: a symlink.
    HostPid(u32),
    /// `/proc/<global file>`.
    Global(GlobalFile),
    /// `/proc/sys`.
    SysDir,
    /// `/proc/sys/kernel`.
    SysKernelDir,
    /// `/proc/sys/kernel/<file>`.
    Sys(SysFile),
    /// `/proc/<pid>/task`.
    TaskDir(Gpid),
    /// `/proc/<pid>/task/<tid>` (one task per process: tid = pid).
    Task(Gpid),
    /// `/proc/<pid>/task/<tid>/<file>`.
    TaskFile(Gpid, PidFile),
    /// `/svc`.
    SvcDir,
    /// `/svc/<name>`, by the name's number (see services.rs).
    Service(u32),
    /// `/svc/<name>/<file>`.
    ServiceFile(u32, SvcFile),
    /// `/kv`: each user sees their own keys there.
    KvDir,
    /// A key or a directory of keys under `/kv`, by the number of its
    /// user and path (see kv.rs).
    Kv(u32),
}

impl Entry {
    /// Its inode number.
    pub fn ino(self) -> u64 {
        // Files in a directory are numbered from 1 (0 is the directory).
        let file_index = |f: PidFile| index_in(&PID_FILES, f) + 1;
        match self {
            Entry::Root => ROOT,
            Entry::ProcDir => PROC,
            Entry::NodesDir => NODES,
            Entry::Pid(pid) => u64::from(pid.get()) << 8,
            Entry::PidFile(pid, f) => (u64::from(pid.get()) << 8) | file_index(f),
            Entry::NodeDir(slot) => NODE_BASE | (slot.raft_id() << 8),
            Entry::NodeFile(slot, f) => {
                NODE_BASE | (slot.raft_id() << 8) | (index_in(&NODE_FILES, f) + 1)
            }
            Entry::SelfLink => SELF,
            Entry::ThreadSelfLink => THREAD_SELF,
            Entry::HostPid(pid) => HOST_PID_BASE | u64::from(pid),
            Entry::Global(g) => GLOBAL_BASE + index_in(&GLOBAL_FILES, g),
            Entry::SysDir => SYS,
            Entry::SysKernelDir => SYS_KERNEL,
            Entry::Sys(f) => SYS_FILE_BASE + index_in(&SYS_FILES, f),
            Entry::TaskDir(pid) => (u64::from(pid.get()) << 8) | TASK_DIR,
            Entry::Task(pid) => (u64::from(pid.get()) << 8) | TASK,
            Entry::TaskFile(pid, f) => (u64::from(pid.get()) << 8) | TASK | file_index(f),
            Entry::SvcDir => SVC,
            Entry::Service(id) => SVC_BASE | (u64::from(id) << 8),
            Entry::ServiceFile(id, f) => {
                SVC_BASE | (u64::from(id) << 8) | (index_in(&SVC_FILES, f) + 1)
            }
            Entry::KvDir => KV,
            Entry::Kv(id) => KV_BASE | u64::from(id),
        }
    }

    /// The entry of an inode number.
    pub fn from_ino(ino: u64) -> Option<Entry> {
        match ino {
            ROOT => Some(Entry::Root),
            PROC => Some(Entry::ProcDir),
            NODES => Some(Entry::NodesDir),
            SELF => Some(Entry::SelfLink),
            THREAD_SELF => Some(Entry::ThreadSelfLink),
            SYS => Some(Entry::SysDir),
            SYS_KERNEL => Some(Entry::SysKernelDir),
            SVC => Some(Entry::SvcDir),
            KV => Some(Entry::KvDir),
            i if (GLOBAL_BASE..GLOBAL_BASE + GLOBAL_FILES.len() as u64).contains(&i) => {
                Some(Entry::Global(GLOBAL_FILES[(i - GLOBAL_BASE) as usize].0))
            }
            i if (SYS_FILE_BASE..SYS_FILE_BASE + SYS_FILES.len() as u64).contains(&i) => {
                Some(Entry::Sys(SYS_FILES[(i - SYS_FILE_BASE) as usize].0))
            }
            i if (HOST_PID_BASE..NODE_BASE).contains(&i) => {
                u32::try_from(i - HOST_PID_BASE).ok().map(Entry::HostPid)
            }
            i if i >= KV_BASE => u32::try_from(i - KV_BASE).ok().map(Entry::Kv),
            i if i >= SVC_BASE => {
                let id = u32::try_from((i - SVC_BASE) >> 8).ok()?;
                match (i & 0xff) as usize {
                    0 => Some(Entry::Service(id)),
                    n => SVC_FILES
                        .get(n - 1)
                        .map(|(f, _)| Entry::ServiceFile(id, *f)),
                }
            }
            i if i >= NODE_BASE => {
                let slot = Slot::new((i - NODE_BASE) >> 8).ok()?;
                match (i & 0xff) as usize {
                    0 => Some(Entry::NodeDir(slot)),
                    n => NODE_FILES
                        .get(n - 1)
                        .map(|(f, _)| Entry::NodeFile(slot, *f)),
                }
            }
            i => {
                let pid = Gpid::from_raw(i64::try_from(i >> 8).ok()?).ok()?;
                let low = i & 0xff;
                match low {
                    0 => Some(Entry::Pid(pid)),
                    TASK_DIR => Some(Entry::TaskDir(pid)),
                    TASK => Some(Entry::Task(pid)),
                    n if n > TASK => PID_FILES
                        .get((n - TASK - 1) as usize)
                        .map(|(f, _)| Entry::TaskFile(pid, *f)),
                    n => PID_FILES
                        .get(n as usize - 1)
                        .map(|(f, _)| Entry::PidFile(pid, *f)),
                }
            }
        }
    }
}

/// Where `file` stands in a table of files and their names (every file
/// has a row, so the fallback 0 is never taken).
fn index_in<F: PartialEq>(table: &[(F, &str)], file: F) -> u64 {
    table.iter().position(|(f, _)| *f == file).unwrap_or(0) as u64
}

/// Whether an inode is a process's file that reports its real size and is
/// read through the kernel's page cache (`status`, `stat`, `cmdline`, ...),
/// rather than size 0 with direct I/O. Its content is the rendering its
/// size was taken from, so the two always agree.
pub fn is_sized_process_file(ino: u64) -> bool {
    matches!(
        Entry::from_ino(ino),
        Some(Entry::PidFile(_, f) | Entry::TaskFile(_, f)) if matches!(
            f,
            PidFile::Status
                | PidFile::Environ
                | PidFile::Stat
                | PidFile::Statm
                | PidFile::Comm
                | PidFile::Ctty
                | PidFile::Cmdline
                | PidFile::Node
                | PidFile::Exit
        )
    )
}

/// Whether an inode is a process's file whose content never changes while
/// the process lives (it comes from the spawn record: `cmdline`, `environ`,
/// `comm`, `ctty`, `node`), so the kernel may keep it for as long as the
/// process is listed ([`IMMUTABLE_TTL`]): `ps` then looks up only `stat`
/// and `status` again.
pub fn is_immutable(ino: u64) -> bool {
    matches!(
        Entry::from_ino(ino),
        Some(Entry::PidFile(_, f) | Entry::TaskFile(_, f)) if matches!(
            f,
            PidFile::Cmdline | PidFile::Environ | PidFile::Comm | PidFile::Ctty | PidFile::Node
        )
    )
}

/// How long the kernel may keep an immutable file ([`is_immutable`]). A
/// process that ends takes them with it: its directory's entry expires
/// with the listing, and its next lookup fails.
pub const IMMUTABLE_TTL: Duration = Duration::from_secs(3600);

/// The inodes of `pid`'s sized files (in the full view).
pub fn sized_inos(pid: Gpid) -> impl Iterator<Item = u64> {
    PID_FILES.iter().flat_map(move |(f, _)| {
        [
            Entry::PidFile(pid, *f).ino(),
            Entry::TaskFile(pid, *f).ino(),
        ]
        .into_iter()
        .filter(|ino| is_sized_process_file(*ino))
    })
}
