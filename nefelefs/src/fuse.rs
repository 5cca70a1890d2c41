//! The thin FUSE adapter: each kernel request asks the model (fs.rs) and
//! replies, on the FUSE thread when the answer is cached, else from a task
//! on the tokio runtime, so FUSE threads never wait (a read at the end of a
//! running process's stdout may wait for minutes). Listings come with
//! attributes (READDIRPLUS). Errors become errno values here, and only
//! here.
//!
//! Sized files (`status`, `stat`, ...) cost no READ: whenever the kernel is
//! told the size of one, the rendering of that size is first stored in its
//! page cache (FUSE_NOTIFY_STORE, made on the notices thread, see
//! notices.rs), and the kernel keeps pages until told otherwise
//! (FUSE_EXPLICIT_INVAL_DATA, FOPEN_KEEP_CACHE). The procps view
//! answers OPEN with ENOSYS, so its kernel sends no OPEN or RELEASE at all:
//! a cold `ps` costs one LOOKUP per file it reads.

use std::ffi::OsStr;
use std::sync::{Arc, OnceLock};
use std::task::Context;
use std::time::{Duration, SystemTime};

use fuser::{
    BsdFileFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, InitFlags, KernelConfig, LockOwner, Notifier, OpenFlags, RenameFlags, ReplyAttr,
    ReplyCreate, ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen,
    ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use tokio::runtime::Handle;

use crate::backend::{Backend, FsError};
use crate::fs::{
    Attr, IMMUTABLE_TTL, Kind, KvCaller, NefeleFs, View, Viewer, is_immutable, is_kv, service_of,
    sized_inos,
};
use crate::notices::{Notice, Notices};

/// How long the kernel may keep an entry or attributes: a process's
/// immutable files for as long as it lives; directories and
/// size-0 generated files for a second, like the listing cache; sized
/// files of a process (`status`, `stat`, ...) for what is left of the
/// listing they were rendered from, so their size and content are never
/// older than it; captured output (whose size grows) and the
/// caller-specific `self` links, `kv/` (whose entries are the caller's)
/// and `svc/` entries (a service is its owner's: the kernel's caches,
/// shared by all users, must not answer another user's walk) not at all.
fn ttl<B: Backend>(fs: &NefeleFs<B>, a: &Attr) -> Duration {
    if is_kv(a.ino) || service_of(a.ino).is_some() {
        Duration::ZERO
    } else if is_immutable(a.ino) {
        IMMUTABLE_TTL
    } else if fs.is_sized(a.ino) {
        fs.listing_time_left()
    } else if a.kind == Kind::Symlink || a.size > 0 || is_output(a.ino) {
        Duration::ZERO
    } else {
        Duration::from_secs(1)
    }
}

fn file_type(kind: Kind) -> FileType {
    match kind {
        Kind::Dir => FileType::Directory,
        Kind::File => FileType::RegularFile,
        Kind::Symlink => FileType::Symlink,
    }
}

/// Whether an inode is a `stdout` or `stderr` file.
fn is_output(ino: u64) -> bool {
    matches!(
        crate::fs::Entry::from_ino(ino),
        Some(crate::fs::Entry::PidFile(
            _,
            crate::fs::PidFile::Stdout | crate::fs::PidFile::Stderr
        ))
    )
}

/// A reply that can carry an error (every fuser reply has `error`, but no
/// trait for it).
trait Fail: Send + 'static {
    fn fail(self, e: Errno);
}

macro_rules! fail_with_error {
    ($($reply:ty),*) => {
        $(impl Fail for $reply {
            fn fail(self, e: Errno) {
                self.error(e);
            }
        })*
    };
}

fail_with_error!(
    ReplyAttr,
    ReplyCreate,
    ReplyDirectory,
    ReplyDirectoryPlus,
    ReplyEmpty,
    ReplyEntry,
    ReplyOpen
);

/// The errno of a filesystem error.
pub fn errno(e: &FsError) -> Errno {
    let (errno, name) = errno_of(e);
    crate::metrics::METRICS.error(name);
    errno
}

/// The errno of a filesystem error, and its name.
fn errno_of(e: &FsError) -> (Errno, &'static str) {
    match e {
        FsError::NotFound => (Errno::ENOENT, "ENOENT"),
        FsError::Invalid(_) => (Errno::EINVAL, "EINVAL"),
        FsError::NoProcess => (Errno::from_i32(libc::ESRCH), "ESRCH"),
        FsError::BrokenPipe => (Errno::from_i32(libc::EPIPE), "EPIPE"),
        FsError::Denied => (Errno::EACCES, "EACCES"),
        FsError::NotDir => (Errno::from_i32(libc::ENOTDIR), "ENOTDIR"),
        FsError::IsDir => (Errno::from_i32(libc::EISDIR), "EISDIR"),
        FsError::BadHandle => (Errno::from_i32(libc::EBADF), "EBADF"),
        FsError::Exists => (Errno::from_i32(libc::EEXIST), "EEXIST"),
        FsError::NotEmpty => (Errno::from_i32(libc::ENOTEMPTY), "ENOTEMPTY"),
        FsError::TooBig => (Errno::from_i32(libc::EFBIG), "EFBIG"),
        FsError::NoSpace(_) => (Errno::from_i32(libc::ENOSPC), "ENOSPC"),
        FsError::NameTooLong => (Errno::from_i32(libc::ENAMETOOLONG), "ENAMETOOLONG"),
        FsError::CrossDevice => (Errno::from_i32(libc::EXDEV), "EXDEV"),
        FsError::Io(_) => (Errno::EIO, "EIO"),
        FsError::Interrupted => (Errno::from_i32(libc::EINTR), "EINTR"),
    }
}

fn file_attr(a: &Attr) -> FileAttr {
    FileAttr {
        ino: INodeNo(a.ino),
        size: a.size,
        blocks: 0,
        atime: a.mtime,
        mtime: a.mtime,
        ctime: a.mtime,
        crtime: a.mtime,
        kind: file_type(a.kind),
        perm: a.perm,
        nlink: if a.kind == Kind::Dir { 2 } else { 1 },
        uid: a.uid,
        gid: a.gid,
        rdev: 0,
        flags: 0,
        blksize: 4096,
    }
}

/// The FUSE face of a [`NefeleFs`].
pub struct Adapter<B> {
    fs: Arc<NefeleFs<B>>,
    runtime: Handle,
    /// Page-cache stores and invalidations, and the replies after them.
    notices: Arc<Notices>,
    /// Members of this group see every user's processes, as root does.
    admin_group: Option<String>,
}

impl<B: Backend> Adapter<B> {
    /// Serves `fs`, running its work on `runtime`.
    pub fn new(fs: NefeleFs<B>, runtime: Handle) -> std::io::Result<Self> {
        Ok(Adapter {
            fs: Arc::new(fs),
            runtime,
            notices: Arc::new(Notices::start()?),
            admin_group: None,
        })
    }

    /// Members of `group` see every user's processes (noded's
    /// `--admin-group`).
    pub fn with_admin_group(mut self, group: Option<String>) -> Self {
        self.admin_group = group;
        self
    }

    /// Who makes `req`: in the full view, root and administrators see all,
    /// other users their own processes and services; the procps view is
    /// root's.
    fn viewer(&self, req: &Request) -> Viewer {
        let uid = req.uid();
        if uid == 0 || self.fs.view() == View::Procps {
            return Viewer::All;
        }
        let Ok(Some(user)) = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) else {
            // No name for the uid: it owns nothing.
            return Viewer::User(String::new());
        };
        let admin = self.admin_group.as_deref().is_some_and(|group| {
            matches!(nix::unistd::Group::from_name(group), Ok(Some(g))
                if g.gid == user.gid || g.mem.contains(&user.name))
        });
        if admin {
            Viewer::All
        } else {
            Viewer::User(user.name)
        }
    }

    /// Whose keys a `kv/` request sees: the caller's user's (root's are
    /// root's own). A uid without a name has none (EACCES).
    fn kv_caller(req: &Request) -> Result<KvCaller, Errno> {
        let (uid, gid) = (req.uid(), req.gid());
        if uid == 0 {
            return Ok(KvCaller {
                user: "root".into(),
                uid,
                gid,
            });
        }
        match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
            Ok(Some(user)) => Ok(KvCaller {
                user: user.name,
                uid,
                gid: user.gid.as_raw(),
            }),
            _ => Err(Errno::EACCES),
        }
    }

    /// Runs `work` for the `kv/` caller of `req` (see [`Self::kv_caller`]),
    /// or answers its error.
    fn kv<R: Fail, F: Future<Output = ()> + Send + 'static>(
        &self,
        req: &Request,
        reply: R,
        work: impl FnOnce(Arc<NefeleFs<B>>, KvCaller, R) -> F,
    ) {
        match Self::kv_caller(req) {
            Ok(caller) => self.spawn(|fs| work(fs, caller, reply)),
            Err(e) => reply.fail(e),
        }
    }

    /// unlink (`dir` false) and rmdir: only in `kv/`.
    fn kv_remove(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        reply: ReplyEmpty,
        dir: bool,
    ) {
        if !is_kv(parent.0) {
            return reply.error(Errno::EACCES);
        }
        let name = name.to_string_lossy().into_owned();
        self.kv(req, reply, move |fs, caller, reply| async move {
            let removed = if dir {
                fs.kv_rmdir(parent.0, &name, &caller).await
            } else {
                fs.kv_unlink(parent.0, &name, &caller).await
            };
            match removed {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    /// Where to put the session's notifier (`Session::notifier`) once
    /// mounted. Without one, nothing is stored in the page cache (sized
    /// files are read with READ) and a write to `ctl` leaves the kernel
    /// the sizes of the process's files until they expire.
    pub fn notifier_slot(&self) -> Arc<OnceLock<Notifier>> {
        self.notices.slot()
    }

    /// Runs a request's work. It is polled once right here first: when
    /// everything it needs is cached it completes on the FUSE thread, with
    /// no hand-off; only work that waits (a call to a node, output still to
    /// come) moves to a runtime task, so FUSE threads never block.
    /// Counts request `op` for the metrics.
    fn count(&self, op: &'static str) {
        crate::metrics::METRICS.request(self.fs.view(), op);
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(
        &self,
        work: impl FnOnce(Arc<NefeleFs<B>>) -> F,
    ) {
        let mut work = Box::pin(work(self.fs.clone()));
        // Tokio resources made during this first poll belong to the runtime.
        let _in_runtime = self.runtime.enter();
        let waker = futures::task::noop_waker();
        if work
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
        {
            // A task polls it again with a real waker, which every tokio
            // resource picks up on that poll.
            self.runtime.spawn(work);
        }
    }
}

/// The stores to make before the kernel is told the attributes of `inos`:
/// the renderings of the sized files among them (only sized files have one).
fn stores<B: Backend>(fs: &NefeleFs<B>, inos: impl IntoIterator<Item = u64>) -> Vec<Notice> {
    inos.into_iter()
        .filter_map(|ino| fs.rendering(ino).map(|bytes| (ino, bytes)))
        .filter(|(_, bytes)| !bytes.is_empty())
        .map(|(ino, bytes)| Notice::Store(ino, bytes))
        .collect()
}

impl<B: Backend> Filesystem for Adapter<B> {
    /// Directory listings come with attributes (READDIRPLUS), so listing
    /// `proc/` also looks up every PID.
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        if config
            .add_capabilities(InitFlags::FUSE_DO_READDIRPLUS)
            .is_err()
        {
            tracing::info!("the kernel has no READDIRPLUS; listings come without attributes");
        }
        // Pages of sized files stay until replaced (store) or dropped
        // (inval_inode); without this, a changed size would drop what was
        // just stored. Older kernels simply read more.
        let _ = config.add_capabilities(InitFlags::FUSE_EXPLICIT_INVAL_DATA);
        // O_TRUNC comes with OPEN (not as a SETATTR before it), so `echo x
        // > kv/KEY` stores one value, not an empty one first.
        let _ = config.add_capabilities(InitFlags::FUSE_ATOMIC_O_TRUNC);
        Ok(())
    }

    fn lookup(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        self.count("lookup");
        let name = name.to_string_lossy().into_owned();
        if is_kv(parent.0) {
            return self.kv(req, reply, |fs, caller, reply| async move {
                match fs.kv_lookup(parent.0, &name, &caller).await {
                    Ok(a) => reply.entry(&Duration::ZERO, &file_attr(&a), Generation(0)),
                    Err(e) => reply.error(errno(&e)),
                }
            });
        }
        let caller = req.pid();
        let viewer = self.viewer(req);
        let notices = self.notices.clone();
        let kv_caller = Self::kv_caller(req);
        self.spawn(|fs| async move {
            let found = match fs.lookup(parent.0, &name, caller).await {
                // `kv/` itself is the caller's.
                Ok(a) if is_kv(a.ino) => match &kv_caller {
                    Ok(c) => fs.kv_getattr(a.ino, c).await,
                    Err(_) => Ok(a),
                },
                other => other,
            };
            match found {
                Ok(a) if !fs.visible(a.ino, &viewer).await => {
                    reply.error(Errno::from_i32(libc::ENOENT))
                }
                Ok(a) => {
                    let (ttl, attr) = (ttl(&fs, &a), file_attr(&a));
                    notices.then(stores(&fs, [a.ino]), move || {
                        reply.entry(&ttl, &attr, Generation(0))
                    });
                }
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn getattr(&self, req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        self.count("getattr");
        if is_kv(ino.0) {
            return self.kv(req, reply, |fs, caller, reply| async move {
                match fs.kv_getattr(ino.0, &caller).await {
                    Ok(a) => reply.attr(&Duration::ZERO, &file_attr(&a)),
                    Err(e) => reply.error(errno(&e)),
                }
            });
        }
        let notices = self.notices.clone();
        let viewer = self.viewer(req);
        self.spawn(|fs| async move {
            if !fs.visible(ino.0, &viewer).await {
                return reply.error(Errno::from_i32(libc::ENOENT));
            }
            match fs.getattr(ino.0).await {
                Ok(a) => {
                    let (ttl, attr) = (ttl(&fs, &a), file_attr(&a));
                    notices.then(stores(&fs, [a.ino]), move || reply.attr(&ttl, &attr));
                }
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    /// Only truncation (`echo cmd > ctl` opens with O_TRUNC) is accepted,
    /// and it changes nothing, except for a key in `kv/`; times are kept
    /// as they are (`touch` works).
    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        self.count("setattr");
        if mode.is_some() || uid.is_some() || gid.is_some() {
            reply.error(Errno::from_i32(libc::EPERM));
            return;
        }
        if let (Some(size), true) = (size, is_kv(ino.0)) {
            return self.kv(_req, reply, |fs, caller, reply| async move {
                match fs.kv_truncate(ino.0, fh.map(|f| f.0), size, &caller).await {
                    Ok(a) => reply.attr(&Duration::ZERO, &file_attr(&a)),
                    Err(e) => reply.error(errno(&e)),
                }
            });
        }
        self.getattr(_req, ino, None, reply);
    }

    fn readlink(&self, req: &Request, ino: INodeNo, reply: ReplyData) {
        self.count("readlink");
        let caller = req.pid();
        self.spawn(|fs| async move {
            match fs.readlink(ino.0, caller).await {
                Ok(target) => reply.data(target.as_bytes()),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    /// The procps view has no open files: ENOSYS tells the kernel to stop
    /// sending OPEN and RELEASE (FUSE_NO_OPEN_SUPPORT); reads then come
    /// with handle 0 and are served by inode. Writes are refused by the
    /// modes (every file there is read-only).
    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        self.count("open");
        if self.fs.view() == View::Procps {
            reply.error(Errno::from_i32(libc::ENOSYS));
            return;
        }
        let access = flags.0 & libc::O_ACCMODE;
        let (read, write) = (access != libc::O_WRONLY, access != libc::O_RDONLY);
        if is_kv(ino.0) {
            let truncate = write && flags.0 & libc::O_TRUNC != 0;
            let append = flags.0 & libc::O_APPEND != 0;
            return self.kv(req, reply, |fs, caller, reply| async move {
                match fs.kv_open(ino.0, &caller, truncate, append).await {
                    Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::FOPEN_DIRECT_IO),
                    Err(e) => reply.error(errno(&e)),
                }
            });
        }
        let viewer = self.viewer(req);
        self.spawn(|fs| async move {
            if !fs.visible(ino.0, &viewer).await {
                return reply.error(Errno::from_i32(libc::ENOENT));
            }
            match fs.open(ino.0, read, write).await {
                // Sized files go through the page cache, which holds the
                // rendering of the size the kernel has (see notices.rs).
                Ok(fh) if fs.is_sized(ino.0) => {
                    reply.opened(FileHandle(fh), FopenFlags::FOPEN_KEEP_CACHE)
                }
                // Direct I/O: reads reach us whatever size was reported.
                Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::FOPEN_DIRECT_IO),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    /// A read that waits (output still to come, a call to a node) ends
    /// with EINTR as soon as the reading thread has a signal to take
    /// (interrupt.rs): the kernel would hold a killed reader until the
    /// answer came.
    fn read(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.count("read");
        let reader = req.pid();
        self.spawn(|fs| async move {
            let read = async {
                if is_kv(ino.0) {
                    fs.kv_read(fh.0, offset, size as usize).await
                } else if fh.0 == 0 {
                    fs.read_unopened(ino.0, offset, size as usize).await
                } else {
                    fs.read(fh.0, offset, size as usize).await
                }
            };
            // The read first: one that is ready answers on the FUSE
            // thread, without a look at the reader.
            let read = tokio::select! {
                biased;
                read = read => read,
                () = crate::interrupt::signalled(reader) => Err(FsError::Interrupted),
            };
            match read {
                Ok(bytes) => reply.data(&bytes),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        self.count("write");
        let data = data.to_vec();
        if is_kv(ino.0) {
            return self.spawn(|fs| async move {
                match fs.kv_write(fh.0, offset, &data).await {
                    Ok(n) => reply.written(n as u32),
                    Err(e) => reply.error(errno(&e)),
                }
            });
        }
        let notices = self.notices.clone();
        self.spawn(|fs| async move {
            match fs.write(fh.0, &data).await {
                Ok(n) => {
                    // The process changed: the kernel must ask again for the
                    // sizes (and so the content) of its sized files.
                    let dropped = match crate::fs::Entry::from_ino(ino.0) {
                        Some(crate::fs::Entry::PidFile(pid, _)) => {
                            sized_inos(pid).map(Notice::Inval).collect()
                        }
                        _ => Vec::new(),
                    };
                    notices.then(dropped, move || reply.written(n as u32));
                }
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.count("release");
        if is_kv(ino.0) {
            return self.spawn(|fs| async move {
                fs.kv_release(fh.0).await;
                reply.ok();
            });
        }
        self.fs.release(fh.0);
        reply.ok();
    }

    /// A key written (or truncated) through this open is stored at close,
    /// so the store's error reaches close(2).
    fn flush(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        self.count("flush");
        if !is_kv(ino.0) {
            return reply.ok();
        }
        self.spawn(|fs| async move {
            match fs.kv_flush(fh.0).await {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn fsync(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.count("fsync");
        self.flush(req, ino, fh, LockOwner(0), reply);
    }

    /// Files are made only in `kv/` (a new key, empty).
    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        self.count("create");
        if !is_kv(parent.0) {
            return reply.error(Errno::EACCES);
        }
        let name = name.to_string_lossy().into_owned();
        let exclusive = flags & libc::O_EXCL != 0;
        let append = flags & libc::O_APPEND != 0;
        self.kv(req, reply, |fs, caller, reply| async move {
            match fs
                .kv_create(parent.0, &name, &caller, exclusive, append)
                .await
            {
                Ok((a, fh)) => reply.created(
                    &Duration::ZERO,
                    &file_attr(&a),
                    Generation(0),
                    FileHandle(fh),
                    FopenFlags::FOPEN_DIRECT_IO,
                ),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn unlink(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.count("unlink");
        self.kv_remove(req, parent, name, reply, false);
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        self.count("mkdir");
        if !is_kv(parent.0) {
            return reply.error(Errno::EACCES);
        }
        let name = name.to_string_lossy().into_owned();
        self.kv(req, reply, |fs, caller, reply| async move {
            match fs.kv_mkdir(parent.0, &name, &caller).await {
                Ok(a) => reply.entry(&Duration::ZERO, &file_attr(&a), Generation(0)),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn rmdir(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.count("rmdir");
        self.kv_remove(req, parent, name, reply, true);
    }

    fn rename(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        self.count("rename");
        if !is_kv(parent.0) || !is_kv(newparent.0) {
            return reply.error(Errno::from_i32(libc::EXDEV));
        }
        if flags.contains(RenameFlags::RENAME_EXCHANGE) {
            return reply.error(Errno::EINVAL);
        }
        let no_replace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        let (name, newname) = (
            name.to_string_lossy().into_owned(),
            newname.to_string_lossy().into_owned(),
        );
        self.kv(req, reply, |fs, caller, reply| async move {
            let renamed = fs
                .kv_rename(
                    (parent.0, &name),
                    (newparent.0, &newname),
                    no_replace,
                    &caller,
                )
                .await;
            match renamed {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn readdir(
        &self,
        req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        self.count("readdir");
        if is_kv(ino.0) {
            return self.kv(req, reply, |fs, caller, mut reply| async move {
                match fs.kv_readdir(ino.0, &caller).await {
                    Ok(entries) => {
                        for (i, (attr, name)) in
                            entries.into_iter().enumerate().skip(offset as usize)
                        {
                            let kind = file_type(attr.kind);
                            if reply.add(INodeNo(attr.ino), (i + 1) as u64, kind, name) {
                                break;
                            }
                        }
                        reply.ok();
                    }
                    Err(e) => reply.error(errno(&e)),
                }
            });
        }
        let viewer = self.viewer(req);
        self.spawn(|fs| async move {
            match fs.readdir(ino.0).await {
                Ok(entries) => {
                    let entries = fs.only_visible(entries, |e| e.0, &viewer).await;
                    for (i, (child, kind, name)) in
                        entries.into_iter().enumerate().skip(offset as usize)
                    {
                        if reply.add(INodeNo(child), (i + 1) as u64, file_type(kind), name) {
                            break;
                        }
                    }
                    reply.ok();
                }
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn readdirplus(
        &self,
        req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        self.count("readdirplus");
        if is_kv(ino.0) {
            return self.kv(req, reply, |fs, caller, mut reply| async move {
                match fs.kv_readdir(ino.0, &caller).await {
                    Ok(entries) => {
                        for (i, (attr, name)) in
                            entries.into_iter().enumerate().skip(offset as usize)
                        {
                            let (ino, offset) = (INodeNo(attr.ino), (i + 1) as u64);
                            let attr = file_attr(&attr);
                            if reply.add(ino, offset, name, &Duration::ZERO, &attr, Generation(0)) {
                                break;
                            }
                        }
                        reply.ok();
                    }
                    Err(e) => reply.error(errno(&e)),
                }
            });
        }
        let notices = self.notices.clone();
        let viewer = self.viewer(req);
        self.spawn(|fs| async move {
            match fs.readdir_plus(ino.0).await {
                Ok(entries) => {
                    let entries = fs.only_visible(entries, |e| e.0.ino, &viewer).await;
                    let mut sent = Vec::new();
                    for (i, (attr, name)) in entries.into_iter().enumerate().skip(offset as usize) {
                        let ttl = ttl(&fs, &attr);
                        let (ino, offset) = (INodeNo(attr.ino), (i + 1) as u64);
                        if reply.add(ino, offset, name, &ttl, &file_attr(&attr), Generation(0)) {
                            break;
                        }
                        sent.push(attr.ino);
                    }
                    notices.then(stores(&fs, sent), move || reply.ok());
                }
                Err(e) => reply.error(errno(&e)),
            }
        });
    }
}
