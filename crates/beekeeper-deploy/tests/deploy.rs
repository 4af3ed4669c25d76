//! `deploy`, redeploy, interrupted deploys, `destroy` and the room commands,
//! against moto on 127.0.0.1.

use std::collections::BTreeSet;

use beekeeper_aws::templates;
use beekeeper_core::page;
use beekeeper_deploy::plan::Integration;
use beekeeper_deploy::{control, CallLog, DeployError, Fault, Outcome, Plan};
use beekeeper_test_support::census::*;
use beekeeper_test_support::fixtures::*;
use beekeeper_test_support::*;
use futures::StreamExt;
use serde_json::Value;

/// Every resource name the plan says a profile has.
fn planned(plan: &Plan) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    names.extend(plan.roles.iter().map(|r| format!("iam role {}", r.name)));
    names.insert(format!("s3 bucket {}", plan.bucket.name));
    names.insert(format!("sqs queue {}", plan.queue.name));
    names.insert(format!("sqs queue {}", plan.dead_letter_queue.name));
    names.extend(
        plan.tables
            .iter()
            .map(|t| format!("dynamodb table {}", t.name)),
    );
    names.extend(plan.functions.iter().map(|f| format!("lambda {}", f.name)));
    names.extend(
        plan.functions
            .iter()
            .map(|f| format!("log group {}", f.log_group)),
    );
    names.insert(format!("api gateway {}", plan.api.name));
    names.insert("ssm parameter pass-keys".into());
    names.extend(
        plan.rules
            .iter()
            .map(|r| format!("eventbridge rule {}", r.name)),
    );
    names
}

#[tokio::test]
async fn deploy_creates_the_plan_and_nothing_else_and_a_redeploy_changes_nothing() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let art = artifacts(dir.path());
    let log = CallLog::new();
    let c = clients(&moto, log.clone()).await;
    let p = profile(true);
    let deployed = deploy(&c, "sale", &p, &art).await.unwrap();
    let first = log.calls().len();
    let first_changes = log.changes().len();
    let plan = Plan::new("sale", &p, Some(ACCOUNT));

    let census = census(&moto, "sale").await;
    let found: BTreeSet<String> = census.keys().cloned().collect();
    assert_eq!(found, planned(&plan), "census differs from the plan");
    assert_eq!(found.len(), 22);

    for (name, r) in &census {
        assert_eq!(r["tag"], "sale", "{name} lacks the profile tag");
    }
    // Roles: the planned policies, no wildcard action, resources of this profile only.
    for role in &plan.roles {
        let r = &census[&format!("iam role {}", role.name)];
        assert_eq!(r["policies"]["beekeeper"], role.policy, "{}", role.name);
        assert_eq!(r["policies"].as_object().unwrap().len(), 1);
        assert_eq!(
            r["trust"]["Statement"][0]["Principal"]["Service"],
            role.service.as_str()
        );
        for st in r["policies"]["beekeeper"]["Statement"].as_array().unwrap() {
            for a in st["Action"].as_array().unwrap() {
                assert!(
                    !a.as_str().unwrap().contains('*'),
                    "{} allows {a}",
                    role.name
                );
            }
            let on = st["Resource"].to_string();
            assert!(
                on.contains("beekeeper-sale-") || on.contains("/beekeeper/sale/"),
                "{on}"
            );
        }
    }
    // API Gateway may assume its role only for this account's APIs.
    assert_eq!(
        census["iam role beekeeper-sale-api-role"]["trust"]["Statement"][0]["Condition"],
        serde_json::json!({
            "StringEquals": { "aws:SourceAccount": ACCOUNT },
            "ArnLike": { "aws:SourceArn": format!("arn:aws:execute-api:eu-west-1:{ACCOUNT}:*") },
        })
    );
    for role in plan
        .roles
        .iter()
        .filter(|r| r.service == "lambda.amazonaws.com")
    {
        let r = &census[&format!("iam role {}", role.name)];
        assert_eq!(r["trust"], role.trust, "{}", role.name);
    }
    let api_role = &census["iam role beekeeper-sale-api-role"]["policies"]["beekeeper"];
    let actions: Vec<&str> = api_role["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["Action"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
        })
        .collect();
    assert_eq!(
        actions,
        [
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            // The redemption's conditional update, and nothing else.
            "dynamodb:UpdateItem",
            "dynamodb:BatchGetItem",
            "s3:GetObject"
        ]
    );

    // The bucket: public access blocked, no public grant, the room page as built.
    let bucket = &census[&format!("s3 bucket {}", plan.bucket.name)];
    assert_eq!(
        bucket["publicAccessBlock"],
        serde_json::json!([true, true, true, true])
    );
    assert!(!bucket["grants"].to_string().contains("AllUsers"));
    let files = page::files("Big Sale");
    // The page, and the pass keys' public half.
    assert_eq!(
        bucket["objects"].as_object().unwrap().len(),
        files.len() + 1
    );
    assert_eq!(
        bucket["objects"]["jwks.json"],
        serde_json::json!({"type": "application/json", "body": {"keys": 1}})
    );
    // The pass keys: a SecureString, this profile's, naming the stage.
    let keys = &census["ssm parameter pass-keys"];
    assert_eq!(
        (&keys["type"], &keys["tag"], &keys["room"], &keys["keys"]),
        (
            &serde_json::json!("SecureString"),
            &serde_json::json!("sale"),
            &serde_json::json!("sale"),
            &serde_json::json!(1)
        )
    );
    assert_eq!(keys["issuer"], deployed.url.trim_end_matches("/beekeeper"));
    for (key, ct, body) in files {
        assert_eq!(bucket["objects"][key]["type"], ct);
        assert_eq!(bucket["objects"][key]["body"], body.as_str());
    }
    assert!(bucket["objects"]["index.html"]["body"]
        .as_str()
        .unwrap()
        .contains("Big Sale"));

    // Queue and dead letters.
    let q = &census["sqs queue beekeeper-sale-queue"];
    assert_eq!(q["retention"], "43200");
    assert_eq!(
        q["redrive"]["maxReceiveCount"]
            .to_string()
            .trim_matches('"'),
        "10"
    );
    assert!(q["redrive"]["deadLetterTargetArn"]
        .as_str()
        .unwrap()
        .ends_with(":beekeeper-sale-dead-letters"));

    // Tables: on-demand, TTL on the tokens, the config item from the profile.
    let tokens = &census["dynamodb table beekeeper-sale-tokens"];
    assert_eq!(tokens["billing"], "PAY_PER_REQUEST");
    assert!(tokens["ttl"].as_str().unwrap().contains("\"ttl\""));
    assert!(tokens["ttl"].as_str().unwrap().contains("ENABLED"));
    let cfg = control::read_config(&c, plan.config_table())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cfg, p.room_config());

    // Lambdas: runtime, role, environment, concurrency, code, permissions.
    for f in &plan.functions {
        let l = &census[&format!("lambda {}", f.name)];
        assert_eq!(l["runtime"], "provided.al2023");
        assert_eq!(l["handler"], "bootstrap");
        assert_eq!(l["architectures"], serde_json::json!(["x86_64"]));
        assert_eq!(l["role"], plan.arns().role(&f.role));
        assert_eq!(l["memory"], f.memory_mb);
        assert_eq!(l["timeout"], f.timeout_secs);
        assert_eq!(
            l["reserved"].as_i64().map(|n| n as i32),
            f.reserved_concurrency
        );
        // The consumer's orders are never retried nor worked late.
        let want = f.event_invoke.map(
            |e| serde_json::json!({"retries": e.max_retries, "maxAgeSecs": e.max_event_age_secs}),
        );
        assert_eq!(l["eventInvoke"], want.unwrap_or_default(), "{}", f.name);
        assert_eq!(l["env"]["BEEKEEPER_QUEUE_URL"], deployed.queue_url.as_str());
        assert_eq!(l["env"]["BEEKEEPER_CONFIG_TABLE"], "beekeeper-sale-config");
        let zip = std::fs::read(art.join(&f.artifact).join("bootstrap.zip")).unwrap();
        assert_eq!(l["codeSha256"], beekeeper_deploy::apply::code_sha256(&zip));
    }
    assert_eq!(
        census["lambda beekeeper-sale-trigger"]["env"]["BEEKEEPER_CONSUMER_FUNCTION"],
        "beekeeper-sale-consumer"
    );
    let perms = |f: &str| census[&format!("lambda beekeeper-sale-{f}")]["permissions"].clone();
    let api_perm = &perms("producer")[0];
    assert_eq!(api_perm["sid"], "beekeeper-api");
    assert_eq!(
        api_perm["source"],
        format!(
            "arn:aws:execute-api:eu-west-1:{ACCOUNT}:{}/*/GET/beekeeper",
            deployed.api_id
        )
    );
    for (f, rule) in [
        ("trigger", "trigger-schedule"),
        ("throttle", "throttle-schedule"),
    ] {
        let p = &perms(f)[0];
        assert_eq!(p["sid"], "beekeeper-schedule");
        assert_eq!(
            p["source"],
            format!("arn:aws:events:eu-west-1:{ACCOUNT}:rule/beekeeper-sale-{rule}")
        );
        let r = &census[&format!("eventbridge rule beekeeper-sale-{rule}")];
        assert_eq!(r["schedule"], "rate(1 minute)");
        assert_eq!(r["state"], "ENABLED");
        assert_eq!(r["targets"].as_array().unwrap().len(), 1);
        assert_eq!(
            r["targets"][0]["arn"],
            format!("arn:aws:lambda:eu-west-1:{ACCOUNT}:function:beekeeper-sale-{f}")
        );
    }
    assert_eq!(
        perms("consumer"),
        Value::Null,
        "nothing may invoke the consumer but its role"
    );

    // Log groups keep 14 days.
    for f in &plan.functions {
        assert_eq!(
            census[&format!("log group {}", f.log_group)]["retention"],
            14
        );
    }

    // The API: each route integrated as planned, the templates the repo's files.
    let api = &census["api gateway beekeeper-sale-api"];
    assert_eq!(api["stages"][0]["name"], "live");
    assert_eq!(
        api["stages"][0]["variables"]["tokensTable"],
        "beekeeper-sale-tokens"
    );
    let routes = &api["routes"];
    assert_eq!(routes["/beekeeper"]["GET"]["type"], "AWS_PROXY");
    assert_eq!(
        routes["/beekeeper"]["GET"]["uri"],
        plan.arns().lambda_integration("beekeeper-sale-producer")
    );
    for (path, method, action, req, resp) in [
        (
            "/polling",
            "GET",
            "BatchGetItem",
            templates::POLLING_REQUEST,
            templates::POLLING_RESPONSE,
        ),
        (
            "/client-check/{token}",
            "GET",
            "GetItem",
            templates::CLIENT_CHECK_REQUEST,
            templates::CLIENT_CHECK_RESPONSE,
        ),
        (
            "/client-check/{token}",
            "POST",
            "UpdateItem",
            templates::REDEEM_REQUEST,
            templates::REDEEM_RESPONSE,
        ),
    ] {
        let r = &routes[path][method];
        assert_eq!(r["type"], "AWS", "{path}");
        assert_eq!(
            r["uri"],
            format!("arn:aws:apigateway:eu-west-1:dynamodb:action/{action}")
        );
        assert_eq!(
            r["credentials"],
            plan.arns().role("beekeeper-sale-api-role")
        );
        assert_eq!(r["requestTemplates"]["application/json"], req);
        assert_eq!(r["responses"]["200"]["templates"]["application/json"], resp);
    }
    assert_eq!(
        routes["/client-check/{token}"]["POST"]["responses"]["400"]["templates"]
            ["application/json"],
        templates::REDEEM_REFUSED
    );
    assert_eq!(
        routes["/.well-known/jwks.json"]["GET"]["uri"],
        format!(
            "arn:aws:apigateway:eu-west-1:s3:path/{}/jwks.json",
            plan.bucket.name
        )
    );
    assert_eq!(
        routes["/room/{proxy+}"]["GET"]["uri"],
        format!(
            "arn:aws:apigateway:eu-west-1:s3:path/{}/{{proxy}}",
            plan.bucket.name
        )
    );
    assert_eq!(
        routes["/room"]["GET"]["uri"],
        format!(
            "arn:aws:apigateway:eu-west-1:s3:path/{}/index.html",
            plan.bucket.name
        )
    );
    let integrated = plan
        .api
        .routes
        .iter()
        .filter(|r| !matches!(r.integration, Integration::Lambda { .. }))
        .count();
    assert_eq!(integrated, 6);

    // A second deploy reads, and changes nothing.
    let first_census = log.calls().len();
    let again = deploy(&c, "sale", &p, &art).await.unwrap();
    assert_eq!(again, deployed);
    let second: Vec<_> = log.calls()[first_census..].to_vec();
    let changes: Vec<String> = second
        .iter()
        .filter(|c| c.mutating)
        .map(ToString::to_string)
        .collect();
    assert_eq!(changes, Vec::<String>::new(), "a redeploy changed things");
    eprintln!(
        "deploy: {first} calls ({first_changes} changes); redeploy: {} calls, 0 changes",
        second.len()
    );
    assert_eq!(census, census::census(&moto, "sale").await);
    destroy(&c, "sale", &p).await.unwrap();
    assert_allowed_by_deploy_policy(&log.calls());
}

#[tokio::test]
async fn a_redeploy_brings_drift_back_and_keeps_the_live_switches() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let art = artifacts(dir.path());
    let log = CallLog::new();
    let c = clients(&moto, log.clone()).await;
    let mut p = profile(true);
    deploy(&c, "sale", &p, &art).await.unwrap();
    let plan = Plan::new("sale", &p, Some(ACCOUNT));
    let clean = census(&moto, "sale").await;

    // Drift: a widened policy, a changed timeout, a removed rule target, an
    // edited room page, a stray object.
    c.iam
        .put_role_policy()
        .role_name("beekeeper-sale-producer-role")
        .policy_name("beekeeper")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sqs:SendMessage"],"Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    c.lambda
        .update_function_configuration()
        .function_name("beekeeper-sale-consumer")
        .timeout(3)
        .send()
        .await
        .unwrap();
    c.events
        .remove_targets()
        .rule("beekeeper-sale-trigger-schedule")
        .ids("beekeeper")
        .send()
        .await
        .unwrap();
    for (key, body) in [("index.html", "defaced"), ("stray.txt", "x")] {
        c.s3.put_object()
            .bucket(&plan.bucket.name)
            .key(key)
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
    }
    // Live switches, as the room commands set them.
    control::switch(&c, &plan, false).await.unwrap();
    assert_ne!(census(&moto, "sale").await, clean);
    deploy(&c, "sale", &p, &art).await.unwrap();
    let after = census(&moto, "sale").await;
    for (k, v) in &clean {
        if !k.starts_with("dynamodb table beekeeper-sale-config") {
            assert_eq!(&after[k], v, "{k} did not converge");
        }
    }
    let cfg = control::read_config(&c, plan.config_table())
        .await
        .unwrap()
        .unwrap();
    assert!(!cfg.enabled, "a redeploy turned the room back on");

    // Profile changes flow in; turning the throttle off removes its schedule.
    p.rate = 900;
    p.dynamic_throttle = false;
    deploy(&c, "sale", &p, &art).await.unwrap();
    let cfg = control::read_config(&c, plan.config_table())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (cfg.rate_limit, cfg.rate_current, cfg.enabled),
        (900, 900, false)
    );
    let after = census(&moto, "sale").await;
    assert!(!after.contains_key("eventbridge rule beekeeper-sale-throttle-schedule"));
    assert!(after.contains_key("eventbridge rule beekeeper-sale-trigger-schedule"));
    assert_allowed_by_deploy_policy(&log.calls());
}

#[tokio::test]
async fn room_commands_write_the_config_item_and_status_reads_it() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let art = artifacts(dir.path());
    let log = CallLog::new();
    let c = clients(&moto, log.clone()).await;
    let p = profile(false);
    let d = deploy(&c, "sale", &p, &art).await.unwrap();
    let deployed_calls = log.calls().len();
    let plan = Plan::new("sale", &p, Some(ACCOUNT));

    let off = control::switch(&c, &plan, false).await.unwrap();
    assert!(!off.enabled);
    let s = control::status(&c, &plan, 1_000_000).await.unwrap();
    assert!(!s.config.enabled);
    assert_eq!(s.wait_seconds_for_new_arrival, 0);
    assert!(control::switch(&c, &plan, true).await.unwrap().enabled);
    let r = control::set_rate(&c, &plan, 1234).await.unwrap();
    assert_eq!((r.rate_limit, r.rate_current), (1234, 1234));

    // Three visitors in line and two admitted in the last minute.
    for i in 0..3 {
        c.sqs
            .send_message()
            .queue_url(&d.queue_url)
            .message_body(format!("{{\"n\":{i}}}"))
            .send()
            .await
            .unwrap();
    }
    let now = 2_000_000u64;
    for (token, at) in [("a", now - 10), ("b", now - 59), ("c", now - 300)] {
        c.ddb
            .put_item()
            .table_name(plan.tokens_table())
            .item(
                "token",
                aws_sdk_dynamodb::types::AttributeValue::S(token.into()),
            )
            .item(
                "admitted_at",
                aws_sdk_dynamodb::types::AttributeValue::N(at.to_string()),
            )
            .send()
            .await
            .unwrap();
    }
    let s = control::status(&c, &plan, now).await.unwrap();
    assert_eq!(s.config.rate_limit, 1234);
    assert!(s.config.enabled);
    assert_eq!(s.queue_depth, 3);
    assert_eq!(s.admitted_last_minute, 2);
    assert_eq!(
        s.wait_seconds_for_new_arrival,
        beekeeper_core::wait::estimated_wait_secs(4, 1234)
    );
    // The room commands' own calls (the test's setup calls aside).
    let commands: Vec<_> = log.calls()[deployed_calls..]
        .iter()
        .filter(|c| !matches!(c.operation.as_str(), "SendMessage" | "PutItem"))
        .cloned()
        .collect();
    assert_allowed_by_deploy_policy(&commands);

    // A profile that was never deployed.
    let ghost = Plan::new("ghost", &p, Some(ACCOUNT));
    assert!(matches!(
        control::switch(&c, &ghost, false).await,
        Err(DeployError::NotDeployed(n)) if n == "ghost"
    ));
}

#[tokio::test]
async fn a_resource_of_another_profile_is_never_taken_or_deleted() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let art = artifacts(dir.path());
    let c = clients(&moto, CallLog::new()).await;
    // A queue with this profile's name, tagged as another profile's.
    c.sqs
        .create_queue()
        .queue_name("beekeeper-sale-queue")
        .tags("beekeeper:profile", "someone-else")
        .send()
        .await
        .unwrap();
    let p = profile(false);
    let err = deploy(&c, "sale", &p, &art).await.unwrap_err();
    assert!(
        matches!(&err, DeployError::NotOurs { owner, .. } if owner == "someone-else"),
        "{err}"
    );
    assert!(err.to_string().contains("beekeeper-sale-queue"));
    let done = destroy(&c, "sale", &p).await.unwrap();
    let queue = done
        .iter()
        .find(|(r, _)| r == "sqs queue beekeeper-sale-queue")
        .unwrap();
    assert!(matches!(&queue.1, Outcome::Kept(why) if why.contains("someone-else")));
    assert!(census(&moto, "sale")
        .await
        .contains_key("sqs queue beekeeper-sale-queue"));
    // Everything else the failed deploy made is gone.
    assert_eq!(census(&moto, "sale").await.len(), 1);
}

/// For every k, the k-th change of a deploy fails (before it is sent, or
/// after it was done with its answer lost); deploying again converges to
/// the census of an uninterrupted deploy, and destroy then leaves nothing of
/// the profile. A bystander profile in the same emulator is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_interrupted_deploy_is_finished_by_the_next_and_destroyed_cleanly() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let art = artifacts(dir.path());
    let p = profile(true);

    let c = clients(&moto, CallLog::new()).await;
    deploy(&c, "bystander", &p, &art).await.unwrap();
    let bystander = census(&moto, "bystander").await;
    let log = CallLog::new();
    let c = clients(&moto, log.clone()).await;
    deploy(&c, "clean", &p, &art).await.unwrap();
    let n = log.changes().len();
    let clean = normalized(&census(&moto, "clean").await, "clean");
    let started = std::time::Instant::now();

    let cases: Vec<(usize, Fault)> = (1..=n)
        .flat_map(|k| [(k, Fault::BeforeSend), (k, Fault::AnswerLost)])
        .collect();
    let results: Vec<String> = futures::stream::iter(cases)
        .map(|(k, fault)| {
            let (moto, art, p, clean) = (&moto, &art, &p, &clean);
            async move {
                let name = format!("f{k}{}", if fault == Fault::BeforeSend { "b" } else { "a" });
                let log = CallLog::new();
                let c = clients(moto, log.clone()).await;
                log.fail_change(k, fault);
                let failed = deploy(&c, &name, p, art).await;
                let call = log
                    .changes()
                    .get(k - 1)
                    .map(ToString::to_string)
                    .unwrap_or_default();
                assert!(
                    failed.is_err(),
                    "change {k} ({call}) failed but deploy succeeded"
                );
                deploy(&c, &name, p, art)
                    .await
                    .unwrap_or_else(|e| panic!("after change {k} ({call}, {fault:?}) failed: {e}"));
                let got = normalized(&census(moto, &name).await, &name);
                assert_eq!(
                    &got, clean,
                    "change {k} ({call}, {fault:?}): no convergence"
                );
                let before_destroy = log.changes().len();
                destroy(&c, &name, p).await.unwrap();
                let destroyed = log.changes().len() - before_destroy;
                let left = census(moto, &name).await;
                assert!(
                    left.is_empty(),
                    "change {k} ({call}): left {:?}",
                    left.keys()
                );
                assert_allowed_by_deploy_policy(&log.calls());
                format!("{k:>3} {call:<40} {fault:?}: converged, destroy made {destroyed} changes")
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let mut results = results;
    results.sort();
    eprintln!("{}", results.join("\n"));
    eprintln!(
        "{} interrupted deploys ({n} changes x 2 kinds) converged and were destroyed in {:.1} s",
        results.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(results.len(), 2 * n);
    assert_eq!(
        census(&moto, "bystander").await,
        bystander,
        "the bystander was touched"
    );
}

/// S3 bucket names are global and the room's is predictable: every call on
/// the bucket names the account it must belong to (S3 refuses it
/// otherwise), and a bucket of the planned name created first by another
/// account stops the deploy with a clear error, its contents untouched.
#[tokio::test]
async fn the_bucket_is_always_the_account_s_own() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let art = artifacts(dir.path());
    let log = CallLog::new();
    let c = clients(&moto, log.clone()).await;
    let p = profile(false);
    deploy(&c, "sale", &p, &art).await.unwrap();
    deploy(&c, "sale", &p, &art).await.unwrap();
    destroy(&c, "sale", &p).await.unwrap();
    let s3_calls: Vec<_> = log
        .calls()
        .into_iter()
        .filter(|call| call.service == "S3")
        .collect();
    assert!(s3_calls.len() > 10, "{s3_calls:?}");
    for call in &s3_calls {
        let expected = match call.operation.as_str() {
            // A creation has nobody to expect; the list is the account's own.
            "CreateBucket" | "ListBuckets" => None,
            _ => Some(ACCOUNT.to_string()),
        };
        assert_eq!(call.expected_bucket_owner, expected, "{call}");
    }

    // Another account creates the bucket "taken" will want first.
    let sdk = sdk(&moto).await;
    let sts = aws_sdk_sts::Client::new(&sdk);
    let other = sts
        .assume_role()
        .role_arn("arn:aws:iam::111111111111:role/sniper")
        .role_session_name("sniper")
        .send()
        .await
        .unwrap();
    let creds = other.credentials().unwrap();
    let sniper = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                creds.access_key_id(),
                creds.secret_access_key(),
                Some(creds.session_token().to_string()),
                None,
                "sniper",
            ))
            .force_path_style(true)
            .build(),
    );
    let plan = Plan::new("taken", &p, Some(ACCOUNT));
    sniper
        .create_bucket()
        .bucket(&plan.bucket.name)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let err = deploy(&c, "taken", &p, &art).await.unwrap_err();
    assert!(matches!(err, DeployError::BucketTaken(_)), "{err}");
    assert!(
        err.to_string().starts_with(&format!(
            "s3 bucket {} exists in another AWS account",
            plan.bucket.name
        )),
        "{err}"
    );
    let inside = sniper
        .list_objects_v2()
        .bucket(&plan.bucket.name)
        .send()
        .await
        .unwrap();
    assert!(
        inside.contents().is_empty(),
        "the page went into their bucket"
    );
    let tagged = sniper
        .get_bucket_tagging()
        .bucket(&plan.bucket.name)
        .send()
        .await;
    assert!(tagged.is_err(), "their bucket was tagged as ours");
}
