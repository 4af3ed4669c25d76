//! DynamoDB: the tokens table (with its TTL), the config table, and the
//! room config item in it.

use aws_sdk_dynamodb::types as ddbt;
use beekeeper_aws::room;
use beekeeper_core::RoomConfig;

use super::Ctx;
use crate::error::{DeployError, Result, SdkResult};
use crate::found;
use crate::plan::TablePlan;
use crate::progress::{Change, Changes, Outcome};

pub(super) async fn ensure(cx: &Ctx<'_>, t: &TablePlan) -> Result<Outcome> {
    let ddb = &cx.c.ddb;
    let mut changes = Changes::default();
    let arn = cx.plan.arns().table(&t.name);
    match found::table(cx.c, &t.name).await? {
        None => {
            let tags = cx.tag_list(|k, v| ddbt::Tag::builder().key(k).value(v).build())?;
            ddb.create_table()
                .table_name(&t.name)
                .billing_mode(ddbt::BillingMode::PayPerRequest)
                .attribute_definitions(
                    ddbt::AttributeDefinition::builder()
                        .attribute_name(&t.key)
                        .attribute_type(ddbt::ScalarAttributeType::S)
                        .build()?,
                )
                .key_schema(
                    ddbt::KeySchemaElement::builder()
                        .attribute_name(&t.key)
                        .key_type(ddbt::KeyType::Hash)
                        .build()?,
                )
                .set_tags(Some(tags))
                .send()
                .await
                .ctx(format!("create table {}", t.name))?;
            changes.created();
        }
        Some(f) => {
            let arn = f.it.table_arn().unwrap_or(&arn).to_string();
            if !cx.check_owner(&format!("dynamodb table {}", t.name), f.owner)? {
                let tags = cx.tag_list(|k, v| ddbt::Tag::builder().key(k).value(v).build())?;
                ddb.tag_resource()
                    .resource_arn(&arn)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .ctx(format!("tag table {}", t.name))?;
                changes.add(Change::Tags);
            }
        }
    }
    wait_table(cx, &t.name).await?;
    if let Some(attr) = &t.ttl {
        let ttl = ddb
            .describe_time_to_live()
            .table_name(&t.name)
            .send()
            .await
            .ctx(format!("read the ttl of {}", t.name))?
            .time_to_live_description;
        let on = ttl.is_some_and(|d| {
            d.attribute_name() == Some(attr.as_str())
                && matches!(
                    d.time_to_live_status(),
                    Some(ddbt::TimeToLiveStatus::Enabled | ddbt::TimeToLiveStatus::Enabling)
                )
        });
        if !on {
            ddb.update_time_to_live()
                .table_name(&t.name)
                .time_to_live_specification(
                    ddbt::TimeToLiveSpecification::builder()
                        .enabled(true)
                        .attribute_name(attr)
                        .build()?,
                )
                .send()
                .await
                .ctx(format!("turn on the ttl of {}", t.name))?;
            changes.add(Change::Ttl);
        }
    }
    Ok(changes.outcome())
}

async fn wait_table(cx: &Ctx<'_>, name: &str) -> Result<()> {
    for _ in 0..cx.patience.attempts {
        let status =
            cx.c.ddb
                .describe_table()
                .table_name(name)
                .send()
                .await
                .ctx(format!("read table {name}"))?
                .table
                .and_then(|t| t.table_status);
        if status == Some(ddbt::TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(cx.patience.pause).await;
    }
    Err(DeployError::NotReady {
        resource: format!("dynamodb table {name}"),
        detail: "still not ACTIVE".into(),
    })
}

/// The room config item: what [`RoomConfig::resumed`] makes of the
/// stored item and the profile, so a redeploy does not undo `off`.
/// The config item (kept across redeploys by [`RoomConfig::resumed`]) and
/// the switch's copies `/polling` reads, each written only if it differs.
pub(super) async fn ensure_room_config(cx: &Ctx<'_>, table: &str) -> Result<Outcome> {
    let current = crate::control::read_config(cx.c, table).await?;
    let want = RoomConfig::resumed(current.as_ref(), &cx.plan.room);
    if current.as_ref() != Some(&want) {
        crate::control::write_config(cx.c, table, &want).await?;
        return Ok(if current.is_none() {
            Outcome::Created
        } else {
            Outcome::Updated(vec![Change::Settings])
        });
    }
    let data_plane = crate::error::from_data_plane;
    let stale = room::stale_switches(&cx.c.ddb, table, want.enabled)
        .await
        .map_err(data_plane)?;
    if stale.is_empty() {
        return Ok(Outcome::Unchanged);
    }
    room::save_switch(&cx.c.ddb, table, want.enabled, &stale)
        .await
        .map_err(data_plane)?;
    Ok(Outcome::Updated(vec![Change::Settings]))
}
