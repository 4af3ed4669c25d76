//! Capacity and cost of a room on AWS: from the account's quotas and the
//! design's per-request costs, how many arrivals per second and how many
//! waiting visitors the room holds, and what an admitted visitor costs.
//!
//! Every visitor request goes through API Gateway; a poll is one API
//! request and one DynamoDB read per item it reads (beekeeper: the token
//! and a copy of the on/off switch); a page load is one API request and one S3
//! GET per file. The model is steady state: a line of `waiting` visitors
//! admitted at `rate` per minute, each polling on the design's schedule.

use beekeeper_core::plan::{fan_out, receive_batch, CONSUMER_CAPACITY};
use beekeeper_core::wait::{poll_interval_secs, POLL_MAX_SECS};

/// Account limits that bound a room (the defaults are AWS's defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quotas {
    /// API Gateway requests per second, per account and region.
    pub api_rps: f64,
    /// Lambda concurrent executions, per account and region.
    pub lambda_concurrency: f64,
    /// S3 GET requests per second, per prefix.
    pub s3_get_rps: f64,
    /// DynamoDB reads per second a table can take (on-demand: 40,000 read
    /// request units, two eventually consistent reads each).
    pub ddb_reads_per_sec: f64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            api_rps: 10_000.0,
            lambda_concurrency: 1_000.0,
            s3_get_rps: 5_500.0,
            ddb_reads_per_sec: 80_000.0,
        }
    }
}

/// How the room page polls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Polling {
    /// beekeeper's schedule ([`poll_interval_secs`]): two thirds of the
    /// remaining wait, between 3 s and 5 minutes.
    Adaptive,
    /// Every so many seconds, whatever the wait.
    Every(u64),
}

/// What one design costs per request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Design {
    pub polling: Polling,
    /// Producer time per arrival (the Lambda's billed duration).
    pub producer_ms: f64,
    pub producer_memory_mb: f64,
    /// Files a room page load fetches through API Gateway (and S3).
    pub page_files: f64,
    /// DynamoDB reads per second the token table allows, if provisioned.
    pub table_reads_per_sec: Option<f64>,
    /// Items a poll reads (each a DynamoDB read). beekeeper's second item
    /// is one of sixteen copies of the switch in the config table, so the
    /// token table's reads still bound the polls.
    pub reads_per_poll: f64,
    /// Messages a consumer receives at once; `None` for beekeeper's rule,
    /// by quota ([`receive_batch`]).
    pub receive_batch: Option<u32>,
    /// How long each consumer runs a minute, and its memory.
    pub consumer_secs: f64,
    pub consumer_memory_mb: f64,
    /// Whether the origin's one call per visitor redeems the admission (a
    /// DynamoDB write: beekeeper's `POST /client-check`) rather than only
    /// reading it.
    pub origin_redeems: bool,
}

impl Design {
    /// beekeeper: adaptive polls, the producer's time (one SQS send, the
    /// config cached), a one-file page, an on-demand table.
    pub const BEEKEEPER: Design = Design {
        polling: Polling::Adaptive,
        producer_ms: 20.0,
        producer_memory_mb: 256.0,
        page_files: 1.0,
        table_reads_per_sec: None,
        reads_per_poll: 2.0,
        receive_batch: None,
        // Paced over its 59-second window.
        consumer_secs: 59.0,
        consumer_memory_mb: 128.0,
        origin_redeems: true,
    };

    /// The original beekeeper: a poll every 20 s, a 160 ms producer, a
    /// token table provisioned at 5 read capacity units.
    pub const ORIGINAL: Design = Design {
        polling: Polling::Every(20),
        producer_ms: 160.0,
        producer_memory_mb: 128.0,
        page_files: 4.0,
        table_reads_per_sec: Some(10.0),
        reads_per_poll: 1.0,
        receive_batch: Some(10),
        // 100 batches as fast as it can: 2 s at a batch every 20 ms.
        consumer_secs: 2.0,
        consumer_memory_mb: 128.0,
        origin_redeems: false,
    };
}

/// Polls a visitor makes during a wait of `wait_secs`, up to and including
/// the one that finds it admitted.
pub fn polls_for_wait(wait_secs: u64, polling: Polling) -> u64 {
    match polling {
        Polling::Every(every) => wait_secs.div_ceil(every.max(1)).max(1),
        Polling::Adaptive => {
            let (mut t, mut polls) = (0u64, 0u64);
            loop {
                t += poll_interval_secs(wait_secs, t);
                polls += 1;
                if t >= wait_secs {
                    return polls;
                }
            }
        }
    }
}

/// Polls per second of one visitor whose admission is `remaining_secs` away.
fn poll_rate(remaining_secs: u64, polling: Polling) -> f64 {
    match polling {
        Polling::Every(every) => 1.0 / every.max(1) as f64,
        Polling::Adaptive => 1.0 / poll_interval_secs(remaining_secs, 0) as f64,
    }
}

/// Poll requests per second the line can make: API Gateway's rate, less
/// what arrivals use, bounded by the token table's reads.
fn poll_budget(q: &Quotas, d: &Design, arrivals_per_sec: f64) -> f64 {
    let api = q.api_rps - arrivals_per_sec * (1.0 + d.page_files);
    let table = d.table_reads_per_sec.unwrap_or(q.ddb_reads_per_sec);
    api.min(table).max(0.0)
}

/// Arrivals per second the room takes: API Gateway (an arrival is an entry
/// and a page load), the producers' concurrency, and S3's GET rate for the
/// page's files.
pub fn max_arrivals_per_sec(q: &Quotas, d: &Design) -> f64 {
    let api = q.api_rps / (1.0 + d.page_files);
    let lambda = q.lambda_concurrency / (d.producer_ms / 1000.0);
    let s3 = q.s3_get_rps;
    api.min(lambda).min(s3)
}

/// Visitors that can wait at once, admitted at `rate_per_min`, while
/// `arrivals_per_sec` more come in.
pub fn max_waiting(q: &Quotas, d: &Design, rate_per_min: u32, arrivals_per_sec: f64) -> u64 {
    let budget = poll_budget(q, d, arrivals_per_sec);
    let per_sec = f64::from(rate_per_min.max(1)) / 60.0;
    match d.polling {
        Polling::Every(every) => (budget * every as f64) as u64,
        Polling::Adaptive => {
            // Near the front visitors poll faster; past twice the slowest
            // interval every visitor polls every POLL_MAX_SECS.
            let far = 2 * POLL_MAX_SECS;
            let near_visitors = (far as f64 * per_sec).ceil() as u64;
            let mut used = 0.0;
            for p in 1..=near_visitors {
                let remaining = (p as f64 / per_sec) as u64;
                used += poll_rate(remaining, d.polling);
                if used > budget {
                    return p - 1;
                }
            }
            let left = budget - used;
            near_visitors + (left * POLL_MAX_SECS as f64) as u64
        }
    }
}

/// What one admitted visitor is billed for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bill {
    pub api_requests: f64,
    pub lambda_invocations: f64,
    pub lambda_gb_secs: f64,
    pub ddb_reads: f64,
    pub ddb_writes: f64,
    pub sqs_requests: f64,
    pub s3_gets: f64,
}

/// Prices in US dollars (us-east-1, per million requests unless named).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prices {
    pub api: f64,
    pub lambda_request: f64,
    pub lambda_gb_sec: f64,
    pub ddb_read: f64,
    pub ddb_write: f64,
    pub sqs: f64,
    pub s3_get: f64,
}

impl Prices {
    /// Public list prices (REST API first tier; DynamoDB on-demand).
    pub const US_EAST_1: Prices = Prices {
        api: 3.50,
        lambda_request: 0.20,
        lambda_gb_sec: 0.000_016_666_7,
        ddb_read: 0.125,
        ddb_write: 0.625,
        sqs: 0.40,
        s3_get: 0.40,
    };
}

impl Bill {
    /// Requests of every service, added up.
    pub fn requests(&self) -> f64 {
        self.api_requests
            + self.lambda_invocations
            + self.ddb_reads
            + self.ddb_writes
            + self.sqs_requests
            + self.s3_gets
    }

    pub fn dollars(&self, p: &Prices) -> f64 {
        let m = 1e-6;
        self.api_requests * p.api * m
            + self.lambda_invocations * p.lambda_request * m
            + self.lambda_gb_secs * p.lambda_gb_sec
            + self.ddb_reads * p.ddb_read * m
            + self.ddb_writes * p.ddb_write * m
            + self.sqs_requests * p.sqs * m
            + self.s3_gets * p.s3_get * m
    }
}

/// The bill of one visitor who waits `wait_secs` in a room admitting
/// `rate_per_min`: the entry (producer, one SQS send), a page load, the
/// polls, the origin's one call (beekeeper: a redemption, a write; the
/// pass it verifies offline costs nothing), and a share of the admitting: one
/// write, and a ledger count, a receive and a delete per batch, and each minute's trigger run
/// (a config read, a queue-depth read, an invoke per consumer) and
/// consumers (a config read each, and their running time).
pub fn per_visitor(wait_secs: u64, rate_per_min: u32, d: &Design) -> Bill {
    let polls = polls_for_wait(wait_secs, d.polling) as f64;
    let quotas = fan_out(rate_per_min.max(1), CONSUMER_CAPACITY);
    let consumers = quotas.len() as f64;
    let batch = d
        .receive_batch
        .unwrap_or_else(|| receive_batch(quotas.iter().copied().min().unwrap_or(1)));
    // The minute's share of one admitted visitor.
    let share = 1.0 / f64::from(rate_per_min.max(1));
    Bill {
        api_requests: 1.0 + d.page_files + polls + 1.0,
        lambda_invocations: 1.0 + (1.0 + consumers) * share,
        lambda_gb_secs: (d.producer_ms / 1000.0 * d.producer_memory_mb
            + consumers * d.consumer_secs * d.consumer_memory_mb * share)
            / 1024.0,
        ddb_reads: polls * d.reads_per_poll
            + if d.origin_redeems { 0.0 } else { 1.0 }
            + (1.0 + consumers) * share,
        // The admission, the ledger's count of its batch, the redemption.
        ddb_writes: 1.0 + 1.0 / f64::from(batch.max(1)) + if d.origin_redeems { 1.0 } else { 0.0 },
        sqs_requests: 1.0 + 2.0 / f64::from(batch.max(1)) + share,
        s3_gets: d.page_files,
    }
}

/// A deployed room's `max_line` when the profile sets none: the core's
/// default, or fewer where the model says the default quotas keep fewer
/// waiting visitors polling at `rate` a minute (at high rates more of the
/// line is near its turn and polls often).
pub fn default_max_line(rate: u32) -> u64 {
    beekeeper_core::profile::DEFAULT_MAX_LINE.min(max_waiting(
        &Quotas::default(),
        &Design::BEEKEEPER,
        rate,
        0.0,
    ))
}

/// Minutes in the month [`idle_month`] bills: 30 days.
pub const MONTH_MINUTES: f64 = 30.0 * 24.0 * 60.0;

/// The bill of a month of a room that is on with nobody in line: each
/// minute the trigger runs (a config read, a ledger read, a queue-depth
/// read, the minute's claim) and starts the minute's first consumer, which
/// claims its order, reads the config every 5 s and long-polls the empty
/// queue a second at a time for its whole window, so that a crowd arriving
/// mid-minute is admitted within seconds. `off` runs no consumer.
pub fn idle_month(d: &Design) -> Bill {
    let m = MONTH_MINUTES;
    Bill {
        api_requests: 0.0,
        lambda_invocations: 2.0 * m,
        lambda_gb_secs: d.consumer_secs * d.consumer_memory_mb / 1024.0 * m,
        ddb_reads: (2.0 + d.consumer_secs / 5.0) * m,
        ddb_writes: 2.0 * m,
        sqs_requests: (1.0 + d.consumer_secs) * m,
        s3_gets: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_line_is_one_the_room_keeps_polling_at_any_rate() {
        use beekeeper_core::names::{RATE_MAX, RATE_MIN};
        use beekeeper_core::profile::DEFAULT_MAX_LINE;
        for rate in [RATE_MIN, 600, 5_000, 20_000, RATE_MAX] {
            let held = max_waiting(&Quotas::default(), &Design::BEEKEEPER, rate, 0.0);
            assert!(default_max_line(rate) <= held, "{held} at {rate}/min");
        }
        assert_eq!(default_max_line(600), DEFAULT_MAX_LINE);
        assert!(default_max_line(RATE_MAX) < DEFAULT_MAX_LINE / 2);
    }

    #[test]
    fn an_idle_room_costs_one_consumer_a_minute() {
        let bill = idle_month(&Design::BEEKEEPER);
        // 59 s at 128 MB each minute of 30 days.
        assert!((bill.lambda_gb_secs - 318_600.0).abs() < 1.0, "{bill:?}");
        let dollars = bill.dollars(&Prices::US_EAST_1);
        assert!((5.0..8.0).contains(&dollars), "{dollars}");
    }

    #[test]
    fn polls_follow_the_schedule() {
        // 300 s steps while far, then two thirds of what is left: 1700,
        // 1766, 1788, 1796, 1799, 1802.
        assert_eq!(polls_for_wait(1800, Polling::Adaptive), 11);
        assert_eq!(polls_for_wait(60, Polling::Adaptive), 4);
        assert_eq!(polls_for_wait(1800, Polling::Every(20)), 90);
        assert_eq!(polls_for_wait(0, Polling::Every(20)), 1);
    }

    #[test]
    fn the_goals_for_waiting_visitors_hold_under_the_default_quotas() {
        let q = Quotas::default();
        let ours = max_waiting(&q, &Design::BEEKEEPER, 600, 0.0);
        assert!(ours >= 2_000_000, "{ours}");
        let original = max_waiting(&q, &Design::ORIGINAL, 600, 0.0);
        assert_eq!(original, 200);
        // Arrivals take from the same API budget.
        assert!(max_waiting(&q, &Design::BEEKEEPER, 600, 1_000.0) < ours);
    }

    #[test]
    fn arrivals_are_bounded_by_the_tightest_quota() {
        let q = Quotas::default();
        assert_eq!(max_arrivals_per_sec(&q, &Design::BEEKEEPER), 5_000.0);
        let slow = Quotas {
            lambda_concurrency: 10.0,
            ..q
        };
        assert_eq!(max_arrivals_per_sec(&slow, &Design::ORIGINAL), 62.5);
    }

    #[test]
    fn a_visitor_costs_less_than_with_fixed_polling() {
        let ours = per_visitor(1800, 600, &Design::BEEKEEPER);
        let original = per_visitor(1800, 600, &Design::ORIGINAL);
        assert_eq!(ours.api_requests, 14.0);
        assert_eq!(original.api_requests, 96.0);
        assert!(ours.dollars(&Prices::US_EAST_1) < original.dollars(&Prices::US_EAST_1) / 3.0);
    }

    #[test]
    fn the_consumers_share_follows_their_batches_and_minutes() {
        let d = Design::BEEKEEPER;
        // 600/min: one consumer receiving 4 at a time; the minute's trigger
        // and consumer read the config once each and the queue depth once.
        let b = per_visitor(1800, 600, &d);
        assert!((b.sqs_requests - (1.0 + 2.0 / 4.0 + 1.0 / 600.0)).abs() < 1e-9);
        assert!((b.lambda_invocations - (1.0 + 2.0 / 600.0)).abs() < 1e-9);
        // 20,000/min: 20 consumers of 1,000, receiving 6 at a time.
        let b = per_visitor(1800, 20_000, &d);
        assert!((b.sqs_requests - (1.0 + 2.0 / 6.0 + 1.0 / 20_000.0)).abs() < 1e-9);
        // A slow room pays for a consumer's minute over few visitors.
        let slow = per_visitor(1800, 10, &d);
        assert!(slow.lambda_gb_secs > 50.0 * b.lambda_gb_secs);
        assert!((slow.sqs_requests - (1.0 + 2.0 + 0.1)).abs() < 1e-9);
    }
}
