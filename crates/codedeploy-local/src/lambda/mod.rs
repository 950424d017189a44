//! Lambda: functions, versions and aliases ([`registry`]), each version's processes
//! ([`supervisor`]) speaking the Runtime API ([`runtime_api`]), and the record of
//! invocations ([`invocations`]) that metrics and alarms read.

pub(crate) mod invocations;
mod log_pipe;
pub(crate) mod registry;
pub(crate) mod runtime_api;
pub(crate) mod supervisor;
pub(crate) mod version;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

pub use invocations::{InvocationLog, InvocationRecord};
pub use registry::{Alias, LATEST};
pub use version::{InvokeResult, VersionSpec};

use crate::error::Error;
use registry::{Registry, Resolved};

/// The Lambda service of the stand-in.
pub(crate) struct Lambda {
    pub(crate) registry: Registry,
    pub(crate) invocations: invocations::Invocations,
    /// The stand-in's endpoint, given to functions as `AWS_ENDPOINT_URL`.
    endpoint: String,
    log_dir: Option<PathBuf>,
}

impl Lambda {
    pub(crate) fn new(
        region: String,
        account_id: String,
        endpoint: String,
        log_dir: Option<PathBuf>,
    ) -> Self {
        Lambda {
            registry: Registry::new(region, account_id),
            invocations: invocations::Invocations::default(),
            endpoint,
            log_dir,
        }
    }

    /// Publish a version of a function, creating the function on its first.
    pub(crate) fn publish(
        &self,
        function_name: &str,
        version: &str,
        spec: VersionSpec,
    ) -> Result<(), Error> {
        let base = version::Identity {
            function_name: function_name.to_owned(),
            version: String::new(),
            function_arn: String::new(),
            region: self.registry.region.clone(),
            account_id: self.registry.account_id.clone(),
            endpoint: self.endpoint.clone(),
            log_dir: self.log_dir.clone(),
            published: SystemTime::now(),
            revision_id: String::new(),
        };
        self.registry.publish(base, version, spec)
    }

    /// Run an invocation, and record it for the open invocation logs.
    pub(crate) async fn invoke(
        &self,
        resolved: Resolved,
        payload: Bytes,
        client_context: Option<String>,
        request_id: String,
    ) -> InvokeResult {
        let smoke = client_context.as_deref().is_some_and(is_smoke);
        let at = SystemTime::now();
        let result = resolved
            .version
            .invoke(payload, client_context, request_id)
            .await;
        if self.invocations.is_open() {
            self.invocations.record(InvocationRecord {
                at,
                function_name: resolved.function_name,
                alias: resolved.alias,
                executed_version: result.executed_version.clone(),
                duration: result.duration,
                error: result.function_error.is_some(),
                throttled: false,
                smoke,
            });
        }
        result
    }

    /// A throttled invocation: it did not run, but counts in the `Throttles` metric.
    pub(crate) fn record_throttled(&self, function_name: &str, alias: Option<String>) {
        if self.invocations.is_open() {
            self.invocations.record(InvocationRecord {
                at: SystemTime::now(),
                function_name: function_name.to_owned(),
                alias,
                executed_version: String::new(),
                duration: Duration::ZERO,
                error: false,
                throttled: true,
                smoke: false,
            });
        }
    }
}

/// Whether a client context marks smoke traffic from a codedeploy-hooks check.
fn is_smoke(client_context: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(client_context)
        .ok()
        .is_some_and(|v| {
            v["custom"][codedeploy_hooks::smoke::MARKER_KEY]
                == codedeploy_hooks::smoke::MARKER_VALUE
        })
}
