//! Who is calling (SPEC §9, docs/design/security.md): a [`Caller`] is made
//! from what the transport proved (the Unix socket's peer credentials, a
//! verified node certificate, nothing) where the request enters, never
//! from metadata a client can set. Handlers ask it, not the headers.
//!
//! Internal services (raft, joins, forwarded writes) answer only to
//! [`Caller::Node`]: a certificate of this cluster's CA whose fingerprint is
//! the one the store pinned for that node name.

use std::net::SocketAddr;

use tonic::metadata::MetadataValue;
use tonic::transport::server::UdsConnectInfo;
use tonic::{Request, Status};

use crate::cluster::peers::Peers;
use crate::tls::{ConnInfo, PeerId};

/// Why a caller is refused; a status only in api/status.rs.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A TCP client without a user token or node certificate.
    #[error(
        "over TCP a client needs a user token (NEFELE_TOKEN, nsh --token, ~/.config/nefele/token; made with `noded token create --user NAME`), or the Unix socket on a node"
    )]
    NoCredentials,
    /// A TCP client whose user certificate's token is no longer good.
    #[error(
        "the node refused the user token: {0} (make a new one with `noded token create --user NAME`)"
    )]
    TokenRefused(&'static str),
    /// A client on the socket called an internal service.
    #[error(
        "{0} is internal to the cluster: it answers only to nodes, not to clients on the socket"
    )]
    InternalOnSocket(&'static str),
    /// A client that is not a node called an internal service.
    #[error(
        "{0} is internal to the cluster: it answers only to a node certificate of this cluster"
    )]
    InternalOnly(&'static str),
    /// A local uid without a user name.
    #[error("uid {0} has no user name on this node")]
    NoUserName(u32),
    /// Only root on the socket may make a node leave.
    #[error("only root on the node's socket may make it leave the cluster")]
    LeaveNeedsRoot,
    /// A local user other than root asked to remove a node.
    #[error("only root may remove a node from the cluster")]
    RemoveNeedsRoot,
    /// A node asked another node to leave, or a client without the rights.
    #[error("leave is internal to the cluster: it answers only to the leaving node's certificate")]
    LeaveNotYours,
}

/// Who sent a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A process on this machine, through the Unix socket; the kernel
    /// vouches for its uid and gid.
    Local {
        /// Its user id.
        uid: u32,
        /// Its group id.
        gid: u32,
    },
    /// A node of this cluster (its certificate, verified and pinned).
    Node {
        /// The node's name.
        name: String,
    },
    /// A client over TLS with a user certificate whose token is still
    /// valid in the store (re-checked on every request).
    User {
        /// The user name.
        name: String,
    },
    /// A TCP client over TLS with no node certificate.
    Remote {
        /// Its address.
        addr: Option<SocketAddr>,
        /// Why its user certificate was refused, if it showed one.
        refused: Option<&'static str>,
    },
    /// A TCP peer of a node run with `--insecure`: no TLS, so nothing is
    /// proved, and it is trusted as a node (loopback development only).
    Insecure {
        /// Its address.
        addr: Option<SocketAddr>,
    },
}

impl Caller {
    /// Identifies the caller of `request`; a node certificate counts only
    /// if it is the one the store pinned for its name (`peers`).
    pub fn of<T>(request: &Request<T>, peers: &Peers) -> Caller {
        let ext = request.extensions();
        if let Some(uds) = ext.get::<UdsConnectInfo>() {
            return match uds.peer_cred {
                Some(cred) => Caller::Local {
                    uid: cred.uid(),
                    gid: cred.gid(),
                },
                // The kernel always gives credentials on a Unix socket;
                // without them, trust nothing.
                None => Caller::Remote {
                    addr: None,
                    refused: None,
                },
            };
        }
        let Some(conn) = ext.get::<ConnInfo>() else {
            return Caller::Remote {
                addr: None,
                refused: None,
            };
        };
        if !conn.tls {
            return Caller::Insecure { addr: conn.remote };
        }
        let Some(peer) = &conn.peer else {
            return Caller::Remote {
                addr: conn.remote,
                refused: None,
            };
        };
        match &peer.id {
            PeerId::Node(name) if peers.cert_allowed(name, &peer.fingerprint) => {
                Caller::Node { name: name.clone() }
            }
            PeerId::Node(name) => {
                tracing::warn!(
                    node = %name,
                    remote = ?conn.remote,
                    "a node certificate that the store does not pin for its name (revoked or replaced)"
                );
                Caller::Remote {
                    addr: conn.remote,
                    refused: None,
                }
            }
            PeerId::User { name, token } => match peers.user_token_valid(token, name) {
                Ok(()) => Caller::User { name: name.clone() },
                Err(why) => {
                    tracing::warn!(user = %name, token = %token, remote = ?conn.remote, why, "a user certificate refused");
                    Caller::Remote {
                        addr: conn.remote,
                        refused: Some(why),
                    }
                }
            },
        }
    }

    /// Whether internal services answer it.
    pub fn is_node(&self) -> bool {
        matches!(self, Caller::Node { .. } | Caller::Insecure { .. })
    }

    /// Whether it is root on this machine (the socket's uid 0).
    pub fn is_local_root(&self) -> bool {
        matches!(self, Caller::Local { uid: 0, .. })
    }
}

/// Whether `caller` may use the public API (processes, services, the
/// members list): local users on the socket, nodes, and clients with a
/// user certificate. TLS alone identifies nobody (the CA certificate is
/// public), so a client without credentials is refused.
pub fn may_use_public_api(caller: &Caller) -> Result<(), AuthError> {
    match caller {
        Caller::Local { .. }
        | Caller::Node { .. }
        | Caller::User { .. }
        | Caller::Insecure { .. } => Ok(()),
        Caller::Remote {
            refused: Some(why), ..
        } => Err(AuthError::TokenRefused(why)),
        Caller::Remote { .. } => {
            tracing::warn!(?caller, "public API over TCP refused: no credentials");
            Err(AuthError::NoCredentials)
        }
    }
}

/// The interceptor of the public services: [`may_use_public_api`]; the
/// caller it found goes into the request's extensions.
pub fn public_api_guard(
    peers: std::sync::Arc<Peers>,
) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone + Send + Sync + 'static {
    move |mut request: Request<()>| {
        let caller = Caller::of(&request, &peers);
        may_use_public_api(&caller).map_err(Status::from)?;
        // The handler reads it from here rather than work it out again.
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

/// Refuses everyone but nodes: the check of every internal RPC.
pub fn require_node<T>(
    request: &Request<T>,
    peers: &Peers,
    what: &'static str,
) -> Result<Caller, AuthError> {
    let caller = Caller::of(request, peers);
    if caller.is_node() {
        return Ok(caller);
    }
    tracing::warn!(
        ?caller,
        what,
        "internal call refused: not a node of this cluster"
    );
    Err(match caller {
        Caller::Local { .. } => AuthError::InternalOnSocket(what),
        _ => AuthError::InternalOnly(what),
    })
}

/// Metadata naming the user a node forwards a request for (counted only
/// from nodes, and from root on the socket, who may act for any user).
pub const USER_HEADER: &str = proto::USER_HEADER;
/// Metadata saying the forwarded user is an administrator.
pub const ADMIN_HEADER: &str = "nefele-admin";

/// The user a request acts for: whose processes it sees, and as whom the
/// processes it starts run (SPEC §9 "Users").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The Unix user name (the same on every node).
    pub user: String,
    /// Sees and acts on every user's processes: root, members of
    /// `--admin-group`, and nodes acting for themselves.
    pub admin: bool,
}

impl Principal {
    /// root, an administrator.
    pub fn root() -> Principal {
        Principal {
            user: "root".into(),
            admin: true,
        }
    }

    /// Whether this principal may see and act on a process of `owner`.
    pub fn may_see(&self, owner: &str) -> bool {
        self.admin || self.user == owner
    }

    /// Marks an outgoing (forwarded) request as acting for this principal.
    pub fn stamp<T>(&self, request: &mut Request<T>) {
        if let Ok(user) = MetadataValue::try_from(self.user.as_str()) {
            request.metadata_mut().insert(USER_HEADER, user);
        }
        if self.admin {
            request
                .metadata_mut()
                .insert(ADMIN_HEADER, MetadataValue::from_static("1"));
        }
    }
}

/// Who a request acts for. Local users are who the kernel says; a node (or
/// root on the socket) may name the user it acts for in [`USER_HEADER`];
/// anyone else setting it is ignored. `admin_group` members and root are
/// administrators.
pub fn principal<T>(
    request: &Request<T>,
    caller: &Caller,
    admin_group: Option<&str>,
) -> Result<Principal, AuthError> {
    let named = || {
        let user = request.metadata().get(USER_HEADER)?.to_str().ok()?;
        (!user.is_empty()).then(|| Principal {
            user: user.to_string(),
            admin: request.metadata().contains_key(ADMIN_HEADER),
        })
    };
    match caller {
        Caller::Node { .. } | Caller::Insecure { .. } => {
            Ok(named().unwrap_or_else(Principal::root))
        }
        // root acting for a user (a cluster session's supervisor) gets
        // that user's rights, administrator ones included.
        Caller::Local { uid: 0, .. } => Ok(match named() {
            Some(mut p) => {
                p.admin = p.admin || admin_group.is_some_and(|group| is_in_group(&p.user, group));
                p
            }
            None => Principal::root(),
        }),
        Caller::User { name } => {
            let admin = admin_group.is_some_and(|group| is_in_group(name, group));
            Ok(Principal {
                user: name.clone(),
                admin,
            })
        }
        Caller::Local { uid, .. } => {
            let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(*uid))
                .ok()
                .flatten()
                .ok_or(AuthError::NoUserName(*uid))?;
            let admin = admin_group.is_some_and(|group| in_group(&user, group));
            Ok(Principal {
                user: user.name,
                admin,
            })
        }
        Caller::Remote {
            refused: Some(why), ..
        } => Err(AuthError::TokenRefused(why)),
        Caller::Remote { .. } => Err(AuthError::NoCredentials),
    }
}

/// Whether `user` belongs to `group` (as its primary group or a member).
fn in_group(user: &nix::unistd::User, group: &str) -> bool {
    match nix::unistd::Group::from_name(group) {
        Ok(Some(g)) => g.gid == user.gid || g.mem.contains(&user.name),
        _ => false,
    }
}

/// Whether the user named `name` is in `group`; an unknown user is not.
fn is_in_group(name: &str, group: &str) -> bool {
    nix::unistd::User::from_name(name)
        .ok()
        .flatten()
        .is_some_and(|u| in_group(&u, group))
}
