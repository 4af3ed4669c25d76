//! A route exactly as API Gateway is to hold it: method, integration and
//! responses, computed from where the route goes.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Arns, Integration};

/// The body of a `503` when the data store failed, in both rooms' shape
/// of an error.
pub const UNAVAILABLE: &str = "{\"error\":\"unavailable\"}";

/// One route as API Gateway holds it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayRoute {
    /// `AWS_PROXY` (a Lambda) or `AWS` (a service, through templates).
    pub kind: String,
    /// The method the integration calls the service with.
    pub http_method: String,
    pub uri: String,
    /// The role API Gateway calls the service as.
    pub credentials: Option<String>,
    pub method_params: BTreeMap<String, bool>,
    pub request_params: BTreeMap<String, String>,
    pub request_templates: BTreeMap<String, String>,
    pub responses: Vec<GatewayResponse>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayResponse {
    pub status: String,
    /// Which integration answers map to this status (none: the default).
    pub pattern: Option<String>,
    pub method_params: BTreeMap<String, bool>,
    pub params: BTreeMap<String, String>,
    pub templates: BTreeMap<String, String>,
}

impl GatewayRoute {
    pub(super) fn of(
        arns: Arns,
        api_role: &str,
        path: &str,
        integration: &Integration,
    ) -> GatewayRoute {
        let role = Some(arns.role(api_role));
        let json_templates =
            |t: &str| BTreeMap::from([("application/json".to_string(), t.to_string())]);
        match integration {
            Integration::Lambda { function } => GatewayRoute {
                kind: "AWS_PROXY".into(),
                http_method: "POST".into(),
                uri: arns.lambda_integration(function),
                credentials: None,
                method_params: BTreeMap::new(),
                request_params: BTreeMap::new(),
                request_templates: BTreeMap::new(),
                responses: Vec::new(),
            },
            Integration::S3 { bucket, key } => {
                let (path, method_params, request_params) = match key {
                    Some(k) => (
                        format!("path/{bucket}/{k}"),
                        BTreeMap::new(),
                        BTreeMap::new(),
                    ),
                    None => (
                        format!("path/{bucket}/{{proxy}}"),
                        BTreeMap::from([("method.request.path.proxy".to_string(), true)]),
                        BTreeMap::from([(
                            "integration.request.path.proxy".to_string(),
                            "method.request.path.proxy".to_string(),
                        )]),
                    ),
                };
                let content_type = "method.response.header.Content-Type".to_string();
                let referrer = "method.response.header.Referrer-Policy".to_string();
                GatewayRoute {
                    kind: "AWS".into(),
                    http_method: "GET".into(),
                    uri: arns.service_integration("s3", &path),
                    credentials: role,
                    method_params,
                    request_params,
                    request_templates: BTreeMap::new(),
                    responses: vec![
                        GatewayResponse {
                            status: "200".into(),
                            pattern: None,
                            method_params: BTreeMap::from([
                                (content_type.clone(), false),
                                (referrer.clone(), false),
                            ]),
                            params: BTreeMap::from([
                                (
                                    content_type,
                                    "integration.response.header.Content-Type".to_string(),
                                ),
                                // The room's URLs never leak to where its links lead.
                                (
                                    referrer,
                                    format!("'{}'", beekeeper_core::page::REFERRER_POLICY),
                                ),
                            ]),
                            templates: BTreeMap::new(),
                        },
                        // S3 answers 403 for a key that does not exist when
                        // the caller may not list the bucket.
                        GatewayResponse {
                            status: "404".into(),
                            pattern: Some("4\\d{2}".into()),
                            method_params: BTreeMap::new(),
                            params: BTreeMap::new(),
                            templates: json_templates("{\"error\":\"not found\"}"),
                        },
                    ],
                }
            }
            Integration::DynamoDb {
                action,
                request_template,
                response_template,
                refused_template,
            } => {
                let method_params = if path.contains("{token}") {
                    BTreeMap::from([("method.request.path.token".to_string(), true)])
                } else {
                    BTreeMap::new()
                };
                let header = |h: &str| format!("method.response.header.{h}");
                let no_store = (header("Cache-Control"), "'no-store'".to_string());
                // A failed condition is DynamoDB's 400: answered by its own
                // template, which sets the status (200 or 503) itself.
                let refused = refused_template.as_ref().map(|t| GatewayResponse {
                    status: "400".into(),
                    pattern: Some("400".into()),
                    method_params: BTreeMap::from([(header("Cache-Control"), false)]),
                    params: BTreeMap::from([no_store.clone()]),
                    templates: json_templates(t),
                });
                let failed = if refused.is_some() {
                    "(40[1-9]|4[1-9]\\d|5\\d{2})"
                } else {
                    "[45]\\d{2}"
                };
                GatewayRoute {
                    kind: "AWS".into(),
                    http_method: "POST".into(),
                    uri: arns.service_integration("dynamodb", &format!("action/{action}")),
                    credentials: role,
                    method_params,
                    request_params: BTreeMap::new(),
                    request_templates: json_templates(request_template),
                    responses: [
                        Some(GatewayResponse {
                            status: "200".into(),
                            pattern: None,
                            method_params: BTreeMap::from([(header("Cache-Control"), false)]),
                            params: BTreeMap::from([no_store.clone()]),
                            templates: json_templates(response_template),
                        }),
                        refused,
                        // DynamoDB failed (throttled, unavailable): an
                        // answer the origin tells apart from a refusal,
                        // never {"allow":false}.
                        Some(GatewayResponse {
                            status: "503".into(),
                            pattern: Some(failed.into()),
                            method_params: BTreeMap::from([
                                (header("Cache-Control"), false),
                                (header("Retry-After"), false),
                            ]),
                            params: BTreeMap::from([
                                no_store,
                                (header("Retry-After"), "'5'".to_string()),
                            ]),
                            templates: json_templates(UNAVAILABLE),
                        }),
                    ]
                    .into_iter()
                    .flatten()
                    .collect(),
                }
            }
        }
    }
}
