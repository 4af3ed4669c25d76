//! Lambda: the four functions (configuration, code, reserved concurrency)
//! and the permissions that let API Gateway and EventBridge invoke them.

use std::collections::BTreeMap;

use aws_sdk_lambda::types as lt;
use aws_smithy_types::error::metadata::ProvideErrorMetadata as _;
use aws_smithy_types::Blob;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Ctx;
use crate::error::{DeployError, Result, SdkResult};
use crate::found;
use crate::plan::FunctionPlan;
use crate::progress::{Change, Changes, Outcome};

pub(super) async fn ensure(
    cx: &Ctx<'_>,
    f: &FunctionPlan,
    zip: &[u8],
    queue_url: &str,
) -> Result<Outcome> {
    let lambda = &cx.c.lambda;
    let role = cx.plan.arns().role(&f.role);
    let environment = f.environment_with(queue_url);
    let env = lt::Environment::builder()
        .set_variables(Some(environment.clone().into_iter().collect()))
        .build();
    let mut changes = Changes::default();
    match found::function(cx.c, &f.name).await? {
        None => {
            let mut attempt = 0;
            loop {
                attempt += 1;
                let r = lambda
                    .create_function()
                    .function_name(&f.name)
                    .runtime(lt::Runtime::Providedal2023)
                    .architectures(lt::Architecture::X8664)
                    .handler("bootstrap")
                    .role(&role)
                    .memory_size(f.memory_mb)
                    .timeout(f.timeout_secs)
                    .environment(env.clone())
                    .code(lt::FunctionCode::builder().zip_file(Blob::new(zip)).build())
                    .set_tags(Some(cx.tag_map()))
                    .send()
                    .await;
                match r {
                    Ok(_) => break,
                    // IAM has not propagated the new role to Lambda yet.
                    Err(e)
                        if attempt < cx.patience.attempts
                            && e.code() == Some("InvalidParameterValueException")
                            && e.message().is_some_and(|m| m.contains("role")) =>
                    {
                        tokio::time::sleep(cx.patience.pause).await;
                    }
                    Err(e) => {
                        return Err(crate::error::aws(format!("create lambda {}", f.name), e))
                    }
                }
            }
            changes.created();
        }
        Some(found) => {
            if !cx.check_owner(&format!("lambda {}", f.name), found.owner)? {
                lambda
                    .tag_resource()
                    .resource(cx.plan.arns().function(&f.name))
                    .set_tags(Some(cx.tag_map()))
                    .send()
                    .await
                    .ctx(format!("tag lambda {}", f.name))?;
                changes.add(Change::Tags);
            }
            let cfg = found
                .it
                .configuration
                .unwrap_or_else(|| lt::FunctionConfiguration::builder().build());
            let have_env: BTreeMap<String, String> = cfg
                .environment()
                .and_then(|e| e.variables())
                .map(|v| v.clone().into_iter().collect())
                .unwrap_or_default();
            let same_config = cfg.role() == Some(role.as_str())
                && cfg.runtime() == Some(&lt::Runtime::Providedal2023)
                && cfg.handler() == Some("bootstrap")
                && cfg.memory_size() == Some(f.memory_mb)
                && cfg.timeout() == Some(f.timeout_secs)
                && have_env == environment;
            if !same_config {
                wait_function(cx, &f.name).await?;
                lambda
                    .update_function_configuration()
                    .function_name(&f.name)
                    .runtime(lt::Runtime::Providedal2023)
                    .handler("bootstrap")
                    .role(&role)
                    .memory_size(f.memory_mb)
                    .timeout(f.timeout_secs)
                    .environment(env)
                    .send()
                    .await
                    .ctx(format!("update the configuration of {}", f.name))?;
                changes.add(Change::Configuration);
            }
            if cfg.code_sha256() != Some(code_sha256(zip).as_str()) {
                wait_function(cx, &f.name).await?;
                lambda
                    .update_function_code()
                    .function_name(&f.name)
                    .zip_file(Blob::new(zip))
                    .architectures(lt::Architecture::X8664)
                    .send()
                    .await
                    .ctx(format!("update the code of {}", f.name))?;
                changes.add(Change::Code);
            }
        }
    }
    let reserved = lambda
        .get_function_concurrency()
        .function_name(&f.name)
        .send()
        .await
        .ctx(format!("read the concurrency of {}", f.name))?
        .reserved_concurrent_executions;
    if reserved != f.reserved_concurrency {
        match f.reserved_concurrency {
            Some(n) => {
                lambda
                    .put_function_concurrency()
                    .function_name(&f.name)
                    .reserved_concurrent_executions(n)
                    .send()
                    .await
                    .ctx(format!("reserve concurrency for {}", f.name))?;
            }
            None => {
                lambda
                    .delete_function_concurrency()
                    .function_name(&f.name)
                    .send()
                    .await
                    .ctx(format!("release the concurrency of {}", f.name))?;
            }
        }
        changes.add(Change::ReservedConcurrency);
    }
    if let Some(want) = f.event_invoke {
        let found = lambda
            .get_function_event_invoke_config()
            .function_name(&f.name)
            .send()
            .await;
        let found = match found {
            Ok(c) => Some((c.maximum_retry_attempts, c.maximum_event_age_in_seconds)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                None
            }
            Err(e) => {
                return Err(e).ctx(format!(
                    "read the asynchronous invoke settings of {}",
                    f.name
                ))
            }
        };
        if found != Some((Some(want.max_retries), Some(want.max_event_age_secs))) {
            lambda
                .put_function_event_invoke_config()
                .function_name(&f.name)
                .maximum_retry_attempts(want.max_retries)
                .maximum_event_age_in_seconds(want.max_event_age_secs)
                .send()
                .await
                .ctx(format!(
                    "set the asynchronous invoke settings of {}",
                    f.name
                ))?;
            changes.add(Change::EventInvoke);
        }
    }
    Ok(changes.outcome())
}

/// Lambda refuses a change while the previous one is in progress.
async fn wait_function(cx: &Ctx<'_>, name: &str) -> Result<()> {
    for _ in 0..cx.patience.attempts {
        let cfg =
            cx.c.lambda
                .get_function_configuration()
                .function_name(name)
                .send()
                .await
                .ctx(format!("read lambda {name}"))?;
        let busy = cfg.state() == Some(&lt::State::Pending)
            || cfg.last_update_status() == Some(&lt::LastUpdateStatus::InProgress);
        if !busy {
            return Ok(());
        }
        tokio::time::sleep(cx.patience.pause).await;
    }
    Err(DeployError::NotReady {
        resource: format!("lambda {name}"),
        detail: "an update is still in progress".into(),
    })
}

/// A permission for `principal` to invoke `function`, only from `source`.
pub(super) async fn ensure_permission(
    cx: &Ctx<'_>,
    function: &str,
    sid: &str,
    principal: &str,
    source: &str,
) -> Result<Outcome> {
    let lambda = &cx.c.lambda;
    let policy = lambda
        .get_policy()
        .function_name(function)
        .send()
        .await
        .found(format!("read the permissions of {function}"))?
        .and_then(|p| p.policy)
        .and_then(|p| serde_json::from_str::<Value>(&p).ok());
    let statement = policy.as_ref().and_then(|p| {
        p["Statement"]
            .as_array()?
            .iter()
            .find(|s| s["Sid"] == sid)
            .cloned()
    });
    if let Some(st) = &statement {
        if statement_source(st) == Some(source) && statement_principal(st) == Some(principal) {
            return Ok(Outcome::Unchanged);
        }
        lambda
            .remove_permission()
            .function_name(function)
            .statement_id(sid)
            .send()
            .await
            .found(format!("remove permission {sid} from {function}"))?;
    }
    lambda
        .add_permission()
        .function_name(function)
        .statement_id(sid)
        .action("lambda:InvokeFunction")
        .principal(principal)
        .source_arn(source)
        .send()
        .await
        .ctx(format!("let {principal} invoke {function}"))?;
    Ok(if statement.is_some() {
        Outcome::Updated(vec![Change::Permission])
    } else {
        Outcome::Created
    })
}

fn statement_source(st: &Value) -> Option<&str> {
    st["Condition"]["ArnLike"]["AWS:SourceArn"].as_str()
}

fn statement_principal(st: &Value) -> Option<&str> {
    st["Principal"]["Service"]
        .as_str()
        .or_else(|| st["Principal"].as_str())
}

/// Lambda's CodeSha256: the base64 SHA-256 of the zip.
pub fn code_sha256(zip: &[u8]) -> String {
    aws_smithy_types::base64::encode(Sha256::digest(zip))
}

/// What moto cannot do: refuse a role IAM has not propagated yet, or hold
/// a function in an update. The SDK's own mocks answer instead.
#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_sdk_lambda::error::ErrorMetadata;
    use aws_sdk_lambda::operation::create_function::{CreateFunctionError, CreateFunctionOutput};
    use aws_sdk_lambda::operation::get_function::{GetFunctionError, GetFunctionOutput};
    use aws_sdk_lambda::operation::get_function_concurrency::GetFunctionConcurrencyOutput;
    use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;
    use aws_sdk_lambda::operation::update_function_configuration::UpdateFunctionConfigurationOutput;
    use aws_sdk_lambda::types::error::{InvalidParameterValueException, ResourceNotFoundException};
    use aws_smithy_mocks::{mock, Rule, RuleMode};
    use beekeeper_core::names::TAG_PROFILE;

    use super::*;
    use crate::apply::{Ctx, Patience};
    use crate::calls::CallLog;
    use crate::clients::Clients;
    use crate::plan::{Plan, PRODUCER};

    const ZIP: &[u8] = b"PK\x05\x06 a function";

    fn plan() -> Plan {
        let profile = beekeeper_core::Profile {
            name: "Sale".into(),
            region: "eu-west-1".into(),
            destination: "https://shop.example/".into(),
            rate: 600,
            dynamic_throttle: false,
            session_minutes: 30,
            queue_hours: 12,
            probe_url: None,
            secure_cookie: None,
            arrivals_per_client: None,
            trusted_proxies: Vec::new(),
            max_line: None,
        };
        Plan::new("sale", &profile, Some("123456789012"))
    }

    /// The deploy's clients, Lambda answered by `rules` (the others are
    /// never called here).
    fn clients(rules: &[&Rule]) -> Clients {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .build();
        let mut c = Clients::new(&sdk, CallLog::new());
        let mut mocks =
            aws_smithy_mocks::MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for r in rules {
            mocks = mocks.with_rule(r);
        }
        let conf = aws_sdk_lambda::Config::builder()
            .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
            .region(aws_sdk_lambda::config::Region::new("eu-west-1"))
            .credentials_provider(aws_sdk_lambda::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .interceptor(mocks)
            .build();
        c.lambda = aws_sdk_lambda::Client::from_conf(conf);
        c
    }

    fn quick() -> Patience {
        Patience {
            attempts: 4,
            pause: Duration::from_millis(1),
        }
    }

    /// The producer of [`plan`] converged with Lambda answered by `rules`.
    async fn ensure_producer(rules: &[&Rule]) -> Result<Outcome> {
        let (c, plan) = (clients(rules), plan());
        let cx = Ctx {
            c: &c,
            plan: &plan,
            patience: quick(),
        };
        let f = plan.function(PRODUCER).unwrap();
        ensure(&cx, f, ZIP, "https://sqs.example/q").await
    }

    fn meta(code: &str, message: &str) -> ErrorMetadata {
        ErrorMetadata::builder().code(code).message(message).build()
    }

    fn absent() -> Rule {
        mock!(aws_sdk_lambda::Client::get_function).then_error(|| {
            GetFunctionError::ResourceNotFoundException(
                ResourceNotFoundException::builder()
                    .meta(meta("ResourceNotFoundException", "Function not found"))
                    .build(),
            )
        })
    }

    fn role_not_yet() -> CreateFunctionError {
        CreateFunctionError::InvalidParameterValueException(
            InvalidParameterValueException::builder()
                .meta(meta(
                    "InvalidParameterValueException",
                    "The role defined for the function cannot be assumed by Lambda.",
                ))
                .build(),
        )
    }

    fn no_concurrency() -> Rule {
        mock!(aws_sdk_lambda::Client::get_function_concurrency)
            .then_output(|| GetFunctionConcurrencyOutput::builder().build())
    }

    #[tokio::test]
    async fn a_new_role_is_retried_until_lambda_may_assume_it() {
        let create = mock!(aws_sdk_lambda::Client::create_function)
            .sequence()
            .error(role_not_yet)
            .times(2)
            .output(|| CreateFunctionOutput::builder().build())
            .build();
        let (absent, none) = (absent(), no_concurrency());
        let outcome = ensure_producer(&[&absent, &create, &none]).await.unwrap();
        assert_eq!(outcome, Outcome::Created);
        assert_eq!(create.num_calls(), 3);
    }

    #[tokio::test]
    async fn a_role_never_propagated_fails_with_lambda_s_reason_after_the_patience() {
        let create = mock!(aws_sdk_lambda::Client::create_function)
            .sequence()
            .error(role_not_yet)
            .repeatedly()
            .build();
        let absent = absent();
        let err = ensure_producer(&[&absent, &create]).await.unwrap_err();
        assert_eq!(err.code(), Some("InvalidParameterValueException"));
        assert!(err.to_string().contains("cannot be assumed"), "{err}");
        assert_eq!(create.num_calls(), 4, "one call per attempt");
    }

    /// A function of this profile whose memory drifted, with its code as planned.
    fn drifted(plan: &Plan) -> Rule {
        let f = plan.function(PRODUCER).unwrap().clone();
        let tags = [(TAG_PROFILE.to_string(), plan.profile.clone())];
        mock!(aws_sdk_lambda::Client::get_function).then_output(move || {
            GetFunctionOutput::builder()
                .configuration(
                    lt::FunctionConfiguration::builder()
                        .function_name(&f.name)
                        .memory_size(f.memory_mb + 64)
                        .code_sha256(code_sha256(ZIP))
                        .build(),
                )
                .set_tags(Some(tags.clone().into_iter().collect()))
                .build()
        })
    }

    fn in_progress() -> GetFunctionConfigurationOutput {
        GetFunctionConfigurationOutput::builder()
            .state(lt::State::Active)
            .last_update_status(lt::LastUpdateStatus::InProgress)
            .build()
    }

    #[tokio::test]
    async fn an_update_waits_until_the_previous_one_is_done() {
        let plan = plan();
        let status = mock!(aws_sdk_lambda::Client::get_function_configuration)
            .sequence()
            .output(in_progress)
            .times(2)
            .output(|| {
                GetFunctionConfigurationOutput::builder()
                    .state(lt::State::Active)
                    .last_update_status(lt::LastUpdateStatus::Successful)
                    .build()
            })
            .build();
        let update = mock!(aws_sdk_lambda::Client::update_function_configuration)
            .then_output(|| UpdateFunctionConfigurationOutput::builder().build());
        let (found, none) = (drifted(&plan), no_concurrency());
        let outcome = ensure_producer(&[&found, &status, &update, &none])
            .await
            .unwrap();
        assert_eq!(outcome, Outcome::Updated(vec![Change::Configuration]));
        assert_eq!(status.num_calls(), 3);
        assert_eq!(update.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_function_stuck_in_an_update_is_not_ready_and_left_alone() {
        let plan = plan();
        let status = mock!(aws_sdk_lambda::Client::get_function_configuration)
            .sequence()
            .output(in_progress)
            .repeatedly()
            .build();
        let update = mock!(aws_sdk_lambda::Client::update_function_configuration)
            .then_output(|| UpdateFunctionConfigurationOutput::builder().build());
        let found = drifted(&plan);
        let err = ensure_producer(&[&found, &status, &update])
            .await
            .unwrap_err();
        assert!(matches!(err, DeployError::NotReady { .. }), "{err}");
        assert!(err.to_string().contains("run deploy again"), "{err}");
        assert_eq!(status.num_calls(), 4);
        assert_eq!(update.num_calls(), 0, "no change while one is in progress");
    }
}
