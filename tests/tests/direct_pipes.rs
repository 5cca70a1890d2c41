//! Direct pipes (SpawnRequest.stdin_from) and output into a local file
//! (WriteOutputTo), through nsh as a user types them and through the API,
//! on a 3-node cluster: the bytes go from node to node, not through nsh
//! (nsh's own read count stays far below what crossed), nothing is lost
//! (`seq 1e8 | tail -1`), a slow consumer holds the producer back, a
//! consumer that stops reading ends the producer with SIGPIPE (141 in
//! PIPESTATUS), chains of three, a pipe within one node and one from the
//! shell's node work as under bash; within one node the pipe is spliced
//! (that noded reads almost nothing) with the same semantics; bad requests (unknown or another
//! user's producer, a terminal, stdin also a pipe, a descriptor the
//! caller lacks, a TCP caller) are refused; the nodes' pipe streams
//! answer only to node certificates; a crashed producer node ends the
//! pipe without a hang; a stream kept for the next pipe to a node that
//! restarted since is replaced. A 2-node `--insecure` cluster checks the
//! plain-text streams.

use std::time::Duration;

use proto::v1::{SpawnRequest, StdinMode, TerminalSize};
use tempfile::TempDir;
use tests::nsh::ShellCluster;
use tests::{get, request, wait_until};

type Ctx = ShellCluster;

fn temp_dir() -> anyhow::Result<TempDir> {
    Ok(tempfile::Builder::new().prefix("nefele-pipe-").tempdir()?)
}

/// `rchar` of nsh's /proc/PID/io, printed by the script's last line.
fn rchar(stdout: &str) -> Option<u64> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .and_then(|v| v.trim().parse().ok())
}

/// 210 MiB cross nodes while nsh reads less than 10 MiB in all
/// (its own reads of sockets and files count in rchar): the bytes did not
/// pass through the shell.
async fn bytes_go_node_to_node(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let (n1, n2) = (ctx.name(0), ctx.name(1));
    // The second pipe starts on the shell's own node (no @): its output
    // stays captured there for n2 to read.
    let script =
        format!("@{n1} head -c 100M /dev/zero | @{n2} wc -c; head -c 50M /dev/zero | @{n2} wc -c");
    prints_without_reading(ctx, &script, dir.path(), "104857600\n52428800\n").await?;
    // Into a command of the shell's node that reads the pipe itself: the
    // shell's node writes into that pipe.
    let script = format!("@{n1} head -c 60M /dev/zero | wc -c");
    prints_without_reading(ctx, &script, dir.path(), "62914560\n").await
}

/// Runs `script` under nsh, which must print `want` and read less than
/// 10 MiB in all (its own `rchar`, printed by a builtin loop at the end:
/// reads of sockets and files count there).
async fn prints_without_reading(
    ctx: &Ctx,
    script: &str,
    dir: &std::path::Path,
    want: &str,
) -> anyhow::Result<()> {
    let script = format!(
        "{script}; while read -r line; do case $line in rchar:*) echo \"$line\";; esac; done < /proc/$$/io"
    );
    let run = ctx.nsh_c(&script, dir).await?;
    anyhow::ensure!(
        run.status == 0
            && run
                .stdout
                .strip_prefix(want)
                .is_some_and(|r| r.starts_with("rchar")),
        "{run:?}"
    );
    let read = rchar(&run.stdout).ok_or_else(|| anyhow::anyhow!("no rchar: {run:?}"))?;
    anyhow::ensure!(read < 10 << 20, "nsh read {read} bytes: {run:?}");
    Ok(())
}

/// Output into a local file skips nsh too (WriteOutputTo): 50 MiB land in
/// the file while nsh reads less than 10 MiB, and appends keep their
/// order with the shell's own writes.
async fn output_to_a_file_goes_node_to_node(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let n2 = ctx.name(1);
    let script = format!(
        "@{n2} head -c 50M /dev/zero > big; wc -c < big; \
         echo x > f; @{n2} echo y >> f; echo z >> f; @{n2} printf w >> f; cat f; echo"
    );
    prints_without_reading(ctx, &script, dir.path(), "52428800\nx\ny\nz\nw\n").await
}

/// `@n2 cmd > /dev/null` writes to n2's own null device
/// (SpawnRequest.stdout_null): 100 MiB are dropped there while nsh reads
/// less than 10 MiB; with `2>&1`, `2>` alone and a failing command the
/// shell prints and says what bash does for the same script without the
/// `@`s; a read-only /dev/null (`3</dev/null`) is still a write error.
async fn output_to_dev_null_stays_on_its_node(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let n2 = ctx.name(1);
    let script = format!("@{n2} head -c 100M /dev/zero > /dev/null; echo s=$?");
    prints_without_reading(ctx, &script, dir.path(), "s=0\n").await?;
    let script = "sh -c 'echo out; echo err >&2' > /dev/null 2>&1; echo s=$?; \
                  sh -c 'echo out; echo err >&2' 2> /dev/null; echo s=$?; \
                  sh -c 'echo out; echo err >&2; exit 4' > /dev/null; echo s=$?; \
                  exec 3</dev/null; /bin/echo hi >&3; echo s=$?";
    let bash = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir.path())
        .output()?;
    let (want_out, want_err) = (
        String::from_utf8(bash.stdout)?,
        String::from_utf8(bash.stderr)?,
    );
    anyhow::ensure!(
        want_out == "s=0\nout\ns=0\ns=4\ns=1\n" && want_err.starts_with("err\n"),
        "bash: {want_out:?} {want_err:?}"
    );
    let remote = script
        .replace("sh -c", &format!("@{n2} sh -c"))
        .replace("/bin/echo", &format!("@{n2} /bin/echo"));
    let run = ctx.nsh_c(&remote, dir.path()).await?;
    anyhow::ensure!(
        run.stdout == want_out
            && run.stderr.starts_with("err\n")
            && run.stderr.contains("write error: Bad file descriptor"),
        "want {want_out:?} {want_err:?}, {run:?}"
    );
    Ok(())
}

/// A tmpfs of 64 KiB mounted for a test (unmounted when dropped, also
/// when the test fails): a disk that fills up.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(at: std::path::PathBuf) -> anyhow::Result<SmallDisk> {
        std::fs::create_dir_all(&at)?;
        nix::mount::mount(
            Some("tmpfs"),
            &at,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("size=64k"),
        )?;
        Ok(SmallDisk(at))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Output that cannot be written (a full disk; /dev/full) is a write
/// error, as for a local writer: said on stderr, status 1, whether nsh
/// writes it (a device) or the shell's node does (a file). The statuses
/// are bash's for the same script without the `@`s.
async fn a_full_disk_is_a_write_error(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let _disk = SmallDisk::mount(dir.path().join("full"))?;
    let n2 = ctx.name(1);
    let script = "seq 1000000 > /dev/full; echo s=$?; seq 1000000 > full/f; echo s=$?; \
                  /bin/echo hi > /dev/full; echo s=$?; sh -c 'seq 100000; exit 3' > /dev/full; echo s=$?";
    let bash = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir.path())
        .output()?;
    let want = String::from_utf8(bash.stdout)?;
    let remote = script
        .replace("seq 1000000 >", &format!("@{n2} seq 1000000 >"))
        .replace("/bin/echo", &format!("@{n2} /bin/echo"))
        .replace("sh -c", &format!("@{n2} sh -c"));
    let run = ctx.nsh_c(&remote, dir.path()).await?;
    anyhow::ensure!(
        run.stdout == want
            && want == "s=1\ns=1\ns=1\ns=3\n"
            && run.stderr.matches("No space left on device").count() == 4,
        "want {want:?}, {run:?}"
    );
    Ok(())
}

/// `@n2 cmd < FILE` (SpawnRequest.stdin_file_fd): a 20 MB file reaches
/// a command on another node whole, into a file of the shell and into a
/// direct pipe too, while nsh reads less than 10 MiB in all; a command on
/// the shell's node named with `@` gets the file itself. Each result is
/// bash's for the same script without the `@`s.
async fn input_from_a_file_goes_node_to_node(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let (n1, n2, n3) = (ctx.name(0), ctx.name(1), ctx.name(2));
    let script = |at: [&str; 3]| {
        format!(
            "seq 1 3000000 > big; {a}md5sum < big; {b}md5sum < big; \
             {b}wc -c < big > count; cat count; \
             {b}cat < big | {c}tail -1; {a}head -2 < big",
            a = at[0],
            b = at[1],
            c = at[2],
        )
    };
    let bash = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(script(["", "", ""]))
        .current_dir(dir.path())
        .output()
        .await?;
    let want = String::from_utf8(bash.stdout)?;
    anyhow::ensure!(
        bash.status.success() && want.lines().count() == 6,
        "bash: {want:?}"
    );
    let ats = [n1, n2, n3].map(|n| format!("@{n} "));
    let nsh_script = script([&ats[0], &ats[1], &ats[2]]);
    prints_without_reading(ctx, &nsh_script, dir.path(), &want).await
}

/// A file as stdin is refused where it cannot work: over TCP (no
/// descriptors cross), a descriptor that is not a regular file or that
/// the caller lacks, STDIN_MODE_FILE without a descriptor, and an offer
/// (`stdin_offer`, which only nodes set) from a client.
async fn stdin_file_requests_are_checked(ctx: &Ctx) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd;
    let dir = temp_dir()?;
    let path = dir.path().join("in");
    std::fs::write(&path, "data\n")?;
    let file = std::fs::File::open(&path)?;
    let (pipe_read, _pipe_write) = nix::unistd::pipe()?;
    let from = |fd: i32| SpawnRequest {
        node: ctx.name(1).to_string(),
        stdin: StdinMode::File as i32,
        stdin_file_fd: Some(fd),
        ..request(&["cat"])
    };
    let code = |r: Result<tonic::Response<proto::v1::ProcessInfo>, tonic::Status>| {
        r.err().map(|s| s.code())
    };
    let mut client = ctx.cluster.nodes[0].client().await?;
    let mut tcp = proto::v1::processes_client::ProcessesClient::new(
        ctx.cluster.nodes[0].tcp_channel().await?,
    );
    let mut failures = Vec::new();
    let got = code(tcp.spawn(from(file.as_raw_fd())).await);
    if got != Some(tonic::Code::InvalidArgument) {
        failures.push(format!("over TCP: {got:?}"));
    }
    let got = code(client.spawn(from(pipe_read.as_raw_fd())).await);
    if got != Some(tonic::Code::InvalidArgument) {
        failures.push(format!("a pipe: {got:?}"));
    }
    let got = code(client.spawn(from(987)).await);
    if got != Some(tonic::Code::FailedPrecondition) {
        failures.push(format!("a descriptor it does not have: {got:?}"));
    }
    let got = code(
        client
            .spawn(SpawnRequest {
                stdin_file_fd: None,
                ..from(0)
            })
            .await,
    );
    if got != Some(tonic::Code::InvalidArgument) {
        failures.push(format!("STDIN_MODE_FILE alone: {got:?}"));
    }
    let forged = SpawnRequest {
        stdin_file_fd: None,
        stdin_offer: Some(proto::v1::StdinOffer {
            slot: 1,
            ticket: vec![7; 16],
        }),
        ..from(0)
    };
    for (node, c) in [
        (0, &mut client),
        (1, &mut ctx.cluster.nodes[1].client().await?),
    ] {
        let got = code(c.spawn(forged.clone()).await);
        if got != Some(tonic::Code::InvalidArgument) {
            failures.push(format!("a client's stdin_offer via node {node}: {got:?}"));
        }
    }
    // And a good one works through the API as through nsh.
    let pid = client
        .spawn(SpawnRequest {
            output_backpressure: false,
            ..from(file.as_raw_fd())
        })
        .await?
        .into_inner()
        .pid;
    let ended = tests::wait(&mut client, pid).await?;
    let out = tests::read_output(&mut client, pid, proto::v1::OutputStream::Stdout).await?;
    if ended.exit_code != Some(0) || out != b"data\n" {
        failures.push(format!("a file: {ended:?}, {out:?}"));
    }
    anyhow::ensure!(failures.is_empty(), "{failures:?}");
    Ok(())
}

/// WriteOutputTo refuses what it cannot do: a descriptor the caller does
/// not have, a terminal, a TCP caller, another user's process; and writes
/// into a file it is given.
async fn write_output_to_checks_its_caller(ctx: &Ctx) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd;
    let dir = temp_dir()?;
    let mut client = ctx.cluster.nodes[0].client().await?;
    let spawn = |argv: &[&str]| SpawnRequest {
        node: ctx.name(1).to_string(),
        output_backpressure: true,
        ..request(argv)
    };
    let producer = client
        .spawn(spawn(&["echo", "hello"]))
        .await?
        .into_inner()
        .pid;
    let file = std::fs::File::create(dir.path().join("out"))?;
    let code = |r: Result<tonic::Response<proto::v1::WriteOutputToReply>, tonic::Status>| {
        r.err().map(|s| s.code())
    };
    let mut failures = Vec::new();
    let got = code(
        client
            .write_output_to(proto::v1::WriteOutputToRequest {
                pid: producer,
                fd: 987,
            })
            .await,
    );
    if got != Some(tonic::Code::FailedPrecondition) {
        failures.push(format!("a descriptor it does not have: {got:?}"));
    }
    let mut tcp = proto::v1::processes_client::ProcessesClient::new(
        ctx.cluster.nodes[0].tcp_channel().await?,
    );
    let got = code(
        tcp.write_output_to(proto::v1::WriteOutputToRequest {
            pid: producer,
            fd: file.as_raw_fd(),
        })
        .await,
    );
    if got != Some(tonic::Code::InvalidArgument) {
        failures.push(format!("over TCP: {got:?}"));
    }
    let pty = nix::pty::openpty(None, None)?;
    let got = code(
        client
            .write_output_to(proto::v1::WriteOutputToRequest {
                pid: producer,
                fd: pty.slave.as_raw_fd(),
            })
            .await,
    );
    if got != Some(tonic::Code::InvalidArgument) {
        failures.push(format!("a terminal: {got:?}"));
    }
    // Another user's process is as unknown as a missing one.
    let got = code(
        client
            .write_output_to(tests::bench::as_user(
                proto::v1::WriteOutputToRequest {
                    pid: producer,
                    fd: file.as_raw_fd(),
                },
                Some("nobody"),
            ))
            .await,
    );
    if got != Some(tonic::Code::NotFound) {
        failures.push(format!("another user's process: {got:?}"));
    }
    let reply = client
        .write_output_to(proto::v1::WriteOutputToRequest {
            pid: producer,
            fd: file.as_raw_fd(),
        })
        .await?
        .into_inner();
    drop(file);
    let written = std::fs::read_to_string(dir.path().join("out"))?;
    if reply.bytes_written != 6 || written != "hello\n" {
        failures.push(format!("into a file: {reply:?}, {written:?}"));
    }
    anyhow::ensure!(failures.is_empty(), "{failures:?}");
    Ok(())
}

/// The case: 10^8 lines (888,888,898 bytes) across nodes, the last
/// one arrives.
async fn nothing_is_lost(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let (n1, n2) = (ctx.name(0), ctx.name(1));
    let script = format!("@{n1} seq 1e8 | @{n2} tail -1; echo ${{PIPESTATUS[@]}}");
    let run = ctx.nsh_c(&script, dir.path()).await?;
    anyhow::ensure!(
        run.status == 0 && run.stdout == "100000000\n0 0\n" && run.stderr.is_empty(),
        "{run:?}"
    );
    Ok(())
}

/// A consumer that does not read for a while holds the producer back:
/// while it sleeps, the producer has written (its own `wchar` in
/// /proc/PID/io) only what the pipes and socket buffers on the way hold,
/// not the 78.9 MB it has to write; then every line arrives.
async fn slow_consumer_holds_the_producer(ctx: &Ctx) -> anyhow::Result<()> {
    let written = slow_consumer(ctx, ctx.name(0), ctx.name(1)).await?;
    eprintln!("slow consumer: the producer wrote {written} bytes while it slept");
    anyhow::ensure!(
        written < 24 << 20,
        "the producer wrote {written} bytes while the consumer slept"
    );
    Ok(())
}

/// `@producer seq 10000000 | @consumer sh -c 'sleep 4; wc -l'`: checks
/// that every line arrives and returns what the producer had written
/// while the consumer slept.
async fn slow_consumer(ctx: &Ctx, producer: &str, consumer: &str) -> anyhow::Result<u64> {
    let dir = temp_dir()?;
    let marker = dir.path().join("asleep");
    let script = format!(
        "@{producer} seq 10000000 | @{consumer} sh -c 'touch {m}; sleep 4; wc -l'",
        m = marker.display()
    );
    let nsh = ctx.nsh_c(&script, dir.path());
    let watch = async {
        wait_until("the consumer to start sleeping", tests::TIMEOUT, || async {
            marker.exists().then_some(())
        })
        .await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        producer_wchar(ctx, &["seq", "10000000"]).await
    };
    let (run, written) = tokio::join!(nsh, watch);
    let (run, written) = (run?, written?);
    anyhow::ensure!(run.status == 0 && run.stdout == "10000000\n", "{run:?}");
    Ok(written)
}

/// `yes | head -1`: the consumer's end makes the producer get SIGPIPE.
async fn sigpipe_ends_the_producer(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let (n1, n2) = (ctx.name(0), ctx.name(1));
    let script = format!("@{n1} yes | @{n2} head -1; echo ${{PIPESTATUS[@]}}");
    let started = std::time::Instant::now();
    let run = ctx.nsh_c(&script, dir.path()).await?;
    anyhow::ensure!(
        run.status == 0 && run.stdout == "y\n141 0\n" && run.stderr.is_empty(),
        "{run:?}"
    );
    anyhow::ensure!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    Ok(())
}

/// A consumer that stops reading closes the producer's pipe as bash's
/// would: a producer that ignores SIGPIPE gets EPIPE and ends (yes: exit
/// 1, "Broken pipe"), across nodes and within one; a producer that does
/// not write to the pipe again is left alone (not killed when its
/// consumer ends). Compared with bash running the same pipelines.
async fn a_closed_consumer_closes_the_producers_pipe(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let (n1, n2) = (ctx.name(0), ctx.name(1));
    let pipelines = [
        (
            "@{n1} ",
            "@{n2} ",
            "sh -c \"trap '' PIPE; exec yes\" | head -1",
        ),
        (
            "@{n2} ",
            "@{n2} ",
            "sh -c \"trap '' PIPE; exec yes\" | head -1",
        ),
        ("@{n1} ", "@{n2} ", "sh -c 'sleep 1; echo late >&2' | true"),
        ("@{n2} ", "@{n2} ", "sh -c 'sleep 1; echo late >&2' | true"),
    ];
    for (at_producer, at_consumer, pipeline) in pipelines {
        let script = format!("{pipeline}; echo ${{PIPESTATUS[@]}}");
        let bash = std::process::Command::new("bash")
            .arg("-c")
            .arg(&script)
            .output()?;
        let (producer, consumer) = pipeline.split_once(" | ").expect("a pipeline");
        let at = |s: &str| s.replace("{n1}", n1).replace("{n2}", n2);
        let nsh_script = format!(
            "{}{producer} | {}{consumer}; echo ${{PIPESTATUS[@]}}",
            at(at_producer),
            at(at_consumer)
        );
        let run = ctx.nsh_c(&nsh_script, dir.path()).await?;
        let want_out = String::from_utf8(bash.stdout)?;
        let want_err = String::from_utf8(bash.stderr)?;
        anyhow::ensure!(
            run.status == 0 && run.stdout == want_out && run.stderr.contains(want_err.trim_end()),
            "{nsh_script}: want {want_out:?} and {want_err:?} on stderr, {run:?}"
        );
    }
    Ok(())
}

/// Three nodes in a row, a pipe within one node, stderr merged into the
/// pipe, and a producer that fails: as bash gives them.
async fn chains_and_neighbours(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let (n1, n2, n3) = (ctx.name(0), ctx.name(1), ctx.name(2));
    let script = format!(
        "@{n1} seq 1000 | @{n2} grep 7 | @{n3} wc -l; \
         @{n2} seq 3 | @{n2} tac; \
         @{n1} sh -c 'echo out; echo err >&2' 2>&1 | @{n3} sort; \
         sh -c 'echo out2; echo err2 >&2' 2>&1 | @{n3} sort; \
         @{n1} sh -c 'exit 3' | @{n2} cat; echo ${{PIPESTATUS[@]}}; \
         @{n1} printf 'a\\nb\\n' | while read -r x; do echo \"<$x>\"; done"
    );
    let bash_script = "seq 1000 | grep 7 | wc -l; seq 3 | tac; \
         sh -c 'echo out; echo err >&2' 2>&1 | sort; \
         sh -c 'echo out2; echo err2 >&2' 2>&1 | sort; \
         sh -c 'exit 3' | cat; echo ${PIPESTATUS[@]}; \
         printf 'a\\nb\\n' | while read -r x; do echo \"<$x>\"; done";
    let bash = std::process::Command::new("bash")
        .arg("-c")
        .arg(bash_script)
        .output()?;
    let want = String::from_utf8(bash.stdout)?;
    let run = ctx.nsh_c(&script, dir.path()).await?;
    anyhow::ensure!(
        run.status == 0 && run.stdout == want && run.stderr.is_empty(),
        "want {want:?}, {run:?}"
    );
    Ok(())
}

/// Within one node the producer's pipe is spliced into the consumer's:
/// 200 MiB cross while that noded reads less than 20 MiB in all (its own
/// `rchar`; a copying feeder would read every byte); nothing is lost, a
/// consumer that stops reading ends the producer with SIGPIPE, and what
/// the producer wrote before the feeder took its pipe (held in its log)
/// comes first, in order.
async fn within_a_node_the_pipe_is_spliced(ctx: &Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let n2 = ctx.name(1);
    let noded = ctx.cluster.nodes[1]
        .pid()
        .ok_or_else(|| anyhow::anyhow!("node 2 is not running"))?;
    let rchar = || -> anyhow::Result<u64> {
        let io = std::fs::read_to_string(format!("/proc/{noded}/io"))?;
        io.lines()
            .find_map(|l| l.strip_prefix("rchar: "))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no rchar in {io:?}"))
    };
    let before = rchar()?;
    let script = format!(
        "@{n2} head -c 200M /dev/zero | @{n2} wc -c; \
         @{n2} seq 1e7 | @{n2} tail -1; \
         @{n2} yes | @{n2} head -1; echo ${{PIPESTATUS[@]}}; \
         @{n2} sh -c 'seq 3; sleep 1; seq 4 200000' | @{n2} sed -n '1p;3p;4p;$p'"
    );
    let run = ctx.nsh_c(&script, dir.path()).await?;
    let read = rchar()? - before;
    anyhow::ensure!(
        run.status == 0
            && run.stdout == "209715200\n10000000\ny\n141 0\n1\n3\n4\n200000\n"
            && run.stderr.is_empty(),
        "{run:?}"
    );
    anyhow::ensure!(
        read < 20 << 20,
        "the consumer's noded read {read} bytes: the pipe was copied"
    );
    Ok(())
}

/// A slow consumer on the producer's node holds the producer back, as a
/// local pipe would: while it sleeps the producer has written only what
/// the two pipes hold.
async fn within_a_node_a_slow_consumer_holds_the_producer(ctx: &Ctx) -> anyhow::Result<()> {
    let written = slow_consumer(ctx, ctx.name(1), ctx.name(1)).await?;
    anyhow::ensure!(
        written < 8 << 20,
        "the producer wrote {written} bytes while the consumer slept"
    );
    Ok(())
}

/// What the running process with `argv` has written (`wchar` of its
/// /proc/PID/io), found through node 1's List.
async fn producer_wchar(ctx: &Ctx, argv: &[&str]) -> anyhow::Result<u64> {
    let mut client = ctx.cluster.nodes[0].client().await?;
    let list = client
        .list(proto::v1::ListRequest::default())
        .await?
        .into_inner();
    let process = list
        .processes
        .iter()
        .find(|p| p.argv == argv)
        .ok_or_else(|| anyhow::anyhow!("{argv:?} is not running: {list:?}"))?;
    let io = std::fs::read_to_string(format!("/proc/{}/io", process.host_pid))?;
    io.lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| anyhow::anyhow!("no wchar in {io:?}"))
}

/// The API refuses what cannot be a direct pipe, and another user's
/// process is as unknown as one that does not exist.
async fn bad_requests_are_refused(ctx: &Ctx) -> anyhow::Result<()> {
    let mut client = ctx.cluster.nodes[1].client().await?;
    let producer = client
        .spawn(request(&["sleep", "30"]))
        .await?
        .into_inner()
        .pid;
    let consumer = |from: i32| SpawnRequest {
        stdin_from: from,
        ..request(&["cat"])
    };
    let unknown = producer + 999_999;
    let code = |r: Result<tonic::Response<proto::v1::ProcessInfo>, tonic::Status>| {
        r.err().map(|s| s.code())
    };
    let mut failures = Vec::new();
    let cases = [
        ("unknown producer", consumer(unknown), tonic::Code::NotFound),
        (
            "not a cluster pid",
            consumer(-5),
            tonic::Code::InvalidArgument,
        ),
        (
            "a terminal",
            SpawnRequest {
                tty: Some(TerminalSize { rows: 0, cols: 0 }),
                ..consumer(producer)
            },
            tonic::Code::InvalidArgument,
        ),
        (
            "stdin also a pipe",
            SpawnRequest {
                stdin: StdinMode::Pipe as i32,
                ..consumer(producer)
            },
            tonic::Code::InvalidArgument,
        ),
    ];
    for (what, req, want) in cases {
        for node in 0..2 {
            let mut c = ctx.cluster.nodes[node].client().await?;
            let got = code(c.spawn(req.clone()).await);
            if got != Some(want) {
                failures.push(format!("{what} via node {node}: {got:?}"));
            }
        }
    }
    // Another user's process is as unknown as a missing one, on its node
    // and through another.
    for node in 0..2 {
        let mut c = ctx.cluster.nodes[node].client().await?;
        let got = code(
            c.spawn(tests::bench::as_user(consumer(producer), Some("nobody")))
                .await,
        );
        if got != Some(tonic::Code::NotFound) {
            failures.push(format!("another user's producer via node {node}: {got:?}"));
        }
    }
    let _ = client
        .signal(proto::v1::SignalRequest {
            pid: producer,
            signal: libc::SIGKILL,
        })
        .await;
    let _ = get(&mut client, producer).await;
    anyhow::ensure!(failures.is_empty(), "{failures:?}");
    Ok(())
}

/// Writes `message` as a pipe stream frame (4-byte length, encoding).
async fn write_frame(
    w: &mut (impl tokio::io::AsyncWrite + Unpin),
    message: &impl prost::Message,
) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    let body = message.encode_to_vec();
    w.write_all(&(body.len() as u32).to_be_bytes()).await?;
    w.write_all(&body).await?;
    w.flush().await?;
    Ok(())
}

/// Reads the node's PipeOpened answer.
async fn read_answer(
    r: &mut (impl tokio::io::AsyncRead + Unpin),
) -> anyhow::Result<proto::v1::PipeOpened> {
    use prost::Message;
    use tokio::io::AsyncReadExt;
    let len = r.read_u32().await?;
    anyhow::ensure!(len < 1 << 16, "a {len}-byte answer");
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body).await?;
    Ok(proto::v1::PipeOpened::decode(body.as_slice())?)
}

/// The nodes' pipe streams (ALPN nefele-pipe/1) answer only to a node
/// certificate: a client with none is refused whatever user it names, a
/// node asking for an unknown process gets NotFound, junk is refused, and
/// the node keeps serving.
async fn pipe_streams_answer_only_to_nodes(ctx: &Ctx) -> anyhow::Result<()> {
    use tokio::io::AsyncReadExt;
    let node = &ctx.cluster.nodes[1];
    let mut client = node.client().await?;
    let producer = client
        .spawn(request(&["sh", "-c", "echo secret; sleep 30"]))
        .await?
        .into_inner()
        .pid;
    let hostport = node.tcp_addr()?.to_string();
    let hostport = hostport
        .rsplit("://")
        .next()
        .unwrap_or_default()
        .to_string();
    let ca = std::fs::read(node.ca_file())?;
    let timeout = Duration::from_secs(10);
    let open = |pid: i32| proto::v1::PipeOpen {
        pid,
        user: "root".into(),
        admin: true,
        offer: Vec::new(),
        framed: false,
    };

    // No client certificate: refused, nothing of the producer sent.
    let anonymous = proto::tls::ClientTls::new(&ca, None)?;
    let mut stream = anonymous
        .connect_stream(&hostport, None, proto::tls::ALPN_PIPE, timeout)
        .await?;
    // The node may answer (and close) as soon as it has read the request.
    let _ = write_frame(&mut stream, &open(producer)).await;
    let answer = read_answer(&mut stream).await?;
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(timeout, stream.read_to_end(&mut rest)).await;
    anyhow::ensure!(
        answer.code == tonic::Code::Unauthenticated as i32 && rest.is_empty(),
        "anonymous: {answer:?}, then {rest:?}"
    );

    // A node's certificate, an unknown process: NotFound.
    let chain = std::fs::read(ctx.cluster.nodes[0].data_dir().join("tls/node.pem"))?;
    let key = std::fs::read(ctx.cluster.nodes[0].data_dir().join("tls/node.key"))?;
    let as_node = proto::tls::ClientTls::new(&ca, Some((&chain, &key)))?;
    let mut stream = as_node
        .connect_stream(&hostport, None, proto::tls::ALPN_PIPE, timeout)
        .await?;
    // Each stream is a handshake: X25519, not ring's first choice P-384,
    // whose key exchange cost ~2.5 ms of CPU (docs/PERFORMANCE.md).
    let group = stream.get_ref().1.negotiated_key_exchange_group();
    anyhow::ensure!(
        group.is_some_and(|g| format!("{:?}", g.name()) == "X25519"),
        "key exchange {:?}",
        group.map(|g| g.name())
    );
    write_frame(&mut stream, &open(producer + 999_999)).await?;
    let answer = read_answer(&mut stream).await?;
    anyhow::ensure!(
        answer.code == tonic::Code::NotFound as i32,
        "unknown pid: {answer:?}"
    );

    // A node's certificate, a file never offered (a guessed ticket):
    // NotFound.
    let mut stream = as_node
        .connect_stream(&hostport, None, proto::tls::ALPN_PIPE, timeout)
        .await?;
    let guessed = proto::v1::PipeOpen {
        offer: vec![0x5a; 16],
        ..open(0)
    };
    write_frame(&mut stream, &guessed).await?;
    let answer = read_answer(&mut stream).await?;
    anyhow::ensure!(
        answer.code == tonic::Code::NotFound as i32,
        "an offer never made: {answer:?}"
    );

    // Junk instead of a request: refused, the connection closed.
    let mut stream = as_node
        .connect_stream(&hostport, None, proto::tls::ALPN_PIPE, timeout)
        .await?;
    {
        // The node may refuse and close before all of it is written.
        use tokio::io::AsyncWriteExt;
        let _ = stream.write_all(&[0xff; 64]).await;
        let _ = stream.flush().await;
    }
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(timeout, stream.read_to_end(&mut rest)).await;
    anyhow::ensure!(
        !String::from_utf8_lossy(&rest).contains("secret"),
        "junk got output: {rest:?}"
    );

    // Still serving.
    let _ = client
        .signal(proto::v1::SignalRequest {
            pid: producer,
            signal: libc::SIGKILL,
        })
        .await?;
    get(&mut client, producer).await?;
    Ok(())
}

/// A pipe stream asked for framed bytes (`PipeOpen.framed`, what nodes
/// ask) carries one pipe after another: each producer's output as frames
/// up to an empty one, then the next request on the same connection. An
/// unframed request gets the raw bytes and the stream's end, as an older
/// node expects.
async fn a_framed_stream_carries_pipe_after_pipe(ctx: &Ctx) -> anyhow::Result<()> {
    use tokio::io::AsyncReadExt;
    let node = &ctx.cluster.nodes[1];
    let mut client = node.client().await?;
    let mut producers = Vec::new();
    for word in ["first", "second", "third"] {
        let pid = client
            .spawn(request(&["echo", word]))
            .await?
            .into_inner()
            .pid;
        get(&mut client, pid).await?;
        producers.push(pid);
    }
    let hostport = node.hostport();
    let ca = std::fs::read(node.ca_file())?;
    let chain = std::fs::read(ctx.cluster.nodes[0].data_dir().join("tls/node.pem"))?;
    let key = std::fs::read(ctx.cluster.nodes[0].data_dir().join("tls/node.key"))?;
    let as_node = proto::tls::ClientTls::new(&ca, Some((&chain, &key)))?;
    let timeout = Duration::from_secs(10);
    let open = |pid: i32, framed: bool| proto::v1::PipeOpen {
        pid,
        user: "root".into(),
        admin: true,
        offer: Vec::new(),
        framed,
    };
    let mut stream = as_node
        .connect_stream(&hostport, None, proto::tls::ALPN_PIPE, timeout)
        .await?;
    for (pid, word) in producers.iter().zip(["first", "second"]) {
        write_frame(&mut stream, &open(*pid, true)).await?;
        let answer = read_answer(&mut stream).await?;
        anyhow::ensure!(answer.code == 0 && answer.framed, "{word}: {answer:?}");
        let mut got = Vec::new();
        loop {
            let len = tokio::time::timeout(timeout, stream.read_u32()).await??;
            if len == 0 {
                break;
            }
            let mut frame = vec![0u8; len as usize];
            stream.read_exact(&mut frame).await?;
            got.extend(frame);
        }
        anyhow::ensure!(got == format!("{word}\n").as_bytes(), "{word}: {got:?}");
    }
    let mut stream = as_node
        .connect_stream(&hostport, None, proto::tls::ALPN_PIPE, timeout)
        .await?;
    write_frame(&mut stream, &open(producers[2], false)).await?;
    let answer = read_answer(&mut stream).await?;
    anyhow::ensure!(answer.code == 0 && !answer.framed, "unframed: {answer:?}");
    let mut rest = Vec::new();
    tokio::time::timeout(timeout, stream.read_to_end(&mut rest)).await??;
    anyhow::ensure!(rest == b"third\n", "unframed: {rest:?}");
    Ok(())
}

/// The shell's node keeps the stream of `@n2 cmd > FILE` for the next
/// one; n2's noded restarts in between (its processes stay with its
/// keeper): the next command finds the kept stream closed, dials anew and
/// works.
async fn a_kept_stream_to_a_restarted_node_is_replaced(ctx: &mut Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let n2 = ctx.name(1).to_string();
    let run = ctx
        .nsh_c(&format!("@{n2} echo one > one"), dir.path())
        .await?;
    anyhow::ensure!(run.status == 0, "{run:?}");
    ctx.cluster.nodes[1].stop().await?;
    ctx.cluster.nodes[1].restart().await?;
    wait_until("n2 to be back", tests::TIMEOUT, || async {
        let run = ctx.nsh_c(&format!("@{n2} true"), dir.path()).await.ok()?;
        (run.status == 0).then_some(())
    })
    .await?;
    let run = ctx
        .nsh_c(&format!("@{n2} echo two > two; cat one two"), dir.path())
        .await?;
    anyhow::ensure!(
        run.status == 0 && run.stdout == "one\ntwo\n",
        "after the restart: {run:?}"
    );
    Ok(())
}

/// The producer's node crashes mid-stream: nothing hangs. The consumer
/// reads end-of-file and ends; nsh reports the producer it cannot reach
/// any more and finishes. (Runs last: it crashes node 2.)
async fn a_crashed_producer_node_ends_the_pipe(ctx: &mut Ctx) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let (n2, n3) = (ctx.name(1).to_string(), ctx.name(2).to_string());
    let marker = dir.path().join("reading");
    let script = format!(
        "@{n3} yes | @{n2} sh -c 'head -c 1000000 >/dev/null; touch {m}; wc -l'; \
         echo \"${{PIPESTATUS[@]}}\"",
        m = marker.display()
    );
    let mut cmd =
        tests::nsh::shell_command(&tests::binary("nsh"), &ctx.addr, dir.path(), dir.path());
    cmd.arg("-c").arg(&script);
    let nsh = tokio::spawn(tests::nsh::run(cmd, None, tests::nsh::SCRIPT_TIMEOUT));
    wait_until("the consumer to be reading", tests::TIMEOUT, || async {
        marker.exists().then_some(())
    })
    .await?;
    ctx.cluster.nodes[2].crash()?;
    let run = nsh.await??;
    anyhow::ensure!(!run.timed_out, "nsh hung: {run:?}");
    let mut lines = run.stdout.lines();
    let counted = lines.next().and_then(|l| l.trim().parse::<u64>().ok());
    let statuses = lines.next().unwrap_or_default();
    anyhow::ensure!(
        counted.is_some() && statuses.ends_with(" 0"),
        "the consumer did not end cleanly: {run:?}"
    );
    Ok(())
}

#[tokio::test]
async fn direct_pipes_on_three_nodes() -> anyhow::Result<()> {
    let mut ctx = ShellCluster::start(3).await?;

    let mut failures = tests::run_cases!(
        &ctx,
        bytes_go_node_to_node,
        output_to_a_file_goes_node_to_node,
        a_full_disk_is_a_write_error,
        output_to_dev_null_stays_on_its_node,
        input_from_a_file_goes_node_to_node,
        stdin_file_requests_are_checked,
        write_output_to_checks_its_caller,
        nothing_is_lost,
        slow_consumer_holds_the_producer,
        sigpipe_ends_the_producer,
        a_closed_consumer_closes_the_producers_pipe,
        chains_and_neighbours,
        within_a_node_the_pipe_is_spliced,
        within_a_node_a_slow_consumer_holds_the_producer,
        bad_requests_are_refused,
        pipe_streams_answer_only_to_nodes,
        a_framed_stream_carries_pipe_after_pipe,
    );
    if let Err(e) = a_kept_stream_to_a_restarted_node_is_replaced(&mut ctx).await {
        failures.push(format!(
            "a_kept_stream_to_a_restarted_node_is_replaced: {e:#}"
        ));
    }
    if let Err(e) = a_crashed_producer_node_ends_the_pipe(&mut ctx).await {
        failures.push(format!("a_crashed_producer_node_ends_the_pipe: {e:#}"));
    }

    tests::assert_no_failures(&failures);
    Ok(())
}

/// In an `--insecure` cluster (as `nsh --dev` runs) the nodes' pipe
/// streams are plain TCP: the same results (lossless, SIGPIPE, a producer
/// that ignores SIGPIPE ended by EPIPE as under bash, output into a
/// file), and the bytes still skip nsh.
#[tokio::test]
async fn direct_pipes_in_an_insecure_cluster() -> anyhow::Result<()> {
    let options = tests::NodeOptions {
        insecure: true,
        ..tests::NodeOptions::default()
    };
    let cluster = tests::TestCluster::start_with(2, options).await?;
    let addr = cluster.nodes[0].addr();
    let ctx = ShellCluster { cluster, addr };
    let dir = temp_dir()?;
    let (n1, n2) = (ctx.name(0), ctx.name(1));
    let script = format!(
        "@{n2} seq 200000 | @{n1} wc -l; @{n2} yes | @{n1} head -1; echo ${{PIPESTATUS[@]}}; \
         @{n2} sh -c \"trap '' PIPE; exec yes\" | @{n1} head -1; echo ${{PIPESTATUS[@]}}; \
         @{n2} seq 3 > f; cat f"
    );
    let run = ctx.nsh_c(&script, dir.path()).await?;
    assert!(
        run.status == 0
            && run.stdout == "200000\ny\n141 0\ny\n1 0\n1\n2\n3\n"
            && run.stderr.contains("Broken pipe"),
        "{run:?}"
    );
    let script = format!("@{n2} head -c 100M /dev/zero | @{n1} wc -c");
    prints_without_reading(&ctx, &script, dir.path(), "104857600\n").await?;
    plain_streams_refuse_junk(&ctx).await?;
    Ok(())
}

/// A plain-text pipe stream (`NEFELE-PIPE/1`) asking for a process that
/// does not exist gets NotFound; a wrong preface, junk after the right
/// one, and a client that sends nothing are dropped; the node keeps
/// serving gRPC and pipes.
async fn plain_streams_refuse_junk(ctx: &Ctx) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let node = &ctx.cluster.nodes[1];
    let hostport = node.hostport();
    let timeout = Duration::from_secs(10);
    let mut stream = proto::tls::connect_plain_stream(&hostport, None, timeout).await?;
    let open = proto::v1::PipeOpen {
        pid: 20_999_999,
        user: "root".into(),
        admin: true,
        offer: Vec::new(),
        framed: false,
    };
    write_frame(&mut stream, &open).await?;
    let answer = tokio::time::timeout(timeout, read_answer(&mut stream)).await??;
    anyhow::ensure!(
        answer.code == tonic::Code::NotFound as i32,
        "an unknown producer: {answer:?}"
    );
    for junk in [
        &b"NOT-A-PIPE/1\n\0\0\0\x05hello"[..],
        &b"NEFELE-PIPE/1\n\xff\xff\xff\xffjunk"[..],
        &b"N"[..],
    ] {
        let mut tcp = tokio::net::TcpStream::connect(&hostport).await?;
        tcp.write_all(junk).await?;
        let mut rest = Vec::new();
        // Dropped (end of file or reset), within the node's handshake
        // timeout, with no answer worth reading.
        let read = tokio::time::timeout(Duration::from_secs(30), tcp.read_to_end(&mut rest)).await;
        anyhow::ensure!(read.is_ok(), "{junk:?}: the connection stayed open");
    }
    let dir = temp_dir()?;
    let (n1, n2) = (ctx.name(0), ctx.name(1));
    let run = ctx
        .nsh_c(&format!("@{n2} seq 3 | @{n1} wc -l"), dir.path())
        .await?;
    anyhow::ensure!(run.status == 0 && run.stdout == "3\n", "{run:?}");
    Ok(())
}
