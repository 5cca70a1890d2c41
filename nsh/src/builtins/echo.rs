//! `echo` and `printf`, as bash prints them.

use crate::exec::assign::{Assign, AssignValue, split_subscript, valid_name};
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
    let mut out = String::new();
    for (i, arg) in args[start..].iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if escapes {
            let (text, stop) = backslash_escapes(arg, Octal::Echo);
            out.push_str(&text);
            if stop {
                return write(shell, &out);
            }
        } else {
            out.push_str(arg);
        }
    }
    if newline {
        out.push('\n');
    }
    write(shell, &out)
}

fn write(shell: &Shell, text: &str) -> Status {
    match shell.out(text) {
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

/// How a backslash escape spells an octal byte.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Octal {
    /// `echo -e`: only `\0NNN`.
    Echo,
    /// A printf format: `\NNN`.
    Format,
    /// A printf `%b` argument: `\0NNN` and `\NNN`, as bash.
    Argument,
}

/// Interprets `\n`, `\t`, octal bytes, `\xHH`, ... (echo -e, printf
/// formats and %b). Returns the text and whether `\c` asked to stop all
/// output.
pub fn backslash_escapes(s: &str, octal_style: Octal) -> (String, bool) {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('a') => out.push('\x07'),
            Some('b') => out.push('\x08'),
            Some('f') => out.push('\x0c'),
            Some('v') => out.push('\x0b'),
            Some('e') | Some('E') => out.push('\x1b'),
            Some('\\') => out.push('\\'),
            Some('c') => return (out, true),
            Some('0') if octal_style != Octal::Format => out.push(octal(&mut chars, 3)),
            Some(d @ '0'..='7') if octal_style != Octal::Echo => {
                let (rest, digits) = read_digits(&mut chars, 8, 2);
                let value = d.to_digit(8).unwrap_or(0) * 8u32.pow(digits as u32) + rest;
                out.push(char::from_u32(value & 0xff).unwrap_or('?'));
            }
            Some('x') => {
                let (value, digits) = read_digits(&mut chars, 16, 2);
                if digits == 0 {
                    out.push_str("\\x");
                } else {
                    out.push(char::from_u32(value).unwrap_or('?'));
                }
            }
            Some(u @ ('u' | 'U')) => {
                // \uHHHH and \UHHHHHHHH: a Unicode character (UTF-8), from
                // up to 4 or 8 hex digits, as bash.
                let (value, digits) = read_digits(&mut chars, 16, if u == 'u' { 4 } else { 8 });
                if digits == 0 {
                    out.push('\\');
                    out.push(u);
                } else {
                    out.push(char::from_u32(value).unwrap_or('\u{fffd}'));
                }
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    (out, false)
}

fn octal(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, max: usize) -> char {
    let (value, _) = read_digits(chars, 8, max);
    char::from_u32(value & 0xff).unwrap_or('?')
}

/// A numeric printf argument: decimal, 0x hex, 0 octal, or 'c (the
/// character's code).
fn numeric_arg(shell: &Shell, arg: &str, status: &mut i32) -> i64 {
    let trimmed = arg.trim();
    if let Some(rest) = trimmed
        .strip_prefix('\'')
        .or_else(|| trimmed.strip_prefix('"'))
    {
        return rest.chars().next().map_or(0, |c| c as i64);
    }
    let (negative, digits) = match trimmed.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
    };
    let parsed = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i64::from_str_radix(hex, 16)
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8)
    } else if digits.is_empty() {
        Ok(0)
    } else {
        digits.parse()
    };
    match parsed {
        Ok(v) => {
            if negative {
                -v
            } else {
                v
            }
        }
        Err(_) => {
            shell.error(format!("printf: {arg}: invalid number"));
            *status = 1;
            0
        }
    }
}

pub fn printf(shell: &mut Shell, args: Vec<String>) -> Status {
    let mut args = args;
    if args.first().is_some_and(|a| a == "--") {
        args.remove(0);
    }
    let mut target = None;
    if args.first().is_some_and(|a| a == "-v") {
        if args.len() < 2 {
            return super::usage(shell, "printf");
        }
        target = Some(args.remove(1));
        args.remove(0);
        if args.first().is_some_and(|a| a == "--") {
            args.remove(0);
        }
    }
    let Some(format) = args.first().cloned() else {
        return super::usage(shell, "printf");
    };
    let values = &args[1..];
    let mut out = String::new();
    let mut next = 0;
    let mut status = 0;
    loop {
        let consumed_before = next;
        if format_once(shell, &format, values, &mut next, &mut out, &mut status) {
            break;
        }
        if next >= values.len() || next == consumed_before {
            break;
        }
    }
    if let Some(target) = target {
        return Ok(match assign_to(shell, &target, out) {
            Ok(()) => status,
            Err(message) => {
                shell.error(format!("printf: {message}"));
                1
            }
        });
    }
    match shell.out(&out) {
        Ok(()) => Ok(status),
        Err(_) => Ok(1),
    }
}

/// `printf -v NAME` (or `NAME[SUB]`): stores the output.
fn assign_to(shell: &mut Shell, target: &str, value: String) -> Result<(), String> {
    let invalid = || format!("`{target}': not a valid identifier");
    let (name, index) = split_subscript(target).ok_or_else(invalid)?;
    if !valid_name(name) {
        return Err(invalid());
    }
    let assign = Assign {
        name: name.to_string(),
        index: index.map(str::to_string),
        append: false,
        value: AssignValue::Scalar(value),
    };
    shell
        .store(assign, crate::vars::Scope::Visible)
        .map_err(|e| e.message)
}

/// One pass over the format. Returns true when `\c` stopped output.
fn format_once(
    shell: &Shell,
    format: &str,
    values: &[String],
    next: &mut usize,
    out: &mut String,
    status: &mut i32,
) -> bool {
    let chars: Vec<char> = format.chars().collect();
    let mut i = 0;
    let take = |next: &mut usize| {
        let v = values.get(*next).cloned();
        *next += 1;
        v
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            let mut j = i + 1;
            let mut escape = String::from("\\");
            if j < chars.len() {
                escape.push(chars[j]);
                j += 1;
                if chars[i + 1].is_ascii_digit() || chars[i + 1] == 'x' {
                    while j < chars.len() && j < i + 5 && chars[j].is_ascii_hexdigit() {
                        escape.push(chars[j]);
                        j += 1;
                    }
                }
            }
            let (text, stop) = backslash_escapes(&escape, Octal::Format);
            // Re-feed what the escape did not use.
            let used = text.len();
            let _ = used;
            out.push_str(&text);
            if stop {
                return true;
            }
            i = j;
            continue;
        }
        if c != '%' {
            out.push(c);
            i += 1;
            continue;
        }
        if chars.get(i + 1) == Some(&'%') {
            out.push('%');
            i += 2;
            continue;
        }
        let mut j = i + 1;
        let mut flags = String::new();
        while j < chars.len() && "-+ #0".contains(chars[j]) {
            flags.push(chars[j]);
            j += 1;
        }
        let mut width = String::new();
        if chars.get(j) == Some(&'*') {
            width = numeric_arg(shell, &take(next).unwrap_or_default(), status).to_string();
            j += 1;
        } else {
            while j < chars.len() && chars[j].is_ascii_digit() {
                width.push(chars[j]);
                j += 1;
            }
        }
        let mut precision: Option<String> = None;
        if chars.get(j) == Some(&'.') {
            j += 1;
            let mut p = String::new();
            if chars.get(j) == Some(&'*') {
                p = numeric_arg(shell, &take(next).unwrap_or_default(), status).to_string();
                j += 1;
            } else {
                while j < chars.len() && chars[j].is_ascii_digit() {
                    p.push(chars[j]);
                    j += 1;
                }
            }
            precision = Some(p);
        }
        while j < chars.len() && "hlLjzt".contains(chars[j]) {
            j += 1;
        }
        let Some(&conversion) = chars.get(j) else {
            out.push_str(&chars[i..].iter().collect::<String>());
            break;
        };
        let width: usize = width.trim_start_matches('-').parse().unwrap_or(0);
        let left = flags.contains('-');
        let precision_n: Option<usize> = precision.as_ref().map(|p| p.parse().unwrap_or(0));
        let text = match conversion {
            's' | 'b' | 'q' => {
                let arg = take(next).unwrap_or_default();
                let mut text = match conversion {
                    'b' => {
                        let (t, stop) = backslash_escapes(&arg, Octal::Argument);
                        if stop {
                            out.push_str(&t);
                            return true;
                        }
                        t
                    }
                    'q' => printf_quote(&arg),
                    _ => arg,
                };
                if let Some(p) = precision_n {
                    text = text.chars().take(p).collect();
                }
                text
            }
            'c' => take(next)
                .and_then(|a| a.chars().next())
                .map(String::from)
                .unwrap_or_default(),
            'd' | 'i' => {
                let v = numeric_arg(shell, &take(next).unwrap_or_default(), status);
                let mut digits = v.unsigned_abs().to_string();
                if let Some(p) = precision_n {
                    while digits.len() < p {
                        digits.insert(0, '0');
                    }
                }
                let sign = if v < 0 {
                    "-"
                } else if flags.contains('+') {
                    "+"
                } else if flags.contains(' ') {
                    " "
                } else {
                    ""
                };
                zero_pad(sign, digits, width, &flags, precision_n.is_some())
            }
            'u' | 'x' | 'X' | 'o' => {
                let v = numeric_arg(shell, &take(next).unwrap_or_default(), status) as u64;
                let mut digits = match conversion {
                    'x' => format!("{v:x}"),
                    'X' => format!("{v:X}"),
                    'o' => format!("{v:o}"),
                    _ => v.to_string(),
                };
                if let Some(p) = precision_n {
                    while digits.len() < p {
                        digits.insert(0, '0');
                    }
                }
                let prefix = match (flags.contains('#'), conversion) {
                    (true, 'x') if v != 0 => "0x",
                    (true, 'X') if v != 0 => "0X",
                    (true, 'o') if !digits.starts_with('0') => "0",
                    _ => "",
                };
                zero_pad(prefix, digits, width, &flags, precision_n.is_some())
            }
            'f' | 'F' | 'e' | 'E' | 'g' | 'G' => {
                let arg = take(next).unwrap_or_default();
                let v: f64 = if arg.trim().is_empty() {
                    0.0
                } else {
                    arg.trim().parse().unwrap_or_else(|_| {
                        shell.error(format!("printf: {arg}: invalid number"));
                        *status = 1;
                        0.0
                    })
                };
                let p = precision_n.unwrap_or(6);
                let body = match conversion {
                    'f' | 'F' => format!("{:.*}", p, v.abs()),
                    'e' | 'E' => c_exponent(v.abs(), p, conversion == 'E'),
                    _ => c_general(v.abs(), p, conversion == 'G'),
                };
                let sign = if v.is_sign_negative() && v != 0.0 {
                    "-"
                } else if flags.contains('+') {
                    "+"
                } else {
                    ""
                };
                zero_pad(sign, body, width, &flags, false)
            }
            other => {
                shell.error(format!("printf: %{other}: invalid format character"));
                *status = 1;
                return true;
            }
        };
        let len = text.chars().count();
        if len < width {
            let pad = " ".repeat(width - len);
            if left {
                out.push_str(&text);
                out.push_str(&pad);
            } else {
                out.push_str(&pad);
                out.push_str(&text);
            }
        } else {
            out.push_str(&text);
        }
        i = j + 1;
    }
    false
}

/// Pads numbers with zeros after the sign for the `0` flag.
fn zero_pad(sign: &str, digits: String, width: usize, flags: &str, has_precision: bool) -> String {
    if flags.contains('0') && !flags.contains('-') && !has_precision {
        let len = sign.len() + digits.len();
        if len < width {
            return format!("{sign}{}{digits}", "0".repeat(width - len));
        }
    }
    format!("{sign}{digits}")
}

/// `%e`: C's exponent form (`1.500000e+00`).
fn c_exponent(v: f64, precision: usize, upper: bool) -> String {
    let text = format!("{v:.precision$e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let sign = if exponent < 0 { '-' } else { '+' };
    let e = if upper { 'E' } else { 'e' };
    format!("{mantissa}{e}{sign}{:02}", exponent.abs())
}

/// `%g`: the shorter of `%e` and `%f`, trailing zeros removed.
fn c_general(v: f64, precision: usize, upper: bool) -> String {
    let p = precision.max(1);
    if v == 0.0 {
        return "0".to_string();
    }
    let exponent = v.abs().log10().floor() as i32;
    if exponent < -4 || exponent >= p as i32 {
        let t = c_exponent(v, p - 1, upper);
        let (m, e) = t.split_at(t.find(['e', 'E']).unwrap_or(t.len()));
        let m = if m.contains('.') {
            m.trim_end_matches('0').trim_end_matches('.')
        } else {
            m
        };
        format!("{m}{e}")
    } else {
        let decimals = (p as i32 - 1 - exponent).max(0) as usize;
        let t = format!("{v:.decimals$}");
        if t.contains('.') {
            t.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            t
        }
    }
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
