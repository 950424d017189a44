//! Running the checks: concurrency, per-attempt timeouts, retries, contained panics, and
//! cancellation when the hook's time is up.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt as _;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{info, warn, Instrument as _};

use crate::check::{Check, CheckFn, FailureKind};
use crate::lock;
use crate::summary::{CheckReport, Outcome};
use crate::target::Target;

/// A check as registered on the hook.
pub(crate) struct Registered {
    pub(crate) check: Check,
    pub(crate) run: CheckFn,
}

/// How to run a set of checks.
pub(crate) struct Plan<'a> {
    pub(crate) filter: Option<&'a str>,
    pub(crate) concurrency: usize,
    /// When running checks must stop (the Lambda deadline minus the reporting reserve).
    pub(crate) deadline: Option<Instant>,
}

/// Where each check stands, so the ones cut off by the deadline can still be reported.
#[derive(Clone, Copy)]
enum Progress {
    Waiting,
    Running { since: Instant, attempt: u32 },
}

/// Run the checks and return one report per check, in registration order.
pub(crate) async fn run(
    checks: &[Arc<Registered>],
    target: &Target,
    plan: &Plan<'_>,
) -> Vec<CheckReport> {
    let mut reports: Vec<Option<CheckReport>> = vec![None; checks.len()];
    let progress = Arc::new(Mutex::new(vec![Progress::Waiting; checks.len()]));
    let finished = Arc::new(Mutex::new(Vec::new()));
    let permits = Arc::new(Semaphore::new(plan.concurrency.max(1)));
    let mut set = JoinSet::new();
    for (index, registered) in checks.iter().enumerate() {
        let check = &registered.check;
        if plan.filter.is_some_and(|f| !check.name.contains(f)) {
            reports[index] = Some(skipped(check));
            continue;
        }
        let (registered, target) = (
            Arc::clone(registered),
            target.for_check(&check.name, check.call_policy),
        );
        let (progress, finished, permits) = (
            Arc::clone(&progress),
            Arc::clone(&finished),
            Arc::clone(&permits),
        );
        let span = tracing::info_span!("check", check = %check.name);
        set.spawn(
            async move {
                // The semaphore is never closed, so acquiring only waits.
                let _permit = permits.acquire_owned().await;
                let report = run_one(&registered, target, &progress, index).await;
                lock(&finished).push((index, report));
            }
            .instrument(span),
        );
    }
    let all_done = async { while set.join_next().await.is_some() {} };
    let in_time = match plan.deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, all_done).await.is_ok(),
        None => {
            all_done.await;
            true
        }
    };
    if !in_time {
        set.abort_all();
        while set.join_next().await.is_some() {}
    }
    for (index, report) in lock(&finished).drain(..) {
        reports[index] = Some(report);
    }
    let progress = lock(&progress).clone();
    let now = Instant::now();
    reports
        .into_iter()
        .zip(checks)
        .zip(progress)
        .map(|((report, registered), state)| {
            report.unwrap_or_else(|| {
                let check = &registered.check;
                let (attempts, duration, message) = match state {
                    Progress::Waiting => (
                        0,
                        Duration::ZERO,
                        "never started: the hook ran out of time first".to_owned(),
                    ),
                    Progress::Running { since, attempt } => {
                        (attempt, now - since, cancelled_message(target, &check.name))
                    }
                };
                warn!(check = %check.name, "{message}");
                CheckReport {
                    name: check.name.clone(),
                    outcome: Outcome::Cancelled,
                    attempts,
                    duration,
                    message: Some(message),
                    dry_run: check.dry_run,
                }
            })
        })
        .collect()
}

async fn run_one(
    registered: &Registered,
    target: Target,
    progress: &Mutex<Vec<Progress>>,
    index: usize,
) -> CheckReport {
    let check = &registered.check;
    let since = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        lock(progress)[index] = Progress::Running { since, attempt };
        let run = &registered.run;
        let target = target.clone();
        // The closure may panic before it returns its future, or the future while it runs.
        let attempt_result = match std::panic::catch_unwind(AssertUnwindSafe(|| run(target))) {
            Ok(future) => {
                tokio::time::timeout(check.timeout, AssertUnwindSafe(future).catch_unwind()).await
            }
            Err(panic) => Ok(Err(panic)),
        };
        let (outcome, message, retryable) = match attempt_result {
            Ok(Ok(Ok(()))) => {
                let report = CheckReport {
                    name: check.name.clone(),
                    outcome: Outcome::Passed,
                    attempts: attempt,
                    duration: since.elapsed(),
                    message: (attempt > 1).then(|| format!("passed on attempt {attempt}")),
                    dry_run: check.dry_run,
                };
                info!(
                    outcome = "passed",
                    attempts = attempt,
                    duration_ms = millis(report.duration),
                    "check passed"
                );
                return report;
            }
            Ok(Ok(Err(failure))) => {
                let retryable = match failure.kind() {
                    FailureKind::Infrastructure => true,
                    _ => check.retry_failures,
                };
                (Outcome::Failed, failure.message().to_owned(), retryable)
            }
            Ok(Err(panic)) => (
                Outcome::Panicked,
                format!("panicked: {}", panic_message(&*panic)),
                false,
            ),
            Err(_) => (
                Outcome::TimedOut,
                format!("took longer than its timeout of {:?}", check.timeout),
                check.retry_failures,
            ),
        };
        if retryable && attempt <= check.retries {
            warn!(attempt, error = %message, "check attempt failed; retrying");
            tokio::time::sleep(backoff(attempt)).await;
            continue;
        }
        let report = CheckReport {
            name: check.name.clone(),
            outcome,
            attempts: attempt,
            duration: since.elapsed(),
            message: Some(message),
            dry_run: check.dry_run,
        };
        warn!(
            outcome = ?report.outcome,
            attempts = attempt,
            duration_ms = millis(report.duration),
            dry_run = check.dry_run,
            error = report.message.as_deref(),
            "check did not pass"
        );
        return report;
    }
}

/// Why a running check was cancelled, with what its AWS calls were failing with, if anything.
fn cancelled_message(target: &Target, check: &str) -> String {
    let mut message =
        "cancelled: the hook ran out of time (Lambda deadline minus the reporting reserve)"
            .to_owned();
    if let Some((operation, error)) = target.call_log().last_error_of(check) {
        message.push_str(&format!("; meanwhile {operation} kept failing: {error}"));
    }
    message
}

fn skipped(check: &Check) -> CheckReport {
    CheckReport {
        name: check.name.clone(),
        outcome: Outcome::Skipped,
        attempts: 0,
        duration: Duration::ZERO,
        message: Some("not selected by --filter".into()),
        dry_run: check.dry_run,
    }
}

/// 100 ms, 200 ms, 400 ms, ... up to 2 s between attempts.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64 << (attempt.clamp(1, 6) - 1)).min(Duration::from_secs(2))
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_up_to_two_seconds() {
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(2), Duration::from_millis(200));
        assert_eq!(backoff(3), Duration::from_millis(400));
        assert_eq!(backoff(5), Duration::from_millis(1600));
        assert_eq!(backoff(30), Duration::from_secs(2));
    }
}
