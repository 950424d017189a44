//! CloudWatch alarms on `AWS/Lambda` metrics, evaluated from the invocations the stand-in
//! really served, on the deployment's scaled clock; `from_template` reads them from a
//! template.

mod from_template;

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::cloudwatch::Stat;
use crate::invocation::InvocationRecord;

/// A metric of `AWS/Lambda`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Metric {
    Errors,
    Invocations,
    Throttles,
    Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    GreaterThan,
    GreaterOrEqual,
    LessThan,
    LessOrEqual,
}

/// An alarm's state; serialized as CloudWatch's `StateValue` (`OK`, `ALARM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum AlarmState {
    /// Not breaching.
    Ok,
    /// Breaching: a deployment watching it stops and rolls back.
    Alarm,
}

impl AlarmState {
    /// CloudWatch's name of the state: `OK` or `ALARM`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
        }
    }
}

/// An alarm the stand-in can evaluate.
#[derive(Debug, Clone)]
pub struct Alarm {
    /// Its logical id in the template.
    pub name: String,
    metric: Metric,
    statistic: Stat,
    period: Duration,
    evaluation_periods: u32,
    datapoints_to_alarm: u32,
    threshold: f64,
    comparison: Comparison,
    missing_breaches: bool,
    function: Option<String>,
    resource: Option<String>,
    executed_version: Option<String>,
}

impl Alarm {
    /// A period in real time, on a clock `time_scale` times faster.
    fn real_period(&self, time_scale: f64) -> Duration {
        crate::clock::to_real(self.period, time_scale)
    }

    /// How far back the alarm looks, in real time at `time_scale`: its evaluation periods.
    pub(crate) fn window(&self, time_scale: f64) -> Duration {
        self.real_period(time_scale) * self.evaluation_periods
    }

    /// When to look at the alarm next, after `elapsed` (real time since the start): just
    /// after each period ends, and again half a period later. Invocations are recorded when
    /// they end, stamped with when they started, so one still running at a period's end
    /// counts in that period only once it is recorded; the second look sees it.
    pub(crate) fn next_evaluation(&self, elapsed: Duration, time_scale: f64) -> Duration {
        let period = self.real_period(time_scale).as_secs_f64();
        let grace = (period / 10.0).min(0.02);
        let now = elapsed.as_secs_f64();
        let start = (now / period).floor() * period;
        let next = [start + grace, start + period / 2.0, start + period + grace]
            .into_iter()
            .find(|t| *t > now)
            .unwrap_or(start + period + grace);
        Duration::from_secs_f64(next)
    }

    /// The alarm's state at `now`, from the periods completed since `start`, with the
    /// clock `time_scale` times faster than real (a 60 s period lasts 60/scale s).
    pub fn evaluate<'r, I>(
        &self,
        records: I,
        start: SystemTime,
        now: SystemTime,
        time_scale: f64,
    ) -> AlarmState
    where
        I: IntoIterator<Item = &'r InvocationRecord> + Clone,
    {
        let period = self.real_period(time_scale);
        let elapsed = now.duration_since(start).unwrap_or_default();
        let completed = (elapsed.as_secs_f64() / period.as_secs_f64()).floor() as u64;
        let first = completed.saturating_sub(u64::from(self.evaluation_periods));
        let mut breaching = 0;
        for index in first..completed {
            let from = start + period.mul_f64(index as f64);
            let to = from + period;
            let values: Vec<f64> = records
                .clone()
                .into_iter()
                .filter(|r| r.at >= from && r.at < to && self.matches(r))
                .filter_map(|r| self.value(r))
                .collect();
            let breached = match self.statistic_of(&values) {
                None => self.missing_breaches,
                Some(stat) => match self.comparison {
                    Comparison::GreaterThan => stat > self.threshold,
                    Comparison::GreaterOrEqual => stat >= self.threshold,
                    Comparison::LessThan => stat < self.threshold,
                    Comparison::LessOrEqual => stat <= self.threshold,
                },
            };
            breaching += u32::from(breached);
        }
        if breaching >= self.datapoints_to_alarm {
            AlarmState::Alarm
        } else {
            AlarmState::Ok
        }
    }

    fn matches(&self, record: &InvocationRecord) -> bool {
        if self
            .function
            .as_ref()
            .is_some_and(|f| *f != record.function_name)
        {
            return false;
        }
        if let Some(resource) = &self.resource {
            let qualifier = record
                .alias
                .clone()
                .unwrap_or_else(|| record.executed_version.clone());
            if *resource != format!("{}:{qualifier}", record.function_name)
                && *resource != record.function_name
            {
                return false;
            }
        }
        self.executed_version
            .as_ref()
            .is_none_or(|v| *v == record.executed_version)
    }

    /// The record's contribution to the metric: a data point, or none.
    fn value(&self, record: &InvocationRecord) -> Option<f64> {
        match self.metric {
            Metric::Invocations => (!record.throttled).then_some(1.0),
            Metric::Errors => (!record.throttled).then_some(if record.error { 1.0 } else { 0.0 }),
            Metric::Throttles => record.throttled.then_some(1.0),
            Metric::Duration => {
                (!record.throttled).then_some(record.duration.as_secs_f64() * 1000.0)
            }
        }
    }

    fn statistic_of(&self, values: &[f64]) -> Option<f64> {
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f64;
        Some(match self.statistic {
            Stat::Sum => values.iter().sum(),
            Stat::Average => values.iter().sum::<f64>() / n,
            Stat::Maximum => values.iter().copied().fold(f64::MIN, f64::max),
            Stat::Minimum => values.iter().copied().fold(f64::MAX, f64::min),
            Stat::SampleCount => n,
            Stat::Percentile(p) => {
                let mut sorted = values.to_vec();
                sorted.sort_by(f64::total_cmp);
                let rank = ((p / 100.0) * n).ceil().max(1.0) as usize;
                sorted[rank.min(sorted.len()) - 1]
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sam::template::Resolver;
    use serde_json::json;
    use serde_json::Value;

    fn resolver() -> Resolver {
        Resolver {
            function_names: [("Fn".to_owned(), "hello".to_owned())].into(),
            versions: [("Fn".to_owned(), ("live".to_owned(), "2".to_owned()))].into(),
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            ..Resolver::default()
        }
    }

    fn typed(props: Value) -> crate::sam::template::AlarmProperties {
        serde_json::from_value(props).unwrap()
    }

    fn errors_alarm(extra: Value) -> Alarm {
        let mut props = json!({
            "Namespace": "AWS/Lambda", "MetricName": "Errors", "Statistic": "Sum", "Period": 60,
            "EvaluationPeriods": 1, "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold",
            "Dimensions": [
                {"Name": "FunctionName", "Value": {"Ref": "Fn"}},
                {"Name": "Resource", "Value": {"Fn::Sub": "${Fn}:live"}},
                {"Name": "ExecutedVersion", "Value": {"Fn::GetAtt": ["Fn", "Version.Version"]}},
            ],
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                props.as_object_mut().unwrap().remove(k);
            } else {
                props[k] = v.clone();
            }
        }
        Alarm::from_template("Errors", &typed(props), &resolver()).unwrap()
    }

    fn record(
        at: SystemTime,
        alias: Option<&str>,
        version: &str,
        error: bool,
        ms: u64,
    ) -> InvocationRecord {
        InvocationRecord::of_hello(at, alias, version, error, ms)
    }

    #[test]
    fn alarms_are_looked_at_after_each_period_and_again_half_a_period_later() {
        let alarm = errors_alarm(json!({}));
        let ms = |n: u64| Duration::from_millis(n);
        // Time scale 60: the 60 s period lasts 1 s; the grace is 20 ms.
        let mut at = Duration::ZERO;
        let mut seen = Vec::new();
        for _ in 0..5 {
            at = alarm.next_evaluation(at, 60.0);
            seen.push(at.as_millis());
        }
        assert_eq!(seen, [20, 500, 1020, 1500, 2020]);
        assert_eq!(alarm.next_evaluation(ms(1019), 60.0), ms(1020));
    }

    #[test]
    fn an_error_of_the_new_version_through_the_alias_trips_it_after_the_period() {
        let alarm = errors_alarm(json!({}));
        let start = SystemTime::UNIX_EPOCH;
        let second = Duration::from_secs(1);
        // Time scale 60: a 60 s period lasts 1 s.
        let records = vec![
            record(start, Some("live"), "1", true, 1), // the old version: not this alarm's
            record(start, None, "2", true, 1), // the hook's direct call: not through the alias
            record(start + second / 2, Some("live"), "2", false, 1),
            record(start + second + second / 2, Some("live"), "2", true, 1),
        ];
        assert_eq!(
            alarm.evaluate(&records, start, start + second, 60.0),
            AlarmState::Ok
        );
        assert_eq!(
            alarm.evaluate(&records, start, start + second * 2, 60.0),
            AlarmState::Alarm
        );
        assert_eq!(
            alarm.evaluate(&records[..3], start, start + second * 2, 60.0),
            AlarmState::Ok
        );
    }

    #[test]
    fn percentiles_and_missing_data_follow_cloudwatch() {
        let p99 = errors_alarm(
            json!({"MetricName": "Duration", "Statistic": null, "ExtendedStatistic": "p99", "Threshold": 100}),
        );
        let start = SystemTime::UNIX_EPOCH;
        let fast: Vec<_> = (0..100)
            .map(|i| {
                record(
                    start,
                    Some("live"),
                    "2",
                    false,
                    if i == 99 { 500 } else { 10 },
                )
            })
            .collect();
        assert_eq!(
            p99.evaluate(&fast, start, start + Duration::from_secs(1), 60.0),
            AlarmState::Ok,
            "p99 of 100 is the 99th"
        );
        let slow: Vec<_> = (0..100)
            .map(|_| record(start, Some("live"), "2", false, 500))
            .collect();
        assert_eq!(
            p99.evaluate(&slow, start, start + Duration::from_secs(1), 60.0),
            AlarmState::Alarm
        );
        let breaching = errors_alarm(json!({"TreatMissingData": "breaching"}));
        assert_eq!(
            breaching.evaluate(&[], start, start + Duration::from_secs(1), 60.0),
            AlarmState::Alarm
        );
        assert_eq!(
            errors_alarm(json!({})).evaluate(&[], start, start + Duration::from_secs(1), 60.0),
            AlarmState::Ok
        );
    }

    #[test]
    fn alarms_it_cannot_evaluate_are_errors_naming_the_field() {
        for (extra, field) in [
            (json!({"Namespace": "AWS/SQS"}), "Namespace"),
            (json!({"MetricName": "ConcurrentExecutions"}), "MetricName"),
            (json!({"Metrics": []}), "Metrics"),
            (
                json!({"ComparisonOperator": "LessThanLowerThreshold"}),
                "ComparisonOperator",
            ),
            (json!({"Statistic": "p50"}), "Statistic"),
        ] {
            let mut props = json!({"Namespace": "AWS/Lambda", "MetricName": "Errors", "Statistic": "Sum", "Period": 60,
                "EvaluationPeriods": 1, "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold"});
            for (k, v) in extra.as_object().unwrap() {
                props[k] = v.clone();
            }
            let err = Alarm::from_template("MyAlarm", &typed(props), &resolver())
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(&format!("alarm MyAlarm: {field}")), "{err}");
        }
    }
}
