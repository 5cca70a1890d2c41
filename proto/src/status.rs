//! What an ended process's status is as a shell shows it (`$?`): its exit
//! code, or 128 plus the signal that killed it.

use crate::v1::ProcessInfo;

/// The shell's status of an exit code or a killing signal.
pub fn shell_status(exit_code: Option<i32>, signal: Option<i32>) -> Option<i32> {
    exit_code.or(signal.map(signal_status))
}

/// The shell's status of a process killed by `signal`: 128 + signal.
pub fn signal_status(signal: i32) -> i32 {
    128 + signal
}

impl ProcessInfo {
    /// Its status as a shell shows it, once it has ended.
    pub fn shell_status(&self) -> Option<i32> {
        shell_status(self.exit_code, self.signal)
    }
}
