//! Job control builtins over cluster processes: `jobs`, `fg`, `bg`,
//! `wait`, `kill`. They take cluster PIDs and `%N` job specs alike.

use nix::sys::signal::Signal;
use proto::Gpid;

use crate::jobs::{self, JOB_PID_BASE, JobState, WaitOutcome};
use crate::shell::{Flow, Shell, Status};
use crate::signals;

/// A `kill`/`wait` target, resolved.
enum Target {
    Job(usize),
    Pid(i32),
}

fn resolve(shell: &Shell, name: &str, spec: &str) -> Result<Target, String> {
    if spec.starts_with('%') {
        let table = shell
            .jobs
            .lock()
            .map_err(|_| "job table poisoned".to_string())?;
        return table
            .resolve(spec)
            .map(Target::Job)
            .ok_or_else(|| format!("{name}: {spec}: no such job"));
    }
    let pid: i32 = spec
        .parse()
        .map_err(|_| format!("{name}: {spec}: arguments must be process or job IDs"))?;
    let table = shell
        .jobs
        .lock()
        .map_err(|_| "job table poisoned".to_string())?;
    if let Some(id) = table.by_pid(pid)
        && ((JOB_PID_BASE..JOB_PID_BASE + 1_000_000).contains(&pid)
            || table.jobs.iter().any(|j| j.id == id && j.leader == pid))
    {
        return Ok(Target::Job(id));
    }
    Ok(Target::Pid(pid))
}

pub fn jobs(shell: &mut Shell, args: Vec<String>) -> Status {
    let long = args.iter().any(|a| a == "-l");
    let pids_only = args.iter().any(|a| a == "-p");
    let Ok(mut table) = shell.jobs.lock() else {
        return Ok(1);
    };
    for job in &mut table.jobs {
        job.refresh();
    }
    let current = table.current();
    let mut out = String::new();
    for job in &table.jobs {
        if pids_only {
            out.push_str(&format!("{}\n", job.leader));
            continue;
        }
        let status = match job.state {
            JobState::Done(s) => s,
            _ => 0,
        };
        let mut line = jobs::format_job(job, current == Some(job.id), status);
        if long {
            let pids: Vec<String> = job.pids().iter().map(Gpid::to_string).collect();
            let pids = if pids.is_empty() {
                job.leader.to_string()
            } else {
                pids.join(",")
            };
            line = line.replacen("  ", &format!("  {pids} "), 1);
        }
        if job.state == JobState::Running {
            line.push_str(" &");
        }
        out.push_str(&line);
        out.push('\n');
    }
    table.jobs.retain(|j| !matches!(j.state, JobState::Done(_)));
    drop(table);
    let _ = shell.out(&out);
    Ok(0)
}

/// Sends `sig` to every cluster process of a job.
fn signal_job(shell: &Shell, id: usize, sig: i32) -> Result<(), String> {
    let pids = {
        let table = shell
            .jobs
            .lock()
            .map_err(|_| "job table poisoned".to_string())?;
        let job = table.jobs.iter().find(|j| j.id == id);
        // The job's own shell states (a function, `( )`, `{ }` run by
        // nsh's threads) end as a forked subshell would; without job
        // control such a subshell ignores SIGINT and SIGQUIT (bash).
        let ignored = !shell.interactive && (sig == libc::SIGINT || sig == libc::SIGQUIT);
        if let Some(background) = job.and_then(|j| j.background.as_ref())
            && !ignored
        {
            background.signalled(sig);
        }
        job.map(|j| j.pids()).unwrap_or_default()
    };
    let client = shell.client().map_err(|e| e.to_string())?;
    for pid in pids {
        let _ = client.signal(pid, sig);
    }
    Ok(())
}

fn job_arg(shell: &Shell, name: &str, args: &[String]) -> Result<usize, String> {
    let table = shell
        .jobs
        .lock()
        .map_err(|_| "job table poisoned".to_string())?;
    match args.first() {
        None => table
            .current()
            .ok_or_else(|| format!("{name}: current: no such job")),
        Some(spec) => {
            let spec = if spec.starts_with('%') {
                spec.clone()
            } else {
                format!("%{spec}")
            };
            table
                .resolve(&spec)
                .ok_or_else(|| format!("{name}: {spec}: no such job"))
        }
    }
}

pub fn fg(shell: &mut Shell, args: Vec<String>) -> Status {
    let id = match job_arg(shell, "fg", &args) {
        Ok(id) => id,
        Err(e) => {
            shell.error(e);
            return Ok(1);
        }
    };
    let (members, text, pids, terminal, leader) = {
        let Ok(mut table) = shell.jobs.lock() else {
            return Ok(1);
        };
        let Some(job) = table.get_mut(id) else {
            return Ok(1);
        };
        job.state = JobState::Running;
        (
            job.members.clone(),
            job.text.clone(),
            job.pids(),
            job.terminal,
            job.leader,
        )
    };
    let _ = shell.out(&format!("{text}\n"));
    // A process with a remote terminal goes back on it.
    if let Some(offsets) = terminal
        && let Ok(leader) = Gpid::from_raw(leader.into())
        && let (Some(stdin), Some(stdout)) = (shell.fds.get(0).cloned(), shell.fds.get(1).cloned())
        && stdin.is_terminal()
        && stdout.is_terminal()
    {
        return shell.foreground_terminal(
            leader,
            &text,
            (crate::terminal::Start::After(offsets), true),
            crate::exec::tty::suspend_relay(),
            &stdin,
            &stdout,
        );
    }
    if let Err(e) = signal_job(shell, id, Signal::SIGCONT as i32) {
        shell.error(format!("fg: {e}"));
    }
    for pid in &pids {
        signals::foreground_add(*pid);
    }
    let outcome = jobs::wait_members(&members, true, false);
    if outcome == WaitOutcome::Suspended {
        shell.stop_members(&members);
    }
    for pid in &pids {
        signals::foreground_remove(*pid);
    }
    let Ok(mut table) = shell.jobs.lock() else {
        return Ok(1);
    };
    match outcome {
        WaitOutcome::Suspended => {
            let line = table
                .get_mut(id)
                .map(|job| {
                    job.state = JobState::Stopped;
                    jobs::format_job(job, true, 0)
                })
                .unwrap_or_default();
            drop(table);
            let _ = shell.fds.write(2, format!("\n{line}\n").as_bytes());
            Err(Flow::Interrupted(148))
        }
        _ => Ok(table.forget(id).unwrap_or(0)),
    }
}

pub fn bg(shell: &mut Shell, args: Vec<String>) -> Status {
    let id = match job_arg(shell, "bg", &args) {
        Ok(id) => id,
        Err(e) => {
            shell.error(e);
            return Ok(1);
        }
    };
    if let Err(e) = signal_job(shell, id, Signal::SIGCONT as i32) {
        shell.error(format!("bg: {e}"));
        return Ok(1);
    }
    let line = {
        let Ok(mut table) = shell.jobs.lock() else {
            return Ok(1);
        };
        let current = table.current();
        match table.get_mut(id) {
            Some(job) => {
                job.state = JobState::Running;
                let mark = if current == Some(id) { '+' } else { '-' };
                format!("[{id}]{mark} {} &\n", job.text)
            }
            None => String::new(),
        }
    };
    let _ = shell.out(&line);
    Ok(0)
}

pub fn wait(shell: &mut Shell, args: Vec<String>) -> Status {
    // `-n` (the next job to end), `-f` (nsh always waits for the end),
    // `-p VAR` (which job `-n` waited for).
    let mut next = false;
    let mut var = None;
    let mut rest = Vec::new();
    let mut words = args.into_iter();
    while let Some(arg) = words.next() {
        let Some(letters) = arg
            .strip_prefix('-')
            .filter(|l| rest.is_empty() && !l.is_empty() && l.chars().all(|c| "nfp".contains(c)))
        else {
            rest.push(arg);
            continue;
        };
        next |= letters.contains('n');
        if letters.contains('p') {
            match words.next() {
                Some(name) => var = Some(name),
                None => {
                    shell.error("wait: -p: option requires an argument");
                    return super::usage(shell, "wait");
                }
            }
        }
    }
    let args = rest;
    if next {
        return wait_next(shell, &args, var.as_deref());
    }
    if args.is_empty() {
        let members: Vec<_> = match shell.jobs.lock() {
            Ok(table) => table
                .jobs
                .iter()
                .filter(|j| !j.inherited)
                .flat_map(|j| j.members.clone())
                .collect(),
            Err(_) => return Ok(1),
        };
        // And the last process substitution, as bash's `wait` waits for it.
        let procsubs: Vec<_> = shell
            .procsubs
            .lock()
            .map(|running| running.last().cloned())
            .unwrap_or_default()
            .into_iter()
            .map(|exit| jobs::Member {
                pid: None,
                exit,
                input_done: None,
            })
            .collect();
        let members: Vec<_> = members.into_iter().chain(procsubs).collect();
        if jobs::wait_members(&members, false, true) == WaitOutcome::Interrupted {
            return Ok(130);
        }
        if let Ok(mut table) = shell.jobs.lock() {
            table.jobs.retain(|j| j.state == JobState::Stopped);
        }
        return Ok(0);
    }
    let mut status = 0;
    for arg in &args {
        match resolve(shell, "wait", arg) {
            Ok(Target::Job(id)) => {
                let members = match shell.jobs.lock() {
                    Ok(table) => table
                        .jobs
                        .iter()
                        .find(|j| j.id == id)
                        .map(|j| j.members.clone())
                        .unwrap_or_default(),
                    Err(_) => return Ok(1),
                };
                if jobs::wait_members(&members, false, true) == WaitOutcome::Interrupted {
                    return Ok(130);
                }
                if let Ok(mut table) = shell.jobs.lock() {
                    status = table.forget(id).unwrap_or(127);
                }
            }
            Ok(Target::Pid(pid)) => {
                // Any cluster process can be waited for, not only children.
                let client = match shell.client() {
                    Ok(c) => c.clone(),
                    Err(e) => {
                        shell.error(format!("wait: {e}"));
                        return Ok(127);
                    }
                };
                match Gpid::from_raw(pid.into()).map(|g| (g, client.get(g))) {
                    Ok((pid, Ok(_))) => status = crate::remote::wait_exit(&client, pid),
                    // Its node is down or cannot be reached: say so.
                    Ok((pid, Err(e)))
                        if !matches!(&e, crate::client::ClientError::Status { code, .. }
                            if *code == tonic::Code::NotFound) =>
                    {
                        shell.error(format!("wait: {pid}: {e}"));
                        status = 127;
                    }
                    _ => {
                        shell.error(format!("wait: pid {pid} is not a child of this shell"));
                        status = 127;
                    }
                }
            }
            Err(e) => {
                shell.error(e);
                status = 127;
            }
        }
    }
    Ok(status)
}

/// `wait -n [-p VAR] [ID...]`: waits for the first of the jobs (those
/// named, or all) to end, and gives its status (VAR: its `$!`, or the ID
/// as named), forgetting the job. As bash in a script: a job that ended
/// before the call and was not waited for counts (the first such), and
/// with no job left the status is 127.
fn wait_next(shell: &mut Shell, ids: &[String], var: Option<&str>) -> Status {
    let mut named = Vec::new();
    for spec in ids {
        match resolve(shell, "wait", spec) {
            Ok(Target::Job(id)) => named.push((id, spec.clone())),
            // Not a job of this shell: bash ignores it here.
            Ok(Target::Pid(_)) => {}
            Err(e) => shell.error(e),
        }
    }
    let running: Vec<(usize, String, Vec<jobs::Member>)> = match shell.jobs.lock() {
        Ok(table) => table
            .jobs
            .iter()
            .filter(|j| j.state != JobState::Stopped && !j.inherited)
            .filter_map(|j| {
                let name = match ids.is_empty() {
                    true => j.leader.to_string(),
                    false => named.iter().find(|(id, _)| *id == j.id)?.1.clone(),
                };
                Some((j.id, name, j.members.clone()))
            })
            .collect(),
        Err(_) => return Ok(1),
    };
    if let Some(name) = var {
        let _ = shell.vars.unset(name);
    }
    if running.is_empty() {
        return Ok(127);
    }
    let (id, name) = loop {
        if let Some((id, name, _)) = running
            .iter()
            .find(|(_, _, members)| members.iter().all(|m| m.exit.get().is_some()))
        {
            break (*id, name.clone());
        }
        if signals::INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(130);
        }
        // Woken by the first unfinished member's end, else in a moment.
        if let Some(member) = running
            .iter()
            .flat_map(|(_, _, members)| members)
            .find(|m| m.exit.get().is_none())
        {
            member
                .exit
                .wait_timeout(std::time::Duration::from_millis(20));
        }
    };
    let status = match shell.jobs.lock() {
        Ok(mut table) => table.forget(id).unwrap_or(127),
        Err(_) => return Ok(1),
    };
    if let Some(var) = var
        && let Err(e) = shell.vars.set(var, name)
    {
        shell.error(format!("wait: {e}"));
    }
    Ok(status)
}

/// A signal by name (`TERM`, `SIGTERM`, `term`) or number.
pub fn parse_signal(spec: &str) -> Option<i32> {
    if let Ok(n) = spec.parse::<i32>() {
        return (n == 0 || Signal::try_from(n).is_ok()).then_some(n);
    }
    let upper = spec.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    full.parse::<Signal>().ok().map(|s| s as i32)
}

fn list_signals(shell: &Shell, args: &[String]) -> Status {
    if !args.is_empty() {
        // Each argument translated: a number to its name (0 is EXIT, an
        // exit status above 128 the signal that caused it), a name to its
        // number; a bad one is reported and makes the status 1.
        let mut out = String::new();
        let mut status = 0;
        for arg in args {
            let answer = match arg.parse::<i32>() {
                Ok(0) => Some("EXIT".to_string()),
                Ok(n) => {
                    let n = if n > 128 { n - 128 } else { n };
                    Signal::try_from(n)
                        .ok()
                        .map(|sig| sig.as_str().trim_start_matches("SIG").to_string())
                }
                Err(_) => parse_signal(arg).map(|n| n.to_string()),
            };
            match answer {
                Some(text) => {
                    out.push_str(&text);
                    out.push('\n');
                }
                None => {
                    shell.error(format!("kill: {arg}: invalid signal specification"));
                    status = 1;
                }
            }
        }
        let _ = shell.out(&out);
        return Ok(status);
    }
    // bash's table: the standard signals, then the real-time ones as
    // SIGRTMIN+N and SIGRTMAX-N, five to a line.
    let realtime = (libc::SIGRTMIN()..=libc::SIGRTMAX()).map(|n| {
        let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        let name = match n {
            n if n == min => "SIGRTMIN".to_string(),
            n if n == max => "SIGRTMAX".to_string(),
            n if n - min <= 15 => format!("SIGRTMIN+{}", n - min),
            n => format!("SIGRTMAX-{}", max - n),
        };
        (n, name)
    });
    let signals = Signal::iterator()
        .map(|sig| (sig as i32, sig.as_str().to_string()))
        .chain(realtime);
    let mut out = String::new();
    for (i, (number, name)) in signals.enumerate() {
        out.push_str(&format!("{number:>2}) {name}"));
        out.push(if i % 5 == 4 { '\n' } else { '\t' });
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    let _ = shell.out(&out);
    Ok(0)
}

pub fn kill(shell: &mut Shell, args: Vec<String>) -> Status {
    let mut signal = Signal::SIGTERM as i32;
    let mut rest: &[String] = &args;
    match rest.first().map(String::as_str) {
        None => return super::usage(shell, "kill"),
        Some("-l" | "-L") => return list_signals(shell, &rest[1..]),
        Some("-s" | "-n") => {
            let Some(spec) = rest.get(1) else {
                return super::usage(shell, "kill");
            };
            match parse_signal(spec) {
                Some(n) => signal = n,
                None => {
                    shell.error(format!("kill: {spec}: invalid signal specification"));
                    return Ok(1);
                }
            }
            rest = &rest[2..];
        }
        Some("--") => rest = &rest[1..],
        Some(flag) if flag.starts_with('-') && flag.len() > 1 => {
            match parse_signal(&flag[1..]) {
                Some(n) => signal = n,
                None => {
                    shell.error(format!(
                        "kill: {}: invalid signal specification",
                        &flag[1..]
                    ));
                    return Ok(1);
                }
            }
            rest = &rest[1..];
        }
        Some(_) => {}
    }
    if rest.is_empty() {
        return super::usage(shell, "kill");
    }
    let mut status = 0;
    for spec in rest {
        match resolve(shell, "kill", spec) {
            Ok(Target::Job(id)) => {
                if let Err(e) = signal_job(shell, id, signal) {
                    shell.error(format!("kill: {e}"));
                    status = 1;
                } else if signal == Signal::SIGCONT as i32
                    && let Ok(mut table) = shell.jobs.lock()
                    && let Some(job) = table.get_mut(id)
                    && job.state == JobState::Stopped
                {
                    job.state = JobState::Running;
                }
            }
            Ok(Target::Pid(pid)) if (1..=signals::MAX_LOCAL_PID).contains(&pid) => {
                // A process of this machine (`kill $$`).
                if let Err(e) = signals::kill_local(nix::unistd::Pid::from_raw(pid), signal) {
                    shell.error(format!("kill: ({pid}) - {}", e.desc()));
                    status = 1;
                }
            }
            Ok(Target::Pid(pid)) => {
                let result = shell.client().map_err(|e| e.to_string()).and_then(|c| {
                    let Ok(cluster) = Gpid::from_raw(pid.into()) else {
                        return Err("No such process".to_string());
                    };
                    c.signal(cluster, signal).map_err(|e| {
                        if e.is_not_found() {
                            "No such process".to_string()
                        } else {
                            e.to_string()
                        }
                    })
                });
                if let Err(why) = result {
                    shell.error(format!("kill: ({pid}) - {why}"));
                    status = 1;
                }
            }
            Err(e) => {
                shell.error(e);
                status = 1;
            }
        }
    }
    Ok(status)
}
