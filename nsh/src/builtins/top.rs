//! `top [-b] [-n N] [-d SECS]`: a live view of the cluster's busiest
//! processes, refreshed every SECS seconds (default 2).
//!
//! Each refresh asks `Nodes` and `List` (running and stopped processes)
//! and ranks processes by the CPU time they used since the previous
//! refresh (%CPU, 100 = one core); the first refresh, and a process seen
//! for the first time, use the average over its lifetime.
//!
//! With a terminal on stdin and stdout the view redraws in place, with the
//! terminal in cbreak mode (no echo, keys one at a time; restored on the
//! way out whatever happens); `q` quits, Ctrl-C too, and any other key
//! refreshes at once. Otherwise it prints batch iterations like `top -b`:
//! N of them with `-n N`, else one when stdout is not a terminal and
//! until Ctrl-C or a closed output with an explicit `-b`.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Parser;
use nix::sys::termios::{self, LocalFlags, SetArg, SpecialCharacterIndices, Termios};
use proto::v1::{ListRequest, NodeInfo, NodeState, NodesRequest, ProcessInfo, ProcessState};

use super::ps::{self, Users};
use crate::client::{Client, ClientError};
use crate::io::{self, Fd};
use crate::shell::{Shell, Status};
use crate::signals;

#[derive(Parser, Debug)]
#[command(name = "top", disable_help_flag = true, disable_version_flag = true)]
struct Args {
    /// Batch mode: print iterations instead of redrawing.
    #[arg(short = 'b', long = "batch")]
    batch: bool,
    /// Number of iterations, then exit.
    #[arg(short = 'n', long = "iterations", value_name = "N")]
    iterations: Option<u64>,
    /// Seconds between refreshes.
    #[arg(
        short = 'd',
        long = "delay",
        value_name = "SECS",
        default_value_t = 2.0
    )]
    delay: f64,
}

/// How often waits look at keys and Ctrl-C.
const TICK: Duration = Duration::from_millis(100);

/// Lines above the process table: the summary, the loads, a blank line.
const HEADER_LINES: usize = 3;

/// One process as a refresh sees it.
struct Row {
    info: ProcessInfo,
    /// %CPU since the previous refresh (100 = one core).
    cpu: f64,
}

/// What one refresh learned.
struct Snapshot {
    nodes: Vec<NodeInfo>,
    rows: Vec<Row>,
    /// Nodes that could not be asked, with why.
    unreachable: Vec<(String, String)>,
}

/// CPU times of the previous refresh, for the deltas.
#[derive(Default)]
struct Sampler {
    previous: HashMap<i32, u64>,
    at: Option<Instant>,
    users: Users,
}

impl Sampler {
    fn sample(&mut self, client: &Client) -> Result<Snapshot, ClientError> {
        let mut cluster = client.cluster();
        let nodes_reply = client.call(cluster.nodes(NodesRequest {}))?;
        let mut api = client.processes();
        let list = client.call(api.list(ListRequest {
            node: String::new(),
            states: vec![ProcessState::Running as i32, ProcessState::Stopped as i32],
            brief: false,
            ended: false,
        }))?;
        let now = Instant::now();
        let now_ms = proto::now_ms();
        let elapsed_ms = self
            .at
            .map(|at| now.duration_since(at).as_millis() as f64)
            .filter(|ms| *ms > 0.0);
        let mut rows: Vec<Row> = list
            .processes
            .into_iter()
            .map(|info| {
                let cpu = match (self.previous.get(&info.pid), elapsed_ms) {
                    (Some(before), Some(elapsed)) => {
                        info.cpu_time_ms.saturating_sub(*before) as f64 / elapsed * 100.0
                    }
                    _ => {
                        let lifetime = now_ms.saturating_sub(info.start_time_ms).max(1);
                        info.cpu_time_ms as f64 / lifetime as f64 * 100.0
                    }
                };
                Row { info, cpu }
            })
            .collect();
        rows.sort_by(|a, b| {
            b.cpu
                .total_cmp(&a.cpu)
                .then(b.info.cpu_time_ms.cmp(&a.info.cpu_time_ms))
                .then(a.info.pid.cmp(&b.info.pid))
        });
        self.previous = rows
            .iter()
            .map(|r| (r.info.pid, r.info.cpu_time_ms))
            .collect();
        self.at = Some(now);
        let mut nodes = nodes_reply.nodes;
        nodes.sort_by_key(|n| n.slot);
        let mut unreachable: Vec<(String, String)> = nodes_reply
            .unreachable
            .into_iter()
            .chain(list.unreachable)
            .map(|u| (u.node, u.error))
            .collect();
        unreachable.sort();
        unreachable.dedup_by(|a, b| a.0 == b.0);
        Ok(Snapshot {
            nodes,
            rows,
            unreachable,
        })
    }
}

/// CPU time as top's TIME+: `M:SS.hh`.
fn time_plus(ms: u64) -> String {
    format!("{}:{:02}.{:02}", ms / 60_000, ms / 1000 % 60, ms / 10 % 100)
}

/// The lines of one view; at most `rows` lines when given.
fn render(snapshot: &Snapshot, users: &mut Users, rows: Option<usize>) -> Vec<String> {
    let (_, _, _, hour, minute, second) = ps::local_time(proto::now_ms());
    let up = snapshot
        .nodes
        .iter()
        .filter(|n| n.state == NodeState::Up as i32)
        .count();
    let stopped = snapshot
        .rows
        .iter()
        .filter(|r| r.info.state == ProcessState::Stopped as i32)
        .count();
    let mut lines = vec![format!(
        "nsh top - {hour:02}:{minute:02}:{second:02}  nodes: {} ({up} up)  processes: {} ({} running, {stopped} stopped)",
        snapshot.nodes.len(),
        snapshot.rows.len(),
        snapshot.rows.len() - stopped,
    )];
    let loads: Vec<String> = snapshot
        .nodes
        .iter()
        .map(|n| match &n.load {
            Some(l) if n.state == NodeState::Up as i32 => format!("{} {:.2}", n.name, l.load1),
            _ => format!("{} {}", n.name, super::nodes::state_name(n)),
        })
        .collect();
    lines.push(format!("load: {}", loads.join(", ")));
    let unreachable: Vec<String> = snapshot
        .unreachable
        .iter()
        .map(|(node, why)| format!("{node} ({why})"))
        .collect();
    lines.push(if unreachable.is_empty() {
        String::new()
    } else {
        format!("unreachable: {}", unreachable.join(", "))
    });
    let headers = [
        ("PID", true),
        ("NODE", false),
        ("USER", false),
        ("STAT", false),
        ("%CPU", true),
        ("RSS", true),
        ("TIME+", true),
        ("CMD", false),
    ];
    let shown = rows.map_or(snapshot.rows.len(), |r| {
        r.saturating_sub(HEADER_LINES + 1).min(snapshot.rows.len())
    });
    let cells: Vec<Vec<String>> = snapshot.rows[..shown]
        .iter()
        .map(|r| {
            vec![
                r.info.pid.to_string(),
                r.info.node.clone(),
                users.of(&r.info),
                ps::stat(&r.info).to_string(),
                format!("{:.1}", r.cpu),
                (r.info.rss_bytes / 1024).to_string(),
                time_plus(r.info.cpu_time_ms),
                ps::command(&r.info),
            ]
        })
        .collect();
    lines.extend(ps::table(&headers, &cells).lines().map(str::to_string));
    lines
}

/// The terminal in cbreak mode until dropped, with the cursor hidden.
struct Cbreak {
    input: Fd,
    output: Fd,
    saved: Termios,
}

impl Cbreak {
    fn enter(input: &Fd, output: &Fd) -> nix::Result<Cbreak> {
        let saved = termios::tcgetattr(input.file.as_fd())?;
        let mut raw = saved.clone();
        raw.local_flags
            .remove(LocalFlags::ICANON | LocalFlags::ECHO);
        raw.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
        raw.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
        termios::tcsetattr(input.file.as_fd(), SetArg::TCSANOW, &raw)?;
        let _ = io::write_all(output.file.as_fd(), b"\x1b[?25l");
        Ok(Cbreak {
            input: input.clone(),
            output: output.clone(),
            saved,
        })
    }
}

impl Drop for Cbreak {
    fn drop(&mut self) {
        let _ = io::write_all(self.output.file.as_fd(), b"\x1b[?25h");
        let _ = termios::tcsetattr(self.input.file.as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// What a wait for the next refresh ended with.
enum Wake {
    Refresh,
    Quit,
}

/// Waits up to `delay` for a key; `q` quits, Ctrl-C too, another key
/// refreshes at once.
fn wait_key(input: &Fd, delay: Duration, input_open: &mut bool) -> Wake {
    let deadline = Instant::now() + delay;
    loop {
        if signals::INTERRUPTED.swap(false, Ordering::SeqCst) {
            return Wake::Quit;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Wake::Refresh;
        }
        let tick = left.min(TICK);
        if !*input_open {
            std::thread::sleep(tick);
            continue;
        }
        let mut pfd = [nix::poll::PollFd::new(
            input.file.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let ms = u16::try_from(tick.as_millis()).unwrap_or(u16::MAX);
        match nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(ms)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(_) => {
                *input_open = false;
                continue;
            }
        }
        let mut buf = [0u8; 64];
        match io::read(input.file.as_fd(), &mut buf) {
            Ok(0) | Err(_) => *input_open = false,
            Ok(n) if buf[..n].iter().any(|b| matches!(b, b'q' | b'Q')) => return Wake::Quit,
            Ok(_) => return Wake::Refresh,
        }
    }
}

/// The live view on a terminal.
fn interactive(shell: &Shell, client: &Client, delay: Duration, iterations: Option<u64>) -> i32 {
    let (Some(input), Some(output)) = (shell.fds.get(0).cloned(), shell.fds.get(1).cloned()) else {
        return 1;
    };
    let cbreak = match Cbreak::enter(&input, &output) {
        Ok(c) => c,
        Err(e) => {
            shell.error(format!("top: cannot set up the terminal: {e}"));
            return 1;
        }
    };
    let mut sampler = Sampler::default();
    let mut input_open = true;
    let mut done = 0u64;
    let status = loop {
        let (rows, cols) = super::run::terminal_size(&*output.file).unwrap_or((24, 80));
        let lines = match sampler.sample(client) {
            Ok(snapshot) => render(&snapshot, &mut sampler.users, Some(rows.into())),
            Err(e) => vec![format!("nsh top: {e}")],
        };
        let mut screen = String::from("\x1b[H");
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                screen.push('\n');
            }
            screen.extend(line.chars().take(cols.into()));
            screen.push_str("\x1b[K");
        }
        screen.push_str("\x1b[J");
        if io::write_all(output.file.as_fd(), screen.as_bytes()).is_err() {
            break 1;
        }
        done += 1;
        if iterations.is_some_and(|n| done >= n) {
            break 0;
        }
        if let Wake::Quit = wait_key(&input, delay, &mut input_open) {
            break 0;
        }
    };
    drop(cbreak);
    let _ = io::write_all(output.file.as_fd(), b"\n");
    status
}

/// Batch iterations, like `top -b`.
fn batch(shell: &Shell, client: &Client, delay: Duration, iterations: Option<u64>) -> i32 {
    let mut sampler = Sampler::default();
    let mut done = 0u64;
    loop {
        let snapshot = match sampler.sample(client) {
            Ok(s) => s,
            Err(e) => {
                shell.error(format!("top: {e}"));
                return 1;
            }
        };
        let mut text = String::new();
        if done > 0 {
            text.push('\n');
        }
        for line in render(&snapshot, &mut sampler.users, None) {
            text.push_str(&line);
            text.push('\n');
        }
        if shell.out(&text).is_err() {
            return 1;
        }
        done += 1;
        if iterations.is_some_and(|n| done >= n) {
            return 0;
        }
        let deadline = Instant::now() + delay;
        while Instant::now() < deadline {
            if signals::INTERRUPTED.load(Ordering::SeqCst) {
                return 130;
            }
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()).min(TICK));
        }
    }
}

/// The `top` builtin.
pub fn top(shell: &mut Shell, args: Vec<String>) -> Status {
    let args: Args = match super::parse(shell, "top", args) {
        Ok(a) => a,
        Err(status) => return Ok(status),
    };
    if !(args.delay.is_finite() && args.delay > 0.0 && args.delay <= 86_400.0) {
        shell.error(format!("top: -d {}: expected seconds above 0", args.delay));
        return super::usage(shell, "top");
    }
    if args.iterations == Some(0) {
        return Ok(0);
    }
    let delay = Duration::from_secs_f64(args.delay);
    let client = match shell.client_for("top") {
        Ok(c) => c,
        Err(status) => return Ok(status),
    };
    let terminal = [0, 1]
        .iter()
        .all(|n| shell.fds.get(*n).is_some_and(Fd::is_terminal));
    if !args.batch && terminal {
        return Ok(interactive(shell, &client, delay, args.iterations));
    }
    let iterations = match (args.iterations, args.batch) {
        (Some(n), _) => Some(n),
        (None, true) => None,
        (None, false) => Some(1),
    };
    Ok(batch(shell, &client, delay, iterations))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_plus_is_top_like() {
        assert_eq!(time_plus(0), "0:00.00");
        assert_eq!(time_plus(61_230), "1:01.23");
        assert_eq!(time_plus(3_600_000), "60:00.00");
    }

    #[test]
    fn render_ranks_by_cpu_and_fits_the_rows() {
        let process = |pid: i32, cpu: f64| Row {
            info: ProcessInfo {
                pid,
                node: "n1".into(),
                argv: vec!["spin".into()],
                state: ProcessState::Running as i32,
                ..ProcessInfo::default()
            },
            cpu,
        };
        let snapshot = Snapshot {
            nodes: vec![NodeInfo {
                name: "n1".into(),
                state: NodeState::Up as i32,
                ..NodeInfo::default()
            }],
            rows: vec![process(10000001, 90.0), process(10000002, 5.0)],
            unreachable: Vec::new(),
        };
        let lines = render(&snapshot, &mut Users::default(), Some(5));
        assert_eq!(lines.len(), 5, "{lines:?}");
        assert!(lines[3].trim_start().starts_with("PID"), "{lines:?}");
        assert!(lines[4].trim_start().starts_with("10000001"), "{lines:?}");
        assert!(lines[0].contains("processes: 2 (2 running, 0 stopped)"));
    }
}
