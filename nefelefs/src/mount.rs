//! Mounting: clearing a stale mount left by a crash at the mount point,
//! refusing to stack on a live one, the FUSE session settings, and where
//! the procps view of a mount lives.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use fuser::{Config, MountOption, SessionACL};

/// Where nefelefs mounted at `mountpoint` (absolute) mounts its procps
/// view, which `nefele-proc-exec` binds over /proc: under
/// `/run/nefele/procps/`, named by the mount point with `%` and `/`
/// escaped (`/nefele` gives `/run/nefele/procps/%2Fnefele`).
pub fn procps_view_path(mountpoint: &Path) -> PathBuf {
    let escaped = mountpoint
        .to_string_lossy()
        .replace('%', "%25")
        .replace('/', "%2F");
    Path::new(PROCPS_VIEWS).join(escaped)
}

/// The directory of the procps views.
pub const PROCPS_VIEWS: &str = "/run/nefele/procps";

/// Clears the procps views of nefelefs processes that died without
/// unmounting (a crash or SIGKILL leaves a dead FUSE mount, ENOTCONN).
/// Live views and anything else are left alone.
pub fn sweep_dead_views() {
    let Ok(entries) = std::fs::read_dir(PROCPS_VIEWS) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if let Err(e) = std::fs::metadata(&path)
            && e.raw_os_error() == Some(libc::ENOTCONN)
        {
            tracing::info!(view = %path.display(), "clearing a dead procps view");
            let _ = nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH);
            let _ = std::fs::remove_dir(&path);
        }
    }
}

/// The mount options of the full view: named `nefele` (type
/// `fuse.nefelefs`), readable by every user when mounted by root.
pub fn config() -> Config {
    config_named("nefele")
}

/// The same options with another file system name (the procps view is
/// `nefele-procps`).
pub fn config_named(name: &str) -> Config {
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName(name.into()),
        MountOption::Subtype("nefelefs".into()),
        MountOption::NoDev,
        MountOption::NoSuid,
        MountOption::NoExec,
        // The kernel enforces the modes served (environ 0400, ctl and stdin
        // 0200, owned by the process's user), as Linux's /proc does.
        MountOption::DefaultPermissions,
    ];
    if nix::unistd::geteuid().is_root() {
        config.acl = SessionACL::All;
    }
    config.n_threads = Some(2);
    config
}

/// Whether `path` is a mount point, per /proc/self/mountinfo.
fn is_mounted(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let wanted = path.to_string_lossy();
    // Field 5 is the mount point (with spaces escaped as \040).
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| mp.replace("\\040", " ") == wanted)
}

/// Makes `mountpoint` ready: creates it if missing, lazily unmounts a dead
/// FUSE mount left by a crash (ENOTCONN), and refuses a live mount.
pub fn prepare(mountpoint: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(mountpoint) {
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
            tracing::warn!(mountpoint = %mountpoint.display(), "clearing a stale mount left by a crash");
            nix::mount::umount2(mountpoint, nix::mount::MntFlags::MNT_DETACH).with_context(
                || format!("cannot clear the stale mount at {}", mountpoint.display()),
            )?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(mountpoint)
                .with_context(|| format!("cannot create mount point {}", mountpoint.display()))?;
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot use mount point {}", mountpoint.display()));
        }
        Ok(m) if !m.is_dir() => bail!("mount point {} is not a directory", mountpoint.display()),
        Ok(_) if is_mounted(mountpoint) => {
            bail!(
                "something is already mounted at {} (unmount it first)",
                mountpoint.display()
            )
        }
        Ok(_) => {}
    }
    Ok(())
}
