//! Joining the cluster (docs/design/security.md): the asking side
//! ([`Cluster::join_via`], a new or returning node asking the members) and
//! the answering side ([`Cluster::join`]: who may join, a token's admission
//! on the store's leader, the member written to the store).

use std::time::{Duration, Instant};

use proto::v1::cluster_client::ClusterClient;
use proto::v1::{JoinReply, JoinRequest};
use proto::{Slot, now_ms};
use tonic::{Code, Status};

use super::state::{Command, Reply};
use super::{
    Cluster, JOIN_TIMEOUT, StoreError, WRITE_TIMEOUT, error_chain, forwarded_request, peers,
};
use crate::auth::Caller;
use crate::tls::ClusterTls;
use crate::tokens::Token;

/// Why a node may not join; api/status.rs gives each its code.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("join: {0}")]
    Invalid(String),
    #[error("{0}")]
    Malformed(String),
    #[error(
        "join is internal to the cluster: a new node needs a join token (`noded --join ADDR --token TOKEN`; make one with `noded token create` on a member), a returning one its node certificate"
    )]
    NotANode,
    #[error("node {node} cannot join as {wanted:?}")]
    Impersonation { node: String, wanted: String },
    #[error("this cluster runs without TLS (--insecure): join it with --insecure and no token")]
    Insecure,
    #[error("the token is for another cluster: its CA fingerprint is not this cluster's")]
    OtherCluster,
    #[error("join: {0}")]
    Internal(String),
}

impl Cluster {
    /// Asks the members at `seeds` to let this node join (or come back with
    /// `slot`), retrying until one answers or [`JOIN_TIMEOUT`] passes.
    /// Refusals (a taken name, a bad token, a node of another cluster) are
    /// final. `tls` verifies the members (a joining node pins the CA
    /// fingerprint of its token; `None` in `--insecure` clusters).
    pub async fn join_via(
        seeds: &[String],
        req: JoinRequest,
        local_ip: Option<std::net::IpAddr>,
        tls: Option<&proto::tls::ClientTls>,
    ) -> anyhow::Result<JoinReply> {
        let deadline = Instant::now() + JOIN_TIMEOUT;
        let mut last_error = String::from("no member to ask");
        loop {
            for seed in seeds {
                let hostport = seed
                    .trim_start_matches("http://")
                    .trim_start_matches("https://");
                let attempt = async {
                    let channel =
                        proto::connect_lazy(hostport, peers::PEER_CONNECT_TIMEOUT, local_ip, tls)?;
                    let mut request = tonic::Request::new(req.clone());
                    request.set_timeout(WRITE_TIMEOUT);
                    Ok::<_, anyhow::Error>(ClusterClient::new(channel).join(request).await)
                };
                match attempt.await {
                    Ok(Ok(reply)) => return Ok(reply.into_inner()),
                    Ok(Err(status))
                        if matches!(
                            status.code(),
                            Code::AlreadyExists
                                | Code::FailedPrecondition
                                | Code::PermissionDenied
                                | Code::Unauthenticated
                                | Code::InvalidArgument
                        ) =>
                    {
                        anyhow::bail!("cannot join the cluster: {}", status.message());
                    }
                    Ok(Err(status)) => {
                        if proto::tls::is_other_cluster(&status) {
                            anyhow::bail!(
                                "cannot join through {seed}: the node there is of another cluster (its CA is not the one the token names)"
                            );
                        }
                        last_error = format!("{seed}: {}", error_chain(&status));
                    }
                    Err(e) => last_error = format!("{seed}: {e:#}"),
                }
            }
            if Instant::now() >= deadline {
                anyhow::bail!("cannot join the cluster within {JOIN_TIMEOUT:?}: {last_error}");
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Handles a Join (docs/design/security.md). A new node with a token is
    /// admitted by the store's leader: it checks the token, signs the node's
    /// certificate and writes the member with that certificate pinned and
    /// the token's proof (checked again when applied). A returning node
    /// must be the node it says it is (its certificate). In `--insecure`
    /// clusters (`tls` is `None`) nodes join without tokens.
    pub async fn join(
        &self,
        req: JoinRequest,
        caller: &Caller,
        forwarded: bool,
        tls: Option<&ClusterTls>,
    ) -> Result<JoinReply, Status> {
        crate::config::validate_name(&req.name)
            .map_err(|e| JoinError::Invalid(format!("{e:#}")))?;
        let addr: std::net::SocketAddr = req
            .address
            .parse()
            .map_err(|_| JoinError::Invalid(format!("invalid address {:?}", req.address)))?;
        if !req.token.is_empty() {
            return self.admit(req, addr, forwarded, tls).await;
        }
        if !caller.is_node() {
            return Err(JoinError::NotANode.into());
        }
        if let Caller::Node { name } = caller
            && *name != req.name
            && !forwarded
        {
            return Err(JoinError::Impersonation {
                node: name.clone(),
                wanted: req.name.clone(),
            }
            .into());
        }
        let command = Command::Join {
            name: req.name.clone(),
            addr: req.address.clone(),
            labels: req.labels.into_iter().collect(),
            slot: Slot::new(u64::from(req.slot)).ok(),
            cert: None,
            token: None,
        };
        match self.write(command, forwarded).await? {
            Reply::Joined { slot } => Ok(self.joined(slot)),
            Reply::Refused { reason } => Err(reason.into()),
            Reply::Done | Reply::Coord(_) => {
                Err(JoinError::Internal("unexpected reply".into()).into())
            }
        }
    }

    /// A new node with a token: on the leader, check, certify, record.
    async fn admit(
        &self,
        req: JoinRequest,
        addr: std::net::SocketAddr,
        forwarded: bool,
        tls: Option<&ClusterTls>,
    ) -> Result<JoinReply, Status> {
        let tls = tls.ok_or(JoinError::Insecure)?;
        let token: Token = req
            .token
            .parse()
            .map_err(|e: crate::tokens::MalformedToken| JoinError::Malformed(e.to_string()))?;
        if token.ca_fingerprint != tls.ca_fingerprint {
            return Err(JoinError::OtherCluster.into());
        }
        if !self.is_leader() {
            if forwarded {
                return Err(StoreError::NotLeader.into());
            }
            let leader = self
                .raft
                .metrics()
                .borrow()
                .current_leader
                .and_then(|l| Slot::new(l).ok())
                .and_then(|l| self.peers.addr_of(l))
                .ok_or(StoreError::NoLeader)?;
            let channel = self
                .peers
                .channel(&leader)
                .await
                .map_err(|e| StoreError::Unreachable(e.to_string()))?;
            let reply = ClusterClient::new(channel)
                .join(forwarded_request(req, Some(WRITE_TIMEOUT)))
                .await?;
            return Ok(reply.into_inner());
        }
        let now = now_ms();
        let proof = token.proof(now);
        crate::tokens::check(self.peers.state().tokens.get(&token.id), &proof)?;
        if req.public_key.is_empty() {
            return Err(JoinError::Invalid("no public key to certify".into()).into());
        }
        let certificate = tls
            .issue_for(&req.name, &req.public_key, &[addr.ip()])
            .map_err(|e| JoinError::Invalid(format!("{e:#}")))?;
        let der = proto::tls::certs_from_pem(certificate.as_bytes())
            .map_err(|e| JoinError::Internal(e.to_string()))?;
        let command = Command::Join {
            name: req.name.clone(),
            addr: req.address.clone(),
            labels: req.labels.into_iter().collect(),
            slot: None,
            cert: Some(proto::tls::hex(&proto::tls::fingerprint(&der[0]))),
            token: Some(proof),
        };
        match self.write(command, true).await? {
            Reply::Joined { slot } => {
                // The leader's membership upkeep (Cluster::reconcile) makes
                // the new member a raft learner, with the others that
                // joined in the same round: every membership change
                // restarts the leader's replication to every node, so a
                // burst of joins must not make one change each.
                tracing::info!(node = %req.name, %slot, token = %token.id, "admitted a new node");
                Ok(JoinReply {
                    certificate,
                    ca_certificate: tls.ca_pem.clone(),
                    ca_key: tls.ca_key_pem().to_string(),
                    ..self.joined(slot)
                })
            }
            Reply::Refused { reason } => Err(reason.into()),
            Reply::Done | Reply::Coord(_) => {
                Err(JoinError::Internal("unexpected reply".into()).into())
            }
        }
    }

    /// The reply to a node that joined with `slot`.
    fn joined(&self, slot: Slot) -> JoinReply {
        let member_addresses = self
            .peers
            .state()
            .members
            .values()
            .filter(|m| !m.left)
            .map(|m| m.addr.clone())
            .collect();
        JoinReply {
            slot: slot.get(),
            member_addresses,
            cluster_id: self.cluster_id(),
            ..JoinReply::default()
        }
    }
}
