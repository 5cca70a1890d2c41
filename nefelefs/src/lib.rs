//! nefelefs: the cluster's processes as files under `/nefele` (SPEC §4), so
//! `ls`, `cat`, `grep`, `tail -f` and `echo > ctl` work on every node's
//! processes. A pure filesystem model (`fs`, rendering in `render`) is fed
//! by a [`backend::Backend`] (the gRPC API in production) and served by a
//! thin FUSE adapter (`fuse`), whose kernel notifications go through
//! `notices` and whose waiting reads end when their reader is signalled
//! (`interrupt`); `main.rs` mounts it.

pub mod backend;
pub mod fs;
pub mod fuse;
pub mod interrupt;
pub mod metrics;
pub mod mount;
pub mod notices;
pub mod render;
pub mod session;
