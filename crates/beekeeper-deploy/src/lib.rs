//! Deploys a beekeeper waiting room to an AWS account, runs it, destroys it.
//!
//! The [`plan::Plan`] is computed from the profile alone, as data. `deploy`
//! converges the account to it resource by resource (read, then create or
//! update only what differs), so running it again finishes a deploy that
//! failed half-way and changes nothing after one that succeeded. `destroy`
//! deletes only what carries the profile's tag. Every call goes through the
//! [`calls::CallLog`], which counts them and, in tests, injects faults.

pub mod apply;
pub mod calls;
pub mod capacity;
pub mod clients;
pub mod control;
pub mod destroy;
pub mod error;
pub mod found;
pub mod keys;
pub mod plan;
pub mod progress;

pub use apply::{Deploy, Deployed, Patience};
pub use calls::{CallLog, Fault};
pub use clients::Clients;
pub use error::{DeployError, Result};
pub use plan::Plan;
pub use progress::{Outcome, Progress};

use error::SdkResult;

/// The account the credentials belong to (it names the bucket and the ARNs).
pub async fn account(c: &Clients) -> Result<String> {
    // The first call: if AWS cannot be reached at all, say so in a second
    // rather than after the full retry schedule.
    let out = c
        .sts
        .get_caller_identity()
        .customize()
        .config_override(
            aws_sdk_sts::config::Builder::default()
                .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2)),
        )
        .send()
        .await
        .ctx("find the AWS account of these credentials")?;
    out.account
        .ok_or_else(|| DeployError::Missing("the account of the caller identity".into()))
}
