//! The capacity and cost model (`beekeeper_core::capacity`), for beekeeper
//! and for the original design, under AWS's default quotas.

use beekeeper_deploy::capacity::{
    max_arrivals_per_sec, max_waiting, per_visitor, polls_for_wait, Design, Prices, Quotas,
};

#[derive(clap::Args)]
pub struct Args {
    /// Admits per minute
    #[arg(long, default_value_t = 600)]
    rate: u32,
    /// Wait of the visitor whose bill is shown, in minutes
    #[arg(long, default_value_t = 30)]
    wait_minutes: u64,
}

pub fn run(args: Args) -> Result<(), String> {
    let q = Quotas::default();
    let wait = args.wait_minutes * 60;
    println!(
        "capacity model: default quotas (API Gateway {} rps, Lambda concurrency {}, S3 {} GET/s per prefix, DynamoDB {} reads/s per table)",
        q.api_rps, q.lambda_concurrency, q.s3_get_rps, q.ddb_reads_per_sec
    );
    println!(
        "admitting {} per minute; bill of a visitor who waits {} minutes\n",
        args.rate, args.wait_minutes
    );
    println!("| | beekeeper | original design |");
    println!("|---|---:|---:|");
    let (ours, orig) = (Design::BEEKEEPER, Design::ORIGINAL);
    let row = |name: &str, a: String, b: String| println!("| {name} | {a} | {b} |");
    row("polling", "adaptive, 3 s–5 min".into(), "every 20 s".into());
    row(
        "producer time per arrival",
        format!("{} ms", ours.producer_ms),
        format!("{} ms", orig.producer_ms),
    );
    row(
        "max arrivals per second",
        format!("{:.0}", max_arrivals_per_sec(&q, &ours)),
        format!("{:.0}", max_arrivals_per_sec(&q, &orig)),
    );
    row(
        "max visitors waiting",
        format!("{}", max_waiting(&q, &ours, args.rate, 0.0)),
        format!("{}", max_waiting(&q, &orig, args.rate, 0.0)),
    );
    row(
        "polls per visitor",
        polls_for_wait(wait, ours.polling).to_string(),
        polls_for_wait(wait, orig.polling).to_string(),
    );
    let (a, b) = (
        per_visitor(wait, args.rate, &ours),
        per_visitor(wait, args.rate, &orig),
    );
    row(
        "API Gateway requests per admitted visitor",
        format!("{:.0}", a.api_requests),
        format!("{:.0}", b.api_requests),
    );
    row(
        "SQS requests per admitted visitor",
        format!("{:.2}", a.sqs_requests),
        format!("{:.2}", b.sqs_requests),
    );
    row(
        "all billed requests per admitted visitor",
        format!("{:.1}", a.requests()),
        format!("{:.1}", b.requests()),
    );
    row(
        "US$ per 1,000 admitted visitors",
        format!("{:.3}", 1000.0 * a.dollars(&Prices::US_EAST_1)),
        format!("{:.3}", 1000.0 * b.dollars(&Prices::US_EAST_1)),
    );
    Ok(())
}
