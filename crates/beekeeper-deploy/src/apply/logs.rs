//! CloudWatch Logs: a log group per Lambda, with its retention.

use super::Ctx;
use crate::error::{Result, SdkResult};
use crate::found;
use crate::plan::LOG_RETENTION_DAYS;
use crate::progress::{Change, Changes, Outcome};

#[allow(deprecated)] // tag by log group name: what every emulator knows
pub(super) async fn ensure(cx: &Ctx<'_>, name: &str) -> Result<Outcome> {
    let logs = &cx.c.logs;
    let mut changes = Changes::default();
    let retention = match found::log_group(cx.c, name).await? {
        None => {
            logs.create_log_group()
                .log_group_name(name)
                .set_tags(Some(cx.tag_map()))
                .send()
                .await
                .ctx(format!("create log group {name}"))?;
            changes.created();
            None
        }
        Some(f) => {
            if !cx.check_owner(&format!("log group {name}"), f.owner)? {
                logs.tag_log_group()
                    .log_group_name(name)
                    .set_tags(Some(cx.tag_map()))
                    .send()
                    .await
                    .ctx(format!("tag log group {name}"))?;
                changes.add(Change::Tags);
            }
            f.it
        }
    };
    if retention != Some(LOG_RETENTION_DAYS) {
        logs.put_retention_policy()
            .log_group_name(name)
            .retention_in_days(LOG_RETENTION_DAYS)
            .send()
            .await
            .ctx(format!("set the retention of log group {name}"))?;
        changes.add(Change::Retention);
    }
    Ok(changes.outcome())
}
