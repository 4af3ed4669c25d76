//! IAM: a role per Lambda and one for API Gateway, each with its trust
//! policy and one inline policy.

use serde_json::Value;

use super::Ctx;
use crate::error::{Result, SdkResult};
use crate::found;
use crate::plan::{RolePlan, POLICY_NAME};
use crate::progress::{Change, Changes, Outcome};

pub(super) async fn ensure(cx: &Ctx<'_>, role: &RolePlan) -> Result<Outcome> {
    let iam = &cx.c.iam;
    let trust = &role.trust;
    let mut changes = Changes::default();
    let label = format!("iam role {}", role.name);
    match found::role(cx.c, &role.name).await? {
        None => {
            let tags =
                cx.tag_list(|k, v| aws_sdk_iam::types::Tag::builder().key(k).value(v).build())?;
            iam.create_role()
                .role_name(&role.name)
                .assume_role_policy_document(trust.to_string())
                .set_tags(Some(tags))
                .send()
                .await
                .ctx(format!("create {label}"))?;
            changes.created();
        }
        Some(f) => {
            if !cx.check_owner(&label, f.owner)? {
                let tags =
                    cx.tag_list(|k, v| aws_sdk_iam::types::Tag::builder().key(k).value(v).build())?;
                iam.tag_role()
                    .role_name(&role.name)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .ctx(format!("tag {label}"))?;
                changes.add(Change::Tags);
            }
            let current = f.it.assume_role_policy_document().and_then(parse_policy);
            if current.as_ref() != Some(trust) {
                iam.update_assume_role_policy()
                    .role_name(&role.name)
                    .policy_document(trust.to_string())
                    .send()
                    .await
                    .ctx(format!("update the trust policy of {}", role.name))?;
                changes.add(Change::TrustPolicy);
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
        changes.add(Change::Policy);
    }
    Ok(changes.outcome())
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
