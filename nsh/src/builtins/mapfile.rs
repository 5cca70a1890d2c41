//! `mapfile`/`readarray`: lines of the shell's stdin (or `-u FD`) into an
//! indexed array. With `-n COUNT` the input is read a byte at a time, so
//! what follows the last line taken stays for the next reader (as `read`
//! does); otherwise it is read to its end in chunks.

use std::collections::BTreeMap;

use crate::shell::{Shell, Status};
use crate::vars::Value;

struct Options {
    delimiter: u8,
    /// Lines to store; 0 for all.
    count: usize,
    origin: Option<i64>,
    skip: usize,
    trim: bool,
    fd: i32,
    array: String,
}

fn parse(shell: &mut Shell, name: &str, args: Vec<String>) -> Result<Options, Status> {
    let mut o = Options {
        delimiter: b'\n',
        count: 0,
        origin: None,
        skip: 0,
        trim: false,
        fd: 0,
        array: "MAPFILE".to_string(),
    };
    let mut it = args.into_iter();
    let mut names = Vec::new();
    while let Some(arg) = it.next() {
        if !arg.starts_with('-') || arg == "-" {
            names.push(arg);
            continue;
        }
        if arg == "--" {
            names.extend(it.by_ref());
            break;
        }
        let flags: Vec<char> = arg[1..].chars().collect();
        let mut j = 0;
        while j < flags.len() {
            let c = flags[j];
            j += 1;
            if !matches!(c, 'd' | 'n' | 'O' | 's' | 'u' | 'C' | 'c') {
                match c {
                    't' => o.trim = true,
                    other => {
                        shell.error(format!("{name}: -{other}: invalid option"));
                        return Err(super::usage(shell, name));
                    }
                }
                continue;
            }
            let value = if j < flags.len() {
                flags[j..].iter().collect()
            } else {
                match it.next() {
                    Some(v) => v,
                    None => {
                        shell.error(format!("{name}: -{c}: option requires an argument"));
                        return Err(super::usage(shell, name));
                    }
                }
            };
            let number = |shell: &Shell| -> Result<i64, Status> {
                value
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| {
                        shell.error(format!("{name}: {value}: invalid number"));
                        Ok(1)
                    })
            };
            match c {
                'd' => o.delimiter = value.bytes().next().unwrap_or(0),
                'n' => o.count = usize::try_from(number(shell)?).unwrap_or(0),
                'O' => o.origin = Some(number(shell)?),
                's' => o.skip = usize::try_from(number(shell)?).unwrap_or(0),
                'u' => o.fd = i32::try_from(number(shell)?).unwrap_or(-1),
                _ => return Err(shell.unsupported(&format!("{name} -{c}"))),
            }
            break;
        }
    }
    if let Some(array) = names.into_iter().next() {
        if !crate::exec::assign::valid_name(&array) {
            shell.error(format!("{name}: `{array}': not a valid identifier"));
            return Err(Ok(1));
        }
        o.array = array;
    }
    Ok(o)
}

pub fn mapfile(shell: &mut Shell, args: Vec<String>) -> Status {
    run(shell, "mapfile", args)
}

pub fn readarray(shell: &mut Shell, args: Vec<String>) -> Status {
    run(shell, "readarray", args)
}

fn run(shell: &mut Shell, name: &str, args: Vec<String>) -> Status {
    let o = match parse(shell, name, args) {
        Ok(o) => o,
        Err(status) => return status,
    };
    if shell.fds.get(o.fd).is_none() {
        shell.error(format!(
            "{name}: {}: invalid file descriptor: Bad file descriptor",
            o.fd
        ));
        return Ok(1);
    }
    let lines = read_lines(shell, &o)?;
    let numbered = |origin: i64| {
        lines
            .into_iter()
            .enumerate()
            .map(move |(i, line)| (origin + i as i64, line))
    };
    let map: BTreeMap<i64, String> = match (o.origin, shell.vars.value(&o.array)) {
        (Some(origin), Some(Value::Indexed(map))) => {
            let mut map = map.clone();
            map.extend(numbered(origin));
            map
        }
        (Some(origin), Some(Value::Str(s))) => {
            let mut map: BTreeMap<i64, String> = [(0, s.clone())].into();
            map.extend(numbered(origin));
            map
        }
        // Built from sorted keys in one go.
        (origin, _) => numbered(origin.unwrap_or(0)).collect(),
    };
    if shell.vars.is_assoc(&o.array) {
        shell.error(format!("{name}: {}: not an indexed array", o.array));
        return Ok(1);
    }
    if let Err(e) = shell.vars.set_value(&o.array, Value::Indexed(map)) {
        shell.error(format!("{name}: {e}"));
        return Ok(1);
    }
    Ok(0)
}

/// Bytes as text, invalid UTF-8 replaced. A line ends at a NUL byte, as
/// bash's (a C string) does.
fn text(bytes: &[u8]) -> String {
    let bytes = match bytes.iter().position(|&b| b == 0) {
        Some(nul) => &bytes[..nul],
        None => bytes,
    };
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// The lines to store, the first `skip` dropped.
fn read_lines(shell: &Shell, o: &Options) -> Result<Vec<String>, crate::shell::Flow> {
    let wanted = if o.count == 0 {
        usize::MAX
    } else {
        o.skip + o.count
    };
    let mut lines: Vec<String> = Vec::new();
    // The start of a line that a read cut off.
    let mut current: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; if o.count == 0 { 64 * 1024 } else { 1 }];
    let mut seen = 0;
    'reading: while seen < wanted {
        let n = super::read::read_some(shell, o.fd, &mut buf, None)?;
        if n == 0 {
            break;
        }
        let mut rest = &buf[..n];
        while let Some(at) = rest.iter().position(|&b| b == o.delimiter) {
            let end = if o.trim { at } else { at + 1 };
            if seen >= o.skip {
                let line = if current.is_empty() {
                    text(&rest[..end])
                } else {
                    current.extend_from_slice(&rest[..end]);
                    text(&current)
                };
                lines.push(line);
            }
            current.clear();
            rest = &rest[at + 1..];
            seen += 1;
            if seen >= wanted {
                break 'reading;
            }
        }
        current.extend_from_slice(rest);
    }
    if !current.is_empty() && seen >= o.skip && seen < wanted {
        lines.push(text(&current));
    }
    Ok(lines)
}
