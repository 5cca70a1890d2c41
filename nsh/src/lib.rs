//! nsh: the interactive cluster shell and script interpreter (SPEC §3).
//!
//! brush-parser turns text into a bash AST ([`syntax`]); the interpreter
//! ([`exec`]) runs it over a [`shell::Shell`] state, expanding words with
//! [`expand`]; external commands become cluster processes started through
//! the API ([`remote`], [`client`]), and [`jobs`] tracks them for job
//! control. [`repl`] is the interactive front end, [`cli`] the command line.

pub mod builtins;
pub mod calls;
pub mod cli;
pub mod client;
pub mod dev;
pub mod dynamic;
pub mod exec;
pub mod expand;
pub mod io;
pub mod jobs;
pub mod relay;
pub mod remote;
pub mod repl;
pub mod shell;
pub mod signals;
pub mod syntax;
pub mod terminal;
pub mod vars;
