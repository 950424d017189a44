//! Reading the metrics: one `GetMetricData` call (paged) for every metric of both versions,
//! one period spanning the whole window so that percentiles are of the whole window.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};

use crate::call::Call;
use crate::error::Error;

/// Pages of `GetMetricData` read at most: a few queries never need more than one.
const MAX_PAGES: usize = 10;

/// One series to read: a metric with its dimensions and statistic.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) dimensions: Vec<(String, String)>,
    pub(crate) stat: String,
}

/// The window as CloudWatch will use it: the start rounded down to the minute (CloudWatch
/// does so for any start within 15 days, per the `GetMetricData` API reference) and one
/// period, a multiple of 60 s, that covers it to `end`.
pub(crate) fn window(start: SystemTime, end: SystemTime) -> (SystemTime, i32) {
    let start_s = start.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let start_s = start_s - start_s % 60;
    let end_s = end
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs_f64().ceil() as u64)
        .max(start_s + 1);
    let minutes = (end_s - start_s).div_ceil(60);
    let period = i32::try_from(minutes * 60).unwrap_or(i32::MAX - 59);
    (UNIX_EPOCH + Duration::from_secs(start_s), period)
}

/// Read every series over one period from `start`: its value (the sum of the data points
/// for `Sum` and `SampleCount`, else the single data point), `None` where there is no data.
///
/// # Errors
/// [`Error::Aws`] when `GetMetricData` fails after its retries.
pub(crate) async fn read(
    client: &aws_sdk_cloudwatch::Client,
    call: Call<'_>,
    series: &[Series],
    start: SystemTime,
    period: i32,
) -> Result<Vec<Option<f64>>, Error> {
    let queries: Vec<MetricDataQuery> = series
        .iter()
        .enumerate()
        .map(|(i, s)| query(i, s, period))
        .collect();
    let end = start + Duration::from_secs(u64::try_from(period).unwrap_or(60));
    let operation = "cloudwatch:GetMetricData";
    let mut values: HashMap<String, Vec<f64>> = HashMap::new();
    let mut next_token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let out = call
            .run(|| {
                let sent = client
                    .get_metric_data()
                    .set_metric_data_queries(Some(queries.clone()))
                    .start_time(DateTime::from(start))
                    .end_time(DateTime::from(end))
                    .set_next_token(next_token.clone())
                    .send();
                async move { sent.await.map_err(|e| Error::aws(operation, e)) }
            })
            .await?;
        for result in out.metric_data_results() {
            if let Some(id) = result.id() {
                values
                    .entry(id.to_owned())
                    .or_default()
                    .extend(result.values());
            }
        }
        next_token = out.next_token().map(str::to_owned);
        if next_token.is_none() {
            break;
        }
    }
    Ok(series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let points = values.get(&id(i)).filter(|v| !v.is_empty())?;
            Some(match s.stat.as_str() {
                "Sum" | "SampleCount" => points.iter().sum(),
                // One period covers the window; more points would only come from a
                // service that split it, and then the worst is the safe one to judge.
                _ => points.iter().copied().fold(f64::MIN, f64::max),
            })
        })
        .collect())
}

fn id(index: usize) -> String {
    format!("m{index}")
}

fn query(index: usize, series: &Series, period: i32) -> MetricDataQuery {
    let dimensions: Vec<Dimension> = series
        .dimensions
        .iter()
        .map(|(name, value)| Dimension::builder().name(name).value(value).build())
        .collect();
    let metric = Metric::builder()
        .namespace(&series.namespace)
        .metric_name(&series.name)
        .set_dimensions(Some(dimensions))
        .build();
    let stat = MetricStat::builder()
        .metric(metric)
        .period(period)
        .stat(&series.stat)
        .build();
    MetricDataQuery::builder()
        .id(id(index))
        .metric_stat(stat)
        .return_data(true)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_starts_on_the_minute_and_one_period_covers_it() {
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        // 1,000,020 is on the minute.
        assert_eq!(window(at(1_000_030), at(1_000_050)), (at(1_000_020), 60));
        assert_eq!(window(at(1_000_030), at(1_000_081)), (at(1_000_020), 120));
        assert_eq!(window(at(1_000_079), at(1_000_080)), (at(1_000_020), 60));
        assert_eq!(window(at(1_000_020), at(1_000_020)), (at(1_000_020), 60));
    }
}
