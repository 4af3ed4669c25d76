//! What an origin does with an admitted visitor, done as README prints it:
//! the pass verified offline with PyJWT, `jose` and `jsonwebtoken` against
//! the room's JWKS, and the admission redeemed once with curl, against a
//! served room. Each snippet is a file under `docs/origin/` that README
//! holds verbatim, so the docs cannot drift from what is run here.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use beekeeper_core::pass::{Claims, KeyRing};
use beekeeper_test_support::served::{Room, Visitor};
use beekeeper_test_support::verifiers::{jose, pyjwt, snippet};

#[path = "../docs/origin/verify.rs"]
mod verify;

/// The destination a visitor is sent to, once admitted: (token, pass).
async fn admitted(v: &mut Visitor) -> (String, String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let poll = v.poll().await;
        if poll["allow"] == true {
            let origin = poll["origin"].as_str().unwrap().to_string();
            return destination_params(&origin);
        }
        assert!(std::time::Instant::now() < deadline, "never admitted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn destination_params(url: &str) -> (String, String) {
    let url = url::Url::parse(url).unwrap();
    assert_eq!(url.origin().ascii_serialization(), "https://shop.example");
    let get = |k: &str| {
        url.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.to_string())
            .unwrap_or_else(|| panic!("{k} missing from {url}"))
    };
    (get("bk_token"), get("bk_pass"))
}

/// jsonwebtoken's verdict, through docs/origin/verify.rs.
async fn rust(room: &str, cases: &[(&str, &str)]) -> Vec<bool> {
    let keys: jsonwebtoken::jwk::JwkSet = reqwest::get(format!("{room}/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    cases
        .iter()
        .map(|(t, p)| verify::admitted(room, &keys, t, p))
        .collect()
}

/// docs/origin/redeem.sh's answer for `token`.
fn redeem(room: &str, token: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("redeem.sh");
    std::fs::write(&script, snippet("redeem.sh")).unwrap();
    let out = Command::new("sh")
        .arg(&script)
        .env("BEEKEEPER_ROOM", room)
        .env("BK_TOKEN", token)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn ring(data_dir: &Path) -> KeyRing {
    KeyRing::from_json(&std::fs::read_to_string(data_dir.join("pass-keys.json")).unwrap()).unwrap()
}

fn claims(pass: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = pass.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn kid(pass: &str) -> String {
    use base64::Engine as _;
    let header = pass.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let h: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    h["kid"].as_str().unwrap().to_string()
}

/// The same verdicts from the three libraries.
async fn all_three(room: &str, cases: &[(&str, &str)]) -> Vec<bool> {
    let py = pyjwt(room, cases);
    assert_eq!(jose(room, cases), py, "jose and PyJWT disagree");
    assert_eq!(
        rust(room, cases).await,
        py,
        "jsonwebtoken and PyJWT disagree"
    );
    py
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_verifies_the_pass_offline_and_redeems_it_once_as_readme_shows() {
    let room = Room::start(600, 6_000);
    let base = room.base.clone();
    // The page the visitor waits on sends no referrer to where it leads.
    let page = reqwest::get(format!("{base}/room/index.html"))
        .await
        .unwrap();
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let mut v = room.visitor();
    v.arrive().await;
    let (token, pass) = admitted(&mut v).await;
    assert_eq!(token, v.token());
    let c = claims(&pass);
    assert_eq!(
        (c["iss"].as_str(), c["sub"].as_str(), c["room"].as_str()),
        (Some(base.as_str()), Some(token.as_str()), Some("shop"))
    );
    let (iat, exp) = (c["iat"].as_u64().unwrap(), c["exp"].as_u64().unwrap());
    assert!(exp > iat && exp - iat <= 600, "{c}");

    // Tampered: the claims of another token under the same signature.
    let other = "0".repeat(32);
    let (h, rest) = pass.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let forged_claims = {
        use base64::Engine as _;
        let mut forged = c.clone();
        forged["sub"] = other.clone().into();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged.to_string())
    };
    let tampered = format!("{h}.{forged_claims}.{sig}");
    // Expired: signed with the room's own key, ten minutes ago.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expired = ring(&room.data_dir()).signer().unwrap().sign(&Claims {
        iss: base.clone(),
        sub: token.clone(),
        iat: now - 700,
        exp: now - 100,
        room: "shop".into(),
    });
    let cases = [
        (token.as_str(), pass.as_str()),
        (other.as_str(), tampered.as_str()),
        (token.as_str(), expired.as_str()),
        // A valid pass, presented with another visitor's token.
        (other.as_str(), pass.as_str()),
        (token.as_str(), "not.a.pass"),
    ];
    assert_eq!(
        all_three(&base, &cases).await,
        [true, false, false, false, false]
    );

    // Redeemed once, as README shows; looking does not redeem.
    assert_eq!(v.client_check(&token).await["allow"], true);
    let first = redeem(&base, &token);
    assert_eq!(first["allow"], true, "{first}");
    assert_eq!(
        first["expiresAt"],
        v.client_check(&token).await["expiresAt"]
    );
    assert_eq!(
        redeem(&base, &token),
        serde_json::json!({"allow": false, "reason": "used"})
    );
    assert_eq!(redeem(&base, &other), serde_json::json!({"allow": false}));

    // A rotated key signs new passes; the old pass still verifies.
    let old_kid = kid(&pass);
    let out = room.cli(&["rotate-key", "shop", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rotated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(rotated["signing"], old_kid.as_str());
    assert_eq!(rotated["published"][0], old_kid.as_str());
    let mut w = Visitor::new(&base);
    tokio::time::sleep(Duration::from_millis(600)).await;
    w.arrive().await;
    let (token2, pass2) = admitted(&mut w).await;
    assert_eq!(kid(&pass2), rotated["signing"].as_str().unwrap());
    let cases = [
        (token.as_str(), pass.as_str()),
        (token2.as_str(), pass2.as_str()),
    ];
    assert_eq!(all_three(&base, &cases).await, [true, true]);
    // The key file never left the data directory's owner.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(room.data_dir().join("pass-keys.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// Fifty redemptions of one admission at once: exactly one is allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_fifty_concurrent_redemptions_exactly_one_is_allowed() {
    let room = Room::start(600, 6_000);
    let mut v = room.visitor();
    v.arrive().await;
    let (token, _) = admitted(&mut v).await;
    let http = reqwest::Client::new();
    let url = format!("{}/client-check/{token}", room.base);
    let answers = futures::future::join_all((0..50).map(|_| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let r = http.post(&url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<serde_json::Value>().await.unwrap()
        }
    }))
    .await;
    let allowed = answers.iter().filter(|a| a["allow"] == true).count();
    let used = answers.iter().filter(|a| a["reason"] == "used").count();
    assert_eq!((allowed, used), (1, 49), "{answers:?}");
}

/// Off: a visitor arriving and one already waiting both reach the
/// destination with a pass that verifies and redeems.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_lets_everyone_through_with_a_pass_that_verifies_and_redeems() {
    // Ten a minute in a ten-minute minute: the first visitor takes the
    // slot kept in hand, the second waits a minute for the next.
    let room = Room::start(10, 600_000);
    let base = room.base.clone();
    let mut first = Visitor::new(&base);
    first.arrive().await;
    admitted(&mut first).await;
    let mut waiting = Visitor::new(&base);
    waiting.arrive().await;
    assert_eq!(waiting.poll().await["allow"], false);
    let out = room.cli(&["off", "shop"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    // The waiting visitor's page is sent back to the entry, which lets them through.
    let poll = waiting.poll().await;
    assert_eq!(poll["origin"], beekeeper_core::names::ENTRY_FROM_ROOM);
    let through = waiting.arrive().await;
    assert_eq!(through.status, 302);
    let (t1, p1) = destination_params(through.location.as_deref().unwrap());
    assert_eq!(t1, waiting.token());
    let mut arriving = Visitor::new(&base);
    let through = arriving.arrive().await;
    let (t2, p2) = destination_params(through.location.as_deref().unwrap());
    let cases = [(t1.as_str(), p1.as_str()), (t2.as_str(), p2.as_str())];
    assert_eq!(all_three(&base, &cases).await, [true, true]);
    for t in [&t1, &t2] {
        assert_eq!(redeem(&base, t)["allow"], true);
    }
}
