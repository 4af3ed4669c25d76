//! The Lambda handlers with real events and real SDK calls against moto.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use beekeeper_aws::consumer::Consumer;
use beekeeper_aws::producer::Producer;
use beekeeper_aws::trigger::Trigger;
use beekeeper_aws::{room, ConsumerOrder, Env};
use beekeeper_core::pass::Passes as _;
use beekeeper_core::Token;
use beekeeper_test_support::fixtures::*;
use beekeeper_test_support::room::*;
use beekeeper_test_support::*;
use lambda_runtime::LambdaEvent;

fn request(cookie: Option<&str>, accept_json: bool) -> ApiGatewayProxyRequest {
    let event: LambdaEvent<ApiGatewayProxyRequest> = LambdaEvent::new(
        serde_json::from_str(&fixture("apigw-get-beekeeper.json")).unwrap(),
        Default::default(),
    );
    let mut req = event.payload;
    if let Some(c) = cookie {
        req.multi_value_headers
            .append("cookie", "theme=dark".parse().unwrap());
        req.multi_value_headers.append("cookie", c.parse().unwrap());
    }
    if accept_json {
        req.multi_value_headers
            .insert("accept", "application/json".parse().unwrap());
        req.headers
            .insert("accept", "application/json".parse().unwrap());
    }
    req
}

fn header<'a>(r: &'a ApiGatewayProxyResponse, name: &str) -> Option<&'a str> {
    r.headers.get(name).map(|v| v.to_str().unwrap())
}

fn cookie_token(r: &ApiGatewayProxyResponse) -> String {
    let c = header(r, "set-cookie").unwrap();
    c.split(';')
        .next()
        .unwrap()
        .trim_start_matches("bk_token=")
        .to_string()
}

/// Runs `consumer` with `quota` over a window of `window_ms` starting now.
async fn run_for(
    consumer: &Consumer,
    quota: u32,
    window_ms: u64,
) -> beekeeper_aws::consumer::Report {
    let start = now_ms();
    let order = ConsumerOrder {
        quota,
        start_ms: start,
        end_ms: start + window_ms,
        ..Default::default()
    };
    // What the trigger does before it invokes a consumer.
    assert!(consumer.open_minute(&order).await.unwrap());
    consumer.run(order).await.unwrap()
}

async fn queued_tokens(sdk: &aws_config::SdkConfig, env: &Env) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let out = sqs
        .receive_message()
        .queue_url(&env.queue_url)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    out.messages()
        .iter()
        .map(|m| {
            serde_json::from_str::<beekeeper_core::entry::QueueMessage>(m.body().unwrap())
                .unwrap()
                .token
                .to_string()
        })
        .collect()
}

/// DESIGN section 7 in the producer: an image request takes no place and
/// sends nothing to the queue; a line of `max_line` takes nobody else.
#[tokio::test]
async fn producer_refuses_sub_resources_and_arrivals_beyond_a_full_line() {
    let cfg = beekeeper_core::RoomConfig {
        max_line: 2,
        ..room_config(60)
    };
    let (_moto, sdk, env) = with_room(&cfg).await;
    let producer = Producer::new(&sdk, env.clone());
    let mut image = request(None, false);
    for (name, value) in [
        ("sec-fetch-dest", "image"),
        ("sec-fetch-mode", "no-cors"),
        ("sec-fetch-site", "cross-site"),
    ] {
        image.headers.insert(name, value.parse().unwrap());
    }
    let r = producer.handle(&image).await;
    assert_eq!((r.status_code, header(&r, "set-cookie")), (403, None));
    assert_eq!(depth(&sdk, &env).await, 0);
    for _ in 0..2 {
        assert_eq!(
            producer.handle(&request(None, false)).await.status_code,
            302
        );
    }
    let full = producer.handle(&request(None, false)).await;
    assert_eq!(full.status_code, 503);
    assert_eq!(header(&full, "retry-after"), Some("60"));
    assert_eq!(header(&full, "set-cookie"), None);
    assert!(matches!(&full.body, Some(Body::Text(t)) if t.contains("The waiting room is full")));
    assert_eq!(depth(&sdk, &env).await, 2);
}

#[tokio::test]
async fn producer_queues_a_new_visitor_once_and_sends_admitted_ones_through() {
    let (_moto, sdk, env) = with_room(&room_config(60)).await;
    let producer = Producer::new(&sdk, env.clone());

    let first = producer.handle(&request(None, false)).await;
    assert_eq!(first.status_code, 302);
    assert_eq!(header(&first, "location"), Some("room/index.html?p=1&w=1"));
    let cookie = header(&first, "set-cookie").unwrap();
    assert!(
        cookie.ends_with("; Max-Age=43200; Path=/; HttpOnly; SameSite=Lax; Secure"),
        "{cookie}"
    );
    let token = cookie_token(&first);
    assert_eq!(
        queued_tokens(&sdk, &env).await,
        vec![token.clone()],
        "the cookie's token is the queued one"
    );

    // Coming back with the cookie (among others): same place, no new message.
    let again = producer
        .handle(&request(Some(&format!("bk_token={token}")), false))
        .await;
    assert_eq!(again.status_code, 302);
    assert_eq!(header(&again, "location"), Some("room/index.html"));
    assert_eq!(header(&again, "set-cookie"), None);
    assert_eq!(depth(&sdk, &env).await, 1);

    // The JSON variant for apps.
    let json = producer.handle(&request(None, true)).await;
    assert_eq!(json.status_code, 200);
    let Some(Body::Text(body)) = &json.body else {
        panic!("no body")
    };
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["position"], 2);
    assert_eq!(body["token"].as_str().unwrap(), cookie_token(&json));

    // Once admitted, the cookie leads straight to the destination.
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let t = Token::parse(&token).unwrap();
    ddb.put_item()
        .table_name(&env.tokens_table)
        .set_item(Some(room::admission_item(
            &room_config(60),
            &test_ring("shop").signer().unwrap(),
            &t,
            now_ms() / 1000,
        )))
        .send()
        .await
        .unwrap();
    let admitted = producer
        .handle(&request(Some(&format!("bk_token={token}")), false))
        .await;
    let a = room::admission(&ddb, &env.tokens_table, &t)
        .await
        .unwrap()
        .unwrap();
    let signer = test_ring("shop").signer().unwrap();
    assert_eq!(
        header(&admitted, "location").unwrap(),
        signer.destination(&room_config(60), &t, &a)
    );
}

#[tokio::test]
async fn producer_answers_503_without_a_cookie_when_the_queue_fails() {
    let (moto, sdk, mut env) = with_room(&room_config(60)).await;
    env.queue_url = format!("{}/123456789012/beekeeper-shop-missing", moto.url);
    let r = Producer::new(&sdk, env).handle(&request(None, false)).await;
    assert_eq!(r.status_code, 503);
    assert_eq!(header(&r, "retry-after"), Some("5"));
    assert_eq!(header(&r, "set-cookie"), None);
}

/// Off: a visitor in line and a new one both reach the destination with a
/// token the client check accepts (the one in line keeps theirs), within
/// the config cache time; the queue is left to the consumers, who find the
/// released visitor already admitted.
#[tokio::test]
async fn producer_lets_everybody_through_with_a_token_when_off_within_the_cache_time() {
    let (_moto, sdk, env) = with_room(&room_config(60)).await;
    let producer = Producer::new(&sdk, env.clone());
    let queued = producer.handle(&request(None, false)).await;
    assert_eq!(queued.status_code, 302);
    let queued = cookie_token(&queued);
    let mut off = room_config(60);
    off.enabled = false;
    save_config(&sdk, &env, &off).await;
    tokio::time::sleep(beekeeper_aws::producer::CACHE_TTL).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let again = producer
        .handle(&request(Some(&format!("bk_token={queued}")), false))
        .await;
    let new = producer.handle(&request(None, false)).await;
    for (r, token) in [(&again, queued.clone()), (&new, cookie_token(&new))] {
        assert_eq!(r.status_code, 302);
        assert_eq!(cookie_token(r), token);
        let token = Token::parse(&token).unwrap();
        let a = room::admission(&ddb, &env.tokens_table, &token)
            .await
            .unwrap()
            .expect("an admission the client check finds");
        assert_eq!(a.expires_at - a.admitted_at, off.session_secs);
        // With the pass the room's key signs for that admission.
        let signer = test_ring("shop").signer().unwrap();
        assert_eq!(
            header(r, "location"),
            Some(signer.destination(&off, &token, &a).as_str())
        );
    }
    assert_eq!(depth(&sdk, &env).await, 1, "the queue is not touched");
    save_config(&sdk, &env, &room_config(60)).await;
    let consumer = Consumer::new(&sdk, env.clone());
    let report = run_for(&consumer, 1, 1_500).await;
    assert_eq!((report.admitted, report.duplicates), (0, 1), "{report:?}");
}

#[tokio::test]
async fn consumer_meets_its_quota_exactly_with_a_backlog() {
    let (_moto, sdk, env) = with_room(&room_config(60)).await;
    enqueue(&sdk, &env, 150).await;
    let consumer = Consumer::new(&sdk, env.clone());
    let start = now_ms();
    // Ten seconds: a visitor every 100 ms leaves each receive, ledger
    // write, admission and delete against moto time to spare on a loaded
    // machine (five seconds fell two short there, with no error).
    let report = run_for(&consumer, 97, 10_000).await;
    assert_eq!(report.admitted, 97, "{report:?}");
    assert_eq!(report.duplicates, 0);
    assert!(
        now_ms() - start >= 9_900,
        "paced over the window, not in a burst"
    );
    assert_eq!(consumer.admitted_count().await.unwrap(), 97);
    assert_eq!(depth(&sdk, &env).await, 150 - 97);
}

/// A consumer that starts amid faults (its queue not there yet, the room
/// config unreadable) keeps trying within its window and still admits its
/// whole quota once they clear.
#[tokio::test]
async fn a_consumer_outlasts_failed_receives_and_config_reads() {
    let (_moto, sdk, mut env) = with_room(&room_config(60)).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    ddb.delete_item()
        .table_name(&env.config_table)
        .key(
            "id",
            aws_sdk_dynamodb::types::AttributeValue::S("room".into()),
        )
        .send()
        .await
        .unwrap();
    let late = "beekeeper-shop-late";
    env.queue_url = env.queue_url.replace("beekeeper-shop-queue", late);
    let consumer = Consumer::new(&sdk, env.clone());
    let run = tokio::spawn(async move { run_for(&consumer, 20, 8_000).await });
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    save_config(&sdk, &env, &room_config(60)).await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = sqs.create_queue().queue_name(late).send().await.unwrap();
    assert_eq!(url.queue_url(), Some(env.queue_url.as_str()));
    enqueue(&sdk, &env, 30).await;
    let report = run.await.unwrap();
    assert_eq!(report.admitted, 20, "{report:?}");
    assert!(report.errors >= 2, "{report:?}");
}

/// `off` reaches a consumer already running within the config cache time,
/// as it reaches serve's admission: nobody is admitted in the background.
#[tokio::test]
async fn off_pauses_a_running_consumer() {
    let (_moto, sdk, env) = with_room(&room_config(600)).await;
    enqueue(&sdk, &env, 250).await;
    let consumer = Consumer::new(&sdk, env.clone());
    // 200 over 20 s: 10 a second.
    let run = tokio::spawn(async move { run_for(&consumer, 200, 20_000).await });
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let mut off = room_config(600);
    off.enabled = false;
    save_config(&sdk, &env, &off).await;
    let report = run.await.unwrap();
    // At most the first second and the cache time (5 s) at 10 a second,
    // with a tick's slack; without the pause it would be 200.
    assert!(report.admitted <= 70, "{report:?}");
    assert!(report.admitted >= 5, "{report:?}");
}

/// A consumer dies after writing its visitors and before deleting their
/// messages: the next one finds them again, counts none of them twice.
#[tokio::test]
async fn a_consumer_killed_between_write_and_delete_loses_and_doubles_nobody() {
    let (_moto, sdk, env) = with_room(&room_config(60)).await;
    enqueue(&sdk, &env, 20).await;
    let consumer = Consumer::new(&sdk, env.clone());
    let cfg = room_config(60);
    let crashed = consumer.receive(8, 0).await.unwrap();
    assert_eq!(crashed.len(), 8);
    let written = consumer
        .write(&cfg, &test_ring("shop").signer().unwrap(), &crashed)
        .await;
    assert_eq!(written.admitted, 8);
    // ...crash: no delete. The messages come back when their visibility
    // times out; make that happen now.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    for m in &crashed {
        sqs.change_message_visibility()
            .queue_url(&env.queue_url)
            .receipt_handle(m.receipt_handle().unwrap())
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
    }
    let report = run_for(&consumer, 12, 12_000).await;
    assert_eq!((report.admitted, report.duplicates), (12, 8), "{report:?}");
    assert_eq!(
        consumer.admitted_count().await.unwrap(),
        20,
        "everybody admitted exactly once"
    );
    assert_eq!(depth(&sdk, &env).await, 0, "nobody left in line");
}

#[tokio::test]
async fn a_failed_write_leaves_the_visitor_in_line() {
    let (_moto, sdk, env) = with_room(&room_config(60)).await;
    let tokens = enqueue(&sdk, &env, 5).await;
    let broken = Env {
        tokens_table: "beekeeper-shop-gone".into(),
        ..env.clone()
    };
    let consumer = Consumer::new(&sdk, broken).with_visibility(1);
    let report = run_for(&consumer, 5, 1_500).await;
    assert_eq!(report.admitted, 0);
    assert!(report.left >= 1, "{report:?}");
    assert_eq!(
        depth(&sdk, &env).await,
        5,
        "every message still in the queue"
    );
    // A working consumer admits them all once they are visible again.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let good = Consumer::new(&sdk, env.clone());
    let report = run_for(&good, 5, 1_500).await;
    assert_eq!(report.admitted, 5);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    for t in tokens {
        let a = room::admission(&ddb, &env.tokens_table, &Token::parse(&t).unwrap())
            .await
            .unwrap();
        assert!(a.is_some(), "{t} admitted");
    }
}

#[tokio::test]
async fn the_trigger_plans_from_the_config_and_the_scheduled_time() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1", true).await;
    // No consumer function exists in the emulator: every invoke fails and
    // is reported, and the plan is still exact.
    let env = create_room(&sdk, "shop", &room_config(2_500)).await;
    let event: LambdaEvent<EventBridgeEvent> = LambdaEvent::new(
        serde_json::from_str(&fixture("eventbridge-scheduled.json")).unwrap(),
        Default::default(),
    );
    // Nobody in line: the minute's first consumer runs, so that a crowd
    // arriving mid-minute is not left for the next one; the others wait
    // for a line. Its share of the room's caps is that of a full plan.
    let idle = Trigger::new(&sdk, env.clone())
        .handle(&event.payload)
        .await
        .unwrap();
    let start = 1_795_363_200_000; // 2026-11-22T16:00:00Z
    assert_eq!(idle.rate, 2_500);
    assert_eq!(
        idle.orders
            .iter()
            .map(|o| (o.slot, o.quota, o.total))
            .collect::<Vec<_>>(),
        vec![(0, 834, 2_500)]
    );
    assert_eq!(idle.failed_invokes, 1);
    enqueue(&sdk, &env, 1).await;
    let next = start + 60_000;
    let report = Trigger::new(&sdk, env.clone())
        .run_minute(next)
        .await
        .unwrap();
    assert_eq!(report.rate, 2_500);
    assert_eq!(
        report.orders.iter().map(|o| o.quota).collect::<Vec<_>>(),
        vec![834, 833, 833]
    );
    assert!(report
        .orders
        .iter()
        .all(|o| o.start_ms == next && o.end_ms == next + 59_000));
    assert_eq!(report.failed_invokes, 3);

    // Off: no consumer; whoever is in line is let through at their next
    // poll, as in serve.
    let mut off = room_config(2_500);
    off.enabled = false;
    save_config(&sdk, &env, &off).await;
    enqueue(&sdk, &env, 41).await;
    let report = Trigger::new(&sdk, env)
        .handle(&event.payload)
        .await
        .unwrap();
    assert_eq!((report.enabled, report.orders.len()), (false, 0));
}

/// EventBridge and Lambda deliver at least once: a minute triggered twice,
/// each of its orders invoked twice, still admits the minute's rate once,
/// with a backlog of three times that. The ledger then holds what the
/// minute admitted, for the next minute's carry.
#[tokio::test]
async fn a_minute_delivered_twice_admits_its_rate_once() {
    let (_moto, sdk, mut env) = with_room(&room_config(30)).await;
    env.consumer_function = Some("beekeeper-shop-consumer".into());
    enqueue(&sdk, &env, 90).await;
    // A 6-second minute starting now (its start a multiple of the minute,
    // as EventBridge's are of 60 s).
    let minute = 6_000;
    let start = now_ms() / minute * minute + minute;
    tokio::time::sleep(std::time::Duration::from_millis(start - now_ms())).await;
    let trigger = || Trigger::new(&sdk, env.clone()).with_minute(minute);
    let (a, b) = (trigger(), trigger());
    let (first, second) = tokio::join!(a.run_minute(start), b.run_minute(start));
    let (first, second) = (first.unwrap(), second.unwrap());
    let (planned, again) = if first.repeated {
        (second, first)
    } else {
        (first, second)
    };
    assert!(again.repeated && again.orders.is_empty(), "{again:?}");
    assert_eq!(planned.orders.iter().map(|o| o.quota).sum::<u32>(), 30);
    let consumer = Consumer::new(&sdk, env.clone());
    let runs = planned
        .orders
        .iter()
        .flat_map(|o| [o.clone(), o.clone()])
        .map(|o| consumer.run(o));
    let reports: Vec<_> = futures::future::join_all(runs)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        reports.iter().filter(|r| r.repeated).count(),
        planned.orders.len()
    );
    assert_eq!(
        reports.iter().map(|r| r.admitted).sum::<u32>(),
        30,
        "{reports:?}"
    );
    assert_eq!(consumer.admitted_count().await.unwrap(), 30);
    assert_eq!(depth(&sdk, &env).await, 60);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let carry = room::read_carry(&ddb, &env.config_table, start, minute)
        .await
        .unwrap();
    assert_eq!(carry.0.iter().sum::<u32>(), 30, "{carry:?}");
    // The next minute's orders carry it.
    enqueue(&sdk, &env, 1).await;
    let next = trigger().run_minute(start + minute).await.unwrap();
    assert!(next.orders.iter().all(|o| o.carry == carry));
}

/// The throttle Lambda's wiring: probes a local origin, writes the current
/// rate and its memory to the config table, and yields to set-rate.
#[tokio::test]
async fn the_throttle_cuts_the_rate_of_a_failing_origin_and_yields_to_set_rate() {
    let origin = beekeeper_test_support::origin::Origin::start().await;

    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1", true).await;
    let mut cfg = room_config(600);
    cfg.dynamic_throttle = true;
    cfg.probe_url = Some(origin.url.clone());
    let env = create_room(&sdk, "shop", &cfg).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let throttle = beekeeper_aws::throttle::Throttle::new(&sdk, env.config_table.clone())
        .unwrap()
        .with_window(std::time::Duration::from_millis(300));

    let first = throttle.run_minute().await.unwrap();
    let d = first.decision.unwrap();
    assert_eq!(
        (d.verdict, d.rate, d.probes),
        (beekeeper_core::throttle::Verdict::Learning, 600, 6)
    );
    origin.answer(503);
    let cut = throttle.run_minute().await.unwrap();
    assert_eq!(
        cut.decision.as_ref().unwrap().verdict,
        beekeeper_core::throttle::Verdict::Failing
    );
    assert!(cut.applied);
    let now = room::load_config(&ddb, &env.config_table).await.unwrap();
    assert_eq!((now.rate_limit, now.rate_current), (600, 300));

    // set-rate while the throttle probes: its decision is not applied.
    let mut user = now.clone();
    user.rate_limit = 200;
    user.rate_current = 200;
    let t2 = beekeeper_aws::throttle::Throttle::new(&sdk, env.config_table.clone())
        .unwrap()
        .with_window(std::time::Duration::from_millis(1500));
    let (report, _) = tokio::join!(t2.run_minute(), async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        save_config(&sdk, &env, &user).await;
    });
    assert!(!report.unwrap().applied, "set-rate wins");
    let now = room::load_config(&ddb, &env.config_table).await.unwrap();
    assert_eq!((now.rate_limit, now.rate_current), (200, 200));

    // Off: the throttle does nothing.
    user.enabled = false;
    save_config(&sdk, &env, &user).await;
    assert!(throttle.run_minute().await.unwrap().decision.is_none());
}
