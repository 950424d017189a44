//! Whole deployments of `template.yaml` through the stand-in, with the real example binaries:
//! hooks, traffic shifting, alarms and rollback.

use codedeploy_local::{
    DeploymentOutcome, DeploymentStatus, ErrorCode, Event, Fault, Operation, RehearsalOptions,
    Template, Traffic,
};
use e2e::{rehearse, template};

fn options(time_scale: f64, fault: Option<&str>) -> RehearsalOptions {
    let mut options = RehearsalOptions::default();
    options.time_scale = time_scale;
    if let Some(fault) = fault {
        options.target_env = vec![("HELLO_FAULT".into(), fault.into())];
    }
    options
}

/// The timeline's events, without the watch's rounds (their number depends on timing; the
/// watch has its own tests in `watch.rs`).
fn events(outcome: &DeploymentOutcome) -> Vec<Event> {
    outcome
        .timeline
        .iter()
        .map(|e| e.event)
        .filter(|e| *e != Event::WatchRound)
        .collect()
}

fn error_code(outcome: &DeploymentOutcome) -> Option<&str> {
    outcome.error.as_ref().map(|(code, _)| code.as_str())
}

#[tokio::test]
async fn a_good_release_ends_with_the_alias_on_the_new_version() {
    let (local, outcome) = rehearse(&template(), options(600.0, None), |_, _| {}).await;
    assert_eq!(
        outcome.status,
        DeploymentStatus::Succeeded,
        "{:#?}",
        outcome.timeline
    );
    assert_eq!(
        events(&outcome),
        [
            Event::DeploymentStarted,
            Event::HookInvoked,
            Event::HookSucceeded,
            Event::TrafficShifted,
            Event::TrafficShifted,
            Event::HookInvoked,
            Event::HookSucceeded,
            Event::DeploymentSucceeded
        ]
    );
    assert_eq!(
        local
            .alias("HelloFunction", "live")
            .unwrap()
            .function_version,
        "2"
    );
    assert!(
        outcome.target_requests_through_alias >= 1,
        "the post-traffic hook called the public URL (and the watch the alias)"
    );
}

#[tokio::test]
async fn a_wrong_body_fails_pre_traffic_and_no_request_reaches_the_new_version_through_the_alias() {
    let mut opts = options(600.0, Some("wrong-body"));
    opts.traffic = Some(Traffic::new(50.0, br#"{"name": "traffic"}"#.to_vec()));
    let (local, outcome) = rehearse(&template(), opts, |_, _| {}).await;
    assert_eq!(outcome.status, DeploymentStatus::Failed);
    assert_eq!(error_code(&outcome), Some("HOOK_EXECUTION_FAILURE"));
    let (_, message) = outcome.error.clone().unwrap();
    assert!(
        message.contains("greets by name"),
        "the hook's reason is shown: {message}"
    );
    assert!(!events(&outcome).contains(&Event::TrafficShifted));
    assert!(outcome.requests_through_alias > 0, "the traffic ran");
    assert_eq!(outcome.target_requests_through_alias, 0);
    assert_eq!(
        local
            .alias("HelloFunction", "live")
            .unwrap()
            .function_version,
        "1"
    );
}

#[tokio::test]
async fn an_error_only_real_traffic_sees_trips_the_alarm_mid_shift_and_rolls_back() {
    // The checks mark their calls as smoke traffic, which error-unmarked spares: the hooks
    // pass, and only the alarms on real traffic catch the bug. At x60 the canary holds 10 %
    // for 5 s of real time, and an alarm period lasts 1 s.
    let mut opts = options(60.0, Some("error-unmarked"));
    opts.traffic = Some(Traffic::new(50.0, br#"{"name": "traffic"}"#.to_vec()));
    let (local, outcome) = rehearse(&template(), opts, |_, _| {}).await;
    assert_eq!(
        error_code(&outcome),
        Some("ALARM_ACTIVE"),
        "{:#?}",
        outcome.timeline
    );
    let (_, message) = outcome.error.clone().unwrap();
    assert!(message.contains("NewVersionErrorsAlarm"), "{message}");
    let events = events(&outcome);
    let shifted = events
        .iter()
        .position(|e| *e == Event::TrafficShifted)
        .expect("traffic shifted");
    let alarm = events
        .iter()
        .position(|e| *e == Event::Stopped(ErrorCode::AlarmActive))
        .expect("the alarm fired");
    assert!(shifted < alarm, "{events:?}");
    assert_eq!(
        events
            .iter()
            .filter(|e| **e == Event::TrafficShifted)
            .count(),
        1,
        "stopped at 10 %: {events:?}"
    );
    assert!(
        events.contains(&Event::HookSucceeded),
        "the PreTraffic hook passed: {events:?}"
    );
    // What the team would be told, from template.yaml's wiring, in order: the alarm, the
    // failed deployment, the rollback (then nothing more).
    let notes: Vec<&str> = outcome
        .timeline
        .iter()
        .filter(|e| e.event == Event::NotificationPublished)
        .map(|e| e.detail.as_str())
        .collect();
    let expected = [
        "to DeploymentNotificationsTopic: alarm NewVersionErrorsAlarm is ALARM",
        "to DeploymentNotificationsTopic: DeploymentFailure (trigger hello-deployment-problems): ALARM_ACTIVE",
        "to DeploymentNotificationsTopic: DeploymentRollback (trigger hello-deployment-problems)",
    ];
    let mut at = 0;
    for want in expected {
        let found = notes[at..].iter().position(|n| n.starts_with(want));
        at += found.unwrap_or_else(|| {
            panic!("no notification `{want}` after the ones before it: {notes:#?}")
        }) + 1;
    }
    let rolled_back = events.iter().position(|e| *e == Event::RolledBack).unwrap();
    assert_eq!(
        &events[rolled_back..],
        [Event::RolledBack, Event::NotificationPublished],
        "the rollback is the last change, then its notification"
    );
    assert!(outcome.target_requests_through_alias > 0);
    assert_eq!(
        local
            .alias("HelloFunction", "live")
            .unwrap()
            .function_version,
        "1"
    );
    assert!(local
        .alias("HelloFunction", "live")
        .unwrap()
        .additional_weights
        .is_empty());
}

#[tokio::test]
async fn a_hook_that_never_reports_ends_in_timeout() {
    // `hello` as the PreTraffic hook: it answers, but never reports to CodeDeploy.
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"),
    )
    .unwrap();
    let silent = text.replacen("Binary: pre-traffic", "Binary: hello", 1);
    let template = Template::parse(std::path::Path::new("silent.yaml"), &silent).unwrap();
    // x3600: the hour CodeDeploy waits lasts 1 s.
    let (local, outcome) = rehearse(&template, options(3600.0, None), |_, _| {}).await;
    assert_eq!(outcome.status, DeploymentStatus::Failed);
    assert_eq!(
        error_code(&outcome),
        Some("TIMEOUT"),
        "{:#?}",
        outcome.timeline
    );
    assert_eq!(
        local
            .alias("HelloFunction", "live")
            .unwrap()
            .function_version,
        "1"
    );
}

#[tokio::test]
async fn a_report_throttled_twice_still_succeeds() {
    let (local, outcome) = rehearse(&template(), options(600.0, None), |local, _| {
        local.faults().inject(
            Operation::PutLifecycleEventHookExecutionStatus,
            Fault::Throttle,
            2,
        );
    })
    .await;
    assert_eq!(
        outcome.status,
        DeploymentStatus::Succeeded,
        "{:#?}",
        outcome.timeline
    );
    assert_eq!(
        local
            .faults()
            .pending(Operation::PutLifecycleEventHookExecutionStatus),
        0,
        "both throttles were served"
    );
    let executions = local.hook_executions(&outcome.deployment_id);
    let reports: u32 = executions
        .iter()
        .map(|(id, _, _)| local.hook_reports(&outcome.deployment_id, id))
        .sum();
    assert_eq!(
        reports, 2,
        "one accepted report per hook; the throttled calls were refused before"
    );
}

#[tokio::test]
async fn a_duplicate_delivery_of_the_hook_event_is_harmless() {
    let (local, outcome) = rehearse(&template(), options(600.0, None), |_, plan| {
        plan.duplicate_deliveries = true
    })
    .await;
    assert_eq!(
        outcome.status,
        DeploymentStatus::Succeeded,
        "{:#?}",
        outcome.timeline
    );
    for (id, event, status) in local.hook_executions(&outcome.deployment_id) {
        assert_eq!(
            status,
            Some(codedeploy_local::HookStatus::Succeeded),
            "{event}"
        );
        assert_eq!(
            local.hook_reports(&outcome.deployment_id, &id),
            2,
            "{event}: the second report was refused as already completed"
        );
    }
}
