use std::path::PathBuf;

/// Every way a command can fail; each message is one line with a hint.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("no config directory found (hint: set --config FILE or BEEKEEPER_CONFIG)")]
    NoConfigDir,
    #[error("no data directory found (hint: pass --data-dir DIR)")]
    NoDataDir,
    #[error("cannot read {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    WriteFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid profiles file: {reason}")]
    ParseFile { path: PathBuf, reason: String },
    #[error(
        "unknown profile {name:?} (known: {known}; hint: create it with `beekeeper init {name}`)"
    )]
    UnknownProfile { name: String, known: String },
    #[error("profile {name:?} in {path} is invalid: {reason}")]
    BadProfile {
        name: String,
        path: PathBuf,
        reason: String,
    },
    #[error("invalid {flag}: {reason}")]
    InvalidAnswer { flag: &'static str, reason: String },
    #[error("missing {flag} (stdin is not a terminal, so beekeeper cannot ask; pass {flag} or --yes for the default)")]
    MissingAnswer { flag: &'static str },
    #[error("profile {0:?} already exists (hint: pass --yes to overwrite it)")]
    ProfileExists(String),
    #[error("cancelled")]
    Cancelled,
    #[error(
        "profile {0:?} is neither served on this machine nor deployed (hint: `beekeeper serve {0}` or `beekeeper deploy {0}`)"
    )]
    NotServed(String),
    #[error(transparent)]
    Local(#[from] beekeeper_local::LocalError),
    #[error(transparent)]
    Keys(#[from] beekeeper_local::keys::KeysError),
    #[error(transparent)]
    Store(#[from] beekeeper_local::StoreError),
    #[error(transparent)]
    Deploy(#[from] beekeeper_deploy::DeployError),
    #[error("AWS profile {0:?} gave no credentials (hint: check ~/.aws/config and ~/.aws/credentials, or run `aws sso login --profile {0}`)")]
    AwsProfile(String),
    #[error("destroy needs confirmation (stdin is not a terminal; pass --yes)")]
    NeedsConfirmation,
    #[error("another deploy or destroy of profile {profile:?} is running ({holder}; lock {path}): wait for it to finish")]
    ProfileBusy {
        profile: String,
        holder: String,
        path: PathBuf,
    },
    #[error("{0}")]
    Internal(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Cancelled => 130,
            _ => 1,
        }
    }
}
