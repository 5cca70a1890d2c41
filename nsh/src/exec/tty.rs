//! A foreground command of the interactive shell, with a terminal on both
//! ends, gets a remote terminal (SPEC §3: `@n2 vim` works): the local
//! terminal goes raw, keys (Ctrl-C and Ctrl-Z included) go to the remote
//! terminal, the window size follows SIGWINCH. `terminal::run_foreground`
//! does the relaying; this module decides when it applies and turns its
//! outcome into a status or a stopped job that `fg` resumes.

use proto::Gpid;
use std::os::fd::AsFd;

use proto::v1::{SpawnRequest, StdinMode};

use crate::client::runtime;
use crate::io::Fd;
use crate::jobs::{self, ExitCell, Job, JobState, Member};
use crate::remote;
use crate::shell::{Flow, Shell, Status};
use crate::terminal::{
    self, Foreground, Offsets, Outcome, RawMode, SignalRelay, Start, TerminalError,
};

use super::simple::{External, Place};

/// The signal relay of a terminal command, made before the command is
/// spawned or resumed: until the terminal is raw, Ctrl-Z is a SIGTSTP to
/// nsh rather than a key the remote terminal sees; the relay catches it
/// from now on and stops the process for it once attached, as the key
/// would have.
pub(crate) fn suspend_relay() -> Result<SignalRelay, TerminalError> {
    let _guard = runtime().enter();
    SignalRelay::new(&[nix::sys::signal::Signal::SIGTSTP])
}

impl Shell {
    /// Whether `external` runs with a remote terminal: the interactive
    /// shell's foreground, a cluster command, stdin and stdout terminals.
    pub(crate) fn wants_terminal(&self, external: &External) -> bool {
        self.interactive
            && self.tracker.is_foreground()
            && external.place == Place::Cluster
            && self.fds.get(0).is_some_and(Fd::is_terminal)
            && self.fds.get(1).is_some_and(Fd::is_terminal)
    }

    /// Spawns `external` with a remote terminal and runs it in the
    /// foreground.
    pub(crate) fn run_with_terminal(&mut self, external: &External) -> Status {
        let argv0 = external.launch.argv[0].clone();
        let client = match self.client_for(&argv0) {
            Ok(c) => c,
            Err(status) => return Ok(status),
        };
        let (Some(stdin), Some(stdout)) = (self.fds.get(0).cloned(), self.fds.get(1).cloned())
        else {
            return Ok(1);
        };
        let request = SpawnRequest {
            argv: external.launch.argv.clone(),
            env: external.launch.env.iter().cloned().collect(),
            cwd: external.launch.cwd.clone(),
            node: external.launch.node.clone(),
            tty: terminal::window_size(stdout.file.as_fd()),
            stdin: StdinMode::Pipe as i32,
            output_backpressure: true,
            umask: Some(crate::io::umask()),
            ..SpawnRequest::default()
        };
        let relay = suspend_relay();
        let (pid, _) = match client.spawn(request) {
            Ok(spawned) => spawned,
            Err(e) => {
                let (message, status) = remote::spawn_failure(&external.launch.node, &argv0, &e);
                self.error(message);
                return Ok(status);
            }
        };
        self.tracker.pipeline_started(Some(pid.as_raw()));
        // Until the terminal is raw, Ctrl-C is a signal to nsh, which the
        // handler forwards to the foreground processes: this one is, now.
        self.tracker.started(pid);
        if crate::signals::INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
            let _ = client.signal(pid, libc::SIGINT);
        }
        let status = self.foreground_terminal(
            pid,
            &external.text,
            (Start::Beginning, false),
            relay,
            &stdin,
            &stdout,
        );
        self.tracker.ended(pid);
        status
    }

    /// Relays a process with a remote terminal until it ends or stops; a
    /// stop makes (or keeps) it a stopped job. `relay` catches Ctrl-Z's
    /// SIGTSTP from before the terminal goes raw (see [`suspend_relay`]).
    pub(crate) fn foreground_terminal(
        &mut self,
        pid: Gpid,
        text: &str,
        (start, resume): (Start, bool),
        relay: Result<SignalRelay, TerminalError>,
        stdin: &Fd,
        stdout: &Fd,
    ) -> Status {
        let client = match self.client_for(text) {
            Ok(c) => c,
            Err(status) => return Ok(status),
        };
        let Ok(gpid) = proto::Gpid::from_raw(i64::from(pid)) else {
            return Ok(1);
        };
        let dup = |fd: &Fd| fd.dup();
        let (Ok(input), Ok(output), Ok(errors), Ok(tty)) =
            (dup(stdin), dup(stdout), dup(stdout), dup(stdin))
        else {
            self.error("cannot duplicate the terminal");
            return Ok(1);
        };
        let outcome = {
            let _guard = runtime().enter();
            let raw = RawMode::enable(stdin.file.as_fd());
            match (raw, relay) {
                (Ok(raw), Ok(mut relay)) => {
                    let foreground = Foreground {
                        pid: gpid,
                        stdin: Some(input),
                        stdout: output,
                        stderr: errors,
                        terminal: Some(tty),
                        start,
                        resume,
                    };
                    let outcome = runtime().block_on(terminal::run_foreground(
                        client.channel(),
                        foreground,
                        &mut relay,
                    ));
                    drop(raw);
                    outcome.map_err(|e| e.to_string())
                }
                (Err(e), _) => Err(e.to_string()),
                (_, Err(e)) => Err(e.to_string()),
            }
        };
        match outcome {
            Ok(Outcome::Stopped(offsets)) => {
                self.stopped_terminal_job(pid, text, offsets);
                Err(Flow::Interrupted(proto::signal_status(libc::SIGTSTP)))
            }
            Ok(outcome) => {
                if let Outcome::Lost(why) = &outcome {
                    self.error(format!("{pid}: {why}"));
                }
                let status = outcome.status();
                self.set_job_done(pid, status);
                Ok(status)
            }
            Err(e) => {
                self.error(format!("{text}: {e}"));
                Ok(1)
            }
        }
    }

    /// Records (or updates) the stopped job of a terminal process; a
    /// thread learns its end for `jobs` and `wait` while it is not in the
    /// foreground.
    fn stopped_terminal_job(&mut self, pid: Gpid, text: &str, offsets: Offsets) {
        let Ok(mut table) = self.jobs.lock() else {
            return;
        };
        let id = match table.by_pid(pid.as_raw()) {
            Some(id) => id,
            None => {
                let exit = ExitCell::default();
                if let Ok(client) = self.client() {
                    let client = client.clone();
                    let cell = exit.clone();
                    std::thread::spawn(move || cell.set(remote::wait_exit(&client, pid)));
                }
                table.add(Job {
                    inherited: false,
                    id: 0,
                    text: text.to_string(),
                    leader: pid.as_raw(),
                    members: vec![Member {
                        pid: Some(pid),
                        exit,
                        input_done: None,
                    }],
                    background: None,
                    state: JobState::Stopped,
                    pipefail: false,
                    terminal: None,
                })
            }
        };
        let line = table
            .get_mut(id)
            .map(|job| {
                job.state = JobState::Stopped;
                job.terminal = Some(offsets);
                jobs::format_job(job, true, 0)
            })
            .unwrap_or_default();
        drop(table);
        let _ = self.fds.write(2, format!("\n{line}\n").as_bytes());
    }

    /// A terminal job ended in the foreground: its table entry goes.
    fn set_job_done(&mut self, pid: Gpid, status: i32) {
        if let Ok(mut table) = self.jobs.lock()
            && let Some(id) = table.by_pid(pid.as_raw())
        {
            if let Some(job) = table.get_mut(id) {
                for member in &job.members {
                    member.exit.set(status);
                }
            }
            table.jobs.retain(|j| j.id != id);
        }
    }
}
