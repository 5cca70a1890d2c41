//! The one place where domain errors become gRPC statuses.

use proto::Reason;
use tonic::{Code, Status};

use crate::error::ProcError;

/// `status`, with `reason` in its metadata when there is one.
fn marked(status: Status, reason: Option<Reason>) -> Status {
    match reason {
        Some(reason) => reason.mark(status),
        None => status,
    }
}

impl From<ProcError> for Status {
    fn from(e: ProcError) -> Self {
        let code = match &e {
            ProcError::NoSuchProcess(_)
            | ProcError::NotClusterPid(_)
            | ProcError::UnknownSlot { .. }
            | ProcError::MisroutedPid(_)
            | ProcError::MisroutedNode(_)
            | ProcError::Exited(_)
            | ProcError::NoSuchExecutable(_)
            | ProcError::NoSuchNode(_) => Code::NotFound,
            ProcError::InvalidSignal(_) | ProcError::InvalidArgument(_) => Code::InvalidArgument,
            ProcError::NotExecutable { .. }
            | ProcError::IsADirectory(_)
            | ProcError::NotPermitted(_) => Code::PermissionDenied,
            ProcError::ShuttingDown(_) | ProcError::Keeper(_) => Code::Unavailable,
            ProcError::NoStdin(_)
            | ProcError::StdinClosed(_)
            | ProcError::NoTerminal(_)
            | ProcError::NoSuchDescriptor(_)
            | ProcError::NoSuchUser { .. } => Code::FailedPrecondition,
            ProcError::WaitTimeout { .. } | ProcError::NoStartMessage(_) => Code::DeadlineExceeded,
            ProcError::Alloc(_) => Code::ResourceExhausted,
            ProcError::Os { .. } | ProcError::Internal(_) => Code::Internal,
        };
        let reason = match &e {
            ProcError::NoSuchProcess(_)
            | ProcError::NotClusterPid(_)
            | ProcError::UnknownSlot { .. }
            | ProcError::MisroutedPid(_) => Some(Reason::NoSuchProcess),
            ProcError::Exited(_) => Some(Reason::Exited),
            ProcError::NoSuchExecutable(_) => Some(Reason::NoSuchExecutable),
            ProcError::NoSuchNode(_) | ProcError::MisroutedNode(_) => Some(Reason::NoSuchNode),
            ProcError::IsADirectory(_) => Some(Reason::IsADirectory),
            ProcError::NotExecutable { .. } => Some(Reason::NotExecutable),
            ProcError::WaitTimeout { .. } => Some(Reason::TimedOut),
            ProcError::ShuttingDown(_) | ProcError::Keeper(_) => Some(Reason::NodeUnavailable),
            _ => None,
        };
        marked(Status::new(code, e.to_string()), reason)
    }
}

impl From<crate::cluster::state::Refusal> for Status {
    fn from(e: crate::cluster::state::Refusal) -> Self {
        use crate::cluster::state::Refusal as R;
        let code = match &e {
            R::BadToken(_) => Code::PermissionDenied,
            R::NoSuchToken(_) | R::NoSuchMember(_) | R::NoSuchService(_) => Code::NotFound,
            R::ServiceExists(_) | R::NameTaken(_) => Code::AlreadyExists,
            R::ReplicaChanged { .. } | R::SlotRemoved(_) | R::SlotTaken(_) | R::ClusterFull => {
                Code::FailedPrecondition
            }
        };
        Status::new(code, e.to_string())
    }
}

impl From<crate::tokens::TokenError> for Status {
    fn from(e: crate::tokens::TokenError) -> Self {
        Status::permission_denied(e.to_string())
    }
}

impl From<crate::cluster::coord::CoordError> for Status {
    fn from(e: crate::cluster::coord::CoordError) -> Self {
        use crate::cluster::coord::CoordError as E;
        let code = match &e {
            E::NoSuchKey(_) | E::NoSuchLease(_) | E::NoSuchName(_) => Code::NotFound,
            E::VersionMismatch { .. }
            | E::Fenced { .. }
            | E::NotHolder(_)
            | E::BarrierSize { .. } => Code::FailedPrecondition,
            E::Held { .. } => Code::Aborted,
            E::NameTaken { .. } => Code::AlreadyExists,
            E::Limit(_) => Code::ResourceExhausted,
            E::Invalid(_) => Code::InvalidArgument,
        };
        Status::new(code, e.to_string())
    }
}

impl From<super::coord::CoordApiError> for Status {
    fn from(e: super::coord::CoordApiError) -> Self {
        use super::coord::CoordApiError as E;
        let code = match &e {
            E::NoOwner | E::NoTtl | E::FutureRevision { .. } => Code::InvalidArgument,
            E::OwnerGone(_) => Code::NotFound,
            E::TooManyWatches(_) => Code::ResourceExhausted,
            E::Compacted { .. } => Code::OutOfRange,
            E::WaitRanOut(_) => Code::DeadlineExceeded,
            E::Unexpected(_) => Code::Internal,
        };
        Status::new(code, e.to_string())
    }
}

impl From<super::services::SpecError> for Status {
    fn from(e: super::services::SpecError) -> Self {
        Status::invalid_argument(e.to_string())
    }
}

impl From<super::tokens::TokenApiError> for Status {
    fn from(e: super::tokens::TokenApiError) -> Self {
        use super::tokens::TokenApiError as E;
        let code = match &e {
            E::NotRoot | E::OtherCluster => Code::PermissionDenied,
            E::Insecure(_) => Code::FailedPrecondition,
            E::BadUser(_) | E::TooLong | E::Malformed(_) | E::Certify(_) => Code::InvalidArgument,
            E::NoSecret(_) | E::Vanished => Code::Internal,
        };
        Status::new(code, e.to_string())
    }
}

impl From<crate::cluster::StoreError> for Status {
    fn from(e: crate::cluster::StoreError) -> Self {
        use crate::cluster::StoreError as E;
        let code = match &e {
            E::Encode(_) | E::BadReply(_) => Code::Internal,
            _ => Code::Unavailable,
        };
        Status::new(code, e.to_string())
    }
}

impl From<crate::cluster::JoinError> for Status {
    fn from(e: crate::cluster::JoinError) -> Self {
        use crate::cluster::JoinError as E;
        let code = match &e {
            E::Invalid(_) | E::Malformed(_) => Code::InvalidArgument,
            E::NotANode => Code::Unauthenticated,
            E::Impersonation { .. } | E::OtherCluster => Code::PermissionDenied,
            E::Insecure => Code::FailedPrecondition,
            E::Internal(_) => Code::Internal,
        };
        Status::new(code, e.to_string())
    }
}

impl From<crate::auth::AuthError> for Status {
    fn from(e: crate::auth::AuthError) -> Self {
        use crate::auth::AuthError as E;
        let code = match &e {
            E::NoCredentials | E::TokenRefused(_) | E::InternalOnly(_) | E::LeaveNotYours => {
                Code::Unauthenticated
            }
            E::InternalOnSocket(_) | E::NoUserName(_) | E::LeaveNeedsRoot | E::RemoveNeedsRoot => {
                Code::PermissionDenied
            }
        };
        Status::new(code, e.to_string())
    }
}

impl From<super::route::RouteError> for Status {
    fn from(e: super::route::RouteError) -> Self {
        use super::route::RouteError as E;
        let (code, reason) = match &e {
            E::Left(_) | E::Down(_) | E::Connect { .. } | E::Unreachable { .. } | E::TooSlow(_) => {
                (Code::Unavailable, Some(Reason::NodeUnavailable))
            }
            E::NoNodeUp => (Code::Unavailable, None),
            E::NoNodeWithLabels(_) => (Code::FailedPrecondition, None),
            E::NoAnswer(_) => (Code::DeadlineExceeded, None),
        };
        marked(Status::new(code, e.to_string()), reason)
    }
}

impl From<crate::cluster::raft_net::RaftNetError> for Status {
    fn from(e: crate::cluster::raft_net::RaftNetError) -> Self {
        use crate::cluster::raft_net::RaftNetError as E;
        let code = match e {
            E::Auth(refused) => return refused.into(),
            E::NotStarted | E::NotLeader(_) => Code::Unavailable,
            E::BadMessage(_) => Code::InvalidArgument,
            E::Encode(_) => Code::Internal,
        };
        Status::new(code, e.to_string())
    }
}
