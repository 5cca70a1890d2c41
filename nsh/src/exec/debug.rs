//! `$LINENO` and the DEBUG trap, as bash keeps them.
//!
//! Each command that bash traces sets the line from its place in the text
//! (brush-parser's spans; [`Shell::line_base`] shifts them for text read
//! at run time, `eval` and `$(..)`, as bash counts those lines from the
//! command that runs them). The DEBUG trap runs before each simple
//! command, `[[ ]]`, `(( ))`, `case`, each `for` word and each part of
//! `for (( ))`, and before each simple command of a pipeline, in this
//! shell; not inside functions or subshells (they do not inherit it) and
//! not inside a trap. `$?` is kept across it. Also the `set -x` prefix,
//! `$PS4` expanded.

use brush_parser::ast::SourceLocation;
use brush_parser::ast::{self, CompoundCommand};

use crate::expand::ExpandError;
use crate::shell::{Flow, Shell, Status};

/// The first line of `command` in its text, if the parser recorded it.
pub(crate) fn line_of(command: &ast::Command) -> Option<usize> {
    let span = match command {
        ast::Command::Simple(simple) => simple_location(simple),
        ast::Command::Compound(compound, _) => match compound {
            // A loop's or a group's own commands set their lines.
            CompoundCommand::ForClause(c) => Some(c.loc.clone()),
            CompoundCommand::ArithmeticForClause(c) => Some(c.loc.clone()),
            CompoundCommand::CaseClause(c) => Some(c.loc.clone()),
            CompoundCommand::Arithmetic(c) => Some(c.loc.clone()),
            // After it, an ERR trap for it names its line.
            CompoundCommand::Subshell(c) => Some(c.loc.clone()),
            _ => None,
        },
        ast::Command::ExtendedTest(test, _) => Some(test.loc.clone()),
        ast::Command::Function(_) => None,
    }?;
    Some(span.start.line)
}

/// The last line of a simple command (where bash's line counter stands
/// while it runs; text it reads at run time counts its lines from there).
fn last_line_of(command: &ast::Command) -> Option<usize> {
    let ast::Command::Simple(simple) = command else {
        return None;
    };
    let prefix = simple.prefix.iter().flat_map(|p| p.0.iter());
    let suffix = simple.suffix.iter().flat_map(|s| s.0.iter());
    prefix
        .chain(suffix)
        .filter_map(|item| item.location())
        .chain(simple.word_or_name.iter().filter_map(|w| w.loc.clone()))
        .map(|span| span.end.line)
        .max()
}

/// Where a simple command starts: its first word, assignment or
/// redirection target (brush-parser gives redirections no span).
fn simple_location(simple: &ast::SimpleCommand) -> Option<brush_parser::SourceSpan> {
    let items = simple.prefix.iter().flat_map(|p| p.0.iter());
    let suffix = simple.suffix.iter().flat_map(|s| s.0.iter());
    let item_location = |item: &ast::CommandPrefixOrSuffixItem| match item {
        ast::CommandPrefixOrSuffixItem::IoRedirect(redirect) => match redirect {
            ast::IoRedirect::File(_, _, ast::IoFileRedirectTarget::Filename(word))
            | ast::IoRedirect::File(_, _, ast::IoFileRedirectTarget::Duplicate(word))
            | ast::IoRedirect::HereString(_, word)
            | ast::IoRedirect::OutputAndError(word, _) => word.loc.clone(),
            _ => None,
        },
        other => other.location(),
    };
    let mut first = None;
    for item in items {
        first = item_location(item);
        if first.is_some() {
            return first;
        }
    }
    if let Some(word) = &simple.word_or_name {
        first = word.loc.clone();
    }
    first.or_else(|| suffix.filter_map(item_location).next())
}

/// The blanks between `((` and the text and between the text and `))` of
/// an arithmetic command on one line, from its span (split evenly: the
/// parser keeps only the trimmed text).
pub(crate) fn arith_blanks(arith: &ast::ArithmeticCommand) -> (usize, usize) {
    let (start, end) = (&arith.loc.start, &arith.loc.end);
    if start.line != end.line {
        return (1, 1);
    }
    let width = end.column.saturating_sub(start.column);
    let blanks = width.saturating_sub(4 + arith.expr.value.trim().chars().count());
    (blanks / 2, blanks - blanks / 2)
}

/// Whether bash runs the DEBUG trap before `command`.
fn traced(command: &ast::Command) -> bool {
    match command {
        ast::Command::Simple(_) | ast::Command::ExtendedTest(..) => true,
        ast::Command::Compound(compound, _) => matches!(
            compound,
            CompoundCommand::ForClause(_)
                | CompoundCommand::ArithmeticForClause(_)
                | CompoundCommand::CaseClause(_)
                | CompoundCommand::Arithmetic(_)
        ),
        ast::Command::Function(_) => false,
    }
}

impl Shell {
    /// Before `command` runs: its line becomes `$LINENO`, and the DEBUG
    /// trap runs if bash would run it here. (A `for` runs the trap again
    /// for each word, `for (( ))` for each part: see their loops.)
    pub(crate) fn enter_command(&mut self, command: &ast::Command) -> Result<(), Flow> {
        if self.in_trap {
            return Ok(());
        }
        // A simple command's line is its last one, as bash counts (its
        // first when only a redirection carries a line).
        let line = match command {
            ast::Command::Simple(_) => last_line_of(command).or_else(|| line_of(command)),
            _ => line_of(command),
        };
        if let Some(line) = line {
            self.lineno = self.line_base + line;
            self.last_line = self.lineno;
        }
        let subshell = matches!(
            command,
            ast::Command::Compound(CompoundCommand::Subshell(_), _)
        );
        if self.track_command && (traced(command) || subshell) {
            self.bash_command = command.to_string();
        }
        let loops = matches!(
            command,
            ast::Command::Compound(
                CompoundCommand::ForClause(_) | CompoundCommand::ArithmeticForClause(_),
                _
            )
        );
        if traced(command) && !loops {
            self.debug_trap()?;
        }
        Ok(())
    }

    /// A `for` word or a `for (( ))` part is next: `$LINENO` is the
    /// loop's line, and the DEBUG trap runs.
    pub(crate) fn enter_loop_step(&mut self, line: usize) -> Result<(), Flow> {
        if self.in_trap {
            return Ok(());
        }
        self.lineno = self.line_base + line;
        self.debug_trap()
    }

    /// Runs the DEBUG trap, if one is set, keeping `$?`.
    fn debug_trap(&mut self) -> Result<(), Flow> {
        if self.traps.is_empty() {
            return Ok(());
        }
        let Some(action) = self.traps.get("DEBUG").filter(|a| !a.is_empty()).cloned() else {
            return Ok(());
        };
        let status = self.last_status;
        let result = self.run_trap(&action);
        self.last_status = status;
        result.map(|_| ())
    }

    /// Runs a trap's action: `$LINENO` stays the line of the command that
    /// triggered it, and no DEBUG trap runs inside.
    pub fn run_trap(&mut self, action: &str) -> Status {
        let saved = std::mem::replace(&mut self.in_trap, true);
        let result = self.run_text(action);
        self.in_trap = saved;
        result
    }

    /// What `set -x` writes before a traced command: `$PS4` expanded (its
    /// first character repeated once more per `$( )` level), `+ ` when
    /// unset or while `$PS4` itself is being expanded.
    /// Writes `text` as a `set -x` line, when tracing.
    pub(crate) fn xtrace_line(&mut self, text: &str) {
        if self.options.xtrace && !self.in_ps4 {
            let prefix = self.xtrace_prefix();
            let _ = self.fds.write(2, format!("{prefix}{text}\n").as_bytes());
        }
    }

    /// Evaluates arithmetic text, shown first under `set -x` as bash
    /// shows it: `(( TEXT ))`, TEXT expanded; for `(( ))` itself
    /// (`blanks`: the blanks the source had around the text, which the
    /// parser trims) bash keeps those inside too.
    pub(crate) fn traced_arith(
        &mut self,
        text: &str,
        blanks: (usize, usize),
    ) -> Result<i64, ExpandError> {
        if !self.options.xtrace || self.in_ps4 {
            return crate::expand::eval_arith(self, text);
        }
        let expanded = crate::expand::arith_text(self, text)?;
        let (left, right) = blanks;
        let shown = format!(
            "(( {}{}{} ))",
            " ".repeat(left),
            expanded.trim(),
            " ".repeat(right)
        );
        self.xtrace_line(&shown);
        crate::expand::eval_expanded_arith(self, &expanded)
    }

    pub(crate) fn xtrace_prefix(&mut self) -> String {
        let Some(ps4) = self.vars.get("PS4").map(str::to_string) else {
            return "+ ".to_string();
        };
        if self.in_ps4 {
            return String::new();
        }
        self.in_ps4 = true;
        let expanded = crate::expand::expand_assignment(self, &ps4).unwrap_or(ps4);
        self.in_ps4 = false;
        let Some(first) = expanded.chars().next() else {
            return expanded;
        };
        let mut prefix: String =
            std::iter::repeat_n(first, self.substitution_level as usize).collect();
        prefix.push_str(&expanded);
        prefix
    }

    /// Runs text read at run time (`eval`) with its lines counted from the
    /// current one, as bash counts them.
    pub(crate) fn with_line_base<T>(&mut self, body: impl FnOnce(&mut Shell) -> T) -> T {
        let saved = (self.line_base, self.substitution_level);
        self.line_base = self.last_line.saturating_sub(1);
        // `set -x` shows a level more inside (as for `$( )`).
        self.substitution_level += 1;
        let result = body(self);
        (self.line_base, self.substitution_level) = saved;
        result
    }
}
