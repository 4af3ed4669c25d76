//! `arrivals_per_client`: the places one client address may take a minute
//! (DESIGN §7), counted in memory over a sliding minute.
//!
//! The count is the one of the current minute plus the previous minute's,
//! weighted by how much of it a sliding minute ending now still covers:
//! never more than twice the limit in any 60 s, and nothing to clean up
//! but two maps that are swapped every minute. The maps hold at most
//! [`CLIENTS_KEPT`] addresses; an address beyond that in one minute (a
//! flood from a whole network) is answered busy, so memory stays bounded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

/// Addresses counted in one minute at most (about 40 MB for both maps).
pub const CLIENTS_KEPT: usize = 500_000;

/// What the limit says of one more place for a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Take,
    /// The client took its places: try again in so many seconds.
    Limited(u32),
    /// Too many addresses this minute to count another.
    Busy,
}

pub struct Limiter {
    per_minute: u32,
    minute_ms: u64,
    windows: Mutex<Windows>,
}

#[derive(Default)]
struct Windows {
    /// Start of the current minute (a multiple of the minute).
    start_ms: u64,
    current: HashMap<IpAddr, u32>,
    previous: HashMap<IpAddr, u32>,
}

impl Limiter {
    /// A limit of `per_minute` places (0: none) over minutes of `minute_ms`.
    pub fn new(per_minute: u32, minute_ms: u64) -> Limiter {
        Limiter {
            per_minute,
            minute_ms: minute_ms.max(1),
            windows: Mutex::default(),
        }
    }

    /// Counts one place for `client` at `now_ms`, if the limit allows it.
    pub fn take(&self, client: IpAddr, now_ms: u64) -> Verdict {
        if self.per_minute == 0 {
            return Verdict::Take;
        }
        let minute = self.minute_ms;
        let mut w = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let start = now_ms - now_ms % minute;
        if start != w.start_ms {
            w.previous = if start == w.start_ms + minute {
                std::mem::take(&mut w.current)
            } else {
                w.current.clear();
                HashMap::new()
            };
            w.start_ms = start;
        }
        let into = now_ms - start;
        let previous = u64::from(w.previous.get(&client).copied().unwrap_or(0));
        let current = w.current.get(&client).copied();
        if current.is_none() && w.current.len() >= CLIENTS_KEPT {
            return Verdict::Busy;
        }
        let current = u64::from(current.unwrap_or(0));
        // previous × (minute − into)/minute + current + 1 ≤ limit, in
        // whole multiples of the minute to stay exact.
        let limit = u64::from(self.per_minute);
        if previous * (minute - into) + (current + 1) * minute > limit * minute {
            // Until the weighted count has room for one more: the
            // previous minute's share falls by `previous` a minute.
            let left = minute - into;
            let wait_ms = if current + 1 > limit || previous == 0 {
                left
            } else {
                left.saturating_sub((limit - current - 1) * minute / previous)
            };
            return Verdict::Limited(wait_ms.div_ceil(1000).max(1) as u32);
        }
        *w.current.entry(client).or_insert(0) += 1;
        Verdict::Take
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 1, last])
    }

    #[test]
    fn a_client_takes_its_places_and_then_waits() {
        let l = Limiter::new(5, 60_000);
        let t0 = 600_000; // the start of a minute
        for _ in 0..5 {
            assert_eq!(l.take(ip(1), t0 + 1_000), Verdict::Take);
        }
        // The sixth waits for the next minute; another client is not held up.
        assert_eq!(l.take(ip(1), t0 + 1_000), Verdict::Limited(59));
        assert_eq!(l.take(ip(2), t0 + 1_000), Verdict::Take);
        // Half-way into the next minute, half the previous five still count.
        assert_eq!(l.take(ip(1), t0 + 60_000), Verdict::Limited(12));
        assert_eq!(l.take(ip(1), t0 + 90_000), Verdict::Take);
        assert_eq!(l.take(ip(1), t0 + 90_000), Verdict::Take);
        assert!(matches!(l.take(ip(1), t0 + 90_000), Verdict::Limited(_)));
        // A quiet minute forgets everything.
        for _ in 0..5 {
            assert_eq!(l.take(ip(1), t0 + 200_000), Verdict::Take);
        }
        // No limit.
        let none = Limiter::new(0, 60_000);
        assert!((0..1000).all(|_| none.take(ip(1), t0) == Verdict::Take));
    }

    #[test]
    fn in_any_sliding_minute_a_client_gets_at_most_twice_the_limit() {
        let l = Limiter::new(5, 60_000);
        let mut taken = Vec::new();
        for t in (0..600_000).step_by(250) {
            if l.take(ip(1), t) == Verdict::Take {
                taken.push(t);
            }
        }
        for (i, &t) in taken.iter().enumerate() {
            let within = taken[i..].iter().take_while(|&&u| u < t + 60_000).count();
            assert!(within <= 10, "{within} places in the minute from {t} ms");
        }
        // And over the ten minutes, no more than the limit's rate and
        // not much less (the weighted minute errs on the strict side).
        assert!((40..=50).contains(&taken.len()), "{}", taken.len());
    }
}
