//! The hook's handler: a tower `Service` of CodeDeploy lifecycle events. It reads the
//! deployment, runs the checks and delivers the verdict, all within the Lambda deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::LambdaEvent;
use serde_json::Value;
use tokio::time::Instant;
use tracing::{error, info, warn, Instrument as _};

use crate::call::{CallLog, CallPolicy};
use crate::clients::Clients;
use crate::delivery::{self, Verdict};
use crate::deployment::{Deployment, Phase};
use crate::error::Error;
use crate::event::{self, Lifecycle};
use crate::function_ref::Home;
use crate::hook::{Hook, Settings, SKIP_ENV};
use crate::resolve::{self, Known, Named, Reading};
use crate::runner::{self, Plan};
use crate::summary::{Delivery, Status, Summary};
use crate::target::Target;
use crate::watch::WatchEvent;

pub(crate) struct Inner {
    pub(crate) hook: Hook,
    pub(crate) clients: Clients,
    pub(crate) settings: Settings,
    /// The hook's policy with the environment's overrides.
    pub(crate) policy: CallPolicy,
}

/// The hook's handler: takes a CodeDeploy lifecycle event, runs the checks, reports the
/// verdict, and answers with the [`Summary`].
///
/// It answers `Ok` whenever CodeDeploy has the verdict (so Lambda's retries of async
/// invocations do not run the checks again), and `Err` only when the verdict could not be
/// delivered (Lambda then retries the event) or the event is not a lifecycle event.
///
/// Test a hook without a Lambda runtime by sending it an event through tower's
/// `ServiceExt::oneshot`, with clients pointed at mocks or a local stand-in:
///
/// ```no_run
/// use codedeploy_hooks::{Clients, Hook};
/// use lambda_runtime::{Context, LambdaEvent};
/// use tower::ServiceExt as _;
///
/// # async fn demo(clients: Clients) -> Result<(), codedeploy_hooks::Error> {
/// let hook = Hook::new().target("hello", "4").check("answers", |t| async move {
///     t.invoke(serde_json::json!({})).await?.ensure_ok()?;
///     Ok(())
/// });
/// let event = serde_json::json!({"DeploymentId": "d-AB12CD34E", "LifecycleEventHookExecutionId": "eyJ..."});
/// let summary = hook.into_service(clients).oneshot(LambdaEvent::new(event, Context::default())).await?;
/// println!("{}", summary.table());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HookService {
    pub(crate) inner: Arc<Inner>,
}

impl tower::Service<LambdaEvent<Value>> for HookService {
    type Response = Summary;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Summary, Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: LambdaEvent<Value>) -> Self::Future {
        let service = self.clone();
        Box::pin(async move { service.handle(event).await })
    }
}

impl HookService {
    /// Handle one lifecycle event.
    ///
    /// # Errors
    /// [`Error::MalformedEvent`] when the event is not a lifecycle event (nothing can be
    /// reported then); [`Error::ReportUndelivered`] when CodeDeploy could not be told.
    ///
    /// ```
    /// # #[cfg(not(feature = "testing"))]
    /// # fn main() {}
    /// # #[cfg(feature = "testing")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use codedeploy_hooks::{Hook, Status};
    /// let fake = FakeTarget::new("hello", "4").returns(serde_json::json!({}));
    /// let hook = Hook::new().check("answers", |t| async move {
    ///     t.invoke(serde_json::json!({})).await?.ensure_ok()?;
    ///     Ok(())
    /// });
    /// let service = hook.into_service(fake.clients());
    /// let summary = service.handle(fake.event()).await.expect("reported");
    /// assert_eq!(summary.status, Status::Succeeded);
    /// # }
    /// ```
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Summary, Error> {
        let (payload, ctx) = event.into_parts();
        if let Some(watch_event) = WatchEvent::of(&payload) {
            return self.handle_watch(watch_event?, ctx).await;
        }
        let lifecycle = event::parse(payload)?;
        let span = tracing::info_span!(
            "hook",
            deployment_id = %event::for_log(&lifecycle.deployment_id),
            request_id = %event::for_log(&ctx.request_id),
        );
        let home = Home::from_own_arn(&ctx.invoked_function_arn, self.region());
        self.handle_lifecycle(&lifecycle, ctx.deadline, home)
            .instrument(span)
            .await
    }

    async fn handle_lifecycle(
        &self,
        lifecycle: &Lifecycle,
        deadline_ms: u64,
        home: Home,
    ) -> Result<Summary, Error> {
        let started = Instant::now();
        let lambda_deadline = deadline_from_epoch_ms(deadline_ms);
        let reserve = self.inner.hook.reserve;
        let left = lambda_deadline.map(|d| d.saturating_duration_since(started));
        let mut summary = if self.inner.settings.skip {
            warn!("{SKIP_ENV} is set: reporting Succeeded without running any check");
            Summary::skipped(format!("checks skipped: {SKIP_ENV} is set"), started)
        } else if let Some(left) = left.filter(|left| *left <= reserve) {
            let err = Error::NoTimeForChecks { left, reserve };
            error!(error = %err, "cannot run the checks");
            Summary::not_run(err.to_string(), started)
        } else {
            let checks_deadline = lambda_deadline.map(|d| d - reserve);
            let mut summary = self
                .read_and_check(&lifecycle.deployment_id, &home, checks_deadline, started)
                .await;
            self.start_watch(&mut summary, &lifecycle.deployment_id, checks_deadline)
                .await;
            summary
        };
        // Stop retrying the report a little before Lambda stops the function.
        let report_deadline =
            lambda_deadline.map(|d| d.checked_sub(Duration::from_millis(100)).unwrap_or(d));
        let verdict = Verdict {
            deployment_id: &lifecycle.deployment_id,
            execution_id: &lifecycle.execution_id,
            status: summary.status,
        };
        let delivery = self.deliver(&verdict, report_deadline).await;
        match delivery {
            Ok(delivery) => {
                summary.report = delivery;
                self.publish(&summary);
                Ok(summary)
            }
            Err(err) => {
                self.publish(&summary);
                error!(error = %err, "the verdict did not reach CodeDeploy; Lambda will retry the event");
                Err(err)
            }
        }
    }

    /// Read the deployment, then run the checks; either way, a summary with a verdict.
    async fn read_and_check(
        &self,
        deployment_id: &str,
        home: &Home,
        deadline: Option<Instant>,
        started: Instant,
    ) -> Summary {
        let log = CallLog::default();
        let reading = Reading {
            codedeploy: &self.inner.clients.codedeploy,
            policy: &self.inner.policy,
            log: &log,
            deadline,
        };
        // Every call of the read keeps to the deadline itself (one clock, no race with a
        // second timeout): the error then names the operation that ran out of time.
        let resolved = match self.known(home.clone()) {
            Ok(known) => resolve::resolve(&reading, Some(deployment_id), &known).await,
            Err(err) => Err(err),
        };
        let mut summary = match resolved {
            Ok(resolved) => {
                let mut summary = self
                    .evaluate(resolved.deployment, None, deadline, started, &log)
                    .await;
                summary.warnings = resolved.warnings;
                summary
            }
            Err(err) => {
                error!(error = %err, "cannot run the checks");
                Summary::not_run(err.to_string(), started)
            }
        };
        summary.retried_calls = log.snapshot();
        summary.explain_failure_with_warnings();
        summary
    }

    /// After a PreTraffic hook's checks pass, start the shift's watch, if it has one; the
    /// hook fails when the watch cannot start (the shift must not run unwatched). Its calls
    /// keep to the checks' deadline, so the report keeps its reserve.
    async fn start_watch(
        &self,
        summary: &mut Summary,
        deployment_id: &str,
        deadline: Option<Instant>,
    ) {
        let inner = &self.inner;
        let Some(watch) = &inner.hook.watch else {
            return;
        };
        let pre_traffic = summary
            .deployment
            .as_ref()
            .is_some_and(|d| d.phase == Phase::PreTraffic);
        if summary.status != Status::Succeeded || !pre_traffic {
            return;
        }
        let Some(function) = inner.settings.own_function_name.as_deref() else {
            summary.status = Status::Failed;
            summary.reason = Some(
                "the shift's watch runs only inside Lambda (AWS_LAMBDA_FUNCTION_NAME is not set)"
                    .into(),
            );
            return;
        };
        let log = CallLog::default();
        let home = crate::watch::WatchHome {
            clients: &inner.clients,
            policy: &inner.policy,
            log: &log,
            function,
            deadline,
        };
        let time_scale = inner.settings.time_scale;
        let target = summary
            .deployment
            .as_ref()
            .map_or("", |d| d.function_name.as_str());
        let started =
            crate::watch::start(&home, deployment_id, target, watch.interval, time_scale).await;
        summary.retried_calls.extend(log.snapshot());
        match started {
            Ok(note) => summary.warnings.push(note),
            Err(err) => {
                let err = Error::WatchNotStarted {
                    deployment_id: crate::event::for_log(deployment_id),
                    source: Box::new(err),
                };
                error!(error = %err, "failing the hook");
                summary.status = Status::Failed;
                summary.reason = Some(err.to_string());
            }
        }
    }

    /// A watcher invocation (see [`Watch`](crate::Watch)): read the deployment, then watch it.
    async fn handle_watch(
        &self,
        event: WatchEvent,
        ctx: lambda_runtime::Context,
    ) -> Result<Summary, Error> {
        let span = tracing::info_span!(
            "watch",
            deployment_id = %event::for_log(&event.deployment_id),
            generation = event.generation,
            request_id = %event::for_log(&ctx.request_id),
        );
        async {
            let inner = &self.inner;
            let (Some(watch), Some(function)) =
                (&inner.hook.watch, inner.settings.own_function_name.as_deref())
            else {
                return Err(Error::MalformedEvent {
                    reason: "a watch event, but this hook has no Hook::watch (or runs outside Lambda)".into(),
                });
            };
            let started = Instant::now();
            let log = CallLog::default();
            let reading = Reading {
                codedeploy: &inner.clients.codedeploy,
                policy: &inner.policy,
                log: &log,
                deadline: None,
            };
            let home = Home::from_own_arn(&ctx.invoked_function_arn, self.region());
            let known = self.known(home)?;
            let deployment = match resolve::resolve(&reading, Some(&event.deployment_id), &known).await {
                Ok(resolved) => resolved.deployment,
                Err(err) => {
                    error!(error = %err, "cannot watch: the deployment could not be read");
                    return Ok(Summary::not_run(err.to_string(), started));
                }
            };
            let setup = crate::watch::Setup {
                watch,
                clients: &inner.clients,
                policy: &inner.policy,
                function,
                namespace: &inner.hook.namespace,
                time_scale: inner.settings.time_scale,
                reserve: inner.hook.reserve,
            };
            let deadline = deadline_from_epoch_ms(ctx.deadline);
            let summary = crate::watch::watch(&setup, deployment, &event, &ctx.request_id, deadline).await;
            info!(status = %summary.status, reason = summary.reason.as_deref(), summary = %summary.table(), "watcher finished");
            Ok(summary)
        }
        .instrument(span)
        .await
    }

    fn region(&self) -> Option<String> {
        let config = self.inner.clients.codedeploy.config();
        config.region().map(|r| r.to_string())
    }

    fn known(&self, home: Home) -> Result<Known, Error> {
        let hook = &self.inner.hook;
        let in_code = match &hook.target {
            Some((name, version)) => {
                Some(Named::parse("Hook::target", &format!("{name}:{version}"))?)
            }
            None => None,
        };
        let in_env = match &self.inner.settings.target {
            Some(value) => Some(Named::parse(resolve::TARGET_ENV, value)?),
            None => None,
        };
        Ok(Known {
            in_code,
            in_env,
            alias: hook.alias.clone(),
            phase: hook.phase,
            own_function_name: self.inner.settings.own_function_name.clone(),
            home,
        })
    }

    /// Run the checks against a deployment and decide the verdict. Shared by the Lambda
    /// handler and the CLI.
    pub(crate) async fn evaluate(
        &self,
        deployment: Deployment,
        filter: Option<&str>,
        deadline: Option<Instant>,
        started: Instant,
        log: &CallLog,
    ) -> Summary {
        let hook = &self.inner.hook;
        info!(
            function = %deployment.function_name,
            target_version = %deployment.target_version,
            phase = %deployment.phase,
            checks = hook.checks.len(),
            "running checks"
        );
        let target = Target::with_calls(
            deployment.clone(),
            self.inner.clients.clone(),
            self.inner.policy,
            log.clone(),
        );
        let mut checks = hook.checks().to_vec();
        let watched_by = hook
            .watched_by
            .as_ref()
            .or(self.inner.settings.watched_by.as_ref());
        if let Some(function) = watched_by.filter(|_| {
            deployment.phase == Phase::PostTraffic && deployment.deployment_id.is_some()
        }) {
            checks.push(crate::watch::evidence_check(function.clone()));
        }
        let plan = Plan {
            filter,
            concurrency: hook.concurrency.unwrap_or(checks.len()),
            deadline,
        };
        let checks = runner::run(&checks, &target, &plan).await;
        #[allow(unused_mut)] // without the canary feature
        let mut summary = Summary::of_checks(deployment, checks, filter.is_some(), started);
        #[cfg(feature = "canary")]
        {
            summary.canary = target.take_analyses();
        }
        summary
    }

    /// Deliver the verdict to CodeDeploy under the hook's call policy.
    pub(crate) async fn deliver(
        &self,
        verdict: &Verdict<'_>,
        deadline: Option<Instant>,
    ) -> Result<Delivery, Error> {
        delivery::deliver(
            &self.inner.clients.codedeploy,
            verdict,
            &self.inner.policy,
            self.inner.hook.reserve,
            deadline,
        )
        .await
    }

    /// Log the summary as a table and print the metric record (CloudWatch picks EMF records
    /// out of the function's output).
    fn publish(&self, summary: &Summary) {
        let table = summary.table();
        match summary.status {
            Status::Succeeded => info!(status = "Succeeded", summary = %table, "hook finished"),
            Status::Failed => {
                warn!(status = "Failed", reason = summary.reason.as_deref(), summary = %table, "hook finished")
            }
        }
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        println!(
            "{}",
            summary.metric_record(&self.inner.hook.namespace, now_ms)
        );
    }
}

/// The earliest deadline that can be an epoch time: 2001-09-09 (10^12 ms). Smaller values
/// are durations: cargo-lambda's emulator (1.9.2) sends the function timeout itself, e.g.
/// `Lambda-Runtime-Deadline-Ms: 600000`, where Lambda sends epoch milliseconds.
const EARLIEST_EPOCH_DEADLINE_MS: u64 = 1_000_000_000_000;

/// The Lambda deadline (epoch milliseconds) as an `Instant`; `None` for 0 (no deadline).
fn deadline_from_epoch_ms(deadline_ms: u64) -> Option<Instant> {
    if deadline_ms == 0 {
        return None;
    }
    if deadline_ms < EARLIEST_EPOCH_DEADLINE_MS {
        static EXPLAINED: std::sync::Once = std::sync::Once::new();
        EXPLAINED.call_once(|| {
            warn!(
                deadline_ms,
                "the Runtime API sent a deadline that is no epoch time (as cargo-lambda's emulator does); taking it as the time left"
            )
        });
        return Some(Instant::now() + Duration::from_millis(deadline_ms));
    }
    let deadline = UNIX_EPOCH + Duration::from_millis(deadline_ms);
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    Some(Instant::now() + left)
}

#[cfg(test)]
mod tests;
