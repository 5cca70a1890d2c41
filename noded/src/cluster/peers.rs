//! Who is in the cluster and who is up: the members from the consistent
//! store, liveness and load from gossip, and a cache of gRPC channels to
//! peers. Routing (router.rs) and the raft network read it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use tokio::sync::watch;
use tonic::transport::Channel;

use proto::Slot;

use super::services::Service;
use super::state::{ClusterState, Member};
use crate::hostproc::MachineLoad;

/// How long a connection attempt to a peer may take.
pub const PEER_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A byte stream to another node (a direct pipe's): TLS, or plain TCP in
/// an `--insecure` cluster.
pub type PeerStream = Box<dyn PeerIo>;

/// How long a pipe stream kept for reuse may stay idle; below the time a
/// node waits for the next pipe on it (`pipe::BETWEEN_PIPES`), so a kept
/// stream is not one its peer is closing.
const KEPT_STREAM_IDLE: Duration = Duration::from_secs(20);
/// Most pipe streams kept per peer.
const KEPT_STREAMS_PER_PEER: usize = 8;

/// What a [`PeerStream`] is.
pub trait PeerIo: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> PeerIo for T {}

/// What gossip says about a live peer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PeerLoad {
    /// Its gRPC address.
    pub addr: String,
    /// Its load and memory, as its /proc reports them.
    pub load: MachineLoad,
    /// When the machine booted, ms since the epoch.
    pub boot_time_ms: u64,
    /// When its noded started, ms since the epoch.
    pub started_at_ms: u64,
    /// Running cluster processes.
    pub procs: u32,
}

/// The directory of peers.
pub struct Peers {
    /// This node's slot.
    pub me: Slot,
    /// The address connections to peers come from (the listen IP).
    local_ip: Option<std::net::IpAddr>,
    state: watch::Receiver<ClusterState>,
    /// Live peers by slot, replaced by the gossip task; held only to copy.
    live: RwLock<HashMap<Slot, PeerLoad>>,
    channels: DashMap<String, Channel>,
    /// TLS toward peers (`None`: an `--insecure` cluster).
    tls: Option<proto::tls::ClientTls>,
    /// Pipe streams whose last pipe ended cleanly, by address, with when
    /// they were kept: the next pipe to that node skips the dial and the
    /// handshake.
    kept_streams: Mutex<HashMap<String, Vec<(Instant, PeerStream)>>>,
}

impl Peers {
    /// A directory for node `me`, reading members from `state`;
    /// connections to peers come from `local_ip`.
    pub fn new(
        me: Slot,
        local_ip: Option<std::net::IpAddr>,
        state: watch::Receiver<ClusterState>,
        tls: Option<proto::tls::ClientTls>,
    ) -> Self {
        Peers {
            me,
            local_ip,
            state,
            live: RwLock::new(HashMap::new()),
            channels: DashMap::new(),
            tls,
            kept_streams: Mutex::default(),
        }
    }

    /// TLS toward peers (`None`: an `--insecure` cluster).
    pub fn tls(&self) -> Option<&proto::tls::ClientTls> {
        self.tls.as_ref()
    }

    /// A direct pipe's byte stream to the member at `addr`, from the
    /// listen IP, within the peer connect timeout: TLS with ALPN
    /// `nefele-pipe/1`, or in an `--insecure` cluster plain TCP that
    /// starts with [`proto::tls::PLAIN_PIPE_PREFACE`].
    ///
    /// A stream kept from an earlier pipe to `addr` is taken first; the
    /// flag says so (its peer may have closed it since: the caller dials
    /// anew when it finds it closed).
    pub async fn pipe_stream(&self, addr: &str) -> std::io::Result<(PeerStream, bool)> {
        if let Some(stream) = self.take_kept_stream(addr) {
            crate::metrics::METRICS.pipe_stream_opened(true);
            return Ok((stream, true));
        }
        let stream = self.connect_pipe_stream(addr).await?;
        crate::metrics::METRICS.pipe_stream_opened(false);
        Ok((stream, false))
    }

    /// Keeps `stream`, at the boundary between two pipes, for the next
    /// pipe to `addr`.
    pub fn keep_pipe_stream(&self, addr: &str, stream: PeerStream) {
        let Ok(mut kept) = self.kept_streams.lock() else {
            return;
        };
        let now = Instant::now();
        kept.retain(|_, streams| {
            streams.retain(|(since, _)| now.duration_since(*since) < KEPT_STREAM_IDLE);
            !streams.is_empty()
        });
        let streams = kept.entry(addr.to_string()).or_default();
        if streams.len() < KEPT_STREAMS_PER_PEER {
            streams.push((now, stream));
        }
    }

    /// The most recently kept stream to `addr` that has not been idle too
    /// long.
    fn take_kept_stream(&self, addr: &str) -> Option<PeerStream> {
        let mut kept = self.kept_streams.lock().ok()?;
        let streams = kept.get_mut(addr)?;
        let now = Instant::now();
        streams.retain(|(since, _)| now.duration_since(*since) < KEPT_STREAM_IDLE);
        streams.pop().map(|(_, stream)| stream)
    }

    /// A new pipe stream to `addr` (see [`Peers::pipe_stream`]).
    async fn connect_pipe_stream(&self, addr: &str) -> std::io::Result<PeerStream> {
        match &self.tls {
            Some(tls) => {
                let stream = tls
                    .connect_stream(
                        addr,
                        self.local_ip,
                        proto::tls::ALPN_PIPE,
                        PEER_CONNECT_TIMEOUT,
                    )
                    .await?;
                Ok(Box::new(stream))
            }
            None => {
                let stream =
                    proto::tls::connect_plain_stream(addr, self.local_ip, PEER_CONNECT_TIMEOUT)
                        .await?;
                Ok(Box::new(stream))
            }
        }
    }

    /// Whether user token `id` is still good for `user`: known to the
    /// store, a user token of that user, not expired.
    pub fn user_token_valid(&self, id: &str, user: &str) -> Result<(), &'static str> {
        let state = self.state.borrow();
        let Some(record) = state.tokens.get(id) else {
            return Err("token unknown or revoked");
        };
        if record.kind != "user" || record.user != user {
            return Err("not this user's token");
        }
        if record.expires_ms <= proto::now_ms() {
            return Err("token expired");
        }
        Ok(())
    }

    /// Whether a verified node certificate may act as node `name`: the
    /// store must pin this fingerprint for that name. Before this node's
    /// store holds any member (a new node catching up), any certificate of
    /// the cluster CA is accepted; a removed member is refused.
    pub fn cert_allowed(&self, name: &str, fingerprint: &[u8; 32]) -> bool {
        let state = self.state.borrow();
        match state.by_name(name) {
            Some(m) if m.removed => false,
            Some(m) => m
                .cert
                .as_deref()
                .is_none_or(|pinned| pinned == proto::tls::hex(fingerprint)),
            None => state.members.is_empty(),
        }
    }

    /// The whole store as it is now (members and services, one snapshot).
    pub fn state(&self) -> ClusterState {
        self.state.borrow().clone()
    }

    /// The members as the store has them now, by slot.
    pub fn members(&self) -> BTreeMap<Slot, Member> {
        self.state.borrow().members.clone()
    }

    /// `f` of the members as the store has them now, without copying them
    /// (for what looks at every member often).
    pub fn with_members<R>(&self, f: impl FnOnce(&BTreeMap<Slot, Member>) -> R) -> R {
        f(&self.state.borrow().members)
    }

    /// A service as the store has it now.
    pub fn service(&self, name: &str) -> Option<Service> {
        self.state.borrow().services.get(name).cloned()
    }

    /// Every service as the store has it now, by name.
    pub fn services(&self) -> BTreeMap<String, Service> {
        self.state.borrow().services.clone()
    }

    /// A member by slot.
    pub fn member(&self, slot: Slot) -> Option<Member> {
        self.state.borrow().members.get(&slot).cloned()
    }

    /// A member by name.
    pub fn member_named(&self, name: &str) -> Option<Member> {
        self.state.borrow().by_name(name).cloned()
    }

    /// Replaces the live set (the gossip task calls this).
    pub fn set_live(&self, live: HashMap<Slot, PeerLoad>) {
        *self.live.write().unwrap_or_else(|e| e.into_inner()) = live;
    }

    /// Live peers with their load.
    pub fn live(&self) -> HashMap<Slot, PeerLoad> {
        self.live.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether a member is up (this node always is).
    pub fn is_up(&self, slot: Slot) -> bool {
        slot == self.me
            || self
                .live
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(&slot)
    }

    /// The current address of a member: the store's (written by the node
    /// itself over mTLS), else what it gossips. Gossip is unauthenticated
    /// UDP, so it never overrides the store (docs/design/security.md).
    pub fn addr_of(&self, slot: Slot) -> Option<String> {
        self.member(slot).map(|m| m.addr).or_else(|| {
            self.live
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(&slot)
                .map(|p| p.addr.clone())
        })
    }

    /// A channel to `addr`, made once and reused; it connects lazily.
    pub async fn channel(&self, addr: &str) -> Result<Channel, proto::AddrError> {
        if let Some(c) = self.channels.get(addr) {
            return Ok(c.clone());
        }
        let channel =
            proto::connect_lazy(addr, PEER_CONNECT_TIMEOUT, self.local_ip, self.tls.as_ref())?;
        self.channels.insert(addr.to_string(), channel.clone());
        Ok(channel)
    }
}
