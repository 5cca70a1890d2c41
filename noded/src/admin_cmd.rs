//! `noded token create|ls|revoke` and `noded node rm`: administration
//! through the local node's Unix socket (the node checks that the caller is
//! root).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Subcommand;
use proto::v1::tokens_client::TokensClient;
use proto::v1::{CreateTokenRequest, ListTokensRequest, RevokeTokenRequest, TokenInfo};

/// What to do with tokens.
#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Make a join token (or with --user a user token) and print it (the
    /// only time its secret is shown)
    Create {
        /// How long it works: 90s, 30m, 24h, 7d [default: 24h, 90d for a user token]
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        ttl: Option<Duration>,
        /// A user token: its holder acts as this Unix user over TCP
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// The node's socket [default: the default socket]
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
    },
    /// List tokens (ids, kinds, expiry; never secrets)
    Ls {
        /// As JSON
        #[arg(long)]
        json: bool,
        /// The node's socket [default: the default socket]
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
    },
    /// Revoke a token by id: no node accepts it from now on
    Revoke {
        /// The token's id (the third part of the token, or from `ls`)
        id: String,
        /// The node's socket [default: the default socket]
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
    },
}

/// What to do with members.
#[derive(Debug, Subcommand)]
pub enum NodeCmd {
    /// Remove a node for good: it leaves the store, its certificate stops
    /// being accepted and it cannot come back with its data dir (revoking a
    /// lost or compromised machine)
    Rm {
        /// The node's name
        name: String,
        /// The node's socket [default: the default socket]
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
    },
}

/// How long `noded leave` waits for noded to stop its processes and exit.
const LEAVE_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// `noded leave`: the node on `socket` stops its processes, leaves the
/// cluster for good and exits; returns once it has.
pub fn run_leave(socket: Option<PathBuf>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let socket = socket.unwrap_or_else(proto::default_socket_path);
    runtime.block_on(async {
        let addr = proto::Addr::Unix(socket.clone());
        let mut client =
            proto::v1::cluster_client::ClusterClient::new(proto::connect(&addr).await?);
        client
            .leave(proto::v1::LeaveRequest {
                slot: 0,
                this_node: true,
            })
            .await
            .map_err(|s| anyhow::anyhow!("{}", s.message()))?;
        eprintln!("noded is stopping its processes and leaving the cluster");
        let deadline = tokio::time::Instant::now() + LEAVE_WAIT;
        while socket.exists() {
            if tokio::time::Instant::now() > deadline {
                bail!("noded did not exit within {LEAVE_WAIT:?}; see its log");
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        println!("left the cluster");
        Ok(())
    })
}

/// Runs a node command.
pub fn run_node(cmd: NodeCmd) -> anyhow::Result<()> {
    let NodeCmd::Rm { name, socket } = cmd;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let addr = proto::Addr::Unix(socket.unwrap_or_else(proto::default_socket_path));
        let mut client =
            proto::v1::cluster_client::ClusterClient::new(proto::connect(&addr).await?);
        let status = |s: tonic::Status| anyhow::anyhow!("{}", s.message());
        let nodes = client
            .nodes(proto::v1::NodesRequest {})
            .await
            .map_err(status)?
            .into_inner();
        let Some(member) = nodes.nodes.iter().find(|n| n.name == name) else {
            bail!("no member named {name:?}");
        };
        if member.name == nodes.local {
            bail!(
                "{name} is the node this socket belongs to: stop it and run this on another member"
            );
        }
        client
            .leave(proto::v1::LeaveRequest {
                slot: member.slot,
                this_node: false,
            })
            .await
            .map_err(status)?;
        println!("removed {name} (slot {})", member.slot);
        Ok(())
    })
}

/// Parses `90s`, `30m`, `24h`, `7d` or plain seconds.
pub fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .with_context(|| format!("invalid duration {s:?}: expected e.g. 90s, 30m, 24h, 7d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => bail!("invalid duration {s:?}: the unit is one of s, m, h, d"),
    };
    if secs == 0 {
        bail!("invalid duration {s:?}: must be more than 0");
    }
    Ok(Duration::from_secs(secs))
}

/// Runs a token command.
pub fn run(cmd: TokenCmd) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let socket = match &cmd {
            TokenCmd::Create { socket, .. }
            | TokenCmd::Ls { socket, .. }
            | TokenCmd::Revoke { socket, .. } => socket.clone(),
        };
        let addr = proto::Addr::Unix(socket.unwrap_or_else(proto::default_socket_path));
        let mut client = TokensClient::new(proto::connect(&addr).await?);
        let status = |s: tonic::Status| anyhow::anyhow!("{}", s.message());
        match cmd {
            TokenCmd::Create { ttl, user, .. } => {
                let reply = client
                    .create_token(CreateTokenRequest {
                        ttl_ms: ttl.map_or(0, |t| t.as_millis() as u64),
                        user: user.unwrap_or_default(),
                    })
                    .await
                    .map_err(status)?
                    .into_inner();
                println!("{}", reply.token);
            }
            TokenCmd::Ls { json, .. } => {
                let tokens = client
                    .list_tokens(ListTokensRequest {})
                    .await
                    .map_err(status)?
                    .into_inner()
                    .tokens;
                print_tokens(&tokens, json);
            }
            TokenCmd::Revoke { id, .. } => {
                client
                    .revoke_token(RevokeTokenRequest { id })
                    .await
                    .map_err(status)?;
            }
        }
        Ok(())
    })
}

fn print_tokens(tokens: &[TokenInfo], json: bool) {
    if json {
        let list: Vec<_> = tokens
            .iter()
            .map(|t| {
                serde_json::json!({
                    "id": t.id, "kind": t.kind, "user": t.user,
                    "created_ms": t.created_ms, "expires_ms": t.expires_ms,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return;
    }
    let now = proto::now_ms();
    println!("{:<16}  {:<4}  {:<12}  EXPIRES", "ID", "KIND", "USER");
    for t in tokens {
        let left = if t.expires_ms <= now {
            "expired".to_string()
        } else {
            format!("in {}", human(t.expires_ms - now))
        };
        println!("{:<16}  {:<4}  {:<12}  {left}", t.id, t.kind, t.user);
    }
}

fn human(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        for bad in ["", "h", "1y", "0s", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
