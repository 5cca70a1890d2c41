//! The nefelefs binary: `nefelefs [--addr ADDR] [MOUNTPOINT]` mounts the
//! cluster in the foreground and unmounts cleanly on SIGTERM or SIGINT.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use nefelefs::backend::ApiBackend;
use nefelefs::fs::NefeleFs;
use nefelefs::fuse::Adapter;

/// The cluster's processes as files.
#[derive(Debug, Parser)]
#[command(
    name = "nefelefs",
    version,
    about = "Mount the Nefele cluster's processes as files (SPEC §4)"
)]
struct Args {
    /// Node to talk to: unix:/path/to.sock or http://host:port [default: $NEFELE_ADDR, else the default socket]
    #[arg(long, value_name = "ADDR")]
    addr: Option<String>,
    /// Where to mount
    #[arg(default_value = "/nefele")]
    mountpoint: PathBuf,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nefelefs: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let addr = match &args.addr {
        Some(a) => a.parse()?,
        None => proto::default_addr()?,
    };
    let mountpoint = std::path::absolute(&args.mountpoint)?;
    nefelefs::mount::prepare(&mountpoint)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let backend = {
        let _enter = runtime.enter();
        ApiBackend::new(&addr)
    };
    let adapter = Adapter::new(NefeleFs::new(backend), runtime.handle().clone());
    let notifier = adapter.notifier_slot();
    let session = fuser::spawn_mount(adapter, &mountpoint, &nefelefs::mount::config())
        .with_context(|| format!("cannot mount at {}", mountpoint.display()))?;
    let _ = notifier.set(session.notifier());
    tracing::info!(mountpoint = %mountpoint.display(), node = %addr, "mounted");

    runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                // Someone ran umount: the session ends by itself.
                _ = tokio::time::sleep(Duration::from_millis(500)) => {
                    if session.guard.is_finished() {
                        tracing::info!("unmounted from outside");
                        return Ok::<_, anyhow::Error>(());
                    }
                }
            }
        }
        Ok(())
    })?;
    tracing::info!("unmounting");
    if !session.guard.is_finished() {
        session.umount_and_join().context("cannot unmount")?;
    }
    Ok(())
}
