//! `ulimit [-HS] [-a | -cdefilmnpqrstuvxR [LIMIT]]`, as bash's: the
//! resource limits the commands this shell starts run with (SPEC §3).
//! They are kept in the shell state ([`Limits`]; a subshell's changes stay
//! its own) and sent with every spawn, applied by the keeper after the
//! switch to the user; `@local` children get them before exec. nsh's own
//! limits never change. Without a setting, a limit shows as nsh's own.
//!
//! As bash: setting without `-H`/`-S` sets both; showing shows the soft
//! limit unless `-H`; values are in the resource's unit (1024-byte blocks
//! for sizes); `unlimited`, `hard` and `soft` are words for values; a
//! user cannot raise a hard limit above the current one.

use std::collections::BTreeMap;

use crate::shell::{Shell, Status};

/// A resource as `ulimit` knows it.
struct Resource {
    letter: char,
    /// The API's name (`None`: not settable, as `-p`).
    name: Option<&'static str>,
    factor: u64,
    description: &'static str,
    unit: Option<&'static str>,
}

const fn res(
    letter: char,
    name: &'static str,
    factor: u64,
    description: &'static str,
    unit: Option<&'static str>,
) -> Resource {
    Resource {
        letter,
        name: Some(name),
        factor,
        description,
        unit,
    }
}

/// In bash's `-a` order.
const RESOURCES: [Resource; 17] = [
    res(
        'R',
        "rttime",
        1,
        "real-time non-blocking time",
        Some("microseconds"),
    ),
    res('c', "core", 1024, "core file size", Some("blocks")),
    res('d', "data", 1024, "data seg size", Some("kbytes")),
    res('e', "nice", 1, "scheduling priority", None),
    res('f', "fsize", 1024, "file size", Some("blocks")),
    res('i', "sigpending", 1, "pending signals", None),
    res('l', "memlock", 1024, "max locked memory", Some("kbytes")),
    res('m', "rss", 1024, "max memory size", Some("kbytes")),
    res('n', "nofile", 1, "open files", None),
    Resource {
        letter: 'p',
        name: None,
        factor: 512,
        description: "pipe size",
        unit: Some("512 bytes"),
    },
    res('q', "msgqueue", 1, "POSIX message queues", Some("bytes")),
    res('r', "rtprio", 1, "real-time priority", None),
    res('s', "stack", 1024, "stack size", Some("kbytes")),
    res('t', "cpu", 1, "cpu time", Some("seconds")),
    res('u', "nproc", 1, "max user processes", None),
    res('v', "as", 1024, "virtual memory", Some("kbytes")),
    res('x', "locks", 1, "file locks", None),
];

const UNLIMITED: u64 = libc::RLIM_INFINITY;

/// The shell's settings: per resource (API name), the soft and hard
/// limits it set, if any.
#[derive(Clone, Debug, Default)]
pub struct Limits {
    set: BTreeMap<&'static str, (Option<u64>, Option<u64>)>,
}

impl Limits {
    /// The settings as the Spawn API takes them.
    pub fn to_wire(&self) -> Vec<proto::v1::ResourceLimit> {
        self.set
            .iter()
            .map(|(name, (soft, hard))| proto::v1::ResourceLimit {
                resource: name.to_string(),
                soft: *soft,
                hard: *hard,
            })
            .collect()
    }

    /// The soft and hard limits commands get: the shell's settings, else
    /// nsh's own.
    fn effective(&self, r: &Resource) -> (u64, u64) {
        let Some(resource) = r.name.and_then(proto::rlimit::resource) else {
            // The pipe size (-p) is fixed.
            return (8, 8);
        };
        let mut own = libc::rlimit {
            rlim_cur: UNLIMITED,
            rlim_max: UNLIMITED,
        };
        // SAFETY: getrlimit writes the struct we pass.
        unsafe { libc::getrlimit(resource, &mut own) };
        let (soft, hard) = r
            .name
            .and_then(|n| self.set.get(n))
            .copied()
            .unwrap_or_default();
        let hard = hard.unwrap_or(own.rlim_max);
        (soft.unwrap_or(own.rlim_cur).min(hard), hard)
    }
}

/// A command's limits, for `@local` children (`proto::rlimit::apply`).
pub fn for_local(limits: &[proto::v1::ResourceLimit]) -> Vec<proto::rlimit::Rlimit> {
    limits
        .iter()
        .filter_map(|l| Some((proto::rlimit::resource(&l.resource)?, l.soft, l.hard)))
        .collect()
}

fn show(value: u64, factor: u64) -> String {
    if value == UNLIMITED {
        "unlimited".into()
    } else {
        (value / factor).to_string()
    }
}

/// `ulimit`.
pub fn ulimit(shell: &mut Shell, args: Vec<String>) -> Status {
    let (mut hard, mut soft, mut all) = (false, false, false);
    let mut picked: Vec<&Resource> = Vec::new();
    let mut value: Option<String> = None;
    let mut rest = args.into_iter().peekable();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            value = rest.next();
            break;
        }
        let Some(letters) = arg.strip_prefix('-').filter(|l| !l.is_empty()) else {
            value = Some(arg);
            break;
        };
        for letter in letters.chars() {
            match letter {
                'H' => hard = true,
                'S' => soft = true,
                'a' => all = true,
                _ => match RESOURCES.iter().find(|r| r.letter == letter) {
                    Some(r) => picked.push(r),
                    None => {
                        shell.error(format!("ulimit: -{letter}: invalid option"));
                        shell.error("ulimit: usage: ulimit [-SHabcdefiklmnpqrstuvxPRT] [limit]");
                        return Ok(2);
                    }
                },
            }
        }
    }
    if rest.next().is_some() {
        shell.error("ulimit: too many arguments");
        return Ok(2);
    }
    let limits = shell.rlimits.clone();
    let shown = |(s, h): (u64, u64)| if hard && !soft { h } else { s };
    if all {
        let mut text = String::new();
        for r in &RESOURCES {
            let paren = match r.unit {
                Some(unit) => format!("({unit}, -{})", r.letter),
                None => format!("(-{})", r.letter),
            };
            let v = show(shown(limits.effective(r)), r.factor);
            text.push_str(&format!("{:<20}{paren:>20} {v}\n", r.description));
        }
        let _ = shell.out(&text);
        return Ok(0);
    }
    if picked.is_empty() {
        picked.push(
            RESOURCES
                .iter()
                .find(|r| r.letter == 'f')
                .expect("-f is known"),
        );
    }
    let Some(value) = value else {
        let mut text = String::new();
        for r in &picked {
            let v = show(shown(limits.effective(r)), r.factor);
            if picked.len() > 1 {
                let paren = match r.unit {
                    Some(unit) => format!("({unit}, -{})", r.letter),
                    None => format!("(-{})", r.letter),
                };
                text.push_str(&format!("{:<20}{paren:>20} {v}\n", r.description));
            } else {
                text.push_str(&format!("{v}\n"));
            }
        }
        let _ = shell.out(&text);
        return Ok(0);
    };
    let (both, set_hard, set_soft) = (!hard && !soft, hard, soft);
    for r in picked {
        let Some(name) = r.name else {
            shell.error(format!(
                "ulimit: {}: cannot modify limit: Invalid argument",
                r.description
            ));
            return Ok(1);
        };
        let (cur_soft, cur_hard) = shell.rlimits.effective(r);
        let new = match value.as_str() {
            "unlimited" => UNLIMITED,
            "hard" => cur_hard,
            "soft" => cur_soft,
            n => match n.parse::<u64>() {
                Ok(n) => n.saturating_mul(r.factor),
                Err(_) => {
                    shell.error(format!("ulimit: {n}: invalid number"));
                    return Ok(1);
                }
            },
        };
        let raising_hard = (both || set_hard) && new > cur_hard;
        let root = nix::unistd::geteuid().is_root();
        if raising_hard && !root {
            shell.error(format!(
                "ulimit: {}: cannot modify limit: Operation not permitted",
                r.description
            ));
            return Ok(1);
        }
        if set_soft && !set_hard && new > cur_hard {
            shell.error(format!(
                "ulimit: {}: cannot modify limit: Invalid argument",
                r.description
            ));
            return Ok(1);
        }
        let entry = shell.rlimits.set.entry(name).or_default();
        if both || set_soft {
            entry.0 = Some(new);
        }
        if both || set_hard {
            entry.1 = Some(new);
            // A soft limit above the new hard one comes down with it.
            if entry.0.is_some_and(|s| s > new) {
                entry.0 = Some(new);
            }
        }
    }
    Ok(0)
}
