//! The tree: what each path is (lookup, listings, links), who may see it,
//! and its attributes.

use super::*;

impl<B: Backend> NefeleFs<B> {
    pub(super) fn pid_attr(&self, info: &ProcessInfo, entry: Entry) -> Attr {
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
    pub(super) fn sized_attr(&self, mut attr: Attr, bytes: Vec<u8>) -> Attr {
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
                    let info = self.listed(pid).await?;
                    return Ok(self.pid_attr(&info, Entry::Pid(pid)));
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
            Entry::TaskDir(pid) => match name.parse::<Gpid>() {
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
                Ok(dir(Entry::NodeDir(node_slot(node)?).ino()))
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
                let mut pids: Vec<Gpid> = table.keys().copied().collect();
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
                    if let Ok(slot) = node_slot(n) {
                        out.push((Entry::NodeDir(slot).ino(), Kind::Dir, n.name.clone()));
                    }
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

    /// Whether `viewer` may see inode `ino`: a process's directory and
    /// files, and a service's, are its user's (a PID the listing does not
    /// know is no user's); everything else is everyone's.
    pub async fn visible(&self, ino: u64, viewer: &Viewer) -> bool {
        let Viewer::User(user) = viewer else {
            return true;
        };
        if let Some(pid) = pid_of(ino) {
            return match self.pid_table().await {
                Ok(table) => table.get(&pid).is_some_and(|p| p.user == *user),
                Err(_) => false,
            };
        }
        match service_of(ino) {
            Some(id) => self.user_sees_service(user, id).await,
            None => true,
        }
    }

    /// Keeps the entries of a directory listing that `viewer` may see
    /// (see [`Self::visible`]).
    pub async fn only_visible<T>(
        &self,
        entries: Vec<T>,
        ino_of: impl Fn(&T) -> u64,
        viewer: &Viewer,
    ) -> Vec<T> {
        let Viewer::User(user) = viewer else {
            return entries;
        };
        let table = if entries.iter().any(|e| pid_of(ino_of(e)).is_some()) {
            self.pid_table().await.ok()
        } else {
            None
        };
        let services = self
            .services_seen_by(user, entries.iter().filter_map(|e| service_of(ino_of(e))))
            .await;
        entries
            .into_iter()
            .filter(|e| {
                let ino = ino_of(e);
                match (pid_of(ino), service_of(ino)) {
                    (Some(pid), _) => table
                        .as_ref()
                        .and_then(|t| t.get(&pid))
                        .is_some_and(|p| p.user == *user),
                    (_, Some(id)) => services.contains(&id),
                    (None, None) => true,
                }
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
}

/// The thread group (process) of a host thread id, from the host's /proc.
pub(super) fn host_tgid(tid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// A node's slot as its NodeInfo carries it (a node the cluster lists
/// always has one).
fn node_slot(node: &NodeInfo) -> FsResult<Slot> {
    Slot::new(u64::from(node.slot)).map_err(|_| FsError::NotFound)
}
