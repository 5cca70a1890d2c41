//! The filesystem model (SPEC §4), independent of FUSE: the inode scheme,
//! what each path is, its attributes and contents, and what writes do. It
//! is fed by a [`Backend`] and unit-tested without a mount; fuse.rs only
//! translates.
//!
//! - Inodes are computed, not stored (inode.rs): a PID directory is
//!   `pid << 8`, its files `pid << 8 | n`; node directories live above
//!   `1 << 48` by slot.
//! - `proc/` is listed from one brief List call (no host figures) cached
//!   for [`LIST_TTL`]; files that need the figures use a full List, cached
//!   alike. A PID missing from a listing is still found (lookup asks for it).
//! - A process's generated files ([`NefeleFs::is_sized`]) report their real
//!   size and serve the rendering that size came from (fuse.rs stores it in
//!   the kernel's page cache); the other generated files are rendered when
//!   opened (a snapshot) and read with direct I/O at size 0, as Linux's
//!   /proc; `stdout`/`stderr` report the bytes captured so far, and a read
//!   at the end waits for more.
//! - [`View::Procps`] serves only `proc/`, as its root, for tools bound
//!   over /proc: every file sized, none that needs an open file.
//! - For unmodified procps (docs/procps.md) `proc/` also has the global
//!   files the tools read (`stat`, `uptime`, `meminfo`, ...) with
//!   cluster-wide values, `task/<tid>/`, `statm`, `comm`, `ctty`; and
//!   `self`, `thread-self` and the caller's own PID are symlinks into the
//!   host's real /proc, bound at [`DEFAULT_HOST_PROC`] by the helper.
//! - `svc/` has a directory per service with `spec` and `replicas`
//!   (services.rs); its inodes come from a table of the names seen, since
//!   a name is not a number.
//! - `kv/` shows the caller's keys of the coordination store as files
//!   (kv.rs); its operations take the caller, and fuse.rs sends every
//!   `kv/` inode there.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use proto::Gpid;
use proto::v1::{NodeInfo, OutputStream, ProcessInfo, ProcessState, ServiceInfo};
use tokio_util::sync::CancellationToken;

use crate::backend::{Backend, FsError, FsResult};
use crate::render;

mod inode;
mod kv;
use inode::*;
pub use inode::{
    Entry, GlobalFile, IMMUTABLE_TTL, NodeFile, PID_MAX, PidFile, ROOT, SvcFile, SysFile,
    is_immutable, sized_inos,
};
pub use kv::{KvCaller, is_kv};

/// How long one List (and one Nodes) answer serves directory listings and
/// lookups.
pub const LIST_TTL: Duration = Duration::from_secs(1);

/// Where the host's real /proc is bound inside the namespace the helper
/// (`nefele-proc-exec`) makes; `self` and the caller's PID point there.
pub const DEFAULT_HOST_PROC: &str = "/run/nefele/hostproc";

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
    /// A file of a process that reports its real size (see
    /// [`NefeleFs::is_sized`]): reads serve the rendering that size was taken from.
    Sized(u64),
    /// Captured output, read through; `cancel` ends reads still waiting
    /// when the file is closed.
    Output {
        pid: i32,
        stream: OutputStream,
        cancel: CancellationToken,
    },
    /// Writes go to stdin.
    Stdin { pid: i32 },
    /// Writes are commands.
    Ctl { pid: i32 },
}

/// Which tree a [`NefeleFs`] serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// The whole tree of SPEC §4, for people and scripts (`/nefele`).
    Full,
    /// Only `proc/`, as the root, for `nefele-proc-exec` to bind over
    /// /proc: every file is sized (the kernel sends no OPEN on this
    /// connection, so there is no direct I/O), and the files that need an
    /// open file (`stdout`, `stderr`, `stdin`, `ctl`) are left out.
    Procps,
}

/// Processes by PID, as one List returned them.
type ProcessTable = Arc<HashMap<i32, ProcessInfo>>;

/// Who is looking (SPEC §9): root and administrators see every process;
/// a user only their own, another user's PID being as absent as one that
/// does not exist (ENOENT).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Viewer {
    /// Root or an administrator.
    All,
    /// A user, by name.
    User(String),
}

/// The process an inode belongs to: `proc/<pid>` and everything in it.
pub fn pid_of(ino: u64) -> Option<i32> {
    match Entry::from_ino(ino)? {
        Entry::Pid(pid)
        | Entry::PidFile(pid, _)
        | Entry::TaskDir(pid)
        | Entry::Task(pid)
        | Entry::TaskFile(pid, _) => Some(pid),
        _ => None,
    }
}

struct Cached<T> {
    at: Instant,
    value: Arc<T>,
}

/// The filesystem.
pub struct NefeleFs<B> {
    backend: Arc<B>,
    /// A List in flight, shared by every caller that needs a fresh
    /// listing; held only to clone or replace it.
    refreshing: Mutex<Option<Shared<BoxFuture<'static, FsResult<ProcessTable>>>>>,
    /// The last List, by PID; replaced when older than LIST_TTL. Held only
    /// to copy the Arc.
    processes: Mutex<Option<Cached<HashMap<i32, ProcessInfo>>>>,
    /// The same for brief Lists (no host figures), which serve what needs
    /// only PIDs and owners: listings and attributes.
    brief_refreshing: Mutex<Option<Shared<BoxFuture<'static, FsResult<ProcessTable>>>>>,
    brief_processes: Mutex<Option<Cached<HashMap<i32, ProcessInfo>>>>,
    /// The last Nodes answer; same rule.
    nodes: Mutex<Option<Cached<Vec<NodeInfo>>>>,
    /// The last ListServices answer; same rule.
    services: Mutex<Option<Cached<Vec<ServiceInfo>>>>,
    /// The numbers of the service names seen (their inodes); held only to
    /// look a name or number up or add one.
    service_ids: Mutex<services::ServiceIds>,
    /// `kv/`'s inode numbers, kept directories and open keys.
    kv: kv::KvTree,
    handles: DashMap<u64, Handle>,
    next_handle: AtomicU64,
    /// The last rendering of each sized file, by inode: the one whose size
    /// the kernel was last told, so reads match it.
    rendered: DashMap<u64, Arc<Vec<u8>>>,
    /// Environments by PID, with the start time of the process they belong
    /// to: a process's environment never changes, so one Get serves it for
    /// the process's life (procps reads every process's `environ`).
    environs: DashMap<i32, (u64, Arc<Vec<u8>>)>,
    /// Where the caller sees the host's real /proc (see DEFAULT_HOST_PROC).
    host_proc: String,
    view: View,
    /// The administrators' group: in the full view, a process's directory
    /// is `dr-xr-x---`, its user's and this group's (else `dr-x------`).
    admin_gid: Option<u32>,
    /// This machine's uid of each user name seen (processes record the uid
    /// on their own node; files here are owned by the local one).
    local_uids: DashMap<String, Option<u32>>,
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
        Self::with_host_proc(backend, DEFAULT_HOST_PROC)
    }

    /// A filesystem whose `self` links point into `host_proc`.
    pub fn with_host_proc(backend: B, host_proc: &str) -> Self {
        Self::with_view(backend, host_proc, View::Full)
    }

    /// A filesystem serving `view`, whose `self` links point into
    /// `host_proc`.
    pub fn with_view(backend: B, host_proc: &str, view: View) -> Self {
        NefeleFs {
            backend: Arc::new(backend),
            refreshing: Mutex::new(None),
            processes: Mutex::new(None),
            brief_refreshing: Mutex::new(None),
            brief_processes: Mutex::new(None),
            nodes: Mutex::new(None),
            services: Mutex::new(None),
            service_ids: Mutex::new(services::ServiceIds::default()),
            kv: kv::KvTree::default(),
            handles: DashMap::new(),
            next_handle: AtomicU64::new(1),
            rendered: DashMap::new(),
            environs: DashMap::new(),
            host_proc: host_proc.trim_end_matches('/').to_string(),
            view,
            admin_gid: None,
            local_uids: DashMap::new(),
        }
    }

    /// The tree this filesystem serves.
    /// Sets the administrators' group (see `admin_gid`).
    pub fn set_admin_gid(&mut self, gid: Option<u32>) {
        self.admin_gid = gid;
    }

    /// This machine's uid for `user`, if it has one.
    fn local_uid(&self, user: &str) -> Option<u32> {
        if let Some(uid) = self.local_uids.get(user) {
            return *uid;
        }
        let uid = nix::unistd::User::from_name(user)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw());
        self.local_uids.insert(user.to_string(), uid);
        uid
    }

    pub fn view(&self) -> View {
        self.view
    }

    /// What an inode is in this view: the procps view's root is `proc/`.
    fn entry_of(&self, ino: u64) -> FsResult<Entry> {
        match Entry::from_ino(ino).ok_or(FsError::NotFound)? {
            Entry::Root if self.view == View::Procps => Ok(Entry::ProcDir),
            e => Ok(e),
        }
    }

    /// Whether a process's file is served in this view.
    fn shows(&self, file: PidFile) -> bool {
        self.view == View::Full
            || !matches!(
                file,
                PidFile::Stdout | PidFile::Stderr | PidFile::Stdin | PidFile::Ctl
            )
    }

    /// Whether an inode is a sized file here: it reports its real size,
    /// rendered when its attributes are asked for, and reads serve that
    /// rendering ([`Self::rendering`]) through the kernel's page cache.
    /// In the full view, a process's generated files; in the procps view,
    /// every regular file.
    pub fn is_sized(&self, ino: u64) -> bool {
        match (self.view, Entry::from_ino(ino)) {
            (View::Procps, Some(Entry::Global(_) | Entry::Sys(_))) => true,
            (View::Procps, Some(Entry::PidFile(_, f))) => !matches!(f, PidFile::Cwd | PidFile::Exe),
            _ => is_sized_process_file(ino),
        }
    }

    /// The rendering of a sized file whose size the kernel was last told.
    pub fn rendering(&self, ino: u64) -> Option<Arc<Vec<u8>>> {
        self.rendered.get(&ino).map(|b| b.clone())
    }

    /// The content of a sized file: the rendering the kernel has the size
    /// of, else a fresh one.
    async fn sized_content(&self, ino: u64) -> FsResult<Arc<Vec<u8>>> {
        if let Some(bytes) = self.rendering(ino) {
            return Ok(bytes);
        }
        self.getattr(ino).await?;
        Ok(self.rendering(ino).unwrap_or_default())
    }

    /// The cluster's boot time: the earliest node boot (ms), so START and
    /// ELAPSED are right for processes of every node.
    async fn cluster_boot_ms(&self) -> u64 {
        self.node_list()
            .await
            .ok()
            .and_then(|nodes| {
                nodes
                    .iter()
                    .map(|n| n.boot_time_ms)
                    .filter(|b| *b > 0)
                    .min()
            })
            .unwrap_or(0)
    }

    async fn process_table(&self) -> FsResult<ProcessTable> {
        self.listing(false).await
    }

    /// Every process with at least its PID, owner and start time: the full
    /// listing while it is fresh, else (in the full view) a brief one
    /// (cheaper for the nodes: `ls proc/` needs no CPU times).
    async fn pid_table(&self) -> FsResult<ProcessTable> {
        // The tools that read the procps view read every process's `stat`
        // right after listing: one full List serves both.
        if self.view == View::Procps {
            return self.process_table().await;
        }
        if let Some(c) = self
            .processes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            && c.at.elapsed() < LIST_TTL
        {
            return Ok(c.value.clone());
        }
        self.listing(true).await
    }

    /// A full or brief listing, from the cache while fresh.
    async fn listing(&self, brief: bool) -> FsResult<ProcessTable> {
        let (refreshing, processes) = if brief {
            (&self.brief_refreshing, &self.brief_processes)
        } else {
            (&self.refreshing, &self.processes)
        };
        if let Some(c) = processes.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
            && c.at.elapsed() < LIST_TTL
        {
            return Ok(c.value.clone());
        }
        let refresh = {
            let mut slot = refreshing.lock().unwrap_or_else(|e| e.into_inner());
            match slot.as_ref() {
                Some(pending) => pending.clone(),
                None => {
                    let backend = self.backend.clone();
                    let pending = async move {
                        let list = backend.list(brief).await?;
                        Ok(Arc::new(
                            list.into_iter()
                                .map(|p| (p.pid, p))
                                .collect::<HashMap<_, _>>(),
                        ))
                    }
                    .boxed()
                    .shared();
                    *slot = Some(pending.clone());
                    pending
                }
            }
        };
        let result = refresh.await;
        refreshing.lock().unwrap_or_else(|e| e.into_inner()).take();
        let table = result?;
        // Renderings of processes no longer listed go.
        self.rendered
            .retain(|ino, _| table.contains_key(&((*ino >> 8) as i32)));
        self.environs.retain(|pid, _| table.contains_key(pid));
        *processes.lock().unwrap_or_else(|e| e.into_inner()) = Some(Cached {
            at: Instant::now(),
            value: table.clone(),
        });
        Ok(table)
    }

    /// Forgets the cached List and the renderings of `pid` (after a write
    /// changed it).
    fn invalidate(&self, pid: i32) {
        *self.processes.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *self
            .brief_processes
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
        for ino in sized_inos(pid) {
            self.rendered.remove(&ino);
        }
    }

    /// How much longer the cached List serves: the longest the kernel may
    /// keep the size of a sized file, so content is never older than the
    /// List's lifetime.
    pub fn listing_time_left(&self) -> Duration {
        self.processes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or(Duration::ZERO, |c| LIST_TTL.saturating_sub(c.at.elapsed()))
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
        // A stale listing is refreshed as a whole (one List shared by
        // every concurrent caller), not process by process: tools read
        // every process right after listing them.
        let table = self.process_table().await?;
        match table.get(&pid) {
            Some(info) => Ok(info.clone()),
            // Started after the listing: ask for it.
            None => self.backend.get(pid, false).await,
        }
    }

    /// A process's PID, owner and start time (what attributes need): from
    /// a fresh listing, full or brief, else asked for.
    async fn listed(&self, pid: i32) -> FsResult<ProcessInfo> {
        match self.pid_table().await?.get(&pid) {
            Some(info) => Ok(info.clone()),
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
        let full = self.view == View::Full;
        if full && let Some(uid) = self.local_uid(&info.user) {
            attr.uid = uid;
        }
        match entry {
            // In the full view only its user (and root, and the admin
            // group) may enter a process's directory: the kernel checks
            // this mode even on entries another user's lookup left in its
            // shared caches, where nefelefs is not asked (SPEC §9).
            Entry::Pid(_) if full => {
                attr.kind = Kind::Dir;
                attr.perm = if self.admin_gid.is_some() {
                    0o550
                } else {
                    0o500
                };
                attr.gid = self.admin_gid.unwrap_or(info.gid);
            }
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
        let file = |ino| Attr {
            kind: Kind::File,
            perm: 0o444,
            ..dir(ino)
        };
        match Entry::from_ino(ino).ok_or(FsError::NotFound)? {
            Entry::Root
            | Entry::ProcDir
            | Entry::NodesDir
            | Entry::SysDir
            | Entry::SysKernelDir
            | Entry::SvcDir
            | Entry::KvDir => Ok(dir(ino)),
            // Whose it is depends on the caller: see kv.rs.
            Entry::Kv(_) => Err(FsError::NotFound),
            e @ (Entry::Service(id) | Entry::ServiceFile(id, _)) => {
                Ok(services::attr(&self.service(id).await?, e))
            }
            Entry::SelfLink | Entry::ThreadSelfLink | Entry::HostPid(_) => Ok(Attr {
                kind: Kind::Symlink,
                perm: 0o777,
                ..dir(ino)
            }),
            Entry::Global(g) if self.view == View::Procps => {
                Ok(self.sized_attr(file(ino), self.render_global(g).await?))
            }
            Entry::Sys(f) if self.view == View::Procps => {
                Ok(self.sized_attr(file(ino), render_sys(f)?))
            }
            Entry::Global(_) | Entry::Sys(_) => Ok(file(ino)),
            e @ (Entry::TaskDir(pid) | Entry::Task(pid)) => {
                let info = self.listed(pid).await?;
                Ok(Attr {
                    kind: Kind::Dir,
                    perm: 0o555,
                    ..self.pid_attr(&info, e)
                })
            }
            e @ (Entry::TaskFile(pid, f) | Entry::PidFile(pid, f)) if self.is_sized(ino) => {
                let info = self.process(pid).await?;
                let bytes = self.render_info(&info, f).await?;
                Ok(self.sized_attr(self.pid_attr(&info, e), bytes))
            }
            e @ Entry::TaskFile(pid, _) => Ok(self.pid_attr(&self.listed(pid).await?, e)),
            e @ (Entry::Pid(pid) | Entry::PidFile(pid, _)) => {
                let info = if matches!(e, Entry::PidFile(_, PidFile::Stdout | PidFile::Stderr)) {
                    // Sizes of captured output must be current (tail -f).
                    self.backend.get(pid, false).await?
                } else {
                    self.listed(pid).await?
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

    /// The attributes of a sized file rendered as `bytes`, which reads
    /// serve from now on.
    fn sized_attr(&self, mut attr: Attr, bytes: Vec<u8>) -> Attr {
        attr.size = bytes.len() as u64;
        self.rendered.insert(attr.ino, Arc::new(bytes));
        attr
    }

    /// Looks `name` up in directory `parent`, for the process (thread)
    /// `caller`.
    pub async fn lookup(&self, parent: u64, name: &str, caller: u32) -> FsResult<Attr> {
        match self.entry_of(parent)? {
            Entry::Root => match name {
                "proc" => Ok(dir(PROC)),
                "nodes" => Ok(dir(NODES)),
                "svc" => Ok(dir(SVC)),
                "kv" => Ok(dir(KV)),
                _ => Err(FsError::NotFound),
            },
            Entry::ProcDir => {
                let special = match name {
                    "self" => Some(Entry::SelfLink),
                    "thread-self" => Some(Entry::ThreadSelfLink),
                    "sys" => Some(Entry::SysDir),
                    _ => GLOBAL_FILES
                        .iter()
                        .find(|(_, n)| *n == name)
                        .map(|(g, _)| Entry::Global(*g)),
                };
                if let Some(e) = special {
                    return self.getattr(e.ino()).await;
                }
                if let Ok(pid) = name.parse::<Gpid>() {
                    let info = self.listed(pid.as_raw()).await?;
                    return Ok(self.pid_attr(&info, Entry::Pid(info.pid)));
                }
                // The caller's own host PID (procps looks itself up).
                match name.parse::<u32>() {
                    Ok(n) if n == caller || Some(n) == host_tgid(caller) => {
                        self.getattr(Entry::HostPid(n).ino()).await
                    }
                    _ => Err(FsError::NotFound),
                }
            }
            Entry::Pid(pid) if name == "task" => self.getattr(Entry::TaskDir(pid).ino()).await,
            Entry::TaskDir(pid) => match name.parse::<i32>() {
                Ok(tid) if tid == pid => self.getattr(Entry::Task(pid).ino()).await,
                _ => Err(FsError::NotFound),
            },
            Entry::Task(pid) => {
                let file = TASK_FILES
                    .iter()
                    .find(|f| PID_FILES.iter().any(|(p, n)| p == *f && *n == name))
                    .ok_or(FsError::NotFound)?;
                self.getattr(Entry::TaskFile(pid, *file).ino()).await
            }
            Entry::SysDir if name == "kernel" => Ok(dir(SYS_KERNEL)),
            Entry::SysKernelDir => {
                let f = SYS_FILES
                    .iter()
                    .find(|(_, n)| *n == name)
                    .ok_or(FsError::NotFound)?
                    .0;
                self.getattr(Entry::Sys(f).ino()).await
            }
            Entry::Pid(pid) => {
                let file = PID_FILES
                    .iter()
                    .find(|(f, n)| *n == name && self.shows(*f))
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
            Entry::SvcDir => {
                let (id, info) = self.service_named(name).await?;
                Ok(services::attr(&info, Entry::Service(id)))
            }
            Entry::Service(id) => {
                let file = SVC_FILES
                    .iter()
                    .find(|(_, n)| *n == name)
                    .ok_or(FsError::NotFound)?
                    .0;
                self.getattr(Entry::ServiceFile(id, file).ino()).await
            }
            _ => Err(FsError::NotFound),
        }
    }

    /// A directory's entries, `.` and `..` first.
    pub async fn readdir(&self, ino: u64) -> FsResult<Vec<(u64, Kind, String)>> {
        let entry = self.entry_of(ino)?;
        let parent = match entry {
            Entry::Pid(_) | Entry::SysDir => PROC,
            Entry::NodeDir(_) => NODES,
            Entry::TaskDir(pid) => Entry::Pid(pid).ino(),
            Entry::Task(pid) => Entry::TaskDir(pid).ino(),
            Entry::SysKernelDir => SYS,
            Entry::Service(_) => SVC,
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
                out.push((SVC, Kind::Dir, "svc".into()));
                out.push((KV, Kind::Dir, "kv".into()));
            }
            Entry::ProcDir => {
                let table = self.pid_table().await?;
                let mut pids: Vec<i32> = table.keys().copied().collect();
                pids.sort_unstable();
                out.extend(
                    pids.into_iter()
                        .map(|p| (Entry::Pid(p).ino(), Kind::Dir, p.to_string())),
                );
                out.push((SELF, Kind::Symlink, "self".into()));
                out.push((THREAD_SELF, Kind::Symlink, "thread-self".into()));
                out.push((SYS, Kind::Dir, "sys".into()));
                for (g, name) in GLOBAL_FILES {
                    out.push((Entry::Global(g).ino(), Kind::File, name.to_string()));
                }
            }
            Entry::TaskDir(pid) => {
                self.listed(pid).await?;
                out.push((Entry::Task(pid).ino(), Kind::Dir, pid.to_string()));
            }
            Entry::Task(pid) => {
                self.listed(pid).await?;
                for f in TASK_FILES {
                    let name = PID_FILES
                        .iter()
                        .find(|(p, _)| *p == f)
                        .map_or("", |(_, n)| n);
                    out.push((Entry::TaskFile(pid, f).ino(), Kind::File, name.to_string()));
                }
            }
            Entry::SysDir => out.push((SYS_KERNEL, Kind::Dir, "kernel".into())),
            Entry::SysKernelDir => {
                for (f, name) in SYS_FILES {
                    out.push((Entry::Sys(f).ino(), Kind::File, name.to_string()));
                }
            }
            Entry::Pid(pid) => {
                self.listed(pid).await?;
                for (f, name) in PID_FILES.into_iter().filter(|(f, _)| self.shows(*f)) {
                    let kind = if matches!(f, PidFile::Cwd | PidFile::Exe) {
                        Kind::Symlink
                    } else {
                        Kind::File
                    };
                    out.push((Entry::PidFile(pid, f).ino(), kind, name.to_string()));
                }
                out.push((Entry::TaskDir(pid).ino(), Kind::Dir, "task".into()));
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
            Entry::SvcDir => out.extend(self.service_entries().await?),
            Entry::Service(id) => {
                self.service(id).await?;
                for (f, name) in SVC_FILES {
                    out.push((
                        Entry::ServiceFile(id, f).ino(),
                        Kind::File,
                        name.to_string(),
                    ));
                }
            }
            _ => return Err(FsError::NotDir),
        }
        Ok(out)
    }

    /// Whether `viewer` may see inode `ino` (only a process's own files
    /// are anyone's; a PID the listing does not know is no user's).
    pub async fn visible(&self, ino: u64, viewer: &Viewer) -> bool {
        let (Viewer::User(user), Some(pid)) = (viewer, pid_of(ino)) else {
            return true;
        };
        match self.pid_table().await {
            Ok(table) => table.get(&pid).is_some_and(|p| p.user == *user),
            Err(_) => false,
        }
    }

    /// Keeps the entries of a directory listing that `viewer` may see.
    pub async fn only_visible<T>(
        &self,
        entries: Vec<T>,
        ino_of: impl Fn(&T) -> u64,
        viewer: &Viewer,
    ) -> Vec<T> {
        let Viewer::User(user) = viewer else {
            return entries;
        };
        let table = self.pid_table().await.ok();
        entries
            .into_iter()
            .filter(|e| match pid_of(ino_of(e)) {
                None => true,
                Some(pid) => table
                    .as_ref()
                    .and_then(|t| t.get(&pid))
                    .is_some_and(|p| p.user == *user),
            })
            .collect()
    }

    /// A directory's entries with their attributes (for READDIRPLUS), `.`
    /// and `..` first. Attributes come from the caches, as a lookup's would;
    /// captured output reports the listed size (its TTL is zero anyway).
    pub async fn readdir_plus(&self, ino: u64) -> FsResult<Vec<(Attr, String)>> {
        let entries = self.readdir(ino).await?;
        // The listing `proc/` was just read from (no copy per process).
        let table = if self.entry_of(ino)? == Entry::ProcDir {
            Some(self.pid_table().await?)
        } else {
            None
        };
        let mut out = Vec::with_capacity(entries.len());
        for (child, _, name) in entries {
            let attr = match (Entry::from_ino(child), &table) {
                _ if name == "." || name == ".." => dir(child),
                (Some(e @ Entry::Pid(pid)), Some(table)) if table.contains_key(&pid) => {
                    self.pid_attr(&table[&pid], e)
                }
                (Some(e @ Entry::PidFile(pid, PidFile::Stdout | PidFile::Stderr)), _) => {
                    self.pid_attr(&self.listed(pid).await?, e)
                }
                _ => self.getattr(child).await?,
            };
            out.push((attr, name));
        }
        Ok(out)
    }

    /// The target of a symlink: `cwd`, `exe`, or (for the calling thread
    /// `caller`) `self`, `thread-self` and its own PID, into the host's /proc.
    pub async fn readlink(&self, ino: u64, caller: u32) -> FsResult<String> {
        let tgid = || host_tgid(caller).unwrap_or(caller);
        match Entry::from_ino(ino).ok_or(FsError::NotFound)? {
            Entry::SelfLink => Ok(format!("{}/{}", self.host_proc, tgid())),
            Entry::ThreadSelfLink => Ok(format!("{}/{}/task/{caller}", self.host_proc, tgid())),
            Entry::HostPid(n) => Ok(format!("{}/{n}", self.host_proc)),
            Entry::PidFile(pid, PidFile::Cwd) => Ok(self.listed(pid).await?.cwd),
            Entry::PidFile(pid, PidFile::Exe) => Ok(self.listed(pid).await?.exe),
            _ => Err(FsError::Invalid("not a symlink".into())),
        }
    }

    /// Opens a file for reading and/or writing: generated files are
    /// rendered now; returns the handle. `stdin` and `ctl` are write-only,
    /// everything else read-only.
    pub async fn open(&self, ino: u64, read: bool, write: bool) -> FsResult<u64> {
        let entry = Entry::from_ino(ino).ok_or(FsError::NotFound)?;
        let writable = matches!(entry, Entry::PidFile(_, PidFile::Stdin | PidFile::Ctl));
        if (write && !writable) || (read && writable) {
            return Err(FsError::Denied);
        }
        let handle = match entry {
            Entry::PidFile(pid, f) => match f {
                PidFile::Stdout => Handle::Output {
                    pid,
                    stream: OutputStream::Stdout,
                    cancel: CancellationToken::new(),
                },
                PidFile::Stderr => Handle::Output {
                    pid,
                    stream: OutputStream::Stderr,
                    cancel: CancellationToken::new(),
                },
                PidFile::Stdin => Handle::Stdin { pid },
                PidFile::Ctl => Handle::Ctl { pid },
                PidFile::Cwd | PidFile::Exe => return Err(FsError::Invalid("a symlink".into())),
                _ if self.is_sized(ino) => self.sized_handle(ino).await?,
                other => Handle::Snapshot(self.render_pid_file(pid, other).await?),
            },
            Entry::TaskFile(..) if self.is_sized(ino) => self.sized_handle(ino).await?,
            Entry::TaskFile(pid, f) => Handle::Snapshot(self.render_pid_file(pid, f).await?),
            Entry::NodeFile(slot, f) => Handle::Snapshot(self.render_node_file(slot, f).await?),
            Entry::ServiceFile(id, f) => Handle::Snapshot(self.render_service_file(id, f).await?),
            Entry::Global(g) => Handle::Snapshot(self.render_global(g).await?),
            Entry::Sys(f) => Handle::Snapshot(render_sys(f)?),
            _ => return Err(FsError::IsDir),
        };
        let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
        self.handles.insert(fh, handle);
        Ok(fh)
    }

    /// A process's environment, from the cache if it is the same process
    /// (PIDs are not reused, but the start time makes sure).
    async fn environ(&self, pid: i32) -> FsResult<Arc<Vec<u8>>> {
        let started = self.listed(pid).await?.start_time_ms;
        if let Some(env) = self.environs.get(&pid).filter(|e| e.0 == started) {
            return Ok(env.1.clone());
        }
        let info = self.backend.get(pid, true).await?;
        let env = Arc::new(render::nul_separated(&info.env));
        self.environs.insert(pid, (info.start_time_ms, env.clone()));
        Ok(env)
    }

    /// A handle on a sized file, rendered now unless the kernel already has
    /// its size (then that rendering is the one read).
    async fn sized_handle(&self, ino: u64) -> FsResult<Handle> {
        if !self.rendered.contains_key(&ino) {
            self.getattr(ino).await?;
        }
        Ok(Handle::Sized(ino))
    }

    async fn render_pid_file(&self, pid: i32, file: PidFile) -> FsResult<Vec<u8>> {
        let info = self.process(pid).await?;
        self.render_info(&info, file).await
    }

    async fn render_info(&self, info: &ProcessInfo, file: PidFile) -> FsResult<Vec<u8>> {
        Ok(match file {
            PidFile::Environ => self.environ(info.pid).await?.to_vec(),
            PidFile::Status => render::status(info).into_bytes(),
            PidFile::Stat => render::stat(info, self.cluster_boot_ms().await).into_bytes(),
            PidFile::Statm => render::statm(info).into_bytes(),
            PidFile::Comm => format!("{}\n", render::comm(info)).into_bytes(),
            PidFile::Ctty => Vec::new(),
            PidFile::Cmdline => render::nul_separated(&info.argv),
            PidFile::Node => format!("{}\n", info.node).into_bytes(),
            PidFile::Exit => render::exit(info).into_bytes(),
            _ => Vec::new(),
        })
    }

    async fn render_global(&self, file: GlobalFile) -> FsResult<Vec<u8>> {
        let boot_ms = self.cluster_boot_ms().await;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let up: Vec<NodeInfo> = self
            .node_list()
            .await?
            .iter()
            .filter(|n| n.state == proto::v1::NodeState::Up as i32)
            .cloned()
            .collect();
        Ok(match file {
            GlobalFile::Stat => {
                let host = String::from_utf8_lossy(&host_file("/proc/stat")?).into_owned();
                render::global_stat(&host, boot_ms / 1000).into_bytes()
            }
            GlobalFile::Uptime => format!(
                "{:.2} 0.00\n",
                now_ms.saturating_sub(boot_ms) as f64 / 1000.0
            )
            .into_bytes(),
            GlobalFile::Meminfo => render::global_meminfo(&up).into_bytes(),
            GlobalFile::Loadavg => {
                let table = self.process_table().await?;
                let running = table
                    .values()
                    .filter(|p| p.state == ProcessState::Running as i32)
                    .count();
                render::global_loadavg(&up, running, table.len()).into_bytes()
            }
            GlobalFile::Cpuinfo => host_file("/proc/cpuinfo")?,
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
        let slice = |bytes: &[u8]| slice(bytes, offset, size);
        // The handle table's guard ends with this statement, so no lock
        // is held while the backend is asked.
        let target = match self.handles.get(&fh).as_deref() {
            Some(Handle::Snapshot(bytes)) => return Ok(slice(bytes)),
            Some(Handle::Sized(ino)) => Err(*ino),
            Some(Handle::Output {
                pid,
                stream,
                cancel,
            }) => Ok((*pid, *stream, cancel.clone())),
            Some(Handle::Stdin { .. } | Handle::Ctl { .. }) => return Err(FsError::Denied),
            None => return Err(FsError::BadHandle),
        };
        let (pid, stream, cancel) = match target {
            Ok(output) => output,
            // Rendered afresh if dropped since the open (a write to ctl).
            Err(ino) => return Ok(slice(&self.sized_content(ino).await?)),
        };
        tokio::select! {
            r = self.backend.read_output(pid, stream, offset, size) => r,
            // Closed while waiting (the reader was killed): stop asking.
            _ = cancel.cancelled() => Err(FsError::BadHandle),
        }
    }

    /// Reads a sized file without an open handle (the procps view, whose
    /// kernel sends no OPEN).
    pub async fn read_unopened(&self, ino: u64, offset: u64, size: usize) -> FsResult<Vec<u8>> {
        if !self.is_sized(ino) {
            return Err(FsError::BadHandle);
        }
        Ok(slice(&self.sized_content(ino).await?, offset, size))
    }

    /// Writes to an open file: `stdin` passes data on, `ctl` takes a
    /// command (SPEC §4); anything else is refused.
    pub async fn write(&self, fh: u64, data: &[u8]) -> FsResult<usize> {
        let target = match self.handles.get(&fh).as_deref() {
            Some(Handle::Stdin { pid }) => Ok(*pid),
            Some(Handle::Ctl { pid }) => Err(*pid),
            Some(_) => return Err(FsError::Denied),
            None => return Err(FsError::BadHandle),
        };
        let (Ok(pid) | Err(pid)) = target;
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
        self.invalidate(pid);
        Ok(data.len())
    }

    /// Closes a handle, ending any read still waiting on it.
    pub fn release(&self, fh: u64) {
        if let Some((_, Handle::Output { cancel, .. })) = self.handles.remove(&fh) {
            cancel.cancel();
        }
    }
}

/// Up to `size` bytes of `bytes` from `offset` (none past the end).
fn slice(bytes: &[u8], offset: u64, size: usize) -> Vec<u8> {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    bytes[start..start.saturating_add(size).min(bytes.len())].to_vec()
}

/// The content of a `proc/sys/kernel/` file.
fn render_sys(file: SysFile) -> FsResult<Vec<u8>> {
    match file {
        SysFile::PidMax => Ok(format!("{PID_MAX}\n").into_bytes()),
        SysFile::Osrelease => host_file("/proc/sys/kernel/osrelease"),
    }
}

/// The thread group (process) of a host thread id, from the host's /proc.
fn host_tgid(tid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// A file of the mount host's /proc, passed through.
fn host_file(path: &str) -> FsResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| FsError::Io(format!("{path}: {e}")))
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

mod services;
#[cfg(test)]
mod tests;
