//! The consumer Lambda: moves visitors from the queue to the admitted table,
//! paced by its order.
//!
//! Each admission is a conditional `PutItem` (`attribute_not_exists`): a
//! message delivered twice (a consumer that died between writing and
//! deleting, or SQS's at-least-once delivery) is written once and counted
//! once. (`BatchWriteItem` cannot carry conditions, so it is not used.) A
//! message is deleted from the queue only once its visitor is written; a
//! failed write leaves it to come back after the visibility timeout, and a
//! message that can never be read goes to the dead-letter queue after the
//! queue's maximum receive count.
//!
//! An order is worked once: the consumer claims it in the minute's ledger
//! first (Lambda may deliver an asynchronous invoke twice), and adds each
//! batch to the ledger before writing it, so that the next minute's
//! trigger sees everything this minute admitted (`room::ledger_add`).
//!
//! A consumer works its whole window whatever happens in it: the room
//! config is read again every [`CACHE_TTL`] (`off` pauses admission within
//! seconds, as in serve; a failed read keeps the last config), and a failed
//! receive or config read is retried after [`RETRY_MS`] instead of ending
//! the run with the rest of its quota unadmitted.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message};
use beekeeper_core::entry::QueueMessage;
use beekeeper_core::names::tokens as t;
use beekeeper_core::pass::Signer;
use beekeeper_core::plan::{receive_batch, ConsumerOrder};
use beekeeper_core::{Pacer, RoomConfig};
use futures::future::join_all;

use crate::keys::Keys;
use crate::producer::{Cached, CACHE_TTL};
use crate::{now_ms, room, AwsError, Env, Result};

/// How long a received message stays invisible to other consumers: longer
/// than a write and a delete ever take, short enough that a crashed
/// consumer's visitors are back in line within the minute.
pub const VISIBILITY_SECS: i32 = 20;
/// How long a consumer may go on after its window to finish its quota: the
/// next minute's consumers start one second after the window ends.
pub const GRACE_MS: u64 = 900;
/// How long a consumer waits after a failed receive or config read.
pub const RETRY_MS: u64 = 500;

pub struct Consumer {
    sqs: aws_sdk_sqs::Client,
    ddb: aws_sdk_dynamodb::Client,
    env: Env,
    keys: Keys,
    visibility_secs: i32,
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Visitors newly admitted (counted against the quota).
    pub admitted: u32,
    /// Messages whose visitor was already admitted (deleted, not counted).
    pub duplicates: u32,
    /// Messages left in the queue: unreadable bodies or failed writes.
    pub left: u32,
    pub receives: u32,
    /// Failed receives, config reads and ledger writes, each retried
    /// within the window.
    pub errors: u32,
    /// The order had been claimed already: this run admitted nobody.
    pub repeated: bool,
}

/// The outcome of writing one received batch.
#[derive(Debug, Default)]
pub struct Written {
    /// Receipt handles safe to delete: written now or already admitted.
    pub done: Vec<String>,
    pub admitted: u32,
    pub duplicates: u32,
    pub left: u32,
}

impl Consumer {
    pub fn new(sdk: &aws_config::SdkConfig, env: Env) -> Consumer {
        Consumer::from_clients(
            aws_sdk_sqs::Client::new(sdk),
            aws_sdk_dynamodb::Client::new(sdk),
            aws_sdk_ssm::Client::new(sdk),
            env,
        )
    }

    /// With clients of the caller's (the benchmarks count their calls).
    pub fn from_clients(
        sqs: aws_sdk_sqs::Client,
        ddb: aws_sdk_dynamodb::Client,
        ssm: aws_sdk_ssm::Client,
        env: Env,
    ) -> Consumer {
        Consumer {
            sqs,
            ddb,
            keys: Keys::new(ssm, env.pass_keys.clone()),
            env,
            visibility_secs: VISIBILITY_SECS,
        }
    }

    /// How long received messages stay invisible (default [`VISIBILITY_SECS`]).
    pub fn with_visibility(self, secs: i32) -> Consumer {
        Consumer {
            visibility_secs: secs,
            ..self
        }
    }

    /// Admits up to the order's quota, paced over its window. Never stops
    /// early on an empty receive (visitors arriving later in the minute are
    /// admitted too); stops once the quota is met, or [`GRACE_MS`] after the
    /// window (the last slot falls due at its very end).
    pub async fn run(&self, order: ConsumerOrder) -> Result<Report> {
        let config = Cached::new(CACHE_TTL);
        let mut report = Report::default();
        let mut pacer = Pacer::new(&order);
        let stop_ms = order.end_ms + GRACE_MS;
        // Receive several at once when the pace allows: fewer SQS calls.
        let batch = receive_batch(order.quota);
        // Look at the pacer 600 times a window (every 98 ms in a real minute).
        let window = order.end_ms.saturating_sub(order.start_ms);
        let tick = Duration::from_millis((window / 600).clamp(1, 100));
        let pause = |ms: u64| {
            let left = stop_ms.saturating_sub(now_ms());
            tokio::time::sleep(Duration::from_millis(ms.min(left)))
        };
        loop {
            match room::claim_order(&self.ddb, &self.env.config_table, &order).await {
                Ok(true) => break,
                Ok(false) => {
                    tracing::warn!(
                        slot = order.slot,
                        "order already claimed: a repeated invoke"
                    );
                    report.repeated = true;
                    return Ok(report);
                }
                Err(e) if now_ms() < stop_ms => {
                    tracing::warn!("{e}; retrying");
                    report.errors += 1;
                    pause(RETRY_MS).await;
                }
                Err(e) => return Err(e),
            }
        }
        while !pacer.done() {
            let now = now_ms();
            if now >= stop_ms {
                break;
            }
            let cfg = match config
                .get(|| room::load_config(&self.ddb, &self.env.config_table))
                .await
            {
                Ok((cfg, _)) => cfg,
                Err(e) => {
                    tracing::warn!("{e}; retrying");
                    report.errors += 1;
                    pause(RETRY_MS).await;
                    continue;
                }
            };
            // The key signs every admission's pass: read before anyone
            // is received (a container keeps it for a minute).
            let signer = match self.keys.signer().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("{e}; retrying");
                    report.errors += 1;
                    pause(RETRY_MS).await;
                    continue;
                }
            };
            let allowance = pacer.allowance(now);
            let want = allowance.min(10);
            let before_end = order.end_ms.saturating_sub(now) > tick.as_millis() as u64;
            // Off: nobody is admitted in the background; a waiting visitor
            // is let through at their next poll.
            if !cfg.enabled {
                pacer.idle(now);
            }
            if !cfg.enabled || want == 0 || (want < batch && before_end) {
                pause(tick.as_millis() as u64).await;
                continue;
            }
            // A short long poll: an empty queue costs a call a second.
            let wait = if stop_ms - now > 1_500 { 1 } else { 0 };
            let messages = match self.receive(want, wait).await {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!("{e}; retrying");
                    report.errors += 1;
                    pause(RETRY_MS).await;
                    continue;
                }
            };
            report.receives += 1;
            if (messages.len() as u32) < want {
                // The line ran dry: no slots pile up for a burst later.
                pacer.idle(now_ms());
            }
            if messages.is_empty() {
                continue;
            }
            let counted = room::ledger_add(
                &self.ddb,
                &self.env.config_table,
                &order,
                now_ms(),
                messages.len() as u32,
            )
            .await;
            if let Err(e) = counted {
                // Not written, not deleted: back in line after the
                // visibility timeout, admitted by this or a later consumer.
                tracing::warn!("{e}; retrying");
                report.errors += 1;
                pause(RETRY_MS).await;
                continue;
            }
            let written = self.write(&cfg, &signer, &messages).await;
            self.delete(&written.done).await;
            pacer.record(now_ms(), written.admitted);
            report.admitted += written.admitted;
            report.duplicates += written.duplicates;
            report.left += written.left;
        }
        Ok(report)
    }

    pub async fn receive(&self, max: u32, wait_secs: i32) -> Result<Vec<Message>> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.env.queue_url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(wait_secs)
            .visibility_timeout(self.visibility_secs)
            .send()
            .await
            .map_err(|e| AwsError::sdk("receive from the queue", e))?;
        Ok(out.messages.unwrap_or_default())
    }

    /// Writes each message's visitor as admitted, conditionally, all at once.
    pub async fn write(&self, cfg: &RoomConfig, signer: &Signer, messages: &[Message]) -> Written {
        let now = now_ms() / 1000;
        let puts = messages.iter().map(|m| async move {
            let (Some(body), Some(receipt)) = (m.body(), m.receipt_handle()) else {
                return (Outcome::Left, None);
            };
            let Ok(msg) = serde_json::from_str::<QueueMessage>(body) else {
                tracing::warn!("unreadable queue message left for the dead-letter queue");
                return (Outcome::Left, None);
            };
            let put = self
                .ddb
                .put_item()
                .table_name(&self.env.tokens_table)
                .set_item(Some(room::admission_item(cfg, signer, &msg.token, now)))
                .condition_expression("attribute_not_exists(#k)")
                .expression_attribute_names("#k", t::KEY)
                .send()
                .await;
            match put {
                Ok(_) => (Outcome::Admitted, Some(receipt.to_string())),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                {
                    (Outcome::Duplicate, Some(receipt.to_string()))
                }
                Err(e) => {
                    // The SDK already retried throttling with backoff; the
                    // message comes back after its visibility timeout.
                    tracing::warn!("{}", AwsError::sdk("write an admission", e));
                    (Outcome::Left, None)
                }
            }
        });
        let mut w = Written::default();
        for (outcome, receipt) in join_all(puts).await {
            match outcome {
                Outcome::Admitted => w.admitted += 1,
                Outcome::Duplicate => w.duplicates += 1,
                Outcome::Left => w.left += 1,
            }
            w.done.extend(receipt);
        }
        w
    }

    /// Deletes the written messages; a failed delete only means the message
    /// comes back and is recognised as a duplicate.
    pub async fn delete(&self, receipts: &[String]) {
        if receipts.is_empty() {
            return;
        }
        let entries: Vec<_> = receipts
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(r)
                    .build()
                    .ok()
            })
            .collect();
        let out = self
            .sqs
            .delete_message_batch()
            .queue_url(&self.env.queue_url)
            .set_entries(Some(entries))
            .send()
            .await;
        match out {
            Ok(o) if !o.failed().is_empty() => {
                tracing::warn!(
                    "{} deletes failed; those visitors come back as duplicates",
                    o.failed().len()
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("{}", AwsError::sdk("delete admitted messages", e)),
        }
    }

    /// Opens `order`'s minute in the ledger, as the trigger does before it
    /// invokes the minute's consumers (for tests and tools that make
    /// orders themselves).
    pub async fn open_minute(&self, order: &ConsumerOrder) -> Result<bool> {
        room::open_minute(
            &self.ddb,
            &self.env.config_table,
            order.start_ms,
            order.minute_ms(),
        )
        .await
    }

    /// Counts the admitted items (for tests and tools; a full scan).
    pub async fn admitted_count(&self) -> Result<u64> {
        let mut total = 0u64;
        let mut start: Option<std::collections::HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .ddb
                .scan()
                .table_name(&self.env.tokens_table)
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| AwsError::sdk("count admitted visitors", e))?;
            total += out.count() as u64;
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(total),
            }
        }
    }
}

enum Outcome {
    Admitted,
    Duplicate,
    Left,
}
