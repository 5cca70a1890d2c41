//! Wire-to-domain conversion in one place: requests into domain specs,
//! processes into `ProcessInfo`.

use proto::Gpid;
use proto::v1::{ProcessInfo, ProcessState, SpawnRequest, StdinMode};
use tonic::Status;

use crate::error::ProcError;
use crate::process::{Process, Snapshot, Status as ProcStatus};
use crate::records::Outcome;
use crate::supervisor::SpawnSpec;

/// Parses a PID from the wire. A number that is not a cluster PID names no
/// process, so it is NotFound, like kill(2)'s ESRCH.
pub fn gpid(raw: i32) -> Result<Gpid, Status> {
    Gpid::from_raw(i64::from(raw)).map_err(|_| ProcError::NotClusterPid(i64::from(raw)).into())
}

/// A malformed request (InvalidArgument).
fn invalid(why: String) -> Status {
    ProcError::InvalidArgument(why).into()
}

/// A SpawnRequest (already routed here) as a domain spec.
pub fn spawn_spec(req: SpawnRequest) -> Result<SpawnSpec, Status> {
    let ppid = match req.parent_pid {
        0 => None,
        raw => Some(
            gpid(raw)
                .map_err(|_| invalid(format!("invalid parent_pid {raw}: not a cluster pid")))?,
        ),
    };
    let stdin_pipe = StdinMode::try_from(req.stdin)
        .map_err(|_| invalid(format!("invalid stdin mode {}", req.stdin)))?
        == StdinMode::Pipe;
    Ok(SpawnSpec {
        argv: req.argv,
        env: req.env.into_iter().collect(),
        cwd: req.cwd,
        name: req.name,
        tty: req.tty.map(|t| (t.rows, t.cols)),
        stdin_pipe,
        ppid,
        output_backpressure: req.output_backpressure,
        user: String::new(),
        // The API checks and fills it in (it needs the caller).
        inherit: None,
        umask: match req.umask {
            Some(mask) if mask > 0o777 => {
                return Err(invalid(format!(
                    "umask {mask:o} is not a mode mask (0 to 0777)"
                )));
            }
            mask => mask,
        },
        rlimits: rlimits(&req.limits)?,
        stderr_to_stdout: req.stderr_to_stdout,
        stdout_null: req.stdout_null,
        stderr_null: req.stderr_null,
    })
}

/// Checks a request's resource limits: known resources, each once, soft
/// not above hard.
fn rlimits(limits: &[proto::v1::ResourceLimit]) -> Result<Vec<proto::keeper::Rlimit>, Status> {
    let mut out: Vec<proto::keeper::Rlimit> = Vec::new();
    for l in limits {
        let Some(resource) = proto::rlimit::resource(&l.resource) else {
            let known: Vec<&str> = proto::rlimit::RESOURCES.iter().map(|(n, _)| *n).collect();
            return Err(invalid(format!(
                "unknown resource limit {:?} (one of {})",
                l.resource,
                known.join(", ")
            )));
        };
        if let (Some(soft), Some(hard)) = (l.soft, l.hard)
            && soft > hard
        {
            return Err(invalid(format!(
                "{}: the soft limit {soft} is above the hard limit {hard}",
                l.resource
            )));
        }
        let resource = resource as i32;
        if out.iter().any(|r| r.resource == resource) {
            return Err(invalid(format!("{}: given twice", l.resource)));
        }
        out.push(proto::keeper::Rlimit {
            resource,
            soft: l.soft,
            hard: l.hard,
        });
    }
    Ok(out)
}

fn wire_state(status: &ProcStatus, stopped: bool) -> ProcessState {
    match status {
        ProcStatus::Running if stopped => ProcessState::Stopped,
        ProcStatus::Running => ProcessState::Running,
        ProcStatus::Finished(exit) => match exit.outcome {
            Outcome::Exited { .. } => ProcessState::Exited,
            Outcome::Killed { .. } => ProcessState::Killed,
            Outcome::Lost { .. } => ProcessState::Lost,
        },
    }
}

/// Describes a process.
pub fn process_info(process: &Process, node: &str, with_env: bool) -> ProcessInfo {
    info_of(process, node, with_env, process.snapshot())
}

/// A process's description without its live host figures (a brief List):
/// no read of the host's /proc, so a stopped process shows as running.
pub fn brief_process_info(process: &Process, node: &str) -> ProcessInfo {
    let snap = Snapshot {
        status: process.status(),
        host: None,
    };
    info_of(process, node, false, snap)
}

fn info_of(process: &Process, node: &str, with_env: bool, snap: Snapshot) -> ProcessInfo {
    let r = &process.record;
    let mut info = ProcessInfo {
        pid: process.gpid.as_raw(),
        ppid: r.ppid.map_or(0, Gpid::as_raw),
        node: node.to_string(),
        host_pid: r.host_pid,
        argv: r.argv.clone(),
        cwd: r.cwd.clone(),
        name: r.name.clone(),
        state: wire_state(&snap.status, snap.stopped()) as i32,
        start_time_ms: r.start_time_ms,
        tty: r.tty,
        stdin_pipe: r.stdin_pipe,
        uid: r.uid,
        gid: r.gid,
        user: process.owner().to_string(),
        exe: r.exe.clone(),
        stdout_bytes: process.stdout.pos().end,
        stderr_bytes: process.stderr.pos().end,
        output_backpressure: r.output_backpressure,
        stdout_inherited: r.stdout_inherited,
        stderr_inherited: r.stderr_inherited,
        env: if with_env { r.env.clone() } else { Vec::new() },
        ..ProcessInfo::default()
    };
    match &snap.status {
        ProcStatus::Running => {
            if let Some(host) = &snap.host {
                info.cpu_time_ms = host.cpu_time_ms;
                info.rss_bytes = host.rss_bytes;
                info.threads = host.threads;
                info.host_state = host.state.to_string();
            }
        }
        ProcStatus::Finished(exit) => {
            info.end_time_ms = exit.end_time_ms;
            info.cpu_time_ms = exit.cpu_time_ms;
            info.rss_bytes = exit.rss_bytes;
            match &exit.outcome {
                Outcome::Exited { code } => info.exit_code = Some(*code),
                Outcome::Killed {
                    signal,
                    core_dumped,
                } => {
                    info.signal = Some(*signal);
                    info.core_dumped = *core_dumped;
                }
                Outcome::Lost { reason } => info.lost_reason = reason.clone(),
            }
        }
    }
    info
}
