//! Commands take only what they read (issue #21): nsh against bash on the
//! same input, on a 2-node cluster. Commands on the shell's own node get
//! the shell's descriptors (docs/design/nsh.md, "Standard input, output
//! and error"), so scripts keep bash's data flow: a command that does not
//! read leaves the input to the next reader, a file's rest stays after
//! `head`, a loop's `cat` takes the rest of the file, stdout and stderr
//! keep their order in one file.

use std::path::Path;

use tests::nsh::{SCRIPT_TIMEOUT, run, shell_command};
use tests::{TestCluster, binary};

/// Runs `script` under bash and under nsh (with `input` on stdin) in
/// `dir`, and checks that both print the same and exit the same.
async fn same_as_bash(
    cluster: &TestCluster,
    dir: &Path,
    script: &str,
    input: &[u8],
) -> anyhow::Result<String> {
    let addr = cluster.nodes[0].addr();
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    let mut outputs = Vec::new();
    for shell in [Path::new("/bin/bash").to_path_buf(), binary("nsh")] {
        let mut cmd = shell_command(&shell, &addr, &tmp, dir);
        cmd.arg("-c").arg(script);
        let done = run(cmd, Some(input.to_vec()), SCRIPT_TIMEOUT).await?;
        outputs.push(done);
    }
    let (bash, nsh) = (&outputs[0], &outputs[1]);
    assert_eq!(
        (bash.status, &bash.stdout),
        (nsh.status, &nsh.stdout),
        "{script}\nbash: {}\nnsh: {}",
        bash.describe(),
        nsh.describe()
    );
    Ok(nsh.stdout.clone())
}

#[tokio::test]
async fn local_commands_take_only_what_they_read() -> anyhow::Result<()> {
    let cluster = TestCluster::start(2).await?;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("five"), "1\n2\n3\n4\n5\n")?;

    // A command that does not read leaves the shell's input alone, however
    // long it runs.
    let out = same_as_bash(
        &cluster,
        dir.path(),
        "sleep 0.3; read x; echo \"got $x\"; read y; echo \"then $y\"",
        b"a\nb\n",
    )
    .await?;
    assert_eq!(out, "got a\nthen b\n");
    // A script read from a pipe keeps its lines when its commands run on
    // the local node, and on another node.
    let out = script_on_stdin(
        &cluster,
        dir.path(),
        "sleep 0.2\necho one\ntrue\necho two\n",
    )
    .await?;
    assert_eq!(out, "one\ntwo\n");
    // A script on stdin is read a command at a time, as bash reads it: a
    // command in it that reads stdin gets the lines after it, from a pipe
    // and from a file (bash's output for the same).
    let script = "echo start\nread x\nline-for-read\necho \"x=$x\"\ncat\necho after\n";
    let want = "start\nx=line-for-read\necho after\n";
    assert_eq!(script_on_stdin(&cluster, dir.path(), script).await?, want);
    std::fs::write(dir.path().join("script"), script)?;
    for shell in [Path::new("/bin/bash").to_path_buf(), binary("nsh")] {
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&tmp)?;
        let mut cmd = shell_command(&shell, &cluster.nodes[0].addr(), &tmp, dir.path());
        cmd.stdin(std::fs::File::open(dir.path().join("script"))?);
        let done = tokio::time::timeout(SCRIPT_TIMEOUT, cmd.output()).await??;
        assert_eq!(
            String::from_utf8_lossy(&done.stdout),
            want,
            "{} < script: {}",
            shell.display(),
            String::from_utf8_lossy(&done.stderr)
        );
    }
    let n2 = cluster.nodes[1].name.clone();
    let out = script_on_stdin(
        &cluster,
        dir.path(),
        &format!("@{n2} sleep 0.2\necho one\n@{n2} true\necho two\n"),
    )
    .await?;
    assert_eq!(out, "one\ntwo\n");
    let out = remote_in_loop_keeps_lines(&cluster, dir.path(), &n2).await?;
    assert_eq!(out, "one\ntwo\n");
    // The shell's umask reaches a command on another node too.
    let out = script_on_stdin(
        &cluster,
        dir.path(),
        &format!("umask 077\n@{n2} touch made-remotely\nstat -c %a made-remotely\n"),
    )
    .await?;
    assert_eq!(out, "600\n");
    // A here-document to a remote command.
    let out = script_on_stdin(
        &cluster,
        dir.path(),
        &format!("@{n2} cat <<EOF\nhere $((2+3))\nEOF\necho after\n"),
    )
    .await?;
    assert_eq!(out, "here 5\nafter\n");
    // A remote command that reads 5 bytes of a 1 MiB file leaves the rest
    // to the next reader, but for what nsh may read ahead of it: at most
    // its pipe (64 KiB) and the messages in flight (docs/design/nsh.md).
    let size = 1 << 20;
    let big: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(dir.path().join("big"), &big)?;
    let out = script_on_stdin(
        &cluster,
        dir.path(),
        &format!("{{ @{n2} head -c 5 >/dev/null; wc -c; }} < big\n"),
    )
    .await?;
    let rest: usize = out.trim().parse()?;
    let lost = size - rest;
    assert!(
        (5..=128 * 1024).contains(&lost),
        "the next reader found {rest} of {size} bytes: {lost} read ahead"
    );
    // One that reads a lot gets bigger messages (up to 256 KiB), and still
    // leaves the rest but for its pipe and one message.
    let out = script_on_stdin(
        &cluster,
        dir.path(),
        &format!("{{ @{n2} head -c 600000 >/dev/null; wc -c; }} < big\n"),
    )
    .await?;
    let rest: usize = out.trim().parse()?;
    let ahead = (size - 600_000).saturating_sub(rest);
    assert!(
        rest <= size - 600_000 && ahead <= 320 * 1024,
        "after 600000 bytes the next reader found {rest} of {size}: {ahead} read ahead"
    );

    // The shell's own node named with `@` is still the shell's node: its
    // commands get the file itself and leave the rest, as bash's
    // `{ head -n1; head -n1; read x; echo "x=$x"; } < five` does.
    let n1 = cluster.nodes[0].name.clone();
    let out = script_on_stdin(
        &cluster,
        dir.path(),
        &format!("{{ @{n1} head -n1; @{n1} head -n1; read x; echo \"x=$x\"; }} < five\n"),
    )
    .await?;
    assert_eq!(out, "1\n2\nx=3\n");

    // head on a file leaves the rest; a read loop's cat takes the rest;
    // exec < file then reads and commands share the offset.
    same_as_bash(
        &cluster,
        dir.path(),
        "{ head -n1; read x; echo \"x=$x\"; cat; } < five",
        b"",
    )
    .await?;
    same_as_bash(
        &cluster,
        dir.path(),
        "while read l; do echo \"[$l]\"; cat; done < five",
        b"",
    )
    .await?;
    same_as_bash(
        &cluster,
        dir.path(),
        "exec < five; read a; sleep 0; read b; echo $a $b; head -n1; cat",
        b"",
    )
    .await?;
    // cmd | while read; here-documents and here-strings to local commands.
    same_as_bash(
        &cluster,
        dir.path(),
        "seq 3 | while read n; do echo \"n=$n\"; done; cat <<EOF\nhere $((1+1))\nEOF\ncat <<< str",
        b"",
    )
    .await?;
    // stdout and stderr into one file keep bash's order.
    same_as_bash(
        &cluster,
        dir.path(),
        "{ echo 1; ls /nonexistent-nsh-stdin; echo 3; printf '4\\n' >&2; } > both 2>&1; cat both",
        b"",
    )
    .await?;
    Ok(())
}

/// `while read; do @n2 cmd; done < file` keeps the loop's lines (the remote
/// command gets no pumped stdin inside a loop, docs/design/nsh.md).
async fn remote_in_loop_keeps_lines(
    cluster: &TestCluster,
    dir: &Path,
    n2: &str,
) -> anyhow::Result<String> {
    std::fs::write(dir.join("two"), "one\ntwo\n")?;
    let addr = cluster.nodes[0].addr();
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    let mut cmd = shell_command(&binary("nsh"), &addr, &tmp, dir);
    cmd.arg("-c")
        .arg(format!("while read l; do @{n2} true; echo $l; done < two"));
    let done = run(cmd, None, SCRIPT_TIMEOUT).await?;
    assert_eq!(done.status, 0, "{}", done.describe());
    Ok(done.stdout)
}

/// Runs `nsh` reading `script` from its stdin (a pipe); its stdout.
async fn script_on_stdin(
    cluster: &TestCluster,
    dir: &Path,
    script: &str,
) -> anyhow::Result<String> {
    let addr = cluster.nodes[0].addr();
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    let cmd = shell_command(&binary("nsh"), &addr, &tmp, dir);
    let done = run(cmd, Some(script.as_bytes().to_vec()), SCRIPT_TIMEOUT).await?;
    assert_eq!(done.status, 0, "{script}: {}", done.describe());
    Ok(done.stdout)
}

#[tokio::test]
async fn inherit_is_refused_where_it_cannot_hold() -> anyhow::Result<()> {
    use proto::v1::{InheritedStdio, SpawnRequest, TerminalSize};
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use tonic::Code;

    let cluster = TestCluster::start(2).await?;
    let mut unix = cluster.nodes[0].client().await?;
    let (reader, writer) = nix::unistd::pipe()?;
    let out_to = |fd: i32| InheritedStdio {
        stdout_fd: Some(fd),
        ..InheritedStdio::default()
    };
    let with = |inherit: InheritedStdio| SpawnRequest {
        inherit: Some(inherit),
        ..tests::request(&["echo", "straight"])
    };

    // A descriptor this process does not have.
    let err = unix.spawn(with(out_to(987_654))).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    // Another node: a descriptor cannot travel.
    let mut req = with(out_to(writer.as_raw_fd()));
    req.node = cluster.nodes[1].name.clone();
    let err = unix.spawn(req).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    // Over TCP the node cannot know the caller's process.
    let mut tcp = cluster.nodes[0].tcp_client().await?;
    let err = tcp
        .spawn(with(out_to(writer.as_raw_fd())))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    // A terminal is the stdio of a process that has one.
    let mut req = with(out_to(writer.as_raw_fd()));
    req.tty = Some(TerminalSize { rows: 24, cols: 80 });
    let err = unix.spawn(req).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    // Extra descriptors: numbers 3 to 1023, each once, and ones we have.
    let extra = |pairs: &[(i32, i32)]| InheritedStdio {
        extra: pairs
            .iter()
            .map(|&(target, fd)| proto::v1::ExtraFd { target, fd })
            .collect(),
        ..InheritedStdio::default()
    };
    let w = writer.as_raw_fd();
    for (pairs, code) in [
        (vec![(1, w)], Code::InvalidArgument),
        (vec![(1024, w)], Code::InvalidArgument),
        (vec![(5, w), (5, w)], Code::InvalidArgument),
        (vec![(5, 987_654)], Code::FailedPrecondition),
    ] {
        let err = unix.spawn(with(extra(&pairs))).await.unwrap_err();
        assert_eq!(err.code(), code, "{pairs:?}: {err:?}");
    }

    // And the real thing: the output goes straight into our pipe, and
    // the process's log is empty and closed.
    let p = unix
        .spawn(with(out_to(writer.as_raw_fd())))
        .await?
        .into_inner();
    let done = tests::wait(&mut unix, p.pid).await?;
    assert_eq!(done.exit_code, Some(0));
    drop(writer);
    let mut got = String::new();
    std::fs::File::from(reader).read_to_string(&mut got)?;
    assert_eq!(got, "straight\n");
    let logged = tests::read_output(&mut unix, p.pid, proto::v1::OutputStream::Stdout).await?;
    assert!(logged.is_empty(), "{logged:?}");
    assert!(done.stdout_inherited && !done.stderr_inherited, "{done:?}");

    // nsh's `logs` says where such output went instead of printing nothing.
    let dir = tempfile::tempdir()?;
    let mut cmd = shell_command(
        &binary("nsh"),
        &cluster.nodes[0].addr(),
        dir.path(),
        dir.path(),
    );
    cmd.arg("-c")
        .arg("/bin/echo to-file > out & p=$!; wait $p; cat out; logs $p; echo \"status $?\"");
    let run = run(cmd, None, SCRIPT_TIMEOUT).await?;
    assert_eq!(run.stdout, "to-file\nstatus 1\n", "{}", run.describe());
    assert!(
        run.stderr.contains("nothing was captured"),
        "{}",
        run.describe()
    );
    Ok(())
}
