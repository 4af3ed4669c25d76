//! The room config item and admission records in DynamoDB.

use beekeeper_core::pass::Passes as _;
use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use beekeeper_core::answer::Admission;
use beekeeper_core::names::{config as c, tokens as t};
use beekeeper_core::pace::{Carry, CARRY_BUCKETS};
use beekeeper_core::pass::Signer;
use beekeeper_core::plan::ConsumerOrder;
use beekeeper_core::throttle::{Decision, State};
use beekeeper_core::{RoomConfig, Token};

use crate::{AwsError, Result};

type Item = HashMap<String, AttributeValue>;

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_n(item: &Item, key: &str) -> Option<u64> {
    item.get(key)?.as_n().ok()?.parse().ok()
}

fn get_s<'a>(item: &'a Item, key: &str) -> Option<&'a str> {
    item.get(key)?.as_s().ok().map(String::as_str)
}

pub fn config_item(cfg: &RoomConfig) -> Item {
    let mut item = HashMap::from([
        (c::KEY.to_string(), AttributeValue::S(c::ID.to_string())),
        (c::ENABLED.to_string(), AttributeValue::Bool(cfg.enabled)),
        (c::RATE_LIMIT.to_string(), n(cfg.rate_limit.into())),
        (c::RATE_CURRENT.to_string(), n(cfg.rate_current.into())),
        (
            c::DESTINATION.to_string(),
            AttributeValue::S(cfg.destination.clone()),
        ),
        (c::NAME.to_string(), AttributeValue::S(cfg.name.clone())),
        (c::SESSION_SECS.to_string(), n(cfg.session_secs)),
        (c::QUEUE_SECS.to_string(), n(cfg.queue_secs)),
        (
            c::DYNAMIC_THROTTLE.to_string(),
            AttributeValue::Bool(cfg.dynamic_throttle),
        ),
        (c::MAX_LINE.to_string(), n(cfg.max_line)),
    ]);
    if let Some(url) = &cfg.probe_url {
        item.insert(c::PROBE_URL.to_string(), AttributeValue::S(url.clone()));
    }
    item
}

/// Reads the config item back. The destination is validated again: it
/// goes into answers and into the admitted items as is, so a hand-edited
/// item must not smuggle anything else in.
pub fn config_from_item(item: &Item) -> Result<RoomConfig> {
    let missing =
        |k: &str| AwsError::BadConfig(format!("attribute {k} is missing or has the wrong type"));
    let rate = |k: &str| {
        get_n(item, k)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| missing(k))
    };
    let destination = get_s(item, c::DESTINATION).ok_or_else(|| missing(c::DESTINATION))?;
    let destination = beekeeper_core::profile::validate_destination(destination)
        .map_err(|e| AwsError::BadConfig(e.to_string()))?;
    Ok(RoomConfig {
        enabled: item
            .get(c::ENABLED)
            .and_then(|v| v.as_bool().ok().copied())
            .ok_or_else(|| missing(c::ENABLED))?,
        rate_limit: rate(c::RATE_LIMIT)?,
        rate_current: rate(c::RATE_CURRENT)?,
        destination,
        name: get_s(item, c::NAME)
            .ok_or_else(|| missing(c::NAME))?
            .to_string(),
        session_secs: get_n(item, c::SESSION_SECS).ok_or_else(|| missing(c::SESSION_SECS))?,
        queue_secs: get_n(item, c::QUEUE_SECS).ok_or_else(|| missing(c::QUEUE_SECS))?,
        dynamic_throttle: item
            .get(c::DYNAMIC_THROTTLE)
            .and_then(|v| v.as_bool().ok().copied())
            .unwrap_or(false),
        probe_url: get_s(item, c::PROBE_URL)
            .map(|u| {
                beekeeper_core::profile::validate_destination(u)
                    .map_err(|e| AwsError::BadConfig(e.to_string()))
            })
            .transpose()?,
        max_line: get_n(item, c::MAX_LINE).unwrap_or(beekeeper_core::profile::DEFAULT_MAX_LINE),
    })
}

/// The room config, or `None` when there is none: no item, or no table.
/// The one read of it, for the Lambdas and the deployer alike.
pub async fn read_config(ddb: &Client, table: &str) -> Result<Option<RoomConfig>> {
    let out = ddb
        .get_item()
        .table_name(table)
        .key(c::KEY, AttributeValue::S(c::ID.to_string()))
        .consistent_read(true)
        .send()
        .await;
    let out = match out {
        Ok(out) => out,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok(None)
        }
        Err(e) => {
            return Err(AwsError::call(
                format!("read the room config from {table}"),
                e,
            ))
        }
    };
    out.item().map(config_from_item).transpose()
}

/// The room config a Lambda runs with: there must be one.
pub async fn load_config(ddb: &Client, table: &str) -> Result<RoomConfig> {
    read_config(ddb, table)
        .await?
        .ok_or_else(|| AwsError::BadConfig(format!("no room config item in {table}")))
}

/// Writes the config item, then the switch's copies.
pub async fn save_config(ddb: &Client, table: &str, cfg: &RoomConfig) -> Result<()> {
    ddb.put_item()
        .table_name(table)
        .set_item(Some(config_item(cfg)))
        .send()
        .await
        .map_err(|e| AwsError::call(format!("write the room config to {table}"), e))?;
    save_switch(ddb, table, cfg.enabled, &switch_ids().collect::<Vec<_>>()).await
}

/// The keys of the switch's copies ([`c::SWITCH_PREFIX`]).
pub fn switch_ids() -> impl Iterator<Item = String> {
    c::SWITCH_SHARDS
        .chars()
        .map(|d| format!("{}{d}", c::SWITCH_PREFIX))
}

/// Writes `enabled` into the switch's copies named `ids` (all at once).
pub async fn save_switch(ddb: &Client, table: &str, enabled: bool, ids: &[String]) -> Result<()> {
    let puts = ids.iter().map(|id| {
        ddb.put_item()
            .table_name(table)
            .item(c::KEY, AttributeValue::S(id.clone()))
            .item(c::ENABLED, AttributeValue::Bool(enabled))
            .send()
    });
    for r in futures::future::join_all(puts).await {
        r.map_err(|e| AwsError::call(format!("write the room's switch to {table}"), e))?;
    }
    Ok(())
}

/// The switch's copies that do not say `enabled` (missing or different).
pub async fn stale_switches(ddb: &Client, table: &str, enabled: bool) -> Result<Vec<String>> {
    let keys = switch_ids()
        .map(|id| HashMap::from([(c::KEY.to_string(), AttributeValue::S(id))]))
        .collect::<Vec<_>>();
    let request = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
        .set_keys(Some(keys))
        .consistent_read(true)
        .build()
        .map_err(|e| AwsError::sdk("ask for the room's switch", e))?;
    let out = ddb
        .batch_get_item()
        .request_items(table, request)
        .send()
        .await
        .map_err(|e| AwsError::call(format!("read the room's switch from {table}"), e))?;
    let items = out
        .responses()
        .and_then(|r| r.get(table))
        .map(Vec::as_slice)
        .unwrap_or_default();
    Ok(switch_ids()
        .filter(|id| {
            !items.iter().any(|item| {
                get_s(item, c::KEY) == Some(id.as_str())
                    && item.get(c::ENABLED).and_then(|v| v.as_bool().ok()) == Some(&enabled)
            })
        })
        .collect())
}

/// The throttle's memory and last decision from its item (defaults for
/// what is missing or unreadable: the throttle starts afresh).
pub fn throttle_from_item(item: &Item) -> (State, Option<Decision>) {
    let json = |k: &str| get_s(item, k);
    (
        json(c::THROTTLE_STATE)
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default(),
        json(c::THROTTLE_LAST).and_then(|j| serde_json::from_str(j).ok()),
    )
}

/// The admitted item for `token` (the consumer writes it), with the
/// destination and the pass `signer` makes of the admission.
pub fn admission_item(cfg: &RoomConfig, signer: &Signer, token: &Token, now_secs: u64) -> Item {
    let expires_at = now_secs + cfg.session_secs;
    let admission = Admission {
        admitted_at: now_secs,
        expires_at,
    };
    HashMap::from([
        (t::KEY.to_string(), AttributeValue::S(token.to_string())),
        (t::ADMITTED_AT.to_string(), n(now_secs)),
        (t::EXPIRES_AT.to_string(), n(expires_at)),
        (
            t::ORIGIN.to_string(),
            AttributeValue::S(signer.destination(cfg, token, &admission)),
        ),
        (t::TTL.to_string(), n(expires_at + cfg.queue_secs)),
    ])
}

pub fn admission_from_item(item: &Item) -> Option<Admission> {
    Some(Admission {
        admitted_at: get_n(item, t::ADMITTED_AT)?,
        expires_at: get_n(item, t::EXPIRES_AT)?,
    })
}

/// The token's admission record, if it has one.
pub async fn admission(ddb: &Client, table: &str, token: &Token) -> Result<Option<Admission>> {
    let out = ddb
        .get_item()
        .table_name(table)
        .key(t::KEY, AttributeValue::S(token.to_string()))
        .send()
        .await
        .map_err(|e| AwsError::sdk(format!("read a token from {table}"), e))?;
    Ok(out.item().and_then(admission_from_item))
}

/// The ledger item of the minute starting at `start_ms` ([`c::LEDGER_PREFIX`]).
pub fn ledger_id(start_ms: u64, minute_ms: u64) -> String {
    format!("{}{}", c::LEDGER_PREFIX, (start_ms / minute_ms.max(1)) % 2)
}

/// A conditional write's outcome: true when written, false when its
/// condition did not hold.
fn conditional<T, E>(
    out: std::result::Result<T, aws_sdk_dynamodb::error::SdkError<E>>,
    what: String,
) -> Result<bool>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match out {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.code() == Some("ConditionalCheckFailedException")) =>
        {
            Ok(false)
        }
        Err(e) => Err(AwsError::call(what, e)),
    }
}

/// Opens the ledger of the minute starting at `start_ms`: true the first
/// time, false when that minute (or a later one) is open already, so that
/// a trigger delivered twice starts the minute's consumers once.
pub async fn open_minute(ddb: &Client, table: &str, start_ms: u64, minute_ms: u64) -> Result<bool> {
    let out = ddb
        .put_item()
        .table_name(table)
        .item(c::KEY, AttributeValue::S(ledger_id(start_ms, minute_ms)))
        .item(c::LEDGER_START, n(start_ms))
        .condition_expression("attribute_not_exists(#start) OR #start < :s")
        .expression_attribute_names("#start", c::LEDGER_START)
        .expression_attribute_values(":s", n(start_ms))
        .send()
        .await;
    conditional(out, format!("open the minute's ledger in {table}"))
}

/// What the room admitted in the minute starting at `start_ms`, from its
/// ledger (empty when that minute had no consumers).
pub async fn read_carry(ddb: &Client, table: &str, start_ms: u64, minute_ms: u64) -> Result<Carry> {
    let out = ddb
        .get_item()
        .table_name(table)
        .key(c::KEY, AttributeValue::S(ledger_id(start_ms, minute_ms)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| AwsError::call(format!("read the last minute's ledger in {table}"), e))?;
    let Some(item) = out
        .item()
        .filter(|i| get_n(i, c::LEDGER_START) == Some(start_ms))
    else {
        return Ok(Carry::default());
    };
    Ok(Carry(
        (0..CARRY_BUCKETS)
            .map(|j| {
                get_n(item, &format!("{}{j}", c::LEDGER_BUCKET_PREFIX))
                    .map_or(0, |v| u32::try_from(v).unwrap_or(u32::MAX))
            })
            .collect(),
    ))
}

/// Claims `order` in its minute's ledger: false when it was claimed
/// already (a consumer invoked twice with the same order) or its minute has
/// been overtaken.
pub async fn claim_order(ddb: &Client, table: &str, order: &ConsumerOrder) -> Result<bool> {
    let out = ddb
        .update_item()
        .table_name(table)
        .key(
            c::KEY,
            AttributeValue::S(ledger_id(order.start_ms, order.minute_ms())),
        )
        .update_expression("SET #start = :s, #o = :q")
        .condition_expression(
            "attribute_not_exists(#o) AND (attribute_not_exists(#start) OR #start = :s)",
        )
        .expression_attribute_names("#start", c::LEDGER_START)
        .expression_attribute_names("#o", format!("{}{}", c::LEDGER_CLAIM_PREFIX, order.slot))
        .expression_attribute_values(":s", n(order.start_ms))
        .expression_attribute_values(":q", n(order.quota.into()))
        .send()
        .await;
    conditional(out, format!("claim the consumer's order in {table}"))
}

/// Adds `count` admissions at `at_ms` to the ledger of `order`'s minute,
/// before they are written: the next minute's carry never counts fewer
/// than the room admitted.
pub async fn ledger_add(
    ddb: &Client,
    table: &str,
    order: &ConsumerOrder,
    at_ms: u64,
    count: u32,
) -> Result<()> {
    let minute_ms = order.minute_ms();
    let bucket = Carry::bucket(order.start_ms, minute_ms, at_ms);
    ddb.update_item()
        .table_name(table)
        .key(
            c::KEY,
            AttributeValue::S(ledger_id(order.start_ms, minute_ms)),
        )
        .update_expression("ADD #b :n")
        .condition_expression("#start = :s")
        .expression_attribute_names("#start", c::LEDGER_START)
        .expression_attribute_names("#b", format!("{}{bucket}", c::LEDGER_BUCKET_PREFIX))
        .expression_attribute_values(":s", n(order.start_ms))
        .expression_attribute_values(":n", n(count.into()))
        .send()
        .await
        .map_err(|e| AwsError::call(format!("count admissions in the ledger in {table}"), e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_and_bad_items_are_refused() {
        let cfg = RoomConfig {
            enabled: false,
            rate_limit: 500,
            rate_current: 250,
            destination: "https://shop.example/sale".into(),
            name: "Sale".into(),
            session_secs: 1800,
            queue_secs: 43200,
            dynamic_throttle: false,
            probe_url: None,
            max_line: 30,
        };
        assert_eq!(config_from_item(&config_item(&cfg)).ok(), Some(cfg.clone()));
        // An item written before `max_line` existed: the default.
        let mut old = config_item(&cfg);
        old.remove(c::MAX_LINE);
        assert_eq!(
            config_from_item(&old).map(|c| c.max_line).ok(),
            Some(beekeeper_core::profile::DEFAULT_MAX_LINE)
        );
        let mut bad = config_item(&cfg);
        bad.insert(
            c::DESTINATION.into(),
            AttributeValue::S("javascript:alert(1)".into()),
        );
        assert!(config_from_item(&bad).is_err());
        let mut bad = config_item(&cfg);
        bad.insert(c::RATE_LIMIT.into(), AttributeValue::S("500".into()));
        assert!(
            matches!(config_from_item(&bad), Err(AwsError::BadConfig(m)) if m.contains("rate_limit"))
        );
    }
}
