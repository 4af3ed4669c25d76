//! The trigger Lambda: every minute, plan this minute's consumers and
//! start them.
//!
//! EventBridge delivers at least once, so a minute may be triggered twice:
//! the trigger opens the minute's ledger item with a conditional write
//! first, and a second run for the same minute starts nobody. The orders
//! carry what the room admitted in the minute before, read from that
//! minute's ledger, so that the sliding-window promises hold across the
//! boundary (`beekeeper_core::pace`).

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use beekeeper_core::plan::{orders, ConsumerOrder};

/// A real minute: EventBridge's schedule.
pub const MINUTE_MS: u64 = 60_000;
use futures::future::join_all;

use crate::producer::queue_depth;
use crate::{now_ms, room, AwsError, Env, Result};

pub struct Trigger {
    sqs: aws_sdk_sqs::Client,
    ddb: aws_sdk_dynamodb::Client,
    lambda: aws_sdk_lambda::Client,
    env: Env,
    minute_ms: u64,
}

/// What one minute's trigger did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub enabled: bool,
    pub rate: u32,
    pub orders: Vec<ConsumerOrder>,
    pub failed_invokes: u32,
    /// This minute had been planned already (a repeated delivery): nobody
    /// was started.
    pub repeated: bool,
}

impl Trigger {
    pub fn new(sdk: &aws_config::SdkConfig, env: Env) -> Trigger {
        Trigger::from_clients(
            aws_sdk_sqs::Client::new(sdk),
            aws_sdk_dynamodb::Client::new(sdk),
            aws_sdk_lambda::Client::new(sdk),
            env,
        )
    }

    /// With clients of the caller's (the benchmarks count the calls and
    /// answer the consumers' invocations themselves).
    pub fn from_clients(
        sqs: aws_sdk_sqs::Client,
        ddb: aws_sdk_dynamodb::Client,
        lambda: aws_sdk_lambda::Client,
        env: Env,
    ) -> Trigger {
        Trigger {
            sqs,
            ddb,
            lambda,
            env,
            minute_ms: MINUTE_MS,
        }
    }

    /// A shorter minute than EventBridge's (tests).
    pub fn with_minute(self, minute_ms: u64) -> Trigger {
        Trigger { minute_ms, ..self }
    }

    /// Handles the scheduled event; the minute starts at the event's time.
    pub async fn handle(&self, event: &EventBridgeEvent) -> Result<Report> {
        let start_ms = event
            .time
            .and_then(|t| u64::try_from(t.timestamp_millis()).ok())
            .unwrap_or_else(now_ms);
        self.run_minute(start_ms).await
    }

    pub async fn run_minute(&self, start_ms: u64) -> Result<Report> {
        let cfg = room::load_config(&self.ddb, &self.env.config_table).await?;
        let depth = queue_depth(&self.sqs, &self.env.queue_url).await?;
        let rate = cfg.effective_rate();
        // Off: no consumer; a waiting visitor is let through at their next
        // poll, as in serve (`beekeeper_core::answer::Poll::new`). On with
        // nobody in line: the minute's first consumer still runs, so that a
        // crowd arriving mid-minute into an idle room is admitted within
        // seconds, not at the next minute (the depth SQS reports is
        // approximate and a minute old by the time it matters). One
        // consumer idling costs its running time (`capacity::idle_month`);
        // the rest of the rate's consumers start with the first minute
        // that finds a line.
        let minute = self.minute_ms;
        let mut repeated = false;
        let orders = if !cfg.enabled {
            Vec::new()
        } else if !room::open_minute(&self.ddb, &self.env.config_table, start_ms, minute).await? {
            repeated = true;
            Vec::new()
        } else {
            let previous = start_ms.saturating_sub(minute);
            let carry =
                room::read_carry(&self.ddb, &self.env.config_table, previous, minute).await?;
            let mut planned = orders(rate, start_ms, minute, &carry);
            if depth == 0 {
                planned.truncate(1);
            }
            planned
        };
        let function = self
            .env
            .consumer_function
            .as_deref()
            .ok_or(AwsError::Env(beekeeper_core::names::env::CONSUMER_FUNCTION))?;
        let invokes = orders.iter().map(|order| async move {
            let payload =
                serde_json::to_vec(order).map_err(|e| AwsError::sdk("encode an order", e))?;
            self.lambda
                .invoke()
                .function_name(function)
                .invocation_type(InvocationType::Event)
                .payload(Blob::new(payload))
                .send()
                .await
                .map_err(|e| AwsError::sdk(format!("invoke {function}"), e))
        });
        let failed = join_all(invokes)
            .await
            .into_iter()
            .filter_map(|r| r.err())
            .inspect(|e| tracing::error!("{e}"))
            .count() as u32;
        Ok(Report {
            enabled: cfg.enabled,
            rate,
            orders,
            failed_invokes: failed,
            repeated,
        })
    }
}
