//! `printf`, as bash 5.2 runs it. The output is bytes: `\xHH`, `\NNN` and
//! `%c` give single bytes, widths and precisions count bytes, `%c` with no
//! argument prints a NUL. Numeric conversions are formatted by the C
//! library (`number`), `%(FORMAT)T` by `strftime` in the zone an exported
//! `TZ` names (`strftime`, `zone`). An error stops the output where it
//! happened (what came before is printed or, with `-v`, stored), as in
//! bash; an argument that is not a number is reported, its leading number
//! used, and the status made 1.

mod number;
mod strftime;
mod zone;

use number::{CValue, Parsed};

use crate::exec::assign::{Assign, AssignValue, split_subscript, valid_name};
use crate::shell::{Shell, Status};

pub fn printf(shell: &mut Shell, args: Vec<String>) -> Status {
    let mut target: Option<String> = None;
    let mut rest = args.as_slice();
    // bash's option parser: `-v NAME` or `-vNAME`, `--` ends the options.
    while let Some(arg) = rest.first() {
        if arg == "--" {
            rest = &rest[1..];
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            break;
        }
        let Some(attached) = arg[1..].strip_prefix('v') else {
            let option = arg[1..].chars().next().unwrap_or('-');
            shell.error(format!("printf: -{option}: invalid option"));
            return super::usage(shell, "printf");
        };
        let name = if attached.is_empty() {
            let Some(name) = rest.get(1) else {
                shell.error("printf: -v: option requires an argument");
                return super::usage(shell, "printf");
            };
            rest = &rest[1..];
            name.clone()
        } else {
            attached.to_string()
        };
        if !valid_target(&name) {
            shell.error(format!("printf: `{name}': not a valid identifier"));
            return Ok(2);
        }
        target = Some(name);
        rest = &rest[1..];
    }
    let Some(format) = rest.first() else {
        return super::usage(shell, "printf");
    };
    let mut printer = Printer {
        shell,
        values: &rest[1..],
        next: 0,
        out: Vec::new(),
        pass_start: 0,
        conversion_error: false,
    };
    let mut status = 0;
    if !format.is_empty() {
        loop {
            printer.pass_start = printer.out.len();
            if let Err(stopped) = printer.pass(format) {
                status = stopped;
                break;
            }
            // The format is used again while arguments remain, unless it
            // takes none.
            if printer.next == 0 || printer.next >= printer.values.len() {
                if printer.conversion_error {
                    status = 1;
                }
                break;
            }
        }
    }
    let out = std::mem::take(&mut printer.out);
    let Some(target) = target else {
        return Ok(match shell.fds.write(1, &out) {
            Ok(()) => status,
            Err(e) => {
                if e.raw_os_error() != Some(libc::EPIPE) {
                    let why = crate::exec::redirect_message(&e);
                    shell.error(format!("printf: write error: {why}"));
                }
                1
            }
        });
    };
    // Like bash's C string, the value ends at a NUL.
    let end = out.iter().position(|&b| b == 0).unwrap_or(out.len());
    let (name, index) = split_subscript(&target).unwrap_or((&target, None));
    let assign = Assign {
        name: name.to_string(),
        index: index.map(str::to_string),
        append: false,
        value: AssignValue::Scalar(bytes_to_text(&out[..end])),
    };
    Ok(match shell.store(assign, crate::vars::Scope::Visible) {
        Ok(()) => status,
        Err(e) => {
            shell.error(e.message);
            1
        }
    })
}

/// `printf -v`'s target: a name, or `name[subscript]` with a non-empty
/// subscript.
fn valid_target(target: &str) -> bool {
    match split_subscript(target) {
        Some((name, None)) => valid_name(name),
        Some((name, Some(sub))) => valid_name(name) && !sub.is_empty(),
        None => false,
    }
}

/// Bytes as a shell string: UTF-8 as it is, other bytes as the character
/// of that number (as nsh's `$'\xHH'`).
fn bytes_to_text(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        text.extend(chunk.invalid().iter().map(|&b| char::from(b)));
    }
    text
}

/// A width or precision: written in the format, or taken from an
/// argument by `*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Amount {
    None,
    Written(usize),
    Star(i64),
}

/// One conversion's flags, width and precision.
struct Spec<'f> {
    flags: &'f str,
    width: Amount,
    precision: Amount,
}

impl Spec<'_> {
    /// The conversion for C's printf, `*` values written in.
    fn c_spec(&self, modifier: &str, conversion: char) -> String {
        let mut spec = format!("%{}", self.flags);
        match self.width {
            Amount::Written(w) => spec.push_str(&w.to_string()),
            Amount::Star(w) if w < 0 => spec.push_str(&format!("-{}", w.unsigned_abs())),
            Amount::Star(w) => spec.push_str(&w.to_string()),
            Amount::None => {}
        }
        match self.precision {
            Amount::Written(p) => spec.push_str(&format!(".{p}")),
            Amount::Star(p) if p >= 0 => spec.push_str(&format!(".{p}")),
            _ => {}
        }
        spec.push_str(modifier);
        spec.push(conversion);
        spec
    }

    /// Pads and cuts a string as bash's `printstr` does for `%s`, `%b`,
    /// `%q` and `%(..)T`: widths and precisions in bytes, spaces only.
    fn pad(&self, text: &[u8]) -> Vec<u8> {
        let mut left = self.flags.contains('-');
        let width = match self.width {
            Amount::Written(w) => w,
            Amount::Star(w) => {
                left |= w < 0;
                w.unsigned_abs() as usize
            }
            Amount::None => 0,
        };
        let len = match self.precision {
            Amount::Written(p) => p.min(text.len()),
            Amount::Star(p) if p >= 0 => (p as usize).min(text.len()),
            _ => text.len(),
        };
        let pad = width.saturating_sub(len);
        let mut out = Vec::with_capacity(len + pad);
        if !left {
            out.resize(pad, b' ');
        }
        out.extend_from_slice(&text[..len]);
        if left {
            out.resize(len + pad, b' ');
        }
        out
    }
}

struct Printer<'s> {
    shell: &'s mut Shell,
    values: &'s [String],
    next: usize,
    out: Vec<u8>,
    /// Where this pass over the format started (`%n` counts from it).
    pass_start: usize,
    /// An argument was not a number: the status will be 1.
    conversion_error: bool,
}

impl Printer<'_> {
    /// The next argument ("" when they ran out).
    fn arg(&mut self) -> &str {
        let value = self.values.get(self.next).map_or("", String::as_str);
        self.next += 1;
        value
    }

    fn has_arg(&self) -> bool {
        self.next < self.values.len()
    }

    /// Reports how reading a number went.
    fn check(&mut self, arg: &str, parsed: Parsed) {
        match parsed {
            Parsed::Ok => {}
            Parsed::Trailing => {
                self.shell
                    .error(format!("printf: {}", number::invalid_message(arg)));
                self.conversion_error = true;
            }
            Parsed::Range => self.shell.error(format!(
                "printf: warning: {arg}: Numerical result out of range"
            )),
        }
    }

    fn signed_arg(&mut self) -> i64 {
        if !self.has_arg() {
            self.next += 1;
            return 0;
        }
        let arg = self.arg().to_string();
        let (value, parsed) = number::signed(&arg);
        self.check(&arg, parsed);
        value
    }

    /// A `*` width or precision: an int, clamped.
    fn int_arg(&mut self) -> i64 {
        let value = self.signed_arg();
        let clamped = value.clamp(i32::MIN as i64, i32::MAX as i64);
        if clamped != value {
            let arg = self.values.get(self.next - 1).cloned().unwrap_or_default();
            self.check(&arg, Parsed::Range);
        }
        clamped
    }

    /// One pass over the format; `Err(status)` when output stops.
    fn pass(&mut self, format: &str) -> Result<(), i32> {
        let f = format.as_bytes();
        let mut i = 0;
        while i < f.len() {
            match f[i] {
                b'\\' => {
                    let (bytes, used, _) = escape(self.shell, &f[i + 1..], false);
                    self.out.extend_from_slice(&bytes);
                    i += 1 + used;
                }
                b'%' if f.get(i + 1) == Some(&b'%') => {
                    self.out.push(b'%');
                    i += 2;
                }
                b'%' => i = self.conversion(format, i)?,
                byte => {
                    self.out.push(byte);
                    i += 1;
                }
            }
        }
        Ok(())
    }

    /// The conversion at `start` (a `%`): returns where the format goes
    /// on, or `Err` with the status when output stops.
    fn conversion(&mut self, format: &str, start: usize) -> Result<usize, i32> {
        let f = format.as_bytes();
        let mut i = start + 1;
        while i < f.len() && b"#'-+ 0".contains(&f[i]) {
            i += 1;
        }
        let flags = &format[start + 1..i];
        let mut width = Amount::None;
        if f.get(i) == Some(&b'*') {
            i += 1;
            width = Amount::Star(self.int_arg());
        } else {
            let digits = f[i..].iter().take_while(|b| b.is_ascii_digit()).count();
            if digits > 0 {
                width = Amount::Written(format[i..i + digits].parse().unwrap_or(i32::MAX as usize));
            }
            i += digits;
        }
        let mut precision = Amount::None;
        if f.get(i) == Some(&b'.') {
            i += 1;
            if f.get(i) == Some(&b'*') {
                i += 1;
                precision = Amount::Star(self.int_arg());
            } else {
                // A negative precision counts as none.
                let negative = f.get(i) == Some(&b'-');
                i += usize::from(negative);
                let digits = f[i..].iter().take_while(|b| b.is_ascii_digit()).count();
                let p = format[i..i + digits].parse().unwrap_or(0usize);
                if !negative {
                    precision = Amount::Written(p.min(i32::MAX as usize));
                }
                i += digits;
            }
        }
        while i < f.len() && b"hjlLtz".contains(&f[i]) {
            i += 1;
        }
        let Some(conversion) = format[i..].chars().next() else {
            let spec = &format[start..];
            self.shell
                .error(format!("printf: `{spec}': missing format character"));
            return Err(1);
        };
        let spec = Spec {
            flags,
            width,
            precision,
        };
        let next = i + conversion.len_utf8();
        match conversion {
            'c' => {
                let byte = self.arg().bytes().next().unwrap_or(0);
                let unpadded = Spec {
                    precision: Amount::None,
                    ..spec
                };
                let text = unpadded.pad(&[byte]);
                self.out.extend_from_slice(&text);
            }
            's' => {
                let text = spec.pad(self.arg().as_bytes());
                self.out.extend_from_slice(&text);
            }
            'b' => {
                let arg = self.arg().to_string();
                let (text, stop) = expand_argument(self.shell, arg.as_bytes());
                self.out.extend_from_slice(&spec.pad(&text));
                if stop {
                    return Err(0);
                }
            }
            'q' | 'Q' => {
                let arg = self.arg().to_string();
                let text = self.quoted(&spec, conversion, &arg);
                self.out.extend_from_slice(&text);
            }
            '(' => return self.time(format, start, i, &spec),
            'n' => {
                let name = self.arg().to_string();
                if !name.is_empty() {
                    if !valid_name(&name) {
                        self.shell
                            .error(format!("printf: `{name}': not a valid identifier"));
                        return Err(1);
                    }
                    let written = (self.out.len() - self.pass_start).to_string();
                    if let Err(e) = self.shell.vars.set(&name, written) {
                        self.shell.error(format!("printf: {e}"));
                    }
                }
            }
            'd' | 'i' => {
                let value = self.signed_arg();
                let text = number::c_format(&spec.c_spec("j", 'd'), CValue::Signed(value));
                self.out.extend_from_slice(&text);
            }
            'o' | 'u' | 'x' | 'X' => {
                let value = if self.has_arg() {
                    let arg = self.arg().to_string();
                    let (value, parsed) = number::unsigned(&arg);
                    self.check(&arg, parsed);
                    value
                } else {
                    self.next += 1;
                    0
                };
                let text = number::c_format(&spec.c_spec("j", conversion), CValue::Unsigned(value));
                self.out.extend_from_slice(&text);
            }
            'e' | 'E' | 'f' | 'F' | 'g' | 'G' | 'a' | 'A' => {
                let value = if self.has_arg() {
                    let arg = self.arg().to_string();
                    let (value, parsed) = number::float(&arg);
                    self.check(&arg, parsed);
                    value
                } else {
                    self.next += 1;
                    0.0
                };
                let text = number::c_format(&spec.c_spec("", conversion), CValue::Float(value));
                self.out.extend_from_slice(&text);
            }
            other => {
                self.shell
                    .error(format!("printf: `{other}': invalid format character"));
                return Err(1);
            }
        }
        Ok(next)
    }

    /// `%q` (quoted, then padded and cut) and `%Q` (cut to the precision,
    /// then quoted in full).
    fn quoted(&self, spec: &Spec<'_>, conversion: char, arg: &str) -> Vec<u8> {
        if conversion == 'q' {
            return spec.pad(super::echo::printf_quote(arg).as_bytes());
        }
        let cut = match spec.precision {
            Amount::Written(p) if p < arg.len() => {
                String::from_utf8_lossy(&arg.as_bytes()[..p]).into_owned()
            }
            _ => arg.to_string(),
        };
        let whole = Spec {
            flags: spec.flags,
            width: spec.width,
            precision: Amount::None,
        };
        whole.pad(super::echo::printf_quote(&cut).as_bytes())
    }

    /// `%(FORMAT)T` at `start`, its `(` at `open`: the argument is
    /// seconds since the epoch, -1 (or none) now, -2 when the shell
    /// started. A `(` without its `)T` prints the `%` and goes on after
    /// it, as bash does.
    fn time(
        &mut self,
        format: &str,
        start: usize,
        open: usize,
        spec: &Spec<'_>,
    ) -> Result<usize, i32> {
        let f = format.as_bytes();
        let mut depth = 1;
        let mut close = None;
        for (j, &b) in f.iter().enumerate().skip(open + 1) {
            match b {
                b'(' => depth += 1,
                b')' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                close = Some(j);
                break;
            }
        }
        let Some(close) = close.filter(|&c| f.get(c + 1) == Some(&b'T')) else {
            let what = close
                .and_then(|c| format[c + 1..].chars().next())
                .unwrap_or(' ');
            self.shell.error(format!(
                "printf: warning: `{what}': invalid time format specification"
            ));
            self.out.push(b'%');
            return Ok(start + 1);
        };
        let mut time_format = &format[open + 1..close];
        if time_format.is_empty() {
            time_format = "%X";
        }
        let secs = if self.has_arg() {
            self.signed_arg()
        } else {
            -1
        };
        let secs = match secs {
            -1 => now(),
            -2 => crate::shell::start_time(),
            t => t,
        };
        let tz = self
            .shell
            .vars
            .lookup("TZ")
            .filter(|v| v.exported)
            .and_then(|v| v.value.as_ref()?.scalar());
        let zone = zone::Zone::named(tz);
        let text = strftime::format(time_format, secs, &zone);
        self.out.extend_from_slice(&spec.pad(&text));
        Ok(close + 2)
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `%b`: the argument's backslash escapes expanded. Returns the bytes and
/// whether `\c` stopped all output.
fn expand_argument(shell: &Shell, s: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'\\' || i + 1 == s.len() {
            out.push(s[i]);
            i += 1;
            continue;
        }
        let (bytes, used, stop) = escape(shell, &s[i + 1..], true);
        if stop {
            return (out, true);
        }
        out.extend_from_slice(&bytes);
        i += 1 + used;
    }
    (out, false)
}

/// One backslash escape, `s` starting after the backslash, as bash's
/// printf reads it in a format or (`argument`) in a `%b` argument.
/// Returns the bytes, how many bytes of `s` it used and, for `\c` in an
/// argument, true. What is no escape gives the backslash alone.
fn escape(shell: &Shell, s: &[u8], argument: bool) -> (Vec<u8>, usize, bool) {
    let byte = |b: u8| (vec![b], 1, false);
    let Some(&c) = s.first() else {
        return (vec![b'\\'], 0, false);
    };
    match c {
        b'a' => byte(0x07),
        b'b' => byte(0x08),
        b'e' | b'E' => byte(0x1b),
        b'f' => byte(0x0c),
        b'n' => byte(b'\n'),
        b'r' => byte(b'\r'),
        b't' => byte(b'\t'),
        b'v' => byte(0x0b),
        b'\\' => byte(b'\\'),
        b'\'' | b'"' | b'?' if !argument => byte(c),
        b'c' if argument => (Vec::new(), 1, true),
        b'0'..=b'7' => {
            // `\NNN`; in a %b argument also `\0NNN`.
            let mut value = (c - b'0') as u32;
            let extra = if argument && value == 0 { 3 } else { 2 };
            let digits = s[1..]
                .iter()
                .take(extra)
                .take_while(|b| (b'0'..=b'7').contains(b))
                .count();
            for &d in &s[1..1 + digits] {
                value = value * 8 + (d - b'0') as u32;
            }
            (vec![(value & 0xff) as u8], 1 + digits, false)
        }
        b'x' | b'u' | b'U' => {
            let max = match c {
                b'x' => 2,
                b'u' => 4,
                _ => 8,
            };
            let digits = s[1..]
                .iter()
                .take(max)
                .take_while(|b| b.is_ascii_hexdigit())
                .count();
            if digits == 0 {
                let what = if c == b'x' { "hex" } else { "unicode" };
                let name = if c == b'x' {
                    "x"
                } else if c == b'u' {
                    "u"
                } else {
                    "U"
                };
                shell.error(format!("printf: missing {what} digit for \\{name}"));
                return (vec![b'\\'], 0, false);
            }
            let hex = std::str::from_utf8(&s[1..1 + digits]).unwrap_or("0");
            let value = u32::from_str_radix(hex, 16).unwrap_or(0);
            let bytes = if c == b'x' {
                vec![value as u8]
            } else {
                utf8(value)
            };
            (bytes, 1 + digits, false)
        }
        _ => (vec![b'\\'], 0, false),
    }
}

/// A code point in UTF-8, as bash encodes `\u` and `\U` (values that
/// are no Unicode scalar get the same bit layout).
fn utf8(value: u32) -> Vec<u8> {
    if let Some(c) = char::from_u32(value) {
        return c.to_string().into_bytes();
    }
    let continuation = |shift: u32| 0x80 | ((value >> shift) & 0x3f) as u8;
    match value {
        0..0x1_0000 => vec![0xe0 | (value >> 12) as u8, continuation(6), continuation(0)],
        0x1_0000..0x20_0000 => vec![
            0xf0 | (value >> 18) as u8,
            continuation(12),
            continuation(6),
            continuation(0),
        ],
        0x20_0000..0x400_0000 => vec![
            0xf8 | (value >> 24) as u8,
            continuation(18),
            continuation(12),
            continuation(6),
            continuation(0),
        ],
        0x400_0000..0x8000_0000 => vec![
            0xfc | (value >> 30) as u8,
            continuation(24),
            continuation(18),
            continuation(12),
            continuation(6),
            continuation(0),
        ],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_and_cuts_bytes() {
        let spec = |flags, width, precision| Spec {
            flags,
            width,
            precision,
        };
        assert_eq!(
            spec("", Amount::Written(5), Amount::None).pad(b"ab"),
            b"   ab"
        );
        assert_eq!(
            spec("-", Amount::Written(5), Amount::Written(1)).pad(b"ab"),
            b"a    "
        );
        assert_eq!(spec("", Amount::Star(-4), Amount::None).pad(b"ab"), b"ab  ");
        assert_eq!(
            spec("0", Amount::Written(3), Amount::Star(-1)).pad(b"ab"),
            b" ab"
        );
        assert_eq!(
            spec("", Amount::Written(3), Amount::None).pad("μ".as_bytes()),
            " μ".as_bytes()
        );
    }

    #[test]
    fn c_specs() {
        let spec = Spec {
            flags: "-0",
            width: Amount::Star(-7),
            precision: Amount::Star(-1),
        };
        assert_eq!(spec.c_spec("j", 'd'), "%-0-7jd");
        let spec = Spec {
            flags: "#",
            width: Amount::Written(6),
            precision: Amount::Written(0),
        };
        assert_eq!(spec.c_spec("", 'f'), "%#6.0f");
    }

    #[test]
    fn text_of_bytes() {
        assert_eq!(bytes_to_text("aμ".as_bytes()), "aμ");
        assert_eq!(bytes_to_text(b"a\xffb"), "a\u{ff}b");
    }

    #[test]
    fn utf8_of_any_value() {
        assert_eq!(utf8(0x3bc), "μ".as_bytes());
        assert_eq!(utf8(0xd800), [0xed, 0xa0, 0x80]);
        assert_eq!(utf8(0x11_0000), [0xf4, 0x90, 0x80, 0x80]);
    }
}
