//! The state of one shell: variables, functions, options, positional
//! parameters, fds, traps and the job table, plus the entry points that
//! parse and run text.
//!
//! A subshell (`( )`, `$( )`, a pipeline element, a background job) is a
//! clone of this state running on its own thread; clones share the cluster
//! client and, for the top-level shell's jobs, nothing else.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};

use brush_parser::ast;
use brush_parser::word::SpecialParameter;

use crate::client::{Client, ClientError};
use crate::expand::{ExpandContext, ExpandError};
use crate::io::Fds;
use crate::jobs::{JobTable, JobTracker};
use crate::signals;
use crate::syntax;
use crate::vars::{Var, Vars};

/// How a command ended besides an exit status: control flow that unwinds
/// the interpreter up to the construct that handles it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Break(u32),
    Continue(u32),
    Return(i32),
    /// `exit N`, a fatal error in a non-interactive shell, or `set -e`.
    Exit(i32),
    /// Ctrl-C or Ctrl-Z at the prompt: abandon the command line.
    Interrupted(i32),
}

/// The result of running anything: a status, or control flow.
pub type Status = Result<i32, Flow>;

/// `set -o` options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub errexit: bool,
    /// `set -E`: the ERR trap also runs inside functions and subshells.
    pub errtrace: bool,
    /// `set -T`: the DEBUG and RETURN traps also run inside functions.
    pub functrace: bool,
    pub nounset: bool,
    pub noglob: bool,
    pub xtrace: bool,
    pub noclobber: bool,
    pub allexport: bool,
    pub verbose: bool,
    pub noexec: bool,
    pub pipefail: bool,
}

impl Options {
    /// The letters of `$-`.
    pub fn flags(&self, interactive: bool) -> String {
        let mut s = String::new();
        for (on, c) in [
            (self.allexport, 'a'),
            (self.errexit, 'e'),
            (self.noglob, 'f'),
            // hashall and braceexpand, always on in nsh as by default
            // in bash.
            (true, 'h'),
            (interactive, 'i'),
            (self.noexec, 'n'),
            (self.nounset, 'u'),
            (self.verbose, 'v'),
            (self.xtrace, 'x'),
            (true, 'B'),
            (self.noclobber, 'C'),
            (self.errtrace, 'E'),
            (self.functrace, 'T'),
        ] {
            if on {
                s.push(c);
            }
        }
        s
    }
}

/// `shopt` options nsh implements (the others are in
/// `builtins/shopt.rs`).
#[derive(Debug, Clone)]
pub struct Shopt {
    pub extglob: bool,
    pub nullglob: bool,
    pub failglob: bool,
    pub dotglob: bool,
    /// `.` and `..` never match a glob (on by default, as in bash 5.2).
    pub globskipdots: bool,
    pub globstar: bool,
    pub nocaseglob: bool,
    /// The last element of a pipeline runs in this shell (scripts only,
    /// as bash does it without job control).
    pub lastpipe: bool,
    /// Aliases are expanded (bash: on in interactive shells only).
    pub expand_aliases: bool,
    /// `$(..)` keeps `set -e` (bash clears it there otherwise).
    pub inherit_errexit: bool,
    /// GLOBIGNORE's value when dotglob was last brought in line with it
    /// ([`Shopt::sync_globignore`]).
    pub globignore_seen: Option<String>,
}

impl Default for Shopt {
    fn default() -> Self {
        Shopt {
            extglob: false,
            nullglob: false,
            failglob: false,
            dotglob: false,
            globskipdots: true,
            globstar: false,
            nocaseglob: false,
            lastpipe: false,
            expand_aliases: false,
            inherit_errexit: false,
            globignore_seen: None,
        }
    }
}

impl Shopt {
    /// What assigning GLOBIGNORE does to dotglob in bash, done when nsh
    /// next looks (before pathname expansion and `shopt`): a value that
    /// changed to a non-empty one turns dotglob on, unsetting it turns
    /// dotglob off, an empty value leaves it.
    pub fn sync_globignore(&mut self, globignore: Option<&str>) {
        if self.globignore_seen.as_deref() == globignore {
            return;
        }
        match globignore {
            Some(value) if !value.is_empty() => self.dotglob = true,
            None => self.dotglob = false,
            Some(_) => {}
        }
        self.globignore_seen = globignore.map(str::to_string);
    }
}

/// Lazily connected cluster client, shared by all clones of a shell: a
/// script that runs only builtins never needs a node.
#[derive(Clone)]
pub struct LazyClient {
    addr: Option<String>,
    cell: Arc<OnceLock<Result<Client, ClientError>>>,
}

impl LazyClient {
    pub fn new(addr: Option<String>) -> Self {
        LazyClient {
            addr,
            cell: Arc::new(OnceLock::new()),
        }
    }

    pub fn get(&self) -> Result<&Client, ClientError> {
        self.cell
            .get_or_init(|| Client::connect(self.addr.as_deref()))
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// When the shell started, in seconds since the epoch (bash's
/// `shell_start_time`: `printf '%(..)T' -2`). Set by [`Shell::new`].
static STARTED: OnceLock<i64> = OnceLock::new();

pub fn start_time() -> i64 {
    *STARTED.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    })
}

/// One shell state.
#[derive(Clone)]
pub struct Shell {
    pub vars: Vars,
    /// `$1`..
    pub positional: Vec<String>,
    /// `$0`.
    pub arg0: String,
    pub functions: HashMap<String, Arc<ast::FunctionBody>>,
    /// The file each function was defined in (`BASH_SOURCE`).
    pub function_files: HashMap<String, Arc<str>>,
    /// The script run by `nsh FILE` (the "main" frame of `BASH_SOURCE`).
    pub script_file: Option<Arc<str>>,
    /// The file whose text runs now: the script or a sourced file.
    pub source_file: Option<Arc<str>>,
    /// Running functions and sourced files, innermost last (calls.rs).
    pub calls: Vec<crate::calls::Call>,
    /// `$BASH_COMMAND`: the command running or about to run (outside
    /// traps), kept only once some text read mentions it.
    pub bash_command: String,
    pub track_command: bool,
    /// `alias` definitions (expanded under `shopt -s expand_aliases`).
    pub aliases: HashMap<String, String>,
    pub options: Options,
    pub shopt: Shopt,
    pub interactive: bool,
    pub last_status: i32,
    /// `$!`.
    pub last_background: Option<i32>,
    pub client: LazyClient,
    /// The directory commands run in; the process's cwd is never changed,
    /// since subshells on other threads have their own.
    pub cwd: PathBuf,
    pub fds: Fds,
    /// `trap` actions by condition name (`EXIT`, `INT`, ...).
    pub traps: HashMap<String, String>,
    /// Jobs of this shell (a subshell starts with an empty table).
    pub jobs: Arc<Mutex<JobTable>>,
    /// The process substitutions still running (`>(cmd)`), which `wait`
    /// and the end of the program wait for: bash's are processes that
    /// finish on their own, nsh's are threads that die with it.
    pub procsubs: Arc<Mutex<Vec<crate::jobs::ExitCell>>>,
    /// Where processes started by this state are recorded: the foreground
    /// set of the top-level shell, or a background job.
    pub tracker: JobTracker,
    /// Nesting of loops, for `break`/`continue`.
    pub loop_depth: u32,
    /// Nesting of function calls and `source`, for `return`.
    pub return_depth: u32,
    /// Inside an `if`/`while` condition or the left of `&&`/`||`, where
    /// `set -e` does not apply.
    pub condition_depth: u32,
    /// A subshell (a clone on another thread): `exit` ends only it.
    pub subshell: bool,
    /// The simple command being prepared got its stdin from its own
    /// pipeline position, so a cluster command gets it pumped even inside
    /// a loop.
    pub stdin_is_own: bool,
    /// The status of the last `$(..)` of the command being expanded (an
    /// assignment-only command returns it).
    pub substitution_status: Option<i32>,
    /// An expansion error is unwinding the top-level command being run
    /// (as `Flow::Interrupted`); the outermost [`Shell::run_program`]
    /// goes on with the next one.
    pub abandon: bool,
    /// Nesting of [`Shell::run_program`] (`eval`, `source`, traps).
    pub program_depth: u32,
    /// Options for parsing text at run time (`eval`, `source`, `$(..)`).
    pub parser_options: brush_parser::ParserOptions,
    /// `pushd`'s stack below the current directory, most recent first.
    pub dirstack: Vec<PathBuf>,
    /// `$LINENO`: the line of the command being run.
    pub lineno: usize,
    /// The last line of the simple command being run (text read at run
    /// time, `eval` and `$( )`, counts its lines from the one before).
    pub last_line: usize,
    /// How many `$( )` deep this state runs (`set -x` repeats `$PS4`'s
    /// first character as often).
    pub substitution_level: u32,
    /// The lines of the text being run count from this one (`eval`,
    /// `$(..)`; 0 for a script, a sourced file, a function).
    pub line_base: usize,
    /// A trap's action is running: `$LINENO` stays, no DEBUG trap.
    pub in_trap: bool,
    /// The ERR trap's action is running (it does not fire inside itself).
    pub in_err_trap: bool,
    /// `$PS4` is being expanded for `set -x` (not traced itself).
    pub in_ps4: bool,
    /// In a subshell that has not set a trap: the parent's, which `trap`
    /// lists (as bash does) though they do not run here.
    pub inherited_traps: Option<HashMap<String, String>>,
    /// `$BASH_SUBSHELL`: how many subshells deep this state is.
    pub subshell_level: u32,
    /// State of `$RANDOM`'s generator.
    pub random: std::cell::Cell<u64>,
    /// `ulimit` settings: kept in the shell (a subshell's stay its own) and
    /// given to every command it starts, never applied to nsh itself.
    pub rlimits: crate::builtins::ulimit::Limits,
}

impl Shell {
    /// A top-level shell with the process environment and stdio.
    pub fn new(addr: Option<String>, interactive: bool) -> Shell {
        start_time();
        let mut vars = Vars::from_env();
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let _ = vars.set("PWD", cwd.to_string_lossy().to_string());
        if vars.get("IFS").is_none() {
            let _ = vars.set("IFS", " \t\n");
        }
        // As bash: whatever the environment said, these are the process's
        // own, read-only and not exported (UID=xx nsh -c 'echo $UID').
        for (name, value) in [
            ("PPID", nix::unistd::getppid().to_string()),
            ("UID", nix::unistd::getuid().to_string()),
            ("EUID", nix::unistd::geteuid().to_string()),
        ] {
            vars.modify(name, |var| {
                *var = Var::new(value);
                var.readonly = true;
                var.integer = true;
            });
        }
        // Read-only, their values computed when read (dynamic.rs).
        for name in ["SHELLOPTS", "BASHOPTS"] {
            vars.modify(name, |var| {
                *var = Var::new("");
                var.readonly = true;
            });
        }
        // Set at startup, changeable, not exported (bash's defaults).
        for (name, value) in [
            (
                "HOSTNAME",
                nix::unistd::gethostname()
                    .map(|h| h.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ),
            ("OSTYPE", "linux-gnu".to_string()),
            ("HOSTTYPE", std::env::consts::ARCH.to_string()),
            (
                "MACHTYPE",
                format!("{}-pc-linux-gnu", std::env::consts::ARCH),
            ),
        ] {
            if vars.get(name).is_none() {
                let _ = vars.set(name, value);
            }
        }
        // `$_` starts as the shell's own path, as bash's does.
        let me = std::env::current_exe()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "nsh".into());
        let _ = vars.set("_", me);
        // bash exports the PWD it sets.
        vars.modify("PWD", |var| var.exported = true);
        if interactive {
            let _ = vars.set("PS1", "\\u@\\N:\\w\\$ ");
        }
        let _ = vars.set("PS2", "> ");
        // bash's defaults when the environment has none.
        if vars.get("PS4").is_none() {
            let _ = vars.set("PS4", "+ ");
        }
        if vars.get("PATH").is_none() {
            let _ = vars.set(
                "PATH",
                "/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin:.",
            );
        }
        if interactive && vars.get("HISTFILE").is_none() {
            let home = vars.get("HOME").unwrap_or("").to_string();
            let _ = vars.set("HISTFILE", format!("{home}/.nsh_history"));
        }
        let _ = vars.set("OPTIND", "1");
        Shell {
            vars,
            positional: Vec::new(),
            arg0: "nsh".to_string(),
            functions: HashMap::new(),
            function_files: HashMap::new(),
            script_file: None,
            source_file: None,
            calls: Vec::new(),
            bash_command: String::new(),
            track_command: false,
            aliases: HashMap::new(),
            options: Options::default(),
            shopt: Shopt {
                expand_aliases: interactive,
                ..Shopt::default()
            },
            interactive,
            last_status: 0,
            last_background: None,
            client: LazyClient::new(addr),
            cwd,
            fds: Fds::inherit(),
            traps: HashMap::new(),
            jobs: Arc::new(Mutex::new(JobTable::default())),
            procsubs: Arc::new(Mutex::new(Vec::new())),
            tracker: JobTracker::foreground(),
            loop_depth: 0,
            return_depth: 0,
            condition_depth: 0,
            subshell: false,
            stdin_is_own: false,
            substitution_status: None,
            abandon: false,
            program_depth: 0,
            parser_options: syntax::parser_options(),
            dirstack: Vec::new(),
            rlimits: Default::default(),
            lineno: 0,
            last_line: 0,
            substitution_level: 0,
            line_base: 0,
            in_trap: false,
            in_err_trap: false,
            in_ps4: false,
            inherited_traps: None,
            subshell_level: 0,
            random: std::cell::Cell::new(crate::dynamic::seed()),
        }
    }

    /// A clone for a subshell: own jobs (the parent's listed as
    /// inherited), no traps but ignored ones, and
    /// `exit` ends only it.
    pub fn subshell(&self) -> Shell {
        let mut sub = self.clone();
        sub.subshell = true;
        sub.subshell_level += 1;
        // `break`/`continue` do not reach the loops of the parent.
        sub.loop_depth = 0;
        // Each subshell draws its own `$RANDOM` numbers.
        sub.random = std::cell::Cell::new(crate::dynamic::seed());
        sub.interactive = false;
        let inherited = self.jobs.lock().map(|t| t.inherited()).unwrap_or_default();
        sub.jobs = Arc::new(Mutex::new(inherited));
        let errtrace = self.options.errtrace;
        // (A subshell of a subshell shows the same: the clone has them.)
        if sub.inherited_traps.is_none() {
            sub.inherited_traps = Some(self.traps.clone());
        }
        sub.traps
            .retain(|name, action| action.is_empty() || (errtrace && name == "ERR"));
        sub
    }

    /// Prints `nsh: MESSAGE` on the shell's stderr.
    pub fn error(&self, message: impl std::fmt::Display) {
        let line = format!("nsh: {message}\n");
        let _ = self.fds.write(2, line.as_bytes());
    }

    /// Writes to the shell's stdout.
    pub fn out(&self, text: &str) -> std::io::Result<()> {
        self.fds.write(1, text.as_bytes())
    }

    /// The cluster client, connecting on first use.
    pub fn client(&self) -> Result<&Client, ClientError> {
        self.client.get()
    }

    /// The cluster client for command `what`; when no node answers, prints
    /// `nsh: what: why` and gives the status to return (1).
    pub fn client_for(&self, what: &str) -> Result<Client, i32> {
        self.client().cloned().map_err(|e| {
            self.error(format!("{what}: {e}"));
            1
        })
    }

    /// Runs a script (`origin` says where it came from). A script that
    /// does not parse runs as bash runs it: command by command until the
    /// one with the syntax error, which ends it with status 2.
    pub fn run_script(&mut self, text: &str, origin: syntax::Origin) -> Status {
        match self.read_and_run(text, origin) {
            Ok(status) => status,
            Err(message) => {
                let _ = self.fds.write(2, message.as_bytes());
                self.last_status = 2;
                Err(Flow::Exit(2))
            }
        }
    }

    /// Runs `text` (`eval`, a trap, an interactive line) as bash does: the
    /// commands before a syntax error run, the error gives status 2 and
    /// ends a non-interactive shell.
    pub fn run_text(&mut self, text: &str) -> Status {
        match self.read_and_run(text, syntax::Origin::Stdin) {
            Ok(status) => status,
            Err(message) => {
                let _ = self.fds.write(2, message.as_bytes());
                self.last_status = 2;
                if self.interactive {
                    Ok(2)
                } else {
                    Err(Flow::Exit(2))
                }
            }
        }
    }

    /// Reads and runs `text`: as one program when it parses and no alias
    /// can change how it reads, else a command at a time (bash's way,
    /// which expands aliases with the table as it is when a line is read).
    /// `Err` is a syntax error, worded as bash writes it.
    pub fn read_and_run(&mut self, text: &str, origin: syntax::Origin) -> Result<Status, String> {
        self.note_text(text);
        let aliases_matter = text.contains("alias") || self.alias_table().is_some();
        if !aliases_matter && let Ok(program) = syntax::parse(text, &self.parser_options) {
            return Ok(self.run_program(&program));
        }
        let mut pieces = syntax::Pieces::new(text, &self.parser_options, origin);
        let mut status = Ok(self.last_status);
        loop {
            match pieces.next_piece(self.alias_table()) {
                None => return Ok(status),
                // A comment or blank line leaves `$?` alone.
                Some(syntax::Piece::Commands(program)) if program.complete_commands.is_empty() => {}
                Some(syntax::Piece::Commands(program)) => {
                    status = self.run_program(&program);
                    if status.is_err() {
                        return Ok(status);
                    }
                }
                Some(syntax::Piece::Error(message)) => return Err(message),
            }
        }
    }

    /// The aliases to expand when reading commands (`shopt -s
    /// expand_aliases`, on in interactive shells as in bash).
    pub fn alias_table(&self) -> Option<&HashMap<String, String>> {
        (self.shopt.expand_aliases && !self.aliases.is_empty()).then_some(&self.aliases)
    }

    /// Runs the EXIT trap (once) and returns the status the shell exits
    /// with.
    pub fn exit_trap(&mut self, status: i32) -> i32 {
        if let Some(action) = self.traps.remove("EXIT")
            && !action.is_empty()
        {
            self.last_status = status;
            let saved = std::mem::replace(&mut self.in_trap, true);
            // A syntax error in the action is reported and leaves the
            // status as it was (bash).
            let result = self.read_and_run(&action, syntax::Origin::Stdin);
            self.in_trap = saved;
            return match result {
                Ok(Err(Flow::Exit(n))) => n,
                Err(message) => {
                    let _ = self.fds.write(2, message.as_bytes());
                    status
                }
                _ => status,
            };
        }
        status
    }

    /// Text about to be read (a script, `eval`, a sourced file, a trap's
    /// action): `$BASH_COMMAND` is kept from now on if it names it, so
    /// shells that never read it do not render every command.
    pub fn note_text(&mut self, text: &str) {
        if !self.track_command && text.contains("BASH_COMMAND") {
            self.track_command = true;
        }
    }

    /// Runs pending signal traps; returns control flow when the signal's
    /// default action ends the command line.
    pub fn check_signals(&mut self) -> Result<(), Flow> {
        // A background job that was sent a fatal signal ends here.
        if let Some(sig) = self.tracker.killed_by() {
            return Err(Flow::Exit(proto::signal_status(sig as i32)));
        }
        if self.tracker.is_foreground() && !self.subshell {
            for name in signals::take_pending() {
                match self.traps.get(&name).cloned() {
                    Some(action) if !action.is_empty() => {
                        let saved = self.last_status;
                        self.run_trap(&action)?;
                        self.last_status = saved;
                    }
                    Some(_) => {}
                    // The trap was removed, but the handler stays: the
                    // signal's default action is due.
                    None => {
                        if let Some(sig) = signals::terminates_by_default(&name)
                            && !(self.interactive && sig == nix::sys::signal::Signal::SIGTERM)
                        {
                            self.exit_trap(proto::signal_status(sig as i32));
                            signals::die_of(sig);
                        }
                    }
                }
            }
        }
        if signals::INTERRUPTED.load(Ordering::Relaxed) && self.tracker.is_foreground() {
            if let Some(action) = self.traps.get("INT").cloned() {
                signals::INTERRUPTED.store(false, Ordering::Relaxed);
                if !action.is_empty() {
                    let saved = self.last_status;
                    self.run_trap(&action)?;
                    self.last_status = saved;
                }
                return Ok(());
            }
            return Err(Flow::Interrupted(130));
        }
        Ok(())
    }

    /// Reports an expansion error (a bad substitution, an arithmetic
    /// error, an assignment to a readonly variable, failglob). Fatal ones
    /// end a non-interactive shell; the others, and all of them in an
    /// interactive shell, abandon the top-level command it is running, as
    /// bash does (it goes on with the next one).
    pub fn expand_failed(&mut self, e: ExpandError) -> Status {
        self.error(&e.message);
        self.last_status = 1;
        // An interactive shell never exits for it: it abandons the line.
        if e.fatal && !self.interactive {
            return Err(Flow::Exit(1));
        }
        self.abandon = true;
        Err(Flow::Interrupted(1))
    }

    /// The name of the node processes run on by default.
    pub fn default_node(&self) -> String {
        self.client()
            .ok()
            .and_then(|c| c.local_node().ok())
            .unwrap_or_default()
    }
}

impl ExpandContext for Shell {
    fn vars(&self) -> &Vars {
        &self.vars
    }

    fn vars_mut(&mut self) -> &mut Vars {
        &mut self.vars
    }

    fn positional(&self) -> &[String] {
        &self.positional
    }

    fn special(&self, parameter: &SpecialParameter) -> Option<String> {
        match parameter {
            SpecialParameter::LastExitStatus => Some(self.last_status.to_string()),
            SpecialParameter::ProcessId => Some(std::process::id().to_string()),
            SpecialParameter::LastBackgroundProcessId => {
                self.last_background.map(|p| p.to_string())
            }
            SpecialParameter::CurrentOptionFlags => Some(self.options.flags(self.interactive)),
            SpecialParameter::ShellName => Some(self.arg0.clone()),
            SpecialParameter::PositionalParameterCount => Some(self.positional.len().to_string()),
            SpecialParameter::AllPositionalParameters { .. } => Some(self.positional.join(" ")),
        }
    }

    fn dynamic(&self, name: &str) -> Option<String> {
        Shell::dynamic(self, name)
    }

    fn warn(&self, message: &str) {
        self.error(message);
    }

    fn nounset(&self) -> bool {
        self.options.nounset
    }

    fn noglob(&self) -> bool {
        self.options.noglob
    }

    fn extglob(&self) -> bool {
        self.shopt.extglob
    }

    fn nullglob(&self) -> bool {
        self.shopt.nullglob
    }

    fn failglob(&self) -> bool {
        self.shopt.failglob
    }

    fn dotglob(&self) -> bool {
        self.shopt.dotglob
    }

    fn globskipdots(&self) -> bool {
        self.shopt.globskipdots
    }

    fn sync_globignore(&mut self) {
        self.shopt.sync_globignore(self.vars.get("GLOBIGNORE"));
    }

    fn globstar(&self) -> bool {
        self.shopt.globstar
    }

    fn nocaseglob(&self) -> bool {
        self.shopt.nocaseglob
    }

    fn cwd(&self) -> PathBuf {
        self.cwd.clone()
    }

    fn command_substitution(&mut self, script: &str) -> Result<String, ExpandError> {
        let (status, mut output) = self.capture(script);
        self.last_status = status;
        self.substitution_status = Some(status);
        // A shell string cannot hold NUL: bash drops them, with a warning.
        if output.contains(&0) {
            self.error("warning: command substitution: ignored null byte in input");
            output.retain(|&b| b != 0);
        }
        Ok(String::from_utf8_lossy(&output).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::Shopt;

    /// bash 5.2: `GLOBIGNORE=x` turns dotglob on, `GLOBIGNORE=` leaves it,
    /// `unset GLOBIGNORE` turns it off; `shopt -u dotglob` in between holds
    /// until GLOBIGNORE changes again.
    #[test]
    fn globignore_drives_dotglob() {
        let mut shopt = Shopt::default();
        assert!(shopt.globskipdots);
        shopt.sync_globignore(None);
        assert!(!shopt.dotglob);
        shopt.sync_globignore(Some("*.txt"));
        assert!(shopt.dotglob);
        shopt.sync_globignore(Some(""));
        assert!(shopt.dotglob);
        shopt.sync_globignore(None);
        assert!(!shopt.dotglob);
        shopt.sync_globignore(Some("x"));
        shopt.dotglob = false;
        shopt.sync_globignore(Some("x"));
        assert!(!shopt.dotglob);
    }
}
