//! The trigger's fan-out plan: how many consumers, and each one's quota.

use crate::pace::Carry;

/// Most visitors one consumer admits in a minute. Sized for a Lambda consumer
/// receiving batches of 10 from SQS; at 20,000/min this is 20 consumers.
pub const CONSUMER_CAPACITY: u32 = 1000;

/// Splits `rate` admissions into consumers of at most `capacity` each. The
/// quotas add up to `rate` exactly and differ by at most one, so no consumer
/// rounds up to a batch size and none idles while another is overloaded.
pub fn fan_out(rate: u32, capacity: u32) -> Vec<u32> {
    let capacity = capacity.max(1);
    let n = rate.div_ceil(capacity);
    if n == 0 {
        return Vec::new();
    }
    let (base, extra) = (rate / n, rate % n);
    (0..n).map(|i| base + u32::from(i < extra)).collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn examples() {
        assert_eq!(fan_out(0, 1000), Vec::<u32>::new());
        assert_eq!(fan_out(15, 1000), vec![15]);
        assert_eq!(fan_out(1000, 1000), vec![1000]);
        assert_eq!(fan_out(1001, 1000), vec![501, 500]);
        assert_eq!(fan_out(3300, 1000), vec![825, 825, 825, 825]);
        assert_eq!(fan_out(20_000, 1000).len(), 20);
    }

    proptest! {
        #[test]
        fn quotas_sum_to_the_rate(rate in 0u32..2_000_000, cap in 1u32..5000) {
            let q = fan_out(rate, cap);
            prop_assert_eq!(q.iter().map(|&x| u64::from(x)).sum::<u64>(), u64::from(rate));
            prop_assert!(q.iter().all(|&x| x <= cap && x > 0));
            let (lo, hi) = (q.iter().min(), q.iter().max());
            if let (Some(lo), Some(hi)) = (lo, hi) {
                prop_assert!(hi - lo <= 1);
            }
            prop_assert_eq!(q.len() as u32, rate.div_ceil(cap));
        }
    }
}

/// Messages a consumer waits for and receives at once, given its quota: a
/// receive about 150 times a window, 1 to 10 messages (SQS's most). Fewer
/// calls than one at a time, and still smooth: a batch is a small part of
/// the 5-second cap.
pub fn receive_batch(quota: u32) -> u32 {
    (quota / 150).clamp(1, 10)
}

/// A consumer's window in a minute of `minute_ms`: its first 59/60, so that
/// two minutes' consumers never overlap.
pub fn window_ms(minute_ms: u64) -> u64 {
    minute_ms * 59 / 60
}

/// What the trigger tells one consumer: admit `quota` visitors, paced over
/// `[start_ms, end_ms)` (epoch milliseconds), as its share of the room's
/// `rate` with the room's admissions of the minute before (`carry`; see
/// [`crate::pace`]). The fields after `end_ms` default for an order of an
/// earlier version still in flight.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConsumerOrder {
    /// Which of the minute's orders this is: a consumer claims it, so that
    /// an order delivered twice is worked once.
    #[serde(default)]
    pub slot: u32,
    pub quota: u32,
    pub start_ms: u64,
    pub end_ms: u64,
    /// The room's rate this minute (0: the quota).
    #[serde(default)]
    pub rate: u32,
    /// The quotas of all the orders running beside this one, added up:
    /// the rate, or less for the rest of a minute (0: the rate).
    #[serde(default)]
    pub total: u32,
    /// The minute the window stands for (0: 60/59 of the window).
    #[serde(default)]
    pub minute_ms: u64,
    #[serde(default)]
    pub carry: Carry,
}

impl ConsumerOrder {
    /// The length of the minute this order's window stands for.
    pub fn minute_ms(&self) -> u64 {
        match self.minute_ms {
            0 => (self.end_ms.saturating_sub(self.start_ms) * 60).div_ceil(59),
            m => m,
        }
    }

    /// The room's rate the order is a share of.
    pub fn room_rate(&self) -> u32 {
        match self.rate {
            0 => self.quota,
            r => r,
        }
    }

    /// The quotas of this order and those beside it, added up.
    pub fn total(&self) -> u32 {
        match self.total {
            0 => self.room_rate(),
            t => t,
        }
    }
}

/// The orders for one minute starting at `start_ms` (the scheduled time of
/// the trigger's event), given the room's admissions of the minute before.
pub fn orders(rate: u32, start_ms: u64, minute_ms: u64, carry: &Carry) -> Vec<ConsumerOrder> {
    split(
        rate,
        rate,
        start_ms,
        start_ms + window_ms(minute_ms),
        minute_ms,
        carry,
    )
}

/// The orders for the rest of a minute that started at `minute_start_ms`
/// when its rate changes to `rate` at `now_ms`: the new rate's share of
/// the time left in the window.
pub fn rest_of_minute(
    rate: u32,
    minute_start_ms: u64,
    now_ms: u64,
    minute_ms: u64,
    carry: &Carry,
) -> Vec<ConsumerOrder> {
    let window = window_ms(minute_ms).max(1);
    let end = minute_start_ms + window;
    let left = end.saturating_sub(now_ms).min(window);
    let quota = (u128::from(rate) * u128::from(left) / u128::from(window)) as u32;
    split(quota, rate, now_ms.min(end), end, minute_ms, carry)
}

fn split(
    quota: u32,
    rate: u32,
    start_ms: u64,
    end_ms: u64,
    minute_ms: u64,
    carry: &Carry,
) -> Vec<ConsumerOrder> {
    // As many consumers as the whole rate needs, each a share of `quota`.
    let n = rate.div_ceil(CONSUMER_CAPACITY).max(1);
    fan_out(quota, quota.div_ceil(n).max(1))
        .into_iter()
        .enumerate()
        .map(|(slot, share)| ConsumerOrder {
            slot: slot as u32,
            quota: share,
            start_ms,
            end_ms,
            rate,
            total: quota,
            minute_ms,
            carry: carry.clone(),
        })
        .collect()
}
