//! `serve` throughput on this machine: arrivals (`/beekeeper`: a durable
//! enqueue and a 302), polls (`/polling` for a visitor in line, and for an
//! admitted one, whose answer carries its pass, signed once per admission), client checks
//! (`GET /client-check`) and redemptions (`POST`, here of an admission
//! already used: the writer thread's update that finds it so) per second,
//! with p50/p99 latency, measured by wrk next to a hello-world HTTP server
//! (axum on tokio, the same stack as `serve`) in the same run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// Seconds per measurement
    #[arg(long, default_value_t = 10)]
    seconds: u32,
    /// Open connections
    #[arg(long, default_value_t = 64)]
    connections: u32,
}

struct Figures {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Runs wrk and reads its summary (`--latency` percentiles, requests/sec).
fn wrk(url: &str, header: Option<&str>, args: &Args) -> Result<Figures, String> {
    wrk_with(url, header, None, args)
}

/// [`wrk`] with a Lua script (`wrk.method = "POST"`, say).
fn wrk_with(
    url: &str,
    header: Option<&str>,
    script: Option<&Path>,
    args: &Args,
) -> Result<Figures, String> {
    let mut cmd = Command::new("wrk");
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    cmd.args([
        "-t2",
        &format!("-c{}", args.connections),
        &format!("-d{}s", args.seconds),
        "--latency",
    ]);
    if let Some(h) = header {
        cmd.args(["-H", h]);
    }
    let out = cmd
        .arg(url)
        .output()
        .map_err(|e| format!("cannot run wrk ({e}); install it: apt-get install wrk"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let find = |prefix: &str| -> Option<&str> {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1))
    };
    let ms = |v: &str| -> Option<f64> {
        let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
        let n: f64 = num.parse().ok()?;
        Some(match unit {
            "us" => n / 1000.0,
            "ms" => n,
            "s" => n * 1000.0,
            _ => return None,
        })
    };
    if text.contains("Non-2xx or 3xx responses") {
        return Err(format!("{url} answered errors:\n{text}"));
    }
    Ok(Figures {
        rps: find("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no summary from wrk:\n{text}"))?,
        p50_ms: find("50%").and_then(ms).ok_or("no p50")?,
        p99_ms: find("99%").and_then(ms).ok_or("no p99")?,
    })
}

fn hello_world() -> Result<String, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build();
        if let Ok(rt) = rt {
            rt.block_on(async move {
                let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
                if let Ok(l) = tokio::net::TcpListener::from_std(listener) {
                    let _ = axum::serve(l, app).await;
                }
            });
        }
    });
    Ok(format!("http://{addr}/"))
}

/// The release `beekeeper` beside this binary, built first.
pub(crate) fn beekeeper_binary() -> Result<PathBuf, String> {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "-q", "-p", "beekeeper"])
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("cannot build beekeeper".into());
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    Ok(exe.with_file_name("beekeeper"))
}

pub(crate) struct Served(Child);

/// Profile lines for a bench whose crowd comes from one machine.
pub(crate) const NO_LIMIT: &str = "arrivals_per_client = 0\n";

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `beekeeper serve` of a profile admitting `rate` per minute with the
/// profile lines `extra`, its data in `dir`; `minute_ms` shortens the
/// room's minute (BEEKEEPER_MINUTE_MS).
pub(crate) fn serve_room(
    bin: &Path,
    dir: &Path,
    rate: u32,
    extra: &str,
    minute_ms: Option<u64>,
) -> Result<(Served, String), String> {
    let config = dir.join("profiles.toml");
    std::fs::write(
        &config,
        format!("[profiles.bench]\nname = \"Bench\"\nregion = \"us-east-1\"\ndestination = \"https://shop.example/\"\nrate = {rate}\ndynamic_throttle = false\n{extra}"),
    )
    .map_err(|e| e.to_string())?;
    let mut cmd = Command::new(bin);
    if let Some(ms) = minute_ms {
        cmd.env("BEEKEEPER_MINUTE_MS", ms.to_string());
    }
    let mut child = cmd
        .args(["serve", "bench", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .env("BEEKEEPER_CONFIG", &config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let url = line
        .trim()
        .strip_prefix("waiting room:")
        .ok_or(format!("unexpected {line:?}"))?
        .trim()
        .to_string();
    Ok((
        Served(child),
        url.trim_end_matches("/beekeeper").to_string(),
    ))
}

/// A new visitor arrives: their client and the `bk_token=…` pair.
async fn arrive(base: &str) -> Result<(reqwest::Client, String), String> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let r = client
        .get(format!("{base}/beekeeper"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let pair = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .ok_or("no cookie")?
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    Ok((client, pair))
}

/// One visitor who arrived, and is in line (the last of `n` arrivals in a
/// slow room): the cookie header for polls.
fn waiting_cookie(base: &str, n: usize) -> Result<String, String> {
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let mut pair = String::new();
        for _ in 0..n {
            pair = arrive(base).await?.1;
        }
        Ok(format!("Cookie: {pair}"))
    })
}

/// One visitor who arrived and was admitted: the cookie header for polls.
fn admitted_cookie(base: &str) -> Result<String, String> {
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let (client, pair) = arrive(base).await?;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            let poll: serde_json::Value = client
                .get(format!("{base}/polling"))
                .header("cookie", &pair)
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            if poll["allow"] == true {
                return Ok(format!("Cookie: {pair}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("the visitor was never admitted".to_string())
    })
}

pub fn run(args: Args) -> Result<(), String> {
    let bin = beekeeper_binary()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let hello = hello_world()?;
    // wrk's crowd comes from one address: without a per-client limit here,
    // and with one that counts every arrival but never refuses in `limited`.
    let (_served, base) = serve_room(&bin, dir.path(), 100_000, NO_LIMIT, None)?;
    let limited_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (_limited, limited) = serve_room(
        &bin,
        limited_dir.path(),
        100_000,
        &format!("arrivals_per_client = {}\n", u32::MAX),
        None,
    )?;
    let cookie = admitted_cookie(&base)?;
    let token = cookie.rsplit('=').next().unwrap_or_default().to_string();
    // A slow room whose 30th arrival waits for minutes.
    let slow_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (_slow, slow) = serve_room(&bin, slow_dir.path(), 10, NO_LIMIT, None)?;
    let waiting = waiting_cookie(&slow, 30)?;
    let post = dir.path().join("post.lua");
    std::fs::write(&post, "wrk.method = \"POST\"\n").map_err(|e| e.to_string())?;
    let check = format!("{base}/client-check/{token}");
    // Used once here: every redemption the bench makes finds it used.
    reqwest::blocking::Client::new()
        .post(&check)
        .send()
        .map_err(|e| e.to_string())?;
    let rows = [
        ("hello world (baseline)", wrk(&hello, None, &args)?),
        (
            "GET /beekeeper (arrival: durable enqueue + 302)",
            wrk(&format!("{base}/beekeeper"), None, &args)?,
        ),
        (
            "GET /beekeeper (arrival, counted by arrivals_per_client)",
            wrk(&format!("{limited}/beekeeper"), None, &args)?,
        ),
        (
            "GET /polling (visitor in line)",
            wrk(&format!("{slow}/polling"), Some(&waiting), &args)?,
        ),
        (
            "GET /polling (admitted visitor: its pass, signed once)",
            wrk(&format!("{base}/polling"), Some(&cookie), &args)?,
        ),
        (
            "GET /client-check/{token} (a check)",
            wrk(&check, None, &args)?,
        ),
        (
            "POST /client-check/{token} (a redemption, already used)",
            wrk_with(&check, None, Some(&post), &args)?,
        ),
        ("hello world (baseline, again)", wrk(&hello, None, &args)?),
    ];
    let baseline = (rows[0].1.rps + rows[rows.len() - 1].1.rps) / 2.0;
    println!(
        "serve throughput, wrk -t2 -c{} -d{}s, {} cores",
        args.connections,
        args.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| endpoint | requests/s | p50 ms | p99 ms | vs hello world |");
    println!("|---|---:|---:|---:|---:|");
    for (name, f) in &rows {
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2}x |",
            f.rps,
            f.p50_ms,
            f.p99_ms,
            f.rps / baseline
        );
    }
    println!("goals: arrivals >= 0.5x, polls >= 0.9x the hello-world rate");
    Ok(())
}
