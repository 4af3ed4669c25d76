//! Deploying against a moto server of the test's own, and a census of what
//! a profile has in it, read back through the SDK independently of the
//! deployer's own reads.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use beekeeper_core::names::TAG_PROFILE;
use beekeeper_core::Profile;
use beekeeper_deploy::apply::parse_policy;
use beekeeper_deploy::destroy::Destroy;
use beekeeper_deploy::progress::Quiet;
use beekeeper_deploy::{CallLog, Clients, Deploy, Deployed, Outcome, Patience, Plan};
use serde_json::{json, Value};

use crate::moto::Moto;

pub const ACCOUNT: &str = "123456789012";

pub async fn clients(moto: &Moto, log: CallLog) -> Clients {
    Clients::new(&sdk(moto).await, log)
}

/// The profile's region in moto, with test credentials and one attempt
/// per call (an injected fault must not be retried away).
pub async fn sdk(moto: &Moto) -> aws_config::SdkConfig {
    moto.sdk("eu-west-1", false).await
}

pub fn quick() -> Patience {
    Patience {
        attempts: 5,
        pause: Duration::from_millis(20),
    }
}

pub async fn deploy(
    c: &Clients,
    name: &str,
    profile: &Profile,
    artifacts: &Path,
) -> beekeeper_deploy::Result<Deployed> {
    Deploy {
        c,
        plan: Plan::new(name, profile, Some(ACCOUNT)),
        artifacts: artifacts.to_path_buf(),
        progress: &Quiet,
        patience: quick(),
    }
    .run()
    .await
}

pub async fn destroy(
    c: &Clients,
    name: &str,
    profile: &Profile,
) -> beekeeper_deploy::Result<Vec<(String, Outcome)>> {
    let plan = Plan::new(name, profile, Some(ACCOUNT));
    Destroy {
        c,
        plan: &plan,
        progress: &Quiet,
    }
    .run()
    .await
}

fn tag_value<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    tags.into_iter()
        .find(|(k, _)| *k == TAG_PROFILE)
        .map_or(Value::Null, |(_, v)| json!(v))
}

/// Everything moto holds whose name is this profile's, with the
/// configuration that matters, keyed by "kind name".
pub async fn census(moto: &Moto, name: &str) -> BTreeMap<String, Value> {
    // Its own clients: its reads are not the deployer's calls.
    let c = &clients(moto, CallLog::new()).await;
    let prefix = format!("beekeeper-{name}-");
    let mut out = BTreeMap::new();

    for role in c.iam.list_roles().send().await.unwrap().roles() {
        let rn = role.role_name();
        if !rn.starts_with(&prefix) {
            continue;
        }
        let r = c.iam.get_role().role_name(rn).send().await.unwrap();
        let tags = r.role().map(|r| r.tags().to_vec()).unwrap_or_default();
        let mut policies = BTreeMap::new();
        for p in c
            .iam
            .list_role_policies()
            .role_name(rn)
            .send()
            .await
            .unwrap()
            .policy_names()
        {
            let doc = c
                .iam
                .get_role_policy()
                .role_name(rn)
                .policy_name(p)
                .send()
                .await
                .unwrap();
            policies.insert(p.clone(), parse_policy(doc.policy_document()).unwrap());
        }
        out.insert(
            format!("iam role {rn}"),
            json!({
                "tag": tag_value(tags.iter().map(|t| (t.key(), t.value()))),
                "trust": r.role().and_then(|r| r.assume_role_policy_document()).and_then(parse_policy),
                "policies": policies,
            }),
        );
    }

    for b in c.s3.list_buckets().send().await.unwrap().buckets() {
        let bn = b.name().unwrap_or_default();
        if !bn.starts_with(&prefix) {
            continue;
        }
        let tags =
            c.s3.get_bucket_tagging()
                .bucket(bn)
                .send()
                .await
                .map(|t| t.tag_set)
                .unwrap_or_default();
        let block =
            c.s3.get_public_access_block()
                .bucket(bn)
                .send()
                .await
                .ok()
                .and_then(|o| o.public_access_block_configuration)
                .map(|b| {
                    json!([
                        b.block_public_acls(),
                        b.ignore_public_acls(),
                        b.block_public_policy(),
                        b.restrict_public_buckets()
                    ])
                });
        let mut objects = BTreeMap::new();
        for o in
            c.s3.list_objects_v2()
                .bucket(bn)
                .send()
                .await
                .unwrap()
                .contents()
        {
            let key = o.key().unwrap_or_default();
            let got = c.s3.get_object().bucket(bn).key(key).send().await.unwrap();
            let ct = got.content_type().map(str::to_string);
            let body = got.body.collect().await.unwrap().into_bytes();
            // The public keys differ from room to room: their number stands for them.
            let body = if key == beekeeper_core::names::JWKS_OBJECT {
                let jwks: Value = serde_json::from_slice(&body).unwrap();
                json!({ "keys": jwks["keys"].as_array().unwrap().len() })
            } else {
                json!(String::from_utf8_lossy(&body))
            };
            objects.insert(key.to_string(), json!({ "type": ct, "body": body }));
        }
        let acl = c.s3.get_bucket_acl().bucket(bn).send().await.unwrap();
        let grants: Vec<String> = acl
            .grants()
            .iter()
            .map(|g| {
                format!(
                    "{:?} {:?}",
                    g.grantee().and_then(|g| g.uri()),
                    g.permission()
                )
            })
            .collect();
        out.insert(
            format!("s3 bucket {bn}"),
            json!({
                "tag": tag_value(tags.iter().map(|t| (t.key(), t.value()))),
                "publicAccessBlock": block,
                "grants": grants,
                "objects": objects,
            }),
        );
    }

    let keys = beekeeper_core::names::pass_keys_parameter(name);
    if let Ok(got) = c
        .ssm
        .get_parameter()
        .name(&keys)
        .with_decryption(true)
        .send()
        .await
    {
        let p = got.parameter().unwrap();
        let ring = beekeeper_core::pass::KeyRing::from_json(p.value().unwrap()).unwrap();
        let tags = c
            .ssm
            .list_tags_for_resource()
            .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Parameter)
            .resource_id(&keys)
            .send()
            .await
            .unwrap();
        out.insert(
            "ssm parameter pass-keys".to_string(),
            json!({
                "tag": tag_value(tags.tag_list().iter().map(|t| (t.key(), t.value()))),
                "type": p.r#type().map(|t| t.as_str().to_string()),
                "issuer": ring.issuer,
                "room": ring.room,
                "keys": ring.kids().len(),
            }),
        );
    }

    let queues = c
        .sqs
        .list_queues()
        .queue_name_prefix(&prefix)
        .send()
        .await
        .unwrap();
    for url in queues.queue_urls() {
        let qn = url.rsplit('/').next().unwrap_or_default();
        let attrs = c
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap_or_default();
        let tags = c
            .sqs
            .list_queue_tags()
            .queue_url(url)
            .send()
            .await
            .unwrap()
            .tags
            .unwrap_or_default();
        let get = |k: &str| {
            attrs
                .get(&aws_sdk_sqs::types::QueueAttributeName::from(k))
                .cloned()
        };
        out.insert(
            format!("sqs queue {qn}"),
            json!({
                "tag": tag_value(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                "retention": get("MessageRetentionPeriod"),
                "redrive": get("RedrivePolicy").and_then(|r| serde_json::from_str::<Value>(&r).ok()),
            }),
        );
    }

    for tn in c.ddb.list_tables().send().await.unwrap().table_names() {
        if !tn.starts_with(&prefix) {
            continue;
        }
        let t = c
            .ddb
            .describe_table()
            .table_name(tn)
            .send()
            .await
            .unwrap()
            .table
            .unwrap();
        let tags = c
            .ddb
            .list_tags_of_resource()
            .resource_arn(t.table_arn().unwrap_or_default())
            .send()
            .await
            .unwrap()
            .tags
            .unwrap_or_default();
        let ttl = c
            .ddb
            .describe_time_to_live()
            .table_name(tn)
            .send()
            .await
            .unwrap()
            .time_to_live_description
            .map(|d| {
                format!(
                    "{:?} {:?}",
                    d.attribute_name(),
                    d.time_to_live_status().map(|s| s.as_str())
                )
            });
        let items = c
            .ddb
            .scan()
            .table_name(tn)
            .send()
            .await
            .unwrap()
            .items()
            .iter()
            .map(|i| {
                let mut keys: Vec<String> = i.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                keys.sort();
                keys.join(" ")
            })
            .collect::<Vec<_>>();
        out.insert(
            format!("dynamodb table {tn}"),
            json!({
                "tag": tag_value(tags.iter().map(|t| (t.key(), t.value()))),
                "billing": t.billing_mode_summary().and_then(|b| b.billing_mode()).map(|b| b.as_str().to_string()),
                "key": t.key_schema().iter().map(|k| k.attribute_name().to_string()).collect::<Vec<_>>(),
                "ttl": ttl,
                "items": items,
            }),
        );
    }

    for f in c.lambda.list_functions().send().await.unwrap().functions() {
        let fname = f.function_name().unwrap_or_default();
        if !fname.starts_with(&prefix) {
            continue;
        }
        let full = c
            .lambda
            .get_function()
            .function_name(fname)
            .send()
            .await
            .unwrap();
        let cfg = full.configuration().unwrap();
        let tags = full.tags().cloned().unwrap_or_default();
        let reserved = c
            .lambda
            .get_function_concurrency()
            .function_name(fname)
            .send()
            .await
            .unwrap()
            .reserved_concurrent_executions;
        let event_invoke = c
            .lambda
            .get_function_event_invoke_config()
            .function_name(fname)
            .send()
            .await
            .ok()
            .map(|e| json!({"retries": e.maximum_retry_attempts, "maxAgeSecs": e.maximum_event_age_in_seconds}));
        let policy = c
            .lambda
            .get_policy()
            .function_name(fname)
            .send()
            .await
            .ok()
            .and_then(|p| p.policy)
            .and_then(|p| serde_json::from_str::<Value>(&p).ok())
            .map(|p| {
                let mut sts: Vec<Value> = p["Statement"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| {
                        json!({
                            "sid": s["Sid"],
                            "principal": s["Principal"],
                            "action": s["Action"],
                            "source": s["Condition"]["ArnLike"]["AWS:SourceArn"],
                        })
                    })
                    .collect();
                sts.sort_by_key(|s| s["sid"].to_string());
                sts
            });
        out.insert(
            format!("lambda {fname}"),
            json!({
                "tag": tag_value(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                "runtime": cfg.runtime().map(|r| r.as_str().to_string()),
                "handler": cfg.handler(),
                "role": cfg.role(),
                "memory": cfg.memory_size(),
                "timeout": cfg.timeout(),
                "architectures": cfg.architectures().iter().map(|a| a.as_str().to_string()).collect::<Vec<_>>(),
                "env": cfg.environment().and_then(|e| e.variables()).map(|v| v.iter().collect::<BTreeMap<_, _>>()),
                "codeSha256": cfg.code_sha256(),
                "reserved": reserved,
                "eventInvoke": event_invoke,
                "permissions": policy,
            }),
        );
    }

    #[allow(deprecated)]
    for g in c
        .logs
        .describe_log_groups()
        .log_group_name_prefix(format!("/aws/lambda/{prefix}"))
        .send()
        .await
        .unwrap()
        .log_groups()
    {
        let gname = g.log_group_name().unwrap_or_default();
        let tags = c
            .logs
            .list_tags_log_group()
            .log_group_name(gname)
            .send()
            .await
            .unwrap()
            .tags
            .unwrap_or_default();
        out.insert(
            format!("log group {gname}"),
            json!({
                "tag": tag_value(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                "retention": g.retention_in_days(),
            }),
        );
    }

    for api in c
        .api
        .get_rest_apis()
        .limit(500)
        .send()
        .await
        .unwrap()
        .items()
    {
        let an = api.name().unwrap_or_default();
        if !an.starts_with(&prefix) {
            continue;
        }
        let id = api.id().unwrap_or_default();
        let mut routes = BTreeMap::new();
        for r in c
            .api
            .get_resources()
            .rest_api_id(id)
            .limit(500)
            .send()
            .await
            .unwrap()
            .items()
        {
            let path = r.path().unwrap_or_default().to_string();
            let mut methods = BTreeMap::new();
            for method in ["GET", "POST"] {
                let Ok(m) = c
                    .api
                    .get_method()
                    .rest_api_id(id)
                    .resource_id(r.id().unwrap_or_default())
                    .http_method(method)
                    .send()
                    .await
                else {
                    continue;
                };
                let i = m.method_integration();
                let responses = i.and_then(|i| i.integration_responses()).map(|rs| {
                    rs.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                json!({
                                    "pattern": v.selection_pattern(),
                                    "templates": v.response_templates().map(sorted),
                                    "params": v.response_parameters().map(sorted),
                                }),
                            )
                        })
                        .collect::<BTreeMap<_, _>>()
                });
                methods.insert(
                    method,
                    json!({
                        "auth": m.authorization_type(),
                        "params": m.request_parameters().map(sorted),
                        "type": i.and_then(|i| i.r#type()).map(|t| t.as_str().to_string()),
                        "method": i.and_then(|i| i.http_method()),
                        "uri": i.and_then(|i| i.uri()),
                        "credentials": i.and_then(|i| i.credentials()),
                        "requestParams": i.and_then(|i| i.request_parameters()).map(sorted),
                        "requestTemplates": i.and_then(|i| i.request_templates()).map(sorted),
                        "responses": responses,
                    }),
                );
            }
            routes.insert(
                path,
                if methods.is_empty() {
                    Value::Null
                } else {
                    json!(methods)
                },
            );
        }
        let stages: Vec<Value> = c
            .api
            .get_stages()
            .rest_api_id(id)
            .send()
            .await
            .unwrap()
            .item()
            .iter()
            .map(|s| {
                json!({
                    "name": s.stage_name(),
                    "variables": s.variables().map(sorted),
                    "deployed": s.deployment_id().is_some(),
                })
            })
            .collect();
        out.insert(
            format!("api gateway {an}"),
            json!({
                "id": id,
                "tag": tag_value(api.tags().into_iter().flatten().map(|(k, v)| (k.as_str(), v.as_str()))),
                "routes": routes,
                "stages": stages,
            }),
        );
    }

    for rule in c
        .events
        .list_rules()
        .name_prefix(&prefix)
        .send()
        .await
        .unwrap()
        .rules()
    {
        let rn = rule.name().unwrap_or_default();
        let tags = c
            .events
            .list_tags_for_resource()
            .resource_arn(rule.arn().unwrap_or_default())
            .send()
            .await
            .unwrap()
            .tags
            .unwrap_or_default();
        let targets: Vec<Value> = c
            .events
            .list_targets_by_rule()
            .rule(rn)
            .send()
            .await
            .unwrap()
            .targets()
            .iter()
            .map(|t| json!({ "id": t.id(), "arn": t.arn() }))
            .collect();
        out.insert(
            format!("eventbridge rule {rn}"),
            json!({
                "tag": tag_value(tags.iter().map(|t| (t.key(), t.value()))),
                "schedule": rule.schedule_expression(),
                "state": rule.state().map(|s| s.as_str().to_string()),
                "targets": targets,
            }),
        );
    }
    out
}

/// A map AWS (and moto) returns in any order, in key order.
fn sorted<K: Ord + Clone, V: Clone>(m: &std::collections::HashMap<K, V>) -> BTreeMap<K, V> {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The census with the profile's name and the API's id written out of it,
/// so two profiles deployed the same way compare equal.
pub fn normalized(census: &BTreeMap<String, Value>, name: &str) -> String {
    let mut text = serde_json::to_string_pretty(census).unwrap();
    for (k, v) in census {
        if k.starts_with("api gateway ") {
            if let Some(id) = v["id"].as_str() {
                text = text.replace(id, "{api}");
            }
        }
    }
    text.replace(&format!("beekeeper-{name}-"), "beekeeper-{profile}-")
        .replace(&format!("/beekeeper/{name}/"), "/beekeeper/{profile}/")
        .replace(&format!("\"{name}\""), "\"{profile}\"")
}

/// The IAM actions an SDK call needs (CreateFunction also passes a role).
pub fn iam_actions(call: &beekeeper_deploy::calls::Call) -> Vec<String> {
    let op = call.operation.as_str();
    let prefix = match call.service.as_str() {
        "API Gateway" => {
            let verb = match op {
                o if o.starts_with("Get") => "GET",
                o if o.starts_with("Create") => "POST",
                o if o.starts_with("Put") || o == "TagResource" => "PUT",
                o if o.starts_with("Update") => "PATCH",
                o if o.starts_with("Delete") => "DELETE",
                o => panic!("no verb for API Gateway {o}"),
            };
            let mut out = vec![format!("apigateway:{verb}")];
            if op == "PutIntegration" {
                out.push("iam:PassRole".into());
            }
            return out;
        }
        "CloudWatch Logs" => "logs",
        "EventBridge" => "events",
        other => &other.to_lowercase(),
    };
    let action = match (prefix, op) {
        ("s3", "HeadBucket" | "ListObjectsV2") => "ListBucket",
        ("s3", "ListBuckets") => "ListAllMyBuckets",
        ("s3", "GetPublicAccessBlock") => "GetBucketPublicAccessBlock",
        ("s3", "PutPublicAccessBlock") => "PutBucketPublicAccessBlock",
        (_, op) => op,
    };
    let mut out = vec![format!("{prefix}:{action}")];
    if matches!(op, "CreateFunction" | "UpdateFunctionConfiguration") {
        out.push("iam:PassRole".into());
    }
    out
}

/// Every call was allowed by docs/deploy-policy.json, the policy README
/// gives for the identity that deploys.
pub fn assert_allowed_by_deploy_policy(calls: &[beekeeper_deploy::calls::Call]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/deploy-policy.json");
    let policy: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let allowed: std::collections::BTreeSet<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    for call in calls {
        for action in iam_actions(call) {
            assert!(
                allowed.contains(&action),
                "{call} needs {action}, which docs/deploy-policy.json does not allow"
            );
        }
    }
}
