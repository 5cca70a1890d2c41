//! Cluster PIDs (SPEC §1): `slot * 10_000_000 + serial`, always above the
//! kernel's largest PID and inside a signed 32-bit `pid_t`.

use std::fmt;
use std::str::FromStr;

/// Largest slot number a node can have.
pub const MAX_SLOT: u32 = 214;
/// Largest per-node serial number. Slot 214 stops earlier, at
/// [`max_serial`]`(214)` = 7_483_647, so that its PIDs still fit a `pid_t`.
pub const MAX_SERIAL: u32 = 9_999_999;
const SLOT_SPAN: u32 = 10_000_000;

/// A cluster PID. Never confuse it with a host PID (`nix::unistd::Pid`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gpid(u32);

/// Why a number is not a cluster PID.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GpidError {
    /// Not a decimal integer.
    #[error("invalid cluster pid {0:?}: not a number")]
    NotANumber(String),
    /// A number outside the cluster PID ranges.
    #[error(
        "invalid cluster pid {0}: cluster pids are slot*10000000+n with slot 1..=214 and n 1..=9999999"
    )]
    OutOfRange(i64),
}

/// Largest serial number of `slot`: 9_999_999, except for slot 214 where
/// SPEC §1's two promises (n up to 9_999_999, every PID fits a signed 32-bit
/// `pid_t`) collide; the `pid_t` promise wins.
pub const fn max_serial(slot: u32) -> u32 {
    let room = i32::MAX as u32 - slot * SLOT_SPAN;
    if room < MAX_SERIAL { room } else { MAX_SERIAL }
}

impl Gpid {
    /// Builds a cluster PID from a slot (1..=214) and serial (1..=9_999_999).
    pub fn new(slot: u32, serial: u32) -> Result<Self, GpidError> {
        if !(1..=MAX_SLOT).contains(&slot) || !(1..=max_serial(slot)).contains(&serial) {
            return Err(GpidError::OutOfRange(
                i64::from(slot) * i64::from(SLOT_SPAN) + i64::from(serial),
            ));
        }
        Ok(Gpid(slot * SLOT_SPAN + serial))
    }

    /// The slot of the node that owns this PID.
    pub fn slot(self) -> u32 {
        self.0 / SLOT_SPAN
    }

    /// The per-node serial number.
    pub fn serial(self) -> u32 {
        self.0 % SLOT_SPAN
    }

    /// The value as a `pid_t`, as carried on the wire.
    pub fn as_raw(self) -> i32 {
        // Cannot wrap: `new` keeps every value at or below i32::MAX.
        self.0 as i32
    }

    /// Parses a wire value.
    pub fn from_raw(raw: i64) -> Result<Self, GpidError> {
        if raw <= 0 || raw > i64::from(i32::MAX) {
            return Err(GpidError::OutOfRange(raw));
        }
        let raw = raw as u32;
        Gpid::new(raw / SLOT_SPAN, raw % SLOT_SPAN)
            .map_err(|_| GpidError::OutOfRange(i64::from(raw)))
    }
}

impl fmt::Display for Gpid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Gpid {
    type Err = GpidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let raw: i64 = s
            .trim()
            .parse()
            .map_err(|_| GpidError::NotANumber(s.to_string()))?;
        Gpid::from_raw(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_and_serial_round_trip() {
        let g: Gpid = "20000017".parse().unwrap();
        assert_eq!((g.slot(), g.serial()), (2, 17));
        assert_eq!(g.as_raw(), 20_000_017);
        assert_eq!(Gpid::new(2, 17).unwrap(), g);
    }

    #[test]
    fn every_gpid_is_above_the_kernel_pid_range_and_fits_pid_t() {
        let lowest = Gpid::new(1, 1).unwrap();
        assert!(lowest.as_raw() > 4_194_304);
        let highest = Gpid::new(MAX_SLOT, max_serial(MAX_SLOT)).unwrap();
        assert_eq!(highest.as_raw(), i32::MAX);
        assert!(Gpid::new(MAX_SLOT, max_serial(MAX_SLOT) + 1).is_err());
        assert_eq!(max_serial(2), MAX_SERIAL);
    }

    #[test]
    fn rejects_numbers_outside_the_ranges() {
        assert!(Gpid::from_raw(0).is_err());
        assert!(Gpid::from_raw(-5).is_err());
        assert!(Gpid::from_raw(1234).is_err());
        assert!(Gpid::from_raw(20_000_000).is_err());
        assert!(Gpid::from_raw(i64::from(i32::MAX) + 1).is_err());
        assert!("abc".parse::<Gpid>().is_err());
    }
}
