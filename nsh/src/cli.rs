//! Command-line modes of `nsh` (SPEC §3): interactive, `-c`, a script
//! file, a script on stdin, `@NODE CMD` and `--dev`.

use std::io::IsTerminal;

use crate::shell::{Flow, Shell};
use crate::signals;

const USAGE: &str = "\
usage: nsh [--addr ADDR] [--ca FILE] [--token TOKEN] [-i] [-euxf] [-o OPTION]
       nsh [--addr ADDR] [--ca FILE] -c 'COMMANDS' [NAME [ARG...]]
       nsh [--addr ADDR] [--ca FILE] FILE [ARG...]
       nsh [--addr ADDR] [--ca FILE] @NODE CMD [ARG...]
       nsh --dev [N] [-c 'COMMANDS']

The cluster shell: a POSIX/bash shell whose commands run as cluster
processes. ADDR is unix:/path.sock, https://host:port (TLS; host:port too)
or http://host:port (a node run with --insecure); default: NEFELE_ADDR,
else the node's default socket. Over TLS the node is verified with the
cluster CA in FILE (default: NEFELE_CA, else the fingerprint in the token);
a user token (default: NEFELE_TOKEN, else ~/.config/nefele/token; made with
`noded token create --user NAME`) makes the shell act as that user.
";

/// Runs nsh with `args` (without argv[0]); returns the exit status.
pub fn main(args: Vec<String>) -> i32 {
    let mut addr: Option<String> = None;
    let mut command: Option<String> = None;
    let mut set_flags: Vec<String> = Vec::new();
    // `-i`: an interactive shell even for `-c` or a script on stdin (an
    // error abandons the command, not the shell), as `bash -i`.
    let mut force_interactive = false;
    let mut dev: Option<usize> = None;
    let mut rest: Vec<String> = Vec::new();
    let mut it = args.into_iter().peekable();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--help" | "-h" => {
                print!("{USAGE}");
                return 0;
            }
            "--version" => {
                println!("nsh {}", env!("CARGO_PKG_VERSION"));
                return 0;
            }
            "--addr" => match it.next() {
                Some(a) => addr = Some(a),
                None => return usage_error("--addr needs an address"),
            },
            // Not put in the environment: the shell's exported variables
            // reach every cluster process it starts.
            "--token" => match it.next() {
                Some(token) => proto::tls::set_client_token(token),
                None => return usage_error("--token needs a token"),
            },
            "--ca" => match it.next() {
                // SAFETY: nsh has started no thread while it reads its
                // arguments, so nothing reads the environment concurrently.
                Some(file) => unsafe { std::env::set_var("NEFELE_CA", file) },
                None => return usage_error("--ca needs a file"),
            },
            "--dev" => {
                let n = match it.peek().map(|n| n.parse::<usize>()) {
                    Some(Ok(n)) => {
                        it.next();
                        n
                    }
                    _ => 3,
                };
                if n == 0 || n > 20 {
                    return usage_error("--dev takes 1 to 20 nodes");
                }
                dev = Some(n);
            }
            "-c" => match it.next() {
                Some(c) => {
                    command = Some(c);
                    rest.extend(it.by_ref());
                }
                None => return usage_error("-c needs an argument"),
            },
            "-o" | "+o" => match it.next() {
                Some(o) => {
                    set_flags.push(arg.clone());
                    set_flags.push(o);
                }
                None => return usage_error("-o needs an option name"),
            },
            "-i" => force_interactive = true,
            // bash's startup-file options: nsh reads no startup file.
            "--norc" | "--noprofile" => {}
            "--rcfile" | "--init-file" => {
                it.next();
            }
            "--" => rest.extend(it.by_ref()),
            a if a.starts_with(['-', '+']) && a.len() > 1 && a != "-" => set_flags.push(arg),
            _ => {
                rest.push(arg);
                rest.extend(it.by_ref());
            }
        }
    }
    if let Some(addr) = &addr
        && let Err(e) = addr.parse::<proto::Addr>()
    {
        return usage_error(&e.to_string());
    }

    if command.is_none()
        && let Some(first) = rest.first()
        && let Some(node) = first.strip_prefix('@')
        && dev.is_none()
    {
        if rest.len() < 2 {
            return usage_error(&format!("{first}: a command is needed after the node"));
        }
        crate::relay::main(addr.as_deref(), node, rest[1..].to_vec());
    }

    if dev.is_some() {
        crate::dev::build_companions_if_missing();
    }
    let _dev_cluster = match dev {
        Some(n) => match crate::client::runtime().block_on(crate::dev::DevCluster::start(
            crate::dev::DevOptions {
                nodes: n,
                ..crate::dev::DevOptions::default()
            },
        )) {
            Ok(cluster) => {
                addr = Some(cluster.addr().to_string());
                Some(cluster)
            }
            Err(e) => {
                eprintln!("nsh: --dev: {e:#}");
                return 1;
            }
        },
        None => None,
    };

    let terminal = command.is_none() && rest.is_empty() && std::io::stdin().is_terminal();
    let interactive = terminal || (force_interactive && rest.is_empty());
    signals::install(interactive);
    let mut shell = Shell::new(addr, interactive);
    if !set_flags.is_empty()
        && let Ok(status) = crate::builtins::run(&mut shell, "set", set_flags)
        && status != 0
    {
        return 2;
    }

    if let Some(text) = command {
        if let Some((name, args)) = rest.split_first() {
            shell.arg0 = name.clone();
            shell.positional = args.to_vec();
        }
        return finish(&mut shell, |sh| {
            sh.run_script(&text, crate::syntax::Origin::Command)
        });
    }
    if let Some((file, args)) = rest.split_first() {
        let text = match std::fs::read(file) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => {
                eprintln!("nsh: {file}: {}", crate::exec::redirect_message(&e));
                // bash: 126 for a file it cannot read, 127 for none.
                return match e.kind() {
                    std::io::ErrorKind::NotFound => 127,
                    _ => 126,
                };
            }
        };
        shell.arg0 = file.clone();
        shell.positional = args.to_vec();
        let script: std::sync::Arc<str> = file.as_str().into();
        shell.script_file = Some(script.clone());
        shell.source_file = Some(script);
        shell.publish_calls();
        let text = match text.strip_prefix("#!") {
            Some(_) => text
                .split_once('\n')
                .map(|(_, body)| format!("\n{body}"))
                .unwrap_or_default(),
            None => text,
        };
        return finish(&mut shell, |sh| {
            sh.run_script(&text, crate::syntax::Origin::File(file))
        });
    }
    if terminal {
        return crate::repl::run(&mut shell);
    }
    finish(&mut shell, run_stdin_script)
}

/// Runs the script on stdin as bash does: a command at a time, each run
/// before the next line is read, so a command in it that reads stdin gets
/// the lines after it (`read x`, `cat`). Lines are read from the shared
/// descriptor without reading ahead of the command: a byte at a time from
/// a pipe; from a file in blocks, the offset put back after the command's
/// text before it runs.
fn run_stdin_script(shell: &mut Shell) -> crate::shell::Status {
    use std::os::fd::AsFd;
    let stdin = std::io::stdin();
    let fd = stdin.as_fd();
    let seekable = nix::unistd::lseek(fd, 0, nix::unistd::Whence::SeekCur).is_ok();
    // The script's own input, as a loop's is: a command on another node
    // gets none pumped to it (a pump would read the script's next lines);
    // one on the shell's node gets the descriptor and reads only what it
    // reads (docs/design/nsh.md).
    shell.enter_loop_input();
    let mut reader = ScriptReader::default();
    let mut pending = String::new();
    let mut lines_before = 0;
    let mut status = Ok(0);
    loop {
        let line = match reader.line(fd, seekable) {
            Ok(line) => line,
            Err(e) => {
                eprintln!("nsh: cannot read the script from stdin: {e}");
                return Err(Flow::Exit(1));
            }
        };
        let at_end = line.is_none();
        if let Some(line) = line {
            pending.push_str(&String::from_utf8_lossy(&line));
            if crate::syntax::is_incomplete(&pending) {
                continue;
            }
        }
        if !pending.trim().is_empty() {
            if seekable {
                reader.give_back(fd);
            }
            shell.line_base = lines_before;
            status = shell.run_script(&pending, crate::syntax::Origin::Stdin);
            shell.line_base = 0;
            status.as_ref().map_err(Clone::clone)?;
        }
        if at_end {
            return status;
        }
        lines_before += pending.matches('\n').count();
        pending.clear();
    }
}

/// Lines of a script read from a descriptor others read too (see
/// [`run_stdin_script`]).
#[derive(Default)]
struct ScriptReader {
    /// Read from a file but not yet taken as lines.
    ahead: Vec<u8>,
}

impl ScriptReader {
    /// The next line with its newline; `None` at end of file.
    fn line(
        &mut self,
        fd: std::os::fd::BorrowedFd<'_>,
        seekable: bool,
    ) -> std::io::Result<Option<Vec<u8>>> {
        let mut line = Vec::new();
        loop {
            if let Some(end) = self.ahead.iter().position(|b| *b == b'\n') {
                line.extend(self.ahead.drain(..=end));
                return Ok(Some(line));
            }
            line.append(&mut self.ahead);
            let mut buf = [0u8; 64 * 1024];
            let want = if seekable { buf.len() } else { 1 };
            let n = crate::io::read(fd, &mut buf[..want])?;
            if n == 0 {
                return Ok((!line.is_empty()).then_some(line));
            }
            self.ahead.extend_from_slice(&buf[..n]);
        }
    }

    /// Puts the file's offset back to the end of the lines taken, so a
    /// command reads from there; forgets what was read beyond.
    fn give_back(&mut self, fd: std::os::fd::BorrowedFd<'_>) {
        if !self.ahead.is_empty() {
            let back = -(self.ahead.len() as i64);
            let _ = nix::unistd::lseek(fd, back, nix::unistd::Whence::SeekCur);
            self.ahead.clear();
        }
    }
}

/// Runs a non-interactive program and turns its end into an exit status
/// (running the EXIT trap; dying of SIGINT after Ctrl-C, as bash does).
fn finish(shell: &mut Shell, run: impl FnOnce(&mut Shell) -> crate::shell::Status) -> i32 {
    let result = run(shell);
    let status = match result {
        Ok(s) | Err(Flow::Exit(s) | Flow::Return(s)) => s,
        Err(Flow::Interrupted(s)) => {
            // Ended by a signal: the EXIT trap runs (without the signal
            // still pending, which would cut it short), then nsh dies of
            // it.
            let fatal = signals::fatal_pending();
            let _ = signals::take_pending();
            signals::INTERRUPTED.store(false, std::sync::atomic::Ordering::SeqCst);
            if let Some(sig) = fatal {
                shell.exit_trap(proto::signal_status(sig as i32));
                signals::die_of(sig);
            }
            let status = shell.exit_trap(s);
            if s == 130 {
                signals::die_of(nix::sys::signal::Signal::SIGINT);
            }
            return status;
        }
        Err(Flow::Break(_) | Flow::Continue(_)) => shell.last_status,
    };
    let status = shell.exit_trap(status);
    let_background_finish(shell);
    status
}

/// How long the end of a program waits for its background jobs that run
/// inside nsh.
const BACKGROUND_GRACE: std::time::Duration = std::time::Duration::from_millis(250);
/// How long the end of a program waits for its process substitutions.
const PROCSUB_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// bash's background jobs are forked processes that outlive the shell, so
/// `echo a & echo b` at the end of a script prints both; nsh's in-shell
/// ones (builtins, functions, compound commands) are threads that die
/// with it. So the end of a program gives them a moment
/// ([`BACKGROUND_GRACE`], once for all) to finish. Cluster processes
/// need none: they run on their node regardless.
fn let_background_finish(shell: &Shell) {
    let in_shell: Vec<crate::jobs::ExitCell> = match shell.jobs.lock() {
        Ok(table) => table
            .jobs
            .iter()
            .flat_map(|job| job.members.iter())
            .filter(|member| member.pid.is_none() && member.exit.get().is_none())
            .map(|member| member.exit.clone())
            .collect(),
        Err(_) => return,
    };
    // Process substitutions first, longer: their output is the command's
    // (`cmd > >(tr a-z A-Z)` prints after cmd ended).
    let procsubs = shell.procsubs.lock().map(|p| p.clone()).unwrap_or_default();
    let deadline = std::time::Instant::now() + PROCSUB_GRACE;
    for exit in procsubs {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        exit.wait_timeout(left);
    }
    let deadline = std::time::Instant::now() + BACKGROUND_GRACE;
    for exit in in_shell {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return;
        }
        exit.wait_timeout(left);
    }
}

fn usage_error(message: &str) -> i32 {
    eprintln!("nsh: {message}");
    eprint!("{USAGE}");
    2
}
