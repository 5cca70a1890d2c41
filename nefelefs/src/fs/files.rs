//! Open files: what opening renders, reads (output files wait for more),
//! and writes (`stdin`, `ctl` commands).

use super::*;

/// An open file.
#[derive(Debug)]
pub(super) enum Handle {
    /// Rendered at open.
    Snapshot(Vec<u8>),
    /// A file of a process that reports its real size (see
    /// [`NefeleFs::is_sized`]): reads serve the rendering that size was taken from.
    Sized(u64),
    /// Captured output, read through. (A read waiting for output ends
    /// when its reader is signalled, see interrupt.rs; never by a close,
    /// which the kernel sends only once no read is in flight.)
    Output { pid: Gpid, stream: OutputStream },
    /// Writes go to stdin.
    Stdin { pid: Gpid },
    /// Writes are commands.
    Ctl { pid: Gpid },
}

impl<B: Backend> NefeleFs<B> {
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
                },
                PidFile::Stderr => Handle::Output {
                    pid,
                    stream: OutputStream::Stderr,
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
    pub(super) async fn environ(&self, pid: Gpid) -> FsResult<Arc<Vec<u8>>> {
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
    pub(super) async fn sized_handle(&self, ino: u64) -> FsResult<Handle> {
        if !self.rendered.contains_key(&ino) {
            self.getattr(ino).await?;
        }
        Ok(Handle::Sized(ino))
    }

    pub(super) async fn render_pid_file(&self, pid: Gpid, file: PidFile) -> FsResult<Vec<u8>> {
        let info = self.process(pid).await?;
        self.render_info(&info, file).await
    }

    pub(super) async fn render_info(&self, info: &ProcessInfo, file: PidFile) -> FsResult<Vec<u8>> {
        Ok(match file {
            PidFile::Environ => self
                .environ(crate::backend::gpid(info.pid)?)
                .await?
                .to_vec(),
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

    pub(super) async fn render_global(&self, file: GlobalFile) -> FsResult<Vec<u8>> {
        let boot_ms = self.cluster_boot_ms().await;
        let now_ms = proto::now_ms();
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

    pub(super) async fn render_node_file(&self, slot: Slot, file: NodeFile) -> FsResult<Vec<u8>> {
        let node = self.node_by_slot(slot).await?;
        let now = proto::now_ms();
        // A node that is not up reports no load or memory: EIO, not the
        // zeros of a report that never came.
        let up = node.state == proto::v1::NodeState::Up as i32;
        let unknown = || FsError::Io(format!("node {} is not up", node.name));
        Ok(match file {
            NodeFile::Status => render::node_status(&node, now).into_bytes(),
            NodeFile::Loadavg if !up => return Err(unknown()),
            NodeFile::Meminfo if !up => return Err(unknown()),
            NodeFile::Loadavg => render::node_loadavg(&node).into_bytes(),
            NodeFile::Meminfo => render::node_meminfo(&node).into_bytes(),
            NodeFile::Procs => {
                let table = self.process_table().await?;
                let mut pids: Vec<Gpid> = table
                    .iter()
                    .filter(|(_, p)| p.node == node.name)
                    .filter(|(_, p)| {
                        matches!(
                            ProcessState::try_from(p.state),
                            Ok(ProcessState::Running | ProcessState::Stopped)
                        )
                    })
                    .map(|(pid, _)| *pid)
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
        /// What a read needs of its handle, copied out of the table so no
        /// lock is held while the backend is asked.
        enum Source {
            Sized(u64),
            Output(Gpid, OutputStream),
        }
        let source = match self.handles.get(&fh).as_deref() {
            Some(Handle::Snapshot(bytes)) => return Ok(slice(bytes, offset, size)),
            Some(Handle::Sized(ino)) => Source::Sized(*ino),
            Some(Handle::Output { pid, stream }) => Source::Output(*pid, *stream),
            Some(Handle::Stdin { .. } | Handle::Ctl { .. }) => return Err(FsError::Denied),
            None => return Err(FsError::BadHandle),
        };
        match source {
            // Rendered afresh if dropped since the open (a write to ctl).
            Source::Sized(ino) => Ok(slice(&self.sized_content(ino).await?, offset, size)),
            Source::Output(pid, stream) => {
                self.backend.read_output(pid, stream, offset, size).await
            }
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
        let (pid, is_ctl) = match self.handles.get(&fh).as_deref() {
            Some(Handle::Stdin { pid }) => (*pid, false),
            Some(Handle::Ctl { pid }) => (*pid, true),
            Some(_) => return Err(FsError::Denied),
            None => return Err(FsError::BadHandle),
        };
        if is_ctl {
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
        } else {
            self.backend.write_input(pid, data.to_vec()).await?;
        }
        self.invalidate(pid);
        Ok(data.len())
    }

    /// Closes a handle.
    pub fn release(&self, fh: u64) {
        self.handles.remove(&fh);
    }
}

/// Up to `size` bytes of `bytes` from `offset` (none past the end).
pub(super) fn slice(bytes: &[u8], offset: u64, size: usize) -> Vec<u8> {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    bytes[start..start.saturating_add(size).min(bytes.len())].to_vec()
}

/// The content of a `proc/sys/kernel/` file.
pub(super) fn render_sys(file: SysFile) -> FsResult<Vec<u8>> {
    match file {
        SysFile::PidMax => Ok(format!("{PID_MAX}\n").into_bytes()),
        SysFile::Osrelease => host_file("/proc/sys/kernel/osrelease"),
    }
}

/// A file of the mount host's /proc, passed through.
pub(super) fn host_file(path: &str) -> FsResult<Vec<u8>> {
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
