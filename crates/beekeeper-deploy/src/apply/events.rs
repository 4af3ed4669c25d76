//! EventBridge: the every-minute rules and their one target each.

use super::Ctx;
use crate::error::{Result, SdkResult};
use crate::found;
use crate::progress::{Change, Changes, Outcome};

pub(super) async fn ensure(
    cx: &Ctx<'_>,
    name: &str,
    schedule: &str,
    function: &str,
) -> Result<Outcome> {
    use aws_sdk_eventbridge::types as ev;
    let events = &cx.c.events;
    let arn = cx.plan.arns().rule(name);
    let found = found::rule(cx.c, name).await?;
    let mut changes = Changes::default();
    let tags = cx.tag_list(|k, v| ev::Tag::builder().key(k).value(v).build())?;
    let same = found.as_ref().is_some_and(|r| {
        r.it.schedule_expression() == Some(schedule)
            && r.it.state() == Some(&ev::RuleState::Enabled)
    });
    if let Some(r) = &found {
        let arn = r.it.arn().unwrap_or(&arn);
        if !cx.check_owner(&format!("eventbridge rule {name}"), r.owner.clone())? {
            events
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(tags.clone()))
                .send()
                .await
                .ctx(format!("tag rule {name}"))?;
            changes.add(Change::Tags);
        }
    }
    if !same {
        events
            .put_rule()
            .name(name)
            .schedule_expression(schedule)
            .state(ev::RuleState::Enabled)
            .set_tags(Some(tags))
            .send()
            .await
            .ctx(format!("write rule {name}"))?;
        if found.is_some() {
            changes.add(Change::Schedule);
        } else {
            changes.created();
        }
    }
    let want = cx.plan.arns().function(function);
    let targets = events
        .list_targets_by_rule()
        .rule(name)
        .send()
        .await
        .ctx(format!("read the targets of rule {name}"))?
        .targets
        .unwrap_or_default();
    let stray: Vec<String> = targets
        .iter()
        .filter(|t| t.id() != "beekeeper" || t.arn() != want)
        .map(|t| t.id().to_string())
        .collect();
    if !stray.is_empty() {
        crate::destroy::remove_targets(cx.c, name, stray).await?;
        changes.add(Change::Targets);
    }
    if !targets
        .iter()
        .any(|t| t.id() == "beekeeper" && t.arn() == want)
    {
        events
            .put_targets()
            .rule(name)
            .targets(ev::Target::builder().id("beekeeper").arn(&want).build()?)
            .send()
            .await
            .ctx(format!("point rule {name} at {function}"))?;
        changes.add(Change::Targets);
    }
    Ok(changes.outcome())
}
