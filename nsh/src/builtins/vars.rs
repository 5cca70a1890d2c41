//! Variable and option builtins: `export`, `readonly`, `unset`, `set`,
//! `shift`, `local`, `getopts`, `umask`.

use crate::builtins::echo::shell_quote;
use crate::shell::{Shell, Status};
use crate::vars::Value;

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// `NAME=VALUE` or `NAME`.
fn split_assignment(arg: &str) -> (&str, Option<&str>) {
    match arg.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (arg, None),
    }
}

fn declare_like(
    shell: &mut Shell,
    name: &str,
    args: Vec<String>,
    attribute: fn(&mut crate::vars::Var, bool),
) -> Status {
    let mut remove = false;
    let mut print = args.is_empty();
    let mut rest = Vec::new();
    for arg in args {
        match arg.as_str() {
            "-n" if name == "export" => remove = true,
            "-p" => print = true,
            "-f" => {
                shell.error(format!("{name}: -f is not supported"));
                return Ok(2);
            }
            _ => rest.push(arg),
        }
    }
    if print && rest.is_empty() {
        let mut out = String::new();
        for var_name in shell.vars.names() {
            let Some(var) = shell.vars.lookup(&var_name) else {
                continue;
            };
            let shown = match name {
                "export" => var.exported,
                _ => var.readonly,
            };
            if !shown {
                continue;
            }
            let flag = if name == "export" { "-x" } else { "-r" };
            match var.value.as_ref().and_then(Value::scalar) {
                Some(v) => out.push_str(&format!(
                    "declare {flag} {var_name}=\"{}\"\n",
                    v.replace('\\', "\\\\")
                        .replace('"', "\\\"")
                        .replace('$', "\\$")
                )),
                None => out.push_str(&format!("declare {flag} {var_name}\n")),
            }
        }
        let _ = shell.out(&out);
        return Ok(0);
    }
    let mut status = 0;
    for arg in rest {
        let (var_name, value) = split_assignment(&arg);
        if !valid_name(var_name) {
            shell.error(format!("{name}: `{arg}': not a valid identifier"));
            status = 1;
            continue;
        }
        if let Some(value) = value
            && let Err(e) = shell.vars.set(var_name, value)
        {
            shell.error(e);
            status = 1;
            continue;
        }
        shell.vars.modify(var_name, |v| attribute(v, !remove));
    }
    Ok(status)
}

pub fn export(shell: &mut Shell, args: Vec<String>) -> Status {
    declare_like(shell, "export", args, |v, on| v.exported = on)
}

pub fn readonly(shell: &mut Shell, args: Vec<String>) -> Status {
    declare_like(shell, "readonly", args, |v, on| v.readonly |= on)
}

pub fn unset(shell: &mut Shell, args: Vec<String>) -> Status {
    let mut functions = false;
    let mut status = 0;
    for arg in args {
        match arg.as_str() {
            "-f" => functions = true,
            "-v" => functions = false,
            name => {
                if functions {
                    shell.functions.remove(name);
                } else if !valid_name(name) {
                    shell.error(format!("unset: `{name}': not a valid identifier"));
                    status = 1;
                } else if let Err(e) = shell.vars.unset(name) {
                    shell.error(format!("unset: {e}"));
                    status = 1;
                } else if !shell.vars.is_set(name) {
                    // `unset f` also removes a function when no variable
                    // by that name exists (bash).
                }
            }
        }
    }
    Ok(status)
}

/// The `set -o NAME` options nsh knows.
fn option_slot<'a>(shell: &'a mut Shell, name: &str) -> Option<&'a mut bool> {
    let o = &mut shell.options;
    Some(match name {
        "errexit" => &mut o.errexit,
        "nounset" => &mut o.nounset,
        "noglob" => &mut o.noglob,
        "xtrace" => &mut o.xtrace,
        "noclobber" => &mut o.noclobber,
        "allexport" => &mut o.allexport,
        "verbose" => &mut o.verbose,
        "noexec" => &mut o.noexec,
        "pipefail" => &mut o.pipefail,
        _ => return None,
    })
}

fn letter_option(c: char) -> Option<&'static str> {
    Some(match c {
        'e' => "errexit",
        'u' => "nounset",
        'f' => "noglob",
        'x' => "xtrace",
        'C' => "noclobber",
        'a' => "allexport",
        'v' => "verbose",
        'n' => "noexec",
        _ => return None,
    })
}

const OPTION_NAMES: &[&str] = &[
    "allexport",
    "errexit",
    "noclobber",
    "noexec",
    "noglob",
    "nounset",
    "pipefail",
    "verbose",
    "xtrace",
];

pub fn set(shell: &mut Shell, args: Vec<String>) -> Status {
    if args.is_empty() {
        let mut out = String::new();
        for name in shell.vars.names() {
            if let Some(v) = shell.vars.get(&name) {
                out.push_str(&format!("{name}={}\n", shell_quote(v)));
            }
        }
        let _ = shell.out(&out);
        return Ok(0);
    }
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg == "--" {
            shell.positional = args[i + 1..].to_vec();
            return Ok(0);
        }
        if arg == "-" {
            shell.options.xtrace = false;
            shell.options.verbose = false;
            shell.positional = args[i + 1..].to_vec();
            return Ok(0);
        }
        let (on, flags) = match (arg.strip_prefix('-'), arg.strip_prefix('+')) {
            (Some(f), _) => (true, f),
            (_, Some(f)) => (false, f),
            _ => {
                shell.positional = args[i..].to_vec();
                return Ok(0);
            }
        };
        if flags == "o" {
            i += 1;
            let Some(name) = args.get(i) else {
                let mut out = String::new();
                for name in OPTION_NAMES {
                    let value = option_slot(shell, name).map(|v| *v).unwrap_or(false);
                    if on {
                        out.push_str(&format!(
                            "{name:<15}\t{}\n",
                            if value { "on" } else { "off" }
                        ));
                    } else {
                        out.push_str(&format!("set {}o {name}\n", if value { '-' } else { '+' }));
                    }
                }
                let _ = shell.out(&out);
                return Ok(0);
            };
            match option_slot(shell, name) {
                Some(slot) => *slot = on,
                None => {
                    shell.error(format!("set: {name}: invalid option name"));
                    return Ok(2);
                }
            }
            i += 1;
            continue;
        }
        for c in flags.chars() {
            match letter_option(c).and_then(|name| option_slot(shell, name)) {
                Some(slot) => *slot = on,
                None if c == 'm' || c == 'b' || c == 'h' || c == 'B' || c == 'H' => {}
                None => {
                    shell.error(format!(
                        "set: {}{c}: invalid option",
                        if on { '-' } else { '+' }
                    ));
                    return Ok(2);
                }
            }
        }
        i += 1;
    }
    Ok(0)
}

pub fn shift(shell: &mut Shell, args: Vec<String>) -> Status {
    let n = match args.first().map(|a| a.parse::<usize>()) {
        None => 1,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            shell.error(format!("shift: {}: numeric argument required", args[0]));
            return Ok(1);
        }
    };
    if n > shell.positional.len() {
        return Ok(1);
    }
    shell.positional.drain(..n);
    Ok(0)
}

pub fn local(shell: &mut Shell, args: Vec<String>) -> Status {
    if !shell.vars.in_function() {
        shell.error("local: can only be used in a function");
        return Ok(1);
    }
    let mut status = 0;
    for arg in args {
        if arg.starts_with('-') {
            continue;
        }
        let (name, value) = split_assignment(&arg);
        if !valid_name(name) {
            shell.error(format!("local: `{arg}': not a valid identifier"));
            status = 1;
            continue;
        }
        if let Err(e) = shell
            .vars
            .declare_local(name, value.map(|v| Value::Str(v.to_string())))
        {
            shell.error(format!("local: {e}"));
            status = 1;
        }
    }
    Ok(status)
}

/// POSIX getopts, with OPTIND/OPTARG and the silent `:` mode.
pub fn getopts(shell: &mut Shell, args: Vec<String>) -> Status {
    if args.len() < 2 {
        return super::usage(shell, "getopts");
    }
    let spec = args[0].clone();
    let var = args[1].clone();
    let params: Vec<String> = if args.len() > 2 {
        args[2..].to_vec()
    } else {
        shell.positional.clone()
    };
    let silent = spec.starts_with(':');
    let optind: usize = shell
        .vars
        .get("OPTIND")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    // Position inside a bundle of flags (`-abc`), kept in a private var.
    let offset: usize = shell
        .vars
        .get("_NSH_OPTPOS")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let Some(word) = params.get(optind - 1) else {
        let _ = shell.vars.set(&var, "?");
        return Ok(1);
    };
    if offset == 1 && (word == "--" || !word.starts_with('-') || word == "-") {
        if word == "--" {
            let _ = shell.vars.set("OPTIND", (optind + 1).to_string());
        }
        let _ = shell.vars.set(&var, "?");
        return Ok(1);
    }
    let chars: Vec<char> = word.chars().collect();
    let c = chars.get(offset).copied().unwrap_or('?');
    let next_in_word = offset + 1 < chars.len();
    let advance = |shell: &mut Shell, next_word: bool, pos: usize| {
        if next_word {
            let _ = shell.vars.set("OPTIND", (optind + 1).to_string());
            let _ = shell.vars.unset("_NSH_OPTPOS");
        } else {
            let _ = shell.vars.set("_NSH_OPTPOS", pos.to_string());
        }
    };
    let position = spec.find(c).filter(|_| c != ':');
    match position {
        None => {
            if silent {
                let _ = shell.vars.set("OPTARG", c.to_string());
            } else {
                let _ = shell.vars.unset("OPTARG");
                shell.error(format!("illegal option -- {c}"));
            }
            let _ = shell.vars.set(&var, "?");
            advance(shell, !next_in_word, offset + 1);
        }
        Some(i) if spec[i + 1..].starts_with(':') => {
            let (argument, consumed) = if next_in_word {
                (Some(chars[offset + 1..].iter().collect::<String>()), 1)
            } else {
                (params.get(optind).cloned(), 2)
            };
            match argument {
                Some(a) => {
                    let _ = shell.vars.set("OPTARG", a);
                    let _ = shell.vars.set(&var, c.to_string());
                    let _ = shell.vars.set("OPTIND", (optind + consumed).to_string());
                    let _ = shell.vars.unset("_NSH_OPTPOS");
                }
                None => {
                    if silent {
                        let _ = shell.vars.set("OPTARG", c.to_string());
                        let _ = shell.vars.set(&var, ":");
                    } else {
                        let _ = shell.vars.unset("OPTARG");
                        shell.error(format!("option requires an argument -- {c}"));
                        let _ = shell.vars.set(&var, "?");
                    }
                    advance(shell, true, 1);
                }
            }
        }
        Some(_) => {
            let _ = shell.vars.set(&var, c.to_string());
            let _ = shell.vars.unset("OPTARG");
            advance(shell, !next_in_word, offset + 1);
        }
    }
    Ok(0)
}

pub fn umask(shell: &mut Shell, args: Vec<String>) -> Status {
    use nix::sys::stat::{Mode, umask};
    match args.first() {
        None => {
            let current = umask(Mode::empty());
            umask(current);
            let _ = shell.out(&format!("{:04o}\n", current.bits()));
            Ok(0)
        }
        Some(mode) => match u32::from_str_radix(mode, 8) {
            Ok(bits) => {
                umask(Mode::from_bits_truncate(bits));
                Ok(0)
            }
            Err(_) => {
                shell.error(format!("umask: {mode}: octal number expected"));
                Ok(1)
            }
        },
    }
}
