//! The trash's checkpoints (Hadoop's `TrashPolicyDefault`), shared by
//! `dfs expunge` and the namenode's trash emptier.
//!
//! `dfs rm` moves a path into `/user/<name>/.Trash/Current`. A *checkpoint*
//! renames `Current` to the time it was taken, `yyMMddHHmmss` (UTC here;
//! Hadoop uses the namenode's time zone), with `-1`, `-2`, … appended when
//! that name is taken. A checkpoint older than the trash interval is
//! deleted. The emptier does both every checkpoint interval, so a deleted
//! file stays recoverable for between one and two intervals, as in Hadoop.

use chrono::{NaiveDateTime, TimeZone, Utc};

/// The directory `dfs rm` moves paths into.
pub const CURRENT: &str = "Current";

/// The trash directory under a home directory.
pub const TRASH_DIR: &str = ".Trash";

const FORMAT: &str = "%y%m%d%H%M%S";

/// The checkpoint name for `now_ms`, the `attempt`-th try (0: no suffix).
pub fn checkpoint_name(now_ms: u64, attempt: u32) -> String {
    let t = Utc
        .timestamp_millis_opt(now_ms.min(i64::MAX as u64) as i64)
        .single()
        .unwrap_or_default();
    let base = t.format(FORMAT).to_string();
    if attempt == 0 {
        base
    } else {
        format!("{base}-{attempt}")
    }
}

/// When the checkpoint `name` was taken (ms since the epoch), or `None`
/// when the name is not a checkpoint's (`Current`, or anything else).
pub fn checkpoint_time_ms(name: &str) -> Option<u64> {
    let stamp = match name.split_once('-') {
        Some((s, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => s,
        Some(_) => return None,
        None => name,
    };
    if stamp.len() != 12 || !stamp.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = NaiveDateTime::parse_from_str(stamp, FORMAT).ok()?;
    u64::try_from(t.and_utc().timestamp_millis()).ok()
}

/// What to do with an entry of a trash directory at `now_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// `Current`: checkpoint it.
    Current,
    /// A checkpoint older than the interval: delete it.
    Expired,
    /// A checkpoint still within the interval: keep it.
    Kept,
    /// Not a checkpoint: left alone (Hadoop logs and skips it).
    Unknown,
}

/// Classifies the trash entry `name` for a pass at `now_ms` with trash
/// interval `interval_ms`.
pub fn classify(name: &str, now_ms: u64, interval_ms: u64) -> Entry {
    if name == CURRENT {
        return Entry::Current;
    }
    match checkpoint_time_ms(name) {
        Some(t) if now_ms.saturating_sub(t) > interval_ms => Entry::Expired,
        Some(_) => Entry::Kept,
        None => Entry::Unknown,
    }
}

/// When the emptier runs next after `now_ms`: the next multiple of the
/// checkpoint interval, as Hadoop's `Emptier` (so a daily interval runs at
/// midnight UTC).
pub fn next_pass_ms(now_ms: u64, checkpoint_ms: u64) -> u64 {
    let i = checkpoint_ms.max(1);
    (now_ms / i + 1) * i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_to_the_second() {
        let t = 1_795_464_123_456; // 2026-11-23T...
        let n = checkpoint_name(t, 0);
        assert_eq!(n.len(), 12);
        assert_eq!(checkpoint_time_ms(&n), Some(t / 1000 * 1000));
        assert_eq!(
            checkpoint_time_ms(&checkpoint_name(t, 2)),
            Some(t / 1000 * 1000)
        );
        assert_eq!(checkpoint_name(t, 2), format!("{n}-2"));
        assert_eq!(checkpoint_name(0, 0), "700101000000");
    }

    #[test]
    fn only_checkpoint_names_parse() {
        for bad in [
            "Current",
            "",
            "1234",
            "26112320150",
            "2611232015001",
            "261123201500-",
            "261123201500-x",
            "261399201500",
            "x61123201500",
            "261123201500.bak",
        ] {
            assert_eq!(checkpoint_time_ms(bad), None, "{bad:?}");
        }
        assert!(checkpoint_time_ms("261123201500-12").is_some());
    }

    #[test]
    fn classify_follows_the_interval() {
        let day = 86_400_000;
        let t = checkpoint_time_ms("261122000000").unwrap();
        assert_eq!(classify("Current", t, day), Entry::Current);
        assert_eq!(classify("261122000000", t + day, day), Entry::Kept);
        assert_eq!(classify("261122000000", t + day + 1, day), Entry::Expired);
        assert_eq!(classify("261122000000-1", t + 2 * day, day), Entry::Expired);
        assert_eq!(classify("notes", t, day), Entry::Unknown);
    }

    #[test]
    fn passes_fall_on_multiples_of_the_interval() {
        assert_eq!(next_pass_ms(0, 1000), 1000);
        assert_eq!(next_pass_ms(999, 1000), 1000);
        assert_eq!(next_pass_ms(1000, 1000), 2000);
        assert_eq!(next_pass_ms(5, 0), 6);
    }
}
