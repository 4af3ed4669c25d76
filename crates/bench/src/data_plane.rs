//! The AWS data plane's side of the accuracy bench, against moto: a room
//! deployed by the deployer, the trigger's real minute (config, queue depth,
//! fan-out by Event invokes), and the consumers it orders, run in this
//! process. The bench answers the Lambda invoke API itself: each invocation
//! of the deployed consumer runs `Consumer::run` with its order, as the
//! consumer Lambda's `main` would.
//!
//! One SDK interceptor per role records every attempt sent (the billed
//! requests) and the time each admission's conditional write succeeded:
//! that is the moment a visitor is admitted, what the figures are made of.
//! A feeder keeps one to two seconds of admissions in line, so the backlog
//! never runs dry and moto's queue stays small.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use beekeeper_aws::consumer::{Consumer, Report, GRACE_MS};
use beekeeper_aws::trigger::Trigger;
use beekeeper_aws::{ConsumerOrder, Env};
use beekeeper_core::entry::QueueMessage;
use beekeeper_core::{Profile, Token};
use beekeeper_deploy::progress::Quiet;
use beekeeper_deploy::{CallLog, Clients, Deploy, Patience, Plan};

use crate::accuracy::{figures, Figures};
use crate::moto;

const MINUTE_MS: u64 = 60_000;

/// The record of one role's calls.
#[derive(Debug, Clone, Default)]
pub struct Record(Arc<Mutex<Inner>>);

#[derive(Debug, Default)]
struct Inner {
    /// Attempts sent, by operation: what AWS bills.
    sent: BTreeMap<String, u64>,
    /// Epoch milliseconds of each successful `PutItem`.
    written: Vec<u64>,
    /// Receives that found the line empty.
    empty_receives: u64,
}

fn operation(cfg: &ConfigBag) -> String {
    cfg.load::<Metadata>()
        .map_or_else(|| "?".into(), |m| m.name().to_string())
}

impl Record {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn sent(&self) -> BTreeMap<String, u64> {
        self.lock().sent.clone()
    }

    pub fn written(&self) -> Vec<u64> {
        self.lock().written.clone()
    }

    pub fn empty_receives(&self) -> u64 {
        self.lock().empty_receives
    }

    pub fn written_count(&self) -> u64 {
        self.lock().written.len() as u64
    }
}

impl Intercept for Record {
    fn name(&self) -> &'static str {
        "beekeeper-bench-record"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        *self.lock().sent.entry(operation(cfg)).or_default() += 1;
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Ok(output)) = context.output_or_error() else {
            return Ok(());
        };
        if operation(cfg) == "PutItem" {
            self.lock().written.push(now_ms());
        }
        if output
            .downcast_ref::<ReceiveMessageOutput>()
            .is_some_and(|o| o.messages().is_empty())
        {
            self.lock().empty_receives += 1;
        }
        Ok(())
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

macro_rules! recorded {
    ($krate:ident, $sdk:expr, $record:expr $(, $endpoint:expr)?) => {
        $krate::Client::from_conf(
            $krate::config::Builder::from($sdk)
                .interceptor(SharedInterceptor::new($record.clone()))
                $(.endpoint_url($endpoint))?
                .build(),
        )
    };
}

/// The bench's stand-in for Lambda's invoke API: runs the consumer's
/// orders in this process and keeps their reports.
struct Invocations {
    function: String,
    consumer: Consumer,
    runs: Mutex<Vec<tokio::task::JoinHandle<beekeeper_aws::Result<Report>>>>,
}

async fn invoke(
    State(inv): State<Arc<Invocations>>,
    Path(function): Path<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    if function != inv.function {
        return StatusCode::NOT_FOUND;
    }
    let Ok(order) = serde_json::from_slice::<ConsumerOrder>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let run = {
        let inv = inv.clone();
        tokio::spawn(async move { inv.consumer.run(order).await })
    };
    inv.runs.lock().unwrap_or_else(|p| p.into_inner()).push(run);
    StatusCode::ACCEPTED
}

/// Sends `n` visitors into the line, 10 a call, 8 calls at a time.
async fn enqueue(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    next: &AtomicU64,
    n: u64,
) -> Result<(), String> {
    let batches: Vec<u64> = (0..n.div_ceil(10)).collect();
    for calls in batches.chunks(8) {
        let sends = calls.iter().map(|&b| {
            let size = (n - b * 10).min(10);
            let entries = (0..size)
                .map(|i| {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let mut bytes = [0u8; 16];
                    bytes[..8].copy_from_slice(&k.to_be_bytes());
                    bytes[8] = 0xbe;
                    let msg = QueueMessage {
                        token: Token::from_random(bytes),
                        at: now_ms(),
                    };
                    let body = serde_json::to_string(&msg).map_err(|e| e.to_string())?;
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(|e| e.to_string())
                })
                .collect::<Result<Vec<_>, String>>();
            async move {
                sqs.send_message_batch()
                    .queue_url(queue_url)
                    .set_entries(Some(entries?))
                    .send()
                    .await
                    .map_err(|e| format!("enqueue: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))
                    .map(|_| ())
            }
        });
        for r in futures::future::join_all(sends).await {
            r?;
        }
    }
    Ok(())
}

/// What the data plane did at one rate.
pub struct Measured {
    pub figures: Figures,
    /// Visitors admitted over the run.
    pub admitted: u64,
    /// Consumer runs, and the messages they found already admitted.
    pub runs: usize,
    pub duplicates: u64,
    /// Receives that found nobody in line.
    pub empty_receives: u64,
    /// Attempts sent by the consumers and by the trigger, by operation.
    pub consumer_calls: BTreeMap<String, u64>,
    pub trigger_calls: BTreeMap<String, u64>,
    pub minutes: u32,
    /// Visitors still in line at the end.
    pub left_in_line: u64,
    /// A crowd: how long after it arrived the first visitor was admitted.
    pub first_wait_ms: Option<u64>,
}

/// Deploys a room at `rate` into moto (profile `name`): where its
/// Lambdas would find their resources.
async fn deploy(
    sdk: &aws_config::SdkConfig,
    artifacts: &std::path::Path,
    name: &str,
    rate: u32,
) -> Result<Env, String> {
    let profile = Profile {
        name: "Accuracy Bench".into(),
        region: moto::REGION.into(),
        destination: "https://shop.example/".into(),
        rate,
        dynamic_throttle: false,
        session_minutes: 30,
        queue_hours: 12,
        probe_url: None,
        secure_cookie: None,
        arrivals_per_client: None,
        trusted_proxies: Vec::new(),
        max_line: None,
    };
    let plan = Plan::new(name, &profile, Some(moto::ACCOUNT));
    let pass_keys = plan.pass_keys.clone();
    let consumer_function = plan
        .function(beekeeper_deploy::plan::CONSUMER)
        .ok_or("the plan has no consumer")?
        .name
        .clone();
    let deployed = Deploy {
        c: &Clients::new(sdk, CallLog::new()),
        plan,
        artifacts: artifacts.to_path_buf(),
        progress: &Quiet,
        patience: Patience::default(),
    }
    .run()
    .await
    .map_err(|e| e.to_string())?;
    Ok(Env {
        queue_url: deployed.queue_url,
        tokens_table: deployed.tokens_table,
        config_table: deployed.config_table,
        consumer_function: Some(consumer_function),
        pass_keys: Some(pass_keys),
    })
}

/// Keeps one to two seconds of admissions at `rate` in line, topped up
/// ten times a second by what `admitted` recorded. The line is kept short
/// because moto's sends, receives and deletes scan the whole queue, and
/// sent in small bursts because moto answers receives late while it takes
/// in a large one.
struct Feeder {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

impl Feeder {
    async fn start(
        sdk: &aws_config::SdkConfig,
        env: &Env,
        admitted: &Record,
        rate: u32,
    ) -> Result<Feeder, String> {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let full = 2 * (u64::from(rate) / 60 + 20);
        let next = Arc::new(AtomicU64::new(0));
        enqueue(&sqs, &env.queue_url, &next, full).await?;
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, admitted, queue_url) = (stop.clone(), admitted.clone(), env.queue_url.clone());
        let task = tokio::spawn(async move {
            while !flag.load(Ordering::Relaxed) {
                let in_line = next.load(Ordering::Relaxed) - admitted.written_count();
                if in_line < full {
                    enqueue(&sqs, &queue_url, &next, full - in_line).await?;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(())
        });
        Ok(Feeder { stop, task })
    }

    async fn stop(self) -> Result<(), String> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.map_err(|e| e.to_string())?
    }
}

/// The baseline: admissions a minute that moto carries on this machine,
/// with `workers` consumers receiving, writing and deleting batches of 10
/// as fast as they can for `secs` (the consumer's own calls, unpaced).
pub async fn ceiling(
    url: &str,
    artifacts: &std::path::Path,
    workers: usize,
    secs: u64,
    line_for: u32,
) -> Result<f64, String> {
    let sdk = moto::sdk(url).await;
    let env = deploy(&sdk, artifacts, "ceiling", 1000).await?;
    let admitted = Record::default();
    let consumer = Consumer::from_clients(
        recorded!(aws_sdk_sqs, &sdk, admitted),
        recorded!(aws_sdk_dynamodb, &sdk, admitted),
        recorded!(aws_sdk_ssm, &sdk, admitted),
        env.clone(),
    );
    let signer = beekeeper_aws::keys::load(
        &aws_sdk_ssm::Client::new(&sdk),
        env.pass_keys.as_deref().unwrap_or_default(),
    )
    .await
    .and_then(|ring| {
        ring.signer()
            .map_err(|e| beekeeper_aws::AwsError::BadKeys(e.to_string()))
    })
    .map_err(|e| e.to_string())?;
    let cfg =
        beekeeper_aws::room::load_config(&aws_sdk_dynamodb::Client::new(&sdk), &env.config_table)
            .await
            .map_err(|e| e.to_string())?;
    // A short line, as in the measured runs: moto's calls slow down with
    // the length of the queue.
    let feeder = Feeder::start(&sdk, &env, &admitted, line_for).await?;
    let (start, end) = (now_ms(), now_ms() + secs * 1000);
    let work = (0..workers).map(|_| async {
        while now_ms() < end {
            let messages = consumer.receive(10, 0).await.map_err(|e| e.to_string())?;
            let written = consumer.write(&cfg, &signer, &messages).await;
            consumer.delete(&written.done).await;
        }
        Ok::<_, String>(())
    });
    for r in futures::future::join_all(work).await {
        r?;
    }
    let elapsed = now_ms() - start;
    feeder.stop().await?;
    let n = admitted.written().iter().filter(|&&t| t < end).count();
    Ok(n as f64 * 60_000.0 / elapsed.max(1) as f64)
}

/// How the visitors arrive in [`measure`].
#[derive(Clone, Copy)]
pub enum Arrivals {
    /// A line from the start that outlasts the run.
    Backlog,
    /// An idle room, then `n` visitors at once, `offset_ms` into the first
    /// minute.
    Crowd { n: u64, offset_ms: u64 },
}

/// Deploys a room at `rate` into moto and runs `minutes` of the trigger's
/// minutes with the visitors arriving as `arrivals` says.
pub async fn measure(
    url: &str,
    artifacts: &std::path::Path,
    rate: u32,
    minutes: u32,
    arrivals: Arrivals,
) -> Result<Measured, String> {
    let sdk = moto::sdk(url).await;
    let env = deploy(&sdk, artifacts, &format!("acc{rate}"), rate).await?;
    let consumer_function = env.consumer_function.clone().unwrap_or_default();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let lambda_url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let consumed = Record::default();
    let triggered = Record::default();
    let invocations = Arc::new(Invocations {
        function: consumer_function,
        consumer: Consumer::from_clients(
            recorded!(aws_sdk_sqs, &sdk, consumed),
            recorded!(aws_sdk_dynamodb, &sdk, consumed),
            recorded!(aws_sdk_ssm, &sdk, consumed),
            env.clone(),
        ),
        runs: Mutex::new(Vec::new()),
    });
    let app = axum::Router::new()
        .route(
            "/2015-03-31/functions/{function}/invocations",
            axum::routing::post(invoke),
        )
        .with_state(invocations.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let trigger = Trigger::from_clients(
        recorded!(aws_sdk_sqs, &sdk, triggered),
        recorded!(aws_sdk_dynamodb, &sdk, triggered),
        recorded!(aws_sdk_lambda, &sdk, triggered, &lambda_url),
        env.clone(),
    );
    // The schedule: a minute starting on a whole second, as EventBridge's.
    let t0 = (now_ms() / 1000 + 2) * 1000;
    let (feeder, crowd) = match arrivals {
        Arrivals::Backlog => (
            Some(Feeder::start(&sdk, &env, &consumed, rate).await?),
            None,
        ),
        Arrivals::Crowd { n, offset_ms } => {
            let (sqs, queue_url) = (aws_sdk_sqs::Client::new(&sdk), env.queue_url.clone());
            let at = t0 + offset_ms;
            let task = tokio::spawn(async move {
                sleep_until(at).await;
                enqueue(&sqs, &queue_url, &AtomicU64::new(0), n).await
            });
            (None, Some((at, task)))
        }
    };
    for m in 0..u64::from(minutes) {
        sleep_until(t0 + m * MINUTE_MS).await;
        let report = trigger
            .run_minute(t0 + m * MINUTE_MS)
            .await
            .map_err(|e| e.to_string())?;
        if report.failed_invokes > 0 {
            return Err(format!("{} consumer invokes failed", report.failed_invokes));
        }
    }
    let end = t0 + u64::from(minutes) * MINUTE_MS;
    sleep_until(end + GRACE_MS + 500).await;
    let runs = std::mem::take(&mut *invocations.runs.lock().unwrap_or_else(|p| p.into_inner()));
    let (mut reported, mut duplicates) = (0u64, 0u64);
    let count = runs.len();
    for run in runs {
        let report = run
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        reported += u64::from(report.admitted);
        duplicates += u64::from(report.duplicates);
    }
    if let Some(feeder) = feeder {
        feeder.stop().await?;
    }
    let mut first_after = None;
    if let Some((at, task)) = crowd {
        task.await.map_err(|e| e.to_string())??;
        first_after = Some(at);
    }
    server.abort();
    let left_in_line =
        beekeeper_aws::producer::queue_depth(&aws_sdk_sqs::Client::new(&sdk), &env.queue_url)
            .await
            .map_err(|e| e.to_string())?;
    if left_in_line == 0 && first_after.is_none() {
        return Err(format!("the backlog ran dry at rate {rate}"));
    }
    let mut times = consumed.written();
    times.sort_unstable();
    // A crowd's figures: every window, however far past the run it reaches.
    let (from, to) = match (first_after, times.last()) {
        (Some(_), Some(&last)) => (t0, end.max(last + MINUTE_MS)),
        _ => (t0, end),
    };
    let first_wait_ms = first_after.and_then(|at| times.first().map(|&t| t.saturating_sub(at)));
    if reported != times.len() as u64 {
        return Err(format!(
            "the consumers report {reported} admissions, the record holds {}",
            times.len()
        ));
    }
    Ok(Measured {
        figures: figures(&times, MINUTE_MS, from, to),
        first_wait_ms,
        admitted: times.len() as u64,
        runs: count,
        duplicates,
        empty_receives: consumed.empty_receives(),
        consumer_calls: consumed.sent(),
        trigger_calls: triggered.sent(),
        minutes,
        left_in_line,
    })
}

async fn sleep_until(at_ms: u64) {
    let now = now_ms();
    if at_ms > now {
        tokio::time::sleep(Duration::from_millis(at_ms - now)).await;
    }
}

/// The calls table's row: billed requests per admitted visitor.
pub fn calls_row(rate: u32, m: &Measured) -> String {
    let per = |n: u64| n as f64 / m.admitted.max(1) as f64;
    let get = |calls: &BTreeMap<String, u64>, op: &str| calls.get(op).copied().unwrap_or(0);
    let consumer: u64 = m.consumer_calls.values().sum();
    let trigger: u64 = m.trigger_calls.values().sum();
    format!(
        "| {rate} | {} | {} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} | {:.3} |",
        m.admitted,
        m.duplicates,
        m.empty_receives,
        m.left_in_line,
        m.runs,
        per(get(&m.consumer_calls, "ReceiveMessage")),
        per(get(&m.consumer_calls, "DeleteMessageBatch")),
        per(get(&m.consumer_calls, "PutItem")),
        per(get(&m.consumer_calls, "GetItem")),
        per(consumer),
        trigger as f64 / f64::from(m.minutes.max(1)),
        per(consumer + trigger),
    )
}
