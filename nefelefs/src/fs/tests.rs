//! The filesystem model against an in-memory backend.

use std::sync::Mutex;

use proto::v1::{
    NodeInfo, NodeState, OutputStream, ProcessInfo, ProcessState, ReplicaInfo, ReplicaState,
    ServiceInfo, ServiceSpec,
};

use super::*;

#[derive(Default)]
struct Memory {
    processes: Vec<ProcessInfo>,
    hidden: Vec<ProcessInfo>,
    nodes: Vec<NodeInfo>,
    services: Mutex<Vec<ServiceInfo>>,
    /// Owners of services by name (root when not named here).
    service_owners: Mutex<HashMap<String, String>>,
    service_lists: Mutex<usize>,
    down: bool,
    signals: Mutex<Vec<(Gpid, i32)>>,
    input: Mutex<Vec<(Gpid, Vec<u8>)>>,
    lists: Mutex<usize>,
    kv: Mutex<std::collections::BTreeMap<(String, String), Vec<u8>>>,
}

impl Backend for Memory {
    async fn list(&self, _brief: bool) -> FsResult<Vec<ProcessInfo>> {
        if self.down {
            return Err(FsError::Io("down".into()));
        }
        *self.lists.lock().unwrap() += 1;
        Ok(self.processes.clone())
    }
    async fn get(&self, pid: Gpid, with_env: bool) -> FsResult<ProcessInfo> {
        let pid = pid.as_raw();
        if self.down {
            return Err(FsError::Io("down".into()));
        }
        let mut p = self
            .processes
            .iter()
            .chain(&self.hidden)
            .find(|p| p.pid == pid)
            .cloned()
            .ok_or(FsError::NotFound)?;
        if with_env {
            p.env = vec!["A=1".into(), "B=2".into()];
        }
        Ok(p)
    }
    async fn nodes(&self) -> FsResult<Vec<NodeInfo>> {
        Ok(self.nodes.clone())
    }
    async fn list_services(&self, user: Option<&str>) -> FsResult<Vec<ServiceInfo>> {
        if self.down {
            return Err(FsError::Io("down".into()));
        }
        *self.service_lists.lock().unwrap() += 1;
        let owners = self.service_owners.lock().unwrap();
        let owner = |s: &ServiceInfo| {
            let name = &s.spec.as_ref().unwrap().name;
            owners.get(name).map_or("root", String::as_str).to_string()
        };
        let mut services = self.services.lock().unwrap().clone();
        if let Some(user) = user {
            services.retain(|s| owner(s) == user);
        }
        Ok(services)
    }
    async fn read_output(
        &self,
        _pid: Gpid,
        stream: OutputStream,
        offset: u64,
        max: usize,
    ) -> FsResult<Vec<u8>> {
        let all: &[u8] = if stream == OutputStream::Stdout {
            b"hello world\n"
        } else {
            b""
        };
        let start = (offset as usize).min(all.len());
        Ok(all[start..(start + max).min(all.len())].to_vec())
    }
    async fn write_input(&self, pid: Gpid, data: Vec<u8>) -> FsResult<()> {
        self.input.lock().unwrap().push((pid, data));
        Ok(())
    }
    async fn signal(&self, pid: Gpid, signal: i32) -> FsResult<()> {
        self.signals.lock().unwrap().push((pid, signal));
        Ok(())
    }
    async fn kv_get(&self, user: &str, key: &str) -> FsResult<Option<proto::v1::KeyValue>> {
        let kv = self.kv.lock().unwrap();
        Ok(kv
            .get(&(user.into(), key.into()))
            .map(|v| proto::v1::KeyValue {
                key: key.into(),
                value: v.clone(),
                ..Default::default()
            }))
    }
    async fn kv_list(
        &self,
        user: &str,
        prefix: &str,
        keys_only: bool,
    ) -> FsResult<Vec<proto::v1::KeyValue>> {
        let kv = self.kv.lock().unwrap();
        Ok(kv
            .iter()
            .filter(|((u, k), _)| u == user && k.starts_with(prefix))
            .map(|((_, k), v)| proto::v1::KeyValue {
                key: k.clone(),
                value: if keys_only { Vec::new() } else { v.clone() },
                ..Default::default()
            })
            .collect())
    }
    async fn kv_put(&self, user: &str, key: &str, value: Vec<u8>, only_new: bool) -> FsResult<()> {
        let mut kv = self.kv.lock().unwrap();
        let pair = (user.to_string(), key.to_string());
        if only_new && kv.contains_key(&pair) {
            return Err(FsError::Exists);
        }
        kv.insert(pair, value);
        Ok(())
    }
    async fn kv_delete(&self, user: &str, key: &str) -> FsResult<()> {
        let mut kv = self.kv.lock().unwrap();
        kv.remove(&(user.to_string(), key.to_string()))
            .map(drop)
            .ok_or(FsError::NotFound)
    }
}

/// A cluster PID of the tests.
fn g(raw: i64) -> Gpid {
    Gpid::from_raw(raw).unwrap()
}

fn process(pid: i32, node: &str) -> ProcessInfo {
    ProcessInfo {
        pid,
        node: node.into(),
        argv: vec!["sleep".into(), "100".into()],
        exe: "/usr/bin/sleep".into(),
        cwd: "/tmp".into(),
        state: ProcessState::Running as i32,
        host_state: "S".into(),
        stdout_bytes: 12,
        uid: 1000,
        gid: 100,
        ..ProcessInfo::default()
    }
}

fn fs() -> NefeleFs<Memory> {
    NefeleFs::new(memory())
}

/// Two processes on two nodes, and one started after the listing.
fn memory() -> Memory {
    Memory {
        processes: vec![process(10_000_001, "n1"), process(20_000_005, "n2")],
        hidden: vec![process(10_000_009, "n1")],
        nodes: vec![
            NodeInfo {
                name: "n1".into(),
                slot: 1,
                state: NodeState::Up as i32,
                ..NodeInfo::default()
            },
            NodeInfo {
                name: "n2".into(),
                slot: 2,
                state: NodeState::Up as i32,
                ..NodeInfo::default()
            },
        ],
        ..Memory::default()
    }
}

fn names(entries: &[(u64, Kind, String)]) -> Vec<&str> {
    entries.iter().map(|e| e.2.as_str()).collect()
}

#[test]
fn inodes_round_trip() {
    for e in [
        Entry::Root,
        Entry::ProcDir,
        Entry::NodesDir,
        Entry::Pid(g(20_000_017)),
        Entry::PidFile(g(20_000_017), PidFile::Ctl),
        Entry::PidFile(g(i64::from(i32::MAX)), PidFile::Exit),
        Entry::NodeDir(Slot::new(214).unwrap()),
        Entry::NodeFile(Slot::new(3).unwrap(), NodeFile::Procs),
        Entry::SvcDir,
        Entry::Service(0),
        Entry::Service(u32::MAX),
        Entry::ServiceFile(7, SvcFile::Spec),
        Entry::ServiceFile(u32::MAX, SvcFile::Replicas),
    ] {
        assert_eq!(Entry::from_ino(e.ino()), Some(e), "{e:?}");
    }
    assert_eq!(Entry::from_ino(1234 << 8), None, "not a cluster pid");
}

#[tokio::test]
async fn the_tree_lists_processes_and_nodes() {
    let fs = fs();
    assert_eq!(
        names(&fs.readdir(ROOT).await.unwrap()),
        [".", "..", "proc", "nodes", "svc", "kv"]
    );
    let proc_ino = fs.lookup(ROOT, "proc", 1).await.unwrap().ino;
    assert_eq!(
        names(&fs.readdir(proc_ino).await.unwrap()),
        [
            ".",
            "..",
            "10000001",
            "20000005",
            "self",
            "thread-self",
            "sys",
            "stat",
            "uptime",
            "meminfo",
            "loadavg",
            "cpuinfo"
        ]
    );
    let pid_dir = fs.lookup(proc_ino, "20000005", 1).await.unwrap();
    assert_eq!((pid_dir.kind, pid_dir.uid), (Kind::Dir, 1000));
    let files = fs.readdir(pid_dir.ino).await.unwrap();
    assert_eq!(
        names(&files)[2..],
        [
            "status", "stat", "cmdline", "environ", "node", "cwd", "exe", "stdout", "stderr",
            "stdin", "ctl", "exit", "statm", "comm", "ctty", "task"
        ]
    );
    let nodes_ino = fs.lookup(ROOT, "nodes", 1).await.unwrap().ino;
    assert_eq!(
        names(&fs.readdir(nodes_ino).await.unwrap()),
        [".", "..", "n1", "n2"]
    );
    let n2 = fs.lookup(nodes_ino, "n2", 1).await.unwrap();
    let procs = fs.lookup(n2.ino, "procs", 1).await.unwrap();
    let fh = fs.open(procs.ino, true, false).await.unwrap();
    assert_eq!(fs.read(fh, 0, 4096).await.unwrap(), b"20000005\n");
}

#[tokio::test]
async fn listings_are_cached_but_new_pids_are_found() {
    let fs = fs();
    fs.readdir(PROC).await.unwrap();
    fs.readdir(PROC).await.unwrap();
    assert_eq!(
        *fs.backend.lists.lock().unwrap(),
        1,
        "one List serves both listings"
    );
    let found = fs.lookup(PROC, "10000009", 1).await.unwrap();
    assert_eq!(found.ino, Entry::Pid(g(10_000_009)).ino());
    assert_eq!(
        fs.lookup(PROC, "10000077", 1).await.unwrap_err(),
        FsError::NotFound
    );
    // The caller itself is a symlink into the host's /proc, never listed.
    let me = std::process::id();
    let own = fs.lookup(PROC, &me.to_string(), me).await.unwrap();
    assert_eq!(own.kind, Kind::Symlink);
    assert_eq!(
        fs.readlink(own.ino, me).await.unwrap(),
        format!("{DEFAULT_HOST_PROC}/{me}")
    );
    let selfl = fs.lookup(PROC, "self", me).await.unwrap();
    assert_eq!(
        fs.readlink(selfl.ino, me).await.unwrap(),
        format!("{DEFAULT_HOST_PROC}/{me}")
    );
    assert_eq!(
        fs.lookup(PROC, &me.to_string(), 1).await.unwrap_err(),
        FsError::NotFound,
        "another caller (init, not one of our threads) does not see it"
    );
    assert_eq!(
        fs.lookup(PROC, "1234", 1).await.unwrap_err(),
        FsError::NotFound
    );
}

#[tokio::test]
async fn generated_files_are_snapshots_of_linux_layouts() {
    let fs = fs();
    let pid = g(20_000_005);
    let read_all = async |f: PidFile| {
        let fh = fs
            .open(Entry::PidFile(pid, f).ino(), true, false)
            .await
            .unwrap();
        let bytes = fs.read(fh, 0, 1 << 16).await.unwrap();
        fs.release(fh);
        bytes
    };
    let status = String::from_utf8(read_all(PidFile::Status).await).unwrap();
    assert!(status.contains("State:\tS (sleeping)\n") && status.contains("Node:\tn2\n"));
    assert!(
        String::from_utf8(read_all(PidFile::Stat).await)
            .unwrap()
            .starts_with("20000005 (sleep) S ")
    );
    assert_eq!(read_all(PidFile::Cmdline).await, b"sleep\x00100\x00");
    assert_eq!(read_all(PidFile::Environ).await, b"A=1\0B=2\0");
    assert_eq!(read_all(PidFile::Node).await, b"n2\n");
    assert_eq!(read_all(PidFile::Exit).await, b"");
    assert_eq!(read_all(PidFile::Stdout).await, b"hello world\n");
    assert_eq!(
        fs.readlink(Entry::PidFile(pid, PidFile::Cwd).ino(), 1)
            .await
            .unwrap(),
        "/tmp"
    );
    let attr = fs
        .getattr(Entry::PidFile(pid, PidFile::Status).ino())
        .await
        .unwrap();
    assert_eq!(
        (attr.size, attr.perm),
        (status.len() as u64, 0o444),
        "a process's generated files report the size of what a read returns"
    );
    let environ = fs
        .getattr(Entry::PidFile(pid, PidFile::Environ).ino())
        .await
        .unwrap();
    assert_eq!(
        environ.size, 8,
        "environ reports its size (procps reads it)"
    );
    let out = fs
        .getattr(Entry::PidFile(pid, PidFile::Stdout).ino())
        .await
        .unwrap();
    assert_eq!(out.size, 12, "output files report what was captured");
}

#[tokio::test]
async fn ctl_and_stdin_take_writes_and_refuse_junk() {
    let fs = fs();
    let pid = g(10_000_001);
    let ctl = fs
        .open(Entry::PidFile(pid, PidFile::Ctl).ino(), false, true)
        .await
        .unwrap();
    for (cmd, sig) in [
        ("stop\n", libc::SIGSTOP),
        ("cont", libc::SIGCONT),
        ("term\n", libc::SIGTERM),
        ("signal 10\n", 10),
        ("signal SIGUSR2\n", libc::SIGUSR2),
        ("signal hup\n", libc::SIGHUP),
        ("kill\n", libc::SIGKILL),
    ] {
        assert_eq!(fs.write(ctl, cmd.as_bytes()).await.unwrap(), cmd.len());
        assert_eq!(
            fs.backend.signals.lock().unwrap().pop(),
            Some((pid, sig)),
            "{cmd}"
        );
    }
    for junk in [
        "nonsense\n",
        "signal\n",
        "signal 99\n",
        "signal NOPE\n",
        "kill now\n",
        "\n",
        "\u{0}",
    ] {
        assert!(
            matches!(
                fs.write(ctl, junk.as_bytes()).await,
                Err(FsError::Invalid(_))
            ),
            "{junk:?}"
        );
    }
    assert!(
        fs.backend.signals.lock().unwrap().is_empty(),
        "junk sends nothing"
    );
    assert!(matches!(fs.read(ctl, 0, 10).await, Err(FsError::Denied)));

    let stdin = fs
        .open(Entry::PidFile(pid, PidFile::Stdin).ino(), false, true)
        .await
        .unwrap();
    fs.write(stdin, b"hello\n").await.unwrap();
    assert_eq!(
        fs.backend.input.lock().unwrap().as_slice(),
        [(pid, b"hello\n".to_vec())]
    );
    assert_eq!(
        fs.open(Entry::PidFile(pid, PidFile::Status).ino(), true, true)
            .await
            .unwrap_err(),
        FsError::Denied,
        "generated files are read-only"
    );
    assert_eq!(
        fs.open(Entry::PidFile(pid, PidFile::Ctl).ino(), true, false)
            .await
            .unwrap_err(),
        FsError::Denied,
        "ctl is write-only"
    );
    assert_eq!(fs.read(9999, 0, 1).await.unwrap_err(), FsError::BadHandle);
    assert_eq!(
        fs.open(PROC, true, false).await.unwrap_err(),
        FsError::IsDir
    );
    assert_eq!(
        fs.readdir(Entry::PidFile(pid, PidFile::Status).ino())
            .await
            .unwrap_err(),
        FsError::NotDir
    );
}

#[tokio::test]
async fn an_unreachable_cluster_is_an_io_error() {
    let fs = NefeleFs::new(Memory {
        down: true,
        ..Memory::default()
    });
    assert!(matches!(fs.readdir(PROC).await, Err(FsError::Io(_))));
    assert!(matches!(
        fs.lookup(PROC, "10000001", 1).await,
        Err(FsError::Io(_))
    ));
}

#[tokio::test]
async fn procps_finds_tasks_and_global_files() {
    let fs = fs();
    let pid = g(20_000_005);
    let task_dir = fs.lookup(Entry::Pid(pid).ino(), "task", 1).await.unwrap();
    assert_eq!(
        names(&fs.readdir(task_dir.ino).await.unwrap())[2..],
        ["20000005"]
    );
    let task = fs.lookup(task_dir.ino, "20000005", 1).await.unwrap();
    let stat = fs.lookup(task.ino, "stat", 1).await.unwrap();
    let fh = fs.open(stat.ino, true, false).await.unwrap();
    assert!(
        String::from_utf8(fs.read(fh, 0, 4096).await.unwrap())
            .unwrap()
            .starts_with("20000005 (sleep) S")
    );
    let sys = fs.lookup(PROC, "sys", 1).await.unwrap();
    let kernel = fs.lookup(sys.ino, "kernel", 1).await.unwrap();
    let pid_max = fs.lookup(kernel.ino, "pid_max", 1).await.unwrap();
    let fh = fs.open(pid_max.ino, true, false).await.unwrap();
    let value = String::from_utf8(fs.read(fh, 0, 64).await.unwrap()).unwrap();
    assert!(
        value.trim().len() >= "2149999999".len(),
        "wide enough for every cluster pid"
    );
    let global = fs.lookup(PROC, "stat", 1).await.unwrap();
    let fh = fs.open(global.ino, true, false).await.unwrap();
    let text = String::from_utf8(fs.read(fh, 0, 1 << 16).await.unwrap()).unwrap();
    assert!(text.starts_with("cpu ") && text.contains("\nbtime "));
}

#[tokio::test]
async fn the_procps_view_is_proc_with_every_file_sized() {
    let full = fs();
    let fs = NefeleFs::with_view(memory(), DEFAULT_HOST_PROC, View::Procps);
    let listing = fs.readdir(ROOT).await.unwrap();
    let root = names(&listing);
    assert!(
        root.contains(&"20000005") && root.contains(&"self") && root.contains(&"uptime"),
        "the root is proc/: {root:?}"
    );
    let pid = fs.lookup(ROOT, "20000005", 1).await.unwrap();
    let listing = fs.readdir(pid.ino).await.unwrap();
    let files = names(&listing).join(" ");
    for gone in ["stdout", "stderr", "stdin", "ctl"] {
        assert!(!files.contains(gone), "{gone} needs an open file: {files}");
        assert_eq!(
            fs.lookup(pid.ino, gone, 1).await.unwrap_err(),
            FsError::NotFound
        );
    }
    // No OPEN reaches this view: reads come by inode, and the size told
    // at lookup is the length of what they return.
    for (dir, name) in [(pid.ino, "stat"), (pid.ino, "environ"), (ROOT, "uptime")] {
        let attr = fs.lookup(dir, name, 1).await.unwrap();
        assert!(fs.is_sized(attr.ino), "{name} is sized");
        let bytes = fs.read_unopened(attr.ino, 0, 1 << 16).await.unwrap();
        assert_eq!(attr.size, bytes.len() as u64, "{name}");
        assert!(!bytes.is_empty(), "{name}");
        assert_eq!(fs.rendering(attr.ino).as_deref(), Some(&bytes), "{name}");
    }
    let cwd = fs.lookup(pid.ino, "cwd", 1).await.unwrap();
    assert!(!fs.is_sized(cwd.ino), "symlinks are not files");
    assert_eq!(
        fs.read_unopened(cwd.ino, 0, 10).await.unwrap_err(),
        FsError::BadHandle
    );
    assert!(
        !full.is_sized(Entry::Global(GlobalFile::Uptime).ino()),
        "the full view serves global files at size 0 with direct I/O"
    );
}

fn service(name: &str, replicas: &[(i32, ReplicaState)]) -> ServiceInfo {
    ServiceInfo {
        spec: Some(ServiceSpec {
            name: name.into(),
            argv: vec!["sleep".into(), "1000".into()],
            cwd: "/".into(),
            replicas: replicas.len() as u32,
            ..ServiceSpec::default()
        }),
        replicas: replicas
            .iter()
            .enumerate()
            .map(|(i, (pid, state))| ReplicaInfo {
                index: i as u32,
                state: *state as i32,
                pid: *pid,
                node: if *pid > 0 { "n1".into() } else { String::new() },
                error: if *state == ReplicaState::Unschedulable {
                    "no node matches zone=mars".into()
                } else {
                    String::new()
                },
                ..ReplicaInfo::default()
            })
            .collect(),
        created_ms: 5_000,
    }
}

async fn read_path(fs: &NefeleFs<Memory>, path: &[&str]) -> FsResult<String> {
    let mut ino = ROOT;
    for name in path {
        ino = fs.lookup(ino, name, 1).await?.ino;
    }
    let fh = fs.open(ino, true, false).await?;
    let bytes = fs.read(fh, 0, 1 << 16).await?;
    fs.release(fh);
    Ok(String::from_utf8(bytes).unwrap())
}

#[tokio::test]
async fn services_have_a_directory_with_spec_and_replicas() {
    let fs = fs();
    *fs.backend.services.lock().unwrap() = vec![
        service(
            "web",
            &[
                (10_000_001, ReplicaState::Running),
                (0, ReplicaState::Pending),
            ],
        ),
        service("mars", &[(0, ReplicaState::Unschedulable)]),
        // A name the API would refuse never becomes an entry.
        service("..", &[]),
    ];
    let svc = fs.lookup(ROOT, "svc", 1).await.unwrap();
    assert_eq!(svc.kind, Kind::Dir);
    let entries = fs.readdir(svc.ino).await.unwrap();
    assert_eq!(names(&entries), [".", "..", "mars", "web"]);
    let web = fs.lookup(svc.ino, "web", 1).await.unwrap();
    assert_eq!(web.ino, entries[3].0, "lookup and readdir agree");
    assert_eq!((web.kind, web.perm), (Kind::Dir, 0o555));
    assert_eq!(web.mtime, UNIX_EPOCH + Duration::from_secs(5));
    assert_eq!(
        names(&fs.readdir(web.ino).await.unwrap()),
        [".", "..", "spec", "replicas"]
    );
    assert_eq!(
        read_path(&fs, &["svc", "web", "spec"]).await.unwrap(),
        "name: web\ncommand: sleep 1000\nreplicas: 2\nrestart: always\ncwd: /\n"
    );
    let replicas = read_path(&fs, &["svc", "web", "replicas"]).await.unwrap();
    let lines: Vec<Vec<&str>> = replicas
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0][..4], ["INDEX", "STATE", "NODE", "PID"]);
    assert_eq!(lines[1][..4], ["0", "running", "n1", "10000001"]);
    assert_eq!(lines[2][..4], ["1", "pending", "-", "-"]);
    let mars = read_path(&fs, &["svc", "mars", "replicas"]).await.unwrap();
    assert!(
        mars.contains(" unschedulable ") && mars.ends_with(" no node matches zone=mars\n"),
        "{mars}"
    );
    assert_eq!(
        fs.lookup(svc.ino, "nope", 1).await.unwrap_err(),
        FsError::NotFound
    );
    assert_eq!(
        fs.lookup(svc.ino, "..", 1).await.unwrap_err(),
        FsError::NotFound
    );
    assert_eq!(
        fs.lookup(web.ino, "bogus", 1).await.unwrap_err(),
        FsError::NotFound
    );
    assert_eq!(
        fs.open(web.ino, true, false).await.unwrap_err(),
        FsError::IsDir
    );
    let spec = fs.lookup(web.ino, "spec", 1).await.unwrap();
    assert_eq!(
        fs.open(spec.ino, true, true).await.unwrap_err(),
        FsError::Denied,
        "service files are read-only"
    );
}

#[tokio::test]
async fn new_services_are_found_and_removed_ones_vanish() {
    let fs = fs();
    *fs.backend.services.lock().unwrap() = vec![service("a", &[])];
    let svc = fs.lookup(ROOT, "svc", 1).await.unwrap().ino;
    assert_eq!(names(&fs.readdir(svc).await.unwrap())[2..], ["a"]);
    fs.readdir(svc).await.unwrap();
    assert_eq!(
        *fs.backend.service_lists.lock().unwrap(),
        1,
        "one ListServices serves both listings"
    );
    // Created after the (still fresh) listing: found all the same.
    fs.backend
        .services
        .lock()
        .unwrap()
        .push(service("b", &[(20_000_005, ReplicaState::Running)]));
    let b = fs.lookup(svc, "b", 1).await.unwrap();
    // Removed: its directory and files are gone once the listing is
    // older than LIST_TTL (here: dropped).
    let a = fs.lookup(svc, "a", 1).await.unwrap();
    fs.backend
        .services
        .lock()
        .unwrap()
        .retain(|s| s.spec.as_ref().unwrap().name != "a");
    fs.services.clear();
    assert_eq!(fs.getattr(a.ino).await.unwrap_err(), FsError::NotFound);
    assert_eq!(
        fs.getattr(Entry::ServiceFile(9999, SvcFile::Spec).ino())
            .await
            .unwrap_err(),
        FsError::NotFound,
        "a number never given"
    );
    // Created again under the same name: the same inode.
    fs.backend.services.lock().unwrap().push(service("a", &[]));
    assert_eq!(fs.lookup(svc, "a", 1).await.unwrap().ino, a.ino);
    assert_ne!(a.ino, b.ino);
    let down = NefeleFs::new(Memory {
        down: true,
        ..Memory::default()
    });
    assert!(matches!(down.readdir(SVC).await, Err(FsError::Io(_))));
}

#[tokio::test]
async fn users_see_only_their_own_services() {
    let fs = fs();
    *fs.backend.services.lock().unwrap() = vec![
        service("web", &[(10_000_001, ReplicaState::Running)]),
        service("mine", &[]),
    ];
    fs.backend
        .service_owners
        .lock()
        .unwrap()
        .insert("mine".into(), "alice".into());
    let (alice, bob) = (Viewer::User("alice".into()), Viewer::User("bob".into()));
    let nameless = Viewer::User(String::new());
    let entries = fs.readdir(SVC).await.unwrap();
    for (viewer, want) in [
        (&Viewer::All, &[".", "..", "mine", "web"][..]),
        (&alice, &[".", "..", "mine"]),
        (&bob, &[".", ".."]),
        (&nameless, &[".", ".."]),
    ] {
        let shown = fs.only_visible(entries.clone(), |e| e.0, viewer).await;
        assert_eq!(names(&shown), want, "{viewer:?}");
    }
    let web = fs.lookup(SVC, "web", 1).await.unwrap().ino;
    let mine = fs.lookup(SVC, "mine", 1).await.unwrap().ino;
    for dir in [web, mine] {
        for file in ["spec", "replicas"] {
            let ino = fs.lookup(dir, file, 1).await.unwrap().ino;
            let owned = dir == mine;
            assert!(fs.visible(ino, &Viewer::All).await);
            assert_eq!(fs.visible(ino, &alice).await, owned, "{file}");
            assert!(!fs.visible(ino, &bob).await, "{file}");
            assert!(!fs.visible(ino, &nameless).await, "{file}");
        }
        assert_eq!(fs.visible(dir, &alice).await, dir == mine);
        assert!(!fs.visible(dir, &bob).await);
    }
    assert!(fs.visible(SVC, &bob).await, "svc/ itself is everyone's");

    // Made after alice's listing was cached: hers at once.
    fs.backend
        .services
        .lock()
        .unwrap()
        .push(service("new", &[]));
    fs.backend
        .service_owners
        .lock()
        .unwrap()
        .insert("new".into(), "alice".into());
    let new = fs.lookup(SVC, "new", 1).await.unwrap().ino;
    assert!(fs.visible(new, &alice).await);

    // Listings without services ask for no user's services.
    let asked = *fs.backend.service_lists.lock().unwrap();
    let root = fs.readdir(ROOT).await.unwrap();
    assert_eq!(fs.only_visible(root, |e| e.0, &bob).await.len(), 6);
    assert_eq!(*fs.backend.service_lists.lock().unwrap(), asked);
}

mod kv;
