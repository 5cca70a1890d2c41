//! `shopt`: bash's shell options. nsh implements extglob, nullglob,
//! failglob, dotglob, globskipdots, globstar, nocaseglob, lastpipe,
//! expand_aliases and inherit_errexit; `-o` reaches the
//! `set -o` options.
//!
//! Every other bash option is known with its bash default, which is how
//! nsh behaves: asking about it (`-q`, `-p`) tells that default, and
//! setting it to that default is accepted. Setting an option that only
//! changes interactive conveniences (history, completion, window size) is
//! accepted and has no effect; setting any other one to what nsh does not
//! do stops with `nsh: shopt -s NAME is not supported`.

use crate::shell::{Shell, Shopt, Status};

/// bash's options with their defaults in a non-interactive shell.
const BASH_OPTIONS: &[(&str, bool)] = &[
    ("autocd", false),
    ("assoc_expand_once", false),
    ("cdable_vars", false),
    ("cdspell", false),
    ("checkhash", false),
    ("checkjobs", false),
    ("checkwinsize", true),
    ("cmdhist", true),
    ("compat31", false),
    ("compat32", false),
    ("compat40", false),
    ("compat41", false),
    ("compat42", false),
    ("compat43", false),
    ("compat44", false),
    ("complete_fullquote", true),
    ("direxpand", false),
    ("dirspell", false),
    ("dotglob", false),
    ("execfail", false),
    ("expand_aliases", false),
    ("extdebug", false),
    ("extglob", false),
    ("extquote", true),
    ("failglob", false),
    ("force_fignore", true),
    ("globasciiranges", true),
    ("globskipdots", true),
    ("globstar", false),
    ("gnu_errfmt", false),
    ("histappend", false),
    ("histreedit", false),
    ("histverify", false),
    ("hostcomplete", true),
    ("huponexit", false),
    ("inherit_errexit", false),
    ("interactive_comments", true),
    ("lastpipe", false),
    ("lithist", false),
    ("localvar_inherit", false),
    ("localvar_unset", false),
    ("login_shell", false),
    ("mailwarn", false),
    ("no_empty_cmd_completion", false),
    ("nocaseglob", false),
    ("nocasematch", false),
    ("noexpand_translation", false),
    ("nullglob", false),
    ("patsub_replacement", true),
    ("progcomp", true),
    ("progcomp_alias", false),
    ("promptvars", true),
    ("restricted_shell", false),
    ("shift_verbose", false),
    ("sourcepath", true),
    ("varredir_close", false),
    ("xpg_echo", false),
];

/// Options that only matter to an interactive bash: setting them is
/// accepted and changes nothing.
const INTERACTIVE_ONLY: &[&str] = &[
    "autocd",
    "cdspell",
    "checkjobs",
    "checkwinsize",
    "cmdhist",
    "complete_fullquote",
    "direxpand",
    "dirspell",
    "histappend",
    "histreedit",
    "histverify",
    "hostcomplete",
    "huponexit",
    "lithist",
    "mailwarn",
    "no_empty_cmd_completion",
    "progcomp",
    "progcomp_alias",
    "promptvars",
];

/// The implemented option `name`.
fn slot<'a>(shopt: &'a mut Shopt, name: &str) -> Option<&'a mut bool> {
    Some(match name {
        "extglob" => &mut shopt.extglob,
        "nullglob" => &mut shopt.nullglob,
        "failglob" => &mut shopt.failglob,
        "dotglob" => &mut shopt.dotglob,
        "globskipdots" => &mut shopt.globskipdots,
        "globstar" => &mut shopt.globstar,
        "nocaseglob" => &mut shopt.nocaseglob,
        "lastpipe" => &mut shopt.lastpipe,
        "expand_aliases" => &mut shopt.expand_aliases,
        "inherit_errexit" => &mut shopt.inherit_errexit,
        _ => return None,
    })
}

/// `$BASHOPTS`: the `shopt` options that are on, as nsh behaves.
pub(crate) fn enabled(shell: &Shell) -> String {
    let mut shopt = shell.shopt.clone();
    let on: Vec<&str> = BASH_OPTIONS
        .iter()
        .filter(|(name, default)| slot(&mut shopt, name).map_or(*default, |v| *v))
        .map(|(name, _)| *name)
        .collect();
    on.join(":")
}

/// The value of option `name` as nsh behaves; `None` when bash has no
/// such option.
fn value(shell: &mut Shell, name: &str, set_o: bool) -> Option<bool> {
    if set_o {
        return super::vars::option_slot(shell, name).map(|v| *v);
    }
    if let Some(v) = slot(&mut shell.shopt, name) {
        return Some(*v);
    }
    BASH_OPTIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, default)| default)
}

pub fn shopt(shell: &mut Shell, args: Vec<String>) -> Status {
    shell.shopt.sync_globignore(shell.vars.get("GLOBIGNORE"));
    let mut set = None;
    let mut print = false;
    let mut quiet = false;
    let mut set_o = false;
    let mut names = Vec::new();
    let mut options_done = false;
    for arg in args {
        if !options_done && arg.starts_with('-') && arg.len() > 1 {
            if arg == "--" {
                options_done = true;
                continue;
            }
            for c in arg[1..].chars() {
                match c {
                    's' => set = Some(true),
                    'u' => set = Some(false),
                    'p' => print = true,
                    'q' => quiet = true,
                    'o' => set_o = true,
                    other => {
                        shell.error(format!("shopt: -{other}: invalid option"));
                        return super::usage(shell, "shopt");
                    }
                }
            }
            continue;
        }
        options_done = true;
        names.push(arg);
    }
    if names.is_empty() {
        let all: Vec<String> = if set_o {
            super::vars::OPTION_NAMES
                .iter()
                .map(|n| n.to_string())
                .collect()
        } else {
            BASH_OPTIONS.iter().map(|(n, _)| n.to_string()).collect()
        };
        let mut out = String::new();
        for name in all {
            let on = value(shell, &name, set_o).unwrap_or(false);
            if set.is_some_and(|want| want != on) {
                continue;
            }
            out.push_str(&line(&name, on, print, set_o));
        }
        let _ = shell.out(&out);
        return Ok(0);
    }
    let mut status = 0;
    let mut out = String::new();
    for name in &names {
        let Some(current) = value(shell, name, set_o) else {
            shell.error(format!("shopt: {name}: invalid shell option name"));
            status = 1;
            continue;
        };
        match set {
            Some(on) => {
                if set_o {
                    if let Some(v) = super::vars::option_slot(shell, name) {
                        *v = on;
                    }
                } else if let Some(v) = slot(&mut shell.shopt, name) {
                    *v = on;
                } else if on != current && !INTERACTIVE_ONLY.contains(&name.as_str()) {
                    let flag = if on { 's' } else { 'u' };
                    return shell.unsupported(&format!("shopt -{flag} {name}"));
                }
            }
            None if quiet => {
                if !current {
                    status = 1;
                }
            }
            None => {
                out.push_str(&line(name, current, print, set_o));
                if !current {
                    status = 1;
                }
            }
        }
    }
    let _ = shell.out(&out);
    Ok(status)
}

/// One line of the listing: `NAME<tab>on`, or `shopt -s NAME` with `-p`.
fn line(name: &str, on: bool, reusable: bool, set_o: bool) -> String {
    match (reusable, set_o) {
        (true, false) => format!("shopt -{} {name}\n", if on { 's' } else { 'u' }),
        (true, true) => format!("set {}o {name}\n", if on { '-' } else { '+' }),
        (false, _) => format!("{name:<15}\t{}\n", if on { "on" } else { "off" }),
    }
}
