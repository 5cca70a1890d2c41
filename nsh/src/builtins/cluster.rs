//! The names of the cluster builtins of SPEC §3, for the line editor's
//! completion (`repl.rs`). Each lives in a file of its own (`ps.rs`,
//! `nodes.rs`, `top.rs`, `logs.rs`, `attach.rs`, `run.rs`, `help.rs`,
//! `history.rs`; `svc.rs` with `svc/` for SPEC §7) and is registered in
//! [`super::BUILTINS`].

/// Their names, for completion.
pub const NAMES: &[&str] = &[
    "ps", "nodes", "top", "logs", "attach", "run", "help", "history", "svc",
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_name_is_a_builtin() {
        for name in super::NAMES {
            assert!(super::super::is_builtin(name), "{name}");
        }
    }
}
