//! Where a client finds its node: `NEFELE_ADDR` (`unix:/path/to.sock`,
//! `https://host:port` or `host:port` over TLS, `http://host:port` in plain
//! text for nodes run with `--insecure`), else the default socket (SPEC §2),
//! and the one [`connect`] that turns such an address into a gRPC channel.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint};

use crate::tls::{ClientTls, TlsError};

/// How long [`connect`] waits for a node before giving up.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The address of a node's API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    /// A Unix socket path.
    Unix(PathBuf),
    /// A TCP address, `host:port`, in plain text (`http://`: only nodes
    /// run with `--insecure` accept it).
    Tcp(String),
    /// A TCP address, `host:port`, over TLS (`https://` or no scheme).
    Tls(String),
}

/// Why an address could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid node address {0:?}: expected unix:/path/to.sock, https://host:port, host:port or http://host:port"
)]
pub struct AddrError(String);

/// Why a node could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The address itself is wrong.
    #[error(transparent)]
    Addr(#[from] AddrError),
    /// TLS could not be set up (the CA file, a key).
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The node refused the user token.
    #[error("the node refused the user token: {0}")]
    Token(String),
    /// A TLS address but nothing to verify the node with.
    #[error(
        "{0} is a TLS address but no cluster CA is known: give a user token (NEFELE_TOKEN, nsh --token; it carries the CA's fingerprint), or set NEFELE_CA to the cluster's ca.pem (a node keeps it in DATA_DIR/tls/ca.pem), or use http:// for a node run with --insecure"
    )]
    NoCa(Addr),
    /// The node did not accept the connection.
    #[error("cannot reach node at {addr}: {source}")]
    Transport {
        /// The address tried.
        addr: Addr,
        /// What the transport said.
        #[source]
        source: tonic::transport::Error,
    },
}

impl FromStr for Addr {
    type Err = AddrError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || AddrError(s.to_string());
        if let Some(path) = s.strip_prefix("unix:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(bad());
            }
            return Ok(Addr::Unix(PathBuf::from(path)));
        }
        let (plain, rest) = match s.strip_prefix("http://") {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix("https://").unwrap_or(s)),
        };
        let hostport = rest.trim_end_matches('/');
        match hostport.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(if plain {
                Addr::Tcp(hostport.to_string())
            } else {
                Addr::Tls(hostport.to_string())
            }),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Unix(path) => write!(f, "unix:{}", path.display()),
            Addr::Tcp(hostport) => write!(f, "http://{hostport}"),
            Addr::Tls(hostport) => write!(f, "https://{hostport}"),
        }
    }
}

/// The default socket path: `$XDG_RUNTIME_DIR/nefele/noded.sock`, or
/// `/run/nefele/noded.sock` for root (or when XDG_RUNTIME_DIR is unset).
pub fn default_socket_path() -> PathBuf {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let is_root = unsafe { libc::geteuid() } == 0;
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !is_root && !dir.is_empty() => Path::new(&dir).join("nefele/noded.sock"),
        _ => PathBuf::from("/run/nefele/noded.sock"),
    }
}

/// The address a client uses when none is given: `NEFELE_ADDR`, else the
/// default socket.
pub fn default_addr() -> Result<Addr, AddrError> {
    match std::env::var("NEFELE_ADDR") {
        Ok(s) if !s.is_empty() => s.parse(),
        _ => Ok(Addr::Unix(default_socket_path())),
    }
}

/// Connects to a node, waiting at most [`DEFAULT_CONNECT_TIMEOUT`].
pub async fn connect(addr: &Addr) -> Result<Channel, ConnectError> {
    connect_timeout(addr, DEFAULT_CONNECT_TIMEOUT).await
}

/// Connects to a node, waiting at most `timeout` for the connection. A TLS
/// address verifies the node against `NEFELE_CA` (or the CA fingerprint in
/// the user token) and, with a user token (`NEFELE_TOKEN` or
/// `~/.config/nefele/token`), acts as its user: the token buys a client
/// certificate from the node first (`Tokens.Certify`).
pub async fn connect_timeout(addr: &Addr, timeout: Duration) -> Result<Channel, ConnectError> {
    let Addr::Tls(_) = addr else {
        return connect_with(addr, None, timeout).await;
    };
    let token = crate::tls::client_token();
    let trust = crate::tls::trust_from_env(token.as_deref())?
        .ok_or_else(|| ConnectError::NoCa(addr.clone()))?;
    let anonymous = ClientTls::with(&trust, None)?;
    let Some(token) = token else {
        return connect_with(addr, Some(&anonymous), timeout).await;
    };
    let (public_key, key_pem) = crate::tls::new_client_key()?;
    let channel = connect_with(addr, Some(&anonymous), timeout).await?;
    let mut request = tonic::Request::new(crate::v1::CertifyRequest { token, public_key });
    request.set_timeout(timeout);
    let reply = crate::v1::tokens_client::TokensClient::new(channel)
        .certify(request)
        .await
        .map_err(|status| ConnectError::Token(status.message().to_string()))?
        .into_inner();
    let tls = ClientTls::with(
        &trust,
        Some((reply.certificate.as_bytes(), key_pem.as_bytes())),
    )?;
    connect_with(addr, Some(&tls), timeout).await
}

/// Connects to a node, waiting at most `timeout`; a TLS address is
/// verified with `tls` (required for one).
pub async fn connect_with(
    addr: &Addr,
    tls: Option<&ClientTls>,
    timeout: Duration,
) -> Result<Channel, ConnectError> {
    let transport = |source| ConnectError::Transport {
        addr: addr.clone(),
        source,
    };
    let endpoint = endpoint(addr)?.connect_timeout(timeout);
    match addr {
        Addr::Tcp(_) => endpoint.connect().await.map_err(transport),
        Addr::Tls(_) => {
            let tls = tls.ok_or_else(|| ConnectError::NoCa(addr.clone()))?;
            endpoint
                .connect_with_connector(tls.connector(None, timeout))
                .await
                .map_err(transport)
        }
        Addr::Unix(path) => endpoint
            .connect_with_connector(unix_connector(path.clone()))
            .await
            .map_err(transport),
    }
}

/// The endpoint for an address. Over TLS and Unix sockets the URI only
/// names the host and port: the connectors decide how to get there.
fn endpoint(addr: &Addr) -> Result<Endpoint, AddrError> {
    match addr {
        Addr::Tcp(hostport) | Addr::Tls(hostport) => {
            Endpoint::from_shared(format!("http://{hostport}"))
                .map(|e| e.tcp_nodelay(true))
                .map_err(|_| AddrError(hostport.clone()))
        }
        Addr::Unix(_) => Ok(Endpoint::from_static("http://localhost")),
    }
}

fn unix_connector(
    path: PathBuf,
) -> impl tower::Service<
    tonic::transport::Uri,
    Response = TokioIo<tokio::net::UnixStream>,
    Error = std::io::Error,
    Future = impl Future + Send,
> + Clone
+ Send
+ 'static {
    tower::service_fn(move |_: tonic::transport::Uri| {
        let path = path.clone();
        async move {
            let stream = tokio::net::UnixStream::connect(path).await?;
            Ok::<_, std::io::Error>(TokioIo::new(stream))
        }
    })
}

/// A channel to a node's TCP address that connects on first use (and
/// reconnects after failures), waiting at most `timeout` each time. For
/// node-to-node traffic, where a peer may be down when the channel is made;
/// `local` is the address to connect from (a node's own address, so its
/// peers see one address for it); `tls` verifies the peer and presents this
/// node's certificate (`None`: plain text, for `--insecure` clusters).
pub fn connect_lazy(
    hostport: &str,
    timeout: Duration,
    local: Option<IpAddr>,
    tls: Option<&ClientTls>,
) -> Result<Channel, AddrError> {
    let endpoint = Endpoint::from_shared(format!("http://{hostport}"))
        .map_err(|_| AddrError(hostport.to_string()))?
        .connect_timeout(timeout)
        .tcp_nodelay(true)
        .local_address(local)
        // Pings notice a peer that vanished (power loss, cable) on
        // idle connections and open streams.
        .http2_keep_alive_interval(timeout)
        .keep_alive_timeout(timeout)
        .keep_alive_while_idle(true);
    Ok(match tls {
        Some(tls) => endpoint.connect_with_connector_lazy(tls.connector(local, timeout)),
        None => endpoint.connect_lazy(),
    })
}

/// A channel to any node address that connects on first use and
/// reconnects after failures, waiting at most `timeout` each time, and
/// pings the node every `timeout` so a dead peer is noticed on idle
/// streams too. For long-lived clients (nefelefs) that must keep working
/// across node restarts. A TLS address is verified against `NEFELE_CA`.
pub fn connect_lazy_to(addr: &Addr, timeout: Duration) -> Result<Channel, ConnectError> {
    let endpoint = endpoint(addr)?
        .connect_timeout(timeout)
        .http2_keep_alive_interval(timeout)
        .keep_alive_timeout(timeout)
        .keep_alive_while_idle(true);
    Ok(match addr {
        Addr::Tcp(_) => endpoint.connect_lazy(),
        Addr::Tls(_) => {
            let tls = ClientTls::from_env()?.ok_or_else(|| ConnectError::NoCa(addr.clone()))?;
            endpoint.connect_with_connector_lazy(tls.connector(None, timeout))
        }
        Addr::Unix(path) => endpoint.connect_with_connector_lazy(unix_connector(path.clone())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_address_forms() {
        assert_eq!(
            "unix:/run/x.sock".parse::<Addr>().unwrap(),
            Addr::Unix("/run/x.sock".into())
        );
        assert_eq!(
            "unix:///run/x.sock".parse::<Addr>().unwrap(),
            Addr::Unix("/run/x.sock".into())
        );
        assert_eq!(
            "http://127.0.0.1:7070".parse::<Addr>().unwrap(),
            Addr::Tcp("127.0.0.1:7070".into())
        );
        assert_eq!(
            "localhost:7070".parse::<Addr>().unwrap(),
            Addr::Tls("localhost:7070".into())
        );
        assert_eq!(
            "https://10.0.0.1:7070/".parse::<Addr>().unwrap(),
            Addr::Tls("10.0.0.1:7070".into())
        );
        assert!("unix:".parse::<Addr>().is_err());
        assert!("http://host".parse::<Addr>().is_err());
        assert!("junk".parse::<Addr>().is_err());
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "unix:/a/b.sock",
            "http://127.0.0.1:1",
            "https://127.0.0.1:1",
        ] {
            assert_eq!(s.parse::<Addr>().unwrap().to_string(), s);
        }
    }
}
