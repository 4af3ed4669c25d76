//! Wait estimate and the room page's polling schedule.
//!
//! The room page (`assets/room.js`) follows the same formulas;
//! a test runs the script and compares the two.

/// Estimates are capped: beyond a week the number means nothing to a visitor.
pub const MAX_WAIT_SECS: u64 = 7 * 24 * 3600;
/// Fastest poll, used near the front of the line.
pub const POLL_MIN_SECS: u64 = 3;
/// Slowest poll, used far from the front.
pub const POLL_MAX_SECS: u64 = 300;
/// Slowest poll once the estimate has passed (the rate may have been cut).
pub const POLL_OVERDUE_MAX_SECS: u64 = 60;

/// Seconds until the visitor at `position` (1 = next) is admitted, when
/// `rate` visitors are admitted per minute spread evenly over the minute.
pub fn estimated_wait_secs(position: u64, rate_per_min: u32) -> u64 {
    if rate_per_min == 0 {
        return MAX_WAIT_SECS;
    }
    let secs = position
        .saturating_mul(60)
        .div_ceil(u64::from(rate_per_min));
    secs.min(MAX_WAIT_SECS)
}

/// Seconds until the next poll, `elapsed_secs` after an estimate of
/// `wait_secs` was made. Far from the front the page polls rarely (every
/// 5 minutes), then at two thirds of the remaining wait, near the front
/// every few seconds; once overdue it backs off gently. Two thirds rather
/// than a half: 11 polls instead of 13 for a 30-minute wait
/// (`beekeeper_deploy::capacity::polls_for_wait`), for a visitor admitted sooner than
/// estimated noticing a little later.
pub fn poll_interval_secs(wait_secs: u64, elapsed_secs: u64) -> u64 {
    if let Some(remaining) = wait_secs.checked_sub(elapsed_secs).filter(|r| *r > 0) {
        (remaining * 2 / 3).clamp(POLL_MIN_SECS, POLL_MAX_SECS)
    } else {
        ((elapsed_secs - wait_secs) / 2).clamp(POLL_MIN_SECS, POLL_OVERDUE_MAX_SECS)
    }
}

/// Spreads polls so that visitors who arrived together do not poll together:
/// `unit` in [0, 1) maps the interval onto ±20% of itself, in milliseconds.
pub fn jittered_ms(interval_secs: u64, unit: f64) -> u64 {
    let unit = unit.clamp(0.0, 1.0);
    ((interval_secs as f64) * 1000.0 * (0.8 + 0.4 * unit)).round() as u64
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn examples() {
        assert_eq!(estimated_wait_secs(1, 60), 1);
        assert_eq!(estimated_wait_secs(500, 500), 60);
        assert_eq!(estimated_wait_secs(501, 500), 61);
        assert_eq!(estimated_wait_secs(u64::MAX, 10), MAX_WAIT_SECS);
        assert_eq!(poll_interval_secs(1800, 0), 300);
        assert_eq!(poll_interval_secs(60, 0), 40);
        assert_eq!(poll_interval_secs(4, 0), 3);
        assert_eq!(poll_interval_secs(60, 60), 3);
        assert_eq!(poll_interval_secs(60, 300), 60);
        assert_eq!(jittered_ms(10, 0.0), 8000);
        assert_eq!(jittered_ms(10, 0.5), 10000);
    }

    proptest! {
        #[test]
        fn wait_is_monotone_and_bounded(p in 0u64..10_000_000, r in 1u32..200_000) {
            let w = estimated_wait_secs(p, r);
            prop_assert!(w <= MAX_WAIT_SECS);
            prop_assert!(estimated_wait_secs(p + 1, r) >= w);
            prop_assert!(estimated_wait_secs(p, r + 1) <= w);
        }

        #[test]
        fn poll_interval_is_monotone_and_bounded(w in 0u64..MAX_WAIT_SECS, e in 0u64..MAX_WAIT_SECS) {
            let i = poll_interval_secs(w, e);
            prop_assert!((POLL_MIN_SECS..=POLL_MAX_SECS).contains(&i));
            // Further from the front never polls more often.
            if e < w {
                prop_assert!(poll_interval_secs(w + 1, e) >= i);
            }
        }

        #[test]
        fn jitter_stays_within_a_fifth(i in 0u64..1000, u in 0.0f64..1.0) {
            let ms = jittered_ms(i, u) as f64;
            prop_assert!(ms >= i as f64 * 800.0 - 0.5 && ms <= i as f64 * 1200.0 + 0.5);
        }
    }
}
