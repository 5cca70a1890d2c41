//! The interactive shell: rustyline with history in `~/.nsh_history`, Tab
//! completion of builtins, node names, PIDs, job specs and paths, history
//! hints, and multi-line input (brush-parser decides whether the input is
//! complete).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::{Hinter, HistoryHinter};
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Editor, Helper};

use crate::client::Client;
use crate::shell::{Flow, Shell};
use crate::signals;

/// Names the completer offers besides paths, refreshed from the cluster
/// at most every few seconds.
#[derive(Default)]
struct Names {
    nodes: Vec<String>,
    pids: Vec<String>,
    jobs: Vec<String>,
    functions: Vec<String>,
    fetched: Option<Instant>,
}

struct NshHelper {
    files: FilenameCompleter,
    hinter: HistoryHinter,
    names: Arc<Mutex<Names>>,
    client: Option<Client>,
}

impl NshHelper {
    /// Refreshes the cached names unless they are fresh (or `force`).
    fn refresh(&self, force: bool) {
        let Some(client) = &self.client else { return };
        let Ok(mut names) = self.names.lock() else {
            return;
        };
        if !force
            && names
                .fetched
                .is_some_and(|t| t.elapsed() < Duration::from_secs(3))
        {
            return;
        }
        if let Ok(nodes) = client.nodes() {
            names.nodes = nodes.into_iter().map(|n| n.name).collect();
        }
        if let Ok(list) = client.list("") {
            names.pids = list
                .processes
                .iter()
                .filter(|p| {
                    p.state == proto::v1::ProcessState::Running as i32
                        || p.state == proto::v1::ProcessState::Stopped as i32
                })
                .map(|p| p.pid.to_string())
                .collect();
        }
        names.fetched = Some(Instant::now());
    }
}

impl NshHelper {
    /// A copy of one list of cached names.
    fn cached(&self, list: impl Fn(&Names) -> &Vec<String>) -> Vec<String> {
        self.names
            .lock()
            .map(|n| list(&n).clone())
            .unwrap_or_default()
    }
}

/// The candidates among `names` that start with `prefix`, as inserted.
fn matching(names: Vec<String>, prefix: &str, insert: impl Fn(String) -> String) -> Vec<Pair> {
    names
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .map(|n| {
            let text = insert(n);
            Pair {
                display: text.clone(),
                replacement: text,
            }
        })
        .collect()
}

/// The word under the cursor: from the last unquoted blank to `pos`.
fn current_word(line: &str, pos: usize) -> (usize, &str) {
    let before = &line[..pos];
    let start = before
        .rfind(|c: char| c.is_whitespace() || c == ';' || c == '|' || c == '&' || c == '(')
        .map_or(0, |i| i + 1);
    (start, &before[start..])
}

impl Completer for NshHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, word) = current_word(line, pos);
        let first_word = line[..start].trim().is_empty()
            || line[..start].trim_end().ends_with(['|', ';', '&', '('])
            || line[..start].trim_start().starts_with('@')
                && line[..start].split_whitespace().count() == 1;
        if let Some(node) = word.strip_prefix('@') {
            self.refresh(false);
            let mut names = self.cached(|n| &n.nodes);
            names.extend(["any", "all", "local"].map(String::from));
            return Ok((start, matching(names, node, |n| format!("@{n} "))));
        }
        if word.starts_with('%') {
            let jobs = self.cached(|n| &n.jobs);
            return Ok((start, matching(jobs, word, |j| j)));
        }
        let command = line[..start].split_whitespace().last().unwrap_or("");
        let takes_pid = ["kill", "wait", "logs", "attach"].contains(&command)
            || line[..start]
                .split_whitespace()
                .next()
                .is_some_and(|c| ["kill", "wait", "logs", "attach"].contains(&c));
        if takes_pid && (word.is_empty() || word.chars().all(|c| c.is_ascii_digit())) {
            // PIDs come and go: a miss asks the cluster again.
            for force in [false, true] {
                self.refresh(force);
                let candidates = matching(self.cached(|n| &n.pids), word, |p| format!("{p} "));
                if !candidates.is_empty() {
                    return Ok((start, candidates));
                }
            }
        }
        if command == "-n" || command == "--node" {
            self.refresh(false);
            let nodes = self.cached(|n| &n.nodes);
            return Ok((start, matching(nodes, word, |n| format!("{n} "))));
        }
        if first_word && !word.contains('/') {
            let mut names: Vec<String> = crate::builtins::BUILTINS
                .iter()
                .map(|b| b.name.to_string())
                .chain(
                    crate::builtins::cluster::NAMES
                        .iter()
                        .map(|s| s.to_string()),
                )
                .chain(self.cached(|n| &n.functions))
                .collect();
            names.sort();
            names.dedup();
            let candidates = matching(names, word, |n| format!("{n} "));
            if !candidates.is_empty() {
                return Ok((start, candidates));
            }
        }
        self.files.complete(line, pos, ctx)
    }
}

impl Hinter for NshHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, ctx: &Context<'_>) -> Option<String> {
        self.hinter.hint(line, pos, ctx)
    }
}

impl Highlighter for NshHelper {}

impl Validator for NshHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(if crate::syntax::is_incomplete(ctx.input()) {
            ValidationResult::Incomplete
        } else {
            ValidationResult::Valid(None)
        })
    }
}

impl Helper for NshHelper {}

fn history_path() -> Option<std::path::PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| std::path::Path::new(&home).join(".nsh_history"))
}

/// The prompt: `NODE:DIR$ ` (`#` for root), with `~` for the home
/// directory.
fn prompt(shell: &Shell, node: &str) -> String {
    let cwd = shell.cwd.to_string_lossy().into_owned();
    let cwd = match shell.vars.get("HOME") {
        Some(home) if !home.is_empty() && cwd.starts_with(home) => {
            format!("~{}", &cwd[home.len()..])
        }
        _ => cwd,
    };
    let mark = if nix::unistd::geteuid().is_root() {
        '#'
    } else {
        '$'
    };
    let node = if node.is_empty() { "nsh" } else { node };
    format!("{node}:{cwd}{mark} ")
}

/// Runs the interactive loop until `exit` or end of input; returns the
/// exit status.
pub fn run(shell: &mut Shell) -> i32 {
    let client = shell.client().ok().cloned();
    let node = match &client {
        Some(c) => c.local_node().unwrap_or_default(),
        None => {
            if let Err(e) = shell.client() {
                shell.error(format!(
                    "{e} (commands will fail until a node is reachable)"
                ));
            }
            String::new()
        }
    };
    if let Some(c) = &client {
        signals::set_client(c);
    }
    let names = Arc::new(Mutex::new(Names::default()));
    let helper = NshHelper {
        files: FilenameCompleter::new(),
        hinter: HistoryHinter::new(),
        names: names.clone(),
        client,
    };
    let config = rustyline::Config::builder()
        .auto_add_history(true)
        .max_history_size(10_000)
        .map(|b| b.completion_type(rustyline::CompletionType::List).build())
        .unwrap_or_default();
    let mut editor: Editor<NshHelper, DefaultHistory> = match Editor::with_config(config) {
        Ok(e) => e,
        Err(e) => {
            shell.error(format!("cannot open the terminal: {e}"));
            return 1;
        }
    };
    editor.set_helper(Some(helper));
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    let status = loop {
        let notices = shell.jobs.lock().map(|mut t| t.reap()).unwrap_or_default();
        for line in notices {
            let _ = shell.fds.write(2, format!("{line}\n").as_bytes());
        }
        if let Ok(mut n) = names.lock() {
            n.functions = shell.functions.keys().cloned().collect();
            n.jobs = shell
                .jobs
                .lock()
                .map(|t| t.jobs.iter().map(|j| format!("%{}", j.id)).collect())
                .unwrap_or_default();
        }
        signals::INTERRUPTED.store(false, Ordering::SeqCst);
        signals::SUSPENDED.store(false, Ordering::SeqCst);
        let line = editor.readline(&prompt(shell, &node));
        match line {
            Ok(line) => {
                if line.trim().is_empty() {
                    continue;
                }
                if let Some(path) = &history {
                    let _ = editor.append_history(path);
                }
                match shell.run_text(&line) {
                    Ok(status) => shell.last_status = status,
                    Err(Flow::Exit(status)) => break status,
                    Err(Flow::Interrupted(status)) => {
                        shell.last_status = status;
                        if status == 130 {
                            let _ = shell.fds.write(2, b"\n");
                        }
                    }
                    Err(Flow::Return(s)) => shell.last_status = s,
                    Err(Flow::Break(_) | Flow::Continue(_)) => {}
                }
            }
            Err(ReadlineError::Interrupted) => {
                shell.last_status = 130;
            }
            Err(ReadlineError::Eof) => {
                let _ = shell.fds.write(2, b"exit\n");
                break shell.last_status;
            }
            Err(e) => {
                shell.error(format!("cannot read the terminal: {e}"));
                break 1;
            }
        }
    };
    if let Some(path) = &history {
        let _ = editor.append_history(path);
    }
    shell.exit_trap(status)
}
