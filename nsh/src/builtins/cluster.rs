//! The cluster builtins of SPEC §3 (`ps`, `nodes`, `top`, `logs`, `attach`,
//! `run`, `help`, `history`).

/// Their names, for completion.
pub const NAMES: &[&str] = &[
    "ps", "nodes", "top", "logs", "attach", "run", "help", "history",
];
