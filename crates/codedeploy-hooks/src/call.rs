//! One policy for every AWS call the framework makes (reading the deployment, the target
//! helpers, the report): each attempt has its own timeout, and throttling, 5xx, transport
//! errors and attempt timeouts are retried with jittered backoff while the budget lasts.
//! Client errors (permissions, bad input) are not retried: trying again cannot help.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;
use tracing::warn;

use crate::error::{AwsErrorKind, Error};

/// The environment variable that overrides [`CallPolicy::attempt_timeout`] of the hook, in
/// milliseconds (e.g. `2000`): for operators who need to tune a deployed hook without a
/// rebuild, and for rehearsals on a compressed clock.
pub const ATTEMPT_TIMEOUT_ENV: &str = "CODEDEPLOY_HOOKS_ATTEMPT_TIMEOUT_MS";

/// The environment variable that overrides [`CallPolicy::invoke_timeout`], in milliseconds.
pub const INVOKE_TIMEOUT_ENV: &str = "CODEDEPLOY_HOOKS_INVOKE_TIMEOUT_MS";

/// How the framework calls AWS: timeouts per attempt, and how often and how long it retries.
///
/// Set it for the whole hook with [`Hook::call_policy`](crate::Hook::call_policy) or for one
/// check with [`Check::call_policy`](crate::Check::call_policy). Whatever the policy, no
/// call outlives the hook's budget (the Lambda deadline minus the reporting reserve).
///
/// ```
/// use std::time::Duration;
/// use codedeploy_hooks::CallPolicy;
///
/// let patient = CallPolicy::default()
///     .invoke_timeout(Duration::from_secs(90)) // the target may take long to answer
///     .max_attempts(3);
/// assert_ne!(patient, CallPolicy::default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallPolicy {
    pub(crate) attempt_timeout: Duration,
    pub(crate) invoke_timeout: Duration,
    pub(crate) max_attempts: u32,
    first_backoff: Duration,
    max_backoff: Duration,
}

impl Default for CallPolicy {
    /// 3 s per attempt of a CodeDeploy or Lambda control call (they answer in milliseconds),
    /// 30 s per attempt of an `Invoke` (the target runs inside it), at most 5 attempts,
    /// backoff from 100 ms doubling to at most 2 s, each pause jittered between half and
    /// all of it.
    fn default() -> Self {
        CallPolicy {
            attempt_timeout: Duration::from_secs(3),
            invoke_timeout: Duration::from_secs(30),
            max_attempts: 5,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl CallPolicy {
    /// The longest one attempt of a control call (`GetDeployment`, `GetAlias`, the
    /// report, ...) may take before it is abandoned and retried. The report never uses more
    /// than a third of the reporting reserve per attempt, so that a stalled call leaves time
    /// for two more.
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = codedeploy_hooks::CallPolicy::default().attempt_timeout(Duration::from_secs(2));
    /// # let _ = policy;
    /// ```
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The longest one attempt of `Invoke` may take: the target's own run time included.
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = codedeploy_hooks::CallPolicy::default().invoke_timeout(Duration::from_secs(30));
    /// # let _ = policy;
    /// ```
    pub fn invoke_timeout(mut self, timeout: Duration) -> Self {
        self.invoke_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Calls per operation, the first included (at least 1). The report is the exception:
    /// it keeps trying until the Lambda deadline, as nothing matters more than delivering
    /// the verdict.
    ///
    /// ```
    /// let policy = codedeploy_hooks::CallPolicy::default().max_attempts(5);
    /// # let _ = policy;
    /// ```
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The first pause between attempts; each later one doubles, up to `max`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = codedeploy_hooks::CallPolicy::default()
    ///     .backoff(Duration::from_millis(100), Duration::from_secs(2));
    /// # let _ = policy;
    /// ```
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.first_backoff = first;
        self.max_backoff = max.max(first);
        self
    }

    /// The policy with the timeouts the environment sets, where it sets them.
    pub(crate) fn with_overrides(
        mut self,
        attempt_timeout: Option<Duration>,
        invoke_timeout: Option<Duration>,
    ) -> Self {
        if let Some(timeout) = attempt_timeout {
            self = self.attempt_timeout(timeout);
        }
        if let Some(timeout) = invoke_timeout {
            self = self.invoke_timeout(timeout);
        }
        self
    }

    /// The pause before attempt `attempt + 1`: exponential, capped, jittered between half
    /// and all of it so that hooks throttled together do not retry together.
    pub(crate) fn pause_after(&self, attempt: u32) -> Duration {
        let full = self
            .first_backoff
            .saturating_mul(1u32 << attempt.clamp(1, 16).saturating_sub(1))
            .min(self.max_backoff);
        let half = full / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// One call to make under the policy.
pub(crate) struct Call<'a> {
    /// e.g. `codedeploy:GetDeployment`, for logs, errors and the summary.
    pub(crate) operation: &'static str,
    /// The time one attempt may take.
    pub(crate) attempt_timeout: Duration,
    /// Attempts at most; `None` retries until the deadline (the report).
    pub(crate) max_attempts: Option<u32>,
    /// No attempt runs past this, and no retry starts that could not finish by it.
    pub(crate) deadline: Option<Instant>,
    pub(crate) policy: &'a CallPolicy,
    /// Where retried calls are recorded for the summary.
    pub(crate) log: Option<&'a CallLog>,
    /// What the call was for: a check's name, or a step of the hook.
    pub(crate) context: &'a str,
}

impl<'a> Call<'a> {
    /// A control call (not `Invoke`) under `policy`'s attempt timeout and attempts, with no
    /// deadline of its own, recorded in `log`.
    pub(crate) fn control(
        operation: &'static str,
        policy: &'a CallPolicy,
        log: &'a CallLog,
        context: &'a str,
    ) -> Self {
        Call {
            operation,
            attempt_timeout: policy.attempt_timeout,
            max_attempts: Some(policy.max_attempts),
            deadline: None,
            policy,
            log: Some(log),
            context,
        }
    }

    /// The same call, with no attempt running past `deadline` (when there is one).
    pub(crate) fn until(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }
}

/// Attempts without a deadline and without a limit of their own (a CLI's report).
const MAX_ATTEMPTS_WITHOUT_DEADLINE: u32 = 6;

impl Call<'_> {
    /// Make the call: `attempt` sends one request and classifies its error.
    ///
    /// # Errors
    /// The last attempt's error, with the number of attempts made.
    pub(crate) async fn run<T, F, Fut>(&self, mut attempt: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let limit = match (self.max_attempts, self.deadline) {
            (Some(n), _) => n.max(1),
            (None, Some(_)) => u32::MAX,
            (None, None) => MAX_ATTEMPTS_WITHOUT_DEADLINE,
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let err = match self.one_attempt(attempt()).await {
                Ok(value) => {
                    if attempts > 1 {
                        self.record(false);
                    }
                    return Ok(value);
                }
                Err(err) => err,
            };
            if let Some(log) = self.log {
                log.failed_attempt(self.context, self.operation, &err);
            }
            let pause = self.policy.pause_after(attempts);
            let time_left = self
                .deadline
                .is_none_or(|deadline| Instant::now() + pause < deadline);
            if !err.is_infrastructure() || attempts >= limit || !time_left {
                let err = err.after_attempts(attempts);
                self.record(true);
                return Err(err);
            }
            warn!(
                operation = self.operation,
                attempt = attempts,
                pause_ms = pause.as_millis() as u64,
                error = %err,
                "AWS call failed; retrying"
            );
            tokio::time::sleep(pause).await;
        }
    }

    async fn one_attempt<T>(
        &self,
        call: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let mut limit = self.attempt_timeout;
        if let Some(deadline) = self.deadline {
            limit = limit.min(deadline.saturating_duration_since(Instant::now()));
        }
        match tokio::time::timeout(limit, call).await {
            Ok(result) => result,
            Err(_) => Err(Error::Aws {
                operation: self.operation,
                kind: AwsErrorKind::Timeout,
                message: format!("no answer within {limit:?}"),
                attempts: 1,
            }),
        }
    }

    /// A call that needed retries or failed has ended.
    fn record(&self, failed: bool) {
        if let Some(log) = self.log {
            log.finished(self.context, self.operation, failed);
        }
    }
}

/// A call that needed more than one attempt, or failed: what the summary shows of the
/// framework's AWS calls. Calls of one operation in one context are counted together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RetriedCall {
    /// What the call was for: a check's name, or `reading the deployment`.
    pub context: String,
    /// The operation, e.g. `lambda:Invoke`.
    pub operation: String,
    /// Calls that were retried or failed.
    pub calls: u32,
    /// Attempts those calls made in all.
    pub attempts: u32,
    /// Calls that failed in the end.
    pub failed: u32,
    /// The last error seen, if a call failed.
    pub last_error: Option<String>,
}

/// Retried calls of one hook execution, shared by the deployment read and every check.
/// Bounded: one entry per context and operation.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallLog {
    entries: Arc<Mutex<Vec<RetriedCall>>>,
}

impl CallLog {
    /// An attempt failed (retried or not): counted, and its error kept as the last one. Noted
    /// as it happens, so a check cancelled in the middle of retrying can say what failed.
    fn failed_attempt(&self, context: &str, operation: &'static str, error: &Error) {
        self.with_entry(context, operation, |entry| {
            entry.attempts += 1;
            entry.last_error = Some(crate::invocation::shorten(&error.to_string()).into_owned());
        });
    }

    /// A call with failed attempts ended: in success (its last attempt counts too) or failure.
    fn finished(&self, context: &str, operation: &'static str, failed: bool) {
        self.with_entry(context, operation, |entry| {
            entry.calls += 1;
            if failed {
                entry.failed += 1;
            } else {
                entry.attempts += 1;
            }
        });
    }

    fn with_entry(
        &self,
        context: &str,
        operation: &'static str,
        change: impl FnOnce(&mut RetriedCall),
    ) {
        let mut entries = crate::lock(&self.entries);
        let context = crate::invocation::shorten(context);
        let index = match entries
            .iter()
            .position(|e| e.context == context && e.operation == operation)
        {
            Some(index) => index,
            None => {
                entries.push(RetriedCall {
                    context: context.into_owned(),
                    operation: operation.to_owned(),
                    calls: 0,
                    attempts: 0,
                    failed: 0,
                    last_error: None,
                });
                entries.len() - 1
            }
        };
        change(&mut entries[index]);
    }

    /// The last error of the calls made for `context`, with its operation.
    pub(crate) fn last_error_of(&self, context: &str) -> Option<(String, String)> {
        let entries = crate::lock(&self.entries);
        entries
            .iter()
            .rev()
            .find(|e| e.context == context)
            .and_then(|e| Some((e.operation.clone(), e.last_error.clone()?)))
    }

    /// What was recorded so far.
    pub(crate) fn snapshot(&self) -> Vec<RetriedCall> {
        crate::lock(&self.entries).clone()
    }
}

#[cfg(test)]
mod tests;
