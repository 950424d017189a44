//! Running an analysis: the series each metric reads, one `GetMetricData` for both
//! versions, and each metric's judgement from its own values.

use std::time::{Duration, SystemTime};

use super::judge::{self, Counts, RateRule, RatioRule, Value};
use super::read::{self, Series};
use super::{Analysis, CanaryReport, Judged, MetricReport, Verdict};
use crate::check::CheckError;
use crate::error::Error;
use crate::target::Target;

/// The series of one version of `function` through `alias`: its invocations first, then
/// each judged metric's own series, in order ([`Judged::series`]).
fn series(analysis: &Analysis, function: &str, alias: &str, version: &str) -> Vec<Series> {
    let mut all = vec![lambda_series(
        function,
        alias,
        version,
        "Invocations",
        "Sum",
    )];
    for judged in &analysis.judged {
        all.extend(judged.series(function, alias, version));
    }
    all
}

fn lambda_series(function: &str, alias: &str, version: &str, name: &str, stat: &str) -> Series {
    Series {
        namespace: "AWS/Lambda".into(),
        name: name.into(),
        dimensions: vec![
            ("FunctionName".into(), function.into()),
            ("Resource".into(), format!("{function}:{alias}")),
            ("ExecutedVersion".into(), version.into()),
        ],
        stat: stat.into(),
    }
}

impl Judged {
    /// How many series this metric reads per version.
    fn width(&self) -> usize {
        match self {
            Judged::Rate { .. } | Judged::Latency { .. } => 1,
            Judged::Custom(_) => 2,
        }
    }

    /// The series this metric reads for one version: [`width`](Self::width) of them.
    fn series(&self, function: &str, alias: &str, version: &str) -> Vec<Series> {
        match self {
            Judged::Rate { metric } => vec![lambda_series(function, alias, version, metric, "Sum")],
            Judged::Latency { percentile, .. } => {
                let stat = format!("p{percentile}");
                vec![lambda_series(function, alias, version, "Duration", &stat)]
            }
            Judged::Custom(m) => {
                let mut dimensions = m.dimensions.clone();
                if let Some(name) = &m.version_dimension {
                    dimensions.push((name.clone(), version.into()));
                }
                [m.stat.as_str(), "SampleCount"]
                    .into_iter()
                    .map(|stat| Series {
                        namespace: m.namespace.clone(),
                        name: m.name.clone(),
                        dimensions: dimensions.clone(),
                        stat: stat.into(),
                    })
                    .collect()
            }
        }
    }

    /// The judgement from this metric's own values (`current`, `new`: what its
    /// [`series`](Self::series) read) and each version's invocations.
    fn judge(
        &self,
        analysis: &Analysis,
        current: &[Option<f64>],
        new: &[Option<f64>],
        invocations: (u64, u64),
    ) -> MetricReport {
        let value = |v: &[Option<f64>], i: usize| v.get(i).copied().flatten();
        let count = |v: &[Option<f64>], i: usize| value(v, i).unwrap_or(0.0) as u64;
        match self {
            Judged::Rate { metric } => {
                // Throttled requests never ran: they add to the requests, not the invocations.
                let counts = |inv: u64, bad: u64| Counts {
                    bad,
                    total: if *metric == "Throttles" {
                        inv + bad
                    } else {
                        inv
                    },
                };
                let (c, n) = (
                    counts(invocations.0, count(current, 0)),
                    counts(invocations.1, count(new, 0)),
                );
                let rule = RateRule {
                    significance: analysis.significance,
                    min_effect: analysis.min_effect,
                    min_samples: analysis.min_requests,
                };
                let j = judge::judge_rate(c, n, &rule);
                MetricReport {
                    metric: metric.to_ascii_lowercase(),
                    verdict: j.verdict,
                    current: c.rate(),
                    new: n.rate(),
                    current_samples: c.total,
                    new_samples: n.total,
                    p_value: j.p_value,
                    ratio: None,
                    explanation: j.why,
                }
            }
            Judged::Latency { percentile, rule } => {
                let rule = RatioRule {
                    min_samples: analysis.min_requests,
                    ..*rule
                };
                let c = Value {
                    value: value(current, 0),
                    samples: invocations.0,
                };
                let n = Value {
                    value: value(new, 0),
                    samples: invocations.1,
                };
                ratio_report(format!("p{percentile} latency"), c, n, &rule, "ms")
            }
            Judged::Custom(m) => {
                let c = Value {
                    value: value(current, 0),
                    samples: count(current, 1),
                };
                let n = Value {
                    value: value(new, 0),
                    samples: count(new, 1),
                };
                ratio_report(
                    format!("{}/{} {}", m.namespace, m.name, m.stat),
                    c,
                    n,
                    &m.rule,
                    "",
                )
            }
        }
    }
}

/// Judge each metric from the values read for the current and the new version (in
/// [`series`] order: invocations, then each metric's own).
fn judge(analysis: &Analysis, current: &[Option<f64>], new: &[Option<f64>]) -> Vec<MetricReport> {
    let count = |v: &[Option<f64>]| v.first().copied().flatten().unwrap_or(0.0) as u64;
    let invocations = (count(current), count(new));
    let mut at = 1;
    let mut reports = Vec::new();
    for judged in &analysis.judged {
        let width = judged.width();
        let mine = |v: &[Option<f64>]| v.get(at..at + width).unwrap_or(&[]).to_vec();
        reports.push(judged.judge(analysis, &mine(current), &mine(new), invocations));
        at += width;
    }
    reports
}

fn ratio_report(metric: String, c: Value, n: Value, rule: &RatioRule, unit: &str) -> MetricReport {
    let (verdict, ratio, explanation) = judge::judge_ratio(c, n, rule, unit);
    MetricReport {
        metric,
        verdict,
        current: c.value.unwrap_or(0.0),
        new: n.value.unwrap_or(0.0),
        current_samples: c.samples,
        new_samples: n.samples,
        p_value: None,
        ratio,
        explanation,
    }
}

impl Target {
    /// Run `analysis`: read both versions' metrics through the deployment's alias from
    /// CloudWatch, judge them, and return the report. The hook's summary, logs and metric
    /// record show every report its checks produced.
    ///
    /// ```no_run
    /// use codedeploy_hooks::canary::{Analysis, Verdict};
    /// # async fn demo(t: codedeploy_hooks::Target) -> codedeploy_hooks::CheckResult {
    /// let report = t.analyse(&Analysis::new().errors()).await?;
    /// codedeploy_hooks::ensure!(report.verdict != Verdict::Fail, "{}", report.table());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::AliasUnknown`] without an alias; [`Error::CanaryUnavailable`] when the
    /// current version or the window's start is unknown, or there is no CloudWatch client;
    /// [`Error::Aws`] when a call fails after its retries.
    pub async fn analyse(&self, analysis: &Analysis) -> Result<CanaryReport, Error> {
        let deployment = self.deployment();
        let alias = deployment.alias.as_deref().ok_or(Error::AliasUnknown)?;
        let unavailable = |reason: &str| Error::CanaryUnavailable {
            reason: reason.to_owned(),
        };
        let current = deployment.current_version.as_deref().ok_or_else(|| {
            unavailable(
                "the current version is unknown: in a hook the deployment's AppSpec names it \
                 (CurrentVersion); from the CLI give --current-version",
            )
        })?;
        let client = self.cloudwatch().ok_or_else(|| {
            unavailable("the hook has no CloudWatch client (Clients::with_cloudwatch)")
        })?;
        let since = match analysis.since.or(deployment.created) {
            Some(since) => since,
            None => self.deployment_created().await?,
        };
        let now = SystemTime::now();
        let (start, period) = read::window(since, now);
        let function = &deployment.function_name;
        let (ours, theirs) = (
            series(analysis, function, alias, current),
            series(analysis, function, alias, &deployment.target_version),
        );
        let all: Vec<Series> = ours.iter().chain(&theirs).cloned().collect();
        let call = self.control_call("cloudwatch:GetMetricData");
        let values = read::read(client, call, &all, start, period).await?;
        let (current_values, new_values) = values.split_at(ours.len());
        let metrics = judge(analysis, current_values, new_values);
        let report = CanaryReport {
            verdict: Verdict::overall(metrics.iter().map(|m| m.verdict)),
            function_name: function.clone(),
            alias: alias.to_owned(),
            current_version: current.to_owned(),
            new_version: deployment.target_version.clone(),
            start,
            end: now,
            period: Duration::from_secs(u64::try_from(period).unwrap_or(60)),
            metrics,
        };
        self.record_analysis(&report);
        Ok(report)
    }

    /// When the deployment was created, from `GetDeployment`.
    async fn deployment_created(&self) -> Result<SystemTime, Error> {
        let Some(id) = self.deployment().deployment_id.as_deref() else {
            return Err(Error::CanaryUnavailable {
                reason: "there is no deployment to start the window at; set Analysis::since \
                         (from the CLI: --since, or --report with the deployment's id)"
                    .into(),
            });
        };
        let operation = "codedeploy:GetDeployment";
        let out = self
            .control_call(operation)
            .run(|| {
                let sent = self.codedeploy().get_deployment().deployment_id(id).send();
                async move { sent.await.map_err(|e| Error::aws(operation, e)) }
            })
            .await?;
        out.deployment_info()
            .and_then(|info| info.create_time())
            .and_then(|t| SystemTime::try_from(*t).ok())
            .ok_or_else(|| Error::CanaryUnavailable {
                reason: format!("GetDeployment of {id} has no createTime; set Analysis::since"),
            })
    }
}

/// The check a hook or a watch runs for an analysis: fails on a failing report (and on an
/// inconclusive one when the analysis says so); the report itself goes to the summary.
pub(crate) async fn check(
    t: Target,
    analysis: &Analysis,
    in_watch: bool,
) -> Result<(), CheckError> {
    let report = t.analyse(analysis).await?;
    match report.failure(analysis.inconclusive_fails(in_watch)) {
        Some(message) => Err(CheckError::assertion(message)),
        None => Ok(()),
    }
}
