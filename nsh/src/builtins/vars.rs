//! Variable and option builtins: `unset`, `set`, `shift`, `getopts`,
//! `umask` (the declaration builtins are in `declare.rs`).

use crate::exec::assign::{split_subscript, valid_name};
use crate::expand;
use crate::shell::{Shell, Status};
use crate::vars::Key;

pub fn unset(shell: &mut Shell, args: Vec<String>) -> Status {
    let mut functions = false;
    let mut only_vars = false;
    let mut refs = false;
    let mut status = 0;
    for arg in args {
        match arg.as_str() {
            "-f" => functions = true,
            "-v" => only_vars = true,
            "-n" => refs = true,
            name if functions => {
                shell.functions.remove(name);
            }
            // `unset -n ref`: the nameref itself, not what it names.
            name if refs && shell.vars.lookup_ref(name).is_some_and(|v| v.nameref) => {
                if let Err(e) = shell.vars.unset_ref(name) {
                    shell.error(format!("unset: {e}"));
                    status = 1;
                }
            }
            name => {
                if let Err(message) = unset_variable(shell, name, only_vars) {
                    shell.error(format!("unset: {message}"));
                    status = 1;
                }
            }
        }
    }
    Ok(status)
}

/// `unset NAME` or `unset 'NAME[SUB]'` (`NAME[@]` is the whole array).
/// Without `-v`, a name that is no variable removes the function of that
/// name, as in bash.
fn unset_variable(shell: &mut Shell, arg: &str, only_vars: bool) -> Result<(), String> {
    let invalid = || format!("`{arg}': not a valid identifier");
    // Without -v, a word that cannot name a variable may name a function
    // (bash does not check those names).
    let function = |shell: &mut Shell| {
        shell.functions.remove(arg);
        Ok(())
    };
    let Some((name, sub)) = split_subscript(arg) else {
        return if only_vars {
            Err(invalid())
        } else {
            function(shell)
        };
    };
    if !valid_name(name) {
        return if only_vars {
            Err(invalid())
        } else {
            function(shell)
        };
    }
    match sub {
        None | Some("@" | "*") => {
            if !only_vars && sub.is_none() && shell.vars.lookup(name).is_none() {
                shell.functions.remove(name);
                return Ok(());
            }
            shell.vars.unset(name).map_err(|e| e.to_string())
        }
        Some(sub) => {
            let key = if shell.vars.is_assoc(name) {
                Key::Name(expand::expand_word(shell, sub).map_err(|e| e.message)?)
            } else {
                Key::Index(expand::eval_arith(shell, sub).map_err(|e| e.message)?)
            };
            match shell.vars.unset_element(name, &key) {
                Ok(true) => Ok(()),
                Ok(false) => Err(format!("{name}[{sub}]: bad array subscript")),
                Err(e) => Err(e.to_string()),
            }
        }
    }
}

/// The `set -o NAME` options nsh knows.
pub(crate) fn option_slot<'a>(shell: &'a mut Shell, name: &str) -> Option<&'a mut bool> {
    options_slot(&mut shell.options, name)
}

/// `$SHELLOPTS`: the `set -o` options that are on, sorted, with those nsh
/// always has on (brace expansion, hashing, comments).
pub(crate) fn shell_options(shell: &Shell) -> String {
    let mut options = shell.options.clone();
    let mut on: Vec<&str> = OPTION_NAMES
        .iter()
        .copied()
        .filter(|name| options_slot(&mut options, name).is_some_and(|v| *v))
        .chain(["braceexpand", "hashall", "interactive-comments"])
        .collect();
    on.sort_unstable();
    on.join(":")
}

fn options_slot<'a>(o: &'a mut crate::shell::Options, name: &str) -> Option<&'a mut bool> {
    Some(match name {
        "errexit" => &mut o.errexit,
        "errtrace" => &mut o.errtrace,
        "functrace" => &mut o.functrace,
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
        'E' => "errtrace",
        'T' => "functrace",
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

pub(crate) const OPTION_NAMES: &[&str] = &[
    "allexport",
    "errexit",
    "errtrace",
    "functrace",
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
                out.push_str(&format!("{name}={}\n", super::echo::set_quote(v)));
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
        // `-` ends the options and turns off -x and -v; with nothing
        // after it the positional parameters stay (bash). `+` does nothing.
        if arg == "-" {
            shell.options.xtrace = false;
            shell.options.verbose = false;
            if i + 1 < args.len() {
                shell.positional = args[i + 1..].to_vec();
            }
            return Ok(0);
        }
        if arg == "+" {
            i += 1;
            continue;
        }
        let (on, flags) = match (arg.strip_prefix('-'), arg.strip_prefix('+')) {
            (Some(f), _) => (true, f),
            (_, Some(f)) => (false, f),
            _ => {
                shell.positional = args[i..].to_vec();
                return Ok(0);
            }
        };
        // Each `o` among the letters takes the next unused argument as an
        // option name (`set -euo pipefail`); one with none left lists the
        // options.
        let mut names = 0;
        for c in flags.chars() {
            if c == 'o' {
                names += 1;
                let Some(name) = args.get(i + names) else {
                    list_options(shell, on);
                    return Ok(0);
                };
                match option_slot(shell, name) {
                    Some(slot) => *slot = on,
                    None => {
                        shell.error(format!("set: {name}: invalid option name"));
                        return Ok(2);
                    }
                }
                continue;
            }
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
        i += 1 + names;
    }
    Ok(0)
}

/// `set -o` (`on`: a table) and `set +o` (commands that restore them).
fn list_options(shell: &mut Shell, on: bool) {
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
    let mut optind: usize = shell
        .vars
        .get("OPTIND")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    // Past the end of these arguments (new ones since): start again, as
    // bash does.
    if optind > params.len() + 1 {
        optind = 1;
        let _ = shell.vars.set("OPTIND", "1");
        let _ = shell.vars.unset("_NSH_OPTPOS");
    }
    // Position inside a bundle of flags (`-abc`), kept in a private var.
    let offset: usize = shell
        .vars
        .get("_NSH_OPTPOS")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let Some(word) = params.get(optind - 1) else {
        let _ = shell.vars.set(&var, "?");
        let _ = shell.vars.unset("OPTARG");
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
                // bash names $0 here (the script), not itself.
                let line = format!("{}: illegal option -- {c}\n", shell.arg0);
                let _ = shell.fds.write(2, line.as_bytes());
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
                        let line = format!("{}: option requires an argument -- {c}\n", shell.arg0);
                        let _ = shell.fds.write(2, line.as_bytes());
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
