//! The canary analysis of `template.yaml`'s hooks, rehearsed end to end: both versions of
//! hello fail a fraction of real traffic (`HELLO_FAULT=flaky:P`), the alarms' threshold is
//! as loose as a team with a baseline error rate would set it, and only the comparison of the
//! versions tells a flakier release apart.

use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use codedeploy_local::{DeploymentOutcome, DeploymentStatus, RehearsalOptions, StandIn, Traffic};
use e2e::{rehearse, template};

/// A rehearsal of a linear shift (ten steps, ten minutes at x30: 20 s) with 250 calls a second
/// through the alias: a few thousand calls, split between the versions as the weights move.
fn flaky(current: &str, new: &str) -> RehearsalOptions {
    let mut options = RehearsalOptions::default();
    options.time_scale = 30.0;
    options.deployment_type = Some("Linear10PercentEvery1Minute".into());
    options.current_env = vec![("HELLO_FAULT".into(), format!("flaky:{current}"))];
    options.target_env = vec![("HELLO_FAULT".into(), format!("flaky:{new}"))];
    options.traffic = Some(Traffic::new(250.0, br#"{"name": "traffic"}"#.to_vec()));
    options.environments = 2;
    options
}

/// The template with its errors alarms at 1,000 a minute: they see nothing of a few percent.
fn loose_alarms() -> codedeploy_local::Template {
    let mut template = template();
    template
        .parameters
        .insert("ErrorsThreshold".into(), "1000".into());
    template
}

fn describe(outcome: &DeploymentOutcome) -> String {
    format!(
        "{:?} {:?}\n{:#?}",
        outcome.status, outcome.error, outcome.timeline
    )
}

#[tokio::test]
async fn a_version_that_fails_eight_percent_against_one_is_rolled_back_by_the_analysis() {
    let (local, outcome) = rehearse(&loose_alarms(), flaky("0.01", "0.08"), |_, _| {}).await;
    assert_ne!(
        outcome.status,
        DeploymentStatus::Succeeded,
        "{}",
        describe(&outcome)
    );
    let (code, reason) = outcome.error.clone().expect("a reason");
    assert_ne!(
        code,
        "ALARM_ACTIVE",
        "no alarm saw it: {}",
        describe(&outcome)
    );
    // The watch's round or the PostTraffic hook: either way the analysis, with both rates.
    assert!(
        reason.contains("canary analysis Fail (version 2 against 1): errors Fail"),
        "{reason}"
    );
    assert!(
        reason.contains("now vs") && reason.contains("on the new version"),
        "{reason}"
    );
    assert_eq!(
        local
            .alias("HelloFunction", "live")
            .unwrap()
            .function_version,
        "1",
        "rolled back"
    );
}

/// `Sum` of a metric over the last hour, from the stand-in's CloudWatch through the real SDK
/// (smithy-rpc-v2-cbor).
async fn sum(local: &StandIn, namespace: &str, name: &str, dimensions: &[(&str, &str)]) -> f64 {
    let client = aws_sdk_cloudwatch::Client::new(&e2e::sdk_config(local.endpoint()));
    let metric = Metric::builder()
        .namespace(namespace)
        .metric_name(name)
        .set_dimensions(Some(
            dimensions
                .iter()
                .map(|(n, v)| Dimension::builder().name(*n).value(*v).build())
                .collect(),
        ))
        .build();
    let query = MetricDataQuery::builder()
        .id("m")
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(3600)
                .stat("Sum")
                .build(),
        )
        .build();
    let now = SystemTime::now();
    let out = client
        .get_metric_data()
        .metric_data_queries(query)
        .start_time(DateTime::from(now - Duration::from_secs(1800)))
        .end_time(DateTime::from(now + Duration::from_secs(60)))
        .send()
        .await
        .expect("GetMetricData");
    out.metric_data_results()[0].values().iter().sum()
}

/// Ten good releases (both versions fail 1% of real traffic): none is failed by the
/// analysis, in the watch's rounds or after the shift. And what the analysis read is in the
/// stand-in's CloudWatch for anyone: the alias's invocations per version, and the metrics of
/// the EMF records the hooks printed.
#[tokio::test]
async fn equally_flaky_versions_pass_ten_times_out_of_ten() {
    let template = loose_alarms();
    // Five at a time: ten at once on two cores starve the traffic, and a canary analysis
    // with fewer calls has less to go on.
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let runs = (0..5).map(|_| rehearse(&template, flaky("0.01", "0.01"), |_, _| {}));
        outcomes.extend(futures::future::join_all(runs).await);
    }
    let (local, outcome) = &outcomes[0];
    let through = |version| {
        [
            ("FunctionName", "HelloFunction"),
            ("Resource", "HelloFunction:live"),
            ("ExecutedVersion", version),
        ]
    };
    let served = sum(local, "AWS/Lambda", "Invocations", &through("1")).await
        + sum(local, "AWS/Lambda", "Invocations", &through("2")).await;
    assert!(served >= outcome.requests_through_alias as f64, "{served}");
    let post = [("FunctionName", "HelloFunction"), ("Phase", "PostTraffic")];
    // The PostTraffic hook's checks (the analysis and the alias's), from its EMF record.
    assert!(sum(local, "CodeDeployHooks", "ChecksPassed", &post).await >= 2.0);
    for (i, (_, outcome)) in outcomes.iter().enumerate() {
        assert_eq!(
            outcome.status,
            DeploymentStatus::Succeeded,
            "run {i}: {}",
            describe(outcome)
        );
        assert!(
            outcome.requests_through_alias > 1000,
            "run {i}: the traffic ran"
        );
    }
}
