//! `echo`, as bash prints it, and the quoting of `printf %q` and `set`.

use crate::expand::quote::read_digits;
use crate::shell::{Shell, Status};

pub fn echo(shell: &mut Shell, args: Vec<String>) -> Status {
    let mut newline = true;
    let mut escapes = false;
    let mut start = 0;
    for arg in &args {
        let Some(flags) = arg.strip_prefix('-') else {
            break;
        };
        if flags.is_empty() || !flags.chars().all(|c| matches!(c, 'n' | 'e' | 'E')) {
            break;
        }
        for c in flags.chars() {
            match c {
                'n' => newline = false,
                'e' => escapes = true,
                _ => escapes = false,
            }
        }
        start += 1;
    }
    let mut out = Vec::new();
    for (i, arg) in args[start..].iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        if escapes {
            let (bytes, stop) = backslash_escapes(arg);
            out.extend_from_slice(&bytes);
            if stop {
                return write(shell, &out);
            }
        } else {
            out.extend_from_slice(arg.as_bytes());
        }
    }
    if newline {
        out.push(b'\n');
    }
    write(shell, &out)
}

fn write(shell: &Shell, bytes: &[u8]) -> Status {
    match shell.fds.write(1, bytes) {
        Ok(()) => Ok(0),
        Err(e) if e.raw_os_error() == Some(libc::EPIPE) => Ok(1),
        Err(e) => {
            shell.error(format!(
                "write error: {}",
                crate::exec::redirect_message(&e)
            ));
            Ok(1)
        }
    }
}

/// Interprets `\n`, `\t`, `\0NNN`, `\xHH`, `\uHHHH`, ... as `echo -e`
/// does. Returns the bytes (`\0NNN` and `\xHH` are single bytes) and
/// whether `\c` asked to stop all output.
pub fn backslash_escapes(s: &str) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    let push = |out: &mut Vec<u8>, c: char| {
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            push(&mut out, c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push(b'\n'),
            Some('t') => out.push(b'\t'),
            Some('r') => out.push(b'\r'),
            Some('a') => out.push(0x07),
            Some('b') => out.push(0x08),
            Some('f') => out.push(0x0c),
            Some('v') => out.push(0x0b),
            Some('e') | Some('E') => out.push(0x1b),
            Some('\\') => out.push(b'\\'),
            Some('c') => return (out, true),
            Some('0') => {
                let (value, _) = read_digits(&mut chars, 8, 3);
                out.push((value & 0xff) as u8);
            }
            Some('x') => {
                let (value, digits) = read_digits(&mut chars, 16, 2);
                if digits == 0 {
                    out.extend_from_slice(b"\\x");
                } else {
                    out.push(value as u8);
                }
            }
            Some(u @ ('u' | 'U')) => {
                // \uHHHH and \UHHHHHHHH: a Unicode character (UTF-8), from
                // up to 4 or 8 hex digits, as bash.
                let (value, digits) = read_digits(&mut chars, 16, if u == 'u' { 4 } else { 8 });
                if digits == 0 {
                    out.push(b'\\');
                    push(&mut out, u);
                } else {
                    push(&mut out, char::from_u32(value).unwrap_or('\u{fffd}'));
                }
            }
            Some(other) => {
                out.push(b'\\');
                push(&mut out, other);
            }
            None => out.push(b'\\'),
        }
    }
    (out, false)
}

/// `%q`: quoted so the shell reads it back as the same word, as bash
/// quotes it (backslashes, or `$'..'` for control and non-ASCII bytes).
pub fn printf_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".to_string();
    }
    if crate::expand::needs_ansi_c(s) {
        return crate::expand::ansi_c_quote(s);
    }
    let mut out = String::with_capacity(s.len() + 4);
    let mut previous = None;
    for c in s.chars() {
        let special = match c {
            ' ' | '!' | '"' | '$' | '&' | '\'' | '(' | ')' | '*' | ',' | ';' | '<' | '>' | '?'
            | '[' | '\\' | ']' | '^' | '`' | '{' | '|' | '}' => true,
            '#' => previous.is_none(),
            '~' => matches!(previous, None | Some('=' | ':')),
            _ => false,
        };
        if special {
            out.push('\\');
        }
        out.push(c);
        previous = Some(c);
    }
    out
}

/// A word quoted with backslashes (for `set`'s listing).
/// A value as `set` and `declare` (without options) list it, as bash's
/// `set` does: bare when safe, in single quotes when it holds a shell
/// metacharacter, `$'..'` when it holds a control character.
pub fn set_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".to_string();
    }
    if s.chars().any(char::is_control) {
        return crate::expand::quote::shell_quote(s);
    }
    let special = |c: char| " \t\n'\"\\|&;()<>!{}*[?]^$`".contains(c);
    if s.chars().any(special) || s.starts_with(['~', '#']) {
        return format!("'{}'", s.replace('\'', r"'\''"));
    }
    s.to_string()
}

pub fn shell_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".to_string();
    }
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c))
    {
        return s.to_string();
    }
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c) {
            out.push(c);
        } else {
            out.push('\\');
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::printf_quote;

    #[test]
    fn percent_q_quotes_as_bash() {
        assert_eq!(printf_quote(""), "''");
        assert_eq!(printf_quote("a b'c"), "a\\ b\\'c");
        assert_eq!(printf_quote("~x=~y#z"), "\\~x=\\~y#z");
        assert_eq!(printf_quote("#a,b"), "\\#a\\,b");
        assert_eq!(printf_quote("t\té"), "$'t\\t\\303\\251'");
    }
}
