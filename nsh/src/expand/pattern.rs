//! Shell pattern matching (`*`, `?`, `[..]`, backslash escapes, extglob).
//! A pattern is read into a tree ([`parse`]) with bash's rules, then
//! matched one of three ways, chosen once per pattern: a pattern without
//! operators compares as a string; one without `!(..)` becomes a regular
//! expression ([`to_regex`]), compiled once; the others, and letters of
//! either case (`nocaseglob`), are matched by walking the tree over the
//! text ([`walk`]). Compiled patterns stay in a per-thread cache, since
//! shell loops match the same pattern many times.
//!
//! On top of whole-string matching are the searches parameter expansion
//! needs: the shortest or longest matching prefix or suffix (`${x#p}`,
//! `${x%%p}`) and the leftmost-longest match (`${x/p/r}`), as bash finds
//! them; and the rules pathname expansion adds (a leading `.`, `/` in
//! GLOBIGNORE).

mod parse;
#[cfg(test)]
mod tests;
mod to_regex;
mod walk;

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use regex::Regex;

use parse::Tree;
pub use parse::{group_parts, is_glob_word};
use walk::{Flags, Walk};

/// A compiled shell pattern.
#[derive(Debug)]
pub struct Pattern {
    tree: Tree,
    /// The text starts with `*`.
    star_first: bool,
    engine: Engine,
    /// Letters match either case (`shopt -s nocaseglob`).
    nocase: bool,
}

#[derive(Debug)]
enum Engine {
    /// No operator: the text itself.
    Literal(String),
    /// The pattern's regular expression, unanchored, and its anchored
    /// forms as they are needed.
    Regex {
        body: String,
        full: OnceCell<Regex>,
        prefix: OnceCell<Regex>,
        suffix: OnceCell<Regex>,
        any: OnceCell<Regex>,
    },
    /// Walking the tree.
    Walk,
}

/// How names starting with `.` are matched in pathname expansion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dots {
    /// Without dotglob: a leading `.` only by a literal `.`.
    Period,
    /// With dotglob: `.` and `..` only by a pattern starting with `.`.
    DotDot,
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
pub fn compile(pattern: &str, extglob: bool) -> Rc<Pattern> {
    compile_with(pattern, extglob, false)
}

/// [`compile`], letters matching either case when `nocase`.
pub fn compile_with(pattern: &str, extglob: bool, nocase: bool) -> Rc<Pattern> {
    let which = usize::from(extglob) | (usize::from(nocase) << 1);
    if let Some(found) = CACHE.with(|c| c.borrow()[which].get(pattern).cloned()) {
        return found;
    }
    let compiled = Rc::new(Pattern::new(pattern, extglob, nocase));
    CACHE.with(|c| {
        let cache = &mut c.borrow_mut()[which];
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(pattern.to_string(), compiled.clone());
    });
    compiled
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

/// Whether `text` matches the whole of `pattern`.
pub fn matches(pattern: &str, text: &str, extglob: bool) -> bool {
    compile(pattern, extglob).matches(text)
}

impl Pattern {
    fn new(pattern: &str, extglob: bool, nocase: bool) -> Self {
        let tree = parse::parse(pattern, extglob);
        let engine = match (tree.literal(), nocase) {
            (Some(text), false) => Engine::Literal(text),
            _ if nocase => Engine::Walk,
            _ => {
                let regex = to_regex::regex(&tree.nodes)
                    .and_then(|body| Some((Regex::new(&format!("^(?s:{body})$")).ok()?, body)));
                match regex {
                    Some((full, body)) => Engine::Regex {
                        body,
                        full: OnceCell::from(full),
                        prefix: OnceCell::new(),
                        suffix: OnceCell::new(),
                        any: OnceCell::new(),
                    },
                    // A regular expression the crate refuses (too big) is
                    // walked instead.
                    None => Engine::Walk,
                }
            }
        };
        Pattern {
            tree,
            star_first: pattern.starts_with('*'),
            engine,
            nocase,
        }
    }

    /// The text the pattern matches when it has no operator.
    pub fn literal(&self) -> Option<String> {
        self.tree.literal()
    }

    fn walk<'t>(&self, text: &'t [char], mut flags: Flags) -> Walk<'t> {
        flags.nocase = self.nocase;
        Walk::new(text, flags)
    }

    /// Whether the whole of `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        match &self.engine {
            Engine::Literal(lit) => lit == text,
            Engine::Regex { body, full, .. } => regex_of(full, "^(?s:BODY)$", body).is_match(text),
            Engine::Walk => self.walked(text, Flags::default()),
        }
    }

    fn walked(&self, text: &str, flags: Flags) -> bool {
        let chars: Vec<char> = text.chars().collect();
        self.walk(&chars, flags).matches(&self.tree.nodes)
    }

    /// Whether the file name `name` matches, with pathname expansion's
    /// rule for names starting with `.`.
    pub fn matches_name(&self, name: &str, dots: Dots) -> bool {
        let flags = match dots {
            Dots::Period if name.starts_with('.') => Flags {
                period: true,
                ..Flags::default()
            },
            Dots::DotDot if name == "." || name == ".." => Flags {
                dotdot: true,
                ..Flags::default()
            },
            _ => return self.matches(name),
        };
        self.walked(name, flags)
    }

    /// Whether `path` matches, `*`, `?` and brackets not matching `/`
    /// (GLOBIGNORE).
    pub fn matches_path(&self, path: &str) -> bool {
        match &self.engine {
            Engine::Literal(lit) => lit == path,
            _ => self.walked(
                path,
                Flags {
                    pathname: true,
                    ..Flags::default()
                },
            ),
        }
    }

    /// The length of the shortest (or longest) prefix of `text` that
    /// matches.
    pub fn prefix_len(&self, text: &str, longest: bool) -> Option<usize> {
        match &self.engine {
            Engine::Literal(lit) => text.starts_with(lit.as_str()).then_some(lit.len()),
            Engine::Regex { body, prefix, .. } => {
                if !regex_of(prefix, "^(?s:BODY)", body).is_match(text) {
                    return None;
                }
                let mut ends = boundaries(text);
                if longest {
                    ends.rev().find(|&end| self.matches(&text[..end]))
                } else {
                    ends.find(|&end| self.matches(&text[..end]))
                }
            }
            Engine::Walk => {
                let (chars, offsets) = chars_of(text);
                let ends = self
                    .walk(&chars, Flags::default())
                    .ends(&self.tree.nodes, 0);
                let end = if longest { ends.last() } else { ends.first() };
                end.map(|&e| offsets[e])
            }
        }
    }

    /// Where the shortest (or longest) suffix of `text` that matches
    /// starts.
    pub fn suffix_start(&self, text: &str, longest: bool) -> Option<usize> {
        match &self.engine {
            Engine::Literal(lit) => text.ends_with(lit.as_str()).then(|| text.len() - lit.len()),
            Engine::Regex { body, suffix, .. } => {
                if !regex_of(suffix, "(?s:BODY)$", body).is_match(text) {
                    return None;
                }
                let mut starts = boundaries(text);
                if longest {
                    starts.find(|&start| self.matches(&text[start..]))
                } else {
                    starts.rev().find(|&start| self.matches(&text[start..]))
                }
            }
            Engine::Walk => {
                let (chars, offsets) = chars_of(text);
                let mut walk = self.walk(&chars, Flags::default());
                let len = chars.len();
                let mut ends_at_len = |s: usize| walk.ends(&self.tree.nodes, s).contains(&len);
                let start = if longest {
                    (0..=len).find(|&s| ends_at_len(s))
                } else {
                    (0..=len).rev().find(|&s| ends_at_len(s))
                };
                start.map(|s| offsets[s])
            }
        }
    }

    /// The leftmost match in `text` at or after `from`, the longest there
    /// (possibly empty), as bash's `${x/p/r}` finds it: at the end of the
    /// text only a pattern starting with `*` is tried.
    pub fn find(&self, text: &str, from: usize) -> Option<(usize, usize)> {
        let tried = |start: usize| start < text.len() || self.star_first;
        match &self.engine {
            Engine::Literal(lit) => {
                if lit.is_empty() {
                    return None;
                }
                text[from..]
                    .find(lit.as_str())
                    .map(|at| (from + at, from + at + lit.len()))
            }
            Engine::Regex { body, any, .. } => {
                let any = regex_of(any, "(?s:BODY)", body);
                let found = any.find_at(text, from)?;
                let start = found.start();
                if !tried(start) {
                    return None;
                }
                // The regex's own match is one candidate; bash wants the
                // longest match at this start.
                let longest = boundaries(&text[start..])
                    .rev()
                    .map(|len| start + len)
                    .take_while(|&end| end > found.end())
                    .find(|&end| self.matches(&text[start..end]))
                    .unwrap_or(found.end());
                Some((start, longest))
            }
            Engine::Walk => {
                let (chars, offsets) = chars_of(text);
                let mut walk = self.walk(&chars, Flags::default());
                let first = offsets.partition_point(|&o| o < from);
                (first..=chars.len())
                    .take_while(|&s| tried(offsets[s]))
                    .find_map(|s| {
                        let end = *walk.ends(&self.tree.nodes, s).last()?;
                        Some((offsets[s], offsets[end]))
                    })
            }
        }
    }

    /// Whether the pattern starts with an unquoted `*`: only such a
    /// pattern is tried against an empty text by `${x/#p/r}` and `${x/p/r}`.
    pub fn star_first(&self) -> bool {
        self.star_first
    }
}

/// The regular expression `shape` with the pattern's `body` in it,
/// compiled once into `cell`.
fn regex_of<'a>(cell: &'a OnceCell<Regex>, shape: &str, body: &str) -> &'a Regex {
    cell.get_or_init(|| {
        // The anchored body compiled in Pattern::new; other anchors cannot
        // break it.
        #[allow(clippy::expect_used)]
        Regex::new(&shape.replace("BODY", body)).expect("pattern compiled before")
    })
}

/// The characters of `text` and the byte offset of each, with
/// `text.len()` last.
fn chars_of(text: &str) -> (Vec<char>, Vec<usize>) {
    let chars = text.chars().collect();
    let offsets = boundaries(text).collect();
    (chars, offsets)
}

/// Every char boundary of `text`, 0 and `text.len()` included.
fn boundaries(text: &str) -> impl DoubleEndedIterator<Item = usize> + '_ {
    text.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
}
