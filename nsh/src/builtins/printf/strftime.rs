//! `printf %(FORMAT)T`: a time formatted by the C library's `strftime`
//! in the zone an exported `TZ` names, into a buffer of 128 bytes as
//! bash's (a longer result gives nothing).

use std::ffi::CString;

use super::zone::{Zone, civil_from_days, days_from_civil};

/// bash's buffer for the formatted time.
const TIME_MAX: usize = 128;

/// Formats `t` (seconds since the epoch) with a strftime format in
/// `zone`. A time whose year does not fit the C library's `struct tm` is
/// formatted as the epoch, as bash does when `localtime` fails.
pub fn format(fmt: &str, t: i64, zone: &Zone) -> Vec<u8> {
    let mut t = t;
    let mut local = zone.at(t);
    let mut broken = broken_down(t.saturating_add(local.offset));
    if broken.is_none() {
        t = 0;
        local = zone.at(0);
        broken = broken_down(local.offset);
    }
    let Some((year, month, day, yday, wday, secs)) = broken else {
        return Vec::new();
    };
    let (Ok(format), Ok(abbreviation)) = (
        CString::new(epoch_seconds(fmt, t)),
        CString::new(local.abbreviation),
    ) else {
        return Vec::new();
    };
    // SAFETY: an all-zero `tm` is a valid value (null tm_zone included).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = (year - 1900) as libc::c_int;
    tm.tm_mon = (month - 1) as libc::c_int;
    tm.tm_mday = day as libc::c_int;
    tm.tm_yday = yday as libc::c_int;
    tm.tm_wday = wday as libc::c_int;
    tm.tm_hour = (secs / 3600) as libc::c_int;
    tm.tm_min = (secs / 60 % 60) as libc::c_int;
    tm.tm_sec = (secs % 60) as libc::c_int;
    tm.tm_isdst = libc::c_int::from(local.dst);
    tm.tm_gmtoff = local.offset as libc::c_long;
    tm.tm_zone = abbreviation.as_ptr();
    let mut buf = [0u8; TIME_MAX];
    // SAFETY: the buffer holds TIME_MAX bytes; format and the zone name
    // are NUL-terminated and outlive the call.
    let n = unsafe { libc::strftime(buf.as_mut_ptr().cast(), TIME_MAX, format.as_ptr(), &tm) };
    buf[..n.min(TIME_MAX)].to_vec()
}

/// (year, month, day, day of year, weekday, seconds of the day) of a
/// local time in seconds; `None` when the year does not fit an `int`.
fn broken_down(local: i64) -> Option<(i64, i64, i64, i64, i64, i64)> {
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    i32::try_from(year - 1900).ok()?;
    let yday = days - days_from_civil(year, 1, 1);
    let wday = (days + 4).rem_euclid(7);
    Some((year, month, day, yday, wday, secs))
}

/// Puts the number of seconds in place of `%s`, which glibc would
/// compute with the process's own zone rather than the one formatted.
fn epoch_seconds(fmt: &str, t: i64) -> String {
    let mut out = String::with_capacity(fmt.len());
    let mut rest = fmt;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let spec = &rest[at + 1..];
        let flags = spec
            .find(|c: char| !"_-0^#".contains(c))
            .unwrap_or(spec.len());
        let width_end = spec[flags..]
            .find(|c: char| !c.is_ascii_digit())
            .map_or(spec.len(), |n| flags + n);
        if spec[width_end..].starts_with('s') {
            let width: usize = spec[flags..width_end].parse().unwrap_or(0);
            let number = t.to_string();
            let pad = width.saturating_sub(number.len()).min(TIME_MAX);
            let flags = &spec[..flags];
            if flags.contains('-') {
                out.push_str(&number);
            } else if flags.contains('_') {
                out.push_str(&" ".repeat(pad));
                out.push_str(&number);
            } else {
                out.push_str(&"0".repeat(pad));
                out.push_str(&number);
            }
            rest = &spec[width_end + 1..];
        } else {
            // Any other conversion (`%%` included) stays for strftime.
            let len = spec[width_end..].chars().next().map_or(0, char::len_utf8);
            out.push('%');
            out.push_str(&spec[..width_end + len]);
            rest = &spec[width_end + len..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_in_the_zone() {
        let tokyo = Zone::named(Some("JST-9"));
        assert_eq!(
            format("%Y-%m-%d %H:%M:%S %Z %z %a %j", 1_557_978_599, &tokyo),
            b"2019-05-16 12:49:59 JST +0900 Thu 136"
        );
        let utc = Zone::named(Some("UTC0"));
        assert_eq!(format("%s|%%s|%5s", 42, &utc), b"42|%s|00042");
        assert_eq!(format("%c", 0, &utc), b"Thu Jan  1 00:00:00 1970");
        assert_eq!(format("%F", -86_400, &utc), b"1969-12-31");
    }

    #[test]
    fn long_results_give_nothing() {
        let utc = Zone::named(Some("UTC0"));
        assert_eq!(format(&"%Y".repeat(31), 0, &utc).len(), 124);
        assert!(format(&"%Y".repeat(32), 0, &utc).is_empty());
    }
}
