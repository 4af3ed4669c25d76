//! The deploy plan: every resource of a profile's room, with its name,
//! configuration, policy and tags, computed from the profile alone. It is
//! data: `deploy --dry-run` prints it, `deploy` converges the account to it,
//! `destroy` deletes what it names, and tests compare the account against it.

use std::collections::BTreeMap;

use crate::capacity::{
    idle_month, max_arrivals_per_sec, max_waiting, per_visitor, Design, Prices, Quotas,
};
use beekeeper_aws::templates;
use beekeeper_core::names::{self, env, memory_mb, resource_name, TAG_PROFILE};
use beekeeper_core::{page, Profile, RoomConfig};
use serde::Serialize;
use serde_json::{json, Value};

/// Stands for the account id in a plan computed without calling AWS.
pub const ACCOUNT_PLACEHOLDER: &str = "<account>";
/// The API Gateway stage; URLs are `https://{api}.execute-api.{region}.amazonaws.com/live/...`.
pub const STAGE: &str = "live";
/// Days the Lambdas' logs are kept.
pub const LOG_RETENTION_DAYS: i32 = 14;
/// Receives before SQS moves a message to the dead-letter queue. A message is
/// received again only when a consumer died holding it, so this is generous.
pub const MAX_RECEIVES: u32 = 10;
/// SQS keeps messages at most 14 days.
const SQS_MAX_RETENTION_SECS: u64 = 14 * 24 * 3600;
/// Statement ids of the Lambda permissions the deployer adds.
pub const SID_SCHEDULE: &str = "beekeeper-schedule";
pub const SID_API: &str = "beekeeper-api";

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub profile: String,
    pub region: String,
    pub account: String,
    pub tags: BTreeMap<String, String>,
    /// The room config item written when the config table is created.
    pub room: RoomConfig,
    pub roles: Vec<RolePlan>,
    pub bucket: BucketPlan,
    pub dead_letter_queue: QueuePlan,
    pub queue: QueuePlan,
    pub tables: Vec<TablePlan>,
    pub functions: Vec<FunctionPlan>,
    pub api: ApiPlan,
    pub rules: Vec<RulePlan>,
    /// The SecureString parameter holding the pass keys; made by deploy
    /// (never in the plan: its value is drawn then) and published as the
    /// bucket's [`names::JWKS_OBJECT`].
    pub pass_keys: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RolePlan {
    pub name: String,
    /// The service allowed to assume the role.
    pub service: String,
    /// The trust policy: `service` may assume the role, on the conditions
    /// given (none for the Lambdas' roles).
    pub trust: Value,
    /// The role's one inline policy (named [`POLICY_NAME`]).
    pub policy: Value,
}

/// Name of the inline policy on every role.
pub const POLICY_NAME: &str = "beekeeper";

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BucketPlan {
    pub name: String,
    pub objects: Vec<ObjectPlan>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectPlan {
    pub key: String,
    pub content_type: String,
    #[serde(skip)]
    pub body: String,
    pub bytes: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct QueuePlan {
    pub name: String,
    /// SQS attributes as the API spells them (names and values).
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TablePlan {
    pub name: String,
    /// Partition key (S).
    pub key: String,
    /// DynamoDB's TTL attribute, when the table has one.
    pub ttl: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FunctionPlan {
    pub name: String,
    /// The artifact: `{artifacts}/{artifact}/bootstrap.zip`.
    pub artifact: String,
    pub role: String,
    pub memory_mb: i32,
    pub timeout_secs: i32,
    pub environment: BTreeMap<String, String>,
    /// Reserved concurrency, where it protects the account.
    pub reserved_concurrency: Option<i32>,
    /// How Lambda retries an asynchronous invoke, where the default (two
    /// retries, events up to six hours old) would do harm.
    pub event_invoke: Option<EventInvoke>,
    pub log_group: String,
}

/// A function's asynchronous-invoke settings.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EventInvoke {
    pub max_retries: i32,
    pub max_event_age_secs: i32,
}

/// The consumer's: an order is for one minute's window, so a failed run is
/// not retried (a retry would start after its window, or admit beside the
/// next minute's consumers), and an order delivered late is dropped.
pub const CONSUMER_EVENT_INVOKE: EventInvoke = EventInvoke {
    max_retries: 0,
    max_event_age_secs: 60,
};

impl FunctionPlan {
    /// The environment with what only the deploy knows: the URL SQS gave
    /// the queue (the plan's is the one AWS would give; an endpoint such
    /// as a local stand-in's gives its own).
    pub fn environment_with(&self, queue_url: &str) -> BTreeMap<String, String> {
        let mut env = self.environment.clone();
        env.insert(env::QUEUE_URL.to_string(), queue_url.to_string());
        env
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApiPlan {
    pub name: String,
    pub stage: String,
    pub role: String,
    pub stage_variables: BTreeMap<String, String>,
    pub routes: Vec<RoutePlan>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RoutePlan {
    /// Resource path, from the API's root.
    pub path: String,
    pub method: String,
    /// Where the route goes, in a word.
    pub integration: Integration,
    /// The method, integration and responses exactly as API Gateway is
    /// to hold them: what deploy writes and compares.
    pub gateway: GatewayRoute,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Integration {
    /// Lambda proxy to the named function.
    Lambda { function: String },
    /// An object of the assets bucket: `key`, or the path's `{proxy}`.
    S3 { bucket: String, key: Option<String> },
    /// A DynamoDB `action` (`GetItem`, `BatchGetItem`) through mapping
    /// templates.
    DynamoDb {
        action: String,
        request_template: String,
        response_template: String,
        /// The answer to DynamoDB's `400`, for an action whose condition
        /// may fail (a redemption of an unknown token); none: every `4xx`
        /// and `5xx` is a `503`.
        #[serde(skip_serializing_if = "Option::is_none")]
        refused_template: Option<String>,
    },
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RulePlan {
    pub name: String,
    pub schedule: String,
    pub function: String,
}

/// Which of the room's four Lambdas (and the artifact it comes from).
pub const PRODUCER: &str = "producer";
pub const TRIGGER: &str = "trigger";
pub const CONSUMER: &str = "consumer";
pub const THROTTLE: &str = "throttle";

impl Plan {
    /// The plan for `profile` (already validated) named `name`. `account`
    /// is `None` for a dry run: ARNs then hold [`ACCOUNT_PLACEHOLDER`].
    pub fn new(name: &str, profile: &Profile, account: Option<&str>) -> Plan {
        let account = account.unwrap_or(ACCOUNT_PLACEHOLDER).to_string();
        let region = profile.region.clone();
        let n = |part: &str| resource_name(name, part);
        let arn = Arns {
            region: &region,
            account: &account,
        };
        let bucket = n(&format!("assets-{account}"));
        let pass_keys = names::pass_keys_parameter(name);
        // Only the Lambdas that admit read the keys, and only this room's.
        let read_keys = json!({
            "Effect": "Allow",
            "Action": ["ssm:GetParameter"],
            "Resource": arn.of("ssm", &format!("parameter{pass_keys}")),
        });
        let queue = n("queue");
        let dlq = n("dead-letters");
        let tokens = n("tokens");
        let config = n("config");
        let function = |f: &str| n(f);
        let log_group = |f: &str| format!("/aws/lambda/{}", function(f));
        let role = |f: &str| n(&format!("{f}-role"));
        let mut room = profile.room_config();
        if profile.max_line.is_none() {
            room.max_line = crate::capacity::default_max_line(room.rate_limit);
        }

        let logs = |f: &str| {
            json!({
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": format!("{}:*", arn.of("logs", &format!("log-group:{}", log_group(f)))),
            })
        };
        let read_config = json!({
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem"],
            "Resource": arn.table(&config),
        });
        // Writes to the config table limited to the minute ledger's items.
        let ledger = |action: &str| {
            json!({
                "Effect": "Allow",
                "Action": [action],
                "Resource": arn.table(&config),
                "Condition": {
                    "ForAllValues:StringLike": {
                        "dynamodb:LeadingKeys": [format!("{}*", beekeeper_core::names::config::LEDGER_PREFIX)]
                    }
                },
            })
        };
        let policy =
            |statements: Vec<Value>| json!({ "Version": "2012-10-17", "Statement": statements });
        let trust = |service: &str, condition: Option<Value>| {
            let mut statement = json!({
                "Effect": "Allow",
                "Principal": { "Service": service },
                "Action": "sts:AssumeRole",
            });
            if let Some(c) = condition {
                statement["Condition"] = c;
            }
            policy(vec![statement])
        };
        let lambda_trust = trust("lambda.amazonaws.com", None);

        // API Gateway assumes its role only for this account's APIs (the
        // confused deputy: another account's API naming this role).
        let api_trust = trust(
            "apigateway.amazonaws.com",
            Some(json!({
                "StringEquals": { "aws:SourceAccount": account },
                "ArnLike": { "aws:SourceArn": arn.of("execute-api", "*") },
            })),
        );
        let roles = vec![
            RolePlan {
                name: role(PRODUCER),
                service: "lambda.amazonaws.com".into(),
                trust: lambda_trust.clone(),
                policy: policy(vec![
                    json!({
                        "Effect": "Allow",
                        "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes"],
                        "Resource": arn.of("sqs", &queue),
                    }),
                    json!({
                        "Effect": "Allow",
                        "Action": ["dynamodb:GetItem"],
                        "Resource": [arn.table(&tokens), arn.table(&config)],
                    }),
                    // Off: a visitor let through is written as admitted.
                    json!({
                        "Effect": "Allow",
                        "Action": ["dynamodb:PutItem"],
                        "Resource": arn.table(&tokens),
                    }),
                    read_keys.clone(),
                    logs(PRODUCER),
                ]),
            },
            RolePlan {
                name: role(TRIGGER),
                service: "lambda.amazonaws.com".into(),
                trust: lambda_trust.clone(),
                policy: policy(vec![
                    json!({
                        "Effect": "Allow",
                        "Action": ["lambda:InvokeFunction"],
                        "Resource": arn.function(&function(CONSUMER)),
                    }),
                    json!({
                        "Effect": "Allow",
                        "Action": ["sqs:GetQueueAttributes"],
                        "Resource": arn.of("sqs", &queue),
                    }),
                    read_config.clone(),
                    // The minute's ledger: opened once per minute.
                    ledger("dynamodb:PutItem"),
                    logs(TRIGGER),
                ]),
            },
            RolePlan {
                name: role(CONSUMER),
                service: "lambda.amazonaws.com".into(),
                trust: lambda_trust.clone(),
                policy: policy(vec![
                    json!({
                        "Effect": "Allow",
                        "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage"],
                        "Resource": arn.of("sqs", &queue),
                    }),
                    json!({
                        "Effect": "Allow",
                        "Action": ["dynamodb:PutItem"],
                        "Resource": arn.table(&tokens),
                    }),
                    read_config.clone(),
                    // The order's claim and the admissions counted.
                    ledger("dynamodb:UpdateItem"),
                    read_keys,
                    logs(CONSUMER),
                ]),
            },
            RolePlan {
                name: role(THROTTLE),
                service: "lambda.amazonaws.com".into(),
                trust: lambda_trust.clone(),
                policy: policy(vec![
                    json!({
                        "Effect": "Allow",
                        "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                        "Resource": arn.table(&config),
                    }),
                    logs(THROTTLE),
                ]),
            },
            RolePlan {
                name: role("api"),
                service: "apigateway.amazonaws.com".into(),
                trust: api_trust,
                policy: policy(vec![
                    json!({
                        "Effect": "Allow",
                        "Action": ["dynamodb:GetItem", "dynamodb:BatchGetItem"],
                        "Resource": arn.table(&tokens),
                    }),
                    // `POST /client-check/{token}` marks an admission used.
                    json!({
                        "Effect": "Allow",
                        "Action": ["dynamodb:UpdateItem"],
                        "Resource": arn.table(&tokens),
                    }),
                    // `/polling` reads the room's switch beside the token.
                    json!({
                        "Effect": "Allow",
                        "Action": ["dynamodb:BatchGetItem"],
                        "Resource": arn.table(&config),
                    }),
                    json!({
                        "Effect": "Allow",
                        "Action": ["s3:GetObject"],
                        "Resource": arn.bucket_objects(&bucket),
                    }),
                ]),
            },
        ];

        let objects = page::files(&profile.name)
            .into_iter()
            .map(|(key, content_type, body)| ObjectPlan {
                key: key.to_string(),
                content_type: content_type.to_string(),
                bytes: body.len(),
                body,
            })
            .collect();

        let retention = (u64::from(profile.queue_hours) * 3600).clamp(60, SQS_MAX_RETENTION_SECS);
        let dead_letter_queue = QueuePlan {
            name: dlq.clone(),
            attributes: BTreeMap::from([(
                "MessageRetentionPeriod".into(),
                SQS_MAX_RETENTION_SECS.to_string(),
            )]),
        };
        let redrive = json!({
            "deadLetterTargetArn": arn.of("sqs", &dlq),
            "maxReceiveCount": MAX_RECEIVES,
        });
        let queue_plan = QueuePlan {
            name: queue.clone(),
            attributes: BTreeMap::from([
                ("MessageRetentionPeriod".into(), retention.to_string()),
                ("RedrivePolicy".into(), redrive.to_string()),
            ]),
        };

        let tables = vec![
            TablePlan {
                name: tokens.clone(),
                key: names::tokens::KEY.into(),
                ttl: Some(names::tokens::TTL.into()),
            },
            TablePlan {
                name: config.clone(),
                key: names::config::KEY.into(),
                ttl: None,
            },
        ];

        let queue_url = arn.queue_url(&queue);
        let base_env = BTreeMap::from([
            (env::QUEUE_URL.to_string(), queue_url),
            (env::TOKENS_TABLE.to_string(), tokens.clone()),
            (env::CONFIG_TABLE.to_string(), config.clone()),
        ]);
        let lambda = |f: &str, memory_mb, timeout_secs, reserved_concurrency| FunctionPlan {
            name: function(f),
            artifact: artifact_name(f).into(),
            role: role(f),
            memory_mb: memory_mb as i32,
            timeout_secs,
            environment: base_env.clone(),
            reserved_concurrency,
            event_invoke: None,
            log_group: log_group(f),
        };
        let mut trigger = lambda(TRIGGER, memory_mb::TRIGGER, 30, Some(1));
        trigger
            .environment
            .insert(env::CONSUMER_FUNCTION.into(), function(CONSUMER));
        // A consumer works for one minute's window, then finishes its batch.
        let signs = |mut f: FunctionPlan| {
            f.environment
                .insert(env::PASS_KEYS.into(), pass_keys.clone());
            f
        };
        let consumer = signs(FunctionPlan {
            event_invoke: Some(CONSUMER_EVENT_INVOKE),
            ..lambda(CONSUMER, memory_mb::CONSUMER, 90, None)
        });
        let functions = vec![
            signs(lambda(PRODUCER, memory_mb::PRODUCER, 10, None)),
            trigger,
            consumer,
            lambda(THROTTLE, memory_mb::THROTTLE, 90, Some(1)),
        ];

        let api_role = role("api");
        let route_with = |method: &str, path: String, integration: Integration| RoutePlan {
            gateway: GatewayRoute::of(arn, &api_role, &path, &integration),
            method: method.into(),
            path,
            integration,
        };
        let route = |path: String, integration: Integration| route_with("GET", path, integration);
        let api = ApiPlan {
            name: n("api"),
            stage: STAGE.into(),
            role: api_role.clone(),
            stage_variables: BTreeMap::from([
                (
                    templates::STAGE_VARIABLE_TOKENS_TABLE.to_string(),
                    tokens.clone(),
                ),
                (
                    templates::STAGE_VARIABLE_CONFIG_TABLE.to_string(),
                    config.clone(),
                ),
            ]),
            routes: vec![
                route(
                    names::ROUTE_ENTRY.to_string(),
                    Integration::Lambda {
                        function: function(PRODUCER),
                    },
                ),
                // The producer sends visitors to `room/`, which API Gateway
                // routes to `/room`: the page itself.
                route(
                    names::ROUTE_ROOM.to_string(),
                    Integration::S3 {
                        bucket: bucket.clone(),
                        key: Some("index.html".into()),
                    },
                ),
                route(
                    format!("{}/{{proxy+}}", names::ROUTE_ROOM),
                    Integration::S3 {
                        bucket: bucket.clone(),
                        key: None,
                    },
                ),
                // The pass keys, as deploy and rotate-key publish them.
                route(
                    beekeeper_core::pass::JWKS_PATH.to_string(),
                    Integration::S3 {
                        bucket: bucket.clone(),
                        key: Some(names::JWKS_OBJECT.into()),
                    },
                ),
                route(
                    names::ROUTE_POLL.to_string(),
                    Integration::DynamoDb {
                        action: "BatchGetItem".into(),
                        request_template: templates::POLLING_REQUEST.into(),
                        response_template: templates::POLLING_RESPONSE.into(),
                        refused_template: None,
                    },
                ),
                route(
                    format!("{}/{{token}}", names::ROUTE_CLIENT_CHECK),
                    Integration::DynamoDb {
                        action: "GetItem".into(),
                        request_template: templates::CLIENT_CHECK_REQUEST.into(),
                        response_template: templates::CLIENT_CHECK_RESPONSE.into(),
                        refused_template: None,
                    },
                ),
                route_with(
                    "POST",
                    format!("{}/{{token}}", names::ROUTE_CLIENT_CHECK),
                    Integration::DynamoDb {
                        action: "UpdateItem".into(),
                        request_template: templates::REDEEM_REQUEST.into(),
                        response_template: templates::REDEEM_RESPONSE.into(),
                        refused_template: Some(templates::REDEEM_REFUSED.into()),
                    },
                ),
            ],
        };

        let mut rules = vec![RulePlan {
            name: n("trigger-schedule"),
            schedule: "rate(1 minute)".into(),
            function: function(TRIGGER),
        }];
        if profile.dynamic_throttle {
            rules.push(RulePlan {
                name: n("throttle-schedule"),
                schedule: "rate(1 minute)".into(),
                function: function(THROTTLE),
            });
        }

        Plan {
            profile: name.to_string(),
            region,
            account,
            tags: BTreeMap::from([(TAG_PROFILE.to_string(), name.to_string())]),
            room,
            roles,
            bucket: BucketPlan {
                name: bucket,
                objects,
            },
            dead_letter_queue,
            queue: queue_plan,
            tables,
            functions,
            api,
            rules,
            pass_keys,
        }
    }

    pub fn arns(&self) -> Arns<'_> {
        Arns {
            region: &self.region,
            account: &self.account,
        }
    }

    pub fn function(&self, which: &str) -> Option<&FunctionPlan> {
        let name = resource_name(&self.profile, which);
        self.functions.iter().find(|f| f.name == name)
    }

    pub fn tokens_table(&self) -> &str {
        &self.tables[0].name
    }

    pub fn config_table(&self) -> &str {
        &self.tables[1].name
    }

    /// Every rule name a profile can have, planned or not (a redeploy with
    /// the throttle turned off removes its rule; destroy removes both).
    pub fn all_rule_names(&self) -> [String; 2] {
        [
            resource_name(&self.profile, "trigger-schedule"),
            resource_name(&self.profile, "throttle-schedule"),
        ]
    }

    /// The plan as the lines `deploy --dry-run` prints.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        line(format!(
            "plan for profile {:?} in {} (account {}), every resource tagged {}={}",
            self.profile, self.region, self.account, TAG_PROFILE, self.profile
        ));
        line("iam roles (one inline policy each, no wildcard action):".into());
        for r in &self.roles {
            line(format!("  {}  assumed by {}", r.name, r.service));
            for st in r.policy["Statement"].as_array().into_iter().flatten() {
                let when = match st.get("Condition") {
                    Some(c) => format!("  when {c}"),
                    None => String::new(),
                };
                line(format!(
                    "      allow {}  on {}{when}",
                    st["Action"], st["Resource"]
                ));
            }
        }
        line(format!(
            "s3 bucket {}  private, public access blocked",
            self.bucket.name
        ));
        for o in &self.bucket.objects {
            line(format!(
                "  room/{}  {}  {} bytes",
                o.key, o.content_type, o.bytes
            ));
        }
        for q in [&self.dead_letter_queue, &self.queue] {
            line(format!("sqs queue {}", q.name));
            for (k, v) in &q.attributes {
                line(format!("  {k} = {v}"));
            }
        }
        for t in &self.tables {
            line(format!(
                "dynamodb table {}  on-demand, key {} (S){}",
                t.name,
                t.key,
                t.ttl
                    .as_ref()
                    .map_or(String::new(), |a| format!(", ttl on {a}"))
            ));
        }
        line(format!(
            "  room config: {}, {} per minute, destination {}, name {:?}, session {} s",
            if self.room.enabled { "on" } else { "off" },
            self.room.rate_limit,
            self.room.destination,
            self.room.name,
            self.room.session_secs
        ));
        line(format!(
            "ssm parameter {}  SecureString: the pass keys (Ed25519, drawn at deploy), read by the producer and the consumer; public keys as {} in the bucket",
            self.pass_keys,
            names::JWKS_OBJECT
        ));
        for f in &self.functions {
            line(format!(
                "lambda {}  provided.al2023 x86_64, {} MB, {} s, role {}{}",
                f.name,
                f.memory_mb,
                f.timeout_secs,
                f.role,
                f.reserved_concurrency
                    .map_or(String::new(), |c| format!(", reserved concurrency {c}"))
            ));
            if let Some(e) = f.event_invoke {
                line(format!(
                    "  asynchronous invokes: {} retries, dropped after {} s",
                    e.max_retries, e.max_event_age_secs
                ));
            }
            line(format!(
                "  code {}/bootstrap.zip; logs {} kept {} days",
                f.artifact, f.log_group, LOG_RETENTION_DAYS
            ));
            for (k, v) in &f.environment {
                line(format!("  {k}={v}"));
            }
        }
        line(format!(
            "api gateway rest api {}  regional, stage {}, role {}",
            self.api.name, self.api.stage, self.api.role
        ));
        for (k, v) in &self.api.stage_variables {
            line(format!("  stage variable {k}={v}"));
        }
        for r in &self.api.routes {
            let to = match &r.integration {
                Integration::Lambda { function } => format!("lambda proxy -> {function}"),
                Integration::S3 { bucket, key } => {
                    format!("s3 -> {bucket}/{}", key.as_deref().unwrap_or("{proxy}"))
                }
                Integration::DynamoDb { action, .. } => {
                    format!("dynamodb {action} (mapping templates)")
                }
            };
            line(format!("  {} {}  {to}", r.method, r.path));
        }
        for r in &self.rules {
            line(format!(
                "eventbridge rule {}  {} -> {}",
                r.name, r.schedule, r.function
            ));
        }
        line(format!(
            "lambda permissions: {} for each rule, {} for the api (each with its source arn)",
            SID_SCHEDULE, SID_API
        ));
        let (q, d, rate) = (Quotas::default(), Design::BEEKEEPER, self.room.rate_limit);
        let bill = per_visitor(30 * 60, rate, &d);
        line(format!(
            "capacity at {rate} per minute under default quotas: {:.0} arrivals/s, {} visitors waiting",
            max_arrivals_per_sec(&q, &d),
            max_waiting(&q, &d, rate, 0.0)
        ));
        line(format!(
            "  a visitor waiting 30 minutes: {:.0} api requests, {:.1} billed requests in all, ${:.3} per 1,000 visitors at us-east-1 list prices, whatever the profile's region (docs/PERFORMANCE.md)",
            bill.api_requests,
            bill.requests(),
            1000.0 * bill.dollars(&Prices::US_EAST_1)
        ));
        line(format!(
            "  the line holds at most {} visitors (max_line); beyond, arrivals are told the room is full",
            self.room.max_line
        ));
        line(format!(
            "  on with nobody in line: ${:.2} a month (the minute's first consumer keeps running, so a crowd is admitted within seconds); off: no consumer",
            idle_month(&d).dollars(&Prices::US_EAST_1)
        ));
        out
    }
}

/// The folder under the artifacts directory holding a Lambda's zip
/// (`scripts/build-lambdas` names them after the binaries).
pub fn artifact_name(which: &str) -> &'static str {
    match which {
        PRODUCER => "producer",
        TRIGGER => "trigger",
        CONSUMER => "consumer",
        _ => "dynamic-rate-throttle",
    }
}

mod arns;
mod gateway;

pub use arns::Arns;
pub use gateway::{GatewayResponse, GatewayRoute};

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        Profile {
            name: "Big Sale".into(),
            region: "eu-west-1".into(),
            destination: "https://shop.example/sale".into(),
            rate: 600,
            dynamic_throttle: true,
            session_minutes: 30,
            queue_hours: 12,
            probe_url: None,
            secure_cookie: None,
            arrivals_per_client: None,
            trusted_proxies: Vec::new(),
            max_line: None,
        }
    }

    #[test]
    fn no_policy_has_a_wildcard_action_and_every_resource_is_named() {
        let plan = Plan::new("sale", &profile(), Some("123456789012"));
        for role in &plan.roles {
            assert!(role.name.starts_with("beekeeper-sale-"), "{}", role.name);
            assert!(role.name.len() <= 64);
            for st in role.policy["Statement"].as_array().unwrap_or(&vec![]) {
                let actions = st["Action"].as_array().expect("actions are lists");
                assert!(!actions.is_empty());
                for a in actions {
                    let a = a.as_str().unwrap_or("*");
                    assert!(!a.contains('*'), "{} allows {a}", role.name);
                }
                let text = st["Resource"].to_string();
                assert!(
                    text.contains("beekeeper-sale-") || text.contains("/beekeeper/sale/"),
                    "{} on {text}",
                    role.name
                );
                assert!(!text.contains("\"*\""));
            }
        }
        assert_eq!(plan.rules.len(), 2);
        assert!(plan.bucket.name.ends_with("-123456789012"));
    }

    #[test]
    fn longest_profile_names_fit_the_aws_limits() {
        let name = "a".repeat(32);
        let plan = Plan::new(&name, &profile(), Some("123456789012"));
        assert!(plan.bucket.name.len() <= 63);
        assert!(plan.roles.iter().all(|r| r.name.len() <= 64));
        assert!(plan.functions.iter().all(|f| f.name.len() <= 64));
        assert!(plan.rules.iter().all(|r| r.name.len() <= 64));
    }

    #[test]
    fn the_throttle_schedule_follows_the_profile() {
        let mut p = profile();
        p.dynamic_throttle = false;
        let plan = Plan::new("sale", &p, None);
        assert_eq!(plan.rules.len(), 1);
        assert!(plan.describe().contains(ACCOUNT_PLACEHOLDER));
        assert_eq!(plan.all_rule_names()[0], plan.rules[0].name);
    }
}
