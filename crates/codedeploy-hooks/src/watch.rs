//! The shift's watch: checks run in rounds while CodeDeploy moves traffic, which stop the
//! deployment (and roll it back) when the new version misbehaves.
//!
//! CodeDeploy runs hooks only before and after the shift; during it only alarms guard, and
//! they are blind to wrong answers served with status 200, to quiet functions, and to faults
//! that show only after a while. A watch runs in the PreTraffic hook's own function, so it
//! needs nothing but that function and its template:
//! - the PreTraffic hook, once its checks pass, starts the watch by invoking its own function
//!   asynchronously, and reports `Failed` if it cannot (the deployment never goes ahead
//!   unwatched);
//! - each watcher invocation runs rounds until its Lambda deadline comes near, then hands
//!   over to a new invocation of itself (Lambda's 15 minutes are shorter than a linear shift);
//! - a lease, kept in the description of an alias of the hook function (`watch-lease`) and
//!   changed only with `UpdateAlias`'s `RevisionId` (compare and swap), makes sure one
//!   invocation watches a deployment at a time, whatever Lambda delivers twice;
//! - each round renews the lease with the time the next is due; the PostTraffic hook
//!   ([`Hook::watched_by`](crate::Hook::watched_by)) fails when the watch never started or
//!   stopped renewing it.
//!
//! Why not EventBridge: its delivery of CodeDeploy state changes is best effort, and a
//! missed event would leave a deployment unwatched without anyone knowing. The PreTraffic
//! hook is on every deployment's path.

mod lease;
mod start;
mod watcher;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::check::{Check, CheckError, CheckFn, CheckResult};
use crate::runner::Registered;
use crate::stats::Load;
use crate::target::Target;
use crate::Error;

pub(crate) use start::{evidence_check, start, Home as WatchHome};
pub(crate) use watcher::{watch, Setup};

/// The key of the event a watcher invocation receives: `{"codedeploy-hooks-watch": {...}}`.
pub const WATCH_EVENT_KEY: &str = "codedeploy-hooks-watch";

/// The alias of the hook function whose description holds the watch's lease: the template
/// creates it (pointing at `$LATEST`), the watch writes only its description.
///
/// A hook shared by several functions deployed at once (a stack update) needs a lease per
/// deployment: while `watch-lease` is held by a deployment still in progress, the watch of
/// another takes [`lease_alias_of`] its function, which the template creates too.
pub const LEASE_ALIAS: &str = "watch-lease";

/// The lease alias a shared hook's watch uses for deployments of `function` while
/// [`LEASE_ALIAS`] is held by another: `watch-lease-FUNCTION` (a function ARN gives its
/// name; the name's characters are an alias name's, cut to an alias name's 128).
///
/// ```
/// assert_eq!(codedeploy_hooks::lease_alias_of("greeter"), "watch-lease-greeter");
/// assert_eq!(
///     codedeploy_hooks::lease_alias_of("arn:aws:lambda:eu-west-1:123456789012:function:greeter"),
///     "watch-lease-greeter"
/// );
/// ```
pub fn lease_alias_of(function: &str) -> String {
    let name = function
        .rsplit_once(":function:")
        .map_or(function, |(_, n)| n);
    let name = name.split(':').next().unwrap_or(name);
    let mut alias = format!("{LEASE_ALIAS}-{name}");
    alias.truncate(128);
    alias
}

/// The environment variable naming the function (name or ARN) whose watch guards the shift,
/// for the PostTraffic hook: see [`Hook::watched_by`](crate::Hook::watched_by).
pub const WATCHED_BY_ENV: &str = "CODEDEPLOY_HOOKS_WATCHED_BY";

/// The default time between rounds.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// The default number of failed rounds in a row that stop the deployment.
pub const DEFAULT_FAILURES_TO_STOP: u32 = 2;

/// The most watcher invocations one deployment gets (each hands over to the next): a
/// guard rail against a run-away chain of self-invocations. At the 15-minute Lambda limit
/// that is 50 hours; at 60 s, 200 minutes, longer than any predefined configuration.
pub const MAX_GENERATIONS: u32 = 200;

/// Checks that run in rounds while the traffic shifts, and stop the deployment when they
/// keep failing: attach it to the PreTraffic hook with [`Hook::watch`](crate::Hook::watch).
///
/// Checks are written as for a hook; [`Target::through_alias`] calls what users get.
///
/// ```no_run
/// use std::time::Duration;
/// use codedeploy_hooks::{ensure, Hook, Traffic, Watch};
/// use serde_json::{json, Value};
///
/// # async fn demo() -> std::process::ExitCode {
/// Hook::new()
///     .check("greets by name", |t| async move {
///         t.invoke(json!({"name": "smoke"})).await?.ensure_ok()?;
///         Ok(())
///     })
///     .watch(
///         Watch::every(Duration::from_secs(30))
///             .failures_to_stop(2)
///             .check("answers right through the alias", |t| async move {
///                 let out = t.through_alias()?.invoke(json!({"name": "watch"})).await?;
///                 out.ensure_ok()?;
///                 ensure!(out.json::<Value>()?["message"] == "hello watch");
///                 Ok(())
///             })
///             .traffic(Traffic::per_round(20, json!({"name": "synthetic"}))
///                 .p95_under(Duration::from_millis(300))),
///     )
///     .run()
///     .await
/// # }
/// ```
#[derive(Clone)]
#[must_use = "a watch does nothing until a hook runs it"]
pub struct Watch {
    pub(crate) interval: Duration,
    pub(crate) failures_to_stop: u32,
    pub(crate) checks: Vec<Arc<Registered>>,
}

/// How long one analysis may take: a few `GetMetricData` pages under the call policy.
#[cfg(feature = "canary")]
pub(crate) const ANALYSIS_TIMEOUT: Duration = Duration::from_secs(20);

impl Watch {
    /// A watch whose rounds start this often (on the deployment's clock), with no checks yet.
    ///
    /// ```
    /// use std::time::Duration;
    /// let watch = codedeploy_hooks::Watch::every(Duration::from_secs(30));
    /// # let _ = watch;
    /// ```
    pub fn every(interval: Duration) -> Self {
        Watch {
            interval: interval.max(Duration::from_millis(1)),
            failures_to_stop: DEFAULT_FAILURES_TO_STOP,
            checks: Vec::new(),
        }
    }

    /// Stop the deployment after `n` failed rounds in a row (default 2; at least 1). One
    /// failed round alone is logged, not acted on, as Flagger's threshold does.
    ///
    /// ```
    /// use std::time::Duration;
    /// // Stop the deployment after two failed rounds in a row.
    /// let watch = codedeploy_hooks::Watch::every(Duration::from_secs(30)).failures_to_stop(2);
    /// # let _ = watch;
    /// ```
    pub fn failures_to_stop(mut self, n: u32) -> Self {
        self.failures_to_stop = n.max(1);
        self
    }

    /// Add a check to every round, as [`Hook::check`](crate::Hook::check) does. Each check
    /// keeps its own timeout ([`Check::timeout`]); a round that takes longer than the
    /// interval delays the next one.
    ///
    /// ```
    /// use std::time::Duration;
    /// use codedeploy_hooks::{ensure, Watch};
    /// let watch = Watch::every(Duration::from_secs(30)).check("still greets", |t| async move {
    ///     let out = t.invoke(serde_json::json!({"name": "watch"})).await?;
    ///     ensure!(out.json::<serde_json::Value>()?["message"] == "hello watch");
    ///     Ok(())
    /// });
    /// # let _ = watch;
    /// ```
    pub fn check<F, Fut>(mut self, check: impl Into<Check>, run: F) -> Self
    where
        F: Fn(Target) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = CheckResult> + Send + 'static,
    {
        let run: CheckFn = Arc::new(move |t| Box::pin(run(t)));
        self.checks.push(Arc::new(Registered {
            check: check.into(),
            run,
        }));
        self
    }

    /// Run a canary analysis in every round (feature `canary`): a round fails when the
    /// analysis does; an inconclusive one carries on unless
    /// [`Analysis::on_inconclusive`](crate::canary::Analysis::on_inconclusive) says
    /// otherwise, as early rounds have little data. Each round's report is in its record.
    ///
    /// ```
    /// use std::time::Duration;
    /// use codedeploy_hooks::canary::Analysis;
    /// use codedeploy_hooks::Watch;
    /// let watch = Watch::every(Duration::from_secs(60)).analyse(Analysis::new().errors());
    /// # let _ = watch;
    /// ```
    #[cfg(feature = "canary")]
    pub fn analyse(self, analysis: crate::canary::Analysis) -> Self {
        let analysis = Arc::new(analysis);
        let check = Check::named(crate::canary::ANALYSIS_CHECK).timeout(ANALYSIS_TIMEOUT);
        self.check(check, move |t| {
            let analysis = Arc::clone(&analysis);
            async move { crate::canary::check(t, &analysis, true).await }
        })
    }

    /// Send synthetic traffic through the alias in every round, so that a quiet function
    /// gives its canary a signal: its errors and latency decide a check of the round, and
    /// count in the `AWS/Lambda` metrics the alarms watch. The calls carry the smoke marker
    /// (see [`smoke`](crate::smoke)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use codedeploy_hooks::{Traffic, Watch};
    /// let watch = Watch::every(Duration::from_secs(30))
    ///     .traffic(Traffic::per_round(10, serde_json::json!({"name": "synthetic"})));
    /// # let _ = watch;
    /// ```
    pub fn traffic(self, traffic: Traffic) -> Self {
        let name = format!(
            "synthetic traffic: {} calls through the alias",
            traffic.calls
        );
        let traffic = Arc::new(traffic);
        self.check(name, move |t| {
            let traffic = Arc::clone(&traffic);
            async move { traffic.judge(&t).await }
        })
    }
}

/// Synthetic traffic of a [`Watch`]: calls through the alias in each round, and the bounds
/// they must keep.
///
/// ```
/// use std::time::Duration;
/// use codedeploy_hooks::Traffic;
///
/// let traffic = Traffic::per_round(20, serde_json::json!({"name": "synthetic"}))
///     .concurrency(5)
///     .max_errors(0)
///     .p95_under(Duration::from_millis(300));
/// # let _ = traffic;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Traffic {
    calls: usize,
    concurrency: usize,
    /// The payload, or why it does not serialize (the round's check then says so).
    payload: Result<Value, Arc<serde_json::Error>>,
    max_errors: usize,
    p95_under: Option<Duration>,
}

impl Traffic {
    /// `calls` invocations of the alias per round with this payload, 10 at a time, no error
    /// allowed, no latency bound.
    ///
    /// ```
    /// let traffic = codedeploy_hooks::Traffic::per_round(20, serde_json::json!({}));
    /// # let _ = traffic;
    /// ```
    pub fn per_round(calls: usize, payload: impl Serialize) -> Self {
        Traffic {
            calls: calls.max(1),
            concurrency: 10,
            payload: serde_json::to_value(payload).map_err(Arc::new),
            max_errors: 0,
            p95_under: None,
        }
    }

    /// At most `n` calls at a time.
    ///
    /// ```
    /// let traffic = codedeploy_hooks::Traffic::per_round(20, serde_json::json!({})).concurrency(5);
    /// # let _ = traffic;
    /// ```
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The round fails with more than `n` failed calls (function errors, or calls that
    /// failed after the call policy's retries).
    ///
    /// ```
    /// // A round fails when more than one of its 50 calls fails.
    /// let traffic = codedeploy_hooks::Traffic::per_round(50, serde_json::json!({})).max_errors(1);
    /// # let _ = traffic;
    /// ```
    pub fn max_errors(mut self, n: usize) -> Self {
        self.max_errors = n;
        self
    }

    /// The round fails when the 95th percentile latency of the calls reaches `bound`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let traffic = codedeploy_hooks::Traffic::per_round(50, serde_json::json!({})).p95_under(Duration::from_secs(1));
    /// # let _ = traffic;
    /// ```
    pub fn p95_under(mut self, bound: Duration) -> Self {
        self.p95_under = Some(bound);
        self
    }

    async fn judge(&self, t: &Target) -> CheckResult {
        let load = Load::total(self.calls).concurrency(self.concurrency);
        let payload = self.payload.as_ref().map_err(|e| {
            CheckError::assertion(format!(
                "the synthetic traffic's payload does not serialize: {e}"
            ))
        })?;
        let stats = t.through_alias()?.invoke_many(payload, load).await?;
        if stats.errors() > self.max_errors {
            let first = stats.first_errors().first().map_or("-", String::as_str);
            return Err(CheckError::assertion(format!(
                "{} of {} calls failed, more than the {} allowed; first: {first}",
                stats.errors(),
                stats.total(),
                self.max_errors
            )));
        }
        match self.p95_under {
            Some(bound) if stats.p95() >= bound => Err(CheckError::assertion(format!(
                "p95 of {} calls was {:?}, not under {bound:?}",
                stats.total(),
                stats.p95()
            ))),
            _ => Ok(()),
        }
    }
}

/// What a watcher invocation is asked to do: watch this deployment as this generation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, Serialize)]
pub(crate) struct WatchEvent {
    #[serde(rename = "deploymentId")]
    pub(crate) deployment_id: String,
    pub(crate) generation: u32,
    /// The alias holding this deployment's lease; left out when it is [`LEASE_ALIAS`], as
    /// before shared hooks.
    #[serde(default = "default_lease", skip_serializing_if = "is_default_lease")]
    pub(crate) lease: String,
}

fn default_lease() -> String {
    LEASE_ALIAS.to_owned()
}

fn is_default_lease(lease: &str) -> bool {
    lease == LEASE_ALIAS
}

impl WatchEvent {
    /// The payload that starts or continues a watcher.
    pub(crate) fn payload(&self) -> Vec<u8> {
        serde_json::json!({ WATCH_EVENT_KEY: self })
            .to_string()
            .into_bytes()
    }

    /// The watch event in an invocation's payload, if it is one.
    ///
    /// # Errors
    /// [`Error::MalformedEvent`] when it is a watch event of the wrong shape.
    pub(crate) fn of(payload: &Value) -> Option<Result<WatchEvent, Error>> {
        let inner = payload.get(WATCH_EVENT_KEY)?;
        Some(
            serde_json::from_value::<WatchEvent>(inner.clone()).map_err(|e| {
                Error::MalformedEvent {
                    reason: format!("the {WATCH_EVENT_KEY} event is malformed: {e}"),
                }
            }),
        )
    }
}

/// Whether CodeDeploy's status says a deployment is over: succeeded, failed or stopped.
pub(crate) fn is_over(status: Option<&aws_sdk_codedeploy::types::DeploymentStatus>) -> bool {
    use aws_sdk_codedeploy::types::DeploymentStatus;
    matches!(
        status,
        Some(DeploymentStatus::Succeeded | DeploymentStatus::Failed | DeploymentStatus::Stopped)
    )
}

/// A duration on the deployment's clock, in real time.
pub(crate) fn real(d: Duration, time_scale: f64) -> Duration {
    d.div_f64(time_scale.max(f64::MIN_POSITIVE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watch_event_round_trips_and_is_told_apart() {
        let event = WatchEvent {
            deployment_id: "d-AB12CD34E".into(),
            generation: 3,
            lease: lease_alias_of("greeter"),
        };
        let payload: Value = serde_json::from_slice(&event.payload()).unwrap();
        assert_eq!(WatchEvent::of(&payload).map(Result::ok), Some(Some(event)));
        let lifecycle =
            serde_json::json!({"DeploymentId": "d-1", "LifecycleEventHookExecutionId": "e"});
        assert!(WatchEvent::of(&lifecycle).is_none());
        let broken = serde_json::json!({WATCH_EVENT_KEY: {"deploymentId": 7}});
        assert!(WatchEvent::of(&broken)
            .unwrap()
            .unwrap_err()
            .to_string()
            .contains("malformed"));
    }

    #[test]
    fn intervals_are_compressed_by_the_time_scale() {
        assert_eq!(
            real(Duration::from_secs(30), 60.0),
            Duration::from_millis(500)
        );
        assert_eq!(real(Duration::from_secs(30), 1.0), Duration::from_secs(30));
    }
}
