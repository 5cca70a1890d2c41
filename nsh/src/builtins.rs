//! Builtins: the table of names with their one-line usage (`--help`,
//! `help`), dispatch, and option parsing with clap for the builtins that
//! use it. Each group lives in a file of its own; the cluster builtins of
//! SPEC §3 (`ps`, `nodes`, `top`, `logs`, `attach`, `run`, `help`,
//! `history`) one file each, and `svc` (SPEC §7) a file and a folder.

pub mod attach;
pub mod cd;
pub mod cluster;
pub mod coord;
pub mod declare;
pub mod dirs;
pub mod echo;
pub mod flow;
pub mod help;
pub mod history;
pub mod jobctl;
pub mod logs;
pub mod mapfile;
pub mod misc;
pub mod nodes;
pub mod printf;
pub mod ps;
pub mod read;
pub mod run;
pub mod shopt;
pub mod svc;
pub mod test;
pub mod top;
pub mod ulimit;
pub mod umask;
pub mod vars;

use crate::shell::{Shell, Status};

/// A builtin: its name, usage and what it does.
pub struct Builtin {
    pub name: &'static str,
    pub usage: &'static str,
    pub about: &'static str,
    run: fn(&mut Shell, Vec<String>) -> Status,
}

macro_rules! builtin {
    ($name:expr, $usage:expr, $about:expr, $run:path) => {
        Builtin {
            name: $name,
            usage: $usage,
            about: $about,
            run: $run,
        }
    };
}

/// Every builtin, in `help` order.
pub static BUILTINS: &[Builtin] = &[
    builtin!(":", ":", "do nothing, successfully", flow::colon),
    builtin!("true", "true", "succeed", flow::colon),
    builtin!("false", "false", "fail", flow::false_),
    builtin!(
        "echo",
        "echo [-neE] [ARG...]",
        "write arguments",
        echo::echo
    ),
    builtin!(
        "printf",
        "printf [-v var] format [arguments]",
        "formatted output",
        printf::printf
    ),
    builtin!(
        "cd",
        "cd [-L|-P] [DIR]",
        "change the shell's directory",
        cd::cd
    ),
    builtin!("pwd", "pwd [-L|-P]", "print the shell's directory", cd::pwd),
    builtin!(
        "pushd",
        "pushd [-n] [DIR]",
        "change directory, pushing the old one on the stack",
        dirs::pushd
    ),
    builtin!(
        "popd",
        "popd [-n]",
        "pop the directory stack and change to the new top",
        dirs::popd
    ),
    builtin!(
        "dirs",
        "dirs [-clpv]",
        "print (or clear) the directory stack",
        dirs::dirs
    ),
    builtin!("test", "test EXPR", "evaluate a condition", test::test),
    builtin!("[", "[ EXPR ]", "evaluate a condition", test::bracket),
    builtin!("exit", "exit [N]", "leave the shell", flow::exit),
    builtin!(
        "return",
        "return [N]",
        "leave a function or sourced file",
        flow::return_
    ),
    builtin!("break", "break [N]", "leave N loops", flow::break_),
    builtin!(
        "continue",
        "continue [N]",
        "next iteration of the Nth loop",
        flow::continue_
    ),
    builtin!(
        "eval",
        "eval [ARG...]",
        "run the arguments as shell text",
        flow::eval
    ),
    builtin!(
        "source",
        "source FILE [ARG...]",
        "run a file in this shell",
        flow::source
    ),
    builtin!(
        ".",
        ". FILE [ARG...]",
        "run a file in this shell",
        flow::source
    ),
    builtin!(
        "exec",
        "exec [CMD [ARG...]]",
        "replace the shell, or apply redirections",
        flow::exec
    ),
    builtin!(
        "trap",
        "trap [-lp] [ACTION] [CONDITION...]",
        "run ACTION on a signal or EXIT",
        flow::trap
    ),
    builtin!(
        "command",
        "command [-vV] CMD [ARG...]",
        "run a command, skipping functions",
        flow::command
    ),
    builtin!(
        "builtin",
        "builtin NAME [ARG...]",
        "run a builtin, skipping functions",
        misc::builtin
    ),
    builtin!(
        "caller",
        "caller [N]",
        "the line and file a function was called from",
        misc::caller
    ),
    builtin!(
        "hash",
        "hash [-r] [NAME...]",
        "check that commands exist (nsh keeps no table)",
        misc::hash
    ),
    builtin!(
        "alias",
        "alias [-p] [NAME[=VALUE]...]",
        "define or list aliases (expanded under shopt -s expand_aliases, on interactively)",
        misc::alias
    ),
    builtin!(
        "unalias",
        "unalias [-a] NAME...",
        "remove aliases",
        misc::unalias
    ),
    builtin!(
        "type",
        "type [-t] NAME...",
        "tell what a name is",
        flow::type_
    ),
    builtin!(
        "export",
        "export [-n] [-p] [NAME[=VALUE]...]",
        "export variables",
        declare::export
    ),
    builtin!(
        "readonly",
        "readonly [-aAp] [NAME[=VALUE]...]",
        "make variables read-only",
        declare::readonly
    ),
    builtin!(
        "unset",
        "unset [-fv] NAME...",
        "remove variables or functions",
        vars::unset
    ),
    builtin!(
        "set",
        "set [-euxfvnC] [-o OPT] [--] [ARG...]",
        "set options and positional parameters",
        vars::set
    ),
    builtin!(
        "shopt",
        "shopt [-pqsuo] [NAME...]",
        "set and query shell options",
        shopt::shopt
    ),
    builtin!(
        "shift",
        "shift [N]",
        "shift positional parameters",
        vars::shift
    ),
    builtin!(
        "local",
        "local [-aAirx] [NAME[=VALUE]...]",
        "function-local variables",
        declare::local
    ),
    builtin!(
        "declare",
        "declare [-aAirxgpfF] [NAME[=VALUE]...]",
        "set variable attributes and values, or print them",
        declare::declare
    ),
    builtin!(
        "typeset",
        "typeset [-aAirxgpfF] [NAME[=VALUE]...]",
        "set variable attributes and values, or print them",
        declare::typeset
    ),
    builtin!(
        "let",
        "let EXPR...",
        "evaluate arithmetic expressions",
        declare::let_
    ),
    builtin!(
        "getopts",
        "getopts OPTSTRING NAME [ARG...]",
        "parse options",
        vars::getopts
    ),
    builtin!(
        "umask",
        "umask [-p] [-S] [mode]",
        "file creation mask",
        umask::umask
    ),
    builtin!(
        "times",
        "times",
        "CPU time of the shell and of its local children",
        crate::exec::timed::times
    ),
    builtin!(
        "ulimit",
        "ulimit [-HS] [-a | -cdefilmnpqrstuvxR [LIMIT]]",
        "resource limits of the commands this shell starts",
        ulimit::ulimit
    ),
    builtin!(
        "read",
        "read [-r] [-p PROMPT] [NAME...]",
        "read a line into variables",
        read::read
    ),
    builtin!(
        "mapfile",
        "mapfile [-t] [-d DELIM] [-n COUNT] [-O ORIGIN] [-s COUNT] [-u FD] [ARRAY]",
        "read lines into an indexed array",
        mapfile::mapfile
    ),
    builtin!(
        "readarray",
        "readarray [-t] [-d DELIM] [-n COUNT] [-O ORIGIN] [-s COUNT] [-u FD] [ARRAY]",
        "read lines into an indexed array",
        mapfile::readarray
    ),
    builtin!("jobs", "jobs [-lp]", "list jobs", jobctl::jobs),
    builtin!("fg", "fg [%N]", "bring a job to the foreground", jobctl::fg),
    builtin!(
        "bg",
        "bg [%N]",
        "continue a stopped job in the background",
        jobctl::bg
    ),
    builtin!(
        "wait",
        "wait [-fn] [-p VAR] [PID|%N...]",
        "wait for jobs or cluster processes",
        jobctl::wait
    ),
    builtin!(
        "kill",
        "kill [-SIG|-s SIG|-n NUM] PID|%N..., kill -l",
        "signal cluster processes",
        jobctl::kill
    ),
    builtin!(
        "ps",
        "ps [-e] [--all] [-n NODE] [-o COLS] [--json]",
        "list cluster processes (COLS among pid,ppid,node,hostpid,user,stat,time,rss,start,name,cmd; -e also zombies, --all every kept exit record)",
        ps::ps
    ),
    builtin!(
        "nodes",
        "nodes [--json]",
        "list the members with state, slot, address, load, processes and store role",
        nodes::nodes
    ),
    builtin!(
        "top",
        "top [-b] [-n N] [-d SECS]",
        "live view of the busiest cluster processes (q or Ctrl-C quits; -b prints N batch iterations)",
        top::top
    ),
    builtin!(
        "logs",
        "logs [-f] [--stderr] PID|%N",
        "print the captured output of a process (-f follows it until it ends)",
        logs::logs
    ),
    builtin!(
        "attach",
        "attach [-r] [--no-stdin] PID|%N",
        "reattach to a process: its output here, this input to it, until it exits (-r replays its output first)",
        attach::attach
    ),
    builtin!(
        "run",
        "run [-n NODE] [--name NAME] [-e K=V]... [--cwd DIR] [-d] [-t] -- CMD...",
        "start a cluster process and wait for it (-d detached: print its PID; -t with a terminal)",
        run::run
    ),
    builtin!(
        "svc",
        "svc run|ls|scale|rm|logs ARG...",
        "deploy and scale services, named replicated commands the cluster keeps running (svc --help for each subcommand)",
        svc::svc
    ),
    builtin!(
        "lock",
        "lock [-w SECS] [-n NODE] NAME CMD...",
        "run CMD holding cluster lock NAME (like flock; the lock is CMD's, its fencing token in NEFELE_LOCK_TOKEN; -w bounds the wait)",
        coord::lock
    ),
    builtin!(
        "kv",
        "kv get|set|cas|rm|ls|watch ARG...",
        "the cluster's key-value store: get KEY [--json], set KEY VALUE [--pid PID|--lease ID] [--fence LOCK:TOKEN], cas KEY VERSION VALUE, rm KEY..., ls [PREFIX] [--json], watch KEY [--prefix] [--from REV] [--count N] [--json]",
        coord::kv
    ),
    builtin!(
        "barrier",
        "barrier [-w SECS] NAME N",
        "wait until N participants (cluster-wide) have entered barrier NAME",
        coord::barrier
    ),
    builtin!(
        "name",
        "name set NAME [PID] | get [-w SECS] NAME | wait [-w SECS] NAME | rm NAME | ls [--json]",
        "register a name for a cluster PID (released when it ends), look it up or wait for it",
        coord::name
    ),
    builtin!(
        "help",
        "help [NAME...]",
        "list the builtins with their usage, or describe some",
        help::help
    ),
    builtin!(
        "history",
        "history [N]",
        "print the last N lines of ~/.nsh_history, numbered",
        history::history
    ),
];

/// Builtins whose `--help` is ordinary text, as in bash.
const NO_HELP_FLAG: &[&str] = &[":", "true", "false", "echo", "test", "["];
/// Builtins that answer `--help` themselves, with more than the table's
/// one line (one per subcommand).
const OWN_HELP: &[&str] = &["svc"];

pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// Whether `name` is a builtin: nsh's, or one of bash's that nsh refuses
/// (see [`misc::UNSUPPORTED`]).
pub fn is_builtin(name: &str) -> bool {
    find(name).is_some() || misc::UNSUPPORTED.contains(&name)
}

/// Runs builtin `name`.
pub fn run(shell: &mut Shell, name: &str, args: Vec<String>) -> Status {
    if misc::UNSUPPORTED.contains(&name) {
        return shell.unsupported(&format!("the {name} builtin"));
    }
    let Some(builtin) = find(name) else {
        shell.error(format!("{name}: not a builtin"));
        return Ok(1);
    };
    if args.first().is_some_and(|a| a == "--help")
        && !NO_HELP_FLAG.contains(&name)
        && !OWN_HELP.contains(&name)
    {
        let _ = shell.out(&format!(
            "{}: {}\n    {}.\n",
            builtin.name, builtin.usage, builtin.about
        ));
        return Ok(0);
    }
    (builtin.run)(shell, args)
}

/// Parses a builtin's arguments with clap. An error is printed as
/// `nsh: NAME: WHY` followed by the usage line, and gives status 2.
/// (`--help` as the first argument never gets here: [`run`] answers it
/// from the table; clap's own help and version flags are off.)
pub fn parse<T: clap::Parser>(shell: &Shell, name: &str, args: Vec<String>) -> Result<T, i32> {
    let argv = std::iter::once(name.to_string()).chain(args);
    T::try_parse_from(argv).map_err(|e| {
        shell.error(format!("{name}: {}", clap_error(&e)));
        usage(shell, name).unwrap_or(2)
    })
}

/// The one-line reason of a clap error, without clap's `error: ` and its
/// usage and tips.
pub(crate) fn clap_error(e: &clap::Error) -> String {
    // clap's first paragraph is the error ("error: ..." and maybe a
    // continuation line); the rest is usage and tips.
    let rendered = e.render().to_string();
    let why = rendered
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    why.trim_start_matches("error: ").to_string()
}

/// `nsh: NAME: usage: USAGE`, status 2.
pub fn usage(shell: &Shell, name: &str) -> Status {
    let usage = find(name).map(|b| b.usage).unwrap_or(name);
    shell.error(format!("{name}: usage: {usage}"));
    Ok(2)
}
