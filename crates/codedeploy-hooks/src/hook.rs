//! The hook: a list of checks and its settings (the builder). The handler that serves
//! CodeDeploy lifecycle events is in `handler`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tracing::warn;

use crate::call::{CallPolicy, ATTEMPT_TIMEOUT_ENV, INVOKE_TIMEOUT_ENV};
use crate::check::{Check, CheckFn, CheckResult};
use crate::clients::Clients;
use crate::deployment::Phase;
use crate::deployment::TIME_SCALE_ENV;
use crate::handler::{HookService, Inner};
use crate::resolve;
use crate::runner::Registered;
use crate::target::Target;
use crate::watch::{Watch, WATCHED_BY_ENV};

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
    pub(crate) checks: Vec<Arc<Registered>>,
    pub(crate) target: Option<(String, String)>,
    pub(crate) alias: Option<String>,
    pub(crate) phase: Option<Phase>,
    pub(crate) reserve: Duration,
    pub(crate) concurrency: Option<usize>,
    pub(crate) namespace: String,
    pub(crate) call_policy: CallPolicy,
    pub(crate) watch: Option<Watch>,
    pub(crate) watched_by: Option<String>,
}

impl Default for Hook {
    fn default() -> Self {
        Self::new()
    }
}

impl Hook {
    /// A hook with no checks yet.
    ///
    /// ```
    /// let hook = codedeploy_hooks::Hook::new();
    /// # let _ = hook;
    /// ```
    pub fn new() -> Self {
        Hook {
            checks: Vec::new(),
            target: None,
            alias: None,
            phase: None,
            reserve: DEFAULT_RESERVE,
            concurrency: None,
            namespace: DEFAULT_NAMESPACE.to_owned(),
            call_policy: CallPolicy::default(),
            watch: None,
            watched_by: None,
        }
    }

    /// Add a check: a name (default settings) or a [`Check`] with its own timeout, retries,
    /// call policy or dry run, and the async closure that tests the [`Target`].
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use codedeploy_hooks::{ensure, Check, Hook};
    ///
    /// let hook = Hook::new()
    ///     .check("answers", |t| async move {
    ///         t.invoke(serde_json::json!({})).await?.ensure_ok()?;
    ///         Ok(())
    ///     })
    ///     .check(Check::named("answers fast").timeout(Duration::from_secs(5)), |t| async move {
    ///         let out = t.invoke(serde_json::json!({})).await?;
    ///         ensure!(out.latency() < Duration::from_millis(500));
    ///         Ok(())
    ///     });
    /// ```
    pub fn check<F, Fut>(mut self, check: impl Into<Check>, run: F) -> Self
    where
        F: Fn(Target) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = CheckResult> + Send + 'static,
    {
        let run: CheckFn = Arc::new(move |t| Box::pin(run(t)));
        self.checks.push(Arc::new(Registered {
            check: check.into(),
            run,
        }));
        self
    }

    /// Test this function and version instead of discovering them. When the deployment's
    /// AppSpec or the environment variable [`TARGET_ENV`](crate::TARGET_ENV) says
    /// otherwise, the hook fails and names both.
    ///
    /// ```
    /// let hook = codedeploy_hooks::Hook::new().target("hello", "4"); // checks call hello:4
    /// # let _ = hook;
    /// ```
    pub fn target(mut self, function_name: impl Into<String>, version: impl Into<String>) -> Self {
        self.target = Some((function_name.into(), version.into()));
        self
    }

    /// The alias being shifted, when the AppSpec is not read.
    ///
    /// ```
    /// let hook = codedeploy_hooks::Hook::new().target("hello", "4").alias("live");
    /// # let _ = hook;
    /// ```
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.alias = Some(alias.into());
        self
    }

    /// The phase this hook serves, instead of finding its own name in the AppSpec.
    ///
    /// ```
    /// use codedeploy_hooks::{Hook, Phase};
    /// let hook = Hook::new().phase(Phase::PostTraffic);
    /// # let _ = hook;
    /// ```
    pub fn phase(mut self, phase: Phase) -> Self {
        self.phase = Some(phase);
        self
    }

    /// Time kept back from the Lambda deadline to report (default 3 s). Checks still
    /// running when only the reserve is left are cancelled and the hook reports `Failed`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let hook = codedeploy_hooks::Hook::new().reserve(Duration::from_secs(5));
    /// # let _ = hook;
    /// ```
    pub fn reserve(mut self, reserve: Duration) -> Self {
        self.reserve = reserve;
        self
    }

    /// Run at most `n` checks at a time (default: all at once).
    ///
    /// ```
    /// let hook = codedeploy_hooks::Hook::new().concurrency(2); // at most two checks at once
    /// # let _ = hook;
    /// ```
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = Some(n.max(1));
        self
    }

    /// Run one check at a time, in the order they were added.
    ///
    /// ```
    /// let hook = codedeploy_hooks::Hook::new().sequential(); // in the order added
    /// # let _ = hook;
    /// ```
    pub fn sequential(self) -> Self {
        self.concurrency(1)
    }

    /// How the framework calls AWS (reading the deployment, the target helpers, the report):
    /// timeouts per attempt and retries of throttling, 5xx, transport errors and stalled
    /// attempts. See [`CallPolicy`] for the defaults; the environment variables
    /// [`ATTEMPT_TIMEOUT_ENV`] and [`INVOKE_TIMEOUT_ENV`] override its timeouts.
    ///
    /// ```
    /// use std::time::Duration;
    /// use codedeploy_hooks::{CallPolicy, Hook};
    /// let patient = CallPolicy::default().max_attempts(6).attempt_timeout(Duration::from_secs(5));
    /// let hook = Hook::new().call_policy(patient);
    /// # let _ = hook;
    /// ```
    pub fn call_policy(mut self, policy: CallPolicy) -> Self {
        self.call_policy = policy;
        self
    }

    /// Judge the new version against the current one with a canary analysis (feature
    /// `canary`): a check named [`ANALYSIS_CHECK`](crate::canary::ANALYSIS_CHECK) that
    /// fails when the analysis fails, and, unless the analysis says otherwise, when it is
    /// inconclusive. Its report is in the summary, the logs and the metric record. Meant for
    /// the PostTraffic hook, when both versions have served traffic. The role needs
    /// `cloudwatch:GetMetricData` and `codedeploy:GetDeployment`.
    ///
    /// ```
    /// use codedeploy_hooks::canary::Analysis;
    /// use codedeploy_hooks::Hook;
    /// let post_traffic = Hook::new().analyse(Analysis::new().errors().latency(99.0, 1.25));
    /// # let _ = post_traffic;
    /// ```
    #[cfg(feature = "canary")]
    pub fn analyse(self, analysis: crate::canary::Analysis) -> Self {
        let analysis = Arc::new(analysis);
        let check =
            Check::named(crate::canary::ANALYSIS_CHECK).timeout(crate::watch::ANALYSIS_TIMEOUT);
        self.check(check, move |t| {
            let analysis = Arc::clone(&analysis);
            async move { crate::canary::check(t, &analysis, false).await }
        })
    }

    /// Watch the traffic shift with `watch` (see [`Watch`]): once this PreTraffic hook's
    /// checks pass, it starts the watch (an asynchronous invocation of its own function) and
    /// reports `Failed` if it cannot. The same function then serves the watcher's
    /// invocations. Its role needs `lambda:InvokeFunction` on itself, `lambda:GetAlias` and
    /// `lambda:UpdateAlias` on its alias [`LEASE_ALIAS`](crate::LEASE_ALIAS), and
    /// `codedeploy:GetDeployment` and `codedeploy:StopDeployment` on the deployment group.
    /// A hook shared by functions deployed at once also needs them on the alias
    /// [`lease_alias_of`](crate::lease_alias_of) each function (`watch-lease*`), which the
    /// template creates, and `GetDeployment` on every group it serves.
    ///
    /// ```
    /// use std::time::Duration;
    /// use codedeploy_hooks::{Hook, Watch};
    /// let hook = Hook::new().watch(Watch::every(Duration::from_secs(30)).check("the alias answers", |t| async move {
    ///     t.through_alias()?.invoke(serde_json::json!({})).await?.ensure_ok()?;
    ///     Ok(())
    /// }));
    /// # let _ = hook;
    /// ```
    pub fn watch(mut self, watch: Watch) -> Self {
        self.watch = Some(watch);
        self
    }

    /// For the PostTraffic hook: fail unless the watch run by `function` (the PreTraffic
    /// hook's function, name or ARN) watched this deployment's whole shift, so that a
    /// watcher that died mid-shift cannot let a deployment through. The environment variable
    /// [`WATCHED_BY_ENV`](crate::WATCHED_BY_ENV) sets it too. Needs `lambda:GetAlias` on that
    /// function's alias [`LEASE_ALIAS`](crate::LEASE_ALIAS) (and, for a shared hook, its
    /// [`lease_alias_of`](crate::lease_alias_of) each function).
    ///
    /// ```
    /// // The PostTraffic hook fails unless the PreTraffic hook's watch guarded the whole shift.
    /// let hook = codedeploy_hooks::Hook::new().watched_by("CodeDeployHook_pre_traffic");
    /// # let _ = hook;
    /// ```
    pub fn watched_by(mut self, function: impl Into<String>) -> Self {
        self.watched_by = Some(function.into());
        self
    }

    /// The CloudWatch namespace of the metric record (default `CodeDeployHooks`).
    ///
    /// ```
    /// let hook = codedeploy_hooks::Hook::new().metrics_namespace("Shop/Hooks");
    /// # let _ = hook;
    /// ```
    pub fn metrics_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The handler as a tower `Service` of [`LambdaEvent`](lambda_runtime::LambdaEvent)s, for tests or a custom runtime.
    /// Reads its settings ([`TARGET_ENV`](crate::TARGET_ENV), [`SKIP_ENV`],
    /// `AWS_LAMBDA_FUNCTION_NAME`) from the environment once, now.
    ///
    /// ```
    /// # #[cfg(not(feature = "testing"))]
    /// # fn main() {}
    /// # #[cfg(feature = "testing")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use codedeploy_hooks::{Hook, Status};
    /// use tower::ServiceExt as _;
    /// let fake = FakeTarget::new("hello", "4").returns(serde_json::json!({}));
    /// let hook = Hook::new().check("answers", |t| async move {
    ///     t.invoke(serde_json::json!({})).await?.ensure_ok()?;
    ///     Ok(())
    /// });
    /// let summary = hook.into_service(fake.clients()).oneshot(fake.event()).await.expect("reported");
    /// assert_eq!(summary.status, Status::Succeeded);
    /// # }
    /// ```
    pub fn into_service(self, clients: Clients) -> HookService {
        self.into_service_with(clients, Settings::from_env())
    }

    pub(crate) fn into_service_with(self, clients: Clients, settings: Settings) -> HookService {
        let policy = self
            .call_policy
            .with_overrides(settings.attempt_timeout, settings.invoke_timeout);
        HookService {
            inner: Arc::new(Inner {
                hook: self,
                clients,
                settings,
                policy,
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
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) target: Option<String>,
    pub(crate) skip: bool,
    pub(crate) own_function_name: Option<String>,
    pub(crate) attempt_timeout: Option<Duration>,
    pub(crate) invoke_timeout: Option<Duration>,
    /// How much faster than real the deployment's clock runs (a rehearsal's); 1 in AWS.
    pub(crate) time_scale: f64,
    pub(crate) watched_by: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            target: None,
            skip: false,
            own_function_name: None,
            attempt_timeout: None,
            invoke_timeout: None,
            time_scale: 1.0,
            watched_by: None,
        }
    }
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
            attempt_timeout: millis_from_env(ATTEMPT_TIMEOUT_ENV),
            invoke_timeout: millis_from_env(INVOKE_TIMEOUT_ENV),
            time_scale: time_scale_from_env(),
            watched_by: std::env::var(WATCHED_BY_ENV)
                .ok()
                .filter(|v| !v.trim().is_empty()),
        }
    }
}

fn time_scale_from_env() -> f64 {
    let Ok(value) = std::env::var(TIME_SCALE_ENV) else {
        return 1.0;
    };
    match value.trim().parse::<f64>() {
        Ok(scale) if scale.is_finite() && scale > 0.0 => scale,
        _ => {
            warn!(variable = TIME_SCALE_ENV, value = %value, "not a positive number; the watch keeps real time");
            1.0
        }
    }
}

fn millis_from_env(name: &str) -> Option<Duration> {
    let value = std::env::var(name).ok()?;
    match value.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Some(Duration::from_millis(ms)),
        _ => {
            warn!(variable = name, value = %value, "not a positive number of milliseconds; ignored");
            None
        }
    }
}
