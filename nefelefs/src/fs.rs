//! The filesystem model (SPEC §4), independent of FUSE: the inode scheme,
//! what each path is, its attributes and contents, and what writes do. It
//! is fed by a [`Backend`] and unit-tested without a mount; fuse.rs only
//! translates.
//!
//! - Inodes are computed, not stored: a PID directory is `pid << 8`, its
//!   files `pid << 8 | n`; node directories live above `1 << 48` by slot.
//! - `proc/` is listed from one List call cached for [`LIST_TTL`]; a PID
//!   missing from that snapshot is still found (lookup asks for it).
//! - Generated files are rendered when opened (a snapshot) and read with
//!   direct I/O at size 0, as Linux's /proc; `stdout`/`stderr` report the
//!   bytes captured so far, and a read at the end waits for more.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use proto::Gpid;
use proto::v1::{NodeInfo, OutputStream, ProcessInfo, ProcessState};

use crate::backend::{Backend, FsError, FsResult};
use crate::render;

/// How long one List (and one Nodes) answer serves directory listings and
/// lookups.
pub const LIST_TTL: Duration = Duration::from_secs(1);

/// Root directory inode.
pub const ROOT: u64 = 1;
const PROC: u64 = 2;
const NODES: u64 = 3;
const NODE_BASE: u64 = 1 << 48;

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
}

const PID_FILES: [(PidFile, &str); 12] = [
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

const NODE_FILES: [(NodeFile, &str); 4] = [
    (NodeFile::Status, "status"),
    (NodeFile::Loadavg, "loadavg"),
    (NodeFile::Meminfo, "meminfo"),
    (NodeFile::Procs, "procs"),
];

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
    Pid(i32),
    /// `/proc/<pid>/<file>`.
    PidFile(i32, PidFile),
    /// `/nodes/<name>`, by slot.
    NodeDir(u32),
    /// `/nodes/<name>/<file>`, by slot.
    NodeFile(u32, NodeFile),
}

impl Entry {
    /// Its inode number.
    pub fn ino(self) -> u64 {
        let file_index =
            |f: PidFile| PID_FILES.iter().position(|(p, _)| *p == f).unwrap_or(0) as u64 + 1;
        let node_index =
            |f: NodeFile| NODE_FILES.iter().position(|(p, _)| *p == f).unwrap_or(0) as u64 + 1;
        match self {
            Entry::Root => ROOT,
            Entry::ProcDir => PROC,
            Entry::NodesDir => NODES,
            Entry::Pid(pid) => (pid as u64) << 8,
            Entry::PidFile(pid, f) => ((pid as u64) << 8) | file_index(f),
            Entry::NodeDir(slot) => NODE_BASE | (u64::from(slot) << 8),
            Entry::NodeFile(slot, f) => NODE_BASE | (u64::from(slot) << 8) | node_index(f),
        }
    }

    /// The entry of an inode number.
    pub fn from_ino(ino: u64) -> Option<Entry> {
        match ino {
            ROOT => Some(Entry::Root),
            PROC => Some(Entry::ProcDir),
            NODES => Some(Entry::NodesDir),
            i if i >= NODE_BASE => {
                let slot = ((i - NODE_BASE) >> 8) as u32;
                match (i & 0xff) as usize {
                    0 => Some(Entry::NodeDir(slot)),
                    n => NODE_FILES
                        .get(n - 1)
                        .map(|(f, _)| Entry::NodeFile(slot, *f)),
                }
            }
            i => {
                let pid = i32::try_from(i >> 8).ok()?;
                Gpid::from_raw(i64::from(pid)).ok()?;
                match (i & 0xff) as usize {
                    0 => Some(Entry::Pid(pid)),
                    n => PID_FILES.get(n - 1).map(|(f, _)| Entry::PidFile(pid, *f)),
                }
            }
        }
    }
}

/// File types, as FUSE needs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink,
}

/// Attributes of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    /// Inode.
    pub ino: u64,
    /// Type.
    pub kind: Kind,
    /// Permission bits.
    pub perm: u16,
    /// Size in bytes (0 for generated files, as /proc).
    pub size: u64,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time (a process's start time).
    pub mtime: SystemTime,
}

/// An open file.
#[derive(Debug)]
enum Handle {
    /// Rendered at open.
    Snapshot(Vec<u8>),
    /// Captured output, read through.
    Output { pid: i32, stream: OutputStream },
    /// Writes go to stdin.
    Stdin { pid: i32 },
    /// Writes are commands.
    Ctl { pid: i32 },
}

struct Cached<T> {
    at: Instant,
    value: Arc<T>,
}

/// The filesystem.
pub struct NefeleFs<B> {
    backend: B,
    /// The last List, by PID; replaced when older than LIST_TTL. Held only
    /// to copy the Arc.
    processes: Mutex<Option<Cached<HashMap<i32, ProcessInfo>>>>,
    /// The last Nodes answer; same rule.
    nodes: Mutex<Option<Cached<Vec<NodeInfo>>>>,
    handles: DashMap<u64, Handle>,
    next_handle: AtomicU64,
}

fn ms_to_time(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn dir(ino: u64) -> Attr {
    Attr {
        ino,
        kind: Kind::Dir,
        perm: 0o555,
        size: 0,
        uid: 0,
        gid: 0,
        mtime: UNIX_EPOCH,
    }
}

impl<B: Backend> NefeleFs<B> {
    /// A filesystem over `backend`.
    pub fn new(backend: B) -> Self {
        NefeleFs {
            backend,
            processes: Mutex::new(None),
            nodes: Mutex::new(None),
            handles: DashMap::new(),
            next_handle: AtomicU64::new(1),
        }
    }

    async fn process_table(&self) -> FsResult<Arc<HashMap<i32, ProcessInfo>>> {
        if let Some(c) = self
            .processes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            && c.at.elapsed() < LIST_TTL
        {
            return Ok(c.value.clone());
        }
        let list = self.backend.list().await?;
        let table = Arc::new(
            list.into_iter()
                .map(|p| (p.pid, p))
                .collect::<HashMap<_, _>>(),
        );
        *self.processes.lock().unwrap_or_else(|e| e.into_inner()) = Some(Cached {
            at: Instant::now(),
            value: table.clone(),
        });
        Ok(table)
    }

    /// Forgets the cached List (after a write changed a process).
    fn invalidate(&self) {
        *self.processes.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    async fn node_list(&self) -> FsResult<Arc<Vec<NodeInfo>>> {
        if let Some(c) = self
            .nodes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            && c.at.elapsed() < LIST_TTL
        {
            return Ok(c.value.clone());
        }
        let nodes = Arc::new(self.backend.nodes().await?);
        *self.nodes.lock().unwrap_or_else(|e| e.into_inner()) = Some(Cached {
            at: Instant::now(),
            value: nodes.clone(),
        });
        Ok(nodes)
    }

    /// A process: from the cached List while it is fresh, else asked for.
    async fn process(&self, pid: i32) -> FsResult<ProcessInfo> {
        let cached = self
            .processes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|c| c.at.elapsed() < LIST_TTL)
            .and_then(|c| c.value.get(&pid).cloned());
        match cached {
            Some(info) => Ok(info),
            None => self.backend.get(pid, false).await,
        }
    }

    async fn node_by_slot(&self, slot: u32) -> FsResult<NodeInfo> {
        self.node_list()
            .await?
            .iter()
            .find(|n| n.slot == slot)
            .cloned()
            .ok_or(FsError::NotFound)
    }

    fn pid_attr(&self, info: &ProcessInfo, entry: Entry) -> Attr {
        let mut attr = Attr {
            ino: entry.ino(),
            kind: Kind::File,
            perm: 0o444,
            size: 0,
            uid: info.uid,
            gid: info.gid,
            mtime: ms_to_time(info.start_time_ms),
        };
        match entry {
            Entry::Pid(_) => {
                attr.kind = Kind::Dir;
                attr.perm = 0o555;
            }
            Entry::PidFile(_, f) => match f {
                PidFile::Cwd | PidFile::Exe => {
                    attr.kind = Kind::Symlink;
                    attr.perm = 0o777;
                }
                PidFile::Environ => attr.perm = 0o400,
                PidFile::Stdin | PidFile::Ctl => attr.perm = 0o200,
                PidFile::Stdout => attr.size = info.stdout_bytes,
                PidFile::Stderr => attr.size = info.stderr_bytes,
                _ => {}
            },
            _ => {}
        }
        attr
    }

    /// Attributes of an inode.
    pub async fn getattr(&self, ino: u64) -> FsResult<Attr> {
        match Entry::from_ino(ino).ok_or(FsError::NotFound)? {
            Entry::Root | Entry::ProcDir | Entry::NodesDir => Ok(dir(ino)),
            e @ (Entry::Pid(pid) | Entry::PidFile(pid, _)) => {
                let info = if matches!(e, Entry::PidFile(_, PidFile::Stdout | PidFile::Stderr)) {
                    // Sizes of captured output must be current (tail -f).
                    self.backend.get(pid, false).await?
                } else {
                    self.process(pid).await?
                };
                Ok(self.pid_attr(&info, e))
            }
            Entry::NodeDir(slot) => {
                self.node_by_slot(slot).await?;
                Ok(dir(ino))
            }
            Entry::NodeFile(slot, _) => {
                let node = self.node_by_slot(slot).await?;
                Ok(Attr {
                    kind: Kind::File,
                    perm: 0o444,
                    mtime: ms_to_time(node.started_at_ms),
                    ..dir(ino)
                })
            }
        }
    }

    /// Looks `name` up in directory `parent`.
    pub async fn lookup(&self, parent: u64, name: &str) -> FsResult<Attr> {
        match Entry::from_ino(parent).ok_or(FsError::NotFound)? {
            Entry::Root => match name {
                "proc" => Ok(dir(PROC)),
                "nodes" => Ok(dir(NODES)),
                _ => Err(FsError::NotFound),
            },
            Entry::ProcDir => {
                let pid: Gpid = name.parse().map_err(|_| FsError::NotFound)?;
                let info = self.process(pid.as_raw()).await?;
                Ok(self.pid_attr(&info, Entry::Pid(info.pid)))
            }
            Entry::Pid(pid) => {
                let file = PID_FILES
                    .iter()
                    .find(|(_, n)| *n == name)
                    .ok_or(FsError::NotFound)?
                    .0;
                self.getattr(Entry::PidFile(pid, file).ino()).await
            }
            Entry::NodesDir => {
                let nodes = self.node_list().await?;
                let node = nodes
                    .iter()
                    .find(|n| n.name == name)
                    .ok_or(FsError::NotFound)?;
                Ok(dir(Entry::NodeDir(node.slot).ino()))
            }
            Entry::NodeDir(slot) => {
                let file = NODE_FILES
                    .iter()
                    .find(|(_, n)| *n == name)
                    .ok_or(FsError::NotFound)?
                    .0;
                self.getattr(Entry::NodeFile(slot, file).ino()).await
            }
            Entry::PidFile(..) | Entry::NodeFile(..) => Err(FsError::NotFound),
        }
    }

    /// A directory's entries, `.` and `..` first.
    pub async fn readdir(&self, ino: u64) -> FsResult<Vec<(u64, Kind, String)>> {
        let entry = Entry::from_ino(ino).ok_or(FsError::NotFound)?;
        let parent = match entry {
            Entry::Pid(_) => PROC,
            Entry::NodeDir(_) => NODES,
            _ => ROOT,
        };
        let mut out = vec![
            (ino, Kind::Dir, ".".to_string()),
            (parent, Kind::Dir, "..".to_string()),
        ];
        match entry {
            Entry::Root => {
                out.push((PROC, Kind::Dir, "proc".into()));
                out.push((NODES, Kind::Dir, "nodes".into()));
            }
            Entry::ProcDir => {
                let table = self.process_table().await?;
                let mut pids: Vec<i32> = table.keys().copied().collect();
                pids.sort_unstable();
                out.extend(
                    pids.into_iter()
                        .map(|p| (Entry::Pid(p).ino(), Kind::Dir, p.to_string())),
                );
            }
            Entry::Pid(pid) => {
                self.process(pid).await?;
                for (f, name) in PID_FILES {
                    let kind = if matches!(f, PidFile::Cwd | PidFile::Exe) {
                        Kind::Symlink
                    } else {
                        Kind::File
                    };
                    out.push((Entry::PidFile(pid, f).ino(), kind, name.to_string()));
                }
            }
            Entry::NodesDir => {
                for n in self.node_list().await?.iter() {
                    out.push((Entry::NodeDir(n.slot).ino(), Kind::Dir, n.name.clone()));
                }
            }
            Entry::NodeDir(slot) => {
                self.node_by_slot(slot).await?;
                for (f, name) in NODE_FILES {
                    out.push((Entry::NodeFile(slot, f).ino(), Kind::File, name.to_string()));
                }
            }
            Entry::PidFile(..) | Entry::NodeFile(..) => {
                return Err(FsError::Invalid("not a directory".into()));
            }
        }
        Ok(out)
    }

    /// The target of `cwd` or `exe`.
    pub async fn readlink(&self, ino: u64) -> FsResult<String> {
        match Entry::from_ino(ino).ok_or(FsError::NotFound)? {
            Entry::PidFile(pid, PidFile::Cwd) => Ok(self.process(pid).await?.cwd),
            Entry::PidFile(pid, PidFile::Exe) => Ok(self.process(pid).await?.exe),
            _ => Err(FsError::Invalid("not a symlink".into())),
        }
    }

    /// Opens a file: generated files are rendered now; returns the handle.
    pub async fn open(&self, ino: u64) -> FsResult<u64> {
        let handle = match Entry::from_ino(ino).ok_or(FsError::NotFound)? {
            Entry::PidFile(pid, f) => match f {
                PidFile::Stdout => Handle::Output {
                    pid,
                    stream: OutputStream::Stdout,
                },
                PidFile::Stderr => Handle::Output {
                    pid,
                    stream: OutputStream::Stderr,
                },
                PidFile::Stdin => Handle::Stdin { pid },
                PidFile::Ctl => Handle::Ctl { pid },
                PidFile::Environ => Handle::Snapshot(render::nul_separated(
                    &self.backend.get(pid, true).await?.env,
                )),
                PidFile::Cwd | PidFile::Exe => return Err(FsError::Invalid("a symlink".into())),
                other => Handle::Snapshot(self.render_pid_file(pid, other).await?),
            },
            Entry::NodeFile(slot, f) => Handle::Snapshot(self.render_node_file(slot, f).await?),
            _ => return Err(FsError::Invalid("a directory".into())),
        };
        let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
        self.handles.insert(fh, handle);
        Ok(fh)
    }

    async fn render_pid_file(&self, pid: i32, file: PidFile) -> FsResult<Vec<u8>> {
        let info = self.process(pid).await?;
        Ok(match file {
            PidFile::Status => render::status(&info).into_bytes(),
            PidFile::Stat => {
                let boot = self
                    .node_list()
                    .await
                    .ok()
                    .and_then(|nodes| {
                        nodes
                            .iter()
                            .find(|n| n.name == info.node)
                            .map(|n| n.boot_time_ms)
                    })
                    .unwrap_or(0);
                render::stat(&info, boot).into_bytes()
            }
            PidFile::Cmdline => render::nul_separated(&info.argv),
            PidFile::Node => format!("{}\n", info.node).into_bytes(),
            PidFile::Exit => render::exit(&info).into_bytes(),
            _ => Vec::new(),
        })
    }

    async fn render_node_file(&self, slot: u32, file: NodeFile) -> FsResult<Vec<u8>> {
        let node = self.node_by_slot(slot).await?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Ok(match file {
            NodeFile::Status => render::node_status(&node, now).into_bytes(),
            NodeFile::Loadavg => render::node_loadavg(&node).into_bytes(),
            NodeFile::Meminfo => render::node_meminfo(&node).into_bytes(),
            NodeFile::Procs => {
                let table = self.process_table().await?;
                let mut pids: Vec<i32> = table
                    .values()
                    .filter(|p| p.node == node.name)
                    .filter(|p| {
                        matches!(
                            ProcessState::try_from(p.state),
                            Ok(ProcessState::Running | ProcessState::Stopped)
                        )
                    })
                    .map(|p| p.pid)
                    .collect();
                pids.sort_unstable();
                pids.iter()
                    .map(|p| format!("{p}\n"))
                    .collect::<String>()
                    .into_bytes()
            }
        })
    }

    /// Reads from an open file. Output files wait at their end until more
    /// is written or the process is done.
    pub async fn read(&self, fh: u64, offset: u64, size: usize) -> FsResult<Vec<u8>> {
        let target = match self.handles.get(&fh).as_deref() {
            Some(Handle::Snapshot(bytes)) => {
                let start = (offset as usize).min(bytes.len());
                let end = (start + size).min(bytes.len());
                return Ok(bytes[start..end].to_vec());
            }
            Some(Handle::Output { pid, stream }) => (*pid, *stream),
            Some(Handle::Stdin { .. } | Handle::Ctl { .. }) => {
                return Err(FsError::Invalid("write-only".into()));
            }
            None => return Err(FsError::Invalid("bad file handle".into())),
        };
        self.backend
            .read_output(target.0, target.1, offset, size)
            .await
    }

    /// Writes to an open file: `stdin` passes data on, `ctl` takes a
    /// command (SPEC §4); anything else is refused.
    pub async fn write(&self, fh: u64, data: &[u8]) -> FsResult<usize> {
        let target = match self.handles.get(&fh).as_deref() {
            Some(Handle::Stdin { pid }) => Ok(*pid),
            Some(Handle::Ctl { pid }) => Err(*pid),
            _ => return Err(FsError::Invalid("read-only".into())),
        };
        match target {
            Ok(pid) => self.backend.write_input(pid, data.to_vec()).await?,
            Err(pid) => {
                let text =
                    std::str::from_utf8(data).map_err(|_| FsError::Invalid("not text".into()))?;
                let signals = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(parse_ctl)
                    .collect::<FsResult<Vec<i32>>>()?;
                if signals.is_empty() {
                    return Err(FsError::Invalid("empty command".into()));
                }
                for sig in signals {
                    self.backend.signal(pid, sig).await?;
                }
            }
        }
        self.invalidate();
        Ok(data.len())
    }

    /// Closes a handle.
    pub fn release(&self, fh: u64) {
        self.handles.remove(&fh);
    }
}

/// A `ctl` command as a signal number: `kill`, `term`, `stop`, `cont`,
/// `signal N`, `signal NAME` (with or without `SIG`, any case).
pub fn parse_ctl(command: &str) -> FsResult<i32> {
    let bad = || FsError::Invalid(format!("unknown ctl command {command:?}"));
    let mut words = command.split_whitespace();
    let sig = match (words.next(), words.next()) {
        (Some("kill"), None) => libc::SIGKILL,
        (Some("term"), None) => libc::SIGTERM,
        (Some("stop"), None) => libc::SIGSTOP,
        (Some("cont"), None) => libc::SIGCONT,
        (Some("signal"), Some(arg)) => match arg.parse::<i32>() {
            Ok(n) if (0..=64).contains(&n) => n,
            Ok(_) => return Err(bad()),
            Err(_) => signal_by_name(arg).ok_or_else(bad)?,
        },
        _ => return Err(bad()),
    };
    if words.next().is_some() {
        return Err(bad());
    }
    Ok(sig)
}

/// Linux signal numbers by name.
pub fn signal_by_name(name: &str) -> Option<i32> {
    let upper = name.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    Some(match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "STKFLT" => libc::SIGSTKFLT,
        "CHLD" | "CLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
