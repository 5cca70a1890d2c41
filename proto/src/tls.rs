//! TLS for everything that dials a node over TCP (SPEC §9): clients verify
//! the node against the cluster's CA (`NEFELE_CA`, a PEM file), or against
//! a CA fingerprint (a join token carries one); nodes also present their
//! own certificate. rustls on ring: no OpenSSL, no C build.
//!
//! Every node certificate names [`NODE_SERVER_NAME`], and clients verify
//! that name, not the address they dialled: all nodes of a cluster are
//! equally the right peer, and addresses change (wildcard listens, NAT).

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

/// The DNS name every node certificate carries and every client verifies.
pub const NODE_SERVER_NAME: &str = "node.nefele";

/// The ALPN protocol of gRPC over TLS.
const ALPN_H2: &[u8] = b"h2";

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A PEM document held no usable certificate or key.
    #[error("{0}")]
    Pem(String),
    /// rustls refused the configuration.
    #[error("tls configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The SHA-256 fingerprint of a DER certificate.
pub fn fingerprint(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses 64 hex digits into a fingerprint.
pub fn parse_fingerprint(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The certificates of a PEM document.
pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem(format!("invalid certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::Pem("no certificate in the PEM document".into()));
    }
    Ok(certs)
}

/// The private key of a PEM document.
pub fn key_from_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| TlsError::Pem(format!("invalid key PEM: {e}")))
}

/// The crypto provider everything uses (ring).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    // rustls marks ring's provider deprecated because ring has no
    // post-quantum key exchange; the alternative (aws-lc-rs) needs a C and
    // cmake build, which this project avoids. Revisit when ring has one.
    #[allow(deprecated)]
    let mut provider = rustls::crypto::ring::default_provider();
    // AES-128-GCM first (ring's list starts with AES-256-GCM): 10 AES rounds
    // instead of 14 on every byte of a direct pipe or a stream, at a
    // strength TLS 1.3 itself ranks first. Servers follow the client's
    // order, and every client here has this list.
    provider
        .cipher_suites
        .sort_by_key(|suite| suite.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    // X25519 first: ring's list starts with P-384, whose generic code made
    // each handshake (one per direct pipe's stream, resumed or not) cost
    // four P-384 scalar multiplications, about 2.5 ms of CPU, all on the
    // handshake's critical path (docs/PERFORMANCE.md, "Security"). A client
    // offers its first group's key share (or the one its last session with
    // that server used), and the server takes it.
    provider
        .kx_groups
        .sort_by_key(|group| group.name() != rustls::NamedGroup::X25519);
    Arc::new(provider)
}

/// How a client decides that the node it reached is of its cluster.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientTls")
    }
}

/// What a client trusts: the CA certificates it holds, or the CA whose
/// fingerprint a token carries.
#[derive(Clone, Debug)]
pub enum Trust {
    /// CA certificates (PEM).
    Ca(Vec<u8>),
    /// The SHA-256 of the CA certificate.
    Fingerprint([u8; 32]),
}

impl ClientTls {
    /// Trusts the CA certificates in `ca_pem`; presents `identity` (a
    /// certificate chain and key, both PEM) if given, as nodes do.
    pub fn new(ca_pem: &[u8], identity: Option<(&[u8], &[u8])>) -> Result<Self, TlsError> {
        Self::with(&Trust::Ca(ca_pem.to_vec()), identity)
    }

    /// Trusts a node whose chain includes the CA certificate with this
    /// SHA-256 fingerprint (and verifies the node against that CA), as a
    /// joining node or a client holding only a token does. No trust on
    /// first use: without the fingerprint there is nothing to trust.
    pub fn pinned(ca_fingerprint: [u8; 32]) -> Result<Self, TlsError> {
        Self::with(&Trust::Fingerprint(ca_fingerprint), None)
    }

    /// Trusts `trust`; presents `identity` (certificate chain and key, PEM).
    pub fn with(trust: &Trust, identity: Option<(&[u8], &[u8])>) -> Result<Self, TlsError> {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?;
        let builder = match trust {
            Trust::Ca(ca_pem) => {
                let mut roots = RootCertStore::empty();
                for cert in certs_from_pem(ca_pem)? {
                    roots
                        .add(cert)
                        .map_err(|e| TlsError::Pem(format!("unusable CA certificate: {e}")))?;
                }
                builder.with_root_certificates(roots)
            }
            Trust::Fingerprint(fingerprint) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinnedCa {
                    fingerprint: *fingerprint,
                    provider: provider(),
                })),
        };
        let config = match identity {
            Some((chain, key)) => {
                builder.with_client_auth_cert(certs_from_pem(chain)?, key_from_pem(key)?)?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Self::finish(config))
    }

    /// Reads the CA from a PEM file.
    pub fn from_ca_file(path: &Path) -> Result<Self, TlsError> {
        let pem = std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::new(&pem, None)
    }

    /// The client TLS of `NEFELE_CA` (a PEM file with the cluster's CA),
    /// if set.
    pub fn from_env() -> Result<Option<Self>, TlsError> {
        Ok(match trust_from_env(None)? {
            Some(trust) => Some(Self::with(&trust, None)?),
            None => None,
        })
    }

    fn finish(mut config: rustls::ClientConfig) -> Self {
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        ClientTls {
            config: Arc::new(config),
        }
    }

    /// A tower connector for tonic that dials `host:port` from the URI,
    /// from `local` if given, and runs the TLS handshake, all within
    /// `timeout`.
    pub(crate) fn connector(
        &self,
        local: Option<IpAddr>,
        timeout: Duration,
    ) -> impl tower::Service<
        tonic::transport::Uri,
        Response = TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
        Error = std::io::Error,
        Future = impl Future + Send,
    > + Clone
    + Send
    + 'static {
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        tower::service_fn(move |uri: tonic::transport::Uri| {
            let connector = connector.clone();
            async move {
                let work = async {
                    let tcp = dial(&uri, local).await?;
                    let name = ServerName::try_from(NODE_SERVER_NAME)
                        .map_err(|e| std::io::Error::other(e.to_string()))?;
                    connector.connect(name, tcp).await
                };
                match tokio::time::timeout(timeout, work).await {
                    Ok(result) => result.map(TokioIo::new),
                    Err(_) => Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no TLS connection to {uri} within {timeout:?}"),
                    )),
                }
            }
        })
    }
}

impl ClientTls {
    /// A TLS byte stream (not gRPC) to the node at `host:port`, dialled
    /// from `local` if given, that agreed on ALPN `protocol` (a node's
    /// direct pipes: [`ALPN_PIPE`]); all within `timeout`.
    pub async fn connect_stream(
        &self,
        hostport: &str,
        local: Option<IpAddr>,
        protocol: &[u8],
        timeout: Duration,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<StreamIo>> {
        let mut config = (*self.config).clone();
        config.alpn_protocols = vec![protocol.to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        dial_within(hostport, local, timeout, |tcp| async move {
            let name = ServerName::try_from(NODE_SERVER_NAME)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let io = tokio::io::BufReader::with_capacity(STREAM_READ_BUFFER, tcp);
            let stream = connector.connect(name, io).await?;
            if stream.get_ref().1.alpn_protocol() != Some(protocol) {
                return Err(std::io::Error::other(format!(
                    "{hostport} does not speak {}",
                    String::from_utf8_lossy(protocol)
                )));
            }
            Ok(stream)
        })
        .await
    }
}

/// A direct pipe's byte stream to a node of an `--insecure` cluster
/// (plain text): TCP to `host:port`, dialled from `local` if given, that
/// starts with [`PLAIN_PIPE_PREFACE`]; within `timeout`. The same
/// exchange as over TLS follows ([`ALPN_PIPE`]).
pub async fn connect_plain_stream(
    hostport: &str,
    local: Option<IpAddr>,
    timeout: Duration,
) -> std::io::Result<StreamIo> {
    use tokio::io::AsyncWriteExt;
    dial_within(hostport, local, timeout, |mut tcp| async move {
        tcp.write_all(PLAIN_PIPE_PREFACE).await?;
        Ok(tokio::io::BufReader::with_capacity(STREAM_READ_BUFFER, tcp))
    })
    .await
}

/// Dials `host:port` (from `local` if given) and runs `then` on the
/// connection, all within `timeout`.
async fn dial_within<T, F>(
    hostport: &str,
    local: Option<IpAddr>,
    timeout: Duration,
    then: impl FnOnce(tokio::net::TcpStream) -> F,
) -> std::io::Result<T>
where
    F: std::future::Future<Output = std::io::Result<T>>,
{
    let uri: tonic::transport::Uri = format!("http://{hostport}")
        .parse()
        .map_err(|_| std::io::Error::other(format!("not a host:port: {hostport}")))?;
    let work = async { then(dial(&uri, local).await?).await };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no connection to {hostport} within {timeout:?}"),
            ))
        })
}

/// What a plain-text direct pipe's byte stream starts with, where TLS
/// would agree on [`ALPN_PIPE`]: a node of an `--insecure` cluster tells
/// it from gRPC's `PRI * HTTP/2.0` by its first byte.
pub const PLAIN_PIPE_PREFACE: &[u8] = b"NEFELE-PIPE/1\n";

/// The transport under a [`ClientTls::connect_stream`] stream: TCP read
/// through a large buffer, because rustls reads at most one TLS record
/// (16 KiB) per call, which would be a system call per record.
pub type StreamIo = tokio::io::BufReader<tokio::net::TcpStream>;

/// Bytes read from the socket at once under a byte stream.
const STREAM_READ_BUFFER: usize = 256 << 10;

/// The ALPN protocol of direct pipes between nodes: after the handshake
/// the client sends a length-prefixed `nefele.v1.PipeOpen`, the node
/// answers a length-prefixed `PipeOpened`, then the producer's bytes
/// follow until the node closes the stream.
pub const ALPN_PIPE: &[u8] = b"nefele-pipe/1";

/// A token given on a command line (`nsh --token`), kept out of the
/// environment so that it does not reach child processes.
static GIVEN_TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sets the token [`client_token`] returns first.
pub fn set_client_token(token: String) {
    let _ = GIVEN_TOKEN.set(token.trim().to_string());
}

/// The user token a client presents over TCP: one given with
/// [`set_client_token`], else `NEFELE_TOKEN`, else the file
/// `~/.config/nefele/token`.
pub fn client_token() -> Option<String> {
    if let Some(token) = GIVEN_TOKEN.get() {
        return Some(token.clone());
    }
    if let Some(token) = std::env::var("NEFELE_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        return Some(token.trim().to_string());
    }
    let home = std::env::var_os("HOME")?;
    let text = std::fs::read_to_string(Path::new(&home).join(".config/nefele/token")).ok()?;
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

/// The CA fingerprint a token carries (`N1.<fingerprint>.<id>.<secret>`).
pub fn token_fingerprint(token: &str) -> Option<[u8; 32]> {
    let mut parts = token.split('.');
    (parts.next()? == "N1").then_some(())?;
    parse_fingerprint(parts.next()?)
}

/// What a client trusts: `NEFELE_CA` if set, else the fingerprint in
/// `token`.
pub fn trust_from_env(token: Option<&str>) -> Result<Option<Trust>, TlsError> {
    if let Some(path) = std::env::var_os("NEFELE_CA").filter(|p| !p.is_empty()) {
        let pem = std::fs::read(&path).map_err(|source| TlsError::Read {
            path: Path::new(&path).display().to_string(),
            source,
        })?;
        return Ok(Some(Trust::Ca(pem)));
    }
    Ok(token.and_then(token_fingerprint).map(Trust::Fingerprint))
}

/// A new key for a client certificate: (SubjectPublicKeyInfo DER, key PEM).
pub fn new_client_key() -> Result<(Vec<u8>, String), TlsError> {
    use rcgen::PublicKeyData;
    let key =
        rcgen::KeyPair::generate().map_err(|e| TlsError::Pem(format!("cannot make a key: {e}")))?;
    Ok((key.subject_public_key_info(), key.serialize_pem()))
}

/// Opens a TCP connection to the URI's host and port, from `local`.
async fn dial(
    uri: &tonic::transport::Uri,
    local: Option<IpAddr>,
) -> std::io::Result<tokio::net::TcpStream> {
    let bad = || std::io::Error::other(format!("no host:port in {uri}"));
    let host = uri.host().ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().ok_or_else(bad)?;
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        if let Some(ip) = local.filter(|ip| ip.is_ipv4() == addr.is_ipv4()) {
            socket.bind(std::net::SocketAddr::new(ip, 0))?;
        }
        match socket.connect(addr).await {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other(format!("{host} has no address"))))
}

/// The server's chain lacks the CA a join token pins: a node of another
/// cluster.
#[derive(Debug, thiserror::Error)]
#[error(
    "the node's CA is not the one the token names (fingerprint {0}): a node of another cluster"
)]
pub struct OtherCluster(String);

/// Whether [`OtherCluster`] is among the causes of `e` (a failed call or
/// connection): through the sources, the I/O errors that wrap a TLS
/// error, and the TLS error's certificate refusal.
pub fn is_other_cluster(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if e.is::<OtherCluster>() {
            return true;
        }
        if let Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))) =
            e.downcast_ref::<rustls::Error>()
            && other.0.is::<OtherCluster>()
        {
            return true;
        }
        // An I/O error's `source` skips the error it wraps.
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            && is_other_cluster(inner)
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// Verifies a server against the CA in its own chain whose fingerprint is
/// pinned.
#[derive(Debug)]
struct PinnedCa {
    fingerprint: [u8; 32],
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|c| fingerprint(c) == self.fingerprint)
            .ok_or_else(|| {
                rustls::Error::InvalidCertificate(rustls::CertificateError::Other(
                    rustls::OtherError(Arc::new(OtherCluster(hex(&self.fingerprint)))),
                ))
            })?;
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        verifier.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_round_trip_through_hex() {
        let fp = fingerprint(b"x");
        assert_eq!(parse_fingerprint(&hex(&fp)), Some(fp));
        assert_eq!(parse_fingerprint("zz"), None);
        assert_eq!(parse_fingerprint(&"g".repeat(64)), None);
    }

    #[test]
    fn connections_agree_on_aes_128_gcm() {
        let cert = rcgen::generate_simple_self_signed(vec!["node".into()]).unwrap();
        let key = PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.cert.der().clone()).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from("node").unwrap();
        let mut client = rustls::ClientConnection::new(Arc::new(client), name).unwrap();
        let mut server = rustls::ServerConnection::new(Arc::new(server)).unwrap();
        // The handshake in memory: each side's records fed to the other.
        while client.is_handshaking() || server.is_handshaking() {
            let mut wire = Vec::new();
            client.write_tls(&mut wire).unwrap();
            server.read_tls(&mut wire.as_slice()).unwrap();
            server.process_new_packets().unwrap();
            wire.clear();
            server.write_tls(&mut wire).unwrap();
            client.read_tls(&mut wire.as_slice()).unwrap();
            client.process_new_packets().unwrap();
        }
        for suite in [
            client.negotiated_cipher_suite(),
            server.negotiated_cipher_suite(),
        ] {
            assert_eq!(
                suite.map(|s| s.suite()),
                Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256)
            );
        }
    }
}
