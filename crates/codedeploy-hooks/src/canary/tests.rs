//! The analysis through a mocked CloudWatch: what it asks for and how it judges the answer.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::retry::RetryConfig;
use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
use aws_sdk_cloudwatch::types::MetricDataResult;
use aws_smithy_mocks::{mock, mock_client, RuleMode};

use super::*;
use crate::deployment::{Deployment, Phase};
use crate::test_support;
use crate::Target;

type CloudWatch = aws_sdk_cloudwatch::Client;

/// The values of queries m0, m1, ...: the current version's (invocations, errors, p99 in
/// ms), then the new one's in the same order.
const DATA: [f64; 6] = [10_000.0, 10.0, 40.0, 1_000.0, 12.0, 45.0];

/// A target of hello:4 through `live`, current version 3, whose CloudWatch answers from
/// `DATA` and keeps the queries it was asked.
fn target(asked: Arc<Mutex<Vec<String>>>) -> Target {
    target_of(hello_4(), asked, &DATA)
}

fn hello_4() -> Deployment {
    let mut deployment = Deployment::new("hello", "4")
        .with_phase(Phase::PostTraffic)
        .with_alias("live");
    deployment.current_version = Some("3".into());
    deployment
}

/// A target of `deployment` whose CloudWatch answers query m`i` with `values[i]`.
fn target_of(deployment: Deployment, asked: Arc<Mutex<Vec<String>>>, values: &[f64]) -> Target {
    let values = values.to_vec();
    let rule = mock!(CloudWatch::get_metric_data)
        .match_requests(move |r| {
            for q in r.metric_data_queries() {
                let stat = q.metric_stat().expect("a metric, not an expression");
                let metric = stat.metric().expect("metric");
                let dims: Vec<String> = metric
                    .dimensions()
                    .iter()
                    .map(|d| format!("{}={}", d.name().unwrap_or(""), d.value().unwrap_or("")))
                    .collect();
                crate::lock(&asked).push(format!(
                    "{} {} {} {} [{}]",
                    q.id().unwrap_or(""),
                    metric.metric_name().unwrap_or(""),
                    stat.stat().unwrap_or(""),
                    stat.period().unwrap_or(0),
                    dims.join(",")
                ));
            }
            true
        })
        .then_output(move || {
            let results = values
                .iter()
                .copied()
                .enumerate()
                .map(|(i, v)| {
                    MetricDataResult::builder()
                        .id(format!("m{i}"))
                        .values(v)
                        .build()
                })
                .collect();
            GetMetricDataOutput::builder()
                .set_metric_data_results(Some(results))
                .build()
        });
    let cloudwatch: CloudWatch =
        mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &[&rule], |b| b
            .retry_config(RetryConfig::disabled()));
    let clients = test_support::clients(test_support::codedeploy(&[]), test_support::lambda(&[]))
        .with_cloudwatch(cloudwatch);
    Target::new(deployment, clients)
}

#[tokio::test]
async fn reads_both_versions_through_the_alias_in_one_period_and_fails_a_worse_one() {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let t = target(Arc::clone(&asked));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let minute = now - now % 60 - 120;
    let since = UNIX_EPOCH + Duration::from_secs(minute + 30);
    let analysis = Analysis::new().errors().latency(99.0, 1.25).since(since);
    let report = t.analyse(&analysis).await.expect("analysed");
    assert_eq!(report.verdict, Verdict::Fail, "{}", report.table());
    assert_eq!(report.start, UNIX_EPOCH + Duration::from_secs(minute));
    let errors = &report.metrics[0];
    assert_eq!(
        (errors.metric.as_str(), errors.verdict),
        ("errors", Verdict::Fail)
    );
    assert_eq!(
        (errors.current_samples, errors.new_samples),
        (10_000, 1_000)
    );
    assert!(
        errors
            .explanation
            .contains("10 of 10000 (0.10%) now vs 12 of 1000 (1.20%)"),
        "{}",
        errors.explanation
    );
    let latency = &report.metrics[1];
    // 45 ms against 40 ms x 1.25 + 5 ms = 55 ms: within.
    assert_eq!(
        (latency.metric.as_str(), latency.verdict),
        ("p99 latency", Verdict::Pass)
    );
    let asked = crate::lock(&asked).clone();
    // The one period the analysis read: whole minutes from the minute `since` fell in, past
    // now (the window covers 2 to 3 minutes here).
    let period = report.period.as_secs();
    assert!(matches!(period, 120 | 180), "{period}");
    assert!(report.start + report.period >= report.end);
    let dims = |v: &str| format!("[FunctionName=hello,Resource=hello:live,ExecutedVersion={v}]");
    assert_eq!(
        asked,
        [
            format!("m0 Invocations Sum {period} {}", dims("3")),
            format!("m1 Errors Sum {period} {}", dims("3")),
            format!("m2 Duration p99 {period} {}", dims("3")),
            format!("m3 Invocations Sum {period} {}", dims("4")),
            format!("m4 Errors Sum {period} {}", dims("4")),
            format!("m5 Duration p99 {period} {}", dims("4")),
        ]
    );
    assert_eq!(
        t.take_analyses(),
        std::slice::from_ref(&report),
        "kept for the summary"
    );
    let failure = report.failure(true).expect("fails");
    assert!(
        failure.starts_with("canary analysis Fail (version 4 against 3): errors Fail"),
        "{failure}"
    );
}

#[tokio::test]
async fn a_custom_metric_is_read_per_version_and_judged_in_its_direction() {
    let asked = Arc::new(Mutex::new(Vec::new()));
    // Per version: invocations, the average orders per call, its sample count.
    let t = target_of(
        hello_4(),
        Arc::clone(&asked),
        &[1_000.0, 10.0, 1_000.0, 500.0, 8.0, 500.0],
    );
    let orders = CustomMetric::new("Shop", "Orders", "Average")
        .dimension("Service", "checkout")
        .version_dimension("Version")
        .direction(Direction::LowerIsWorse)
        .max_ratio(1.1);
    let since = SystemTime::now() - Duration::from_secs(300);
    let report = t
        .analyse(&Analysis::new().custom(orders).since(since))
        .await
        .unwrap();
    let metric = &report.metrics[0];
    assert_eq!(metric.metric, "Shop/Orders Average");
    // 8 orders a call against 10 / 1.1 = 9.09: lower is worse, and it is.
    assert_eq!(metric.verdict, Verdict::Fail, "{}", metric.explanation);
    assert_eq!(
        (metric.current, metric.new, metric.new_samples),
        (10.0, 8.0, 500)
    );
    assert!(
        metric.explanation.contains("below the bound 9.091"),
        "{}",
        metric.explanation
    );
    let asked = crate::lock(&asked).clone();
    assert!(
        asked[1].starts_with("m1 Orders Average")
            && asked[1].ends_with("[Service=checkout,Version=3]"),
        "{asked:?}"
    );
    assert!(asked[2].starts_with("m2 Orders SampleCount"), "{asked:?}");
    assert!(
        asked[4].ends_with("[Service=checkout,Version=4]"),
        "{asked:?}"
    );
}

#[tokio::test]
async fn without_a_current_version_or_a_window_it_says_what_is_missing() {
    let mut no_current = hello_4();
    no_current.current_version = None;
    let err = target_of(no_current, Arc::default(), &DATA)
        .analyse(&Analysis::new().errors())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("the current version is unknown"), "{err}");
    let err = target(Arc::default())
        .analyse(&Analysis::new().errors())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("there is no deployment to start the window at; set Analysis::since"),
        "{err}"
    );
}

#[test]
fn inconclusive_fails_a_hook_and_carries_on_in_a_watch_unless_told() {
    let report = CanaryReport {
        verdict: Verdict::Inconclusive,
        function_name: "hello".into(),
        alias: "live".into(),
        current_version: "3".into(),
        new_version: "4".into(),
        start: SystemTime::UNIX_EPOCH,
        end: SystemTime::UNIX_EPOCH,
        period: Duration::from_secs(60),
        metrics: Vec::new(),
    };
    let default = Analysis::new();
    assert!(report.failure(default.inconclusive_fails(false)).is_some());
    assert!(report.failure(default.inconclusive_fails(true)).is_none());
    let strict = Analysis::new().on_inconclusive(OnInconclusive::Fail);
    assert!(report.failure(strict.inconclusive_fails(true)).is_some());
    let lenient = Analysis::new().on_inconclusive(OnInconclusive::Pass);
    assert!(report.failure(lenient.inconclusive_fails(false)).is_none());
}

/// Through the hook's tower Service, on the fake (which has no metric data): the analysis is
/// inconclusive, which fails a hook by default, and its report is in the summary, its table
/// and the EMF record.
#[cfg(feature = "testing")]
#[tokio::test]
async fn a_hooks_analysis_is_in_its_summary_table_and_metric_record() {
    use crate::testing::FakeTarget;
    let fake = FakeTarget::new("hello", "4").alias("live", "3");
    let hook = crate::Hook::new().analyse(Analysis::new().errors());
    let summary = fake.run(hook).await.expect("a summary");
    assert_eq!(summary.status, crate::Status::Failed, "{}", summary.table());
    let report = &summary.canary[0];
    assert_eq!(
        (report.verdict, report.current_version.as_str()),
        (Verdict::Inconclusive, "3")
    );
    let reason = summary.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("canary analysis Inconclusive (version 4 against 3)"),
        "{reason}"
    );
    assert!(
        summary
            .table()
            .contains("canary analysis: Inconclusive (hello:live version 4 against 3"),
        "{}",
        summary.table()
    );
    let record: serde_json::Value = serde_json::from_str(&summary.metric_record("NS", 0)).unwrap();
    assert_eq!(record["Canary"][0]["verdict"], "Inconclusive");
    assert_eq!(record["Canary"][0]["metrics"]["errors"]["new_samples"], 0);
    assert_eq!(fake.reported().as_deref(), Some("Failed"));
    // Told to carry on when inconclusive, the same hook passes.
    let lenient = crate::Hook::new().analyse(
        Analysis::new()
            .errors()
            .on_inconclusive(OnInconclusive::Pass),
    );
    assert_eq!(
        fake.run(lenient).await.unwrap().status,
        crate::Status::Succeeded
    );
}
