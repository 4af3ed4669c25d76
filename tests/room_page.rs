//! The room page: its polling schedule against the core, and the whole
//! visit in headless Chromium (Debian's `chromium` and `chromium-driver`,
//! installed by scripts/test).
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions

use std::process::Command;
use std::time::Duration;

use beekeeper_core::wait::{jittered_ms, poll_interval_secs};
use beekeeper_test_support::browser::Browser;
use beekeeper_test_support::served::{self as common, crowd, workspace_root, Room};
use serde_json::Value;

/// The page's schedule.js gives the same intervals as beekeeper-core.
#[test]
fn page_schedule_matches_the_core() {
    let mut cases = Vec::new();
    for w in [
        0u64, 1, 5, 6, 7, 30, 59, 60, 61, 599, 600, 601, 1800, 3600, 86_400, 604_800,
    ] {
        for e in [
            0u64, 1, 3, 10, 59, 60, 61, 300, 599, 600, 601, 1_000, 5_000, 700_000,
        ] {
            cases.push((w, e));
        }
    }
    let script = format!(
        "const s = require({:?}); const cases = {}; \
         console.log(JSON.stringify(cases.map(([w, e]) => [s.pollIntervalSecs(w, e), s.jitteredMs(w % 97, (e % 10) / 10)])));",
        workspace_root().join("crates/beekeeper-core/assets/schedule.js"),
        serde_json::to_string(&cases).unwrap()
    );
    let out = Command::new("node")
        .args(["-e", &script])
        .output()
        .expect("node is needed to test the room page");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<(u64, u64)> = serde_json::from_slice(&out.stdout).unwrap();
    let want: Vec<(u64, u64)> = cases
        .iter()
        .map(|&(w, e)| {
            (
                poll_interval_secs(w, e),
                jittered_ms(w % 97, (e % 10) as f64 / 10.0),
            )
        })
        .collect();
    assert_eq!(got, want);
}

/// Waiting in line, then admitted and verified at the demo shop, in a real
/// browser; screenshots at phone and desktop sizes.
#[test]
fn a_visitor_waits_in_the_room_and_lands_on_the_destination() {
    let room = Room::demo();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(crowd(&room.base, 40, 8));
    let b = Browser::start();

    b.size(390, 844);
    b.goto(&format!("{}/beekeeper", room.base));
    b.wait_for("the room name", Duration::from_secs(10), |b| {
        b.text("#room-name").as_deref() == Some("Beekeeper demo sale")
    });
    assert!(b
        .current_url()
        .starts_with(&format!("{}/room/index.html?p=", room.base)));
    let position: u64 = b
        .text("#position")
        .unwrap()
        .replace(',', "")
        .parse()
        .unwrap();
    assert!((38..=41).contains(&position), "position {position}");
    let wait = b.text("#wait").unwrap();
    assert!(wait.contains("minute"), "wait {wait:?}");
    b.wait_for("the countdown", Duration::from_secs(5), |b| {
        b.text("#countdown").is_some_and(|t| t.ends_with(" s"))
    });
    let phone = b.screenshot("room-phone.png");
    b.size(1280, 800);
    let desktop = b.screenshot("room-desktop.png");
    println!("screenshots: {} {}", phone.display(), desktop.display());

    // Open the gate: the line empties within a second at the top rate.
    assert!(room.cli(&["set-rate", "demo", "100000"]).status.success());
    assert!(common::wait_until(Duration::from_secs(10), || room
        .count("SELECT count(*) FROM queue")
        == 0));

    // A new visitor (fresh cookie jar) is admitted on the page's own polls
    // and the demo shop verifies the token with the client check.
    b.cmd(reqwest::Method::DELETE, "/cookie", None);
    b.goto(&format!("{}/beekeeper", room.base));
    b.wait_for("the destination", Duration::from_secs(30), |b| {
        b.current_url().contains("/demo/?bk_token=")
    });
    b.wait_for("the verdict", Duration::from_secs(10), |b| {
        b.text("#verdict")
            .is_some_and(|t| t.starts_with("Verified"))
    });
    let url = b.current_url();
    let token = url
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("bk_token="))
        .unwrap()
        .to_string();
    assert!(url.contains("&bk_pass=ey"), "{url}");
    let check: Value = reqwest::blocking::get(format!("{}/client-check/{token}", room.base))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(check["allow"], true);
    b.screenshot("destination-desktop.png");
}

/// With JavaScript off the page still tells the visitor to wait and
/// refresh, and refreshing (through the entry URL) keeps the place in line.
#[test]
fn without_javascript_the_page_says_to_wait_and_refresh() {
    let room = Room::demo();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(crowd(&room.base, 40, 8));
    let b = Browser::with_args(&["--blink-settings=scriptEnabled=false"]);
    b.size(390, 844);
    // Behind everyone still in line (an idle room lets its first arrival
    // straight in).
    let ahead = room.count("SELECT count(*) FROM queue");
    assert!((39..=40).contains(&ahead), "{ahead}");
    b.goto(&format!("{}/beekeeper", room.base));
    let first = b.current_url();
    assert!(
        first.starts_with(&format!("{}/room/index.html?p={}&", room.base, ahead + 1)),
        "{first}"
    );
    let body = b.text("main").unwrap();
    assert!(body.contains("JavaScript is off"), "{body}");
    assert_eq!(b.text("#room-name").as_deref(), Some("Beekeeper demo sale"));
    assert!(
        !body.contains("Your place in line"),
        "figures that cannot update are hidden: {body}"
    );
    assert!(body.contains("refresh this page"), "{body}");
    b.screenshot("room-phone-nojs.png");
    // What the page's refresh does: back through the entry with the cookie.
    b.goto(&format!("{}/beekeeper", room.base));
    assert!(
        b.current_url()
            .starts_with(&format!("{}/room/index.html?p={}&", room.base, ahead + 1)),
        "same place after a refresh"
    );
    assert_eq!(room.count("SELECT count(*) FROM queue"), ahead + 1);
}
