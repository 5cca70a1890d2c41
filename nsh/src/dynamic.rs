//! bash's dynamic variables, computed each time they are read: `$LINENO`,
//! `$BASH_COMMAND`,
//! `$RANDOM`, `$SRANDOM`, `$SECONDS`, `$BASH_SUBSHELL`, `$BASHPID`,
//! `$EPOCHSECONDS`, `$EPOCHREALTIME`, `$SHELLOPTS`, `$BASHOPTS`.
//!
//! Reads of these names go through [`Shell::dynamic`] before the variable
//! table (parameter and arithmetic expansion); everything else about them
//! (`declare -p`, `set`) sees ordinary variables.

use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::shell::Shell;

/// A random seed for a new shell state's `$RANDOM`.
pub fn seed() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    hasher.finish() | 1
}

impl Shell {
    /// The value of dynamic variable `name`, `None` for any other name.
    pub fn dynamic(&self, name: &str) -> Option<String> {
        Some(match name {
            "LINENO" => self.lineno.to_string(),
            "BASH_COMMAND" => self.bash_command.clone(),
            "RANDOM" => (self.next_random() % 32768).to_string(),
            "SRANDOM" => (self.next_random() as u32).to_string(),
            "SECONDS" => (now().as_secs() as i64 - crate::shell::start_time()).to_string(),
            "BASH_SUBSHELL" => self.subshell_level.to_string(),
            "SHELLOPTS" => crate::builtins::vars::shell_options(self),
            "BASHOPTS" => crate::builtins::shopt::enabled(self),
            // The task running this shell state: the process for the main
            // shell, the thread of a pipeline element or background job.
            "BASHPID" => nix::unistd::gettid().to_string(),
            "EPOCHSECONDS" => now().as_secs().to_string(),
            "EPOCHREALTIME" => {
                let now = now();
                format!("{}.{:06}", now.as_secs(), now.subsec_micros())
            }
            _ => return None,
        })
    }

    /// The environment commands get: the exported variables, with the
    /// current value of an exported dynamic one (`export SHELLOPTS`).
    pub fn environment(&self) -> Vec<(String, String)> {
        let mut env = self.vars.exported();
        // `$_` is the last word of the previous command here; a command
        // gets its own path instead (its node sets it, as bash does), so
        // no argument of one command leaks into the next one's
        // environment.
        env.retain(|(name, _)| name != "_");
        for (name, value) in &mut env {
            if let Some(current) = self.dynamic(name) {
                *value = current;
            }
        }
        env
    }

    /// The next number of this state's generator (xorshift64*).
    fn next_random(&self) -> u64 {
        let mut x = self.random.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.random.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 16
    }
}

fn now() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}
