//! Keepers: what owns a node's processes while they run, so that noded can
//! stop, crash or be upgraded without touching them (SPEC §2, §10).
//!
//! One keeper per node (per data dir) is a small single-threaded process,
//! started by noded as `noded keeper` when none answers, in a session of its
//! own. It is the parent (and subreaper) of every process, holds their
//! stdin pipes and terminal masters, copies their output into the logs under
//! `DATA_DIR/procs/`, and reaps them. noded talks to it over
//! `DATA_DIR/keeper.sock` with the messages of `nefele.keeper.v1`
//! (proto/proto/nefele/keeper/v1/keeper.proto), length-delimited.
//!
//! - [`server`] is the keeper process.
//! - [`cgroup`] gives each process a cgroup, to stop what escaped its group.
//! - [`client`] is noded's side: the connection, requests and events.
//!
//! docs/design/processes.md explains the design and every crash case.

pub mod cgroup;
pub mod client;
pub mod server;

use std::path::{Path, PathBuf};

use proto::keeper as k;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

use crate::output::Stream;

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;
/// Largest message: a spawn request carries argv and environment, which
/// noded limits far below this.
const MAX_FRAME: usize = 64 << 20;

/// The keeper's socket in a data dir.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keeper.sock")
}

/// The file holding the running keeper's host PID.
pub fn pid_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keeper.pid")
}

/// The keeper's own log (its stderr).
pub fn log_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keeper.log")
}

/// Length-delimited framing of one connection.
fn framed<T: AsyncRead + AsyncWrite>(io: T) -> Framed<T, LengthDelimitedCodec> {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_framed(io)
}

/// A stream as the protocol carries it (unknown values read as stdout).
pub fn stream_of(raw: i32) -> Stream {
    match k::Stream::try_from(raw) {
        Ok(k::Stream::Stderr) => Stream::Stderr,
        _ => Stream::Stdout,
    }
}

/// The protocol's value of a stream.
pub fn wire_stream(stream: Stream) -> i32 {
    match stream {
        Stream::Stdout => k::Stream::Stdout as i32,
        Stream::Stderr => k::Stream::Stderr as i32,
    }
}
