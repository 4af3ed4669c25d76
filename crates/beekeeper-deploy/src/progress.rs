//! What a deploy or destroy reports, one resource at a time.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Created,
    /// What changed, in the order it was changed.
    Updated(Vec<Change>),
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
            Outcome::Updated(what) => {
                let what: Vec<&str> = what.iter().map(|c| c.as_str()).collect();
                write!(f, "updated ({})", what.join(", "))
            }
            Outcome::Unchanged => f.write_str("unchanged"),
            Outcome::Deleted => f.write_str("deleted"),
            Outcome::Absent => f.write_str("already gone"),
            Outcome::Kept(why) => write!(f, "kept: {why}"),
        }
    }
}

/// One thing a deploy changed on a resource that already existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Tags,
    TrustPolicy,
    Policy,
    Retention,
    PublicAccessBlock,
    Page,
    StrayObjects,
    Attributes,
    Ttl,
    Settings,
    Configuration,
    Code,
    ReservedConcurrency,
    EventInvoke,
    Permission,
    Schedule,
    Targets,
    Routes,
    Deployment,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Tags => "tags",
            Change::TrustPolicy => "trust policy",
            Change::Policy => "policy",
            Change::Retention => "retention",
            Change::PublicAccessBlock => "public access block",
            Change::Page => "page",
            Change::StrayObjects => "stray objects",
            Change::Attributes => "attributes",
            Change::Ttl => "ttl",
            Change::Settings => "settings from the profile",
            Change::Configuration => "configuration",
            Change::Code => "code",
            Change::ReservedConcurrency => "reserved concurrency",
            Change::EventInvoke => "asynchronous invoke settings",
            Change::Permission => "permission",
            Change::Schedule => "schedule",
            Change::Targets => "targets",
            Change::Routes => "routes",
            Change::Deployment => "deployment",
        }
    }
}

/// What one resource's convergence did so far: created, or the changes
/// made to one that existed (a resource just created has nothing else to
/// report, whatever was set on it after).
#[derive(Debug, Default)]
pub struct Changes {
    created: bool,
    updated: Vec<Change>,
}

impl Changes {
    pub fn created(&mut self) {
        self.created = true;
    }

    pub fn add(&mut self, change: Change) {
        if !self.updated.contains(&change) {
            self.updated.push(change);
        }
    }

    /// Folds in the outcome of a part of the same resource.
    pub fn absorb(&mut self, part: Outcome) {
        match part {
            Outcome::Created => self.created(),
            Outcome::Updated(changes) => changes.into_iter().for_each(|c| self.add(c)),
            _ => {}
        }
    }

    pub fn outcome(self) -> Outcome {
        if self.created {
            Outcome::Created
        } else if self.updated.is_empty() {
            Outcome::Unchanged
        } else {
            Outcome::Updated(self.updated)
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
