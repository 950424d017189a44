//! Canary analysis: judge the new version against the current one from the metrics
//! CloudWatch keeps per executed version of an alias, with statistics instead of fixed
//! thresholds (feature `canary`).
//!
//! An alarm on "Errors > 0" is useless for a function with a baseline error rate, and a
//! looser threshold lets real regressions through. The analysis compares the versions
//! *with each other*, over the same window, through the same alias (Lambda's
//! `ExecutedVersion` dimension):
//! - **rates** (errors, throttles): Fisher's exact test, one-sided (is the new version
//!   worse?), at a significance (default 0.05), failing only when the difference is also at
//!   least a minimum effect (default 0.5 percentage points);
//! - **values** (a latency percentile, custom metrics): the new version's value against the
//!   current one's times a ratio, plus an absolute allowance;
//! - **too little data** (fewer requests than [`Analysis::min_requests`] on either side) is
//!   *inconclusive*, never a pass; what that does is [`Analysis::on_inconclusive`]'s.
//!
//! ```no_run
//! use codedeploy_hooks::canary::Analysis;
//! use codedeploy_hooks::Hook;
//!
//! # async fn demo() -> std::process::ExitCode {
//! Hook::new()
//!     .analyse(Analysis::new().errors().latency(99.0, 1.25))
//!     .run()
//!     .await
//! # }
//! ```
//!
//! The window starts when the deployment was created (or at [`Analysis::since`], or the
//! CLI's `--since`) and ends
//! now. CloudWatch publishes Lambda's metrics a minute or more late, so the last minute may
//! be missing for both versions alike: less data, not a bias. The role needs
//! `cloudwatch:GetMetricData`, which takes no resource (the Service Authorization Reference
//! lists no resource type for it), and `codedeploy:GetDeployment` for the window's start.

mod analyse;
mod judge;
mod read;
mod report;

use std::time::{Duration, SystemTime};

pub(crate) use analyse::check;
pub use judge::Direction;
pub use report::{CanaryReport, MetricReport, Verdict};

use judge::RatioRule;

/// The default significance of the rate tests.
pub const DEFAULT_SIGNIFICANCE: f64 = 0.05;
/// The default minimum effect: a rate at least half a percentage point worse.
pub const DEFAULT_MIN_EFFECT: f64 = 0.005;
/// The default fewest requests per version under which a judgement is inconclusive.
pub const DEFAULT_MIN_REQUESTS: u64 = 100;
/// The default absolute allowance of latency bounds.
pub const DEFAULT_LATENCY_ALLOWANCE: Duration = Duration::from_millis(5);

/// What an inconclusive analysis does to the check that ran it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnInconclusive {
    /// Fail: not enough evidence that the new version is good (the default in a hook).
    Fail,
    /// Carry on: only a failure fails (the default in a watch round, where later rounds
    /// will have more data).
    Pass,
}

/// A metric of the user's, read per version, judged by ratio.
///
/// ```
/// use codedeploy_hooks::canary::{CustomMetric, Direction};
///
/// // Orders placed per invocation, from the function's EMF records, with a dimension
/// // `Version` that each version fills with its own AWS_LAMBDA_FUNCTION_VERSION.
/// let orders = CustomMetric::new("Shop", "OrdersPlaced", "Average")
///     .dimension("Service", "checkout")
///     .version_dimension("Version")
///     .direction(Direction::LowerIsWorse)
///     .max_ratio(1.1);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CustomMetric {
    namespace: String,
    name: String,
    stat: String,
    dimensions: Vec<(String, String)>,
    version_dimension: Option<String>,
    rule: RatioRule,
}

impl CustomMetric {
    /// The metric `name` in `namespace`, read with `stat` (`Average`, `p99`, `Sum`, ...),
    /// higher is worse, at most 1.2 times the current version's, no allowance.
    ///
    /// ```
    /// use codedeploy_hooks::canary::{Analysis, CustomMetric};
    /// let orders = CustomMetric::new("Shop", "OrdersPlaced", "Sum").version_dimension("Version");
    /// let analysis = Analysis::new().errors().custom(orders);
    /// # let _ = analysis;
    /// ```
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        stat: impl Into<String>,
    ) -> Self {
        CustomMetric {
            namespace: namespace.into(),
            name: name.into(),
            stat: stat.into(),
            dimensions: Vec::new(),
            version_dimension: None,
            rule: RatioRule {
                max_ratio: 1.2,
                allowance: 0.0,
                direction: Direction::HigherIsWorse,
                min_samples: DEFAULT_MIN_REQUESTS,
            },
        }
    }

    /// A dimension with the same value for both versions.
    ///
    /// ```
    /// let orders = codedeploy_hooks::canary::CustomMetric::new("Shop", "OrdersPlaced", "Sum")
    ///     .dimension("Region", "eu-west-1");
    /// # let _ = orders;
    /// ```
    pub fn dimension(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.dimensions.push((name.into(), value.into()));
        self
    }

    /// The dimension whose value is the version (required: without it the versions'
    /// data cannot be told apart).
    ///
    /// ```
    /// let orders = codedeploy_hooks::canary::CustomMetric::new("Shop", "OrdersPlaced", "Sum")
    ///     .version_dimension("Version"); // each version's own series
    /// # let _ = orders;
    /// ```
    pub fn version_dimension(mut self, name: impl Into<String>) -> Self {
        self.version_dimension = Some(name.into());
        self
    }

    /// Which way is worse (default: higher).
    ///
    /// ```
    /// use codedeploy_hooks::canary::{CustomMetric, Direction};
    /// let orders = CustomMetric::new("Shop", "OrdersPlaced", "Average").direction(Direction::LowerIsWorse);
    /// # let _ = orders;
    /// ```
    pub fn direction(mut self, direction: Direction) -> Self {
        self.rule.direction = direction;
        self
    }

    /// How much worse the new version may be, as a ratio (default 1.2).
    ///
    /// ```
    /// // The new version's value may be at most 1.5 times the current one's.
    /// let queue = codedeploy_hooks::canary::CustomMetric::new("Shop", "QueueDepth", "Average").max_ratio(1.5);
    /// # let _ = queue;
    /// ```
    pub fn max_ratio(mut self, ratio: f64) -> Self {
        self.rule.max_ratio = ratio.max(1.0);
        self
    }

    /// An absolute allowance on top of the ratio, in the metric's unit (default 0).
    ///
    /// ```
    /// let queue = codedeploy_hooks::canary::CustomMetric::new("Shop", "QueueDepth", "Average").allowance(2.0);
    /// # let _ = queue;
    /// ```
    pub fn allowance(mut self, allowance: f64) -> Self {
        self.rule.allowance = allowance.max(0.0);
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Judged {
    Rate { metric: &'static str },
    Latency { percentile: f64, rule: RatioRule },
    Custom(CustomMetric),
}

/// What to compare and how strictly: built once, run by [`Target::analyse`](crate::Target::analyse) or
/// [`Hook::analyse`](crate::Hook::analyse).
#[derive(Debug, Clone, PartialEq)]
#[must_use = "an analysis does nothing until a hook or a check runs it"]
pub struct Analysis {
    judged: Vec<Judged>,
    significance: f64,
    min_effect: f64,
    min_requests: u64,
    since: Option<SystemTime>,
    on_inconclusive: Option<OnInconclusive>,
}

impl Default for Analysis {
    fn default() -> Self {
        Self::new()
    }
}

impl Analysis {
    /// An analysis of nothing yet; add metrics with [`errors`](Self::errors),
    /// [`throttles`](Self::throttles), [`latency`](Self::latency) and
    /// [`custom`](Self::custom).
    ///
    /// ```
    /// let analysis = codedeploy_hooks::canary::Analysis::new().errors().latency(99.0, 1.25);
    /// # let _ = analysis;
    /// ```
    pub fn new() -> Self {
        Analysis {
            judged: Vec::new(),
            significance: DEFAULT_SIGNIFICANCE,
            min_effect: DEFAULT_MIN_EFFECT,
            min_requests: DEFAULT_MIN_REQUESTS,
            since: None,
            on_inconclusive: None,
        }
    }

    /// Judge the error rate (`AWS/Lambda` `Errors` over `Invocations`).
    ///
    /// ```
    /// use codedeploy_hooks::canary::Analysis;
    /// let analysis = Analysis::new().errors(); // Errors / Invocations, both versions
    /// # let _ = analysis;
    /// ```
    pub fn errors(mut self) -> Self {
        self.judged.push(Judged::Rate { metric: "Errors" });
        self
    }

    /// Judge the throttle rate (`Throttles` over `Invocations` plus `Throttles`). Whether
    /// Lambda publishes `Throttles` per `ExecutedVersion` is undocumented; without data the
    /// metric is inconclusive.
    ///
    /// ```
    /// use codedeploy_hooks::canary::Analysis;
    /// let analysis = Analysis::new().errors().throttles();
    /// # let _ = analysis;
    /// ```
    pub fn throttles(mut self) -> Self {
        self.judged.push(Judged::Rate {
            metric: "Throttles",
        });
        self
    }

    /// Judge a percentile of `Duration` (e.g. 99.0): the new version's may be at most
    /// `max_ratio` times the current one's plus [`DEFAULT_LATENCY_ALLOWANCE`].
    ///
    /// ```
    /// use codedeploy_hooks::canary::Analysis;
    /// // p99 Duration of the new version at most 1.25 times the current one's.
    /// let analysis = Analysis::new().latency(99.0, 1.25);
    /// # let _ = analysis;
    /// ```
    pub fn latency(self, percentile: f64, max_ratio: f64) -> Self {
        self.latency_with_allowance(percentile, max_ratio, DEFAULT_LATENCY_ALLOWANCE)
    }

    /// [`latency`](Self::latency) with an allowance of your own: a p99 of 2 ms against 1 ms
    /// is twice as slow and seldom matters.
    ///
    /// ```
    /// use codedeploy_hooks::canary::Analysis;
    /// // As `latency`, with 20 ms of slack for very fast functions.
    /// let analysis = Analysis::new().latency_with_allowance(99.0, 1.25, std::time::Duration::from_millis(20));
    /// # let _ = analysis;
    /// ```
    pub fn latency_with_allowance(
        mut self,
        percentile: f64,
        max_ratio: f64,
        allowance: Duration,
    ) -> Self {
        self.judged.push(Judged::Latency {
            percentile: percentile.clamp(0.0, 100.0),
            rule: RatioRule {
                max_ratio: max_ratio.max(1.0),
                allowance: allowance.as_secs_f64() * 1000.0,
                direction: Direction::HigherIsWorse,
                min_samples: 0,
            },
        });
        self
    }

    /// Judge a metric of your own.
    ///
    /// ```
    /// use codedeploy_hooks::canary::Analysis;
    /// use codedeploy_hooks::canary::CustomMetric;
    /// let analysis = Analysis::new().custom(CustomMetric::new("Shop", "OrdersPlaced", "Sum").version_dimension("Version"));
    /// # let _ = analysis;
    /// ```
    pub fn custom(mut self, metric: CustomMetric) -> Self {
        self.judged.push(Judged::Custom(metric));
        self
    }

    /// The significance of the rate tests (default 0.05): the most often a good canary
    /// may fail on chance.
    ///
    /// ```
    /// use codedeploy_hooks::canary::Analysis;
    /// let analysis = Analysis::new().errors().significance(0.01);
    /// # let _ = analysis;
    /// ```
    pub fn significance(mut self, alpha: f64) -> Self {
        self.significance = alpha.clamp(1e-9, 0.5);
        self
    }

    /// The smallest rate difference that fails (default 0.005, half a percentage point):
    /// a smaller one passes even when significant.
    ///
    /// ```
    /// use codedeploy_hooks::canary::Analysis;
    /// // Ignore differences of error rate under one percentage point.
    /// let analysis = Analysis::new().errors().min_effect(0.01);
    /// # let _ = analysis;
    /// ```
    pub fn min_effect(mut self, effect: f64) -> Self {
        self.min_effect = effect.clamp(0.0, 1.0);
        self
    }

    /// The fewest requests per version to judge at all (default 100); fewer is
    /// inconclusive. Also the fewest samples of latency and custom metrics.
    ///
    /// ```
    /// use codedeploy_hooks::canary::Analysis;
    /// let analysis = Analysis::new().errors().min_requests(200);
    /// # let _ = analysis;
    /// ```
    pub fn min_requests(mut self, n: u64) -> Self {
        self.min_requests = n.max(1);
        self
    }

    /// Start the window here instead of at the deployment's creation.
    ///
    /// ```
    /// use codedeploy_hooks::canary::Analysis;
    /// use std::time::{Duration, SystemTime};
    /// let analysis = Analysis::new().errors().since(SystemTime::now() - Duration::from_secs(600));
    /// # let _ = analysis;
    /// ```
    pub fn since(mut self, start: SystemTime) -> Self {
        self.since = Some(start);
        self
    }

    /// What an inconclusive verdict does (default: fail in a hook, carry on in a watch).
    ///
    /// ```
    /// use codedeploy_hooks::canary::{Analysis, OnInconclusive};
    /// let analysis = Analysis::new().errors().on_inconclusive(OnInconclusive::Pass);
    /// # let _ = analysis;
    /// ```
    pub fn on_inconclusive(mut self, what: OnInconclusive) -> Self {
        self.on_inconclusive = Some(what);
        self
    }

    /// Whether an inconclusive verdict fails, `in_watch` or not.
    pub(crate) fn inconclusive_fails(&self, in_watch: bool) -> bool {
        match self.on_inconclusive {
            Some(OnInconclusive::Fail) => true,
            Some(OnInconclusive::Pass) => false,
            None => !in_watch,
        }
    }
}

/// The name of the check that runs a hook's or a watch's analysis.
pub const ANALYSIS_CHECK: &str = "canary analysis";

#[cfg(test)]
mod tests;
