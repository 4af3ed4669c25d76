//! Each Lambda's role allows what its handler does, and no more: the four
//! handlers run against a deployed room through a proxy in front of moto
//! that records every AWS action and the resource it names; each recorded
//! (action, resource) must be granted by a statement of the function's
//! planned policy, and every grant must be used.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use beekeeper_aws::consumer::Consumer;
use beekeeper_aws::producer::Producer;
use beekeeper_aws::throttle::Throttle;
use beekeeper_aws::trigger::Trigger;
use beekeeper_aws::{ConsumerOrder, Env};
use beekeeper_deploy::{control, CallLog, Plan};
use beekeeper_test_support::census::*;
use beekeeper_test_support::fixtures::*;
use beekeeper_test_support::*;
use serde_json::Value;

type Seen = Arc<Mutex<BTreeSet<(String, String)>>>;

struct Recorder {
    moto: String,
    seen: Seen,
    http: reqwest::Client,
}

/// (IAM action, resource ARN) of one request as an AWS SDK sends it.
fn action(headers: &HeaderMap, path: &str, body: &[u8]) -> (String, String) {
    let arns = beekeeper_deploy::plan::Arns {
        region: "eu-west-1",
        account: ACCOUNT,
    };
    if let Some(rest) = path.strip_prefix("/2015-03-31/functions/") {
        let name = rest.trim_end_matches("/invocations");
        return ("lambda:InvokeFunction".into(), arns.function(name));
    }
    let target = headers["x-amz-target"].to_str().unwrap();
    let body: Value = serde_json::from_slice(body).unwrap();
    let (service, op) = target.split_once('.').unwrap();
    match service {
        "DynamoDB_20120810" => (
            format!("dynamodb:{op}"),
            arns.table(body["TableName"].as_str().unwrap()),
        ),
        "AmazonSQS" => {
            let queue = body["QueueUrl"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap();
            // A batch call needs the action of its single form.
            let op = op.trim_end_matches("Batch");
            (format!("sqs:{op}"), arns.of("sqs", queue))
        }
        "AmazonSSM" => (
            format!("ssm:{op}"),
            arns.of(
                "ssm",
                &format!("parameter{}", body["Name"].as_str().unwrap()),
            ),
        ),
        other => panic!("unexpected service {other}"),
    }
}

async fn forward(
    State(r): State<Arc<Recorder>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorded = action(&headers, uri.path(), &body);
    r.seen.lock().unwrap().insert(recorded);
    let mut req = r.http.request(
        method,
        format!(
            "{}{}",
            r.moto,
            uri.path_and_query().map_or("/", |p| p.as_str())
        ),
    );
    for (k, v) in &headers {
        if k != "host" && k != "content-length" {
            req = req.header(k, v);
        }
    }
    let resp = req.body(body).send().await.unwrap();
    let status = resp.status();
    let mut out = Response::builder().status(status);
    for (k, v) in resp.headers() {
        if k != "transfer-encoding" && k != "content-length" {
            out = out.header(k, v);
        }
    }
    out.body(axum::body::Body::from(resp.bytes().await.unwrap()))
        .unwrap()
        .into_response()
}

/// A recording proxy in front of moto, and the SDK configuration using it.
async fn recorder(moto: &Moto) -> (aws_config::SdkConfig, Seen) {
    let seen: Seen = Arc::default();
    let state = Arc::new(Recorder {
        moto: moto.url.clone(),
        seen: seen.clone(),
        http: reqwest::Client::new(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(forward).with_state(state);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_config::Region::new("eu-west-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .load()
        .await;
    (sdk, seen)
}

/// The (action, resource) pairs a role's policy grants, logs aside (the
/// Lambda runtime writes those, not the handler).
fn grants(plan: &Plan, role: &str) -> BTreeSet<(String, String)> {
    let role = plan.roles.iter().find(|r| r.name == role).unwrap();
    let mut out = BTreeSet::new();
    for st in role.policy["Statement"].as_array().unwrap() {
        let resources: Vec<String> = match &st["Resource"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
            other => panic!("resource {other}"),
        };
        for a in st["Action"].as_array().unwrap() {
            let a = a.as_str().unwrap();
            if a.starts_with("logs:") {
                continue;
            }
            for r in &resources {
                out.insert((a.to_string(), r.clone()));
            }
        }
    }
    out
}

fn check(plan: &Plan, function: &str, seen: &Seen) {
    let granted = grants(plan, &format!("beekeeper-sale-{function}-role"));
    let used = seen.lock().unwrap().clone();
    let denied: Vec<_> = used.difference(&granted).collect();
    assert!(
        denied.is_empty(),
        "{function} does {denied:?}, which its role does not allow"
    );
    let unused: Vec<_> = granted.difference(&used).collect();
    assert!(
        unused.is_empty(),
        "{function}'s role grants {unused:?}, which it never uses"
    );
    eprintln!(
        "{function}: {} grants, all used, nothing else done",
        used.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_allows_exactly_what_its_lambda_does() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let art = artifacts(dir.path());
    let c = clients(&moto, CallLog::new()).await;
    // A destination for the throttle's probes that can start failing.
    let origin = beekeeper_test_support::origin::Origin::start().await;
    let mut p = profile(true);
    p.probe_url = Some(origin.url.clone());
    let deployed = deploy(&c, "sale", &p, &art).await.unwrap();
    let plan = Plan::new("sale", &p, Some(ACCOUNT));
    let env = Env {
        queue_url: deployed.queue_url.clone(),
        tokens_table: deployed.tokens_table.clone(),
        config_table: deployed.config_table.clone(),
        consumer_function: Some("beekeeper-sale-consumer".into()),
        pass_keys: Some(plan.pass_keys.clone()),
    };
    let ring = beekeeper_aws::keys::load(&c.ssm, &plan.pass_keys)
        .await
        .unwrap();
    // moto answers Lambda invokes without running them.
    reqwest::Client::new()
        .post(format!("{}/moto-api/config", moto.url))
        .json(&serde_json::json!({"lambda": {"use_docker": false}}))
        .send()
        .await
        .unwrap();

    // The producer: a new visitor, then one already admitted.
    let (sdk, seen) = recorder(&moto).await;
    let producer = Producer::new(&sdk, env.clone());
    let mut event: ApiGatewayProxyRequest = serde_json::from_str(include_str!(
        "../../beekeeper-aws/tests/fixtures/apigw-get-beekeeper.json"
    ))
    .unwrap();
    let first = producer.handle(&event).await;
    assert_eq!(first.status_code, 302);
    let token = "0123456789abcdef0123456789abcdef";
    let cfg = control::read_config(&c, plan.config_table())
        .await
        .unwrap()
        .unwrap();
    c.ddb
        .put_item()
        .table_name(plan.tokens_table())
        .set_item(Some(beekeeper_aws::room::admission_item(
            &cfg,
            &ring.signer().unwrap(),
            &beekeeper_core::Token::parse(token).unwrap(),
            u64::MAX / 4,
        )))
        .send()
        .await
        .unwrap();
    event
        .headers
        .insert("cookie", format!("bk_token={token}").parse().unwrap());
    let through = producer.handle(&event).await;
    assert_eq!(through.status_code, 302);
    // Off: a new visitor is let through with an admission of their own.
    control::switch(&c, &plan, false).await.unwrap();
    event.headers.remove("cookie");
    let released = Producer::new(&sdk, env.clone()).handle(&event).await;
    assert!(released.headers["location"]
        .to_str()
        .unwrap()
        .contains("bk_token="));
    control::switch(&c, &plan, true).await.unwrap();
    check(&plan, "producer", &seen);

    // The trigger, with someone in line, room on and off.
    let (sdk, seen) = recorder(&moto).await;
    let scheduled: EventBridgeEvent = serde_json::from_str(include_str!(
        "../../beekeeper-aws/tests/fixtures/eventbridge-scheduled.json"
    ))
    .unwrap();
    let report = Trigger::new(&sdk, env.clone())
        .handle(&scheduled)
        .await
        .unwrap();
    assert_eq!(report.orders.len(), 1);
    control::switch(&c, &plan, false).await.unwrap();
    Trigger::new(&sdk, env.clone())
        .handle(&scheduled)
        .await
        .unwrap();
    control::switch(&c, &plan, true).await.unwrap();
    check(&plan, "trigger", &seen);

    // A consumer admits the visitor in line.
    let (sdk, seen) = recorder(&moto).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let order = ConsumerOrder {
        quota: 1,
        start_ms: now,
        end_ms: now + 2_000,
        ..Default::default()
    };
    // The trigger opens the minute (with its own role, checked above).
    assert!(beekeeper_aws::room::open_minute(
        &c.ddb,
        &env.config_table,
        order.start_ms,
        order.minute_ms()
    )
    .await
    .unwrap());
    let report = Consumer::new(&sdk, env.clone()).run(order).await.unwrap();
    assert_eq!(report.admitted, 1);
    check(&plan, "consumer", &seen);

    // The throttle: a healthy minute, then a failing one that cuts the rate.
    let (sdk, seen) = recorder(&moto).await;
    let throttle = Throttle::new(&sdk, env.config_table.clone())
        .unwrap()
        .with_window(Duration::from_millis(300));
    throttle.run_minute().await.unwrap();
    origin.answer(503);
    assert!(throttle.run_minute().await.unwrap().applied);
    check(&plan, "throttle", &seen);
}
