//! `pushd`, `popd` and `dirs`: bash's directory stack. The shell keeps the
//! directories below the current one (`Shell::dirstack`, most recent
//! first); entry 0 of the stack is always the shell's directory, so `cd`
//! replaces it, as in bash.

use crate::shell::{Shell, Status};

/// How a stack is printed.
#[derive(Default)]
struct Format {
    /// Full paths, no `~` (`-l`).
    long: bool,
    /// One entry per line (`-p`).
    lines: bool,
    /// One numbered entry per line (`-v`).
    numbered: bool,
}

/// The stack, top first: the shell's directory, then what was pushed.
fn stack(shell: &Shell) -> Vec<String> {
    std::iter::once(&shell.cwd)
        .chain(shell.dirstack.iter())
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

/// `dir` with `$HOME` written `~` (only a whole leading component).
fn tilde(shell: &Shell, dir: &str) -> String {
    match shell.vars.get("HOME") {
        Some(home) if !home.is_empty() && home != "/" => {
            if dir == home {
                "~".to_string()
            } else if let Some(rest) = dir.strip_prefix(home)
                && rest.starts_with('/')
            {
                format!("~{rest}")
            } else {
                dir.to_string()
            }
        }
        _ => dir.to_string(),
    }
}

fn print(shell: &Shell, format: &Format) -> Status {
    let entries: Vec<String> = stack(shell)
        .iter()
        .map(|d| {
            if format.long {
                d.clone()
            } else {
                tilde(shell, d)
            }
        })
        .collect();
    let text = if format.numbered {
        entries
            .iter()
            .enumerate()
            .map(|(i, d)| format!("{i:2}  {d}\n"))
            .collect()
    } else if format.lines {
        entries.iter().map(|d| format!("{d}\n")).collect()
    } else {
        format!("{}\n", entries.join(" "))
    };
    Ok(if shell.out(&text).is_ok() { 0 } else { 1 })
}

/// Splits options (single letters among `allowed`, up to `--`) from
/// operands; an unknown option is reported with `usage`.
fn options(
    shell: &Shell,
    name: &str,
    args: Vec<String>,
    allowed: &str,
    usage: &str,
) -> Result<(String, Vec<String>), i32> {
    let mut letters = String::new();
    let mut operands = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            operands.extend(args);
            break;
        }
        match arg.strip_prefix('-') {
            Some(flags)
                if !flags.is_empty() && !flags.starts_with(|c: char| c.is_ascii_digit()) =>
            {
                for c in flags.chars() {
                    if !allowed.contains(c) {
                        shell.error(format!("{name}: -{c}: invalid option"));
                        shell.error(format!("{name}: usage: {usage}"));
                        return Err(2);
                    }
                    letters.push(c);
                }
            }
            _ => operands.push(arg),
        }
    }
    Ok((letters, operands))
}

/// `dirs [-clpv]`.
pub fn dirs(shell: &mut Shell, args: Vec<String>) -> Status {
    let (letters, operands) = match options(shell, "dirs", args, "clpv", "dirs [-clpv] [+N] [-N]") {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    if let Some(operand) = operands.first() {
        shell.error(format!("dirs: {operand}: invalid number"));
        shell.error("dirs: usage: dirs [-clpv] [+N] [-N]");
        return Ok(1);
    }
    if letters.contains('c') {
        shell.dirstack.clear();
        return Ok(0);
    }
    print(
        shell,
        &Format {
            long: letters.contains('l'),
            lines: letters.contains('p'),
            numbered: letters.contains('v'),
        },
    )
}

/// `pushd [-n] [DIR]`: with DIR, changes to it and pushes the directory
/// it left; without, swaps the two top entries.
pub fn pushd(shell: &mut Shell, args: Vec<String>) -> Status {
    const USAGE: &str = "pushd [-n] [+N | -N | dir]";
    let (letters, mut operands) = match options(shell, "pushd", args, "n", USAGE) {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    if operands.len() > 1 {
        shell.error("pushd: too many arguments");
        return Ok(1);
    }
    let no_cd = letters.contains('n');
    let left = shell.cwd.clone();
    match operands.pop() {
        None => {
            if shell.dirstack.is_empty() {
                shell.error("pushd: no other directory");
                return Ok(1);
            }
            let target = shell.dirstack[0].to_string_lossy().into_owned();
            if super::cd::cd(shell, vec![target])? != 0 {
                return Ok(1);
            }
            shell.dirstack[0] = left;
        }
        Some(dir) if no_cd => {
            let path = shell.cwd.join(&dir);
            shell.dirstack.insert(0, path);
        }
        Some(dir) => {
            if super::cd::cd(shell, vec![dir])? != 0 {
                return Ok(1);
            }
            shell.dirstack.insert(0, left);
        }
    }
    print(shell, &Format::default())
}

/// `popd [-n]`: drops the top entry and changes to the next one.
pub fn popd(shell: &mut Shell, args: Vec<String>) -> Status {
    const USAGE: &str = "popd [-n] [+N | -N]";
    let (letters, operands) = match options(shell, "popd", args, "n", USAGE) {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    if let Some(operand) = operands.first() {
        shell.error(format!("popd: {operand}: invalid argument"));
        shell.error(format!("popd: usage: {USAGE}"));
        return Ok(2);
    }
    if shell.dirstack.is_empty() {
        shell.error("popd: directory stack empty");
        return Ok(1);
    }
    let next = shell.dirstack.remove(0);
    if !letters.contains('n') {
        let target = next.to_string_lossy().into_owned();
        if super::cd::cd(shell, vec![target])? != 0 {
            shell.dirstack.insert(0, next);
            return Ok(1);
        }
    }
    print(shell, &Format::default())
}
