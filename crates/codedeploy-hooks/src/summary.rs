//! What a run of the hook found: per check and in all, as a table, JSON and a metric record.

use std::fmt::{self, Write as _};
use std::time::Duration;

use serde::Serialize;

use crate::call::RetriedCall;
use crate::deployment::Deployment;

/// The verdict a hook reports to CodeDeploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum Status {
    /// Let the deployment go on.
    Succeeded,
    /// Stop the deployment and roll back.
    Failed,
}

impl Status {
    /// The value sent in `PutLifecycleEventHookExecutionStatus`.
    ///
    /// ```
    /// assert_eq!(codedeploy_hooks::Status::Succeeded.as_str(), "Succeeded");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Succeeded => "Succeeded",
            Status::Failed => "Failed",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// It returned `Ok(())`.
    Passed,
    /// It returned an error.
    Failed,
    /// Its last attempt took longer than its timeout.
    TimedOut,
    /// It panicked; the framework caught the panic.
    Panicked,
    /// The hook's deadline came while it ran or waited to run.
    Cancelled,
    /// Not selected by the CLI's `--filter`.
    Skipped,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Passed => "PASS",
            Outcome::Failed => "FAIL",
            Outcome::TimedOut => "TIMEOUT",
            Outcome::Panicked => "PANIC",
            Outcome::Cancelled => "CANCEL",
            Outcome::Skipped => "SKIP",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CheckReport {
    /// The check's name.
    pub name: String,
    /// How it ended.
    pub outcome: Outcome,
    /// How many attempts ran (0 when it never started).
    pub attempts: u32,
    /// Time from its first attempt's start to its end.
    #[serde(rename = "duration_ms", serialize_with = "as_millis")]
    pub duration: Duration,
    /// Why it did not pass, or a note on a pass (flaky).
    pub message: Option<String>,
    /// A dry-run check never fails the hook.
    pub dry_run: bool,
}

impl CheckReport {
    /// Whether this check makes the hook fail.
    ///
    /// ```
    /// # #[cfg(not(feature = "testing"))]
    /// # fn main() {}
    /// # #[cfg(feature = "testing")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use codedeploy_hooks::{Check, Hook};
    /// let fake = FakeTarget::new("hello", "4").fails(serde_json::json!({"errorMessage": "boom"}));
    /// let hook = Hook::new().check(Check::named("new, watching").dry_run(), |t| async move {
    ///     t.invoke(serde_json::json!({})).await?.ensure_ok()?;
    ///     Ok(())
    /// });
    /// let summary = fake.run(hook).await.expect("reported");
    /// assert!(!summary.checks[0].fails_hook(), "a dry run never fails the hook");
    /// # }
    /// ```
    pub fn fails_hook(&self) -> bool {
        !self.dry_run && !matches!(self.outcome, Outcome::Passed | Outcome::Skipped)
    }

    /// Passed, but not on the first attempt.
    ///
    /// ```
    /// # #[cfg(not(feature = "testing"))]
    /// # fn main() {}
    /// # #[cfg(feature = "testing")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use codedeploy_hooks::{Check, Hook};
    /// let fake = FakeTarget::new("hello", "4").returns(serde_json::json!({})).fails_next(serde_json::json!({}));
    /// let hook = Hook::new().check(Check::named("answers").retries(1).retry_failures(), |t| async move {
    ///     t.invoke(serde_json::json!({})).await?.ensure_ok()?;
    ///     Ok(())
    /// });
    /// let summary = fake.run(hook).await.expect("reported");
    /// assert!(summary.checks[0].is_flaky(), "it failed, then passed on its retry");
    /// # }
    /// ```
    pub fn is_flaky(&self) -> bool {
        self.outcome == Outcome::Passed && self.attempts > 1
    }
}

/// How the verdict reached CodeDeploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "delivery")]
#[non_exhaustive]
pub enum Delivery {
    /// Accepted by `PutLifecycleEventHookExecutionStatus`.
    Delivered {
        /// Calls made, retries included.
        attempts: u32,
    },
    /// CodeDeploy already had a status for this execution (a duplicate delivery of the
    /// event): nothing more to do.
    AlreadyCompleted {
        /// Calls made, retries included.
        attempts: u32,
    },
    /// Not reported (a CLI run without `--report`).
    NotRequested,
}

/// The outcome of one run of the hook: what the handler answers, the CLI prints, and the
/// logs and metric record show.
///
/// ```no_run
/// # async fn demo(service: codedeploy_hooks::HookService, event: lambda_runtime::LambdaEvent<serde_json::Value>) -> Result<(), codedeploy_hooks::Error> {
/// let summary = service.handle(event).await?;
/// if summary.status == codedeploy_hooks::Status::Failed {
///     eprintln!("{}", summary.table()); // the verdict, the reason, one line per check
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Summary {
    /// The verdict.
    pub status: Status,
    /// Why the hook failed, or why it passed without checks (skip switch).
    pub reason: Option<String>,
    /// What was tested, when it could be resolved.
    pub deployment: Option<Deployment>,
    /// One entry per registered check, in registration order.
    pub checks: Vec<CheckReport>,
    /// Time from receiving the event to the verdict (before the report).
    #[serde(rename = "duration_ms", serialize_with = "as_millis")]
    pub duration: Duration,
    /// How the verdict reached CodeDeploy.
    pub report: Delivery,
    /// What went wrong without deciding the verdict, e.g. a cross-check read that failed.
    pub warnings: Vec<String>,
    /// The framework's AWS calls that needed retries or failed.
    pub retried_calls: Vec<RetriedCall>,
    /// For an invocation that watched the shift: its rounds and how it ended (`checks` are
    /// then the last round's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch: Option<WatchReport>,
    /// The canary analyses the checks ran (feature `canary`), in the order they ended.
    #[cfg(feature = "canary")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub canary: Vec<crate::canary::CanaryReport>,
}

/// What one watcher invocation did (see [`Watch`](crate::Watch)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WatchReport {
    /// Which watcher invocation of the deployment this was (1 for the first; each hands
    /// over to the next before its Lambda deadline).
    pub generation: u32,
    /// Rounds run for the deployment so far, earlier generations included.
    pub rounds: u32,
    /// Rounds of this invocation that failed.
    pub failed_rounds: u32,
    /// How this invocation ended.
    pub end: WatchEnd,
}

impl WatchReport {
    pub(crate) fn new(generation: u32) -> Self {
        WatchReport {
            generation,
            rounds: 0,
            failed_rounds: 0,
            end: WatchEnd::Lost,
        }
    }
}

/// How a watcher invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WatchEnd {
    /// The deployment ended (succeeded, failed or was stopped by someone else).
    DeploymentEnded,
    /// Rounds kept failing: it stopped the deployment, with rollback.
    StoppedDeployment,
    /// Its Lambda deadline came near: a new invocation goes on.
    HandedOver,
    /// The lease was not its to take (a duplicate or stale delivery): it did nothing.
    Refused,
    /// It could not go on (the lease or a call failed); the reason says why, and the
    /// PostTraffic hook fails the deployment when it sees the lease lapse.
    Lost,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0)
}

impl Summary {
    /// A failed run in which no check ran, for this reason.
    pub(crate) fn not_run(reason: String, started: tokio::time::Instant) -> Summary {
        Summary {
            status: Status::Failed,
            reason: Some(reason),
            deployment: None,
            checks: Vec::new(),
            duration: started.elapsed(),
            report: Delivery::NotRequested,
            warnings: Vec::new(),
            retried_calls: Vec::new(),
            watch: None,
            #[cfg(feature = "canary")]
            canary: Vec::new(),
        }
    }

    /// What a watcher invocation did: the last round's checks and the watch's report.
    pub(crate) fn of_watch(
        deployment: Deployment,
        last_round: Vec<CheckReport>,
        report: WatchReport,
        started: tokio::time::Instant,
    ) -> Summary {
        Summary {
            status: Status::Succeeded,
            deployment: Some(deployment),
            checks: last_round,
            watch: Some(report),
            ..Summary::not_run(String::new(), started)
        }
    }

    /// A run that passes without running checks (the skip switch), for this reason.
    pub(crate) fn skipped(reason: String, started: tokio::time::Instant) -> Summary {
        Summary {
            status: Status::Succeeded,
            ..Summary::not_run(reason, started)
        }
    }

    /// The verdict on these checks: failed when one fails the hook, or when none ran.
    pub(crate) fn of_checks(
        deployment: Deployment,
        checks: Vec<CheckReport>,
        filtered: bool,
        started: tokio::time::Instant,
    ) -> Summary {
        let failing: Vec<&CheckReport> = checks.iter().filter(|c| c.fails_hook()).collect();
        let ran = checks
            .iter()
            .filter(|c| c.outcome != Outcome::Skipped)
            .count();
        let (status, reason) = if ran == 0 {
            let reason = if filtered {
                "no check matched the filter"
            } else {
                "the hook has no checks: add one with Hook::check"
            };
            (Status::Failed, Some(reason.to_owned()))
        } else if failing.is_empty() {
            (Status::Succeeded, None)
        } else {
            let names: Vec<&str> = failing.iter().map(|c| c.name.as_str()).collect();
            let mut reason = format!(
                "{} of {} checks failed: {}",
                failing.len(),
                ran,
                names.join(", ")
            );
            // The first failure's own words: which assertion, or which AWS operation.
            if let Some(message) = failing[0].message.as_deref() {
                let _ = write!(
                    reason,
                    " (first: {}: {})",
                    names[0],
                    crate::invocation::shorten(message)
                );
            }
            (Status::Failed, Some(reason))
        };
        Summary {
            status,
            reason,
            deployment: Some(deployment),
            checks,
            ..Summary::not_run(String::new(), started)
        }
    }

    /// A failure that may come from something that went wrong on the way (e.g. the
    /// deployment could not be read, so the alias is unknown) says so in its reason.
    pub(crate) fn explain_failure_with_warnings(&mut self) {
        if self.status == Status::Failed && !self.warnings.is_empty() {
            if let Some(reason) = &mut self.reason {
                reason.push_str(" (note: ");
                reason.push_str(&self.warnings.join("; "));
                reason.push(')');
            }
        }
    }

    /// How many checks passed.
    ///
    /// ```
    /// # #[cfg(not(feature = "testing"))]
    /// # fn main() {}
    /// # #[cfg(feature = "testing")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use codedeploy_hooks::Hook;
    /// use serde_json::json;
    /// let fake = FakeTarget::new("hello", "4").returns(json!({}));
    /// let hook = Hook::new().check("answers", |t| async move {
    ///     t.invoke(json!({})).await?.ensure_ok()?;
    ///     Ok(())
    /// });
    /// let summary = fake.run(hook).await.unwrap();
    /// assert_eq!((summary.passed(), summary.failed()), (1, 0));
    /// # }
    /// ```
    pub fn passed(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.outcome == Outcome::Passed)
            .count()
    }

    /// How many checks make the hook fail.
    ///
    /// ```
    /// # #[cfg(not(feature = "testing"))]
    /// # fn main() {}
    /// # #[cfg(feature = "testing")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use codedeploy_hooks::Hook;
    /// use serde_json::json;
    /// let fake = FakeTarget::new("hello", "4").returns(json!({}));
    /// let hook = Hook::new().check("answers", |t| async move {
    ///     t.invoke(json!({})).await?.ensure_ok()?;
    ///     Ok(())
    /// });
    /// let summary = fake.run(hook).await.unwrap();
    /// assert_eq!(summary.failed(), 0);
    /// # }
    /// ```
    pub fn failed(&self) -> usize {
        self.checks.iter().filter(|c| c.fails_hook()).count()
    }

    /// The summary as a readable table.
    ///
    /// ```
    /// # #[cfg(not(feature = "testing"))]
    /// # fn main() {}
    /// # #[cfg(feature = "testing")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use codedeploy_hooks::Hook;
    /// use serde_json::json;
    /// let fake = FakeTarget::new("hello", "4").returns(json!({}));
    /// let hook = Hook::new().check("answers", |t| async move {
    ///     t.invoke(json!({})).await?.ensure_ok()?;
    ///     Ok(())
    /// });
    /// let summary = fake.run(hook).await.unwrap();
    /// println!("{}", summary.table()); // one line per check: status, time, reason
    /// # }
    /// ```
    pub fn table(&self) -> String {
        let mut out = String::new();
        let what = match &self.deployment {
            // Without a phase (a CLI run without --phase) there is no "Unknown hook".
            Some(d) if d.phase == crate::Phase::Unknown => {
                format!("checks of {}", d.qualified_target())
            }
            Some(d) => format!("{} hook for {}", d.phase, d.qualified_target()),
            None => "hook".to_owned(),
        };
        let id = self
            .deployment
            .as_ref()
            .and_then(|d| d.deployment_id.as_deref())
            .map(|id| format!(" (deployment {id})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{what}{id}: {} - {} passed, {} failing, {:.0?}",
            self.status,
            self.passed(),
            self.failed(),
            self.duration
        );
        if let Some(reason) = &self.reason {
            let _ = writeln!(out, "  reason: {reason}");
        }
        for warning in &self.warnings {
            let _ = writeln!(out, "  warning: {warning}");
        }
        for call in &self.retried_calls {
            let _ = write!(
                out,
                "  retried: {} ({}): {} call{}, {} attempts, {} failed",
                call.operation,
                call.context,
                call.calls,
                if call.calls == 1 { "" } else { "s" },
                call.attempts,
                call.failed,
            );
            match &call.last_error {
                Some(error) => {
                    let _ = writeln!(out, "; last error: {error}");
                }
                None => out.push('\n'),
            }
        }
        let width = self
            .checks
            .iter()
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(0);
        for c in &self.checks {
            let mut notes = Vec::new();
            if c.dry_run {
                notes.push("dry run".to_owned());
            }
            if c.is_flaky() {
                notes.push(format!("flaky: passed on attempt {}", c.attempts));
            }
            if let Some(m) = &c.message {
                notes.push(m.clone());
            }
            let _ = writeln!(
                out,
                "  {:<7} {:<width$}  {} attempt{} {:>9.1?}{}{}",
                c.outcome.label(),
                c.name,
                c.attempts,
                if c.attempts == 1 { " " } else { "s" },
                c.duration,
                if notes.is_empty() { "" } else { "  " },
                notes.join("; "),
            );
        }
        #[cfg(feature = "canary")]
        for report in &self.canary {
            out.push_str(&report.table());
        }
        out
    }

    /// One CloudWatch Embedded Metric Format record: checks passed and failed, and the
    /// hook's duration, with the dimensions function name (of the function under test) and
    /// phase.
    ///
    /// ```
    /// # #[cfg(not(feature = "testing"))]
    /// # fn main() {}
    /// # #[cfg(feature = "testing")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use codedeploy_hooks::Hook;
    /// use serde_json::json;
    /// let fake = FakeTarget::new("hello", "4").returns(json!({}));
    /// let hook = Hook::new().check("answers", |t| async move {
    ///     t.invoke(json!({})).await?.ensure_ok()?;
    ///     Ok(())
    /// });
    /// let summary = fake.run(hook).await.unwrap();
    /// let record = summary.metric_record("CodeDeployHooks", 1_700_000_000_000);
    /// assert!(record.contains("\"_aws\"")); // CloudWatch Embedded Metric Format
    /// # }
    /// ```
    pub fn metric_record(&self, namespace: &str, timestamp_ms: u64) -> String {
        let (function, phase) = match &self.deployment {
            Some(d) => (d.function_name.clone(), d.phase.to_string()),
            None => ("unknown".to_owned(), "Unknown".to_owned()),
        };
        #[allow(unused_mut)] // without the canary feature
        let mut record = serde_json::json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [["FunctionName", "Phase"]],
                    "Metrics": [
                        {"Name": "ChecksPassed", "Unit": "Count"},
                        {"Name": "ChecksFailed", "Unit": "Count"},
                        {"Name": "HookDuration", "Unit": "Milliseconds"},
                        {"Name": "RetriedCalls", "Unit": "Count"},
                    ],
                }],
            },
            "FunctionName": function,
            "Phase": phase,
            "Status": self.status.as_str(),
            "ChecksPassed": self.passed(),
            "ChecksFailed": self.failed(),
            "HookDuration": self.duration.as_secs_f64() * 1000.0,
            "RetriedCalls": self.retried_calls.iter().map(|c| c.calls).sum::<u32>(),
        });
        #[cfg(feature = "canary")]
        if !self.canary.is_empty() {
            record["Canary"] = self.canary.iter().map(|r| r.emf_properties()).collect();
        }
        record.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        Summary {
            status: Status::Failed,
            reason: Some("1 of 3 checks failed: slow".into()),
            deployment: Some(Deployment::new("hello", "4").with_phase(crate::Phase::PreTraffic)),
            checks: vec![
                CheckReport {
                    name: "greets".into(),
                    outcome: Outcome::Passed,
                    attempts: 2,
                    duration: Duration::from_millis(12),
                    message: None,
                    dry_run: false,
                },
                CheckReport {
                    name: "slow".into(),
                    outcome: Outcome::TimedOut,
                    attempts: 1,
                    duration: Duration::from_secs(2),
                    message: Some("took longer than 2s".into()),
                    dry_run: false,
                },
                CheckReport {
                    name: "new idea".into(),
                    outcome: Outcome::Failed,
                    attempts: 1,
                    duration: Duration::from_millis(1),
                    message: Some("nope".into()),
                    dry_run: true,
                },
            ],
            duration: Duration::from_millis(2015),
            report: Delivery::Delivered { attempts: 1 },
            warnings: vec!["the deployment could not be read: throttled".into()],
            retried_calls: vec![RetriedCall {
                context: "greets".into(),
                operation: "lambda:Invoke".into(),
                calls: 1,
                attempts: 3,
                failed: 0,
                last_error: None,
            }],
            watch: None,
            #[cfg(feature = "canary")]
            canary: Vec::new(),
        }
    }

    #[test]
    fn the_table_names_outcomes_flakiness_and_dry_runs() {
        let table = summary().table();
        assert!(
            table.starts_with("PreTraffic hook for hello:4: Failed - 1 passed, 1 failing"),
            "{table}"
        );
        assert!(table.contains("flaky: passed on attempt 2"), "{table}");
        assert!(table.contains("TIMEOUT"), "{table}");
        assert!(table.contains("dry run; nope"), "{table}");
        let mut no_phase = summary();
        no_phase.deployment = Some(Deployment::new("hello", "4"));
        assert!(
            no_phase.table().starts_with("checks of hello:4: Failed"),
            "{}",
            no_phase.table()
        );
        assert!(
            table.contains("warning: the deployment could not be read"),
            "{table}"
        );
        assert!(
            table.contains("retried: lambda:Invoke (greets): 1 call, 3 attempts, 0 failed"),
            "{table}"
        );
    }

    #[test]
    fn the_metric_record_is_embedded_metric_format() {
        let record: serde_json::Value =
            serde_json::from_str(&summary().metric_record("Hooks", 7)).unwrap();
        assert_eq!(record["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Hooks");
        assert_eq!(record["_aws"]["Timestamp"], 7);
        assert_eq!(record["FunctionName"], "hello");
        assert_eq!(record["Phase"], "PreTraffic");
        assert_eq!(record["ChecksPassed"], 1);
        assert_eq!(record["ChecksFailed"], 1);
        assert_eq!(record["RetriedCalls"], 1);
    }

    #[test]
    fn json_has_durations_in_milliseconds() {
        let json = serde_json::to_value(summary()).unwrap();
        assert_eq!(json["duration_ms"], 2015.0);
        assert_eq!(json["checks"][1]["outcome"], "timed_out");
        assert_eq!(json["report"]["delivery"], "delivered");
    }
}
