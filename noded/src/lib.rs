//! noded, the Nefele node daemon (SPEC §2): it starts and supervises
//! ordinary processes under cluster PIDs and serves the gRPC API of SPEC §5
//! on a TCP address and a Unix socket. `main.rs` parses flags and signals
//! and calls [`run`]; tests and benchmarks start the binary.

pub mod api;
pub mod config;
pub mod error;
pub mod guardian;
pub mod hostproc;
pub mod identity;
pub mod output;
pub mod pid_alloc;
pub mod process;
pub mod pty;
pub mod records;
pub mod supervisor;
pub mod table;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::guardian::Guardian;
use crate::identity::DataDir;
use crate::records::Journal;
use crate::supervisor::NodeContext;
use crate::table::ProcessTable;

/// How often old exit records are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// How long shutdown waits for open API streams after processes stopped.
const DRAIN_RPCS: Duration = Duration::from_secs(3);

/// File in the data dir holding the bound API address (`http://host:port`),
/// written once the node serves, so scripts and tests using port 0 find it.
pub const LISTEN_ADDR_FILE: &str = "listen.addr";

/// Runs a node until `shutdown` is cancelled, then stops in this order:
/// stop taking RPCs and spawns, SIGTERM every process group, SIGKILL after
/// the grace period, wait for open streams (bounded), remove the socket.
///
/// `guardian` must have been started before the async runtime (see
/// guardian.rs); it kills the processes if this noded dies.
pub async fn run(
    config: Config,
    guardian: Guardian,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    if !config.join.is_empty() {
        bail!(
            "--join is not supported by this build yet: each noded runs a cluster of its own (see docs/ARCHITECTURE.md)"
        );
    }
    let data = DataDir::open(&config.data_dir, config.name.as_deref())?;
    let tcp = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let listen_addr = tcp.local_addr()?.to_string();
    let socket_path = absolute(&config.socket)?;
    let unix = bind_socket(&socket_path)?;

    let (journal, stored) = Journal::open(&data.path)
        .with_context(|| format!("cannot open the journal in {}", data.path.display()))?;
    let ctx = Arc::new(NodeContext {
        name: data.identity.name.clone(),
        slot: data.identity.slot,
        data_dir: data.path.clone(),
        api_addr: format!("unix:{}", socket_path.display()),
        limits: config.limits.clone(),
        journal: Arc::new(journal),
        guardian: Arc::new(guardian),
    });
    let table = Arc::new(ProcessTable::open(ctx.clone(), stored)?);
    let state = Arc::new(api::ApiState {
        table: table.clone(),
        listen_addr: listen_addr.clone(),
        labels: config.labels.clone(),
        started_at_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
    });
    let routes = api::routes(state)?;

    let stop_serving = CancellationToken::new();
    let server = || {
        tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .add_routes(routes.clone())
    };
    let tcp_server = tokio::spawn(log_failure(
        "tcp",
        server().serve_with_incoming_shutdown(
            TcpListenerStream::new(tcp),
            stop_serving.clone().cancelled_owned(),
        ),
    ));
    let unix_server = tokio::spawn(log_failure(
        "unix socket",
        server().serve_with_incoming_shutdown(
            UnixListenerStream::new(unix),
            stop_serving.clone().cancelled_owned(),
        ),
    ));
    let addr_file = data.path.join(LISTEN_ADDR_FILE);
    records::write_atomically(&addr_file, format!("http://{listen_addr}\n").as_bytes())?;
    tracing::info!(
        node = %ctx.name,
        slot = ctx.slot,
        listen = %listen_addr,
        socket = %socket_path.display(),
        data_dir = %data.path.display(),
        "noded serving"
    );

    let janitor = {
        let (table, shutdown) = (table.clone(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(PRUNE_EVERY) => {
                        let table = table.clone();
                        let _ = tokio::task::spawn_blocking(move || table.prune()).await;
                    }
                }
            }
        })
    };

    shutdown.cancelled().await;
    tracing::info!("shutting down");
    stop_serving.cancel();
    table.stop_all(config.limits.stop_grace()).await;
    janitor.abort();
    for server in [tcp_server, unix_server] {
        if tokio::time::timeout(DRAIN_RPCS, server).await.is_err() {
            tracing::warn!("open API streams did not finish; closing them");
        }
    }
    let _ = std::fs::remove_file(&socket_path);
    let _ = std::fs::remove_file(&addr_file);
    tracing::info!("stopped");
    Ok(())
}

async fn log_failure(
    which: &str,
    server: impl Future<Output = Result<(), tonic::transport::Error>>,
) {
    if let Err(e) = server.await {
        tracing::error!(error = %e, "{which} api server failed");
    }
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    Ok(if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    })
}

/// Binds the Unix socket, replacing a stale one left by a crash but never
/// one a live noded still serves on. The socket is private to its owner.
fn bind_socket(path: &Path) -> anyhow::Result<tokio::net::UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("another noded is serving on socket {}", path.display());
        }
        std::fs::remove_file(path)
            .with_context(|| format!("cannot remove stale socket {}", path.display()))?;
    }
    let listener = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("cannot bind socket {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict socket {}", path.display()))?;
    Ok(listener)
}
