//! The real Lambda binaries under `cargo lambda watch` (which implements
//! the Lambda runtime API locally) against moto: the producer queues
//! visitors, the trigger starts a consumer through the Lambda invoke API
//! (its client's endpoint pointed at the emulator), and the consumer admits
//! them into moto's DynamoDB.

use std::time::{Duration, Instant};

use beekeeper_aws::room;
use beekeeper_core::names::env;
use beekeeper_core::Token;
use beekeeper_test_support::fixtures::*;
use beekeeper_test_support::room::*;
use beekeeper_test_support::watch::{invoke, rfc3339, try_invoke, Watch};
use beekeeper_test_support::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_binaries_queue_and_admit_visitors() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1", true).await;
    let e = create_room(&sdk, "shop", &room_config(600)).await;
    let watch = Watch::start(
        &moto,
        "us-east-1",
        None,
        &[
            (env::QUEUE_URL, e.queue_url.clone()),
            (env::TOKENS_TABLE, e.tokens_table.clone()),
            (env::CONFIG_TABLE, e.config_table.clone()),
            (env::CONSUMER_FUNCTION, "consumer".into()),
            (env::PASS_KEYS, e.pass_keys.clone().unwrap()),
        ],
    );

    // The producer, with a real API Gateway proxy event.
    let event: Value = serde_json::from_str(&fixture("apigw-get-beekeeper.json")).unwrap();
    let mut tokens = Vec::new();
    for i in 1..=25u64 {
        let r = invoke(&watch.url, "producer", &event).await;
        assert_eq!(r["statusCode"], 302, "{r}");
        let cookie = r["headers"]["set-cookie"].as_str().unwrap();
        tokens.push(Token::parse(&cookie["bk_token=".len().."bk_token=".len() + 32]).unwrap());
        if i == 1 {
            assert_eq!(r["headers"]["location"], "room/index.html?p=1&w=1");
        }
    }
    assert_eq!(depth(&sdk, &e).await, 25);

    // The trigger, with a scheduled event for the minute starting now; it
    // invokes the consumer through the Lambda API of `cargo lambda watch`.
    let mut scheduled: Value =
        serde_json::from_str(&fixture("eventbridge-scheduled.json")).unwrap();
    let now = std::time::SystemTime::now();
    let secs = now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    scheduled["time"] = Value::String(rfc3339(secs));
    let url = watch.url.clone();
    // `cargo lambda watch` runs Event invokes to completion, so the trigger
    // answers only once its consumer's minute is over; it is not awaited.
    let trigger = tokio::spawn(async move { try_invoke(&url, "trigger", &scheduled).await });

    // 600 per minute is 10 a second: everybody is in within a few seconds.
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let start = Instant::now();
    loop {
        let mut admitted = 0;
        for t in &tokens {
            if room::admission(&ddb, &e.tokens_table, t)
                .await
                .unwrap()
                .is_some()
            {
                admitted += 1;
            }
        }
        if admitted == tokens.len() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "{admitted} of {} admitted",
            tokens.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "25 visitors admitted {:?} after the trigger",
        start.elapsed()
    );
    assert_eq!(depth(&sdk, &e).await, 0);
    trigger.abort();
}

#[test]
fn rfc3339_of_known_instants() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(1_795_363_200), "2026-11-22T16:00:00Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
}
