//! nsh: the interactive cluster shell and script interpreter (SPEC §3).
//!
//! Not built yet: the nsh issue fills this crate (REPL, builtins one file
//! each, the cluster client).
