//! The dynamic rate throttle: a controller that slows admission when the
//! destination slows down, and brings it back when the destination recovers.
//!
//! Once a minute it gets the probes of the last minute (a few requests to
//! the destination, spread out, one at a time) and decides the next
//! `rate_current`:
//!
//! - it judges on robust figures: the median latency against a baseline,
//!   and the share of failed probes (non-2xx/3xx answers, timeouts);
//! - a failing destination (a quarter of the probes or more) halves the
//!   rate; a slow one (median above 1.6 times the baseline) cuts it by a
//!   fifth, by half when above 3 times: decreases are multiplicative and fast;
//! - between 1.25 and 1.6 times the baseline it holds (hysteresis: noise
//!   around one threshold never moves the rate);
//! - when healthy two minutes in a row it raises the rate: by a tenth, then
//!   by a fifth, three tenths... of the rate as the healthy minutes add up
//!   (a recovered destination gets its visitors back within minutes, a
//!   fragile one is approached gently);
//! - the baseline follows unloaded minutes (within a tenth of it) slowly, an
//!   eighth of the way per minute, and never learns from a loaded, slow or
//!   failing one, so it cannot creep up with the load; a destination
//!   that stays slow for five minutes although the rate was cut (no
//!   improvement, no errors) is slow for another reason than load, and its
//!   latency becomes the new baseline, so a permanently slower but healthy
//!   site is not throttled forever;
//! - the result never exceeds the user's limit nor falls below the floor.

use serde::{Deserialize, Serialize};

use crate::names::RATE_MIN;

/// Probes per minute: enough for a median, few enough to be harmless.
pub const PROBES_PER_MINUTE: usize = 6;
/// A probe slower than this is a failure.
pub const PROBE_TIMEOUT_MS: u32 = 5_000;

const HEALTHY: f64 = 1.25;
const SLOW: f64 = 1.6;
const VERY_SLOW: f64 = 3.0;
const REBASE_AFTER: u32 = 5;

/// One probe of the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    pub latency_ms: u32,
    /// A 2xx or 3xx answer within the timeout.
    pub ok: bool,
}

/// What the controller remembers between minutes (kept in the store).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Healthy median latency, once learned.
    pub baseline_ms: Option<f64>,
    /// Healthy minutes in a row.
    pub calm: u32,
    /// Slow (not failing) minutes in a row, and the median when they began.
    pub slow: u32,
    pub slow_from_ms: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// No baseline yet, or no probe: the rate is left alone.
    Learning,
    Healthy,
    /// Between the thresholds: hold.
    Steady,
    Slow,
    Failing,
    /// Slow without load: the baseline moved.
    Rebased,
}

/// The decision for the next minute, with the figures it was made on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub rate: u32,
    pub state: State,
    pub verdict: Verdict,
    pub median_ms: Option<u32>,
    pub failed: u32,
    pub probes: u32,
}

fn median(mut v: Vec<u32>) -> Option<u32> {
    v.sort_unstable();
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some(((u64::from(v[n / 2 - 1]) + u64::from(v[n / 2])) / 2) as u32),
    }
}

/// The rate to store for a decision made from the rates of `seen`, now
/// that the room config is `now`: `None` when nothing is to be written,
/// because `set-rate` changed the rates while the throttle probed (the
/// user wins; the throttle decides again next minute) or because the
/// decision keeps the current rate. Both rooms apply it atomically: serve
/// inside one transaction, AWS as a write conditional on the two rates
/// `seen` holds.
pub fn rate_to_store(
    seen: &crate::RoomConfig,
    now: &crate::RoomConfig,
    decided: u32,
) -> Option<u32> {
    let unchanged = now.rate_limit == seen.rate_limit && now.rate_current == seen.rate_current;
    let rate = decided.min(now.rate_limit);
    (unchanged && rate != now.rate_current).then_some(rate)
}

/// The controller: next rate from the last minute's probes.
pub fn decide(probes: &[Probe], state: &State, current: u32, limit: u32) -> Decision {
    let floor = RATE_MIN.min(limit);
    let current = current.clamp(floor, limit);
    let failed = probes.iter().filter(|p| !p.ok).count() as u32;
    let n = probes.len() as u32;
    let med = median(
        probes
            .iter()
            .filter(|p| p.ok)
            .map(|p| p.latency_ms)
            .collect(),
    );
    let mut s = state.clone();
    let decision = |rate: u32, s: State, verdict| Decision {
        rate: rate.clamp(floor, limit),
        state: s,
        verdict,
        median_ms: med,
        failed,
        probes: n,
    };
    if n == 0 {
        return decision(current, s, Verdict::Learning);
    }
    if failed * 4 >= n {
        s.calm = 0;
        s.slow = 0;
        return decision(current / 2, s, Verdict::Failing);
    }
    let Some(med) = med else {
        return decision(current, s, Verdict::Learning);
    };
    // Probes are timed in whole milliseconds: a sub-millisecond answer is
    // 0 ms, and a 0 ms baseline would make every ratio meaningless.
    let m = f64::from(med).max(1.0);
    let Some(base) = s.baseline_ms.map(|b| b.max(1.0)) else {
        s.baseline_ms = Some(m);
        return decision(current, s, Verdict::Learning);
    };
    let ratio = m / base;
    if ratio <= HEALTHY {
        if ratio <= 1.1 {
            s.baseline_ms = Some(base + (m - base) / 8.0);
        }
        s.slow = 0;
        s.calm += 1;
        if s.calm < 2 {
            return decision(current, s, Verdict::Healthy);
        }
        let step = (u64::from(current) * u64::from(s.calm - 1).min(10) / 10).max(1) as u32;
        return decision(current.saturating_add(step), s, Verdict::Healthy);
    }
    s.calm = 0;
    if ratio <= SLOW {
        s.slow = 0;
        return decision(current, s, Verdict::Steady);
    }
    if s.slow == 0 {
        s.slow_from_ms = m;
    }
    s.slow += 1;
    if s.slow >= REBASE_AFTER && m >= 0.8 * s.slow_from_ms {
        // Cut after cut did not help: not load. This is the site's pace now.
        s.baseline_ms = Some(m);
        s.slow = 0;
        return decision(current, s, Verdict::Rebased);
    }
    let rate = if ratio > VERY_SLOW {
        current / 2
    } else {
        current - current / 5
    };
    decision(rate, s, Verdict::Slow)
}

pub mod sim {
    //! A synthetic destination for the controller, minute by minute: a
    //! queue with capacity `C` visitors a minute whose latency grows with the
    //! admitted load, and whose backlog (load above capacity) makes requests
    //! wait, up to the clients' timeout, after which they fail. Seeded and
    //! deterministic.

    use super::{decide, Probe, State, PROBES_PER_MINUTE, PROBE_TIMEOUT_MS};

    /// A scenario: capacity and base latency per minute, noise, limit.
    pub struct Scenario {
        pub name: &'static str,
        pub minutes: u32,
        pub limit: u32,
        /// Visitors waiting to get in from this minute on (before, none).
        pub crowd_from: u32,
        pub capacity: fn(u32) -> f64,
        pub base_ms: fn(u32) -> f64,
        /// Down (every request fails) in these minutes.
        pub down: fn(u32) -> bool,
        /// Log-normal spread of each probe's latency.
        pub noise: f64,
        pub seed: u64,
    }

    /// One simulated minute.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Minute {
        pub minute: u32,
        pub rate: u32,
        pub admitted: u32,
        pub capacity: f64,
        pub median_ms: Option<u32>,
        pub failed: u32,
        pub verdict: super::Verdict,
    }

    /// xorshift64*: small, seeded, good enough for noise.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
        }

        /// A standard normal draw (Box-Muller).
        fn normal(&mut self) -> f64 {
            let (u, v) = (self.next().max(1e-12), self.next());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }
    }

    pub fn run(sc: &Scenario) -> Vec<Minute> {
        let mut rng = Rng(sc.seed.max(1));
        let mut state = State::default();
        let mut rate = sc.limit;
        let mut backlog = 0.0f64;
        let mut out = Vec::new();
        for minute in 0..sc.minutes {
            let cap = (sc.capacity)(minute).max(1.0);
            let admitted = if minute >= sc.crowd_from { rate } else { 0 };
            // Work beyond capacity waits, but only as long as clients do:
            // what would wait past the timeout is given up (and fails).
            let patience = cap * f64::from(PROBE_TIMEOUT_MS) / 60_000.0;
            backlog = (backlog + f64::from(admitted) - cap).clamp(0.0, patience);
            let rho = (f64::from(admitted) / cap).min(0.98);
            let wait_ms = backlog / cap * 60_000.0;
            let probes: Vec<Probe> = (0..PROBES_PER_MINUTE)
                .map(|_| {
                    let noise = (sc.noise * rng.normal()).exp();
                    let latency =
                        (sc.base_ms)(minute) * (1.0 + 0.05 / (1.0 - rho)) * noise + wait_ms;
                    let latency = latency.min(f64::from(u32::MAX)) as u32;
                    let ok = !(sc.down)(minute) && latency < PROBE_TIMEOUT_MS;
                    Probe {
                        latency_ms: latency.min(PROBE_TIMEOUT_MS),
                        ok,
                    }
                })
                .collect();
            let d = decide(&probes, &state, rate, sc.limit);
            out.push(Minute {
                minute,
                rate,
                admitted,
                capacity: cap,
                median_ms: d.median_ms,
                failed: d.failed,
                verdict: d.verdict,
            });
            state = d.state;
            rate = d.rate;
        }
        out
    }

    fn never(_: u32) -> bool {
        false
    }

    fn base_100(_: u32) -> f64 {
        100.0
    }

    /// The scenarios of the documentation and the tests, for a limit of 1,000.
    pub fn scenarios() -> Vec<Scenario> {
        vec![
            Scenario {
                name: "capacity-above-limit",
                minutes: 40,
                limit: 1000,
                crowd_from: 3,
                capacity: |_| 2500.0,
                base_ms: base_100,
                down: never,
                noise: 0.1,
                seed: 1,
            },
            Scenario {
                name: "capacity-40-percent",
                minutes: 40,
                limit: 1000,
                crowd_from: 3,
                capacity: |_| 400.0,
                base_ms: base_100,
                down: never,
                noise: 0.1,
                seed: 2,
            },
            Scenario {
                name: "capacity-drops-and-returns",
                minutes: 60,
                limit: 1000,
                crowd_from: 3,
                capacity: |m| {
                    if (15..35).contains(&m) {
                        300.0
                    } else {
                        1000.0 / 0.7
                    }
                },
                base_ms: base_100,
                down: never,
                noise: 0.1,
                seed: 3,
            },
            Scenario {
                name: "noisy-no-overload",
                minutes: 40,
                limit: 1000,
                crowd_from: 3,
                capacity: |_| 5000.0,
                base_ms: base_100,
                down: never,
                noise: 0.3,
                seed: 4,
            },
            Scenario {
                name: "down-for-5-minutes",
                minutes: 40,
                limit: 1000,
                crowd_from: 3,
                capacity: |_| 2500.0,
                base_ms: base_100,
                down: |m| (10..15).contains(&m),
                noise: 0.1,
                seed: 5,
            },
            Scenario {
                name: "twice-as-slow-but-healthy",
                minutes: 40,
                limit: 1000,
                crowd_from: 3,
                capacity: |_| 2500.0,
                base_ms: |m| if m >= 10 { 200.0 } else { 100.0 },
                down: never,
                noise: 0.1,
                seed: 6,
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::sim::{run, scenarios, Minute};
    use super::*;

    fn ok(ms: u32) -> Probe {
        Probe {
            latency_ms: ms,
            ok: true,
        }
    }

    #[test]
    fn a_decision_is_stored_only_over_the_rates_it_was_made_from() {
        let seen = crate::RoomConfig {
            dynamic_throttle: true,
            ..crate::RoomConfig::for_tests(600)
        };
        assert_eq!(rate_to_store(&seen, &seen, 300), Some(300));
        assert_eq!(rate_to_store(&seen, &seen, 600), None, "no change");
        assert_eq!(
            rate_to_store(&seen, &seen, 900),
            None,
            "never above the limit"
        );
        let mut user = seen.clone();
        user.rate_limit = 100;
        user.rate_current = 100;
        assert_eq!(rate_to_store(&seen, &user, 300), None, "set-rate wins");
        let mut lowered = seen.clone();
        lowered.rate_current = 450;
        assert_eq!(
            rate_to_store(&seen, &lowered, 300),
            None,
            "changed meanwhile"
        );
        assert_eq!(rate_to_store(&lowered, &lowered, 900), Some(600));
    }

    fn scenario(name: &str) -> Vec<Minute> {
        let sc = scenarios()
            .into_iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name}"));
        run(&sc)
    }

    fn rates(m: &[Minute]) -> Vec<u32> {
        m.iter().map(|x| x.rate).collect()
    }

    #[test]
    fn learns_then_holds_cuts_and_recovers() {
        let s = State::default();
        let d = decide(&[ok(100); 6], &s, 500, 1000);
        assert_eq!(
            (d.verdict, d.rate, d.state.baseline_ms),
            (Verdict::Learning, 500, Some(100.0))
        );
        let d2 = decide(&[ok(140); 6], &d.state, 500, 1000);
        assert_eq!((d2.verdict, d2.rate), (Verdict::Steady, 500));
        let d3 = decide(&[ok(200); 6], &d.state, 500, 1000);
        assert_eq!((d3.verdict, d3.rate), (Verdict::Slow, 400));
        let d4 = decide(&[ok(400); 6], &d.state, 500, 1000);
        assert_eq!((d4.verdict, d4.rate), (Verdict::Slow, 250));
        let timeout = Probe {
            latency_ms: 5000,
            ok: false,
        };
        let failing = [ok(100), timeout, ok(100), timeout, ok(100), ok(100)];
        let d5 = decide(&failing, &d.state, 500, 1000);
        assert_eq!((d5.verdict, d5.rate), (Verdict::Failing, 250));
        // Healthy twice in a row before any raise.
        let h1 = decide(&[ok(100); 6], &d.state, 500, 1000);
        assert_eq!((h1.verdict, h1.rate), (Verdict::Healthy, 500));
        let h2 = decide(&[ok(100); 6], &h1.state, 500, 1000);
        assert_eq!(h2.rate, 550);
        // Never above the limit, never below the floor.
        assert_eq!(decide(&[ok(100); 6], &h2.state, 990, 1000).rate, 1000);
        assert_eq!(
            decide(
                &[Probe {
                    latency_ms: 5000,
                    ok: false
                }; 6],
                &d.state,
                12,
                1000
            )
            .rate,
            RATE_MIN
        );
    }

    #[test]
    fn a_sub_millisecond_destination_is_healthy_and_recovers() {
        let learned = decide(&[ok(0); 6], &State::default(), 100, 1000);
        let h1 = decide(&[ok(0); 6], &learned.state, 100, 1000);
        let h2 = decide(&[ok(0); 6], &h1.state, 100, 1000);
        assert_eq!(
            (h1.verdict, h2.verdict, h2.rate),
            (Verdict::Healthy, Verdict::Healthy, 110)
        );
        // An old state with a 0 ms baseline is read as 1 ms.
        let zero = State {
            baseline_ms: Some(0.0),
            calm: 1,
            ..State::default()
        };
        assert_eq!(decide(&[ok(0); 6], &zero, 100, 1000).rate, 110);
    }

    #[test]
    fn capacity_above_the_limit_keeps_the_limit() {
        let m = scenario("capacity-above-limit");
        assert!(rates(&m).iter().all(|&r| r == 1000), "{:?}", rates(&m));
    }

    /// Settles within 10 minutes of the crowd to 0.7–1.0 C, then varies by
    /// at most 20% peak to peak.
    fn settles(m: &[Minute], from: u32, to: u32, cap: f64) {
        let window: Vec<u32> = m
            .iter()
            .filter(|x| x.minute >= from + 10 && x.minute < to)
            .map(|x| x.rate)
            .collect();
        let (lo, hi) = (
            *window.iter().min().unwrap_or(&0),
            *window.iter().max().unwrap_or(&0),
        );
        assert!(
            f64::from(lo) >= 0.7 * cap && f64::from(hi) <= cap,
            "{lo}..{hi} for C = {cap}: {:?}",
            rates(m)
        );
        assert!(
            f64::from(hi - lo) <= 0.2 * f64::from(hi),
            "{lo}..{hi} varies too much: {:?}",
            rates(m)
        );
    }

    #[test]
    fn capacity_at_40_percent_of_the_limit() {
        let m = scenario("capacity-40-percent");
        settles(&m, 3, 40, 400.0);
    }

    #[test]
    fn capacity_drops_to_30_percent_and_returns() {
        let m = scenario("capacity-drops-and-returns");
        settles(&m, 15, 35, 300.0);
        let back = m
            .iter()
            .find(|x| x.minute >= 35 && x.rate == 1000)
            .map(|x| x.minute);
        assert!(
            back.is_some_and(|b| b <= 35 + 15),
            "back at the limit at {back:?}: {:?}",
            rates(&m)
        );
    }

    #[test]
    fn noise_alone_barely_moves_the_rate() {
        let m = scenario("noisy-no-overload");
        let lo = m.iter().map(|x| x.rate).min().unwrap_or(0);
        assert!(f64::from(lo) >= 0.95 * 1000.0, "{:?}", rates(&m));
    }

    #[test]
    fn a_destination_down_for_5_minutes_is_protected_and_then_recovers() {
        let m = scenario("down-for-5-minutes");
        assert!(m
            .iter()
            .filter(|x| (11..16).contains(&x.minute))
            .all(|x| x.rate < 1000));
        let back = m
            .iter()
            .find(|x| x.minute >= 15 && x.rate == 1000)
            .map(|x| x.minute);
        assert!(
            back.is_some_and(|b| b <= 15 + 15),
            "back at {back:?}: {:?}",
            rates(&m)
        );
    }

    #[test]
    fn a_healthy_but_slower_site_is_not_throttled_forever() {
        let m = scenario("twice-as-slow-but-healthy");
        assert!(
            m.iter().any(|x| x.verdict == Verdict::Rebased),
            "{:?}",
            rates(&m)
        );
        assert!(
            m.iter().filter(|x| x.minute >= 30).all(|x| x.rate == 1000),
            "{:?}",
            rates(&m)
        );
    }

    proptest! {
        #[test]
        fn always_within_floor_and_limit(
            lat in proptest::collection::vec((0u32..20_000, any::<bool>()), 0..10),
            base in proptest::option::of(1.0f64..5_000.0),
            calm in 0u32..5, slow in 0u32..8,
            current in 0u32..300_000, limit in 10u32..100_001,
        ) {
            let probes: Vec<Probe> = lat.iter().map(|&(l, ok)| Probe { latency_ms: l, ok }).collect();
            let s = State { baseline_ms: base, calm, slow, slow_from_ms: 100.0 };
            let d = decide(&probes, &s, current, limit);
            prop_assert!(d.rate >= RATE_MIN.min(limit) && d.rate <= limit);
        }

        /// Slower answers never give a higher rate.
        #[test]
        fn monotone_in_the_latency(
            base in 50.0f64..500.0, a in 1u32..10_000, b in 1u32..10_000,
            current in 10u32..10_000, calm in 0u32..3,
        ) {
            let s = State { baseline_ms: Some(base), calm, ..State::default() };
            let (fast, slow) = (a.min(b), a.max(b));
            let r_fast = decide(&[ok(fast); 6], &s, current, 10_000).rate;
            let r_slow = decide(&[ok(slow); 6], &s, current, 10_000).rate;
            prop_assert!(r_slow <= r_fast, "{} ms -> {}, {} ms -> {}", fast, r_fast, slow, r_slow);
        }

        /// More failed probes never give a higher rate.
        #[test]
        fn monotone_in_the_failures(failed in 0usize..6, current in 10u32..10_000) {
            let s = State { baseline_ms: Some(100.0), calm: 3, ..State::default() };
            let probes = |k: usize| -> Vec<Probe> {
                (0..6).map(|i| Probe { latency_ms: 100, ok: i >= k }).collect()
            };
            prop_assert!(decide(&probes(failed + 1), &s, current, 10_000).rate <= decide(&probes(failed), &s, current, 10_000).rate);
        }
    }
}
