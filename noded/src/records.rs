//! The on-disk record of every process, so exit status and output survive a
//! noded restart. Layout under the data dir:
//!
//! ```text
//! journal                   one JSON line per event: {"spawn": {...}} when a
//!                           process starts, {"exit": {"pid": N, ...}} when it ends
//! procs/<pid>/stdout.<off>  output segments (output.rs), created on the
//!                           first byte of output
//! ```
//!
//! Appending a line to an open file is the whole cost on the spawn path (no
//! file or directory is created for a process that prints nothing). Pruned
//! records are removed by rewriting the journal (write + rename). Nothing is
//! fsynced: records survive a crash of noded, not necessarily of the machine;
//! a torn last line is skipped when loading.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use proto::Gpid;
use serde::{Deserialize, Serialize};

/// What was started; written once, right after the spawn.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SpawnRecord {
    /// Cluster PID.
    pub pid: Gpid,
    /// Parent cluster PID, if any.
    #[serde(with = "proto::or_zero")]
    pub ppid: Option<Gpid>,
    /// Name given at spawn.
    pub name: String,
    /// Requested argv.
    pub argv: Vec<String>,
    /// Environment as `K=V`, including what noded added.
    pub env: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// Resolved executable path.
    pub exe: String,
    /// Runs under a terminal.
    pub tty: bool,
    /// Stdin is a pipe.
    pub stdin_pipe: bool,
    /// Start time, ms since the epoch.
    pub start_time_ms: u64,
    /// Kernel PID; also the process group id (each process leads its group).
    pub host_pid: i32,
    /// Start time in ticks after boot: with `host_pid`, the identity used to
    /// recognise the process after a noded crash.
    pub host_start_ticks: u64,
    /// Effective uid.
    pub uid: u32,
    /// Effective gid.
    pub gid: u32,
    /// The user it runs for (SPEC §9): who may see and act on it. Empty in
    /// records from before users, which were root's.
    #[serde(default)]
    pub user: String,
    /// Started with output backpressure; written only when set, so other
    /// records stay as they were.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub output_backpressure: bool,
    /// Stdout and stderr went to the client's own descriptors (`inherit`):
    /// not captured. Written only when set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stdout_inherited: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stderr_inherited: bool,
}

/// How a process ended.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// It exited with this status.
    Exited {
        /// Exit status.
        code: i32,
    },
    /// A signal ended it.
    Killed {
        /// Signal number.
        signal: i32,
        /// Whether it dumped core.
        core_dumped: bool,
    },
    /// noded lost track of it.
    Lost {
        /// What happened.
        reason: String,
    },
}

/// Written once, when the process has been reaped (or found lost).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExitRecord {
    /// How it ended.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// When, ms since the epoch.
    pub end_time_ms: u64,
    /// Total CPU time, ms.
    pub cpu_time_ms: u64,
    /// Peak resident set size, bytes.
    pub rss_bytes: u64,
}

/// A process as found on disk at startup.
#[derive(Debug)]
pub struct StoredProcess {
    /// What was started.
    pub spawn: SpawnRecord,
    /// How it ended, if it did while noded watched.
    pub exit: Option<ExitRecord>,
}

/// The directory holding all output directories.
pub fn procs_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("procs")
}

/// The output directory of one process.
pub fn proc_dir(data_dir: &Path, gpid: Gpid) -> PathBuf {
    procs_dir(data_dir).join(gpid.to_string())
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a
/// reader never sees half a file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    drop(file);
    std::fs::rename(&tmp, path)
}

/// Like [`write_atomically`], but the file and the rename are on disk
/// (fsynced, with the directory) before it returns. For the raft store.
pub fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_durably_with_mode(path, bytes, 0o644)
}

/// [`write_durably`] of a file created with `mode` (before the umask): the
/// temporary file has it from the start, so a secret is never readable by
/// others, even for a moment.
pub fn write_durably_with_mode(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    // A leftover from a crash may have another mode: start afresh.
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    sync_dir(path)
}

/// fsyncs the directory holding `path`, so a rename into it is durable.
pub fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) => std::fs::File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })?
        .sync_all(),
        None => Ok(()),
    }
}

/// One line of the journal.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Entry {
    Spawn(SpawnRecord),
    Exit(ExitEntry),
}

#[derive(Debug, Serialize, Deserialize)]
struct ExitEntry {
    pid: Gpid,
    #[serde(flatten)]
    exit: ExitRecord,
}

impl Entry {
    fn pid(&self) -> Gpid {
        match self {
            Entry::Spawn(s) => s.pid,
            Entry::Exit(e) => e.pid,
        }
    }
}

/// The append-only journal of spawns and exits.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    /// Appends are single `write` calls of whole lines; the lock keeps them
    /// whole and lets `remove` swap the file. Never held across an await.
    file: Mutex<std::fs::File>,
}

impl Journal {
    /// Opens the journal in `data_dir` and loads every process it records.
    pub fn open(data_dir: &Path) -> std::io::Result<(Journal, Vec<StoredProcess>)> {
        let path = data_dir.join("journal");
        let mut found: BTreeMap<Gpid, StoredProcess> = BTreeMap::new();
        match std::fs::read(&path) {
            Ok(bytes) => {
                for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    match serde_json::from_slice::<Entry>(line) {
                        Ok(Entry::Spawn(spawn)) => {
                            found.insert(spawn.pid, StoredProcess { spawn, exit: None });
                        }
                        Ok(Entry::Exit(e)) => {
                            if let Some(p) = found.get_mut(&e.pid) {
                                p.exit = Some(e.exit);
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "skipping unreadable journal line"),
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let file = Self::open_append(&path)?;
        Ok((
            Journal {
                path,
                file: Mutex::new(file),
            },
            found.into_values().collect(),
        ))
    }

    fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    }

    fn append(&self, entry: &Entry) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(entry)?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(&line)
    }

    /// Records a spawn.
    pub fn record_spawn(&self, spawn: &SpawnRecord) -> std::io::Result<()> {
        self.append(&Entry::Spawn(spawn.clone()))
    }

    /// Records an exit.
    pub fn record_exit(&self, pid: Gpid, exit: &ExitRecord) -> std::io::Result<()> {
        self.append(&Entry::Exit(ExitEntry {
            pid,
            exit: exit.clone(),
        }))
    }

    /// Rewrites the journal without the lines of `pids`. Holds the append
    /// lock throughout, so no line written meanwhile is lost.
    pub fn remove(&self, pids: &HashSet<Gpid>) -> std::io::Result<()> {
        if pids.is_empty() {
            return Ok(());
        }
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = std::fs::read(&self.path)?;
        let mut kept = Vec::with_capacity(bytes.len());
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let keep =
                serde_json::from_slice::<Entry>(line).is_ok_and(|e| !pids.contains(&e.pid()));
            if keep {
                kept.extend_from_slice(line);
                kept.push(b'\n');
            }
        }
        write_atomically(&self.path, &kept)?;
        *file = Self::open_append(&self.path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpid(raw: i64) -> Gpid {
        Gpid::from_raw(raw).unwrap()
    }

    fn spawn_record(pid: i64) -> SpawnRecord {
        SpawnRecord {
            pid: gpid(pid),
            ppid: None,
            name: "x".into(),
            argv: vec!["true".into()],
            env: vec!["A=1".into()],
            cwd: "/".into(),
            exe: "/bin/true".into(),
            tty: false,
            stdin_pipe: false,
            start_time_ms: 1,
            host_pid: 42,
            host_start_ticks: 7,
            uid: 0,
            gid: 0,
            user: String::new(),
            output_backpressure: false,
            stdout_inherited: false,
            stderr_inherited: false,
        }
    }

    #[test]
    fn the_journal_round_trips_and_forgets_removed_pids() {
        let data = tempfile::tempdir().unwrap();
        let (journal, found) = Journal::open(data.path()).unwrap();
        assert!(found.is_empty());
        let exit = ExitRecord {
            outcome: Outcome::Killed {
                signal: 9,
                core_dumped: false,
            },
            end_time_ms: 2,
            cpu_time_ms: 3,
            rss_bytes: 4,
        };
        for pid in [10_000_001, 10_000_002, 10_000_003] {
            journal.record_spawn(&spawn_record(pid)).unwrap();
        }
        journal.record_exit(gpid(10_000_001), &exit).unwrap();
        journal.remove(&HashSet::from([gpid(10_000_002)])).unwrap();
        journal.record_exit(gpid(10_000_003), &exit).unwrap();
        drop(journal);
        // A torn line from a crash mid-write is skipped.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(data.path().join("journal"))
            .unwrap();
        f.write_all(b"{\"spawn\": {\"pid\"").unwrap();

        let (_, found) = Journal::open(data.path()).unwrap();
        let pids: Vec<i32> = found.iter().map(|p| p.spawn.pid.as_raw()).collect();
        assert_eq!(pids, vec![10_000_001, 10_000_003]);
        assert_eq!(found[0].exit.as_ref(), Some(&exit));
        assert_eq!(found[0].spawn.argv, vec!["true".to_string()]);
        assert_eq!(found[1].exit.as_ref(), Some(&exit));
    }

    #[test]
    fn the_backpressure_flag_is_written_only_when_set() {
        let plain = serde_json::to_string(&spawn_record(10_000_001)).unwrap();
        assert!(!plain.contains("output_backpressure"), "{plain}");
        let back: SpawnRecord = serde_json::from_str(&plain).unwrap();
        assert!(!back.output_backpressure);
        let held = SpawnRecord {
            output_backpressure: true,
            ..spawn_record(10_000_002)
        };
        let text = serde_json::to_string(&held).unwrap();
        let back: SpawnRecord = serde_json::from_str(&text).unwrap();
        assert!(back.output_backpressure);
    }
}
