//! nsh: the interactive cluster shell and script interpreter (SPEC §3).
//!
//! brush-parser turns text into a bash AST; the interpreter here runs it,
//! with external commands started as cluster processes through the API.

pub mod dev;
pub mod expand;
pub mod relay;
pub mod terminal;
pub mod vars;
