//! The canary report: a verdict per metric and overall, with the numbers behind it.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// The verdict of a metric, or of the whole analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum Verdict {
    /// The new version is no worse than the current one, with enough data to say so.
    Pass,
    /// The new version is worse, beyond the configured bounds.
    Fail,
    /// Too little data to say either way (see [`OnInconclusive`](crate::canary::OnInconclusive)).
    Inconclusive,
}

impl Verdict {
    /// `Pass`, `Fail` or `Inconclusive`.
    ///
    /// ```
    /// assert_eq!(codedeploy_hooks::canary::Verdict::Inconclusive.as_str(), "Inconclusive");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "Pass",
            Verdict::Fail => "Fail",
            Verdict::Inconclusive => "Inconclusive",
        }
    }

    /// The worst of the verdicts: any failure fails, then any inconclusive one; no verdict
    /// at all is inconclusive.
    pub(crate) fn overall(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
        let mut overall = None;
        for verdict in verdicts {
            overall = Some(match (overall, verdict) {
                (_, Verdict::Fail) | (Some(Verdict::Fail), _) => Verdict::Fail,
                (_, Verdict::Inconclusive) | (Some(Verdict::Inconclusive), _) => {
                    Verdict::Inconclusive
                }
                _ => Verdict::Pass,
            });
        }
        overall.unwrap_or(Verdict::Inconclusive)
    }
}

/// One metric's judgement.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct MetricReport {
    /// What was judged, e.g. `errors` or `p99 latency`.
    pub metric: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// The current version's value: a rate (0..1) for rates, else the statistic.
    pub current: f64,
    /// The new version's value, in the same terms.
    pub new: f64,
    /// Requests (or samples) behind the current version's value.
    pub current_samples: u64,
    /// Requests (or samples) behind the new version's value.
    pub new_samples: u64,
    /// For rates: the p-value of the one-sided test that the new version is worse.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    /// For values: the new version's value over the current one's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    /// The numbers and the rule in words.
    pub explanation: String,
}

/// What a canary analysis found: the new version against the current one, through the
/// alias, over a window.
///
/// ```
/// # use codedeploy_hooks::canary::{CanaryReport, Verdict};
/// # fn show(report: &CanaryReport) {
/// if report.verdict == Verdict::Fail {
///     eprintln!("{}", report.table());
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CanaryReport {
    /// The overall verdict: the worst of the metrics'.
    pub verdict: Verdict,
    /// The function.
    pub function_name: String,
    /// The alias whose traffic was analysed.
    pub alias: String,
    /// The version the alias pointed at before the deployment.
    pub current_version: String,
    /// The version under test.
    pub new_version: String,
    /// The window's start (CloudWatch rounds it down to the minute).
    #[serde(serialize_with = "epoch_seconds")]
    pub start: SystemTime,
    /// The window's end (now, when it was read).
    #[serde(serialize_with = "epoch_seconds")]
    pub end: SystemTime,
    /// The one period read from `start`: a multiple of 60 s that covers the window, so that
    /// every statistic (percentiles too) is of the whole window.
    #[serde(rename = "period_s", serialize_with = "seconds")]
    pub period: std::time::Duration,
    /// One judgement per metric, in the analysis's order.
    pub metrics: Vec<MetricReport>,
}

fn seconds<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

fn epoch_seconds<S: serde::Serializer>(at: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

impl CanaryReport {
    /// The report as a small table: the verdict, then one line per metric.
    ///
    /// ```no_run
    /// use codedeploy_hooks::canary::{Analysis, Verdict};
    /// use codedeploy_hooks::{ensure, Hook};
    ///
    /// let hook = Hook::new().check("my own analysis", |t| async move {
    ///     let report = t.analyse(&Analysis::new().errors()).await?;
    ///     println!("{}", report.table());
    ///     ensure!(report.verdict != Verdict::Fail);
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub fn table(&self) -> String {
        let minutes = self
            .end
            .duration_since(self.start)
            .map_or(0.0, |d| d.as_secs_f64() / 60.0);
        let mut out = format!(
            "canary analysis: {} ({}:{} version {} against {}, {minutes:.1} min window)\n",
            self.verdict.as_str(),
            self.function_name,
            self.alias,
            self.new_version,
            self.current_version,
        );
        for m in &self.metrics {
            let _ = writeln!(
                out,
                "  {:<12} {:<13} {}",
                m.verdict.as_str(),
                m.metric,
                m.explanation
            );
        }
        out
    }

    /// The failing (or, when `inconclusive_fails`, inconclusive) metrics in one sentence,
    /// for a check's failure message; `None` when nothing fails.
    pub(crate) fn failure(&self, inconclusive_fails: bool) -> Option<String> {
        let failing: Vec<String> = self
            .metrics
            .iter()
            .filter(|m| {
                m.verdict == Verdict::Fail
                    || (inconclusive_fails && m.verdict == Verdict::Inconclusive)
            })
            .map(|m| format!("{} {}: {}", m.metric, m.verdict.as_str(), m.explanation))
            .collect();
        let fails = self.verdict == Verdict::Fail
            || (inconclusive_fails && self.verdict == Verdict::Inconclusive);
        if !fails {
            return None;
        }
        let detail = if failing.is_empty() {
            "no metric was analysed".to_owned()
        } else {
            failing.join("; ")
        };
        Some(format!(
            "canary analysis {} (version {} against {}): {detail}",
            self.verdict.as_str(),
            self.new_version,
            self.current_version
        ))
    }

    /// The report's properties for an EMF record: the verdict, and per metric its verdict
    /// and both values.
    pub(crate) fn emf_properties(&self) -> serde_json::Value {
        let metrics: serde_json::Map<String, serde_json::Value> = self
            .metrics
            .iter()
            .map(|m| {
                (
                    m.metric.clone(),
                    serde_json::json!({
                        "verdict": m.verdict.as_str(),
                        "current": m.current,
                        "new": m.new,
                        "current_samples": m.current_samples,
                        "new_samples": m.new_samples,
                        "p_value": m.p_value,
                        "ratio": m.ratio,
                    }),
                )
            })
            .collect();
        serde_json::json!({
            "verdict": self.verdict.as_str(),
            "start": self.start.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            "period_s": self.period.as_secs(),
            "current_version": self.current_version,
            "new_version": self.new_version,
            "metrics": metrics,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Verdict::{self, *};

    #[test]
    fn the_overall_verdict_is_the_worst() {
        assert_eq!(Verdict::overall([Pass, Pass]), Pass);
        assert_eq!(Verdict::overall([Pass, Inconclusive]), Inconclusive);
        assert_eq!(Verdict::overall([Inconclusive, Fail, Pass]), Fail);
        assert_eq!(Verdict::overall([]), Inconclusive);
    }
}
