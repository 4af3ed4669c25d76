//! Pacing: how many visitors may be admitted at a given moment.
//!
//! The room promises, for a rate of R visitors a minute and whatever the
//! arrival pattern, across minute boundaries and (on AWS) across
//! consumers:
//!
//! - at most R + B in **any** sliding minute, where B = [`burst`]`(R)` =
//!   max(1, ⌈R/100⌉);
//! - at most ⌈1.2 × R/12⌉ in **any** sliding 5 seconds;
//! - with a line, exactly R a minute, spread evenly.
//!
//! The rules that give them:
//!
//! - **Slots fall due at the pace** (R a minute). With a line, each is used
//!   as it falls due: exactly R a minute, evenly.
//! - **An empty line lets slots go.** When the room finds fewer visitors
//!   than it may admit (or is off), it keeps at most B slots in hand and
//!   lets the rest go: an idle room builds no burst, and a visitor
//!   arriving into it is admitted at once from the slots in hand.
//! - **A cap per 5 seconds**, ⌈1.1 × q/12⌉ for a pacer admitting q a
//!   minute: slots in hand are spent no faster than that (at low rates one
//!   slot kept and the next falling due would otherwise come together).
//!   Summed over the consumers of a plan it stays under ⌈1.2 × R/12⌉.
//! - **A cap per minute**, where the room sees every admission of the last
//!   minute.
//!
//! `serve` runs one pacer for the room, without end ([`Pacer::continuous`]),
//! so nothing resets at a minute's start. It keeps the log of its last
//! minute, so slots a failed or slow write cost stay owed (not only B of
//! them) and are made up under both caps: never more than R + B in the
//! sliding minute.
//!
//! On AWS each minute's consumers are separate Lambdas and no one sees the
//! last minute whole. Each consumer gets a share of R and of B
//! ([`crate::plan::orders`]), starts with nothing in hand and keeps at most
//! its share of B whatever the reason ([`Pacer::window`]): a token bucket.
//! In any span of length d one consumer admits at most its B + q·d/59 s. A
//! consumer's window is 59 seconds and the next minute's start a second
//! after it ends, so a sliding minute across a boundary gets at most the
//! old minute's B plus the slots due in its part, and only the slots due
//! in its part from the new minute: R + B in all. The price: a consumer
//! slowed down for longer than about 0.6 s (B slots at the pace) does not
//! make up the rest, since doing so would be a burst in someone's sliding
//! minute.

use std::collections::VecDeque;

/// Slots a room may keep in hand: max(1, ⌈R/100⌉) for R a minute.
pub fn burst(rate: u32) -> u32 {
    rate.div_ceil(100).max(1)
}

/// The pacing state of a room (`serve`) or of one consumer (AWS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pacer {
    /// Slots falling due per `period_ms`.
    rate: u32,
    period_ms: u64,
    start_ms: u64,
    /// Slots in hand at `start_ms`.
    initial: u32,
    /// A window's end: no slot falls due after it, so at most `rate` in
    /// all. `None` runs without end.
    end_ms: Option<u64>,
    burst: u32,
    admitted: u64,
    /// Slots let go because more than `burst` were in hand.
    forgone: u64,
    /// The 5-second cap: its span and the admissions within it (time, count).
    span_ms: u64,
    recent: VecDeque<(u64, u32)>,
    /// A continuous room's admissions of the last minute (time, count):
    /// with them it keeps the slots a slow write cost, and still never
    /// admits more than R + B in a sliding minute.
    minute: Option<VecDeque<(u64, u32)>>,
}

impl Pacer {
    /// One consumer's order: `quota` slots falling due evenly over
    /// `[start_ms, end_ms)`, at most `burst` kept in hand, none at the start.
    /// The window is 59/60 of a minute ([`crate::plan::CONSUMER_WINDOW_MS`]),
    /// so the cap's span is a twelfth of the minute it stands for.
    pub fn window(quota: u32, start_ms: u64, end_ms: u64, burst: u32) -> Pacer {
        let end_ms = end_ms.max(start_ms + 1);
        let period_ms = end_ms - start_ms;
        Pacer {
            rate: quota,
            period_ms,
            start_ms,
            initial: 0,
            end_ms: Some(end_ms),
            burst: burst.max(1),
            admitted: 0,
            forgone: 0,
            span_ms: (period_ms * 60).div_ceil(59 * 12),
            recent: VecDeque::new(),
            minute: None,
        }
    }

    /// A room admitting `rate` a `minute_ms` from `now_ms` on, without end,
    /// with at most [`burst`]`(rate)` in hand and none at the start.
    pub fn continuous(rate: u32, minute_ms: u64, now_ms: u64) -> Pacer {
        Pacer {
            rate,
            period_ms: minute_ms.max(1),
            start_ms: now_ms,
            initial: 0,
            end_ms: None,
            burst: burst(rate),
            admitted: 0,
            forgone: 0,
            span_ms: minute_ms.max(1).div_ceil(12),
            recent: VecDeque::new(),
            minute: Some(VecDeque::new()),
        }
    }

    /// The rate changed: from `now_ms` on slots fall due at `rate`, and the
    /// slots in hand are kept up to the new rate's burst.
    pub fn retarget(&mut self, rate: u32, now_ms: u64) {
        let in_hand = self.in_hand(now_ms);
        let mut next = Pacer::continuous(rate, self.period_ms, now_ms);
        next.initial = in_hand.min(next.burst);
        next.recent = std::mem::take(&mut self.recent);
        next.minute = self.minute.take();
        *self = next;
    }

    /// Most admissions in any 5-second span: ⌈1.1 × rate/12⌉, at least one.
    pub fn cap(&self) -> u32 {
        (u64::from(self.rate) * 11).div_ceil(120).max(1) as u32
    }

    /// Slots fallen due by `now_ms`, counting those in hand at the start.
    fn due(&self, now_ms: u64) -> u64 {
        let until = match self.end_ms {
            Some(end) => now_ms.min(end),
            None => now_ms,
        };
        let elapsed = until.saturating_sub(self.start_ms);
        // u128: rate * elapsed overflows u64 only after centuries, but never panic.
        let fallen = u128::from(self.rate) * u128::from(elapsed) / u128::from(self.period_ms);
        u64::from(self.initial).saturating_add(u64::try_from(fallen).unwrap_or(u64::MAX))
    }

    /// Slots fallen due and not yet used or let go. A consumer's window
    /// keeps at most its burst of them; a continuous room keeps them all
    /// until its line runs dry (see [`Pacer::record`]).
    fn in_hand(&mut self, now_ms: u64) -> u32 {
        let owed = self
            .due(now_ms)
            .saturating_sub(self.admitted + self.forgone);
        if self.minute.is_some() {
            return u32::try_from(owed).unwrap_or(u32::MAX);
        }
        self.let_go(owed)
    }

    /// Lets go of the slots beyond the burst; returns those kept.
    fn let_go(&mut self, owed: u64) -> u32 {
        let excess = owed.saturating_sub(u64::from(self.burst));
        self.forgone += excess;
        (owed - excess) as u32
    }

    /// Admissions within `len_ms` before `now_ms` in `log`, dropping older ones.
    fn within(log: &mut VecDeque<(u64, u32)>, len_ms: u64, now_ms: u64) -> u64 {
        while log.front().is_some_and(|&(t, _)| t + len_ms <= now_ms) {
            log.pop_front();
        }
        log.iter().map(|&(_, n)| u64::from(n)).sum()
    }

    /// How many visitors to admit now; call [`Pacer::record`] with what was
    /// admitted.
    pub fn allowance(&mut self, now_ms: u64) -> u32 {
        let in_span = Pacer::within(&mut self.recent, self.span_ms, now_ms);
        let mut room = u64::from(self.cap()).saturating_sub(in_span);
        let period = self.period_ms;
        let most = u64::from(self.rate) + u64::from(self.burst);
        if let Some(log) = &mut self.minute {
            room = room.min(most.saturating_sub(Pacer::within(log, period, now_ms)));
        }
        self.in_hand(now_ms).min(room as u32)
    }

    /// Records the visitors admitted at `now_ms` after an
    /// [`Pacer::allowance`]. Fewer than allowed means the line ran dry:
    /// then the slots beyond the burst are let go, so an idle room builds
    /// no burst. (A failed admission is not recorded: its slots stay.)
    pub fn record(&mut self, now_ms: u64, admitted: u32) {
        let allowed = self.allowance(now_ms);
        let n = admitted.min(allowed);
        self.admitted += u64::from(n);
        if n > 0 {
            self.recent.push_back((now_ms, n));
            if let Some(log) = &mut self.minute {
                log.push_back((now_ms, n));
            }
        }
        if n < allowed {
            let owed = self
                .due(now_ms)
                .saturating_sub(self.admitted + self.forgone);
            self.let_go(owed);
        }
    }

    /// The window's quota (a continuous room: its rate a minute).
    pub fn quota(&self) -> u32 {
        self.rate
    }

    /// True once a window's quota is met; never for a continuous room.
    pub fn done(&self) -> bool {
        self.end_ms.is_some() && self.admitted >= u64::from(self.rate)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::plan::{orders, CONSUMER_WINDOW_MS};

    const MINUTE: u64 = 60_000;

    /// Admission times: (ms, visitors).
    type Admissions = Vec<(u64, u32)>;

    /// The most admitted in any span `[t, t + span)`.
    fn max_in(adm: &[(u64, u32)], span: u64) -> u64 {
        let mut most = 0;
        let mut sum = 0u64;
        let mut lo = 0;
        for hi in 0..adm.len() {
            sum += u64::from(adm[hi].1);
            while adm[lo].0 + span <= adm[hi].0 {
                sum -= u64::from(adm[lo].1);
                lo += 1;
            }
            most = most.max(sum);
        }
        most
    }

    fn five_s_bound(r: u32) -> u64 {
        (u64::from(r) * 12).div_ceil(120) // ceil(1.2 * r / 12)
    }

    /// The promise, written out independently of [`burst`].
    fn minute_bound(r: u32) -> u64 {
        u64::from(r) + u64::from(r).div_ceil(100).max(1)
    }

    /// A line that holds `supply(t)` visitors arriving by t, minus those
    /// admitted.
    struct Line<F: FnMut(u64) -> u64> {
        arrived: F,
        taken: u64,
    }

    impl<F: FnMut(u64) -> u64> Line<F> {
        fn take(&mut self, t: u64, want: u32) -> u32 {
            let waiting = (self.arrived)(t).saturating_sub(self.taken);
            let got = u64::from(want).min(waiting);
            self.taken += got;
            got as u32
        }
    }

    /// `serve`: one continuous pacer, a tick every `tick` ms for `minutes`,
    /// the rate given per tick.
    fn serve(
        rate: impl Fn(u64) -> u32,
        minutes: u64,
        tick: u64,
        arrived: impl FnMut(u64) -> u64,
    ) -> Admissions {
        serve_stalling(rate, minutes, tick, arrived, |_| false)
    }

    /// `serve` whose admissions fail (a slow or failed write: nothing
    /// admitted, nothing recorded) at the ticks where `stalled(t)`.
    fn serve_stalling(
        rate: impl Fn(u64) -> u32,
        minutes: u64,
        tick: u64,
        arrived: impl FnMut(u64) -> u64,
        stalled: impl Fn(u64) -> bool,
    ) -> Admissions {
        let mut line = Line { arrived, taken: 0 };
        let mut p = Pacer::continuous(rate(0), MINUTE, 0);
        let mut out = Vec::new();
        let mut t = 0;
        while t < minutes * MINUTE {
            if rate(t) != p.quota() {
                p.retarget(rate(t), t);
            }
            if stalled(t) {
                t += tick;
                continue;
            }
            let got = line.take(t, p.allowance(t));
            p.record(t, got);
            if got > 0 {
                out.push((t, got));
            }
            t += tick;
        }
        out
    }

    /// AWS: each minute's orders run as separate consumers, each ticking on
    /// its own clock (`offsets` shift them), all taking from one line.
    fn aws(
        rate: impl Fn(u64) -> u32,
        minutes: u64,
        tick: u64,
        offsets: &[u64],
        arrived: impl FnMut(u64) -> u64,
    ) -> Admissions {
        let mut line = Line { arrived, taken: 0 };
        let mut out: std::collections::BTreeMap<u64, u32> = Default::default();
        for m in 0..minutes {
            let start = m * MINUTE;
            let mut consumers: Vec<Pacer> = orders(rate(start), start)
                .iter()
                .map(|o| Pacer::window(o.quota, o.start_ms, o.end_ms, o.burst))
                .collect();
            let mut t = start;
            while t <= start + CONSUMER_WINDOW_MS + tick {
                for (i, p) in consumers.iter_mut().enumerate() {
                    let at = t + offsets[i % offsets.len()];
                    let got = line.take(at, p.allowance(at));
                    p.record(at, got);
                    if got > 0 {
                        *out.entry(at).or_default() += got;
                    }
                }
                t += tick;
            }
        }
        out.into_iter().collect()
    }

    fn total(adm: &[(u64, u32)]) -> u64 {
        adm.iter().map(|&(_, n)| u64::from(n)).sum()
    }

    #[test]
    fn a_window_meets_its_quota_exactly_with_a_line() {
        for q in [1, 10, 15, 59, 60, 61, 97, 500, 1000] {
            let mut p = Pacer::window(q, 0, MINUTE, burst(q));
            let mut n = 0;
            for t in (0..=MINUTE).step_by(100) {
                let a = p.allowance(t);
                p.record(t, a);
                n += a;
            }
            assert_eq!(n, q, "quota {q}");
            assert!(p.done());
        }
    }

    #[test]
    fn a_window_starts_with_nothing_in_hand() {
        let mut p = Pacer::window(600, 1_000, 61_000, 6);
        assert_eq!(p.allowance(1_000), 0);
        assert_eq!(p.allowance(1_100), 1);
    }

    #[test]
    fn an_idle_room_keeps_only_the_burst() {
        // 600 a minute, nobody in line for 30 s: 6 in hand, not 300.
        let mut p = Pacer::continuous(600, MINUTE, 0);
        for t in (100..=30_000).step_by(100) {
            p.allowance(t);
            p.record(t, 0);
        }
        assert_eq!(p.allowance(30_000), 6);
        p.record(30_000, 6);
        assert_eq!(p.allowance(30_000), 0);
        assert_eq!(p.allowance(30_100), 1, "then the pace");
    }

    #[test]
    fn a_room_that_could_not_write_keeps_its_slots_under_the_caps() {
        // Two seconds of failed admissions (not recorded): the 20 slots
        // are still owed, and spent no faster than the 5-second cap.
        let mut p = Pacer::continuous(600, MINUTE, 0);
        assert_eq!(p.allowance(2_000), 20);
        let mut p = Pacer::continuous(600, MINUTE, 0);
        assert_eq!(p.allowance(20_000), 55, "the cap, ⌈1.1 × 600/12⌉");
        // A consumer's window keeps only its burst, whatever the reason.
        let mut w = Pacer::window(600, 0, MINUTE, 6);
        assert_eq!(w.allowance(2_000), 6);
    }

    #[test]
    fn a_slot_in_hand_does_not_double_a_low_rate() {
        // 10 a minute: one kept while the line was empty, spent at 10 s;
        // the next falls due at 12 s but waits for the 5-second span.
        let mut p = Pacer::continuous(10, MINUTE, 0);
        assert_eq!(p.allowance(10_000), 1);
        p.record(10_000, 1);
        assert_eq!(p.allowance(12_000), 0);
        assert_eq!(p.allowance(15_000), 1);
    }

    #[test]
    fn a_visitor_arriving_into_an_idle_room_goes_in_at_once() {
        for r in [10, 60, 600, 20_000] {
            let mut p = Pacer::continuous(r, MINUTE, 0);
            assert!(p.allowance(7 * MINUTE + 1_234) >= 1, "rate {r}");
        }
    }

    #[test]
    fn record_never_counts_more_than_was_allowed() {
        let mut p = Pacer::continuous(60, MINUTE, 0);
        assert_eq!(p.allowance(10_000), 6, "the cap of 60 a minute");
        p.record(10_000, 50);
        assert_eq!(p.allowance(10_000), 0);
        // Six counted, not fifty: the other four due by 10 s are still owed.
        assert_eq!(p.allowance(15_000), 6);
    }

    #[test]
    fn retarget_keeps_what_is_in_hand_up_to_the_new_burst() {
        let mut p = Pacer::continuous(6_000, MINUTE, 0);
        assert_eq!(p.allowance(10_000), 550, "1,000 owed, under the cap");
        p.retarget(600, 10_000);
        assert_eq!(p.quota(), 600);
        assert_eq!(p.allowance(10_000), 6);
        p.record(10_000, 6);
        assert_eq!(p.allowance(10_000), 0);
        assert_eq!(p.allowance(10_100), 1, "then 600 a minute");
    }

    /// The crowd of issue 16: 800 visitors arriving over 4 s, some way into
    /// a minute of an idle room at 600 a minute.
    fn crowd(at: u64) -> impl FnMut(u64) -> u64 {
        move |t| {
            if t < at {
                0
            } else {
                ((t - at) * 800 / 4_000).min(800)
            }
        }
    }

    #[test]
    fn a_crowd_into_an_idle_room_is_no_burst_at_any_offset() {
        for offset in [0, 1_000, 15_000, 30_000, 45_000, 58_000, 59_500] {
            for (room, adm) in [
                ("serve", serve(|_| 600, 4, 100, crowd(MINUTE + offset))),
                ("aws", aws(|_| 600, 4, 98, &[0], crowd(MINUTE + offset))),
            ] {
                assert!(max_in(&adm, 5_000) <= 60, "{room} {offset}: {adm:?}");
                assert!(max_in(&adm, MINUTE) <= 606, "{room} {offset}");
                // Nobody waits long for the first place: the burst in hand.
                let first = adm.first().map(|a| a.0).unwrap_or(u64::MAX);
                assert!(first <= MINUTE + offset + 1_000, "{room} {offset}");
            }
        }
    }

    #[test]
    fn a_stall_is_made_up_within_the_bounds() {
        // A line from the start; serve cannot write from 10 s to 14 s.
        let adm = serve_stalling(
            |_| 600,
            3,
            100,
            |_| u64::MAX,
            |t| (10_000..14_000).contains(&t),
        );
        assert!(max_in(&adm, 5_000) <= 60);
        assert!(max_in(&adm, MINUTE) <= 606);
        // Nothing lost: the 40 slots are made up within the minute after.
        let by_two_minutes: u64 = adm
            .iter()
            .filter(|a| a.0 < 2 * MINUTE)
            .map(|a| u64::from(a.1))
            .sum();
        assert_eq!(by_two_minutes, 2 * 600 - 1, "all but the slot due at 120 s");
    }

    #[test]
    fn a_line_is_admitted_at_the_rate_every_minute() {
        for r in [10, 15, 60, 600, 3_300, 20_000] {
            let adm = serve(|_| r, 3, 100, |_| u64::MAX);
            // Slots falling due at a minute's end are taken at the next
            // tick: the first minute is short of one tick's worth.
            let tick_worth = u64::from(r).div_ceil(600);
            for m in 0..3 {
                let n: u64 = adm
                    .iter()
                    .filter(|a| a.0 / MINUTE == m)
                    .map(|a| u64::from(a.1))
                    .sum();
                let want = if m == 0 {
                    u64::from(r) - tick_worth
                } else {
                    u64::from(r)
                };
                assert_eq!(n, want, "serve {r} minute {m}");
            }
            let adm = aws(|_| r, 3, 98, &[0, 37, 71], |_| u64::MAX);
            for m in 0..3 {
                let n: u64 = adm
                    .iter()
                    .filter(|a| a.0 / MINUTE == m)
                    .map(|a| u64::from(a.1))
                    .sum();
                assert_eq!(n, u64::from(r), "aws {r} minute {m}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any arrival pattern (an idle start of any length, then runs of
        /// empty spells, trickles below the pace, arrivals at the pace and
        /// crowds at three times it), any rate, rate changes at any moment,
        /// stalls of serve's writes: both rooms stay within the sliding
        /// bounds of the highest rate in force, on AWS with consumers
        /// ticking out of step.
        #[test]
        fn any_arrivals_stay_within_the_sliding_bounds(
            rates in proptest::collection::vec(prop_oneof![10u32..200, 10u32..20_001], 1..4),
            change_every in 7_000u64..130_000,
            idle in 0u64..70_000,
            runs in proptest::collection::vec((1u64..40_000, 0u64..4), 1..12),
            tick in 20u64..300,
            offsets in proptest::collection::vec(0u64..200, 1..4),
            stalls in proptest::collection::vec((0u64..300_000, 0u64..20_000), 0..4),
        ) {
            let minutes = 5;
            let stalled = |t: u64| stalls.iter().any(|&(at, len)| (at..at + len).contains(&t));
            let rate = |t: u64| rates[(t / change_every) as usize % rates.len()];
            let top = *rates.iter().max().unwrap_or(&10);
            // Arrivals by t: per run, 0, ½, 1 or 3 times the top pace.
            let arrived = |runs: Vec<(u64, u64)>| {
                move |t: u64| {
                    let (mut at, mut sum) = (idle, 0u64);
                    for &(len, speed) in runs.iter().cycle() {
                        if at >= t { break; }
                        let d = len.min(t - at);
                        let halves = [0, 1, 2, 6][speed as usize];
                        sum += u64::from(top) * halves * d / (2 * MINUTE);
                        at += len;
                    }
                    sum
                }
            };
            for (room, adm) in [
                ("serve", serve_stalling(rate, minutes, tick, arrived(runs.clone()), stalled)),
                ("aws", aws(|t| rate(t - t % MINUTE), minutes, tick, &offsets, arrived(runs.clone()))),
            ] {
                prop_assert!(max_in(&adm, 5_000) <= five_s_bound(top),
                    "{} 5 s: {} > {}", room, max_in(&adm, 5_000), five_s_bound(top));
                prop_assert!(max_in(&adm, MINUTE) <= minute_bound(top),
                    "{} minute: {} > {}", room, max_in(&adm, MINUTE), minute_bound(top));
            }
        }

        /// One rate and a line from the start: three minutes admit 3 R
        /// (on serve, less the slots falling due after its last tick), and
        /// no 5 s or sliding minute exceeds its bound.
        #[test]
        fn a_line_is_exact_and_smooth(rate in 10u32..20_001, tick in 20u64..200) {
            let last_tick = (3 * MINUTE - 1) / tick * tick;
            let serve_due = u64::from(rate) * last_tick / MINUTE;
            for (room, adm, want) in [
                ("serve", serve(|_| rate, 3, tick, |_| u64::MAX), serve_due),
                ("aws", aws(|_| rate, 3, tick, &[0], |_| u64::MAX), 3 * u64::from(rate)),
            ] {
                prop_assert!(max_in(&adm, 5_000) <= five_s_bound(rate), "{}", room);
                prop_assert!(max_in(&adm, MINUTE) <= minute_bound(rate), "{}", room);
                prop_assert_eq!(total(&adm), want, "{}", room);
            }
        }
    }
}
