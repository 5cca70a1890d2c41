//! The one thread that forks. Children are started with
//! `PR_SET_PDEATHSIG`, which fires when the *thread* that forked them exits,
//! not the process; a tokio blocking-pool thread can exit at any time, so all
//! forks happen here, on a thread that lives as long as noded.

use std::process::{Child, Command};
use std::sync::mpsc;

use tokio::sync::oneshot;

type Job = (Command, oneshot::Sender<std::io::Result<Child>>);

/// Handle to the spawning thread.
#[derive(Clone, Debug)]
pub struct Spawner {
    jobs: mpsc::Sender<Job>,
}

impl Spawner {
    /// Starts the thread. It runs until every handle is dropped.
    pub fn start() -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("spawner".into())
            .spawn(move || {
                for (mut command, reply) in queue {
                    let _ = reply.send(command.spawn());
                }
            })?;
        Ok(Spawner { jobs })
    }

    /// Spawns `command` on the spawning thread.
    pub async fn spawn(&self, command: Command) -> std::io::Result<Child> {
        let (reply, answer) = oneshot::channel();
        let gone = || std::io::Error::other("the spawner thread has stopped");
        self.jobs.send((command, reply)).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}
