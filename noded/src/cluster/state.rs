//! The replicated cluster state (the consistent store's contents) and the
//! commands that change it. Applying a command is deterministic and pure,
//! so every node's copy is the same; raft (raft_store.rs) decides the order.

use std::collections::BTreeMap;
use std::sync::Arc;

use proto::{Gpid, Slot};
use serde::{Deserialize, Serialize};

use super::coord::{CoordCommand, CoordReply};
use super::services::{Replica, Service, ServiceSpec};
use crate::tokens::{self, TokenProof, TokenRecord};

/// Largest slot (SPEC §1).
pub const MAX_SLOT: u64 = proto::MAX_SLOT as u64;

/// One member of the cluster. Its raft node id is its slot.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Member {
    /// Slot, also the raft node id.
    pub slot: Slot,
    /// Unique name.
    pub name: String,
    /// gRPC address (host:port), also the gossip address (UDP, same port).
    pub addr: String,
    /// Placement labels.
    pub labels: BTreeMap<String, String>,
    /// Left the cluster cleanly (SIGTERM); its slot is not given again.
    pub left: bool,
    /// SHA-256 (hex) of its node certificate: the only certificate
    /// internal services accept for this name (`None` in `--insecure`
    /// clusters and for members from before TLS).
    #[serde(default)]
    pub cert: Option<String>,
    /// Removed by an administrator: its certificate is refused and it
    /// cannot come back with its data dir (a new token makes a new member).
    #[serde(default)]
    pub removed: bool,
}

impl Member {
    /// A member of a unit test: `n<slot>`, up, with `labels`.
    #[cfg(test)]
    pub fn for_test(slot: u64, labels: &[(&str, &str)]) -> Member {
        Member {
            slot: Slot::new(slot).expect("a test slot is 1..=214"),
            name: format!("n{slot}"),
            addr: format!("127.0.0.1:{}", 7000 + slot),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            left: false,
            cert: None,
            removed: false,
        }
    }
}

/// A change to the cluster state.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// A node joins (slot `None`: give it one) or comes back (its slot).
    Join {
        /// Node name.
        name: String,
        /// Its address.
        addr: String,
        /// Its labels.
        labels: BTreeMap<String, String>,
        /// The slot it had, if it had one.
        slot: Option<Slot>,
        /// SHA-256 (hex) of the certificate just issued to it (new nodes);
        /// `None` keeps the one recorded.
        #[serde(default)]
        cert: Option<String>,
        /// A new node's token, checked when this is applied.
        #[serde(default)]
        token: Option<TokenProof>,
    },
    /// A join token is made.
    AddToken {
        /// Its id.
        id: String,
        /// What the store keeps of it.
        record: TokenRecord,
    },
    /// A token is revoked: forgotten, so no join can use it.
    RevokeToken {
        /// Its id.
        id: String,
    },
    /// A node leaves cleanly (it may come back with its data dir).
    Leave {
        /// Its slot.
        slot: Slot,
    },
    /// An administrator removes a node for good (revokes it).
    Remove {
        /// Its slot.
        slot: Slot,
    },
    /// A new service (refused if the name is taken).
    CreateService { spec: ServiceSpec, created_ms: u64 },
    /// A service's replica count changes.
    ScaleService { name: String, replicas: u32 },
    /// A service goes, with its replica records.
    RemoveService { name: String },
    /// The reconciler records a replica. `expected_pid` fences the write:
    /// it applies only if the record still names that PID, so a stale
    /// leader's late write cannot undo a newer one.
    SetReplica {
        name: String,
        index: u32,
        #[serde(with = "proto::or_zero")]
        expected_pid: Option<Gpid>,
        replica: Replica,
    },
    /// The reconciler forgets a replica above the replica count.
    DropReplica { name: String, index: u32 },
    /// A node publishes the processes it runs, so that the others can show
    /// them as `lost` while it is down (SPEC §10).
    SetProcesses {
        /// Its slot.
        slot: Slot,
        /// Its running processes, by PID.
        processes: Arc<Vec<ProcSummary>>,
    },
    /// A change to the coordination primitives (SPEC §8), applied by the
    /// state machine to its `CoordState`, not to this one.
    Coord(CoordCommand),
}

/// What the cluster remembers of a running process, to list it as `lost`
/// while its node is down.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProcSummary {
    /// Cluster PID.
    pub pid: Gpid,
    /// Parent cluster PID, if any.
    #[serde(with = "proto::or_zero")]
    pub ppid: Option<Gpid>,
    /// Host PID on its node.
    pub host_pid: i32,
    /// Display name.
    pub name: String,
    /// argv, cut to [`SUMMARY_ARGV_BYTES`] in all.
    pub argv: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// Resolved executable.
    pub exe: String,
    /// The user it belongs to.
    pub user: String,
    /// Its uid and gid.
    pub uid: u32,
    /// Its gid.
    pub gid: u32,
    /// Start time, ms since the epoch.
    pub start_time_ms: u64,
    /// Runs under a terminal.
    pub tty: bool,
}

/// A PID for a message, "none" for none.
fn or_none(pid: &Option<Gpid>) -> String {
    pid.map_or_else(|| "none".to_string(), |p| p.to_string())
}

/// Most bytes of argv a [`ProcSummary`] keeps.
pub const SUMMARY_ARGV_BYTES: usize = 1024;

/// Why the store refused a command; api/status.rs gives each its status
/// code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    #[error(transparent)]
    BadToken(#[from] tokens::TokenError),
    #[error("no token with id {0}")]
    NoSuchToken(String),
    #[error("no member with slot {0}")]
    NoSuchMember(Slot),
    #[error("{0}: service already exists")]
    ServiceExists(String),
    #[error("{0}: no such service")]
    NoSuchService(String),
    #[error(
        "{name}/{index}: replica changed (pid {}, not {})",
        or_none(current),
        or_none(expected)
    )]
    ReplicaChanged {
        name: String,
        index: u32,
        #[serde(with = "proto::or_zero")]
        current: Option<Gpid>,
        #[serde(with = "proto::or_zero")]
        expected: Option<Gpid>,
    },
    #[error(
        "slot {0} was removed from the cluster: join again as a new node (a fresh data dir and a token)"
    )]
    SlotRemoved(Slot),
    #[error("slot {0} belongs to another node: this data dir is not from this cluster")]
    SlotTaken(Slot),
    #[error("a node named {0:?} is already a member")]
    NameTaken(String),
    #[error("the cluster is full: all {MAX_SLOT} slots are taken")]
    ClusterFull,
}

/// What applying a command returned.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum Reply {
    /// Nothing to say (membership entries, blanks).
    #[default]
    Done,
    /// The node is a member with this slot.
    Joined {
        /// Its slot.
        slot: Slot,
    },
    /// The command was refused.
    Refused {
        /// Why.
        reason: Refusal,
    },
    /// What a coordination command returned.
    Coord(CoordReply),
}

/// The state machine's data.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClusterState {
    /// Every member, by slot.
    pub members: BTreeMap<Slot, Member>,
    /// The highest slot ever given; slots are never given twice.
    pub last_slot: u64,
    /// Services by name (absent in snapshots from before services).
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    /// Join tokens by id (absent in snapshots from before TLS).
    #[serde(default)]
    pub tokens: BTreeMap<String, TokenRecord>,
    /// The running processes each node last published, by slot (shared,
    /// so copies of the state stay cheap).
    #[serde(default)]
    pub processes: BTreeMap<Slot, Arc<Vec<ProcSummary>>>,
}

impl ClusterState {
    /// Applies one command.
    pub fn apply(&mut self, command: &Command) -> Reply {
        match command {
            Command::Join {
                name,
                addr,
                labels,
                slot,
                cert,
                token,
            } => {
                if let Some(proof) = token {
                    // The token is checked again here, in log order, so a
                    // join that raced a revocation is refused.
                    if let Err(e) = tokens::check(self.tokens.get(&proof.id), proof) {
                        return Reply::Refused { reason: e.into() };
                    }
                    // Expired tokens go once one is used after expiry.
                    self.tokens.retain(|_, t| t.expires_ms > proof.now_ms);
                }
                self.join(name, addr, labels, *slot, cert.clone())
            }
            Command::AddToken { id, record } => {
                self.tokens.insert(id.clone(), record.clone());
                Reply::Done
            }
            Command::RevokeToken { id } => match self.tokens.remove(id) {
                Some(_) => Reply::Done,
                None => Reply::Refused {
                    reason: Refusal::NoSuchToken(id.clone()),
                },
            },
            Command::Leave { slot } | Command::Remove { slot } => {
                self.processes.remove(slot);
                match self.members.get_mut(slot) {
                    Some(m) => {
                        m.left = true;
                        if matches!(command, Command::Remove { .. }) {
                            m.removed = true;
                            m.cert = None;
                        }
                        Reply::Done
                    }
                    None => Reply::Refused {
                        reason: Refusal::NoSuchMember(*slot),
                    },
                }
            }
            Command::CreateService { spec, created_ms } => {
                if self.services.contains_key(&spec.name) {
                    return Reply::Refused {
                        reason: Refusal::ServiceExists(spec.name.clone()),
                    };
                }
                self.services.insert(
                    spec.name.clone(),
                    Service {
                        spec: spec.clone(),
                        created_ms: *created_ms,
                        replicas: BTreeMap::new(),
                    },
                );
                Reply::Done
            }
            Command::ScaleService { name, replicas } => match self.services.get_mut(name) {
                Some(service) => {
                    service.spec.replicas = *replicas;
                    Reply::Done
                }
                None => no_such_service(name),
            },
            Command::RemoveService { name } => match self.services.remove(name) {
                Some(_) => Reply::Done,
                None => no_such_service(name),
            },
            Command::SetReplica {
                name,
                index,
                expected_pid,
                replica,
            } => match self.services.get_mut(name) {
                Some(service) => {
                    let current = service.replicas.get(index).and_then(|r| r.pid);
                    if current != *expected_pid {
                        return Reply::Refused {
                            reason: Refusal::ReplicaChanged {
                                name: name.clone(),
                                index: *index,
                                current,
                                expected: *expected_pid,
                            },
                        };
                    }
                    service.replicas.insert(*index, replica.clone());
                    Reply::Done
                }
                None => no_such_service(name),
            },
            Command::DropReplica { name, index } => match self.services.get_mut(name) {
                Some(service) => {
                    service.replicas.remove(index);
                    Reply::Done
                }
                None => no_such_service(name),
            },
            Command::Coord(_) => Reply::Done,
            Command::SetProcesses { slot, processes } => {
                if self.members.get(slot).is_some_and(|m| !m.left) {
                    self.processes.insert(*slot, processes.clone());
                    Reply::Done
                } else {
                    Reply::Refused {
                        reason: Refusal::NoSuchMember(*slot),
                    }
                }
            }
        }
    }

    fn join(
        &mut self,
        name: &str,
        addr: &str,
        labels: &BTreeMap<String, String>,
        slot: Option<Slot>,
        cert: Option<String>,
    ) -> Reply {
        let same_name = self
            .members
            .values()
            .find(|m| m.name == name)
            .map(|m| (m.slot, m.left));
        if let Some(slot) = slot
            && self.members.get(&slot).is_some_and(|m| m.removed)
        {
            return Reply::Refused {
                reason: Refusal::SlotRemoved(slot),
            };
        }
        let slot = match (slot, same_name) {
            // Coming back with its data dir: same slot, new address.
            (Some(slot), Some((existing, _))) if existing == slot => slot,
            (Some(slot), None) if !self.members.contains_key(&slot) => slot,
            (Some(slot), _) => {
                return Reply::Refused {
                    reason: Refusal::SlotTaken(slot),
                };
            }
            // The same node asking again (a retried write, or a crash
            // before it saved its slot): the answer is the same.
            (None, Some((existing, false))) if self.members[&existing].addr == addr => existing,
            (None, Some((_, false))) => {
                return Reply::Refused {
                    reason: Refusal::NameTaken(name.to_string()),
                };
            }
            (None, Some((old, true))) => {
                self.members.remove(&old);
                match self.next_slot() {
                    Some(slot) => slot,
                    None => return cluster_full(),
                }
            }
            (None, None) => match self.next_slot() {
                Some(slot) => slot,
                None => return cluster_full(),
            },
        };
        self.last_slot = self.last_slot.max(slot.raft_id());
        let cert = cert.or_else(|| self.members.get(&slot).and_then(|m| m.cert.clone()));
        self.members.insert(
            slot,
            Member {
                slot,
                name: name.to_string(),
                addr: addr.to_string(),
                labels: labels.clone(),
                left: false,
                cert,
                removed: false,
            },
        );
        Reply::Joined { slot }
    }

    /// Slots are never given twice: the next one is past every slot used
    /// (none once all are used), and never the founder's, which is in
    /// use before its own announcement is applied: a node that joins in
    /// that window took slot 1 and the founder was refused its own.
    fn next_slot(&self) -> Option<Slot> {
        Slot::new(self.last_slot.max(crate::identity::FIRST_SLOT) + 1).ok()
    }

    /// The member with this name.
    pub fn by_name(&self, name: &str) -> Option<&Member> {
        self.members.values().find(|m| m.name == name)
    }
}

fn cluster_full() -> Reply {
    Reply::Refused {
        reason: Refusal::ClusterFull,
    }
}

fn no_such_service(name: &str) -> Reply {
    Reply::Refused {
        reason: Refusal::NoSuchService(name.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sl(n: u64) -> Slot {
        Slot::new(n).unwrap()
    }

    fn join(state: &mut ClusterState, name: &str, slot: Option<u64>) -> Reply {
        state.apply(&Command::Join {
            name: name.into(),
            addr: format!("{name}:1"),
            labels: BTreeMap::new(),
            slot: slot.map(sl),
            cert: None,
            token: None,
        })
    }

    #[test]
    fn slots_are_distinct_and_names_unique() {
        let mut s = ClusterState::default();
        assert_eq!(join(&mut s, "a", Some(1)), Reply::Joined { slot: sl(1) });
        assert_eq!(join(&mut s, "b", None), Reply::Joined { slot: sl(2) });
        assert_eq!(join(&mut s, "c", None), Reply::Joined { slot: sl(3) });
        // Another node (another address) with a taken name is refused.
        let dup = s.apply(&Command::Join {
            name: "b".into(),
            addr: "elsewhere:1".into(),
            labels: BTreeMap::new(),
            slot: None,
            cert: None,
            token: None,
        });
        assert!(matches!(
            dup,
            Reply::Refused {
                reason: Refusal::NameTaken(_)
            }
        ));
        // b restarts with its data dir: same slot, new address.
        let back = s.apply(&Command::Join {
            name: "b".into(),
            addr: "b:2".into(),
            labels: BTreeMap::new(),
            slot: Some(sl(2)),
            cert: None,
            token: None,
        });
        assert_eq!(back, Reply::Joined { slot: sl(2) });
        assert_eq!(s.members[&sl(2)].addr, "b:2");
        assert!(matches!(join(&mut s, "x", Some(3)), Reply::Refused { .. }));
        // A retried join from the same address gets the same slot.
        assert_eq!(join(&mut s, "c", None), Reply::Joined { slot: sl(3) });
    }

    #[test]
    fn a_node_that_joins_before_the_founder_announces_itself_gets_slot_2() {
        let mut s = ClusterState::default();
        assert_eq!(join(&mut s, "b", None), Reply::Joined { slot: sl(2) });
        assert_eq!(join(&mut s, "a", Some(1)), Reply::Joined { slot: sl(1) });
        assert_eq!(join(&mut s, "c", None), Reply::Joined { slot: sl(3) });
    }

    #[test]
    fn a_left_name_can_join_again_with_a_new_slot() {
        let mut s = ClusterState::default();
        join(&mut s, "a", Some(1));
        join(&mut s, "b", None);
        assert_eq!(s.apply(&Command::Leave { slot: sl(2) }), Reply::Done);
        assert!(s.members[&sl(2)].left);
        assert_eq!(join(&mut s, "c", None), Reply::Joined { slot: sl(3) });
        assert_eq!(join(&mut s, "b", None), Reply::Joined { slot: sl(4) });
    }

    #[test]
    fn a_token_join_is_checked_when_applied_and_pins_the_certificate() {
        let mut s = ClusterState::default();
        join(&mut s, "a", Some(1));
        let token = crate::tokens::Token::generate([0; 32]).unwrap();
        let record = TokenRecord {
            kind: "join".into(),
            secret_sha256: crate::tokens::secret_hash(&token.secret),
            created_ms: 0,
            expires_ms: 1000,
            user: String::new(),
        };
        s.apply(&Command::AddToken {
            id: token.id.clone(),
            record,
        });
        let with = |proof: TokenProof| Command::Join {
            name: "b".into(),
            addr: "b:1".into(),
            labels: BTreeMap::new(),
            slot: None,
            cert: Some("f1".into()),
            token: Some(proof),
        };
        let mut wrong = token.clone();
        wrong.secret = "1".repeat(32);
        let before = s.clone();
        assert!(matches!(
            s.apply(&with(wrong.proof(5))),
            Reply::Refused { .. }
        ));
        assert_eq!(s, before, "a refused join changes nothing");
        assert_eq!(
            s.apply(&with(token.proof(5))),
            Reply::Joined { slot: sl(2) }
        );
        assert_eq!(s.members[&sl(2)].cert.as_deref(), Some("f1"));
        // Coming back without a new certificate keeps the pinned one.
        join(&mut s, "b", Some(2));
        assert_eq!(s.members[&sl(2)].cert.as_deref(), Some("f1"));
        // Revoked: refused.
        assert_eq!(
            s.apply(&Command::RevokeToken {
                id: token.id.clone()
            }),
            Reply::Done
        );
        let mut again = with(token.proof(6));
        if let Command::Join { name, .. } = &mut again {
            *name = "c".into();
        }
        assert!(matches!(
            s.apply(&again),
            Reply::Refused {
                reason: Refusal::BadToken(tokens::TokenError::Unknown(_))
            }
        ));
    }
}
