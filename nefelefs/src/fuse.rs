//! The thin FUSE adapter: each kernel request becomes a task on the tokio
//! runtime that asks the model (fs.rs) and replies, so FUSE threads never
//! wait (a read at the end of a running process's stdout may wait for
//! minutes). Errors become errno values here, and only here.

use std::ffi::OsStr;
use std::sync::Arc;
use std::task::Context;
use std::time::{Duration, SystemTime};

use fuser::{
    BsdFileFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, LockOwner, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry,
    ReplyOpen, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use tokio::runtime::Handle;

use crate::backend::{Backend, FsError};
use crate::fs::{Attr, Kind, NefeleFs};

/// How long the kernel may keep an entry or attributes: directories and
/// generated files (always size 0) for a second, like the listing cache;
/// captured output (whose size grows) and the caller-specific `self` links
/// not at all.
fn ttl(a: &Attr) -> Duration {
    if a.kind == Kind::Symlink || a.size > 0 || is_output(a.ino) {
        Duration::ZERO
    } else {
        Duration::from_secs(1)
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

/// The errno of a filesystem error.
pub fn errno(e: &FsError) -> Errno {
    match e {
        FsError::NotFound => Errno::ENOENT,
        FsError::Invalid(_) => Errno::EINVAL,
        FsError::NoProcess => Errno::from_i32(libc::ESRCH),
        FsError::BrokenPipe => Errno::from_i32(libc::EPIPE),
        FsError::Denied => Errno::EACCES,
        FsError::NotDir => Errno::from_i32(libc::ENOTDIR),
        FsError::IsDir => Errno::from_i32(libc::EISDIR),
        FsError::BadHandle => Errno::from_i32(libc::EBADF),
        FsError::Io(_) => Errno::EIO,
    }
}

fn file_attr(a: &Attr) -> FileAttr {
    let kind = match a.kind {
        Kind::Dir => FileType::Directory,
        Kind::File => FileType::RegularFile,
        Kind::Symlink => FileType::Symlink,
    };
    FileAttr {
        ino: INodeNo(a.ino),
        size: a.size,
        blocks: 0,
        atime: a.mtime,
        mtime: a.mtime,
        ctime: a.mtime,
        crtime: a.mtime,
        kind,
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
}

impl<B: Backend> Adapter<B> {
    /// Serves `fs`, running its work on `runtime`.
    pub fn new(fs: NefeleFs<B>, runtime: Handle) -> Self {
        Adapter {
            fs: Arc::new(fs),
            runtime,
        }
    }

    /// Runs a request's work. It is polled once right here first: when
    /// everything it needs is cached it completes on the FUSE thread, with
    /// no hand-off; only work that waits (a call to a node, output still to
    /// come) moves to a runtime task, so FUSE threads never block.
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

impl<B: Backend> Filesystem for Adapter<B> {
    fn lookup(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let name = name.to_string_lossy().into_owned();
        let caller = req.pid();
        self.spawn(|fs| async move {
            match fs.lookup(parent.0, &name, caller).await {
                Ok(a) => reply.entry(&ttl(&a), &file_attr(&a), Generation(0)),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        self.spawn(|fs| async move {
            match fs.getattr(ino.0).await {
                Ok(a) => reply.attr(&ttl(&a), &file_attr(&a)),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    /// Only truncation (`echo cmd > ctl` opens with O_TRUNC) is accepted,
    /// and it changes nothing.
    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        if mode.is_some() || uid.is_some() || gid.is_some() {
            reply.error(Errno::from_i32(libc::EPERM));
            return;
        }
        self.getattr(_req, ino, None, reply);
    }

    fn readlink(&self, req: &Request, ino: INodeNo, reply: ReplyData) {
        let caller = req.pid();
        self.spawn(|fs| async move {
            match fs.readlink(ino.0, caller).await {
                Ok(target) => reply.data(target.as_bytes()),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let access = flags.0 & libc::O_ACCMODE;
        let (read, write) = (access != libc::O_WRONLY, access != libc::O_RDONLY);
        self.spawn(|fs| async move {
            match fs.open(ino.0, read, write).await {
                // Direct I/O: reads reach us whatever size was reported.
                Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::FOPEN_DIRECT_IO),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.spawn(|fs| async move {
            match fs.read(fh.0, offset, size as usize).await {
                Ok(bytes) => reply.data(&bytes),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let data = data.to_vec();
        self.spawn(|fs| async move {
            match fs.write(fh.0, &data).await {
                Ok(n) => reply.written(n as u32),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.fs.release(fh.0);
        reply.ok();
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        self.spawn(|fs| async move {
            match fs.readdir(ino.0).await {
                Ok(entries) => {
                    for (i, (child, kind, name)) in
                        entries.into_iter().enumerate().skip(offset as usize)
                    {
                        let kind = match kind {
                            Kind::Dir => FileType::Directory,
                            Kind::File => FileType::RegularFile,
                            Kind::Symlink => FileType::Symlink,
                        };
                        if reply.add(INodeNo(child), (i + 1) as u64, kind, name) {
                            break;
                        }
                    }
                    reply.ok();
                }
                Err(e) => reply.error(errno(&e)),
            }
        });
    }
}
