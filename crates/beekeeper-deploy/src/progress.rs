//! What a deploy or destroy reports, one resource at a time.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Created,
    /// What changed.
    Updated(String),
    Unchanged,
    Deleted,
    /// Nothing to delete.
    Absent,
    /// Left in place, and why.
    Kept(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Created => f.write_str("created"),
            Outcome::Updated(what) => write!(f, "updated ({what})"),
            Outcome::Unchanged => f.write_str("unchanged"),
            Outcome::Deleted => f.write_str("deleted"),
            Outcome::Absent => f.write_str("already gone"),
            Outcome::Kept(why) => write!(f, "kept: {why}"),
        }
    }
}

/// Receives each step as it starts and ends: the CLI draws a spinner per
/// step on a terminal and plain lines otherwise.
pub trait Progress: Send + Sync {
    fn start(&self, resource: &str);
    fn finish(&self, resource: &str, outcome: &Outcome);
}

/// Reports nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn start(&self, _: &str) {}
    fn finish(&self, _: &str, _: &Outcome) {}
}

/// Runs one step of a deploy or destroy, reporting its start and outcome.
pub async fn step<F>(progress: &dyn Progress, resource: String, f: F) -> crate::Result<Outcome>
where
    F: std::future::Future<Output = crate::Result<Outcome>>,
{
    progress.start(&resource);
    let outcome = f.await?;
    progress.finish(&resource, &outcome);
    Ok(outcome)
}
