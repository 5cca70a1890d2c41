//! Shell pattern matching (`*`, `?`, `[..]`, backslash escapes, extglob):
//! brush-parser translates a pattern to a regular expression, compiled once
//! and kept in a per-thread cache, since shell loops match the same pattern
//! many times. Patterns without glob operators take a plain string path.
//!
//! On top of whole-string matching are the searches parameter expansion
//! needs: the shortest or longest matching prefix or suffix (`${x#p}`,
//! `${x%%p}`) and the leftmost-longest match (`${x/p/r}`), as bash finds
//! them.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use regex::Regex;

use super::ExpandError;

/// A compiled shell pattern.
#[derive(Debug)]
pub struct Pattern {
    /// The text the pattern matches when it has no glob operator.
    literal: Option<String>,
    /// The pattern's regular expression, unanchored.
    body: String,
    full: OnceCell<Regex>,
    prefix: OnceCell<Regex>,
    suffix: OnceCell<Regex>,
    any: OnceCell<Regex>,
    /// Letters match either case (`shopt -s nocaseglob`).
    nocase: bool,
}

/// Cached patterns, per thread; dropped whole when it grows past this.
const CACHE_LIMIT: usize = 512;

/// Compiled patterns by text, one map per combination of extglob and
/// case-insensitivity.
type Cache = [HashMap<String, Rc<Pattern>>; 4];

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Default::default());
}

thread_local! {
    /// `[[ s =~ re ]]`'s regular expressions, by text.
    static REGEXES: RefCell<HashMap<String, Regex>> = RefCell::new(HashMap::new());
}

/// The extended regular expression `re` of `[[ s =~ re ]]`, compiled once
/// per thread (a loop matches the same one many times).
pub fn regex(re: &str) -> Result<Regex, regex::Error> {
    if let Some(found) = REGEXES.with(|c| c.borrow().get(re).cloned()) {
        return Ok(found);
    }
    let compiled = Regex::new(re)?;
    REGEXES.with(|c| {
        let mut cache = c.borrow_mut();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(re.to_string(), compiled.clone());
    });
    Ok(compiled)
}

/// Compiles `pattern` (or takes it from the cache).
pub fn compile(pattern: &str, extglob: bool) -> Result<Rc<Pattern>, ExpandError> {
    compile_with(pattern, extglob, false)
}

/// [`compile`], letters matching either case when `nocase`.
pub fn compile_with(
    pattern: &str,
    extglob: bool,
    nocase: bool,
) -> Result<Rc<Pattern>, ExpandError> {
    let which = usize::from(extglob) | (usize::from(nocase) << 1);
    if let Some(found) = CACHE.with(|c| c.borrow()[which].get(pattern).cloned()) {
        return Ok(found);
    }
    let compiled = Rc::new(Pattern::new(pattern, extglob, nocase)?);
    CACHE.with(|c| {
        let cache = &mut c.borrow_mut()[which];
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(pattern.to_string(), compiled.clone());
    });
    Ok(compiled)
}

/// `pattern` without its backslash escapes.
pub fn unescape(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(next) = chars.next()
        {
            out.push(next);
            continue;
        }
        out.push(c);
    }
    out
}

/// Whether `pattern` has an unescaped glob operator.
pub fn has_glob(pattern: &str, extglob: bool) -> bool {
    brush_parser::pattern::pattern_has_glob_metacharacters(pattern, extglob)
}

fn build(re: &str) -> Result<Regex, regex::Error> {
    Regex::new(re).or_else(|err| {
        // brush-parser writes an empty bracket range (`[z-a]`) as the
        // look-ahead `(?!)`, which the regex crate lacks: a class that
        // matches nothing means the same.
        if re.contains("(?!)") {
            Regex::new(&re.replace("(?!)", r"[^\x00-\x{10FFFF}]"))
        } else {
            Err(err)
        }
    })
}

/// Rewrites bracket expressions where brush-parser's translation and the
/// regex crate differ from shell patterns: a `]` first in the brackets is a
/// member (`[]a]`), `\d`, `\w`, `\<` name the characters themselves, and
/// `&&`, `~~` are no class operators.
fn normalize_brackets(pattern: &str) -> std::borrow::Cow<'_, str> {
    if !pattern.contains('[') {
        return pattern.into();
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            out.extend(&chars[i..(i + 2).min(chars.len())]);
            i += 2;
            continue;
        }
        let Some(end) = (c == '[').then(|| bracket_end(&chars, i)).flatten() else {
            out.push(c);
            i += 1;
            continue;
        };
        out.push('[');
        let mut j = i + 1;
        if matches!(chars[j], '!' | '^') {
            out.push(chars[j]);
            j += 1;
        }
        if chars[j] == ']' {
            out.push_str("\\]");
            j += 1;
        }
        while j < end {
            match chars[j] {
                '[' if chars[j + 1] == ':' => {
                    let close = class_end(&chars, j).unwrap_or(j);
                    out.extend(&chars[j..=close]);
                    j = close + 1;
                }
                '\\' => {
                    let e = chars[j + 1];
                    if !(e.is_ascii_alphanumeric() || matches!(e, '<' | '>')) {
                        out.push('\\');
                    }
                    out.push(e);
                    j += 2;
                }
                c @ ('&' | '~') => {
                    out.push('\\');
                    out.push(c);
                    j += 1;
                }
                c => {
                    out.push(c);
                    j += 1;
                }
            }
        }
        out.push(']');
        i = end + 1;
    }
    out.into()
}

/// The index of the `]` closing the bracket expression opened at `start`.
fn bracket_end(chars: &[char], start: usize) -> Option<usize> {
    let mut j = start + 1;
    if matches!(chars.get(j), Some('!' | '^')) {
        j += 1;
    }
    if chars.get(j) == Some(&']') {
        j += 1;
    }
    while j < chars.len() {
        match chars[j] {
            '\\' if j + 1 < chars.len() => j += 2,
            '[' if chars.get(j + 1) == Some(&':') => {
                j = class_end(chars, j).map_or(j + 1, |e| e + 1)
            }
            ']' => return Some(j),
            _ => j += 1,
        }
    }
    None
}

/// The index of the `]` of a `[:class:]` starting at `start`.
fn class_end(chars: &[char], start: usize) -> Option<usize> {
    (start + 2..chars.len().saturating_sub(1))
        .find(|&k| chars[k] == ':' && chars[k + 1] == ']')
        .map(|k| k + 1)
}

impl Pattern {
    fn new(pattern: &str, extglob: bool, nocase: bool) -> Result<Self, ExpandError> {
        let original = pattern;
        let pattern = &*normalize_brackets(pattern);
        let literal = (!nocase && !has_glob(pattern, extglob)).then(|| unescape(pattern));
        let body = if literal.is_some() {
            String::new()
        } else {
            let body = brush_parser::pattern::pattern_to_regex_str(pattern, extglob)
                .map_err(|_| ExpandError::new(format!("{original}: bad pattern")))?;
            // Fail now, not at the first match, on what the regex crate
            // cannot express (the `!(..)` extglob needs look-around).
            build(&format!("(?s:{body})"))
                .map_err(|_| ExpandError::new(format!("{original}: pattern not supported")))?;
            body
        };
        Ok(Pattern {
            literal,
            body,
            full: OnceCell::new(),
            prefix: OnceCell::new(),
            suffix: OnceCell::new(),
            any: OnceCell::new(),
            nocase,
        })
    }

    fn regex<'a>(&self, cell: &'a OnceCell<Regex>, shape: &str) -> &'a Regex {
        cell.get_or_init(|| {
            let mut re = shape.replace("BODY", &self.body);
            if self.nocase {
                re = re.replacen("(?s:", "(?si:", 1);
            }
            // The body compiled in Pattern::new; anchors cannot break it.
            #[allow(clippy::expect_used)]
            build(&re).expect("pattern compiled before")
        })
    }

    fn full(&self) -> &Regex {
        self.regex(&self.full, "^(?s:BODY)$")
    }

    /// Whether the whole of `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        match &self.literal {
            Some(lit) => lit == text,
            None => self.full().is_match(text),
        }
    }

    /// The length of the shortest (or longest) prefix of `text` that
    /// matches.
    pub fn prefix_len(&self, text: &str, longest: bool) -> Option<usize> {
        if let Some(lit) = &self.literal {
            return text.starts_with(lit.as_str()).then_some(lit.len());
        }
        if !self.regex(&self.prefix, "^(?s:BODY)").is_match(text) {
            return None;
        }
        let mut ends = boundaries(text);
        let full = self.full();
        if longest {
            ends.rev().find(|&end| full.is_match(&text[..end]))
        } else {
            ends.find(|&end| full.is_match(&text[..end]))
        }
    }

    /// Where the shortest (or longest) suffix of `text` that matches
    /// starts.
    pub fn suffix_start(&self, text: &str, longest: bool) -> Option<usize> {
        if let Some(lit) = &self.literal {
            return text.ends_with(lit.as_str()).then(|| text.len() - lit.len());
        }
        if !self.regex(&self.suffix, "(?s:BODY)$").is_match(text) {
            return None;
        }
        let mut starts = boundaries(text);
        let full = self.full();
        if longest {
            starts.find(|&start| full.is_match(&text[start..]))
        } else {
            starts.rev().find(|&start| full.is_match(&text[start..]))
        }
    }

    /// The leftmost match in `text` at or after `from`, the longest there;
    /// empty matches are skipped.
    pub fn find(&self, text: &str, from: usize) -> Option<(usize, usize)> {
        if let Some(lit) = &self.literal {
            if lit.is_empty() {
                return None;
            }
            return text[from..]
                .find(lit.as_str())
                .map(|at| (from + at, from + at + lit.len()));
        }
        let any = self.regex(&self.any, "(?s:BODY)");
        let full = self.full();
        let mut at = from;
        while at <= text.len() {
            let found = any.find_at(text, at)?;
            let start = found.start();
            // The regex's own match is one candidate; bash wants the
            // longest match at this start.
            let longest = boundaries(&text[start..])
                .rev()
                .map(|len| start + len)
                .take_while(|&end| end > found.end())
                .find(|&end| full.is_match(&text[start..end]))
                .unwrap_or(found.end());
            if longest > start {
                return Some((start, longest));
            }
            at = next_boundary(text, start);
        }
        None
    }
}

/// Every char boundary of `text`, 0 and `text.len()` included.
fn boundaries(text: &str) -> impl DoubleEndedIterator<Item = usize> + '_ {
    text.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
}

fn next_boundary(text: &str, at: usize) -> usize {
    text[at..]
        .chars()
        .next()
        .map_or(text.len() + 1, |c| at + c.len_utf8())
}

/// Whether `text` matches `pattern`; an invalid or unsupported pattern is
/// an error.
pub fn matches(pattern: &str, text: &str, extglob: bool) -> Result<bool, ExpandError> {
    Ok(compile(pattern, extglob)?.matches(text))
}
