//! Pacing: how many visitors a consumer may admit by a given moment.
//!
//! A consumer with quota `q` over a window `[start, end)` may have admitted
//! `floor(q * elapsed / length)` visitors at any moment, so with a line the
//! admissions are spread evenly and the quota is met exactly at the end.
//!
//! A consumer that falls behind (an empty queue, a slow write, redelivered
//! duplicates, a stall) catches up, but gently: a token bucket refilled at
//! 1.1 times the pace and holding a second's worth spreads the catch-up
//! out, and a hard cap keeps any 5-second span (1/12 of the window) at or
//! below `ceil(1.1 * q / 12)` admissions, under the `1.2 * q / 12` the room
//! promises even when the trigger splits the rate over many consumers. So
//! slots are not lost to latency, and a crowd arriving in an idle room is
//! let in at no more than 1.1 times the rate.

use std::collections::VecDeque;

/// Pacing state of one consumer for one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pacer {
    quota: u32,
    start_ms: u64,
    end_ms: u64,
    admitted: u32,
    /// Admissions of the last span: (time, count).
    recent: VecDeque<(u64, u32)>,
    /// Catch-up bucket, in units of 1/(10 * window length) of a visitor.
    bucket: u128,
    bucket_at: u64,
}

impl Pacer {
    /// A consumer admitting `quota` visitors over `[start_ms, end_ms)`.
    pub fn new(quota: u32, start_ms: u64, end_ms: u64) -> Pacer {
        let mut p = Pacer {
            quota,
            start_ms,
            end_ms: end_ms.max(start_ms + 1),
            admitted: 0,
            recent: VecDeque::new(),
            bucket: 0,
            bucket_at: start_ms,
        };
        p.bucket = p.bucket_size();
        p
    }

    fn unit(&self) -> u128 {
        10 * u128::from(self.end_ms - self.start_ms)
    }

    /// A second's worth (1/60 of the quota), at least two visitors, so that
    /// a slow rate still recovers a late slot.
    fn bucket_size(&self) -> u128 {
        (u128::from(self.quota) * self.unit() / 60).max(2 * self.unit())
    }

    /// Refills at 1.1 times the pace: 11 * quota units per millisecond.
    fn refill(&mut self, now_ms: u64) {
        let dt = now_ms.saturating_sub(self.bucket_at);
        self.bucket_at = self.bucket_at.max(now_ms);
        self.bucket =
            (self.bucket + 11 * u128::from(self.quota) * u128::from(dt)).min(self.bucket_size());
    }

    pub fn quota(&self) -> u32 {
        self.quota
    }

    pub fn end_ms(&self) -> u64 {
        self.end_ms
    }

    /// Slots that could be used by `now_ms`.
    fn due(&self, now_ms: u64) -> u32 {
        let len = self.end_ms - self.start_ms;
        let elapsed = now_ms.clamp(self.start_ms, self.end_ms) - self.start_ms;
        // u128: quota * elapsed overflows u64 only for absurd windows, but never panic.
        (u128::from(self.quota) * u128::from(elapsed) / u128::from(len)) as u32
    }

    /// The smoothness span: 5 seconds of a minute.
    fn span(&self) -> u64 {
        ((self.end_ms - self.start_ms) / 12).max(1)
    }

    /// Most admissions in any span: ceil(1.1 * quota / 12), at least one.
    pub fn cap(&self) -> u32 {
        (u64::from(self.quota) * 11).div_ceil(120).max(1) as u32
    }

    /// How many visitors to admit now; call [`Pacer::record`] with what was
    /// admitted.
    pub fn allowance(&mut self, now_ms: u64) -> u32 {
        let span = self.span();
        while self
            .recent
            .front()
            .is_some_and(|&(t, _)| t + span <= now_ms)
        {
            self.recent.pop_front();
        }
        let in_span: u32 = self.recent.iter().map(|&(_, n)| n).sum();
        self.refill(now_ms);
        let tokens = (self.bucket / self.unit()).min(u128::from(u32::MAX)) as u32;
        let behind = self.due(now_ms).saturating_sub(self.admitted);
        behind.min(tokens).min(self.cap().saturating_sub(in_span))
    }

    /// Records visitors admitted at `now_ms` after an [`Pacer::allowance`].
    pub fn record(&mut self, now_ms: u64, admitted: u32) {
        if admitted > 0 {
            self.refill(now_ms);
            self.admitted = self.admitted.saturating_add(admitted);
            self.recent.push_back((now_ms, admitted));
            self.bucket = self
                .bucket
                .saturating_sub(u128::from(admitted) * self.unit());
        }
    }

    /// True once the window is over.
    pub fn finished(&self, now_ms: u64) -> bool {
        now_ms >= self.end_ms
    }

    /// True once the quota is met.
    pub fn done(&self) -> bool {
        self.admitted >= self.quota
    }

    /// The rate changed mid-window: from now on, pace the rest of the
    /// window at the share of `new_quota` (a whole window's worth) that the
    /// remaining time gets.
    pub fn retarget(&self, new_quota: u32, now_ms: u64) -> Pacer {
        let now = now_ms.clamp(self.start_ms, self.end_ms);
        let left = self.end_ms - now;
        let len = self.end_ms - self.start_ms;
        let quota = (u128::from(new_quota) * u128::from(left) / u128::from(len)) as u32;
        Pacer::new(quota, now, self.end_ms)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::plan::fan_out;

    const MINUTE: u64 = 60_000;

    /// Drives pacers with ticks at the given times; `available(t)` says how
    /// many visitors the queue can hand out at that tick. Returns (t, admitted).
    fn run(
        pacers: &mut [Pacer],
        ticks: &[u64],
        mut available: impl FnMut(u64) -> u32,
    ) -> Vec<(u64, u32)> {
        let mut out = Vec::new();
        for &t in ticks {
            for p in pacers.iter_mut() {
                let want = p.allowance(t);
                let got = want.min(available(t));
                p.record(t, got);
                if got > 0 {
                    out.push((t, got));
                }
            }
        }
        out
    }

    fn max_window(admissions: &[(u64, u32)], window: u64) -> u32 {
        admissions
            .iter()
            .map(|&(a, _)| {
                admissions
                    .iter()
                    .filter(|&&(t, _)| t >= a && t < a + window)
                    .map(|&(_, n)| n)
                    .sum()
            })
            .max()
            .unwrap_or(0)
    }

    fn bound(r: u32) -> u32 {
        (u64::from(r) * 12).div_ceil(120) as u32 // ceil(1.2 * r / 12)
    }

    #[test]
    fn backlog_meets_the_quota_exactly() {
        let ticks: Vec<u64> = (0..=600).map(|i| i * 100).collect();
        for q in [1, 10, 15, 59, 60, 61, 500, 1000] {
            let mut p = [Pacer::new(q, 0, MINUTE)];
            let admitted: u32 = run(&mut p, &ticks, |_| u32::MAX).iter().map(|x| x.1).sum();
            assert_eq!(admitted, q, "quota {q}");
        }
    }

    #[test]
    fn an_idle_queue_does_not_build_a_burst() {
        let ticks: Vec<u64> = (0..=600).map(|i| i * 100).collect();
        let mut p = [Pacer::new(600, 0, MINUTE)];
        // Empty for 30 s, then a crowd: let in at 1.1 times the rate.
        let adm = run(&mut p, &ticks, |t| if t < 30_000 { 0 } else { u32::MAX });
        assert!(max_window(&adm, 5_000) <= 55);
        // A full bucket (10) plus a second at 1.1 times the pace (11).
        assert!(
            max_window(&adm, 1_000) <= 21,
            "spread out, not one spike per span"
        );
        let total: u32 = adm.iter().map(|x| x.1).sum();
        assert!((335..=341).contains(&total), "{total}");
    }

    #[test]
    fn a_stall_is_caught_up_without_a_burst() {
        // Ticks every 100 ms, but nothing happens between 10 s and 14 s.
        let ticks: Vec<u64> = (0..=600)
            .map(|i| i * 100)
            .filter(|t| !(10_000..14_000).contains(t))
            .collect();
        let mut p = [Pacer::new(600, 0, MINUTE)];
        let adm = run(&mut p, &ticks, |_| u32::MAX);
        assert!(max_window(&adm, 5_000) <= p[0].cap());
        assert_eq!(
            adm.iter().map(|x| x.1).sum::<u32>(),
            600,
            "nothing lost to the stall"
        );
    }

    #[test]
    fn retarget_paces_the_rest_at_the_new_rate() {
        let mut p = Pacer::new(600, 0, MINUTE);
        let first: u32 = (1..=300)
            .map(|i| {
                let a = p.allowance(i * 100);
                p.record(i * 100, a);
                a
            })
            .sum();
        assert_eq!(first, 300);
        let mut p = p.retarget(60, 30_000);
        assert_eq!(p.quota(), 30);
        let rest: u32 = (301..=600)
            .map(|i| {
                let a = p.allowance(i * 100);
                p.record(i * 100, a);
                a
            })
            .sum();
        assert_eq!(rest, 30);
    }

    proptest! {
        /// With a backlog and irregular ticks, every consumer meets its quota
        /// and no 5-second window exceeds ceil(1.2 R / 12) for the whole plan.
        #[test]
        fn plan_is_exact_and_smooth(
            rate in 10u32..20_001,
            gaps in proptest::collection::vec(1u64..=500, 50..400),
        ) {
            let mut ticks = Vec::new();
            let mut t = 0;
            for g in gaps.iter().cycle() {
                t += g;
                if t >= MINUTE { break; }
                ticks.push(t);
            }
            ticks.push(MINUTE);
            let mut pacers: Vec<Pacer> = fan_out(rate, crate::plan::CONSUMER_CAPACITY)
                .into_iter().map(|q| Pacer::new(q, 0, MINUTE)).collect();
            let adm = run(&mut pacers, &ticks, |_| u32::MAX);
            let mut merged: std::collections::BTreeMap<u64, u32> = Default::default();
            for (t, n) in adm { *merged.entry(t).or_default() += n; }
            let merged: Vec<(u64, u32)> = merged.into_iter().collect();
            prop_assert_eq!(merged.iter().map(|x| x.1).sum::<u32>(), rate);
            prop_assert!(max_window(&merged, 5_000) <= bound(rate),
                "rate {} window {} bound {}", rate, max_window(&merged, 5_000), bound(rate));
        }

        /// Whatever the queue hands out, a single consumer never exceeds the
        /// smoothness bound nor its quota.
        #[test]
        fn any_supply_stays_smooth(
            q in 1u32..1001,
            // Runs of ticks with the same supply: empty spells, trickles, crowds.
            runs in proptest::collection::vec((1usize..200, prop_oneof![Just(0u32), 1u32..5, Just(u32::MAX)]), 1..20),
        ) {
            let supply: Vec<u32> = runs.iter().flat_map(|&(n, v)| std::iter::repeat_n(v, n)).chain(std::iter::repeat(u32::MAX)).take(600).collect();
            let ticks: Vec<u64> = (1..=600).map(|i| i * 100).collect();
            let mut p = [Pacer::new(q, 0, MINUTE)];
            let adm = run(&mut p, &ticks, |t| supply[(t / 100 - 1) as usize]);
            prop_assert!(adm.iter().map(|x| x.1).sum::<u32>() <= q);
            prop_assert!(max_window(&adm, 5_000) <= bound(q));
        }
    }
}
