//! The cluster's certificates and TLS on the node's TCP port (SPEC §9,
//! docs/design/security.md).
//!
//! The founding node makes the cluster CA; every node holds a certificate
//! signed by it, naming the node (URI SAN `nefele://node/NAME`) and the
//! shared server name [`proto::tls::NODE_SERVER_NAME`]. Joining nodes make
//! their own key and receive their certificate, with the CA, when their
//! join token is accepted. Everything lives in `DATA_DIR/tls/`, keys 0600.
//!
//! [`incoming`] accepts TCP connections and runs each TLS handshake on a
//! task of its own (bounded in time), so a slow or garbage client never
//! holds up the others; the connection carries what TLS proved about the
//! peer ([`ConnInfo`]) into every request's extensions.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::{Context, bail};
use proto::tls::{ClientTls, NODE_SERVER_NAME, certs_from_pem, fingerprint, key_from_pem};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SubjectPublicKeyInfo,
};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

/// Folder of the data dir holding the certificates and keys.
pub const TLS_DIR: &str = "tls";
/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Prefix of the URI SAN that names a node in its certificate.
const NODE_URI: &str = "nefele://node/";
/// Prefixes of the URI SANs of a user's client certificate: the user, and
/// the token it was certified with (checked again on every request).
const USER_URI: &str = "nefele://user/";
const TOKEN_URI: &str = "nefele://token/";
/// Longest life of a user's client certificate.
pub const USER_CERT_MS: u64 = 24 * 3600 * 1000;
/// Certificates are valid this long (rotation: docs/design/security.md).
const VALIDITY_DAYS: i64 = 3650;

/// This node's certificates, keys and TLS configurations.
pub struct ClusterTls {
    /// The cluster CA certificate (PEM).
    pub ca_pem: String,
    /// The CA's key (PEM): a secret, never logged; lets this node sign
    /// the certificates of joining nodes.
    ca_key_pem: String,
    /// SHA-256 of the CA certificate (DER), as join tokens carry it.
    pub ca_fingerprint: [u8; 32],
    /// SHA-256 of this node's certificate, recorded in the store.
    pub node_fingerprint: [u8; 32],
    /// Server side of the TCP port: presents this node's certificate,
    /// asks for a client certificate but does not require one (clients
    /// authenticate with tokens; internal services then check for a node).
    pub server: Arc<rustls::ServerConfig>,
    /// Client side toward peers: verifies them against the CA and
    /// presents this node's certificate.
    pub client: ClientTls,
}

impl std::fmt::Debug for ClusterTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterTls")
            .field("ca_fingerprint", &proto::tls::hex(&self.ca_fingerprint))
            .finish_non_exhaustive()
    }
}

/// Files of `DATA_DIR/tls/`.
struct Files {
    dir: PathBuf,
}

impl Files {
    fn new(data_dir: &Path) -> Self {
        Files {
            dir: data_dir.join(TLS_DIR),
        }
    }
    fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    fn node(&self) -> PathBuf {
        self.dir.join("node.pem")
    }
    fn node_key(&self) -> PathBuf {
        self.dir.join("node.key")
    }
    fn exist(&self) -> bool {
        self.node().exists()
    }
    fn read(&self, path: &Path) -> anyhow::Result<String> {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
    }
    /// Writes every file, keys 0600, each atomically.
    fn write(&self, ca: &str, ca_key: &str, node: &str, node_key: &str) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))?;
        for (path, text, secret) in [
            (self.ca(), ca, false),
            (self.ca_key(), ca_key, true),
            (self.node(), node, false),
            (self.node_key(), node_key, true),
        ] {
            crate::records::write_durably_with_mode(
                &path,
                text.as_bytes(),
                if secret { 0o600 } else { 0o644 },
            )
            .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }
}

/// A new node key pair (ECDSA P-256).
pub fn new_key() -> anyhow::Result<KeyPair> {
    KeyPair::generate().context("cannot generate a key")
}

impl ClusterTls {
    /// Whether the data dir holds certificates (a TLS node that ran before).
    pub fn present(data_dir: &Path) -> bool {
        Files::new(data_dir).exist()
    }

    /// Loads this node's certificates from the data dir.
    pub fn load(data_dir: &Path) -> anyhow::Result<Self> {
        let files = Files::new(data_dir);
        Self::from_pems(
            files.read(&files.ca())?,
            files.read(&files.ca_key())?,
            files.read(&files.node())?,
            files.read(&files.node_key())?,
        )
    }

    /// Makes the cluster CA and this (founding) node's certificate, and
    /// stores them.
    pub fn found(data_dir: &Path, name: &str, hosts: &[IpAddr]) -> anyhow::Result<Self> {
        let ca_key = new_key()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "Nefele cluster CA");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params);
        let ca_cert = params.self_signed(&ca_key).context("cannot make the CA")?;
        let ca_pem = ca_cert.pem();
        let ca_key_pem = ca_key.serialize_pem();
        let node_key = new_key()?;
        let node_pem = issue(&ca_pem, &ca_key_pem, name, &node_key, hosts)?;
        Files::new(data_dir).write(&ca_pem, &ca_key_pem, &node_pem, &node_key.serialize_pem())?;
        Self::load(data_dir)
    }

    /// Stores what a joining node received and its own key.
    pub fn save_joined(
        data_dir: &Path,
        ca_pem: &str,
        ca_key_pem: &str,
        node_pem: &str,
        node_key: &KeyPair,
    ) -> anyhow::Result<Self> {
        let tls = Self::from_pems(
            ca_pem.into(),
            ca_key_pem.into(),
            node_pem.into(),
            node_key.serialize_pem(),
        )
        .context("the cluster sent unusable certificates")?;
        Files::new(data_dir).write(ca_pem, ca_key_pem, node_pem, &node_key.serialize_pem())?;
        Ok(tls)
    }

    fn from_pems(
        ca_pem: String,
        ca_key_pem: String,
        node_pem: String,
        node_key_pem: String,
    ) -> anyhow::Result<Self> {
        let ca = certs_from_pem(ca_pem.as_bytes())?;
        let node = certs_from_pem(node_pem.as_bytes())?;
        let ca_fingerprint = fingerprint(&ca[0]);
        let node_fingerprint = fingerprint(&node[0]);
        // The chain the server presents: its certificate, then the CA, so
        // a client holding only the CA's fingerprint can verify it.
        let mut chain = node.clone();
        chain.push(ca[0].clone());
        let mut chain_pem = node_pem.clone();
        chain_pem.push_str(&ca_pem);

        let mut roots = RootCertStore::empty();
        roots.add(ca[0].clone())?;
        let provider = proto::tls::provider();
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .allow_unauthenticated()
                .build()
                .context("cannot build the client verifier")?;
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key_from_pem(node_key_pem.as_bytes())?)
            .context("this node's certificate does not match its key")?;
        // gRPC, and the byte streams of direct pipes between nodes.
        server.alpn_protocols = vec![b"h2".to_vec(), proto::tls::ALPN_PIPE.to_vec()];
        let client = ClientTls::new(
            ca_pem.as_bytes(),
            Some((chain_pem.as_bytes(), node_key_pem.as_bytes())),
        )?;
        Ok(ClusterTls {
            ca_pem,
            ca_key_pem,
            ca_fingerprint,
            node_fingerprint,
            server: Arc::new(server),
            client,
        })
    }

    /// The CA's key, for a node that has just been accepted.
    pub fn ca_key_pem(&self) -> &str {
        &self.ca_key_pem
    }

    /// Signs a client certificate for `user`, certified with token
    /// `token_id`, valid for `valid_ms` (from now).
    pub fn issue_user(
        &self,
        user: &str,
        token_id: &str,
        public_key_der: &[u8],
        valid_ms: u64,
    ) -> anyhow::Result<String> {
        let key = SubjectPublicKeyInfo::from_der(public_key_der)
            .map_err(|e| anyhow::anyhow!("unusable public key: {e}"))?;
        let mut params = leaf_params(
            user,
            vec![
                SanType::URI(format!("{USER_URI}{user}").try_into()?),
                SanType::URI(format!("{TOKEN_URI}{token_id}").try_into()?),
            ],
            vec![ExtendedKeyUsagePurpose::ClientAuth],
        );
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::minutes(5);
        params.not_after = now + time::Duration::milliseconds(valid_ms as i64);
        sign(&self.ca_pem, &self.ca_key_pem, params, &key, "client")
    }

    /// Signs a node certificate for `name` (the leader, for a joining node).
    pub fn issue_for(
        &self,
        name: &str,
        public_key_der: &[u8],
        hosts: &[IpAddr],
    ) -> anyhow::Result<String> {
        let key = SubjectPublicKeyInfo::from_der(public_key_der)
            .map_err(|e| anyhow::anyhow!("unusable public key: {e}"))?;
        issue(&self.ca_pem, &self.ca_key_pem, name, &key, hosts)
    }
}

/// Valid from a day ago (peers with a slow clock accept a fresh
/// certificate) for [`VALIDITY_DAYS`].
fn set_validity(params: &mut CertificateParams) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(VALIDITY_DAYS);
}

/// Signs a node certificate.
fn issue(
    ca_pem: &str,
    ca_key_pem: &str,
    name: &str,
    key: &impl rcgen::PublicKeyData,
    hosts: &[IpAddr],
) -> anyhow::Result<String> {
    let mut names = vec![
        SanType::DnsName(NODE_SERVER_NAME.try_into()?),
        SanType::URI(format!("{NODE_URI}{name}").try_into()?),
    ];
    names.extend(hosts.iter().map(|ip| SanType::IpAddress(*ip)));
    let mut params = leaf_params(
        name,
        names,
        vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
    );
    set_validity(&mut params);
    sign(ca_pem, ca_key_pem, params, key, "node")
}

/// A leaf certificate (not a CA, signing only) for `common_name`.
fn leaf_params(
    common_name: &str,
    names: Vec<SanType>,
    usages: Vec<ExtendedKeyUsagePurpose>,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.subject_alt_names = names;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = usages;
    params.use_authority_key_identifier_extension = true;
    params
}

/// Signs `params` for `key` with the cluster CA; `what` names the kind of
/// certificate in errors.
fn sign(
    ca_pem: &str,
    ca_key_pem: &str,
    params: CertificateParams,
    key: &impl rcgen::PublicKeyData,
    what: &str,
) -> anyhow::Result<String> {
    let ca_key = KeyPair::from_pem(ca_key_pem).context("unusable CA key")?;
    let issuer = Issuer::from_ca_cert_pem(ca_pem, ca_key).context("unusable CA certificate")?;
    let cert = params
        .signed_by(key, &issuer)
        .with_context(|| format!("cannot sign the {what} certificate"))?;
    Ok(cert.pem())
}

/// Whom a certificate of the cluster CA names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerId {
    /// A node (`nefele://node/NAME`).
    Node(String),
    /// A user's client (`nefele://user/NAME`), certified with a token
    /// (`nefele://token/ID`).
    User {
        /// The user name.
        name: String,
        /// The token's id.
        token: String,
    },
}

/// Whom a certificate names, from its URI SANs.
pub fn identity_of(cert_der: &[u8]) -> Option<PeerId> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    let san = cert.subject_alternative_name().ok()??;
    let uris: Vec<&str> = san
        .value
        .general_names
        .iter()
        .filter_map(|n| match n {
            x509_parser::extensions::GeneralName::URI(uri) => Some(*uri),
            _ => None,
        })
        .collect();
    let find = |prefix: &str| uris.iter().find_map(|u| u.strip_prefix(prefix));
    if let Some(node) = find(NODE_URI) {
        return Some(PeerId::Node(node.to_string()));
    }
    Some(PeerId::User {
        name: find(USER_URI)?.to_string(),
        token: find(TOKEN_URI)?.to_string(),
    })
}

/// What the transport proved about the other end of a TCP connection.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// Its address.
    pub remote: Option<SocketAddr>,
    /// Whether the connection is TLS (false only with `--insecure`).
    pub tls: bool,
    /// The node certificate it presented, verified against the cluster CA.
    pub peer: Option<PeerCert>,
}

impl Conn {
    /// What the transport proved about the other end.
    pub fn info(&self) -> &ConnInfo {
        &self.info
    }
}

/// A verified certificate of the cluster CA.
#[derive(Clone, Debug)]
pub struct PeerCert {
    /// Whom it names.
    pub id: PeerId,
    /// SHA-256 of the certificate.
    pub fingerprint: [u8; 32],
}

/// A TCP connection, plain or TLS, with what it proved.
pub struct Conn {
    io: ConnIo,
    info: ConnInfo,
}

enum ConnIo {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ConnInfo;
    fn connect_info(&self) -> ConnInfo {
        self.info.clone()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            ConnIo::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ConnIo::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            ConnIo::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ConnIo::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            ConnIo::Plain(s) => Pin::new(s).poll_flush(cx),
            ConnIo::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            ConnIo::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ConnIo::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            ConnIo::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            ConnIo::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match &self.io {
            ConnIo::Plain(s) => s.is_write_vectored(),
            ConnIo::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// Accepts connections on `listener` until `stop`: plain ones when `tls`
/// is `None` (`--insecure`), else TLS, each handshake on its own task.
/// gRPC connections come out of the returned stream; those that asked for
/// a direct pipe's byte stream (ALPN `nefele-pipe/1`) go to `pipes`.
pub fn incoming(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: CancellationToken,
    pipes: tokio::sync::mpsc::Sender<Conn>,
) -> ReceiverStream<io::Result<Conn>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::spawn(async move {
        loop {
            let (tcp, remote) = tokio::select! {
                _ = stop.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // EMFILE and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            // Nagle would hold back the ends of replies.
            let _ = tcp.set_nodelay(true);
            let tx = tx.clone();
            let pipes = pipes.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let sorted = async {
                    match acceptor {
                        Some(acceptor) => handshake(acceptor, tcp, remote).await,
                        None => plain(tcp, remote).await,
                    }
                };
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, sorted).await {
                    Ok(Ok((conn, false))) => {
                        let _ = tx.send(Ok(conn)).await;
                    }
                    Ok(Ok((conn, true))) => {
                        let _ = pipes.send(conn).await;
                    }
                    Ok(Err(e)) => {
                        tracing::info!(%remote, error = %e, "refused a connection")
                    }
                    Err(_) => tracing::info!(%remote, "a client did not start in time"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

/// A plain-text connection (`--insecure`) and whether it is a direct
/// pipe's byte stream: one that starts with the pipe preface, which is
/// read off; anything else is left for gRPC.
async fn plain(mut tcp: TcpStream, remote: SocketAddr) -> anyhow::Result<(Conn, bool)> {
    use tokio::io::AsyncReadExt;
    let preface = proto::tls::PLAIN_PIPE_PREFACE;
    let mut first = [0u8; 1];
    let pipe = tcp.peek(&mut first).await? == 1 && first[0] == preface[0];
    if pipe {
        let mut got = vec![0u8; preface.len()];
        tcp.read_exact(&mut got).await?;
        if got != preface {
            bail!(
                "not a direct pipe's preface: {:?}",
                String::from_utf8_lossy(&got)
            );
        }
    }
    let conn = Conn {
        io: ConnIo::Plain(tcp),
        info: ConnInfo {
            remote: Some(remote),
            tls: false,
            peer: None,
        },
    };
    Ok((conn, pipe))
}

/// The start of an HTTP/2 connection in plain text.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// A TLS connection and whether it is a direct pipe's byte stream.
async fn handshake(
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: TcpStream,
    remote: SocketAddr,
) -> anyhow::Result<(Conn, bool)> {
    let mut first = [0u8; 14];
    let n = tcp.peek(&mut first).await?;
    if n > 0 && H2_PREFACE.starts_with(&first[..n]) {
        refuse_plain_text(tcp).await;
        bail!(
            "plain-text gRPC refused: this node requires TLS (run it with --insecure to allow plain text)"
        );
    }
    let stream = acceptor.accept(tcp).await.context("TLS handshake failed")?;
    let peer = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .and_then(|leaf| {
            Some(PeerCert {
                id: identity_of(leaf)?,
                fingerprint: fingerprint(leaf),
            })
        });
    let pipe = stream.get_ref().1.alpn_protocol() == Some(proto::tls::ALPN_PIPE);
    let conn = Conn {
        io: ConnIo::Tls(Box::new(stream)),
        info: ConnInfo {
            remote: Some(remote),
            tls: true,
            peer,
        },
    };
    Ok((conn, pipe))
}

/// Tells a plain-text HTTP/2 client why it is refused: an empty SETTINGS
/// frame (the server preface) and a GOAWAY with INADEQUATE_SECURITY and a
/// message, which gRPC clients show.
async fn refuse_plain_text(mut tcp: TcpStream) {
    const MESSAGE: &[u8] = b"this node requires TLS: use https:// with the cluster CA (NEFELE_CA), or run the node with --insecure";
    const INADEQUATE_SECURITY: u32 = 0xc;
    let mut out = Vec::with_capacity(9 + 9 + 8 + MESSAGE.len());
    // SETTINGS, no parameters.
    out.extend_from_slice(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0]);
    // GOAWAY: last stream 0, the error code, the message.
    let len = (8 + MESSAGE.len()) as u32;
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(&[0x7, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&INADEQUATE_SECURITY.to_be_bytes());
    out.extend_from_slice(MESSAGE);
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = tcp.write_all(&out).await;
        let _ = tcp.shutdown().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::PublicKeyData;

    #[test]
    fn a_node_certificate_names_its_node_and_chains_to_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        let tls = ClusterTls::found(dir.path(), "n1", &["127.0.0.1".parse().unwrap()]).unwrap();
        let again = ClusterTls::load(dir.path()).unwrap();
        assert_eq!(tls.ca_fingerprint, again.ca_fingerprint);
        let node = std::fs::read(dir.path().join("tls/node.pem")).unwrap();
        let der = certs_from_pem(&node).unwrap();
        assert_eq!(identity_of(&der[0]), Some(PeerId::Node("n1".into())));
        let mode = std::fs::metadata(dir.path().join("tls/ca.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        // A joining node's key, signed by the CA.
        let key = new_key().unwrap();
        let pem = tls
            .issue_for("n2", &key.subject_public_key_info(), &[])
            .unwrap();
        let other = tempfile::tempdir().unwrap();
        let joined =
            ClusterTls::save_joined(other.path(), &tls.ca_pem, tls.ca_key_pem(), &pem, &key)
                .unwrap();
        assert_eq!(joined.ca_fingerprint, tls.ca_fingerprint);
        assert_eq!(
            identity_of(&certs_from_pem(pem.as_bytes()).unwrap()[0]),
            Some(PeerId::Node("n2".into()))
        );
        let user = tls
            .issue_user(
                "alice",
                "0123456789abcdef",
                &key.subject_public_key_info(),
                60_000,
            )
            .unwrap();
        assert_eq!(
            identity_of(&certs_from_pem(user.as_bytes()).unwrap()[0]),
            Some(PeerId::User {
                name: "alice".into(),
                token: "0123456789abcdef".into()
            })
        );
    }
}
