//! `nefele-proc-exec [--view DIR] [--addr ADDR] [CMD [ARGS...]]`: runs CMD in
//! a cluster session (SPEC §11): the cluster's processes are its /proc, so
//! unmodified procps (`ps`, `top`, `pgrep`, `pstree`) shows every node's
//! processes (docs/procps.md), and the signals CMD and its descendants
//! send to cluster PIDs (`kill`, `pkill`, `killall`, top's `k`) reach them
//! through the node at ADDR (`nefelefs::session`).
//!
//! In a private mount namespace it binds the host's real /proc at
//! `/run/nefele/hostproc` (where nefelefs points `self` and the caller's own
//! PID), binds the procps view of the nefelefs mounted at DIR (default
//! `/nefele`; see `nefelefs::mount::procps_view_path`) over `/proc`.
//! Without that view it binds `DIR/proc`: the same files, at about twice
//! the cost per file. It needs root (CAP_SYS_ADMIN). Then it forks CMD
//! (default `$SHELL`) under the session's seccomp filter and stays as its
//! supervisor, exiting as CMD exits.

use std::convert::Infallible;
use std::ffi::CString;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};

fn main() -> std::process::ExitCode {
    match run() {
        Ok(never) => match never {},
        Err(e) => {
            // As env(1) and timeout(1): 125 when the launcher itself fails;
            // 126 and 127 are left to "cannot run" and "not found".
            eprintln!("nefele-proc-exec: {e:#}");
            std::process::ExitCode::from(125)
        }
    }
}

const USAGE: &str = "usage: nefele-proc-exec [--view DIR] [--addr ADDR] [CMD [ARGS...]]";

fn usage() -> anyhow::Error {
    anyhow::anyhow!(USAGE)
}

fn run() -> anyhow::Result<Infallible> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut view = PathBuf::from("/nefele");
    let mut addr = None;
    while let Some(first) = args.first() {
        match first.as_str() {
            "--view" if args.len() >= 2 => {
                view = PathBuf::from(&args[1]);
                args.drain(..2);
            }
            "--addr" if args.len() >= 2 => {
                addr = Some(args[1].parse::<proto::Addr>()?);
                args.drain(..2);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                println!(
                    "Run CMD in a Nefele cluster session: the cluster's processes are its /proc\n\
                     (the procps view of the nefelefs mounted at DIR, default /nefele, else\n\
                     DIR/proc), and signals that CMD and its children send to cluster PIDs\n\
                     (kill, pkill, killall, top) reach them through the node at ADDR\n\
                     (default $NEFELE_ADDR, else the node's socket). Without CMD, runs $SHELL\n\
                     (else bash): a shell where the standard tools act on the whole cluster."
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
    if args.first().is_some_and(|a| a.starts_with("--")) {
        return Err(usage());
    }
    if args.is_empty() {
        // As unshare(1) does: the user's shell, here a cluster shell.
        args.push(std::env::var("SHELL").unwrap_or_else(|_| "bash".into()));
    }
    let addr = match addr {
        Some(addr) => addr,
        None => proto::default_addr()?,
    };
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
    let views = [PathBuf::from("/proc"), view.join("proc")];
    nefelefs::session::run(argv, addr, host_proc.to_path_buf(), &views)
}
