//! The API Gateway mapping templates, rendered by a real Velocity engine
//! (airspeed) with API Gateway's variables, against moto's DynamoDB: the
//! request they build is sent as is, and the answer they render must be the
//! JSON `beekeeper serve` gives for the same state (the core's answers).
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions

use beekeeper_aws::{room, templates};
use beekeeper_core::answer::{Admission, ClientCheck, Poll, Redeemed};
use beekeeper_core::Token;
use beekeeper_test_support::fixtures::*;
use beekeeper_test_support::room::*;
use beekeeper_test_support::vtl::{dynamodb_in, Renderer};
use beekeeper_test_support::*;
use serde_json::{json, Value};

/// Renders with the room's tables as the stage variables.
fn render(
    r: &mut Renderer,
    template: &str,
    params: Value,
    body: Option<&str>,
    now_ms: u64,
) -> String {
    let vars = json!({
        templates::STAGE_VARIABLE_TOKENS_TABLE: TABLE,
        templates::STAGE_VARIABLE_CONFIG_TABLE: CONFIG_TABLE,
    });
    r.render(template, params, body, now_ms, &vars)
}

const TABLE: &str = "beekeeper-shop-tokens";
const CONFIG_TABLE: &str = "beekeeper-shop-config";

async fn call(moto: &Moto, action: &str, body: &str) -> String {
    let (status, answer) = dynamodb_in(moto, "us-east-1", action, body).await;
    assert_eq!(status, 200, "DynamoDB refused {body}: {answer}");
    answer
}

fn parse(rendered: &str) -> Value {
    serde_json::from_str(rendered.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {rendered}"))
}

/// The client check's request must be exactly this, with only a
/// well-formed token or "-".
fn check_request(rendered: &str, key: &str, projection: Value) {
    let mut expected = projection;
    expected["TableName"] = json!(TABLE);
    expected["Key"] = json!({ "token": { "S": key } });
    assert_eq!(parse(rendered), expected, "{rendered}");
}

/// The poll's request must be exactly this: the token (well-formed, or
/// "-") and the room's switch.
fn check_poll_request(rendered: &str, key: &str) {
    let expected = json!({ "RequestItems": {
        TABLE: {
            "Keys": [{ "token": { "S": key } }],
            "ProjectionExpression": "#o,#e",
            "ExpressionAttributeNames": { "#o": "origin", "#e": "expires_at" },
        },
        CONFIG_TABLE: {
            "Keys": [{ "id": { "S": format!("switch-{}", if key == "-" { "0" } else { &key[..1] }) } }],
            "ProjectionExpression": "#n",
            "ExpressionAttributeNames": { "#n": "enabled" },
        },
    }});
    assert_eq!(parse(rendered), expected, "{rendered}");
}

/// The room's signer: the same key signs for serve and in the items.
fn signer() -> beekeeper_core::pass::Signer {
    test_ring("shop").signer().unwrap()
}

struct State {
    env: beekeeper_aws::Env,
    cfg: beekeeper_core::RoomConfig,
    admitted: Token,
    expired: Token,
    now_ms: u64,
}

impl State {
    async fn create(moto: &Moto) -> State {
        let sdk = moto.sdk("us-east-1", true).await;
        let env = create_room(&sdk, "shop", &room_config(60)).await;
        assert_eq!(
            (env.tokens_table.as_str(), env.config_table.as_str()),
            (TABLE, CONFIG_TABLE)
        );
        let ddb = aws_sdk_dynamodb::Client::new(&sdk);
        let cfg = room_config(60);
        let now_ms = now_ms();
        let admitted = Token::from_random([0xa1; 16]);
        let expired = Token::from_random([0xe2; 16]);
        for (t, at) in [
            (admitted, now_ms / 1000 - 10),
            (expired, now_ms / 1000 - cfg.session_secs),
        ] {
            ddb.put_item()
                .table_name(TABLE)
                .set_item(Some(room::admission_item(&cfg, &signer(), &t, at)))
                .send()
                .await
                .unwrap();
        }
        State {
            env,
            cfg,
            admitted,
            expired,
            now_ms,
        }
    }

    fn admission(&self, t: &Token) -> Option<Admission> {
        let now = self.now_ms / 1000;
        if *t == self.admitted {
            Some(Admission {
                admitted_at: now - 10,
                expires_at: now - 10 + self.cfg.session_secs,
            })
        } else if *t == self.expired {
            Some(Admission {
                admitted_at: now - self.cfg.session_secs,
                expires_at: now,
            })
        } else {
            None
        }
    }
}

/// Cookie headers, friendly and hostile, plus a deterministic random mix.
fn cookie_headers(s: &State) -> Vec<String> {
    let (a, e) = (s.admitted.to_string(), s.expired.to_string());
    let unknown = "c".repeat(32);
    let mut v = vec![
        format!("bk_token={a}"),
        format!("bk_token={e}"),
        format!("bk_token={unknown}"),
        format!("theme=dark; bk_token={a}; lang=en"),
        format!("bk_token=junk; bk_token={a}"),
        format!("bk_token={e}; bk_token={a}"),
        format!("bk_token=\"{a}\""),
        format!("  bk_token = {a} ;"),
        format!("\tbk_token={a}"),
        format!("bk_token={}", a.to_uppercase()),
        format!("bk_token={a}x"),
        format!("xbk_token={a}"),
        format!("bk_token={a}\"}}}},\"TableName\":\"other"),
        format!("bk_token=\"}}}},\"TableName\":\"other\",\"x\":\"; bk_token={a}"),
        "bk_token=#set($token = \"zz\")".into(),
        "bk_token=${stageVariables.tokensTable}".into(),
        "bk_token=$token".into(),
        "bk_token={}".into(),
        "bk_token=\\\"".into(),
        "bk_token=".into(),
        "=;=;;=bk_token".into(),
        ";;;".into(),
        "bk_token=\u{e9}\u{e9}\u{e9}".into(),
        format!("bk_token=\u{a0}{a}"),
        format!("bk_token={}", "f".repeat(5000)),
    ];
    // A small deterministic generator mixing cookie syntax and hostile bytes.
    let parts = [
        "bk_token",
        "=",
        ";",
        " ",
        "\"",
        a.as_str(),
        e.as_str(),
        "#",
        "$",
        "{",
        "}",
        "\\",
        "x",
        "bk_token=",
        "'",
        "#set(",
        "0",
    ];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..300 {
        let mut h = String::new();
        for _ in 0..(seed % 9 + 1) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            h.push_str(parts[(seed % parts.len() as u64) as usize]);
        }
        v.push(h);
    }
    v
}

/// With the room on and off, every cookie gets the answer serve gives.
#[tokio::test]
async fn polling_templates_answer_like_serve_and_never_pass_a_bad_token() {
    let moto = Moto::start();
    let mut state = State::create(&moto).await;
    let sdk = moto.sdk("us-east-1", true).await;
    let mut r = Renderer::start();
    let mut headers: Vec<Option<String>> = cookie_headers(&state).into_iter().map(Some).collect();
    headers.push(None);
    let (mut allowed, mut refused, mut entry) = (0, 0, 0);
    for enabled in [true, false] {
        state.cfg.enabled = enabled;
        save_config(&sdk, &state.env, &state.cfg).await;
        for (case, header) in headers.iter().enumerate() {
            // A third of the cases as an HTTP/2 client sends them: lower case.
            let name = if case % 3 == 0 { "cookie" } else { "Cookie" };
            let params = match header {
                Some(h) => json!({ "header": { name: h } }),
                None => json!({ "header": {} }),
            };
            let request = render(
                &mut r,
                templates::POLLING_REQUEST,
                params,
                None,
                state.now_ms,
            );
            let chosen = header.as_deref().and_then(Token::from_cookie_header);
            let key = chosen.map_or("-".to_string(), |t| t.to_string());
            check_poll_request(&request, &key);
            let items = call(&moto, "BatchGetItem", &request).await;
            let answer = render(
                &mut r,
                templates::POLLING_RESPONSE,
                json!({}),
                Some(&items),
                state.now_ms,
            );
            // What serve answers for the same cookie and the same state.
            let serve = Poll::new(
                &state.cfg,
                &signer(),
                chosen.as_ref(),
                chosen.and_then(|t| state.admission(&t)),
                state.now_ms / 1000,
            );
            assert_eq!(
                parse(&answer),
                serde_json::to_value(&serve).unwrap(),
                "cookie {header:?}, enabled {enabled}"
            );
            match serve.origin.as_deref() {
                Some(beekeeper_core::names::ENTRY_FROM_ROOM) => entry += 1,
                Some(_) => allowed += 1,
                None => refused += 1,
            }
        }
    }
    assert!(
        allowed >= 10 && refused >= 100 && entry >= 100,
        "every answer exercised: {allowed} allowed, {refused} refused, {entry} sent to the entry"
    );
}

#[tokio::test]
async fn client_check_templates_answer_like_serve_and_never_pass_a_bad_token() {
    let moto = Moto::start();
    let state = State::create(&moto).await;
    let mut r = Renderer::start();
    let projection = json!({ "ConsistentRead": true, "ProjectionExpression": "#a,#e", "ExpressionAttributeNames": { "#a": "admitted_at", "#e": "expires_at" } });
    let (a, e) = (state.admitted.to_string(), state.expired.to_string());
    let paths = [
        a.clone(),
        e.clone(),
        "d".repeat(32),
        a.to_uppercase(),
        format!("{a}0"),
        a[..31].to_string(),
        format!("{a}\n"),
        format!(" {a}"),
        "-".into(),
        "".into(),
        "\"}},\"TableName\":\"other".into(),
        "#set($token = \"x\")".into(),
        "$token".into(),
        "${stageVariables.tokensTable}".into(),
        "../../etc/passwd".into(),
        "\u{e9}".repeat(32),
        "0".repeat(10_000),
    ];
    for path in paths {
        let request = render(
            &mut r,
            templates::CLIENT_CHECK_REQUEST,
            json!({ "path": { "token": path } }),
            None,
            state.now_ms,
        );
        let chosen = Token::parse(&path);
        check_request(
            &request,
            &chosen.map_or("-".to_string(), |t| t.to_string()),
            projection.clone(),
        );
        let item = call(&moto, "GetItem", &request).await;
        let answer = render(
            &mut r,
            templates::CLIENT_CHECK_RESPONSE,
            json!({}),
            Some(&item),
            state.now_ms,
        );
        let answer: Value = serde_json::from_str(answer.trim())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {answer}"));
        let serve = ClientCheck::new(
            chosen.and_then(|t| state.admission(&t)),
            state.now_ms / 1000,
        );
        assert_eq!(
            answer,
            serde_json::to_value(&serve).unwrap(),
            "path {path:?}"
        );
    }
}

/// Each path redeemed twice: the first redemption of a valid admission is
/// allowed, every later one "used", anything else refused, as serve
/// answers; only a well-formed token reaches DynamoDB.
#[tokio::test]
async fn redemption_templates_answer_like_serve_and_never_pass_a_bad_token() {
    let moto = Moto::start();
    let state = State::create(&moto).await;
    let mut r = Renderer::start();
    let (a, e) = (state.admitted.to_string(), state.expired.to_string());
    let paths = [
        a.clone(),
        e.clone(),
        "d".repeat(32),
        a.to_uppercase(),
        format!("{a}0"),
        format!(" {a}"),
        "-".into(),
        "".into(),
        "\"}},\"TableName\":\"other".into(),
        "#set($token = \"x\")".into(),
        "${stageVariables.tokensTable}".into(),
        "\u{e9}".repeat(32),
    ];
    let mut redeemed = std::collections::HashSet::new();
    let (mut allowed, mut used) = (0, 0);
    for _ in 0..2 {
        for path in &paths {
            let request = render(
                &mut r,
                templates::REDEEM_REQUEST,
                json!({ "path": { "token": path } }),
                None,
                state.now_ms,
            );
            let chosen = Token::parse(path);
            let key = chosen.map_or("-".to_string(), |t| t.to_string());
            let expected = json!({
                "TableName": TABLE,
                "Key": { "token": { "S": key } },
                "UpdateExpression": "SET #r = if_not_exists(#r, :now)",
                "ConditionExpression": "attribute_exists(#k)",
                "ExpressionAttributeNames": { "#r": "redeemed_at", "#k": "token" },
                "ExpressionAttributeValues": { ":now": { "N": (state.now_ms / 1000).to_string() } },
                "ReturnValues": "ALL_OLD",
            });
            assert_eq!(parse(&request), expected, "{request}");
            let (status, body) = dynamodb_in(&moto, "us-east-1", "UpdateItem", &request).await;
            let (template, expect_status) = match status {
                200 => (templates::REDEEM_RESPONSE, None),
                400 => (templates::REDEEM_REFUSED, Some(200)),
                other => panic!("DynamoDB answered {other}: {body}"),
            };
            let vars = json!({ templates::STAGE_VARIABLE_TOKENS_TABLE: TABLE });
            let (answer, set) =
                r.render_status(template, json!({}), Some(&body), state.now_ms, &vars);
            assert_eq!(set, expect_status, "{answer}");
            let admission = chosen.and_then(|t| state.admission(&t));
            let serve = match admission {
                Some(adm) if adm.is_valid(state.now_ms / 1000) => {
                    if redeemed.insert(key.clone()) {
                        Redeemed::First(adm)
                    } else {
                        Redeemed::Used
                    }
                }
                _ => Redeemed::Refused,
            };
            match serve {
                Redeemed::First(_) => allowed += 1,
                Redeemed::Used => used += 1,
                Redeemed::Refused => {}
            }
            assert_eq!(
                parse(&answer),
                serde_json::to_value(ClientCheck::redeemed(serve)).unwrap(),
                "path {path:?}"
            );
        }
    }
    assert_eq!((allowed, used), (1, 1));
    // A DynamoDB failure that is not the condition: a 503, never a refusal.
    let vars = json!({ templates::STAGE_VARIABLE_TOKENS_TABLE: TABLE });
    let throttled = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"slow down"}"#;
    let (answer, set) = r.render_status(
        templates::REDEEM_REFUSED,
        json!({}),
        Some(throttled),
        state.now_ms,
        &vars,
    );
    assert_eq!(
        (set, parse(&answer)),
        (Some(503), json!({"error": "unavailable"}))
    );
}

#[test]
fn the_templates_are_the_files_in_the_repository() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    for (file, text) in [
        ("polling-request.vtl", templates::POLLING_REQUEST),
        ("polling-response.vtl", templates::POLLING_RESPONSE),
        ("client-check-request.vtl", templates::CLIENT_CHECK_REQUEST),
        (
            "client-check-response.vtl",
            templates::CLIENT_CHECK_RESPONSE,
        ),
        ("redeem-request.vtl", templates::REDEEM_REQUEST),
        ("redeem-response.vtl", templates::REDEEM_RESPONSE),
        ("redeem-refused.vtl", templates::REDEEM_REFUSED),
    ] {
        assert_eq!(std::fs::read_to_string(dir.join(file)).unwrap(), text);
    }
}
