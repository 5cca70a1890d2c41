//! Word expansion: tilde, parameter, command substitution, arithmetic,
//! field splitting, pathname expansion and quote removal (POSIX 2.6), over
//! the word pieces brush-parser produces.
//!
//! The executor calls these functions with its shell state behind the
//! [`ExpandContext`] trait, so expansion is testable without a shell.
//!
//! A word is parsed into pieces once (cached per thread); the pieces are
//! expanded into a `fields::Builder` that tracks, character by character,
//! what was quoted: unquoted expansion results are split on IFS as they
//! arrive, and each field keeps a pattern rendering (quoted characters
//! escaped) for pathname expansion. Parameter forms are in `param`,
//! arithmetic in `arith`, shell patterns (regexes via brush-parser, cached)
//! in `pattern`, pathname expansion in `glob`, brace expansion in `brace`.
//!
//! Known differences from bash: `{01..03}` loses its zero padding; `!(..)`
//! patterns and `${x@A}`, `${x@K}`, `${x@k}`, `${x@P}` are refused with an
//! error; there is no directory stack for `~N`; arithmetic recursion
//! through variables stops at depth 256 (bash: 1024); the "error token" of
//! a division by zero names the divisor rather than the rest of the line;
//! `$'\xHH'` above 0x7f gives that Unicode character, not a raw byte; an
//! out-of-range array subscript in arithmetic is an error (bash warns and
//! uses 0).

pub(crate) mod access;
mod arith;
mod brace;
mod fields;
mod glob;
mod param;
pub(crate) mod pattern;
pub(crate) mod quote;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use brush_parser::ParserOptions;
use brush_parser::word::{SpecialParameter, TildeExpr, WordPiece, WordPieceWithSource};

use crate::vars::Vars;

pub use fields::escape_pattern;
use fields::{Builder, Ifs};
pub use quote::{ansi_c_quote, needs_ansi_c};

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
    /// A dynamic variable's value (`$LINENO`, `$RANDOM`, ...); `None` for
    /// other names.
    fn dynamic(&self, _name: &str) -> Option<String> {
        None
    }
    /// Writes a warning that does not stop the expansion (`nsh: MESSAGE`
    /// on the shell's stderr).
    fn warn(&self, _message: &str) {}
    /// `set -u`.
    fn nounset(&self) -> bool;
    /// `set -f`.
    fn noglob(&self) -> bool;
    /// Runs `script` in a subshell and returns its standard output as is
    /// (the caller strips trailing newlines). Sets `$?` for the shell.
    fn command_substitution(&mut self, script: &str) -> Result<String, ExpandError>;
    /// `shopt -s extglob`: `@(..)`, `*(..)`, `+(..)`, `?(..)`, `!(..)` in
    /// patterns and pathname expansion.
    fn extglob(&self) -> bool {
        false
    }
    /// `shopt -s nullglob`: a pattern matching no path expands to nothing.
    fn nullglob(&self) -> bool {
        false
    }
    /// `shopt -s dotglob`: globs match names starting with `.` too.
    fn dotglob(&self) -> bool {
        false
    }
    /// `shopt -s globskipdots`: `.` and `..` never match a glob (bash's
    /// default).
    fn globskipdots(&self) -> bool {
        true
    }
    /// Brings dotglob in line with GLOBIGNORE as bash does when it is
    /// assigned: on when it is set and not empty, off when it is unset.
    fn sync_globignore(&mut self) {}
    /// `shopt -s failglob`: a pattern matching no path is an error.
    fn failglob(&self) -> bool {
        false
    }
    /// `shopt -s globstar`: `**` matches any depth of directories.
    fn globstar(&self) -> bool {
        false
    }
    /// `shopt -s nocaseglob`: pathname expansion ignores case.
    fn nocaseglob(&self) -> bool {
        false
    }
    /// The directory relative glob patterns are matched in.
    fn cwd(&self) -> std::path::PathBuf {
        std::path::PathBuf::from(".")
    }
}

/// Expands command words or `for` lists into fields: brace expansion, every
/// expansion, field splitting on IFS, pathname expansion (unless noglob),
/// quote removal. `"$@"` gives one field per positional parameter.
pub fn expand_words<W: std::borrow::Borrow<brush_parser::ast::Word>>(
    ctx: &mut dyn ExpandContext,
    words: &[W],
) -> Result<Vec<String>, ExpandError> {
    let mut out = Vec::with_capacity(words.len());
    for word in words {
        let text = &word.borrow().value;
        if !brace::has_braces(text) {
            expand_fields(ctx, text, &mut out)?;
            continue;
        }
        for word in brace::expand(text) {
            expand_fields(ctx, &word, &mut out)?;
        }
    }
    Ok(out)
}

/// Expands one (brace-expanded) word into fields appended to `out`.
fn expand_fields(
    ctx: &mut dyn ExpandContext,
    word: &str,
    out: &mut Vec<String>,
) -> Result<(), ExpandError> {
    let extglob = ctx.extglob();
    if is_plain(word) && !word.contains(['*', '?', '[']) && !(extglob && word.contains('(')) {
        // An empty word only comes from brace expansion (`{,}`): like an
        // empty unquoted expansion it makes no field.
        if !word.is_empty() {
            out.push(word.to_string());
        }
        return Ok(());
    }
    let mut b = Builder::splitting(Ifs::new(ctx.vars().get("IFS")), extglob);
    match assignment_split(word) {
        // `name=~/x:~/y` as an argument: bash expands those tildes too.
        Some((name, value)) => {
            b.literal(name);
            let pieces = parse_with(value, true)?;
            expand_pieces(ctx, &pieces, &mut b, false)?;
        }
        None => {
            let pieces = parse_word(word)?;
            expand_pieces(ctx, &pieces, &mut b, false)?;
        }
    }
    for field in b.finish() {
        // A field whose glob characters make no pattern (`[` alone) is
        // left alone, without looking at the disk.
        if field.glob && !ctx.noglob() && pattern::is_glob_word(&field.pattern) {
            // GLOBIGNORE (bash): matching paths are dropped, and so are `.`
            // and `..`; setting it turns dotglob on.
            ctx.sync_globignore();
            let ignore = ctx
                .vars()
                .get("GLOBIGNORE")
                .filter(|g| !g.is_empty())
                .map(|g| glob::Ignore::new(g, extglob));
            let options = glob::GlobOptions {
                extglob,
                dotglob: ctx.dotglob(),
                skipdots: ctx.globskipdots(),
                globstar: ctx.globstar(),
                nocase: ctx.nocaseglob(),
                cwd: ctx.cwd(),
            };
            let mut paths = glob::expand(&field.pattern, &options);
            if let Some(ignore) = &ignore {
                paths.retain(|path| !ignore.ignores(path, options.nocase));
            }
            if !paths.is_empty() {
                out.extend(paths);
                continue;
            }
            if ctx.failglob() {
                return Err(ExpandError::new(format!("no match: {}", field.text)));
            }
            if ctx.nullglob() {
                continue;
            }
        }
        out.push(field.text);
    }
    Ok(())
}

/// Splits `name=value` when the value holds a tilde to expand.
fn assignment_split(word: &str) -> Option<(&str, &str)> {
    let eq = word.find('=')?;
    let (name, value) = (&word[..eq], &word[eq + 1..]);
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (valid && value.contains('~')).then(|| (&word[..=eq], value))
}

/// Whether `word` has nothing to expand or remove.
fn is_plain(word: &str) -> bool {
    !word.contains(['$', '`', '\'', '"', '\\', '~'])
}

/// Expands one word to one string, without field splitting or pathname
/// expansion: redirection targets, `case` words, the operands of `[[ ]]`.
/// `"$@"` joins its fields with spaces.
pub fn expand_word(ctx: &mut dyn ExpandContext, word: &str) -> Result<String, ExpandError> {
    if is_plain(word) {
        return Ok(word.to_string());
    }
    Ok(expand_single(ctx, &parse_word(word)?)?.text)
}

/// Expands the value of an assignment (`x=value`, `export x=value`): like
/// [`expand_word`], and tildes after `:` expand too (`PATH=~/a:~/b`).
pub fn expand_assignment(ctx: &mut dyn ExpandContext, value: &str) -> Result<String, ExpandError> {
    if is_plain(value) {
        return Ok(value.to_string());
    }
    Ok(expand_single(ctx, &parse_with(value, true)?)?.text)
}

/// Expands a word used as a pattern (`case` items, `${x#pat}`, `[[ == ]]`):
/// like [`expand_word`], but characters that were quoted come back escaped
/// with a backslash so [`pattern_matches`] takes them literally.
pub fn expand_pattern(ctx: &mut dyn ExpandContext, word: &str) -> Result<String, ExpandError> {
    if is_plain(word) {
        return Ok(word.to_string());
    }
    Ok(expand_single(ctx, &parse_word(word)?)?.pattern)
}

fn expand_single(
    ctx: &mut dyn ExpandContext,
    pieces: &[WordPieceWithSource],
) -> Result<fields::Field, ExpandError> {
    let mut b = Builder::single(ctx.extglob());
    expand_pieces(ctx, pieces, &mut b, false)?;
    Ok(b.finish_single())
}

/// Expands the body of an unquoted here-document: parameters, `$(..)`,
/// arithmetic and backslash escapes of `$`, `` ` ``, `\` and newline.
pub fn expand_heredoc(ctx: &mut dyn ExpandContext, body: &str) -> Result<String, ExpandError> {
    if !body.contains(['$', '`', '\\']) {
        return Ok(body.to_string());
    }
    let pieces = brush_parser::word::parse_heredoc(body, &parser_options())
        .map_err(|_| ExpandError::new("here-document: bad substitution"))?;
    let mut b = Builder::single(false);
    for piece in &pieces {
        match &piece.piece {
            // A backslash-newline joins lines.
            WordPiece::Text(text) if text.contains("\\\n") => b.quoted(&text.replace("\\\n", "")),
            _ => expand_pieces(ctx, std::slice::from_ref(piece), &mut b, true)?,
        }
    }
    Ok(b.finish_single().text)
}

/// Evaluates an arithmetic expression (`$(( ))`, `(( ))`, `let`, array
/// indexes) with shell variables; assignments in it update them. The text
/// is expanded first (`$x`, `$(..)`), as in bash.
pub fn eval_arith(ctx: &mut dyn ExpandContext, expr: &str) -> Result<i64, ExpandError> {
    let expanded = arith_text(ctx, expr)?;
    arith::eval_expanded(ctx, &expanded)
}

/// Evaluates arithmetic text [`arith_text`] already expanded.
pub fn eval_expanded_arith(
    ctx: &mut dyn ExpandContext,
    expanded: &str,
) -> Result<i64, ExpandError> {
    arith::eval_expanded(ctx, expanded)
}

/// Arithmetic text with its parameters and substitutions expanded, as
/// it is evaluated (and as `set -x` shows it).
pub fn arith_text(ctx: &mut dyn ExpandContext, expr: &str) -> Result<String, ExpandError> {
    if let Some(quote) = expr.find('\'') {
        // Single quotes do not quote in arithmetic (double quotes do).
        return Err(ExpandError::new(format!(
            "{}: syntax error: operand expected (error token is \"{}\")",
            expr.trim_start(),
            &expr[quote..]
        )));
    }
    if expr.contains(['$', '`', '"', '\\']) {
        let pieces = brush_parser::word::parse(expr, &arith_parser_options())
            .map_err(|_| ExpandError::new(format!("{expr}: bad substitution")))?;
        return Ok(expand_single(ctx, &pieces)?.text);
    }
    Ok(expr.to_string())
}

/// Whether `text` matches the shell pattern (`*`, `?`, `[..]`, backslash
/// escapes; extglob forms when `extglob`).
pub fn pattern_matches(pattern: &str, text: &str, extglob: bool) -> bool {
    pattern::matches(pattern, text, extglob)
}

/// The parser options expansion parses words with.
fn parser_options() -> ParserOptions {
    ParserOptions::default()
}

fn arith_parser_options() -> ParserOptions {
    ParserOptions {
        tilde_expansion_at_word_start: false,
        ..ParserOptions::default()
    }
}

/// Parsed words, per thread; dropped whole when it grows past this.
const WORD_CACHE_LIMIT: usize = 1024;

/// Parsed words by text: `[plain, with tildes after colons]`.
type WordCache = [HashMap<String, Rc<[WordPieceWithSource]>>; 2];

thread_local! {
    static WORD_CACHE: RefCell<WordCache> = RefCell::new(Default::default());
}

/// The pieces of `word` (cached: loops expand the same words again).
fn parse_word(word: &str) -> Result<Rc<[WordPieceWithSource]>, ExpandError> {
    parse_with(word, false)
}

/// The pieces of `word`; `after_colon` also finds tildes after `:` (in
/// assignment values).
fn parse_with(word: &str, after_colon: bool) -> Result<Rc<[WordPieceWithSource]>, ExpandError> {
    let which = usize::from(after_colon);
    if let Some(found) = WORD_CACHE.with(|c| c.borrow()[which].get(word).cloned()) {
        return Ok(found);
    }
    let options = ParserOptions {
        tilde_expansion_after_colon: after_colon,
        ..parser_options()
    };
    let pieces: Rc<[WordPieceWithSource]> = brush_parser::word::parse(word, &options)
        .map_err(|_| ExpandError::new(format!("{word}: bad substitution")))?
        .into();
    check_substitutions(word, &pieces)?;
    WORD_CACHE.with(|c| {
        let cache = &mut c.borrow_mut()[which];
        if cache.len() >= WORD_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(word.to_string(), pieces.clone());
    });
    Ok(pieces)
}

/// brush-parser reads a `${` it cannot parse as a literal `$` followed by
/// text; bash calls that a bad substitution.
fn check_substitutions(word: &str, pieces: &[WordPieceWithSource]) -> Result<(), ExpandError> {
    for pair in pieces.windows(2) {
        if let (WordPiece::Text(dollar), WordPiece::Text(next)) = (&pair[0].piece, &pair[1].piece)
            && dollar == "$"
            && next.starts_with('{')
        {
            let rest = &word[pair[0].start_index..];
            let end = rest.find('}').map_or(rest.len(), |i| i + 1);
            return Err(ExpandError::new(format!(
                "{}: bad substitution",
                &rest[..end]
            )));
        }
    }
    for piece in pieces {
        if let WordPiece::DoubleQuotedSequence(inner)
        | WordPiece::GettextDoubleQuotedSequence(inner) = &piece.piece
        {
            check_substitutions(word, inner)?;
        }
    }
    Ok(())
}

/// Expands word pieces into `b`; `dq` inside double quotes (or in the word
/// of a `${x:-word}` that is).
fn expand_pieces(
    ctx: &mut dyn ExpandContext,
    pieces: &[WordPieceWithSource],
    b: &mut Builder,
    dq: bool,
) -> Result<(), ExpandError> {
    expand_pieces_as(ctx, pieces, b, dq, false)
}

/// [`expand_pieces`]; `nested` for the word of `${x:-word}`, whose
/// unquoted text is part of the expansion result and so is split.
fn expand_pieces_as(
    ctx: &mut dyn ExpandContext,
    pieces: &[WordPieceWithSource],
    b: &mut Builder,
    dq: bool,
    nested: bool,
) -> Result<(), ExpandError> {
    for piece in pieces {
        match &piece.piece {
            WordPiece::Text(text) if dq => b.quoted(text),
            WordPiece::Text(text) if nested => b.expansion(text),
            WordPiece::Text(text) => b.literal(text),
            // Single quotes are literal inside double quotes
            // (`"${x:-'$a'}"` expands `$a`).
            WordPiece::SingleQuotedText(text) if dq => {
                b.quoted("'");
                if text.contains(['$', '`', '\\']) {
                    let inner = brush_parser::word::parse_heredoc(text, &parser_options())
                        .map_err(|_| ExpandError::new(format!("'{text}': bad substitution")))?;
                    expand_pieces(ctx, &inner, b, true)?;
                } else {
                    b.quoted(text);
                }
                b.quoted("'");
            }
            WordPiece::SingleQuotedText(text) => {
                b.quoted(text);
                b.mark_started();
            }
            WordPiece::AnsiCQuotedText(text) => {
                b.quoted(&quote::ansi_c(text));
                b.mark_started();
            }
            WordPiece::DoubleQuotedSequence(inner)
            | WordPiece::GettextDoubleQuotedSequence(inner) => {
                let outer = std::mem::replace(&mut b.vanish, false);
                expand_pieces(ctx, inner, b, true)?;
                if !b.vanish {
                    b.mark_started();
                }
                b.vanish |= outer;
            }
            WordPiece::TildeExpansion(tilde) if dq => b.quoted(&tilde_text(tilde)),
            WordPiece::TildeExpansion(tilde) => {
                b.quoted(&expand_tilde(ctx, tilde));
                b.mark_started();
            }
            WordPiece::ParameterExpansion(expr) => param::expand(ctx, expr, b, dq)?,
            WordPiece::CommandSubstitution(script) => {
                let output = command_substitution(ctx, script)?;
                param::append(ctx, b, param::Val::Str(output), dq);
            }
            WordPiece::BackquotedCommandSubstitution(script) => {
                let script = quote::unescape_backquoted(script, dq);
                let output = command_substitution(ctx, &script)?;
                param::append(ctx, b, param::Val::Str(output), dq);
            }
            WordPiece::EscapeSequence(escape) => {
                let escaped = escape.strip_prefix('\\').unwrap_or(escape);
                let special =
                    escaped.starts_with(['$', '`', '"', '\\', '\n']) || (nested && escaped == "}");
                if dq && !special {
                    // Inside double quotes other backslashes stay.
                    b.quoted(escape);
                } else if escaped != "\n" {
                    b.quoted(escaped);
                    b.mark_started();
                }
            }
            WordPiece::ArithmeticExpression(expr) => {
                let value = eval_arith(ctx, &expr.value)?;
                param::append(ctx, b, param::Val::Str(value.to_string()), dq);
            }
        }
    }
    Ok(())
}

/// Runs `$(..)` and strips the trailing newlines of its output.
fn command_substitution(ctx: &mut dyn ExpandContext, script: &str) -> Result<String, ExpandError> {
    let mut output = ctx.command_substitution(script)?;
    let kept = output.trim_end_matches('\n').len();
    output.truncate(kept);
    Ok(output)
}

/// A tilde prefix as written.
fn tilde_text(tilde: &TildeExpr) -> String {
    match tilde {
        TildeExpr::Home => "~".to_string(),
        TildeExpr::UserHome(user) => format!("~{user}"),
        TildeExpr::WorkingDir => "~+".to_string(),
        TildeExpr::OldWorkingDir => "~-".to_string(),
        TildeExpr::NthDirFromTopOfDirStack { n, plus_used } => {
            format!("~{}{n}", if *plus_used { "+" } else { "" })
        }
        TildeExpr::NthDirFromBottomOfDirStack { n } => format!("~-{n}"),
    }
}

/// Tilde expansion: `~` is `$HOME` (or the user's home directory when HOME
/// is unset), `~user` that user's, `~+` `$PWD`, `~-` `$OLDPWD`. What does
/// not resolve stays as written. There is no directory stack: `~N`, `~+N`
/// and `~-N` stay as written except `~0`/`~+0` (`$PWD`), as with bash's
/// empty stack.
fn expand_tilde(ctx: &dyn ExpandContext, tilde: &TildeExpr) -> String {
    let var = |name: &str| ctx.vars().get(name).map(str::to_string);
    let resolved = match tilde {
        TildeExpr::Home => var("HOME").or_else(|| {
            let user = nix::unistd::User::from_uid(nix::unistd::getuid()).ok()??;
            Some(user.dir.to_string_lossy().into_owned())
        }),
        TildeExpr::UserHome(name) => nix::unistd::User::from_name(name)
            .ok()
            .flatten()
            .map(|user| user.dir.to_string_lossy().into_owned()),
        TildeExpr::WorkingDir | TildeExpr::NthDirFromTopOfDirStack { n: 0, .. } => var("PWD"),
        TildeExpr::OldWorkingDir => var("OLDPWD"),
        _ => None,
    };
    resolved.unwrap_or_else(|| tilde_text(tilde))
}
