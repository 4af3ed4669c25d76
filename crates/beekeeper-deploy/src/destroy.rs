//! `destroy`: deletes every resource the plan names, but only where the
//! resource carries this profile's tag. Not found counts as done, so an
//! interrupted destroy is finished by running it again.

use crate::clients::Clients;
use crate::error::{Result, SdkResult};
use crate::found::{self, Found};
use crate::plan::Plan;
use crate::progress::{step, Outcome, Progress};

/// What to do with a resource that exists: delete it if it is this
/// profile's (`Ok`), or say why it stays (`Err`).
fn ours<T>(plan: &Plan, f: &Found<T>) -> std::result::Result<(), Outcome> {
    match &f.owner {
        Some(o) if *o == plan.profile => Ok(()),
        Some(o) => Err(Outcome::Kept(format!("tagged for profile {o:?}"))),
        None => Err(Outcome::Kept("not tagged as this profile's".into())),
    }
}

/// Deletes one schedule rule (its targets first) if it is ours.
pub async fn delete_rule(c: &Clients, plan: &Plan, name: &str) -> Result<Outcome> {
    let Some(rule) = found::rule(c, name).await? else {
        return Ok(Outcome::Absent);
    };
    if let Err(o) = ours(plan, &rule) {
        return Ok(o);
    }
    let ids: Vec<String> = c
        .events
        .list_targets_by_rule()
        .rule(name)
        .send()
        .await
        .ctx(format!("read the targets of rule {name}"))?
        .targets()
        .iter()
        .map(|t| t.id().to_string())
        .collect();
    remove_targets(c, name, ids).await?;
    c.events
        .delete_rule()
        .name(name)
        .send()
        .await
        .found(format!("delete rule {name}"))?;
    Ok(Outcome::Deleted)
}

/// Removes the targets `ids` from rule `name` (none: nothing to do).
pub(crate) async fn remove_targets(c: &Clients, name: &str, ids: Vec<String>) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    c.events
        .remove_targets()
        .rule(name)
        .set_ids(Some(ids))
        .send()
        .await
        .found(format!("remove targets of rule {name}"))?;
    Ok(())
}

pub struct Destroy<'a> {
    pub c: &'a Clients,
    pub plan: &'a Plan,
    pub progress: &'a dyn Progress,
}

/// Deletes `$found` with `$delete` if it is this profile's.
macro_rules! delete_if_ours {
    ($self:ident, $found:expr, |$f:ident| $delete:expr) => {{
        let Some($f) = $found else {
            return Ok(Outcome::Absent);
        };
        if let Err(o) = ours($self.plan, &$f) {
            return Ok(o);
        }
        $delete;
        Ok(Outcome::Deleted)
    }};
}

impl Destroy<'_> {
    /// Deletes everything; returns each resource with what became of it.
    pub async fn run(&self) -> Result<Vec<(String, Outcome)>> {
        let mut done = Vec::new();
        let p = self.plan;
        for name in p.all_rule_names() {
            let label = format!("eventbridge rule {name}");
            done.push((
                label.clone(),
                step(self.progress, label, delete_rule(self.c, p, &name)).await?,
            ));
        }
        let label = format!("api gateway {}", p.api.name);
        done.push((label.clone(), step(self.progress, label, self.api()).await?));
        for f in &p.functions {
            let label = format!("lambda {}", f.name);
            done.push((
                label.clone(),
                step(self.progress, label, self.function(&f.name)).await?,
            ));
            let label = format!("log group {}", f.log_group);
            done.push((
                label.clone(),
                step(self.progress, label, self.log_group(&f.log_group)).await?,
            ));
        }
        for r in &p.roles {
            let label = format!("iam role {}", r.name);
            done.push((
                label.clone(),
                step(self.progress, label, self.role(&r.name)).await?,
            ));
        }
        for q in [&p.queue, &p.dead_letter_queue] {
            let label = format!("sqs queue {}", q.name);
            done.push((
                label.clone(),
                step(self.progress, label, self.queue(&q.name)).await?,
            ));
        }
        for t in &p.tables {
            let label = format!("dynamodb table {}", t.name);
            done.push((
                label.clone(),
                step(self.progress, label, self.table(&t.name)).await?,
            ));
        }
        let label = format!("ssm parameter {}", p.pass_keys);
        done.push((
            label.clone(),
            step(self.progress, label, self.pass_keys()).await?,
        ));
        let label = format!("s3 bucket {}", p.bucket.name);
        done.push((
            label.clone(),
            step(self.progress, label, self.bucket()).await?,
        ));
        Ok(done)
    }

    async fn api(&self) -> Result<Outcome> {
        let (c, p) = (self.c, self.plan);
        delete_if_ours!(self, found::api(c, &p.api.name, &p.profile).await?, |f| {
            c.api
                .delete_rest_api()
                .rest_api_id(&f.it)
                .send()
                .await
                .found(format!("delete rest api {}", f.it))?
        })
    }

    /// Its permissions and reserved concurrency go with it.
    async fn function(&self, name: &str) -> Result<Outcome> {
        let c = self.c;
        delete_if_ours!(self, found::function(c, name).await?, |f| {
            c.lambda
                .delete_function()
                .function_name(name)
                .send()
                .await
                .found(format!("delete lambda {name}"))?
        })
    }

    async fn log_group(&self, name: &str) -> Result<Outcome> {
        let c = self.c;
        delete_if_ours!(self, found::log_group(c, name).await?, |f| {
            c.logs
                .delete_log_group()
                .log_group_name(name)
                .send()
                .await
                .found(format!("delete log group {name}"))?
        })
    }

    async fn role(&self, name: &str) -> Result<Outcome> {
        let c = self.c;
        delete_if_ours!(self, found::role(c, name).await?, |f| {
            let policies = c
                .iam
                .list_role_policies()
                .role_name(name)
                .send()
                .await
                .found(format!("list the policies of {name}"))?
                .map(|o| o.policy_names)
                .unwrap_or_default();
            for policy in policies {
                c.iam
                    .delete_role_policy()
                    .role_name(name)
                    .policy_name(&policy)
                    .send()
                    .await
                    .found(format!("delete policy {policy} of {name}"))?;
            }
            c.iam
                .delete_role()
                .role_name(name)
                .send()
                .await
                .found(format!("delete iam role {name}"))?
        })
    }

    async fn queue(&self, name: &str) -> Result<Outcome> {
        let c = self.c;
        delete_if_ours!(self, found::queue(c, name).await?, |f| {
            c.sqs
                .delete_queue()
                .queue_url(&f.it)
                .send()
                .await
                .found(format!("delete queue {name}"))?
        })
    }

    async fn table(&self, name: &str) -> Result<Outcome> {
        let c = self.c;
        delete_if_ours!(self, found::table(c, name).await?, |f| {
            c.ddb
                .delete_table()
                .table_name(name)
                .send()
                .await
                .found(format!("delete table {name}"))?
        })
    }

    async fn pass_keys(&self) -> Result<Outcome> {
        let (c, name) = (self.c, &self.plan.pass_keys);
        delete_if_ours!(self, found::parameter(c, name).await?, |f| {
            c.ssm
                .delete_parameter()
                .name(name)
                .send()
                .await
                .found(format!("delete parameter {name}"))?
        })
    }

    /// Its objects first: S3 deletes only empty buckets.
    async fn bucket(&self) -> Result<Outcome> {
        let (c, name) = (self.c, &self.plan.bucket.name);
        let owner = self.plan.account.as_str();
        delete_if_ours!(self, found::bucket(c, name, owner).await?, |f| {
            loop {
                let keys: Vec<String> =
                    c.s3.list_objects_v2()
                        .bucket(name)
                        .expected_bucket_owner(owner)
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
                    c.s3.delete_object()
                        .bucket(name)
                        .expected_bucket_owner(owner)
                        .key(&key)
                        .send()
                        .await
                        .found(format!("delete {key} from {name}"))?;
                }
            }
            c.s3.delete_bucket()
                .bucket(name)
                .expected_bucket_owner(owner)
                .send()
                .await
                .found(format!("delete bucket {name}"))?
        })
    }
}
