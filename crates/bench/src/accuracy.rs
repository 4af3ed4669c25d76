//! Admission accuracy and smoothness of `beekeeper serve` with a backlog,
//! for rates from 10 to 20,000 a minute, next to the original beekeeper's
//! policy reimplemented here: every minute, ⌈R/1000⌉ consumers each take up
//! to 100 batches of 10 as fast as they can and stop at the first empty
//! receive.
//!
//! For `serve`, the room's minute is shortened (BEEKEEPER_MINUTE_MS, as
//! the accuracy test does) so that several minutes of backlog fit in a
//! short run; the rate, the pacing and the windows all scale with it. The
//! AWS data plane (see `data_plane`) runs against moto in real minutes: its
//! schedule is EventBridge's.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::serve::{beekeeper_binary, serve_room, NO_LIMIT};
use crate::{data_plane, moto};

/// The baseline's consumers, and the share of its ceiling a measured rate
/// may take: past it, the figures would be moto's, not the room's.
const CEILING_WORKERS: usize = 4;
const CEILING_SHARE: f64 = 0.8;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Room {
    /// `beekeeper serve`, minute shortened
    Serve,
    /// The trigger and consumers against moto, in real minutes
    Aws,
}

/// How the visitors arrive.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Pattern {
    /// A line from the start that outlasts the run
    Backlog,
    /// An idle room, then a crowd of 1.3 R + 20 arriving 5/12 into a minute
    Crowd,
}

#[derive(clap::Args)]
pub struct Args {
    /// Which rooms to measure
    #[arg(long, value_delimiter = ',', default_values = ["serve", "aws"])]
    on: Vec<Room>,
    /// Arrival patterns to measure (the crowd on serve only)
    #[arg(long, value_delimiter = ',', default_values = ["backlog", "crowd"])]
    patterns: Vec<Pattern>,
    /// Rates (admits per minute) to measure
    #[arg(long, value_delimiter = ',', default_values_t = [10, 15, 60, 500, 3300, 20000])]
    rates: Vec<u32>,
    /// Length of `serve`'s minute, in milliseconds
    #[arg(long, default_value_t = 12_000)]
    minute_ms: u64,
    /// Minutes of backlog per rate
    #[arg(long, default_value_t = 3)]
    minutes: u32,
}

/// Admissions in each window of `len` starting at an admission, over the
/// admissions from `from` to `to` (sliding, two pointers).
fn windows(times: &[u64], len: u64, from: u64, to: u64) -> Vec<usize> {
    let mut out = Vec::new();
    let mut j = 0;
    for (i, &t) in times.iter().enumerate() {
        if t < from || t + len > to {
            continue;
        }
        j = j.max(i);
        while j < times.len() && times[j] < t + len {
            j += 1;
        }
        out.push(j - i);
    }
    out
}

pub struct Figures {
    /// Admitted in each consecutive minute from the first admission.
    minutes: Vec<usize>,
    /// Fewest and most in any minute-long window starting at an admission.
    sliding: (usize, usize),
    peak5: usize,
}

/// Admissions in consecutive windows of `len` from `from`, whole windows up to `to`.
fn consecutive(times: &[u64], len: u64, from: u64, to: u64) -> Vec<usize> {
    (0..)
        .map(|k| from + k * len)
        .take_while(|start| start + len <= to)
        .map(|start| {
            times
                .iter()
                .filter(|&&t| t >= start && t < start + len)
                .count()
        })
        .collect()
}

fn report(rate: u32, name: &str, f: &Figures) -> String {
    let r = f64::from(rate);
    let err = |n: usize| (n as f64 - r) / r * 100.0;
    let lo = f.minutes.iter().copied().min().unwrap_or(0);
    let hi = f.minutes.iter().copied().max().unwrap_or(0);
    // The 5-second bound in whole visitors, as the core's property tests use it.
    let bound = (1.2 * r / 12.0).ceil() as usize;
    format!(
        "| {rate} | {name} | {lo}–{hi} | {:+.1}% … {:+.1}% | {}–{} | {} | {bound} |",
        err(lo),
        err(hi),
        f.sliding.0,
        f.sliding.1,
        f.peak5,
    )
}

/// The original policy with a backlog that outlasts the run: each minute
/// its consumers admit ⌈R/1000⌉ × 1000 (they never meet an empty receive),
/// all at once from the start of the minute, one batch of 10 every
/// `batch_ms` of a real minute (scaled like the room's minute). Times in µs.
fn original(rate: u32, minute_ms: u64, minutes: u32, batch_ms: u64) -> Figures {
    let consumers = rate.div_ceil(1000) as u64;
    let minute = minute_ms * 1000;
    let batch = batch_ms * 1000 * minute_ms / 60_000;
    let mut times = Vec::new();
    for m in 0..u64::from(minutes) {
        for _ in 0..consumers {
            for b in 0..100u64 {
                times.extend(std::iter::repeat_n(m * minute + b * batch, 10));
            }
        }
    }
    times.sort_unstable();
    figures(&times, minute, 0, u64::from(minutes) * minute)
}

/// The figures of sorted admission times over `[from, to)`: whole minutes
/// from `from`, minute-long and 5-second windows starting at each admission.
pub fn figures(times: &[u64], minute: u64, from: u64, to: u64) -> Figures {
    let sliding = windows(times, minute, from, to);
    let five = windows(times, minute / 12, from, to);
    Figures {
        minutes: consecutive(times, minute, from, to),
        sliding: (
            sliding.iter().copied().min().unwrap_or(0),
            sliding.iter().copied().max().unwrap_or(0),
        ),
        peak5: five.into_iter().max().unwrap_or(0),
    }
}

/// `n` arrivals, 64 at a time, spread over 64 clients each sending from a
/// loopback address of its own (127.0.1.1 to 127.0.1.64).
async fn arrive(base: &str, n: usize) -> Result<(), String> {
    let clients = (1..=64u8)
        .map(|i| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .local_address(std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 1, i)))
                .build()
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let sem = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let client = clients[i % clients.len()].clone();
        let (sem, url) = (sem.clone(), format!("{base}/beekeeper"));
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await.map_err(|e| e.to_string())?;
            let r = client.get(url).send().await.map_err(|e| e.to_string())?;
            if r.status() != 302 {
                return Err(format!("arrival answered {}", r.status()));
            }
            Ok::<_, String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

fn admissions(dir: &Path) -> Result<Vec<u64>, String> {
    let db = rusqlite::Connection::open(dir.join("data/room.db")).map_err(|e| e.to_string())?;
    db.busy_timeout(Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    let mut st = db
        .prepare("SELECT admitted_ms FROM admitted ORDER BY admitted_ms")
        .map_err(|e| e.to_string())?;
    let rows = st
        .query_map([], |r| r.get::<_, i64>(0))
        .map_err(|e| e.to_string())?;
    rows.map(|r| r.map(|t| t as u64).map_err(|e| e.to_string()))
        .collect()
}

fn queued(dir: &Path) -> Result<u64, String> {
    let db = rusqlite::Connection::open(dir.join("data/room.db")).map_err(|e| e.to_string())?;
    db.busy_timeout(Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    db.query_row("SELECT count(*) FROM queue", [], |r| r.get::<_, i64>(0))
        .map(|n| n as u64)
        .map_err(|e| e.to_string())
}

fn measure_serve(bin: &Path, rate: u32, args: &Args) -> Result<Figures, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (_served, base) = serve_room(bin, dir.path(), rate, NO_LIMIT, Some(args.minute_ms))?;
    // More than `minutes` minutes of backlog, so the line never runs dry
    // inside the measured windows.
    let visitors = (rate as usize) * (args.minutes as usize + 1);
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(arrive(&base, visitors))?;
    let run = Duration::from_millis(args.minute_ms * u64::from(args.minutes));
    let started = std::time::Instant::now();
    while started.elapsed() < run + Duration::from_millis(args.minute_ms / 2) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let left = queued(dir.path())?;
    if left == 0 {
        return Err(format!("the backlog ran dry at rate {rate}"));
    }
    let times = admissions(dir.path())?;
    let (from, to) = match (times.first(), times.last()) {
        (Some(&a), Some(&b)) => (a, b),
        _ => return Err(format!("nobody admitted at rate {rate}")),
    };
    Ok(figures(&times, args.minute_ms, from, to))
}

/// Sliding 5-second and minute-long windows, each starting at an
/// admission, over every admission: (most in 5 s, most in a minute).
fn peaks(times: &[u64], minute: u64) -> (usize, usize) {
    let end = times.last().map_or(0, |&t| t + minute);
    let most = |len| windows(times, len, 0, end).into_iter().max().unwrap_or(0);
    (most(minute / 12), most(minute))
}

/// Visitors in the crowd for rate `rate`: more than a minute's worth.
fn crowd_size(rate: u32) -> usize {
    rate as usize * 13 / 10 + 20
}

/// Where the crowd arrives: 5/12 into one of the room's minutes, off any tick.
fn crowd_offset(minute_ms: u64) -> u64 {
    minute_ms * 5 / 12 + 130
}

/// The original policy with the crowd: nothing happens until the next
/// minute, whose consumers take up to ⌈R/1000⌉ × 1000 of it at once, a
/// batch of 10 every `batch_ms` (scaled); the rest the minutes after.
/// Times in µs.
fn original_crowd(rate: u32, minute_ms: u64, batch_ms: u64) -> (usize, usize) {
    let per_minute = rate.div_ceil(1000) as usize * 1000;
    let minute = minute_ms * 1000;
    let batch = batch_ms * 1000 * minute_ms / 60_000;
    let mut left = crowd_size(rate);
    let mut times = Vec::new();
    let mut m = 1;
    while left > 0 {
        let take = left.min(per_minute);
        // The consumers work side by side, each 100 batches of 10.
        times.extend((0..take).map(|i| m * minute + (i as u64 % 1000 / 10) * batch));
        left -= take;
        m += 1;
    }
    peaks(&times, minute)
}

/// serve, idle until the crowd arrives from 64 loopback client addresses;
/// measured until the line is empty. Times in ms.
fn measure_serve_crowd(bin: &Path, rate: u32, args: &Args) -> Result<(usize, usize, u64), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (_served, base) = serve_room(bin, dir.path(), rate, NO_LIMIT, Some(args.minute_ms))?;
    std::thread::sleep(Duration::from_millis(crowd_offset(args.minute_ms)));
    let n = crowd_size(rate);
    let arrived = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_millis() as u64;
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(arrive(&base, n))?;
    // The crowd drains in 1.3 minutes; allow three.
    let started = std::time::Instant::now();
    while queued(dir.path())? > 0 {
        if started.elapsed() > Duration::from_millis(3 * args.minute_ms) {
            return Err(format!("the crowd did not drain at rate {rate}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let times = admissions(dir.path())?;
    if times.len() != n {
        return Err(format!("{} of {n} admitted at rate {rate}", times.len()));
    }
    let (five, minute) = peaks(&times, args.minute_ms);
    Ok((five, minute, times[0].saturating_sub(arrived)))
}

/// The crowd's figures for one rate, as a table row per policy.
fn crowd_rows(
    bin: Option<&Path>,
    moto: Option<(&str, &Path, &tokio::runtime::Runtime)>,
    rate: u32,
    args: &Args,
) -> Result<Vec<String>, String> {
    let (b5, b60) = (
        (u64::from(rate) * 12).div_ceil(120),
        u64::from(rate) + u64::from(rate).div_ceil(100).max(1),
    );
    let mut rows = Vec::new();
    if let Some(bin) = bin {
        let (five, minute, first) = measure_serve_crowd(bin, rate, args)?;
        rows.push(format!(
            "| {rate} | beekeeper serve | {five} | {b5} | {minute} | {b60} | {:.2} s |",
            first as f64 * 60.0 / args.minute_ms as f64 / 1000.0
        ));
    }
    if let Some((url, artifacts, rt)) = moto {
        // Real minutes: the crowd 5/12 into the first, which the trigger
        // found idle and ran the minute's first consumer for.
        let n = u64::from(rate) * 13 / 10 + 20;
        let arrivals = data_plane::Arrivals::Crowd {
            n,
            offset_ms: crowd_offset(60_000),
        };
        let m = rt.block_on(data_plane::measure(url, artifacts, rate, 4, arrivals))?;
        if m.admitted != n {
            return Err(format!(
                "AWS crowd at {rate}: {} of {n} admitted",
                m.admitted
            ));
        }
        rows.push(format!(
            "| {rate} | beekeeper on AWS (moto) | {} | {b5} | {} | {b60} | {:.2} s |",
            m.figures.peak5,
            m.figures.sliding.1,
            m.first_wait_ms.unwrap_or(0) as f64 / 1000.0
        ));
    }
    let (five, minute) = original_crowd(rate, args.minute_ms, 20);
    let wait = 60.0 - crowd_offset(args.minute_ms) as f64 * 60.0 / args.minute_ms as f64;
    rows.push(format!(
        "| {rate} | original | {five} | {b5} | {minute} | {b60} | {wait:.2} s |"
    ));
    Ok(rows)
}

pub fn run(args: Args) -> Result<(), String> {
    let serve = args.on.contains(&Room::Serve);
    let aws = args.on.contains(&Room::Aws);
    let bin = if serve {
        Some(beekeeper_binary()?)
    } else {
        None
    };
    let moto = if aws { Some(moto::start()?) } else { None };
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let artifacts = moto::artifacts(None, scratch.path())?.0;
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    if args.patterns.contains(&Pattern::Crowd) {
        println!(
            "a crowd of 1.3 R + 20 into an idle room, arriving 5/12 of a minute in; serve's minute shortened to {} ms, windows and times scaled to a real minute",
            args.minute_ms
        );
        println!();
        println!("| R per minute | policy | most in any sliding 5 s | bound ⌈1.2·R/12⌉ | most in any sliding minute | bound R + ⌈R/100⌉ | first admission after the crowd began |");
        println!("|---:|---|---:|---:|---:|---:|---:|");
        for &rate in &args.rates {
            let on_aws = moto
                .as_ref()
                .map(|(_, url)| (url.as_str(), artifacts.as_path(), &rt));
            for row in crowd_rows(bin.as_deref(), on_aws, rate, &args)? {
                println!("{row}");
            }
        }
        println!();
    }
    if !args.patterns.contains(&Pattern::Backlog) {
        return Ok(());
    }
    println!(
        "admission accuracy with a backlog, {} minutes a rate",
        args.minutes
    );
    if serve {
        println!(
            "- beekeeper serve: minute shortened to {} ms, windows scaled with it",
            args.minute_ms
        );
    }
    if aws {
        println!("- beekeeper on AWS: the deployed room in moto on 127.0.0.1, the trigger's real minutes, its consumers in this process; counted in the trigger's minutes");
    }
    let ceiling = match &moto {
        Some((_, url)) => {
            let c = rt.block_on(data_plane::ceiling(
                url,
                &artifacts,
                CEILING_WORKERS,
                15,
                1200,
            ))?;
            println!("- moto's ceiling on this machine (the baseline): {c:.0} admissions a minute, {CEILING_WORKERS} consumers receiving, writing and deleting batches of 10 as fast as they can for 15 s; rates above {:.0}% of it are not measured on AWS", CEILING_SHARE * 100.0);
            c
        }
        None => 0.0,
    };
    println!("- the original policy reimplemented: ⌈R/1000⌉ consumers of 100 batches of 10 from the start of each minute, a batch every 20 ms");
    println!();
    println!("| R per minute | policy | admitted per minute | vs R | any minute-long window | peak 5-s window | bound ⌈1.2·R/12⌉ |");
    println!("|---:|---|---:|---:|---:|---:|---:|");
    let mut calls = Vec::new();
    for &rate in &args.rates {
        if let Some(bin) = &bin {
            let ours = measure_serve(bin, rate, &args)?;
            println!("{}", report(rate, "beekeeper serve", &ours));
        }
        if let Some((_, url)) = &moto {
            if f64::from(rate) > CEILING_SHARE * ceiling {
                println!("| {rate} | beekeeper on AWS (moto) | not measured: above moto's ceiling | | | | |");
            } else {
                let m = rt.block_on(data_plane::measure(
                    url,
                    &artifacts,
                    rate,
                    args.minutes,
                    data_plane::Arrivals::Backlog,
                ))?;
                println!("{}", report(rate, "beekeeper on AWS (moto)", &m.figures));
                calls.push(data_plane::calls_row(rate, &m));
            }
        }
        let theirs = original(rate, args.minute_ms, args.minutes, 20);
        println!("{}", report(rate, "original", &theirs));
    }
    println!();
    println!("goals: admitted per minute within ±1% of R; peak 5-s window ≤ 1.2 × R/12");
    if !calls.is_empty() {
        println!();
        println!("AWS requests per admitted visitor, sent by the consumers (every attempt, as billed) and the trigger");
        println!();
        println!("| R per minute | admitted | duplicates | empty receives | still in line | consumer runs | ReceiveMessage | DeleteMessageBatch | PutItem | GetItem | consumer total | trigger calls a minute | all, per visitor |");
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for row in calls {
            println!("{row}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_windows_count_what_falls_in_them() {
        let times = [0, 10, 20, 30, 100];
        assert_eq!(windows(&times, 25, 0, 100), vec![3, 3, 2, 1]);
        assert_eq!(windows(&times, 200, 0, 300), vec![5, 4, 3, 2, 1]);
    }

    #[test]
    fn the_original_policy_lets_a_crowd_in_at_the_next_minute_at_once() {
        // 780 + 20 visitors at 600 a minute: all 800 within 2 s.
        assert_eq!(original_crowd(600, 60_000, 20), (800, 800));
        // 26,020 at 20,000 a minute: 20,000 at once, the rest a minute later.
        assert_eq!(original_crowd(20_000, 60_000, 20), (20_000, 20_000));
    }

    #[test]
    fn the_original_policy_rounds_up_to_thousands_and_bursts() {
        let f = original(500, 60_000, 3, 20);
        assert_eq!(f.minutes, vec![1000, 1000, 1000]);
        // All 1,000 in the first 2 seconds of the minute.
        assert_eq!(f.peak5, 1000);
        // The same with the minute shortened: batches scale with it.
        assert_eq!(original(500, 12_000, 3, 20).peak5, 1000);
        let f = original(3300, 60_000, 2, 20);
        assert_eq!(f.minutes, vec![4000, 4000]);
    }
}
