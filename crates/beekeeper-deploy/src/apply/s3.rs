//! S3: the private bucket holding the room page, public access blocked,
//! holding exactly the planned objects.

use super::Ctx;
use crate::error::{DeployError, Result, SdkResult};
use crate::found;
use crate::progress::{Change, Changes, Outcome};

pub(super) async fn ensure(cx: &Ctx<'_>) -> Result<Outcome> {
    use aws_sdk_s3::types as s3t;
    use aws_smithy_types::error::metadata::ProvideErrorMetadata as _;
    let s3 = &cx.c.s3;
    let name = &cx.plan.bucket.name;
    // Every call but the creation names the account the bucket must belong
    // to: S3 refuses it on a bucket someone else created under this name.
    let owner = cx.plan.account.as_str();
    let mut changes = Changes::default();
    let found = found::bucket(cx.c, name, owner).await?;
    let mut tagged = false;
    if let Some(f) = found {
        tagged = cx.check_owner(&format!("s3 bucket {name}"), f.owner)?;
    } else {
        let mut create = s3.create_bucket().bucket(name);
        if cx.plan.region != "us-east-1" {
            create = create.create_bucket_configuration(
                s3t::CreateBucketConfiguration::builder()
                    .location_constraint(s3t::BucketLocationConstraint::from(
                        cx.plan.region.as_str(),
                    ))
                    .build(),
            );
        }
        create.send().await.map_err(|e| {
            if e.code() == Some("BucketAlreadyExists") {
                DeployError::BucketTaken(name.clone())
            } else {
                crate::error::aws(format!("create bucket {name}"), e)
            }
        })?;
        changes.created();
    }
    if !tagged {
        let tags = cx.tag_list(|k, v| s3t::Tag::builder().key(k).value(v).build())?;
        let tagging = s3t::Tagging::builder().set_tag_set(Some(tags)).build()?;
        s3.put_bucket_tagging()
            .bucket(name)
            .expected_bucket_owner(owner)
            .tagging(tagging)
            .send()
            .await
            .ctx(format!("tag bucket {name}"))?;
        changes.add(Change::Tags);
    }
    let block = s3
        .get_public_access_block()
        .bucket(name)
        .expected_bucket_owner(owner)
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
            .expected_bucket_owner(owner)
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
        changes.add(Change::PublicAccessBlock);
    }
    let listed = s3
        .list_objects_v2()
        .bucket(name)
        .expected_bucket_owner(owner)
        .send()
        .await
        .ctx(format!("list bucket {name}"))?;
    let present: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    for obj in &cx.plan.bucket.objects {
        let same = if present.contains(&obj.key) {
            let out = s3
                .get_object()
                .bucket(name)
                .expected_bucket_owner(owner)
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
                .expected_bucket_owner(owner)
                .key(&obj.key)
                .content_type(&obj.content_type)
                .body(obj.body.clone().into_bytes().into())
                .send()
                .await
                .ctx(format!("upload {}", obj.key))?;
            changes.add(Change::Page);
        }
    }
    // The JWKS is the pass keys' (published by their step, not planned).
    for stray in present
        .iter()
        .filter(|k| k.as_str() != beekeeper_core::names::JWKS_OBJECT)
        .filter(|k| !cx.plan.bucket.objects.iter().any(|o| &o.key == *k))
    {
        s3.delete_object()
            .bucket(name)
            .expected_bucket_owner(owner)
            .key(stray)
            .send()
            .await
            .ctx(format!("delete stray object {stray}"))?;
        changes.add(Change::StrayObjects);
    }
    Ok(changes.outcome())
}
