//! The one wall-clock helper: milliseconds since the Unix epoch, the unit
//! of every time in the API (`start_time_ms`, `created_ms`, ...).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in milliseconds since the Unix epoch (0 if the clock is set
/// before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
