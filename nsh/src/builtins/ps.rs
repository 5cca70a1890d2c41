//! `ps [-e] [--all] [-n NODE] [-o COLS] [--json]`: the cluster's processes,
//! from the `List` RPC (every node, or one with `-n`), as procps-style
//! aligned columns or as JSON. Also the column and table formatting that
//! `top` shares.
//!
//! Which processes: without `-e`, those that are or may still be alive
//! (running, stopped, and lost ones, whose node is down); with `-e` (or
//! `-A`), also zombies, as Linux has them: ended processes whose cluster
//! parent lives and has not waited for them (nsh waits for its jobs as
//! bash does, so theirs leave at once); with `--all`, every ended process
//! whose exit record the cluster still keeps.
//!
//! STAT is one procps letter: the host's own (`R`, `S`, `D`, ...) while the
//! process runs, `T` when stopped, `Z` once it has ended (exited or
//! killed), `X` when lost.
//!
//! In JSON every object has the chosen columns as keys, with raw values:
//! numbers for `pid`, `ppid`, `hostpid`, `time` (CPU milliseconds), `rss`
//! (bytes) and `start` (milliseconds since the epoch), strings for the
//! rest.
//!
//! Nodes that could not be asked are reported on stderr as
//! `nsh: ps: NODE: unreachable (WHY)` and make the status 1; the others are
//! still listed.

use proto::now_ms;
use std::collections::HashMap;

use clap::Parser;
use proto::v1::{ListRequest, ProcessInfo, ProcessState};

use crate::shell::{Shell, Status};

#[derive(Parser, Debug)]
#[command(name = "ps", disable_help_flag = true, disable_version_flag = true)]
struct Args {
    /// Every process, zombies included.
    #[arg(short = 'e', short_alias = 'A')]
    every: bool,
    /// Also every ended process whose exit record is kept.
    #[arg(long)]
    all: bool,
    /// Only the processes of this node.
    #[arg(short = 'n', long = "node", value_name = "NODE")]
    node: Option<String>,
    /// Columns, comma- or space-separated; may be repeated.
    #[arg(short = 'o', value_name = "COLS")]
    columns: Vec<String>,
    /// A JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

/// A column of `ps -o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    Pid,
    Ppid,
    Node,
    HostPid,
    User,
    Stat,
    Time,
    Rss,
    Start,
    Name,
    Cmd,
}

/// The columns without `-o`.
const DEFAULT_COLUMNS: &[Column] = &[
    Column::Pid,
    Column::Node,
    Column::Stat,
    Column::Time,
    Column::Cmd,
];

const COLUMN_NAMES: &str = "pid, ppid, node, hostpid, user, stat, time, rss, start, name, cmd";

impl Column {
    /// A column by its `-o` name (procps aliases accepted).
    pub(crate) fn parse(name: &str) -> Option<Column> {
        Some(match name.to_ascii_lowercase().as_str() {
            "pid" => Column::Pid,
            "ppid" => Column::Ppid,
            "node" => Column::Node,
            "hostpid" | "host_pid" => Column::HostPid,
            "user" | "uid" => Column::User,
            "stat" | "state" | "s" => Column::Stat,
            "time" | "cputime" => Column::Time,
            "rss" | "rssize" => Column::Rss,
            "start" | "stime" | "start_time" => Column::Start,
            "name" => Column::Name,
            "cmd" | "args" | "command" => Column::Cmd,
            _ => return None,
        })
    }

    /// Its JSON key.
    fn key(self) -> &'static str {
        match self {
            Column::Pid => "pid",
            Column::Ppid => "ppid",
            Column::Node => "node",
            Column::HostPid => "hostpid",
            Column::User => "user",
            Column::Stat => "stat",
            Column::Time => "time",
            Column::Rss => "rss",
            Column::Start => "start",
            Column::Name => "name",
            Column::Cmd => "cmd",
        }
    }

    /// Its header.
    pub(crate) fn header(self) -> &'static str {
        match self {
            Column::Pid => "PID",
            Column::Ppid => "PPID",
            Column::Node => "NODE",
            Column::HostPid => "HOSTPID",
            Column::User => "USER",
            Column::Stat => "STAT",
            Column::Time => "TIME",
            Column::Rss => "RSS",
            Column::Start => "START",
            Column::Name => "NAME",
            Column::Cmd => "CMD",
        }
    }

    /// Numbers are right-aligned, as procps does.
    pub(crate) fn right(self) -> bool {
        matches!(
            self,
            Column::Pid | Column::Ppid | Column::HostPid | Column::Time | Column::Rss
        )
    }

    /// The text of this column for one process.
    pub(crate) fn cell(self, info: &ProcessInfo, users: &mut Users, now_ms: u64) -> String {
        match self {
            Column::Pid => info.pid.to_string(),
            Column::Ppid => info.ppid.to_string(),
            Column::Node => info.node.clone(),
            Column::HostPid => info.host_pid.to_string(),
            Column::User => users.of(info),
            Column::Stat => stat(info).to_string(),
            Column::Time => cpu_time(info.cpu_time_ms),
            Column::Rss => (info.rss_bytes / 1024).to_string(),
            Column::Start => start_time(info.start_time_ms, now_ms),
            Column::Name => {
                if info.name.is_empty() {
                    "-".to_string()
                } else {
                    info.name.clone()
                }
            }
            Column::Cmd => {
                let cmd = command(info);
                if ended(info) {
                    format!("{cmd} <defunct>")
                } else {
                    cmd
                }
            }
        }
    }

    /// The JSON value of this column for one process.
    fn json(self, info: &ProcessInfo, users: &mut Users) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Column::Pid => Value::from(info.pid),
            Column::Ppid => Value::from(info.ppid),
            Column::Node => Value::from(info.node.clone()),
            Column::HostPid => Value::from(info.host_pid),
            Column::User => Value::from(users.of(info)),
            Column::Stat => Value::from(stat(info)),
            Column::Time => Value::from(info.cpu_time_ms),
            Column::Rss => Value::from(info.rss_bytes),
            Column::Start => Value::from(info.start_time_ms),
            Column::Name => Value::from(info.name.clone()),
            Column::Cmd => Value::from(command(info)),
        }
    }
}

/// Parses `-o` values: names separated by commas or spaces.
fn parse_columns(values: &[String]) -> Result<Vec<Column>, String> {
    let mut columns = Vec::new();
    for name in values
        .iter()
        .flat_map(|v| v.split([',', ' ']))
        .filter(|n| !n.is_empty())
    {
        match Column::parse(name) {
            Some(c) => columns.push(c),
            None => {
                return Err(format!(
                    "unknown column '{name}' (choose among {COLUMN_NAMES})"
                ));
            }
        }
    }
    if columns.is_empty() {
        return Err(format!("-o needs columns among {COLUMN_NAMES}"));
    }
    Ok(columns)
}

/// User names by uid, looked up once each on this machine (the uid is the
/// process's on its node; nodes are expected to share their users).
#[derive(Default)]
pub(crate) struct Users(HashMap<u32, String>);

impl Users {
    /// The user a process belongs to: the name the cluster recorded (the
    /// same on every node), else its uid's name on this machine.
    pub(crate) fn of(&mut self, info: &ProcessInfo) -> String {
        if info.user.is_empty() {
            self.name(info.uid)
        } else {
            info.user.clone()
        }
    }

    pub(crate) fn name(&mut self, uid: u32) -> String {
        self.0
            .entry(uid)
            .or_insert_with(|| {
                nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                    .ok()
                    .flatten()
                    .map(|u| u.name)
                    .unwrap_or_else(|| uid.to_string())
            })
            .clone()
    }
}

fn state(info: &ProcessInfo) -> ProcessState {
    ProcessState::try_from(info.state).unwrap_or(ProcessState::Unspecified)
}

/// Whether the process has ended (its record is still kept).
fn ended(info: &ProcessInfo) -> bool {
    matches!(state(info), ProcessState::Exited | ProcessState::Killed)
}

/// The procps STAT letter (see the module doc).
pub(crate) fn stat(info: &ProcessInfo) -> &str {
    match state(info) {
        ProcessState::Running if !info.host_state.is_empty() => &info.host_state,
        ProcessState::Running => "R",
        ProcessState::Stopped => "T",
        ProcessState::Exited | ProcessState::Killed => "Z",
        ProcessState::Lost => "X",
        ProcessState::Unspecified => "?",
    }
}

/// The command line: argv joined by spaces, or `[name]` without one.
pub(crate) fn command(info: &ProcessInfo) -> String {
    if info.argv.is_empty() {
        format!("[{}]", info.name)
    } else {
        info.argv.join(" ")
    }
}

/// CPU time as procps `ps` shows it: `[DD-]HH:MM:SS`.
pub(crate) fn cpu_time(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, hours, minutes, seconds) =
        (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if days > 0 {
        format!("{days}-{hours:02}:{minutes:02}:{seconds:02}")
    } else {
        format!("{hours:02}:{minutes:02}:{seconds:02}")
    }
}

/// Local calendar fields of a time in ms since the epoch: (year, month
/// 0-11, day, hour, minute, second).
pub(crate) fn local_time(ms: u64) -> (i32, usize, i32, i32, i32, i32) {
    let secs = (ms / 1000) as libc::time_t;
    // SAFETY: localtime_r only writes the `tm` we own; a zeroed `tm` is a
    // valid value of this plain C struct.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    };
    (
        tm.tm_year + 1900,
        tm.tm_mon.clamp(0, 11) as usize,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
    )
}

/// Start time as procps shows START: `HH:MM` within the last day,
/// `MonDD` within the year, else the year.
pub(crate) fn start_time(ms: u64, now_ms: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    if ms == 0 {
        return "-".to_string();
    }
    let (year, month, day, hour, minute, _) = local_time(ms);
    if now_ms.saturating_sub(ms) < 24 * 3600 * 1000 {
        format!("{hour:02}:{minute:02}")
    } else if local_time(now_ms).0 == year {
        format!("{}{day:02}", MONTHS[month])
    } else {
        year.to_string()
    }
}

pub(crate) use show::table;

/// The `ps` builtin.
pub fn ps(shell: &mut Shell, args: Vec<String>) -> Status {
    let args: Args = match super::parse(shell, "ps", args) {
        Ok(a) => a,
        Err(status) => return Ok(status),
    };
    let columns = if args.columns.is_empty() {
        DEFAULT_COLUMNS.to_vec()
    } else {
        match parse_columns(&args.columns) {
            Ok(c) => c,
            Err(e) => {
                shell.error(format!("ps: {e}"));
                return Ok(2);
            }
        }
    };
    let client = match shell.client_for("ps") {
        Ok(c) => c,
        Err(status) => return Ok(status),
    };
    let states = if args.every || args.all {
        Vec::new()
    } else {
        vec![
            ProcessState::Running as i32,
            ProcessState::Stopped as i32,
            ProcessState::Lost as i32,
        ]
    };
    let request = ListRequest {
        node: args.node.clone().unwrap_or_default(),
        states,
        brief: false,
        ended: args.all,
    };
    let mut api = client.processes();
    let reply = match client.call(api.list(request)) {
        Ok(r) => r,
        Err(e) => {
            shell.error(format!("ps: {e}"));
            return Ok(1);
        }
    };
    let mut users = Users::default();
    let text = if args.json {
        let array: Vec<serde_json::Value> = reply
            .processes
            .iter()
            .map(|info| {
                let object: serde_json::Map<String, serde_json::Value> = columns
                    .iter()
                    .map(|c| (c.key().to_string(), c.json(info, &mut users)))
                    .collect();
                serde_json::Value::Object(object)
            })
            .collect();
        format!("{}\n", serde_json::Value::Array(array))
    } else {
        let now = now_ms();
        let headers: Vec<(&str, bool)> = columns.iter().map(|c| (c.header(), c.right())).collect();
        let rows: Vec<Vec<String>> = reply
            .processes
            .iter()
            .map(|info| {
                columns
                    .iter()
                    .map(|c| c.cell(info, &mut users, now))
                    .collect()
            })
            .collect();
        table(&headers, &rows)
    };
    let mut status = 0;
    if let Err(e) = shell.out(&text) {
        shell.error(format!("ps: write error: {e}"));
        status = 1;
    }
    for node in &reply.unreachable {
        shell.error(format!("ps: {}: unreachable ({})", node.node, node.error));
        status = 1;
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_procps_like() {
        assert_eq!(cpu_time(0), "00:00:00");
        assert_eq!(cpu_time(61_500), "00:01:01");
        assert_eq!(cpu_time(3_600_000 * 25 + 1000), "1-01:00:01");
    }

    #[test]
    fn table_aligns_numbers_right_and_leaves_the_last_column_unpadded() {
        let headers = [("PID", true), ("NODE", false), ("CMD", false)];
        let rows = vec![
            vec![
                "10000001".to_string(),
                "n1".to_string(),
                "sleep 1".to_string(),
            ],
            vec!["7".to_string(), "node-2".to_string(), "x".to_string()],
        ];
        assert_eq!(
            table(&headers, &rows),
            "     PID NODE   CMD\n10000001 n1     sleep 1\n       7 node-2 x\n"
        );
    }

    #[test]
    fn stat_letters() {
        let mut info = ProcessInfo {
            state: ProcessState::Running as i32,
            ..ProcessInfo::default()
        };
        assert_eq!(stat(&info), "R");
        info.host_state = "S".into();
        assert_eq!(stat(&info), "S");
        info.host_state.clear();
        info.state = ProcessState::Stopped as i32;
        assert_eq!(stat(&info), "T");
        info.state = ProcessState::Killed as i32;
        assert_eq!(stat(&info), "Z");
        info.state = ProcessState::Lost as i32;
        assert_eq!(stat(&info), "X");
    }

    #[test]
    fn columns_parse_with_commas_and_spaces() {
        let cols = parse_columns(&["pid,node".into(), "cmd user".into()]).expect("valid");
        assert_eq!(
            cols,
            vec![Column::Pid, Column::Node, Column::Cmd, Column::User]
        );
        assert!(parse_columns(&["pid,bogus".into()]).is_err());
    }
}
