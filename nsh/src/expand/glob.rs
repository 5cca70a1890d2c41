//! Pathname expansion (POSIX 2.6.6): a field whose unquoted characters
//! include glob operators becomes the sorted list of existing paths it
//! matches. The pattern is taken apart at `/`; components without glob
//! operators are path text, the others are matched against directory
//! entries. Which entries a component may match is bash's rule: a name
//! starting with `.` only when the pattern (or, for an extglob group, one
//! of its alternatives) starts with a literal `.`, unless dotglob; `.` and
//! `..` never (globskipdots), or with `shopt -u globskipdots` only for a
//! pattern starting with `.`. With globstar a `**` component matches any
//! depth of directories; with nocaseglob letters of glob components match
//! either case. GLOBIGNORE then drops the paths that match one of its
//! patterns, and `.` and `..`.
//! Results are sorted by byte order, which is bash's order in the C locale
//! (in other locales bash collates). Names that are not UTF-8 are skipped.

use std::path::PathBuf;

use super::pattern::{self, Dots};

/// Shell options that change pathname expansion.
#[derive(Debug, Clone, Default)]
pub struct GlobOptions {
    pub extglob: bool,
    pub dotglob: bool,
    /// `.` and `..` never match (`shopt -s globskipdots`, bash's default).
    pub skipdots: bool,
    /// `**` matches any number of directories (`shopt -s globstar`).
    pub globstar: bool,
    /// Letters match either case (`shopt -s nocaseglob`).
    pub nocase: bool,
    /// The directory relative patterns are matched in (the shell's, which
    /// is not the process's).
    pub cwd: PathBuf,
}

impl GlobOptions {
    /// Where a path as written lives on disk.
    fn on_disk(&self, path: &str) -> PathBuf {
        self.cwd.join(if path.is_empty() { "." } else { path })
    }

    /// The names in directory `prefix`, sorted, `.` and `..` among them
    /// unless globskipdots.
    fn entries(&self, prefix: &str) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.on_disk(prefix)) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        if !self.skipdots {
            names.extend([".".to_string(), "..".to_string()]);
        }
        names.sort();
        names
    }

    /// Whether directory entry `name` is out of reach of `pattern`
    /// whatever the rest of the pattern says: bash's rules for names
    /// starting with `.`.
    fn skips(&self, pattern: &str, name: &str) -> bool {
        if let Some(skip) = self.group_skips(pattern, name) {
            return skip;
        }
        let dot_or_dotdot = name == "." || name == "..";
        if self.skipdots && dot_or_dotdot {
            return true;
        }
        let explicit_dot = pattern.starts_with('.') || pattern.starts_with("\\.");
        if self.dotglob {
            !explicit_dot && dot_or_dotdot
        } else {
            !explicit_dot && name.starts_with('.')
        }
    }

    /// [`GlobOptions::skips`] for a pattern starting with an extglob
    /// group: the name is skipped when every alternative skips it, and
    /// then, when the group may match nothing (`*(..)`, `?(..)`), what
    /// follows the group decides. `None` when the pattern does not start
    /// with a group.
    fn group_skips(&self, pattern: &str, name: &str) -> Option<bool> {
        let mut chars = pattern.chars();
        let op = chars.next()?;
        if !matches!(op, '*' | '?' | '+' | '@' | '!') || chars.next() != Some('(') {
            return None;
        }
        let Some((alts, rest)) = pattern::group_parts(&pattern[2..]) else {
            // Not closed: no group.
            return Some(false);
        };
        if alts.iter().any(|alt| !self.skips(alt, name)) {
            return Some(false);
        }
        if !rest.is_empty() && matches!(op, '*' | '?') {
            return Some(self.skips(rest, name));
        }
        Some(true)
    }

    /// Every path below `prefix` (which ends in `/` or is empty), at any
    /// depth, directories with a `/` after them when `dirs_only` (for a
    /// `**/` in the middle of a pattern). Symbolic links to directories
    /// are not followed, as in bash; hidden names only with dotglob.
    fn walk(&self, prefix: &str, dirs_only: bool, out: &mut Vec<String>) {
        for name in self.entries(prefix) {
            if name == "." || name == ".." || (!self.dotglob && name.starts_with('.')) {
                continue;
            }
            let path = format!("{prefix}{name}");
            let is_dir = self
                .on_disk(&path)
                .symlink_metadata()
                .is_ok_and(|m| m.is_dir());
            if is_dir {
                out.push(if dirs_only {
                    format!("{path}/")
                } else {
                    path.clone()
                });
                self.walk(&format!("{path}/"), dirs_only, out);
            } else if !dirs_only {
                out.push(path);
            }
        }
    }
}

/// GLOBIGNORE's patterns.
#[derive(Debug, Clone)]
pub struct Ignore {
    patterns: Vec<String>,
    extglob: bool,
}

impl Ignore {
    /// The patterns of a GLOBIGNORE value: separated by `:`, but not by
    /// one inside a bracket expression (`[[:alpha:]]`), an extglob group,
    /// quotes, or after a backslash.
    pub fn new(value: &str, extglob: bool) -> Self {
        let chars: Vec<char> = value.chars().collect();
        let mut patterns = Vec::new();
        let mut start = 0;
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '\\' => i += 1,
                '\'' | '"' => {
                    let quote = chars[i];
                    i = (i + 1..chars.len())
                        .find(|&k| chars[k] == quote)
                        .unwrap_or(chars.len());
                }
                '[' => i = closing(&chars, i + 1, '[', ']'),
                c if extglob
                    && matches!(c, '*' | '?' | '+' | '@' | '!')
                    && chars.get(i + 1) == Some(&'(') =>
                {
                    i = closing(&chars, i + 2, '(', ')');
                }
                ':' => {
                    patterns.push(chars[start..i].iter().collect());
                    start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        if start < chars.len() {
            patterns.push(chars[start..].iter().collect());
        }
        Ignore { patterns, extglob }
    }

    /// Whether `path`, a result of pathname expansion, is dropped: its
    /// last component is `.` or `..`, or it matches one of the patterns
    /// (whose `*`, `?` and brackets do not match a `/`).
    pub fn ignores(&self, path: &str, nocase: bool) -> bool {
        let last = match path.rsplit_once('/') {
            Some((_, last)) if !last.is_empty() => last,
            _ => path,
        };
        last == "."
            || last == ".."
            || self
                .patterns
                .iter()
                .any(|p| pattern::compile_with(p, self.extglob, nocase).matches_path(path))
    }
}

/// The index of the `close` that ends what an `open` before `from` began,
/// counting nested ones and skipping escaped characters; the end of
/// `chars` when there is none.
fn closing(chars: &[char], from: usize, open: char, close: char) -> usize {
    let mut depth = 0;
    let mut i = from;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            c if c == close && depth == 0 => return i,
            c if c == close => depth -= 1,
            c if c == open => depth += 1,
            _ => {}
        }
        i += 1;
    }
    chars.len()
}

/// The paths `pattern` matches, sorted (empty when none).
pub fn expand(pattern_text: &str, options: &GlobOptions) -> Vec<String> {
    let components: Vec<&str> = split_components(pattern_text);
    let last = components.len() - 1;
    // Directories matched so far, as written and ready to take a name
    // (`""`, `"/"`, `"./a/"`), so `./x*` gives `./x1`.
    let mut prefixes = vec![String::new()];
    let mut found = Vec::new();
    for (i, component) in components.iter().enumerate() {
        let is_last = i == last;
        if component.is_empty() {
            if is_last {
                // A trailing `/` keeps only directories.
                found = prefixes
                    .into_iter()
                    .filter(|p| !p.is_empty() && options.on_disk(p).is_dir())
                    .collect();
                break;
            }
            // A leading `/`, or `//`.
            for prefix in &mut prefixes {
                prefix.push('/');
            }
            continue;
        }
        if options.globstar && *component == "**" {
            let mut next = Vec::new();
            for prefix in &prefixes {
                if is_last {
                    if !prefix.is_empty() {
                        found.push(prefix.clone());
                    }
                    options.walk(prefix, false, &mut found);
                } else {
                    next.push(prefix.clone());
                    options.walk(prefix, true, &mut next);
                }
            }
            prefixes = next;
            continue;
        }
        if let Some(literal) = pattern::compile(component, options.extglob).literal() {
            if is_last {
                found.extend(
                    prefixes
                        .iter()
                        .map(|prefix| format!("{prefix}{literal}"))
                        .filter(|path| options.on_disk(path).symlink_metadata().is_ok()),
                );
            } else {
                for prefix in &mut prefixes {
                    prefix.push_str(&literal);
                    prefix.push('/');
                }
            }
            continue;
        }
        let compiled = pattern::compile_with(component, options.extglob, options.nocase);
        let dots = if options.dotglob {
            Dots::DotDot
        } else {
            Dots::Period
        };
        let mut next = Vec::new();
        for prefix in &prefixes {
            for name in options.entries(prefix) {
                if options.skips(component, &name) || !compiled.matches_name(&name, dots) {
                    continue;
                }
                let path = format!("{prefix}{name}");
                if is_last {
                    found.push(path);
                } else if options.on_disk(&path).is_dir() {
                    next.push(format!("{path}/"));
                }
            }
        }
        prefixes = next;
        if prefixes.is_empty() && !is_last {
            break;
        }
    }
    found.sort();
    found
}

/// `pattern` cut at each unescaped `/`.
fn split_components(pattern: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in pattern.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '/' {
            out.push(&pattern[start..i]);
            start = i + 1;
        }
    }
    out.push(&pattern[start..]);
    out
}
