//! nefelefs: the cluster's processes as files under `/nefele` (SPEC §4).
//!
//! Not built yet: the nefelefs issue fills this crate with a pure filesystem
//! model (`fs.rs`) fed by the API, and a thin FUSE adapter (`fuse.rs`).
