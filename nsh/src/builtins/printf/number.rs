//! printf's numeric arguments, read as bash reads them (C's `strtoimax`,
//! `strtoumax` and `strtod`: leading blanks, a sign, `0x` hex and `0`
//! octal, the longest valid prefix, saturation on overflow; `'c` gives the
//! character's code), and numbers formatted by the C library's
//! `snprintf`, so flags, widths and precisions behave exactly as in bash.

use std::ffi::CString;

/// How an argument read as a number went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// The whole argument is a number.
    Ok,
    /// Text follows the number (bash: `invalid number`, status 1, the
    /// value read so far is used).
    Trailing,
    /// The number does not fit (bash warns; the status stays 0).
    Range,
}

/// C's `isspace` in the C locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// The magnitude and sign of an integer as `strtoimax(s, &end, 0)` reads
/// it: (negative, magnitude saturated at `u128` beyond 2^64, bytes used).
/// No digits at all uses no bytes.
fn c_integer(s: &[u8]) -> (bool, u128, usize) {
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    let negative = s.get(i) == Some(&b'-');
    if matches!(s.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    let hex_prefix = s.get(i) == Some(&b'0')
        && matches!(s.get(i + 1), Some(b'x' | b'X'))
        && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
    let base: u32 = if hex_prefix {
        i += 2;
        16
    } else if s.get(i) == Some(&b'0') {
        8
    } else {
        10
    };
    let start = i;
    let mut value: u128 = 0;
    while let Some(d) = s.get(i).and_then(|&b| (b as char).to_digit(base)) {
        value = (value * base as u128 + d as u128).min(u64::MAX as u128 + 1);
        i += 1;
    }
    if i == start {
        return (false, 0, 0);
    }
    (negative, value, i)
}

/// The code of the character after a leading quote (`'a` is 97), as
/// bash's printf reads `'c` and `"c`; 0 when nothing follows.
fn char_code(arg: &str) -> Option<u64> {
    let rest = arg.strip_prefix(['\'', '"'])?;
    Some(rest.chars().next().map_or(0, |c| c as u64))
}

fn status(used: usize, len: usize, range: bool) -> Parsed {
    if used < len {
        Parsed::Trailing
    } else if range {
        Parsed::Range
    } else {
        Parsed::Ok
    }
}

/// A signed integer argument (`%d`, `%i`, widths from `*`).
pub fn signed(arg: &str) -> (i64, Parsed) {
    if let Some(code) = char_code(arg) {
        return (code as i64, Parsed::Ok);
    }
    let (negative, magnitude, used) = c_integer(arg.as_bytes());
    let (value, range) = if negative {
        if magnitude > 1u128 << 63 {
            (i64::MIN, true)
        } else {
            ((magnitude as i128).wrapping_neg() as i64, false)
        }
    } else if magnitude > i64::MAX as u128 {
        (i64::MAX, true)
    } else {
        (magnitude as i64, false)
    };
    (value, status(used, arg.len(), range))
}

/// An unsigned integer argument (`%u`, `%o`, `%x`, `%X`): a negative one
/// wraps around, as `strtoumax` does.
pub fn unsigned(arg: &str) -> (u64, Parsed) {
    if let Some(code) = char_code(arg) {
        return (code, Parsed::Ok);
    }
    let (negative, magnitude, used) = c_integer(arg.as_bytes());
    let (value, range) = if magnitude > u64::MAX as u128 {
        (u64::MAX, true)
    } else if negative {
        ((magnitude as u64).wrapping_neg(), false)
    } else {
        (magnitude as u64, false)
    };
    (value, status(used, arg.len(), range))
}

/// The length of the longest prefix of `s` that `strtod` reads (0 when
/// it reads none), with the text to give Rust's parser for it.
fn c_float_prefix(s: &str) -> (usize, String) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && is_space(b[i]) {
        i += 1;
    }
    let sign_at = i;
    if matches!(b.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    let sign = &s[sign_at..i];
    let rest = &s[i..];
    let lower = rest.to_ascii_lowercase();
    for word in ["infinity", "inf"] {
        if lower.starts_with(word) {
            return (i + word.len(), format!("{sign}inf"));
        }
    }
    if lower.starts_with("nan") {
        let mut end = i + 3;
        // nan(chars)
        if b.get(end) == Some(&b'(') {
            let close = b[end + 1..]
                .iter()
                .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_'));
            if let Some(n) = close
                && b.get(end + 1 + n) == Some(&b')')
            {
                end += n + 2;
            }
        }
        return (end, format!("{sign}nan"));
    }
    let hex = lower.starts_with("0x")
        && (b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
            || (b.get(i + 2) == Some(&b'.') && b.get(i + 3).is_some_and(u8::is_ascii_hexdigit)));
    if hex {
        return hex_float(b, i + 2, sign == "-");
    }
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let int = digits(i);
    let mut end = i + int;
    let mut frac = 0;
    if b.get(end) == Some(&b'.') {
        frac = digits(end + 1);
        if int + frac > 0 {
            end += 1 + frac;
        }
    }
    if int + frac == 0 {
        return (0, String::new());
    }
    if matches!(b.get(end), Some(b'e' | b'E')) {
        let mut j = end + 1;
        if matches!(b.get(j), Some(b'-' | b'+')) {
            j += 1;
        }
        let exp = digits(j);
        if exp > 0 {
            end = j + exp;
        }
    }
    (end, format!("{sign}{}", &s[i..end]))
}

/// A C99 hex float (`0x1.8p3`) from the first digit at `at`.
fn hex_float(b: &[u8], at: usize, negative: bool) -> (usize, String) {
    let mut i = at;
    let mut mantissa = 0f64;
    let mut exponent: i64 = 0;
    let mut seen_point = false;
    while let Some(&c) = b.get(i) {
        if c == b'.' && !seen_point {
            seen_point = true;
        } else if let Some(d) = (c as char).to_digit(16) {
            mantissa = mantissa * 16.0 + d as f64;
            if seen_point {
                exponent -= 4;
            }
        } else {
            break;
        }
        i += 1;
    }
    if matches!(b.get(i), Some(b'p' | b'P')) {
        let mut j = i + 1;
        let negative_exp = b.get(j) == Some(&b'-');
        if matches!(b.get(j), Some(b'-' | b'+')) {
            j += 1;
        }
        let start = j;
        let mut e: i64 = 0;
        while let Some(d) = b.get(j).filter(|c| c.is_ascii_digit()) {
            e = (e * 10 + (d - b'0') as i64).min(100_000);
            j += 1;
        }
        if j > start {
            exponent += if negative_exp { -e } else { e };
            i = j;
        }
    }
    let value = mantissa * 2f64.powi(exponent.clamp(-10_000, 10_000) as i32);
    let value = if negative { -value } else { value };
    (i, format!("{value:e}"))
}

/// A floating-point argument (`%f`, `%e`, `%g`, `%a`).
pub fn float(arg: &str) -> (f64, Parsed) {
    if let Some(code) = char_code(arg) {
        return (code as f64, Parsed::Ok);
    }
    let (used, text) = c_float_prefix(arg);
    let value: f64 = if used == 0 {
        0.0
    } else {
        text.parse().unwrap_or(0.0)
    };
    let overflow = value.is_infinite() && !text.contains("inf");
    (value, status(used, arg.len(), overflow))
}

/// What bash says of an argument that is not a number.
pub fn invalid_message(arg: &str) -> String {
    let b = arg.as_bytes();
    let what = match (b.first(), b.get(1)) {
        (Some(b'0'), Some(d)) if d.is_ascii_digit() => "invalid octal number",
        (Some(b'0'), Some(b'x')) => "invalid hex number",
        _ => "invalid number",
    };
    format!("{arg}: {what}")
}

/// A value handed to C's printf.
#[derive(Clone, Copy)]
pub enum CValue {
    Signed(i64),
    Unsigned(u64),
    Float(f64),
}

/// Formats one value with the C library: `spec` is a whole conversion
/// (`%-08.3f`), its length modifier matching the value (`j` for
/// integers, none for doubles).
pub fn c_format(spec: &str, value: CValue) -> Vec<u8> {
    let Ok(format) = CString::new(spec) else {
        return Vec::new();
    };
    let call = |buf: *mut libc::c_char, len: usize| -> libc::c_int {
        // SAFETY: `format` is a NUL-terminated conversion built by the
        // caller for exactly one argument of the type passed here; `buf`
        // is null with length 0 or points to `len` writable bytes.
        unsafe {
            match value {
                CValue::Signed(v) => libc::snprintf(buf, len, format.as_ptr(), v as libc::intmax_t),
                CValue::Unsigned(v) => {
                    libc::snprintf(buf, len, format.as_ptr(), v as libc::uintmax_t)
                }
                CValue::Float(v) => libc::snprintf(buf, len, format.as_ptr(), v),
            }
        }
    };
    let Ok(needed) = usize::try_from(call(std::ptr::null_mut(), 0)) else {
        return Vec::new();
    };
    let mut buf = vec![0u8; needed + 1];
    let written = call(buf.as_mut_ptr().cast(), buf.len());
    buf.truncate(usize::try_from(written).unwrap_or(0).min(needed));
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_read_as_strtoimax() {
        assert_eq!(signed("42"), (42, Parsed::Ok));
        assert_eq!(signed(" -42"), (-42, Parsed::Ok));
        assert_eq!(signed(" -42 "), (-42, Parsed::Trailing));
        assert_eq!(signed("3abc"), (3, Parsed::Trailing));
        assert_eq!(signed("64#a"), (64, Parsed::Trailing));
        assert_eq!(signed("+0xff"), (255, Parsed::Ok));
        assert_eq!(signed("0X1F"), (31, Parsed::Ok));
        assert_eq!(signed("0055"), (45, Parsed::Ok));
        assert_eq!(signed("08"), (0, Parsed::Trailing));
        assert_eq!(signed("0x"), (0, Parsed::Trailing));
        assert_eq!(signed(""), (0, Parsed::Ok));
        assert_eq!(signed("  "), (0, Parsed::Trailing));
        assert_eq!(signed("'a"), (97, Parsed::Ok));
        assert_eq!(signed("\"μ"), (0x3bc, Parsed::Ok));
        assert_eq!(signed("'"), (0, Parsed::Ok));
    }

    #[test]
    fn integers_saturate() {
        assert_eq!(signed("18446744073709551616"), (i64::MAX, Parsed::Range));
        assert_eq!(signed("-9223372036854775808"), (i64::MIN, Parsed::Ok));
        assert_eq!(signed("-9223372036854775809"), (i64::MIN, Parsed::Range));
        assert_eq!(unsigned("18446744073709551615"), (u64::MAX, Parsed::Ok));
        assert_eq!(unsigned("18446744073709551616"), (u64::MAX, Parsed::Range));
        assert_eq!(unsigned("-18446744073709551615"), (1, Parsed::Ok));
        assert_eq!(unsigned("-42"), ((-42i64) as u64, Parsed::Ok));
    }

    #[test]
    fn floats_read_as_strtod() {
        assert_eq!(float("2.25"), (2.25, Parsed::Ok));
        assert_eq!(float(" 1.5"), (1.5, Parsed::Ok));
        assert_eq!(float("1e"), (1.0, Parsed::Trailing));
        assert_eq!(float("1.5x"), (1.5, Parsed::Trailing));
        assert_eq!(float(".5e1"), (5.0, Parsed::Ok));
        assert_eq!(float("0x1p3"), (8.0, Parsed::Ok));
        assert_eq!(float("-inf").0, f64::NEG_INFINITY);
        assert!(float("nan").0.is_nan());
        assert_eq!(float("x"), (0.0, Parsed::Trailing));
        assert_eq!(float("1e999"), (f64::INFINITY, Parsed::Range));
    }

    #[test]
    fn c_formats() {
        assert_eq!(c_format("%05jd", CValue::Signed(-42)), b"-0042");
        assert_eq!(c_format("%#jx", CValue::Unsigned(42)), b"0x2a");
        assert_eq!(c_format("%#.0f", CValue::Float(3.0)), b"3.");
        assert_eq!(c_format("%#g", CValue::Float(3.0)), b"3.00000");
        assert_eq!(c_format("%e", CValue::Float(2.5)), b"2.500000e+00");
    }
}
