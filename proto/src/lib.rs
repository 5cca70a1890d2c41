//! The `nefele.v1` gRPC API (SPEC §5): generated messages, clients and
//! servers, the cluster PID type every component shares, the clock and
//! exit-status helpers, and the one [`connect`] helper that every client (nsh, nefelefs, tests, programs) uses
//! to reach a node through `NEFELE_ADDR`.

mod addr;
pub mod call;
mod clock;
mod gpid;
mod reason;
pub mod rlimit;
mod status;
pub mod tls;

pub use addr::{
    Addr, AddrError, ConnectError, DEFAULT_CONNECT_TIMEOUT, connect, connect_lazy, connect_lazy_to,
    connect_timeout, connect_with, default_addr, default_socket_path,
};
pub use clock::now_ms;
pub use gpid::{Gpid, GpidError, MAX_SERIAL, MAX_SLOT, Slot, max_serial, or_zero};
pub use reason::{REASON_HEADER, Reason, reason_of};
pub use status::{shell_status, signal_status};

/// Generated code for package `nefele.v1`.
#[allow(missing_docs, clippy::all)]
pub mod v1 {
    tonic::include_proto!("nefele.v1");
}

/// Generated messages of `nefele.keeper.v1`, the local protocol between
/// noded and its keeper (not part of the public API).
#[allow(missing_docs, clippy::all)]
pub mod keeper {
    tonic::include_proto!("nefele.keeper.v1");
}

/// Metadata naming the user a request acts for, honoured only from nodes
/// and from root on a node's socket (SPEC §9): how a node forwards a
/// request for a user, and how root-run tools act for one.
pub const USER_HEADER: &str = "nefele-user";

/// Size limits of the coordination store's keys and values (SPEC §8,
/// docs/design/coord.md), shared by noded, which enforces them, and
/// clients that want to refuse early (nefelefs answers EFBIG).
pub mod coord_limits {
    /// Longest key, lock, barrier or name, in bytes.
    pub const MAX_KEY_BYTES: usize = 1024;
    /// Largest value, in bytes.
    pub const MAX_VALUE_BYTES: usize = 64 * 1024;
}

/// Encoded descriptors of the API, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("nefele_descriptor");
