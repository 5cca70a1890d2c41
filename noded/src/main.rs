//! The noded binary: flags (SPEC §2), logging, signals; everything else is
//! in the library's `run`. `noded token ...` and `noded node rm` act
//! through the local node's socket (admin_cmd.rs).

mod admin_cmd;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use noded::config::{self, Config, FileConfig};
use tokio_util::sync::CancellationToken;

/// The Nefele node daemon.
#[derive(Debug, Parser)]
#[command(
    name = "noded",
    version,
    about = "Nefele node daemon: runs and supervises cluster processes",
    args_conflicts_with_subcommands = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Node name, unique in the cluster [default: the host name, or the one in the data dir]
    #[arg(long)]
    name: Option<String>,
    /// Address for the gRPC API (peers and clients); 0.0.0.0:PORT or [::]:PORT serves on every interface [default: 127.0.0.1:7070]
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// Address peers and clients dial [default: the listen address; for a wildcard listen, the default route's address]
    #[arg(long, value_name = "HOST:PORT")]
    advertise: Option<String>,
    /// Join the cluster this member belongs to (repeatable)
    #[arg(long, value_name = "HOST:PORT")]
    join: Vec<String>,
    /// Join token of a new node (`noded token create` on a member); not needed on restarts
    #[arg(
        long,
        value_name = "TOKEN",
        env = "NEFELE_JOIN_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// Members of GROUP see and act on every user's processes, as root does
    #[arg(long, value_name = "GROUP")]
    admin_group: Option<String>,
    /// Stop every process of this node when noded stops or dies (by default they outlive it, held by the keeper)
    #[arg(long)]
    stop_processes: bool,
    /// Leave the cluster for good on SIGTERM (by default a stop is a restart: the node shows down, then comes back)
    #[arg(long)]
    leave_on_exit: bool,
    /// Serve Prometheus metrics at http://HOST:PORT/metrics (plain HTTP: bind it to an address only your monitoring reaches)
    #[arg(long, value_name = "HOST:PORT")]
    metrics_listen: Option<String>,
    /// No TLS and no certificates: plain-text TCP, every TCP peer trusted as a node (tests and loopback development only)
    #[arg(long)]
    insecure: bool,
    /// Data directory [default: /var/lib/nefele for root, else ~/.local/share/nefele]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Unix socket for local clients [default: /run/nefele/noded.sock for root, else $XDG_RUNTIME_DIR/nefele/noded.sock]
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Node label for placement (repeatable)
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = config::parse_label)]
    labels: Vec<(String, String)>,
    /// TOML config file; flags override it [default: /etc/nefele/noded.toml if it exists]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Join and user tokens: make, list and revoke them (root, on the node's socket)
    #[command(subcommand)]
    Token(admin_cmd::TokenCmd),
    /// Members: remove one for good (root, on the node's socket)
    #[command(subcommand)]
    Node(admin_cmd::NodeCmd),
    /// Decommission this node: stop its processes, leave the cluster for good, exit (root, on the node's socket)
    Leave {
        /// The node's socket [default: the default socket]
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
    },
    /// The node's keeper, which holds its processes (noded starts it)
    #[command(hide = true)]
    Keeper {
        /// The data directory whose processes it keeps
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
    },
}

impl Args {
    fn into_config(self) -> anyhow::Result<Config> {
        let default_config = std::path::Path::new(config::DEFAULT_CONFIG);
        let file = match &self.config {
            Some(path) => FileConfig::load(path)?,
            None if default_config.exists() => FileConfig::load(default_config)?,
            None => FileConfig::default(),
        };
        let mut labels = file.labels;
        labels.extend(self.labels);
        let name = self.name.or(file.name);
        if let Some(name) = &name {
            config::validate_name(name)?;
        }
        Ok(Config {
            name,
            listen: self
                .listen
                .or(file.listen)
                .unwrap_or_else(|| config::DEFAULT_LISTEN.to_string()),
            advertise: self.advertise.or(file.advertise),
            insecure: self.insecure || file.insecure,
            stop_processes: self.stop_processes || file.stop_processes,
            leave_on_exit: self.leave_on_exit || file.leave_on_exit,
            metrics_listen: self.metrics_listen.or(file.metrics_listen),
            token: self.token.or(file.token),
            admin_group: self.admin_group.or(file.admin_group),
            join: if self.join.is_empty() {
                file.join
            } else {
                self.join
            },
            data_dir: self
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(config::default_data_dir),
            socket: self
                .socket
                .or(file.socket)
                .unwrap_or_else(proto::default_socket_path),
            labels,
            limits: file.limits,
        })
    }
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut args = Args::parse();
    let result = match args.command.take() {
        Some(Cmd::Token(cmd)) => admin_cmd::run(cmd),
        Some(Cmd::Node(cmd)) => admin_cmd::run_node(cmd),
        Some(Cmd::Leave { socket }) => admin_cmd::run_leave(socket),
        Some(Cmd::Keeper { data_dir }) => noded::keeper::server::run(&data_dir),
        None => {
            noded::memcpy_tuning::restart_tuned();
            start(args)
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("noded: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn start(args: Args) -> anyhow::Result<()> {
    let config = args.into_config()?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(watch_signals(shutdown.clone()));
        noded::run(config, shutdown).await
    })
}

/// Cancels `shutdown` on the first SIGTERM or SIGINT.
async fn watch_signals(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM"),
            _ = int.recv() => tracing::info!("SIGINT"),
        }
        if shutdown.is_cancelled() {
            tracing::warn!("already shutting down");
        }
        shutdown.cancel();
    }
}
