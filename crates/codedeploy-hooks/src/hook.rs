//! The hook: a list of checks and its settings (the builder), and the handler that serves
//! CodeDeploy lifecycle events (a tower `Service`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::LambdaEvent;
use serde_json::Value;
use tokio::time::Instant;
use tracing::{error, info, warn, Instrument as _};

use crate::check::{Check, CheckFn, CheckResult};
use crate::clients::Clients;
use crate::deployment::{Deployment, Phase};
use crate::error::Error;
use crate::resolve::{self, Known, Named};
use crate::runner::{self, Plan, Registered};
use crate::summary::{Delivery, Status, Summary};
use crate::target::Target;

/// The environment variable that, set to `true`, makes the hook report `Succeeded` without
/// running any check: an emergency switch for when a broken check blocks an urgent release.
pub const SKIP_ENV: &str = "CODEDEPLOY_HOOKS_SKIP";

/// The default time kept back from the Lambda deadline to report the verdict. Reporting is
/// one call of a few milliseconds; the rest leaves room for retries of a throttled call.
pub const DEFAULT_RESERVE: Duration = Duration::from_secs(3);

/// The default CloudWatch namespace of the metric record.
pub const DEFAULT_NAMESPACE: &str = "CodeDeployHooks";

/// A CodeDeploy hook: a list of checks and how to run them.
///
/// ```no_run
/// use codedeploy_hooks::{ensure, Hook};
/// use serde_json::json;
///
/// #[tokio::main]
/// async fn main() -> std::process::ExitCode {
///     Hook::new()
///         .check("greets by name", |t| async move {
///             let out = t.invoke(json!({"name": "smoke"})).await?;
///             out.ensure_ok()?;
///             ensure!(out.json::<serde_json::Value>()?["message"] == "hello smoke");
///             Ok(())
///         })
///         .run()
///         .await
/// }
/// ```
#[must_use = "a hook does nothing until it is run"]
pub struct Hook {
    checks: Vec<Arc<Registered>>,
    target: Option<(String, String)>,
    alias: Option<String>,
    phase: Option<Phase>,
    reserve: Duration,
    concurrency: Option<usize>,
    namespace: String,
}

impl Default for Hook {
    fn default() -> Self {
        Self::new()
    }
}

impl Hook {
    /// A hook with no checks yet.
    pub fn new() -> Self {
        Hook {
            checks: Vec::new(),
            target: None,
            alias: None,
            phase: None,
            reserve: DEFAULT_RESERVE,
            concurrency: None,
            namespace: DEFAULT_NAMESPACE.to_owned(),
        }
    }

    /// Add a check with default settings (see [`Check`]).
    pub fn check<F, Fut>(self, name: impl Into<String>, check: F) -> Self
    where
        F: Fn(Target) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = CheckResult> + Send + 'static,
    {
        self.check_with(Check::named(name), check)
    }

    /// Add a check with its own settings: timeout, retries, dry run.
    pub fn check_with<F, Fut>(mut self, check: Check, run: F) -> Self
    where
        F: Fn(Target) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = CheckResult> + Send + 'static,
    {
        let run: CheckFn = Arc::new(move |t| Box::pin(run(t)));
        self.checks.push(Arc::new(Registered { check, run }));
        self
    }

    /// Test this function and version instead of discovering them. When the deployment's
    /// AppSpec or the environment variable [`TARGET_ENV`](crate::TARGET_ENV) says
    /// otherwise, the hook fails and names both.
    pub fn target(mut self, function_name: impl Into<String>, version: impl Into<String>) -> Self {
        self.target = Some((function_name.into(), version.into()));
        self
    }

    /// The alias being shifted, when the AppSpec is not read.
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.alias = Some(alias.into());
        self
    }

    /// The phase this hook serves, instead of finding its own name in the AppSpec.
    pub fn phase(mut self, phase: Phase) -> Self {
        self.phase = Some(phase);
        self
    }

    /// Time kept back from the Lambda deadline to report (default 3 s). Checks still
    /// running when only the reserve is left are cancelled and the hook reports `Failed`.
    pub fn reserve(mut self, reserve: Duration) -> Self {
        self.reserve = reserve;
        self
    }

    /// Run at most `n` checks at a time (default: all at once).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = Some(n.max(1));
        self
    }

    /// Run one check at a time, in the order they were added.
    pub fn sequential(self) -> Self {
        self.concurrency(1)
    }

    /// The CloudWatch namespace of the metric record (default `CodeDeployHooks`).
    pub fn metrics_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Run the hook: inside Lambda (`AWS_LAMBDA_RUNTIME_API` set) serve CodeDeploy events
    /// until the runtime stops; anywhere else, run as a command-line tool (see `--help`).
    ///
    /// Returns the process exit code: 0 when all checks pass, 1 when one fails, 2 on bad
    /// usage or setup.
    pub async fn run(self) -> std::process::ExitCode {
        if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
            self.run_lambda().await
        } else {
            crate::cli::run(self).await
        }
    }

    async fn run_lambda(self) -> std::process::ExitCode {
        crate::logging::init_lambda();
        let settings = Settings::from_env();
        let service = self.into_service_with(Clients::from_env().await, settings);
        match lambda_runtime::run(service).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(err) => {
                error!(error = %err, "the Lambda runtime stopped");
                std::process::ExitCode::FAILURE
            }
        }
    }

    /// The handler as a tower `Service` of [`LambdaEvent`]s, for tests or a custom runtime.
    /// Reads its settings ([`TARGET_ENV`](crate::TARGET_ENV), [`SKIP_ENV`],
    /// `AWS_LAMBDA_FUNCTION_NAME`) from the environment once, now.
    pub fn into_service(self, clients: Clients) -> HookService {
        self.into_service_with(clients, Settings::from_env())
    }

    pub(crate) fn into_service_with(self, clients: Clients, settings: Settings) -> HookService {
        HookService {
            inner: Arc::new(Inner {
                hook: self,
                clients,
                settings,
            }),
        }
    }

    pub(crate) fn configured_phase(&self) -> Option<Phase> {
        self.phase
    }

    pub(crate) fn checks(&self) -> &[Arc<Registered>] {
        &self.checks
    }
}

/// What the environment says, read once per process.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    pub(crate) target: Option<String>,
    pub(crate) skip: bool,
    pub(crate) own_function_name: Option<String>,
}

impl Settings {
    pub(crate) fn from_env() -> Self {
        let skip = match std::env::var(SKIP_ENV) {
            Ok(v) if ["1", "true", "yes"].contains(&v.trim().to_ascii_lowercase().as_str()) => true,
            Ok(v) if ["", "0", "false", "no"].contains(&v.trim().to_ascii_lowercase().as_str()) => {
                false
            }
            Ok(v) => {
                warn!(value = %v, "{SKIP_ENV} is neither true nor false; checks will run");
                false
            }
            Err(_) => false,
        };
        Settings {
            target: std::env::var(resolve::TARGET_ENV)
                .ok()
                .filter(|v| !v.trim().is_empty()),
            skip,
            own_function_name: std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok(),
        }
    }
}

struct Inner {
    hook: Hook,
    clients: Clients,
    settings: Settings,
}

/// The hook's handler: takes a CodeDeploy lifecycle event, runs the checks, reports the
/// verdict, and answers with the [`Summary`].
///
/// It answers `Ok` whenever CodeDeploy has the verdict (so Lambda's retries of async
/// invocations do not run the checks again), and `Err` only when the verdict could not be
/// delivered or the event is not a lifecycle event.
#[derive(Clone)]
pub struct HookService {
    inner: Arc<Inner>,
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
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Summary, Error> {
        let (payload, ctx) = event.into_parts();
        let lifecycle = parse_event(payload)?;
        let span = tracing::info_span!(
            "hook",
            deployment_id = %lifecycle.deployment_id,
            request_id = %ctx.request_id,
        );
        self.handle_lifecycle(lifecycle, ctx.deadline)
            .instrument(span)
            .await
    }

    async fn handle_lifecycle(
        &self,
        lifecycle: Lifecycle,
        deadline_ms: u64,
    ) -> Result<Summary, Error> {
        let started = Instant::now();
        let lambda_deadline = deadline_from_epoch_ms(deadline_ms);
        let reserve = self.inner.hook.reserve;
        let checks_deadline = lambda_deadline.map(|d| {
            let left = d.saturating_duration_since(started);
            if left <= reserve {
                warn!(?left, ?reserve, "less time is left than the reporting reserve: no check can run; raise the function's timeout");
            }
            d.checked_sub(reserve).unwrap_or(started).max(started)
        });
        let mut summary = if self.inner.settings.skip {
            warn!("{SKIP_ENV} is set: reporting Succeeded without running any check");
            Summary {
                status: Status::Succeeded,
                reason: Some(format!("checks skipped: {SKIP_ENV} is set")),
                deployment: None,
                checks: Vec::new(),
                duration: started.elapsed(),
                report: Delivery::NotRequested,
            }
        } else {
            let resolved = match checks_deadline {
                Some(deadline) => {
                    tokio::time::timeout_at(deadline, self.resolve(&lifecycle.deployment_id))
                        .await
                        .unwrap_or_else(|_| {
                            Err(Error::TargetUnknown {
                                reason: "reading the deployment took until the deadline".into(),
                            })
                        })
                }
                None => self.resolve(&lifecycle.deployment_id).await,
            };
            self.evaluate(resolved, None, checks_deadline, started)
                .await
        };
        // Stop retrying the report a little before Lambda stops the function.
        let report_deadline =
            lambda_deadline.map(|d| d.checked_sub(Duration::from_millis(100)).unwrap_or(d));
        let delivery = crate::report::report(
            &self.inner.clients.codedeploy,
            &lifecycle.deployment_id,
            &lifecycle.execution_id,
            summary.status,
            report_deadline,
        )
        .await;
        match delivery {
            Ok(delivery) => {
                summary.report = delivery;
                self.publish(&summary);
                Ok(summary)
            }
            Err(err) => {
                self.publish(&summary);
                error!(error = %err, "the verdict did not reach CodeDeploy");
                Err(err)
            }
        }
    }

    pub(crate) fn codedeploy(&self) -> &aws_sdk_codedeploy::Client {
        &self.inner.clients.codedeploy
    }

    async fn resolve(&self, deployment_id: &str) -> Result<Deployment, Error> {
        let known = self.known()?;
        resolve::resolve(&self.inner.clients.codedeploy, Some(deployment_id), &known).await
    }

    fn known(&self) -> Result<Known, Error> {
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
        })
    }

    /// Run the checks against a resolved deployment (or fail with the resolution error) and
    /// decide the verdict. Shared by the Lambda handler and the CLI.
    pub(crate) async fn evaluate(
        &self,
        resolved: Result<Deployment, Error>,
        filter: Option<&str>,
        deadline: Option<Instant>,
        started: Instant,
    ) -> Summary {
        let deployment = match resolved {
            Ok(deployment) => deployment,
            Err(err) => {
                error!(error = %err, "cannot run the checks");
                return Summary {
                    status: Status::Failed,
                    reason: Some(err.to_string()),
                    deployment: None,
                    checks: Vec::new(),
                    duration: started.elapsed(),
                    report: Delivery::NotRequested,
                };
            }
        };
        let hook = &self.inner.hook;
        info!(
            function = %deployment.function_name,
            target_version = %deployment.target_version,
            phase = %deployment.phase,
            checks = hook.checks.len(),
            "running checks"
        );
        let target = Target::new(deployment.clone(), self.inner.clients.clone());
        let plan = Plan {
            filter,
            concurrency: hook.concurrency.unwrap_or(hook.checks.len()),
            deadline,
        };
        let checks = runner::run(hook.checks(), &target, &plan).await;
        let failing: Vec<&str> = checks
            .iter()
            .filter(|c| c.fails_hook())
            .map(|c| c.name.as_str())
            .collect();
        let ran = checks
            .iter()
            .filter(|c| c.outcome != crate::Outcome::Skipped)
            .count();
        let (status, reason) = if ran == 0 {
            (
                Status::Failed,
                Some(if checks.is_empty() {
                    "the hook has no checks: add one with Hook::check".to_owned()
                } else {
                    "no check matched the filter".to_owned()
                }),
            )
        } else if failing.is_empty() {
            (Status::Succeeded, None)
        } else {
            (
                Status::Failed,
                Some(format!(
                    "{} of {} checks failed: {}",
                    failing.len(),
                    ran,
                    failing.join(", ")
                )),
            )
        };
        Summary {
            status,
            reason,
            deployment: Some(deployment),
            checks,
            duration: started.elapsed(),
            report: Delivery::NotRequested,
        }
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

/// A validated lifecycle event.
struct Lifecycle {
    deployment_id: String,
    execution_id: String,
}

fn parse_event(payload: Value) -> Result<Lifecycle, Error> {
    let malformed = |reason: String| Error::MalformedEvent { reason };
    if !payload.is_object() {
        return Err(malformed(format!(
            "expected a JSON object, got {}",
            kind_of(&payload)
        )));
    }
    let event: aws_lambda_events::event::codedeploy::CodeDeployLifecycleEvent =
        serde_json::from_value(payload).map_err(|e| malformed(e.to_string()))?;
    if event.deployment_id.trim().is_empty() {
        return Err(malformed("DeploymentId is empty".into()));
    }
    if event.lifecycle_event_hook_execution_id.trim().is_empty() {
        return Err(malformed("LifecycleEventHookExecutionId is empty".into()));
    }
    Ok(Lifecycle {
        deployment_id: event.deployment_id,
        execution_id: event.lifecycle_event_hook_execution_id,
    })
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The Lambda deadline (epoch milliseconds) as an `Instant`; `None` for 0 (no deadline).
fn deadline_from_epoch_ms(deadline_ms: u64) -> Option<Instant> {
    if deadline_ms == 0 {
        return None;
    }
    let deadline = UNIX_EPOCH + Duration::from_millis(deadline_ms);
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    Some(Instant::now() + left)
}

#[cfg(test)]
mod tests;
