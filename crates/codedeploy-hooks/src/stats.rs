//! Latency statistics of many invocations.

use std::time::Duration;

use serde::Serialize;

/// How many invocations [`Target::invoke_many`](crate::Target::invoke_many) makes, and how
/// many at a time.
///
/// ```
/// use codedeploy_hooks::Load;
///
/// let load = Load::total(50).concurrency(10);
/// assert_eq!((load.total_calls(), load.at_once()), (50, 10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    total: usize,
    concurrency: usize,
}

impl Load {
    /// `total` invocations, one at a time unless [`concurrency`](Self::concurrency) says
    /// otherwise.
    ///
    /// ```
    /// let load = codedeploy_hooks::Load::total(50);
    /// assert_eq!(load.total_calls(), 50);
    /// ```
    pub fn total(total: usize) -> Self {
        Load {
            total,
            concurrency: 1,
        }
    }

    /// At most `n` invocations in flight (at least 1).
    ///
    /// ```
    /// let load = codedeploy_hooks::Load::total(50).concurrency(10);
    /// assert_eq!(load.at_once(), 10);
    /// ```
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// How many invocations in all.
    ///
    /// ```
    /// assert_eq!(codedeploy_hooks::Load::total(50).total_calls(), 50);
    /// ```
    pub fn total_calls(&self) -> usize {
        self.total
    }

    /// How many in flight at most.
    ///
    /// ```
    /// assert_eq!(codedeploy_hooks::Load::total(50).concurrency(5).at_once(), 5);
    /// ```
    pub fn at_once(&self) -> usize {
        self.concurrency
    }
}

/// What [`Target::invoke_many`](crate::Target::invoke_many) measured.
///
/// ```no_run
/// # async fn demo(t: codedeploy_hooks::Target) -> codedeploy_hooks::CheckResult {
/// use std::time::Duration;
/// use codedeploy_hooks::{ensure, Load};
///
/// let stats = t.invoke_many(serde_json::json!({}), Load::total(20).concurrency(5)).await?;
/// ensure!(stats.errors() == 0, "first errors: {:?}", stats.first_errors());
/// ensure!(stats.p95() < Duration::from_secs(1));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct LoadStats {
    latencies: Vec<Duration>,
    errors: usize,
    first_errors: Vec<String>,
}

/// How many error messages are kept for the failure message.
const KEPT_ERRORS: usize = 3;

impl LoadStats {
    pub(crate) fn new(mut latencies: Vec<Duration>, errors: Vec<String>) -> Self {
        latencies.sort_unstable();
        let count = errors.len();
        LoadStats {
            latencies,
            errors: count,
            first_errors: errors.into_iter().take(KEPT_ERRORS).collect(),
        }
    }

    /// How many invocations were made.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use codedeploy_hooks::{ensure, Hook, Load};
    /// use serde_json::json;
    /// let hook = Hook::new().check("under load", |t| async move {
    ///     let stats = t.invoke_many(json!({}), Load::total(100).concurrency(10)).await?;
    ///     ensure!(stats.total() == 100);
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub fn total(&self) -> usize {
        self.latencies.len() + self.errors
    }

    /// How many failed (service error, function error, or another version ran).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use codedeploy_hooks::{ensure, Hook, Load};
    /// use serde_json::json;
    /// let hook = Hook::new().check("under load", |t| async move {
    ///     let stats = t.invoke_many(json!({}), Load::total(100).concurrency(10)).await?;
    ///     ensure!(stats.errors() == 0, "{:?}", stats.first_errors());
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub fn errors(&self) -> usize {
        self.errors
    }

    /// The first few errors, for failure messages.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use codedeploy_hooks::{ensure, Hook, Load};
    /// use serde_json::json;
    /// let hook = Hook::new().check("under load", |t| async move {
    ///     let stats = t.invoke_many(json!({}), Load::total(100).concurrency(10)).await?;
    ///     for error in stats.first_errors() {
    ///         println!("{error}");
    ///     }
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub fn first_errors(&self) -> &[String] {
        &self.first_errors
    }

    /// The latency at percentile `p` (0-100) of the successful invocations, nearest rank;
    /// zero when none succeeded.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use codedeploy_hooks::{ensure, Hook, Load};
    /// use serde_json::json;
    /// let hook = Hook::new().check("under load", |t| async move {
    ///     let stats = t.invoke_many(json!({}), Load::total(100).concurrency(10)).await?;
    ///     ensure!(stats.percentile(99.9) < Duration::from_secs(2));
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p.clamp(0.0, 100.0) / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    /// The median latency.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use codedeploy_hooks::{ensure, Hook, Load};
    /// use serde_json::json;
    /// let hook = Hook::new().check("under load", |t| async move {
    ///     let stats = t.invoke_many(json!({}), Load::total(100).concurrency(10)).await?;
    ///     ensure!(stats.p50() < Duration::from_millis(100));
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub fn p50(&self) -> Duration {
        self.percentile(50.0)
    }

    /// The 90th percentile latency.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use codedeploy_hooks::{ensure, Hook, Load};
    /// use serde_json::json;
    /// let hook = Hook::new().check("under load", |t| async move {
    ///     let stats = t.invoke_many(json!({}), Load::total(100).concurrency(10)).await?;
    ///     ensure!(stats.p90() < Duration::from_millis(200));
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub fn p90(&self) -> Duration {
        self.percentile(90.0)
    }

    /// The 95th percentile latency.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use codedeploy_hooks::{ensure, Hook, Load};
    /// use serde_json::json;
    /// let hook = Hook::new().check("under load", |t| async move {
    ///     let stats = t.invoke_many(json!({}), Load::total(100).concurrency(10)).await?;
    ///     ensure!(stats.p95() < Duration::from_millis(300));
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub fn p95(&self) -> Duration {
        self.percentile(95.0)
    }

    /// The 99th percentile latency.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use codedeploy_hooks::{ensure, Hook, Load};
    /// use serde_json::json;
    /// let hook = Hook::new().check("under load", |t| async move {
    ///     let stats = t.invoke_many(json!({}), Load::total(100).concurrency(10)).await?;
    ///     ensure!(stats.p99() < Duration::from_millis(800));
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub fn p99(&self) -> Duration {
        self.percentile(99.0)
    }

    /// The slowest successful invocation.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use codedeploy_hooks::{ensure, Hook, Load};
    /// use serde_json::json;
    /// let hook = Hook::new().check("under load", |t| async move {
    ///     let stats = t.invoke_many(json!({}), Load::total(100).concurrency(10)).await?;
    ///     ensure!(stats.max() < Duration::from_secs(3));
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub fn max(&self) -> Duration {
        self.latencies.last().copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let stats = LoadStats::new(
            (1..=100).rev().map(Duration::from_millis).collect(),
            vec!["x".into()],
        );
        assert_eq!(stats.total(), 101);
        assert_eq!(stats.errors(), 1);
        assert_eq!(stats.p50(), Duration::from_millis(50));
        assert_eq!(stats.p95(), Duration::from_millis(95));
        assert_eq!(stats.p99(), Duration::from_millis(99));
        assert_eq!(stats.max(), Duration::from_millis(100));
        assert_eq!(stats.percentile(0.0), Duration::from_millis(1));
        let empty = LoadStats::new(vec![], vec![]);
        assert_eq!(empty.p99(), Duration::ZERO);
    }
}
