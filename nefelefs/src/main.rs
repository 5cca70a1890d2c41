//! The nefelefs binary: `nefelefs [--addr ADDR] [MOUNTPOINT]` mounts the
//! cluster in the foreground, with its procps view beside it (see
//! [`nefelefs::mount::procps_view_path`]), and unmounts both cleanly on
//! SIGTERM or SIGINT.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use fuser::BackgroundSession;
use nefelefs::backend::ApiBackend;
use nefelefs::fs::{DEFAULT_HOST_PROC, NefeleFs, View};
use nefelefs::fuse::Adapter;
use tokio::runtime::Runtime;

/// The cluster's processes as files.
#[derive(Debug, Parser)]
#[command(
    name = "nefelefs",
    version,
    about = "Mount the Nefele cluster's processes as files (SPEC §4)"
)]
struct Args {
    /// Node to talk to: unix:/path/to.sock, https://host:port (TLS) or http://host:port (--insecure nodes) [default: $NEFELE_ADDR, else the default socket]
    #[arg(long, value_name = "ADDR")]
    addr: Option<String>,
    /// The cluster CA (PEM) to verify a node reached over TLS [default: $NEFELE_CA]
    #[arg(long, value_name = "FILE", env = "NEFELE_CA")]
    ca: Option<PathBuf>,
    /// Members of GROUP see every user's processes, as root does (give
    /// noded's --admin-group); other users see only their own
    #[arg(long, value_name = "GROUP")]
    admin_group: Option<String>,
    /// Serve Prometheus metrics (FUSE requests by view and operation,
    /// errors by errno) at http://HOST:PORT/metrics
    #[arg(long, value_name = "HOST:PORT")]
    metrics_listen: Option<String>,
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
    if let Some(ca) = &args.ca {
        // SAFETY: no other thread runs yet (the runtime starts below), so
        // nothing reads the environment concurrently.
        unsafe { std::env::set_var("NEFELE_CA", ca) };
    }
    let addr = match &args.addr {
        Some(a) => a.parse()?,
        None => proto::default_addr()?,
    };
    let mountpoint = std::path::absolute(&args.mountpoint)?;
    nefelefs::mount::prepare(&mountpoint)?;
    let runtime = Runtime::new().context("cannot start the async runtime")?;
    // Bound before mounting: a taken port fails the start, not a mount.
    let stop_metrics = tokio_util::sync::CancellationToken::new();
    if let Some(listen) = &args.metrics_listen {
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(listen))
            .with_context(|| format!("cannot serve metrics on {listen}"))?;
        tracing::info!(addr = %listener.local_addr()?, "serving metrics");
        let _enter = runtime.enter();
        scrape::serve(
            listener,
            std::sync::Arc::new(|| nefelefs::metrics::METRICS.render()),
            stop_metrics.clone(),
        );
    }
    let session = mount(
        &runtime,
        &addr,
        &mountpoint,
        View::Full,
        args.admin_group.clone(),
    )?;
    tracing::info!(mountpoint = %mountpoint.display(), node = %addr, "mounted");
    nefelefs::mount::sweep_dead_views();
    let view_path = nefelefs::mount::procps_view_path(&std::fs::canonicalize(&mountpoint)?);
    // Without the procps view, nefele-proc-exec binds the full view's
    // proc/ instead: slower, but the same content.
    let procps = nefelefs::mount::prepare(&view_path)
        .and_then(|()| mount(&runtime, &addr, &view_path, View::Procps, None))
        .inspect_err(|e| tracing::warn!("no procps view: {e:#}"))
        .ok();

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
    stop_metrics.cancel();
    if let Some(procps) = procps {
        if !procps.guard.is_finished()
            && let Err(e) = procps.umount_and_join()
        {
            tracing::warn!("cannot unmount the procps view: {e}");
        }
        let _ = std::fs::remove_dir(&view_path);
    }
    if !session.guard.is_finished() {
        session.umount_and_join().context("cannot unmount")?;
    }
    Ok(())
}

/// Mounts `view` of the cluster at `at`, served on `runtime`.
fn mount(
    runtime: &Runtime,
    addr: &proto::Addr,
    at: &Path,
    view: View,
    admin_group: Option<String>,
) -> anyhow::Result<BackgroundSession> {
    let backend = {
        let _enter = runtime.enter();
        ApiBackend::new(addr)?
    };
    let mut fs = NefeleFs::with_view(backend, DEFAULT_HOST_PROC, view);
    let admin_gid = match &admin_group {
        Some(name) => Some(
            nix::unistd::Group::from_name(name)
                .ok()
                .flatten()
                .with_context(|| format!("--admin-group {name}: no such group on this machine"))?
                .gid
                .as_raw(),
        ),
        None => None,
    };
    fs.set_admin_gid(admin_gid);
    let adapter = Adapter::new(fs, runtime.handle().clone())
        .context("cannot start the notification thread")?
        .with_admin_group(admin_group);
    let notifier = adapter.notifier_slot();
    let config = match view {
        View::Full => nefelefs::mount::config(),
        View::Procps => nefelefs::mount::config_named("nefele-procps"),
    };
    let session = fuser::spawn_mount(adapter, at, &config)
        .with_context(|| format!("cannot mount at {}", at.display()))?;
    let _ = notifier.set(session.notifier());
    Ok(session)
}
