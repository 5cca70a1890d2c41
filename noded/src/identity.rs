//! The node's identity and its hold on the data directory: `node.json`
//! (name, slot) and an exclusive lock so two noded never share a data dir.
//! Called once by `run` at startup.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::config::{default_name, validate_name};

/// Slot of a node that started its own cluster. Joining nodes get theirs
/// from the consistent store (the cluster issue).
pub const FIRST_SLOT: u64 = 1;

/// What `node.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Identity {
    /// Unique node name.
    pub name: String,
    /// Slot: the high digits of this node's cluster PIDs; none until a
    /// joining node has been given one.
    #[serde(with = "proto::or_zero")]
    pub slot: Option<proto::Slot>,
    /// The cluster's unique id, made by the node that founded it; gossip
    /// between different clusters that reach each other is refused.
    #[serde(default)]
    pub cluster_id: String,
}

/// An opened data directory, locked for this process.
#[derive(Debug)]
pub struct DataDir {
    /// The directory.
    pub path: PathBuf,
    /// Who this node is.
    pub identity: Identity,
    /// Held for the life of the process: the lock is the proof that no other
    /// noded uses this directory.
    _lock: Flock<File>,
}

/// How long a noded waits for another one to let go of the data dir.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

impl DataDir {
    /// Creates or opens the data dir, locks it, and loads or creates the
    /// identity. A name given on the command line must match a stored one.
    ///
    /// A new node that founds its own cluster gets slot 1; a new node that
    /// joins (`joining`) has slot 0 until [`DataDir::save_slot`].
    pub fn open(path: &Path, wanted_name: Option<&str>, joining: bool) -> anyhow::Result<Self> {
        std::fs::create_dir_all(path)
            .with_context(|| format!("cannot create data dir {}", path.display()))?;
        // Private: the journal holds every process's argv and environment,
        // the logs their output, the raft log every user's keys and
        // services (SPEC §9). Also tightened on a data dir made before.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make data dir {} private", path.display()))?;
        let lock_path = path.join("lock");
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("cannot open {}", lock_path.display()))?;
        // A noded stopping (SIGTERM: streams drained, its set published)
        // holds the lock a few seconds more: a restart right after it
        // waits for that rather than failing.
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        let mut file = lock_file;
        let mut said = false;
        let lock = loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => break lock,
                Err((back, _)) if std::time::Instant::now() < deadline => {
                    if !std::mem::replace(&mut said, true) {
                        tracing::info!(data_dir = %path.display(), "waiting for the noded that holds the data dir to stop");
                    }
                    file = back;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err((_, errno)) => bail!(
                    "data dir {} is in use by another noded ({errno}; waited {LOCK_WAIT:?})",
                    path.display()
                ),
            }
        };

        let id_path = path.join("node.json");
        let identity = match std::fs::read(&id_path) {
            Ok(bytes) => {
                let stored: Identity = serde_json::from_slice(&bytes)
                    .with_context(|| format!("corrupt {}", id_path.display()))?;
                if let Some(wanted) = wanted_name
                    && wanted != stored.name
                {
                    bail!(
                        "data dir {} belongs to node {:?}, not {wanted:?}: use another --data-dir or drop --name",
                        path.display(),
                        stored.name
                    );
                }
                stored
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let name = wanted_name.map(str::to_string).unwrap_or_else(default_name);
                validate_name(&name)?;
                let identity = Identity {
                    name,
                    slot: if joining {
                        None
                    } else {
                        proto::Slot::new(FIRST_SLOT).ok()
                    },
                    cluster_id: if joining {
                        String::new()
                    } else {
                        new_cluster_id()?
                    },
                };
                if !joining {
                    save(&id_path, &identity)?;
                }
                identity
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", id_path.display())),
        };
        Ok(DataDir {
            path: path.to_path_buf(),
            identity,
            _lock: lock,
        })
    }

    /// Records the slot the cluster gave this node.
    pub fn save_slot(&mut self, slot: proto::Slot, cluster_id: &str) -> anyhow::Result<()> {
        self.identity.slot = Some(slot);
        self.identity.cluster_id = cluster_id.to_string();
        save(&self.path.join("node.json"), &self.identity)
    }
}

/// 128 random bits, in hex.
fn new_cluster_id() -> anyhow::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn save(path: &Path, identity: &Identity) -> anyhow::Result<()> {
    crate::records::write_atomically(path, &serde_json::to_vec_pretty(identity)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_persists_and_the_dir_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDir::open(dir.path(), Some("n1"), false).unwrap();
        assert_eq!(
            first.identity,
            Identity {
                name: "n1".into(),
                slot: proto::Slot::new(1).ok(),
                cluster_id: first.identity.cluster_id.clone()
            }
        );
        let err = DataDir::open(dir.path(), Some("n1"), false).unwrap_err();
        assert!(format!("{err:#}").contains("in use"), "{err:#}");
        drop(first);
        let again = DataDir::open(dir.path(), None, false).unwrap();
        assert_eq!(again.identity.name, "n1");
        drop(again);
        let err = DataDir::open(dir.path(), Some("other"), false).unwrap_err();
        assert!(format!("{err:#}").contains("belongs to node"), "{err:#}");
    }
}
