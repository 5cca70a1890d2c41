//! The interpreter: runs brush-parser's AST over a [`Shell`].
//!
//! Lists, and-or lists, pipelines and compound commands live here; simple
//! commands (expansion, assignments, dispatch to builtins, functions and
//! cluster processes) in `exec/simple.rs`, redirections in
//! `exec/redirect.rs`. Pipeline elements that run inside nsh (builtins,
//! functions, compound commands) each get a subshell clone on a thread of
//! their own, connected by OS pipes, so pipes give backpressure for free.

pub(crate) mod all;
pub(crate) mod assign;
mod debug;
mod fifo;
mod pipeline;
mod procsub;
mod redirect;
mod select;
mod simple;
pub mod timed;
pub(crate) mod tty;

use proto::Gpid;
use std::sync::Arc;

use brush_parser::ast::{self, CompoundCommand, SeparatorOperator};

use crate::expand;
use crate::io::{self, Fd};
use crate::jobs::{self, ExitCell, Job, JobState, JobTracker, Member, WaitOutcome};
use crate::shell::{Flow, Shell, Status};
use crate::signals;
use crate::vars::{Scope, Value};

pub use redirect::os_message as redirect_message;
pub use simple::Prepared;

/// Stack size of interpreter threads: deep recursion in scripts must not
/// overflow before bash's own limits would.
const THREAD_STACK: usize = 16 << 20;

/// Starts a thread running `body` with a shell state, reporting its status.
pub(crate) fn spawn_shell_thread(
    name: &str,
    mut shell: Shell,
    body: impl FnOnce(&mut Shell) -> Status + Send + 'static,
) -> Member {
    let exit = ExitCell::default();
    let cell = exit.clone();
    let mask = io::umask();
    let spawned = std::thread::Builder::new()
        .name(name.to_string())
        .stack_size(THREAD_STACK)
        .spawn(move || {
            // Process-wide state stays per shell: the thread gets its own
            // umask (and cwd and root, which nsh does not use), as a forked
            // subshell would, so `umask` in it leaves the parent's alone.
            let _ = nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS);
            io::set_umask(mask);
            let status = match body(&mut shell) {
                Ok(s) => s,
                Err(Flow::Exit(s) | Flow::Return(s) | Flow::Interrupted(s)) => s,
                Err(Flow::Break(_) | Flow::Continue(_)) => shell.last_status,
            };
            let status = shell.exit_trap(status);
            drop(shell);
            cell.set(status);
        });
    if spawned.is_err() {
        exit.set(1);
    }
    Member {
        pid: None,
        exit,
        input_done: None,
    }
}

impl Shell {
    /// Runs a parsed program, one complete command after another.
    pub fn run_program(&mut self, program: &ast::Program) -> Status {
        self.program_depth += 1;
        let outermost = self.program_depth == 1;
        let mut status = 0;
        let mut result = Ok(0);
        for command in &program.complete_commands {
            match self.run_list(command) {
                Ok(s) => status = s,
                // An expansion error abandoned this command only.
                Err(Flow::Interrupted(s)) if outermost && self.abandon => {
                    self.abandon = false;
                    self.last_status = s;
                    status = s;
                }
                Err(flow) => {
                    result = Err(flow);
                    break;
                }
            }
        }
        self.program_depth -= 1;
        result.map(|_| status)
    }

    /// Runs a compound list (`a; b & c`).
    pub fn run_list(&mut self, list: &ast::CompoundList) -> Status {
        let mut status = self.last_status;
        for ast::CompoundListItem(and_or, separator) in &list.0 {
            self.check_signals()?;
            status = match separator {
                SeparatorOperator::Async => self.run_background(and_or)?,
                SeparatorOperator::Sequence => self.run_and_or(and_or)?,
            };
            self.last_status = status;
        }
        Ok(status)
    }

    /// `a && b || c`, with `set -e` applying to the last pipeline only.
    pub fn run_and_or(&mut self, list: &ast::AndOrList) -> Status {
        let mut status;
        if list.additional.is_empty() {
            status = self.run_pipeline(&list.first)?;
            self.after_pipeline(status, &list.first)?;
            return Ok(status);
        }
        self.condition_depth += 1;
        let first = self.run_pipeline(&list.first);
        self.condition_depth -= 1;
        status = first?;
        self.last_status = status;
        let count = list.additional.len();
        for (i, next) in list.additional.iter().enumerate() {
            let (run, pipeline) = match next {
                ast::AndOr::And(p) => (status == 0, p),
                ast::AndOr::Or(p) => (status != 0, p),
            };
            if !run {
                continue;
            }
            let last = i + 1 == count;
            if !last {
                self.condition_depth += 1;
            }
            let result = self.run_pipeline(pipeline);
            if !last {
                self.condition_depth -= 1;
            }
            status = result?;
            self.last_status = status;
            if last {
                self.after_pipeline(status, pipeline)?;
            }
        }
        Ok(status)
    }

    /// What follows a pipeline whose status counts (not in a condition,
    /// not negated, last of an and-or list): on failure the ERR trap, then
    /// `set -e`.
    fn after_pipeline(&mut self, status: i32, pipeline: &ast::Pipeline) -> Result<(), Flow> {
        if status == 0 || self.condition_depth > 0 || pipeline.bang {
            return Ok(());
        }
        // The ERR trap does not run again for a failure inside itself.
        if let Some(action) = self.traps.get("ERR").cloned()
            && !action.is_empty()
            && !self.in_err_trap
            && fires_err_trap(pipeline)
        {
            self.last_status = status;
            self.in_err_trap = true;
            let result = self.run_trap(&action);
            self.in_err_trap = false;
            result?;
            self.last_status = status;
        }
        if self.options.errexit {
            return Err(Flow::Exit(status));
        }
        Ok(())
    }

    /// Runs a pipeline in the foreground.
    pub fn run_pipeline(&mut self, pipeline: &ast::Pipeline) -> Status {
        if let Some(timed) = &pipeline.timed {
            return self.run_timed(pipeline, timed);
        }
        let status = if pipeline.seq.len() == 1 {
            let status = self.run_command(&pipeline.seq[0])?;
            self.set_pipestatus(&[status]);
            status
        } else if self.shopt.lastpipe && !self.interactive {
            self.run_lastpipe(pipeline)?
        } else {
            let members = self.start_pipeline(&pipeline.seq, false)?.0;
            self.tracker
                .pipeline_started(members.last().and_then(|m| m.pid).map(Gpid::as_raw));
            self.wait_foreground(members, &pipeline.to_string())?
        };
        let status = if pipeline.bang {
            i32::from(status == 0)
        } else {
            status
        };
        self.last_status = status;
        Ok(status)
    }

    /// Sets `PIPESTATUS`, in place when it has as many elements already
    /// (this runs after every pipeline).
    fn set_pipestatus(&mut self, statuses: &[i32]) {
        use std::fmt::Write;
        let var = self.vars.entry("PIPESTATUS", Scope::Visible);
        if var.readonly {
            return;
        }
        if let Some(Value::Indexed(map)) = &mut var.value
            && map.len() == statuses.len()
            && map.keys().copied().eq(0..statuses.len() as i64)
        {
            for (value, status) in map.values_mut().zip(statuses) {
                value.clear();
                let _ = write!(value, "{status}");
            }
            return;
        }
        let map = statuses
            .iter()
            .enumerate()
            .map(|(i, s)| (i as i64, s.to_string()))
            .collect();
        var.value = Some(Value::Indexed(map));
    }

    /// Waits for the parts of a foreground job; Ctrl-Z turns them into a
    /// stopped job.
    pub(crate) fn wait_foreground(&mut self, members: Vec<Member>, text: &str) -> Status {
        let foreground = self.tracker.is_foreground();
        match jobs::wait_members(&members, foreground, false) {
            WaitOutcome::Done => {
                let statuses: Vec<i32> =
                    members.iter().map(|m| m.exit.get().unwrap_or(1)).collect();
                self.set_pipestatus(&statuses);
                if let Some(last) = members.last() {
                    self.report_death_by_signal(last, text);
                }
                Ok(jobs::pipeline_status(&statuses, self.options.pipefail))
            }
            WaitOutcome::Interrupted => Err(Flow::Interrupted(130)),
            WaitOutcome::Suspended => {
                self.stop_members(&members);
                let job = Job {
                    inherited: false,
                    id: 0,
                    text: text.to_string(),
                    leader: members.last().and_then(|m| m.pid).map_or(0, Gpid::as_raw),
                    members,
                    background: None,
                    state: JobState::Stopped,
                    pipefail: self.options.pipefail,
                    terminal: None,
                };
                let mut table = self.jobs.lock().map_err(|_| Flow::Exit(1))?;
                let id = table.add(job);
                let line = table
                    .get_mut(id)
                    .map(|j| jobs::format_job(j, true, 0))
                    .unwrap_or_default();
                drop(table);
                let _ = self.fds.write(2, format!("\n{line}\n").as_bytes());
                Err(Flow::Interrupted(148))
            }
        }
    }

    /// As a script's bash does when a foreground command died of a signal
    /// (not SIGINT or SIGPIPE): `Terminated` for SIGTERM, else `SCRIPT:
    /// line N: PID Killed   TEXT` with the signal's description, on
    /// stderr. A status above 128 is checked with the node (a command may
    /// `exit 137` itself).
    fn report_death_by_signal(&mut self, member: &Member, text: &str) {
        let (Some(pid), Some(status)) = (member.pid, member.exit.get()) else {
            return;
        };
        // Not from inside a background job: bash reports those (if at
        // all) when they are waited for.
        if self.interactive || status <= 128 || !self.tracker.is_foreground() {
            return;
        }
        let Ok(info) = self.client().and_then(|c| c.get(pid)) else {
            return;
        };
        let Some(signal) = info
            .signal
            .filter(|_| info.state == proto::v1::ProcessState::Killed as i32)
        else {
            return;
        };
        let line = match signal {
            libc::SIGINT | libc::SIGPIPE => return,
            libc::SIGTERM => "Terminated\n".to_string(),
            _ => {
                // SAFETY: strsignal returns a static, NUL-ended string.
                let description = unsafe { std::ffi::CStr::from_ptr(libc::strsignal(signal)) }
                    .to_string_lossy()
                    .into_owned();
                let core = if info.core_dumped {
                    " (core dumped)"
                } else {
                    ""
                };
                let place = match &self.script_file {
                    Some(file) => format!("{file}: line {}", self.lineno),
                    None => format!("nsh: line {}", self.lineno),
                };
                format!(
                    "{place}: {pid:>5} {:<24}{text}\n",
                    format!("{description}{core}")
                )
            }
        };
        let _ = self.fds.write(2, line.as_bytes());
    }

    /// Ctrl-Z: stops the cluster processes of a foreground job (before the
    /// prompt returns, so a quick `fg` finds them stopped) and takes them
    /// out of the foreground.
    pub(crate) fn stop_members(&self, members: &[Member]) {
        let client = self.client().ok();
        for pid in members.iter().filter_map(|m| m.pid) {
            if let Some(client) = client
                && member_alive(members, pid)
            {
                let _ = client.signal(pid, nix::sys::signal::Signal::SIGSTOP as i32);
            }
            signals::foreground_remove(pid);
        }
    }

    /// `list &`: runs it as a background job.
    fn run_background(&mut self, and_or: &ast::AndOrList) -> Status {
        let (tracker, pids) = JobTracker::background();
        let mut sub = self.subshell();
        sub.tracker = tracker;
        if sub.fds.get(0).is_some_and(Fd::is_terminal)
            && let Ok(null) = std::fs::File::open("/dev/null")
        {
            sub.fds.set(0, Fd::new(null.into()));
        }
        let and_or_owned = and_or.clone();
        let member = spawn_shell_thread("job", sub, move |sh| sh.run_and_or(&and_or_owned));
        let leader = pids.wait_leader(&member.exit, crate::client::CALL_TIMEOUT);
        let mut table = self.jobs.lock().map_err(|_| Flow::Exit(1))?;
        let id = table.add(Job {
            inherited: false,
            id: 0,
            text: and_or.to_string(),
            leader: 0,
            members: vec![member],
            background: Some(pids),
            state: JobState::Running,
            pipefail: false,
            terminal: None,
        });
        let leader = leader.unwrap_or(jobs::JOB_PID_BASE + id as i32);
        if let Some(job) = table.get_mut(id) {
            job.leader = leader;
        }
        drop(table);
        self.last_background = Some(leader);
        if self.interactive {
            let _ = self.fds.write(2, format!("[{id}] {leader}\n").as_bytes());
        }
        Ok(0)
    }

    /// Runs one command in this shell state.
    pub fn run_command(&mut self, command: &ast::Command) -> Status {
        self.enter_command(command)?;
        match command {
            ast::Command::Simple(simple) => {
                let prepared = self.prepare_simple(simple)?;
                if !matches!(prepared, Prepared::External(_)) {
                    self.tracker.pipeline_started(None);
                }
                self.run_prepared(prepared)
            }
            ast::Command::Compound(compound, redirects) => {
                self.tracker.pipeline_started(None);
                self.with_redirects(redirects.as_ref(), |sh| sh.run_compound(compound))
            }
            ast::Command::Function(definition) => {
                let name = definition.fname.value.clone();
                // bash takes almost any word, but not one with an
                // expansion or quotes in it.
                if name.contains(['$', '`', '\'', '"', '\\']) {
                    self.error(format!("`{name}': not a valid identifier"));
                    return Ok(1);
                }
                match &self.source_file {
                    Some(file) => self.function_files.insert(name.clone(), file.clone()),
                    None => self.function_files.remove(&name),
                };
                self.functions
                    .insert(name, Arc::new(definition.body.clone()));
                Ok(0)
            }
            ast::Command::ExtendedTest(test, redirects) => self
                .with_redirects(redirects.as_ref(), |sh| {
                    crate::builtins::test::extended(sh, &test.expr)
                }),
        }
    }

    /// Runs `body` with `redirects` applied, then puts the fds back.
    fn with_redirects(
        &mut self,
        redirects: Option<&ast::RedirectList>,
        body: impl FnOnce(&mut Self) -> Status,
    ) -> Status {
        let saved = self.fds.clone();
        if let Some(list) = redirects
            && let Err(status) = self.apply_redirects(&list.0)
        {
            self.fds = saved;
            return Ok(status);
        }
        let result = body(self);
        self.fds = saved;
        result
    }

    fn run_compound(&mut self, compound: &CompoundCommand) -> Status {
        match compound {
            CompoundCommand::BraceGroup(group) => self.run_list(&group.list),
            CompoundCommand::Subshell(sub) => Ok(self.run_subshell(&sub.list)),
            CompoundCommand::IfClause(clause) => self.run_if(clause),
            CompoundCommand::WhileClause(clause) => self.run_while(clause, false),
            CompoundCommand::UntilClause(clause) => self.run_while(clause, true),
            CompoundCommand::ForClause(clause) => self.run_for(clause),
            CompoundCommand::SelectClause(clause) => self.run_select(clause),
            CompoundCommand::CaseClause(clause) => self.run_case(clause),
            CompoundCommand::Arithmetic(arith) => {
                match self.traced_arith(&arith.expr.value, debug::arith_blanks(arith)) {
                    Ok(value) => Ok(i32::from(value == 0)),
                    Err(e) => self.expand_failed(e),
                }
            }
            CompoundCommand::ArithmeticForClause(clause) => self.run_arith_for(clause),
            CompoundCommand::Coprocess(_) => self.unsupported("coproc"),
        }
    }

    /// `( list )` and the body of `$( )`: a clone, on this thread.
    pub fn run_subshell(&mut self, list: &ast::CompoundList) -> i32 {
        let mut sub = self.subshell();
        sub.tracker = self.tracker.clone();
        // The subshell's `umask` is its own: put the parent's back after.
        let mask = io::umask();
        let status = match sub.run_list(list) {
            Ok(s) => s,
            Err(Flow::Exit(s) | Flow::Return(s) | Flow::Interrupted(s)) => s,
            Err(Flow::Break(_) | Flow::Continue(_)) => sub.last_status,
        };
        let status = sub.exit_trap(status);
        io::set_umask(mask);
        status
    }

    /// Runs `script` in a subshell with stdout captured (`$(..)`).
    pub fn capture(&mut self, script: &str) -> (i32, Vec<u8>) {
        let expanded;
        let script = match self.alias_table() {
            Some(aliases) => {
                let options = crate::syntax::tokenizer_options(&self.parser_options);
                expanded = crate::syntax::aliases::expand(script, aliases, &options);
                &expanded
            }
            None => script,
        };
        let program = match crate::syntax::parse(script, &self.parser_options) {
            Ok(p) => p,
            Err(e) => {
                self.error(e);
                return (2, Vec::new());
            }
        };
        let Ok((read, write)) = io::pipe() else {
            self.error("cannot create a pipe");
            return (1, Vec::new());
        };
        let reader = std::thread::spawn(move || io::read_to_end(&read).unwrap_or_default());
        let mut sub = self.subshell();
        sub.tracker = self.tracker.clone();
        sub.fds.set(1, Fd::new(write));
        sub.line_base = sub.last_line.saturating_sub(1);
        sub.substitution_level += 1;
        // bash clears `set -e` in a command substitution unless
        // inherit_errexit is set.
        sub.options.errexit &= self.shopt.inherit_errexit;
        let mask = io::umask();
        let status = match sub.run_program(&program) {
            Ok(s) => s,
            Err(Flow::Exit(s) | Flow::Return(s) | Flow::Interrupted(s)) => s,
            Err(Flow::Break(_) | Flow::Continue(_)) => sub.last_status,
        };
        let status = sub.exit_trap(status);
        drop(sub);
        io::set_umask(mask);
        let output = reader.join().unwrap_or_default();
        (status, output)
    }

    /// Runs a condition list (where `set -e` does not apply).
    fn run_condition(&mut self, list: &ast::CompoundList) -> Status {
        self.condition_depth += 1;
        let result = self.run_list(list);
        self.condition_depth -= 1;
        result
    }

    fn run_if(&mut self, clause: &ast::IfClauseCommand) -> Status {
        if self.run_condition(&clause.condition)? == 0 {
            return self.run_list(&clause.then);
        }
        for branch in clause.elses.iter().flatten() {
            match &branch.condition {
                Some(condition) => {
                    if self.run_condition(condition)? == 0 {
                        return self.run_list(&branch.body);
                    }
                }
                None => return self.run_list(&branch.body),
            }
        }
        Ok(0)
    }

    /// Runs a loop body; `Ok(None)` to go on, `Ok(Some(status))` to leave
    /// the loop (a `break`).
    fn loop_body(&mut self, body: &ast::CompoundList) -> Result<Option<i32>, Flow> {
        self.loop_depth += 1;
        let result = self.run_list(body);
        self.loop_depth -= 1;
        match result {
            Ok(status) => {
                self.last_status = status;
                Ok(None)
            }
            Err(Flow::Break(n)) if n > 1 => Err(Flow::Break(n - 1)),
            Err(Flow::Break(_)) => Ok(Some(self.last_status)),
            Err(Flow::Continue(n)) if n > 1 => Err(Flow::Continue(n - 1)),
            Err(Flow::Continue(_)) => Ok(None),
            Err(flow) => Err(flow),
        }
    }

    /// Marks a non-terminal stdin as a loop's input for cluster commands
    /// inside the loop (see [`Fd::loop_input`]); returns the saved fds.
    pub(crate) fn enter_loop_input(&mut self) -> crate::io::Fds {
        let saved = self.fds.clone();
        if let Some(fd) = self.fds.get(0)
            && !fd.is_terminal()
        {
            let mut fd = fd.clone();
            fd.loop_input = true;
            self.fds.set(0, fd);
        }
        saved
    }

    fn run_while(&mut self, clause: &ast::WhileOrUntilClauseCommand, until: bool) -> Status {
        let saved = self.enter_loop_input();
        let result = self.while_loop(clause, until);
        self.fds = saved;
        result
    }

    fn while_loop(&mut self, clause: &ast::WhileOrUntilClauseCommand, until: bool) -> Status {
        let mut status = 0;
        loop {
            self.check_signals()?;
            // `break` and `continue` in the condition act on this loop.
            self.loop_depth += 1;
            let condition = self.run_condition(&clause.0);
            self.loop_depth -= 1;
            let condition = match condition {
                Err(Flow::Break(_)) => break,
                Err(Flow::Continue(_)) => continue,
                other => other?,
            };
            if (condition == 0) == until {
                break;
            }
            if let Some(s) = self.loop_body(&clause.1.list)? {
                status = s;
                break;
            }
            status = self.last_status;
        }
        Ok(status)
    }

    fn run_for(&mut self, clause: &ast::ForClauseCommand) -> Status {
        let values = match &clause.values {
            Some(words) => match expand::expand_words(self, words) {
                Ok(v) => v,
                Err(e) => return self.expand_failed(e),
            },
            None => self.positional.clone(),
        };
        let saved = self.enter_loop_input();
        let mut status = 0;
        let mut result = Ok(0);
        for value in values {
            if let Err(flow) = self
                .check_signals()
                .and_then(|()| self.enter_loop_step(clause.loc.start.line))
            {
                result = Err(flow);
                break;
            }
            let words = match &clause.values {
                Some(words) => words
                    .iter()
                    .map(|w| w.value.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                None => "\"$@\"".to_string(),
            };
            self.xtrace_line(&format!("for {} in {words}", clause.variable_name));
            if !crate::exec::assign::valid_name(&clause.variable_name) {
                self.error(format!(
                    "`{}': not a valid identifier",
                    clause.variable_name
                ));
                status = 1;
                break;
            }
            if let Err(e) = self.vars.set(&clause.variable_name, value) {
                self.error(e);
                status = 1;
                break;
            }
            match self.loop_body(&clause.body.list) {
                Ok(None) => status = self.last_status,
                Ok(Some(s)) => {
                    status = s;
                    break;
                }
                Err(flow) => {
                    result = Err(flow);
                    break;
                }
            }
        }
        self.fds = saved;
        result.map(|_| status)
    }

    fn run_arith_for(&mut self, clause: &ast::ArithmeticForClauseCommand) -> Status {
        let saved = self.enter_loop_input();
        let result = self.arith_for_loop(clause);
        self.fds = saved;
        result
    }

    fn arith_for_loop(&mut self, clause: &ast::ArithmeticForClauseCommand) -> Status {
        let line = clause.loc.start.line;
        self.enter_loop_step(line)?;
        if let Some(init) = &clause.initializer
            && let Err(e) = self.traced_arith(&init.value, (0, 0))
        {
            return self.expand_failed(e);
        }
        let mut status = 0;
        loop {
            self.check_signals()?;
            self.enter_loop_step(line)?;
            // An empty condition is true (`for (( ; ; ))`).
            if let Some(condition) = clause
                .condition
                .as_ref()
                .filter(|c| !c.value.trim().is_empty())
            {
                match self.traced_arith(&condition.value, (0, 0)) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => return self.expand_failed(e),
                }
            }
            if let Some(s) = self.loop_body(&clause.body.list)? {
                status = s;
                break;
            }
            status = self.last_status;
            self.enter_loop_step(line)?;
            if let Some(update) = &clause.updater
                && let Err(e) = self.traced_arith(&update.value, (0, 0))
            {
                return self.expand_failed(e);
            }
        }
        Ok(status)
    }

    fn run_case(&mut self, clause: &ast::CaseClauseCommand) -> Status {
        self.xtrace_line(&format!("case {} in", clause.value.value));
        let word = match expand::expand_word(self, &clause.value.value) {
            Ok(w) => w,
            Err(e) => return self.expand_failed(e),
        };
        let mut status = 0;
        let mut fall_through = false;
        for item in &clause.cases {
            if !fall_through {
                let mut matched = false;
                for pattern in &item.patterns {
                    let pattern = match expand::expand_pattern(self, &pattern.value) {
                        Ok(p) => p,
                        Err(e) => return self.expand_failed(e),
                    };
                    if expand::pattern_matches(&pattern, &word, true) {
                        matched = true;
                        break;
                    }
                }
                if !matched {
                    continue;
                }
            }
            status = match &item.cmd {
                Some(list) => self.run_list(list)?,
                None => 0,
            };
            match item.post_action {
                ast::CaseItemPostAction::ExitCase => return Ok(status),
                ast::CaseItemPostAction::UnconditionallyExecuteNextCaseItem => fall_through = true,
                ast::CaseItemPostAction::ContinueEvaluatingCases => fall_through = false,
            }
        }
        Ok(status)
    }

    /// Calls a shell function with `args` as its positional parameters.
    pub fn call_function(
        &mut self,
        name: &str,
        body: &ast::FunctionBody,
        args: Vec<String>,
    ) -> Status {
        if self.return_depth > 1000 {
            self.error("maximum function nesting level exceeded (1000)");
            return Err(Flow::Exit(1));
        }
        let file = self.function_files.get(name).cloned();
        self.enter_call(name, file);
        let saved_positional = std::mem::replace(&mut self.positional, args);
        let saved_fds = self.fds.clone();
        // Without `set -E` the ERR trap is off inside functions (one set
        // there stays, as in bash).
        let err_trap = match self.options.errtrace {
            true => None,
            false => self.traps.remove("ERR"),
        };
        // Nor the DEBUG and RETURN traps without `set -T`.
        let traced_traps: Vec<(String, String)> = match self.options.functrace {
            true => Vec::new(),
            false => ["DEBUG", "RETURN"]
                .iter()
                .filter_map(|name| Some((name.to_string(), self.traps.remove(*name)?)))
                .collect(),
        };
        // Its lines are those of the text that defined it; the caller's
        // `$LINENO` is back once it returns (an ERR trap for the call
        // names the call's line, as in bash).
        let saved_base = std::mem::replace(&mut self.line_base, 0);
        let saved_line = (self.lineno, self.last_line);
        self.vars.push_frame();
        self.return_depth += 1;
        let result = match &body.1 {
            Some(list) => match self.apply_redirects(&list.0) {
                Ok(()) => self.run_compound(&body.0),
                Err(status) => Ok(status),
            },
            None => self.run_compound(&body.0),
        };
        self.return_depth -= 1;
        self.vars.pop_frame();
        self.line_base = saved_base;
        (self.lineno, self.last_line) = saved_line;
        if let Some(action) = err_trap {
            self.traps.entry("ERR".to_string()).or_insert(action);
        }
        for (name, action) in traced_traps {
            self.traps.entry(name).or_insert(action);
        }
        self.fds = saved_fds;
        self.positional = saved_positional;
        self.leave_call();
        match result {
            Err(Flow::Return(status)) => Ok(status),
            other => other,
        }
    }
}

/// Whether a failing pipeline runs the ERR trap: as in bash, a pipeline
/// of several commands, a simple command (function calls included), a
/// subshell, `(( ))` or `[[ ]]`; not a compound command, whose failing
/// command inside already did.
fn fires_err_trap(pipeline: &ast::Pipeline) -> bool {
    match pipeline.seq.as_slice() {
        [ast::Command::Compound(compound, _)] => matches!(
            compound,
            CompoundCommand::Subshell(_) | CompoundCommand::Arithmetic(_)
        ),
        [ast::Command::Function(_)] => false,
        _ => true,
    }
}

/// Whether the member with cluster PID `pid` has not ended yet.
fn member_alive(members: &[Member], pid: Gpid) -> bool {
    members
        .iter()
        .any(|m| m.pid == Some(pid) && m.exit.get().is_none())
}
