//! Reaping: every child on each SIGCHLD (kept leaders and adopted
//! orphans), then each kept process's exit, published once its output has
//! drained.

use super::*;

/// Reaps every child that has ended, on each SIGCHLD: kept leaders (their
/// status goes to their `finish` task) and orphans the keeper adopted as
/// subreaper (nothing to report).
pub(super) async fn reap_children(keeper: Arc<Keeper>, mut children: tokio::signal::unix::Signal) {
    loop {
        loop {
            let mut status = 0;
            // SAFETY: rusage is plain data, fully written by wait4 on success.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: valid pointers to locals; WNOHANG never blocks.
            let pid = unsafe { libc::wait4(-1, &mut status, libc::WNOHANG, &mut usage) };
            if pid <= 0 {
                break;
            }
            let Some(kept) = lock(&keeper.by_host).remove(&pid) else {
                continue;
            };
            kept.reaped.store(true, Ordering::SeqCst);
            let ms = |tv: libc::timeval| tv.tv_sec as u64 * 1000 + tv.tv_usec as u64 / 1000;
            if let Some(tx) = lock(&kept.on_reaped).take() {
                let _ = tx.send(Reaped {
                    status,
                    cpu_time_ms: ms(usage.ru_utime) + ms(usage.ru_stime),
                    rss_bytes: usage.ru_maxrss as u64 * 1024,
                });
            }
        }
        if children.recv().await.is_none() {
            return;
        }
    }
}

/// After the reap: lets the output drain, closes the terminal, publishes the
/// exit and tells noded (final output positions first).
pub(super) async fn finish(
    keeper: Arc<Keeper>,
    kept: Arc<Kept>,
    reaped: oneshot::Receiver<Reaped>,
) {
    let reaped = reaped.await;
    // With backpressure the pumps may be holding output in the pipes for a
    // reader: the process is gone, so read it all now.
    kept.stdout.lift_window();
    kept.stderr.lift_window();
    let grace = tokio::time::sleep(OUTPUT_DRAIN_GRACE);
    tokio::pin!(grace);
    for log in [&kept.stdout, &kept.stderr] {
        let mut pos = log.subscribe();
        tokio::select! {
            _ = pos.wait_for(|p| p.closed) => {}
            _ = &mut grace => {}
        }
    }
    lock(&kept.pty).take();
    lock(&kept.stdin).take();
    let end_time_ms = proto::now_ms();
    let mut exited = k::Exited {
        pid: kept.pid.as_raw(),
        end_time_ms,
        ..Default::default()
    };
    match reaped {
        Ok(r) => {
            exited.cpu_time_ms = r.cpu_time_ms;
            exited.rss_bytes = r.rss_bytes;
            exited.outcome = Some(if libc::WIFSIGNALED(r.status) {
                exited.core_dumped = libc::WCOREDUMP(r.status);
                k::exited::Outcome::Signal(libc::WTERMSIG(r.status))
            } else {
                k::exited::Outcome::Code(libc::WEXITSTATUS(r.status))
            });
        }
        Err(_) => exited.outcome = Some(k::exited::Outcome::Lost("not reaped".into())),
    }
    kept.exited.send_replace(Some(exited.clone()));
    for stream in [Stream::Stdout, Stream::Stderr] {
        keeper.send(k::from_keeper::Body::Output(output_state(&kept, stream)));
    }
    keeper.send(k::from_keeper::Body::Exited(exited));
}
