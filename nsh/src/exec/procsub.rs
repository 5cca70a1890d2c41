//! Process substitution: `<(cmd)` and `>(cmd)`.
//!
//! The command runs in a subshell on a thread of its own (like a pipeline
//! element), connected to a real pipe of nsh's process. As a redirection
//! target (`done < <(cmd)`) the other end simply goes into the fd table,
//! which works for every command, cluster processes included. As a word
//! (`diff <(a) <(b)`, `source <(cmd)`) the command gets a path to the
//! pipe: `/dev/fd/N` for what runs inside nsh (builtins, functions), which
//! open it in nsh's own process, and `/proc/PID/fd/N` (nsh's PID) for an
//! `@local` child. A cluster process cannot open a pipe of the shell's
//! machine: it gets the path of a FIFO its node makes, connected to the
//! pipe through the node's `OpenFifo` call (`fifo.rs`). Only `@any` and
//! `@all`, whose node is not known before they start, are refused.

use std::collections::BTreeSet;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

use brush_parser::ast;

use crate::builtins;
use crate::io::{self, Fd};
use crate::jobs::JobTracker;
use crate::shell::{Flow, Shell};

use super::simple::Place;

/// Pipe ends handed out as `/dev/fd/N` paths and still open, so a cluster
/// command given such a path is refused.
static EXPOSED: Mutex<BTreeSet<RawFd>> = Mutex::new(BTreeSet::new());

/// What a command was given as the path of a process substitution: the
/// end of its pipe, or the FIFO a node made for it; open as long as this
/// lives.
#[derive(Debug)]
pub enum Exposed {
    Pipe(OwnedFd),
    /// Held for its drop, which ends the node's call.
    Fifo {
        _call: super::fifo::RemoteFifo,
    },
}

impl Exposed {
    /// A pipe end and its path: `/proc/PID/fd/N` for a child process of
    /// nsh (`local`), `/dev/fd/N` for what runs inside nsh.
    fn pipe(fd: OwnedFd, local: bool) -> (String, Self) {
        let raw = fd.as_raw_fd();
        if let Ok(mut set) = EXPOSED.lock() {
            set.insert(raw);
        }
        let path = match local {
            true => format!("/proc/{}/fd/{raw}", std::process::id()),
            false => format!("/dev/fd/{raw}"),
        };
        (path, Exposed::Pipe(fd))
    }
}

impl Drop for Exposed {
    fn drop(&mut self) {
        // Forget the number before it closes and can be reused.
        if let Exposed::Pipe(fd) = self
            && let Ok(mut set) = EXPOSED.lock()
        {
            set.remove(&fd.as_raw_fd());
        }
    }
}

/// The first argument naming a live process substitution (`/dev/fd/N`).
pub fn exposed_path(argv: &[String]) -> Option<&str> {
    let set = EXPOSED.lock().ok()?;
    argv.iter().map(String::as_str).find(|arg| {
        arg.strip_prefix("/dev/fd/")
            .and_then(|n| n.parse::<RawFd>().ok())
            .is_some_and(|n| set.contains(&n))
    })
}

/// The error for a cluster command handed a pipe of the shell's machine.
pub fn remote_message(command: &str, path: &str, place: &str) -> String {
    format!(
        "process substitution: {command} runs on {place} and cannot open {path} of the shell's \
         machine (run it with @local, or feed it through a redirection: {command} < <(...))"
    )
}

/// A placeholder word standing for the process substitution number `i`
/// of a command until the command's place is known (it cannot come from
/// shell text: NUL never does).
pub fn placeholder(i: usize) -> String {
    format!("\0procsub{i}")
}

impl Shell {
    /// Starts the command of a process substitution; returns the end of
    /// its pipe for the consumer (the read end for `<(..)`).
    pub(crate) fn start_process_substitution(
        &mut self,
        kind: &ast::ProcessSubstitutionKind,
        command: &ast::SubshellCommand,
    ) -> Result<OwnedFd, String> {
        let (read, write) = io::pipe().map_err(|e| format!("cannot create a pipe: {e}"))?;
        let mut sub = self.subshell();
        // Not the foreground job: nobody waits for it, as in bash.
        sub.tracker = JobTracker::background().0;
        let consumer = match kind {
            ast::ProcessSubstitutionKind::Read => {
                sub.fds.set(1, Fd::new(write));
                read
            }
            ast::ProcessSubstitutionKind::Write => {
                sub.fds.set(0, Fd::new(read));
                write
            }
        };
        let list = command.list.clone();
        let member = super::spawn_shell_thread("procsub", sub, move |sh| sh.run_list(&list));
        if let Ok(mut running) = self.procsubs.lock() {
            running.retain(|exit| exit.get().is_none());
            running.push(member.exit);
        }
        Ok(consumer)
    }

    /// A process substitution for a command on `node`: its command starts
    /// here, and a FIFO there is connected to its pipe.
    fn fifo_substitution(
        &mut self,
        node: &str,
        kind: &ast::ProcessSubstitutionKind,
        command: &ast::SubshellCommand,
    ) -> Result<(String, Exposed), String> {
        let client = self.client().cloned().map_err(|e| e.to_string())?;
        let end = self.start_process_substitution(kind, command)?;
        let feed = matches!(kind, ast::ProcessSubstitutionKind::Read);
        let (path, fifo) = super::fifo::open(&client, node, feed, end)
            .map_err(|e| format!("process substitution: {e}"))?;
        Ok((path, Exposed::Fifo { _call: fifo }))
    }

    /// Where a command would run, for messages: `node n1`, `every node`.
    pub(crate) fn where_runs(&self, node: &str, place: &Place) -> String {
        match (place, node) {
            (Place::All, _) => "every node".to_string(),
            (Place::Local, _) => "this machine".to_string(),
            (_, "@any") => "the node the scheduler picks".to_string(),
            (_, "") => match self.default_node() {
                n if n.is_empty() => "a cluster node".to_string(),
                n => format!("node {n}"),
            },
            (_, n) => format!("node {n}"),
        }
    }

    /// Replaces the placeholders of `<(..)`/`>(..)` words in `argv` with
    /// paths to their pipes, starting their commands; refuses when the
    /// command runs on a cluster node.
    pub(crate) fn substitute_paths(
        &mut self,
        argv: &mut [String],
        subs: &[(&ast::ProcessSubstitutionKind, &ast::SubshellCommand)],
    ) -> Result<Vec<Exposed>, Flow> {
        // Where the command runs: nsh itself, this machine (`@local`), or
        // a node (`Some(name)`, "" the shell's), which gets FIFOs.
        let (local, node) = match argv.first().map(String::as_str) {
            Some("@local") => (true, None),
            Some(at @ ("@all" | "@any")) => {
                let place = match at {
                    "@all" => self.where_runs("", &Place::All),
                    _ => self.where_runs("@any", &Place::Cluster),
                };
                let command = argv
                    .iter()
                    .find(|a| !a.starts_with('@'))
                    .cloned()
                    .unwrap_or_default();
                return self.refuse(remote_message(&command, "/dev/fd/N", &place));
            }
            Some(at) if at.len() > 1 && at.starts_with('@') => (false, Some(at[1..].to_string())),
            Some(name) if self.functions.contains_key(name) || builtins::is_builtin(name) => {
                (false, None)
            }
            _ => (false, Some(String::new())),
        };
        let mut exposed = Vec::with_capacity(subs.len());
        for arg in argv.iter_mut() {
            let Some(i) = arg
                .strip_prefix("\0procsub")
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            let Some(&(kind, command)) = subs.get(i) else {
                continue;
            };
            let started = match &node {
                None => self
                    .start_process_substitution(kind, command)
                    .map(|end| Exposed::pipe(end, local)),
                Some(node) => self.fifo_substitution(node, kind, command),
            };
            match started {
                Ok((path, end)) => {
                    *arg = path;
                    exposed.push(end);
                }
                Err(message) => {
                    self.error(message);
                    return Err(Flow::Exit(1));
                }
            }
        }
        Ok(exposed)
    }
}
