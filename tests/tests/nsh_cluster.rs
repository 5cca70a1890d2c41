//! nsh on a 3-node cluster, as a user sees it: pipelines across nodes,
//! `@all` output prefixed by node, `@NODE`/`@any` placement (checked with
//! `$NEFELE_NODE` and the process API), exit statuses of remote processes
//! (codes and 128+signal), `$!` as a cluster PID with `kill` and `wait`,
//! `kill` of an unknown PID, a `#!/usr/bin/env nsh` script run directly,
//! unsupported constructs failing cleanly, `nsh -c` exit status, a remote
//! command's output redirected to a local file, and a `while read` loop
//! whose body runs cluster commands without eating the loop's input.
//!
//! One test starts the cluster once and runs every case in turn, each with
//! its own temp dir; all failures are reported together at the end.

use proto::v1::{ListRequest, ProcessInfo, ProcessState};
use tempfile::TempDir;
use tests::nsh::{Run, SCRIPT_TIMEOUT, ShellCluster, run, shell_command};
use tests::{TIMEOUT, get, state, wait_until};

/// The cluster and what every case needs to reach it.
struct Ctx(ShellCluster);

impl std::ops::Deref for Ctx {
    type Target = ShellCluster;
    fn deref(&self) -> &ShellCluster {
        &self.0
    }
}

impl Ctx {
    /// Every process the cluster knows, in any state, ended ones included.
    async fn processes(&self) -> anyhow::Result<Vec<ProcessInfo>> {
        let mut client = self.cluster.nodes[0].client().await?;
        let every = ListRequest {
            ended: true,
            ..ListRequest::default()
        };
        Ok(client.list(every).await?.into_inner().processes)
    }
}

impl Ctx {
    /// `PID ARGV` of the processes still running or stopped.
    async fn running(&self) -> anyhow::Result<Vec<String>> {
        Ok(self
            .processes()
            .await?
            .iter()
            .filter(|p| matches!(state(p), ProcessState::Running | ProcessState::Stopped))
            .map(|p| format!("{} {}", p.pid, p.argv.join(" ")))
            .collect())
    }
}

/// Fails unless `run` ended with `status`, printed `stdout` and nothing on
/// stderr.
fn expect(run: &Run, status: i32, stdout: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        run.status == status && run.stdout == stdout && run.stderr.is_empty(),
        "expected status {status} and stdout {stdout:?} with empty stderr, got {}",
        run.describe()
    );
    Ok(())
}

fn temp_dir() -> anyhow::Result<TempDir> {
    Ok(tempfile::Builder::new().prefix("nsh-cluster-").tempdir()?)
}

async fn pipe_across_nodes(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let (n1, n2) = (ctx.name(0), ctx.name(1));
    let script = format!("@{n1} seq 100000 | @{n2} wc -l");
    expect(&ctx.nsh_c(&script, dir.path()).await?, 0, "100000\n")?;
    // Each end ran where it was asked to.
    let processes = ctx.processes().await?;
    let ran_on = |argv: &[&str]| -> Vec<String> {
        processes
            .iter()
            .filter(|p| p.argv == argv)
            .map(|p| p.node.clone())
            .collect()
    };
    anyhow::ensure!(
        ran_on(&["seq", "100000"]) == [n1],
        "seq ran on {:?}",
        ran_on(&["seq", "100000"])
    );
    anyhow::ensure!(
        ran_on(&["wc", "-l"]) == [n2],
        "wc ran on {:?}",
        ran_on(&["wc", "-l"])
    );
    Ok(())
}

async fn all_prefixes_lines_with_the_node(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let got = ctx.nsh_c("@all echo hi", dir.path()).await?;
    anyhow::ensure!(
        got.status == 0 && got.stderr.is_empty(),
        "{}",
        got.describe()
    );
    // The nodes answer concurrently: the order of lines is theirs.
    let mut lines: Vec<&str> = got.stdout.lines().collect();
    lines.sort();
    let mut wanted: Vec<String> = (0..3).map(|i| format!("{}: hi", ctx.name(i))).collect();
    wanted.sort();
    anyhow::ensure!(lines == wanted, "got lines {lines:?}, expected {wanted:?}");
    Ok(())
}

async fn remote_exit_code(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let script = format!("@{} sh -c 'exit 3'; echo $?", ctx.name(1));
    expect(&ctx.nsh_c(&script, dir.path()).await?, 0, "3\n")
}

/// `2>&1` keeps the order in which a process on another node wrote its
/// stdout and stderr, into a file and into a pipe, as bash's child would
/// (one pipe for both on the node), compared with bash running the same
/// commands here.
async fn stdout_and_stderr_interleave_as_written(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let n2 = ctx.name(1);
    let body = "for i in 1 2 3 4; do echo out$i; echo err$i >&2; done";
    let both = |at: &str| {
        format!("{at}sh -c '{body}' > f 2>&1; cat f; {at}sh -c '{body}' 2>&1 | cat; rm f")
    };
    let bash = std::process::Command::new("bash")
        .arg("-c")
        .arg(both(""))
        .current_dir(dir.path())
        .output()?;
    let want = String::from_utf8(bash.stdout)?;
    anyhow::ensure!(
        want.starts_with("out1\nerr1\nout2\nerr2\n"),
        "bash: {want:?}"
    );
    let run = ctx.nsh_c(&both(&format!("@{n2} ")), dir.path()).await?;
    anyhow::ensure!(run.status == 0 && run.stdout == want, "{run:?}");
    Ok(())
}

/// `ulimit` is the shell's: commands on any node (and `@local` ones) get
/// it, a subshell's stays its own, nsh's own limits do not move.
async fn ulimit_reaches_cluster_processes(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let n2 = ctx.name(1);
    let script = format!(
        "ulimit -n 123; @{n2} sh -c 'ulimit -n; ulimit -Hn'; \
         (ulimit -n 50; @{n2} sh -c 'ulimit -n'); \
         @local sh -c 'ulimit -n'; \
         ulimit -S -n 64; @{n2} sh -c 'ulimit -Sn; ulimit -Hn'; ulimit -n; \
         ulimit -n abc; echo $?"
    );
    let run = ctx.nsh_c(&script, dir.path()).await?;
    anyhow::ensure!(
        run.stdout == "123\n123\n50\n123\n64\n123\n64\n1\n"
            && run.stderr == "nsh: ulimit: abc: invalid number\n",
        "{run:?}"
    );
    Ok(())
}

async fn remote_signal_is_128_plus_n(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let script = format!("@{} sh -c 'kill -TERM $$'; echo $?", ctx.name(1));
    let got = ctx.nsh_c(&script, dir.path()).await?;
    // bash says `Terminated` for it too.
    anyhow::ensure!(
        got.status == 0 && got.stdout == "143\n" && got.stderr == "Terminated\n",
        "{}",
        got.describe()
    );
    Ok(())
}

async fn background_job_is_a_cluster_process(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let script = "sleep 100 & p=$!; echo $p; kill $p; wait $p; echo $?";
    let got = ctx.nsh_c(script, dir.path()).await?;
    let lines: Vec<&str> = got.stdout.lines().collect();
    anyhow::ensure!(
        got.status == 0 && got.stderr.is_empty() && lines.len() == 2 && lines[1] == "143",
        "expected a PID then 143, got {}",
        got.describe()
    );
    let pid: i32 = lines[0].parse()?;
    anyhow::ensure!(pid >= 10_000_001, "$! = {pid} is not a cluster PID");
    // The API knows it: sleep 100 on the default node, killed by SIGTERM.
    let mut client = ctx.cluster.nodes[0].client().await?;
    let info = get(&mut client, pid).await?;
    anyhow::ensure!(
        info.argv == ["sleep", "100"]
            && info.node == ctx.name(0)
            && state(&info) == ProcessState::Killed
            && info.signal == Some(15),
        "process {pid} is {info:?}"
    );
    Ok(())
}

async fn kill_unknown_pid(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let got = ctx.nsh_c("kill 99999999", dir.path()).await?;
    anyhow::ensure!(
        got.status == 1
            && got.stdout.is_empty()
            && got.stderr == "nsh: kill: (99999999) - No such process\n",
        "{}",
        got.describe()
    );
    Ok(())
}

async fn placement_sets_nefele_node(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    for i in 1..3 {
        let script = format!("@{} sh -c 'echo $NEFELE_NODE'", ctx.name(i));
        expect(
            &ctx.nsh_c(&script, dir.path()).await?,
            0,
            &format!("{}\n", ctx.name(i)),
        )?;
    }
    // Without @, commands run on the node the shell is connected to.
    let got = ctx.nsh_c("sh -c 'echo $NEFELE_NODE'", dir.path()).await?;
    expect(&got, 0, &format!("{}\n", ctx.name(0)))
}

async fn any_lets_the_scheduler_choose(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    expect(&ctx.nsh_c("@any true", dir.path()).await?, 0, "")?;
    let got = ctx
        .nsh_c("@any sh -c 'echo $NEFELE_NODE'", dir.path())
        .await?;
    let names: Vec<String> = (0..3).map(|i| format!("{}\n", ctx.name(i))).collect();
    anyhow::ensure!(
        got.status == 0 && names.contains(&got.stdout),
        "expected one of {names:?}, got {}",
        got.describe()
    );
    Ok(())
}

async fn shebang_script_runs_directly(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let script = dir.path().join("hello");
    std::fs::write(
        &script,
        format!(
            "#!/usr/bin/env nsh\n@{} sh -c 'echo \"$1 from $NEFELE_NODE\"' sh \"$1\"\nexit 4\n",
            ctx.name(2)
        ),
    )?;
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let nsh_dir = tests::bin_dir();
    let path = std::env::join_paths(std::iter::once(nsh_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))?;
    let mut cmd = shell_command(&script, &ctx.addr, dir.path(), dir.path());
    cmd.env("PATH", path).arg("greetings");
    let got = run(cmd, None, SCRIPT_TIMEOUT).await?;
    expect(&got, 4, &format!("greetings from {}\n", ctx.name(2)))
}

async fn unsupported_constructs_fail_cleanly(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    // As documented (docs/compat.md): status 2, and a script stops there.
    let scripts = [
        "coproc cat",
        "shopt -s extdebug; echo after",
        "compgen -c; echo after",
    ];
    for script in scripts {
        let got = ctx.nsh_c(script, dir.path()).await?;
        anyhow::ensure!(
            got.status == 2
                && got.stdout.is_empty()
                && got.stderr.contains("is not supported")
                && got.stderr.lines().count() == 1,
            "{script:?}: expected one `is not supported` line and a failure, got {}",
            got.describe()
        );
    }
    Ok(())
}

/// `<(cmd)` works as a redirection for any command, and as a path for what
/// runs on the shell's machine and for a command on a node (a FIFO there:
/// tests/procsub_nodes.rs); a cluster command handed a `/dev/fd/N` path
/// by a function is refused with a message that says why, before
/// anything runs.
async fn process_substitution(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let node = ctx.name(1);
    let script = format!(
        "while read -r l; do echo \"got $l\"; done < <(@{node} echo x); \
         @{node} cat < <(echo y); @local cat <(echo z); \
         f() {{ read -r v < \"$1\"; echo \"f read $v\"; }}; f <(@{node} echo w)"
    );
    expect(
        &ctx.nsh_c(&script, dir.path()).await?,
        0,
        "got x\ny\nz\nf read w\n",
    )?;
    expect(
        &ctx.nsh_c(&format!("@{node} cat <(echo x); echo after"), dir.path())
            .await?,
        0,
        "x\nafter\n",
    )?;
    for script in ["g() { cat \"$1\"; }; g <(echo x); echo after".to_string()] {
        let got = ctx.nsh_c(&script, dir.path()).await?;
        anyhow::ensure!(
            got.status == 2
                && got.stdout.is_empty()
                && got
                    .stderr
                    .starts_with("nsh: process substitution: cat runs on node ")
                && got.stderr.contains("cannot open /dev/fd/")
                && got.stderr.lines().count() == 1,
            "{script:?}: expected the process substitution refusal, got {}",
            got.describe()
        );
    }
    Ok(())
}

async fn dash_c_exit_status(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    expect(&ctx.nsh_c("exit 7", dir.path()).await?, 7, "")
}

/// SIGTERM, SIGHUP or SIGINT to a script waiting for a cluster process
/// ends it through its EXIT trap, as under bash: the trap runs (here it
/// kills the job and writes a file), then the shell dies of the signal.
async fn exit_trap_runs_when_a_signal_ends_the_script(ctx: &Ctx) -> anyhow::Result<()> {
    use std::os::unix::process::ExitStatusExt;
    let dir = temp_dir()?;
    let script = dir.path().join("s.sh");
    std::fs::write(
        &script,
        "sleep 31 & p=$!\ntrap 'kill $p; echo cleaned > done' EXIT\necho ready > ready\nwait $p\necho not here > done\n",
    )?;
    for signal in [libc::SIGTERM, libc::SIGHUP, libc::SIGINT] {
        for shell in [std::path::PathBuf::from("bash"), tests::binary("nsh")] {
            let _ = std::fs::remove_file(dir.path().join("ready"));
            let _ = std::fs::remove_file(dir.path().join("done"));
            let mut child = shell_command(&shell, &ctx.addr, dir.path(), dir.path())
                .arg(&script)
                .stdin(std::process::Stdio::null())
                .spawn()?;
            let ready = wait_until("the script to start its job", TIMEOUT, || async {
                dir.path().join("ready").exists().then_some(())
            })
            .await;
            if let Some(pid) = child.id() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::try_from(signal)?,
                );
            }
            let status = tokio::time::timeout(SCRIPT_TIMEOUT, child.wait()).await;
            if status.is_err() {
                let _ = child.kill().await;
            }
            ready?;
            let status = status??;
            let done = std::fs::read_to_string(dir.path().join("done")).unwrap_or_default();
            anyhow::ensure!(
                status.signal() == Some(signal) && done == "cleaned\n",
                "{} after signal {signal}: {status:?}, done file {done:?}",
                shell.display()
            );
        }
    }
    Ok(())
}

/// Arguments beyond what a spawn request carries fail as exec does:
/// `Argument list too long`, status 126 (bash's words and status).
async fn too_long_an_argument_list(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let script = "x=$(seq 1 900000); /bin/echo $x > /dev/null; echo \"status $?\"";
    let got = ctx.nsh_c(script, dir.path()).await?;
    anyhow::ensure!(
        got.stdout == "status 126\n" && got.stderr == "nsh: /bin/echo: Argument list too long\n",
        "{}",
        got.describe()
    );
    Ok(())
}

/// A plain-text address for a node that serves TLS gets an error that
/// says what to check, not only tonic's "transport error".
async fn a_plain_address_for_a_tls_node_says_what_to_check(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let tls = ctx.cluster.nodes[0].tcp_addr()?.to_string();
    let plain = tls.replacen("https://", "http://", 1);
    anyhow::ensure!(plain.starts_with("http://"), "{tls}");
    let mut cmd = shell_command(&tests::binary("nsh"), &ctx.addr, dir.path(), dir.path());
    cmd.args(["--addr", &plain, "-c", "ps"]);
    let got = run(cmd, None, SCRIPT_TIMEOUT).await?;
    anyhow::ensure!(
        got.status != 0
            && got
                .stderr
                .contains("A node with TLS takes https://HOST:PORT"),
        "{}",
        got.describe()
    );
    Ok(())
}

/// A foreground command that dies of a signal is reported as bash reports
/// it in a script (`Terminated`; `line N: PID Segmentation fault  TEXT`),
/// not one that exits with such a status, nor SIGINT or SIGPIPE.
async fn death_by_signal_is_reported(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let script = "sh -c 'kill -SEGV $$'\nsh -c 'kill -TERM $$'\nsh -c 'exit 139'\n\
                  sh -c 'kill -PIPE $$'; sh -c 'kill -INT $$'; echo \"status $?\"";
    let got = ctx.nsh_c(script, dir.path()).await?;
    let lines: Vec<&str> = got.stderr.lines().collect();
    let segv = lines.first().copied().unwrap_or_default();
    anyhow::ensure!(
        got.stdout == "status 130\n"
            && lines.len() == 2
            && segv.starts_with("nsh: line 1: ")
            && segv.ends_with(" Segmentation fault      sh -c 'kill -SEGV $$'")
            && lines[1] == "Terminated",
        "{}",
        got.describe()
    );
    Ok(())
}

/// A process substitution still running when the program ends gets to
/// print (bash's is a process that finishes on its own; nsh's a thread
/// the end of the program waits for).
async fn a_process_substitution_outlives_its_command(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let got = ctx
        .nsh_c("echo hi > >(sleep .3; tr a-z A-Z)", dir.path())
        .await?;
    expect(&got, 0, "HI\n")
}

async fn remote_output_to_local_file(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let file = dir.path().join("f");
    let script = format!(
        "tmp='{}'; @{} echo hi > $tmp/f; cat $tmp/f",
        dir.path().display(),
        ctx.name(1)
    );
    expect(&ctx.nsh_c(&script, dir.path()).await?, 0, "hi\n")?;
    let content = std::fs::read_to_string(&file)?;
    anyhow::ensure!(content == "hi\n", "{file:?} holds {content:?}");
    Ok(())
}

async fn while_read_keeps_its_input(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let script = format!(
        "printf 'a\\nb\\nc\\n' | while read x; do @{} echo \"got $x\"; done",
        ctx.name(1)
    );
    expect(
        &ctx.nsh_c(&script, dir.path()).await?,
        0,
        "got a\ngot b\ngot c\n",
    )
}

#[tokio::test]
async fn nsh_on_three_nodes() -> anyhow::Result<()> {
    let ctx = Ctx(ShellCluster::start(3).await?);

    let mut failures = tests::run_cases!(
        &ctx,
        pipe_across_nodes,
        all_prefixes_lines_with_the_node,
        remote_exit_code,
        remote_signal_is_128_plus_n,
        ulimit_reaches_cluster_processes,
        stdout_and_stderr_interleave_as_written,
        background_job_is_a_cluster_process,
        kill_unknown_pid,
        placement_sets_nefele_node,
        any_lets_the_scheduler_choose,
        shebang_script_runs_directly,
        unsupported_constructs_fail_cleanly,
        process_substitution,
        dash_c_exit_status,
        exit_trap_runs_when_a_signal_ends_the_script,
        too_long_an_argument_list,
        death_by_signal_is_reported,
        a_process_substitution_outlives_its_command,
        a_plain_address_for_a_tls_node_says_what_to_check,
        remote_output_to_local_file,
        while_read_keeps_its_input,
    );

    // No case leaves a process running on the cluster.
    let ended = wait_until("the cases' processes to end", TIMEOUT, || async {
        ctx.running().await.ok()?.is_empty().then_some(())
    })
    .await;
    if let Err(e) = ended {
        failures.push(format!("{e:#}: {:?}", ctx.running().await?));
    }

    tests::assert_no_failures(&failures);
    Ok(())
}
