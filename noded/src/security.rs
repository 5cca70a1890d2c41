//! How a node comes by its certificates at start (SPEC §9,
//! docs/design/security.md): a TLS node that ran before loads them from its
//! data dir; a founding node makes the cluster CA; a new node joins with a
//! token, verifying the cluster by the token's CA fingerprint before it
//! sends the secret. `--insecure` nodes have none. Called once by `run`.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::bail;
use proto::v1::JoinReply;
use rcgen::PublicKeyData;

use crate::cluster::Cluster;
use crate::config::Config;
use crate::identity::DataDir;
use crate::tls::{self, ClusterTls};
use crate::tokens::Token;

/// This node's certificates, if it has them or founds a cluster now.
/// `None` for `--insecure` nodes and for new nodes about to join.
pub fn load_tls(config: &Config, data: &DataDir) -> anyhow::Result<Option<ClusterTls>> {
    let present = ClusterTls::present(&data.path);
    let ran_before = data.path.join("raft").exists();
    if config.insecure {
        if present {
            bail!(
                "the data dir {} belongs to a TLS cluster: drop --insecure",
                data.path.display()
            );
        }
        return Ok(None);
    }
    if present {
        return ClusterTls::load(&data.path).map(Some);
    }
    if ran_before {
        bail!(
            "the data dir {} belongs to a cluster without TLS: run this node with --insecure",
            data.path.display()
        );
    }
    if data.identity.slot.is_none() {
        // A new node: it gets its certificate when it joins.
        return Ok(None);
    }
    let tls = ClusterTls::found(&data.path, &data.identity.name, &[])?;
    tracing::info!(
        ca_fingerprint = %proto::tls::hex(&tls.ca_fingerprint),
        "made the cluster CA (in {}/{})",
        data.path.display(),
        tls::TLS_DIR
    );
    Ok(Some(tls))
}

/// Joins a cluster as a new node: with a token (TLS), or without one
/// (`--insecure`). Returns the reply and, with TLS, the certificates it
/// received, already stored in the data dir.
pub async fn join_new(
    config: &Config,
    name: &str,
    advertise: SocketAddr,
    data_dir: &Path,
) -> anyhow::Result<(JoinReply, Option<ClusterTls>)> {
    let local_ip = Some(advertise.ip()).filter(|ip| !ip.is_unspecified());
    let mut request = proto::v1::JoinRequest {
        name: name.to_string(),
        address: advertise.to_string(),
        labels: config.labels.clone().into_iter().collect(),
        slot: 0,
        ..Default::default()
    };
    if config.insecure {
        if config.token.is_some() {
            bail!("--token is for clusters with TLS; an --insecure node joins without one");
        }
        let reply = Cluster::join_via(&config.join, request, local_ip, None).await?;
        return Ok((reply, None));
    }
    let Some(text) = &config.token else {
        bail!(
            "a new node joins with --token TOKEN (make one on a member with `noded token create`), or with --insecure for a cluster without TLS"
        );
    };
    let token: Token = text.parse()?;
    let key = tls::new_key()?;
    request.token = token.to_string();
    request.public_key = key.subject_public_key_info();
    let pinned = proto::tls::ClientTls::pinned(token.ca_fingerprint)?;
    let reply = Cluster::join_via(&config.join, request, local_ip, Some(&pinned)).await?;
    if reply.certificate.is_empty() || reply.ca_certificate.is_empty() {
        bail!("the cluster admitted this node but sent no certificate");
    }
    let ca = proto::tls::certs_from_pem(reply.ca_certificate.as_bytes())?;
    if proto::tls::fingerprint(&ca[0]) != token.ca_fingerprint {
        bail!("the cluster sent a CA that is not the one the token names");
    }
    let tls = ClusterTls::save_joined(
        data_dir,
        &reply.ca_certificate,
        &reply.ca_key,
        &reply.certificate,
        &key,
    )?;
    tracing::info!(
        slot = reply.slot,
        "joined the cluster with a token; certificates stored"
    );
    Ok((reply, Some(tls)))
}
