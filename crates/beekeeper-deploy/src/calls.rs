//! Every AWS call the deployer makes goes through one interceptor: it
//! counts reads and changes (the deploy report prints them; tests assert a
//! redeploy changes nothing), and for tests it can make the k-th change fail
//! before it is sent.

use std::fmt;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// One operation, as the SDK names it (`Lambda.CreateFunction`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub service: String,
    pub operation: String,
    pub mutating: bool,
    /// The account an S3 call said the bucket must belong to
    /// (`x-amz-expected-bucket-owner`), as sent.
    pub expected_bucket_owner: Option<String>,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.service, self.operation)
    }
}

/// Whether an operation changes anything: everything but the reads.
pub fn is_mutating(operation: &str) -> bool {
    ![
        "Get", "List", "Describe", "Head", "Scan", "Query", "BatchGet",
    ]
    .iter()
    .any(|p| operation.starts_with(p))
}

/// How an injected fault strikes its change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call fails before it is sent: nothing changed.
    BeforeSend,
    /// The call is sent and done, but its answer is lost: the change
    /// happened and the caller saw an error.
    AnswerLost,
}

#[derive(Debug, Default)]
struct Inner {
    calls: Vec<Call>,
    fail_change: Option<(usize, Fault)>,
}

/// Where an operation's call sits in the record.
#[derive(Debug, Clone)]
struct CallIndex(usize);

impl Storable for CallIndex {
    type Storer = StoreReplace<Self>;
}

/// Marks an operation whose answer is to be lost.
#[derive(Debug, Clone)]
struct LoseAnswer(usize, String);

impl Storable for LoseAnswer {
    type Storer = StoreReplace<Self>;
}

/// The shared record of calls. Cheap to clone; clones share the record.
#[derive(Debug, Clone, Default)]
pub struct CallLog(Arc<Mutex<Inner>>);

/// The error an injected fault raises.
#[derive(Debug, thiserror::Error)]
#[error("injected fault on change #{index}: {call}")]
pub struct InjectedFault {
    pub index: usize,
    pub call: String,
}

impl CallLog {
    pub fn new() -> CallLog {
        CallLog::default()
    }

    /// Makes the `k`-th change (1-based) from now on fail.
    pub fn fail_change(&self, k: usize, fault: Fault) {
        let mut inner = self.lock();
        let done = inner.calls.iter().filter(|c| c.mutating).count();
        inner.fail_change = Some((done + k, fault));
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    pub fn changes(&self) -> Vec<Call> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.mutating)
            .cloned()
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the list half-written.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "beekeeper-call-log"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map_or(("?".to_string(), "?".to_string()), |m| {
                (m.service().to_string(), m.name().to_string())
            });
        let call = Call {
            mutating: is_mutating(&operation),
            service,
            operation,
            expected_bucket_owner: None,
        };
        tracing::debug!(call = %call, mutating = call.mutating, "aws call");
        let mut inner = self.lock();
        inner.calls.push(call.clone());
        cfg.interceptor_state()
            .store_put(CallIndex(inner.calls.len() - 1));
        if call.mutating {
            let index = inner.calls.iter().filter(|c| c.mutating).count();
            match inner.fail_change {
                Some((k, Fault::BeforeSend)) if k == index => {
                    return Err(Box::new(InjectedFault {
                        index,
                        call: call.to_string(),
                    }));
                }
                Some((k, Fault::AnswerLost)) if k == index => {
                    cfg.interceptor_state()
                        .store_put(LoseAnswer(index, call.to_string()));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let owner = context
            .request()
            .headers()
            .get("x-amz-expected-bucket-owner")
            .map(str::to_string);
        if let (Some(owner), Some(CallIndex(i))) = (owner, cfg.load::<CallIndex>()) {
            if let Some(call) = self.lock().calls.get_mut(*i) {
                call.expected_bucket_owner = Some(owner);
            }
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        match cfg.load::<LoseAnswer>() {
            Some(LoseAnswer(index, call)) => Err(Box::new(InjectedFault {
                index: *index,
                call: format!("{call} (done, answer lost)"),
            })),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_told_from_changes() {
        for op in [
            "GetRole",
            "ListTagsForResource",
            "DescribeTable",
            "HeadObject",
        ] {
            assert!(!is_mutating(op), "{op}");
        }
        for op in [
            "CreateRole",
            "PutRolePolicy",
            "UpdateFunctionCode",
            "TagResource",
            "DeleteBucket",
            "AddPermission",
        ] {
            assert!(is_mutating(op), "{op}");
        }
    }
}
