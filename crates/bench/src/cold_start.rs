//! Cold start of the four Lambda binaries: from exec to their first
//! `GET /2018-06-01/runtime/invocation/next` on a local runtime API, with
//! the environment Lambda gives a function. The baseline, in the same run,
//! is exec-to-exit of `/bin/true`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::get;

#[derive(clap::Args)]
pub struct Args {
    /// Starts per Lambda
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// Where the release binaries are [default: $CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release,
    /// as `scripts/build-lambdas --release` leaves them]
    #[arg(long)]
    bins: Option<PathBuf>,
}

type Seen = Arc<Mutex<Option<Instant>>>;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub fn run(args: Args) -> Result<(), String> {
    let bins = args.bins.unwrap_or_else(|| {
        PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()))
            .join("x86_64-unknown-linux-gnu/release")
    });
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    // The runtime API: records the first `next` and never answers it.
    let seen: Seen = Arc::default();
    let port = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let seen = seen.clone();
        let app = axum::Router::new().route(
            "/2018-06-01/runtime/invocation/next",
            get(move || {
                let seen = seen.clone();
                async move {
                    if let Ok(mut s) = seen.lock() {
                        s.get_or_insert_with(Instant::now);
                    }
                    std::future::pending::<()>().await;
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok::<_, String>(port)
    })?;

    let mut baseline = Vec::new();
    for _ in 0..args.runs {
        let t = Instant::now();
        Command::new("/bin/true")
            .status()
            .map_err(|e| e.to_string())?;
        baseline.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    baseline.sort_by(f64::total_cmp);
    let base = percentile(&baseline, 0.5);
    println!(
        "cold start: exec to the first runtime-API `next`, {} starts each, local runtime API",
        args.runs
    );
    println!("baseline: exec to exit of /bin/true, p50 {base:.2} ms");
    println!();
    println!("| Lambda | p50 ms | p90 ms | max ms | p50 vs baseline | goal |");
    println!("|---|---:|---:|---:|---:|---:|");
    for name in ["producer", "trigger", "consumer", "dynamic-rate-throttle"] {
        let bin = bins.join(name);
        if !bin.exists() {
            return Err(format!(
                "no {} (build the release Lambdas first: scripts/build-lambdas --release)",
                bin.display()
            ));
        }
        let mut times = Vec::new();
        for _ in 0..args.runs {
            if let Ok(mut s) = seen.lock() {
                *s = None;
            }
            let start = Instant::now();
            let mut child = Command::new(&bin)
                .env_clear()
                .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
                .env("AWS_LAMBDA_FUNCTION_NAME", name)
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
                .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
                .env("AWS_REGION", "eu-west-1")
                .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
                .env("AWS_SECRET_ACCESS_KEY", "bench")
                .env("AWS_SESSION_TOKEN", "bench")
                .env(
                    "BEEKEEPER_QUEUE_URL",
                    "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
                )
                .env("BEEKEEPER_TOKENS_TABLE", "tokens")
                .env("BEEKEEPER_CONFIG_TABLE", "config")
                .env("BEEKEEPER_CONSUMER_FUNCTION", "consumer")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
            let at = loop {
                if let Some(at) = seen.lock().ok().and_then(|s| *s) {
                    break at;
                }
                if start.elapsed() > Duration::from_secs(10) {
                    let _ = child.kill();
                    return Err(format!("{name} never asked for an event"));
                }
                std::thread::sleep(Duration::from_micros(200));
            };
            times.push(at.duration_since(start).as_secs_f64() * 1000.0);
            let _ = child.kill();
            let _ = child.wait();
        }
        times.sort_by(f64::total_cmp);
        let p50 = percentile(&times, 0.5);
        println!(
            "| {name} | {p50:.1} | {:.1} | {:.1} | {:.1}× | ≤ 30 |",
            percentile(&times, 0.9),
            times[times.len() - 1],
            p50 / base
        );
    }
    Ok(())
}
