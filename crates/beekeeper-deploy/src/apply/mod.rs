//! `deploy`: converges the account to the plan. Each resource is read first;
//! what is missing is created, what drifted is updated, the rest is left
//! alone. Every step can fail and be finished by running deploy again.
//!
//! One module per kind of resource, each with an `ensure` function from
//! its part of the plan to an [`Outcome`](crate::Outcome); this one runs them in order and
//! passes on what only the account knows (the queue's URL, the API's id).

mod apigateway;
mod dynamodb;
mod events;
mod iam;
mod keys;
mod lambda;
mod logs;
mod s3;
mod sqs;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_smithy_types::error::operation::BuildError;
use serde::Serialize;

use crate::clients::Clients;
use crate::error::{DeployError, Result};
use crate::plan::{Plan, SID_API, SID_SCHEDULE};
use crate::progress::{step, Changes, Progress};

pub use iam::parse_policy;
pub use lambda::code_sha256;

/// What a deploy leaves behind: recorded in the state file, printed to the user.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Deployed {
    pub region: String,
    pub account: String,
    pub api_id: String,
    /// The waiting-room URL, for the marketing emails.
    pub url: String,
    /// The client-check endpoint for the origin; the token follows the slash.
    pub client_check: String,
    pub queue_url: String,
    pub tokens_table: String,
    pub config_table: String,
    pub bucket: String,
}

/// How long to wait for AWS to settle (IAM propagation, a table or a
/// function becoming ready): attempts and the pause between them.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    pub attempts: u32,
    pub pause: Duration,
}

impl Default for Patience {
    fn default() -> Self {
        Patience {
            attempts: 30,
            pause: Duration::from_secs(2),
        }
    }
}

/// A deploy of `plan`, with the Lambda zips under `artifacts`.
pub struct Deploy<'a> {
    pub c: &'a Clients,
    pub plan: Plan,
    pub artifacts: PathBuf,
    pub progress: &'a dyn Progress,
    pub patience: Patience,
}

/// What every resource's `ensure` works with.
struct Ctx<'a> {
    c: &'a Clients,
    plan: &'a Plan,
    patience: Patience,
}

impl Ctx<'_> {
    /// Refuses a resource that another profile owns. An untagged one with
    /// this profile's name is what a deploy interrupted between creating and
    /// tagging leaves: it is adopted (tagged) by the caller. True when the
    /// resource already carries this profile's tag.
    fn check_owner(&self, resource: &str, owner: Option<String>) -> Result<bool> {
        match owner {
            Some(o) if o == self.plan.profile => Ok(true),
            Some(o) => Err(DeployError::NotOurs {
                resource: resource.to_string(),
                owner: o,
                profile: self.plan.profile.clone(),
            }),
            None => Ok(false),
        }
    }

    fn tag_map(&self) -> HashMap<String, String> {
        self.plan
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The plan's tags in a service's own tag type.
    fn tag_list<T>(
        &self,
        build: impl Fn(&str, &str) -> std::result::Result<T, BuildError>,
    ) -> Result<Vec<T>> {
        let tags = self.plan.tags.iter().map(|(k, v)| build(k, v));
        Ok(tags.collect::<std::result::Result<_, _>>()?)
    }
}

impl Deploy<'_> {
    /// Converges the account to the plan, resource by resource in the
    /// order they depend on each other, and returns where the room is. Run
    /// again after a failure, it finishes what is left; after a success it
    /// changes nothing.
    pub async fn run(self) -> Result<Deployed> {
        let plan = &self.plan;
        let progress = self.progress;
        let cx = Ctx {
            c: self.c,
            plan,
            patience: self.patience,
        };
        // Read every artifact before touching the account.
        let mut code = BTreeMap::new();
        for f in &plan.functions {
            code.insert(f.name.clone(), read_artifact(&self.artifacts, &f.artifact)?);
        }
        for role in &plan.roles {
            let label = format!("iam role {}", role.name);
            step(progress, label, iam::ensure(&cx, role)).await?;
        }
        for f in &plan.functions {
            let label = format!("log group {}", f.log_group);
            step(progress, label, logs::ensure(&cx, &f.log_group)).await?;
        }
        let label = format!("s3 bucket {}", plan.bucket.name);
        step(progress, label, s3::ensure(&cx)).await?;
        for q in [&plan.dead_letter_queue, &plan.queue] {
            step(
                progress,
                format!("sqs queue {}", q.name),
                sqs::ensure(&cx, q),
            )
            .await?;
        }
        let queue_url = sqs::url(&cx, &plan.queue).await?;
        for t in &plan.tables {
            let label = format!("dynamodb table {}", t.name);
            step(progress, label, dynamodb::ensure(&cx, t)).await?;
        }
        let config_table = plan.config_table();
        let label = format!("room config in {config_table}");
        step(
            progress,
            label,
            dynamodb::ensure_room_config(&cx, config_table),
        )
        .await?;
        for f in &plan.functions {
            let ensure = lambda::ensure(&cx, f, &code[&f.name], &queue_url);
            step(progress, format!("lambda {}", f.name), ensure).await?;
        }

        let label = format!("api gateway {}", plan.api.name);
        progress.start(&label);
        let (api_id, api) = apigateway::ensure(&cx).await?;
        progress.finish(&label, &api);
        let base = plan.arns().stage_url(&api_id, &plan.api.stage);
        let label = format!("ssm parameter {}", plan.pass_keys);
        step(progress, label, keys::ensure(&cx, &base)).await?;
        let producer = plan
            .function(crate::plan::PRODUCER)
            .map(|f| f.name.as_str())
            .ok_or_else(|| DeployError::Build("the plan has no producer".into()))?;
        let source = plan
            .arns()
            .api_route(&api_id, "GET", beekeeper_core::names::ROUTE_ENTRY);
        let ensure =
            lambda::ensure_permission(&cx, producer, SID_API, "apigateway.amazonaws.com", &source);
        step(
            progress,
            format!("permission {SID_API} on {producer}"),
            ensure,
        )
        .await?;

        for rule in &plan.rules {
            let both = async {
                let mut changes = Changes::default();
                changes
                    .absorb(events::ensure(&cx, &rule.name, &rule.schedule, &rule.function).await?);
                let arn = plan.arns().rule(&rule.name);
                let principal = "events.amazonaws.com";
                let permission =
                    lambda::ensure_permission(&cx, &rule.function, SID_SCHEDULE, principal, &arn);
                changes.absorb(permission.await?);
                Ok(changes.outcome())
            };
            step(progress, format!("eventbridge rule {}", rule.name), both).await?;
        }
        for name in plan.all_rule_names() {
            if !plan.rules.iter().any(|r| r.name == name) {
                let delete = crate::destroy::delete_rule(self.c, plan, &name);
                step(progress, format!("eventbridge rule {name}"), delete).await?;
            }
        }
        Ok(Deployed {
            region: plan.region.clone(),
            account: plan.account.clone(),
            url: format!("{base}{}", beekeeper_core::names::ROUTE_ENTRY),
            client_check: format!("{base}{}/", beekeeper_core::names::ROUTE_CLIENT_CHECK),
            api_id,
            queue_url,
            tokens_table: plan.tokens_table().to_string(),
            config_table: config_table.to_string(),
            bucket: plan.bucket.name.clone(),
        })
    }
}

fn read_artifact(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let path = dir.join(name).join("bootstrap.zip");
    std::fs::read(&path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            DeployError::MissingArtifact { path }
        } else {
            DeployError::ReadArtifact { path, source }
        }
    })
}
