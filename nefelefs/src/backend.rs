//! Where the filesystem's data comes from: the [`Backend`] trait, and its
//! implementation over the gRPC API with a deadline on every call, so a
//! cluster that cannot be reached turns into EIO within seconds instead of
//! a hang. Tests of fs.rs feed the trait from memory instead.

use std::future::Future;
use std::time::Duration;

use proto::Gpid;
use proto::v1::cluster_client::ClusterClient;
use proto::v1::coord_client::CoordClient;
use proto::v1::processes_client::ProcessesClient;
use proto::v1::services_client::ServicesClient;
use proto::v1::{
    GetRequest, InputChunk, KeyValue, KvDeleteRequest, KvGetRequest, KvListRequest, KvPutRequest,
    ListRequest, ListServicesRequest, NodeInfo, NodesRequest, OutputStream, ProcessInfo,
    ReadOutputRequest, ServiceInfo, SignalRequest,
};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

/// Deadline of every call that does not wait for a process.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a filesystem operation failed; becomes an errno in fuse.rs.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum FsError {
    /// No such file, PID or node.
    #[error("not found")]
    NotFound,
    /// A bad write (junk in ctl).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The process has exited (signals).
    #[error("no such process")]
    NoProcess,
    /// Its stdin is closed or was never a pipe.
    #[error("broken pipe")]
    BrokenPipe,
    /// Not allowed (also: writing a read-only file, reading a write-only one).
    #[error("permission denied")]
    Denied,
    /// A directory was expected.
    #[error("not a directory")]
    NotDir,
    /// A file was expected.
    #[error("is a directory")]
    IsDir,
    /// No such open file.
    #[error("bad file handle")]
    BadHandle,
    /// It exists already (an exclusive create, mkdir).
    #[error("exists")]
    Exists,
    /// A directory that still has entries.
    #[error("directory not empty")]
    NotEmpty,
    /// More than a value may hold.
    #[error("file too large")]
    TooBig,
    /// A limit of the store (keys or bytes per user).
    #[error("no space: {0}")]
    NoSpace(String),
    /// A name longer than a key may be.
    #[error("name too long")]
    NameTooLong,
    /// A rename the tree cannot make in one step (`mv` then copies).
    #[error("cross-device link")]
    CrossDevice,
    /// The cluster could not be reached or failed.
    #[error("i/o error: {0}")]
    Io(String),
    /// The caller was signalled while its request waited (interrupt.rs).
    #[error("interrupted")]
    Interrupted,
}

impl From<Status> for FsError {
    fn from(s: Status) -> Self {
        match s.code() {
            _ if proto::reason_of(&s) == Some(proto::Reason::Exited) => FsError::NoProcess,
            Code::NotFound => FsError::NotFound,
            Code::InvalidArgument => FsError::Invalid(s.message().to_string()),
            Code::FailedPrecondition => FsError::BrokenPipe,
            Code::PermissionDenied => FsError::Denied,
            _ => FsError::Io(s.message().to_string()),
        }
    }
}

/// Result of a backend call.
pub type FsResult<T> = Result<T, FsError>;

/// The cluster PID a process inode names (the inode scheme keeps raw PIDs):
/// one that is not a cluster PID does not exist.
pub fn gpid(raw: i32) -> FsResult<Gpid> {
    Gpid::from_raw(i64::from(raw)).map_err(|_| FsError::NotFound)
}

/// What the filesystem needs from the cluster.
pub trait Backend: Send + Sync + 'static {
    /// Every process of the cluster; `brief` leaves out the live host
    /// figures (state is running for a stopped process, no CPU time or
    /// memory), which is cheaper for the nodes.
    fn list(&self, brief: bool) -> impl Future<Output = FsResult<Vec<ProcessInfo>>> + Send;
    /// One process (with its environment if asked).
    fn get(&self, pid: Gpid, with_env: bool) -> impl Future<Output = FsResult<ProcessInfo>> + Send;
    /// Every member.
    fn nodes(&self) -> impl Future<Output = FsResult<Vec<NodeInfo>>> + Send;
    /// Every service with its replicas; with `user`, only the services
    /// that user may see (their own, or all for an administrator), as
    /// `svc ls` shows them to that user.
    fn list_services(
        &self,
        user: Option<&str>,
    ) -> impl Future<Output = FsResult<Vec<ServiceInfo>>> + Send;
    /// Up to `max` bytes of output from `offset`, waiting for output to
    /// come if there is none yet; empty once the stream has ended.
    fn read_output(
        &self,
        pid: Gpid,
        stream: OutputStream,
        offset: u64,
        max: usize,
    ) -> impl Future<Output = FsResult<Vec<u8>>> + Send;
    /// Writes to a process's stdin.
    fn write_input(&self, pid: Gpid, data: Vec<u8>) -> impl Future<Output = FsResult<()>> + Send;
    /// Sends a signal.
    fn signal(&self, pid: Gpid, signal: i32) -> impl Future<Output = FsResult<()>> + Send;
    /// `user`'s key, if it exists (a linearizable read).
    fn kv_get(
        &self,
        user: &str,
        key: &str,
    ) -> impl Future<Output = FsResult<Option<KeyValue>>> + Send;
    /// `user`'s keys under `prefix`, with their values unless `keys_only`.
    fn kv_list(
        &self,
        user: &str,
        prefix: &str,
        keys_only: bool,
    ) -> impl Future<Output = FsResult<Vec<KeyValue>>> + Send;
    /// Sets `user`'s key; with `only_new`, only if it does not exist
    /// ([`FsError::Exists`] otherwise).
    fn kv_put(
        &self,
        user: &str,
        key: &str,
        value: Vec<u8>,
        only_new: bool,
    ) -> impl Future<Output = FsResult<()>> + Send;
    /// Deletes `user`'s key ([`FsError::NotFound`] if there is none).
    fn kv_delete(&self, user: &str, key: &str) -> impl Future<Output = FsResult<()>> + Send;
}

/// The backend over a node's API.
#[derive(Clone)]
pub struct ApiBackend {
    channel: Channel,
}

impl ApiBackend {
    /// A backend talking to the node at `addr`; it connects lazily, so the
    /// filesystem mounts (and answers EIO) even while the node is down.
    /// A TLS address needs the cluster CA (`NEFELE_CA`).
    pub fn new(addr: &proto::Addr) -> Result<Self, proto::ConnectError> {
        Ok(ApiBackend {
            channel: proto::connect_lazy_to(addr, CALL_TIMEOUT)?,
        })
    }

    fn processes(&self) -> ProcessesClient<Channel> {
        ProcessesClient::new(self.channel.clone())
    }

    fn coord(&self) -> CoordClient<Channel> {
        CoordClient::new(self.channel.clone())
    }
}

fn timed<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(CALL_TIMEOUT);
    request
}

/// A request acting for `user` (honoured when nefelefs runs as root, as
/// a mount for every user is; otherwise the node acts for nefelefs's own
/// user, who is then the only one using the mount).
fn for_user<T>(message: T, user: &str) -> FsResult<Request<T>> {
    let mut request = timed(message);
    let name = user
        .parse()
        .map_err(|_| FsError::Invalid(format!("user name {user:?}")))?;
    request.metadata_mut().insert(proto::USER_HEADER, name);
    Ok(request)
}

/// The errors of key writes: a store limit is ENOSPC, a failed
/// only-if-new write EEXIST.
fn kv_error(status: FsError, code: Code) -> FsError {
    match code {
        Code::ResourceExhausted => FsError::NoSpace(status.to_string()),
        Code::FailedPrecondition => FsError::Exists,
        _ => status,
    }
}

/// Like [`bounded`], keeping the status code for [`kv_error`].
async fn kv_bounded<T>(call: impl Future<Output = Result<T, Status>>) -> FsResult<T> {
    match tokio::time::timeout(CALL_TIMEOUT + Duration::from_millis(500), call).await {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(status)) => {
            let code = status.code();
            Err(kv_error(FsError::from(status), code))
        }
        Err(_) => Err(FsError::Io("the cluster did not answer in time".into())),
    }
}

/// Bounds a call, whatever the transport does.
async fn bounded<T>(call: impl Future<Output = Result<T, Status>>) -> FsResult<T> {
    match tokio::time::timeout(CALL_TIMEOUT + Duration::from_millis(500), call).await {
        Ok(result) => result.map_err(FsError::from),
        Err(_) => Err(FsError::Io("the cluster did not answer in time".into())),
    }
}

impl Backend for ApiBackend {
    async fn list(&self, brief: bool) -> FsResult<Vec<ProcessInfo>> {
        let request = ListRequest {
            brief,
            ..ListRequest::default()
        };
        let reply = bounded(self.processes().list(timed(request))).await?;
        Ok(reply.into_inner().processes)
    }

    async fn get(&self, pid: Gpid, with_env: bool) -> FsResult<ProcessInfo> {
        let pid = pid.as_raw();
        let reply = bounded(self.processes().get(timed(GetRequest { pid, with_env }))).await?;
        Ok(reply.into_inner())
    }

    async fn nodes(&self) -> FsResult<Vec<NodeInfo>> {
        let mut client = ClusterClient::new(self.channel.clone());
        let reply = bounded(client.nodes(timed(NodesRequest {}))).await?;
        Ok(reply.into_inner().nodes)
    }

    async fn list_services(&self, user: Option<&str>) -> FsResult<Vec<ServiceInfo>> {
        let mut client = ServicesClient::new(self.channel.clone());
        let request = match user {
            Some(user) => for_user(ListServicesRequest {}, user)?,
            None => timed(ListServicesRequest {}),
        };
        let reply = bounded(client.list_services(request)).await?;
        Ok(reply.into_inner().services)
    }

    async fn read_output(
        &self,
        pid: Gpid,
        stream: OutputStream,
        offset: u64,
        max: usize,
    ) -> FsResult<Vec<u8>> {
        let req = ReadOutputRequest {
            pid: pid.as_raw(),
            stream: stream as i32,
            offset,
            follow: true,
        };
        // Opening the stream is bounded; waiting for output is not (a
        // running process may print later), but HTTP/2 keepalive notices a
        // node that went away.
        let mut chunks = bounded(self.processes().read_output(req))
            .await?
            .into_inner();
        match chunks.message().await {
            // Output before `chunk.offset` was rotated away: it reads as a
            // hole (NUL bytes), so offsets stay true.
            Ok(Some(chunk)) if chunk.offset > offset => {
                Ok(vec![0; (chunk.offset - offset).min(max as u64) as usize])
            }
            Ok(Some(mut chunk)) => {
                chunk.data.truncate(max);
                Ok(chunk.data)
            }
            Ok(None) => Ok(Vec::new()),
            Err(status) => Err(FsError::from(status)),
        }
    }

    async fn write_input(&self, pid: Gpid, data: Vec<u8>) -> FsResult<()> {
        let chunk = InputChunk {
            pid: pid.as_raw(),
            data,
            eof: false,
        };
        let mut request = Request::new(futures::stream::iter([chunk]));
        request.set_timeout(CALL_TIMEOUT);
        match bounded(self.processes().write_input(request)).await {
            // Writing to the stdin of a process that has exited is a
            // broken pipe, as with a real pipe.
            Err(FsError::NoProcess) => Err(FsError::BrokenPipe),
            other => other.map(drop),
        }
    }

    async fn signal(&self, pid: Gpid, signal: i32) -> FsResult<()> {
        bounded(self.processes().signal(timed(SignalRequest {
            pid: pid.as_raw(),
            signal,
        })))
        .await?;
        Ok(())
    }
    async fn kv_get(&self, user: &str, key: &str) -> FsResult<Option<KeyValue>> {
        let request = for_user(
            KvGetRequest {
                key: key.into(),
                serializable: false,
            },
            user,
        )?;
        match kv_bounded(self.coord().get(request)).await {
            Ok(reply) => Ok(reply.into_inner().kv),
            Err(FsError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn kv_list(&self, user: &str, prefix: &str, keys_only: bool) -> FsResult<Vec<KeyValue>> {
        let request = for_user(
            KvListRequest {
                prefix: prefix.into(),
                serializable: false,
                keys_only,
            },
            user,
        )?;
        Ok(kv_bounded(self.coord().list(request))
            .await?
            .into_inner()
            .kvs)
    }

    async fn kv_put(&self, user: &str, key: &str, value: Vec<u8>, only_new: bool) -> FsResult<()> {
        let request = for_user(
            KvPutRequest {
                key: key.into(),
                value,
                expect_version: only_new.then_some(0),
                ..KvPutRequest::default()
            },
            user,
        )?;
        kv_bounded(self.coord().put(request)).await.map(drop)
    }

    async fn kv_delete(&self, user: &str, key: &str) -> FsResult<()> {
        let request = for_user(
            KvDeleteRequest {
                key: key.into(),
                ..KvDeleteRequest::default()
            },
            user,
        )?;
        kv_bounded(self.coord().delete(request)).await.map(drop)
    }
}
