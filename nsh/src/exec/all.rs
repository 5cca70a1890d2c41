//! `@all CMD`: the command once on every node that is up, each output line
//! prefixed with `NODE: `; the status is the last non-zero one, else 0.

use std::os::fd::AsFd;

use proto::v1::NodeState;

use crate::client::Client;
use crate::io::{self, Fd};
use crate::jobs::{ExitCell, Member};
use crate::remote::{self, Launch};
use crate::shell::Shell;

/// Starts the command on every node; the returned member ends when all do.
/// One input cannot feed several processes, so (like ssh fan-out tools)
/// `@all` gives its processes no stdin.
pub fn start_all(
    shell: &mut Shell,
    client: &Client,
    launch: &Launch,
    stdout: Fd,
    stderr: Fd,
) -> Member {
    let exit = ExitCell::default();
    let nodes = match client.nodes() {
        Ok(nodes) => nodes,
        Err(e) => {
            shell.error(format!("@all: {e}"));
            exit.set(1);
            return Member {
                pid: None,
                exit,
                input_done: None,
            };
        }
    };
    let mut parts = Vec::new();
    for node in nodes.iter().filter(|n| n.state == NodeState::Up as i32) {
        let mut launch = launch.clone();
        launch.node = node.name.clone();
        let (out_read, out_write) = match (io::pipe(), io::pipe()) {
            (Ok(out), Ok(err)) => ((out.0, err.0), (out.1, err.1)),
            _ => {
                shell.error("@all: cannot create a pipe");
                continue;
            }
        };
        let started = remote::start_remote(
            client,
            &launch,
            None,
            Fd::new(out_write.0),
            Fd::new(out_write.1),
            &shell.tracker,
        );
        match started {
            Ok(member) => {
                let prefix = format!("{}: ", node.name);
                let printers = [
                    prefix_lines(out_read.0, stdout.clone(), prefix.clone()),
                    prefix_lines(out_read.1, stderr.clone(), prefix),
                ];
                parts.push((member, printers));
            }
            Err(e) => {
                let (message, _) = remote::spawn_failure(&launch.node, &launch.argv[0], &e);
                shell.error(format!("{}: {message}", node.name));
            }
        }
    }
    let cell = exit.clone();
    std::thread::spawn(move || {
        let mut status = 0;
        for (member, printers) in parts {
            let s = loop {
                if let Some(s) = member.exit.wait_timeout(std::time::Duration::from_secs(1)) {
                    break s;
                }
            };
            for printer in printers {
                let _ = printer.join();
            }
            if s != 0 {
                status = s;
            }
        }
        cell.set(status);
    });
    Member {
        pid: None,
        exit,
        input_done: None,
    }
}

/// Copies lines from `from` to `to`, each prefixed.
fn prefix_lines(from: std::os::fd::OwnedFd, to: Fd, prefix: String) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut pending = Vec::new();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match io::read(from.as_fd(), &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            pending.extend_from_slice(&buf[..n]);
            let mut out = Vec::new();
            while let Some(i) = pending.iter().position(|b| *b == b'\n') {
                out.extend_from_slice(prefix.as_bytes());
                out.extend(pending.drain(..=i));
            }
            if !out.is_empty() && io::write_all(to.file.as_fd(), &out).is_err() {
                return;
            }
        }
        if !pending.is_empty() {
            let mut out = prefix.into_bytes();
            out.extend(pending);
            out.push(b'\n');
            let _ = io::write_all(to.file.as_fd(), &out);
        }
    })
}
