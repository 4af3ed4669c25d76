//! `beekeeper deploy`, the room commands and `destroy` through the binary,
//! against moto on 127.0.0.1; `--dry-run` against a listener that records
//! every connection.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions

use beekeeper_test_support::moto;

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use beekeeper_test_support::served::{self as common, bin};
use serde_json::Value;

fn run(config: &Path, endpoint: &str, args: &[&str]) -> Output {
    common::command(config)
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn init(cfg: &Path, throttle: bool) {
    let out = run(
        cfg,
        "http://127.0.0.1:9",
        &[
            "init",
            "sale",
            "--name",
            "Big Sale",
            "--region",
            "eu-west-1",
            "--destination",
            "https://shop.example/sale",
            "--rate",
            "600",
            if throttle {
                "--dynamic-throttle"
            } else {
                "--no-dynamic-throttle"
            },
            "--yes",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn dry_run_calls_nothing_and_prints_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("profiles.toml");
    init(&cfg, true);
    // Anything that connects is counted.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = conn.read(&mut [0u8; 1024]);
        }
    });
    let out = run(&cfg, &endpoint, &["deploy", "sale", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    insta::assert_snapshot!("deploy_dry_run", plan);
    let out = run(&cfg, &endpoint, &["deploy", "sale", "--dry-run", "--json"]);
    assert!(out.status.success());
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Keys inside these are data: AWS's own names, variables, templates.
    common::assert_camel_case(
        &plan,
        &[
            "tags",
            "policy",
            "trust",
            "attributes",
            "environment",
            "stageVariables",
            "methodParams",
            "requestParams",
            "requestTemplates",
            "params",
            "templates",
        ],
    );
    assert_eq!(plan["functions"].as_array().unwrap().len(), 4);
    assert_eq!(plan["account"], "<account>");
    // Every route with the integration deploy writes, templates included.
    let routes = plan["api"]["routes"].as_array().unwrap();
    assert_eq!(routes.len(), 7);
    for r in routes {
        let uri = r["gateway"]["uri"].as_str().unwrap();
        assert!(uri.starts_with("arn:aws:apigateway:eu-west-1:"), "{r}");
    }
    let poll = routes.iter().find(|r| r["path"] == "/polling").unwrap();
    assert_eq!(poll["gateway"]["kind"], "AWS");
    let template = &poll["gateway"]["requestTemplates"]["application/json"];
    assert!(
        template.as_str().unwrap().contains("RequestItems"),
        "{poll}"
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(seen.load(Ordering::SeqCst), 0, "a dry run connected to AWS");
    // Nothing was recorded as deployed either.
    assert!(!std::fs::read_to_string(dir.path().join("state.toml"))
        .unwrap_or_default()
        .contains("deploy"));
}

#[test]
fn deploy_then_run_the_room_then_destroy_through_the_cli() {
    // Keys in order whatever serde_json's features (a dev-dependency may
    // turn on preserve_order for the whole test build).
    let mut settings = insta::Settings::clone_current();
    settings.set_sort_maps(true);
    let _sorted = settings.bind_to_scope();
    let moto = moto::Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("profiles.toml");
    let art = moto::artifacts(&dir.path().join("lambda"));
    let art = art.to_str().unwrap();
    init(&cfg, false);

    let out = run(&cfg, &moto.url, &["deploy", "sale", "--artifacts", art]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let url = stdout
        .lines()
        .find_map(|l| l.strip_prefix("waiting room:  "))
        .unwrap();
    assert!(
        url.starts_with("https://")
            && url.ends_with(".execute-api.eu-west-1.amazonaws.com/live/beekeeper"),
        "{url}"
    );
    assert!(stdout.contains("client check:  https://"));
    assert!(stdout.contains("/live/client-check/{token}"));
    // Plain progress lines without a terminal, one per resource.
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("lambda beekeeper-sale-producer: created"),
        "{stderr}"
    );
    let state = std::fs::read_to_string(dir.path().join("state.toml")).unwrap();
    assert!(state.contains("[deploy.sale]"), "{state}");
    // The user's profiles file holds no deployment state.
    assert!(!std::fs::read_to_string(&cfg).unwrap().contains("api_id"));

    let out = run(
        &cfg,
        &moto.url,
        &["deploy", "sale", "--artifacts", art, "--json"],
    );
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["changes"], 0);
    assert_eq!(again["url"], url);
    common::assert_camel_case(&again, &[]);
    let ids = || {
        insta::dynamic_redaction(|v, _| {
            assert!(v.as_str().is_some_and(|s| !s.is_empty()), "{v:?}");
            "[id]"
        })
    };
    insta::assert_json_snapshot!("json_deploy", again, {
        ".url" => "[url]",
        ".clientCheck" => "[url]",
        ".seconds" => "[seconds]",
        ".awsCalls" => "[calls]",
        ".deployment.apiId" => ids(),
        ".deployment.queueUrl" => "[queue url]",
    });

    let status = |cfg: &Path| -> Value {
        let out = run(cfg, &moto.url, &["status", "sale", "--json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let s = status(&cfg);
    common::assert_camel_case(&s, &[]);
    insta::assert_json_snapshot!("json_status_aws", s, {
        ".url" => "[url]",
        ".clientCheck" => "[url]",
        ".deployment.apiId" => ids(),
        ".deployment.queueUrl" => "[queue url]",
    });
    assert_eq!(s["room"], "aws");
    assert_eq!(s["enabled"], true);
    assert_eq!(s["rateLimit"], 600);
    assert_eq!(s["queueDepth"], 0);
    let out = run(&cfg, &moto.url, &["off", "sale"]);
    assert_eq!(
        text(&out.stdout).trim(),
        "sale: off, every visitor goes straight to https://shop.example/sale"
    );
    assert_eq!(status(&cfg)["enabled"], false);
    assert!(run(&cfg, &moto.url, &["on", "sale"]).status.success());
    assert_eq!(status(&cfg)["enabled"], true);
    let out = run(&cfg, &moto.url, &["set-rate", "sale", "777"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = status(&cfg);
    assert_eq!(
        (s["rateLimit"].clone(), s["rateCurrent"].clone()),
        (777.into(), 777.into())
    );
    assert!(std::fs::read_to_string(&cfg)
        .unwrap()
        .contains("rate = 777"));

    // rotate-key: the new key is published beside the old one, and signs.
    let keys = |what: &str| -> Value {
        let got = std::process::Command::new(beekeeper_test_support::moto::tools_bin().join("python"))
            .args([
                "-c",
                "import sys, json, boto3\nc = dict(endpoint_url=sys.argv[1], region_name='eu-west-1', aws_access_key_id='test', aws_secret_access_key='test')\nring = json.loads(boto3.client('ssm', **c).get_parameter(Name='/beekeeper/sale/pass-keys', WithDecryption=True)['Parameter']['Value'])\njwks = json.loads(boto3.client('s3', **c).get_object(Bucket=sys.argv[2], Key='jwks.json')['Body'].read())\nprint(json.dumps({'ring': [k['kid'] for k in ring['keys']], 'jwks': [k['kid'] for k in jwks['keys']]}))",
                &moto.url,
                "beekeeper-sale-assets-123456789012",
            ])
            .output()
            .unwrap();
        assert!(got.status.success(), "{what}: {}", text(&got.stderr));
        serde_json::from_slice(&got.stdout).unwrap()
    };
    let before = keys("before");
    assert_eq!(before["ring"], before["jwks"]);
    assert_eq!(before["ring"].as_array().unwrap().len(), 1);
    let out = run(&cfg, &moto.url, &["rotate-key", "sale", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rotated: Value = serde_json::from_slice(&out.stdout).unwrap();
    let after = keys("after");
    assert_eq!(
        after["ring"], after["jwks"],
        "every key in the ring is published"
    );
    assert_eq!(after["ring"][0], before["ring"][0]);
    assert_eq!(rotated["signing"], after["ring"][1]);
    assert_eq!(rotated["room"], "aws");

    // destroy asks first; without a terminal it needs --yes.
    let out = run(&cfg, &moto.url, &["destroy", "sale"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("pass --yes"));
    assert_eq!(
        status(&cfg)["enabled"],
        true,
        "destroy without --yes touched the room"
    );
    let out = run(&cfg, &moto.url, &["off", "sale", "--json"]);
    let off: Value = serde_json::from_slice(&out.stdout).unwrap();
    insta::assert_json_snapshot!("json_off_aws", off);
    assert!(run(&cfg, &moto.url, &["on", "sale"]).status.success());
    let out = run(&cfg, &moto.url, &["destroy", "sale", "--yes", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let destroyed: Value = serde_json::from_slice(&out.stdout).unwrap();
    common::assert_camel_case(&destroyed, &[]);
    insta::assert_json_snapshot!("json_destroy", destroyed, {
        ".seconds" => "[seconds]",
        ".awsCalls" => "[calls]",
    });
    assert_eq!(destroyed["deleted"], 21);
    let out = run(&cfg, &moto.url, &["destroy", "sale", "--yes"]);
    assert!(text(&out.stdout).starts_with("destroyed sale: 0 resources deleted"));
    let out = run(&cfg, &moto.url, &["status", "sale"]);
    assert!(text(&out.stderr).contains("neither served on this machine nor deployed"));
}

#[test]
fn deploy_errors_are_one_line_with_a_hint() {
    let moto = moto::Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("profiles.toml");
    init(&cfg, false);
    let art = moto::artifacts(&dir.path().join("lambda"));

    let out = run(
        &cfg,
        &moto.url,
        &["deploy", "sale", "--artifacts", "/nonexistent"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        "error: no Lambda artifact at /nonexistent/producer/bootstrap.zip (hint: build them with `scripts/build-lambdas --release`, or pass --artifacts DIR)"
    );

    // No credentials anywhere: an empty home, no environment.
    let bare = |args: &[&str]| {
        Command::new(bin())
            .args(args)
            .env("BEEKEEPER_CONFIG", &cfg)
            .env("AWS_ENDPOINT_URL", &moto.url)
            .env("HOME", dir.path())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = bare(&["deploy", "sale", "--artifacts", art.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no credentials found (hint: no AWS credentials found: run `aws configure`"),
        "{err}"
    );

    // A named AWS profile that gives nothing is named in the error.
    let out = bare(&["deploy", "sale", "--aws-profile", "nosuch"]);
    assert_eq!(
        text(&out.stderr).trim(),
        "error: AWS profile \"nosuch\" gave no credentials (hint: check ~/.aws/config and ~/.aws/credentials, or run `aws sso login --profile nosuch`)"
    );

    let closed = format!("http://127.0.0.1:{}", moto::free_port());
    let out = run(
        &cfg,
        &closed,
        &["deploy", "sale", "--artifacts", art.to_str().unwrap()],
    );
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("Connection refused"), "{err}");
    assert!(err.contains("hint: AWS could not be reached"), "{err}");

    let out = run(&cfg, &moto.url, &["deploy", "nope"]);
    assert!(text(&out.stderr).starts_with("error: unknown profile \"nope\""));
}
