//! Quoting helpers: decoding `$'..'` (ANSI-C) escapes, quoting a value for
//! `${x@Q}`, and undoing the backslashes of a backquoted command
//! substitution.

/// Reads up to `max` digits of base `radix` from `chars`: their value and
/// how many there were (0: none, nothing consumed).
pub(crate) fn read_digits(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    radix: u32,
    max: usize,
) -> (u32, usize) {
    let mut value = 0u32;
    let mut digits = 0;
    while digits < max {
        match chars.peek().and_then(|d| d.to_digit(radix)) {
            Some(d) => {
                value = value.wrapping_mul(radix).wrapping_add(d);
                chars.next();
                digits += 1;
            }
            None => break,
        }
    }
    (value, digits)
}

/// Decodes the escapes of ANSI-C quoted text (`$'..'`, `${x@E}`): `\n`,
/// `\t`, `\\`, `\'`, `\nnn` (octal), `\xHH`, `\uHHHH`, `\UHHHHHHHH`, `\cX`
/// and the rest of C's. A NUL ends the string, as in bash. A byte value
/// from `\nnn` or `\xHH` above 127 becomes the Unicode character of that
/// number (bash would emit the raw byte).
pub fn ansi_c(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            out.push('\\');
            break;
        };
        let decoded = match e {
            'a' => Some('\x07'),
            'b' => Some('\x08'),
            'e' | 'E' => Some('\x1b'),
            'f' => Some('\x0c'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\x0b'),
            '\\' | '\'' | '"' | '?' => Some(e),
            '0'..='7' => {
                let (rest, digits) = read_digits(&mut chars, 8, 2);
                let value = e.to_digit(8).unwrap_or(0) * 8u32.pow(digits as u32) + rest;
                Some(char::from((value & 0xff) as u8))
            }
            'x' | 'u' | 'U' => {
                let max = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let (value, digits) = read_digits(&mut chars, 16, max);
                if digits == 0 {
                    out.push('\\');
                    out.push(e);
                    continue;
                }
                if e == 'x' {
                    Some(char::from(value as u8))
                } else {
                    Some(char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER))
                }
            }
            'c' => match chars.next() {
                Some('?') => Some('\x7f'),
                Some(x) => Some(char::from((x as u32 & 0x1f) as u8)),
                None => {
                    out.push_str("\\c");
                    break;
                }
            },
            other => {
                out.push('\\');
                out.push(other);
                continue;
            }
        };
        match decoded {
            Some('\0') => break,
            Some(d) => out.push(d),
            None => {}
        }
    }
    out
}

/// Quotes `s` so the shell reads it back as the same word (`${x@Q}`):
/// single quotes, or `$'..'` when it holds control characters.
pub fn shell_quote(s: &str) -> String {
    if s.chars().any(char::is_control) {
        let mut out = String::from("$'");
        for c in s.chars() {
            match c {
                '\x07' => out.push_str("\\a"),
                '\x08' => out.push_str("\\b"),
                '\x1b' => out.push_str("\\E"),
                '\x0c' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\x0b' => out.push_str("\\v"),
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                c if c.is_control() => out.push_str(&format!("\\{:03o}", c as u32 & 0xff)),
                c => out.push(c),
            }
        }
        out.push('\'');
        return out;
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `$'..'` quoting of `s` byte by byte, as bash writes it in the C
/// locale (`printf %q`, `declare -p`): C escapes for the usual control
/// characters, octal for other bytes outside printable ASCII.
pub fn ansi_c_quote(s: &str) -> String {
    let mut out = String::from("$'");
    for byte in s.bytes() {
        match byte {
            b'\x07' => out.push_str("\\a"),
            b'\x08' => out.push_str("\\b"),
            b'\x1b' => out.push_str("\\E"),
            b'\x0c' => out.push_str("\\f"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b'\x0b' => out.push_str("\\v"),
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            b if !(0x20..0x7f).contains(&b) => out.push_str(&format!("\\{b:03o}")),
            b => out.push(char::from(b)),
        }
    }
    out.push('\'');
    out
}

/// Whether [`ansi_c_quote`] is how bash quotes `s` (it holds a byte that
/// is not printable ASCII).
pub fn needs_ansi_c(s: &str) -> bool {
    s.bytes().any(|b| !(0x20..0x7f).contains(&b))
}

/// The script of a backquoted command substitution: a backslash before
/// `$`, `` ` `` or `\` (and `"` inside double quotes) is dropped.
/// brush-parser already turned `` \` `` into `` ` ``.
pub fn unescape_backquoted(s: &str, in_double_quotes: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&next) = chars.peek()
            && (matches!(next, '$' | '`' | '\\') || (in_double_quotes && next == '"'))
        {
            out.push(next);
            chars.next();
            continue;
        }
        out.push(c);
    }
    out
}
