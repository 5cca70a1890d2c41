//! Where a request goes: this node, or another member (SPEC §6). A PID's
//! slot names its owner, so routing needs no lookup; a node name or `@any`
//! picks a member. Requests are forwarded at most once (the `FORWARDED`
//! mark), so stale routing can never loop.

use std::collections::HashMap;
use std::time::Duration;

use proto::Gpid;
use proto::v1::processes_client::ProcessesClient;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use super::ApiState;
use crate::auth::{Caller, Principal};
use crate::cluster::state::Member;
use crate::cluster::{Cluster, FORWARDED};
use crate::error::ProcError;

/// Longest wait for this node's copy of the store to catch up before a
/// PID's slot or a node's name is called unknown.
const CATCH_UP: Duration = Duration::from_secs(2);

/// Why a request cannot reach the node it is for; a status only in
/// api/status.rs (marked [`Reason::NodeUnavailable`] where a node is named).
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// The node left the cluster.
    #[error("node {0} has left the cluster")]
    Left(String),
    /// Gossip says the node is down.
    #[error("node {0} is down")]
    Down(String),
    /// No connection to the node could be made.
    #[error("node {node}: {why}")]
    Connect {
        /// The node.
        node: String,
        /// What failed.
        why: String,
    },
    /// The call to the node failed on the way.
    #[error("node {node} is unreachable: {why}")]
    Unreachable {
        /// The node.
        node: String,
        /// What the transport said.
        why: String,
    },
    /// The call to the node ran out of time on the way.
    #[error("node {0} did not answer in time")]
    TooSlow(String),
    /// `@any` found no node up.
    #[error("no node is up")]
    NoNodeUp,
    /// `@any` found no node up with the labels asked for.
    #[error("no node that is up has the labels {0:?}")]
    NoNodeWithLabels(HashMap<String, String>),
    /// A node's part of a fan-out did not come in time.
    #[error("no answer within {0:?}")]
    NoAnswer(Duration),
}

/// Where to handle a request.
pub enum Target {
    /// Here.
    Local,
    /// On another member.
    Remote {
        /// Its name, for error messages.
        node: String,
        /// A client to it.
        client: ProcessesClient<Channel>,
    },
}

/// Whether a request was forwarded by another node: the mark counts only
/// from a node (a client setting it is ignored).
pub fn is_forwarded<T>(request: &Request<T>, caller: &Caller) -> bool {
    request.metadata().contains_key(FORWARDED) && caller.is_node()
}

/// A request forwarded to another node, acting for `principal`.
pub fn outgoing<T>(message: T, timeout: Option<Duration>, principal: &Principal) -> Request<T> {
    let mut request = crate::cluster::forwarded_request(message, timeout);
    principal.stamp(&mut request);
    request
}

/// A client stream to forward: `first` (already read, to see where the
/// call goes) then the rest of `inbound`, up to its first error.
pub fn resend<T: Send + 'static>(
    first: T,
    inbound: tonic::Streaming<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    use futures::StreamExt;
    let rest = inbound
        .take_while(|m| futures::future::ready(m.is_ok()))
        .filter_map(|m| futures::future::ready(m.ok()));
    futures::stream::once(async { first }).chain(rest)
}

/// A failure talking to another node, said so that the user sees which
/// node; statuses the owner returned pass through unchanged.
pub fn remote_error(node: &str, status: Status) -> Status {
    match status.code() {
        // Not the owner's own answer (which says which node it is).
        Code::Unavailable | Code::Unknown | Code::Cancelled
            if proto::reason_of(&status).is_none() =>
        {
            RouteError::Unreachable {
                node: node.to_string(),
                why: status.message().to_string(),
            }
            .into()
        }
        // The call ran out of time on the way (the owner's own timeouts,
        // such as a Wait's, say so with their reason).
        Code::DeadlineExceeded if proto::reason_of(&status).is_none() => {
            RouteError::TooSlow(node.to_string()).into()
        }
        _ => status,
    }
}

impl ApiState {
    /// Who sent `request` (see auth.rs).
    pub fn caller<T>(&self, request: &Request<T>) -> Caller {
        match request.extensions().get::<Caller>() {
            // Found by the public services' interceptor.
            Some(caller) => caller.clone(),
            None => Caller::of(request, &self.cluster.peers()),
        }
    }

    /// The user `request` acts for (see auth.rs).
    pub fn principal<T>(&self, request: &Request<T>) -> Result<Principal, Status> {
        Ok(crate::auth::principal(
            request,
            &self.caller(request),
            self.admin_group.as_deref(),
        )?)
    }

    /// Whether `request` was forwarded by another node.
    pub fn forwarded<T>(&self, request: &Request<T>) -> bool {
        is_forwarded(request, &self.caller(request))
    }

    /// Deadline for forwarded unary calls.
    pub fn forward_timeout(&self) -> Duration {
        Duration::from_millis(self.table.ctx().limits.forward_timeout_ms)
    }

    /// The member `find` picks from this node's copy of the store. One it
    /// does not know may have joined moments ago through another node
    /// (this copy lags the leader's by a replication round): before the
    /// answer is no, the copy catches up with the leader once (a read
    /// index, at most [`CATCH_UP`]; with no leader the answer stays no).
    pub async fn caught_up(&self, find: impl Fn(&Cluster) -> Option<Member>) -> Option<Member> {
        if let Some(member) = find(&self.cluster) {
            return Some(member);
        }
        let _ = tokio::time::timeout(CATCH_UP, self.cluster.linearize()).await;
        find(&self.cluster)
    }

    async fn remote(&self, member: &Member) -> Result<Target, Status> {
        if member.left {
            return Err(RouteError::Left(member.name.clone()).into());
        }
        if !self.cluster.is_up(member.slot) {
            return Err(RouteError::Down(member.name.clone()).into());
        }
        let channel = self
            .cluster
            .channel_to(member)
            .await
            .map_err(|e| RouteError::Connect {
                node: member.name.clone(),
                why: e.to_string(),
            })?;
        Ok(Target::Remote {
            node: member.name.clone(),
            client: ProcessesClient::new(channel),
        })
    }

    /// The owner of a PID.
    pub async fn target_pid(&self, gpid: Gpid, forwarded: bool) -> Result<Target, Status> {
        let slot = gpid.slot();
        if slot == self.cluster.slot {
            return Ok(Target::Local);
        }
        let Some(member) = self.caught_up(|c| c.member(slot)).await else {
            return Err(ProcError::UnknownSlot { pid: gpid, slot }.into());
        };
        if forwarded {
            return Err(ProcError::MisroutedPid(gpid).into());
        }
        self.remote(&member).await
    }

    /// The node a Spawn or List names: "" (here), a name, `@name`, or
    /// `@any` (the least loaded member that is up and has `labels`).
    pub async fn target_node(
        &self,
        node: &str,
        labels: &HashMap<String, String>,
        forwarded: bool,
    ) -> Result<(Target, String), Status> {
        let me = &self.cluster.name;
        let name = node
            .strip_prefix('@')
            .filter(|n| *n != "any")
            .unwrap_or(node);
        if node == "@any" {
            let chosen = self.least_loaded(labels)?;
            if chosen.slot != self.cluster.slot {
                self.cluster.note_placement(chosen.slot);
            }
            return self.resolve(&chosen.name, forwarded).await;
        }
        if name.is_empty() || name == me {
            return Ok((Target::Local, me.clone()));
        }
        self.resolve(name, forwarded).await
    }

    async fn resolve(&self, name: &str, forwarded: bool) -> Result<(Target, String), Status> {
        if name == self.cluster.name {
            return Ok((Target::Local, name.to_string()));
        }
        let member = self
            .caught_up(|c| c.member_named(name))
            .await
            .ok_or_else(|| ProcError::NoSuchNode(name.to_string()))?;
        if forwarded {
            return Err(ProcError::MisroutedNode(name.to_string()).into());
        }
        Ok((self.remote(&member).await?, name.to_string()))
    }

    /// The member with the fewest running processes (then lowest load, then
    /// most free memory) among those up and carrying `labels`.
    fn least_loaded(&self, labels: &HashMap<String, String>) -> Result<Member, Status> {
        let live = self.cluster.live();
        let members = self.cluster.members();
        let mut best: Option<((u32, u64, i64), Member)> = None;
        for m in members.values().filter(|m| !m.left) {
            if !crate::placement::matches(&m.labels, labels) {
                continue;
            }
            let score = crate::placement::load_score;
            let score = if m.slot == self.cluster.slot {
                score(
                    self.table.running_count() as u32,
                    &crate::hostproc::machine_load(),
                )
            } else if let Some(p) = live.get(&m.slot) {
                score(p.procs + self.cluster.recent_placements(m.slot), &p.load)
            } else {
                continue;
            };
            if best.as_ref().is_none_or(|(s, _)| score < *s) {
                best = Some((score, m.clone()));
            }
        }
        best.map(|(_, m)| m).ok_or_else(|| {
            if labels.is_empty() {
                RouteError::NoNodeUp.into()
            } else {
                RouteError::NoNodeWithLabels(labels.clone()).into()
            }
        })
    }
}
