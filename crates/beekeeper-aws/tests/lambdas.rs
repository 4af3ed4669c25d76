//! The real Lambda binaries under `cargo lambda watch` (which implements
//! the Lambda runtime API locally) against moto: the producer queues
//! visitors, the trigger starts a consumer through the Lambda invoke API
//! (its client's endpoint pointed at the emulator), and the consumer admits
//! them into moto's DynamoDB.
#![allow(clippy::unwrap_used)]

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use beekeeper_aws::room;
use beekeeper_core::names::env;
use beekeeper_core::Token;
use serde_json::Value;
use support::*;

struct Watch {
    child: Child,
    url: String,
}

impl Watch {
    fn start(moto: &Moto, vars: &[(&str, String)]) -> Watch {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut cmd = Command::new(tools_bin().join("cargo-lambda"));
        cmd.current_dir(root)
            .args([
                "lambda",
                "watch",
                "--ignore-changes",
                "-P",
                &port.to_string(),
            ])
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    tools_bin().display(),
                    std::env::var("PATH").unwrap()
                ),
            )
            .stdout(Stdio::null())
            .stderr(log(&format!("watch-{port}.log")));
        let all = [
            ("AWS_ENDPOINT_URL", moto.url.clone()),
            ("AWS_ENDPOINT_URL_LAMBDA", url.clone()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ];
        for (k, v) in all.iter().chain(vars) {
            cmd.arg("--env-var").arg(format!("{k}={v}"));
        }
        let child = cmd.spawn().unwrap();
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "cargo lambda watch did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Watch { child, url }
    }
}

/// A log file under the target directory's tmp, named in the output.
fn log(name: &str) -> Stdio {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    println!("cargo lambda watch logs to {}", path.display());
    Stdio::from(std::fs::File::create(path).unwrap())
}

/// Invokes a function synchronously through the Lambda invoke API.
async fn try_invoke(url: &str, function: &str, payload: &Value) -> Result<Value, String> {
    let resp = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .map_err(|e| e.to_string())?
        .post(format!("{url}/2015-03-31/functions/{function}/invocations"))
        .json(payload)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("{function}: {}", resp.status()));
    }
    resp.json().await.map_err(|e| e.to_string())
}

async fn invoke(url: &str, function: &str, payload: &Value) -> Value {
    try_invoke(url, function, payload).await.unwrap()
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_binaries_queue_and_admit_visitors() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let e = create_room(&sdk, "shop", &room_config(600)).await;
    let watch = Watch::start(
        &moto,
        &[
            (env::QUEUE_URL, e.queue_url.clone()),
            (env::TOKENS_TABLE, e.tokens_table.clone()),
            (env::CONFIG_TABLE, e.config_table.clone()),
            (env::CONSUMER_FUNCTION, "consumer".into()),
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
            assert_eq!(r["headers"]["location"], "room/?p=1&w=1");
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
            start.elapsed() < Duration::from_secs(120),
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

/// Epoch seconds as RFC 3339 (UTC), without a date library.
fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil-from-days (proleptic Gregorian), for dates after 1970.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[test]
fn rfc3339_of_known_instants() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(1_795_363_200), "2026-11-22T16:00:00Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
}
