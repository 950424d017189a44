//! The store: what each dimension set of `AWS/Lambda` selects, periods, EMF metrics.

use std::time::{Duration, UNIX_EPOCH};

use super::*;

const T0: u64 = 1_800_000_000;

fn invocation(
    second: u64,
    alias: Option<&str>,
    version: &str,
    error: bool,
    ms: u64,
) -> InvocationRecord {
    let at = UNIX_EPOCH + Duration::from_secs(second) + Duration::from_millis(500);
    InvocationRecord::of_hello(at, alias, version, error, ms)
}

fn query(name: &str, stat: &str, dimensions: &[(&str, &str)], period: u64) -> MetricQuery {
    let dimensions = dimensions
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    MetricQuery {
        key: SeriesKey::new("AWS/Lambda", name, dimensions),
        stat: Stat::parse(stat).unwrap(),
        period,
    }
}

/// Ten invocations of each version through `live` (one error of 1, three of 2), and a
/// hook's direct call of `hello:2`.
fn recorded() -> Metrics {
    let metrics = Metrics::default();
    for i in 0..10 {
        metrics.record(&invocation(T0 + i, Some("live"), "1", i == 0, 10));
        metrics.record(&invocation(T0 + i, Some("live"), "2", i < 3, 20));
    }
    metrics.record(&invocation(T0, None, "2", true, 30));
    metrics
}

const FN_LIVE: [(&str, &str); 2] = [("FunctionName", "hello"), ("Resource", "hello:live")];

fn version(v: &str) -> [(&str, &str); 3] {
    [FN_LIVE[0], FN_LIVE[1], ("ExecutedVersion", v)]
}

#[test]
fn lambda_metrics_are_selected_by_the_dimension_sets_lambda_publishes() {
    let metrics = recorded();
    let fn_live = FN_LIVE;
    let sum = |q: MetricQuery| metrics.datapoints(&q, T0, T0 + 60);
    assert_eq!(sum(query("Errors", "Sum", &version("1"), 60)), [(T0, 1.0)]);
    assert_eq!(sum(query("Errors", "Sum", &version("2"), 60)), [(T0, 3.0)]);
    assert_eq!(
        sum(query("Invocations", "Sum", &version("2"), 60)),
        [(T0, 10.0)]
    );
    assert_eq!(sum(query("Invocations", "Sum", &fn_live, 60)), [(T0, 20.0)]);
    assert_eq!(
        sum(query(
            "Invocations",
            "Sum",
            &[("FunctionName", "hello")],
            60
        )),
        [(T0, 21.0)]
    );
    assert_eq!(
        sum(query(
            "Invocations",
            "Sum",
            &[("FunctionName", "hello"), ("Resource", "hello:2")],
            60
        )),
        [(T0, 1.0)]
    );
    assert_eq!(sum(query("Invocations", "Sum", &[], 60)), [(T0, 21.0)]);
    assert_eq!(
        sum(query("Duration", "Maximum", &version("1"), 60)),
        [(T0, 10.0)]
    );
}

#[test]
fn dimension_sets_lambda_does_not_publish_have_no_data_and_periods_split_the_window() {
    let metrics = recorded();
    let sum = |q: MetricQuery| metrics.datapoints(&q, T0, T0 + 60);
    assert_eq!(
        sum(query(
            "Invocations",
            "Sum",
            &[("Resource", "hello:live")],
            60
        )),
        []
    );
    assert_eq!(
        sum(query(
            "Invocations",
            "Sum",
            &[("FunctionName", "hello"), ("ExecutedVersion", "1")],
            60
        )),
        []
    );
    assert_eq!(
        sum(query(
            "Invocations",
            "Sum",
            &[("FunctionName", "other")],
            60
        )),
        []
    );
    // Periods of 5 s: two data points, in time order; a window outside has none.
    assert_eq!(
        sum(query("Errors", "Sum", &version("2"), 5)),
        [(T0, 3.0), (T0 + 5, 0.0)]
    );
    assert_eq!(
        metrics.datapoints(&query("Errors", "Sum", &version("2"), 60), T0 + 10, T0 + 70),
        []
    );
}

#[test]
fn emf_records_become_metrics_and_old_data_is_dropped() {
    let metrics = Metrics::default();
    let line = |second: u64, value: u32| {
        format!(
            r#"{{"_aws":{{"Timestamp":{},"CloudWatchMetrics":[{{"Namespace":"Shop","Dimensions":[["Version"]],"Metrics":[{{"Name":"Orders"}}]}}]}},"Version":"2","Orders":{value}}}"#,
            second * 1000
        )
    };
    metrics.offer_log_line(&line(T0, 3));
    metrics.offer_log_line(&line(T0 + 1, 5));
    metrics.offer_log_line("not a record");
    let orders = MetricQuery {
        key: SeriesKey::new("Shop", "Orders", vec![("Version".into(), "2".into())]),
        stat: Stat::Average,
        period: 60,
    };
    assert_eq!(metrics.datapoints(&orders, T0, T0 + 60), [(T0, 4.0)]);
    // Three hours and a minute later, a new record drops the old ones.
    metrics.offer_log_line(&line(T0 + 3 * 3600 + 61, 1));
    assert_eq!(metrics.datapoints(&orders, T0, T0 + 60), []);
}
