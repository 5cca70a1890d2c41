//! noded, the Nefele node daemon (SPEC §2): it starts and supervises
//! ordinary processes under cluster PIDs and serves the gRPC API of SPEC §5
//! on a TCP address and a Unix socket. `main.rs` parses flags and signals
//! and calls [`run`]; tests and benchmarks start the binary.

pub mod api;
pub mod auth;
pub mod authority;
pub mod cluster;
pub mod config;
pub mod coord;
pub mod error;
pub mod hostproc;
pub mod identity;
pub mod keeper;
pub mod lost;
pub mod memcpy_tuning;
pub mod metrics;
pub mod output;
pub mod pid_alloc;
pub mod placement;
pub mod process;
pub mod pty;
pub mod records;
pub mod security;
pub mod services;
pub mod supervisor;
pub mod table;
pub mod tls;
pub mod tokens;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use tokio_stream::StreamExt;
use tokio_stream::wrappers::UnixListenerStream;
use tokio_util::sync::CancellationToken;

use crate::cluster::Cluster;
use crate::cluster::raft_net::RaftApi;
use crate::config::Config;
use crate::identity::DataDir;
use crate::records::Journal;
use crate::supervisor::NodeContext;
use crate::table::ProcessTable;

/// How often old exit records are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// How long shutdown waits for open API streams after processes stopped.
const DRAIN_RPCS: Duration = Duration::from_secs(3);
/// How long leaving the cluster may take at shutdown.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a stopping node tries to publish its running processes.
const PUBLISH_AT_STOP: Duration = Duration::from_secs(3);

/// File in the data dir holding the bound API address (`http://host:port`),
/// written once the node serves, so scripts and tests using port 0 find it.
pub const LISTEN_ADDR_FILE: &str = "listen.addr";

/// Runs a node until `shutdown` is cancelled (or an administrator
/// decommissions it), then stops it ([`Node::shutdown`]).
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let node = Node::start(config, shutdown.clone()).await?;
    shutdown.cancelled().await;
    node.shutdown().await;
    Ok(())
}

/// A running node: what [`Node::start`] set up, for [`Node::shutdown`] to
/// take down in order.
pub struct Node {
    config: Config,
    table: Arc<ProcessTable>,
    cluster: Arc<Cluster>,
    gossip: cluster::gossip::Gossip,
    /// Ends the background tasks (reconciler, announcer, releases, ...).
    background: CancellationToken,
    /// Ends both API servers' accept loops.
    stop_serving: CancellationToken,
    servers: [tokio::task::JoinHandle<()>; 2],
    janitor: tokio::task::JoinHandle<()>,
    /// Set when an administrator decommissions this node.
    decommission: Arc<std::sync::atomic::AtomicBool>,
    socket_path: PathBuf,
    addr_file: PathBuf,
    /// Holds the data dir's lock for as long as the node runs.
    data: DataDir,
}

impl Node {
    /// Opens the data dir, joins or founds the cluster, starts the keeper
    /// link, the API on TCP and the socket, gossip and the background tasks;
    /// `shutdown` is what the API cancels to decommission the node.
    pub async fn start(config: Config, shutdown: CancellationToken) -> anyhow::Result<Node> {
        let joining = !config.join.is_empty();
        let mut data = DataDir::open(&config.data_dir, config.name.as_deref(), joining)?;
        let name = data.identity.name.clone();
        let tcp = tokio::net::TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let listen = tcp.local_addr()?;
        let advertise = config::advertise_addr(listen, config.advertise.as_deref())?;
        if listen.ip().is_unspecified() && config.advertise.is_none() {
            tracing::info!(%listen, %advertise, "listening on every interface; advertising the default route's address (set --advertise to choose)");
        }
        if config.insecure && !advertise.ip().is_loopback() {
            tracing::warn!(%advertise, "--insecure on a non-loopback address: anyone who reaches this port can act as a node of the cluster");
        }
        let listen_addr = advertise.to_string();
        let socket_path = absolute(&config.socket)?;
        let unix = bind_socket(&socket_path)?;

        let mut tls = security::load_tls(&config, &data)?;
        // A new node joining gets its slot (and, with TLS, its certificate)
        // from the cluster before anything that needs it (PIDs, raft id) starts.
        let mut seeds: Vec<String> = config
            .join
            .iter()
            .map(|s| {
                s.trim_start_matches("http://")
                    .trim_start_matches("https://")
                    .to_string()
            })
            .collect();
        if data.identity.slot.is_none() {
            let (reply, joined_tls) =
                security::join_new(&config, &name, advertise, &data.path).await?;
            let slot = proto::Slot::new(u64::from(reply.slot))
                .with_context(|| format!("the cluster gave slot {}", reply.slot))?;
            data.save_slot(slot, &reply.cluster_id)?;
            seeds.extend(reply.member_addresses);
            tls = joined_tls.or(tls);
        } else if joining && config.token.is_some() {
            tracing::info!("this node is already a member: --token is not needed and was ignored");
        }
        let tls = tls.map(Arc::new);
        if !nix::unistd::geteuid().is_root() {
            let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
                .ok()
                .flatten()
                .map_or_else(|| nix::unistd::geteuid().to_string(), |u| u.name);
            tracing::info!(user = %me, "noded is not root: every process it starts runs as {me}, whoever asks");
        }
        let slot = data
            .identity
            .slot
            .context("this node has no slot: its data dir is incomplete")?;
        let raft_api = RaftApi::default();
        let cluster = Cluster::start(
            &data.path,
            &name,
            slot,
            &listen_addr,
            !joining,
            &raft_api,
            tls.as_ref().map(|t| t.client.clone()),
        )
        .await?;
        // Data dirs from before cluster ids share one.
        let cluster_id = Some(data.identity.cluster_id.clone())
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "nefele".into());
        cluster.set_cluster_id(&cluster_id);
        seeds.extend(
            cluster
                .state()
                .members
                .values()
                .filter(|m| !m.left)
                .map(|m| m.addr.clone()),
        );
        seeds.retain(|s| *s != listen_addr);
        seeds.sort();
        seeds.dedup();

        let (journal, stored) = Journal::open(&data.path)
            .with_context(|| format!("cannot open the journal in {}", data.path.display()))?;
        let ctx = Arc::new(NodeContext {
            name: name.clone(),
            slot,
            data_dir: data.path.clone(),
            api_addr: format!("unix:{}", socket_path.display()),
            limits: config.limits.clone(),
            journal: Arc::new(journal),
            stop_processes: config.stop_processes,
        });
        let connected = keeper::client::connect(&data.path, config.stop_processes).await?;
        let table = ProcessTable::open(ctx.clone(), stored, connected)?;
        let decommission = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let state = Arc::new(api::ApiState {
            table: table.clone(),
            cluster: cluster.clone(),
            listen_addr: listen_addr.clone(),
            labels: config.labels.clone(),
            started_at_ms: proto::now_ms(),
            tls: tls.clone(),
            admin_group: config.admin_group.clone(),
            shutdown: shutdown.clone(),
            decommission: decommission.clone(),
            offers: Default::default(),
        });
        let routes = api::routes(state.clone(), raft_api)?;

        let stop_serving = CancellationToken::new();
        // Direct pipes' byte streams from other nodes (api/pipe.rs).
        let (pipes, pipe_conns) = tokio::sync::mpsc::channel(16);
        tokio::spawn(api::serve_pipes(state, pipe_conns));
        let server = || {
            tonic::transport::Server::builder()
                .tcp_nodelay(true)
                // Notice clients and peers that vanished mid-stream.
                .http2_keepalive_interval(Some(Duration::from_secs(5)))
                .http2_keepalive_timeout(Some(Duration::from_secs(5)))
                .add_routes(routes.clone())
        };
        let tcp_server = tokio::spawn(log_failure(
            "tcp",
            server().serve_with_incoming_shutdown(
                tls::incoming(
                    tcp,
                    tls.as_ref().map(|t| t.server.clone()),
                    stop_serving.clone(),
                    pipes,
                ),
                stop_serving.clone().cancelled_owned(),
            ),
        ));
        let unix_server = tokio::spawn(log_failure(
            "unix socket",
            server().serve_with_incoming_shutdown(
                UnixListenerStream::new(unix).map(|conn| conn.map(authority::AuthorityFix::new)),
                stop_serving.clone().cancelled_owned(),
            ),
        ));

        let background = CancellationToken::new();
        let gossip = cluster::gossip::start(
            cluster::gossip::GossipConfig {
                cluster_id: cluster_id.clone(),
                slot,
                listen,
                advertise,
                seeds,
                down_after: Duration::from_millis(config.limits.down_after_ms),
                secret: tls.as_ref().map(|t| t.ca_key_pem().to_string()),
            },
            cluster.peers(),
            table.sample_load(cluster::gossip::LOAD_EVERY, background.clone()),
            background.clone(),
        )
        .await
        .context("cannot start gossip")?;
        cluster.spawn_reconciler(
            Duration::from_millis(config.limits.voter_replace_after_ms),
            background.clone(),
        );
        lost::spawn_publisher(table.clone(), cluster.clone(), background.clone());
        coord::spawn(
            cluster.clone(),
            table.clone(),
            Duration::from_millis(config.limits.down_after_ms),
            background.clone(),
        );
        services::spawn(
            cluster.clone(),
            // The reconciler acts through this node's own socket.
            proto::connect_lazy_to(
                &proto::Addr::Unix(socket_path.clone()),
                Duration::from_millis(config.limits.forward_timeout_ms),
            )?,
            Duration::from_millis(config.limits.stop_grace_ms),
            Duration::from_millis(config.limits.replica_move_after_ms),
            background.clone(),
        );
        spawn_announce(
            cluster.clone(),
            config.labels.clone(),
            tls.as_ref().map(|t| proto::tls::hex(&t.node_fingerprint)),
            background.clone(),
        );

        if let Some(addr) = &config.metrics_listen {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot serve metrics on {addr}"))?;
            tracing::info!(addr = %listener.local_addr()?, "serving metrics");
            metrics::serve(listener, table.clone(), cluster.clone(), background.clone());
        }
        let addr_file = data.path.join(LISTEN_ADDR_FILE);
        let scheme = if tls.is_some() { "https" } else { "http" };
        records::write_atomically(&addr_file, format!("{scheme}://{listen_addr}\n").as_bytes())?;
        tracing::info!(
            node = %ctx.name,
            slot = %ctx.slot,
            listen = %listen,
            advertise = %listen_addr,
            tls = tls.is_some(),
            socket = %socket_path.display(),
            data_dir = %data.path.display(),
            "noded serving"
        );
        // systemd's Type=notify: ready now (a no-op without NOTIFY_SOCKET). The
        // variable stays set: children never see it (their environment is
        // cleared), and removing it would race other threads.
        notify_service_manager(&[sd_notify::NotifyState::Ready]);

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

        Ok(Node {
            config,
            table,
            cluster,
            gossip,
            background,
            stop_serving,
            servers: [tcp_server, unix_server],
            janitor,
            decommission,
            socket_path,
            addr_file,
            data,
        })
    }

    /// Stops the node, in this order: refuse spawns; with `--stop-processes`
    /// (or when decommissioned), SIGTERM every process group (SIGKILL after
    /// the grace period), else leave them to the keeper; with
    /// `--leave-on-exit` (or when decommissioned), leave the cluster; stop the
    /// background tasks, raft and gossip; stop serving (open streams get a
    /// bounded drain); remove the socket and the address file.
    pub async fn shutdown(self) {
        let Node {
            config,
            table,
            cluster,
            gossip,
            background,
            stop_serving,
            servers,
            janitor,
            decommission,
            socket_path,
            addr_file,
            data,
        } = self;
        tracing::info!("shutting down");
        notify_service_manager(&[sd_notify::NotifyState::Stopping]);
        let decommission = decommission.load(std::sync::atomic::Ordering::SeqCst);
        if config.stop_processes || decommission {
            table.stop_all(config.limits.stop_grace()).await;
        } else {
            table.stop_accepting();
            tracing::info!(
                running = table.running_count(),
                "leaving the processes to the keeper"
            );
            // Those started since the publisher's last round too.
            lost::publish_now(&table, &cluster, PUBLISH_AT_STOP).await;
        }
        janitor.abort();
        if config.leave_on_exit || decommission {
            cluster.leave(LEAVE_TIMEOUT).await;
        }
        background.cancel();
        cluster.shutdown_raft().await;
        gossip.shutdown().await;
        stop_serving.cancel();
        for server in servers {
            if tokio::time::timeout(DRAIN_RPCS, server).await.is_err() {
                tracing::warn!("open API streams did not finish; closing them");
            }
        }
        let _ = std::fs::remove_file(&socket_path);
        let _ = std::fs::remove_file(&addr_file);
        // The data dir's lock goes last.
        drop(data);
        tracing::info!("stopped");
    }
}

/// Records this node in the store (its address may have changed since it
/// last ran), retrying until the store has a leader.
fn spawn_announce(
    cluster: Arc<Cluster>,
    labels: std::collections::BTreeMap<String, String>,
    cert: Option<String>,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        let command = cluster::state::Command::Join {
            name: cluster.name.clone(),
            addr: cluster.addr.clone(),
            labels,
            slot: Some(cluster.slot),
            cert,
            token: None,
        };
        loop {
            match cluster.write(command.clone(), false).await {
                Ok(cluster::state::Reply::Joined { .. }) => return,
                Ok(other) => {
                    tracing::error!(reply = ?other, "the cluster refused this node");
                    return;
                }
                Err(e) => tracing::debug!(error = %e, "cannot announce this node yet"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    });
}

/// Tells systemd (if it started this noded) how it is doing.
fn notify_service_manager(states: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(error = %e, "cannot notify the service manager");
    }
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
/// one a live noded still serves on. A root noded opens it to every local
/// user (each is identified by the kernel and sees only their own
/// processes, SPEC §9); a non-root noded keeps it private to its owner,
/// since everything it starts runs as that owner.
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
    let mode = if nix::unistd::geteuid().is_root() {
        0o666
    } else {
        0o600
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of socket {}", path.display()))?;
    Ok(listener)
}
