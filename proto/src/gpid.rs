//! Cluster PIDs (SPEC §1): `slot * 10_000_000 + serial`, always above the
//! kernel's largest PID and inside a signed 32-bit `pid_t`; and node
//! [`Slot`]s, the first part of every PID a node hands out.
//!
//! Both are carried as these types everywhere but on the wire (protobuf
//! integers, converted at the tonic boundary) and in serde records, where
//! they are the same plain numbers as before (so journals and raft logs
//! written earlier still read).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Largest slot number a node can have.
pub const MAX_SLOT: u32 = 214;
/// Largest per-node serial number. Slot 214 stops earlier, at
/// [`max_serial`]`(214)` = 7_483_647, so that its PIDs still fit a `pid_t`.
pub const MAX_SERIAL: u32 = 9_999_999;
const SLOT_SPAN: u32 = 10_000_000;

/// A cluster PID. Never confuse it with a host PID (`nix::unistd::Pid`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Gpid(u32);

/// A node's slot (SPEC §1): 1..=[`MAX_SLOT`], fixed when it joins. It is
/// also the node's raft id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct Slot(u32);

impl Slot {
    /// The slot numbered `n`, if 1..=[`MAX_SLOT`].
    pub fn new(n: u64) -> Result<Slot, GpidError> {
        match u32::try_from(n) {
            Ok(n) if (1..=MAX_SLOT).contains(&n) => Ok(Slot(n)),
            _ => Err(GpidError::NoSuchSlot(n)),
        }
    }

    /// Its number, as the wire carries it.
    pub fn get(self) -> u32 {
        self.0
    }

    /// Its raft node id.
    pub fn raft_id(self) -> u64 {
        u64::from(self.0)
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<Slot> for u64 {
    fn from(slot: Slot) -> u64 {
        slot.raft_id()
    }
}

impl From<Slot> for i64 {
    fn from(slot: Slot) -> i64 {
        i64::from(slot.0)
    }
}

impl TryFrom<i64> for Slot {
    type Error = GpidError;
    fn try_from(n: i64) -> Result<Slot, GpidError> {
        u64::try_from(n)
            .map_err(|_| GpidError::NoSuchSlot(0))
            .and_then(Slot::new)
    }
}

impl TryFrom<u64> for Slot {
    type Error = GpidError;
    fn try_from(n: u64) -> Result<Slot, GpidError> {
        Slot::new(n)
    }
}

impl From<Gpid> for i64 {
    fn from(pid: Gpid) -> i64 {
        i64::from(pid.as_raw())
    }
}

impl TryFrom<i64> for Gpid {
    type Error = GpidError;
    fn try_from(raw: i64) -> Result<Gpid, GpidError> {
        Gpid::from_raw(raw)
    }
}

/// Serde for an optional [`Gpid`] or [`Slot`] written as a plain number,
/// 0 for none (the records' format from before the types):
/// `#[serde(with = "proto::or_zero")]`.
pub mod or_zero {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the value, or 0.
    pub fn serialize<T, S>(value: &Option<T>, s: S) -> Result<S::Ok, S::Error>
    where
        T: Copy + Into<i64>,
        S: Serializer,
    {
        s.serialize_i64(value.map_or(0, Into::into))
    }

    /// Reads a value; 0 (and any number that is not one) is none.
    pub fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
    where
        T: TryFrom<i64>,
        D: Deserializer<'de>,
    {
        Ok(T::try_from(i64::deserialize(d)?).ok())
    }
}

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
    /// A slot number outside 1..=214.
    #[error("invalid slot {0}: slots are 1..=214")]
    NoSuchSlot(u64),
}

/// Largest serial number of `slot`: 9_999_999, except for slot 214 where
/// SPEC §1's two promises (n up to 9_999_999, every PID fits a signed 32-bit
/// `pid_t`) collide; the `pid_t` promise wins.
pub const fn max_serial(slot: u32) -> u32 {
    let room = i32::MAX as u32 - slot * SLOT_SPAN;
    if room < MAX_SERIAL { room } else { MAX_SERIAL }
}

impl Gpid {
    /// The PID of `serial` on `slot`.
    pub fn of(slot: Slot, serial: u32) -> Result<Self, GpidError> {
        Gpid::new(slot.0, serial)
    }

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
    pub fn slot(self) -> Slot {
        Slot(self.0 / SLOT_SPAN)
    }

    /// The per-node serial number.
    pub fn serial(self) -> u32 {
        self.0 % SLOT_SPAN
    }

    /// The value, unsigned (it is never negative).
    pub fn get(self) -> u32 {
        self.0
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
        assert_eq!((g.slot().get(), g.serial()), (2, 17));
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

    #[test]
    fn records_keep_the_plain_numbers() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Record {
            pid: Gpid,
            #[serde(with = "or_zero")]
            ppid: Option<Gpid>,
            slot: Slot,
            #[serde(with = "or_zero")]
            on: Option<Slot>,
        }
        let r = Record {
            pid: "20000017".parse().unwrap(),
            ppid: None,
            slot: Slot::new(2).unwrap(),
            on: None,
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#"{"pid":20000017,"ppid":0,"slot":2,"on":0}"#);
        assert_eq!(serde_json::from_str::<Record>(&json).unwrap(), r);
        assert!(serde_json::from_str::<Record>(r#"{"pid":5,"ppid":0,"slot":2,"on":0}"#).is_err());
        assert!(Slot::new(0).is_err() && Slot::new(215).is_err());
    }
}
