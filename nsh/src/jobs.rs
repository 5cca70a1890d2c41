//! Job control over cluster processes: what a running command is made of,
//! the job table behind `jobs`, `fg`, `bg`, `wait` and `%N`, and waiting
//! with Ctrl-C and Ctrl-Z honoured.
//!
//! Everything that runs concurrently (a cluster process, a local child, an
//! in-shell pipeline element on its own thread) reports its end through an
//! [`ExitCell`], so a job is just a list of them.

use nix::sys::signal::Signal;
use proto::Gpid;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::signals;

/// Where something running will put its exit status.
#[derive(Clone, Default, Debug)]
pub struct ExitCell(Arc<(Mutex<Option<i32>>, Condvar)>);

impl ExitCell {
    pub fn set(&self, status: i32) {
        let (lock, cond) = &*self.0;
        if let Ok(mut slot) = lock.lock()
            && slot.is_none()
        {
            *slot = Some(status);
            cond.notify_all();
        }
    }

    pub fn get(&self) -> Option<i32> {
        self.0.0.lock().ok().and_then(|s| *s)
    }

    /// Waits at most `timeout` for the status.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<i32> {
        let (lock, cond) = &*self.0;
        let guard = lock.lock().ok()?;
        let (guard, _) = cond
            .wait_timeout_while(guard, timeout, |s| s.is_none())
            .ok()?;
        *guard
    }
}

/// One running part of a job.
#[derive(Clone, Debug)]
pub struct Member {
    /// The cluster PID, for a cluster process.
    pub pid: Option<Gpid>,
    pub exit: ExitCell,
    /// Set when the thread pumping input to it has stopped reading, so the
    /// shell does not read its terminal while that thread still might.
    pub input_done: Option<ExitCell>,
}

impl Member {
    /// A part that has already ended with `status` (it never started).
    pub fn ended(status: i32) -> Member {
        let exit = ExitCell::default();
        exit.set(status);
        Member {
            pid: None,
            exit,
            input_done: None,
        }
    }
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// Every member ended; the statuses in member order.
    Done,
    /// Ctrl-Z stopped the foreground processes.
    Suspended,
    /// Ctrl-C ended an interruptible wait (the `wait` builtin).
    Interrupted,
}

/// Waits for every member; in the foreground, Ctrl-Z ends the wait early
/// with the processes stopped (Ctrl-C was already forwarded to them by the
/// signal handler, so the wait goes on until they die of it).
pub fn wait_members(members: &[Member], foreground: bool, interruptible: bool) -> WaitOutcome {
    for member in members {
        loop {
            if member
                .exit
                .wait_timeout(Duration::from_millis(50))
                .is_some()
            {
                if let Some(input) = &member.input_done {
                    // The pump notices the exit within one poll interval.
                    input.wait_timeout(Duration::from_secs(1));
                }
                break;
            }
            if foreground && signals::SUSPENDED.swap(false, Ordering::SeqCst) {
                return WaitOutcome::Suspended;
            }
            if interruptible && signals::INTERRUPTED.load(Ordering::SeqCst) {
                return WaitOutcome::Interrupted;
            }
            // SIGTERM or SIGHUP to a script with an EXIT trap: it ends now,
            // as bash does, leaving the command running.
            if signals::fatal_pending().is_some() {
                return WaitOutcome::Interrupted;
            }
        }
    }
    WaitOutcome::Done
}

/// Records processes a background job starts, so `kill %N` reaches all of
/// them, and its leader for `$!`.
#[derive(Clone, Debug, Default)]
pub struct JobTracker {
    background: Option<Arc<BackgroundPids>>,
}

#[derive(Debug, Default)]
pub struct BackgroundPids {
    pids: Mutex<Vec<Gpid>>,
    /// The job's first pipeline started: `Some(pid)` of its last process
    /// when that is a cluster process.
    leader: Mutex<Option<Option<i32>>>,
    leader_set: Condvar,
    /// A signal sent to the job (`kill %N`, `kill $!`) whose default
    /// action ends it: its shell states end at their next command, as a
    /// forked subshell would die of it (0: none).
    killed_by: AtomicI32,
}

impl JobTracker {
    pub fn foreground() -> Self {
        JobTracker { background: None }
    }

    pub fn background() -> (Self, Arc<BackgroundPids>) {
        let pids = Arc::new(BackgroundPids::default());
        (
            JobTracker {
                background: Some(pids.clone()),
            },
            pids,
        )
    }

    pub fn is_foreground(&self) -> bool {
        self.background.is_none()
    }

    /// The signal that ended this background job, if one did.
    pub fn killed_by(&self) -> Option<Signal> {
        let sig = self.background.as_ref()?.killed_by.load(Ordering::SeqCst);
        Signal::try_from(sig).ok()
    }

    /// A cluster process was started by this shell state.
    pub fn started(&self, pid: Gpid) {
        match &self.background {
            None => signals::foreground_add(pid),
            Some(bg) => {
                if let Ok(mut pids) = bg.pids.lock() {
                    pids.push(pid);
                }
            }
        }
    }

    /// A cluster process ended.
    pub fn ended(&self, pid: Gpid) {
        if self.background.is_none() {
            signals::foreground_remove(pid);
        }
    }

    /// A pipeline has started all its parts; the first one to report in a
    /// background job names `$!`.
    pub fn pipeline_started(&self, last_pid: Option<i32>) {
        if let Some(bg) = &self.background
            && let Ok(mut leader) = bg.leader.lock()
            && leader.is_none()
        {
            *leader = Some(last_pid);
            bg.leader_set.notify_all();
        }
    }
}

impl BackgroundPids {
    /// Signal `sig` was sent to the job: one whose default action ends a
    /// process ends the job's shell states (see [`JobTracker::killed_by`]).
    pub fn signalled(&self, sig: i32) {
        let fatal = Signal::try_from(sig)
            .ok()
            .and_then(|s| signals::terminates_by_default(&s.as_str()[3..]));
        if let Some(sig) = fatal {
            let _ =
                self.killed_by
                    .compare_exchange(0, sig as i32, Ordering::SeqCst, Ordering::SeqCst);
        }
    }

    pub fn pids(&self) -> Vec<Gpid> {
        self.pids.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// Waits until the job's first pipeline started (or `done` is set).
    pub fn wait_leader(&self, done: &ExitCell, timeout: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Ok(leader) = self.leader.lock() {
                if let Some(l) = *leader {
                    return l;
                }
                let _ = self
                    .leader_set
                    .wait_timeout(leader, Duration::from_millis(20));
            }
            if done.get().is_some() || std::time::Instant::now() >= deadline {
                return self.leader.lock().ok().and_then(|l| l.flatten());
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Running,
    Stopped,
    Done(i32),
}

/// One job of the table.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: usize,
    /// A job of the parent shell, seen from a subshell (`$(jobs -p)`):
    /// listed and signalled, not waited for (it is not the subshell's).
    pub inherited: bool,
    pub text: String,
    /// `$!` for it: the last cluster process of its first pipeline, or a
    /// job PID (see [`JOB_PID_BASE`]) when that part runs inside nsh.
    pub leader: i32,
    pub members: Vec<Member>,
    /// Every cluster process it started (for `kill %N`).
    pub background: Option<Arc<BackgroundPids>>,
    pub state: JobState,
    /// Whether the pipeline ends with `pipefail` semantics.
    pub pipefail: bool,
    /// For a process with a remote terminal: how much output the terminal
    /// has shown, so `fg` resumes right after it.
    pub terminal: Option<crate::terminal::Offsets>,
}

/// Job PIDs (`$!` of a job whose first part runs inside nsh) live between
/// the kernel's PID range and cluster PIDs, so they never name a process.
pub const JOB_PID_BASE: i32 = 5_000_000;

impl Job {
    /// Every cluster PID of the job.
    pub fn pids(&self) -> Vec<Gpid> {
        let mut pids: Vec<Gpid> = self.members.iter().filter_map(|m| m.pid).collect();
        if let Some(bg) = &self.background {
            pids.extend(bg.pids());
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// The job's status once every member ended.
    pub fn status(&self) -> Option<i32> {
        let statuses: Option<Vec<i32>> = self.members.iter().map(|m| m.exit.get()).collect();
        let statuses = statuses?;
        Some(pipeline_status(&statuses, self.pipefail))
    }

    pub fn refresh(&mut self) {
        if let Some(status) = self.status() {
            self.state = JobState::Done(status);
        }
    }
}

/// The status of a pipeline from its members' statuses.
pub fn pipeline_status(statuses: &[i32], pipefail: bool) -> i32 {
    if pipefail {
        statuses
            .iter()
            .rev()
            .copied()
            .find(|s| *s != 0)
            .unwrap_or(0)
    } else {
        statuses.last().copied().unwrap_or(0)
    }
}

/// The jobs of one shell.
#[derive(Debug, Default)]
pub struct JobTable {
    pub jobs: Vec<Job>,
    next_id: usize,
}

impl JobTable {
    /// The table a subshell starts with: the parent's jobs, inherited
    /// (bash lists them in `$(jobs)` and `jobs | ...`).
    pub fn inherited(&self) -> JobTable {
        JobTable {
            jobs: self
                .jobs
                .iter()
                .map(|j| Job {
                    inherited: true,
                    ..j.clone()
                })
                .collect(),
            next_id: self.next_id,
        }
    }

    /// Forgets job `id` (waited for); its status if it ended.
    pub fn forget(&mut self, id: usize) -> Option<i32> {
        let status = self.jobs.iter().find(|j| j.id == id).and_then(Job::status);
        self.jobs.retain(|j| j.id != id);
        status
    }

    /// Adds a job and returns its number.
    pub fn add(&mut self, mut job: Job) -> usize {
        self.next_id = self.jobs.iter().map(|j| j.id).max().unwrap_or(0) + 1;
        job.id = self.next_id;
        self.jobs.push(job);
        self.next_id
    }

    pub fn get_mut(&mut self, id: usize) -> Option<&mut Job> {
        self.jobs.iter_mut().find(|j| j.id == id)
    }

    /// The current job (`%+`, `%%`, `fg` without argument): the newest.
    pub fn current(&self) -> Option<usize> {
        self.jobs
            .iter()
            .rev()
            .find(|j| j.state == JobState::Stopped)
            .or(self.jobs.last())
            .map(|j| j.id)
    }

    /// The previous job (`%-`).
    pub fn previous(&self) -> Option<usize> {
        let current = self.current()?;
        self.jobs
            .iter()
            .rev()
            .map(|j| j.id)
            .find(|id| *id != current)
    }

    /// Resolves a job spec: `%N`, `%+`, `%%`, `%-`, `%string`, `%?string`.
    pub fn resolve(&self, spec: &str) -> Option<usize> {
        let rest = spec.strip_prefix('%')?;
        match rest {
            "" | "+" | "%" => self.current(),
            "-" => self.previous(),
            _ => {
                if let Ok(n) = rest.parse::<usize>() {
                    return self.jobs.iter().find(|j| j.id == n).map(|j| j.id);
                }
                if let Some(sub) = rest.strip_prefix('?') {
                    return self
                        .jobs
                        .iter()
                        .find(|j| j.text.contains(sub))
                        .map(|j| j.id);
                }
                self.jobs
                    .iter()
                    .find(|j| j.text.starts_with(rest))
                    .map(|j| j.id)
            }
        }
    }

    /// The job a PID (cluster PID or job PID) belongs to.
    pub fn by_pid(&self, pid: i32) -> Option<usize> {
        let cluster = Gpid::from_raw(pid.into()).ok();
        self.jobs
            .iter()
            .find(|j| j.leader == pid || cluster.is_some_and(|c| j.pids().contains(&c)))
            .map(|j| j.id)
    }

    /// Marks finished jobs and returns the lines `Done` notices print.
    pub fn reap(&mut self) -> Vec<String> {
        let current = self.current();
        let mut notices = Vec::new();
        for job in &mut self.jobs {
            job.refresh();
        }
        self.jobs.retain(|job| match job.state {
            JobState::Done(status) => {
                notices.push(format_job(job, current == Some(job.id), status));
                false
            }
            _ => true,
        });
        notices
    }
}

/// `[1]+  Done                    sleep 1` and friends.
pub fn format_job(job: &Job, current: bool, status: i32) -> String {
    let mark = if current { '+' } else { '-' };
    let state = match job.state {
        JobState::Running => "Running".to_string(),
        JobState::Stopped => "Stopped".to_string(),
        JobState::Done(_) if status == 0 => "Done".to_string(),
        JobState::Done(_) if status > 128 => signal_name(status - 128),
        JobState::Done(_) => format!("Exit {status}"),
    };
    format!("[{}]{mark}  {state:<24}{}", job.id, job.text)
}

fn signal_name(sig: i32) -> String {
    match nix::sys::signal::Signal::try_from(sig) {
        Ok(nix::sys::signal::Signal::SIGTERM) => "Terminated".to_string(),
        Ok(nix::sys::signal::Signal::SIGKILL) => "Killed".to_string(),
        Ok(nix::sys::signal::Signal::SIGINT) => "Interrupt".to_string(),
        Ok(s) => s.as_str().to_string(),
        Err(_) => format!("Signal {sig}"),
    }
}
