//! A deployed room's pass keys: the SecureString parameter holding the
//! [`KeyRing`] and the JWKS the assets bucket publishes at
//! `{base}/.well-known/jwks.json`. `deploy` makes both; `rotate-key`
//! publishes the new key first, then signs with it, so that no pass is
//! ever signed by a key an origin cannot fetch.

use aws_sdk_ssm::types::{ParameterType, Tag};
use beekeeper_core::names::JWKS_OBJECT;
use beekeeper_core::pass::KeyRing;

use crate::clients::Clients;
use crate::error::{DeployError, Result, SdkResult};
use crate::found;
use crate::plan::Plan;

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) fn seed() -> Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| DeployError::Build(format!("no randomness for a key: {e}")))?;
    Ok(seed)
}

fn unusable(name: &str, e: impl std::fmt::Display) -> DeployError {
    DeployError::Keys(format!("{name}: {e}"))
}

/// The stored ring, read and checked.
pub(crate) fn parse(name: &str, json: &str) -> Result<KeyRing> {
    KeyRing::from_json(json).map_err(|e| unusable(name, e))
}

/// Writes the ring: a new parameter with the plan's tags, or over the
/// existing one.
pub(crate) async fn save(c: &Clients, plan: &Plan, ring: &KeyRing, create: bool) -> Result<()> {
    let name = &plan.pass_keys;
    let mut put = c
        .ssm
        .put_parameter()
        .name(name)
        .description("beekeeper pass keys (Ed25519); rotate with `beekeeper rotate-key`")
        .value(ring.to_json())
        .r#type(ParameterType::SecureString);
    if create {
        for (k, v) in &plan.tags {
            put = put.tags(Tag::builder().key(k).value(v).build()?);
        }
    } else {
        put = put.overwrite(true);
    }
    put.send().await.ctx(format!("write parameter {name}"))?;
    Ok(())
}

/// Uploads the ring's JWKS unless the bucket holds it already; true when
/// it changed.
pub(crate) async fn publish(c: &Clients, plan: &Plan, ring: &KeyRing) -> Result<bool> {
    let (bucket, owner) = (&plan.bucket.name, plan.account.as_str());
    let jwks = ring
        .jwks(now_secs())
        .map_err(|e| unusable(&plan.pass_keys, e))?;
    let have =
        c.s3.get_object()
            .bucket(bucket)
            .expected_bucket_owner(owner)
            .key(JWKS_OBJECT)
            .send()
            .await
            .found(format!("read {JWKS_OBJECT}"))?;
    if let Some(o) = have {
        let body = o.body.collect().await.map_err(|e| DeployError::NotReady {
            resource: JWKS_OBJECT.into(),
            detail: e.to_string(),
        })?;
        if body.into_bytes().as_ref() == jwks.as_bytes() {
            return Ok(false);
        }
    }
    c.s3.put_object()
        .bucket(bucket)
        .expected_bucket_owner(owner)
        .key(JWKS_OBJECT)
        .content_type("application/json")
        .cache_control("public, max-age=300")
        .body(jwks.into_bytes().into())
        .send()
        .await
        .ctx(format!("upload {JWKS_OBJECT}"))?;
    Ok(true)
}

/// `beekeeper rotate-key` on a deployed room: the new key is published,
/// then signs (the Lambdas pick it up within a minute); the replaced one
/// stays published until its passes have expired. Returns the ring.
pub async fn rotate(c: &Clients, plan: &Plan) -> Result<KeyRing> {
    let name = &plan.pass_keys;
    let Some(f) = found::parameter(c, name).await? else {
        return Err(DeployError::NotDeployed(plan.profile.clone()));
    };
    if f.owner.as_deref() != Some(plan.profile.as_str()) {
        return Err(DeployError::NotOurs {
            resource: format!("ssm parameter {name}"),
            owner: f.owner.unwrap_or_else(|| "none".into()),
            profile: plan.profile.clone(),
        });
    }
    let mut ring = parse(name, &f.it)?;
    ring.rotate(seed()?, now_secs());
    publish(c, plan, &ring).await?;
    save(c, plan, &ring, false).await?;
    Ok(ring)
}
