//! Times what the producer Lambda does besides its AWS calls, per request:
//! decode the API Gateway event, find the cookie, take the core's decision,
//! build the reply and encode the response; and what the consumer adds to
//! each admission, the pass's signature. Prints p50/p99 over many runs.
//!
//! cargo run --release -p beekeeper-aws --example producer-cost

use beekeeper_core::pass::Passes as _;
use std::time::Instant;

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use beekeeper_aws::producer::{incoming, respond, Incoming};
use beekeeper_core::answer::Admission;
use beekeeper_core::entry::{self, Standing, Step};
use beekeeper_core::pass::{KeyRing, Signer};
use beekeeper_core::{RoomConfig, Token};

const EVENT: &str = include_str!("../tests/fixtures/apigw-get-beekeeper.json");

fn one(cfg: &RoomConfig, signer: &Signer, n: u64) -> usize {
    let req: ApiGatewayProxyRequest = serde_json::from_str(EVENT).unwrap_or_default();
    let Incoming { request, cookie } = incoming(&req);
    let reply = match entry::decide(cfg, cookie, Standing::Unknown, 0, 1_795_363_201, request) {
        Step::Reply(r) => r,
        step => {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&n.to_le_bytes());
            let token = Token::from_random(bytes);
            match step {
                Step::Release(_) => {
                    let a = Admission {
                        admitted_at: 1_795_363_201,
                        expires_at: 1_795_363_201 + cfg.session_secs,
                    };
                    entry::released(cfg, signer, &token, &a, request)
                }
                _ => entry::arrived(cfg, &token, n + 1, request),
            }
        }
    };
    serde_json::to_string(&respond(reply))
        .map(|s| s.len())
        .unwrap_or(0)
}

fn main() {
    let cfg = RoomConfig {
        enabled: true,
        rate_limit: 500,
        rate_current: 500,
        destination: "https://shop.example/sale".into(),
        name: "Sale".into(),
        session_secs: 1800,
        queue_secs: 43200,
        dynamic_throttle: false,
        probe_url: None,
        max_line: beekeeper_core::profile::DEFAULT_MAX_LINE,
    };
    let Ok(signer) = KeyRing::new("https://room.example/live", "sale", [7; 32], 0).signer() else {
        return;
    };
    let signer = &signer;
    for n in 0..10_000 {
        std::hint::black_box(one(&cfg, signer, n));
    }
    let times: Vec<u128> = (0..200_000u64)
        .map(|n| {
            let t = Instant::now();
            std::hint::black_box(one(&cfg, signer, n));
            t.elapsed().as_nanos()
        })
        .collect();
    report("producer handler without AWS calls", "requests", times);
    // What the consumer adds to each admission: the pass, signed.
    let signs: Vec<u128> = (0..50_000u64)
        .map(|n| {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&n.to_le_bytes());
            let token = Token::from_random(bytes);
            let a = Admission {
                admitted_at: 1_795_363_201 + n,
                expires_at: 1_795_363_201 + n + cfg.session_secs,
            };
            let t = Instant::now();
            std::hint::black_box(signer.destination(&cfg, &token, &a));
            t.elapsed().as_nanos()
        })
        .collect();
    report(
        "a pass signed (the consumer, per admission)",
        "passes",
        signs,
    );
}

/// Prints p50, p99 and the maximum of `times` (nanoseconds).
fn report(what: &str, unit: &str, mut times: Vec<u128>) {
    times.sort_unstable();
    let q =
        |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)] as f64 / 1000.0;
    println!(
        "{what}, {} {unit}: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        times.len(),
        q(0.5),
        q(0.99),
        q(1.0)
    );
}
