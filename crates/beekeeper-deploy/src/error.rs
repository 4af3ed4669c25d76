//! Deploy errors: one line each, with a hint where one helps.

use std::path::PathBuf;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("failed to {what}: {detail}{}", hint.map(|h| format!(" (hint: {h})")).unwrap_or_default())]
    Aws {
        what: String,
        code: Option<String>,
        detail: String,
        hint: Option<&'static str>,
    },
    #[error("failed to {what}: no credentials found (hint: {NO_CREDENTIALS})")]
    NoCredentials { what: String },
    #[error("no Lambda artifact at {path} (hint: build them with `scripts/build-lambdas --release`, or pass --artifacts DIR)")]
    MissingArtifact { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    ReadArtifact {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{resource} exists but belongs to profile {owner:?}, not {profile:?}; beekeeper leaves it alone (hint: pick another profile name)")]
    NotOurs {
        resource: String,
        owner: String,
        profile: String,
    },
    #[error("s3 bucket {0} exists in another AWS account; beekeeper never uses a bucket it does not own (hint: deploy under another profile name, or find out who created it)")]
    BucketTaken(String),
    #[error(
        "{resource} did not become ready in time: {detail} (hint: run deploy again to finish)"
    )]
    NotReady { resource: String, detail: String },
    #[error("room config item is invalid: {0}")]
    Config(String),
    #[error("AWS answered without {0}")]
    Missing(String),
    #[error("a request could not be built: {0}")]
    Build(String),
    #[error("profile {0:?} is not deployed (hint: run `beekeeper deploy {0}` first)")]
    NotDeployed(String),
    #[error("the pass keys {0} are unusable (hint: delete the parameter and deploy again; passes it signed stop verifying)")]
    Keys(String),
}

impl From<aws_smithy_types::error::operation::BuildError> for DeployError {
    fn from(e: aws_smithy_types::error::operation::BuildError) -> Self {
        DeployError::Build(e.to_string())
    }
}

impl DeployError {
    /// The AWS error code, when the failure came from AWS.
    pub fn code(&self) -> Option<&str> {
        match self {
            DeployError::Aws { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

pub type Result<T, E = DeployError> = std::result::Result<T, E>;

/// Codes meaning "there is no such thing", across the services used.
const NOT_FOUND: &[&str] = &[
    "NoSuchEntity",
    "ResourceNotFoundException",
    "NotFoundException",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "NoSuchBucket",
    "NoSuchKey",
    "NotFound",
    "NoSuchPublicAccessBlockConfiguration",
    "NoSuchTagSet",
    "NoSuchTagSetError",
    "ParameterNotFound",
];

pub fn is_not_found(code: Option<&str>) -> bool {
    code.is_some_and(|c| NOT_FOUND.contains(&c))
}

const NO_CREDENTIALS: &str = "no AWS credentials found: run `aws configure` or `aws sso login`, pass --aws-profile NAME, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";

fn hint_for(code: Option<&str>, detail: &str) -> Option<&'static str> {
    let code = code.unwrap_or_default();
    if [
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
    ]
    .contains(&code)
    {
        return Some("the AWS credentials were refused or have expired: refresh them (`aws sso login`) or pick others with --aws-profile");
    }
    if code.contains("AccessDenied") || code == "UnauthorizedOperation" {
        return Some(
            "these credentials may not do this: README.md lists the permissions deploy needs",
        );
    }
    if code.contains("LimitExceeded")
        || code.contains("QuotaExceeded")
        || code == "TooManyRequestsException"
        || code == "TooManyBuckets"
    {
        return Some("an account quota blocks this: raise it in the Service Quotas console, or free some of it, then run deploy again");
    }
    if detail.contains("dispatch failure") || detail.contains("timeout") {
        return Some("AWS could not be reached: check the network, the region, and --endpoint-url / AWS_ENDPOINT_URL");
    }
    None
}

/// A failure of the data plane's code (the room config codec, the queue
/// depth), with the hint its AWS error code calls for.
pub fn from_data_plane(e: beekeeper_aws::AwsError) -> DeployError {
    match e {
        beekeeper_aws::AwsError::BadConfig(m) => DeployError::Config(m),
        beekeeper_aws::AwsError::NoCredentials { what } => DeployError::NoCredentials { what },
        beekeeper_aws::AwsError::Sdk { what, detail, code } => DeployError::Aws {
            hint: hint_for(code.as_deref(), &detail),
            what,
            code,
            detail,
        },
        e => DeployError::Aws {
            what: "use the room's data".into(),
            hint: None,
            code: None,
            detail: e.to_string(),
        },
    }
}

/// Turns an SDK failure into a [`DeployError`] saying what was being done.
pub fn aws<E>(what: impl Into<String>, e: SdkError<E, HttpResponse>) -> DeployError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if beekeeper_aws::no_credentials(&e) {
        return DeployError::NoCredentials { what: what.into() };
    }
    let code = e.code().map(str::to_string);
    let chain = aws_smithy_types::error::display::DisplayErrorContext(&e).to_string();
    let detail = match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        _ => root_cause(&e),
    };
    DeployError::Aws {
        what: what.into(),
        hint: hint_for(code.as_deref(), &chain),
        code,
        detail,
    }
}

/// The innermost error: what went wrong, without the layers around it.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// `Result` of an SDK call, with context.
pub trait SdkResult<T> {
    /// Any error fails with `what`.
    fn ctx(self, what: impl Into<String>) -> Result<T>;
    /// "Not found" is `None`; any other error fails with `what`.
    fn found(self, what: impl Into<String>) -> Result<Option<T>>;
}

impl<T, E> SdkResult<T> for std::result::Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    fn ctx(self, what: impl Into<String>) -> Result<T> {
        self.map_err(|e| aws(what, e))
    }

    fn found(self, what: impl Into<String>) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(e) if is_not_found(e.code()) || is_http_404(&e) => Ok(None),
            Err(e) => Err(aws(what, e)),
        }
    }
}

/// Some reads (S3's HEAD) answer "not found" with a bare 404.
fn is_http_404<E>(e: &SdkError<E, HttpResponse>) -> bool {
    matches!(e, SdkError::ServiceError(_))
        && e.raw_response().map(|r| r.status().as_u16()) == Some(404)
}
