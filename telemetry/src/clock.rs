//! The wall clock, read one way everywhere: Unix time as the graph, the
//! topics and the metrics' lag carry it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time since the Unix epoch. A clock before 1970 is a broken host: zero
/// keeps the stage running and the stamps visibly wrong rather than
/// crashing it.
pub fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}

/// Unix milliseconds.
pub fn now_ms() -> i64 {
    i64::try_from(since_epoch().as_millis()).unwrap_or(i64::MAX)
}

/// Unix seconds.
pub fn now_secs() -> u64 {
    since_epoch().as_secs()
}
