//! Pathname expansion (POSIX 2.6.6): a field whose unquoted characters
//! include glob operators becomes the sorted list of existing paths it
//! matches. The pattern is taken apart at `/`; components without glob
//! operators are path text, the others are matched against directory
//! entries. A leading `.` in a name must be matched by a literal `.` (unless
//! dotglob); `.` and `..` never match a glob (bash's `globskipdots`).
//! With globstar a `**` component matches any depth of directories; with
//! nocaseglob letters of glob components match either case.
//! Results are sorted by byte order, which is bash's order in the C locale
//! (in other locales bash collates). Names that are not UTF-8 are skipped.

use std::path::PathBuf;

use super::ExpandError;
use super::pattern;

/// Shell options that change pathname expansion.
#[derive(Debug, Clone, Default)]
pub struct GlobOptions {
    pub extglob: bool,
    pub dotglob: bool,
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

    /// The names in directory `prefix` a glob may match: hidden ones only
    /// with dotglob or when the pattern starts with a `.`, never `.`/`..`.
    fn names(&self, prefix: &str, explicit_dot: bool) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.on_disk(prefix)) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| {
                (explicit_dot || self.dotglob || !name.starts_with('.'))
                    && name != "."
                    && name != ".."
            })
            .collect();
        names.sort();
        names
    }

    /// Every path below `prefix` (which ends in `/` or is empty), at any
    /// depth, directories with a `/` after them when `dirs_only` (for a
    /// `**/` in the middle of a pattern). Symbolic links to directories
    /// are not followed, as in bash.
    fn walk(&self, prefix: &str, dirs_only: bool, out: &mut Vec<String>) {
        for name in self.names(prefix, false) {
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

/// Whether `path` matches one of the colon-separated patterns of
/// GLOBIGNORE. A `*` does not match a `/`: pattern and path are compared
/// component by component, as bash does.
pub fn ignored(path: &str, globignore: &str, extglob: bool) -> bool {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    globignore
        .split(':')
        .filter(|p| !p.is_empty())
        .any(|pattern| {
            let wanted: Vec<&str> = pattern.split('/').collect();
            wanted.len() == parts.len()
                && wanted
                    .iter()
                    .zip(&parts)
                    .all(|(w, p)| pattern::matches(w, p, extglob).unwrap_or(false))
        })
}

/// The paths `pattern` matches, sorted (empty when none).
pub fn expand(pattern_text: &str, options: &GlobOptions) -> Result<Vec<String>, ExpandError> {
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
        if !pattern::has_glob(component, options.extglob) {
            let literal = pattern::unescape(component);
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
        let compiled = pattern::compile_with(component, options.extglob, options.nocase)?;
        let explicit_dot = component.starts_with('.') || component.starts_with("\\.");
        let mut next = Vec::new();
        for prefix in &prefixes {
            for name in options.names(prefix, explicit_dot) {
                if !compiled.matches(&name) {
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
    Ok(found)
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
