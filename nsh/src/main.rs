//! `nsh`: the cluster shell. All of it lives in the library; see
//! `nsh::cli` for the command line.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let status = nsh::cli::main(args);
    std::process::exit(status);
}
