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
//!   a name is not a number. A user sees only their own services there,
//!   as their own ListServices answers.
//! - `kv/` shows the caller's keys of the coordination store as files
//!   (kv.rs); its operations take the caller, and fuse.rs sends every
//!   `kv/` inode there.
//!
//! Here: the types and the filesystem's state. The inode scheme is in
//! inode.rs, the cluster's cached answers in cache.rs, lookups, listings
//! and attributes in tree.rs, open files (reads, writes, `ctl`) in
//! files.rs, and the `svc/` and `kv/` trees in services.rs and kv.rs.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use proto::v1::{NodeInfo, OutputStream, ProcessInfo, ProcessState, ServiceInfo};
use proto::{Gpid, Slot};

use crate::backend::{Backend, FsError, FsResult};
use crate::render;

mod cache;
mod files;
use cache::TtlCache;
use files::{Handle, render_sys, slice};
pub use files::{parse_ctl, signal_by_name};
mod inode;
mod kv;
mod tree;
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
type ProcessTable = Arc<HashMap<Gpid, ProcessInfo>>;

/// Who is looking (SPEC §9): root and administrators see every process
/// and service; a user only their own, another user's PID or service
/// being as absent as one that does not exist (ENOENT).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Viewer {
    /// Root or an administrator.
    All,
    /// A user, by name.
    User(String),
}

/// The process an inode belongs to: `proc/<pid>` and everything in it.
pub fn pid_of(ino: u64) -> Option<Gpid> {
    match Entry::from_ino(ino)? {
        Entry::Pid(pid)
        | Entry::PidFile(pid, _)
        | Entry::TaskDir(pid)
        | Entry::Task(pid)
        | Entry::TaskFile(pid, _) => Some(pid),
        _ => None,
    }
}

/// The service an inode belongs to, by number: `svc/<name>` and its files.
pub fn service_of(ino: u64) -> Option<u32> {
    match Entry::from_ino(ino)? {
        Entry::Service(id) | Entry::ServiceFile(id, _) => Some(id),
        _ => None,
    }
}

/// The filesystem.
pub struct NefeleFs<B> {
    backend: Arc<B>,
    /// A List in flight, shared by every caller that needs a fresh
    /// listing; held only to clone or replace it.
    refreshing: Mutex<Option<Shared<BoxFuture<'static, FsResult<ProcessTable>>>>>,
    /// The last List, by PID; replaced when older than LIST_TTL. Held only
    /// to copy the Arc.
    processes: TtlCache<HashMap<Gpid, ProcessInfo>>,
    /// The same for brief Lists (no host figures), which serve what needs
    /// only PIDs and owners: listings and attributes.
    brief_refreshing: Mutex<Option<Shared<BoxFuture<'static, FsResult<ProcessTable>>>>>,
    brief_processes: TtlCache<HashMap<Gpid, ProcessInfo>>,
    /// The last Nodes answer; same rule.
    nodes: TtlCache<Vec<NodeInfo>>,
    /// The last ListServices answer (every service); same rule.
    services: TtlCache<Vec<ServiceInfo>>,
    /// By user name, the names of the services that user sees (their
    /// own, as their ListServices answers), which decide what of `svc/`
    /// they see; same rule. One entry per user who looked at `svc/`.
    user_services: DashMap<String, TtlCache<HashSet<String>>>,
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
    environs: DashMap<Gpid, (u64, Arc<Vec<u8>>)>,
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
            processes: TtlCache::default(),
            brief_refreshing: Mutex::new(None),
            brief_processes: TtlCache::default(),
            nodes: TtlCache::default(),
            services: TtlCache::default(),
            user_services: DashMap::new(),
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
}

mod services;
#[cfg(test)]
mod tests;
