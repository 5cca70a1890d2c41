//! Services in the consistent store (SPEC §7): each service's spec (the
//! desired state) and the reconciler's record of every replica (where it
//! runs, its PID, restarts, backoff). Both change only through store
//! commands, so a new store leader knows exactly what the old one did:
//! a replica index is assigned to one PID at a time.

use std::collections::BTreeMap;

use proto::{Gpid, Slot};
use serde::{Deserialize, Serialize};

/// When ended replicas are started again.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Restart {
    #[default]
    Always,
    OnFailure,
    Never,
}

/// What a service runs and how many.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServiceSpec {
    pub name: String,
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: String,
    pub replicas: u32,
    pub restart: Restart,
    /// Node labels a node must have to run a replica.
    pub constraints: BTreeMap<String, String>,
    /// The user who made it (SPEC §9): its replicas run as this user, and
    /// only this user, root and administrators see it. Empty: root.
    #[serde(default)]
    pub owner: String,
}

impl ServiceSpec {
    /// The user it belongs to.
    pub fn owner(&self) -> &str {
        if self.owner.is_empty() {
            "root"
        } else {
            &self.owner
        }
    }
}

/// The lifecycle state of one replica.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaState {
    #[default]
    Pending,
    Running,
    Backoff,
    CrashLoop,
    Done,
    Unschedulable,
}

/// The reconciler's record of one replica.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Replica {
    pub state: ReplicaState,
    /// The node slot its process runs (or last ran) on.
    #[serde(with = "proto::or_zero")]
    pub slot: Option<Slot>,
    /// Its cluster PID.
    #[serde(with = "proto::or_zero")]
    pub pid: Option<Gpid>,
    /// Restarts after its process ended.
    pub restarts: u32,
    /// Ends in a row that came before a stable run (drives the backoff).
    pub failures: u32,
    pub started_ms: u64,
    pub next_start_ms: u64,
    pub last_status: Option<i32>,
    pub error: String,
}

/// A service in the store.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Service {
    pub spec: ServiceSpec,
    pub created_ms: u64,
    /// By replica index.
    pub replicas: BTreeMap<u32, Replica>,
}

/// The prefix of the process name of every replica: `svc/NAME/INDEX`.
pub const PROCESS_NAME_PREFIX: &str = "svc/";

/// The process name of replica `index` of `service`.
pub fn process_name(service: &str, index: u32) -> String {
    format!("{PROCESS_NAME_PREFIX}{service}/{index}")
}

/// The service and index a process name says, for a replica's process.
pub fn parse_process_name(name: &str) -> Option<(&str, u32)> {
    let rest = name.strip_prefix(PROCESS_NAME_PREFIX)?;
    let (service, index) = rest.rsplit_once('/')?;
    Some((service, index.parse().ok()?))
}

/// A service name is 1 to 64 of letters, digits, `-`, `_`, `.` (it is a
/// directory name under /nefele/svc and part of process names).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_names_round_trip() {
        let name = process_name("web.v2", 7);
        assert_eq!(name, "svc/web.v2/7");
        assert_eq!(parse_process_name(&name), Some(("web.v2", 7)));
        assert_eq!(parse_process_name("sleep"), None);
        assert_eq!(parse_process_name("svc/web/x"), None);
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_name("web-1_a.b"));
        assert!(!valid_name(""));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(".."));
        assert!(!valid_name(&"x".repeat(65)));
    }
}
