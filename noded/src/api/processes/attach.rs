//! `Processes.Attach`: one client's stream to one process (stdin, resizes
//! and signals in; output, then the exit, out), forwarded to the process's
//! node. With `start.spawn` the process is started first, on the node that
//! names, and announced by a `started` event: one call per command instead
//! of Spawn and Attach.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use proto::v1::{AttachEvent, AttachRequest, AttachStart, attach_event, attach_request};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::{ProcessesApi, ServerStream, socket_caller};
use crate::api::convert::{self, gpid};
use crate::api::follow::{self, Cursor};
use crate::api::route::{Target, outgoing, remote_error};
use crate::error::ProcError;
use crate::output::Stream as LogStream;
use crate::process::{Input, Process};

/// How long Attach waits for its first (`start`) message.
const ATTACH_START_TIMEOUT: Duration = Duration::from_secs(10);

/// The Attach call (see the module docs).
pub(super) async fn attach(
    api: &ProcessesApi,
    request: Request<Streaming<AttachRequest>>,
) -> Result<Response<ServerStream<AttachEvent>>, Status> {
    let forwarded = api.state.forwarded(&request);
    let principal = api.state.principal(&request)?;
    let caller = socket_caller(&request);
    let mut inbound = request.into_inner();
    let first = tokio::time::timeout(ATTACH_START_TIMEOUT, inbound.message())
        .await
        .map_err(|_| ProcError::NoStartMessage(ATTACH_START_TIMEOUT))??;
    let Some(AttachRequest {
        request: Some(attach_request::Request::Start(mut start)),
    }) = first
    else {
        return Err(
            ProcError::InvalidArgument("attach: the first message must be start".into()).into(),
        );
    };
    // A file offered as the new process's stdin is claimed before the
    // process's node answers; whatever is left of it goes with this.
    let (target, _offered) = match start.spawn.as_mut() {
        Some(spawn) => {
            api.spawn_target(spawn, &principal, caller, forwarded)
                .await?
        }
        None => (
            api.state.target_pid(gpid(start.pid)?, forwarded).await?,
            None,
        ),
    };
    if let Target::Remote { node, mut client } = target {
        let first = AttachRequest {
            request: Some(attach_request::Request::Start(start)),
        };
        let all = crate::api::route::resend(first, inbound);
        let stream = client
            .attach(outgoing(all, None, &principal))
            .await
            .map_err(|e| remote_error(&node, e))?
            .into_inner();
        return Ok(Response::new(Box::pin(stream)));
    }
    let (tx, rx) = mpsc::channel(16);
    let process = match start.spawn.take() {
        Some(spawn) => {
            let process = api.spawn_here(principal, caller, forwarded, spawn).await?;
            // The channel is new and has room: the first event is this.
            let _ = tx.try_send(event(attach_event::Event::Started(api.info(&process))));
            process
        }
        None => api.process(start.pid, &principal).await?,
    };
    let input = tokio::spawn(attach_input(process.clone(), inbound, tx.clone()));
    let node = api.node().to_string();
    let logs = (process.stdout.clone(), process.stderr.clone());
    tokio::spawn(async move {
        attach_output(process, &start, node, tx).await;
        // The input task holds a sender too: the client's stream ends
        // only when it is gone.
        input.abort();
    });
    let events = ReceiverStream::new(rx);
    if logs.0.has_window() || logs.1.has_window() {
        // An attached client consumes both streams.
        let events = events.inspect(move |item| match item {
            Ok(AttachEvent {
                event: Some(attach_event::Event::Stdout(chunk)),
            }) => follow::delivered(&logs.0, chunk),
            Ok(AttachEvent {
                event: Some(attach_event::Event::Stderr(chunk)),
            }) => follow::delivered(&logs.1, chunk),
            _ => {}
        });
        return Ok(Response::new(Box::pin(events)));
    }
    Ok(Response::new(Box::pin(events)))
}

fn event(e: attach_event::Event) -> Result<AttachEvent, Status> {
    Ok(AttachEvent { event: Some(e) })
}

/// Carries an attached client's input to the process until the client
/// stops sending. Failures are reported as error events; the attachment
/// goes on.
async fn attach_input(
    process: Arc<Process>,
    mut inbound: Streaming<AttachRequest>,
    tx: mpsc::Sender<Result<AttachEvent, Status>>,
) {
    use attach_request::Request as R;
    while let Ok(Some(msg)) = inbound.message().await {
        let result = match msg.request {
            Some(R::Stdin(data)) => {
                let len = data.len() as u64;
                let taken = process.write_input(Input::Data(data)).await;
                if taken.is_ok()
                    && tx
                        .send(event(attach_event::Event::StdinAccepted(len)))
                        .await
                        .is_err()
                {
                    return;
                }
                taken
            }
            Some(R::StdinEof(true)) => process.write_input(Input::Eof).await,
            Some(R::StdinEof(false)) | None => Ok(()),
            Some(R::Resize(size)) => process.resize(size.rows, size.cols).await,
            Some(R::Signal(sig)) => process.signal(sig).await,
            Some(R::Start(_)) => Err(ProcError::InvalidArgument(
                "attach: start sent twice".into(),
            )),
        };
        // Input to a process that has ended is dropped, as a pipe's reader
        // going away would: the client learns of the end from the exit event.
        if matches!(
            result,
            Err(ProcError::Exited(_) | ProcError::StdinClosed(_))
        ) {
            continue;
        }
        if let Err(e) = result
            && tx
                .send(event(attach_event::Event::Error(e.to_string())))
                .await
                .is_err()
        {
            return;
        }
    }
}

/// Streams a process's output to an attached client, then its exit.
async fn attach_output(
    process: Arc<Process>,
    start: &AttachStart,
    node: String,
    tx: mpsc::Sender<Result<AttachEvent, Status>>,
) {
    let replay = start.replay;
    // Without replay, only output not taken yet: with backpressure that
    // includes what waits in the window, as unread data in a pipe would.
    let from = |log: LogStream| {
        if replay {
            0
        } else {
            process.log(log).undelivered()
        }
    };
    let mut cursors = [
        (
            LogStream::Stdout,
            Cursor::new(process.stdout.clone(), from(LogStream::Stdout)),
        ),
        (
            LogStream::Stderr,
            Cursor::new(process.stderr.clone(), from(LogStream::Stderr)),
        ),
    ];
    let mut status = process.status.subscribe();
    loop {
        // Mark the status seen before draining, so an exit that lands
        // during the drain wakes the select below.
        let finished = matches!(
            *status.borrow_and_update(),
            crate::process::Status::Finished(_)
        );
        let mut sent = false;
        for (which, cursor) in cursors.iter_mut() {
            if start.without_stdout && *which == LogStream::Stdout {
                continue;
            }
            match cursor.read().await {
                Ok(Some(chunk)) => {
                    let e = match which {
                        LogStream::Stdout => attach_event::Event::Stdout(chunk),
                        LogStream::Stderr => attach_event::Event::Stderr(chunk),
                    };
                    if tx.send(event(e)).await.is_err() {
                        return;
                    }
                    sent = true;
                }
                Ok(None) => {}
                Err(status) => {
                    let _ = tx.send(Err(status)).await;
                    return;
                }
            }
        }
        if sent {
            continue;
        }
        if finished {
            let info = convert::process_info(&process, &node, false);
            if tx
                .send(event(attach_event::Event::Exit(info)))
                .await
                .is_ok()
            {
                process.reap();
            }
            return;
        }
        let [(_, out), (_, err)] = &mut cursors;
        tokio::select! {
            _ = out.changed(), if !start.without_stdout => {}
            _ = err.changed() => {}
            _ = status.changed() => {}
            _ = tx.closed() => return,
        }
    }
}
