//! `nefele-proc-exec [--view DIR] CMD [ARGS...]`: runs CMD with the
//! cluster's processes as its /proc, so unmodified procps (`ps`, `top`,
//! `pgrep`, `pstree`) shows every node's processes (docs/procps.md).
//!
//! In a private mount namespace it binds the host's real /proc at
//! `/run/nefele/hostproc` (where nefelefs points `self` and the caller's own
//! PID), binds the procps view of the nefelefs mounted at DIR (default
//! `/nefele`; see `nefelefs::mount::procps_view_path`) over `/proc`, and
//! execs CMD. Without that view it binds `DIR/proc`: the same files, at
//! about twice the cost per file. It needs root (CAP_SYS_ADMIN).

use std::ffi::CString;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};

fn main() -> std::process::ExitCode {
    match run() {
        Ok(never) => match never {},
        Err(e) => {
            eprintln!("nefele-proc-exec: {e:#}");
            std::process::ExitCode::from(127)
        }
    }
}

enum Never {}

fn usage() -> anyhow::Error {
    anyhow::anyhow!("usage: nefele-proc-exec [--view DIR] CMD [ARGS...]")
}

fn run() -> anyhow::Result<Never> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut view = PathBuf::from("/nefele");
    while let Some(first) = args.first() {
        match first.as_str() {
            "--view" if args.len() >= 2 => {
                view = PathBuf::from(&args[1]);
                args.drain(..2);
            }
            "-h" | "--help" => {
                println!("usage: nefele-proc-exec [--view DIR] CMD [ARGS...]");
                println!(
                    "Run CMD with the Nefele cluster's processes as /proc: the procps view of the\n\
                     nefelefs mounted at DIR (default /nefele), else DIR/proc."
                );
                std::process::exit(0);
            }
            "--" => {
                args.remove(0);
                break;
            }
            _ => break,
        }
    }
    if args.is_empty() {
        return Err(usage());
    }
    let full_proc = view.join("proc");
    if full_proc.join("self").symlink_metadata().is_err() {
        bail!(
            "no nefelefs mount at {}: start `nefelefs {}` first",
            view.display(),
            view.display()
        );
    }
    let procps_view = std::fs::canonicalize(&view)
        .map(|v| nefelefs::mount::procps_view_path(&v))
        .ok()
        .filter(|v| v.join("self").symlink_metadata().is_ok());
    let cluster_proc = procps_view.unwrap_or(full_proc);
    let host_proc = Path::new(nefelefs::fs::DEFAULT_HOST_PROC);

    unshare(CloneFlags::CLONE_NEWNS).context("cannot make a mount namespace (needs root)")?;
    // Nothing done here may leak back to the host's mounts.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("cannot make mounts private")?;
    std::fs::create_dir_all(host_proc)
        .with_context(|| format!("cannot create {}", host_proc.display()))?;
    mount(
        Some("/proc"),
        host_proc,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .context("cannot bind the host's /proc")?;
    mount(
        Some(&cluster_proc),
        "/proc",
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_context(|| format!("cannot bind {} over /proc", cluster_proc.display()))?;

    let argv: Vec<CString> = args
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .context("an argument contains a NUL byte")?;
    let err = nix::unistd::execvp(&argv[0], &argv).unwrap_err();
    bail!("cannot run {}: {err}", args[0])
}
