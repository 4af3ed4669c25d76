//! SQS: the line and its dead-letter queue, with their attributes.

use std::collections::HashMap;

use serde_json::Value;

use super::Ctx;
use crate::error::{DeployError, Result, SdkResult};
use crate::found;
use crate::plan::QueuePlan;
use crate::progress::{Change, Changes, Outcome};

pub(super) async fn ensure(cx: &Ctx<'_>, q: &QueuePlan) -> Result<Outcome> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let sqs = &cx.c.sqs;
    let mut want: HashMap<A, String> = q
        .attributes
        .iter()
        .map(|(k, v)| (A::from(k.as_str()), v.clone()))
        .collect();
    let Some(found) = found::queue(cx.c, &q.name).await? else {
        sqs.create_queue()
            .queue_name(&q.name)
            .set_attributes(Some(want))
            .set_tags(Some(cx.tag_map()))
            .send()
            .await
            .ctx(format!("create queue {}", q.name))?;
        return Ok(Outcome::Created);
    };
    let url = found.it;
    let mut changes = Changes::default();
    if !cx.check_owner(&format!("sqs queue {}", q.name), found.owner)? {
        sqs.tag_queue()
            .queue_url(&url)
            .set_tags(Some(cx.tag_map()))
            .send()
            .await
            .ctx(format!("tag queue {}", q.name))?;
        changes.add(Change::Tags);
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
        changes.add(Change::Attributes);
    }
    Ok(changes.outcome())
}

/// The URL SQS gives the queue, whatever its endpoint: the Lambdas use it.
pub(super) async fn url(cx: &Ctx<'_>, q: &QueuePlan) -> Result<String> {
    cx.c.sqs
        .get_queue_url()
        .queue_name(&q.name)
        .send()
        .await
        .ctx(format!("find queue {}", q.name))?
        .queue_url
        .ok_or_else(|| DeployError::Missing(format!("the url of queue {}", q.name)))
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

#[cfg(test)]
mod tests {
    use super::*;

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
