//! Control-flow builtins: `:`, `true`, `false`, `exit`, `return`,
//! `break`, `continue`, `eval`, `source`/`.`, `exec`, `trap`, `command`,
//! `type`.

use std::sync::Arc;

use crate::builtins;
use crate::shell::{Flow, Shell, Status};

pub fn colon(_: &mut Shell, _: Vec<String>) -> Status {
    Ok(0)
}

pub fn false_(_: &mut Shell, _: Vec<String>) -> Status {
    Ok(1)
}

/// The numeric argument of exit/return/break/continue.
fn number(shell: &Shell, name: &str, args: &[String], default: i32) -> Result<i32, i32> {
    match args.first() {
        None => Ok(default),
        Some(a) => a.parse::<i64>().map(|n| n as i32).map_err(|_| {
            shell.error(format!("{name}: {a}: numeric argument required"));
            2
        }),
    }
}

pub fn exit(shell: &mut Shell, args: Vec<String>) -> Status {
    let status = match number(shell, "exit", &args, shell.last_status) {
        Ok(n) => n & 0xff,
        Err(s) => s,
    };
    Err(Flow::Exit(status))
}

pub fn return_(shell: &mut Shell, args: Vec<String>) -> Status {
    let status = match number(shell, "return", &args, shell.last_status) {
        Ok(n) => n & 0xff,
        Err(s) => s,
    };
    if shell.return_depth == 0 {
        shell.error("return: can only `return' from a function or sourced script");
        return Ok(2);
    }
    Err(Flow::Return(status))
}

fn loop_control(shell: &mut Shell, name: &str, args: &[String], flow: fn(u32) -> Flow) -> Status {
    // bash abandons the command line for a bad argument: status 128 for
    // one that is no number, 1 for more than one.
    let abandon = |shell: &mut Shell, status: i32| {
        shell.last_status = status;
        if shell.interactive {
            return Ok(status);
        }
        shell.abandon = true;
        Err(Flow::Interrupted(status))
    };
    if args.len() > 1 {
        shell.error(format!("{name}: too many arguments"));
        return abandon(shell, 1);
    }
    let n = match number(shell, name, args, 1) {
        Ok(n) if n >= 1 => n as u32,
        Ok(n) => {
            shell.error(format!("{name}: {n}: loop count out of range"));
            return Ok(1);
        }
        Err(_) => return abandon(shell, 128),
    };
    if shell.loop_depth == 0 {
        // bash accepts it silently outside a loop in scripts.
        return Ok(0);
    }
    Err(flow(n.min(shell.loop_depth)))
}

pub fn break_(shell: &mut Shell, args: Vec<String>) -> Status {
    loop_control(shell, "break", &args, Flow::Break)
}

pub fn continue_(shell: &mut Shell, args: Vec<String>) -> Status {
    loop_control(shell, "continue", &args, Flow::Continue)
}

pub fn eval(shell: &mut Shell, args: Vec<String>) -> Status {
    let text = args.join(" ");
    // As bash: the commands before a syntax error run; the error is
    // eval's status, and the shell goes on.
    match shell.with_line_base(|shell| shell.read_and_run(&text, crate::syntax::Origin::Stdin)) {
        // An expansion or assignment error ends only the eval'd text.
        Ok(Err(Flow::Interrupted(status))) if shell.abandon => {
            shell.abandon = false;
            Ok(status)
        }
        Ok(status) => status,
        Err(message) => {
            let _ = shell.fds.write(2, message.as_bytes());
            Ok(2)
        }
    }
}

pub fn source(shell: &mut Shell, mut args: Vec<String>) -> Status {
    if args.is_empty() {
        shell.error("source: filename argument required");
        return Ok(2);
    }
    let name = args.remove(0);
    let path = if name.contains('/') {
        Some(shell.cwd.join(&name))
    } else {
        shell
            .vars
            .get("PATH")
            .unwrap_or("")
            .split(':')
            .map(|dir| std::path::Path::new(dir).join(&name))
            .find(|p| p.is_file())
            .or_else(|| Some(shell.cwd.join(&name)))
    };
    let text = match path.map(std::fs::read_to_string) {
        Some(Ok(text)) => text,
        Some(Err(e)) => {
            shell.error(format!("{name}: {}", crate::exec::redirect_message(&e)));
            return Ok(1);
        }
        None => return Ok(1),
    };
    let program = match crate::syntax::parse(&text, &shell.parser_options) {
        Ok(p) => p,
        Err(e) => {
            shell.error(format!("{name}: {e}"));
            return Ok(2);
        }
    };
    shell.note_text(&text);
    let saved = (!args.is_empty()).then(|| std::mem::replace(&mut shell.positional, args));
    shell.return_depth += 1;
    let base = std::mem::replace(&mut shell.line_base, 0);
    shell.substitution_level += 1;
    let file: Arc<str> = name.as_str().into();
    let outer_file = shell.source_file.replace(file.clone());
    shell.enter_call("source", Some(file));
    let result = shell.run_program(&program);
    shell.leave_call();
    shell.source_file = outer_file;
    shell.substitution_level -= 1;
    shell.line_base = base;
    shell.return_depth -= 1;
    if let Some(positional) = saved {
        shell.positional = positional;
    }
    // The RETURN trap runs when a sourced file ends, `$?` the last
    // command's status (0 after `return N`, as in bash).
    let (result, trap_status) = match result {
        Err(Flow::Return(status)) => (Ok(status), 0),
        other => (other, shell.last_status),
    };
    if let Ok(status) = result
        && let Some(action) = shell.traps.get("RETURN").filter(|a| !a.is_empty()).cloned()
    {
        shell.last_status = trap_status;
        shell.run_trap(&action)?;
        shell.last_status = status;
    }
    result
}

/// `exec` without a command keeps its redirections (the caller does not
/// restore them); with a command, runs it and exits with its status.
pub fn exec(shell: &mut Shell, args: Vec<String>) -> Status {
    if args.is_empty() {
        return Ok(0);
    }
    let status = shell.run_argv(args, true)?;
    Err(Flow::Exit(status))
}

/// Normalises a trap condition: `EXIT`, `ERR`, or a signal name without
/// `SIG` (numbers accepted).
fn condition_name(condition: &str) -> Option<String> {
    let upper = condition.trim().to_ascii_uppercase();
    if upper == "0" || upper == "EXIT" {
        return Some("EXIT".to_string());
    }
    if upper == "ERR" || upper == "DEBUG" || upper == "RETURN" {
        return Some(upper);
    }
    let signal = match upper.parse::<i32>() {
        // Real-time signals, named as bash names them (the traps are
        // kept and listed; nsh does not catch them).
        Ok(34) => return Some("RTMIN".to_string()),
        Ok(n @ 35..=49) => return Some(format!("RTMIN+{}", n - 34)),
        Ok(64) => return Some("RTMAX".to_string()),
        Ok(n @ 50..=63) => return Some(format!("RTMAX-{}", 64 - n)),
        Ok(n) => nix::sys::signal::Signal::try_from(n).ok()?,
        Err(_) => {
            let full = if upper.starts_with("SIG") {
                upper.clone()
            } else {
                format!("SIG{upper}")
            };
            full.parse::<nix::sys::signal::Signal>().ok()?
        }
    };
    Some(signal.as_str().trim_start_matches("SIG").to_string())
}

pub fn trap(shell: &mut Shell, args: Vec<String>) -> Status {
    if args.is_empty() || args[0] == "-p" {
        let asked: Vec<String> = args
            .iter()
            .skip(1)
            .filter_map(|a| condition_name(a))
            .collect();
        // A subshell shows its parent's traps until it sets one (bash).
        let traps = shell.inherited_traps.as_ref().unwrap_or(&shell.traps);
        let mut names: Vec<&String> = traps.keys().collect();
        // bash's order: EXIT, the signals by number, then ERR; or the
        // order asked in.
        names.sort_by_key(|name| match name.as_str() {
            "EXIT" => 0,
            "DEBUG" => 1000,
            "ERR" => 1001,
            "RETURN" => 1002,
            other => format!("SIG{other}")
                .parse::<nix::sys::signal::Signal>()
                .map_or(999, |s| s as i32),
        });
        if !asked.is_empty() {
            names = asked.iter().filter(|n| traps.contains_key(*n)).collect();
        }
        let mut out = String::new();
        for name in names {
            let action = &traps[name];
            let shown = match name.as_str() {
                "EXIT" | "ERR" | "DEBUG" | "RETURN" => name.clone(),
                _ => format!("SIG{name}"),
            };
            out.push_str(&format!(
                "trap -- '{}' {shown}\n",
                action.replace('\'', "'\\''")
            ));
        }
        let _ = shell.out(&out);
        return Ok(0);
    }
    if args[0] == "-l" {
        return super::jobctl::kill(shell, vec!["-l".to_string()]);
    }
    let mut args = args;
    if args[0] == "--" {
        args.remove(0);
    } else if args[0].starts_with('-') && args[0] != "-" {
        shell.error(format!("trap: {}: invalid option", args[0]));
        return super::usage(shell, "trap");
    }
    if args.is_empty() {
        return Ok(0);
    }
    // A first argument that is a number (`trap 0 2`, `trap 07 EXIT`) names
    // a condition: all of them are reset, as in bash.
    let first = args[0].trim();
    let resets = !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit());
    let (action, conditions) = if args.len() == 1 || args[0] == "-" || resets {
        let skip = usize::from(args[0] == "-");
        (None, &args[skip..])
    } else {
        (Some(args[0].clone()), &args[1..])
    };
    shell.inherited_traps = None;
    let mut status = 0;
    for condition in conditions {
        match condition_name(condition) {
            Some(name) => match &action {
                Some(action) => {
                    shell.note_text(action);
                    if name == "EXIT" && !shell.interactive {
                        crate::signals::watch_for_exit_trap();
                    } else {
                        crate::signals::trapped(&name);
                        crate::signals::watch(&name);
                    }
                    shell.traps.insert(name, action.clone());
                }
                None => {
                    shell.traps.remove(&name);
                }
            },
            None => {
                shell.error(format!("trap: {condition}: invalid signal specification"));
                status = 1;
            }
        }
    }
    Ok(status)
}

/// Where a command name would be found on this machine's PATH.
pub(crate) fn find_in_path(shell: &Shell, name: &str) -> Option<String> {
    path_files(shell, name).next()
}

/// Every file named `name` in PATH, in order (a name with a `/` is
/// itself, if it is a file). Like bash's `type`, this does not check that
/// the file is executable.
fn path_files<'a>(shell: &'a Shell, name: &'a str) -> impl Iterator<Item = String> + 'a {
    let dirs: Vec<&str> = if name.contains('/') {
        vec![""]
    } else {
        shell
            .vars
            .get("PATH")
            .unwrap_or("/usr/bin:/bin")
            .split(':')
            .map(|dir| if dir.is_empty() { "." } else { dir })
            .collect()
    };
    dirs.into_iter()
        .map(move |dir| std::path::Path::new(dir).join(name))
        .filter(|p| p.is_file())
        .map(|p| p.to_string_lossy().into_owned())
}

/// What a name is, for `command -v`/`-V`.
enum Kind {
    Keyword,
    Function,
    Builtin,
    File(String),
}

const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "case", "esac", "for", "while", "until", "do", "done",
    "in", "function", "select", "time", "{", "}", "!", "[[", "]]",
];

fn kind_of(shell: &Shell, name: &str) -> Option<Kind> {
    if KEYWORDS.contains(&name) {
        return Some(Kind::Keyword);
    }
    if shell.functions.contains_key(name) {
        return Some(Kind::Function);
    }
    if builtins::is_builtin(name) {
        return Some(Kind::Builtin);
    }
    find_in_path(shell, name).map(Kind::File)
}

pub fn command(shell: &mut Shell, args: Vec<String>) -> Status {
    let mut args = args;
    let mut verbose = None;
    while let Some(first) = args.first() {
        match first.as_str() {
            "-v" => verbose = Some(false),
            "-V" => verbose = Some(true),
            "-p" => {}
            "--" => {
                args.remove(0);
                break;
            }
            _ => break,
        }
        args.remove(0);
    }
    if let Some(verbose) = verbose {
        let mut status = 0;
        for name in &args {
            match (kind_of(shell, name), verbose) {
                (Some(Kind::File(path)), false) => {
                    let _ = shell.out(&format!("{path}\n"));
                }
                (Some(_), false) => {
                    let _ = shell.out(&format!("{name}\n"));
                }
                (Some(kind), true) => describe(shell, name, &kind),
                (None, _) => {
                    if verbose {
                        shell.error(format!("command: {name}: not found"));
                    }
                    status = 1;
                }
            }
        }
        return Ok(status);
    }
    if args.is_empty() {
        return Ok(0);
    }
    shell.run_argv(args, true)
}

fn describe(shell: &Shell, name: &str, kind: &Kind) {
    let text = match kind {
        Kind::Keyword => format!("{name} is a shell keyword\n"),
        Kind::Function => format!("{name} is a function\n"),
        Kind::Builtin => format!("{name} is a shell builtin\n"),
        Kind::File(path) => format!("{name} is {path}\n"),
    };
    let _ = shell.out(&text);
}

/// `type [-afptP] NAME...`, as bash: what each name would run as (alias,
/// keyword, function, builtin, file), the first or (`-a`) all of them;
/// `-t` one word, `-p` only a file's path, `-P` search PATH whatever the
/// name is, `-f` skip functions. Status 1 if a name is nothing.
pub fn type_(shell: &mut Shell, args: Vec<String>) -> Status {
    let mut flags = String::new();
    let mut names = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.strip_prefix('-') {
            _ if arg == "--" => {
                names.extend(args.by_ref());
                break;
            }
            Some(letters) if !letters.is_empty() && names.is_empty() => {
                if let Some(bad) = letters.chars().find(|c| !"afptP".contains(*c)) {
                    shell.error(format!("type: -{bad}: invalid option"));
                    shell.error("type: usage: type [-afptP] name [name ...]");
                    return Ok(2);
                }
                flags.push_str(letters);
            }
            _ => names.push(arg),
        }
    }
    let all = flags.contains('a');
    let terse = flags.contains('t');
    let path_only = flags.contains('p');
    let force_path = flags.contains('P');
    let no_functions = flags.contains('f');
    let mut status = 0;
    for name in &names {
        let mut found = false;
        let mut out = String::new();
        if !force_path {
            let mut kinds: Vec<(&str, String)> = Vec::new();
            // Only where aliases are expanded (bash).
            if let Some(value) = shell
                .aliases
                .get(name)
                .filter(|_| shell.shopt.expand_aliases)
            {
                kinds.push(("alias", format!("{name} is aliased to `{value}'\n")));
            }
            if KEYWORDS.contains(&name.as_str()) {
                kinds.push(("keyword", format!("{name} is a shell keyword\n")));
            }
            if !no_functions && let Some(body) = shell.functions.get(name) {
                kinds.push((
                    "function",
                    format!("{name} is a function\n{name} () \n{body}\n"),
                ));
            }
            if builtins::is_builtin(name) {
                kinds.push(("builtin", format!("{name} is a shell builtin\n")));
            }
            if !kinds.is_empty() {
                found = true;
                for (word, text) in kinds.iter().take(if all { usize::MAX } else { 1 }) {
                    // -p prints only files: a name that is something else
                    // first prints nothing (and is found).
                    if path_only {
                        continue;
                    }
                    out.push_str(if terse { word } else { text });
                    if terse {
                        out.push('\n');
                    }
                }
            }
        }
        if !found || all || force_path {
            let files: Vec<String> = path_files(shell, name).collect();
            let files = if all {
                &files[..]
            } else {
                &files[..files.len().min(1)]
            };
            for path in files {
                found = true;
                if terse {
                    out.push_str("file\n");
                } else if path_only || force_path {
                    out.push_str(&format!("{path}\n"));
                } else {
                    out.push_str(&format!("{name} is {path}\n"));
                }
            }
            if force_path && files.is_empty() {
                found = false;
            }
        }
        let _ = shell.out(&out);
        if !found {
            if !terse && !path_only && !force_path {
                shell.error(format!("type: {name}: not found"));
            }
            status = 1;
        }
    }
    Ok(status)
}
