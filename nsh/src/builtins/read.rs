//! `read`: one line from the shell's stdin, split on IFS into variables.
//! Reads a byte at a time, as bash does on pipes, so what follows the line
//! stays for the next reader.

use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::Ordering;

use crate::shell::{Flow, Shell, Status};
use crate::signals;
use crate::vars::Value;

struct Options {
    raw: bool,
    prompt: Option<String>,
    delimiter: u8,
    count: Option<usize>,
    /// `-N`: exactly `count` characters, delimiters included, unsplit.
    exact: bool,
    fd: i32,
    array: Option<String>,
    timeout: Option<f64>,
    names: Vec<String>,
}

fn parse(shell: &Shell, args: Vec<String>) -> Result<Options, i32> {
    let mut o = Options {
        raw: false,
        prompt: None,
        delimiter: b'\n',
        count: None,
        exact: false,
        fd: 0,
        array: None,
        timeout: None,
        names: Vec::new(),
    };
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        if !arg.starts_with('-') || arg == "-" || !o.names.is_empty() {
            o.names.push(arg);
            continue;
        }
        if arg == "--" {
            o.names.extend(it.by_ref());
            break;
        }
        let mut flags = arg[1..].chars();
        while let Some(c) = flags.next() {
            let mut value = || {
                let rest: String = flags.by_ref().collect();
                if rest.is_empty() {
                    it.next()
                } else {
                    Some(rest)
                }
            };
            match c {
                'r' => o.raw = true,
                's' => {}
                'p' => o.prompt = value(),
                'd' => o.delimiter = value().and_then(|d| d.bytes().next()).unwrap_or(0),
                'n' => o.count = value().and_then(|n| n.parse().ok()),
                'N' => {
                    o.count = value().and_then(|n| n.parse().ok());
                    o.exact = true;
                }
                'u' => o.fd = value().and_then(|n| n.parse().ok()).unwrap_or(0),
                'a' => o.array = value(),
                't' => {
                    let text = value().unwrap_or_default();
                    match text.parse::<f64>() {
                        Ok(t) if t >= 0.0 && t.is_finite() => o.timeout = Some(t),
                        _ => {
                            shell.error(format!("read: {text}: invalid timeout specification"));
                            return Err(1);
                        }
                    }
                }
                other => {
                    shell.error(format!("read: -{other}: invalid option"));
                    return Err(2);
                }
            }
        }
    }
    Ok(o)
}

/// Whether the shell's fd `fd` is a regular file (seekable, never waits).
fn is_regular_file(shell: &Shell, fd: i32) -> bool {
    shell.fds.get(fd).is_some_and(|f| {
        nix::sys::stat::fstat(f.file.as_fd())
            .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG)
    })
}

/// Bytes read at a time from a regular file (bash reads 128 too): a line
/// rarely needs two reads, and little is read again after the seek back.
const CHUNK: usize = 128;

/// Reads from regular file `fd` in chunks, feeding bytes to `feed` until
/// it reports the line complete, then seeks back over the bytes after
/// it. Returns whether the line was complete (false at end of file).
fn read_line_seeking(
    shell: &Shell,
    fd: i32,
    line: &mut Vec<(u8, bool)>,
    feed: &mut impl FnMut(u8, &mut Vec<(u8, bool)>) -> bool,
) -> Result<bool, Flow> {
    let Some(file) = shell.fds.get(fd) else {
        return Ok(false);
    };
    let mut buf = [0u8; CHUNK];
    loop {
        if signals::INTERRUPTED.load(Ordering::Relaxed) && shell.tracker.is_foreground() {
            return Err(Flow::Interrupted(130));
        }
        let n = crate::io::read(file.file.as_fd(), &mut buf).unwrap_or(0);
        if n == 0 {
            return Ok(false);
        }
        if let Some(used) = buf[..n].iter().position(|&b| feed(b, line)) {
            let back = (n - used - 1) as libc::off_t;
            if back > 0 {
                // SAFETY: lseek on a descriptor the shell owns.
                unsafe { libc::lseek(file.file.as_raw_fd(), -back, libc::SEEK_CUR) };
            }
            return Ok(true);
        }
    }
}

/// Reads one byte; `Ok(None)` at end of file or timeout.
pub(crate) fn read_byte(
    shell: &Shell,
    fd: i32,
    deadline: Option<std::time::Instant>,
) -> Result<Option<u8>, Flow> {
    let mut byte = [0u8];
    Ok(match read_some(shell, fd, &mut byte, deadline)? {
        1 => Some(byte[0]),
        _ => None,
    })
}

/// Reads what is there (at most `buf.len()` bytes) from the shell's fd
/// `fd`, waiting for it with Ctrl-C honoured; 0 at end of file, on a
/// closed fd or at the deadline.
pub(crate) fn read_some(
    shell: &Shell,
    fd: i32,
    buf: &mut [u8],
    deadline: Option<std::time::Instant>,
) -> Result<usize, Flow> {
    let Some(file) = shell.fds.get(fd) else {
        return Ok(0);
    };
    loop {
        if signals::INTERRUPTED.load(Ordering::Relaxed) && shell.tracker.is_foreground() {
            return Err(Flow::Interrupted(130));
        }
        let mut pfd = [nix::poll::PollFd::new(
            file.file.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(100u16)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => {
                if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                    return Ok(0);
                }
                continue;
            }
            _ => {}
        }
        return Ok(crate::io::read(file.file.as_fd(), buf).unwrap_or(0));
    }
}

pub fn read(shell: &mut Shell, args: Vec<String>) -> Status {
    let options = match parse(shell, args) {
        Ok(o) => o,
        Err(status) => return Ok(status),
    };
    // `-t 0`: only whether input is there to read (end of file counts).
    if options.timeout == Some(0.0) {
        let ready = shell.fds.get(options.fd).is_some_and(|file| {
            let mut pfd = [nix::poll::PollFd::new(
                file.file.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            nix::poll::poll(&mut pfd, nix::poll::PollTimeout::ZERO).is_ok_and(|n| n > 0)
        });
        return Ok(i32::from(!ready));
    }
    if let Some(prompt) = &options.prompt
        && shell.fds.get(options.fd).is_some_and(|f| f.is_terminal())
    {
        let _ = shell.fds.write(2, prompt.as_bytes());
    }
    let deadline = options
        .timeout
        .map(|t| std::time::Instant::now() + std::time::Duration::from_secs_f64(t));
    // Bytes read, with a flag per byte telling whether a backslash quoted
    // it (quoted bytes never split).
    let mut line: Vec<(u8, bool)> = Vec::new();
    let mut complete = false;
    let mut escaped = false;
    // Takes one byte; true once the line is complete.
    let mut feed = |byte: u8, line: &mut Vec<(u8, bool)>| {
        if escaped {
            escaped = false;
            if byte != b'\n' {
                line.push((byte, true));
            }
            return false;
        }
        if byte == b'\\' && !options.raw {
            escaped = true;
            return false;
        }
        if byte == options.delimiter && !options.exact {
            return true;
        }
        // NUL bytes are skipped (and not counted by -n), as bash does
        // unless NUL is the delimiter.
        if byte == 0 && (options.exact || options.delimiter != 0) {
            return false;
        }
        line.push((byte, false));
        false
    };
    if options.count.is_none() && deadline.is_none() && is_regular_file(shell, options.fd) {
        // A regular file is read in chunks, and what follows the line is
        // given back with a seek, as bash does: later readers of the same
        // descriptor start right after the line, at a fraction of the
        // system calls of reading byte by byte.
        complete = read_line_seeking(shell, options.fd, &mut line, &mut feed)?;
    } else {
        loop {
            if options.count.is_some_and(|n| line.len() >= n) {
                complete = true;
                break;
            }
            let Some(byte) = read_byte(shell, options.fd, deadline)? else {
                break;
            };
            if feed(byte, &mut line) {
                complete = true;
                break;
            }
        }
    }
    // An escaped NUL is kept, and ends the input there, as in bash (whose
    // line is a C string).
    if let Some(nul) = line.iter().position(|&(b, _)| b == 0) {
        line.truncate(nul);
    }
    let text_of = |part: &[(u8, bool)]| {
        String::from_utf8_lossy(&part.iter().map(|(b, _)| *b).collect::<Vec<u8>>()).into_owned()
    };
    let ifs = shell.vars.get("IFS").unwrap_or(" \t\n").to_string();
    let is_ws = |b: u8| ifs.as_bytes().contains(&b) && b" \t\n".contains(&b);
    let is_sep = |b: u8| ifs.as_bytes().contains(&b);

    if let Some(array) = &options.array {
        let fields = split_fields(&line, usize::MAX, &is_ws, &is_sep);
        let map = fields
            .iter()
            .enumerate()
            .map(|(i, f)| (i as i64, text_of(f)))
            .collect();
        if let Err(e) = shell.vars.set_value(array, Value::Indexed(map)) {
            shell.error(format!("read: {e}"));
            return Ok(1);
        }
    } else {
        let names = if options.names.is_empty() {
            vec!["REPLY".to_string()]
        } else {
            options.names.clone()
        };
        if options.names.is_empty() {
            let _ = shell.vars.set("REPLY", text_of(&line));
        } else {
            let fields = if options.exact {
                vec![&line[..]]
            } else {
                split_fields(&line, names.len(), &is_ws, &is_sep)
            };
            for (i, name) in names.iter().enumerate() {
                let value = fields.get(i).map(|f| text_of(f)).unwrap_or_default();
                if let Err(e) = shell.vars.set(name, value) {
                    shell.error(format!("read: {e}"));
                    return Ok(1);
                }
            }
        }
    }
    // Timed out: more than 128, as bash (128 + SIGALRM).
    let timed_out = !complete && deadline.is_some_and(|d| std::time::Instant::now() >= d);
    Ok(if complete {
        0
    } else if timed_out {
        128 + libc::SIGALRM
    } else {
        1
    })
}

/// Splits into at most `max` fields; the last takes the rest of the line
/// with trailing IFS whitespace removed.
fn split_fields<'a>(
    line: &'a [(u8, bool)],
    max: usize,
    is_ws: &dyn Fn(u8) -> bool,
    is_sep: &dyn Fn(u8) -> bool,
) -> Vec<&'a [(u8, bool)]> {
    let separator = |&(b, quoted): &(u8, bool)| !quoted && is_sep(b);
    let whitespace = |&(b, quoted): &(u8, bool)| !quoted && is_ws(b);
    let mut fields = Vec::new();
    let mut i = 0;
    while i < line.len() && whitespace(&line[i]) {
        i += 1;
    }
    while i < line.len() {
        if fields.len() + 1 == max {
            let mut end = line.len();
            while end > i && whitespace(&line[end - 1]) {
                end -= 1;
            }
            // A trailing non-whitespace separator is dropped too, as bash
            // does when exactly one ends the line.
            fields.push(&line[i..end]);
            return fields;
        }
        let start = i;
        while i < line.len() && !separator(&line[i]) {
            i += 1;
        }
        fields.push(&line[start..i]);
        // Skip IFS whitespace, one non-whitespace separator, whitespace.
        while i < line.len() && whitespace(&line[i]) {
            i += 1;
        }
        if i < line.len() && separator(&line[i]) && !whitespace(&line[i]) {
            i += 1;
            while i < line.len() && whitespace(&line[i]) {
                i += 1;
            }
        }
    }
    fields
}
