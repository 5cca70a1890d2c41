//! Where the dev cluster's companions (`noded`, `nefelefs`) are: next to
//! nsh, on PATH, or built on demand in a source checkout.

use super::*;

/// Under `cargo run` (which sets `CARGO` and `CARGO_MANIFEST_DIR`), builds
/// the companion binaries the dev cluster needs when they are not next to
/// nsh yet, in nsh's own profile, so `cargo run --release --bin nsh --
/// --dev` works in a fresh clone. Elsewhere it does nothing.
pub fn build_companions_if_missing() {
    let (Some(cargo), Some(manifest_dir)) = (
        std::env::var_os("CARGO"),
        std::env::var_os("CARGO_MANIFEST_DIR"),
    ) else {
        return;
    };
    let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    else {
        return;
    };
    let missing = ["noded", "nefelefs", "nefele-proc-exec"]
        .iter()
        .any(|name| !is_executable(&dir.join(name)));
    if !missing {
        return;
    }
    let release = dir.file_name().is_some_and(|n| n == "release");
    eprintln!("nsh: --dev: building noded and nefelefs first (cargo build)");
    let mut command = std::process::Command::new(cargo);
    command
        .current_dir(manifest_dir)
        .args(["build", "-p", "noded", "-p", "nefelefs"]);
    if release {
        command.arg("--release");
    }
    match command.status() {
        Ok(status) if status.success() => {}
        Ok(status) => eprintln!("nsh: --dev: cargo build failed ({status})"),
        Err(e) => eprintln!("nsh: --dev: cannot run cargo: {e}"),
    }
}

/// `name` next to the current executable (or in `bin_dir`), else on PATH.
pub(super) fn find_binary(name: &'static str, bin_dir: Option<&Path>) -> Result<PathBuf, DevError> {
    let beside = match bin_dir {
        Some(dir) => Some(dir.to_path_buf()),
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf)),
    };
    let mut looked = Vec::new();
    if let Some(dir) = beside {
        let candidate = dir.join(name);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
        looked.push(dir.display().to_string());
        if bin_dir.is_some() {
            return Err(DevError::NoBinary {
                name,
                looked: looked.join(", "),
            });
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
    }
    looked.push("PATH".into());
    Err(DevError::NoBinary {
        name,
        looked: looked.join(", "),
    })
}

pub(super) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
