//! The supervisor's side of a cluster session: what a caught call asks
//! ([`decode`], pure), who asks it (the caller's credentials, from the
//! host's /proc), and the answer, from the API's Signal RPC with the errno
//! a local signal would give (docs/design/sessions.md).

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use proto::Gpid;
use proto::v1::SignalRequest;
use proto::v1::processes_client::ProcessesClient;
use tonic::transport::Channel;
use tonic::{Code, Request};

use super::filter::is_cluster_target;
use super::notify::{Call, Listener, Reply};

/// How long one signal may take through the API before the caller gets
/// EAGAIN: a node that does not answer never hangs a `kill`.
pub const SIGNAL_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest Linux signal number (`_NSIG - 1`).
pub const MAX_SIGNAL: i32 = 64;

/// pidfd_send_signal's flags (PIDFD_SIGNAL_THREAD, _THREAD_GROUP,
/// _PROCESS_GROUP).
const PIDFD_SIGNAL_FLAGS: u32 = 0b111;

/// Linux's capability to signal any process.
const CAP_KILL: u32 = 5;

/// What a caught call asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    /// Send `signal` (maybe out of range, maybe 0) to cluster process `pid`.
    Signal {
        /// The cluster PID.
        pid: Gpid,
        /// The signal number as the caller gave it.
        signal: i32,
    },
    /// `pidfd_send_signal(fd, signal, info, flags)`: a signal to a cluster
    /// process when `fd` is a cluster process's `/proc/PID` directory.
    SignalFd {
        /// The caller's descriptor.
        fd: i32,
        /// The signal number as the caller gave it.
        signal: i32,
        /// The call's flags.
        flags: u32,
    },
    /// Fail the call with this errno without asking anyone.
    Fail(i32),
    /// Not ours (the filter let through a call it should not have): let
    /// the kernel answer. Never expected.
    Pass,
}

/// Reads a caught call as Linux would, before any process is looked up.
/// A negative target is the process group of a cluster process; every
/// cluster process leads its own group on its node, so signalling the
/// group is signalling it (which Nefele does anyway: signals go to the
/// process's group).
pub fn decode(nr: i64, args: [u64; 6]) -> Ask {
    let first = args[0] as i32;
    let int = |i: usize| args[i] as i32;
    // A number in the cluster range that is no cluster PID names nothing.
    let signal = |raw: i32, signal: i32| match Gpid::from_raw(i64::from(raw)) {
        Ok(pid) => Ask::Signal { pid, signal },
        Err(_) => Ask::Fail(libc::ESRCH),
    };
    if nr == libc::SYS_pidfd_send_signal {
        return Ask::SignalFd {
            fd: first,
            signal: int(1),
            flags: args[3] as u32,
        };
    }
    if !is_cluster_target(args[0]) {
        return Ask::Pass;
    }
    // Threads of a cluster process are not addressable from outside its
    // node: a thread ID that is not the process's own is not found.
    let thread = |tgid: i32, tid: i32, sig: i32| {
        if tgid <= 0 || tid <= 0 {
            Ask::Fail(libc::EINVAL)
        } else if tid != tgid {
            Ask::Fail(libc::ESRCH)
        } else {
            signal(tgid, sig)
        }
    };
    match nr {
        libc::SYS_kill => match first {
            i32::MIN => Ask::Fail(libc::ESRCH),
            pid if pid < 0 => signal(-pid, int(1)),
            pid => signal(pid, int(1)),
        },
        libc::SYS_tkill if first <= 0 => Ask::Fail(libc::EINVAL),
        libc::SYS_tkill => signal(first, int(1)),
        libc::SYS_tgkill => thread(first, int(1), int(2)),
        libc::SYS_rt_tgsigqueueinfo => thread(first, int(1), int(2)),
        // The kernel looks a negative TGID up and finds nothing.
        libc::SYS_rt_sigqueueinfo if first <= 0 => Ask::Fail(libc::ESRCH),
        libc::SYS_rt_sigqueueinfo => signal(first, int(1)),
        libc::SYS_pidfd_open if first <= 0 => Ask::Fail(libc::EINVAL),
        // A pidfd is a kernel object of a local process; one that polls
        // for a remote exit is not offered (docs/design/sessions.md).
        libc::SYS_pidfd_open => Ask::Fail(libc::ESRCH),
        _ => Ask::Pass,
    }
}

/// Who made a call: what Linux checks before it lets one process signal
/// another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// Real uid.
    pub ruid: u32,
    /// Effective uid.
    pub euid: u32,
    /// Holds CAP_KILL (root does): may signal anyone.
    pub cap_kill: bool,
}

impl Credentials {
    /// Parses `/proc/TID/status`.
    pub fn parse(status: &str) -> Option<Credentials> {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
        };
        let mut uids = field("Uid:")?.split_whitespace();
        let ruid = uids.next()?.parse().ok()?;
        let euid = uids.next()?.parse().ok()?;
        let caps = u64::from_str_radix(field("CapEff:")?, 16).ok()?;
        Some(Credentials {
            ruid,
            euid,
            cap_kill: caps & (1 << CAP_KILL) != 0,
        })
    }

    /// The users to act for, in order: none (root's own view) for a
    /// caller that may signal anyone, else its effective then its real
    /// user, as kill(2) accepts either.
    fn users(&self) -> Vec<Option<String>> {
        if self.cap_kill || self.euid == 0 {
            return vec![None];
        }
        let name = |uid| {
            nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                .ok()
                .flatten()
                .map(|u| u.name)
        };
        let mut users = vec![];
        for uid in [self.euid, self.ruid] {
            // A uid without a name owns no cluster process.
            if let Some(n) = name(uid).filter(|n| !users.contains(&Some(n.clone()))) {
                users.push(Some(n));
            }
        }
        users
    }
}

/// Answers the calls a session's processes make.
#[derive(Clone, Debug)]
pub struct Supervisor {
    listener: Arc<Listener>,
    client: ProcessesClient<Channel>,
    host_proc: PathBuf,
    cluster_devs: Vec<u64>,
}

impl Supervisor {
    /// Serves `listener`, asking the node behind `client`; callers'
    /// credentials are read from `host_proc` (the host's /proc), and
    /// `cluster_devs` are the devices of the cluster views whose process
    /// directories count as pidfds.
    pub fn new(
        listener: Arc<Listener>,
        client: ProcessesClient<Channel>,
        host_proc: PathBuf,
        cluster_devs: Vec<u64>,
    ) -> Self {
        Supervisor {
            listener,
            client,
            host_proc,
            cluster_devs,
        }
    }

    /// Answers one caught call.
    pub async fn answer(self, call: Call) {
        let reply = match decode(call.nr, call.args) {
            Ask::Pass => {
                tracing::warn!(?call, "a call the filter should not have caught");
                Reply::Continue
            }
            Ask::Fail(errno) => Reply::Fail(errno),
            Ask::Signal { pid, signal } => match self.credentials(&call) {
                // The caller is gone: nobody to answer.
                None => return,
                Some(creds) => self.signal(pid, signal, &creds).await,
            },
            Ask::SignalFd { fd, signal, flags } => match self.cluster_pid_of_fd(&call, fd) {
                None => Reply::Continue,
                // The pidfd flags (thread, thread group, process group)
                // all reach the same group here; others are unknown.
                Some(_) if flags & !PIDFD_SIGNAL_FLAGS != 0 => Reply::Fail(libc::EINVAL),
                Some(pid) => match self.credentials(&call) {
                    None => return,
                    Some(creds) => self.signal(pid, signal, &creds).await,
                },
            },
        };
        if let Err(e) = self.listener.answer(call.id, reply) {
            tracing::warn!(?call, "cannot answer a caught call: {e}");
        }
    }

    /// The cluster PID whose `/proc/PID` directory (in a cluster view)
    /// the caller's descriptor `fd` is, if it is one.
    fn cluster_pid_of_fd(&self, call: &Call, fd: i32) -> Option<Gpid> {
        if fd < 0 {
            return None;
        }
        let link = self
            .host_proc
            .join(call.tid.to_string())
            .join("fd")
            .join(fd.to_string());
        let meta = std::fs::metadata(&link).ok()?;
        if !meta.is_dir() || !self.cluster_devs.contains(&meta.dev()) {
            return None;
        }
        let path = std::fs::read_link(&link).ok()?;
        path.file_name()?.to_str()?.parse().ok()
    }

    /// The caller's credentials, if it still waits.
    fn credentials(&self, call: &Call) -> Option<Credentials> {
        let status =
            std::fs::read_to_string(self.host_proc.join(call.tid.to_string()).join("status")).ok();
        // Read first, then check that the TID still is the caller.
        if !self.listener.is_waiting(call.id) {
            return None;
        }
        // Unreadable credentials give no rights beyond an unknown user's.
        Some(
            status
                .as_deref()
                .and_then(Credentials::parse)
                .unwrap_or(Credentials {
                    ruid: u32::MAX,
                    euid: u32::MAX,
                    cap_kill: false,
                }),
        )
    }

    /// Signals `pid` as `creds` allow, answering as Linux would.
    async fn signal(&self, pid: Gpid, signal: i32, creds: &Credentials) -> Reply {
        let valid = (0..=MAX_SIGNAL).contains(&signal);
        let mut last = Err(libc::ESRCH);
        for user in creds.users() {
            // Linux finds the process before it checks the signal: an
            // unknown PID is ESRCH whatever the signal, a known one with
            // a bad signal EINVAL.
            let probe = if valid { signal } else { 0 };
            last = self.send(pid, probe, user.as_deref()).await;
            if last != Err(libc::ESRCH) {
                break;
            }
        }
        match last {
            Ok(()) if !valid => Reply::Fail(libc::EINVAL),
            Ok(()) => Reply::Value(0),
            Err(errno) => Reply::Fail(errno),
        }
    }

    /// One Signal RPC, acting for `user` (root's own view when `None`).
    async fn send(&self, pid: Gpid, signal: i32, user: Option<&str>) -> Result<(), i32> {
        let mut request = Request::new(SignalRequest {
            pid: pid.as_raw(),
            signal,
        });
        request.set_timeout(SIGNAL_TIMEOUT);
        if let Some(user) = user {
            match user.parse() {
                Ok(value) => {
                    request.metadata_mut().insert(proto::USER_HEADER, value);
                }
                Err(_) => return Err(libc::ESRCH),
            }
        }
        let mut client = self.client.clone();
        match tokio::time::timeout(SIGNAL_TIMEOUT, client.signal(request)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(status)) => Err(errno_of(status.code())),
            Err(_) => Err(libc::EAGAIN),
        }
    }
}

/// The errno a refused Signal gives the caller: what kill(2) would say
/// for the same reason; a node that cannot be reached is EAGAIN (try
/// again), as Linux has no errno for "its machine is away".
pub fn errno_of(code: Code) -> i32 {
    match code {
        Code::NotFound => libc::ESRCH,
        Code::InvalidArgument => libc::EINVAL,
        Code::PermissionDenied | Code::Unauthenticated => libc::EPERM,
        _ => libc::EAGAIN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[i64]) -> [u64; 6] {
        let mut out = [0u64; 6];
        for (o, a) in out.iter_mut().zip(a) {
            *o = *a as u64;
        }
        out
    }

    #[test]
    fn decodes_each_caught_call_as_linux_reads_it() {
        let sig = |raw: i64, signal| Ask::Signal {
            pid: Gpid::from_raw(raw).unwrap(),
            signal,
        };
        let fail = Ask::Fail;
        use libc::{EINVAL, ESRCH};
        let table: &[(i64, &[i64], Ask)] = &[
            (libc::SYS_kill, &[20000001, 15], sig(20000001, 15)),
            (libc::SYS_kill, &[-20000001, 9], sig(20000001, 9)),
            (libc::SYS_kill, &[20000001, 0], sig(20000001, 0)),
            (libc::SYS_kill, &[20000001, 99], sig(20000001, 99)),
            (libc::SYS_kill, &[i32::MIN as i64, 9], fail(ESRCH)),
            (libc::SYS_kill, &[1234, 9], Ask::Pass),
            (libc::SYS_kill, &[20000000, 9], fail(ESRCH)),
            (libc::SYS_tkill, &[20000001, 10], sig(20000001, 10)),
            (libc::SYS_tkill, &[-20000001, 10], fail(EINVAL)),
            (libc::SYS_tgkill, &[20000001, 20000001, 2], sig(20000001, 2)),
            (libc::SYS_tgkill, &[20000001, 20000002, 2], fail(ESRCH)),
            (libc::SYS_tgkill, &[20000001, 0, 2], fail(EINVAL)),
            (
                libc::SYS_rt_sigqueueinfo,
                &[30000007, 34, 0],
                sig(30000007, 34),
            ),
            (libc::SYS_rt_sigqueueinfo, &[-30000007, 34, 0], fail(ESRCH)),
            (
                libc::SYS_rt_tgsigqueueinfo,
                &[30000007, 30000007, 34, 0],
                sig(30000007, 34),
            ),
            (libc::SYS_pidfd_open, &[30000007, 0], fail(ESRCH)),
            (libc::SYS_pidfd_open, &[-30000007, 0], fail(EINVAL)),
            (
                libc::SYS_pidfd_send_signal,
                &[3, 15, 0, 0],
                Ask::SignalFd {
                    fd: 3,
                    signal: 15,
                    flags: 0,
                },
            ),
        ];
        for (nr, a, want) in table {
            assert_eq!(decode(*nr, args(a)), *want, "nr {nr} args {a:?}");
        }
    }

    #[test]
    fn reads_credentials_from_proc_status() {
        let status = "Name:\tkill\nUid:\t1000\t1001\t1001\t1001\nGid:\t0\t0\t0\t0\nCapEff:\t0000000000000000\n";
        assert_eq!(
            Credentials::parse(status),
            Some(Credentials {
                ruid: 1000,
                euid: 1001,
                cap_kill: false
            })
        );
        let root = "Uid:\t0\t0\t0\t0\nCapEff:\t000001ffffffffff\n";
        assert!(Credentials::parse(root).expect("parses").cap_kill);
        assert_eq!(Credentials::parse("Name:\tx\n"), None);
    }

    #[test]
    fn refusals_become_kill_errnos() {
        assert_eq!(errno_of(Code::NotFound), libc::ESRCH);
        assert_eq!(errno_of(Code::InvalidArgument), libc::EINVAL);
        assert_eq!(errno_of(Code::PermissionDenied), libc::EPERM);
        assert_eq!(errno_of(Code::Unavailable), libc::EAGAIN);
        assert_eq!(errno_of(Code::DeadlineExceeded), libc::EAGAIN);
    }
}
