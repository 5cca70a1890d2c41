//! Reading a captured output log as a stream: a cursor that reads chunks
//! from an offset and can wait for more, and the delivery reports that let
//! a process with output backpressure go on. ReadOutput and Attach both
//! use them.

use std::sync::Arc;

use proto::v1::OutputChunk;
use tokio::sync::watch;
use tonic::Status;

use crate::error::ProcError;
use crate::output::{LogPos, OutputLog};

/// Largest chunk sent in one message: large enough that a fast stream
/// (a direct pipe, a big output) costs few messages and wake-ups.
pub const CHUNK: usize = 256 << 10;

/// A reader's position in one log.
pub struct Cursor {
    log: Arc<OutputLog>,
    offset: u64,
    pos: watch::Receiver<LogPos>,
}

impl Cursor {
    /// A cursor at `offset`.
    pub fn new(log: Arc<OutputLog>, offset: u64) -> Self {
        let pos = log.subscribe();
        Cursor { log, offset, pos }
    }

    /// Reads the next chunk, or `None` at the current end.
    pub async fn read(&mut self) -> Result<Option<OutputChunk>, Status> {
        self.read_io()
            .await
            .map_err(|e| ProcError::os("cannot read output", e).into())
    }

    async fn read_io(&mut self) -> std::io::Result<Option<OutputChunk>> {
        // Mark the current end as seen before reading, so an append racing
        // with the read wakes `changed`.
        let end = self.pos.borrow_and_update().end;
        if self.offset >= end && self.offset >= self.log.pos().end {
            return Ok(None);
        }
        let (log, offset) = (self.log.clone(), self.offset);
        let (at, data) = tokio::task::spawn_blocking(move || log.read_at(offset, CHUNK))
            .await
            .map_err(std::io::Error::other)??;
        self.offset = at + data.len() as u64;
        Ok((!data.is_empty()).then_some(OutputChunk { offset: at, data }))
    }

    /// Whether nothing more can come: the log is closed and all read.
    pub fn done(&self) -> bool {
        let pos = *self.pos.borrow();
        pos.closed && self.offset >= pos.end
    }

    /// Waits until the log grows or closes.
    pub async fn changed(&mut self) {
        if self.pos.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Reports a chunk as delivered to its log's window, if it has one. Called
/// as gRPC takes the chunk from the stream (so HTTP/2 flow control, not
/// our queue, decides how far ahead of the client the process may run).
pub fn delivered(log: &OutputLog, chunk: &OutputChunk) {
    log.delivered(chunk.offset + chunk.data.len() as u64);
}
