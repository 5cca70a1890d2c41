//! The seccomp filter of a cluster session: a classic BPF program that
//! sends the signal calls aimed at a cluster PID to the session's
//! supervisor (`SECCOMP_RET_USER_NOTIF`) and lets every other system call
//! through untouched.
//!
//! Why written here rather than generated: libseccomp allows one
//! comparison per argument in a rule, so "PID between two bounds" cannot be
//! said in one rule, and it would add a C library; seccompiler has no
//! user-notification action and kills callers of a foreign architecture
//! (32-bit programs), which a session must leave alone. The program is
//! short; `tests` below checks its jumps and runs it in the kernel.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use libc::{sock_filter, sock_fprog};

/// The lowest cluster PID (slot 1, serial 0): SPEC §1 puts every cluster
/// PID above the kernel's largest PID.
pub const CLUSTER_PID_MIN: u32 = 10_000_000;

/// The system calls the session catches when their first argument is a
/// cluster PID (or thread group).
pub const CAUGHT_BY_PID: [(libc::c_long, &str); 6] = [
    (libc::SYS_kill, "kill"),
    (libc::SYS_tkill, "tkill"),
    (libc::SYS_tgkill, "tgkill"),
    (libc::SYS_rt_sigqueueinfo, "rt_sigqueueinfo"),
    (libc::SYS_rt_tgsigqueueinfo, "rt_tgsigqueueinfo"),
    (libc::SYS_pidfd_open, "pidfd_open"),
];

/// The system calls the session always catches: `pidfd_send_signal` takes
/// a descriptor, and a descriptor of a `/proc/PID` directory counts as a
/// pidfd (psmisc's `killall` signals that way), so only the supervisor can
/// tell a cluster process's directory from a real pidfd, which it lets
/// through.
pub const CAUGHT_ALWAYS: [(libc::c_long, &str); 1] =
    [(libc::SYS_pidfd_send_signal, "pidfd_send_signal")];

/// Whether the low 32 bits of a first argument (a `pid_t`) name a cluster
/// process or, negated, a cluster process group: `[MIN, 2^32 - MIN]` as
/// unsigned, the range the filter tests.
pub fn is_cluster_target(arg: u64) -> bool {
    let low = arg as u32;
    (CLUSTER_PID_MIN..=CLUSTER_PID_MAX_UNSIGNED).contains(&low)
}

/// `-CLUSTER_PID_MIN` as an unsigned 32-bit value: the top of the range.
const CLUSTER_PID_MAX_UNSIGNED: u32 = 0u32.wrapping_sub(CLUSTER_PID_MIN);

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_NATIVE: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH_NATIVE: u32 = 0xC000_00B7;
/// x32 system calls carry this bit on x86_64; they are let through.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

// Offsets in `struct seccomp_data`.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;
/// The low word of `args[0]` (little-endian).
const ARG0_LOW_OFFSET: u32 = 16;

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const JGT_K: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// The program. A jump's offsets count from the next instruction.
///
/// ```text
///          ld  arch;  jne NATIVE -> allow
///          ld  nr;    jge X32_BIT -> allow
///          jeq kill -> check; ... (CAUGHT_BY_PID)
///          jeq pidfd_send_signal -> notify (CAUGHT_ALWAYS)
///          ret allow
/// check:   ld  args[0] (low word)
///          jlt MIN -> allow;  jgt MAX -> allow
/// notify:  ret user_notif
/// allow:   ret allow
/// ```
pub fn program() -> Vec<sock_filter> {
    let (n, m) = (CAUGHT_BY_PID.len(), CAUGHT_ALWAYS.len());
    // Where each labelled instruction lands.
    let first_jeq = 4;
    let ret_allow_early = first_jeq + n + m;
    let check = ret_allow_early + 1;
    let notify = check + 3;
    let allow = notify + 1;
    // Offset from the instruction at `from` to `to`.
    let off = |from: usize, to: usize| -> u8 {
        u8::try_from(to - from - 1).expect("the program is short")
    };
    let mut p = Vec::with_capacity(allow + 1);
    p.push(stmt(LD_W_ABS, ARCH_OFFSET));
    p.push(jump(JEQ_K, AUDIT_ARCH_NATIVE, 0, off(1, allow)));
    p.push(stmt(LD_W_ABS, NR_OFFSET));
    p.push(jump(JGE_K, X32_SYSCALL_BIT, off(3, ret_allow_early), 0));
    for (i, (nr, _)) in CAUGHT_BY_PID.iter().enumerate() {
        let at = first_jeq + i;
        p.push(jump(JEQ_K, *nr as u32, off(at, check), 0));
    }
    for (i, (nr, _)) in CAUGHT_ALWAYS.iter().enumerate() {
        let at = first_jeq + n + i;
        p.push(jump(JEQ_K, *nr as u32, off(at, notify), 0));
    }
    p.push(stmt(RET_K, libc::SECCOMP_RET_ALLOW));
    // check:
    p.push(stmt(LD_W_ABS, ARG0_LOW_OFFSET));
    p.push(jump(JGE_K, CLUSTER_PID_MIN, 0, off(check + 1, allow)));
    p.push(jump(
        JGT_K,
        CLUSTER_PID_MAX_UNSIGNED,
        off(check + 2, allow),
        0,
    ));
    // notify:
    p.push(stmt(RET_K, libc::SECCOMP_RET_USER_NOTIF));
    // allow:
    p.push(stmt(RET_K, libc::SECCOMP_RET_ALLOW));
    debug_assert_eq!(p.len(), allow + 1);
    p
}

/// Installs the filter on the calling thread (with `no_new_privs`, which
/// the kernel requires of an unprivileged caller and which keeps setuid
/// programs from shedding it) and returns the listener on which the
/// supervisor receives the caught calls. Call it in the process that will
/// exec the session's command, while it has one thread: the filter is
/// inherited by every child and can never be removed.
///
/// `SECCOMP_FILTER_FLAG_SPEC_ALLOW` keeps the kernel from turning on its
/// speculative-store-bypass mitigation for everything in the session (its
/// default for seccomp'd tasks, which slows every program down): this
/// filter routes signals, it is not a sandbox.
pub fn install() -> io::Result<OwnedFd> {
    install_program(&mut program())
}

/// [`install`] of a program built beforehand: makes no allocation, so a
/// child forked from a threaded process may call it.
fn install_program(filter: &mut [sock_filter]) -> io::Result<OwnedFd> {
    let prog = sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `prog` points at `filter`, alive for the call; the kernel
    // copies the program.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            &prog as *const sock_fprog,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_covers_cluster_pids_and_their_groups_only() {
        for local in [
            0i64, 1, 4_194_304, 9_999_999, -1, -2, -4_194_304, -9_999_999,
        ] {
            assert!(!is_cluster_target(local as u64), "{local}");
        }
        for cluster in [
            10_000_000i64,
            20_000_001,
            i32::MAX as i64,
            -10_000_000,
            -20_000_001,
        ] {
            assert!(is_cluster_target(cluster as u64), "{cluster}");
            // The upper half of the register does not matter: the kernel
            // reads a pid_t.
            assert!(is_cluster_target(cluster as u64 | 0xFFFF_FFFF_0000_0000));
        }
    }

    /// A forked child installs the filter and makes signal calls; this
    /// process receives the caught ones on the listener and fails them
    /// with E2BIG, an errno no real kill gives, so the child's results
    /// tell caught calls from the kernel's own answers.
    #[test]
    fn the_kernel_hands_over_cluster_signals_only() {
        use crate::session::notify::{Listener, Reply};
        use std::os::fd::{AsRawFd, IntoRawFd};

        let mut filter = program();
        let (mut to_parent, mut to_child) = ([0; 2], [0; 2]);
        // SAFETY: pipe fills the arrays.
        assert_eq!(unsafe { libc::pipe(to_parent.as_mut_ptr()) }, 0);
        assert_eq!(unsafe { libc::pipe(to_child.as_mut_ptr()) }, 0);
        // SAFETY: the child makes only system calls (no allocation) and
        // leaves with _exit.
        let child = unsafe { libc::fork() };
        assert!(child >= 0);
        if child == 0 {
            unsafe {
                libc::close(to_parent[0]);
                libc::close(to_child[1]);
            }
            let write_i32 = |v: i32| unsafe {
                libc::write(to_parent[1], (&v as *const i32).cast(), 4);
            };
            let fd = match install_program(&mut filter) {
                Ok(fd) => fd.into_raw_fd(),
                Err(_) => unsafe { libc::_exit(1) },
            };
            std::mem::forget(filter);
            write_i32(fd);
            let mut go = 0u8;
            unsafe { libc::read(to_child[0], (&mut go as *mut u8).cast(), 1) };
            let errno_of = |rc: i64| {
                if rc == 0 {
                    0
                } else {
                    io::Error::last_os_error().raw_os_error().unwrap_or(-1)
                }
            };
            let me = unsafe { libc::getpid() };
            for (nr, a, b) in [
                (libc::SYS_kill, 20_000_001i64, 0i64),
                (libc::SYS_kill, -20_000_001, 0),
                (libc::SYS_kill, 4_194_303, 0),
                (libc::SYS_kill, i64::from(me), 0),
                (libc::SYS_tkill, 30_000_002, 0),
                (libc::SYS_pidfd_open, 10_000_000, 0),
                (libc::SYS_pidfd_open, 9_999_999, 0),
            ] {
                write_i32(errno_of(unsafe { libc::syscall(nr, a, b) }));
            }
            unsafe { libc::_exit(0) };
        }
        unsafe {
            libc::close(to_parent[1]);
            libc::close(to_child[0]);
        }
        let read_i32 = || {
            let mut v = 0i32;
            let n = unsafe { libc::read(to_parent[0], (&mut v as *mut i32).cast(), 4) };
            assert_eq!(n, 4, "the child wrote its answer");
            v
        };
        // Take the child's listener with pidfd_getfd.
        let child_fd = read_i32();
        let listener = unsafe {
            let pidfd = libc::syscall(libc::SYS_pidfd_open, child, 0) as i32;
            assert!(pidfd >= 0);
            let fd = libc::syscall(libc::SYS_pidfd_getfd, pidfd, child_fd, 0) as i32;
            assert!(fd >= 0, "{}", io::Error::last_os_error());
            libc::close(pidfd);
            Listener::new(OwnedFd::from_raw_fd(fd))
        };
        unsafe { libc::write(to_child[1], b"g".as_ptr().cast(), 1) };
        let answer_next = || {
            let mut poll = libc::pollfd {
                fd: listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // Never hang: a call is due at once.
            assert_eq!(
                unsafe { libc::poll(&mut poll, 1, 30_000) },
                1,
                "a call came"
            );
            let call = listener.recv().expect("recv").expect("a call");
            listener
                .answer(call.id, Reply::Fail(libc::E2BIG))
                .expect("answer");
            call
        };
        let caught = [
            (answer_next(), libc::SYS_kill),
            (answer_next(), libc::SYS_kill),
        ];
        assert_eq!(caught[0].0.args[0] as i32, 20_000_001);
        assert_eq!(caught[1].0.args[0] as i32, -20_000_001);
        let mut results = vec![read_i32(), read_i32(), read_i32(), read_i32()];
        assert_eq!(answer_next().nr, libc::SYS_tkill);
        results.push(read_i32());
        assert_eq!(answer_next().nr, libc::SYS_pidfd_open);
        results.push(read_i32());
        results.push(read_i32());
        assert_eq!(
            results,
            [
                libc::E2BIG, // caught
                libc::E2BIG, // a cluster process group: caught
                libc::ESRCH, // a free local PID: the kernel's answer
                0,           // itself: the kernel's answer
                libc::E2BIG, // tkill of a cluster PID: caught
                libc::E2BIG, // pidfd_open of a cluster PID: caught
                libc::ESRCH, // below the cluster range: the kernel's
            ]
        );
        let mut status = 0;
        unsafe { libc::waitpid(child, &mut status, 0) };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        unsafe {
            libc::close(to_parent[0]);
            libc::close(to_child[1]);
        }
        for (call, nr) in caught {
            assert_eq!(call.nr, nr);
        }
    }

    #[test]
    fn jumps_stay_inside_the_program() {
        let p = program();
        for (i, ins) in p.iter().enumerate() {
            if ins.code & 0x07 == libc::BPF_JMP as u16 {
                assert!(i + 1 + (ins.jt as usize) < p.len(), "jt of {i}");
                assert!(i + 1 + (ins.jf as usize) < p.len(), "jf of {i}");
            }
        }
        assert_eq!(p.last().map(|i| i.k), Some(libc::SECCOMP_RET_ALLOW));
    }
}
