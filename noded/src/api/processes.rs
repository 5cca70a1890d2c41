//! The `Processes` service: each RPC looks the process up in the table and
//! hands the work to it or to the supervisor.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use proto::v1::processes_server::Processes;
use proto::v1::{
    AttachEvent, AttachRequest, CloseStdoutReply, CloseStdoutRequest, GetRequest, InputChunk,
    ListReply, ListRequest, OutputChunk, OutputStream, ProcessInfo, ProcessState,
    ReadOutputRequest, SignalReply, SignalRequest, SpawnRequest, UnreachableNode, WaitRequest,
    WriteInputReply, WriteOutputToReply, WriteOutputToRequest,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

mod attach;

use super::ApiState;
use super::convert::{self, gpid};
use super::follow::{self, Cursor};
use super::pipe;
use super::route::{Target, outgoing, remote_error};
use super::stdin_file::{self, Offered};
use crate::auth::Principal;
use crate::error::ProcError;
use crate::hostproc;
use crate::output::Stream as LogStream;
use crate::process::{Input, Process};
use crate::supervisor;

/// How long List waits for each other node.
/// Below clients' own deadlines (nefelefs: 3 s), so a hung node shows as
/// unreachable instead of failing the whole List.
const LIST_NODE_TIMEOUT: Duration = Duration::from_secs(2);

type ServerStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Implementation of `nefele.v1.Processes`.
pub struct ProcessesApi {
    state: Arc<ApiState>,
}

impl ProcessesApi {
    /// A service over the shared state.
    pub fn new(state: Arc<ApiState>) -> Self {
        ProcessesApi { state }
    }

    fn node(&self) -> &str {
        &self.state.table.ctx().name
    }

    /// A process of this node that `principal` may see; another user's
    /// is as unknown as a PID that does not exist (SPEC §9).
    async fn process(&self, raw: i32, principal: &Principal) -> Result<Arc<Process>, Status> {
        let gpid = gpid(raw)?;
        let process = self.state.table.lookup(gpid).await?;
        if !principal.may_see(process.owner()) {
            return Err(ProcError::NoSuchProcess(gpid).into());
        }
        Ok(process)
    }

    /// Where the process `req` asks for runs: here, or the node its `node`
    /// names or `@any` picks, which `req.node` then names (the node that
    /// runs it only starts it). A process on another node cannot get the
    /// caller's descriptors; a file the caller gives as stdin
    /// (`stdin_file_fd`) is offered to it instead, for as long as the
    /// returned [`Offered`] is kept (until the forwarded spawn answered).
    pub(super) async fn spawn_target(
        &self,
        req: &mut SpawnRequest,
        principal: &Principal,
        caller: Option<tokio::net::unix::UCred>,
        forwarded: bool,
    ) -> Result<(Target, Option<Offered>), Status> {
        let (target, node) = self
            .state
            .target_node(&req.node, &req.node_labels, forwarded)
            .await?;
        if matches!(target, Target::Remote { .. }) {
            if req.inherit.is_some() {
                return Err(ProcError::InvalidArgument(
                    "inherit: a process gets the caller's descriptors only on the caller's node"
                        .into(),
                )
                .into());
            }
            req.node = node;
        }
        let offered = stdin_file::prepare(
            &self.state.offers,
            self.state.cluster.slot.get(),
            req,
            &target,
            principal,
            caller,
            forwarded,
        )?;
        Ok((target, offered))
    }

    /// Starts the process `req` asks for on this node, as `principal`;
    /// `caller` (a client on the Unix socket) may pass its descriptors
    /// (`req.inherit`), unless the call was `forwarded`.
    pub(super) async fn spawn_here(
        &self,
        principal: Principal,
        caller: Option<tokio::net::unix::UCred>,
        forwarded: bool,
        mut req: SpawnRequest,
    ) -> Result<Arc<Process>, Status> {
        let inherit = req.inherit.take();
        let offer = req.stdin_offer.take();
        let tty = req.tty.is_some();
        let stdin_from = match req.stdin_from {
            0 => None,
            raw => Some(pipe::direct_pipe_producer(raw, &req, inherit.is_some())?),
        };
        let mut spec = convert::spawn_spec(req)?;
        spec.user = principal.user.clone();
        if let Some(wanted) = inherit {
            spec.inherit = Some(inherited_stdio(caller, forwarded, tty, &wanted)?);
            if wanted.stdin_fd.is_some() {
                spec.stdin_pipe = false;
            }
        }
        // A direct pipe: the producer (or the file another node offers)
        // is opened first (an unknown one fails the spawn), the consumer
        // gets the pipe's read end, this node keeps the write end and
        // feeds it.
        let (producer, source) = match (stdin_from, offer) {
            (Some(producer), _) => (
                Some(producer),
                pipe::Source::open(&self.state, &principal, producer).await?,
            ),
            (None, Some(offer)) => (
                None,
                pipe::Source::open_offer(&self.state, &principal, &offer).await?,
            ),
            (None, None) => return Ok(self.state.table.spawn(spec).await?),
        };
        let feed = pipe::FeedPipe::new()?;
        spec.inherit = Some(feed.inherit()?);
        let process = self.state.table.spawn(spec).await?;
        drop(feed.read);
        tokio::spawn(pipe::feed(
            self.state.clone(),
            principal,
            producer,
            process.gpid,
            source,
            feed.write,
        ));
        Ok(process)
    }

    fn info(&self, p: &Process) -> ProcessInfo {
        convert::process_info(p, self.node(), false)
    }
}

#[tonic::async_trait]
impl Processes for ProcessesApi {
    async fn spawn(&self, request: Request<SpawnRequest>) -> Result<Response<ProcessInfo>, Status> {
        let forwarded = self.state.forwarded(&request);
        let principal = self.state.principal(&request)?;
        let caller = socket_caller(&request);
        let mut req = request.into_inner();
        let (target, _offered) = self
            .spawn_target(&mut req, &principal, caller, forwarded)
            .await?;
        match target {
            Target::Local => {
                let process = self.spawn_here(principal, caller, forwarded, req).await?;
                Ok(Response::new(self.info(&process)))
            }
            Target::Remote {
                node: name,
                mut client,
            } => {
                let timeout = Some(self.state.forward_timeout());
                client
                    .spawn(outgoing(req, timeout, &principal))
                    .await
                    .map_err(|e| remote_error(&name, e))
            }
        }
    }

    async fn signal(
        &self,
        request: Request<SignalRequest>,
    ) -> Result<Response<SignalReply>, Status> {
        let forwarded = self.state.forwarded(&request);
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        if !(0..=supervisor::MAX_SIGNAL).contains(&req.signal) {
            return Err(ProcError::InvalidSignal(req.signal).into());
        }
        match self.state.target_pid(gpid(req.pid)?, forwarded).await? {
            Target::Local => {
                let process = self.process(req.pid, &principal).await?;
                // As kill(2) of a zombie: it exists, the signal is lost.
                if process.is_zombie(|ppid| parent_alive(&self.state, ppid)) {
                    return Ok(Response::new(SignalReply {}));
                }
                process.signal(req.signal).await?;
                Ok(Response::new(SignalReply {}))
            }
            Target::Remote { node, mut client } => {
                let timeout = Some(self.state.forward_timeout());
                client
                    .signal(outgoing(req, timeout, &principal))
                    .await
                    .map_err(|e| remote_error(&node, e))
            }
        }
    }

    async fn close_stdout(
        &self,
        request: Request<CloseStdoutRequest>,
    ) -> Result<Response<CloseStdoutReply>, Status> {
        let forwarded = self.state.forwarded(&request);
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        match self.state.target_pid(gpid(req.pid)?, forwarded).await? {
            Target::Local => {
                let process = self.process(req.pid, &principal).await?;
                match process.take_stdout().await {
                    // Dropped here: with the keeper's copy closed too,
                    // nothing reads the pipe any more.
                    Ok(taken) if taken.sole_reader => {}
                    // No pipe to close (or a keeper that keeps its copy).
                    _ => process.signal(libc::SIGPIPE).await?,
                }
                Ok(Response::new(CloseStdoutReply {}))
            }
            Target::Remote { node, mut client } => {
                let timeout = Some(self.state.forward_timeout());
                client
                    .close_stdout(outgoing(req, timeout, &principal))
                    .await
                    .map_err(|e| remote_error(&node, e))
            }
        }
    }

    async fn wait(&self, request: Request<WaitRequest>) -> Result<Response<ProcessInfo>, Status> {
        let forwarded = self.state.forwarded(&request);
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        if let Target::Remote { node, mut client } =
            self.state.target_pid(gpid(req.pid)?, forwarded).await?
        {
            // The owner enforces timeout_ms; the call itself may be long.
            return client
                .wait(outgoing(req, None, &principal))
                .await
                .map_err(|e| remote_error(&node, e));
        }
        let process = self.process(req.pid, &principal).await?;
        if req.timeout_ms == 0 {
            process.finished().await;
        } else if tokio::time::timeout(Duration::from_millis(req.timeout_ms), process.finished())
            .await
            .is_err()
        {
            return Err(ProcError::WaitTimeout {
                pid: process.gpid,
                timeout_ms: req.timeout_ms,
            }
            .into());
        }
        process.reap();
        Ok(Response::new(self.info(&process)))
    }

    async fn get(&self, request: Request<GetRequest>) -> Result<Response<ProcessInfo>, Status> {
        let forwarded = self.state.forwarded(&request);
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        match self.state.target_pid(gpid(req.pid)?, forwarded).await? {
            Target::Local => {
                let process = self.process(req.pid, &principal).await?;
                Ok(Response::new(convert::process_info(
                    &process,
                    self.node(),
                    req.with_env,
                )))
            }
            Target::Remote { node, mut client } => {
                let timeout = Some(self.state.forward_timeout());
                client
                    .get(outgoing(req, timeout, &principal))
                    .await
                    .map_err(|e| remote_error(&node, e))
            }
        }
    }

    async fn list(&self, request: Request<ListRequest>) -> Result<Response<ListReply>, Status> {
        let forwarded = self.state.forwarded(&request);
        let principal = self.state.principal(&request)?;
        let mut req = request.into_inner();
        if !req.node.is_empty() {
            let (target, node) = self
                .state
                .target_node(&req.node, &HashMap::new(), forwarded)
                .await?;
            return match target {
                Target::Local => Ok(Response::new(self.local_list(&req, &principal))),
                Target::Remote {
                    node: name,
                    mut client,
                } => {
                    req.node = node;
                    let timeout = Some(self.state.forward_timeout());
                    client
                        .list(outgoing(req, timeout, &principal))
                        .await
                        .map_err(|e| remote_error(&name, e))
                }
            };
        }
        if forwarded {
            return Ok(Response::new(self.local_list(&req, &principal)));
        }
        let mut asks = Vec::new();
        for member in self.state.cluster.members().into_values() {
            if member.slot == self.state.cluster.slot || member.left {
                continue;
            }
            let one = ListRequest {
                node: member.name.clone(),
                states: req.states.clone(),
                brief: req.brief,
                ended: req.ended,
            };
            let timeout = LIST_NODE_TIMEOUT;
            let principal = &principal;
            asks.push(async move {
                let answer = async {
                    let (target, _) = self
                        .state
                        .target_node(&member.name, &HashMap::new(), false)
                        .await?;
                    match target {
                        Target::Remote { mut client, .. } => Ok(client
                            .list(outgoing(one, Some(timeout), principal))
                            .await?
                            .into_inner()),
                        Target::Local => Ok(ListReply::default()),
                    }
                };
                let result: Result<ListReply, Status> = tokio::time::timeout(timeout, answer)
                    .await
                    .unwrap_or_else(|_| Err(super::route::RouteError::NoAnswer(timeout).into()));
                (member.name, result)
            });
        }
        // The other nodes work on their parts while this one reads its own
        // (most of a List is each node reading /proc/<pid>/stat): the local
        // part runs on a blocking thread, so this task sends the asks at
        // once.
        let local = {
            let (state, req, principal) = (self.state.clone(), req.clone(), principal.clone());
            tokio::task::spawn_blocking(move || local_list(&state, &req, &principal))
        };
        let (answers, local) = futures::join!(futures::future::join_all(asks), local);
        let mut reply = local.map_err(|e| ProcError::Internal(format!("listing failed: {e}")))?;
        for (node, result) in answers {
            match result {
                Ok(r) => {
                    reply.processes.extend(r.processes);
                    reply.unreachable.extend(r.unreachable);
                }
                Err(status) => {
                    // What it last published shows as lost (SPEC §10).
                    reply.processes.extend(crate::lost::lost_on(
                        &self.state.cluster.state(),
                        &node,
                        &principal,
                        &req.states,
                    ));
                    reply.unreachable.push(UnreachableNode {
                        node,
                        error: status.message().to_string(),
                    });
                }
            }
        }
        reply.processes.sort_by_key(|p| p.pid);
        Ok(Response::new(reply))
    }

    type ReadOutputStream = ServerStream<OutputChunk>;

    async fn read_output(
        &self,
        request: Request<ReadOutputRequest>,
    ) -> Result<Response<Self::ReadOutputStream>, Status> {
        let forwarded = self.state.forwarded(&request);
        let principal = self.state.principal(&request)?;
        let req = request.into_inner();
        if let Target::Remote { node, mut client } =
            self.state.target_pid(gpid(req.pid)?, forwarded).await?
        {
            let stream = client
                .read_output(outgoing(req, None, &principal))
                .await
                .map_err(|e| remote_error(&node, e))?
                .into_inner();
            return Ok(Response::new(Box::pin(stream)));
        }
        let process = self.process(req.pid, &principal).await?;
        let stream = match OutputStream::try_from(req.stream) {
            Ok(OutputStream::Stdout) => LogStream::Stdout,
            Ok(OutputStream::Stderr) => LogStream::Stderr,
            Err(_) => {
                return Err(ProcError::InvalidArgument(format!(
                    "invalid output stream {}",
                    req.stream
                ))
                .into());
            }
        };
        let log = process.log(stream).clone();
        let mut cursor = Cursor::new(log.clone(), req.offset);
        // A follower is a consumer: with backpressure, its position (from
        // its start on) lets the process run ahead by the window.
        let consumes = req.follow && log.has_window();
        if consumes {
            log.delivered(req.offset);
        }
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            loop {
                match cursor.read().await {
                    Ok(Some(chunk)) => {
                        if tx.send(Ok(chunk)).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    Ok(None) => {}
                    Err(status) => {
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                }
                if !req.follow || cursor.done() {
                    return;
                }
                tokio::select! {
                    _ = cursor.changed() => {}
                    _ = tx.closed() => return,
                }
            }
        });
        let chunks = ReceiverStream::new(rx);
        if consumes {
            let chunks = chunks.inspect(move |item| {
                if let Ok(chunk) = item {
                    follow::delivered(&log, chunk);
                }
            });
            return Ok(Response::new(Box::pin(chunks)));
        }
        Ok(Response::new(Box::pin(chunks)))
    }

    async fn write_input(
        &self,
        request: Request<Streaming<InputChunk>>,
    ) -> Result<Response<WriteInputReply>, Status> {
        let forwarded = self.state.forwarded(&request);
        let principal = self.state.principal(&request)?;
        let mut chunks = request.into_inner();
        let Some(first) = chunks.message().await? else {
            return Err(ProcError::InvalidArgument(
                "empty input stream: the first chunk must name a pid".into(),
            )
            .into());
        };
        if let Target::Remote { node, mut client } =
            self.state.target_pid(gpid(first.pid)?, forwarded).await?
        {
            let rest = chunks
                .take_while(|c| futures::future::ready(c.is_ok()))
                .filter_map(|c| futures::future::ready(c.ok()));
            let all = futures::stream::once(async { first }).chain(rest);
            return client
                .write_input(outgoing(all, None, &principal))
                .await
                .map_err(|e| remote_error(&node, e));
        }
        let process = self.process(first.pid, &principal).await?;
        if process.input.is_none() {
            return Err(ProcError::NoStdin(process.gpid).into());
        }
        let mut written = 0u64;
        let mut next = Some(first);
        while let Some(chunk) = next {
            if !chunk.data.is_empty() {
                let len = chunk.data.len() as u64;
                process.write_input(Input::Data(chunk.data)).await?;
                written += len;
            }
            if chunk.eof {
                process.write_input(Input::Eof).await?;
                break;
            }
            next = chunks.message().await?;
        }
        Ok(Response::new(WriteInputReply {
            bytes_written: written,
        }))
    }

    type AttachStream = ServerStream<AttachEvent>;

    type OpenFifoStream = super::fifo::FifoStream;

    async fn open_fifo(
        &self,
        request: Request<Streaming<proto::v1::FifoRequest>>,
    ) -> Result<Response<Self::OpenFifoStream>, Status> {
        super::fifo::open_fifo(&self.state, request).await
    }

    async fn write_output_to(
        &self,
        request: Request<WriteOutputToRequest>,
    ) -> Result<Response<WriteOutputToReply>, Status> {
        let forwarded = self.state.forwarded(&request);
        let principal = self.state.principal(&request)?;
        let caller = socket_caller(&request);
        let req = request.into_inner();
        let wanted = proto::v1::InheritedStdio {
            stdout_fd: Some(req.fd),
            ..Default::default()
        };
        let client = inherited_stdio(caller, forwarded, false, &wanted)?;
        pipe::write_output_to(self.state.clone(), principal, &client, req)
            .await
            .map(Response::new)
    }

    async fn attach(
        &self,
        request: Request<Streaming<AttachRequest>>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        attach::attach(self, request).await
    }
}

impl ProcessesApi {
    fn local_list(&self, req: &ListRequest, principal: &Principal) -> ListReply {
        local_list(&self.state, req, principal)
    }
}

/// What the kernel says of a caller on the Unix socket (`None` over TCP).
fn socket_caller<T>(request: &Request<T>) -> Option<tokio::net::unix::UCred> {
    request
        .extensions()
        .get::<tonic::transport::server::UdsConnectInfo>()
        .and_then(|uds| uds.peer_cred)
}

/// What the keeper needs to take the descriptors `wanted` from the
/// calling process: only a client on this node's socket (the kernel names
/// its PID) that holds them, for a process without a terminal.
pub(super) fn inherited_stdio(
    caller: Option<tokio::net::unix::UCred>,
    forwarded: bool,
    tty: bool,
    wanted: &proto::v1::InheritedStdio,
) -> Result<proto::keeper::Inherit, Status> {
    let refuse = |why: &str| Status::from(ProcError::InvalidArgument(format!("inherit: {why}")));
    let pid = match caller.and_then(|c| c.pid()) {
        Some(pid) if !forwarded => pid,
        _ => {
            return Err(refuse(
                "only a client on this node's Unix socket can pass its descriptors",
            ));
        }
    };
    if tty {
        return Err(refuse("a process with a terminal gets it for stdio"));
    }
    let host = nix::unistd::Pid::from_raw(pid);
    let (Some(stat), Some((uid, _))) = (hostproc::stat(host), hostproc::owner(host)) else {
        return Err(refuse("the calling process is gone"));
    };
    let fds = [wanted.stdin_fd, wanted.stdout_fd, wanted.stderr_fd];
    let extra = wanted.extra.iter().map(|e| Some(e.fd));
    for fd in fds.into_iter().chain(extra).flatten() {
        if fd < 0 || std::fs::symlink_metadata(format!("/proc/{pid}/fd/{fd}")).is_err() {
            return Err(ProcError::NoSuchDescriptor(fd).into());
        }
    }
    let mut targets = std::collections::BTreeSet::new();
    for e in &wanted.extra {
        if !(3..=MAX_EXTRA_FD).contains(&e.target) || !targets.insert(e.target) {
            return Err(refuse(&format!(
                "descriptor number {} (extra ones are 3 to {MAX_EXTRA_FD}, each once)",
                e.target
            )));
        }
    }
    Ok(proto::keeper::Inherit {
        pid,
        uid,
        start_ticks: stat.start_ticks,
        stdin_fd: wanted.stdin_fd,
        stdout_fd: wanted.stdout_fd,
        stderr_fd: wanted.stderr_fd,
        extra: wanted
            .extra
            .iter()
            .map(|e| proto::keeper::ExtraFd {
                target: e.target,
                fd: e.fd,
            })
            .collect(),
    })
}

/// The highest number an extra inherited descriptor may get.
const MAX_EXTRA_FD: i32 = 1023;

/// Whether a zombie's parent counts as alive: it runs here, or lives on
/// another node (whose state this node does not know).
fn parent_alive(state: &ApiState, parent: proto::Gpid) -> bool {
    parent.slot() != state.table.ctx().slot
        || state.table.get(parent).is_ok_and(|p| !p.is_finished())
}

/// This node's part of a List: the processes `principal` may see.
fn local_list(state: &ApiState, req: &ListRequest, principal: &Principal) -> ListReply {
    let node = &state.table.ctx().name;
    let states: Vec<i32> = req
        .states
        .iter()
        .copied()
        .filter(|s| *s != ProcessState::Unspecified as i32)
        .collect();
    // A brief listing skips reading each process's /proc/<pid>/stat;
    // filtering by state needs it (stopped or not).
    let brief = req.brief && states.is_empty();
    // Ended processes: all of them when asked for (`ended`, or a state
    // only an ended process has), else only zombies.
    let want_ended = req.ended
        || states.iter().any(|s| {
            [
                ProcessState::Exited,
                ProcessState::Killed,
                ProcessState::Lost,
            ]
            .iter()
            .any(|e| *e as i32 == *s)
        });
    let all = state.table.list();
    let parent_alive = |ppid| parent_alive(state, ppid);
    let processes = all
        .iter()
        .filter(|p| principal.may_see(p.owner()))
        .filter(|p| want_ended || !p.is_finished() || p.is_zombie(parent_alive))
        .map(|p| {
            if brief {
                convert::brief_process_info(p, node)
            } else {
                convert::process_info(p, node, false)
            }
        })
        .filter(|info| states.is_empty() || states.contains(&info.state))
        .collect();
    ListReply {
        processes,
        unreachable: Vec::new(),
    }
}
