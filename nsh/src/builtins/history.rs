//! `history [N]`: the history file `~/.nsh_history` (kept by the line
//! editor, `repl.rs`), numbered like bash (`%5d  LINE`), all of it or its
//! last N entries. Entries are unescaped from rustyline's file format, so
//! a multi-line entry shows as typed.

use crate::shell::{Shell, Status};

/// The history file: `$HOME/.nsh_history`.
fn history_path(shell: &Shell) -> Option<std::path::PathBuf> {
    let home = shell
        .vars
        .get("HOME")
        .map(str::to_string)
        .or_else(|| std::env::var("HOME").ok())
        .filter(|h| !h.is_empty())?;
    Some(std::path::Path::new(&home).join(".nsh_history"))
}

/// The entries of a history file: rustyline writes `#V2` first, then one
/// entry a line with `\n` and `\\` escaped; older files are plain lines.
fn entries(text: &str) -> Vec<String> {
    let mut lines = text.lines().peekable();
    let v2 = lines.peek() == Some(&"#V2");
    if v2 {
        lines.next();
    }
    lines
        .filter(|l| !l.is_empty())
        .map(|line| {
            if !v2 {
                return line.to_string();
            }
            let mut out = String::with_capacity(line.len());
            let mut chars = line.chars();
            while let Some(c) = chars.next() {
                match (c, chars.clone().next()) {
                    ('\\', Some('n')) => {
                        out.push('\n');
                        chars.next();
                    }
                    ('\\', Some('\\')) => {
                        out.push('\\');
                        chars.next();
                    }
                    _ => out.push(c),
                }
            }
            out
        })
        .collect()
}

/// The `history` builtin.
pub fn history(shell: &mut Shell, args: Vec<String>) -> Status {
    let count = match args.as_slice() {
        [] => None,
        [n] => match n.parse::<usize>() {
            Ok(n) => Some(n),
            Err(_) => {
                shell.error(format!("history: {n}: numeric argument required"));
                return super::usage(shell, "history");
            }
        },
        _ => {
            shell.error("history: too many arguments");
            return super::usage(shell, "history");
        }
    };
    let Some(path) = history_path(shell) else {
        shell.error("history: HOME not set");
        return Ok(1);
    };
    let text = match std::fs::read(&path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            shell.error(format!("history: {}: {e}", path.display()));
            return Ok(1);
        }
    };
    let entries = entries(&text);
    let skip = count.map_or(0, |n| entries.len().saturating_sub(n));
    let mut out = String::new();
    for (i, entry) in entries.iter().enumerate().skip(skip) {
        out.push_str(&format!("{:5}  {entry}\n", i + 1));
    }
    if let Err(e) = shell.out(&out) {
        shell.error(format!("history: write error: {e}"));
        return Ok(1);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::entries;

    #[test]
    fn v2_entries_are_unescaped() {
        let text = "#V2\nls\n\necho a\\nb\nx\\\\n\n";
        assert_eq!(entries(text), vec!["ls", "echo a\nb", "x\\n"]);
    }

    #[test]
    fn old_files_are_plain_lines() {
        assert_eq!(entries("ls\npwd\n"), vec!["ls", "pwd"]);
    }
}
