//! The `time` keyword and the `times` builtin, with bash's formats.
//!
//! `time PIPELINE` reports the wall-clock time of the pipeline and the CPU
//! time nsh and its local children used meanwhile (`getrusage`), in the
//! format of `TIMEFORMAT` (bash's default when unset; `time -p` gives
//! POSIX's). A cluster process's CPU time is its node's to account
//! (`ps`'s TIME), so it is not in `user`/`sys` here.

use std::time::{Duration, Instant};

use brush_parser::ast::{self, PipelineTimed};
use nix::sys::resource::{UsageWho, getrusage};

use crate::shell::{Shell, Status};

/// bash's `TIMEFORMAT` when it is unset.
const DEFAULT_FORMAT: &str = "\nreal\t%3lR\nuser\t%3lU\nsys\t%3lS";
/// `time -p`.
const POSIX_FORMAT: &str = "real %2R\nuser %2U\nsys %2S";

/// CPU time used so far by nsh and its waited-for local children.
fn cpu() -> (Duration, Duration) {
    let mut user = Duration::ZERO;
    let mut sys = Duration::ZERO;
    for who in [UsageWho::RUSAGE_SELF, UsageWho::RUSAGE_CHILDREN] {
        if let Ok(usage) = getrusage(who) {
            user += timeval(usage.user_time());
            sys += timeval(usage.system_time());
        }
    }
    (user, sys)
}

fn timeval(t: nix::sys::time::TimeVal) -> Duration {
    Duration::from_secs(t.tv_sec().max(0) as u64) + Duration::from_micros(t.tv_usec().max(0) as u64)
}

impl Shell {
    /// `time [-p] PIPELINE`.
    pub(super) fn run_timed(&mut self, pipeline: &ast::Pipeline, timed: &PipelineTimed) -> Status {
        let mut untimed = pipeline.clone();
        untimed.timed = None;
        let started = Instant::now();
        let (user0, sys0) = cpu();
        let result = self.run_pipeline(&untimed);
        let real = started.elapsed();
        let (user1, sys1) = cpu();
        let format = match timed {
            PipelineTimed::TimedWithPosixOutput(_) => POSIX_FORMAT.to_string(),
            PipelineTimed::Timed(_) => self
                .vars
                .get("TIMEFORMAT")
                .unwrap_or(DEFAULT_FORMAT)
                .to_string(),
        };
        let mut text = format_times(&format, real, user1 - user0, sys1 - sys0);
        if !text.is_empty() {
            text.push('\n');
        }
        let _ = self.fds.write(2, text.as_bytes());
        result
    }
}

/// `TIMEFORMAT`'s escapes: `%[p][l]R`, `U`, `S` (p digits after the point,
/// 0 to 3, default 3; `l` as `MmS.FFFs`), `%P` (CPU percentage), `%%`.
pub fn format_times(format: &str, real: Duration, user: Duration, sys: Duration) -> String {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut precision = 3;
        if let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
            precision = d.min(3) as usize;
            chars.next();
        }
        let long = chars.next_if_eq(&'l').is_some();
        let value = match chars.next() {
            Some('R') => real,
            Some('U') => user,
            Some('S') => sys,
            Some('P') => {
                let cpu = (user + sys).as_secs_f64();
                let percent = if real.is_zero() {
                    0.0
                } else {
                    100.0 * cpu / real.as_secs_f64()
                };
                out.push_str(&format!("{percent:.2}"));
                continue;
            }
            Some('%') => {
                out.push('%');
                continue;
            }
            Some(other) => {
                out.push('%');
                out.push(other);
                continue;
            }
            None => {
                out.push('%');
                break;
            }
        };
        out.push_str(&seconds(value, precision, long));
    }
    out
}

/// A duration as bash prints one: `S.FFF`, or `MmS.FFFs` (long), cut (not
/// rounded) to `precision` digits.
fn seconds(d: Duration, precision: usize, long: bool) -> String {
    let millis = d.as_millis();
    let (whole, fraction) = (millis / 1000, millis % 1000);
    let fraction = format!("{fraction:03}");
    let point = match precision {
        0 => String::new(),
        p => format!(".{}", &fraction[..p]),
    };
    if long {
        format!("{}m{}{point}s", whole / 60, whole % 60)
    } else {
        format!("{whole}{point}")
    }
}

/// `times`: the user and system CPU time of the shell, then of its
/// children, as `MmS.FFFs` pairs.
pub fn times(shell: &mut Shell, _args: Vec<String>) -> Status {
    let mut lines = String::new();
    for who in [UsageWho::RUSAGE_SELF, UsageWho::RUSAGE_CHILDREN] {
        let (user, sys) = getrusage(who).map_or((Duration::ZERO, Duration::ZERO), |u| {
            (timeval(u.user_time()), timeval(u.system_time()))
        });
        lines.push_str(&format!(
            "{} {}\n",
            seconds(user, 3, true),
            seconds(sys, 3, true)
        ));
    }
    let _ = shell.out(&lines);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_bash_does() {
        let d = |ms| Duration::from_millis(ms);
        assert_eq!(
            format_times(DEFAULT_FORMAT, d(61_234), d(5), d(0)),
            "\nreal\t1m1.234s\nuser\t0m0.005s\nsys\t0m0.000s"
        );
        assert_eq!(
            format_times(POSIX_FORMAT, d(1_239), d(0), d(0)),
            "real 1.23\nuser 0.00\nsys 0.00"
        );
        assert_eq!(
            format_times("%R|%1lR|%0R|%%|%P", d(103), d(1), d(0)),
            "0.103|0m0.1s|0|%|0.97"
        );
    }
}
