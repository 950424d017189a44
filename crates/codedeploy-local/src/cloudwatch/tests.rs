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

#[test]
fn lambda_metrics_are_selected_by_the_dimension_sets_lambda_publishes() {
    let metrics = Metrics::default();
    for i in 0..10 {
        metrics.record(&invocation(T0 + i, Some("live"), "1", i == 0, 10));
        metrics.record(&invocation(T0 + i, Some("live"), "2", i < 3, 20));
    }
    metrics.record(&invocation(T0, None, "2", true, 30)); // a hook's call of hello:2
    let fn_live = [("FunctionName", "hello"), ("Resource", "hello:live")];
    let version = |v| [fn_live[0], fn_live[1], ("ExecutedVersion", v)];
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
    // Dimension sets Lambda does not publish have no data.
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
