//! Allocates this node's cluster PIDs (SPEC §1): serials go up from where
//! the last run stopped, wrap after the slot's last serial, and skip every
//! serial whose process is still known (running, or its exit record kept).
//!
//! The high-water mark is reserved in blocks in `<data>/pid_next`, so a spawn
//! does not write a file; after a crash the next run starts past the block,
//! and past every serial found in the records.

use std::path::{Path, PathBuf};

use proto::{Gpid, Slot, max_serial};

/// Serials reserved per write of `pid_next`.
const RESERVE_BLOCK: u32 = 4096;

/// Why no PID could be allocated.
#[derive(Debug, thiserror::Error)]
pub enum AllocError {
    /// Every serial of the slot is taken.
    #[error("no free cluster pid on this node: all {0} are in use or kept as exit records")]
    Exhausted(u32),
    /// The reservation file could not be written.
    #[error("cannot record pid reservation in {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The allocator; the process table owns it behind a mutex.
#[derive(Debug)]
pub struct PidAllocator {
    slot: Slot,
    next: u32,
    reserved_to: u32,
    path: PathBuf,
}

impl PidAllocator {
    /// Resumes allocation for `slot`, after both the stored reservation and
    /// `highest_known` (the largest serial in the kept records).
    pub fn open(data_dir: &Path, slot: Slot, highest_known: u32) -> Self {
        let path = data_dir.join("pid_next");
        let stored = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .unwrap_or(1);
        let mut next = stored.max(highest_known.saturating_add(1));
        if next > max_serial(slot.get()) || next == 0 {
            next = 1;
        }
        PidAllocator {
            slot,
            next,
            reserved_to: next.saturating_sub(1),
            path,
        }
    }

    /// The next free PID; `in_use` says whether a serial is still taken.
    pub fn allocate(&mut self, in_use: impl Fn(Gpid) -> bool) -> Result<Gpid, AllocError> {
        let last = max_serial(self.slot.get());
        for _ in 0..last {
            let serial = self.next;
            self.next = if serial >= last { 1 } else { serial + 1 };
            let Ok(gpid) = Gpid::of(self.slot, serial) else {
                continue;
            };
            if in_use(gpid) {
                continue;
            }
            if serial > self.reserved_to || self.reserved_to.saturating_sub(serial) > RESERVE_BLOCK
            {
                self.reserve_from(serial)?;
            }
            return Ok(gpid);
        }
        Err(AllocError::Exhausted(last))
    }

    fn reserve_from(&mut self, serial: u32) -> Result<(), AllocError> {
        let until = serial
            .saturating_add(RESERVE_BLOCK)
            .min(max_serial(self.slot.get()));
        let next_run = if until >= max_serial(self.slot.get()) {
            1
        } else {
            until + 1
        };
        crate::records::write_atomically(&self.path, format!("{next_run}\n").as_bytes()).map_err(
            |source| AllocError::Io {
                path: self.path.clone(),
                source,
            },
        )?;
        self.reserved_to = until;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_increase_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = PidAllocator::open(dir.path(), Slot::new(2).unwrap(), 0);
        let first = a.allocate(|_| false).unwrap();
        let second = a.allocate(|_| false).unwrap();
        assert_eq!(
            (first.slot().get(), first.serial(), second.serial()),
            (2, 1, 2)
        );
        drop(a);
        let mut b = PidAllocator::open(dir.path(), Slot::new(2).unwrap(), 0);
        assert!(
            b.allocate(|_| false).unwrap().serial() > 2,
            "a restart must not reuse serials"
        );
    }

    #[test]
    fn starts_after_the_highest_known_record_and_skips_used_serials() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = PidAllocator::open(dir.path(), Slot::new(1).unwrap(), 10_000);
        assert_eq!(a.allocate(|_| false).unwrap().serial(), 10_001);
        assert_eq!(
            a.allocate(|g| g.serial() == 10_002).unwrap().serial(),
            10_003
        );
    }

    #[test]
    fn wraps_after_the_last_serial() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = PidAllocator::open(dir.path(), Slot::new(1).unwrap(), max_serial(1) - 1);
        assert_eq!(a.allocate(|_| false).unwrap().serial(), max_serial(1));
        assert_eq!(a.allocate(|g| g.serial() == 1).unwrap().serial(), 2);
    }
}
