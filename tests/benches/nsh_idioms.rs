//! Common bash idioms, nsh against bash (issue #21): each row is a loop
//! run at two sizes, N and 2N, by the release-built `nsh` and by `bash`
//! in the same run, interleaved. Targets: nsh at most 1.5x bash on every
//! row, and no row growing faster than linearly (the time at 2N at most
//! 2.5x the time at N, where a quadratic loop gives about 4x). Prints a
//! Markdown table for docs/PERFORMANCE.md; progress goes to stderr.
//!
//! `cargo build --release --bins && cargo bench -p tests --bench nsh_idioms`
//! (`BENCH_RUNS=N` for more runs per cell, default 3).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::ensure;
use tests::bench::{run_shell, verdict};

const RUNS: usize = 3;
const RATIO_TARGET: f64 = 1.5;
const GROWTH_TARGET: f64 = 2.5;

/// Rows: a name, N, and the script; `$1` is N and `$2` a file of N
/// lines. Each script prints a line that must be the same under both
/// shells.
const ROWS: &[(&str, usize, &str)] = &[
    (
        "`a+=(\"x$i\")`",
        10_000,
        r#"for ((i=0;i<$1;i++)); do a+=("x$i"); done; echo ${#a[@]} ${a[-1]}"#,
    ),
    (
        "`s+=\"x$i \"`",
        25_000,
        r#"s=; for ((i=0;i<$1;i++)); do s+="x$i "; done; echo ${#s}"#,
    ),
    (
        "`[[ x$i =~ re ]]` with captures",
        10_000,
        r#"n=0; for ((i=0;i<$1;i++)); do [[ x$i =~ ^x([0-9]*)5$ ]] && n=$((n+${#BASH_REMATCH[1]})); done; echo $n"#,
    ),
    (
        "associative `m[k$i]=$i`, then `${#m[@]}`",
        10_000,
        r#"declare -A m; for ((i=0;i<$1;i++)); do m[k$i]=$i; done; echo ${#m[@]} ${m[k7]}"#,
    ),
    (
        "`printf -v v '%s-%05d' x $i`",
        10_000,
        r#"for ((i=0;i<$1;i++)); do printf -v v '%s-%05d' x $i; done; echo $v"#,
    ),
    (
        "`for x in \"${a[@]}\"` over an array of N",
        20_000,
        r#"a=(); for ((i=0;i<$1;i++)); do a[i]=$i; done; t=0; for x in "${a[@]}"; do ((t+=x)); done; echo $t"#,
    ),
    (
        "`x=$(echo $i)` with a 20,000-element array set",
        300,
        r#"a=(); for ((i=0;i<20000;i++)); do a[i]=$i; done; for ((i=0;i<$1;i++)); do x=$(echo $i); done; echo $x"#,
    ),
    (
        "`mapfile -t a < file` (N lines)",
        100_000,
        r#"mapfile -t a < "$2"; echo ${#a[@]} ${a[-1]}"#,
    ),
    (
        "`while read -r l` over a file (N lines)",
        50_000,
        r#"n=0; while read -r l; do ((n+=${#l})); done < "$2"; echo $n"#,
    ),
];

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nsh_idioms bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

fn run() -> anyhow::Result<()> {
    let nsh = tests::bench::built("nsh")?;
    let bash = std::path::PathBuf::from("bash");
    let runs = tests::bench::env_count("BENCH_RUNS", RUNS);
    let dir = tempfile::Builder::new().prefix("nsh-idioms-").tempdir()?;

    let mut table = Vec::new();
    let (mut worst_ratio, mut worst_growth) = (0f64, 0f64);
    for (row, (name, n, text)) in ROWS.iter().enumerate() {
        let script = dir.path().join(format!("row{row}.sh"));
        std::fs::write(&script, text)?;
        let mut cells = Vec::new();
        for size in [*n, 2 * n] {
            let lines = dir.path().join(format!("lines{size}.txt"));
            if !lines.exists() {
                let text: String = (0..size)
                    .map(|i| format!("line {i} of the file\n"))
                    .collect();
                std::fs::write(&lines, text)?;
            }
            let args = [size.to_string(), lines.display().to_string()];
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (_, expected) = run_shell(&bash, &script, &args)?;
            let (mut by_bash, mut by_nsh) = (Vec::new(), Vec::new());
            for _ in 0..runs {
                by_bash.push(run_shell(&bash, &script, &args)?.0);
                let (took, got) = run_shell(&nsh, &script, &args)?;
                ensure!(
                    got == expected,
                    "{name} at {size}: nsh printed {got:?}, bash {expected:?}"
                );
                by_nsh.push(took);
            }
            let (b, s) = (median(by_bash), median(by_nsh));
            eprintln!("{name} at {size}: bash {b:.0} ms, nsh {s:.0} ms");
            cells.push((b, s));
        }
        let [(b1, s1), (b2, s2)] = [cells[0], cells[1]];
        let ratio = (s1 / b1).max(s2 / b2);
        let growth = s2 / s1;
        worst_ratio = worst_ratio.max(ratio);
        worst_growth = worst_growth.max(growth);
        table.push(format!(
            "| {name} | {n} / {} | {b1:.0} / {b2:.0} | {s1:.0} / {s2:.0} | {:.2}x / {:.2}x | {:.2}x | {:.2}x |",
            2 * n,
            s1 / b1,
            s2 / b2,
            b2 / b1,
            growth
        ));
    }

    println!(
        "#### nsh idioms against bash, {} ({}), medians of {runs} runs\n",
        tests::bench::utc_now(),
        tests::bench::machine()
    );
    tests::bench::print_table(
        &[
            "idiom",
            "N / 2N",
            "bash ms",
            "nsh ms",
            "nsh / bash",
            "bash 2N/N",
            "nsh 2N/N",
        ],
        &table,
    );
    println!(
        "\nTargets: nsh at most {RATIO_TARGET}x bash on every row: {} (worst {worst_ratio:.2}x); \
         growth from N to 2N at most {GROWTH_TARGET}x: {} (worst {worst_growth:.2}x).",
        verdict(worst_ratio <= RATIO_TARGET),
        verdict(worst_growth <= GROWTH_TARGET)
    );
    Ok(())
}
