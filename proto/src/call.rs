//! Client-side call helpers, the one place a client makes a status of
//! its own: a call bounded by a deadline that keeps the node's status
//! (for clients that act on its code), and the status of a stream the
//! node ended without an error.

use std::future::Future;
use std::time::Duration;

use tonic::{Response, Status};

/// `future` (a unary call), or DeadlineExceeded made here when the node
/// does not answer within `limit`.
pub async fn within<T>(
    limit: Duration,
    future: impl Future<Output = Result<Response<T>, Status>>,
) -> Result<T, Status> {
    match tokio::time::timeout(limit, future).await {
        Ok(reply) => reply.map(Response::into_inner),
        Err(_) => Err(Status::deadline_exceeded(format!(
            "no answer from the node within {limit:?}"
        ))),
    }
}

/// The status of a stream the node ended without an error (to retry).
pub fn stream_ended(what: &str) -> Status {
    Status::unavailable(format!("{what} ended"))
}
