//! Small bash builtins scripts use for bookkeeping: `builtin`, `hash`,
//! `alias`/`unalias`; and the bash builtins nsh does not have, which stop
//! a script with a clear error instead of becoming cluster commands.
//!
//! Aliases are expanded when commands are read (syntax/aliases.rs), under
//! `shopt -s expand_aliases` as in bash (on in interactive shells).

use crate::shell::{Shell, Status};

/// bash builtins nsh does not implement.
pub const UNSUPPORTED: &[&str] = &[
    "bind", "compgen", "complete", "compopt", "disown", "enable", "fc", "logout", "suspend",
];

/// `builtin NAME [ARG...]`: runs the builtin, skipping functions.
pub fn builtin(shell: &mut Shell, mut args: Vec<String>) -> Status {
    if args.is_empty() {
        return Ok(0);
    }
    let name = args.remove(0);
    if !super::is_builtin(&name) {
        shell.error(format!("builtin: {name}: not a shell builtin"));
        return Ok(1);
    }
    super::run(shell, &name, args)
}

/// `caller [N]`: where the running function (or sourced file) was called
/// from, as bash prints it (calls.rs); status 1 where there is no such
/// frame.
pub fn caller(shell: &mut Shell, args: Vec<String>) -> Status {
    let depth = match args.first().map(|a| a.parse::<usize>()) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            shell.error(format!("caller: {}: invalid number", args[0]));
            return super::usage(shell, "caller");
        }
    };
    match shell.caller(depth) {
        Some(line) => {
            let _ = shell.out(&format!("{line}\n"));
            Ok(0)
        }
        None => Ok(1),
    }
}

/// `hash`: nsh keeps no table of command locations (commands are looked
/// up on the node that runs them), so there is nothing to remember or
/// forget; `hash NAME` checks that NAME is found.
pub fn hash(shell: &mut Shell, args: Vec<String>) -> Status {
    let mut status = 0;
    for name in args.iter().filter(|a| !a.starts_with('-')) {
        if super::flow::find_in_path(shell, name).is_none() {
            shell.error(format!("hash: {name}: not found"));
            status = 1;
        }
    }
    Ok(status)
}

/// `alias [NAME[=VALUE]...]`.
pub fn alias(shell: &mut Shell, args: Vec<String>) -> Status {
    let show =
        |name: &str, value: &str| format!("alias {name}='{}'\n", value.replace('\'', r"'\''"));
    let mut out = String::new();
    let mut status = 0;
    let listing = args.is_empty() || args.iter().any(|a| a == "-p");
    let args: Vec<String> = args
        .into_iter()
        .filter(|a| a != "-p" && a != "--")
        .collect();
    if listing {
        let mut names: Vec<&String> = shell.aliases.keys().collect();
        names.sort();
        for name in names {
            out.push_str(&show(name, &shell.aliases[name]));
        }
    }
    for arg in args {
        match arg.split_once('=') {
            Some((name, value)) => {
                shell.aliases.insert(name.to_string(), value.to_string());
            }
            None => match shell.aliases.get(&arg) {
                Some(value) => out.push_str(&show(&arg, value)),
                None => {
                    shell.error(format!("alias: {arg}: not found"));
                    status = 1;
                }
            },
        }
    }
    let _ = shell.out(&out);
    Ok(status)
}

/// `unalias [-a] NAME...`.
pub fn unalias(shell: &mut Shell, args: Vec<String>) -> Status {
    let args: Vec<String> = args.into_iter().filter(|a| a != "--").collect();
    if args.is_empty() {
        return super::usage(shell, "unalias");
    }
    let mut status = 0;
    for arg in args {
        if arg == "-a" {
            shell.aliases.clear();
        } else if shell.aliases.remove(&arg).is_none() {
            shell.error(format!("unalias: {arg}: not found"));
            status = 1;
        }
    }
    Ok(status)
}
