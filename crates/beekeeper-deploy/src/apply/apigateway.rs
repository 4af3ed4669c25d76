//! API Gateway: the REST API, its routes exactly as planned, and a new
//! deployment of the stage whenever what it serves changed.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_apigateway::types as gw;
use sha2::{Digest, Sha256};

use super::Ctx;
use crate::error::{DeployError, Result, SdkResult};
use crate::found::{self, Found};
use crate::plan::{Plan, RoutePlan};
use crate::progress::{Change, Changes, Outcome};

/// The REST API, its routes, and a deployment when what it serves changed.
/// The API's id, and what changed.
pub(super) async fn ensure(cx: &Ctx<'_>) -> Result<(String, Outcome)> {
    let gwc = &cx.c.api;
    let name = &cx.plan.api.name;
    let label = format!("api gateway {name}");
    let mut changes = Changes::default();
    let id = match found::api(cx.c, name, &cx.plan.profile).await? {
        Some(Found { owner, it: id }) => {
            if !cx.check_owner(&label, owner)? {
                gwc.tag_resource()
                    .resource_arn(cx.plan.arns().rest_api(&id))
                    .set_tags(Some(cx.tag_map()))
                    .send()
                    .await
                    .ctx(format!("tag {label}"))?;
                changes.add(Change::Tags);
            }
            id
        }
        None => {
            let out = gwc
                .create_rest_api()
                .name(name)
                .description(format!("beekeeper waiting room {}", cx.plan.profile))
                .endpoint_configuration(
                    gw::EndpointConfiguration::builder()
                        .types(gw::EndpointType::Regional)
                        .build(),
                )
                .set_tags(Some(cx.tag_map()))
                .send()
                .await
                .ctx(format!("create {label}"))?;
            changes.created();
            out.id
                .ok_or_else(|| missing(format!("the id of new {label}")))?
        }
    };
    let mut resources = resources(cx, &id).await?;
    for r in &cx.plan.api.routes {
        let resource = resource(cx, &id, &mut resources, &r.path).await?;
        if route(cx, &id, &resource, r).await? {
            changes.add(Change::Routes);
        }
    }
    // What the stage serves is a snapshot: a new one is made whenever the
    // planned definition differs from the one the stage was last given.
    let digest = api_digest(cx.plan, &id);
    let stage = gwc
        .get_stage()
        .rest_api_id(&id)
        .stage_name(&cx.plan.api.stage)
        .send()
        .await
        .found(format!("read stage {}", cx.plan.api.stage))?;
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
        have == cx.plan.api.stage_variables
    });
    if served.as_deref() != Some(digest.as_str()) || !vars_ok {
        gwc.create_deployment()
            .rest_api_id(&id)
            .stage_name(&cx.plan.api.stage)
            .description(&digest)
            .set_variables(Some(
                cx.plan.api.stage_variables.clone().into_iter().collect(),
            ))
            .send()
            .await
            .ctx(format!("deploy stage {}", cx.plan.api.stage))?;
        changes.add(Change::Deployment);
    }
    Ok((id, changes.outcome()))
}

fn api_digest(plan: &Plan, id: &str) -> String {
    // Plain data of strings and maps: serialising it cannot fail.
    let text =
        serde_json::to_string(&(&plan.api, id, &plan.account, &plan.region)).unwrap_or_default();
    let hash = Sha256::digest(text.as_bytes());
    let hex: String = hash.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("beekeeper definition {hex}")
}

async fn resources(cx: &Ctx<'_>, id: &str) -> Result<HashMap<String, String>> {
    let out =
        cx.c.api
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
    cx: &Ctx<'_>,
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
                let out =
                    cx.c.api
                        .create_resource()
                        .rest_api_id(api)
                        .parent_id(&parent)
                        .path_part(part)
                        .send()
                        .await
                        .ctx(format!("create api resource {at}"))?;
                let id = out
                    .id
                    .ok_or_else(|| missing(format!("the id of new api resource {at}")))?;
                known.insert(at.clone(), id.clone());
                id
            }
        };
    }
    Ok(parent)
}

/// Converges one route's method, integration and responses; true if
/// anything changed.
async fn route(cx: &Ctx<'_>, api: &str, resource: &str, route: &RoutePlan) -> Result<bool> {
    let gwc = &cx.c.api;
    let want = &route.gateway;
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
            && sorted(m.request_parameters()) == want.method_params
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
            .set_request_parameters(Some(unsorted(&want.method_params)))
            .send()
            .await
            .ctx(format!("create {} {}", route.method, route.path))?;
        changed = true;
    }
    let have = if method_ok { have } else { None };
    let integration = have.as_ref().and_then(|m| m.method_integration());
    let integration_ok = integration.is_some_and(|i| {
        i.r#type().map(|t| t.as_str()) == Some(want.kind.as_str())
            && i.uri() == Some(want.uri.as_str())
            && i.http_method() == Some(want.http_method.as_str())
            && i.credentials() == want.credentials.as_deref()
            && sorted(i.request_parameters()) == want.request_params
            && sorted(i.request_templates()) == want.request_templates
    });
    if !integration_ok {
        gwc.put_integration()
            .rest_api_id(api)
            .resource_id(resource)
            .http_method(&route.method)
            .r#type(gw::IntegrationType::from(want.kind.as_str()))
            .integration_http_method(&want.http_method)
            .uri(&want.uri)
            .set_credentials(want.credentials.clone())
            .set_request_parameters(Some(unsorted(&want.request_params)))
            .set_request_templates(Some(unsorted(&want.request_templates)))
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
            .is_some_and(|m| sorted(m.response_parameters()) == r.method_params);
        if !method_response_ok {
            gwc.put_method_response()
                .rest_api_id(api)
                .resource_id(resource)
                .http_method(&route.method)
                .status_code(&r.status)
                .set_response_parameters(Some(unsorted(&r.method_params)))
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
                        && sorted(i.response_parameters()) == r.params
                        && sorted(i.response_templates()) == r.templates
                });
        if !integration_response_ok {
            gwc.put_integration_response()
                .rest_api_id(api)
                .resource_id(resource)
                .http_method(&route.method)
                .status_code(&r.status)
                .set_selection_pattern(r.pattern.clone())
                .set_response_parameters(Some(unsorted(&r.params)))
                .set_response_templates(Some(unsorted(&r.templates)))
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

/// A map as the SDK hands it, in the plan's order.
fn sorted<V: Clone>(m: Option<&HashMap<String, V>>) -> BTreeMap<String, V> {
    m.map(|m| m.clone().into_iter().collect())
        .unwrap_or_default()
}

/// A map of the plan, as the SDK takes it.
fn unsorted<V: Clone>(m: &BTreeMap<String, V>) -> HashMap<String, V> {
    m.clone().into_iter().collect()
}

fn missing(what: String) -> DeployError {
    DeployError::Missing(what)
}
