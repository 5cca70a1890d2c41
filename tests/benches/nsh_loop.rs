//! nsh's interpreter against bash on CPU-bound shell code: loops of
//! 100,000 iterations of arithmetic and string expansion, no external
//! commands (so no cluster is involved), run by the release-built `nsh`
//! and by `bash` in the same run, interleaved. Targets (issue #17): nsh
//! at most 1x bash's median on the loops, and its start-up (`nsh -c true`)
//! at most 2x `bash -c true`. Prints Markdown tables for
//! docs/PERFORMANCE.md; progress goes to stderr.
//!
//! `cargo build --release --bins && cargo bench -p tests --bench nsh_loop`
//! (`BENCH_RUNS=N` for more runs).

use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::ensure;

/// Unmeasured runs of each shell on each workload first.
const WARMUP: usize = 1;
/// Measured runs of each shell on each workload, by default.
const RUNS: usize = 7;
/// The target ratio of nsh's median to bash's on the loops.
const TARGET: f64 = 1.0;
/// The target ratio of `nsh -c true` to `bash -c true`.
const STARTUP_TARGET: f64 = 2.0;
/// Runs of each shell's `-c true`.
const STARTUP_RUNS: usize = 41;

/// The workloads: a name and the script. Each prints a line that must be
/// the same under both shells.
const WORKLOADS: &[(&str, &str)] = &[
    (
        "arithmetic and string expansion (`for (( ))`)",
        r#"n=0 total=0 s=
for (( i = 0; i < 100000; i++ )); do
    n=$(( (n * 31 + i) % 1000003 ))
    word="item-$i-$n"
    s=${word#item-}
    s=${s%%-*}
    (( total += ${#word} ))
done
echo "$n $s $total"
"#,
    ),
    (
        "`while` with `[ ]`, `case` and `${x/p/r}`",
        r#"i=0 evens=0 out=
while [ "$i" -lt 100000 ]; do
    case $(( i % 4 )) in
        0|2) evens=$(( evens + 1 )) ;;
        *) out=${i/1/one} ;;
    esac
    i=$(( i + 1 ))
done
echo "$i $evens $out"
"#,
    ),
    (
        "function calls with `local` and an array",
        r#"add() { local a=$1 b=$2; r=$(( a + b )); }
acc=0 list=()
for (( i = 0; i < 100000; i++ )); do
    add "$acc" "$i"
    acc=$(( r % 65536 ))
    (( i % 1000 == 0 )) && list+=("$acc")
done
echo "$acc ${#list[@]} ${list[-1]}"
"#,
    ),
];

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nsh_loop bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn run() -> anyhow::Result<()> {
    let nsh = tests::bench::built("nsh")?;
    let bash = std::path::PathBuf::from("bash");
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RUNS)
        .max(1);
    let dir = tempfile::Builder::new().prefix("nsh-loop-").tempdir()?;
    let version = Command::new("bash")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default();

    let mut rows = Vec::new();
    let mut worst: f64 = 0.0;
    for (i, (name, text)) in WORKLOADS.iter().enumerate() {
        let script = dir.path().join(format!("loop{i}.sh"));
        std::fs::write(&script, text)?;
        eprintln!("{name}: {WARMUP} warm-up + {runs} runs per shell");
        let (_, expected) = tests::bench::run_shell(&bash, &script, &[])?;
        for _ in 0..WARMUP {
            let (_, got) = tests::bench::run_shell(&nsh, &script, &[])?;
            ensure!(
                got == expected,
                "nsh printed {got:?}, bash {expected:?} for {name}"
            );
        }
        let (mut by_nsh, mut by_bash) = (Vec::new(), Vec::new());
        for run in 0..runs {
            by_bash.push(tests::bench::run_shell(&bash, &script, &[])?.0);
            let (took, got) = tests::bench::run_shell(&nsh, &script, &[])?;
            ensure!(got == expected, "nsh printed {got:?}, bash {expected:?}");
            by_nsh.push(took);
            eprintln!(
                "  run {}/{runs}: bash {:.0} ms, nsh {:.0} ms",
                run + 1,
                by_bash[run].as_secs_f64() * 1000.0,
                took.as_secs_f64() * 1000.0
            );
        }
        let (b, n) = (median(&mut by_bash), median(&mut by_nsh));
        let ratio = n.as_secs_f64() / b.as_secs_f64();
        worst = worst.max(ratio);
        rows.push(format!(
            "| {name} | {:.0} | {:.0} | {ratio:.2}x |",
            b.as_secs_f64() * 1000.0,
            n.as_secs_f64() * 1000.0
        ));
    }

    println!(
        "### nsh against bash, 100,000-iteration loops ({WARMUP} warm-up + {runs} runs each, medians)\n"
    );
    println!(
        "{}, {version}, {}\n",
        tests::bench::machine(),
        tests::bench::utc_now()
    );
    tests::bench::print_table(&["workload", "bash ms", "nsh ms", "nsh / bash"], &rows);
    println!(
        "\nTarget: nsh at most {TARGET}x bash on every workload: {} (worst {worst:.2}x).",
        tests::bench::verdict(worst <= TARGET)
    );
    startup(&nsh, &bash)
}

/// `SHELL -c true`, interleaved, [`STARTUP_RUNS`] each: what starting the
/// shell costs (nsh connects to no node for it).
fn startup(nsh: &std::path::Path, bash: &std::path::Path) -> anyhow::Result<()> {
    let dash_c = std::path::Path::new("-c");
    eprintln!("start-up: {STARTUP_RUNS} runs of each `-c true`");
    let (mut by_nsh, mut by_bash) = (Vec::new(), Vec::new());
    for _ in 0..STARTUP_RUNS {
        by_bash.push(tests::bench::run_shell(bash, dash_c, &["true"])?.0);
        by_nsh.push(tests::bench::run_shell(nsh, dash_c, &["true"])?.0);
    }
    let (b, n) = (median(&mut by_bash), median(&mut by_nsh));
    let ratio = n.as_secs_f64() / b.as_secs_f64();
    println!("\n### Start-up: `SHELL -c true` ({STARTUP_RUNS} runs each, interleaved, medians)\n");
    tests::bench::print_table(
        &["command", "bash ms", "nsh ms", "nsh / bash"],
        &[format!(
            "| `-c true` | {:.2} | {:.2} | {ratio:.2}x |",
            b.as_secs_f64() * 1000.0,
            n.as_secs_f64() * 1000.0
        )],
    );
    println!(
        "\nTarget: at most {STARTUP_TARGET}x: {}.",
        tests::bench::verdict(ratio <= STARTUP_TARGET)
    );
    Ok(())
}
