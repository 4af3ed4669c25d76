//! `deploy`: converges the account to the plan. Each resource is read first;
//! what is missing is created, what drifted is updated, the rest is left
//! alone. Every step can fail and be finished by running deploy again.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_apigateway::types as gw;
use aws_sdk_dynamodb::types as ddbt;
use aws_sdk_lambda::types as lt;
use aws_smithy_types::error::metadata::ProvideErrorMetadata as _;
use aws_smithy_types::error::operation::BuildError;
use aws_smithy_types::Blob;
use beekeeper_core::RoomConfig;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::clients::Clients;
use crate::error::{DeployError, Result, SdkResult};
use crate::found::{self, Found};
use crate::plan::{
    FunctionPlan, Integration, Plan, QueuePlan, RolePlan, RoutePlan, TablePlan, LOG_RETENTION_DAYS,
    POLICY_NAME, SID_API, SID_SCHEDULE,
};
use crate::progress::{step, Outcome, Progress};

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

pub struct Deploy<'a> {
    pub c: &'a Clients,
    pub plan: Plan,
    pub artifacts: PathBuf,
    pub progress: &'a dyn Progress,
    pub patience: Patience,
}

impl Deploy<'_> {
    /// Refuses a resource that another profile owns. An untagged one with
    /// this profile's name is what a deploy interrupted between creating and
    /// tagging leaves: it is adopted (tagged) below.
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

    pub async fn run(mut self) -> Result<Deployed> {
        // Read every artifact before touching the account.
        let mut code = BTreeMap::new();
        for f in &self.plan.functions {
            code.insert(f.name.clone(), read_artifact(&self.artifacts, &f.artifact)?);
        }
        let mut fresh_role = false;
        for role in self.plan.roles.clone() {
            let o = step(
                self.progress,
                format!("iam role {}", role.name),
                self.role(&role),
            )
            .await?;
            fresh_role |= o == Outcome::Created;
        }
        for f in self.plan.functions.clone() {
            step(
                self.progress,
                format!("log group {}", f.log_group),
                self.log_group(&f.log_group),
            )
            .await?;
        }
        step(
            self.progress,
            format!("s3 bucket {}", self.plan.bucket.name),
            self.bucket(),
        )
        .await?;
        let dlq = self.plan.dead_letter_queue.clone();
        step(
            self.progress,
            format!("sqs queue {}", dlq.name),
            self.queue(&dlq),
        )
        .await?;
        let queue = self.plan.queue.clone();
        step(
            self.progress,
            format!("sqs queue {}", queue.name),
            self.queue(&queue),
        )
        .await?;
        let queue_url = self
            .c
            .sqs
            .get_queue_url()
            .queue_name(&queue.name)
            .send()
            .await
            .ctx(format!("find queue {}", queue.name))?
            .queue_url
            .unwrap_or_default();
        // The Lambdas use the URL SQS gives, whatever its endpoint.
        for f in &mut self.plan.functions {
            f.environment.insert(
                beekeeper_core::names::env::QUEUE_URL.into(),
                queue_url.clone(),
            );
        }
        for t in self.plan.tables.clone() {
            step(
                self.progress,
                format!("dynamodb table {}", t.name),
                self.table(&t),
            )
            .await?;
        }
        let config_table = self.plan.config_table().to_string();
        step(
            self.progress,
            format!("room config in {config_table}"),
            self.room_config(&config_table),
        )
        .await?;
        if fresh_role {
            // A role is usable by Lambda only once IAM has propagated it;
            // creating the function below retries until then.
            tracing::info!("new roles: Lambda may refuse them for a few seconds");
        }
        for f in self.plan.functions.clone() {
            let zip = &code[&f.name];
            step(
                self.progress,
                format!("lambda {}", f.name),
                self.function(&f, zip),
            )
            .await?;
        }
        let api_id = self.api().await?;
        let producer = self
            .plan
            .function(crate::plan::PRODUCER)
            .map(|f| f.name.clone())
            .unwrap_or_default();
        let source = self
            .plan
            .arns()
            .api_route(&api_id, "GET", beekeeper_core::names::ROUTE_ENTRY);
        step(
            self.progress,
            format!("permission {SID_API} on {producer}"),
            self.permission(&producer, SID_API, "apigateway.amazonaws.com", &source),
        )
        .await?;
        for rule in self.plan.rules.clone() {
            step(
                self.progress,
                format!("eventbridge rule {}", rule.name),
                async {
                    let o = self
                        .rule(&rule.name, &rule.schedule, &rule.function)
                        .await?;
                    let arn = self.plan.arns().rule(&rule.name);
                    let p = self
                        .permission(&rule.function, SID_SCHEDULE, "events.amazonaws.com", &arn)
                        .await?;
                    Ok(merge(o, p))
                },
            )
            .await?;
        }
        for name in self.plan.all_rule_names() {
            if !self.plan.rules.iter().any(|r| r.name == name) {
                step(
                    self.progress,
                    format!("eventbridge rule {name}"),
                    crate::destroy::delete_rule(self.c, &self.plan, &name),
                )
                .await?;
            }
        }
        let base = format!(
            "https://{api_id}.execute-api.{}.amazonaws.com/{}",
            self.plan.region, self.plan.api.stage
        );
        Ok(Deployed {
            region: self.plan.region.clone(),
            account: self.plan.account.clone(),
            url: format!("{base}{}", beekeeper_core::names::ROUTE_ENTRY),
            client_check: format!("{base}{}/", beekeeper_core::names::ROUTE_CLIENT_CHECK),
            api_id,
            queue_url,
            tokens_table: self.plan.tokens_table().to_string(),
            config_table,
            bucket: self.plan.bucket.name.clone(),
        })
    }

    async fn role(&self, role: &RolePlan) -> Result<Outcome> {
        let iam = &self.c.iam;
        let trust = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": { "Service": role.service },
                "Action": "sts:AssumeRole",
            }],
        });
        let mut changes = Vec::new();
        let label = format!("iam role {}", role.name);
        match found::role(self.c, &role.name).await? {
            None => {
                let tags = self
                    .tag_list(|k, v| aws_sdk_iam::types::Tag::builder().key(k).value(v).build())?;
                iam.create_role()
                    .role_name(&role.name)
                    .assume_role_policy_document(trust.to_string())
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .ctx(format!("create {label}"))?;
                changes.push("created");
            }
            Some(f) => {
                if !self.check_owner(&label, f.owner)? {
                    let tags = self.tag_list(|k, v| {
                        aws_sdk_iam::types::Tag::builder().key(k).value(v).build()
                    })?;
                    iam.tag_role()
                        .role_name(&role.name)
                        .set_tags(Some(tags))
                        .send()
                        .await
                        .ctx(format!("tag {label}"))?;
                    changes.push("tags");
                }
                let current = f.it.assume_role_policy_document().and_then(parse_policy);
                if current.as_ref() != Some(&trust) {
                    iam.update_assume_role_policy()
                        .role_name(&role.name)
                        .policy_document(trust.to_string())
                        .send()
                        .await
                        .ctx(format!("update the trust policy of {}", role.name))?;
                    changes.push("trust policy");
                }
            }
        }
        let current = iam
            .get_role_policy()
            .role_name(&role.name)
            .policy_name(POLICY_NAME)
            .send()
            .await
            .found(format!("read the policy of {}", role.name))?
            .and_then(|p| parse_policy(p.policy_document()));
        if current.as_ref() != Some(&role.policy) {
            iam.put_role_policy()
                .role_name(&role.name)
                .policy_name(POLICY_NAME)
                .policy_document(role.policy.to_string())
                .send()
                .await
                .ctx(format!("write the policy of {}", role.name))?;
            changes.push("policy");
        }
        Ok(outcome(changes))
    }

    #[allow(deprecated)] // tag by log group name: what every emulator knows
    async fn log_group(&self, name: &str) -> Result<Outcome> {
        let logs = &self.c.logs;
        let mut changes = Vec::new();
        let retention = match found::log_group(self.c, name).await? {
            None => {
                logs.create_log_group()
                    .log_group_name(name)
                    .set_tags(Some(self.tag_map()))
                    .send()
                    .await
                    .ctx(format!("create log group {name}"))?;
                changes.push("created");
                None
            }
            Some(f) => {
                if !self.check_owner(&format!("log group {name}"), f.owner)? {
                    logs.tag_log_group()
                        .log_group_name(name)
                        .set_tags(Some(self.tag_map()))
                        .send()
                        .await
                        .ctx(format!("tag log group {name}"))?;
                    changes.push("tags");
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
            changes.push("retention");
        }
        Ok(outcome(changes))
    }

    async fn bucket(&self) -> Result<Outcome> {
        use aws_sdk_s3::types as s3t;
        let s3 = &self.c.s3;
        let name = &self.plan.bucket.name;
        let mut changes = Vec::new();
        let found = found::bucket(self.c, name).await?;
        let exists = found.is_some();
        let mut tagged = false;
        if let Some(f) = found {
            tagged = self.check_owner(&format!("s3 bucket {name}"), f.owner)?;
        } else {
            let mut create = s3.create_bucket().bucket(name);
            if self.plan.region != "us-east-1" {
                create = create.create_bucket_configuration(
                    s3t::CreateBucketConfiguration::builder()
                        .location_constraint(s3t::BucketLocationConstraint::from(
                            self.plan.region.as_str(),
                        ))
                        .build(),
                );
            }
            create.send().await.ctx(format!("create bucket {name}"))?;
            changes.push("created");
        }
        if !tagged {
            let tags = self.tag_list(|k, v| s3t::Tag::builder().key(k).value(v).build())?;
            let tagging = s3t::Tagging::builder().set_tag_set(Some(tags)).build()?;
            s3.put_bucket_tagging()
                .bucket(name)
                .tagging(tagging)
                .send()
                .await
                .ctx(format!("tag bucket {name}"))?;
            if exists {
                changes.push("tags");
            }
        }
        let block = s3
            .get_public_access_block()
            .bucket(name)
            .send()
            .await
            .found(format!("read the public access block of {name}"))?
            .and_then(|o| o.public_access_block_configuration);
        let blocked = block.is_some_and(|b| {
            b.block_public_acls() == Some(true)
                && b.ignore_public_acls() == Some(true)
                && b.block_public_policy() == Some(true)
                && b.restrict_public_buckets() == Some(true)
        });
        if !blocked {
            s3.put_public_access_block()
                .bucket(name)
                .public_access_block_configuration(
                    s3t::PublicAccessBlockConfiguration::builder()
                        .block_public_acls(true)
                        .ignore_public_acls(true)
                        .block_public_policy(true)
                        .restrict_public_buckets(true)
                        .build(),
                )
                .send()
                .await
                .ctx(format!("block public access to {name}"))?;
            if exists {
                changes.push("public access block");
            }
        }
        let listed = s3
            .list_objects_v2()
            .bucket(name)
            .send()
            .await
            .ctx(format!("list bucket {name}"))?;
        let present: Vec<String> = listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect();
        for obj in &self.plan.bucket.objects {
            let same = if present.contains(&obj.key) {
                let out = s3
                    .get_object()
                    .bucket(name)
                    .key(&obj.key)
                    .send()
                    .await
                    .ctx(format!("read {}", obj.key))?;
                let content_type = out.content_type().map(str::to_string);
                let body = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| DeployError::NotReady {
                        resource: obj.key.clone(),
                        detail: e.to_string(),
                    })?
                    .into_bytes();
                content_type.as_deref() == Some(obj.content_type.as_str())
                    && body.as_ref() == obj.body.as_bytes()
            } else {
                false
            };
            if !same {
                s3.put_object()
                    .bucket(name)
                    .key(&obj.key)
                    .content_type(&obj.content_type)
                    .body(obj.body.clone().into_bytes().into())
                    .send()
                    .await
                    .ctx(format!("upload {}", obj.key))?;
                changes.push("page");
            }
        }
        for stray in present
            .iter()
            .filter(|k| !self.plan.bucket.objects.iter().any(|o| &o.key == *k))
        {
            s3.delete_object()
                .bucket(name)
                .key(stray)
                .send()
                .await
                .ctx(format!("delete stray object {stray}"))?;
            changes.push("stray objects");
        }
        changes.dedup();
        Ok(outcome(changes))
    }

    async fn queue(&self, q: &QueuePlan) -> Result<Outcome> {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let sqs = &self.c.sqs;
        let mut want: HashMap<A, String> = q
            .attributes
            .iter()
            .map(|(k, v)| (A::from(k.as_str()), v.clone()))
            .collect();
        let Some(found) = found::queue(self.c, &q.name).await? else {
            sqs.create_queue()
                .queue_name(&q.name)
                .set_attributes(Some(want))
                .set_tags(Some(self.tag_map()))
                .send()
                .await
                .ctx(format!("create queue {}", q.name))?;
            return Ok(Outcome::Created);
        };
        let url = found.it;
        let mut changes = Vec::new();
        if !self.check_owner(&format!("sqs queue {}", q.name), found.owner)? {
            sqs.tag_queue()
                .queue_url(&url)
                .set_tags(Some(self.tag_map()))
                .send()
                .await
                .ctx(format!("tag queue {}", q.name))?;
            changes.push("tags");
        }
        let have = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(A::All)
            .send()
            .await
            .ctx(format!("read queue {}", q.name))?
            .attributes
            .unwrap_or_default();
        want.retain(|k, v| !same_attribute(have.get(k).map(String::as_str), v));
        if !want.is_empty() {
            sqs.set_queue_attributes()
                .queue_url(&url)
                .set_attributes(Some(want))
                .send()
                .await
                .ctx(format!("update queue {}", q.name))?;
            changes.push("attributes");
        }
        Ok(outcome(changes))
    }

    async fn table(&self, t: &TablePlan) -> Result<Outcome> {
        let ddb = &self.c.ddb;
        let mut changes = Vec::new();
        let arn = self.plan.arns().table(&t.name);
        match found::table(self.c, &t.name).await? {
            None => {
                let tags = self.tag_list(|k, v| ddbt::Tag::builder().key(k).value(v).build())?;
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
                changes.push("created");
            }
            Some(f) => {
                let arn = f.it.table_arn().unwrap_or(&arn).to_string();
                if !self.check_owner(&format!("dynamodb table {}", t.name), f.owner)? {
                    let tags =
                        self.tag_list(|k, v| ddbt::Tag::builder().key(k).value(v).build())?;
                    ddb.tag_resource()
                        .resource_arn(&arn)
                        .set_tags(Some(tags))
                        .send()
                        .await
                        .ctx(format!("tag table {}", t.name))?;
                    changes.push("tags");
                }
            }
        }
        self.wait_table(&t.name).await?;
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
                if !changes.contains(&"created") {
                    changes.push("ttl");
                }
            }
        }
        Ok(outcome(changes))
    }

    async fn wait_table(&self, name: &str) -> Result<()> {
        for _ in 0..self.patience.attempts {
            let status = self
                .c
                .ddb
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
            tokio::time::sleep(self.patience.pause).await;
        }
        Err(DeployError::NotReady {
            resource: format!("dynamodb table {name}"),
            detail: "still not ACTIVE".into(),
        })
    }

    /// The room config item: what [`RoomConfig::resumed`] makes of the
    /// stored item and the profile, so a redeploy does not undo `off`.
    async fn room_config(&self, table: &str) -> Result<Outcome> {
        let current = crate::control::read_config(self.c, table).await?;
        let want = RoomConfig::resumed(current.as_ref(), &self.plan.room);
        if current.as_ref() == Some(&want) {
            return Ok(Outcome::Unchanged);
        }
        crate::control::write_config(self.c, table, &want).await?;
        Ok(if current.is_none() {
            Outcome::Created
        } else {
            Outcome::Updated("settings from the profile".into())
        })
    }

    async fn function(&self, f: &FunctionPlan, zip: &[u8]) -> Result<Outcome> {
        let lambda = &self.c.lambda;
        let role = self.plan.arns().role(&f.role);
        let env = lt::Environment::builder()
            .set_variables(Some(f.environment.clone().into_iter().collect()))
            .build();
        let mut changes = Vec::new();
        match found::function(self.c, &f.name).await? {
            None => {
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    let r = lambda
                        .create_function()
                        .function_name(&f.name)
                        .runtime(lt::Runtime::Providedal2023)
                        .architectures(lt::Architecture::X8664)
                        .handler("bootstrap")
                        .role(&role)
                        .memory_size(f.memory_mb)
                        .timeout(f.timeout_secs)
                        .environment(env.clone())
                        .code(lt::FunctionCode::builder().zip_file(Blob::new(zip)).build())
                        .set_tags(Some(self.tag_map()))
                        .send()
                        .await;
                    match r {
                        Ok(_) => break,
                        // IAM has not propagated the new role to Lambda yet.
                        Err(e)
                            if attempt < self.patience.attempts
                                && e.code() == Some("InvalidParameterValueException")
                                && e.message().is_some_and(|m| m.contains("role")) =>
                        {
                            tokio::time::sleep(self.patience.pause).await;
                        }
                        Err(e) => {
                            return Err(crate::error::aws(format!("create lambda {}", f.name), e))
                        }
                    }
                }
                changes.push("created");
            }
            Some(found) => {
                if !self.check_owner(&format!("lambda {}", f.name), found.owner)? {
                    lambda
                        .tag_resource()
                        .resource(self.plan.arns().function(&f.name))
                        .set_tags(Some(self.tag_map()))
                        .send()
                        .await
                        .ctx(format!("tag lambda {}", f.name))?;
                    changes.push("tags");
                }
                let cfg = found
                    .it
                    .configuration
                    .unwrap_or_else(|| lt::FunctionConfiguration::builder().build());
                let have_env: BTreeMap<String, String> = cfg
                    .environment()
                    .and_then(|e| e.variables())
                    .map(|v| v.clone().into_iter().collect())
                    .unwrap_or_default();
                let same_config = cfg.role() == Some(role.as_str())
                    && cfg.runtime() == Some(&lt::Runtime::Providedal2023)
                    && cfg.handler() == Some("bootstrap")
                    && cfg.memory_size() == Some(f.memory_mb)
                    && cfg.timeout() == Some(f.timeout_secs)
                    && have_env == f.environment;
                if !same_config {
                    self.wait_function(&f.name).await?;
                    lambda
                        .update_function_configuration()
                        .function_name(&f.name)
                        .runtime(lt::Runtime::Providedal2023)
                        .handler("bootstrap")
                        .role(&role)
                        .memory_size(f.memory_mb)
                        .timeout(f.timeout_secs)
                        .environment(env)
                        .send()
                        .await
                        .ctx(format!("update the configuration of {}", f.name))?;
                    changes.push("configuration");
                }
                if cfg.code_sha256() != Some(code_sha256(zip).as_str()) {
                    self.wait_function(&f.name).await?;
                    lambda
                        .update_function_code()
                        .function_name(&f.name)
                        .zip_file(Blob::new(zip))
                        .architectures(lt::Architecture::X8664)
                        .send()
                        .await
                        .ctx(format!("update the code of {}", f.name))?;
                    changes.push("code");
                }
            }
        }
        let reserved = lambda
            .get_function_concurrency()
            .function_name(&f.name)
            .send()
            .await
            .ctx(format!("read the concurrency of {}", f.name))?
            .reserved_concurrent_executions;
        if reserved != f.reserved_concurrency {
            match f.reserved_concurrency {
                Some(n) => {
                    lambda
                        .put_function_concurrency()
                        .function_name(&f.name)
                        .reserved_concurrent_executions(n)
                        .send()
                        .await
                        .ctx(format!("reserve concurrency for {}", f.name))?;
                }
                None => {
                    lambda
                        .delete_function_concurrency()
                        .function_name(&f.name)
                        .send()
                        .await
                        .ctx(format!("release the concurrency of {}", f.name))?;
                }
            }
            if !changes.contains(&"created") {
                changes.push("reserved concurrency");
            }
        }
        Ok(outcome(changes))
    }

    /// Lambda refuses a change while the previous one is in progress.
    async fn wait_function(&self, name: &str) -> Result<()> {
        for _ in 0..self.patience.attempts {
            let cfg = self
                .c
                .lambda
                .get_function_configuration()
                .function_name(name)
                .send()
                .await
                .ctx(format!("read lambda {name}"))?;
            let busy = cfg.state() == Some(&lt::State::Pending)
                || cfg.last_update_status() == Some(&lt::LastUpdateStatus::InProgress);
            if !busy {
                return Ok(());
            }
            tokio::time::sleep(self.patience.pause).await;
        }
        Err(DeployError::NotReady {
            resource: format!("lambda {name}"),
            detail: "an update is still in progress".into(),
        })
    }

    /// A permission for `principal` to invoke `function`, only from `source`.
    async fn permission(
        &self,
        function: &str,
        sid: &str,
        principal: &str,
        source: &str,
    ) -> Result<Outcome> {
        let lambda = &self.c.lambda;
        let policy = lambda
            .get_policy()
            .function_name(function)
            .send()
            .await
            .found(format!("read the permissions of {function}"))?
            .and_then(|p| p.policy)
            .and_then(|p| serde_json::from_str::<Value>(&p).ok());
        let statement = policy.as_ref().and_then(|p| {
            p["Statement"]
                .as_array()?
                .iter()
                .find(|s| s["Sid"] == sid)
                .cloned()
        });
        if let Some(st) = &statement {
            if statement_source(st) == Some(source) && statement_principal(st) == Some(principal) {
                return Ok(Outcome::Unchanged);
            }
            lambda
                .remove_permission()
                .function_name(function)
                .statement_id(sid)
                .send()
                .await
                .found(format!("remove permission {sid} from {function}"))?;
        }
        lambda
            .add_permission()
            .function_name(function)
            .statement_id(sid)
            .action("lambda:InvokeFunction")
            .principal(principal)
            .source_arn(source)
            .send()
            .await
            .ctx(format!("let {principal} invoke {function}"))?;
        Ok(if statement.is_some() {
            Outcome::Updated("permission".into())
        } else {
            Outcome::Created
        })
    }

    async fn rule(&self, name: &str, schedule: &str, function: &str) -> Result<Outcome> {
        use aws_sdk_eventbridge::types as ev;
        let events = &self.c.events;
        let arn = self.plan.arns().rule(name);
        let found = found::rule(self.c, name).await?;
        let mut changes = Vec::new();
        let tags = self.tag_list(|k, v| ev::Tag::builder().key(k).value(v).build())?;
        let same = found.as_ref().is_some_and(|r| {
            r.it.schedule_expression() == Some(schedule)
                && r.it.state() == Some(&ev::RuleState::Enabled)
        });
        if let Some(r) = &found {
            let arn = r.it.arn().unwrap_or(&arn);
            if !self.check_owner(&format!("eventbridge rule {name}"), r.owner.clone())? {
                events
                    .tag_resource()
                    .resource_arn(arn)
                    .set_tags(Some(tags.clone()))
                    .send()
                    .await
                    .ctx(format!("tag rule {name}"))?;
                changes.push("tags");
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
            changes.push(if found.is_some() {
                "schedule"
            } else {
                "created"
            });
        }
        let want = self.plan.arns().function(function);
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
            crate::destroy::remove_targets(self.c, name, stray).await?;
            changes.push("targets");
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
            if !changes.contains(&"created") {
                changes.push("targets");
            }
        }
        changes.dedup();
        Ok(outcome(changes))
    }

    /// The REST API, its routes, and a deployment when what it serves changed.
    async fn api(&self) -> Result<String> {
        let gwc = &self.c.api;
        let name = &self.plan.api.name;
        let label = format!("api gateway {name}");
        self.progress.start(&label);
        let mut changes = Vec::new();
        let id = match found::api(self.c, name, &self.plan.profile).await? {
            Some(Found { owner, it: id }) => {
                if !self.check_owner(&label, owner)? {
                    gwc.tag_resource()
                        .resource_arn(format!(
                            "arn:aws:apigateway:{}::/restapis/{id}",
                            self.plan.region
                        ))
                        .set_tags(Some(self.tag_map()))
                        .send()
                        .await
                        .ctx(format!("tag {label}"))?;
                    changes.push("tags");
                }
                id
            }
            None => {
                let out = gwc
                    .create_rest_api()
                    .name(name)
                    .description(format!("beekeeper waiting room {}", self.plan.profile))
                    .endpoint_configuration(
                        gw::EndpointConfiguration::builder()
                            .types(gw::EndpointType::Regional)
                            .build(),
                    )
                    .set_tags(Some(self.tag_map()))
                    .send()
                    .await
                    .ctx(format!("create {label}"))?;
                changes.push("created");
                out.id.unwrap_or_default()
            }
        };
        let mut resources = self.resources(&id).await?;
        for route in self.plan.api.routes.clone() {
            let resource = self.resource(&id, &mut resources, &route.path).await?;
            if self.route(&id, &resource, &route).await? && !changes.contains(&"created") {
                changes.push("routes");
            }
        }
        changes.dedup();
        // What the stage serves is a snapshot: a new one is made whenever the
        // planned definition differs from the one the stage was last given.
        let digest = self.api_digest(&id);
        let stage = gwc
            .get_stage()
            .rest_api_id(&id)
            .stage_name(&self.plan.api.stage)
            .send()
            .await
            .found(format!("read stage {}", self.plan.api.stage))?;
        let served = match &stage {
            Some(s) => match s.deployment_id() {
                Some(dep) => gwc
                    .get_deployment()
                    .rest_api_id(&id)
                    .deployment_id(dep)
                    .send()
                    .await
                    .found("read the deployment")?
                    .and_then(|d| d.description),
                None => None,
            },
            None => None,
        };
        let vars_ok = stage.as_ref().is_some_and(|s| {
            let have: BTreeMap<String, String> = s
                .variables()
                .map(|v| v.clone().into_iter().collect())
                .unwrap_or_default();
            have == self.plan.api.stage_variables
        });
        if served.as_deref() != Some(digest.as_str()) || !vars_ok {
            gwc.create_deployment()
                .rest_api_id(&id)
                .stage_name(&self.plan.api.stage)
                .description(&digest)
                .set_variables(Some(
                    self.plan.api.stage_variables.clone().into_iter().collect(),
                ))
                .send()
                .await
                .ctx(format!("deploy stage {}", self.plan.api.stage))?;
            if !changes.contains(&"created") {
                changes.push("deployment");
            }
        }
        self.progress.finish(&label, &outcome(changes));
        Ok(id)
    }

    fn api_digest(&self, id: &str) -> String {
        let text =
            serde_json::to_string(&(&self.plan.api, id, &self.plan.account, &self.plan.region))
                .unwrap_or_default();
        let hash = Sha256::digest(text.as_bytes());
        let hex: String = hash.iter().take(12).map(|b| format!("{b:02x}")).collect();
        format!("beekeeper definition {hex}")
    }

    async fn resources(&self, id: &str) -> Result<HashMap<String, String>> {
        let out = self
            .c
            .api
            .get_resources()
            .rest_api_id(id)
            .limit(500)
            .send()
            .await
            .ctx("read the api's resources")?;
        Ok(out
            .items()
            .iter()
            .filter_map(|r| Some((r.path()?.to_string(), r.id()?.to_string())))
            .collect())
    }

    /// The id of the resource at `path`, creating it and its parents.
    async fn resource(
        &self,
        api: &str,
        known: &mut HashMap<String, String>,
        path: &str,
    ) -> Result<String> {
        let mut at = String::new();
        let mut parent = known
            .get("/")
            .cloned()
            .ok_or_else(|| DeployError::NotReady {
                resource: "api gateway root".into(),
                detail: "the api has no / resource".into(),
            })?;
        for part in path.trim_start_matches('/').split('/') {
            at = format!("{at}/{part}");
            parent = match known.get(&at) {
                Some(id) => id.clone(),
                None => {
                    let out = self
                        .c
                        .api
                        .create_resource()
                        .rest_api_id(api)
                        .parent_id(&parent)
                        .path_part(part)
                        .send()
                        .await
                        .ctx(format!("create api resource {at}"))?;
                    let id = out.id.unwrap_or_default();
                    known.insert(at.clone(), id.clone());
                    id
                }
            };
        }
        Ok(parent)
    }

    /// Converges one route's method, integration and responses; true if
    /// anything changed.
    async fn route(&self, api: &str, resource: &str, route: &RoutePlan) -> Result<bool> {
        let gwc = &self.c.api;
        let want = self.wanted(route);
        let have = gwc
            .get_method()
            .rest_api_id(api)
            .resource_id(resource)
            .http_method(&route.method)
            .send()
            .await
            .found(format!("read {} {}", route.method, route.path))?;
        let method_ok = have.as_ref().is_some_and(|m| {
            m.authorization_type() == Some("NONE")
                && m.request_parameters().cloned().unwrap_or_default() == want.method_params
        });
        let mut changed = false;
        if !method_ok {
            if have.is_some() {
                gwc.delete_method()
                    .rest_api_id(api)
                    .resource_id(resource)
                    .http_method(&route.method)
                    .send()
                    .await
                    .found(format!("replace {} {}", route.method, route.path))?;
            }
            gwc.put_method()
                .rest_api_id(api)
                .resource_id(resource)
                .http_method(&route.method)
                .authorization_type("NONE")
                .set_request_parameters(Some(want.method_params.clone()))
                .send()
                .await
                .ctx(format!("create {} {}", route.method, route.path))?;
            changed = true;
        }
        let have = if method_ok { have } else { None };
        let integration = have.as_ref().and_then(|m| m.method_integration());
        let integration_ok = integration.is_some_and(|i| {
            i.r#type() == Some(&want.kind)
                && i.uri() == Some(want.uri.as_str())
                && i.http_method() == Some(want.http_method.as_str())
                && i.credentials() == want.credentials.as_deref()
                && i.request_parameters().cloned().unwrap_or_default() == want.request_params
                && i.request_templates().cloned().unwrap_or_default() == want.request_templates
        });
        if !integration_ok {
            gwc.put_integration()
                .rest_api_id(api)
                .resource_id(resource)
                .http_method(&route.method)
                .r#type(want.kind.clone())
                .integration_http_method(&want.http_method)
                .uri(&want.uri)
                .set_credentials(want.credentials.clone())
                .set_request_parameters(Some(want.request_params.clone()))
                .set_request_templates(Some(want.request_templates.clone()))
                .set_passthrough_behavior(
                    (!want.request_templates.is_empty()).then(|| "NEVER".to_string()),
                )
                .send()
                .await
                .ctx(format!("integrate {} {}", route.method, route.path))?;
            changed = true;
        }
        for r in &want.responses {
            let method_response_ok = have
                .as_ref()
                .and_then(|m| m.method_responses())
                .and_then(|m| m.get(&r.status))
                .is_some_and(|m| {
                    m.response_parameters().cloned().unwrap_or_default() == r.method_params
                });
            if !method_response_ok {
                gwc.put_method_response()
                    .rest_api_id(api)
                    .resource_id(resource)
                    .http_method(&route.method)
                    .status_code(&r.status)
                    .set_response_parameters(Some(r.method_params.clone()))
                    .send()
                    .await
                    .ctx(format!(
                        "answer {} on {} {}",
                        r.status, route.method, route.path
                    ))?;
                changed = true;
            }
            let integration_response_ok = integration_ok
                && integration
                    .and_then(|i| i.integration_responses())
                    .and_then(|m| m.get(&r.status))
                    .is_some_and(|i| {
                        i.selection_pattern() == r.pattern.as_deref()
                            && i.response_parameters().cloned().unwrap_or_default() == r.params
                            && i.response_templates().cloned().unwrap_or_default() == r.templates
                    });
            if !integration_response_ok {
                gwc.put_integration_response()
                    .rest_api_id(api)
                    .resource_id(resource)
                    .http_method(&route.method)
                    .status_code(&r.status)
                    .set_selection_pattern(r.pattern.clone())
                    .set_response_parameters(Some(r.params.clone()))
                    .set_response_templates(Some(r.templates.clone()))
                    .send()
                    .await
                    .ctx(format!(
                        "map {} on {} {}",
                        r.status, route.method, route.path
                    ))?;
                changed = true;
            }
        }
        Ok(changed)
    }

    fn wanted(&self, route: &RoutePlan) -> WantedRoute {
        let arns = self.plan.arns();
        let role = Some(arns.role(&self.plan.api.role));
        let json_templates =
            |t: &str| HashMap::from([("application/json".to_string(), t.to_string())]);
        match &route.integration {
            Integration::Lambda { function } => WantedRoute {
                kind: gw::IntegrationType::AwsProxy,
                http_method: "POST".into(),
                uri: arns.lambda_integration(function),
                credentials: None,
                method_params: HashMap::new(),
                request_params: HashMap::new(),
                request_templates: HashMap::new(),
                responses: Vec::new(),
            },
            Integration::S3 { bucket, key } => {
                let (path, method_params, request_params) = match key {
                    Some(k) => (format!("path/{bucket}/{k}"), HashMap::new(), HashMap::new()),
                    None => (
                        format!("path/{bucket}/{{proxy}}"),
                        HashMap::from([("method.request.path.proxy".to_string(), true)]),
                        HashMap::from([(
                            "integration.request.path.proxy".to_string(),
                            "method.request.path.proxy".to_string(),
                        )]),
                    ),
                };
                let content_type = "method.response.header.Content-Type".to_string();
                WantedRoute {
                    kind: gw::IntegrationType::Aws,
                    http_method: "GET".into(),
                    uri: arns.service_integration("s3", &path),
                    credentials: role,
                    method_params,
                    request_params,
                    request_templates: HashMap::new(),
                    responses: vec![
                        WantedResponse {
                            status: "200".into(),
                            pattern: None,
                            method_params: HashMap::from([(content_type.clone(), false)]),
                            params: HashMap::from([(
                                content_type,
                                "integration.response.header.Content-Type".to_string(),
                            )]),
                            templates: HashMap::new(),
                        },
                        // S3 answers 403 for a key that does not exist when
                        // the caller may not list the bucket.
                        WantedResponse {
                            status: "404".into(),
                            pattern: Some("4\\d{2}".into()),
                            method_params: HashMap::new(),
                            params: HashMap::new(),
                            templates: json_templates("{\"error\":\"not found\"}"),
                        },
                    ],
                }
            }
            Integration::DynamoDb {
                request_template,
                response_template,
            } => {
                let method_params = if route.path.contains("{token}") {
                    HashMap::from([("method.request.path.token".to_string(), true)])
                } else {
                    HashMap::new()
                };
                WantedRoute {
                    kind: gw::IntegrationType::Aws,
                    http_method: "POST".into(),
                    uri: arns.service_integration("dynamodb", "action/GetItem"),
                    credentials: role,
                    method_params,
                    request_params: HashMap::new(),
                    request_templates: json_templates(request_template),
                    responses: vec![WantedResponse {
                        status: "200".into(),
                        pattern: None,
                        method_params: HashMap::new(),
                        params: HashMap::new(),
                        templates: json_templates(response_template),
                    }],
                }
            }
        }
    }
}

struct WantedRoute {
    kind: gw::IntegrationType,
    http_method: String,
    uri: String,
    credentials: Option<String>,
    method_params: HashMap<String, bool>,
    request_params: HashMap<String, String>,
    request_templates: HashMap<String, String>,
    responses: Vec<WantedResponse>,
}

struct WantedResponse {
    status: String,
    pattern: Option<String>,
    method_params: HashMap<String, bool>,
    params: HashMap<String, String>,
    templates: HashMap<String, String>,
}

fn outcome(mut changes: Vec<&str>) -> Outcome {
    if changes.contains(&"created") {
        return Outcome::Created;
    }
    changes.dedup();
    if changes.is_empty() {
        Outcome::Unchanged
    } else {
        Outcome::Updated(changes.join(", "))
    }
}

fn merge(a: Outcome, b: Outcome) -> Outcome {
    match (a, b) {
        (Outcome::Unchanged, o) | (o, Outcome::Unchanged) => o,
        (Outcome::Created, _) => Outcome::Created,
        (Outcome::Updated(x), Outcome::Updated(y)) => Outcome::Updated(format!("{x}, {y}")),
        (Outcome::Updated(x), _) => Outcome::Updated(format!("{x}, permission")),
        (o, _) => o,
    }
}

/// IAM hands policy documents back URL-encoded.
pub fn parse_policy(doc: &str) -> Option<Value> {
    serde_json::from_str(doc)
        .ok()
        .or_else(|| serde_json::from_str(&percent_decode(doc)).ok())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// SQS attributes compare as JSON when they are JSON (the redrive policy).
fn same_attribute(have: Option<&str>, want: &str) -> bool {
    match (have, serde_json::from_str::<Value>(want)) {
        (Some(h), Ok(w)) if w.is_object() => {
            serde_json::from_str::<Value>(h).is_ok_and(|h| loose_eq(&h, &w))
        }
        (Some(h), _) => h == want,
        (None, _) => false,
    }
}

/// `{"maxReceiveCount": "10"}` equals `{"maxReceiveCount": 10}`.
fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| loose_eq(v, w)))
        }
        _ => a == b || a.to_string().trim_matches('"') == b.to_string().trim_matches('"'),
    }
}

fn statement_source(st: &Value) -> Option<&str> {
    st["Condition"]["ArnLike"]["AWS:SourceArn"].as_str()
}

fn statement_principal(st: &Value) -> Option<&str> {
    st["Principal"]["Service"]
        .as_str()
        .or_else(|| st["Principal"].as_str())
}

/// Lambda's CodeSha256: the base64 SHA-256 of the zip.
pub fn code_sha256(zip: &[u8]) -> String {
    aws_smithy_types::base64::encode(Sha256::digest(zip))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_come_back_url_encoded() {
        let doc = json!({"Version": "2012-10-17", "Statement": [{"Action": ["s3:GetObject"]}]});
        let encoded: String = doc
            .to_string()
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                    (b as char).to_string()
                }
                b => format!("%{b:02X}"),
            })
            .collect();
        assert_eq!(parse_policy(&encoded), Some(doc.clone()));
        assert_eq!(parse_policy(&doc.to_string()), Some(doc));
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn redrive_policies_compare_by_value() {
        let want = r#"{"deadLetterTargetArn":"arn:x","maxReceiveCount":10}"#;
        assert!(same_attribute(
            Some(r#"{"maxReceiveCount":"10","deadLetterTargetArn":"arn:x"}"#),
            want
        ));
        assert!(!same_attribute(
            Some(r#"{"deadLetterTargetArn":"arn:x","maxReceiveCount":5}"#),
            want
        ));
        assert!(same_attribute(Some("60"), "60"));
        assert!(!same_attribute(None, "60"));
    }
}
