//! Pipelines: starting their elements in order, each on its own thread or
//! as a cluster process, with direct pipes between cluster processes where
//! the next element allows one (docs/design/nsh.md, "Direct pipes"), and
//! `shopt -s lastpipe`.

use brush_parser::ast;

use super::simple::{Launched, PipeLink, Prepared};
use super::spawn_shell_thread;
use crate::io::{self, Fd};
use crate::jobs::{self, Member, WaitOutcome};
use crate::remote::{self, Reader};
use crate::shell::{Flow, Shell, Status};

impl Shell {
    /// Starts every element of a multi-command pipeline; with `open_end`
    /// the last one's stdout is a pipe too, whose read end comes back.
    pub(super) fn start_pipeline(
        &mut self,
        commands: &[ast::Command],
        open_end: bool,
    ) -> Result<(Vec<Member>, Option<Fd>), Flow> {
        let count = commands.len();
        let mut members = Vec::with_capacity(count);
        let mut input: Option<Fd> = None;
        // The previous element when it was started held (its index among
        // the members): the next one decides who reads its output.
        let mut held: Option<(usize, remote::Held)> = None;
        for (i, command) in commands.iter().enumerate() {
            // bash runs the DEBUG trap here, before each element starts.
            self.enter_command(command)?;
            let mut sub = self.subshell();
            sub.tracker = self.tracker.clone();
            let next = commands.get(i + 1);
            let mut link = PipeLink {
                upstream: held.as_ref().map(|(_, h)| h.pid()),
                hold: next.is_some_and(reads_only_its_stdin),
                next_on_a_node: next.is_some_and(names_a_node),
                ..PipeLink::default()
            };
            if let Some(fd) = input.take() {
                sub.fds.set(0, fd.clone());
                link.pipe_in = Some(fd);
            }
            if i + 1 < count || open_end {
                match io::pipe() {
                    Ok((read, write)) => {
                        let write = Fd::new(write);
                        sub.fds.set(1, write.clone());
                        link.pipe_out = (i + 1 < count).then_some(write);
                        input = Some(Fd::new(read));
                    }
                    Err(e) => {
                        self.error(format!("pipe: {e}"));
                        break;
                    }
                }
            }
            let (started, reader) = sub.start_linked(command, link);
            if let Some((at, upstream)) = held.take() {
                members[at] = self.attach_held(upstream, reader);
            }
            match started {
                Launched::Member(member) => members.push(member),
                Launched::Held(process) => {
                    held = Some((members.len(), process));
                    // Replaced once the next element has decided.
                    members.push(Member::ended(1));
                }
            }
        }
        if let Some((at, upstream)) = held.take() {
            members[at] = self.attach_held(upstream, Reader::Shell);
        }
        Ok((members, input))
    }

    /// A pipeline under `shopt -s lastpipe` (in a script): its last
    /// element runs in this shell, so `x | read v` sets `v` here.
    pub(super) fn run_lastpipe(&mut self, pipeline: &ast::Pipeline) -> Status {
        let Some((last, first)) = pipeline.seq.split_last() else {
            return Ok(0);
        };
        let (members, input) = self.start_pipeline(first, true)?;
        let saved = self.fds.clone();
        if let Some(fd) = input {
            self.fds.set(0, fd);
        }
        self.stdin_is_own = true;
        let result = self.run_command(last);
        self.stdin_is_own = false;
        // Closing the read end lets a writer still going get SIGPIPE.
        self.fds = saved;
        let outcome = jobs::wait_members(&members, self.tracker.is_foreground(), false);
        let status = result?;
        if outcome != WaitOutcome::Done {
            return Err(Flow::Interrupted(130));
        }
        let mut statuses: Vec<i32> = members.iter().map(|m| m.exit.get().unwrap_or(1)).collect();
        statuses.push(status);
        self.set_pipestatus(&statuses);
        Ok(jobs::pipeline_status(&statuses, self.options.pipefail))
    }

    /// Starts one pipeline element without waiting: a cluster process, or
    /// a thread running the element inside nsh. `link` is the element's
    /// neighbours in the pipeline (direct pipes: see
    /// [`Shell::launch_linked`]); also says who reads the held upstream's
    /// output.
    fn start_linked(mut self, command: &ast::Command, link: PipeLink) -> (Launched, Reader) {
        if let ast::Command::Simple(simple) = command {
            self.stdin_is_own = true;
            match self.prepare_simple(simple) {
                Ok(Prepared::External(launch)) => return self.launch_linked(launch, link),
                Ok(prepared) => {
                    let member =
                        spawn_shell_thread("pipe", self, move |sh| sh.run_prepared(prepared));
                    return (Launched::Member(member), Reader::Shell);
                }
                Err(flow) => {
                    let status = match flow {
                        Flow::Exit(s) | Flow::Return(s) | Flow::Interrupted(s) => s,
                        _ => 1,
                    };
                    return (Launched::Member(Member::ended(status)), Reader::Shell);
                }
            }
        }
        let command = command.clone();
        let member = spawn_shell_thread("pipe", self, move |sh| sh.run_command(&command));
        (Launched::Member(member), Reader::Shell)
    }
}

/// Whether a pipeline element is a simple command whose expansion cannot
/// read the pipe or wait (no command or process substitution): the
/// element before it may then be held, unattached, while this one is
/// expanded, to learn whether it reads the output node to node. A `$(`
/// inside quotes counts too: such an element only loses the direct pipe.
fn reads_only_its_stdin(command: &ast::Command) -> bool {
    let ast::Command::Simple(_) = command else {
        return false;
    };
    let text = command.to_string();
    !["$(", "`", "<(", ">("].iter().any(|s| text.contains(s))
}

/// Whether a pipeline element is a simple command that names its node
/// (`@NODE cmd`, `@any cmd`; not `@local` or `@all`): a command before it
/// on the shell's own node then keeps its output captured, so that this
/// one can read it node to node instead of through the shell.
fn names_a_node(command: &ast::Command) -> bool {
    let ast::Command::Simple(simple) = command else {
        return false;
    };
    simple.word_or_name.as_ref().is_some_and(|w| {
        w.value.starts_with('@') && !matches!(w.value.as_str(), "@local" | "@all" | "@")
    })
}
