//! A check: its settings, and the error it returns.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::call::CallPolicy;
use crate::target::Target;

/// What a check returns: `Ok(())` when the new version behaves.
pub type CheckResult = Result<(), CheckError>;

pub(crate) type CheckFuture = Pin<Box<dyn Future<Output = CheckResult> + Send>>;
pub(crate) type CheckFn = Arc<dyn Fn(Target) -> CheckFuture + Send + Sync>;

/// The default time one attempt of a check may take.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// A check's name and settings, for [`Hook::check`](crate::Hook::check). A name alone
/// (`&str` or `String`) converts into a check with the default settings.
///
/// ```
/// use std::time::Duration;
/// use codedeploy_hooks::Check;
///
/// let check = Check::named("p95 under 300 ms")
///     .timeout(Duration::from_secs(20))
///     .retries(1);
/// assert_eq!(check.name(), "p95 under 300 ms");
/// ```
#[derive(Debug, Clone)]
pub struct Check {
    pub(crate) name: String,
    pub(crate) timeout: Duration,
    pub(crate) retries: u32,
    pub(crate) retry_failures: bool,
    pub(crate) dry_run: bool,
    pub(crate) call_policy: Option<CallPolicy>,
}

impl Check {
    /// A check with this name, a 60 s timeout, no retries.
    ///
    /// ```
    /// use codedeploy_hooks::Check;
    /// let check = Check::named("greets by name");
    /// assert_eq!(check.name(), "greets by name");
    /// ```
    pub fn named(name: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            timeout: DEFAULT_CHECK_TIMEOUT,
            retries: 0,
            retry_failures: false,
            dry_run: false,
            call_policy: None,
        }
    }

    /// The time one attempt may take before it counts as failed. The hook's own deadline
    /// still applies on top.
    ///
    /// ```
    /// use std::time::Duration;
    /// let check = codedeploy_hooks::Check::named("p95").timeout(Duration::from_secs(20));
    /// # let _ = check;
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Run the whole check again up to `n` more times after a failure of the
    /// infrastructure that the helpers could not absorb (throttling, 5xx, no response: the
    /// helpers already retry each call under the [`CallPolicy`], so this is rarely needed).
    /// Assertion failures are not retried unless [`retry_failures`](Self::retry_failures)
    /// is set as well.
    ///
    /// ```
    /// // Up to 2 more attempts when AWS throttles or fails (not when the check fails).
    /// let check = codedeploy_hooks::Check::named("answers").retries(2);
    /// # let _ = check;
    /// ```
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    /// Retry failed assertions and timeouts too, not only infrastructure failures: for
    /// checks known to be flaky (cold starts). The summary marks a check that passed on a
    /// later attempt as flaky.
    ///
    /// ```
    /// // A flaky assertion gets its retries too.
    /// let check = codedeploy_hooks::Check::named("eventually consistent").retries(3).retry_failures();
    /// # let _ = check;
    /// ```
    pub fn retry_failures(mut self) -> Self {
        self.retry_failures = true;
        self
    }

    /// Run the check and show its outcome, but never fail the hook because of it: for
    /// trying a new check in production before it may block a release.
    ///
    /// ```
    /// // Runs and reports in the summary, but never fails the hook.
    /// let check = codedeploy_hooks::Check::named("new check, watching").dry_run();
    /// # let _ = check;
    /// ```
    pub fn dry_run(mut self) -> Self {
        self.dry_run = true;
        self
    }

    /// How this check's helpers call AWS, instead of the hook's
    /// [`call_policy`](crate::Hook::call_policy): e.g. a longer `Invoke` timeout for a
    /// check of a slow route.
    ///
    /// ```
    /// use codedeploy_hooks::{CallPolicy, Check};
    /// let check = Check::named("slow route").call_policy(CallPolicy::default().max_attempts(2));
    /// # let _ = check;
    /// ```
    pub fn call_policy(mut self, policy: CallPolicy) -> Self {
        self.call_policy = Some(policy);
        self
    }

    /// The check's name.
    ///
    /// ```
    /// assert_eq!(codedeploy_hooks::Check::named("answers").name(), "answers");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl From<&str> for Check {
    fn from(name: &str) -> Self {
        Check::named(name)
    }
}

impl From<String> for Check {
    fn from(name: String) -> Self {
        Check::named(name)
    }
}

/// Why a check failed: an assertion, the infrastructure, or any other error.
///
/// Any error converts into it with `?`; errors of this crate and of `reqwest` that are
/// failures of the infrastructure (throttling, 5xx, no response) are classified as such, so
/// [`Check::retries`] retries them.
///
/// It deliberately does not implement [`std::error::Error`]: that is what lets `?` convert
/// every error into it (as `anyhow::Error` does).
///
/// ```
/// use codedeploy_hooks::{CheckError, CheckResult, FailureKind};
///
/// fn parse(body: &str) -> CheckResult {
///     let _: serde_json::Value = serde_json::from_str(body)?; // any error converts
///     Ok(())
/// }
/// assert_eq!(parse("{").unwrap_err().kind(), FailureKind::Error);
/// let failure = CheckError::assertion("the route answered 502");
/// assert_eq!(failure.kind(), FailureKind::Assertion);
/// ```
pub struct CheckError {
    kind: FailureKind,
    message: String,
}

/// The class of a check failure, which decides whether it is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// The new version did not behave: a failed `ensure!` or `ensure_ok`.
    Assertion,
    /// Throttling, a 5xx or no response: says nothing about the new version.
    Infrastructure,
    /// Any other error returned by the check.
    Error,
}

impl CheckError {
    /// A failed assertion with this message.
    ///
    /// ```
    /// use codedeploy_hooks::{CheckError, FailureKind};
    /// let failure = CheckError::assertion("the total is wrong");
    /// assert_eq!(failure.kind(), FailureKind::Assertion);
    /// ```
    pub fn assertion(message: impl Into<String>) -> Self {
        CheckError {
            kind: FailureKind::Assertion,
            message: message.into(),
        }
    }

    /// A failure with this message and class.
    ///
    /// ```
    /// use codedeploy_hooks::{CheckError, FailureKind};
    /// // Says nothing about the new version: checks retry it (see `Check::retries`).
    /// let failure = CheckError::new(FailureKind::Infrastructure, "the load balancer was busy");
    /// assert_eq!(failure.kind(), FailureKind::Infrastructure);
    /// ```
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        CheckError {
            kind,
            message: message.into(),
        }
    }

    /// The class of failure.
    ///
    /// ```
    /// use codedeploy_hooks::{CheckError, FailureKind};
    /// let failure = CheckError::new(FailureKind::Infrastructure, "throttled");
    /// assert_eq!(failure.kind(), FailureKind::Infrastructure);
    /// ```
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// What went wrong.
    ///
    /// ```
    /// let failure = codedeploy_hooks::CheckError::assertion("the total is wrong");
    /// assert_eq!(failure.message(), "the total is wrong");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckError({:?}: {})", self.kind, self.message)
    }
}

impl<E> From<E> for CheckError
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(err: E) -> Self {
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
        let boxed = match boxed.downcast::<crate::Error>() {
            Ok(ours) => {
                let kind = if ours.is_infrastructure() {
                    FailureKind::Infrastructure
                } else {
                    FailureKind::Error
                };
                return CheckError::new(kind, ours.to_string());
            }
            Err(other) => other,
        };
        let kind = match boxed.downcast_ref::<reqwest::Error>() {
            Some(e) if e.is_connect() || e.is_timeout() => FailureKind::Infrastructure,
            Some(e) if e.status().is_some_and(|s| s.is_server_error()) => {
                FailureKind::Infrastructure
            }
            _ => FailureKind::Error,
        };
        CheckError::new(kind, crate::error::source_chain(boxed.as_ref()))
    }
}
