//! Cluster sessions (SPEC §11): `nefele-proc-exec` runs a command whose
//! signals to cluster PIDs reach the cluster. The command is forked with a
//! seccomp filter ([`filter`]) that hands kill(2) and its relatives aimed
//! at a cluster PID to the session's supervisor, the nefele-proc-exec
//! process itself, which answers them through the API ([`supervisor`]) over
//! the kernel's user-notification protocol ([`notify`]). Everything else
//! the command does runs untouched. docs/design/sessions.md has the why.

pub mod filter;
pub mod notify;
pub mod supervisor;

use std::convert::Infallible;
use std::ffi::CString;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use nix::sys::signal::{SigHandler, Signal, kill, signal};
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

use notify::Listener;
use supervisor::Supervisor;

/// Signals the supervisor passes on to the command. The terminal's
/// SIGINT, SIGQUIT and SIGTSTP reach the command by themselves (same
/// process group), so the supervisor ignores them ([`IGNORED`]); when the
/// command stops, the supervisor stops itself so the shell that started
/// the session sees its job stop.
const FORWARDED: [Signal; 4] = [
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// Signals from the terminal, which the command handles for itself.
const IGNORED: [Signal; 5] = [
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTSTP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
];

/// Runs `argv` in a cluster session and exits as it exits (same code, or
/// killed by the same signal). `addr` is the node the supervisor asks;
/// `host_proc` is the host's /proc (the caller's own /proc may be the
/// cluster view); `cluster_views` are the cluster /proc directories the
/// command may open. Call it while the process has one thread.
pub fn run(
    argv: Vec<CString>,
    addr: proto::Addr,
    host_proc: PathBuf,
    cluster_views: &[PathBuf],
) -> anyhow::Result<Infallible> {
    use std::os::unix::fs::MetadataExt;
    let cluster_devs = cluster_views
        .iter()
        .filter_map(|v| std::fs::metadata(v).ok())
        .map(|m| m.dev())
        .collect();
    let (parent_end, child_end) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("cannot make a socket pair")?;
    // SAFETY: the process has one thread (the caller's promise), so the
    // child may do anything before it execs.
    let child = match unsafe { fork() }.context("cannot fork")? {
        ForkResult::Child => {
            drop(parent_end);
            exec_filtered(&argv, child_end)
        }
        ForkResult::Parent { child } => child,
    };
    drop(child_end);
    let Some(listener) = receive_fd(&parent_end)? else {
        // The child could not install the filter; it said why.
        exit_like(wait_for(child));
    };
    drop(parent_end);
    let listener = Arc::new(Listener::new(listener));

    for sig in IGNORED {
        // SAFETY: installing SIG_IGN is always sound.
        unsafe { signal(sig, SigHandler::SigIgn) }.context("cannot ignore a signal")?;
    }
    std::thread::Builder::new()
        .name("session-wait".into())
        .spawn(move || exit_like(wait_for(child)))
        .context("cannot start the waiting thread")?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a runtime")?;
    let handle = runtime.handle().clone();
    runtime.block_on(async move {
        let channel = proto::connect_lazy_to(&addr, proto::DEFAULT_CONNECT_TIMEOUT)
            .with_context(|| format!("cannot use the node address {addr}"))?;
        let client = proto::v1::processes_client::ProcessesClient::new(channel);
        let supervisor = Supervisor::new(listener.clone(), client, host_proc, cluster_devs);
        std::thread::Builder::new()
            .name("session-recv".into())
            .spawn(move || {
                loop {
                    match listener.recv() {
                        Ok(Some(call)) => {
                            handle.spawn(supervisor.clone().answer(call));
                        }
                        Ok(None) => continue,
                        Err(e) => {
                            // Callers then get ENOSYS from the kernel.
                            tracing::warn!("cannot receive caught calls: {e}");
                            return;
                        }
                    }
                }
            })
            .context("cannot start the receiving thread")?;
        forward_signals(child).await
    })
}

/// In the child: install the filter, hand its listener to the parent,
/// exec. Never returns.
fn exec_filtered(argv: &[CString], to_parent: OwnedFd) -> ! {
    let listener = match filter::install() {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("nefele-proc-exec: cannot install the session's seccomp filter: {e}");
            // SAFETY: leaving the forked child without running the
            // parent's destructors.
            unsafe { libc::_exit(126) }
        }
    };
    let fds = [listener.as_raw_fd()];
    let sent = sendmsg::<()>(
        to_parent.as_raw_fd(),
        &[IoSlice::new(b"L")],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    );
    if let Err(e) = sent {
        eprintln!("nefele-proc-exec: cannot hand the listener over: {e}");
        // SAFETY: as above.
        unsafe { libc::_exit(126) }
    }
    // The command must not hold its own supervisor's listener.
    drop(listener);
    drop(to_parent);
    let err = nix::unistd::execvp(&argv[0], argv).unwrap_err();
    eprintln!(
        "nefele-proc-exec: cannot run {}: {}",
        argv[0].to_string_lossy(),
        err.desc()
    );
    let code = if err == nix::errno::Errno::ENOENT {
        127
    } else {
        126
    };
    // SAFETY: as above.
    unsafe { libc::_exit(code) }
}

/// The listener the child sent, or `None` when it sent none.
fn receive_fd(from_child: &OwnedFd) -> anyhow::Result<Option<OwnedFd>> {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = loop {
        match recvmsg::<()>(
            from_child.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other.context("cannot receive the session's listener")?,
        }
    };
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg
            && let Some(&fd) = fds.first()
        {
            // SAFETY: the kernel just installed this descriptor for us.
            return Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }));
        }
    }
    Ok(None)
}

/// Waits until the command exits or is killed; while it is stopped, the
/// supervisor stops too (so the shell that started the session sees the
/// job stop) and continues it when continued.
fn wait_for(child: Pid) -> WaitStatus {
    loop {
        match waitpid(child, Some(WaitPidFlag::WUNTRACED)) {
            Ok(WaitStatus::Stopped(..)) => {
                let _ = kill(Pid::this(), Signal::SIGSTOP);
                let _ = kill(child, Signal::SIGCONT);
            }
            Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => return status,
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                eprintln!("nefele-proc-exec: cannot wait for the command: {e}");
                return WaitStatus::Exited(child, 126);
            }
        }
    }
}

/// Ends this process as the command ended.
fn exit_like(status: WaitStatus) -> ! {
    if let WaitStatus::Signaled(_, sig, _) = status {
        // No core of ours for the command's crash.
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain libc calls; the default action ends the process.
        unsafe {
            libc::setrlimit(libc::RLIMIT_CORE, &no_core);
            let _ = signal(sig, SigHandler::SigDfl);
            let _ = nix::sys::signal::pthread_sigmask(
                nix::sys::signal::SigmaskHow::SIG_UNBLOCK,
                Some(&nix::sys::signal::SigSet::from(sig)),
                None,
            );
        }
        let _ = kill(Pid::this(), sig);
        std::process::exit(proto::signal_status(sig as i32));
    }
    match status {
        WaitStatus::Exited(_, code) => std::process::exit(code),
        _ => std::process::exit(126),
    }
}

/// Passes the [`FORWARDED`] signals on to the command, for ever.
async fn forward_signals(child: Pid) -> anyhow::Result<Infallible> {
    use tokio::signal::unix::{SignalKind, signal as listen};
    let mut streams = Vec::new();
    for sig in FORWARDED {
        let stream = listen(SignalKind::from_raw(sig as i32))
            .with_context(|| format!("cannot catch {sig}"))?;
        streams.push((sig, stream));
    }
    let mut set = tokio::task::JoinSet::new();
    for (sig, mut stream) in streams {
        set.spawn(async move {
            while stream.recv().await.is_some() {
                let _ = kill(child, sig);
            }
        });
    }
    while set.join_next().await.is_some() {}
    std::future::pending().await
}
