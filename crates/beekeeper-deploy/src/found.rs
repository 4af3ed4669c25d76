//! Reading one resource by name, with the profile that owns it (the value
//! of its `beekeeper:profile` tag): what deploy reads before it creates or
//! updates, and destroy before it deletes. `None`: there is no such resource.

use std::collections::HashMap;

use aws_smithy_types::error::metadata::ProvideErrorMetadata as _;
use beekeeper_core::names::TAG_PROFILE;

use crate::clients::Clients;
use crate::error::{aws, is_not_found, DeployError, Result, SdkResult};

/// A resource that exists, the profile its tag names, and what was read.
pub struct Found<T> {
    pub owner: Option<String>,
    pub it: T,
}

/// The tag value saying which profile owns a resource.
pub fn owner<'t>(tags: impl IntoIterator<Item = (&'t str, &'t str)>) -> Option<String> {
    tags.into_iter()
        .find(|(k, _)| *k == TAG_PROFILE)
        .map(|(_, v)| v.to_string())
}

fn owner_of_map(tags: &HashMap<String, String>) -> Option<String> {
    owner(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// The SecureString parameter `name`, with its value decrypted (the pass
/// keys: never logged).
pub async fn parameter(c: &Clients, name: &str) -> Result<Option<Found<String>>> {
    let Some(out) = c
        .ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .found(format!("read parameter {name}"))?
    else {
        return Ok(None);
    };
    let value = out.parameter.and_then(|p| p.value).unwrap_or_default();
    let tags = c
        .ssm
        .list_tags_for_resource()
        .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .send()
        .await
        .found(format!("read the tags of parameter {name}"))?
        .and_then(|o| o.tag_list)
        .unwrap_or_default();
    Ok(Some(Found {
        owner: owner(tags.iter().map(|t| (t.key(), t.value()))),
        it: value,
    }))
}

pub async fn role(c: &Clients, name: &str) -> Result<Option<Found<aws_sdk_iam::types::Role>>> {
    let out = c
        .iam
        .get_role()
        .role_name(name)
        .send()
        .await
        .found(format!("read iam role {name}"))?;
    Ok(out.and_then(|o| o.role).map(|r| Found {
        owner: owner(r.tags().iter().map(|t| (t.key(), t.value()))),
        it: r,
    }))
}

/// The log group and its retention in days.
#[allow(deprecated)] // by log group name: what every emulator knows
pub async fn log_group(c: &Clients, name: &str) -> Result<Option<Found<Option<i32>>>> {
    let group = c
        .logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .ctx(format!("read log group {name}"))?
        .log_groups
        .unwrap_or_default()
        .into_iter()
        .find(|g| g.log_group_name() == Some(name));
    let Some(group) = group else {
        return Ok(None);
    };
    let tags = c
        .logs
        .list_tags_log_group()
        .log_group_name(name)
        .send()
        .await
        .found(format!("read the tags of log group {name}"))?
        .and_then(|o| o.tags)
        .unwrap_or_default();
    Ok(Some(Found {
        owner: owner_of_map(&tags),
        it: group.retention_in_days(),
    }))
}

/// The bucket `name` of `account`. A bucket of that name in another account
/// (S3's names are global, and the name is predictable) is
/// [`DeployError::BucketTaken`]: S3 refuses every call that names the
/// expected owner, and the account's own list must hold the bucket too.
pub async fn bucket(c: &Clients, name: &str, account: &str) -> Result<Option<Found<()>>> {
    let head =
        c.s3.head_bucket()
            .bucket(name)
            .expected_bucket_owner(account)
            .send()
            .await;
    match head {
        Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(403) => {
            return Err(DeployError::BucketTaken(name.to_string()))
        }
        head => {
            if head.found(format!("read bucket {name}"))?.is_none() {
                return Ok(None);
            }
        }
    }
    let mine =
        c.s3.list_buckets()
            .prefix(name)
            .send()
            .await
            .ctx("list the account's buckets")?;
    if !mine.buckets().iter().any(|b| b.name() == Some(name)) {
        return Err(DeployError::BucketTaken(name.to_string()));
    }
    let tags = match c
        .s3
        .get_bucket_tagging()
        .bucket(name)
        .expected_bucket_owner(account)
        .send()
        .await
    {
        Ok(out) => out.tag_set,
        Err(e) if e.code() == Some("NoSuchBucket") => return Ok(None),
        // A bucket without tags answers NoSuchTagSet.
        Err(e) if is_not_found(e.code()) => Vec::new(),
        Err(e) => return Err(aws(format!("read the tags of bucket {name}"), e)),
    };
    Ok(Some(Found {
        owner: owner(tags.iter().map(|t| (t.key(), t.value()))),
        it: (),
    }))
}

/// The queue and its URL.
pub async fn queue(c: &Clients, name: &str) -> Result<Option<Found<String>>> {
    let url = c
        .sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .found(format!("find queue {name}"))?
        .and_then(|o| o.queue_url);
    let Some(url) = url else {
        return Ok(None);
    };
    let tags = c
        .sqs
        .list_queue_tags()
        .queue_url(&url)
        .send()
        .await
        .found(format!("read the tags of queue {name}"))?
        .and_then(|o| o.tags)
        .unwrap_or_default();
    Ok(Some(Found {
        owner: owner_of_map(&tags),
        it: url,
    }))
}

pub async fn table(
    c: &Clients,
    name: &str,
) -> Result<Option<Found<aws_sdk_dynamodb::types::TableDescription>>> {
    let table = c
        .ddb
        .describe_table()
        .table_name(name)
        .send()
        .await
        .found(format!("read table {name}"))?
        .and_then(|o| o.table);
    let Some(table) = table else {
        return Ok(None);
    };
    let tags = c
        .ddb
        .list_tags_of_resource()
        .resource_arn(table.table_arn().unwrap_or_default())
        .send()
        .await
        .found(format!("read the tags of table {name}"))?
        .and_then(|o| o.tags)
        .unwrap_or_default();
    Ok(Some(Found {
        owner: owner(tags.iter().map(|t| (t.key(), t.value()))),
        it: table,
    }))
}

pub async fn function(
    c: &Clients,
    name: &str,
) -> Result<Option<Found<aws_sdk_lambda::operation::get_function::GetFunctionOutput>>> {
    let out = c
        .lambda
        .get_function()
        .function_name(name)
        .send()
        .await
        .found(format!("read lambda {name}"))?;
    Ok(out.map(|f| Found {
        owner: f.tags().and_then(owner_of_map),
        it: f,
    }))
}

pub async fn rule(
    c: &Clients,
    name: &str,
) -> Result<Option<Found<aws_sdk_eventbridge::operation::describe_rule::DescribeRuleOutput>>> {
    let Some(rule) = c
        .events
        .describe_rule()
        .name(name)
        .send()
        .await
        .found(format!("read rule {name}"))?
    else {
        return Ok(None);
    };
    let tags = c
        .events
        .list_tags_for_resource()
        .resource_arn(rule.arn().unwrap_or_default())
        .send()
        .await
        .found(format!("read the tags of rule {name}"))?
        .and_then(|o| o.tags)
        .unwrap_or_default();
    Ok(Some(Found {
        owner: owner(tags.iter().map(|t| (t.key(), t.value()))),
        it: rule,
    }))
}

/// The REST API named `name` (the one of this profile if several are) and its id.
pub async fn api(c: &Clients, name: &str, profile: &str) -> Result<Option<Found<String>>> {
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
                found.push(Found {
                    owner: api.tags().and_then(owner_of_map),
                    it: api.id().unwrap_or_default().to_string(),
                });
            }
        }
        match out.position {
            Some(p) if !p.is_empty() => position = Some(p),
            _ => break,
        }
    }
    found.sort_by_key(|f| f.owner.as_deref() != Some(profile));
    Ok(found.into_iter().next())
}
