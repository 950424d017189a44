//! Write AWS CodeDeploy PreTraffic/PostTraffic hooks for Lambda as a list of async checks;
//! the framework does the rest.
//!
//! It finds the version under test (code, the `CODEDEPLOY_HOOKS_TARGET` environment variable,
//! or the deployment's AppSpec), runs the checks against *that version* (never the alias),
//! with timeouts, retries and panics contained, keeps time to report before the Lambda
//! deadline, reports `Succeeded` or `Failed` to CodeDeploy exactly once, and explains the
//! outcome in logs, a metric record and a summary. Outside Lambda the same binary is a CLI.
//!
//! Every AWS call it makes (reading the deployment, the [`Target`] helpers, the report)
//! follows one [`CallPolicy`]: a timeout per attempt, and jittered retries of throttling,
//! 5xx, transport errors and stalled attempts within the Lambda deadline, so that AWS having
//! a bad moment never decides the verdict.
//!
//! ```no_run
//! use std::time::Duration;
//! use codedeploy_hooks::{ensure, Check, Hook, Load};
//! use serde_json::{json, Value};
//!
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     Hook::new()
//!         .check("greets by name", |t| async move {
//!             let out = t.invoke(json!({"name": "smoke"})).await?; // hello:<target version>
//!             out.ensure_ok()?; // no function error, and the target version ran
//!             ensure!(out.json::<Value>()?["message"] == "hello smoke");
//!             Ok(())
//!         })
//!         .check(Check::named("p95 under 300 ms").timeout(Duration::from_secs(20)), |t| async move {
//!             let stats = t.invoke_many(json!({"name": "load"}), Load::total(50).concurrency(10)).await?;
//!             ensure!(stats.errors() == 0 && stats.p95() < Duration::from_millis(300));
//!             Ok(())
//!         })
//!         .run()
//!         .await
//! }
//! ```
//!
//! That is the first of three ways in. The second: during the traffic shift, where CodeDeploy
//! runs no hook, a [`Watch`] attached to the PreTraffic hook ([`Hook::watch`]) runs checks in
//! rounds and stops the deployment, with rollback, when they keep failing;
//! [`Hook::watched_by`] makes the PostTraffic hook fail when the watch did not guard the
//! whole shift.
//!
//! ```no_run
//! use std::time::Duration;
//! use codedeploy_hooks::{Hook, Watch};
//! use serde_json::json;
//!
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     Hook::new()
//!         .watch(Watch::every(Duration::from_secs(30)).check("the alias answers", |t| async move {
//!             t.through_alias()?.invoke(json!({"name": "watch"})).await?.ensure_ok()?;
//!             Ok(())
//!         }))
//!         .run()
//!         .await
//! }
//! ```
//!
//! The third, with the `canary` feature: a canary analysis (`canary::Analysis`) judges the
//! new version against the current one from CloudWatch's per-version metrics of the alias,
//! with statistics, where a fixed alarm threshold is too tight or too loose; in a hook
//! (`Hook::analyse`) or in every round of a watch.
//!
//! ```no_run
//! # #[cfg(feature = "canary")]
//! # mod example {
//! use codedeploy_hooks::canary::Analysis;
//! use codedeploy_hooks::Hook;
//!
//! pub async fn post_traffic() -> std::process::ExitCode {
//!     Hook::new()
//!         .analyse(Analysis::new().errors().latency(99.0, 1.25)) // p99 at most x1.25
//!         .run()
//!         .await
//! }
//! # }
//! # fn main() {}
//! ```
//!
//! The handler is a tower `Service` too ([`Hook::into_service`]), so a hook can be tested
//! without a Lambda runtime. A runnable check, without AWS:
//!
//! ```
//! use codedeploy_hooks::{ensure, CheckResult};
//!
//! fn check_status(status: u16) -> CheckResult {
//!     ensure!(status == 200, "the route should answer");
//!     Ok(())
//! }
//! assert!(check_status(200).is_ok());
//! let failure = check_status(502).unwrap_err();
//! assert!(failure.message().contains("left: 502"));
//! ```
//!
//! Features: `hook` (default) is the framework. Without it only [`smoke`], [`apigw`],
//! [`appspec`] and the deployment types are built, for target functions that want to
//! recognize smoke traffic and for tools that imitate API Gateway or CodeDeploy, without the
//! AWS SDK. `canary` adds the canary analysis (`canary` module: the new version judged
//! against the current one from CloudWatch metrics, with statistics); `testing` adds fakes
//! for users' own tests (`testing` module).

// Lets `ensure!` (which names `::codedeploy_hooks`) work inside this crate's own tests.
#[cfg(test)]
extern crate self as codedeploy_hooks;

pub mod apigw;
pub mod appspec;
mod deployment;
mod error;
mod function_ref;
pub mod smoke;

#[cfg(feature = "hook")]
mod call;
#[cfg(feature = "canary")]
pub mod canary;
#[cfg(feature = "hook")]
mod check;
#[cfg(feature = "hook")]
mod cli;
#[cfg(feature = "hook")]
mod clients;
#[cfg(feature = "hook")]
mod delivery;
#[cfg(feature = "hook")]
mod event;
#[cfg(feature = "hook")]
mod handler;
#[cfg(feature = "hook")]
mod hook;
#[cfg(feature = "hook")]
mod invocation;
#[cfg(feature = "hook")]
mod logging;
#[cfg(feature = "hook")]
mod resolve;
#[cfg(feature = "hook")]
mod run;
#[cfg(feature = "hook")]
mod runner;
#[cfg(feature = "hook")]
mod stats;
#[cfg(feature = "hook")]
mod summary;
#[cfg(feature = "hook")]
mod target;
#[cfg(all(test, feature = "hook"))]
mod test_support;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "hook")]
mod watch;

/// The crates whose types this crate's API takes or hands out, re-exported so that a hook
/// names the very versions the framework was built with (a crate scaffolded by
/// `cargo lambda new` pins its own `lambda_runtime`, which then does not match).
pub use {http, lambda_runtime, serde_json};

/// The CloudWatch SDK behind the canary analysis, re-exported (see above).
#[cfg(feature = "canary")]
pub use aws_sdk_cloudwatch;
/// The AWS SDK crates behind [`Clients`] and [`Target::lambda`], re-exported (see above).
#[cfg(feature = "hook")]
pub use {aws_config, aws_sdk_codedeploy, aws_sdk_lambda};

// The README's examples are compiled as doctests (with `canary`: one of them uses it, and a
// workspace build, CI's, has it on).
#[cfg(all(doctest, feature = "canary"))]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;

pub use crate::{
    deployment::{function_name_of, Deployment, Phase, TARGET_ENV, TIME_SCALE_ENV},
    error::{AwsErrorKind, Error},
    function_ref::TargetProblem,
};

#[cfg(feature = "hook")]
pub use crate::{
    call::{CallPolicy, RetriedCall, ATTEMPT_TIMEOUT_ENV, INVOKE_TIMEOUT_ENV},
    check::{Check, CheckError, CheckResult, FailureKind, DEFAULT_CHECK_TIMEOUT},
    clients::Clients,
    handler::HookService,
    hook::{Hook, DEFAULT_NAMESPACE, DEFAULT_RESERVE, SKIP_ENV},
    invocation::Invocation,
    stats::{Load, LoadStats},
    summary::{CheckReport, Delivery, Outcome, Status, Summary, WatchEnd, WatchReport},
    target::Target,
    watch::{
        lease_alias_of, Traffic, Watch, DEFAULT_FAILURES_TO_STOP, DEFAULT_INTERVAL, LEASE_ALIAS,
        MAX_GENERATIONS, WATCHED_BY_ENV, WATCH_EVENT_KEY,
    },
};

/// Fail the check unless a condition holds; the message shows the condition and, for a
/// comparison, both values. `ensure!(a && b)` names the part that failed. An optional format
/// string adds context: `ensure!(n > 0, "no items in {body}")`.
///
/// ```
/// # use codedeploy_hooks::{ensure, CheckResult};
/// fn check(latency_ms: u64) -> CheckResult {
///     ensure!(latency_ms < 300);
///     Ok(())
/// }
/// let failure = check(450).unwrap_err();
/// assert_eq!(failure.message(), "`latency_ms < 300` is false (left: 450, right: 300)");
/// ```
#[cfg(feature = "hook")]
pub use codedeploy_hooks_macros::ensure;

/// Lock a mutex, recovering it if a thread panicked while holding it: no code here panics
/// while holding one (user checks run outside every lock), so the data stays consistent.
#[cfg(feature = "hook")]
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Not public API: what the `ensure!` macro expands to.
#[cfg(feature = "hook")]
#[doc(hidden)]
pub mod __private {
    use std::fmt::Debug;

    pub use crate::check::CheckError;

    /// Shows a value with `Debug` when it has it (autoref specialization).
    pub struct Show<'a, T: ?Sized>(pub &'a T);

    pub trait ShowDebug {
        fn show(&self) -> String;
    }
    impl<T: Debug + ?Sized> ShowDebug for &Show<'_, T> {
        fn show(&self) -> String {
            crate::invocation::shorten(&format!("{:?}", self.0)).into_owned()
        }
    }

    pub trait ShowOpaque {
        fn show(&self) -> String;
    }
    impl<T: ?Sized> ShowOpaque for Show<'_, T> {
        fn show(&self) -> String {
            "(no Debug)".to_owned()
        }
    }

    pub fn failed(
        whole: &str,
        part: &str,
        values: Option<(String, String)>,
        context: Option<String>,
    ) -> CheckError {
        let mut message = format!("`{part}` is false");
        if let Some((left, right)) = values {
            message.push_str(&format!(" (left: {left}, right: {right})"));
        }
        if part != whole {
            message.push_str(&format!(" in `{whole}`"));
        }
        if let Some(context) = context {
            message.push_str(": ");
            message.push_str(&context);
        }
        CheckError::assertion(message)
    }
}
