//! The beekeeper waiting room on AWS: what the four Lambdas do.
//!
//! Every decision comes from `beekeeper-core`; this crate only moves data
//! between SQS, DynamoDB and Lambda. Each Lambda's `main.rs` builds the
//! clients once and hands its events to the handlers here, which tests call
//! directly against a local AWS emulator.

pub mod consumer;
pub mod keys;
pub mod producer;
pub mod room;
pub mod throttle;
pub mod trigger;

pub use beekeeper_core::names::env::CONFIG_TABLE as CONFIG_TABLE_ENV;
pub use beekeeper_core::plan::ConsumerOrder;

use std::time::{SystemTime, UNIX_EPOCH};

use beekeeper_core::names::env;

/// Where a Lambda finds its resources (from its environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    pub queue_url: String,
    pub tokens_table: String,
    pub config_table: String,
    /// Only the trigger needs it.
    pub consumer_function: Option<String>,
    /// The pass keys' parameter: only the producer and the consumer sign.
    pub pass_keys: Option<String>,
}

impl Env {
    pub fn from_env() -> Result<Env, AwsError> {
        let var = |name: &'static str| std::env::var(name).map_err(|_| AwsError::Env(name));
        Ok(Env {
            queue_url: var(env::QUEUE_URL)?,
            tokens_table: var(env::TOKENS_TABLE)?,
            config_table: var(env::CONFIG_TABLE)?,
            consumer_function: std::env::var(env::CONSUMER_FUNCTION).ok(),
            pass_keys: std::env::var(env::PASS_KEYS).ok(),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("environment variable {0} is not set (the deployer sets it)")]
    Env(&'static str),
    #[error("failed to {what}: no credentials found")]
    NoCredentials { what: String },
    #[error("failed to {what}: {detail}")]
    Sdk {
        what: String,
        detail: String,
        /// The AWS error code, when AWS answered with one.
        code: Option<String>,
    },
    #[error("room config item is invalid: {0}")]
    BadConfig(String),
    #[error("the pass keys are unusable: {0}")]
    BadKeys(String),
    #[error("no randomness for a token: {0}")]
    Random(String),
    #[error("{0}")]
    Probe(String),
}

impl AwsError {
    /// Wraps an SDK error with what was being done, keeping its whole chain.
    pub fn sdk<E: std::error::Error>(what: impl Into<String>, e: E) -> AwsError {
        AwsError::Sdk {
            what: what.into(),
            detail: aws_sdk_sqs::error::DisplayErrorContext(&e).to_string(),
            code: None,
        }
    }

    /// Wraps an AWS call's failure, keeping its error code too.
    pub fn call<E>(what: impl Into<String>, e: aws_sdk_sqs::error::SdkError<E>) -> AwsError
    where
        E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        use aws_sdk_sqs::error::ProvideErrorMetadata as _;
        if no_credentials(&e) {
            return AwsError::NoCredentials { what: what.into() };
        }
        AwsError::Sdk {
            what: what.into(),
            code: e.code().map(str::to_string),
            detail: aws_sdk_sqs::error::DisplayErrorContext(&e).to_string(),
        }
    }
}

pub type Result<T, E = AwsError> = std::result::Result<T, E>;

/// Whether a call failed because no credentials could be loaded (the SDK's
/// `CredentialsError::CredentialsNotLoaded` anywhere in its chain), as
/// opposed to credentials AWS refused.
pub fn no_credentials(e: &(dyn std::error::Error + 'static)) -> bool {
    use aws_credential_types::provider::error::CredentialsError;
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(CredentialsError::CredentialsNotLoaded(_)) = err.downcast_ref() {
            return true;
        }
        cur = err.source();
    }
    false
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The SDK configuration every Lambda builds once at start: region,
/// credentials and endpoint overrides (`AWS_ENDPOINT_URL`,
/// `AWS_ENDPOINT_URL_LAMBDA`...) from the standard environment.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5))
        .load()
        .await
}

/// The API Gateway mapping templates, as the deployer uploads them.
pub mod templates {
    pub const POLLING_REQUEST: &str = include_str!("../templates/polling-request.vtl");
    pub const POLLING_RESPONSE: &str = include_str!("../templates/polling-response.vtl");
    pub const CLIENT_CHECK_REQUEST: &str = include_str!("../templates/client-check-request.vtl");
    pub const CLIENT_CHECK_RESPONSE: &str = include_str!("../templates/client-check-response.vtl");
    pub const REDEEM_REQUEST: &str = include_str!("../templates/redeem-request.vtl");
    pub const REDEEM_RESPONSE: &str = include_str!("../templates/redeem-response.vtl");
    /// The answer to DynamoDB's 400: a failed condition, or a failure.
    pub const REDEEM_REFUSED: &str = include_str!("../templates/redeem-refused.vtl");
    /// Stage variable naming the tokens table, read by the templates.
    pub const STAGE_VARIABLE_TOKENS_TABLE: &str = "tokensTable";
    /// Stage variable naming the config table, read by the polling templates.
    pub const STAGE_VARIABLE_CONFIG_TABLE: &str = "configTable";
}
