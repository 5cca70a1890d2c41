//! Simple commands: expansion, assignments, redirections, then dispatch to
//! a function, a builtin, or a process (`@NODE`, `@any`, `@all`, `@local`
//! or the shell's own node).

use proto::Gpid;
use std::borrow::Cow;
use std::sync::Arc;

use brush_parser::ast::{self, CommandPrefixOrSuffixItem as Item};

use crate::builtins;
use crate::expand;
use crate::io::{Fd, Fds};
use crate::jobs::Member;
use crate::remote::{self, Launch, Reader};
use crate::shell::{Flow, Shell, Status};
use crate::vars::{Scope, Var};

use super::procsub::{self, Exposed};
use super::redirect;

use super::assign::AssignValue;
pub use crate::builtins::declare::DeclArg;

/// What to put back after a builtin or function ran with temporary
/// redirections and assignments.
#[derive(Default)]
pub struct Restore {
    fds: Option<Fds>,
    vars: Vec<(String, Option<Var>)>,
    /// Process substitutions the command got as paths, open until it ends.
    procsubs: Vec<Exposed>,
    /// What `$_` becomes once the command has run: its last word.
    last_word: Option<String>,
}

/// Where a process runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A cluster node (`launch.node`: empty for the shell's node).
    Cluster,
    /// `@local`: a child of nsh on this machine.
    Local,
    /// `@all`: once on every node that is up.
    All,
}

/// A process to start, fully expanded.
pub struct External {
    pub launch: Launch,
    pub place: Place,
    /// The command redirected its own stdin, or got it from its pipeline
    /// position.
    pub stdin_own: bool,
    /// Its stdin is a file its own redirection opened (`cmd < FILE`):
    /// no other command reads that open file.
    pub stdin_private: bool,
    pub text: String,
    restore: Restore,
}

/// A pipeline element's neighbours, for direct pipes between cluster
/// processes (see [`Shell::launch_linked`]).
#[derive(Default)]
pub struct PipeLink {
    /// The previous element, started and held: its stdout is not read yet.
    pub upstream: Option<Gpid>,
    /// The read end of the pipe from the previous element.
    pub pipe_in: Option<Fd>,
    /// The write end of the pipe to the next element.
    pub pipe_out: Option<Fd>,
    /// The next element may read this one's output node to node: start
    /// it held (not attached) when it is a cluster process writing to
    /// `pipe_out`.
    pub hold: bool,
    /// The next element names another node (`@NODE cmd`): even on the
    /// shell's own node, this one keeps its stdout captured (not the
    /// shell's pipe) so that the next can read it node to node.
    pub next_on_a_node: bool,
}

/// A started command: a member of the job, or a cluster process held
/// for the next pipeline element to decide on.
pub enum Launched {
    Member(Member),
    Held(remote::Held),
}

/// A simple command after expansion, ready to run.
pub enum Prepared {
    /// Nothing to run (assignments only, or an error): the status.
    Done(i32, Restore),
    Builtin(String, Vec<String>, Restore),
    /// `declare`, `local`, `export`, ... with their assignment arguments
    /// kept apart from the words.
    Declaration(String, Vec<DeclArg>, Restore),
    Function(String, Arc<ast::FunctionBody>, Vec<String>, Restore),
    External(External),
}

/// Builtins whose `NAME=VALUE` arguments are assignments.
const DECLARATION_BUILTINS: &[&str] = &["export", "readonly", "local", "declare", "typeset"];

impl Shell {
    /// Expands a simple command and applies its redirections.
    pub fn prepare_simple(&mut self, command: &ast::SimpleCommand) -> Result<Prepared, Flow> {
        let stdin_own = std::mem::take(&mut self.stdin_is_own);
        let mut assignments: Vec<&ast::Assignment> = Vec::new();
        let mut redirects: Vec<&ast::IoRedirect> = Vec::new();
        // Borrowed from the AST but for process substitution placeholders.
        let mut words: Vec<Cow<'_, ast::Word>> = Vec::new();
        // Suffix words that look like assignments, by index into `words`:
        // declaration builtins (`export x=$y`) expand them without
        // splitting or globbing, as bash does.
        let mut assignment_words: Vec<(usize, &ast::Assignment)> = Vec::new();
        // `<(..)` and `>(..)` as words: a placeholder word each.
        let mut procsubs: Vec<(&ast::ProcessSubstitutionKind, &ast::SubshellCommand)> = Vec::new();
        let mut procsub_word = |kind, command| {
            procsubs.push((kind, command));
            Cow::Owned(ast::Word {
                value: procsub::placeholder(procsubs.len() - 1),
                loc: None,
            })
        };
        let prefix = command.prefix.iter().flat_map(|p| p.0.iter());
        for item in prefix {
            match item {
                Item::AssignmentWord(a, _) => assignments.push(a),
                Item::IoRedirect(r) => redirects.push(r),
                Item::Word(w) => words.push(Cow::Borrowed(w)),
                Item::ProcessSubstitution(kind, c) => words.push(procsub_word(kind, c)),
            }
        }
        if let Some(w) = &command.word_or_name {
            words.push(Cow::Borrowed(w));
        }
        // `{name}>file`: redirections whose fd goes into a variable, by
        // index into `redirects`.
        let mut named: Vec<(usize, &str)> = Vec::new();
        let mut suffix = command.suffix.iter().flat_map(|s| s.0.iter()).peekable();
        while let Some(item) = suffix.next() {
            match item {
                Item::Word(w) => {
                    if let Some(Item::IoRedirect(r)) = suffix.peek()
                        && let Some(name) = redirect::fd_variable(w, r)
                    {
                        named.push((redirects.len(), name));
                        redirects.push(r);
                        suffix.next();
                        continue;
                    }
                    words.push(Cow::Borrowed(w));
                }
                Item::AssignmentWord(a, w) => {
                    assignment_words.push((words.len(), a));
                    words.push(Cow::Borrowed(w));
                }
                Item::IoRedirect(r) => redirects.push(r),
                Item::ProcessSubstitution(kind, c) => words.push(procsub_word(kind, c)),
            }
        }

        self.substitution_status = None;
        let (argv, declaration) = match self.expand_command_words(&words, &assignment_words) {
            Ok(expanded) => expanded,
            Err(e) => return Ok(Prepared::Done(self.expand_failed(e)?, Restore::default())),
        };

        let mut argv = argv;
        let mut restore = Restore {
            fds: (!redirects.is_empty()).then(|| self.fds.clone()),
            vars: Vec::new(),
            procsubs: Vec::new(),
            last_word: None,
        };
        if !procsubs.is_empty() {
            restore.procsubs = self.substitute_paths(&mut argv, &procsubs)?;
        }
        // `$_`: the last word of this command once expanded (empty for an
        // assignment alone); bound when it has run, so a function still
        // sees the previous one, as in bash.
        // (For `declare a=(1 2)` bash binds the name alone.)
        restore.last_word = Some(match declaration.as_ref().and_then(|d| d.last()) {
            Some(DeclArg::Assign(assign)) if matches!(assign.value, AssignValue::List(_)) => {
                assign.name.clone()
            }
            _ => argv.last().cloned().unwrap_or_default(),
        });
        let mut redirects: Vec<Cow<'_, ast::IoRedirect>> =
            redirects.into_iter().map(Cow::Borrowed).collect();
        if let Err(message) = self.number_fd_variables(&mut redirects, &named) {
            self.error(message);
            self.restore(restore);
            return Ok(Prepared::Done(1, Restore::default()));
        }
        let stdin_redirected = redirects.iter().any(|r| redirects_stdin(r));
        let stdin_private = redirects
            .iter()
            .rfind(|r| redirects_stdin(r))
            .is_some_and(|r| opens_a_file_to_read(r));
        if let Err(status) = self.apply_redirects(&redirects) {
            self.restore(restore);
            return Ok(Prepared::Done(status, Restore::default()));
        }

        if argv.is_empty() {
            for assignment in assignments {
                if let Err(status) = self.assign(assignment) {
                    self.restore(restore);
                    return match status {
                        Some(flow) => Err(flow),
                        None => Ok(Prepared::Done(1, Restore::default())),
                    };
                }
            }
            return Ok(Prepared::Done(
                self.substitution_status.unwrap_or(0),
                restore,
            ));
        }
        let mut values = Vec::with_capacity(assignments.len());
        for assignment in &assignments {
            // bash: an element (`a[1]=x cmd`) is no name: an error, and
            // the command runs without it.
            if let ast::AssignmentName::ArrayElementName(..) = assignment.name {
                self.error(format!("`{}': not a valid identifier", assignment.name));
                continue;
            }
            match self.assignment_value(assignment) {
                Ok(v) => values.push(v),
                Err(e) => {
                    self.restore(restore);
                    return Ok(Prepared::Done(self.expand_failed(e)?, Restore::default()));
                }
            }
        }

        if self.options.xtrace && !self.in_ps4 {
            // As bash: one line per prefix assignment, then the command.
            let prefix = self.xtrace_prefix();
            let mut text = String::new();
            for (name, value) in &values {
                let value = match value.is_empty() {
                    true => "".into(),
                    false => xtrace_quote(value),
                };
                text.push_str(&format!("{prefix}{name}={value}\n"));
            }
            let words: Vec<String> = argv.iter().map(|w| xtrace_quote(w).into_owned()).collect();
            text.push_str(&format!("{prefix}{}\n", words.join(" ")));
            let _ = self.fds.write(2, text.as_bytes());
        }

        let mut place = None;
        if let Some(target) = argv[0].strip_prefix('@')
            && !target.is_empty()
        {
            let target = target.to_string();
            argv.remove(0);
            if argv.is_empty() {
                self.error(format!("@{target}: a command is needed after the node"));
                self.restore(restore);
                return Ok(Prepared::Done(2, Restore::default()));
            }
            place = Some(match target.as_str() {
                "local" => (Place::Local, String::new()),
                "all" => (Place::All, String::new()),
                "any" => (Place::Cluster, "@any".to_string()),
                _ => (Place::Cluster, target),
            });
        }

        if place.is_none() {
            let name = argv[0].clone();
            let function = self.functions.get(&name).cloned();
            if function.is_some() || builtins::is_builtin(&name) {
                // As bash outside POSIX mode, the assignments last only for
                // the command, special builtins included; but `FOO=1 export
                // FOO` (or readonly) keeps FOO.
                let args = argv.split_off(1);
                let keeps = |var_name: &str| {
                    function.is_none()
                        && matches!(name.as_str(), "export" | "readonly")
                        && args.iter().any(|a| a == var_name)
                };
                for (var_name, value) in values {
                    let temporary = !keeps(&var_name);
                    if temporary {
                        restore
                            .vars
                            .push((var_name.clone(), self.vars.lookup(&var_name).cloned()));
                    }
                    if let Err(e) = self.vars.set(&var_name, value) {
                        self.error(e);
                    } else if temporary {
                        self.vars.modify(&var_name, |v| v.exported = true);
                    }
                }
                return Ok(match (function, declaration) {
                    (Some(body), _) => Prepared::Function(name, body, args, restore),
                    (None, Some(decl)) => Prepared::Declaration(name, decl, restore),
                    (None, None) => Prepared::Builtin(name, args, restore),
                });
            }
        }

        let (place, node) = place.unwrap_or((Place::Cluster, String::new()));
        if place != Place::Local
            && let Some(path) = procsub::exposed_path(&argv)
        {
            let message = procsub::remote_message(&argv[0], path, &self.where_runs(&node, &place));
            self.restore(restore);
            return self.refuse(message);
        }
        let mut env = self.environment();
        for (name, value) in values {
            env.retain(|(n, _)| *n != name);
            env.push((name, value));
        }
        let text = command.to_string();
        Ok(Prepared::External(External {
            launch: Launch {
                argv,
                env,
                cwd: self.cwd.to_string_lossy().into_owned(),
                node,
                limits: self.rlimits.to_wire(),
                extra_fds: self.fds.above_stdio(),
            },
            place,
            stdin_own: stdin_own || stdin_redirected,
            stdin_private,
            text,
            restore,
        }))
    }

    /// Expands the words of a command. For a declaration builtin
    /// (`declare`, `local`, ...), its assignment-shaped arguments are
    /// expanded as assignments (no splitting, arrays kept whole) and also
    /// returned apart, in order with the other arguments.
    #[allow(clippy::type_complexity)]
    fn expand_command_words(
        &mut self,
        words: &[Cow<'_, ast::Word>],
        assignment_words: &[(usize, &ast::Assignment)],
    ) -> Result<(Vec<String>, Option<Vec<DeclArg>>), expand::ExpandError> {
        if assignment_words.is_empty() {
            return Ok((expand::expand_words(self, words)?, None));
        }
        let first = expand::expand_words(self, &words[..1])?;
        let declaration = first
            .first()
            .is_some_and(|name| DECLARATION_BUILTINS.contains(&name.as_str()));
        if !declaration {
            return Ok((expand::expand_words(self, words)?, None));
        }
        let mut argv = first;
        let mut args = Vec::new();
        for (i, word) in words.iter().enumerate().skip(1) {
            match assignment_words.iter().find(|(at, _)| *at == i) {
                Some((_, assignment)) => {
                    let assign = self.expand_assign(assignment)?;
                    argv.push(assign.traced());
                    args.push(DeclArg::Assign(assign));
                }
                None => {
                    for field in expand::expand_words(self, std::slice::from_ref(word))? {
                        argv.push(field.clone());
                        args.push(DeclArg::Word(field));
                    }
                }
            }
        }
        Ok((argv, Some(args)))
    }

    /// `nsh: CONSTRUCT is not supported`, status 2; a script stops there
    /// and an interactive shell abandons the command line.
    pub(crate) fn unsupported<T>(&mut self, construct: &str) -> Result<T, Flow> {
        self.refuse(format!("{construct} is not supported"))
    }

    /// `nsh: MESSAGE` for something nsh cannot do, status 2; a script
    /// stops there and an interactive shell abandons the command line.
    pub(crate) fn refuse<T>(&mut self, message: String) -> Result<T, Flow> {
        self.error(message);
        self.last_status = 2;
        Err(if self.interactive {
            Flow::Interrupted(2)
        } else {
            Flow::Exit(2)
        })
    }

    /// Puts back what a command changed for its own duration.
    fn restore(&mut self, restore: Restore) {
        if let Some(fds) = restore.fds {
            self.fds = fds;
        }
        for (name, var) in restore.vars.into_iter().rev() {
            match var {
                Some(var) => {
                    self.vars.modify(&name, |v| *v = var);
                }
                None => {
                    let _ = self.vars.unset(&name);
                }
            }
        }
        if let Some(word) = restore.last_word {
            let _ = self.vars.set("_", word);
        }
    }

    /// Runs a prepared simple command and waits for it.
    pub fn run_prepared(&mut self, prepared: Prepared) -> Status {
        match prepared {
            Prepared::Done(status, restore) => {
                self.restore(restore);
                Ok(status)
            }
            Prepared::Builtin(name, args, mut restore) => {
                if name == "exec" && args.is_empty() {
                    // `exec 3>file`: the redirections stay.
                    restore.fds = None;
                }
                let result = builtins::run(self, &name, args);
                self.restore(restore);
                result
            }
            Prepared::Declaration(name, args, restore) => {
                let result = builtins::declare::run(self, &name, args);
                self.restore(restore);
                result
            }
            Prepared::Function(name, body, args, restore) => {
                let result = self.call_function(&name, &body, args);
                self.restore(restore);
                result
            }
            Prepared::External(mut external) => {
                let restore = std::mem::take(&mut external.restore);
                let text = external.text.clone();
                let result = if self.wants_terminal(&external) {
                    self.run_with_terminal(&external)
                } else {
                    let member = self.launch(external);
                    self.tracker.pipeline_started(member.pid.map(Gpid::as_raw));
                    self.wait_foreground(vec![member], &text)
                };
                self.restore(restore);
                result
            }
        }
    }

    /// Starts a prepared process without waiting for it.
    pub fn launch(&mut self, external: External) -> Member {
        match self.launch_linked(external, PipeLink::default()).0 {
            Launched::Member(member) => member,
            // Only a link that asks to hold holds.
            Launched::Held(held) => self.attach_held(held, Reader::Shell),
        }
    }

    /// Attaches to a process started by [`Shell::launch_linked`]; a
    /// failure is reported and is the member's status.
    pub fn attach_held(&mut self, held: remote::Held, reader: Reader) -> Member {
        let pid = held.pid();
        held.attach(reader).unwrap_or_else(|e| {
            self.error(format!("{pid}: {e}"));
            Member::ended(1)
        })
    }

    /// [`Shell::launch`] for a pipeline element, with its neighbours in
    /// `link` (direct pipes, docs/design/nsh.md): a cluster process reads
    /// the previous element's output node to node when that one was held,
    /// and is itself held, not attached, when `link.hold` says the next
    /// element may do the same. Also returns who reads the held
    /// upstream's output (this process, a process given the pipe itself,
    /// or the shell).
    pub fn launch_linked(&mut self, mut external: External, link: PipeLink) -> (Launched, Reader) {
        let failed = |status: i32| (Launched::Member(Member::ended(status)), Reader::Shell);
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (self.fds.get(0), self.fds.get(1), self.fds.get(2))
        else {
            self.error(format!(
                "{}: stdin, stdout or stderr is closed",
                external.launch.argv[0]
            ));
            return failed(1);
        };
        let (stdin, stdout, stderr) = (stdin.clone(), stdout.clone(), stderr.clone());
        if external.place == Place::Local {
            let keep = std::mem::take(&mut external.restore.procsubs);
            return match remote::start_local(&external.launch, &stdin, &stdout, &stderr) {
                Ok(member) => {
                    if !keep.is_empty() {
                        // Its process substitutions stay open until it ends.
                        let exit = member.exit.clone();
                        std::thread::spawn(move || {
                            while exit
                                .wait_timeout(std::time::Duration::from_secs(1))
                                .is_none()
                            {}
                            drop(keep);
                        });
                    }
                    (Launched::Member(member), Reader::Shell)
                }
                Err((message, status)) => {
                    self.error(message);
                    failed(status)
                }
            };
        }
        let client = match self.client() {
            Ok(c) => c.clone(),
            Err(e) => {
                self.error(e);
                return failed(1);
            }
        };
        crate::signals::set_client(&client);
        if external.place == Place::All {
            let member =
                crate::exec::all::start_all(self, &client, &external.launch, stdout, stderr);
            return (Launched::Member(member), Reader::Shell);
        }
        // A loop's input is not pumped to the commands inside it (a pump
        // would swallow it); a command given the descriptor itself reads
        // only what it reads, so it gets it, as under bash.
        let passed = remote::inherits(&client, &external.launch, &stdin);
        let no_input = (stdin.loop_input && !external.stdin_own && !passed)
            || (!self.tracker.is_foreground() && stdin.is_terminal());
        let pumped = |fd: &Fd| !remote::inherits(&client, &external.launch, fd);
        // A direct pipe needs both ends pumped today (the node cannot both
        // feed a pipe and take a client's descriptors for one process).
        let reads_upstream = link
            .upstream
            .filter(|_| !no_input && link.pipe_in.as_ref().is_some_and(|p| p.is(&stdin)))
            .filter(|_| pumped(&stdin) && pumped(&stdout) && pumped(&stderr));
        let to_next = link.hold && link.pipe_out.as_ref().is_some_and(|p| p.is(&stdout));
        // On the shell's node a command would get the pipe itself; when the
        // next one runs elsewhere, it keeps its output for that one instead.
        let capture_stdout = to_next && link.next_on_a_node;
        let hold = to_next && (pumped(&stdout) || capture_stdout);
        // A command of the shell's node given the pipe's read end itself.
        let reads_pipe_itself =
            !no_input && link.pipe_in.as_ref().is_some_and(|p| p.is(&stdin)) && !pumped(&stdin);
        let input = match reads_upstream {
            Some(pid) => remote::Input::Process(pid),
            None if external.stdin_private => remote::Input::OwnFile(stdin),
            None => remote::Input::Fd((!no_input).then_some(stdin)),
        };
        let output = remote::Output {
            stdout,
            stderr,
            capture_stdout,
        };
        // A process held for the next command is only spawned; any other
        // is spawned and attached in one call.
        let started = if hold {
            remote::spawn_remote(&client, &external.launch, input, output, &self.tracker)
                .map(|held| (held.pid(), Launched::Held(held)))
        } else {
            remote::start_attached(&client, &external.launch, input, output, &self.tracker)
                .map(|(pid, member)| (pid, Launched::Member(member)))
        };
        let (pid, launched) = match started {
            Ok(started) => started,
            Err(e) => {
                let (message, status) =
                    remote::spawn_failure(&external.launch.node, &external.launch.argv[0], &e);
                self.error(message);
                return failed(status);
            }
        };
        // Its process substitutions (FIFOs on its node) stay until it ends.
        let keep = std::mem::take(&mut external.restore.procsubs);
        if !keep.is_empty() {
            std::thread::spawn(move || {
                remote::wait_exit(&client, pid);
                drop(keep);
            });
        }
        // Who reads the held upstream's output.
        let reader = match reads_upstream {
            Some(_) => Reader::Process,
            None if link.upstream.is_some() && reads_pipe_itself => Reader::NodeProcess,
            None => Reader::Shell,
        };
        (launched, reader)
    }

    /// Runs an already expanded command line: a function (unless
    /// `skip_functions`), a builtin, or a process on the shell's node
    /// (`command`, `exec`).
    pub fn run_argv(&mut self, mut argv: Vec<String>, skip_functions: bool) -> Status {
        let name = argv[0].clone();
        if !skip_functions && let Some(body) = self.functions.get(&name).cloned() {
            return self.call_function(&name, &body, argv.split_off(1));
        }
        if builtins::is_builtin(&name) {
            return builtins::run(self, &name, argv.split_off(1));
        }
        let text = argv.join(" ");
        let external = External {
            launch: Launch {
                argv,
                env: self.environment(),
                cwd: self.cwd.to_string_lossy().into_owned(),
                node: String::new(),
                limits: self.rlimits.to_wire(),
                extra_fds: self.fds.above_stdio(),
            },
            place: Place::Cluster,
            stdin_own: false,
            stdin_private: false,
            text: text.clone(),
            restore: Restore::default(),
        };
        let member = self.launch(external);
        self.wait_foreground(vec![member], &text)
    }

    /// The expanded value of an assignment before a command (`x=1 cmd`);
    /// a list (`a=(x y) cmd`) is, as bash makes it, the text `(x y)` of
    /// its expanded words.
    fn assignment_value(
        &mut self,
        assignment: &ast::Assignment,
    ) -> Result<(String, String), expand::ExpandError> {
        let name = match &assignment.name {
            ast::AssignmentName::VariableName(n) => n.clone(),
            ast::AssignmentName::ArrayElementName(n, _) => n.clone(),
        };
        let value = match &assignment.value {
            ast::AssignmentValue::Scalar(word) => expand::expand_assignment(self, &word.value)?,
            ast::AssignmentValue::Array(items) => {
                let mut words = Vec::with_capacity(items.len());
                for (key, word) in items {
                    let value = expand::expand_assignment(self, &word.value)?;
                    words.push(match key {
                        Some(key) => format!("[{}]={value}", key.value),
                        None => value,
                    });
                }
                format!("({})", words.join(" "))
            }
        };
        let value = if assignment.append {
            format!("{}{value}", self.vars.get(&name).unwrap_or(""))
        } else {
            value
        };
        Ok((name, value))
    }

    /// Performs an assignment in the shell (no command word). `Err(None)`
    /// for a reported error, `Err(Some(flow))` for a fatal one.
    fn assign(&mut self, assignment: &ast::Assignment) -> Result<(), Option<Flow>> {
        let fail = |shell: &mut Shell, e: expand::ExpandError| match shell.expand_failed(e) {
            Ok(_) => Err(None),
            Err(flow) => Err(Some(flow)),
        };
        let assign = match self.expand_assign(assignment) {
            Ok(a) => a,
            Err(e) => return fail(self, e),
        };
        if self.options.xtrace && !self.in_ps4 {
            let traced = match assign.value {
                // bash shows a list as written.
                AssignValue::List(_) => assignment.to_string(),
                AssignValue::Scalar(_) => assign.traced(),
            };
            let prefix = self.xtrace_prefix();
            let _ = self.fds.write(2, format!("{prefix}{traced}\n").as_bytes());
        }
        let name = assign.name.clone();
        if let Err(e) = self.store(assign, Scope::Visible) {
            return fail(self, e);
        }
        if self.options.allexport {
            self.vars.modify(&name, |v| v.exported = true);
        }
        Ok(())
    }
}

/// A word as `set -x` shows it: single-quoted when it holds characters the
/// shell would interpret (bash's `sh_contains_shell_metas`), else as is.
pub(crate) fn xtrace_quote(word: &str) -> std::borrow::Cow<'_, str> {
    let mut previous = None;
    let needs_quotes = word.is_empty()
        || word.chars().any(|c| {
            let special = match c {
                ' ' | '\t' | '\n' | '\'' | '"' | '\\' | '|' | '&' | ';' | '(' | ')' | '<' | '>'
                | '!' | '{' | '}' | '*' | '[' | '?' | ']' | '^' | '$' | '`' => true,
                '~' => matches!(previous, None | Some('=' | ':')),
                '#' => previous.is_none(),
                _ => false,
            };
            previous = Some(c);
            special
        });
    if needs_quotes {
        format!("'{}'", word.replace('\'', "'\\''")).into()
    } else {
        word.into()
    }
}

/// Whether a redirection gives the command its own stdin.
/// Whether `redirect` opens a file for reading (`< FILE`, `n< FILE`), as
/// opposed to duplicating a descriptor or feeding a here-document.
fn opens_a_file_to_read(redirect: &ast::IoRedirect) -> bool {
    matches!(
        redirect,
        ast::IoRedirect::File(
            _,
            ast::IoFileRedirectKind::Read,
            ast::IoFileRedirectTarget::Filename(_)
        )
    )
}

fn redirects_stdin(redirect: &ast::IoRedirect) -> bool {
    match redirect {
        ast::IoRedirect::File(fd, kind, _) => {
            fd.unwrap_or(match kind {
                ast::IoFileRedirectKind::Read
                | ast::IoFileRedirectKind::ReadAndWrite
                | ast::IoFileRedirectKind::DuplicateInput => 0,
                _ => 1,
            }) == 0
        }
        ast::IoRedirect::HereDocument(fd, _) | ast::IoRedirect::HereString(fd, _) => {
            fd.unwrap_or(0) == 0
        }
        ast::IoRedirect::OutputAndError(..) => false,
    }
}
