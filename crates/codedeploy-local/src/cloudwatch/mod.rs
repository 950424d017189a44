//! CloudWatch metrics, as the stand-in keeps them: `AWS/Lambda` metrics of the invocations
//! it really served (the records its alarms read) and the metrics of the EMF records its
//! functions print, in one-second distributions for `GetMetricData`.
//!
//! Memory is bounded by time, not by invocations: one distribution per series and second
//! (percentile bins of 1%), kept for three hours as CloudWatch keeps high-resolution data.
//! Timestamps are real time: a rehearsal's compressed clock does not stretch them.

mod dist;
pub(crate) mod emf;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dist::Dist;
pub(crate) use dist::Stat;

use crate::invocation::InvocationRecord;
use crate::sync::lock;

/// How long data points are kept: CloudWatch keeps sub-minute data for three hours.
const RETENTION: Duration = Duration::from_secs(3 * 3600);

/// A metric's identity: namespace, name and dimensions (sorted by name).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SeriesKey {
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) dimensions: Vec<(String, String)>,
}

impl SeriesKey {
    pub(crate) fn new(namespace: &str, name: &str, mut dimensions: Vec<(String, String)>) -> Self {
        dimensions.sort();
        SeriesKey {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            dimensions,
        }
    }
}

/// The invocations of one function by one qualifier and executed version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct LambdaKey {
    function: String,
    /// What `Resource` is: `function:alias` or `function:version`; `None` unqualified.
    qualifier: Option<String>,
    /// The executed version, when invoked through an alias (Lambda's `ExecutedVersion`).
    executed_version: Option<String>,
}

/// One second of a function's invocations: the `AWS/Lambda` metrics.
#[derive(Debug, Clone, Default)]
struct LambdaSecond {
    invocations: Dist,
    errors: Dist,
    throttles: Dist,
    duration: Dist,
}

impl LambdaSecond {
    fn metric(&self, name: &str) -> Option<&Dist> {
        Some(match name {
            "Invocations" => &self.invocations,
            "Errors" => &self.errors,
            "Throttles" => &self.throttles,
            "Duration" => &self.duration,
            _ => return None,
        })
    }
}

type Seconds<T> = BTreeMap<u64, T>;

#[derive(Debug, Default)]
struct Store {
    lambda: HashMap<LambdaKey, Seconds<LambdaSecond>>,
    custom: HashMap<SeriesKey, Seconds<Dist>>,
    /// The second of the last pass that dropped data older than the retention.
    pruned_at: u64,
}

/// The stand-in's CloudWatch metrics.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    store: Mutex<Store>,
}

/// One query of `GetMetricData`: a metric, its statistic and period.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MetricQuery {
    pub(crate) key: SeriesKey,
    pub(crate) stat: Stat,
    pub(crate) period: u64,
}

fn epoch_second(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Metrics {
    /// Count an invocation in `AWS/Lambda`.
    pub(crate) fn record(&self, record: &InvocationRecord) {
        let through_alias = record.alias.is_some();
        let qualifier = match (&record.alias, record.executed_version.as_str()) {
            (Some(alias), _) => Some(format!("{}:{alias}", record.function_name)),
            (None, "" | crate::invocation::LATEST) => None,
            (None, version) => Some(format!("{}:{version}", record.function_name)),
        };
        let key = LambdaKey {
            function: record.function_name.clone(),
            qualifier,
            executed_version: (through_alias && !record.executed_version.is_empty())
                .then(|| record.executed_version.clone()),
        };
        let second = epoch_second(record.at);
        let mut store = lock(&self.store);
        store.prune(second);
        let datum = store
            .lambda
            .entry(key)
            .or_default()
            .entry(second)
            .or_default();
        if record.throttled {
            datum.throttles.add(1.0, 1);
        } else {
            datum.invocations.add(1.0, 1);
            datum.errors.add(if record.error { 1.0 } else { 0.0 }, 1);
            datum
                .duration
                .add(record.duration.as_secs_f64() * 1000.0, 1);
        }
    }

    /// Turn a line of a function's output into metrics, if it is an EMF record.
    pub(crate) fn offer_log_line(&self, line: &str) {
        let data = emf::parse(line);
        if data.is_empty() {
            return;
        }
        let mut store = lock(&self.store);
        for datum in data {
            let second = datum.timestamp_ms / 1000;
            store.prune(second);
            let dist = store
                .custom
                .entry(datum.key)
                .or_default()
                .entry(second)
                .or_default();
            for value in datum.values {
                dist.add(value, 1);
            }
        }
    }

    /// The data points of `query` from `start` (inclusive) to `end` (exclusive), one per
    /// period with data, as `(epoch second, value)` in time order.
    pub(crate) fn datapoints(&self, query: &MetricQuery, start: u64, end: u64) -> Vec<(u64, f64)> {
        let period = query.period.max(1);
        if start >= end {
            return Vec::new();
        }
        let store = lock(&self.store);
        let mut buckets: BTreeMap<u64, Dist> = BTreeMap::new();
        let mut add = |second: u64, dist: &Dist| {
            let bucket = start + (second - start) / period * period;
            buckets.entry(bucket).or_default().merge(dist);
        };
        if query.key.namespace == "AWS/Lambda" {
            let Some(matches) = lambda_matcher(&query.key.dimensions) else {
                return Vec::new();
            };
            for (_, seconds) in store.lambda.iter().filter(|(k, _)| matches(k)) {
                for (&second, datum) in seconds.range(start..end) {
                    if let Some(dist) = datum.metric(&query.key.name) {
                        add(second, dist);
                    }
                }
            }
        } else if let Some(seconds) = store.custom.get(&query.key) {
            for (&second, dist) in seconds.range(start..end) {
                add(second, dist);
            }
        }
        buckets
            .into_iter()
            .filter_map(|(at, dist)| Some((at, dist.statistic(query.stat)?)))
            .collect()
    }
}

impl Store {
    /// Drop data older than the retention, at most once a minute.
    fn prune(&mut self, now: u64) {
        if now < self.pruned_at + 60 {
            return;
        }
        self.pruned_at = now;
        let oldest = now.saturating_sub(RETENTION.as_secs());
        self.lambda.retain(|_, seconds| {
            *seconds = seconds.split_off(&oldest);
            !seconds.is_empty()
        });
        self.custom.retain(|_, seconds| {
            *seconds = seconds.split_off(&oldest);
            !seconds.is_empty()
        });
    }
}

/// Which of Lambda's invocations a query's dimensions select: the dimension sets Lambda
/// publishes are none, `FunctionName`, `FunctionName`+`Resource`, and those with
/// `ExecutedVersion` (invocations through an alias). Any other set has no data, as in
/// CloudWatch, where a query must name a metric's dimensions exactly.
fn lambda_matcher(dimensions: &[(String, String)]) -> Option<impl Fn(&LambdaKey) -> bool + '_> {
    let get = |name: &str| dimensions.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let (function, resource, version) =
        (get("FunctionName"), get("Resource"), get("ExecutedVersion"));
    let known = usize::from(function.is_some())
        + usize::from(resource.is_some())
        + usize::from(version.is_some());
    let valid = known == dimensions.len()
        && (function.is_some() || dimensions.is_empty())
        && (version.is_none() || resource.is_some());
    valid.then_some(move |key: &LambdaKey| {
        function.is_none_or(|f| *f == key.function)
            && resource.is_none_or(|r| key.qualifier.as_ref() == Some(r))
            && version.is_none_or(|v| key.executed_version.as_ref() == Some(v))
    })
}

#[cfg(test)]
mod tests;
