//! The `Coord` RPCs (SPEC §8, docs/design/coord.md): checks, then store
//! writes (forwarded to the leader by `Cluster::write`); reads are made
//! linearizable by `Cluster::linearize` unless the caller asks for this
//! node's copy. Waits (locks, barriers, names) and watches follow this
//! node's copy of the store as it applies.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::Stream;
use proto::v1::coord_owner::Owner as WireOwner;
use proto::v1::coord_server::Coord;
use proto::v1::{
    BarrierReply, BarrierRequest, BarrierStatusReply, BarrierStatusRequest, CoordOwner, Fence,
    GetNameReply, GetNameRequest, GetRequest, GrantLeaseRequest, KeepAliveRequest, KeyValue,
    KvDeleteRequest, KvGetReply, KvGetRequest, KvListReply, KvListRequest, KvPutReply,
    KvPutRequest, KvWatchEvent, KvWatchRequest, LeaseReply, ListNamesReply, ListNamesRequest,
    LockReply, LockRequest, ProcessState, RemoveNameRequest, RevokeLeaseReply, RevokeLeaseRequest,
    SetNameReply, SetNameRequest, TransferLockRequest, UnlockReply, UnlockRequest,
};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::ApiState;
use super::route::{Target, outgoing, remote_error};
use crate::auth::Principal;
use crate::cluster::coord::{
    self, Bytes, CoordCommand, CoordError, CoordReply, CoordState, Expect, Guard, KvEntry, Owner,
};
use crate::cluster::state::{Command, Reply};
use proto::{Gpid, now_ms};

/// Most watches one node serves at once.
pub const MAX_WATCHES: usize = 1024;

type ServerStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

pub struct CoordApi {
    state: Arc<ApiState>,
    watches: Arc<AtomicUsize>,
}

/// How long a call may wait: `None` once, `Some(None)` forever.
fn wait_for(wait_ms: i64) -> Option<Option<Instant>> {
    match wait_ms {
        0 => None,
        ms if ms < 0 => Some(None),
        ms => Some(Some(Instant::now() + Duration::from_millis(ms as u64))),
    }
}

fn expect(version: Option<u64>) -> Expect {
    match version {
        None => Expect::Any,
        Some(0) => Expect::Absent,
        Some(v) => Expect::Version(v),
    }
}

fn guard(fence: Option<Fence>) -> Option<Guard> {
    fence.map(|f| Guard {
        lock: f.lock,
        token: f.token,
    })
}

fn wire_owner(owner: &Owner) -> CoordOwner {
    CoordOwner {
        owner: Some(match owner {
            Owner::Process(pid) => WireOwner::Pid(pid.as_raw()),
            Owner::Lease(id) => WireOwner::Lease(*id),
        }),
    }
}

fn key_value(key: &str, entry: &KvEntry, with_value: bool) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: if with_value {
            entry.value.0.clone()
        } else {
            Vec::new()
        },
        create_revision: entry.create_revision,
        mod_revision: entry.mod_revision,
        version: entry.version,
        owner: entry.owner.as_ref().map(wire_owner),
    }
}

/// Why the Coord API refused a request before or after the store was
/// asked; api/status.rs gives each its status code.
#[derive(Debug, thiserror::Error)]
pub enum CoordApiError {
    #[error("an owner is needed: a cluster PID or a lease")]
    NoOwner,
    #[error("no such process {0} (an owner must be running)")]
    OwnerGone(Gpid),
    #[error("a lease needs a TTL (ttl_ms > 0)")]
    NoTtl,
    #[error("revision {asked} is in the future: the store is at revision {current}")]
    FutureRevision { asked: u64, current: u64 },
    #[error("this node serves {0} watches: the most it may; try another node")]
    TooManyWatches(usize),
    #[error("revision {asked} is compacted: the oldest revision kept is {oldest}")]
    Compacted { asked: u64, oldest: u64 },
    /// A wait the caller bounded ran out.
    #[error("{0}")]
    WaitRanOut(String),
    #[error("unexpected store reply {0}")]
    Unexpected(String),
}

fn checked(what: &str, name: &str) -> Result<(), Status> {
    coord::check_name(what, name).map_err(Status::from)
}

impl CoordApi {
    pub fn new(state: Arc<ApiState>) -> Self {
        CoordApi {
            state,
            watches: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Applies a command through the store: the reply, or its refusal.
    async fn apply(&self, command: CoordCommand) -> Result<Result<CoordReply, CoordError>, Status> {
        match self
            .state
            .cluster
            .write(Command::Coord(command), false)
            .await?
        {
            Reply::Coord(CoordReply::Refused(e)) => Ok(Err(e)),
            Reply::Coord(reply) => Ok(Ok(reply)),
            other => Err(CoordApiError::Unexpected(format!("{other:?}")).into()),
        }
    }

    /// Applies a command; a refusal is the call's error.
    async fn write(&self, command: CoordCommand) -> Result<CoordReply, Status> {
        self.apply(command).await?.map_err(Status::from)
    }

    /// Reads this node's copy, linearizable unless `serializable`.
    async fn read<R>(
        &self,
        serializable: bool,
        f: impl FnOnce(&CoordState) -> R,
    ) -> Result<R, Status> {
        if !serializable {
            self.state.cluster.linearize().await?;
        }
        Ok(self.state.cluster.coord.read(f))
    }

    /// Waits until `check` finds something in this node's copy, or the
    /// deadline (`None`: forever) passes.
    async fn wait_until<T>(
        &self,
        deadline: Option<Instant>,
        mut check: impl FnMut(&CoordState) -> Option<T>,
    ) -> Option<T> {
        let coord = &self.state.cluster.coord;
        let mut changes = coord.changes();
        loop {
            changes.borrow_and_update();
            if let Some(found) = coord.read(&mut check) {
                return Some(found);
            }
            match deadline {
                Some(d) => match tokio::time::timeout_at(d, changes.changed()).await {
                    Ok(Ok(())) => {}
                    _ => return None,
                },
                None => {
                    if changes.changed().await.is_err() {
                        return None;
                    }
                }
            }
        }
    }

    /// The owner a request names: a lease (checked when applied) or a
    /// running cluster process the caller may see.
    async fn owner(
        &self,
        wire: Option<CoordOwner>,
        principal: &Principal,
    ) -> Result<Owner, Status> {
        match wire.and_then(|o| o.owner) {
            Some(WireOwner::Lease(id)) => Ok(Owner::Lease(id)),
            Some(WireOwner::Pid(pid)) => Ok(Owner::Process(self.running(pid, principal).await?)),
            None => Err(CoordApiError::NoOwner.into()),
        }
    }

    /// `pid`, if it is a running (or stopped) process `principal` may see.
    async fn running(&self, raw: i32, principal: &Principal) -> Result<Gpid, Status> {
        let gpid = super::convert::gpid(raw)?;
        // One answer for a PID that never was, another user's process and
        // one that ended: nothing tells them apart (SPEC §9).
        let gone = || Status::from(CoordApiError::OwnerGone(gpid));
        let unknown = |status: Status| match status.code() {
            tonic::Code::NotFound => gone(),
            _ => status,
        };
        match self.state.target_pid(gpid, false).await.map_err(unknown)? {
            Target::Local => {
                let process = self
                    .state
                    .table
                    .lookup(gpid)
                    .await
                    .map_err(|e| unknown(e.into()))?;
                if !principal.may_see(process.owner()) || process.is_finished() {
                    return Err(gone());
                }
                Ok(gpid)
            }
            Target::Remote { node, mut client } => {
                let info = client
                    .get(outgoing(
                        GetRequest {
                            pid: raw,
                            ..Default::default()
                        },
                        Some(self.state.forward_timeout()),
                        principal,
                    ))
                    .await
                    .map_err(|e| unknown(remote_error(&node, e)))?
                    .into_inner();
                match info.state() {
                    ProcessState::Running | ProcessState::Stopped => Ok(gpid),
                    _ => Err(gone()),
                }
            }
        }
    }
}

#[tonic::async_trait]
impl Coord for CoordApi {
    async fn lock(&self, request: Request<LockRequest>) -> Result<Response<LockReply>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        checked("lock name", &req.name)?;
        let owner = self.owner(req.owner, &principal).await?;
        let wait = wait_for(req.wait_ms);
        let user = principal.user;
        loop {
            let command = CoordCommand::Lock {
                user: user.clone(),
                name: req.name.clone(),
                owner,
                now_ms: now_ms(),
            };
            match self.apply(command).await? {
                Ok(CoordReply::Locked { token }) => return Ok(Response::new(LockReply { token })),
                Ok(other) => return Err(CoordApiError::Unexpected(format!("{other:?}")).into()),
                Err(held @ CoordError::Held { .. }) => {
                    let Some(deadline) = wait else {
                        return Err(held.into());
                    };
                    let free = self
                        .wait_until(deadline, |c| {
                            let held = c
                                .space(&user)
                                .is_some_and(|s| s.locks.contains_key(&req.name));
                            (!held).then_some(())
                        })
                        .await;
                    if free.is_none() {
                        return Err(CoordApiError::WaitRanOut(format!(
                            "{held}: still held after {} ms",
                            req.wait_ms
                        ))
                        .into());
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn unlock(
        &self,
        request: Request<UnlockRequest>,
    ) -> Result<Response<UnlockReply>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        self.write(CoordCommand::Unlock {
            user: principal.user,
            name: req.name,
            token: req.token,
        })
        .await?;
        Ok(Response::new(UnlockReply {}))
    }

    async fn transfer_lock(
        &self,
        request: Request<TransferLockRequest>,
    ) -> Result<Response<LockReply>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        let owner = self.owner(req.owner, &principal).await?;
        self.write(CoordCommand::TransferLock {
            user: principal.user,
            name: req.name,
            token: req.token,
            owner,
        })
        .await?;
        Ok(Response::new(LockReply { token: req.token }))
    }

    async fn grant_lease(
        &self,
        request: Request<GrantLeaseRequest>,
    ) -> Result<Response<LeaseReply>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        if req.ttl_ms == 0 {
            return Err(CoordApiError::NoTtl.into());
        }
        match self
            .write(CoordCommand::GrantLease {
                user: principal.user,
                ttl_ms: req.ttl_ms,
                now_ms: now_ms(),
            })
            .await?
        {
            CoordReply::Lease { id, ttl_ms } => Ok(Response::new(LeaseReply { id, ttl_ms })),
            other => Err(CoordApiError::Unexpected(format!("{other:?}")).into()),
        }
    }

    async fn keep_alive(
        &self,
        request: Request<KeepAliveRequest>,
    ) -> Result<Response<LeaseReply>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        match self
            .write(CoordCommand::KeepAlive {
                user: principal.user,
                id: req.id,
                now_ms: now_ms(),
            })
            .await?
        {
            CoordReply::Lease { id, ttl_ms } => Ok(Response::new(LeaseReply { id, ttl_ms })),
            other => Err(CoordApiError::Unexpected(format!("{other:?}")).into()),
        }
    }

    async fn revoke_lease(
        &self,
        request: Request<RevokeLeaseRequest>,
    ) -> Result<Response<RevokeLeaseReply>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        self.write(CoordCommand::RevokeLease {
            user: principal.user,
            id: req.id,
        })
        .await?;
        Ok(Response::new(RevokeLeaseReply {}))
    }

    async fn get(&self, request: Request<KvGetRequest>) -> Result<Response<KvGetReply>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        checked("key", &req.key)?;
        let (kv, revision) = self
            .read(req.serializable, |c| {
                let kv = c
                    .space(&principal.user)
                    .and_then(|s| s.kv.get(&req.key))
                    .map(|e| key_value(&req.key, e, true));
                (kv, c.revision)
            })
            .await?;
        match kv {
            Some(kv) => Ok(Response::new(KvGetReply {
                kv: Some(kv),
                revision,
            })),
            None => Err(CoordError::NoSuchKey(req.key).into()),
        }
    }

    async fn put(&self, request: Request<KvPutRequest>) -> Result<Response<KvPutReply>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        checked("key", &req.key)?;
        let owner = match req.owner {
            Some(o) => Some(self.owner(Some(o), &principal).await?),
            None => None,
        };
        match self
            .write(CoordCommand::Put {
                user: principal.user,
                key: req.key,
                value: Bytes(req.value),
                owner,
                expect: expect(req.expect_version),
                guard: guard(req.fence),
            })
            .await?
        {
            CoordReply::Written { revision, version } => {
                Ok(Response::new(KvPutReply { revision, version }))
            }
            other => Err(CoordApiError::Unexpected(format!("{other:?}")).into()),
        }
    }

    async fn delete(
        &self,
        request: Request<KvDeleteRequest>,
    ) -> Result<Response<KvPutReply>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        checked("key", &req.key)?;
        match self
            .write(CoordCommand::Delete {
                user: principal.user,
                key: req.key,
                expect: expect(req.expect_version),
                guard: guard(req.fence),
            })
            .await?
        {
            CoordReply::Written { revision, version } => {
                Ok(Response::new(KvPutReply { revision, version }))
            }
            other => Err(CoordApiError::Unexpected(format!("{other:?}")).into()),
        }
    }

    async fn list(&self, request: Request<KvListRequest>) -> Result<Response<KvListReply>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        let reply = self
            .read(req.serializable, |c| KvListReply {
                kvs: c
                    .space(&principal.user)
                    .map(|s| {
                        s.kv.range(req.prefix.clone()..)
                            .take_while(|(k, _)| k.starts_with(&req.prefix))
                            .map(|(k, e)| key_value(k, e, !req.keys_only))
                            .collect()
                    })
                    .unwrap_or_default(),
                revision: c.revision,
            })
            .await?;
        Ok(Response::new(reply))
    }

    type WatchStream = ServerStream<KvWatchEvent>;

    async fn watch(
        &self,
        request: Request<KvWatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        if !req.prefix {
            checked("key", &req.key)?;
        }
        let current = self.read(false, |c| c.revision).await?;
        if req.from_revision > current + 1 {
            return Err(CoordApiError::FutureRevision {
                asked: req.from_revision,
                current,
            }
            .into());
        }
        if self.watches.fetch_add(1, Ordering::SeqCst) >= MAX_WATCHES {
            self.watches.fetch_sub(1, Ordering::SeqCst);
            return Err(CoordApiError::TooManyWatches(MAX_WATCHES).into());
        }
        let counted = WatchCount(self.watches.clone());
        let coord = self.state.cluster.coord.clone();
        let mut next = if req.from_revision == 0 {
            current + 1
        } else {
            req.from_revision
        };
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            let _counted = counted;
            let mut changes = coord.changes();
            let matches = |user: &str, key: &str| {
                user == principal.user
                    && if req.prefix {
                        key.starts_with(&req.key)
                    } else {
                        key == req.key
                    }
            };
            loop {
                changes.borrow_and_update();
                let batch = coord.read(|c| {
                    if next <= c.compacted {
                        return Err(c.oldest_revision());
                    }
                    let start = c.history.partition_point(|e| e.revision < next);
                    let events: Vec<KvWatchEvent> = c
                        .history
                        .range(start..)
                        .filter(|e| matches(&e.user, &e.key))
                        .map(|e| KvWatchEvent {
                            revision: e.revision,
                            deleted: e.entry.is_none(),
                            kv: Some(match &e.entry {
                                Some(entry) => key_value(&e.key, entry, true),
                                None => KeyValue {
                                    key: e.key.clone(),
                                    mod_revision: e.revision,
                                    ..Default::default()
                                },
                            }),
                        })
                        .collect();
                    Ok((events, c.revision + 1))
                });
                match batch {
                    Err(oldest) => {
                        let _ = tx
                            .send(Err(CoordApiError::Compacted {
                                asked: next,
                                oldest,
                            }
                            .into()))
                            .await;
                        return;
                    }
                    Ok((events, after)) => {
                        for event in events {
                            if tx.send(Ok(event)).await.is_err() {
                                return;
                            }
                        }
                        next = next.max(after);
                    }
                }
                tokio::select! {
                    changed = changes.changed() => if changed.is_err() { return },
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn barrier(
        &self,
        request: Request<BarrierRequest>,
    ) -> Result<Response<BarrierReply>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        checked("barrier name", &req.name)?;
        let owner = self.owner(req.owner, &principal).await?;
        let user = principal.user;
        let entered = self
            .write(CoordCommand::EnterBarrier {
                user: user.clone(),
                name: req.name.clone(),
                n: req.n,
                owner,
            })
            .await?;
        let CoordReply::Entered { generation, opened } = entered else {
            return Err(CoordApiError::Unexpected(format!("{entered:?}")).into());
        };
        if opened {
            return Ok(Response::new(BarrierReply { generation }));
        }
        let deadline = wait_for(req.wait_ms).unwrap_or(Some(Instant::now()));
        let passed = |c: &CoordState| {
            c.space(&user)
                .and_then(|s| s.barriers.get(&req.name))
                .is_some_and(|b| b.generation > generation)
                .then_some(())
        };
        if self.wait_until(deadline, passed).await.is_some() {
            return Ok(Response::new(BarrierReply { generation }));
        }
        // Gave up: leave, unless it opened meanwhile.
        let left = self
            .write(CoordCommand::LeaveBarrier {
                user: user.clone(),
                name: req.name.clone(),
                owner,
                generation,
            })
            .await?;
        if let CoordReply::Entered { opened: true, .. } = left {
            return Ok(Response::new(BarrierReply { generation }));
        }
        let waiting = self.state.cluster.coord.read(|c| {
            c.space(&user)
                .and_then(|s| s.barriers.get(&req.name))
                .map_or(0, |b| b.waiting.len())
        });
        Err(CoordApiError::WaitRanOut(format!(
            "barrier {}: {} of {} entered when the wait ran out",
            req.name,
            waiting + 1,
            req.n
        ))
        .into())
    }

    async fn barrier_status(
        &self,
        request: Request<BarrierStatusRequest>,
    ) -> Result<Response<BarrierStatusReply>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        let reply = self
            .read(false, |c| {
                c.space(&principal.user)
                    .and_then(|s| s.barriers.get(&req.name))
                    .map(|b| BarrierStatusReply {
                        n: b.n,
                        entered: b.waiting.len() as u32,
                        generation: b.generation,
                    })
                    .unwrap_or_default()
            })
            .await?;
        Ok(Response::new(reply))
    }

    async fn set_name(
        &self,
        request: Request<SetNameRequest>,
    ) -> Result<Response<SetNameReply>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        checked("name", &req.name)?;
        let pid = self.running(req.pid, &principal).await?;
        self.write(CoordCommand::SetName {
            user: principal.user,
            name: req.name,
            pid,
            owner: Owner::Process(pid),
        })
        .await?;
        Ok(Response::new(SetNameReply {}))
    }

    async fn get_name(
        &self,
        request: Request<GetNameRequest>,
    ) -> Result<Response<GetNameReply>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        checked("name", &req.name)?;
        let lookup = |c: &CoordState| {
            c.space(&principal.user)
                .and_then(|s| s.names.get(&req.name))
                .map(|(pid, _)| *pid)
        };
        if let Some(pid) = self.read(req.serializable, lookup).await? {
            return Ok(Response::new(GetNameReply { pid: pid.as_raw() }));
        }
        let Some(deadline) = wait_for(req.wait_ms) else {
            return Err(CoordError::NoSuchName(req.name).into());
        };
        match self.wait_until(deadline, lookup).await {
            Some(pid) => Ok(Response::new(GetNameReply { pid: pid.as_raw() })),
            None => Err(CoordApiError::WaitRanOut(format!(
                "no name {} after {} ms",
                req.name, req.wait_ms
            ))
            .into()),
        }
    }

    async fn remove_name(
        &self,
        request: Request<RemoveNameRequest>,
    ) -> Result<Response<SetNameReply>, Status> {
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        self.write(CoordCommand::RemoveName {
            user: principal.user,
            name: req.name,
        })
        .await?;
        Ok(Response::new(SetNameReply {}))
    }

    async fn list_names(
        &self,
        request: Request<ListNamesRequest>,
    ) -> Result<Response<ListNamesReply>, Status> {
        let principal = self.state.principal(&request)?;
        let names = self
            .read(false, |c| {
                c.space(&principal.user)
                    .map(|s| {
                        s.names
                            .iter()
                            .map(|(n, (pid, _))| (n.clone(), pid.as_raw()))
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .await?;
        Ok(Response::new(ListNamesReply { names }))
    }
}

/// Counts a watch while it lives.
struct WatchCount(Arc<AtomicUsize>);

impl Drop for WatchCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
