//! The shell's connection to its node: the tonic channel plus the tokio
//! runtime that drives it, behind blocking calls.
//!
//! The interpreter is synchronous (each pipeline element and background job
//! is a thread), so every API call goes through [`Client::block_on`] with a
//! timeout; streams are driven the same way by the threads that pump them.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use proto::Gpid;
use proto::v1::{
    GetRequest, ListRequest, NodeInfo, NodesRequest, ProcessInfo, SignalRequest, SpawnRequest,
    cluster_client::ClusterClient, processes_client::ProcessesClient,
};
use tonic::transport::Channel;

/// How long one unary API call may take before the shell gives up on it.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a call to the cluster failed, worded for `nsh: WHAT: WHY`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The node answered with an error status.
    #[error("{message}")]
    Status {
        code: tonic::Code,
        /// What the node said it was, for code to act on.
        reason: Option<proto::Reason>,
        message: String,
    },
    #[error("no answer from the node within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Connect(String),
}

impl ClientError {
    pub fn from_status(status: &tonic::Status) -> Self {
        // tonic's word for a connection that failed under the call says
        // nothing of why; the usual causes, said.
        // A failure of the connection itself (tonic keeps the transport's
        // error as the source; a node's own answers have none) says
        // nothing of why: the usual causes, said.
        let message = match std::error::Error::source(status) {
            Some(_) => format!(
                "{} (the connection to the node failed: is it running, and is the address \
                 right? A node with TLS takes https://HOST:PORT)",
                status.message()
            ),
            None => status.message().to_string(),
        };
        ClientError::Status {
            code: status.code(),
            reason: proto::reason_of(status),
            message,
        }
    }

    /// A failure of nsh's own (not the node's).
    pub fn internal(message: String) -> Self {
        ClientError::Status {
            code: tonic::Code::Internal,
            reason: None,
            message,
        }
    }

    /// Whether the API said the PID does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Status { code, reason, .. }
            if *code == tonic::Code::NotFound || *reason == Some(proto::Reason::NoSuchProcess))
    }
}

/// The tokio runtime all of the shell's I/O runs on: two worker threads,
/// started on first use.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("nsh-io")
            .build()
            // Without a runtime the shell cannot talk to any node; failing
            // to create two threads at start-up is not recoverable.
            .expect("cannot start the I/O runtime")
    })
}

/// A cheap, cloneable handle: the channel is shared.
#[derive(Clone)]
pub struct Client {
    channel: Channel,
    /// Connected through a node's Unix socket: the node is on this machine
    /// and can take the shell's own descriptors (`inherit`).
    unix: bool,
    /// The name of the node it talks to, once asked (it does not change).
    local_name: Arc<OnceLock<String>>,
}

impl Client {
    /// Connects to `addr` (`unix:/path` or `http://host:port`), or to
    /// `NEFELE_ADDR`, or to the default socket.
    pub fn connect(addr: Option<&str>) -> Result<Client, ClientError> {
        let addr = match addr {
            Some(a) => a.parse::<proto::Addr>(),
            None => proto::default_addr(),
        }
        .map_err(|e| ClientError::Connect(e.to_string()))?;
        let channel = runtime()
            .block_on(proto::connect_timeout(&addr, Duration::from_secs(5)))
            .map_err(|e| ClientError::Connect(e.to_string()))?;
        let unix = matches!(addr, proto::Addr::Unix(_));
        Ok(Client {
            channel,
            unix,
            local_name: Arc::default(),
        })
    }

    /// Whether the shell talks to a node on this machine (its Unix socket).
    pub fn is_unix(&self) -> bool {
        self.unix
    }

    pub fn processes(&self) -> ProcessesClient<Channel> {
        ProcessesClient::new(self.channel.clone())
            .max_decoding_message_size(256 << 20)
            .max_encoding_message_size(256 << 20)
    }

    /// The channel itself, for code that builds its own clients.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    pub fn cluster(&self) -> ClusterClient<Channel> {
        ClusterClient::new(self.channel.clone())
    }

    /// Runs a future to completion on the shared runtime (from a non-async
    /// thread).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        runtime().block_on(future)
    }

    /// A unary call with [`CALL_TIMEOUT`].
    pub fn call<T, F>(&self, future: F) -> Result<T, ClientError>
    where
        F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.block_on(async {
            match tokio::time::timeout(CALL_TIMEOUT, future).await {
                Ok(Ok(reply)) => Ok(reply.into_inner()),
                Ok(Err(status)) => Err(ClientError::from_status(&status)),
                Err(_) => Err(ClientError::Timeout(CALL_TIMEOUT)),
            }
        })
    }

    pub fn get(&self, pid: Gpid) -> Result<ProcessInfo, ClientError> {
        let mut api = self.processes();
        self.call(api.get(GetRequest {
            pid: pid.as_raw(),
            with_env: false,
        }))
    }

    /// Starts a process; its cluster PID and what the node says of it.
    pub fn spawn(&self, request: SpawnRequest) -> Result<(Gpid, ProcessInfo), ClientError> {
        let mut api = self.processes();
        let info = self.call(api.spawn(request))?;
        Ok((spawned_pid(&info)?, info))
    }

    /// Has this client's node write the stdout of `pid` into the shell's
    /// descriptor `fd` (WriteOutputTo); returns when that stdout has
    /// ended, with no deadline (it lasts as long as the process writes).
    pub fn write_output_to(
        &self,
        pid: Gpid,
        fd: std::os::fd::RawFd,
    ) -> Result<proto::v1::WriteOutputToReply, ClientError> {
        let mut api = self.processes();
        self.block_on(api.write_output_to(proto::v1::WriteOutputToRequest {
            pid: pid.as_raw(),
            fd,
        }))
        .map(tonic::Response::into_inner)
        .map_err(|status| ClientError::from_status(&status))
    }

    pub fn signal(&self, pid: Gpid, signal: i32) -> Result<(), ClientError> {
        let mut api = self.processes();
        self.call(api.signal(SignalRequest {
            pid: pid.as_raw(),
            signal,
        }))
        .map(|_| ())
    }

    /// Tells the process's node that its stdout's reader is gone
    /// (CloseStdout): its next write gets EPIPE and SIGPIPE, as a local
    /// writer's would. A node from before CloseStdout is asked for the
    /// SIGPIPE instead.
    pub fn close_stdout(&self, pid: Gpid) -> Result<(), ClientError> {
        let mut api = self.processes();
        let closed =
            self.call(api.close_stdout(proto::v1::CloseStdoutRequest { pid: pid.as_raw() }));
        match closed {
            Err(ClientError::Status {
                code: tonic::Code::Unimplemented,
                ..
            }) => self.signal(pid, libc::SIGPIPE),
            other => other.map(|_| ()),
        }
    }

    pub fn list(&self, node: &str) -> Result<proto::v1::ListReply, ClientError> {
        let mut api = self.processes();
        self.call(api.list(ListRequest {
            node: node.to_string(),
            states: Vec::new(),
            brief: false,
            ended: false,
        }))
    }

    pub fn nodes(&self) -> Result<Vec<NodeInfo>, ClientError> {
        let mut api = self.cluster();
        self.call(api.nodes(NodesRequest {})).map(|r| r.nodes)
    }

    /// The name of the node this shell is connected to (its default node).
    pub fn local_node(&self) -> Result<String, ClientError> {
        if let Some(name) = self.local_name.get() {
            return Ok(name.clone());
        }
        let mut api = self.cluster();
        let name = self.call(api.nodes(NodesRequest {}))?.local;
        Ok(self.local_name.get_or_init(|| name).clone())
    }

    /// Whether `node` (a command's `@NODE`; empty for the default) is the
    /// node this shell talks to.
    pub fn is_local_node(&self, node: &str) -> bool {
        node.is_empty() || self.local_node().is_ok_and(|name| name == node)
    }
}

/// The cluster PID of a process a node says it started.
pub fn spawned_pid(info: &ProcessInfo) -> Result<Gpid, ClientError> {
    Gpid::from_raw(info.pid.into())
        .map_err(|e| ClientError::internal(format!("the node answered a spawn with {e}")))
}
