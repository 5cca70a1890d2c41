//! The on-disk record of every process, so exit status and output survive a
//! noded restart. Layout under the data dir:
//!
//! ```text
//! procs/<pid>/record.json    what was started: argv, env, cwd, host pid, ...
//! procs/<pid>/exit.json      how it ended (absent while it runs)
//! procs/<pid>/stdout.<off>   output segments, see output.rs
//! ```
//!
//! Files are replaced atomically (write + rename) but not fsynced: they
//! survive a crash of noded, not necessarily of the machine.

use std::io::Write;
use std::path::{Path, PathBuf};

use proto::Gpid;
use serde::{Deserialize, Serialize};

/// What was started; written once, right after the spawn.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SpawnRecord {
    /// Cluster PID (raw).
    pub pid: i32,
    /// Parent cluster PID, 0 if none.
    pub ppid: i32,
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

/// The directory holding all records.
pub fn procs_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("procs")
}

/// The directory of one process.
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

/// Saves the spawn record.
pub fn save_spawn(dir: &Path, record: &SpawnRecord) -> std::io::Result<()> {
    write_atomically(&dir.join("record.json"), &serde_json::to_vec(record)?)
}

/// Saves the exit record.
pub fn save_exit(dir: &Path, record: &ExitRecord) -> std::io::Result<()> {
    write_atomically(&dir.join("exit.json"), &serde_json::to_vec(record)?)
}

/// Loads every readable record. Directories without a readable spawn record
/// (a crash between mkdir and the first write) are removed.
pub fn load_all(data_dir: &Path) -> std::io::Result<Vec<StoredProcess>> {
    let root = procs_dir(data_dir);
    std::fs::create_dir_all(&root)?;
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&root)? {
        let dir = entry?.path();
        let spawn = std::fs::read(dir.join("record.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<SpawnRecord>(&b).ok());
        let Some(spawn) = spawn else {
            tracing::warn!(dir = %dir.display(), "removing process directory without a readable record");
            let _ = std::fs::remove_dir_all(&dir);
            continue;
        };
        let exit = std::fs::read(dir.join("exit.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<ExitRecord>(&b).ok());
        found.push(StoredProcess { spawn, exit });
    }
    found.sort_by_key(|p| p.spawn.pid);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_the_disk() {
        let data = tempfile::tempdir().unwrap();
        let gpid = Gpid::new(1, 5).unwrap();
        let dir = proc_dir(data.path(), gpid);
        std::fs::create_dir_all(&dir).unwrap();
        let spawn = SpawnRecord {
            pid: gpid.as_raw(),
            ppid: 0,
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
        };
        save_spawn(&dir, &spawn).unwrap();
        let exit = ExitRecord {
            outcome: Outcome::Killed {
                signal: 9,
                core_dumped: false,
            },
            end_time_ms: 2,
            cpu_time_ms: 3,
            rss_bytes: 4,
        };
        save_exit(&dir, &exit).unwrap();
        std::fs::create_dir_all(proc_dir(data.path(), Gpid::new(1, 6).unwrap())).unwrap();

        let loaded = load_all(data.path()).unwrap();
        assert_eq!(loaded.len(), 1, "the half-written directory is dropped");
        assert_eq!(loaded[0].spawn.argv, spawn.argv);
        assert_eq!(loaded[0].exit.as_ref(), Some(&exit));
    }
}
