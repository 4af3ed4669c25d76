//! `beekeeper serve` end to end, over real HTTP, against the real binary.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions

use std::collections::HashSet;
use std::io::{Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use beekeeper_test_support::origin::Origin;
use beekeeper_test_support::served::{
    self as common, assert_sent_on, client_address, crowd, wait_until, Room, Visitor,
};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Counts of admissions in every window `[t, t + len)` that starts at an
/// admission time in `[from, to - len]`.
fn windows(times: &[u64], len: u64, from: u64, to: u64) -> Vec<usize> {
    times
        .iter()
        .enumerate()
        .filter(|(_, &t)| t >= from && t + len <= to)
        .map(|(i, &t)| times[i..].iter().take_while(|&&x| x < t + len).count())
        .collect()
}

/// A second `serve` on the data directory of a running room would run a
/// second trigger (twice the rate) over the same line: it refuses to start
/// and names the first, which keeps serving. The directory, which holds
/// every token, is the owner's only.
#[tokio::test]
async fn a_data_directory_serves_one_room_and_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let room = Room::start(600, 60_000);
    let mut v = room.visitor();
    assert_eq!(v.arrive().await.status, 302);

    let mut second = std::process::Command::new(common::bin())
        .args(["serve", "shop", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(room.data_dir())
        .env("BEEKEEPER_CONFIG", room.config())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let refused = wait_until(Duration::from_secs(20), || {
        second.try_wait().unwrap().is_some()
    });
    if !refused {
        second.kill().unwrap();
    }
    let out = second.wait_with_output().unwrap();
    assert!(
        refused,
        "a second server started on the same data directory"
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "is in use by another beekeeper serve (pid {}, {})",
            room.pid(),
            room.base
        )),
        "{err}"
    );
    assert_eq!(v.arrive().await.status, 302, "the first one still serves");

    let mode = |p: std::path::PathBuf| std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(room.data_dir()), 0o700);
    for f in ["room.db", "room.db-wal", "serve.lock"] {
        assert_eq!(mode(room.data_dir().join(f)), 0o600, "{f}");
    }
}

/// The most admitted in any window of `len` ms (starting at an admission).
fn peak(times: &[u64], len: u64) -> usize {
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|&&x| x < times[i] + len)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// The common case: the room is idle, then the email goes out and a crowd
/// (more than a minute's worth, each visitor from a loopback address of
/// its own) arrives some way into one of the room's minutes. Read from the
/// room's own admission times: no sliding 5 seconds above ⌈1.2 R/12⌉, no
/// sliding minute above R + max(1, ⌈R/100⌉), and the first visitor is in
/// within a couple of seconds. The minute is 12 s, as below, so the
/// windows are 1 s and 12 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crowd_into_an_idle_room_stays_within_every_sliding_window() {
    const MINUTE: u64 = 12_000;
    for rate in [60usize, 600, 6_000] {
        let room = Room::start_in_memory(rate as u32, MINUTE);
        // Idle until 5/12 of a minute and a bit: mid-minute, off any tick.
        tokio::time::sleep(Duration::from_millis(MINUTE * 5 / 12 + 130)).await;
        let n = rate * 13 / 10 + 20;
        let arrived = now_ms();
        crowd(&room.base, n, 32).await;
        let drained = wait_until(Duration::from_secs(60), || {
            room.count("SELECT count(*) FROM queue") == 0
        });
        assert!(drained, "rate {rate}: the line never emptied");
        let times = room.admission_times();
        assert_eq!(times.len(), n, "rate {rate}: everybody admitted once");
        let (five, minute) = (peak(&times, MINUTE / 12), peak(&times, MINUTE));
        let (five_bound, minute_bound) = ((rate * 12).div_ceil(120), rate + rate.div_ceil(100));
        println!(
            "rate {rate}: {n} visitors, most in any sliding 5 s {five} (bound {five_bound}), \
             in any sliding minute {minute} (bound {minute_bound}), first admitted {} ms after the crowd began",
            times[0].saturating_sub(arrived)
        );
        assert!(five <= five_bound, "rate {rate}: 5 s {five} > {five_bound}");
        assert!(
            minute <= minute_bound,
            "rate {rate}: minute {minute} > {minute_bound}"
        );
        assert!(
            minute * 100 >= rate * 99,
            "rate {rate}: a full minute admits the rate ({minute})"
        );
        // A couple of real seconds, scaled to the 12-second minute.
        assert!(
            times[0] < arrived + 2_000 * MINUTE / 60_000 + 200,
            "rate {rate}: the first visitor waited {} ms",
            times[0] - arrived
        );
    }
}

/// The room's minute is shortened to 12 s: 600 admits per minute with a
/// backlog of 2,000 visitors. A slot is then 20 ms and 1% of a minute
/// 120 ms, five times less than in production, so the database lives in
/// memory: an fsync that a busy disk holds for 150 ms (seen on shared CI
/// disks) is 0.25% of a real minute but 1.25% of this one. On disk and
/// in real minutes: `bench accuracy --on serve --minute-ms 60000`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backlog_is_admitted_at_the_rate_evenly_and_exactly() {
    const RATE: usize = 600;
    const MINUTE: u64 = 12_000;
    const VISITORS: usize = 2_000;
    let room = Room::start_in_memory(RATE as u32, MINUTE);
    let mut visitors = crowd(&room.base, VISITORS, 32).await;
    let backlog_from = now_ms();
    assert_eq!(
        visitors
            .iter()
            .map(|v| v.token().to_string())
            .collect::<HashSet<_>>()
            .len(),
        VISITORS,
        "every arrival gets a token of its own"
    );

    // The last visitor is still in line: not allowed, not verified, and
    // coming back with the cookie keeps the same place.
    let last = visitors.last_mut().unwrap();
    assert_eq!(last.poll().await, serde_json::json!({ "allow": false }));
    let token = last.token().to_string();
    assert_eq!(
        last.client_check(&token).await,
        serde_json::json!({ "allow": false })
    );
    let depth = room.count("SELECT count(*) FROM queue");
    let again = last.arrive().await;
    assert_eq!(again.status, 302);
    assert!(again.set_cookie.is_none(), "no second place in line");
    assert!(again.location.unwrap().starts_with("room/index.html?p="));
    assert!(room.count("SELECT count(*) FROM queue") <= depth);
    assert_eq!(last.token(), token);

    let drained = wait_until(Duration::from_secs(90), || {
        room.count("SELECT count(*) FROM queue") == 0
    });
    assert!(drained, "the line never emptied");
    let times = room.admission_times();
    assert_eq!(times.len(), VISITORS, "everybody admitted exactly once");
    let backlog_to = *times.last().unwrap();

    // Accuracy: every minute-long window during the backlog admits R ± 1%.
    let per_minute = windows(&times, MINUTE, backlog_from, backlog_to);
    assert!(
        per_minute.len() > 1000,
        "too few windows: {}",
        per_minute.len()
    );
    let (lo, hi) = (
        *per_minute.iter().min().unwrap(),
        *per_minute.iter().max().unwrap(),
    );
    // The longest pause between admissions during the backlog: a stall
    // of the room shows here (a window ending inside it misses its slots).
    let (gap, gap_at) = times
        .windows(2)
        .filter(|w| w[0] >= backlog_from)
        .map(|w| (w[1] - w[0], w[0] - backlog_from))
        .max()
        .unwrap_or((0, 0));
    println!(
        "admitted per minute ({} sliding windows): min {lo}, max {hi}, rate {RATE}; longest pause {gap} ms, {gap_at} ms into the backlog",
        per_minute.len()
    );
    assert!(
        lo * 100 >= RATE * 99 && hi * 100 <= RATE * 101,
        "per minute {lo}..{hi}, rate {RATE}"
    );

    // Smoothness: no 5-second window above 1.2 × R / 12.
    let five = windows(&times, MINUTE / 12, times[0], backlog_to);
    let peak = *five.iter().max().unwrap();
    println!("peak 5-second window: {peak} (R/12 = {})", RATE / 12);
    assert!(
        peak * 12 * 10 <= 12 * RATE,
        "peak {peak} > 1.2 × {}",
        RATE / 12
    );

    // Every visitor is now let through, to the destination with its token,
    // and the origin's client check agrees.
    for v in visitors.iter_mut().step_by(7) {
        let token = v.token().to_string();
        let poll = v.poll().await;
        assert_eq!(poll["allow"], true);
        assert_sent_on(poll["origin"].as_str(), &token);
        let check = v.client_check(&token).await;
        assert_eq!(check["allow"], true);
        let (at, until) = (
            check["admittedAt"].as_u64().unwrap(),
            check["expiresAt"].as_u64().unwrap(),
        );
        assert_eq!(until - at, 30 * 60, "session length of the profile");
        // An admitted visitor who comes back goes straight through.
        let back = v.arrive().await;
        assert_sent_on(back.location.as_deref(), &token);
    }
}

/// Every room command's `--json` is one camelCase document on one line,
/// the same shape whichever command or room (README documents it; the
/// AWS room's are pinned in tests/deploy.rs).
#[test]
fn every_command_answers_one_camel_case_json_line() {
    // Keys in order whatever serde_json's features (a dev-dependency may
    // turn on preserve_order for the whole test build).
    let mut settings = insta::Settings::clone_current();
    settings.set_sort_maps(true);
    let _sorted = settings.bind_to_scope();
    let room = Room::start(600, 60_000);
    let json = |args: &[&str]| -> serde_json::Value {
        let out = room.cli(args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.lines().count(), 1, "one line: {text}");
        let doc = serde_json::from_str(&text).unwrap();
        common::assert_camel_case(&doc, &[]);
        doc
    };
    let init = json(&[
        "init",
        "other",
        "--name",
        "Other Sale",
        "--destination",
        "https://other.example/",
        "--rate",
        "100",
        "--dynamic-throttle",
        "--region",
        "eu-west-1",
        "--json",
    ]);
    insta::assert_json_snapshot!("json_init", init, { ".profilesFile" => "[file]" });
    insta::assert_json_snapshot!("json_config_one", json(&["config", "other", "--json"]));
    let all = json(&["config", "--json"]);
    assert!(all["profiles"][1]["served"]["url"]
        .as_str()
        .unwrap()
        .starts_with(&room.base));
    insta::assert_json_snapshot!("json_config_all", all, {
        ".file" => "[file]",
        ".profiles[].served.url" => "[url]",
        ".profiles[].served.clientCheck" => "[url]",
    });
    let status = json(&["status", "shop", "--json"]);
    assert_eq!(status["url"], format!("{}/beekeeper", room.base));
    assert_eq!(
        status["clientCheck"],
        format!("{}/client-check/{{token}}", room.base)
    );
    insta::assert_json_snapshot!("json_status_serve", status, {
        ".url" => "[url]",
        ".clientCheck" => "[url]",
    });
    insta::assert_json_snapshot!("json_off", json(&["off", "shop", "--json"]));
    insta::assert_json_snapshot!("json_on", json(&["on", "shop", "--json"]));
    insta::assert_json_snapshot!(
        "json_set_rate",
        json(&["set-rate", "shop", "250", "--json"])
    );

    // serve itself: its first line, while it runs.
    let data = tempfile::tempdir().unwrap();
    let mut serve = std::process::Command::new(common::bin())
        .args([
            "serve",
            "other",
            "--listen",
            "127.0.0.1:0",
            "--json",
            "--data-dir",
        ])
        .arg(data.path())
        .env("BEEKEEPER_CONFIG", room.config())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(serve.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    serve.kill().unwrap();
    serve.wait().unwrap();
    let doc: serde_json::Value = serde_json::from_str(&first).unwrap();
    common::assert_camel_case(&doc, &[]);
    insta::assert_json_snapshot!("json_serve", doc, {
        ".url" => "[url]", ".clientCheck" => "[url]", ".dataDir" => "[dir]",
    });
}

#[tokio::test]
async fn off_releases_the_line_and_on_restores_it() {
    let room = Room::start(10, 60_000);
    let mut waiting = crowd(&room.base, 20, 4).await;
    let out = room.cli(&["off", "shop"]);
    assert!(out.status.success());
    let started = std::time::Instant::now();
    // Within 2 seconds a new arrival goes straight to the destination,
    // with a token of their own that the origin's check accepts...
    loop {
        let mut v = Visitor::new(&room.base);
        let a = v.arrive().await;
        if a.location
            .as_deref()
            .is_some_and(|l| l.starts_with("https://"))
        {
            let token = v.token().to_string();
            assert_sent_on(a.location.as_deref(), &token);
            assert_eq!(v.client_check(&token).await["allow"], true);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "off took effect too late"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // ...and everybody in line is sent back to the entry at their next
    // poll, which lets them through with their own token: an admission the
    // origin can check. Nobody in line is admitted in the background.
    // An idle room let its first arrival straight in, before the switch:
    // they are not waiting.
    let db = room.db();
    let mut st = db.prepare("SELECT token FROM admitted").unwrap();
    let before_off: HashSet<String> = st
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    waiting.retain(|v| !before_off.contains(v.token()));
    assert!(waiting.len() >= 19, "{}", waiting.len());
    let admitted = room.count("SELECT COUNT(*) FROM admitted");
    for v in &mut waiting {
        let token = v.token().to_string();
        let poll = v.poll().await;
        assert_eq!(
            poll,
            serde_json::json!({"allow": true, "origin": "../beekeeper"}),
            "{token}"
        );
        let a = v.arrive().await;
        assert_sent_on(a.location.as_deref(), &token);
        assert_eq!(v.client_check(&token).await["allow"], true);
    }
    assert_eq!(
        room.count("SELECT COUNT(*) FROM admitted"),
        admitted + waiting.len() as u64
    );
    assert!(room.cli(&["on", "shop"]).status.success());
    let started = std::time::Instant::now();
    loop {
        let a = Visitor::new(&room.base).arrive().await;
        if a.location
            .as_deref()
            .is_some_and(|l| l.starts_with("room/"))
        {
            assert!(a.set_cookie.is_some());
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "on took effect too late"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // set-rate reaches the room and the profile.
    assert!(room.cli(&["set-rate", "shop", "250"]).status.success());
    let status = room.cli(&["status", "shop", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["rateLimit"], 250);
    assert_eq!(status["enabled"], true);
    assert!(status["queueDepth"].as_u64().unwrap() >= 1);
    let config = room.cli(&["config", "shop", "--json"]);
    let config: serde_json::Value = serde_json::from_slice(&config.stdout).unwrap();
    assert_eq!(config["settings"]["rate"], 250);
}

/// Visitors arrive while the server is killed with SIGKILL: everybody who
/// got a cookie is still in line or admitted after a restart, nobody twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_loses_no_acknowledged_arrival() {
    let mut room = Room::start(3000, 6_000);
    let base = room.base.clone();
    let arrivals: Vec<_> = (0..600)
        .map(|i| {
            let base = base.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(i as u64 * 2)).await;
                let client = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap();
                let resp = client.get(format!("{base}/beekeeper")).send().await.ok()?;
                let cookie = resp.headers().get("set-cookie")?.to_str().ok()?.to_string();
                Some(
                    cookie
                        .split(';')
                        .next()?
                        .trim_start_matches("bk_token=")
                        .to_string(),
                )
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(600)).await;
    room.kill9();
    let mut acked = Vec::new();
    for a in arrivals {
        if let Some(t) = a.await.unwrap() {
            acked.push(t);
        }
    }
    assert!(
        acked.len() > 50 && acked.len() < 600,
        "the kill must land mid-crowd: {} acked",
        acked.len()
    );

    let state = |room: &Room| {
        let db = room.db();
        let set = |sql: &str| -> HashSet<String> {
            let mut st = db.prepare(sql).unwrap();
            st.query_map([], |r| r.get(0))
                .unwrap()
                .map(|r| r.unwrap())
                .collect()
        };
        (
            set("SELECT token FROM queue"),
            set("SELECT token FROM admitted"),
        )
    };
    let (queued, admitted) = state(&room);
    assert!(
        queued.is_disjoint(&admitted),
        "a visitor both in line and admitted"
    );
    for t in &acked {
        assert!(
            queued.contains(t) || admitted.contains(t),
            "acknowledged arrival {t} lost"
        );
    }

    room.serve();
    let all = queued.len() + admitted.len();
    let drained = wait_until(Duration::from_secs(30), || {
        room.count("SELECT count(*) FROM queue") == 0
    });
    assert!(drained);
    let (queued, admitted) = state(&room);
    assert!(queued.is_empty());
    assert_eq!(
        admitted.len(),
        all,
        "admitted once each, nobody twice or lost"
    );
    let mut v = room.visitor();
    for t in acked.iter().step_by(10) {
        assert_eq!(v.client_check(t).await["allow"], true);
    }
}

#[tokio::test]
async fn client_check_refuses_unknown_malformed_and_expired_tokens() {
    let mut room = Room::start(10, 60_000);
    let now = now_ms() / 1000;
    let (valid, expired, unknown) = ("a".repeat(32), "b".repeat(32), "c".repeat(32));
    room.db()
        .execute(
            "INSERT INTO admitted (token, admitted_ms, expires_ms) VALUES (?1, ?2, ?3), (?4, ?2, ?5)",
            rusqlite::params![valid, (now - 100) as i64 * 1000, (now + 100) as i64 * 1000, expired, (now as i64 - 1) * 1000],
        )
        .unwrap();
    // The server answers from its mirror of the tables, loaded at start:
    // a restart reads the rows written behind its back.
    room.kill9();
    room.serve();
    let mut v = room.visitor();
    assert_eq!(v.client_check(&valid).await["allow"], true);
    for t in [
        expired.as_str(),
        unknown.as_str(),
        "AAAA",
        "a",
        &"a".repeat(33),
        "a%20b",
        "%27%22%7B%7D",
    ] {
        assert_eq!(
            v.client_check(t).await,
            serde_json::json!({ "allow": false }),
            "{t}"
        );
    }
    v.cookie = Some(expired.clone());
    assert_eq!(v.poll().await, serde_json::json!({ "allow": false }));
    v.cookie = Some(valid.clone());
    assert_eq!(v.poll().await["allow"], true);
}

/// Sends raw bytes and returns the status code of the answer (0 when the
/// server closed the connection without one).
fn raw(base: &str, request: &[u8]) -> u16 {
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(request);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let head = String::from_utf8_lossy(&buf);
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The cookie's `Secure` flag follows where the room listens and the
/// profile, never a header the client sends.
#[test]
fn the_cookie_is_secure_as_the_room_is_set_up_not_as_the_client_claims() {
    let arrive = |room: &Room, headers: &str| {
        let req = format!("GET /beekeeper HTTP/1.1\r\n{headers}Connection: close\r\n\r\n");
        let addr = room.base.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        let cookie = answer
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
            .unwrap_or_else(|| panic!("no cookie: {answer}"))
            .to_string();
        cookie.contains("; Secure")
    };
    let claims = [
        "Host: 127.0.0.1\r\n",
        "Host: shop.example\r\n",
        "Host: shop.example\r\nX-Forwarded-Proto: https\r\n",
    ];
    let room = Room::start(10, 60_000);
    for h in claims {
        assert!(
            !arrive(&room, h),
            "listening on 127.0.0.1: not Secure ({h:?})"
        );
    }
    let profile =
        "name = \"Sale\"\nregion = \"us-east-1\"\ndestination = \"https://shop.example/\"\n\
                   rate = 10\ndynamic_throttle = false\nsecure_cookie = true\n";
    let proxied = Room::with_profile(profile, 60_000);
    for h in claims {
        assert!(arrive(&proxied, h), "secure_cookie = true: Secure ({h:?})");
    }
}

/// Slow clients hold nothing for long: a machine holds at most
/// `CONNECTIONS_PER_CLIENT` connections (beyond, closed at once), headers
/// not sent within `HEADER_READ_TIMEOUT` close the connection, visitors
/// from other addresses are served meanwhile, and SIGTERM ends the room
/// within 10 s whatever the slow clients do.
#[test]
fn slow_clients_are_cut_off_and_never_hold_the_room() {
    use beekeeper_local::{CONNECTIONS_PER_CLIENT, HEADER_READ_TIMEOUT};
    let mut room = Room::start(10, 60_000);
    let addr: std::net::SocketAddr = room.base.trim_start_matches("http://").parse().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let connect_from = |local: std::net::SocketAddr| {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(local).unwrap();
        let s = rt
            .block_on(socket.connect(addr))
            .unwrap()
            .into_std()
            .unwrap();
        s.set_nonblocking(false).unwrap();
        s
    };
    // Four attacking machines, each opening more than it may hold, each
    // connection sending half a request.
    let per_machine = CONNECTIONS_PER_CLIENT + 40;
    let mut held = Vec::new();
    for m in 0..4u8 {
        let local = std::net::SocketAddr::from(([127, 0, 9, 1 + m], 0));
        for _ in 0..per_machine {
            let mut s = connect_from(local);
            let _ = s.write_all(b"GET /beekeeper HTTP/1.1\r\nHost: shop\r\n");
            held.push(s);
        }
    }
    let opened = std::time::Instant::now();
    // A visitor from elsewhere is served at once.
    let ok = raw(
        &room.base,
        b"GET /beekeeper HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(ok, 302);
    // Whether the room has closed a connection (EOF or reset) by now,
    // without waiting.
    let closed = |mut s: &std::net::TcpStream| {
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 64];
        match s.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
        }
    };
    std::thread::sleep(Duration::from_millis(500));
    let shed = held.iter().filter(|s| closed(s)).count();
    assert_eq!(
        shed,
        4 * 40,
        "beyond its share, a machine's connections are closed at once"
    );
    // All of them are gone once the headers are late.
    std::thread::sleep(
        HEADER_READ_TIMEOUT.saturating_sub(opened.elapsed()) + Duration::from_secs(2),
    );
    let still = held.iter().filter(|s| !closed(s)).count();
    assert_eq!(still, 0, "connections outlived the header timeout");
    drop(held);

    // SIGTERM while slow clients hold connections (half a request each,
    // and one that never reads its answer).
    let mut slow: Vec<std::net::TcpStream> = (0..20)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            let _ = s.write_all(b"GET /room/index.html HTTP/1.1\r\nHost: x\r\n");
            s
        })
        .collect();
    let mut reader = std::net::TcpStream::connect(addr).unwrap();
    let _ = reader.write_all(b"GET /room/index.html HTTP/1.1\r\nHost: x\r\n\r\n");
    slow.push(reader);
    std::thread::sleep(Duration::from_millis(300));
    let took = room.terminate(Duration::from_secs(10));
    assert!(took.is_some(), "still running 10 s after SIGTERM");
    println!("exited {took:?} after SIGTERM");
}

#[test]
fn hostile_input_gets_a_4xx_or_a_normal_answer() {
    let room = Room::start(10, 60_000);
    let get = |target: &str, headers: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{headers}\r\n")
            .into_bytes()
    };
    let many_cookies: String = (0..500).map(|i| format!("c{i}=v{i}; ")).collect();
    let huge = "x".repeat(200_000);
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("traversal".into(), get("/room/../../Cargo.toml", "")),
        ("encoded traversal".into(), get("/room/..%2f..%2fCargo.toml", "")),
        ("double encoded".into(), get("/room/%252e%252e%252fCargo.toml", "")),
        ("nul".into(), get("/room/index.html%00.js", "")),
        ("deep".into(), get("/room/a/b/c/index.html", "")),
        ("many cookies".into(), get("/polling", &format!("Cookie: {many_cookies}bk_token={}\r\n", "d".repeat(32)))),
        ("huge cookie".into(), get("/beekeeper", &format!("Cookie: bk_token={}\r\n", "e".repeat(8000)))),
        ("injection cookie".into(), get("/polling", "Cookie: bk_token=\"'; DROP TABLE admitted;--\r\n")),
        ("duplicate cookies".into(), get("/beekeeper", &format!("Cookie: bk_token=x\r\nCookie: bk_token={}\r\n", "f".repeat(32)))),
        ("absurd query".into(), get(&format!("/beekeeper?{}", "a=%zz&".repeat(2000)), "")),
        ("bad percent".into(), get("/client-check/%ff%fe", "")),
        ("sql in path".into(), get("/client-check/'%3B%20DROP%20TABLE%20queue%3B--", "")),
        ("long token".into(), get(&format!("/client-check/{}", "a".repeat(10_000)), "")),
        ("huge header".into(), get("/polling", &format!("X-Big: {huge}\r\n"))),
        ("weird accept".into(), get("/beekeeper", "Accept: application/json;;;q=\u{0}\r\n")),
        ("post".into(), b"POST /beekeeper HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc".to_vec()),
        ("garbage".into(), b"\x00\x01\x02 nonsense\r\n\r\n".to_vec()),
    ];
    let mut non_utf8 = b"GET /polling HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: bk_token=\xff\xfe\xfd\r\n\r\n".to_vec();
    cases.push(("non-utf8 cookie".into(), std::mem::take(&mut non_utf8)));
    cases.push((
        "non-utf8 path".into(),
        b"GET /client-check/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
    ));
    for (name, req) in &cases {
        let status = raw(&room.base, req);
        println!("{name}: {status}");
        assert!(status < 500, "{name}: {status}");
    }
    // Path traversal never reaches a file.
    assert_eq!(raw(&room.base, &get("/room/../../Cargo.toml", "")), 404);
    // The server is still up and its tables intact.
    assert_eq!(raw(&room.base, &get("/healthz", "")), 200);
    assert_eq!(room.count("SELECT count(*) FROM admitted"), 0);
}

/// The throttle in `serve`, with the room's minute shortened to 1.2 s:
/// it cuts the rate when the origin fails, raises it back when it recovers,
/// and `set-rate` takes over at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_throttle_protects_a_failing_origin_and_yields_to_set_rate() {
    let origin = Origin::start().await;
    let probe_url = &origin.url;
    let room = Room::with_profile(
        &format!(
            "name = \"Sale\"\nregion = \"us-east-1\"\ndestination = \"https://shop.example/\"\nrate = 500\n\
             dynamic_throttle = true\nprobe_url = \"{probe_url}\"\n"
        ),
        1_200,
    );
    let status_json = || -> serde_json::Value {
        serde_json::from_slice(&room.cli(&["status", "shop", "--json"]).stdout).unwrap()
    };
    let wait_for = |what: &str, secs: u64, f: &dyn Fn(&serde_json::Value) -> bool| {
        let ok = wait_until(Duration::from_secs(secs), || f(&status_json()));
        assert!(ok, "{what}: {}", status_json());
    };
    wait_for("a first decision", 10, &|s| {
        s["throttle"]["lastVerdict"].is_string()
    });
    assert_eq!(status_json()["rateCurrent"], 500);

    origin.answer(503);
    wait_for("a cut", 10, &|s| s["rateCurrent"].as_u64().unwrap() < 500);
    assert_eq!(status_json()["throttle"]["lastVerdict"], "failing");
    let text = String::from_utf8(room.cli(&["status", "shop"]).stdout).unwrap();
    assert!(
        text.contains("throttle:              on, last minute Failing"),
        "{text}"
    );

    origin.answer(200);
    let cut = status_json()["rateCurrent"].as_u64().unwrap();
    wait_for("a recovery", 30, &|s| {
        s["rateCurrent"].as_u64().unwrap() > cut
    });

    assert!(room.cli(&["set-rate", "shop", "100"]).status.success());
    let s = status_json();
    assert_eq!(
        (s["rateLimit"].as_u64(), s["rateCurrent"].as_u64()),
        (Some(100), Some(100))
    );
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            status_json()["rateCurrent"].as_u64().unwrap() <= 100,
            "never above the limit"
        );
    }
}

/// A profile at 10 a minute with `extra` lines, for a room whose minute is
/// an hour long: it admits its first arrival and then nobody while a test
/// counts places.
fn entry_profile(extra: &str) -> String {
    format!(
        "name = \"Sale\"\nregion = \"us-east-1\"\ndestination = \"https://shop.example/\"\n\
         rate = 10\ndynamic_throttle = false\n{extra}"
    )
}

/// Places taken so far: in line or admitted.
fn places(room: &Room) -> u64 {
    room.count("SELECT COUNT(*) FROM queue") + room.count("SELECT COUNT(*) FROM admitted")
}

/// DESIGN §7 over HTTP, each client from a loopback address of its own:
/// a sub-resource request or another site's script takes no place; one
/// client dropping its cookie takes `arrivals_per_client` places and gets
/// `429` with `Retry-After` after, while 40 others all get theirs; a
/// trusted proxy's `X-Forwarded-For` names the client, anybody else's is
/// ignored.
#[tokio::test]
async fn only_navigations_take_places_and_each_client_only_its_share() {
    let room = Room::with_profile(
        &entry_profile("arrivals_per_client = 5\ntrusted_proxies = [\"127.0.9.9\"]\n"),
        3_600_000,
    );
    let mut page = Visitor::from_address(&room.base, client_address(0));
    let image = [
        ("sec-fetch-dest", "image"),
        ("sec-fetch-mode", "no-cors"),
        ("sec-fetch-site", "cross-site"),
    ];
    let foreign_script = [
        ("sec-fetch-dest", "empty"),
        ("sec-fetch-mode", "cors"),
        ("sec-fetch-site", "cross-site"),
        ("accept", "application/json"),
    ];
    for headers in [&image[..], &foreign_script[..]] {
        let a = page.get_with("/beekeeper", headers).await;
        assert_eq!(
            (a.status, a.set_cookie.as_deref()),
            (403, None),
            "{headers:?}"
        );
    }
    assert_eq!(places(&room), 0, "a sub-resource took a place");
    let navigation = [
        ("sec-fetch-dest", "document"),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-site", "cross-site"),
    ];
    let bot = client_address(1);
    let (mut placed, mut limited) = (0, 0);
    for _ in 0..60 {
        // A fresh cookie jar each time: the bot drops its cookie.
        let a = Visitor::from_address(&room.base, bot)
            .get_with("/beekeeper", &navigation)
            .await;
        match a.status {
            302 if a.set_cookie.is_some() => placed += 1,
            429 => {
                let secs: u64 = a.retry_after.as_deref().unwrap_or("").parse().unwrap();
                assert!((1..=60).contains(&secs), "Retry-After {secs}");
                assert!(a.set_cookie.is_none() && a.body.contains("Too many"));
                limited += 1;
            }
            s => panic!("{s}: {}", a.body),
        }
    }
    assert_eq!((placed, limited), (5, 55));
    for i in 0..40 {
        let a = Visitor::from_address(&room.base, client_address(10 + i))
            .arrive()
            .await;
        assert!(
            a.status == 302 && a.set_cookie.is_some(),
            "client {i}: {}",
            a.status
        );
    }
    assert_eq!(places(&room), 45);
    // Behind the trusted proxy each client counts on its own; from any
    // other peer the header changes nothing.
    let proxy = std::net::Ipv4Addr::new(127, 0, 9, 9);
    for client in ["127.0.4.1", "127.0.4.2"] {
        let statuses: Vec<u16> = arrivals_via(&room.base, proxy, client, 6).await;
        assert_eq!(statuses, [302, 302, 302, 302, 302, 429], "{client}");
    }
    let untrusted = std::net::Ipv4Addr::new(127, 0, 5, 5);
    let mut statuses = Vec::new();
    for i in 0..6 {
        let spoofed = format!("127.0.6.{i}");
        statuses.extend(arrivals_via(&room.base, untrusted, &spoofed, 1).await);
    }
    assert_eq!(statuses, [302, 302, 302, 302, 302, 429]);
    assert_eq!(places(&room), 60);
}

/// `n` arrivals one after another from `peer`, each saying it forwards
/// for `client`; their statuses.
async fn arrivals_via(base: &str, peer: std::net::Ipv4Addr, client: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        let a = Visitor::from_address(base, peer)
            .get_with("/beekeeper", &[("x-forwarded-for", client)])
            .await;
        out.push(a.status);
    }
    out
}

/// `max_line = 30`: 40 visitors racing for places get 30 between them
/// (and the one the idle room let straight in), the others `503` with
/// `Retry-After` and a page that says the room is full, and nobody in line
/// loses their place.
#[tokio::test]
async fn a_full_line_takes_nobody_else_and_keeps_everyone_in_it() {
    let room = Room::with_profile(
        &entry_profile("arrivals_per_client = 0\nmax_line = 30\n"),
        3_600_000,
    );
    let arrivals = (0..40).map(|i| {
        let base = room.base.clone();
        tokio::spawn(async move {
            let mut v = Visitor::from_address(&base, client_address(i));
            let a = v.arrive().await;
            (v, a)
        })
    });
    let (mut placed, mut full) = (Vec::new(), 0);
    for a in arrivals {
        let (v, a) = a.await.unwrap();
        match a.status {
            302 => placed.push(v),
            503 => {
                assert_eq!(a.retry_after.as_deref(), Some("60"));
                assert!(a.content_type.unwrap_or_default().starts_with("text/html"));
                assert!(a.body.contains("The waiting room is full") && a.set_cookie.is_none());
                full += 1;
            }
            s => panic!("{s}: {}", a.body),
        }
    }
    let admitted = room.count("SELECT COUNT(*) FROM admitted");
    assert!(admitted <= 1, "{admitted} admitted in an hour-long minute");
    assert_eq!(room.count("SELECT COUNT(*) FROM queue"), 30);
    assert_eq!(
        (placed.len() as u64, full),
        (30 + admitted, 10 - admitted as usize)
    );
    // An app hears the same in JSON.
    let a = Visitor::from_address(&room.base, client_address(100))
        .get_with("/beekeeper", &[("accept", "application/json")])
        .await;
    let body: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!((a.status, body["error"].as_str()), (503, Some("full")));
    // Everyone placed still holds their place.
    for mut v in placed {
        let again = v.arrive().await;
        assert_eq!(again.status, 302, "{}", again.body);
        assert!(again.set_cookie.is_none(), "a second place");
    }
    assert_eq!(room.count("SELECT COUNT(*) FROM queue"), 30);
}
