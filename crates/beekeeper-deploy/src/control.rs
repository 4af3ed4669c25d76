//! `off`, `on`, `set-rate` and `status` of a deployed room: they read and
//! write the room config item, which the Lambdas read within seconds (and
//! `off`/`on` the switch's copies, which `/polling` reads).

use aws_sdk_dynamodb::types::AttributeValue;
use beekeeper_aws::room;
use beekeeper_core::names::{config as c, tokens as t};
use beekeeper_core::RoomConfig;
use serde::Serialize;

use crate::clients::Clients;
use crate::error::{aws, DeployError, Result, SdkResult};
use crate::plan::Plan;

/// The config item, or `None` when the table or the item is missing
/// ([`room::read_config`], the Lambdas' read too).
pub async fn read_config(cl: &Clients, table: &str) -> Result<Option<RoomConfig>> {
    room::read_config(&cl.ddb, table)
        .await
        .map_err(crate::error::from_data_plane)
}

pub async fn write_config(cl: &Clients, table: &str, cfg: &RoomConfig) -> Result<()> {
    room::save_config(&cl.ddb, table, cfg)
        .await
        .map_err(crate::error::from_data_plane)
}

/// Sets attributes of the config item, which must exist (a deployed room).
async fn update(cl: &Clients, plan: &Plan, set: &[(&str, AttributeValue)]) -> Result<RoomConfig> {
    let table = plan.config_table();
    let expr = set
        .iter()
        .enumerate()
        .map(|(i, _)| format!("#a{i} = :v{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut req = cl
        .ddb
        .update_item()
        .table_name(table)
        .key(c::KEY, AttributeValue::S(c::ID.into()))
        .update_expression(format!("SET {expr}"))
        .condition_expression(format!("attribute_exists({})", c::KEY));
    for (i, (name, value)) in set.iter().enumerate() {
        req = req
            .expression_attribute_names(format!("#a{i}"), *name)
            .expression_attribute_values(format!(":v{i}"), value.clone());
    }
    match req.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error().is_some_and(|s| {
                s.is_conditional_check_failed_exception() || s.is_resource_not_found_exception()
            }) =>
        {
            return Err(DeployError::NotDeployed(plan.profile.clone()))
        }
        Err(e) => return Err(aws(format!("update the room config in {table}"), e)),
    }
    read_config(cl, table)
        .await?
        .ok_or_else(|| DeployError::NotDeployed(plan.profile.clone()))
}

pub async fn switch(cl: &Clients, plan: &Plan, enabled: bool) -> Result<RoomConfig> {
    let cfg = update(cl, plan, &[(c::ENABLED, AttributeValue::Bool(enabled))]).await?;
    let all: Vec<String> = room::switch_ids().collect();
    room::save_switch(&cl.ddb, plan.config_table(), enabled, &all)
        .await
        .map_err(crate::error::from_data_plane)?;
    Ok(cfg)
}

/// A new limit; the current rate starts from it (the throttle may cut it again).
pub async fn set_rate(cl: &Clients, plan: &Plan, rate: u32) -> Result<RoomConfig> {
    let n = AttributeValue::N(rate.to_string());
    update(
        cl,
        plan,
        &[(c::RATE_LIMIT, n.clone()), (c::RATE_CURRENT, n)],
    )
    .await
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub config: RoomConfig,
    pub queue_depth: u64,
    pub admitted_last_minute: u64,
    pub wait_seconds_for_new_arrival: u64,
    /// The throttle's last decision, if it made one.
    pub throttle: Option<beekeeper_core::throttle::Decision>,
}

pub async fn status(cl: &Clients, plan: &Plan, now_secs: u64) -> Result<Status> {
    let config = read_config(cl, plan.config_table())
        .await?
        .ok_or_else(|| DeployError::NotDeployed(plan.profile.clone()))?;
    let url = cl
        .sqs
        .get_queue_url()
        .queue_name(&plan.queue.name)
        .send()
        .await
        .found(format!("find queue {}", plan.queue.name))?
        .and_then(|o| o.queue_url)
        .ok_or_else(|| DeployError::NotDeployed(plan.profile.clone()))?;
    let queue_depth = beekeeper_aws::producer::queue_depth(&cl.sqs, &url)
        .await
        .map_err(crate::error::from_data_plane)?;
    // Admissions of the last minute: a counting scan of the token table
    // (a few read units per thousand admitted visitors).
    let mut admitted_last_minute = 0u64;
    let mut start = None;
    loop {
        let out = cl
            .ddb
            .scan()
            .table_name(plan.tokens_table())
            .select(aws_sdk_dynamodb::types::Select::Count)
            .filter_expression("#at >= :since")
            .expression_attribute_names("#at", t::ADMITTED_AT)
            .expression_attribute_values(
                ":since",
                AttributeValue::N(now_secs.saturating_sub(60).to_string()),
            )
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .ctx("count recent admissions")?;
        admitted_last_minute += out.count() as u64;
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => break,
        }
    }
    let wait = config.wait_for_new_arrival(queue_depth);
    let throttle = cl
        .ddb
        .get_item()
        .table_name(plan.config_table())
        .key(c::KEY, AttributeValue::S(c::THROTTLE_ID.into()))
        .send()
        .await
        .ctx("read the throttle's last decision")?
        .item
        .and_then(|item| room::throttle_from_item(&item).1);
    Ok(Status {
        config,
        queue_depth,
        admitted_last_minute,
        wait_seconds_for_new_arrival: wait,
        throttle,
    })
}
