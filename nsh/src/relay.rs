//! `nsh @NODE CMD`: placeholder until the relay lands.
pub fn main(_addr: Option<&str>, node: &str, _argv: Vec<String>) -> i32 {
    eprintln!("nsh: @{node}: not available yet");
    1
}
