//! A real nefelefs mount of a test node, unmounted and stopped when
//! dropped.

use super::*;

/// A real nefelefs mount of a node, in a temp dir, with its procps view;
/// both unmounted on drop.
pub struct Mount {
    /// Where it is mounted.
    pub path: PathBuf,
    /// Where its procps view is mounted (`nefele-proc-exec` binds it).
    pub procps_view: PathBuf,
    _dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Mount {
    /// Mounts the cluster as seen by `node`.
    pub async fn start(node: &Node) -> anyhow::Result<Mount> {
        Self::start_with(node, &[]).await
    }

    /// The same with extra nefelefs arguments; the mount's temp dir is
    /// open to every local user (the mount itself allows other users).
    pub async fn start_with(node: &Node, args: &[&str]) -> anyhow::Result<Mount> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new().prefix("nefele-mnt-").tempdir()?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let path = dir.path().join("nefele");
        let log = std::fs::File::create(dir.path().join("nefelefs.log"))?;
        let child = Command::new(binary("nefelefs"))
            .arg("--addr")
            .arg(node.addr().to_string())
            .args(args)
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start nefelefs")?;
        let procps_view =
            nefelefs::mount::procps_view_path(&std::fs::canonicalize(dir.path())?.join("nefele"));
        let mount = Mount {
            path,
            procps_view,
            _dir: dir,
            child: Some(child),
        };
        let (probe, view_probe) = (mount.path.join("proc"), mount.procps_view.join("self"));
        wait_until("the mount and its procps view", TIMEOUT, || {
            let ok = is_mount_point(&mount.path)
                && probe.exists()
                && is_mount_point(&mount.procps_view)
                && view_probe.symlink_metadata().is_ok();
            async move { ok.then_some(()) }
        })
        .await?;
        Ok(mount)
    }

    /// nefelefs's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("nefelefs.log")).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for nefelefs to exit.
    pub async fn stop(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let mut child = self.child.take().context("not running")?;
        kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM)?;
        wait_until("nefelefs to exit", TIMEOUT, || {
            let status = child.try_wait().ok().flatten();
            async move { status }
        })
        .await
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let _ = wait_until_blocking("nefelefs to stop", Duration::from_secs(10), || {
                child.try_wait().ok().flatten()
            });
            let _ = child.kill();
            let _ = child.wait();
        }
        for path in [&self.procps_view, &self.path] {
            if is_mount_point(path) {
                let _ = nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH);
            }
        }
        let _ = std::fs::remove_dir(&self.procps_view);
    }
}

/// Whether `path` is a mount point (per /proc/self/mountinfo).
pub fn is_mount_point(path: &std::path::Path) -> bool {
    let wanted = path.to_string_lossy();
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|info| {
            info.lines()
                .filter_map(|l| l.split(' ').nth(4))
                .any(|mp| mp.replace("\\040", " ") == wanted)
        })
        .unwrap_or(false)
}
