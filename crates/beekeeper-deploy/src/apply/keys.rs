//! SSM: the pass keys' SecureString parameter, made once with a key drawn
//! here and kept across deploys (a redeploy never invalidates a pass),
//! and the JWKS it publishes in the bucket.

use aws_sdk_ssm::types::{ResourceTypeForTagging, Tag};
use beekeeper_core::pass::KeyRing;

use super::Ctx;
use crate::error::{Result, SdkResult};
use crate::found;
use crate::keys::{now_secs, parse, publish, save, seed};
use crate::progress::{Change, Changes, Outcome};

/// `issuer` is the room's base URL (the stage's): every pass says so.
pub(super) async fn ensure(cx: &Ctx<'_>, issuer: &str) -> Result<Outcome> {
    let (plan, name) = (cx.plan, &cx.plan.pass_keys);
    let mut changes = Changes::default();
    let ring = match found::parameter(cx.c, name).await? {
        Some(f) => {
            if !cx.check_owner(&format!("ssm parameter {name}"), f.owner)? {
                let tags = cx.tag_list(|k, v| Tag::builder().key(k).value(v).build())?;
                cx.c.ssm
                    .add_tags_to_resource()
                    .resource_type(ResourceTypeForTagging::Parameter)
                    .resource_id(name)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .ctx(format!("tag parameter {name}"))?;
                changes.add(Change::Tags);
            }
            let mut ring = parse(name, &f.it)?;
            if ring.issuer != issuer || ring.room != plan.profile {
                ring.issuer = issuer.to_string();
                ring.room = plan.profile.clone();
                save(cx.c, plan, &ring, false).await?;
                changes.add(Change::Configuration);
            }
            ring
        }
        None => {
            let ring = KeyRing::new(issuer, &plan.profile, seed()?, now_secs());
            save(cx.c, plan, &ring, true).await?;
            changes.created();
            ring
        }
    };
    if publish(cx.c, plan, &ring).await? {
        changes.add(Change::Page);
    }
    Ok(changes.outcome())
}
