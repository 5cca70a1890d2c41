//! `OpenFifo`: FIFOs for process substitution whose command runs on this
//! node (`@n2 diff <(a) <(b)`). The shell cannot hand a process on another
//! machine a pipe of its own; instead this node makes a FIFO only the
//! caller's user can open (mode 0600, the user's) in a fresh directory
//! (`mkdtemp`) that stays the node's (mode 0711: the user can reach the
//! FIFO but can neither list nor change the directory, so nobody can
//! swap the FIFO for a link to another file before the node opens it; the
//! node also opens it without following links and checks it is a FIFO).
//! It answers the path, and connects the FIFO to the call: it writes the
//! client's bytes into it (FEED, `<(..)`) or sends what is written into it
//! (DRAIN, `>(..)`).
//!
//! Opening a FIFO waits for the other side. That wait lasts as long as the
//! call: when the client cancels it (its command ended without opening the
//! path), [`FifoDir`]'s drop opens the other side itself, without
//! blocking, so the waiting thread wakes, and removes the FIFO.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use proto::v1::{FifoDirection, FifoEvent, FifoOpen, FifoRequest, fifo_event, fifo_request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tonic::{Status, Streaming};

use super::ApiState;
use super::route::{Target, outgoing, remote_error};
use crate::auth::Principal;
use crate::error::ProcError;

/// What OpenFifo answers.
pub type FifoStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<FifoEvent, Status>> + Send>>;

/// `OpenFifo`: here, or forwarded to the node named.
pub async fn open_fifo(
    state: &ApiState,
    request: tonic::Request<Streaming<FifoRequest>>,
) -> Result<tonic::Response<FifoStream>, Status> {
    let forwarded = state.forwarded(&request);
    let principal = state.principal(&request)?;
    let mut inbound = request.into_inner();
    let open = first_message(&mut inbound).await?;
    let (target, node) = state
        .target_node(&open.node, &Default::default(), forwarded)
        .await?;
    if let Target::Remote { mut client, .. } = target {
        let first = FifoRequest {
            request: Some(fifo_request::Request::Open(open)),
        };
        let all = super::route::resend(first, inbound);
        let stream = client
            .open_fifo(outgoing(all, None, &principal))
            .await
            .map_err(|e| remote_error(&node, e))?
            .into_inner();
        return Ok(tonic::Response::new(Box::pin(stream)));
    }
    let (tx, rx) = mpsc::channel(16);
    serve(principal, open, inbound, tx).await?;
    Ok(tonic::Response::new(Box::pin(
        tokio_stream::wrappers::ReceiverStream::new(rx),
    )))
}

/// How long the first message (`open`) may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes sent per DRAIN message.
const CHUNK: usize = 64 * 1024;

/// The first message of a call: which FIFO.
async fn first_message(inbound: &mut Streaming<FifoRequest>) -> Result<FifoOpen, Status> {
    let first = tokio::time::timeout(OPEN_TIMEOUT, inbound.message())
        .await
        .map_err(|_| ProcError::NoStartMessage(OPEN_TIMEOUT))??;
    match first {
        Some(FifoRequest {
            request: Some(fifo_request::Request::Open(open)),
        }) => Ok(open),
        _ => Err(
            ProcError::InvalidArgument("open_fifo: the first message must be open".into()).into(),
        ),
    }
}

/// A FIFO and its private directory; both go on drop.
struct FifoDir {
    dir: PathBuf,
    fifo: PathBuf,
    direction: FifoDirection,
}

impl FifoDir {
    /// Makes them for `principal`'s user.
    fn create(principal: &Principal, direction: FifoDirection) -> Result<FifoDir, Status> {
        let failed =
            |what: &str, e: nix::Error| Status::internal(format!("open_fifo: cannot {what}: {e}"));
        let user = nix::unistd::User::from_name(&principal.user)
            .ok()
            .flatten()
            .ok_or_else(|| Status::permission_denied(format!("no user {}", principal.user)))?;
        let template = std::env::temp_dir().join("nefele-fifo-XXXXXX");
        let dir = nix::unistd::mkdtemp(&template).map_err(|e| failed("make its directory", e))?;
        let fifo = dir.join("fifo");
        let made = FifoDir {
            dir,
            fifo,
            direction,
        };
        nix::unistd::mkfifo(&made.fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .map_err(|e| failed("make the FIFO", e))?;
        // A root noded gives the FIFO to the user and lets the user reach
        // it; one run by the user (a dev cluster) already owns both.
        if nix::unistd::geteuid().is_root() {
            nix::unistd::chown(made.fifo.as_path(), Some(user.uid), Some(user.gid))
                .map_err(|e| failed("give it to the user", e))?;
            nix::sys::stat::fchmodat(
                nix::fcntl::AT_FDCWD,
                made.dir.as_path(),
                nix::sys::stat::Mode::from_bits_truncate(0o711),
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )
            .map_err(|e| failed("open its directory to the user", e))?;
        }
        Ok(made)
    }
}

impl Drop for FifoDir {
    fn drop(&mut self) {
        // Wake a thread still waiting to open our side: open the other one
        // without blocking (it fails harmlessly when nobody waits).
        let other = match self.direction {
            FifoDirection::Feed => libc::O_RDONLY,
            FifoDirection::Drain => libc::O_WRONLY,
        };
        if let Ok(path) = CString::new(self.fifo.as_os_str().as_bytes()) {
            // SAFETY: a plain open/close of a path we made.
            unsafe {
                let fd = libc::open(path.as_ptr(), other | libc::O_NONBLOCK | libc::O_CLOEXEC);
                if fd >= 0 {
                    libc::close(fd);
                }
            }
        }
        let _ = std::fs::remove_file(&self.fifo);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Serves one call on this node: makes the FIFO, answers its path on
/// `tx`, then moves the bytes until either side ends.
async fn serve(
    principal: Principal,
    open: FifoOpen,
    mut inbound: Streaming<FifoRequest>,
    tx: mpsc::Sender<Result<FifoEvent, Status>>,
) -> Result<(), Status> {
    let direction = open.direction();
    let fifo = FifoDir::create(&principal, direction)?;
    let path = fifo.fifo.to_string_lossy().into_owned();
    if tx
        .send(Ok(event(fifo_event::Event::Path(path))))
        .await
        .is_err()
    {
        return Ok(());
    }
    // The FIFO goes (FifoDir's drop) when the transfer ends.
    tokio::spawn(async move {
        match direction {
            FifoDirection::Feed => feed(&fifo.fifo, &mut inbound, &tx).await,
            FifoDirection::Drain => drain(&fifo.fifo, &tx).await,
        }
    });
    Ok(())
}

/// Opens `path` (waiting for the other side) unless the client goes
/// first, and tells the client it is open.
async fn open_side(
    path: &Path,
    write: bool,
    tx: &mpsc::Sender<Result<FifoEvent, Status>>,
) -> Option<tokio::fs::File> {
    let path = path.to_path_buf();
    let opening = tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
        let file = std::fs::OpenOptions::new()
            .read(!write)
            .write(write)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)?;
        if !file.metadata()?.file_type().is_fifo() {
            return Err(std::io::Error::other("not a FIFO"));
        }
        Ok(file)
    });
    let file = tokio::select! {
        opened = opening => opened.ok()?.ok().map(tokio::fs::File::from_std)?,
        () = tx.closed() => return None,
    };
    // FEED: the client sends data from now on. DRAIN: the client keeps
    // reading after its command has ended (the data may still be on its
    // way).
    tx.send(Ok(event(fifo_event::Event::Opened(true))))
        .await
        .ok()?;
    Some(file)
}

/// FEED: the client's bytes into the FIFO, then end of file.
async fn feed(
    path: &Path,
    inbound: &mut Streaming<FifoRequest>,
    tx: &mpsc::Sender<Result<FifoEvent, Status>>,
) {
    let Some(mut file) = open_side(path, true, tx).await else {
        return;
    };
    loop {
        let message = tokio::select! {
            message = inbound.message() => message,
            () = tx.closed() => return,
        };
        match message {
            Ok(Some(FifoRequest {
                request: Some(fifo_request::Request::Data(data)),
            })) => {
                // A reader that went away (EPIPE) ends it.
                if file.write_all(&data).await.is_err() {
                    return;
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let _ = file.flush().await;
}

/// DRAIN: what is written into the FIFO, to the client, until the writers
/// close it.
async fn drain(path: &Path, tx: &mpsc::Sender<Result<FifoEvent, Status>>) {
    let Some(mut file) = open_side(path, false, tx).await else {
        return;
    };
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = tokio::select! {
            n = file.read(&mut buf) => n,
            () = tx.closed() => return,
        };
        match n {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let data = buf[..n].to_vec();
                if tx
                    .send(Ok(event(fifo_event::Event::Data(data))))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

fn event(event: fifo_event::Event) -> FifoEvent {
    FifoEvent { event: Some(event) }
}
