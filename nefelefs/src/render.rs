//! The contents of generated files, in the layouts Linux uses for /proc so
//! that programs written for /proc parse them: `status` (tab-separated
//! `Key:\tvalue` lines), `stat` (52 fields, comm in parentheses), NUL-ended
//! `cmdline` and `environ`, the node files, and the service files (`spec`
//! as `key: value` lines, `replicas` as the table `svc ls NAME` prints).
//! Pure functions over API types; fs.rs calls them.

use std::fmt::Write;

use proto::v1::{NodeInfo, NodeState, ProcessInfo, ProcessState, ServiceInfo};

/// Clock ticks per second in /proc (USER_HZ).
pub const TICKS_PER_SEC: u64 = 100;

fn state(info: &ProcessInfo) -> ProcessState {
    ProcessState::try_from(info.state).unwrap_or(ProcessState::Unspecified)
}

/// The State letter and word, as Linux prints them.
pub fn state_letter(info: &ProcessInfo) -> (char, &'static str) {
    let letter = match state(info) {
        ProcessState::Exited | ProcessState::Killed => 'Z',
        ProcessState::Lost => 'X',
        ProcessState::Stopped => 'T',
        _ => info.host_state.chars().next().unwrap_or('R'),
    };
    let word = match letter {
        'R' => "running",
        'S' => "sleeping",
        'D' => "disk sleep",
        'T' => "stopped",
        't' => "tracing stop",
        'Z' => "zombie",
        'X' => "dead",
        'I' => "idle",
        'P' => "parked",
        _ => "unknown",
    };
    (letter, word)
}

/// The command name: the executable's base name, at most 15 bytes, as the
/// kernel keeps it.
pub fn comm(info: &ProcessInfo) -> String {
    let path = if info.exe.is_empty() {
        info.argv.first().map(String::as_str).unwrap_or("")
    } else {
        &info.exe
    };
    let base = path.rsplit('/').next().unwrap_or(path);
    let mut end = base.len().min(15);
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    base[..end].to_string()
}

/// `/proc/<pid>/status`.
pub fn status(info: &ProcessInfo) -> String {
    let (letter, word) = state_letter(info);
    let mut s = String::new();
    let _ = writeln!(s, "Name:\t{}", comm(info));
    let _ = writeln!(s, "Umask:\t0022");
    let _ = writeln!(s, "State:\t{letter} ({word})");
    let _ = writeln!(s, "Tgid:\t{}", info.pid);
    let _ = writeln!(s, "Ngid:\t0");
    let _ = writeln!(s, "Pid:\t{}", info.pid);
    let _ = writeln!(s, "PPid:\t{}", info.ppid);
    let _ = writeln!(s, "TracerPid:\t0");
    let _ = writeln!(s, "Uid:\t{0}\t{0}\t{0}\t{0}", info.uid);
    let _ = writeln!(s, "Gid:\t{0}\t{0}\t{0}\t{0}", info.gid);
    let _ = writeln!(s, "FDSize:\t64");
    let _ = writeln!(s, "Groups:\t");
    let _ = writeln!(s, "VmRSS:\t{:>8} kB", info.rss_bytes / 1024);
    let _ = writeln!(
        s,
        "Threads:\t{}",
        info.threads.max(u32::from(letter != 'Z' && letter != 'X'))
    );
    let _ = writeln!(s, "Node:\t{}", info.node);
    let _ = writeln!(s, "HostPid:\t{}", info.host_pid);
    // Streams that went to the spawning client's own descriptors: the
    // `stdout`/`stderr` files are empty for them, and this says why.
    for (inherited, name) in [
        (info.stdout_inherited, "Stdout"),
        (info.stderr_inherited, "Stderr"),
    ] {
        if inherited {
            let _ = writeln!(s, "{name}:\tthe spawning shell's own (not captured)");
        }
    }
    if let Some(code) = info.shell_status() {
        let _ = writeln!(s, "ExitCode:\t{code}");
    }
    s
}

/// `/proc/<pid>/stat`: one line of 52 fields. `boot_time_ms` is the boot
/// time the start time counts from (field 22, in ticks after boot).
pub fn stat(info: &ProcessInfo, boot_time_ms: u64) -> String {
    let (letter, _) = state_letter(info);
    let ticks = |ms: u64| ms * TICKS_PER_SEC / 1000;
    let start = ticks(info.start_time_ms.saturating_sub(boot_time_ms));
    let page = 4096;
    // Field 52: the exit status as waitpid reports it.
    let wait_status = match (info.exit_code, info.signal) {
        (Some(code), _) => (code & 0xff) << 8,
        (None, Some(sig)) => sig & 0x7f,
        _ => 0,
    };
    let fields: [String; 50] = [
        letter.to_string(),
        info.ppid.to_string(),
        info.pid.to_string(), // pgrp: each process leads its group
        info.pid.to_string(), // session
        "0".into(),           // tty_nr
        "-1".into(),          // tpgid
        "4194560".into(),     // flags
        "0".into(),
        "0".into(),
        "0".into(),
        "0".into(),                          // minflt cminflt majflt cmajflt
        ticks(info.cpu_time_ms).to_string(), // utime
        "0".into(),                          // stime
        "0".into(),
        "0".into(),  // cutime cstime
        "20".into(), // priority
        "0".into(),  // nice
        info.threads.max(1).to_string(),
        "0".into(), // itrealvalue
        start.to_string(),
        "0".into(), // vsize
        (info.rss_bytes / page).to_string(),
        "18446744073709551615".into(), // rsslim
        "0".into(),
        "0".into(),
        "0".into(),
        "0".into(),
        "0".into(), // startcode endcode startstack kstkesp kstkeip
        "0".into(),
        "0".into(),
        "0".into(),
        "0".into(), // signal blocked sigignore sigcatch
        "0".into(),
        "0".into(),
        "0".into(),  // wchan nswap cnswap
        "17".into(), // exit_signal
        "0".into(),
        "0".into(),
        "0".into(),
        "0".into(), // processor rt_priority policy delayacct
        "0".into(),
        "0".into(), // guest_time cguest_time
        "0".into(),
        "0".into(),
        "0".into(),
        "0".into(),
        "0".into(),
        "0".into(),
        "0".into(), // start_data .. env_end
        wait_status.to_string(),
    ];
    format!("{} ({}) {}\n", info.pid, comm(info), fields.join(" "))
}

/// `/proc/<pid>/statm`: sizes in pages (only the resident size is known).
pub fn statm(info: &ProcessInfo) -> String {
    format!("0 {} 0 0 0 0 0\n", info.rss_bytes / 4096)
}

/// The global `stat`: the mount host's CPU lines and counters, with
/// `btime` set to the cluster's boot time.
pub fn global_stat(host: &str, btime_secs: u64) -> String {
    host.lines()
        .map(|l| {
            if l.starts_with("btime ") {
                format!("btime {btime_secs}")
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect()
}

/// The global `meminfo`: the nodes' memory, summed.
pub fn global_meminfo(nodes: &[NodeInfo]) -> String {
    let (total, avail) = nodes
        .iter()
        .filter_map(|n| n.load)
        .fold((0, 0), |(t, a), l| {
            (
                t + l.mem_total_bytes / 1024,
                a + l.mem_available_bytes / 1024,
            )
        });
    let mut s = String::new();
    for (key, kb) in [
        ("MemTotal", total),
        ("MemFree", avail),
        ("MemAvailable", avail),
        ("Buffers", 0),
        ("Cached", 0),
        ("SwapCached", 0),
        ("SwapTotal", 0),
        ("SwapFree", 0),
        ("Shmem", 0),
        ("SReclaimable", 0),
    ] {
        let _ = writeln!(s, "{:<16}{kb:>8} kB", format!("{key}:"));
    }
    s
}

/// The global `loadavg`: the nodes' load, summed; running and total
/// cluster processes.
pub fn global_loadavg(nodes: &[NodeInfo], running: usize, total: usize) -> String {
    let sum = |f: fn(&proto::v1::NodeLoad) -> f64| {
        nodes
            .iter()
            .filter_map(|n| n.load.as_ref())
            .map(f)
            .sum::<f64>()
    };
    format!(
        "{:.2} {:.2} {:.2} {running}/{total} 0\n",
        sum(|l| l.load1),
        sum(|l| l.load5),
        sum(|l| l.load15)
    )
}

/// Strings each followed by a NUL, as Linux's cmdline and environ.
pub fn nul_separated(items: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        out.extend_from_slice(item.as_bytes());
        out.push(0);
    }
    out
}

/// `/nefele/proc/<pid>/exit`: `exited N`, `killed N`, `lost`, or empty.
pub fn exit(info: &ProcessInfo) -> String {
    match (state(info), info.exit_code, info.signal) {
        (ProcessState::Exited, Some(code), _) => format!("exited {code}\n"),
        (ProcessState::Killed, _, Some(sig)) => format!("killed {sig}\n"),
        (ProcessState::Lost, _, _) => "lost\n".to_string(),
        _ => String::new(),
    }
}

/// `/nefele/nodes/<name>/status`.
pub fn node_status(node: &NodeInfo, now_ms: u64) -> String {
    let state = match NodeState::try_from(node.state) {
        Ok(NodeState::Up) => "up",
        Ok(NodeState::Down) => "down",
        Ok(NodeState::Left) => "left",
        _ => "unknown",
    };
    let mut labels: Vec<String> = node
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    labels.sort();
    let uptime = if node.started_at_ms > 0 {
        now_ms.saturating_sub(node.started_at_ms) / 1000
    } else {
        0
    };
    format!(
        "Name:\t{}\nState:\t{state}\nSlot:\t{}\nAddress:\t{}\nLabels:\t{}\nUptime:\t{uptime}\nProcesses:\t{}\n",
        node.name,
        node.slot,
        node.address,
        labels.join(" "),
        // A node that is down counts what it last published (shown lost).
        match state {
            "up" => node.process_count,
            _ => node.published_processes,
        }
    )
}

/// `/nefele/nodes/<name>/loadavg`, as Linux's /proc/loadavg.
pub fn node_loadavg(node: &NodeInfo) -> String {
    let l = node.load.unwrap_or_default();
    format!(
        "{:.2} {:.2} {:.2} {}/{} 0\n",
        l.load1, l.load5, l.load15, node.process_count, node.process_count
    )
}

/// `/nefele/nodes/<name>/meminfo`, the lines of Linux's /proc/meminfo that
/// a node reports.
pub fn node_meminfo(node: &NodeInfo) -> String {
    let l = node.load.unwrap_or_default();
    format!(
        "MemTotal:       {:>8} kB\nMemAvailable:   {:>8} kB\n",
        l.mem_total_bytes / 1024,
        l.mem_available_bytes / 1024
    )
}

/// A word as a shell reads it back: bare when it is made of safe
/// characters only, else in single quotes (`'\''` for a quote), or in
/// `$'...'` when it holds control characters, so that it stays on one line.
pub fn shell_word(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        return word.to_string();
    }
    if !word.chars().any(char::is_control) {
        return format!("'{}'", word.replace('\'', r"'\''"));
    }
    let mut out = String::from("$'");
    for c in word.chars() {
        match c {
            '\n' => out.push_str(r"\n"),
            '\t' => out.push_str(r"\t"),
            '\r' => out.push_str(r"\r"),
            '\\' => out.push_str(r"\\"),
            '\'' => out.push_str(r"\'"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A value on one line: backslashes and line breaks escaped (`\\`, `\n`,
/// `\r`).
fn one_line(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('\n', r"\n")
        .replace('\r', r"\r")
}

/// `/nefele/svc/<name>/spec`: `key: value` lines in a fixed order (`name`,
/// `command` as shell words, `replicas`, `restart`, `cwd`), then one
/// `constraints: KEY=VALUE` line per constraint and one `env: K=V` line per
/// variable, each sorted; values on one line (newlines escaped).
pub fn service_spec(info: &ServiceInfo) -> String {
    let spec = info.spec.clone().unwrap_or_default();
    let command: Vec<String> = spec.argv.iter().map(|w| shell_word(w)).collect();
    let mut out = format!(
        "name: {}\ncommand: {}\nreplicas: {}\nrestart: {}\ncwd: {}\n",
        spec.name,
        command.join(" "),
        spec.replicas,
        show::restart_word(spec.restart),
        one_line(&spec.cwd),
    );
    for (key, map) in [("constraints", &spec.constraints), ("env", &spec.env)] {
        let mut pairs: Vec<(&String, &String)> = map.iter().collect();
        pairs.sort();
        for (k, v) in pairs {
            let _ = writeln!(out, "{key}: {}={}", one_line(k), one_line(v));
        }
    }
    out
}

/// `/nefele/svc/<name>/replicas`: the table `svc ls NAME` prints, a header
/// and one line per replica by index (`INDEX STATE NODE PID RESTARTS AGE
/// NEXT EXIT ERROR`, `-` where there is nothing to show).
pub fn service_replicas(info: &ServiceInfo, now_ms: u64) -> String {
    show::replica_table(info, now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::v1::{ReplicaInfo, ReplicaState, RestartPolicy};

    fn sleeper() -> ProcessInfo {
        ProcessInfo {
            pid: 20_000_017,
            ppid: 10_000_001,
            node: "n2".into(),
            host_pid: 4242,
            argv: vec!["sleep".into(), "1000".into()],
            exe: "/usr/bin/sleep".into(),
            state: ProcessState::Running as i32,
            host_state: "S".into(),
            start_time_ms: 1_000_000 + 12_340,
            cpu_time_ms: 1_230,
            rss_bytes: 8192 * 1024,
            threads: 1,
            ..ProcessInfo::default()
        }
    }

    #[test]
    fn status_has_the_linux_lines_and_nefele_extras() {
        let s = status(&sleeper());
        assert!(s.starts_with("Name:\tsleep\n"));
        assert!(s.contains("\nState:\tS (sleeping)\n"));
        assert!(s.contains("\nPid:\t20000017\n"));
        assert!(s.contains("\nPPid:\t10000001\n"));
        assert!(s.contains("\nVmRSS:\t    8192 kB\n"));
        assert!(s.contains("\nNode:\tn2\n"));
        assert!(s.contains("\nHostPid:\t4242\n"));
        assert!(!s.contains("ExitCode"));
        let done = ProcessInfo {
            state: ProcessState::Exited as i32,
            exit_code: Some(3),
            ..sleeper()
        };
        assert!(status(&done).contains("\nState:\tZ (zombie)\n"));
        assert!(status(&done).contains("\nExitCode:\t3\n"));
    }

    #[test]
    fn stat_has_52_fields_with_the_comm_in_parentheses() {
        let mut info = sleeper();
        info.exe = "/opt/a (b) c".into();
        let line = stat(&info, 1_000_000);
        assert!(line.ends_with('\n'));
        let (head, rest) = line.trim_end().rsplit_once(") ").expect("comm closes");
        assert_eq!(head, "20000017 (a (b) c");
        let fields: Vec<&str> = rest.split(' ').collect();
        assert_eq!(fields.len() + 2, 52);
        assert_eq!(fields[0], "S");
        assert_eq!(fields[1], "10000001");
        assert_eq!(fields[13 - 2], "123", "utime in ticks");
        assert_eq!(fields[22 - 3], "1234", "starttime in ticks after boot");
        assert_eq!(fields[24 - 3], "2048", "rss in pages");
        let killed = ProcessInfo {
            state: ProcessState::Killed as i32,
            signal: Some(9),
            ..sleeper()
        };
        assert!(stat(&killed, 0).trim_end().ends_with(" 9"));
    }

    #[test]
    fn cmdline_and_exit_follow_linux_and_spec() {
        assert_eq!(nul_separated(&["a".into(), "b c".into()]), b"a\0b c\0");
        assert_eq!(exit(&sleeper()), "");
        let done = ProcessInfo {
            state: ProcessState::Exited as i32,
            exit_code: Some(3),
            ..sleeper()
        };
        assert_eq!(exit(&done), "exited 3\n");
        let killed = ProcessInfo {
            state: ProcessState::Killed as i32,
            signal: Some(9),
            ..sleeper()
        };
        assert_eq!(exit(&killed), "killed 9\n");
    }

    #[test]
    fn comm_is_cut_to_15_bytes() {
        let info = ProcessInfo {
            exe: "/x/abcdefghijklmnopqrstuvwxyz".into(),
            ..ProcessInfo::default()
        };
        assert_eq!(comm(&info), "abcdefghijklmno");
    }

    fn web() -> ServiceInfo {
        ServiceInfo {
            spec: Some(proto::v1::ServiceSpec {
                name: "web".into(),
                argv: vec!["sh".into(), "-c".into(), "echo it's\nme".into()],
                env: [("PATH".into(), "/bin".into()), ("A".into(), "x y".into())]
                    .into_iter()
                    .collect(),
                cwd: "/srv".into(),
                replicas: 2,
                restart: RestartPolicy::OnFailure as i32,
                constraints: [("zone".into(), "eu".into())].into_iter().collect(),
            }),
            replicas: vec![
                ReplicaInfo {
                    index: 1,
                    state: ReplicaState::CrashLoop as i32,
                    restarts: 12,
                    next_start_ms: 64_000,
                    last_status: Some(127),
                    error: "x: not found".into(),
                    ..ReplicaInfo::default()
                },
                ReplicaInfo {
                    index: 0,
                    state: ReplicaState::Running as i32,
                    node: "n1".into(),
                    pid: 10_000_001,
                    started_ms: 1_000,
                    ..ReplicaInfo::default()
                },
            ],
            created_ms: 1,
        }
    }

    #[test]
    fn service_spec_is_key_value_lines() {
        assert_eq!(
            service_spec(&web()),
            "name: web\ncommand: sh -c $'echo it\\'s\\nme'\nreplicas: 2\nrestart: on-failure\n\
             cwd: /srv\nconstraints: zone=eu\nenv: A=x y\nenv: PATH=/bin\n"
        );
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("/usr/bin/env"), "/usr/bin/env");
    }

    #[test]
    fn service_replicas_is_the_svc_ls_table() {
        assert_eq!(
            service_replicas(&web(), 61_000),
            "INDEX STATE      NODE      PID RESTARTS AGE NEXT EXIT ERROR\n\
             \x20   0 running    n1   10000001        0 60s    -    - -\n\
             \x20   1 crash-loop -           -       12   -   3s  127 x: not found\n"
        );
    }
}
