//! `svc`: services (SPEC §7), named replicated commands whose desired state
//! lives in the cluster's store, through the `Services` API. Subcommands:
//!
//! - `svc run NAME [-r N] [--restart always|on-failure|never]
//!   [--on KEY=VALUE]... [-e K=V]... [--cwd DIR] -- CMD...` creates one;
//! - `svc ls [NAME] [--json]` lists them (show.rs);
//! - `svc scale NAME N`, `svc rm NAME...`;
//! - `svc logs [-f] NAME` prints or follows every replica's output (logs.rs).
//!
//! `run`, `scale` and `rm` print nothing on success, like `kill` or
//! `mkdir`: they return once the store has the new desired state, and the
//! cluster converges on it in the background (`svc ls` shows how far it
//! got, and why not). A replica's environment is the shell's exported
//! variables, as a foreground command gets, minus the ones set for each
//! process (`NEFELE_PID`, ..., `_`), with `PWD` naming the replicas'
//! directory, plus `-e`; that directory is the shell's unless `--cwd`
//! (relative to the shell's) says otherwise.
//!
//! Errors are `nsh: svc: NAME: WHY`: status 1 for what the cluster refused
//! (`no such service`, `service already exists`) or could not answer, 2
//! for bad arguments (a negative replica count, a malformed `K=V`).
//! Design notes: docs/design/nsh.md, "Services".

mod logs;
mod show;

use std::collections::HashMap;
use std::future::Future;

use clap::{Parser, ValueEnum};
use proto::v1::services_client::ServicesClient;
use proto::v1::{
    CreateServiceRequest, RemoveServiceRequest, RestartPolicy, ScaleServiceRequest, ServiceSpec,
};
use tonic::transport::Channel;
use tonic::{Code, Status as RpcStatus};

use crate::client::{CALL_TIMEOUT, Client};
use crate::shell::{Shell, Status};

/// A subcommand: its name, usage line, what it does and its code.
struct Sub {
    name: &'static str,
    usage: &'static str,
    about: &'static str,
    run: fn(&mut Shell, Vec<String>) -> Status,
}

/// Every subcommand, in `svc --help` order.
const SUBS: &[Sub] = &[
    Sub {
        name: "run",
        usage: "svc run NAME [-r N] [--restart always|on-failure|never] [--on KEY=VALUE]... [-e K=V]... [--cwd DIR] -- CMD...",
        about: "create a service of N replicas (default 1) of CMD, restarted always (default), on failure or never, on the nodes whose labels include every --on",
        run,
    },
    Sub {
        name: "ls",
        usage: "svc ls [NAME] [--json]",
        about: "list the services (NAME READY STATUS RESTARTS POLICY CMD), or one service's replicas (INDEX STATE NODE PID RESTARTS AGE NEXT EXIT ERROR)",
        run: show::ls,
    },
    Sub {
        name: "scale",
        usage: "svc scale NAME N",
        about: "set the number of replicas (scaling down stops the highest indexes first)",
        run: scale,
    },
    Sub {
        name: "rm",
        usage: "svc rm NAME...",
        about: "stop every replica and forget the service",
        run: rm,
    },
    Sub {
        name: "logs",
        usage: "svc logs [-f] NAME",
        about: "print the output of every current replica, each line prefixed with the replica's PID (stderr to stderr); -f follows them, and their replacements, until Ctrl-C",
        run: logs::logs,
    },
];

/// The `svc` builtin: dispatches to a subcommand.
pub fn svc(shell: &mut Shell, mut args: Vec<String>) -> Status {
    if args.is_empty() {
        shell.error("svc: a subcommand is required (run, ls, scale, rm, logs)");
        return super::usage(shell, "svc");
    }
    let word = args.remove(0);
    if word == "--help" {
        return help(shell);
    }
    let Some(sub) = SUBS.iter().find(|s| s.name == word) else {
        shell.error(format!(
            "svc: {word}: unknown subcommand (choose among run, ls, scale, rm, logs)"
        ));
        return super::usage(shell, "svc");
    };
    // `--help` anywhere among the options (not in a `run` command).
    if args
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--help")
    {
        return write(
            shell,
            &format!("svc {}: {}\n    {}.\n", sub.name, sub.usage, sub.about),
        );
    }
    (sub.run)(shell, args)
}

/// `svc --help`: the table's line, then every subcommand.
fn help(shell: &Shell) -> Status {
    let mut text = String::new();
    if let Some(b) = super::find("svc") {
        text.push_str(&format!("{}: {}\n    {}.\n", b.name, b.usage, b.about));
    }
    for sub in SUBS {
        text.push_str(&format!("  {}\n      {}.\n", sub.usage, sub.about));
    }
    write(shell, &text)
}

/// Writes `text` to the shell's stdout; a failure is `svc: write error`.
fn write(shell: &Shell, text: &str) -> Status {
    if let Err(e) = shell.out(text) {
        shell.error(format!("svc: write error: {e}"));
        return Ok(1);
    }
    Ok(0)
}

/// Parses a subcommand's arguments with clap; an error is printed as
/// `nsh: svc: WHY` and `nsh: svc: usage: USAGE`, status 2.
fn parse<T: Parser>(shell: &Shell, sub: &str, args: Vec<String>) -> Result<T, i32> {
    let argv = std::iter::once(format!("svc {sub}")).chain(args);
    T::try_parse_from(argv).map_err(|e| {
        shell.error(format!("svc: {}", super::clap_error(&e)));
        sub_usage(shell, sub)
    })
}

/// `nsh: svc: usage: USAGE` of a subcommand; status 2.
fn sub_usage(shell: &Shell, sub: &str) -> i32 {
    let usage = SUBS
        .iter()
        .find(|s| s.name == sub)
        .map_or("svc run|ls|scale|rm|logs ARG...", |s| s.usage);
    shell.error(format!("svc: usage: {usage}"));
    2
}

/// The Services API over the shell's connection.
pub(super) fn services(client: &Client) -> ServicesClient<Channel> {
    ServicesClient::new(client.channel())
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20)
}

/// A unary call bounded by [`CALL_TIMEOUT`], keeping the status code (the
/// shell's `Client::call` keeps only the message).
pub(super) fn call<T>(
    client: &Client,
    future: impl Future<Output = Result<tonic::Response<T>, RpcStatus>>,
) -> Result<T, RpcStatus> {
    client.block_on(proto::call::within(CALL_TIMEOUT, future))
}

/// Reports a failed call about service `name` as `nsh: svc: NAME: WHY` and
/// gives the status: 1, or 2 for arguments the cluster found invalid.
pub(super) fn report(shell: &Shell, name: &str, status: &RpcStatus) -> i32 {
    let (why, code) = match status.code() {
        Code::NotFound => ("no such service".to_string(), 1),
        Code::AlreadyExists => ("service already exists".to_string(), 1),
        Code::InvalidArgument => (status.message().to_string(), 2),
        Code::Unimplemented => ("this node does not offer services".to_string(), 1),
        _ => (status.message().to_string(), 1),
    };
    if name.is_empty() {
        shell.error(format!("svc: {why}"));
    } else {
        shell.error(format!("svc: {name}: {why}"));
    }
    code
}

/// A replica count argument: a whole number from 0 to `i32::MAX` (the
/// API's limit).
fn replica_count(text: &str) -> Result<u32, String> {
    match text.trim().parse::<i64>() {
        Ok(n) if n < 0 => Err(format!("{text}: replica count must be 0 or more")),
        Ok(n) => i32::try_from(n)
            .ok()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("{text}: replica count is too large")),
        Err(_) => Err(format!("{text}: replica count must be a number")),
    }
}

/// A service name as the API takes it: letters, digits, `-`, `_` and `.`,
/// at most 64 characters, and not `.` or `..` (it is a directory name under
/// /nefele/svc).
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name}: bad service name (letters, digits, '-', '_' and '.', at most 64 characters)"
        ))
    }
}

/// Splits `K=V` (K not empty).
fn key_value(pair: &str) -> Option<(String, String)> {
    pair.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
}

/// Variables set for each process by the cluster (or, `_`, by the shell
/// that starts it): not taken from the shell into a service's spec, where
/// they would name the wrong process, node or command.
const PER_PROCESS: &[&str] = &[
    "NEFELE_PID",
    "NEFELE_NODE",
    "NEFELE_ADDR",
    "NEFELE_SERVICE",
    "NEFELE_REPLICA",
    "_",
];

/// `--restart` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Restart {
    Always,
    OnFailure,
    Never,
}

impl From<Restart> for RestartPolicy {
    fn from(r: Restart) -> Self {
        match r {
            Restart::Always => RestartPolicy::Always,
            Restart::OnFailure => RestartPolicy::OnFailure,
            Restart::Never => RestartPolicy::Never,
        }
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "svc run",
    disable_help_flag = true,
    disable_version_flag = true
)]
struct RunArgs {
    /// The service's name.
    #[arg(value_name = "NAME")]
    name: String,
    /// How many replicas.
    #[arg(
        short = 'r',
        long = "replicas",
        value_name = "N",
        default_value = "1",
        allow_negative_numbers = true
    )]
    replicas: String,
    /// When ended replicas are restarted.
    #[arg(long, value_enum, value_name = "POLICY", default_value_t = Restart::Always)]
    restart: Restart,
    /// Placement: only nodes with this label.
    #[arg(long = "on", value_name = "KEY=VALUE")]
    on: Vec<String>,
    /// An environment variable, added to the exported ones.
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// Working directory on the nodes.
    #[arg(long, value_name = "DIR")]
    cwd: Option<String>,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, value_name = "CMD")]
    cmd: Vec<String>,
}

/// `svc run`.
fn run(shell: &mut Shell, args: Vec<String>) -> Status {
    let args: RunArgs = match parse(shell, "run", args) {
        Ok(a) => a,
        Err(status) => return Ok(status),
    };
    let replicas = match replica_count(&args.replicas).and_then(|n| {
        check_name(&args.name)?;
        Ok(n)
    }) {
        Ok(n) => n,
        Err(e) => {
            shell.error(format!("svc: {e}"));
            return Ok(2);
        }
    };
    let mut constraints = HashMap::new();
    for pair in &args.on {
        let Some((k, v)) = key_value(pair) else {
            shell.error(format!("svc: --on {pair}: expected KEY=VALUE"));
            return Ok(sub_usage(shell, "run"));
        };
        constraints.insert(k, v);
    }
    let cwd = match &args.cwd {
        Some(dir) => shell.cwd.join(dir),
        None => shell.cwd.clone(),
    };
    let cwd = cwd.to_string_lossy().into_owned();
    let mut env: HashMap<String, String> = shell
        .environment()
        .into_iter()
        .filter(|(k, _)| !PER_PROCESS.contains(&k.as_str()))
        .collect();
    // An exported PWD names the replicas' directory, not the shell's.
    if let Some(pwd) = env.get_mut("PWD") {
        pwd.clone_from(&cwd);
    }
    for pair in &args.env {
        let Some((k, v)) = key_value(pair) else {
            shell.error(format!("svc: -e {pair}: expected K=V"));
            return Ok(sub_usage(shell, "run"));
        };
        env.insert(k, v);
    }
    let spec = ServiceSpec {
        name: args.name.clone(),
        argv: args.cmd,
        env,
        cwd,
        replicas,
        restart: RestartPolicy::from(args.restart) as i32,
        constraints,
    };
    let client = match shell.client_for("svc") {
        Ok(c) => c,
        Err(status) => return Ok(status),
    };
    let mut api = services(&client);
    match call(
        &client,
        api.create_service(CreateServiceRequest { spec: Some(spec) }),
    ) {
        Ok(_) => Ok(0),
        Err(e) => Ok(report(shell, &args.name, &e)),
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "svc scale",
    disable_help_flag = true,
    disable_version_flag = true
)]
struct ScaleArgs {
    /// The service.
    #[arg(value_name = "NAME")]
    name: String,
    /// The new number of replicas.
    #[arg(value_name = "N", allow_negative_numbers = true)]
    replicas: String,
}

/// `svc scale`.
fn scale(shell: &mut Shell, args: Vec<String>) -> Status {
    let args: ScaleArgs = match parse(shell, "scale", args) {
        Ok(a) => a,
        Err(status) => return Ok(status),
    };
    let replicas = match replica_count(&args.replicas) {
        Ok(n) => n,
        Err(e) => {
            shell.error(format!("svc: {e}"));
            return Ok(2);
        }
    };
    let client = match shell.client_for("svc") {
        Ok(c) => c,
        Err(status) => return Ok(status),
    };
    let mut api = services(&client);
    let request = ScaleServiceRequest {
        name: args.name.clone(),
        // replica_count keeps it within i32.
        replicas: i32::try_from(replicas).unwrap_or(i32::MAX),
    };
    match call(&client, api.scale_service(request)) {
        Ok(_) => Ok(0),
        Err(e) => Ok(report(shell, &args.name, &e)),
    }
}

#[derive(Parser, Debug)]
#[command(name = "svc rm", disable_help_flag = true, disable_version_flag = true)]
struct RmArgs {
    /// The services.
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
}

/// `svc rm`: each name in turn; status 1 if any failed.
fn rm(shell: &mut Shell, args: Vec<String>) -> Status {
    let args: RmArgs = match parse(shell, "rm", args) {
        Ok(a) => a,
        Err(status) => return Ok(status),
    };
    let client = match shell.client_for("svc") {
        Ok(c) => c,
        Err(status) => return Ok(status),
    };
    let mut api = services(&client);
    let mut status = 0;
    for name in &args.names {
        let request = RemoveServiceRequest { name: name.clone() };
        if let Err(e) = call(&client, api.remove_service(request)) {
            status = status.max(report(shell, name, &e));
        }
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_counts() {
        assert_eq!(replica_count("0"), Ok(0));
        assert_eq!(replica_count("8"), Ok(8));
        assert_eq!(
            replica_count("-1"),
            Err("-1: replica count must be 0 or more".to_string())
        );
        assert_eq!(
            replica_count("lots"),
            Err("lots: replica count must be a number".to_string())
        );
        assert_eq!(
            replica_count("99999999999"),
            Err("99999999999: replica count is too large".to_string())
        );
    }

    #[test]
    fn names() {
        assert!(check_name("web-1.v2_x").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn run_arguments() {
        let args = RunArgs::try_parse_from([
            "svc run",
            "web",
            "-r",
            "-1",
            "--restart",
            "on-failure",
            "--on",
            "zone=eu",
            "--",
            "sleep",
            "-x",
        ])
        .expect("parses");
        assert_eq!(args.replicas, "-1");
        assert_eq!(args.restart, Restart::OnFailure);
        assert_eq!(args.on, ["zone=eu"]);
        assert_eq!(args.cmd, ["sleep", "-x"]);
        let scale = ScaleArgs::try_parse_from(["svc scale", "web", "-1"]).expect("parses");
        assert_eq!(scale.replicas, "-1");
        assert!(
            RunArgs::try_parse_from(["svc run", "web"]).is_err(),
            "no CMD"
        );
    }
}
