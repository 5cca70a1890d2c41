//! noded's side of the keeper: finds the running keeper of the data dir (or
//! starts one), says Hello, and then carries requests (each answered by a
//! `Reply` with its id) and events (output grew, a process ended) between
//! the process table and the keeper.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use prost::Message;
use proto::keeper as k;
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// How long a connection attempt and its Hello may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a new keeper has to open its socket.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a request other than stdin may wait for its reply.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Something the keeper reports on its own.
#[derive(Debug)]
pub enum Event {
    /// A log grew, closed, or was read further.
    Output(k::Output),
    /// A process ended and its output is drained.
    Exited(k::Exited),
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The keeper answered with a failure.
    #[error("{message}")]
    Failed {
        /// errno, 0 if none applies.
        errno: i32,
        /// What the keeper said.
        message: String,
    },
    /// The connection is gone (the keeper died).
    #[error("the node's keeper is gone")]
    Gone,
    /// No reply in time.
    #[error("the node's keeper did not answer in time")]
    Timeout,
}

/// One connection to the keeper.
#[derive(Debug)]
pub struct KeeperLink {
    tx: mpsc::UnboundedSender<k::ToKeeper>,
    pending: Mutex<HashMap<u64, oneshot::Sender<k::reply::Body>>>,
    next_id: AtomicU64,
    /// Cancelled when the connection ends.
    pub gone: CancellationToken,
    /// The keeper's host PID.
    pub keeper_pid: AtomicI32,
}

/// A fresh connection: the link, what the keeper holds, and its events.
#[derive(Debug)]
pub struct Connected {
    /// For requests.
    pub link: Arc<KeeperLink>,
    /// The processes the keeper holds (to adopt).
    pub welcome: k::Welcome,
    /// Output and exit events, in order; ends when the keeper is gone.
    pub events: mpsc::UnboundedReceiver<Event>,
}

impl KeeperLink {
    /// Sends a request and waits for its reply (`None`: no time limit, for
    /// stdin, which waits like a pipe write).
    pub async fn request(
        &self,
        body: k::to_keeper::Body,
        limit: Option<Duration>,
    ) -> Result<k::reply::Body, LinkError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        let sent = self.tx.send(k::ToKeeper {
            id,
            body: Some(body),
        });
        if sent.is_err() {
            lock(&self.pending).remove(&id);
            return Err(LinkError::Gone);
        }
        let reply = async {
            tokio::select! {
                r = rx => r.map_err(|_| LinkError::Gone),
                _ = self.gone.cancelled() => Err(LinkError::Gone),
            }
        };
        let reply = match limit {
            Some(limit) => match tokio::time::timeout(limit, reply).await {
                Ok(r) => r,
                Err(_) => {
                    lock(&self.pending).remove(&id);
                    Err(LinkError::Timeout)
                }
            },
            None => reply.await,
        }?;
        match reply {
            k::reply::Body::Failure(f) => Err(LinkError::Failed {
                errno: f.errno,
                message: f.message,
            }),
            other => Ok(other),
        }
    }

    /// Sends a message whose reply does not matter.
    pub fn notify(&self, body: k::to_keeper::Body) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.send(k::ToKeeper {
            id,
            body: Some(body),
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Connects to the data dir's keeper, starting one if none answers.
/// `bound`: the keeper stops every process when this connection ends.
pub async fn connect(data_dir: &Path, bound: bool) -> anyhow::Result<Connected> {
    match try_connect(data_dir, bound).await {
        Ok(c) => {
            tracing::info!(
                keeper = c.link.keeper_pid.load(Ordering::Relaxed),
                kept = c.welcome.processes.len(),
                "found the node's keeper"
            );
            return Ok(c);
        }
        Err(e @ LinkError::Failed { .. }) => {
            anyhow::bail!("the keeper of {} refused noded: {e}", data_dir.display())
        }
        Err(_) => {}
    }
    start_keeper(data_dir)?;
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    loop {
        match try_connect(data_dir, bound).await {
            Ok(c) => {
                tracing::info!(
                    keeper = c.link.keeper_pid.load(Ordering::Relaxed),
                    "started the node's keeper"
                );
                return Ok(c);
            }
            Err(e) if tokio::time::Instant::now() >= deadline => anyhow::bail!(
                "the keeper did not start (see {}): {e}",
                super::log_path(data_dir).display()
            ),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Starts `noded keeper` in a session of its own, so it outlives noded and
/// no terminal signal reaches it.
fn start_keeper(data_dir: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(super::log_path(data_dir))
        .with_context(|| format!("cannot open {}", super::log_path(data_dir).display()))?;
    let mut command = tokio::process::Command::new("/proc/self/exe");
    command
        .arg0("noded")
        .arg("keeper")
        .arg("--data-dir")
        .arg(data_dir)
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    if let Ok(filter) = std::env::var("RUST_LOG") {
        command.env("RUST_LOG", filter);
    }
    if let Some(tunables) = crate::memcpy_tuning::tuned() {
        command.env("GLIBC_TUNABLES", tunables);
    }
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid()?;
            Ok(())
        });
    }
    let mut child = command.spawn().context("cannot start the keeper")?;
    // Reaped here if it exits while this noded runs.
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    Ok(())
}

async fn try_connect(data_dir: &Path, bound: bool) -> Result<Connected, LinkError> {
    let stream = tokio::time::timeout(
        CONNECT_TIMEOUT,
        UnixStream::connect(super::socket_path(data_dir)),
    )
    .await
    .map_err(|_| LinkError::Timeout)?
    .map_err(|_| LinkError::Gone)?;
    let (mut sink, mut source) =
        StreamExt::split::<tokio_util::bytes::Bytes>(super::framed(stream));
    let (tx, mut rx) = mpsc::unbounded_channel::<k::ToKeeper>();
    let (events_tx, events) = mpsc::unbounded_channel();
    let gone = CancellationToken::new();
    let link = Arc::new(KeeperLink {
        tx,
        pending: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(1),
        gone: gone.clone(),
        keeper_pid: AtomicI32::new(0),
    });
    tokio::spawn({
        let gone = gone.clone();
        async move {
            loop {
                tokio::select! {
                    msg = rx.recv() => match msg {
                        Some(msg) => {
                            if sink.send(msg.encode_to_vec().into()).await.is_err() {
                                break;
                            }
                        }
                        None => break,
                    },
                    _ = gone.cancelled() => break,
                }
            }
        }
    });
    tokio::spawn({
        let link = link.clone();
        let gone = gone.clone();
        async move {
            while let Some(Ok(frame)) = source.next().await {
                let Ok(msg) = k::FromKeeper::decode(frame.freeze()) else {
                    tracing::warn!("undecodable message from the keeper");
                    break;
                };
                match msg.body {
                    Some(k::from_keeper::Body::Reply(reply)) => {
                        let waiter = lock(&link.pending).remove(&reply.id);
                        if let (Some(waiter), Some(body)) = (waiter, reply.body) {
                            let _ = waiter.send(body);
                        }
                    }
                    Some(k::from_keeper::Body::Output(o)) => {
                        let _ = events_tx.send(Event::Output(o));
                    }
                    Some(k::from_keeper::Body::Exited(e)) => {
                        let _ = events_tx.send(Event::Exited(e));
                    }
                    None => {}
                }
            }
            gone.cancel();
        }
    });
    let hello = k::to_keeper::Body::Hello(k::Hello {
        version: super::VERSION,
        bound,
    });
    let welcome = match link.request(hello, Some(CONNECT_TIMEOUT)).await {
        Ok(k::reply::Body::Welcome(w)) => w,
        Ok(_) => {
            gone.cancel();
            return Err(LinkError::Failed {
                errno: 0,
                message: "the keeper answered Hello with something else".into(),
            });
        }
        Err(e) => {
            gone.cancel();
            return Err(e);
        }
    };
    link.keeper_pid.store(welcome.keeper_pid, Ordering::Relaxed);
    Ok(Connected {
        link,
        welcome,
        events,
    })
}
