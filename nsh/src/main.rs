//! TEMPORARY dispatcher (branch wip-h2) until the interpreter's `main.rs`
//! lands; replace it wholesale. It knows only:
//!
//! ```text
//! nsh [--addr ADDR] @NODE CMD [ARGS...]   relay::main
//! nsh [--addr ADDR] --dev [N]             dev::DevCluster: prints the
//!                                         address, waits for end of stdin or
//!                                         SIGINT/SIGTERM/SIGHUP, stops it all
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut addr = None;
    if args.first().map(String::as_str) == Some("--addr") {
        if args.len() < 2 {
            eprintln!("nsh: --addr: missing address");
            return ExitCode::from(2);
        }
        addr = Some(args.remove(1));
        args.remove(0);
    }
    match args.first().map(String::as_str) {
        Some(word) if word.starts_with('@') => {
            let node = args.remove(0);
            nsh::relay::main(addr.as_deref(), &node, args)
        }
        Some("--dev") => dev(args.get(1).map(String::as_str)),
        _ => {
            eprintln!("usage: nsh [--addr ADDR] @NODE CMD [ARGS...] | nsh --dev [N]");
            ExitCode::from(2)
        }
    }
}

fn dev(n: Option<&str>) -> ExitCode {
    let nodes = match n.map(str::parse::<usize>) {
        None => nsh::dev::DEFAULT_NODES,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("nsh: --dev: N must be a positive number");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nsh: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        use tokio::io::AsyncReadExt;
        use tokio::signal::unix::{SignalKind, signal};
        let (mut int, mut term, mut hup) = (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
            signal(SignalKind::hangup())?,
        );
        let options = nsh::dev::DevOptions {
            nodes,
            ..Default::default()
        };
        let cluster = nsh::dev::DevCluster::start(options).await?;
        println!("NEFELE_ADDR={}", cluster.addr());
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 256];
        loop {
            tokio::select! {
                n = stdin.read(&mut buf) => if !matches!(n, Ok(n) if n > 0) { break },
                _ = int.recv() => break,
                _ = term.recv() => break,
                _ = hup.recv() => break,
            }
        }
        tokio::task::block_in_place(|| cluster.shutdown())?;
        anyhow::Ok(())
    });
    // tokio's stdin reader is a blocking thread that may still be reading.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nsh: dev: {e:#}");
            ExitCode::FAILURE
        }
    }
}
