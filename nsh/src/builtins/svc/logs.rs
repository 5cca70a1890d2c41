//! `svc logs [-f] NAME`: the captured output of every current replica of a
//! service (those with a process, running or last run), each line prefixed
//! with the replica's cluster PID (`PID: line`, SPEC §7); stdout lines go
//! to the shell's stdout and stderr lines to its stderr, so
//! `svc logs web 2>/dev/null` keeps only stdout.
//!
//! Without `-f`, replica after replica by index, stdout then stderr, each
//! read to its end with the `ReadOutput` RPC (every wait bounded).
//!
//! With `-f`, one task per replica and stream follows it (from its first
//! byte kept) and sends whole lines over one bounded channel to this
//! builtin's thread, the only writer: lines of different replicas never
//! mix, and a slow reader of the shell's stdout holds the followers back
//! rather than piling lines up. Every [`POLL_EVERY`] the service is asked
//! again (GetService), and a replica's new process (a restart, a move, a
//! scale-up) gets followers too. It runs until Ctrl-C (status 130), or
//! until the service is removed and its last output is written (status 0).

use proto::Gpid;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Parser;
use proto::v1::processes_client::ProcessesClient;
use proto::v1::{GetServiceRequest, OutputStream, ReadOutputRequest, ServiceInfo};
use tokio::sync::mpsc;
use tonic::Code;
use tonic::transport::Channel;

use crate::client::{CALL_TIMEOUT, Client};
use crate::shell::{Shell, Status};
use crate::signals;

#[derive(Parser, Debug)]
#[command(
    name = "svc logs",
    disable_help_flag = true,
    disable_version_flag = true
)]
struct Args {
    /// Follow the replicas, and their replacements, until Ctrl-C.
    #[arg(short = 'f', long = "follow")]
    follow: bool,
    /// The service.
    #[arg(value_name = "NAME")]
    name: String,
}

/// How often `-f` asks for the service's replicas.
const POLL_EVERY: Duration = Duration::from_millis(1500);
/// How often `-f` looks at Ctrl-C and finished polls.
const TICK: Duration = Duration::from_millis(200);
/// After this many polls in a row fail (other than "no such service"),
/// `-f` gives up.
const MAX_POLL_FAILURES: u32 = 5;
/// Lines (batches of whole lines) in flight from the followers.
const CHANNEL: usize = 64;

/// What a follower sends.
enum Event {
    /// Whole lines, prefixed, for fd 1 or 2.
    Output(i32, Vec<u8>),
    /// A follower failed (not for "process gone": that just ends it).
    Failed(String),
}

/// `svc logs`.
pub(super) fn logs(shell: &mut Shell, args: Vec<String>) -> Status {
    let args: Args = match super::parse(shell, "logs", args) {
        Ok(a) => a,
        Err(status) => return Ok(status),
    };
    let client = match shell.client_for("svc") {
        Ok(c) => c,
        Err(status) => return Ok(status),
    };
    let mut api = super::services(&client);
    let request = GetServiceRequest {
        name: args.name.clone(),
    };
    let info = match super::call(&client, api.get_service(request)) {
        Ok(info) => info,
        Err(e) => return Ok(super::report(shell, &args.name, &e)),
    };
    let status = if args.follow {
        client.block_on(follow(shell, &client, &args.name, info))
    } else {
        client.block_on(print_all(shell, &client, &args.name, &info))
    };
    Ok(status)
}

/// The replicas' PIDs, by index (those without a process left out).
fn pids(info: &ServiceInfo) -> Vec<Gpid> {
    let mut replicas: Vec<_> = info.replicas.iter().collect();
    replicas.sort_by_key(|r| r.index);
    replicas
        .iter()
        .filter_map(|r| Gpid::from_raw(r.pid.into()).ok())
        .collect()
}

/// Writes an event; `Err` when the shell's output is gone (`| head`).
fn deliver(shell: &Shell, name: &str, event: Event, failed: &mut bool) -> Result<(), ()> {
    match event {
        Event::Output(fd, bytes) => shell.fds.write(fd, &bytes).map_err(drop),
        Event::Failed(why) => {
            shell.error(format!("svc: {name}: {why}"));
            *failed = true;
            Ok(())
        }
    }
}

/// Without `-f`: every replica in turn, to the end of its output.
async fn print_all(shell: &Shell, client: &Client, name: &str, info: &ServiceInfo) -> i32 {
    let mut failed = false;
    for pid in pids(info) {
        for stream in [OutputStream::Stdout, OutputStream::Stderr] {
            let (tx, mut rx) = mpsc::channel(CHANNEL);
            tokio::spawn(pump(client.processes(), pid, stream, false, tx));
            while let Some(event) = rx.recv().await {
                if deliver(shell, name, event, &mut failed).is_err() {
                    return 1;
                }
            }
        }
    }
    i32::from(failed)
}

/// With `-f`: follows every replica and picks up new processes (see the
/// module doc).
async fn follow(shell: &Shell, client: &Client, name: &str, first: ServiceInfo) -> i32 {
    let (tx, mut rx) = mpsc::channel(CHANNEL);
    // Dropping the set aborts the followers still running.
    let mut followers = tokio::task::JoinSet::new();
    let mut followed: HashSet<Gpid> = HashSet::new();
    let mut start = |info: &ServiceInfo, followers: &mut tokio::task::JoinSet<()>| {
        for pid in pids(info) {
            if followed.insert(pid) {
                for stream in [OutputStream::Stdout, OutputStream::Stderr] {
                    followers.spawn(pump(client.processes(), pid, stream, true, tx.clone()));
                }
            }
        }
    };
    start(&first, &mut followers);
    let mut poll: Option<tokio::task::JoinHandle<Result<ServiceInfo, tonic::Status>>> = None;
    let mut last_poll = Instant::now();
    let mut poll_failures = 0;
    let mut gone = false;
    let mut failed = false;
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            Some(event) = rx.recv() => {
                if deliver(shell, name, event, &mut failed).is_err() {
                    return 1;
                }
            }
            _ = tick.tick() => {
                if signals::INTERRUPTED.load(Ordering::SeqCst) {
                    return 130;
                }
                while followers.try_join_next().is_some() {}
                if gone {
                    // Removed: done once every follower has ended and its
                    // lines are written.
                    if followers.is_empty() && rx.is_empty() {
                        return i32::from(failed);
                    }
                    continue;
                }
                if let Some(handle) = poll.take_if(|h| h.is_finished()) {
                    match handle.await {
                        Ok(Ok(info)) => {
                            poll_failures = 0;
                            start(&info, &mut followers);
                        }
                        Ok(Err(e)) if e.code() == Code::NotFound => gone = true,
                        Ok(Err(e)) => {
                            poll_failures += 1;
                            if poll_failures >= MAX_POLL_FAILURES {
                                super::report(shell, name, &e);
                                return 1;
                            }
                        }
                        // The poll task panicked or was aborted: ask again.
                        Err(_) => {}
                    }
                }
                if poll.is_none() && last_poll.elapsed() >= POLL_EVERY {
                    last_poll = Instant::now();
                    let mut api = super::services(client);
                    let request = GetServiceRequest { name: name.to_string() };
                    poll = Some(tokio::spawn(async move {
                        proto::call::within(CALL_TIMEOUT, api.get_service(request)).await
                    }));
                }
            }
        }
    }
}

/// Reads one stream of process `pid` from its first kept byte and sends
/// it as whole prefixed lines; with `follow`, waits for more until the
/// output is closed. Opening is bounded by [`CALL_TIMEOUT`], and so is
/// every wait without `follow`; a process that is gone ends it quietly.
async fn pump(
    mut api: ProcessesClient<Channel>,
    pid: Gpid,
    stream: OutputStream,
    follow: bool,
    tx: mpsc::Sender<Event>,
) {
    let fd = if stream == OutputStream::Stderr { 2 } else { 1 };
    let request = ReadOutputRequest {
        pid: pid.as_raw(),
        stream: stream as i32,
        offset: 0,
        follow,
    };
    let failed = |why: String| Event::Failed(format!("{pid}: {why}"));
    let timeout = failed(format!("no answer from the node within {CALL_TIMEOUT:?}"));
    let mut chunks = match tokio::time::timeout(CALL_TIMEOUT, api.read_output(request)).await {
        Ok(Ok(reply)) => reply.into_inner(),
        Ok(Err(e)) if e.code() == Code::NotFound => return,
        Ok(Err(e)) => {
            let _ = tx.send(failed(e.message().to_string())).await;
            return;
        }
        Err(_) => {
            let _ = tx.send(timeout).await;
            return;
        }
    };
    let mut lines = Lines::new(pid);
    loop {
        let next = if follow {
            // Waits as long as the process is quiet; HTTP/2 keepalive
            // notices a node that went away.
            chunks.message().await
        } else {
            match tokio::time::timeout(CALL_TIMEOUT, chunks.message()).await {
                Ok(next) => next,
                Err(_) => {
                    let _ = tx.send(timeout).await;
                    break;
                }
            }
        };
        match next {
            Ok(Some(chunk)) => {
                let out = lines.push(&chunk.data);
                if !out.is_empty() && tx.send(Event::Output(fd, out)).await.is_err() {
                    return;
                }
            }
            Ok(None) => break,
            Err(e) if e.code() == Code::NotFound => break,
            Err(e) => {
                let _ = tx.send(failed(e.message().to_string())).await;
                break;
            }
        }
    }
    let rest = lines.finish();
    if !rest.is_empty() {
        let _ = tx.send(Event::Output(fd, rest)).await;
    }
}

/// Cuts output into whole lines, each prefixed with `PID: `.
struct Lines {
    prefix: Vec<u8>,
    /// The start of a line whose end has not come yet.
    partial: Vec<u8>,
}

impl Lines {
    fn new(pid: Gpid) -> Lines {
        Lines {
            prefix: format!("{pid}: ").into_bytes(),
            partial: Vec::new(),
        }
    }

    /// The whole lines that `data` completes, prefixed.
    fn push(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = data;
        while let Some(end) = rest.iter().position(|b| *b == b'\n') {
            out.extend_from_slice(&self.prefix);
            out.append(&mut self.partial);
            out.extend_from_slice(&rest[..=end]);
            rest = &rest[end + 1..];
        }
        self.partial.extend_from_slice(rest);
        out
    }

    /// The last line if it had no newline, prefixed and ended with one.
    fn finish(&mut self) -> Vec<u8> {
        if self.partial.is_empty() {
            return Vec::new();
        }
        let mut out = self.prefix.clone();
        out.append(&mut self.partial);
        out.push(b'\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_whole_and_prefixed() {
        let mut lines = Lines::new(Gpid::from_raw(20000017).unwrap());
        assert_eq!(lines.push(b"hel"), b"");
        assert_eq!(
            lines.push(b"lo\nworld\nand"),
            b"20000017: hello\n20000017: world\n"
        );
        assert_eq!(lines.push(b" more"), b"");
        assert_eq!(lines.finish(), b"20000017: and more\n");
        assert_eq!(lines.finish(), b"");
        assert_eq!(lines.push(b"\n"), b"20000017: \n");
    }
}
