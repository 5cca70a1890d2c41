//! Pathname expansion (POSIX 2.6.6): a field whose unquoted characters
//! include glob operators becomes the sorted list of existing paths it
//! matches. The pattern is taken apart at `/`; components without glob
//! operators are path text, the others are matched against directory
//! entries. A leading `.` in a name must be matched by a literal `.` (unless
//! dotglob); `.` and `..` never match a glob (bash's `globskipdots`).
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
    /// The directory relative patterns are matched in (the shell's, which
    /// is not the process's).
    pub cwd: PathBuf,
}

impl GlobOptions {
    /// Where a path as written lives on disk.
    fn on_disk(&self, path: &str) -> PathBuf {
        self.cwd.join(if path.is_empty() { "." } else { path })
    }
}

/// The paths `pattern` matches, sorted (empty when none).
pub fn expand(pattern_text: &str, options: &GlobOptions) -> Result<Vec<String>, ExpandError> {
    let components: Vec<&str> = split_components(pattern_text);
    // Paths matched so far, as written (so `./x*` gives `./x1`).
    let mut paths = vec![String::new()];
    let last = components.len() - 1;
    for (i, component) in components.iter().enumerate() {
        let is_last = i == last;
        if i > 0 {
            for path in &mut paths {
                path.push('/');
            }
        }
        if component.is_empty() {
            // Before a leading `/`, between `//`, after a trailing `/`:
            // a trailing `/` keeps only directories.
            if is_last && i > 0 {
                paths.retain(|p| options.on_disk(p).is_dir());
            }
            continue;
        }
        if !pattern::has_glob(component, options.extglob) {
            let literal = pattern::unescape(component);
            for path in &mut paths {
                path.push_str(&literal);
            }
            if is_last {
                paths.retain(|p| options.on_disk(p).symlink_metadata().is_ok());
            }
            continue;
        }
        let compiled = pattern::compile(component, options.extglob)?;
        let explicit_dot = component.starts_with('.') || component.starts_with("\\.");
        let mut next = Vec::new();
        for path in &paths {
            let Ok(entries) = std::fs::read_dir(options.on_disk(path)) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| {
                    (explicit_dot || options.dotglob || !name.starts_with('.'))
                        && name != "."
                        && name != ".."
                        && compiled.matches(name)
                })
                .collect();
            names.sort();
            for name in names {
                let candidate = format!("{path}{name}");
                if is_last || options.on_disk(&candidate).is_dir() {
                    next.push(candidate);
                }
            }
        }
        paths = next;
        if paths.is_empty() {
            break;
        }
    }
    paths.sort();
    Ok(paths)
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
