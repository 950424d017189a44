//! One invocation the stand-in served: what Lambda records, and CloudWatch's metrics, the
//! alarms and the invocation logs read.

use std::time::{Duration, SystemTime};

use serde::Serialize;

/// `$LATEST`: the unpublished version, here the code of the newest published one.
pub const LATEST: &str = "$LATEST";

/// One invocation the stand-in served, for metrics and alarms.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct InvocationRecord {
    /// When it was dispatched.
    pub at: SystemTime,
    /// The function.
    pub function_name: String,
    /// The alias it was invoked through, if any.
    pub alias: Option<String>,
    /// The version that ran.
    pub executed_version: String,
    /// How long it ran.
    pub duration: Duration,
    /// Whether it ended with a function error.
    pub error: bool,
    /// Whether it was refused by throttling (it then did not run).
    pub throttled: bool,
    /// Whether it was marked as smoke traffic by a hook.
    pub smoke: bool,
}

#[cfg(test)]
impl InvocationRecord {
    /// A record of hello, for tests: when, through which alias, which version ran, whether
    /// it failed, how long it took.
    pub(crate) fn of_hello(
        at: SystemTime,
        alias: Option<&str>,
        version: &str,
        error: bool,
        ms: u64,
    ) -> Self {
        InvocationRecord {
            at,
            function_name: "hello".into(),
            alias: alias.map(str::to_owned),
            executed_version: version.into(),
            duration: Duration::from_millis(ms),
            error,
            throttled: false,
            smoke: false,
        }
    }
}
