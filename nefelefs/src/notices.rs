//! Kernel notifications (page-cache stores and invalidations) and the
//! replies that must follow them, made on one thread of their own.
//!
//! A store or an invalidation waits for the locks of the file's pages, and
//! a page stays locked while the kernel waits for a READ of it. That READ
//! is answered by a FUSE thread (or a tokio task), so those threads must
//! never make notifications themselves: with every FUSE thread waiting for
//! a page lock, the READ would never be answered. Here they hand the
//! notifications and the reply to this thread and go back to the kernel;
//! the reply goes out once the kernel has the notifications, so what it
//! announces (a size) never comes before the pages that match it.

use std::sync::mpsc;
use std::sync::{Arc, OnceLock};

use fuser::{INodeNo, Notifier};

/// One notification.
pub enum Notice {
    /// Put this content at the start of the inode's page cache.
    Store(u64, Arc<Vec<u8>>),
    /// Drop what the kernel keeps of the inode (pages and attributes).
    Inval(u64),
}

struct Job {
    notices: Vec<Notice>,
    then: Box<dyn FnOnce() + Send>,
}

/// The notification thread's inbox.
pub struct Notices {
    jobs: mpsc::Sender<Job>,
    notifier: Arc<OnceLock<Notifier>>,
}

impl Notices {
    /// Starts the thread; it ends when the `Notices` is dropped.
    pub fn start() -> std::io::Result<Notices> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let notifier = Arc::new(OnceLock::<Notifier>::new());
        let slot = notifier.clone();
        std::thread::Builder::new()
            .name("nefelefs-notices".into())
            .spawn(move || {
                for job in inbox {
                    if let Some(notifier) = slot.get() {
                        for notice in job.notices {
                            send(notifier, notice);
                        }
                    }
                    (job.then)();
                }
            })?;
        Ok(Notices { jobs, notifier })
    }

    /// Where the session's notifier goes once mounted; until then,
    /// notifications are skipped (the kernel has cached nothing yet).
    pub fn slot(&self) -> Arc<OnceLock<Notifier>> {
        self.notifier.clone()
    }

    /// Makes `notices`, then runs `then` (which replies to the kernel); at
    /// once, on this thread, when there are none.
    pub fn then(&self, notices: Vec<Notice>, then: impl FnOnce() + Send + 'static) {
        if notices.is_empty() {
            return then();
        }
        let job = Job {
            notices,
            then: Box::new(then),
        };
        // The thread is gone only if it panicked: reply anyway.
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            (job.then)();
        }
    }
}

fn send(notifier: &Notifier, notice: Notice) {
    match notice {
        Notice::Store(ino, bytes) => {
            // ENOENT: the kernel does not know the inode yet (its first
            // read asks). Any other failure: leave no pages that could
            // disagree with the size about to be sent.
            if let Err(e) = notifier.store(INodeNo(ino), 0, &bytes)
                && e.raw_os_error() != Some(libc::ENOENT)
            {
                let _ = notifier.inval_inode(INodeNo(ino), 0, 0);
            }
        }
        // Not cached by the kernel: nothing to drop.
        Notice::Inval(ino) => {
            let _ = notifier.inval_inode(INodeNo(ino), 0, 0);
        }
    }
}
