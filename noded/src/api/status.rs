//! The one place where domain errors become gRPC statuses.

use tonic::{Code, Status};

use crate::error::ProcError;

impl From<ProcError> for Status {
    fn from(e: ProcError) -> Self {
        let code = match &e {
            ProcError::NoSuchProcess(_)
            | ProcError::UnknownSlot { .. }
            | ProcError::Exited(_)
            | ProcError::NoSuchExecutable(_)
            | ProcError::NoSuchNode(_) => Code::NotFound,
            ProcError::InvalidSignal(_) | ProcError::InvalidArgument(_) => Code::InvalidArgument,
            ProcError::NotExecutable { .. } => Code::PermissionDenied,
            ProcError::ShuttingDown(_) | ProcError::Keeper(_) => Code::Unavailable,
            ProcError::NoStdin(_)
            | ProcError::StdinClosed(_)
            | ProcError::NoTerminal(_)
            | ProcError::NoSuchDescriptor(_)
            | ProcError::NoSuchUser { .. } => Code::FailedPrecondition,
            ProcError::WaitTimeout { .. } => Code::DeadlineExceeded,
            ProcError::Alloc(_) => Code::ResourceExhausted,
            ProcError::Os { .. } => Code::Internal,
        };
        Status::new(code, e.to_string())
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
