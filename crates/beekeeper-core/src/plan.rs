//! The trigger's fan-out plan: how many consumers, and each one's quota.

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

/// What the trigger tells one consumer: admit `quota` visitors, paced over
/// `[start_ms, end_ms)` (epoch milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConsumerOrder {
    pub quota: u32,
    pub start_ms: u64,
    pub end_ms: u64,
}

/// The orders for one minute starting at `start_ms` (the scheduled time of
/// the trigger's event). Consumers stop one second before the next minute,
/// so two minutes' consumers never overlap.
pub fn orders(rate: u32, start_ms: u64) -> Vec<ConsumerOrder> {
    fan_out(rate, CONSUMER_CAPACITY)
        .into_iter()
        .map(|quota| ConsumerOrder {
            quota,
            start_ms,
            end_ms: start_ms + 59_000,
        })
        .collect()
}
