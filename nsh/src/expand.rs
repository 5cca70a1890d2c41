//! Word expansion: tilde, parameter, command substitution, arithmetic,
//! field splitting, pathname expansion and quote removal (POSIX 2.6), over
//! the word pieces brush-parser produces.
//!
//! The executor calls these functions with its shell state behind the
//! [`ExpandContext`] trait, so expansion is testable without a shell.

use brush_parser::word::SpecialParameter;

use crate::vars::Vars;

/// An expansion that cannot go on: `${x?}` on an unset variable, a bad
/// substitution, an arithmetic syntax error, `set -u` on an unset name,
/// assignment to a readonly variable. The message is what follows `nsh: `.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{message}")]
pub struct ExpandError {
    pub message: String,
    /// POSIX says some expansion errors exit a non-interactive shell
    /// (`${x?}`, `set -u`): the executor exits when this is set.
    pub fatal: bool,
}

impl ExpandError {
    pub fn new(message: impl Into<String>) -> Self {
        ExpandError {
            message: message.into(),
            fatal: false,
        }
    }

    pub fn fatal(message: impl Into<String>) -> Self {
        ExpandError {
            message: message.into(),
            fatal: true,
        }
    }
}

/// What expansion needs from the shell.
pub trait ExpandContext {
    fn vars(&self) -> &Vars;
    fn vars_mut(&mut self) -> &mut Vars;
    /// `$1`..: the positional parameters (without `$0`).
    fn positional(&self) -> &[String];
    /// `$?`, `$$`, `$!`, `$-`, `$0` (`$#`, `$@`, `$*` come from
    /// [`ExpandContext::positional`]). `None` when unset (`$!` before any
    /// background job).
    fn special(&self, parameter: &SpecialParameter) -> Option<String>;
    /// `set -u`.
    fn nounset(&self) -> bool;
    /// `set -f`.
    fn noglob(&self) -> bool;
    /// Runs `script` in a subshell and returns its standard output as is
    /// (the caller strips trailing newlines). Sets `$?` for the shell.
    fn command_substitution(&mut self, script: &str) -> Result<String, ExpandError>;
}

/// Expands command words or `for` lists into fields: every expansion, field
/// splitting on IFS, pathname expansion (unless noglob), quote removal.
/// `"$@"` gives one field per positional parameter.
pub fn expand_words(
    ctx: &mut dyn ExpandContext,
    words: &[brush_parser::ast::Word],
) -> Result<Vec<String>, ExpandError> {
    let _ = ctx;
    Ok(words.iter().map(|w| w.value.clone()).collect())
}

/// Expands one word to one string, without field splitting or pathname
/// expansion: assignment values, redirection targets, `case` words, the
/// operands of `[[ ]]`.
pub fn expand_word(ctx: &mut dyn ExpandContext, word: &str) -> Result<String, ExpandError> {
    let _ = ctx;
    Ok(word.to_string())
}

/// Expands a word used as a pattern (`case` items, `${x#pat}`, `[[ == ]]`):
/// like [`expand_word`], but characters that were quoted come back escaped
/// with a backslash so [`pattern_matches`] takes them literally.
pub fn expand_pattern(ctx: &mut dyn ExpandContext, word: &str) -> Result<String, ExpandError> {
    let _ = ctx;
    Ok(word.to_string())
}

/// Expands the body of an unquoted here-document: parameters, `$(..)`,
/// arithmetic and backslash escapes of `$`, `` ` ``, `\` and newline.
pub fn expand_heredoc(ctx: &mut dyn ExpandContext, body: &str) -> Result<String, ExpandError> {
    let _ = ctx;
    Ok(body.to_string())
}

/// Evaluates an arithmetic expression (`$(( ))`, `(( ))`, `let`, array
/// indexes) with shell variables; assignments in it update them.
pub fn eval_arith(ctx: &mut dyn ExpandContext, expr: &str) -> Result<i64, ExpandError> {
    let _ = ctx;
    expr.trim()
        .parse()
        .map_err(|_| ExpandError::new(format!("{expr}: syntax error in expression")))
}

/// Whether `text` matches the shell pattern (`*`, `?`, `[..]`, backslash
/// escapes; extglob forms when `extglob`).
pub fn pattern_matches(pattern: &str, text: &str, extglob: bool) -> bool {
    let _ = extglob;
    pattern == text || pattern == "*"
}
