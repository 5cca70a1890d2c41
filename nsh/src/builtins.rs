//! Builtins: the table of names with their one-line usage (`--help`,
//! `help`), and dispatch. Each group lives in a file of its own.

pub mod cd;
pub mod cluster;
pub mod echo;
pub mod flow;
pub mod jobctl;
pub mod read;
pub mod test;
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
        "printf FORMAT [ARG...]",
        "formatted output",
        echo::printf
    ),
    builtin!(
        "cd",
        "cd [-L|-P] [DIR]",
        "change the shell's directory",
        cd::cd
    ),
    builtin!("pwd", "pwd [-L|-P]", "print the shell's directory", cd::pwd),
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
        "type",
        "type [-t] NAME...",
        "tell what a name is",
        flow::type_
    ),
    builtin!(
        "export",
        "export [-n] [NAME[=VALUE]...]",
        "export variables",
        vars::export
    ),
    builtin!(
        "readonly",
        "readonly [NAME[=VALUE]...]",
        "make variables read-only",
        vars::readonly
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
        "shift",
        "shift [N]",
        "shift positional parameters",
        vars::shift
    ),
    builtin!(
        "local",
        "local NAME[=VALUE]...",
        "function-local variables",
        vars::local
    ),
    builtin!(
        "getopts",
        "getopts OPTSTRING NAME [ARG...]",
        "parse options",
        vars::getopts
    ),
    builtin!("umask", "umask [MODE]", "file creation mask", vars::umask),
    builtin!(
        "read",
        "read [-r] [-p PROMPT] [NAME...]",
        "read a line into variables",
        read::read
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
        "wait [PID|%N...]",
        "wait for jobs or cluster processes",
        jobctl::wait
    ),
    builtin!(
        "kill",
        "kill [-SIG|-s SIG|-n NUM] PID|%N..., kill -l",
        "signal cluster processes",
        jobctl::kill
    ),
];

/// Builtins whose `--help` is ordinary text, as in bash.
const NO_HELP_FLAG: &[&str] = &[":", "true", "false", "echo", "test", "["];

pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

pub fn is_builtin(name: &str) -> bool {
    find(name).is_some()
}

/// Runs builtin `name`.
pub fn run(shell: &mut Shell, name: &str, args: Vec<String>) -> Status {
    let Some(builtin) = find(name) else {
        shell.error(format!("{name}: not a builtin"));
        return Ok(1);
    };
    if args.first().is_some_and(|a| a == "--help") && !NO_HELP_FLAG.contains(&name) {
        let _ = shell.out(&format!(
            "{}: {}\n    {}.\n",
            builtin.name, builtin.usage, builtin.about
        ));
        return Ok(0);
    }
    (builtin.run)(shell, args)
}

/// `nsh: NAME: usage: USAGE`, status 2.
pub fn usage(shell: &Shell, name: &str) -> Status {
    let usage = find(name).map(|b| b.usage).unwrap_or(name);
    shell.error(format!("{name}: usage: {usage}"));
    Ok(2)
}
