//! `destroy`: deletes every resource the plan names, but only where the
//! resource carries this profile's tag. Not found counts as done, so an
//! interrupted destroy is finished by running it again.

use std::collections::HashMap;

use crate::apply::owner;
use crate::clients::Clients;
use crate::error::{aws, is_not_found, Result, SdkResult};
use crate::plan::Plan;
use crate::progress::{Outcome, Progress};

/// The REST API named `name` (the tagged one if several are), with its tags.
pub async fn find_api(
    c: &Clients,
    name: &str,
) -> Result<Option<(String, HashMap<String, String>)>> {
    let mut position = None;
    let mut found = Vec::new();
    loop {
        let out = c
            .api
            .get_rest_apis()
            .limit(500)
            .set_position(position.take())
            .send()
            .await
            .ctx("list the rest apis")?;
        for api in out.items() {
            if api.name() == Some(name) {
                found.push((
                    api.id().unwrap_or_default().to_string(),
                    api.tags().cloned().unwrap_or_default(),
                ));
            }
        }
        match out.position {
            Some(p) if !p.is_empty() => position = Some(p),
            _ => break,
        }
    }
    found.sort_by_key(|(_, tags)| {
        owner(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))).is_none()
    });
    Ok(found.into_iter().next())
}

fn kept(owner: Option<String>) -> Outcome {
    Outcome::Kept(match owner {
        Some(o) => format!("tagged for profile {o:?}"),
        None => "not tagged as this profile's".into(),
    })
}

/// Deletes one schedule rule (its targets first) if it is ours.
pub async fn delete_rule(c: &Clients, plan: &Plan, name: &str) -> Result<Outcome> {
    let events = &c.events;
    let Some(rule) = events
        .describe_rule()
        .name(name)
        .send()
        .await
        .found(format!("read rule {name}"))?
    else {
        return Ok(Outcome::Absent);
    };
    let arn = rule
        .arn()
        .map_or_else(|| plan.arns().rule(name), str::to_string);
    let tags = events
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .ctx(format!("read the tags of rule {name}"))?
        .tags
        .unwrap_or_default();
    let who = owner(tags.iter().map(|t| (t.key(), t.value())));
    if who.as_deref() != Some(plan.profile.as_str()) {
        return Ok(kept(who));
    }
    let ids: Vec<String> = events
        .list_targets_by_rule()
        .rule(name)
        .send()
        .await
        .ctx(format!("read the targets of rule {name}"))?
        .targets
        .unwrap_or_default()
        .iter()
        .map(|t| t.id().to_string())
        .collect();
    if !ids.is_empty() {
        events
            .remove_targets()
            .rule(name)
            .set_ids(Some(ids))
            .send()
            .await
            .found(format!("remove the targets of rule {name}"))?;
    }
    events
        .delete_rule()
        .name(name)
        .send()
        .await
        .found(format!("delete rule {name}"))?;
    Ok(Outcome::Deleted)
}

pub struct Destroy<'a> {
    pub c: &'a Clients,
    pub plan: &'a Plan,
    pub progress: &'a dyn Progress,
}

impl Destroy<'_> {
    fn ours(&self, tags: Option<String>) -> std::result::Result<(), Outcome> {
        if tags.as_deref() == Some(self.plan.profile.as_str()) {
            Ok(())
        } else {
            Err(kept(tags))
        }
    }

    async fn step<F>(&self, resource: String, f: F) -> Result<Outcome>
    where
        F: std::future::Future<Output = Result<Outcome>>,
    {
        self.progress.start(&resource);
        let o = f.await?;
        self.progress.finish(&resource, &o);
        Ok(o)
    }

    /// Deletes everything; returns each resource with what became of it.
    pub async fn run(&self) -> Result<Vec<(String, Outcome)>> {
        let mut done = Vec::new();
        let p = self.plan;
        for name in p.all_rule_names() {
            let label = format!("eventbridge rule {name}");
            done.push((
                label.clone(),
                self.step(label, delete_rule(self.c, p, &name)).await?,
            ));
        }
        let label = format!("api gateway {}", p.api.name);
        done.push((label.clone(), self.step(label, self.api()).await?));
        for f in &p.functions {
            let label = format!("lambda {}", f.name);
            done.push((
                label.clone(),
                self.step(label, self.function(&f.name)).await?,
            ));
            let label = format!("log group {}", f.log_group);
            done.push((
                label.clone(),
                self.step(label, self.log_group(&f.log_group)).await?,
            ));
        }
        for r in &p.roles {
            let label = format!("iam role {}", r.name);
            done.push((label.clone(), self.step(label, self.role(&r.name)).await?));
        }
        for q in [&p.queue, &p.dead_letter_queue] {
            let label = format!("sqs queue {}", q.name);
            done.push((label.clone(), self.step(label, self.queue(&q.name)).await?));
        }
        for t in &p.tables {
            let label = format!("dynamodb table {}", t.name);
            done.push((label.clone(), self.step(label, self.table(&t.name)).await?));
        }
        let label = format!("s3 bucket {}", p.bucket.name);
        done.push((label.clone(), self.step(label, self.bucket()).await?));
        Ok(done)
    }

    async fn api(&self) -> Result<Outcome> {
        let Some((id, tags)) = find_api(self.c, &self.plan.api.name).await? else {
            return Ok(Outcome::Absent);
        };
        if let Err(o) = self.ours(owner(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))) {
            return Ok(o);
        }
        self.c
            .api
            .delete_rest_api()
            .rest_api_id(&id)
            .send()
            .await
            .found(format!("delete rest api {id}"))?;
        Ok(Outcome::Deleted)
    }

    async fn function(&self, name: &str) -> Result<Outcome> {
        let lambda = &self.c.lambda;
        let Some(f) = lambda
            .get_function()
            .function_name(name)
            .send()
            .await
            .found(format!("read lambda {name}"))?
        else {
            return Ok(Outcome::Absent);
        };
        let tags = f.tags.unwrap_or_default();
        if let Err(o) = self.ours(owner(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))) {
            return Ok(o);
        }
        // Its permissions and reserved concurrency go with it.
        lambda
            .delete_function()
            .function_name(name)
            .send()
            .await
            .found(format!("delete lambda {name}"))?;
        Ok(Outcome::Deleted)
    }

    #[allow(deprecated)] // by log group name: what every emulator knows
    async fn log_group(&self, name: &str) -> Result<Outcome> {
        let logs = &self.c.logs;
        let tags = match logs.list_tags_log_group().log_group_name(name).send().await {
            Ok(out) => out.tags.unwrap_or_default(),
            Err(e) if is_not_found(e.code()) => return Ok(Outcome::Absent),
            Err(e) => return Err(aws(format!("read log group {name}"), e)),
        };
        let exists = logs
            .describe_log_groups()
            .log_group_name_prefix(name)
            .send()
            .await
            .ctx(format!("read log group {name}"))?
            .log_groups()
            .iter()
            .any(|g| g.log_group_name() == Some(name));
        if !exists {
            return Ok(Outcome::Absent);
        }
        if let Err(o) = self.ours(owner(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))) {
            return Ok(o);
        }
        logs.delete_log_group()
            .log_group_name(name)
            .send()
            .await
            .found(format!("delete log group {name}"))?;
        Ok(Outcome::Deleted)
    }

    async fn role(&self, name: &str) -> Result<Outcome> {
        let iam = &self.c.iam;
        let Some(out) = iam
            .get_role()
            .role_name(name)
            .send()
            .await
            .found(format!("read iam role {name}"))?
        else {
            return Ok(Outcome::Absent);
        };
        let tags = out.role().map(|r| r.tags()).unwrap_or_default();
        if let Err(o) = self.ours(owner(tags.iter().map(|t| (t.key(), t.value())))) {
            return Ok(o);
        }
        let policies = iam
            .list_role_policies()
            .role_name(name)
            .send()
            .await
            .found(format!("list the policies of {name}"))?
            .map(|o| o.policy_names)
            .unwrap_or_default();
        for policy in policies {
            iam.delete_role_policy()
                .role_name(name)
                .policy_name(&policy)
                .send()
                .await
                .found(format!("delete policy {policy} of {name}"))?;
        }
        iam.delete_role()
            .role_name(name)
            .send()
            .await
            .found(format!("delete iam role {name}"))?;
        Ok(Outcome::Deleted)
    }

    async fn queue(&self, name: &str) -> Result<Outcome> {
        let sqs = &self.c.sqs;
        let Some(url) = sqs
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .found(format!("find queue {name}"))?
            .and_then(|o| o.queue_url)
        else {
            return Ok(Outcome::Absent);
        };
        let tags = sqs
            .list_queue_tags()
            .queue_url(&url)
            .send()
            .await
            .found(format!("read the tags of queue {name}"))?
            .and_then(|o| o.tags)
            .unwrap_or_default();
        if let Err(o) = self.ours(owner(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))) {
            return Ok(o);
        }
        sqs.delete_queue()
            .queue_url(&url)
            .send()
            .await
            .found(format!("delete queue {name}"))?;
        Ok(Outcome::Deleted)
    }

    async fn table(&self, name: &str) -> Result<Outcome> {
        let ddb = &self.c.ddb;
        let Some(t) = ddb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .found(format!("read table {name}"))?
            .and_then(|o| o.table)
        else {
            return Ok(Outcome::Absent);
        };
        let arn = t
            .table_arn()
            .map_or_else(|| self.plan.arns().table(name), str::to_string);
        let tags = ddb
            .list_tags_of_resource()
            .resource_arn(&arn)
            .send()
            .await
            .found(format!("read the tags of table {name}"))?
            .and_then(|o| o.tags)
            .unwrap_or_default();
        if let Err(o) = self.ours(owner(tags.iter().map(|t| (t.key(), t.value())))) {
            return Ok(o);
        }
        ddb.delete_table()
            .table_name(name)
            .send()
            .await
            .found(format!("delete table {name}"))?;
        Ok(Outcome::Deleted)
    }

    async fn bucket(&self) -> Result<Outcome> {
        let s3 = &self.c.s3;
        let name = &self.plan.bucket.name;
        if s3
            .head_bucket()
            .bucket(name)
            .send()
            .await
            .found(format!("read bucket {name}"))?
            .is_none()
        {
            return Ok(Outcome::Absent);
        }
        let tags = match s3.get_bucket_tagging().bucket(name).send().await {
            Ok(out) => out.tag_set,
            Err(e) if e.code() == Some("NoSuchBucket") => return Ok(Outcome::Absent),
            Err(e) if is_not_found(e.code()) => Vec::new(),
            Err(e) => return Err(aws(format!("read the tags of bucket {name}"), e)),
        };
        if let Err(o) = self.ours(owner(tags.iter().map(|t| (t.key(), t.value())))) {
            return Ok(o);
        }
        loop {
            let keys: Vec<String> = s3
                .list_objects_v2()
                .bucket(name)
                .send()
                .await
                .ctx(format!("list bucket {name}"))?
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string))
                .collect();
            if keys.is_empty() {
                break;
            }
            for key in keys {
                s3.delete_object()
                    .bucket(name)
                    .key(&key)
                    .send()
                    .await
                    .found(format!("delete {key} from {name}"))?;
            }
        }
        s3.delete_bucket()
            .bucket(name)
            .send()
            .await
            .found(format!("delete bucket {name}"))?;
        Ok(Outcome::Deleted)
    }
}

use aws_smithy_types::error::metadata::ProvideErrorMetadata as _;
