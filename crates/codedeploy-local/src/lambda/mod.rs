//! Lambda: functions, versions and aliases ([`registry`]), each version's processes
//! ([`supervisor`]) speaking the Runtime API ([`runtime_api`]), and the record of
//! invocations ([`invocations`]) that metrics and alarms read.

pub(crate) mod invocations;
mod log_pipe;
pub(crate) mod registry;
pub(crate) mod runtime;
pub(crate) mod version;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tracing::{info, warn};

use crate::invocation::InvocationRecord;
pub use invocations::InvocationLog;
pub use registry::{Alias, LATEST};
pub use version::{InvokeResult, VersionSpec};

use crate::clock::WallClock;
use crate::cloudwatch::Metrics;
use crate::error::Error;
use crate::tasks::Tasks;
use registry::{Registry, Resolved};
pub(crate) use runtime::api_thread::ApiHost;

/// The Lambda service of the stand-in.
pub(crate) struct Lambda {
    registry: Registry,
    invocations: invocations::Invocations,
    /// The stand-in's endpoint, given to functions as `AWS_ENDPOINT_URL`.
    endpoint: String,
    log_dir: Option<PathBuf>,
    /// How much faster than real the stand-in's clock runs for asynchronous invocations
    /// no deployment owns (Event invokes through the API); fixed at start.
    time_scale: f64,
    /// The watch-round records functions print, for the deployment's timeline.
    watch_rounds: WatchRounds,
    /// Where the invocations served and the EMF records printed go: CloudWatch's store.
    metrics: Arc<Metrics>,
    clock: WallClock,
    /// Every task of the stand-in (see [`crate::tasks`]).
    tasks: Tasks,
    /// The asynchronous invocations that may be under way at once.
    async_slots: Arc<tokio::sync::Semaphore>,
    /// Issues each version's role credentials, and checks the calls made with them.
    iam: Arc<crate::iam::Authority>,
    /// Where the functions' Runtime API is served.
    api_host: ApiHost,
}

/// Who reads the lines functions print: the watch's rounds, and EMF records as metrics.
#[derive(Debug, Clone)]
pub(crate) struct LogTaps {
    watch_rounds: WatchRounds,
    metrics: Arc<Metrics>,
}

impl LogTaps {
    pub(crate) fn offer(&self, line: &str) {
        self.watch_rounds.offer(line);
        self.metrics.offer_log_line(line);
    }
}

/// The EMF records of a codedeploy-hooks watch's rounds, picked out of functions' output as
/// they are printed (CloudWatch Logs would turn them into metrics; the stand-in shows them
/// on the deployment's timeline).
#[derive(Debug, Clone)]
pub(crate) struct WatchRounds(tokio::sync::broadcast::Sender<std::sync::Arc<str>>);

impl Default for WatchRounds {
    fn default() -> Self {
        WatchRounds(tokio::sync::broadcast::channel(256).0)
    }
}

impl WatchRounds {
    /// What marks a round's record (codedeploy-hooks' `watch` module writes it).
    const MARKER: &'static str = r#""codedeploy-hooks":"watch-round""#;

    /// Pass a line of a function's output on, if it is a round's record and anyone listens.
    pub(crate) fn offer(&self, line: &str) {
        if self.0.receiver_count() > 0 && line.contains(Self::MARKER) {
            let _ = self.0.send(std::sync::Arc::from(line));
        }
    }

    pub(crate) fn subscribe(&self) -> tokio::sync::broadcast::Receiver<std::sync::Arc<str>> {
        self.0.subscribe()
    }
}

/// When Lambda retries a failed asynchronous invocation: after about 1 and 2 more minutes
/// (the Lambda developer guide, "Asynchronous invocation": two retries by default).
pub(crate) const ASYNC_RETRIES: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(120)];

/// An invocation with `InvocationType: Event`, as Lambda queues it.
pub(crate) struct AsyncEvent {
    pub(crate) name: String,
    pub(crate) qualifier: Option<String>,
    pub(crate) payload: Bytes,
    pub(crate) client_context: Option<String>,
    /// Kept across retries, as Lambda keeps it.
    pub(crate) request_id: String,
}

/// Where and how the stand-in's Lambda runs.
pub(crate) struct Setup {
    pub(crate) region: String,
    pub(crate) account_id: String,
    /// The stand-in's endpoint, given to functions as `AWS_ENDPOINT_URL`.
    pub(crate) endpoint: String,
    pub(crate) log_dir: Option<PathBuf>,
    /// The clock of asynchronous invocations no deployment owns.
    pub(crate) time_scale: f64,
    /// Asynchronous invocations under way at once, at most.
    pub(crate) max_async_events: usize,
    /// The stand-in's wall clock.
    pub(crate) clock: WallClock,
    /// The stand-in's authority on permissions.
    pub(crate) iam: Arc<crate::iam::Authority>,
    /// Where the functions' Runtime API is served.
    pub(crate) api_host: ApiHost,
}

impl Lambda {
    pub(crate) fn new(setup: Setup, metrics: Arc<Metrics>, tasks: Tasks) -> Self {
        Lambda {
            registry: Registry::new(setup.region, setup.account_id, setup.clock),
            clock: setup.clock,
            invocations: invocations::Invocations::default(),
            endpoint: setup.endpoint,
            log_dir: setup.log_dir,
            time_scale: setup.time_scale,
            tasks,
            async_slots: Arc::new(tokio::sync::Semaphore::new(setup.max_async_events.max(1))),
            watch_rounds: WatchRounds::default(),
            metrics,
            iam: setup.iam,
            api_host: setup.api_host,
        }
    }

    /// Where the functions' Runtime API is served.
    pub(crate) fn api_host(&self) -> &ApiHost {
        &self.api_host
    }

    /// Functions, their versions and aliases.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The invocation logs open (what alarms and outcomes read).
    pub(crate) fn invocations(&self) -> &invocations::Invocations {
        &self.invocations
    }

    /// The watch rounds functions print.
    pub(crate) fn watch_rounds(&self) -> &WatchRounds {
        &self.watch_rounds
    }

    /// The authority on permissions: role credentials and the checks of their calls.
    pub(crate) fn iam(&self) -> &Arc<crate::iam::Authority> {
        &self.iam
    }

    /// The stand-in's wall clock.
    pub(crate) fn clock(&self) -> WallClock {
        self.clock
    }

    /// The stand-in's tasks: whatever it starts, it starts there.
    pub(crate) fn tasks(&self) -> &Tasks {
        &self.tasks
    }

    /// A place for one more asynchronous invocation, if the queue has room; held until it
    /// is delivered (retries included).
    pub(crate) fn async_slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        Arc::clone(&self.async_slots).try_acquire_owned().ok()
    }

    /// Run an asynchronous invocation made through the API, with Lambda's retries on the
    /// stand-in's clock.
    pub(crate) async fn invoke_async(&self, event: AsyncEvent) {
        self.deliver(event, self.time_scale, || false, |_| ()).await;
    }

    /// Deliver an asynchronous invocation as Lambda does: after a function error, again
    /// after ~1 and ~2 minutes on a clock `time_scale` times faster (the one retry loop of
    /// the stand-in). `settled` is asked before each retry (true: no more are needed);
    /// `answered` sees each attempt's result. The function must still exist at each attempt.
    pub(crate) async fn deliver(
        &self,
        event: AsyncEvent,
        time_scale: f64,
        settled: impl Fn() -> bool,
        mut answered: impl FnMut(&InvokeResult),
    ) {
        for attempt in 0..=ASYNC_RETRIES.len() {
            if attempt > 0 {
                let delay = crate::clock::to_real(ASYNC_RETRIES[attempt - 1], time_scale);
                tokio::time::sleep(delay).await;
                if settled() {
                    return;
                }
                info!(function = %event.name, attempt, request_id = %event.request_id, "Lambda retries the asynchronous invocation");
            }
            let resolved = match self
                .registry
                .resolve(&event.name, event.qualifier.as_deref())
            {
                Ok(resolved) => resolved,
                Err(err) => {
                    warn!(function = %event.name, error = %err, "the asynchronous invocation's function is gone");
                    return;
                }
            };
            let result = self
                .invoke(
                    resolved,
                    event.payload.clone(),
                    event.client_context.clone(),
                    event.request_id.clone(),
                )
                .await;
            answered(&result);
            if result.function_error.is_none() {
                return;
            }
            warn!(function = %event.name, request_id = %event.request_id, error = %String::from_utf8_lossy(&result.payload), "the asynchronous invocation failed");
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
            published: self.clock.now(),
            revision_id: String::new(),
            credentials: spec
                .role
                .as_ref()
                .map(|role| self.iam.issue(Arc::clone(role), function_name)),
            log_taps: LogTaps {
                watch_rounds: self.watch_rounds.clone(),
                metrics: Arc::clone(&self.metrics),
            },
            tasks: self.tasks.clone(),
            api_host: self.api_host.clone(),
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
        let at = self.clock.now();
        let result = resolved
            .version
            .invoke(payload, client_context, request_id)
            .await;
        let record = InvocationRecord {
            at,
            function_name: resolved.function_name,
            alias: resolved.alias,
            executed_version: result.executed_version.clone(),
            duration: result.duration,
            error: result.function_error.is_some(),
            throttled: false,
            smoke,
        };
        self.record(record);
        result
    }

    /// A throttled invocation: it did not run, but counts in the `Throttles` metric.
    pub(crate) fn record_throttled(&self, function_name: &str, alias: Option<String>) {
        let record = InvocationRecord {
            at: self.clock.now(),
            function_name: function_name.to_owned(),
            alias,
            executed_version: String::new(),
            duration: Duration::ZERO,
            error: false,
            throttled: true,
            smoke: false,
        };
        self.record(record);
    }

    /// An invocation served: into CloudWatch's metrics, and the invocation logs open.
    pub(crate) fn record(&self, record: InvocationRecord) {
        self.metrics.record(&record);
        if self.invocations.is_open() {
            self.invocations.record(record);
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
