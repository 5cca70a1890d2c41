//! `help [NAME...]`: the builtins with their usage, from the
//! [`super::BUILTINS`] table; with names, what `NAME --help` says for each.

use crate::shell::{Shell, Status};

/// The `help` builtin.
pub fn help(shell: &mut Shell, args: Vec<String>) -> Status {
    let mut text = String::new();
    let mut status = 0;
    if args.is_empty() {
        text.push_str("nsh builtins (NAME --help or help NAME for one):\n");
        let width = super::BUILTINS
            .iter()
            .map(|b| b.usage.chars().count())
            .filter(|w| *w <= 40)
            .max()
            .unwrap_or(0);
        for b in super::BUILTINS {
            text.push_str(&format!(" {:<width$}  {}\n", b.usage, b.about));
        }
    } else {
        for name in &args {
            match super::find(name) {
                Some(b) => text.push_str(&format!("{}: {}\n    {}.\n", b.name, b.usage, b.about)),
                None => {
                    shell.error(format!("help: no help topics match '{name}'"));
                    status = 1;
                }
            }
        }
    }
    if let Err(e) = shell.out(&text) {
        shell.error(format!("help: write error: {e}"));
        return Ok(1);
    }
    Ok(status)
}
