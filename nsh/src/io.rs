//! The shell's file descriptors: what fd 0, 1, 2 (and any other number a
//! redirection names) mean for the command being run.
//!
//! The interpreter runs in threads that share one process, so redirections
//! never touch the process's real fds; each shell state carries an [`Fds`]
//! table of shared open files instead, and commands read and write through
//! it. Cluster processes get their stdio pumped from and to these files.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use nix::errno::Errno;

/// One open file as the shell sees it.
#[derive(Clone, Debug)]
pub struct Fd {
    pub file: Arc<OwnedFd>,
    /// Set for input redirected onto a loop (`while read ..; done < f`,
    /// `x | while ..`): cluster commands inside the loop do not get it
    /// pumped to them unless they redirect it themselves, so they cannot
    /// swallow the loop's input (see docs/design/nsh.md).
    pub loop_input: bool,
}

impl Fd {
    pub fn new(file: OwnedFd) -> Self {
        Fd {
            file: Arc::new(file),
            loop_input: false,
        }
    }

    pub fn raw(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// A new descriptor for the same open file (for a local child).
    pub fn dup(&self) -> std::io::Result<OwnedFd> {
        self.file.as_fd().try_clone_to_owned()
    }

    /// Whether `other` is this very descriptor of the shell (not merely
    /// the same open file).
    pub fn is(&self, other: &Fd) -> bool {
        Arc::ptr_eq(&self.file, &other.file)
    }

    /// Whether it is a regular file (not a pipe, terminal or device).
    pub fn is_regular_file(&self) -> bool {
        nix::sys::stat::fstat(self.file.as_fd())
            .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG)
    }

    /// Whether it is the null device open for writing (see [`null_sink`]).
    pub fn is_null_sink(&self) -> bool {
        null_sink(self.file.as_fd())
    }

    pub fn is_terminal(&self) -> bool {
        nix::unistd::isatty(self.file.as_fd()).unwrap_or(false)
    }

    /// Whether `other` writes to the same open file as this one (`2>&1`,
    /// or two descriptors of one terminal): the same descriptor, or, as
    /// kcmp(2) tells, one open file description.
    pub fn same_file(&self, other: &Fd) -> bool {
        if Arc::ptr_eq(&self.file, &other.file) {
            return true;
        }
        let me = std::process::id();
        // SAFETY: kcmp with integers only; it compares two descriptors of
        // this process.
        let same =
            unsafe { libc::syscall(libc::SYS_kcmp, me, me, KCMP_FILE, self.raw(), other.raw()) };
        same == 0
    }
}

/// Whether `fd` is the null device (1:3) open for writing (`> /dev/null`):
/// a command on another node can write to its own node's null device
/// instead (SpawnRequest.stdout_null), with the same effect. A read-only
/// one is not (writes to it fail).
pub fn null_sink(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    let Ok(st) = nix::sys::stat::fstat(fd) else {
        return false;
    };
    let writable = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL)
        .is_ok_and(|flags| flags & libc::O_ACCMODE != libc::O_RDONLY);
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == libc::makedev(1, 3) && writable
}

/// The bytes a regular file has from `fd`'s offset on; `None` for
/// anything else.
pub fn regular_file_left(fd: std::os::fd::BorrowedFd<'_>) -> Option<u64> {
    let st = nix::sys::stat::fstat(fd).ok()?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return None;
    }
    let at = nix::unistd::lseek(fd, 0, nix::unistd::Whence::SeekCur).ok()?;
    Some((st.st_size - at).max(0) as u64)
}

/// kcmp(2)'s "same open file description" comparison (linux/kcmp.h).
const KCMP_FILE: libc::c_int = 0;

/// The fd table of one shell state.
#[derive(Clone, Debug, Default)]
pub struct Fds {
    table: BTreeMap<i32, Fd>,
}

impl Fds {
    /// The process's own stdin, stdout and stderr (duplicated, so closing
    /// ours never closes the real ones).
    pub fn inherit() -> Fds {
        let mut fds = Fds::default();
        for n in 0..=2 {
            // SAFETY: fds 0-2 are borrowed only for the duration of the dup.
            let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(n) };
            if let Ok(owned) =
                nix::fcntl::fcntl(borrowed, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(10))
            {
                // SAFETY: F_DUPFD_CLOEXEC returned a fresh descriptor we own.
                let owned = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(owned) };
                fds.table.insert(n, Fd::new(owned));
            }
        }
        fds
    }

    pub fn get(&self, n: i32) -> Option<&Fd> {
        self.table.get(&n)
    }

    pub fn set(&mut self, n: i32, fd: Fd) {
        self.table.insert(n, fd);
    }

    pub fn close(&mut self, n: i32) {
        self.table.remove(&n);
    }

    /// The descriptors above stdin, stdout and stderr (`exec 3>file`),
    /// which a command inherits as a child of bash does.
    pub fn above_stdio(&self) -> Vec<(i32, Fd)> {
        self.table
            .range(3..)
            .map(|(n, fd)| (*n, fd.clone()))
            .collect()
    }

    /// Writes all of `data` to fd `n`; a closed fd or a broken pipe is an
    /// error the caller reports like bash does (`write error`).
    pub fn write(&self, n: i32, data: &[u8]) -> std::io::Result<()> {
        let fd = self
            .get(n)
            .ok_or_else(|| std::io::Error::from_raw_os_error(libc::EBADF))?;
        write_all(fd.file.as_fd(), data)
    }
}

/// Blocking write of the whole buffer, retrying on EINTR and waiting while
/// a non-blocking descriptor is full.
pub fn write_all(fd: std::os::fd::BorrowedFd<'_>, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(0) => return Err(std::io::Error::from_raw_os_error(libc::EPIPE)),
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let mut pfd = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLOUT)];
                let _ = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(100u16));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Blocking read, retrying on EINTR. Returns 0 at end of file.
pub fn read(fd: std::os::fd::BorrowedFd<'_>, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match nix::unistd::read(fd, buf) {
            Ok(n) => return Ok(n),
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let mut pfd = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
                let _ = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(100u16));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The shell's file mode creation mask (the process's, which `umask`
/// sets), sent with every spawn so a command on any node creates files as
/// a child of the shell would.
pub fn umask() -> u32 {
    use nix::sys::stat::{Mode, umask};
    // Reading the mask means setting it; put it back at once.
    let current = umask(Mode::from_bits_truncate(0o077));
    umask(current);
    current.bits()
}

/// Sets the file mode creation mask of this thread's filesystem
/// attributes (shell threads have their own: `exec::spawn_shell_thread`).
pub fn set_umask(mask: u32) {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
}

/// A pipe whose ends are close-on-exec (local children get only the ends
/// handed to them explicitly).
pub fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)
}

/// Reads everything until end of file.
pub fn read_to_end(fd: &OwnedFd) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = read(fd.as_fd(), &mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}
