//! `cd` and `pwd`. The shell's directory is its own state (`Shell::cwd`),
//! never the process's, since subshells on other threads have their own.

use std::path::{Component, Path, PathBuf};

use crate::shell::{Shell, Status};

/// `a/./b/../c` → `a/c`, as `cd -L` resolves paths logically.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

pub fn cd(shell: &mut Shell, args: Vec<String>) -> Status {
    let args: Vec<&String> = args.iter().filter(|a| *a != "-L" && *a != "-P").collect();
    let mut print = false;
    let target = match args.first().map(|s| s.as_str()) {
        None => match shell.vars.get("HOME") {
            Some(home) if !home.is_empty() => home.to_string(),
            _ => {
                shell.error("cd: HOME not set");
                return Ok(1);
            }
        },
        Some("-") => match shell.vars.get("OLDPWD") {
            Some(old) => {
                print = true;
                old.to_string()
            }
            None => {
                shell.error("cd: OLDPWD not set");
                return Ok(1);
            }
        },
        Some(dir) => dir.to_string(),
    };
    if args.len() > 1 {
        shell.error("cd: too many arguments");
        return Ok(1);
    }
    let mut candidates = vec![shell.cwd.join(&target)];
    if !target.starts_with('/') && !target.starts_with('.') {
        for base in shell.vars.get("CDPATH").unwrap_or("").split(':') {
            if !base.is_empty() {
                candidates.insert(0, shell.cwd.join(base).join(&target));
                print = true;
            }
        }
    }
    let Some(path) = candidates
        .into_iter()
        .map(|p| normalize(&p))
        .find(|p| p.is_dir())
    else {
        let path = shell.cwd.join(&target);
        let why = match std::fs::metadata(&path) {
            Ok(_) => "Not a directory".to_string(),
            Err(e) => crate::exec::redirect_message(&e),
        };
        shell.error(format!("cd: {target}: {why}"));
        return Ok(1);
    };
    if let Err(e) = std::fs::read_dir(&path)
        && e.kind() == std::io::ErrorKind::PermissionDenied
    {
        shell.error(format!("cd: {target}: Permission denied"));
        return Ok(1);
    }
    let old = shell.cwd.to_string_lossy().into_owned();
    shell.cwd = path;
    let new = shell.cwd.to_string_lossy().into_owned();
    let _ = shell.vars.set("OLDPWD", old);
    let _ = shell.vars.set("PWD", new.clone());
    if print && shell.out(&format!("{new}\n")).is_err() {
        return Ok(1);
    }
    Ok(0)
}

pub fn pwd(shell: &mut Shell, args: Vec<String>) -> Status {
    let path = if args.iter().any(|a| a == "-P") {
        std::fs::canonicalize(&shell.cwd).unwrap_or_else(|_| shell.cwd.clone())
    } else {
        shell.cwd.clone()
    };
    match shell.out(&format!("{}\n", path.display())) {
        Ok(()) => Ok(0),
        Err(_) => Ok(1),
    }
}
