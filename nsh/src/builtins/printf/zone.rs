//! Local time in a named time zone, as glibc's `localtime` computes it,
//! for `printf %(..)T`: a TZif file of the system's zoneinfo (the version
//! 2+ 64-bit data, and its footer rule after the last transition), or a
//! POSIX TZ string (`JST-9`, `EST5EDT,M3.2.0,M11.1.0`, `<+03>-3`).
//!
//! The shell's threads share one process, so nsh cannot set `TZ` in the
//! environment and call `tzset` as bash does; the zone is read here
//! instead. Leap-second corrections (the `right/` zones) are ignored.

const ZONEINFO: &str = "/usr/share/zoneinfo";
const DEFAULT_ZONE: &str = "/etc/localtime";
const DAY: i64 = 86_400;

/// The local time type in effect at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    /// Seconds east of UTC.
    pub offset: i64,
    pub dst: bool,
    pub abbreviation: String,
}

/// A time zone: transitions from a TZif file, a POSIX rule, or both.
#[derive(Debug, Clone, Default)]
pub struct Zone {
    transitions: Vec<(i64, usize)>,
    types: Vec<Local>,
    rule: Option<Rule>,
}

impl Zone {
    /// The zone `TZ` names as glibc reads it: `None` (TZ not in the
    /// environment) is /etc/localtime, an empty value UTC; a leading `:`
    /// is dropped; a relative name is looked up in the zoneinfo folder;
    /// what names no file is read as a POSIX TZ string.
    pub fn named(tz: Option<&str>) -> Zone {
        let tz = match tz {
            None => DEFAULT_ZONE,
            Some("") => "Universal",
            Some(name) => name.strip_prefix(':').unwrap_or(name),
        };
        let path = if tz.starts_with('/') {
            tz.to_string()
        } else {
            format!("{ZONEINFO}/{tz}")
        };
        if !tz.is_empty()
            && let Some(zone) = std::fs::read(&path).ok().and_then(|d| parse_tzif(&d))
        {
            return zone;
        }
        if tz.is_empty() || tz == DEFAULT_ZONE {
            return Zone::from_rule(Rule::utc());
        }
        Zone::from_rule(Rule::parse(tz))
    }

    fn from_rule(rule: Rule) -> Zone {
        Zone {
            rule: Some(rule),
            ..Zone::default()
        }
    }

    /// The local time type at `t` (seconds since the epoch).
    pub fn at(&self, t: i64) -> Local {
        let Some(&(last, last_type)) = self.transitions.last() else {
            return match &self.rule {
                Some(rule) if self.types.is_empty() => rule.at(t),
                _ => self.before_first(),
            };
        };
        if t < self.transitions[0].0 {
            return self.before_first();
        }
        if t >= last {
            return match &self.rule {
                Some(rule) => rule.at(t),
                None => self.types[last_type].clone(),
            };
        }
        // The last transition at or before t.
        let after = self.transitions.partition_point(|&(at, _)| at <= t);
        self.types[self.transitions[after - 1].1].clone()
    }

    /// Before the first transition glibc uses the first standard-time
    /// type (or the first type when all are daylight saving).
    fn before_first(&self) -> Local {
        self.types
            .iter()
            .find(|t| !t.dst)
            .or(self.types.first())
            .cloned()
            .unwrap_or_else(|| Rule::utc().standard)
    }
}

/// Reads a TZif file (RFC 8536); `None` when it is not one.
fn parse_tzif(data: &[u8]) -> Option<Zone> {
    let header = |at: usize| -> Option<(u8, [usize; 6])> {
        let h = data.get(at..at + 44)?;
        if &h[..4] != b"TZif" {
            return None;
        }
        let mut counts = [0usize; 6];
        for (i, count) in counts.iter_mut().enumerate() {
            let b = &h[20 + 4 * i..24 + 4 * i];
            *count = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        }
        Some((h[4], counts))
    };
    let (version, counts) = header(0)?;
    let block = |counts: [usize; 6], time_size: usize| {
        let [isut, isstd, leap, time, types, chars] = counts;
        time * time_size + time + types * 6 + chars + leap * (time_size + 4) + isstd + isut
    };
    let (start, counts, time_size) = if version >= b'2' {
        let second = 44 + block(counts, 4);
        (second + 44, header(second)?.1, 8)
    } else {
        (44, counts, 4)
    };
    let [_, _, _, time_count, type_count, char_count] = counts;
    let mut at = start;
    let mut take = |n: usize| -> Option<&[u8]> {
        let slice = data.get(at..at + n)?;
        at += n;
        Some(slice)
    };
    let times = take(time_count * time_size)?;
    let indexes = take(time_count)?;
    let infos = take(type_count * 6)?;
    let chars = take(char_count)?;
    let mut types = Vec::with_capacity(type_count);
    for info in infos.chunks(6) {
        let offset = i32::from_be_bytes([info[0], info[1], info[2], info[3]]) as i64;
        let name = chars.get(info[5] as usize..).unwrap_or_default();
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        types.push(Local {
            offset,
            dst: info[4] != 0,
            abbreviation: String::from_utf8_lossy(&name[..end]).into_owned(),
        });
    }
    if types.is_empty() {
        return None;
    }
    let mut transitions = Vec::with_capacity(time_count);
    for (i, time) in times.chunks(time_size).enumerate() {
        let t = if time_size == 8 {
            i64::from_be_bytes(time.try_into().ok()?)
        } else {
            i32::from_be_bytes(time.try_into().ok()?) as i64
        };
        let index = indexes[i] as usize;
        if index >= types.len() {
            return None;
        }
        transitions.push((t, index));
    }
    let block_end = start + block(counts, time_size);
    // The footer of version 2+: a POSIX TZ string between newlines.
    let rule = (version >= b'2')
        .then(|| data.get(block_end..))
        .flatten()
        .and_then(|footer| footer.strip_prefix(b"\n"))
        .and_then(|footer| footer.split(|&b| b == b'\n').next())
        .filter(|footer| !footer.is_empty())
        .map(|footer| Rule::parse(&String::from_utf8_lossy(footer)));
    Some(Zone {
        transitions,
        types,
        rule,
    })
}

/// When a change to or from daylight saving time happens in a year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Date {
    /// `Jn`: day 1..365, February 29 never counted.
    Julian(i64),
    /// `n`: day 0..365, counting February 29.
    Day(i64),
    /// `Mm.w.d`: weekday d (0 Sunday) of week w (5 the last) of month m.
    Month(i64, i64, i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Change {
    date: Date,
    /// Local time of day of the change, in seconds.
    time: i64,
}

/// A POSIX TZ string: standard time, and daylight saving time with the
/// dates it starts and ends.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    standard: Local,
    daylight: Option<(Local, Change, Change)>,
}

impl Rule {
    fn utc() -> Rule {
        Rule {
            standard: Local {
                offset: 0,
                dst: false,
                abbreviation: "UTC".into(),
            },
            daylight: None,
        }
    }

    /// Parses a TZ string as glibc does: what does not parse leaves the
    /// rest at UTC (`Foo/Bar` is UTC named `Foo`), a missing daylight
    /// offset is an hour ahead of standard time, missing dates are the
    /// US rules (`M3.2.0,M11.1.0`).
    fn parse(text: &str) -> Rule {
        let mut s = text.as_bytes();
        let mut rule = Rule {
            standard: Local {
                offset: 0,
                dst: false,
                abbreviation: String::new(),
            },
            daylight: None,
        };
        let Some(name) = zone_name(&mut s) else {
            return rule;
        };
        rule.standard.abbreviation = name;
        let Some(offset) = zone_offset(&mut s) else {
            return rule;
        };
        rule.standard.offset = offset;
        if s.is_empty() {
            return rule;
        }
        let Some(name) = zone_name(&mut s) else {
            return rule;
        };
        let offset = zone_offset(&mut s).unwrap_or(offset + 3600);
        let daylight = Local {
            offset,
            dst: true,
            abbreviation: name,
        };
        let us_start = Change {
            date: Date::Month(3, 2, 0),
            time: 7200,
        };
        let us_end = Change {
            date: Date::Month(11, 1, 0),
            time: 7200,
        };
        let (start, end) = if s.is_empty() || s == b"," {
            (us_start, us_end)
        } else {
            match change(&mut s) {
                Some(start) => (start, change(&mut s).unwrap_or(us_end)),
                None => (us_start, us_end),
            }
        };
        rule.daylight = Some((daylight, start, end));
        rule
    }

    fn at(&self, t: i64) -> Local {
        let Some((daylight, start, end)) = &self.daylight else {
            return self.standard.clone();
        };
        let year = civil_from_days(t.div_euclid(DAY)).0;
        let begins = start.instant(year) - self.standard.offset;
        let ends = end.instant(year) - daylight.offset;
        let dst = if begins > ends {
            // Southern hemisphere: daylight time spans the new year.
            t < ends || t >= begins
        } else {
            t >= begins && t < ends
        };
        if dst {
            daylight.clone()
        } else {
            self.standard.clone()
        }
    }
}

impl Change {
    /// Seconds since the epoch, in local time, of the change in `year`.
    fn instant(&self, year: i64) -> i64 {
        let jan1 = days_from_civil(year, 1, 1);
        let leap = is_leap(year);
        let day = match self.date {
            Date::Julian(n) => jan1 + n - 1 + i64::from(leap && n >= 60),
            Date::Day(n) => jan1 + n,
            Date::Month(m, w, d) => {
                let first = days_from_civil(year, m, 1);
                let length = days_in_month(year, m);
                let weekday = (first + 4).rem_euclid(7);
                let mut day = (d - weekday).rem_euclid(7);
                for _ in 1..w {
                    if day + 7 >= length {
                        break;
                    }
                    day += 7;
                }
                first + day
            }
        };
        day * DAY + self.time
    }
}

/// `EST` or `<+03>`: three or more letters, or anything in angle
/// brackets.
fn zone_name(s: &mut &[u8]) -> Option<String> {
    let (name, used) = if s.first() == Some(&b'<') {
        let len = s[1..]
            .iter()
            .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-')
            .count();
        if s.get(1 + len) != Some(&b'>') || len < 3 {
            return None;
        }
        (&s[1..1 + len], len + 2)
    } else {
        let len = s.iter().take_while(|b| b.is_ascii_alphabetic()).count();
        if len < 3 {
            return None;
        }
        (&s[..len], len)
    };
    let name = String::from_utf8_lossy(name).into_owned();
    *s = &s[used..];
    Some(name)
}

/// `[+-]hh[:mm[:ss]]`, west of UTC positive; seconds east returned.
fn zone_offset(s: &mut &[u8]) -> Option<i64> {
    let sign = match s.first() {
        Some(b'-') => 1,
        Some(b'+') => -1,
        Some(b) if b.is_ascii_digit() => -1,
        _ => return None,
    };
    if matches!(s.first(), Some(b'-' | b'+')) {
        *s = &s[1..];
    }
    let (h, m, sec) = clock(s)?;
    Some(sign * (h.min(24) * 3600 + m.min(59) * 60 + sec.min(59)))
}

/// `hh[:mm[:ss]]`; `None` without digits.
fn clock(s: &mut &[u8]) -> Option<(i64, i64, i64)> {
    let mut parts = [0i64; 3];
    for (i, part) in parts.iter_mut().enumerate() {
        if i > 0 {
            if s.first() != Some(&b':') || !s.get(1).is_some_and(u8::is_ascii_digit) {
                break;
            }
            *s = &s[1..];
        }
        let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        *part = std::str::from_utf8(&s[..digits])
            .ok()?
            .parse::<i64>()
            .ok()?
            .min(65_535);
        *s = &s[digits..];
    }
    Some((parts[0], parts[1], parts[2]))
}

/// `,date[/time]`.
fn change(s: &mut &[u8]) -> Option<Change> {
    if s.first() == Some(&b',') {
        *s = &s[1..];
    }
    let number = |s: &mut &[u8]| -> Option<i64> {
        let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
        let n = std::str::from_utf8(&s[..digits]).ok()?.parse().ok()?;
        *s = &s[digits..];
        Some(n)
    };
    let date = match s.first()? {
        b'J' => {
            *s = &s[1..];
            let n = number(s)?;
            (1..=365).contains(&n).then_some(Date::Julian(n))?
        }
        b'M' => {
            *s = &s[1..];
            let m = number(s)?;
            *s = s.strip_prefix(b".")?;
            let w = number(s)?;
            *s = s.strip_prefix(b".")?;
            let d = number(s)?;
            ((1..=12).contains(&m) && (1..=5).contains(&w) && d <= 6)
                .then_some(Date::Month(m, w, d))?
        }
        b if b.is_ascii_digit() => {
            let n = number(s)?;
            (n <= 365).then_some(Date::Day(n))?
        }
        _ => return None,
    };
    let mut time = 7200;
    if s.first() == Some(&b'/') {
        *s = &s[1..];
        let negative = s.first() == Some(&b'-');
        if negative || s.first() == Some(&b'+') {
            *s = &s[1..];
        }
        let (h, m, sec) = clock(s).unwrap_or((2, 0, 0));
        time = (h * 3600 + m * 60 + sec) * if negative { -1 } else { 1 };
    }
    if !s.is_empty() && s[0] != b',' {
        return None;
    }
    Some(Change { date, time })
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month 1-12, day 1-31) of a day counted from 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(offset: i64, dst: bool, abbreviation: &str) -> Local {
        Local {
            offset,
            dst,
            abbreviation: abbreviation.into(),
        }
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(18_032), (2019, 5, 16));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2019, 5, 16), 18_032);
    }

    #[test]
    fn posix_rules() {
        let utc = Rule::parse("UTC0");
        assert_eq!(utc.at(0), local(0, false, "UTC"));
        assert_eq!(Rule::parse("JST-9").at(0), local(9 * 3600, false, "JST"));
        assert_eq!(Rule::parse("<+03>-3").at(0), local(3 * 3600, false, "+03"));
        // Not a valid offset: UTC under the name given.
        assert_eq!(Rule::parse("Foo/Bar").at(0), local(0, false, "Foo"));
        let eastern = Rule::parse("EST5EDT,M3.2.0,M11.1.0");
        // 2019-05-16 03:49:59 UTC is daylight time in New York.
        assert_eq!(eastern.at(1_557_978_599), local(-4 * 3600, true, "EDT"));
        assert_eq!(eastern.at(1_547_000_000), local(-5 * 3600, false, "EST"));
        // 2019-03-10 07:00 UTC is 02:00 EST, when daylight time begins.
        assert!(!eastern.at(1_552_201_199).dst);
        assert!(eastern.at(1_552_201_200).dst);
        // Without dates: the US rules.
        assert_eq!(Rule::parse("EST5EDT"), eastern);
        // Southern hemisphere: daylight time across the new year.
        let sydney = Rule::parse("AEST-10AEDT,M10.1.0,M4.1.0/3");
        assert!(sydney.at(1_546_300_800).dst);
        assert!(!sydney.at(1_561_939_200).dst);
    }

    #[test]
    fn tzif_files() {
        // A version 2 file: one transition at t=100 to type 1, footer.
        let mut data = Vec::new();
        let header = |data: &mut Vec<u8>, times: u32| {
            data.extend_from_slice(b"TZif2");
            data.extend_from_slice(&[0; 15]);
            for count in [0u32, 0, 0, times, 2, 8] {
                data.extend_from_slice(&count.to_be_bytes());
            }
        };
        header(&mut data, 1);
        data.extend_from_slice(&100i32.to_be_bytes());
        data.push(1);
        data.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0x0e, 0x10, 1, 4]);
        data.extend_from_slice(b"AAA\0BBB\0");
        header(&mut data, 1);
        data.extend_from_slice(&100i64.to_be_bytes());
        data.push(1);
        data.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0x0e, 0x10, 1, 4]);
        data.extend_from_slice(b"AAA\0BBB\0");
        data.extend_from_slice(b"\nCCC-2\n");
        let zone = parse_tzif(&data).expect("a TZif file");
        assert_eq!(zone.at(0), local(0, false, "AAA"));
        assert_eq!(zone.at(99), local(0, false, "AAA"));
        assert_eq!(zone.at(100), local(7200, false, "CCC"));
        assert!(parse_tzif(b"not a zone").is_none());
    }
}
