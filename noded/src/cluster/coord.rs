//! The coordination primitives' state (SPEC §8, docs/design/coord.md):
//! key-value with revisions and a bounded event history for watches,
//! locks with fencing tokens, leases, barriers and names. It lives in the
//! consistent store next to the cluster state; applying a [`CoordCommand`]
//! is deterministic (time comes in the command), so every node's copy is
//! the same. Everything belongs to a user's space: users never see each
//! other's keys, locks, barriers or names.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use proto::Gpid;
use serde::{Deserialize, Serialize};

pub use proto::coord_limits::{MAX_KEY_BYTES, MAX_VALUE_BYTES};
/// Most keys one user may have.
pub const MAX_KEYS_PER_USER: usize = 10_000;
/// Most value bytes one user may keep.
pub const MAX_BYTES_PER_USER: u64 = 16 << 20;
/// Most locks, barriers and names one user may have (each kind).
pub const MAX_ITEMS_PER_USER: usize = 10_000;
/// Most leases one user may hold.
pub const MAX_LEASES_PER_USER: usize = 1_000;
/// Events kept for watches; older ones are compacted away.
pub const HISTORY_EVENTS: usize = 10_000;
/// Value bytes kept in the history; older events are compacted away.
pub const HISTORY_BYTES: usize = 32 << 20;
/// Shortest and longest lease TTL.
pub const MIN_TTL_MS: u64 = 1_000;
/// Longest lease TTL.
pub const MAX_TTL_MS: u64 = 24 * 3600 * 1000;
/// Most participants of one barrier.
pub const MAX_BARRIER: u32 = 10_000;

/// Bytes stored as base64 text in the store's JSON (log and snapshots).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine;
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(Bytes)
            .map_err(serde::de::Error::custom)
    }
}

/// Who owns a lock, a name, a barrier place or a key: released when it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Owner {
    /// A cluster process: released when it ends or its node is down.
    Process(Gpid),
    /// A lease: released when it is revoked or expires.
    Lease(u64),
}

impl Owner {
    /// The slot of a process owner.
    pub fn slot(&self) -> Option<proto::Slot> {
        match self {
            Owner::Process(pid) => Some(pid.slot()),
            Owner::Lease(_) => None,
        }
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Process(pid) => write!(f, "process {pid}"),
            Owner::Lease(id) => write!(f, "lease {id}"),
        }
    }
}

/// One key's value and versions (etcd's meaning: `version` counts puts
/// since the key was created, revisions are the store's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvEntry {
    pub value: Bytes,
    pub create_revision: u64,
    pub mod_revision: u64,
    pub version: u64,
    #[serde(default)]
    pub owner: Option<Owner>,
}

/// A change of a key, as watches see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvEvent {
    pub revision: u64,
    pub user: String,
    pub key: String,
    /// `None`: deleted.
    pub entry: Option<KvEntry>,
}

/// A held lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub owner: Owner,
    /// The fencing token of this grant: larger than every earlier grant's.
    pub token: u64,
    pub since_ms: u64,
}

/// A barrier: `n` participants; opens (and starts a new generation) when
/// the n-th enters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Barrier {
    pub n: u32,
    pub generation: u64,
    pub waiting: BTreeSet<Owner>,
}

/// A lease: what it owns goes when it expires or is revoked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub user: String,
    pub ttl_ms: u64,
    pub expires_ms: u64,
}

/// One user's keys, locks, barriers and names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Space {
    pub kv: BTreeMap<String, KvEntry>,
    pub kv_bytes: u64,
    pub locks: BTreeMap<String, LockHolder>,
    pub barriers: BTreeMap<String, Barrier>,
    /// Name → (PID, owner).
    pub names: BTreeMap<String, (Gpid, Owner)>,
}

/// What a user without a space has.
static EMPTY_SPACE: Space = Space {
    kv: BTreeMap::new(),
    kv_bytes: 0,
    locks: BTreeMap::new(),
    barriers: BTreeMap::new(),
    names: BTreeMap::new(),
};

/// The coordination state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoordState {
    /// The store revision: bumped by every key change.
    pub revision: u64,
    /// Events at or below this revision are gone from the history.
    pub compacted: u64,
    pub history: VecDeque<KvEvent>,
    history_bytes: usize,
    /// The last fencing token given.
    pub last_token: u64,
    pub last_lease: u64,
    pub leases: BTreeMap<u64, Lease>,
    pub spaces: BTreeMap<String, Space>,
}

/// What a write must find to apply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// Anything.
    #[default]
    Any,
    /// No such key.
    Absent,
    /// The key at this version.
    Version(u64),
}

/// A write allowed only while a lock is held with a token (fencing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guard {
    pub lock: String,
    pub token: u64,
}

/// A change to the coordination state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoordCommand {
    Put {
        user: String,
        key: String,
        value: Bytes,
        owner: Option<Owner>,
        expect: Expect,
        guard: Option<Guard>,
    },
    Delete {
        user: String,
        key: String,
        expect: Expect,
        guard: Option<Guard>,
    },
    Lock {
        user: String,
        name: String,
        owner: Owner,
        now_ms: u64,
    },
    Unlock {
        user: String,
        name: String,
        token: u64,
    },
    /// Hands a held lock (same token) to another owner.
    TransferLock {
        user: String,
        name: String,
        token: u64,
        owner: Owner,
    },
    GrantLease {
        user: String,
        ttl_ms: u64,
        now_ms: u64,
    },
    KeepAlive {
        user: String,
        id: u64,
        now_ms: u64,
    },
    RevokeLease {
        user: String,
        id: u64,
    },
    /// The leader's clock says these leases are past their time.
    ExpireLeases {
        now_ms: u64,
    },
    /// Owners that ended (a process exited, its node went down).
    Release {
        owners: Vec<Owner>,
    },
    EnterBarrier {
        user: String,
        name: String,
        n: u32,
        owner: Owner,
    },
    /// A participant gives up waiting (its generation, if not yet opened).
    LeaveBarrier {
        user: String,
        name: String,
        owner: Owner,
        generation: u64,
    },
    SetName {
        user: String,
        name: String,
        pid: Gpid,
        owner: Owner,
    },
    RemoveName {
        user: String,
        name: String,
    },
}

/// Why a coordination command was refused (typed: clients map it to a
/// status code, nothing matches on the text).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum CoordError {
    #[error("{0}: no such key")]
    NoSuchKey(String),
    #[error("{key}: version is {actual}, not {expected}")]
    VersionMismatch {
        key: String,
        expected: String,
        actual: String,
    },
    #[error("fencing token {token} is not the current holder's of lock {lock}")]
    Fenced { lock: String, token: u64 },
    #[error("lock {name} is held by {by} (token {token})")]
    Held { name: String, by: Owner, token: u64 },
    #[error("lock {0} is not held with that token")]
    NotHolder(String),
    #[error("no lease {0}")]
    NoSuchLease(u64),
    #[error("name {name} is taken by PID {pid}")]
    NameTaken { name: String, pid: Gpid },
    #[error("no name {0}")]
    NoSuchName(String),
    #[error("barrier {name} is for {n} participants, not {asked}")]
    BarrierSize { name: String, n: u32, asked: u32 },
    #[error("{0}")]
    Limit(String),
    #[error("{0}")]
    Invalid(String),
}

/// What applying a coordination command returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoordReply {
    /// A key write: the store revision after it and the key's version.
    Written {
        revision: u64,
        version: u64,
    },
    /// A lock granted (or transferred) with this token.
    Locked {
        token: u64,
    },
    /// A lease (granted or kept alive).
    Lease {
        id: u64,
        ttl_ms: u64,
    },
    /// Entered a barrier of this generation; `opened` if it was the last.
    Entered {
        generation: u64,
        opened: bool,
    },
    Done,
    Refused(CoordError),
}

/// Checks a key, lock, barrier or name.
pub fn check_name(what: &str, name: &str) -> Result<(), CoordError> {
    if name.is_empty() {
        return Err(CoordError::Invalid(format!("the {what} is empty")));
    }
    if name.len() > MAX_KEY_BYTES {
        return Err(CoordError::Limit(format!(
            "the {what} is {} bytes: at most {MAX_KEY_BYTES}",
            name.len()
        )));
    }
    if name.contains('\0') {
        return Err(CoordError::Invalid(format!(
            "the {what} contains a NUL byte"
        )));
    }
    Ok(())
}

impl CoordState {
    /// A user's space, if it has anything.
    pub fn space(&self, user: &str) -> Option<&Space> {
        self.spaces.get(user)
    }

    /// The first revision a watch can still start from.
    pub fn oldest_revision(&self) -> u64 {
        self.compacted + 1
    }

    /// Applies one command.
    pub fn apply(&mut self, command: &CoordCommand) -> CoordReply {
        match self.try_apply(command) {
            Ok(reply) => reply,
            Err(e) => CoordReply::Refused(e),
        }
    }

    fn try_apply(&mut self, command: &CoordCommand) -> Result<CoordReply, CoordError> {
        use CoordCommand as C;
        match command {
            C::Put {
                user,
                key,
                value,
                owner,
                expect,
                guard,
            } => {
                check_name("key", key)?;
                if value.0.len() > MAX_VALUE_BYTES {
                    return Err(CoordError::Limit(format!(
                        "the value is {} bytes: at most {MAX_VALUE_BYTES}",
                        value.0.len()
                    )));
                }
                self.check_owner(user, owner.as_ref())?;
                let space = self.spaces.entry(user.clone()).or_default();
                check_guard(space, guard.as_ref())?;
                let old = space.kv.get(key);
                check_expect(key, old, *expect)?;
                let old_len = old.map_or(0, |e| e.value.0.len() as u64);
                if old.is_none() && space.kv.len() >= MAX_KEYS_PER_USER {
                    return Err(CoordError::Limit(format!(
                        "{user} has {MAX_KEYS_PER_USER} keys: the most a user may have"
                    )));
                }
                let bytes = space.kv_bytes - old_len + value.0.len() as u64;
                if bytes > MAX_BYTES_PER_USER {
                    return Err(CoordError::Limit(format!(
                        "{user}'s values would take {bytes} bytes: at most {MAX_BYTES_PER_USER}"
                    )));
                }
                let revision = self.revision + 1;
                let entry = KvEntry {
                    value: value.clone(),
                    create_revision: old.map_or(revision, |e| e.create_revision),
                    mod_revision: revision,
                    version: old.map_or(1, |e| e.version + 1),
                    owner: *owner,
                };
                let version = entry.version;
                space.kv_bytes = bytes;
                space.kv.insert(key.clone(), entry.clone());
                self.record(user, key, Some(entry));
                Ok(CoordReply::Written { revision, version })
            }
            C::Delete {
                user,
                key,
                expect,
                guard,
            } => {
                let space = self.spaces.get(user).unwrap_or(&EMPTY_SPACE);
                check_guard(space, guard.as_ref())?;
                check_expect(key, space.kv.get(key), *expect)?;
                if self.remove_key(user, key) {
                    Ok(CoordReply::Written {
                        revision: self.revision,
                        version: 0,
                    })
                } else {
                    Err(CoordError::NoSuchKey(key.clone()))
                }
            }
            C::Lock {
                user,
                name,
                owner,
                now_ms,
            } => {
                check_name("lock name", name)?;
                self.check_owner(user, Some(owner))?;
                let space = self.spaces.entry(user.clone()).or_default();
                if let Some(h) = space.locks.get(name) {
                    return Err(CoordError::Held {
                        name: name.clone(),
                        by: h.owner,
                        token: h.token,
                    });
                }
                if space.locks.len() >= MAX_ITEMS_PER_USER {
                    return Err(CoordError::Limit(format!(
                        "{user} holds {MAX_ITEMS_PER_USER} locks: the most a user may"
                    )));
                }
                self.last_token += 1;
                let token = self.last_token;
                space.locks.insert(
                    name.clone(),
                    LockHolder {
                        owner: *owner,
                        token,
                        since_ms: *now_ms,
                    },
                );
                Ok(CoordReply::Locked { token })
            }
            C::Unlock { user, name, token } => {
                let Some(space) = self.spaces.get_mut(user) else {
                    return Err(CoordError::NotHolder(name.clone()));
                };
                match space.locks.get(name) {
                    Some(h) if h.token == *token => {
                        space.locks.remove(name);
                        Ok(CoordReply::Done)
                    }
                    _ => Err(CoordError::NotHolder(name.clone())),
                }
            }
            C::TransferLock {
                user,
                name,
                token,
                owner,
            } => {
                self.check_owner(user, Some(owner))?;
                let Some(space) = self.spaces.get_mut(user) else {
                    return Err(CoordError::NotHolder(name.clone()));
                };
                match space.locks.get_mut(name) {
                    Some(h) if h.token == *token => {
                        h.owner = *owner;
                        Ok(CoordReply::Locked { token: *token })
                    }
                    _ => Err(CoordError::NotHolder(name.clone())),
                }
            }
            C::GrantLease {
                user,
                ttl_ms,
                now_ms,
            } => {
                let ttl_ms = (*ttl_ms).clamp(MIN_TTL_MS, MAX_TTL_MS);
                if self.leases.values().filter(|l| l.user == *user).count() >= MAX_LEASES_PER_USER {
                    return Err(CoordError::Limit(format!(
                        "{user} holds {MAX_LEASES_PER_USER} leases: the most a user may"
                    )));
                }
                self.last_lease += 1;
                let id = self.last_lease;
                self.leases.insert(
                    id,
                    Lease {
                        user: user.clone(),
                        ttl_ms,
                        expires_ms: now_ms + ttl_ms,
                    },
                );
                Ok(CoordReply::Lease { id, ttl_ms })
            }
            C::KeepAlive { user, id, now_ms } => match self.leases.get_mut(id) {
                Some(lease) if lease.user == *user => {
                    lease.expires_ms = now_ms + lease.ttl_ms;
                    Ok(CoordReply::Lease {
                        id: *id,
                        ttl_ms: lease.ttl_ms,
                    })
                }
                _ => Err(CoordError::NoSuchLease(*id)),
            },
            C::RevokeLease { user, id } => match self.leases.get(id) {
                Some(lease) if lease.user == *user => {
                    self.release(&[Owner::Lease(*id)]);
                    Ok(CoordReply::Done)
                }
                _ => Err(CoordError::NoSuchLease(*id)),
            },
            C::ExpireLeases { now_ms } => {
                let expired: Vec<Owner> = self
                    .leases
                    .iter()
                    .filter(|(_, l)| l.expires_ms <= *now_ms)
                    .map(|(id, _)| Owner::Lease(*id))
                    .collect();
                self.release(&expired);
                Ok(CoordReply::Done)
            }
            C::Release { owners } => {
                self.release(owners);
                Ok(CoordReply::Done)
            }
            C::EnterBarrier {
                user,
                name,
                n,
                owner,
            } => {
                check_name("barrier name", name)?;
                if *n == 0 || *n > MAX_BARRIER {
                    return Err(CoordError::Invalid(format!(
                        "a barrier needs 1 to {MAX_BARRIER} participants, not {n}"
                    )));
                }
                self.check_owner(user, Some(owner))?;
                let space = self.spaces.entry(user.clone()).or_default();
                if !space.barriers.contains_key(name) && space.barriers.len() >= MAX_ITEMS_PER_USER
                {
                    return Err(CoordError::Limit(format!(
                        "{user} has {MAX_ITEMS_PER_USER} barriers: the most a user may"
                    )));
                }
                let barrier = space.barriers.entry(name.clone()).or_insert(Barrier {
                    n: *n,
                    generation: 1,
                    waiting: BTreeSet::new(),
                });
                if barrier.waiting.is_empty() {
                    barrier.n = *n;
                } else if barrier.n != *n {
                    return Err(CoordError::BarrierSize {
                        name: name.clone(),
                        n: barrier.n,
                        asked: *n,
                    });
                }
                let generation = barrier.generation;
                barrier.waiting.insert(*owner);
                let opened = barrier.waiting.len() as u32 >= barrier.n;
                if opened {
                    barrier.waiting.clear();
                    barrier.generation += 1;
                }
                Ok(CoordReply::Entered { generation, opened })
            }
            C::LeaveBarrier {
                user,
                name,
                owner,
                generation,
            } => {
                let Some(space) = self.spaces.get_mut(user) else {
                    return Ok(CoordReply::Done);
                };
                match space.barriers.get_mut(name) {
                    Some(b) if b.generation > *generation => Ok(CoordReply::Entered {
                        generation: *generation,
                        opened: true,
                    }),
                    Some(b) => {
                        b.waiting.remove(owner);
                        Ok(CoordReply::Done)
                    }
                    None => Ok(CoordReply::Done),
                }
            }
            C::SetName {
                user,
                name,
                pid,
                owner,
            } => {
                check_name("name", name)?;
                self.check_owner(user, Some(owner))?;
                let space = self.spaces.entry(user.clone()).or_default();
                if let Some((taken, _)) = space.names.get(name)
                    && taken != pid
                {
                    return Err(CoordError::NameTaken {
                        name: name.clone(),
                        pid: *taken,
                    });
                }
                if !space.names.contains_key(name) && space.names.len() >= MAX_ITEMS_PER_USER {
                    return Err(CoordError::Limit(format!(
                        "{user} has {MAX_ITEMS_PER_USER} names: the most a user may"
                    )));
                }
                space.names.insert(name.clone(), (*pid, *owner));
                Ok(CoordReply::Done)
            }
            C::RemoveName { user, name } => {
                let Some(space) = self.spaces.get_mut(user) else {
                    return Err(CoordError::NoSuchName(name.clone()));
                };
                match space.names.remove(name) {
                    Some(_) => Ok(CoordReply::Done),
                    None => Err(CoordError::NoSuchName(name.clone())),
                }
            }
        }
    }

    /// A lease owner must be a live lease of the same user.
    fn check_owner(&self, user: &str, owner: Option<&Owner>) -> Result<(), CoordError> {
        match owner {
            Some(Owner::Lease(id)) => match self.leases.get(id) {
                Some(l) if l.user == user => Ok(()),
                _ => Err(CoordError::NoSuchLease(*id)),
            },
            _ => Ok(()),
        }
    }

    /// Removes a key, recording the deletion; false if there was none.
    fn remove_key(&mut self, user: &str, key: &str) -> bool {
        let Some(space) = self.spaces.get_mut(user) else {
            return false;
        };
        let Some(old) = space.kv.remove(key) else {
            return false;
        };
        space.kv_bytes -= old.value.0.len() as u64;
        self.record(user, key, None);
        true
    }

    /// Appends a change at the next revision to the history, compacting
    /// the oldest.
    fn record(&mut self, user: &str, key: &str, entry: Option<KvEntry>) {
        self.revision += 1;
        self.history_bytes += entry.as_ref().map_or(0, |e| e.value.0.len());
        self.history.push_back(KvEvent {
            revision: self.revision,
            user: user.to_string(),
            key: key.to_string(),
            entry,
        });
        while self.history.len() > HISTORY_EVENTS || self.history_bytes > HISTORY_BYTES {
            let Some(old) = self.history.pop_front() else {
                break;
            };
            self.history_bytes -= old.entry.as_ref().map_or(0, |e| e.value.0.len());
            self.compacted = old.revision;
        }
    }

    /// Releases what `owners` own: their locks, names and barrier places,
    /// the keys tied to them (deleted, watchers see it), their leases.
    fn release(&mut self, owners: &[Owner]) {
        if owners.is_empty() {
            return;
        }
        let gone: BTreeSet<Owner> = owners.iter().copied().collect();
        let mut keys = Vec::new();
        for (user, space) in &mut self.spaces {
            space.locks.retain(|_, h| !gone.contains(&h.owner));
            space.names.retain(|_, (_, o)| !gone.contains(o));
            for b in space.barriers.values_mut() {
                b.waiting.retain(|o| !gone.contains(o));
            }
            keys.extend(
                space
                    .kv
                    .iter()
                    .filter(|(_, e)| e.owner.is_some_and(|o| gone.contains(&o)))
                    .map(|(k, _)| (user.clone(), k.clone())),
            );
        }
        for (user, key) in keys {
            self.remove_key(&user, &key);
        }
        for owner in owners {
            if let Owner::Lease(id) = owner {
                self.leases.remove(id);
            }
        }
    }

    /// Every process that owns something.
    pub fn process_owners(&self) -> BTreeSet<Gpid> {
        let mut pids = BTreeSet::new();
        let mut add = |o: &Owner| {
            if let Owner::Process(pid) = o {
                pids.insert(*pid);
            }
        };
        for space in self.spaces.values() {
            space.locks.values().for_each(|h| add(&h.owner));
            space.names.values().for_each(|(_, o)| add(o));
            space
                .barriers
                .values()
                .for_each(|b| b.waiting.iter().for_each(&mut add));
            space
                .kv
                .values()
                .filter_map(|e| e.owner.as_ref())
                .for_each(&mut add);
        }
        pids
    }

    /// The first lease expiry, if any.
    pub fn next_expiry_ms(&self) -> Option<u64> {
        self.leases.values().map(|l| l.expires_ms).min()
    }
}

fn check_expect(key: &str, entry: Option<&KvEntry>, expect: Expect) -> Result<(), CoordError> {
    let actual = || entry.map_or("absent".to_string(), |e| e.version.to_string());
    let ok = match expect {
        Expect::Any => true,
        Expect::Absent => entry.is_none(),
        Expect::Version(v) => entry.is_some_and(|e| e.version == v),
    };
    if ok {
        return Ok(());
    }
    Err(CoordError::VersionMismatch {
        key: key.to_string(),
        expected: match expect {
            Expect::Version(v) => v.to_string(),
            _ => "absent".into(),
        },
        actual: actual(),
    })
}

fn check_guard(space: &Space, guard: Option<&Guard>) -> Result<(), CoordError> {
    match guard {
        None => Ok(()),
        Some(g) if space.locks.get(&g.lock).is_some_and(|h| h.token == g.token) => Ok(()),
        Some(g) => Err(CoordError::Fenced {
            lock: g.lock.clone(),
            token: g.token,
        }),
    }
}

#[cfg(test)]
mod tests;
