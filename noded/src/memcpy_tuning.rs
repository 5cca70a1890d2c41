//! glibc's memcpy on AMD CPUs: from 2 KiB up glibc (2.36, Debian 12)
//! copies with `rep movsb`, which on AMD Zen 3 runs up to 10x slower than
//! its own vector loop when source and destination are not equally
//! aligned (measured on an EPYC: 16 KiB, source 5 bytes off, 5 GB/s
//! against 48; about 2x when both are aligned).
//! rustls copies every byte of a direct pipe and of output to the shell
//! that way (a TLS record's payload starts 5 bytes in), so on AMD the
//! daemon starts itself again at once with glibc's
//! `glibc.cpu.x86_rep_movsb_threshold` raised above its chunks: the
//! vector loop does those copies (docs/PERFORMANCE.md, "Data path").
//!
//! A `GLIBC_TUNABLES` set by the operator, even empty, is their choice and
//! is left alone. The process keeps its PID, arguments and descriptors
//! (`execve` of the same binary); the variable is taken out of the
//! environment after the start, as it is read only then. The keeper,
//! which copies output into logs, is started with it too ([`tuned`]);
//! neither passes it on to the processes they run.

use std::sync::atomic::{AtomicBool, Ordering};

/// The variable glibc reads its tunables from, at program start.
const TUNABLES: &str = "GLIBC_TUNABLES";

/// Copies below 4 MiB (our chunks are 256 KiB) use the vector loop;
/// above, glibc's large-copy path as before.
const TUNED: &str = "glibc.cpu.x86_rep_movsb_threshold=4194304";

/// Set on the restarted daemon, so that it knows the tunable is its own.
const MARK: &str = "NEFELE_MEMCPY_TUNED";

/// This process was started tuned.
static TUNED_HERE: AtomicBool = AtomicBool::new(false);

/// The `GLIBC_TUNABLES` value this daemon was started with, for the keeper
/// it starts; `None` when it runs untuned (not AMD, the operator's own
/// tunables, or not the daemon).
pub fn tuned() -> Option<&'static str> {
    TUNED_HERE.load(Ordering::Relaxed).then_some(TUNED)
}

/// Called first thing by the daemon (not by its subcommands). On an AMD
/// CPU with glibc and no `GLIBC_TUNABLES`, replaces the process with the
/// same binary and arguments and the tunable set; returns when there is
/// nothing to do, after the restart, or if the restart failed (it then
/// runs untuned, with a warning).
pub fn restart_tuned() {
    if std::env::var_os(MARK).is_some() {
        // SAFETY: called before the daemon starts any thread (main, before
        // the async runtime), so nothing reads the environment meanwhile.
        unsafe {
            std::env::remove_var(MARK);
            std::env::remove_var(TUNABLES);
        }
        TUNED_HERE.store(true, Ordering::Relaxed);
        tracing::debug!("glibc memcpy tuned for this CPU ({TUNED})");
        return;
    }
    if !wants_tuning() || std::env::var_os(TUNABLES).is_some() {
        return;
    }
    use std::os::unix::process::CommandExt;
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| "noded".into());
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            tracing::warn!(error = %e, "cannot find noded's binary to tune memcpy; running untuned");
            return;
        }
    };
    // Returns only if the exec failed.
    let error = std::process::Command::new(&exe)
        .arg0(argv0)
        .args(args)
        .env(TUNABLES, TUNED)
        .env(MARK, "1")
        .exec();
    tracing::warn!(exe = %exe.display(), %error, "cannot restart noded with memcpy tuned; running untuned");
}

/// An AMD CPU, where glibc's `rep movsb` choice is the slow one.
#[cfg(all(target_arch = "x86_64", target_env = "gnu"))]
fn wants_tuning() -> bool {
    let leaf = std::arch::x86_64::__cpuid(0);
    let vendor: Vec<u8> = [leaf.ebx, leaf.edx, leaf.ecx]
        .iter()
        .flat_map(|word| word.to_le_bytes())
        .collect();
    vendor == b"AuthenticAMD"
}

/// Other targets: no such tunable.
#[cfg(not(all(target_arch = "x86_64", target_env = "gnu")))]
fn wants_tuning() -> bool {
    false
}
