//! The noded binary: flags (SPEC §2), logging, signals; everything else is
//! in the library's `run`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use noded::config::{self, Config, FileConfig};
use tokio_util::sync::CancellationToken;

/// The Nefele node daemon.
#[derive(Debug, Parser)]
#[command(
    name = "noded",
    version,
    about = "Nefele node daemon: runs and supervises cluster processes"
)]
struct Args {
    /// Node name, unique in the cluster [default: the host name, or the one in the data dir]
    #[arg(long)]
    name: Option<String>,
    /// Address for the gRPC API (peers and clients) [default: 127.0.0.1:7070]
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// Join the cluster this member belongs to (repeatable)
    #[arg(long, value_name = "HOST:PORT")]
    join: Vec<String>,
    /// Data directory [default: /var/lib/nefele for root, else ~/.local/share/nefele]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Unix socket for local clients [default: /run/nefele/noded.sock for root, else $XDG_RUNTIME_DIR/nefele/noded.sock]
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Node label for placement (repeatable)
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = config::parse_label)]
    labels: Vec<(String, String)>,
    /// TOML config file; flags override it
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl Args {
    fn into_config(self) -> anyhow::Result<Config> {
        let file = match &self.config {
            Some(path) => FileConfig::load(path)?,
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
    match start(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("noded: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn start(args: Args) -> anyhow::Result<()> {
    let config = args.into_config()?;
    // Before the runtime: the guardian is forked while noded has one thread.
    let guardian = noded::guardian::Guardian::start().context("cannot start the guardian")?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(watch_signals(shutdown.clone()));
        noded::run(config, guardian, shutdown).await
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
