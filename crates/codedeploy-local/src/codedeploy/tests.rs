//! The engine on tokio's paused clock: each deployment below lasts minutes or an hour of
//! deployment time (time scale 1) and runs in milliseconds, its steps landing on exact
//! seconds whatever the machine. The test writes the invocations an alarm sees and the
//! reports a hook would make; the functions are `/bin/true`, so a hook's delivery fails at
//! once and nothing of the deployment waits on a process.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::deployments::{ReportError, StopRequest};
use super::timeline::{About, Event, HookStep, TimelineEvent};
use crate::alarms::Alarm;
use crate::invocation::InvocationRecord;
use crate::sam::template::{AlarmProperties, Resolver};
use crate::{
    DeploymentOutcome, DeploymentPlan, DeploymentSpec, DeploymentStatus, HookStatus, Options,
    StandIn, TrafficConfig, VersionSpec,
};

/// `hello` 1 (on `live`) and 2, and a hook function.
async fn stand_in() -> StandIn {
    let local = StandIn::start(Options::default()).await.expect("starts");
    for (name, version) in [("hello", "1"), ("hello", "2"), ("hook", "1")] {
        local
            .publish_version(name, version, VersionSpec::new("/bin/true"))
            .expect("published");
    }
    local.set_alias("hello", "live", "1").expect("alias");
    local
}

fn plan(config: &str) -> DeploymentPlan {
    let config: TrafficConfig = config.parse().expect("a configuration");
    DeploymentPlan::new(DeploymentSpec::new("hello", "live", "1", "2"), config, 1.0)
}

/// Errors of version 2 through `live`, summed over a minute: above 0 is ALARM.
fn errors_alarm() -> Alarm {
    let props: AlarmProperties = serde_json::from_value(serde_json::json!({
        "Namespace": "AWS/Lambda", "MetricName": "Errors", "Statistic": "Sum", "Period": 60,
        "EvaluationPeriods": 1, "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold",
        "Dimensions": [{"Name": "FunctionName", "Value": "hello"},
            {"Name": "Resource", "Value": "hello:live"}, {"Name": "ExecutedVersion", "Value": "2"}],
    }))
    .expect("alarm properties");
    Alarm::from_template("Errors", &props, &Resolver::default()).expect("an alarm")
}

/// A failed invocation of version 2 through `live`, now.
fn error_of_the_new_version(local: &StandIn) -> InvocationRecord {
    InvocationRecord::of_hello(local.lambda.clock().now(), Some("live"), "2", true, 5)
}

fn seconds_of(outcome: &DeploymentOutcome, event: Event) -> Vec<f64> {
    outcome
        .timeline
        .iter()
        .filter(|e| e.event == event)
        .map(|e| e.deployment_seconds)
        .collect()
}

fn weights(outcome: &DeploymentOutcome) -> Vec<(u32, f64)> {
    outcome
        .timeline
        .iter()
        .filter_map(|e| match e.about {
            Some(About::Weight { percent }) => Some((percent, e.deployment_seconds)),
            _ => None,
        })
        .collect()
}

fn error_code(outcome: &DeploymentOutcome) -> Option<&str> {
    outcome.error.as_ref().map(|(code, _)| code.as_str())
}

#[tokio::test(start_paused = true)]
async fn an_alarm_rolls_back_mid_step_at_the_end_of_its_period() {
    let local = Arc::new(stand_in().await);
    let mut plan = plan("Canary10Percent5Minutes");
    plan.alarms = vec![errors_alarm()];
    let errors = {
        let local = Arc::clone(&local);
        tokio::spawn(async move {
            // In the alarm's second period, [60 s, 120 s): it goes off when that ends.
            tokio::time::sleep(Duration::from_secs(90)).await;
            local.lambda.record(error_of_the_new_version(&local));
        })
    };
    let outcome = local.deploy(plan, &mut |_| {}).await;
    errors.await.expect("recorded");
    assert_eq!(outcome.status, DeploymentStatus::Failed, "{outcome:?}");
    assert_eq!(error_code(&outcome), Some("ALARM_ACTIVE"));
    assert_eq!(seconds_of(&outcome, Event::AlarmStateChanged), [120.0]);
    assert_eq!(
        weights(&outcome),
        [(10, 0.0), (0, 120.0)],
        "never past the canary"
    );
    assert_eq!(
        local
            .alias("hello", "live")
            .map(|a| a.additional_weights.is_empty()),
        Some(true),
        "the alias is back on version 1 alone"
    );
}

/// Run `plan` and stop it with `StopDeployment` after `after` of deployment time.
async fn stopped(
    plan: DeploymentPlan,
    after: Duration,
    auto_rollback: bool,
) -> (StandIn, DeploymentOutcome) {
    let local = Arc::new(stand_in().await);
    let stop = {
        let local = Arc::clone(&local);
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let deployments = &local.codedeploy.deployments();
            let id = deployments
                .ids(|r| r.status.is_active())
                .pop()
                .expect("running");
            assert!(deployments
                .request_stop(&id, StopRequest { auto_rollback })
                .is_ok());
        })
    };
    let outcome = local.deploy(plan, &mut |_| {}).await;
    stop.await.expect("stopped");
    let local = Arc::into_inner(local).expect("the only handle");
    (local, outcome)
}

#[tokio::test(start_paused = true)]
async fn stop_deployment_with_rollback_puts_the_alias_back() {
    let (local, outcome) = stopped(
        plan("Linear10PercentEvery1Minute"),
        Duration::from_secs(150),
        true,
    )
    .await;
    assert_eq!(outcome.status, DeploymentStatus::Stopped, "{outcome:?}");
    assert_eq!(error_code(&outcome), Some("MANUAL_STOP"));
    assert_eq!(
        weights(&outcome),
        [(10, 0.0), (20, 60.0), (30, 120.0), (0, 150.0)]
    );
    let alias = local.alias("hello", "live").expect("alias");
    assert_eq!(
        (
            alias.function_version.as_str(),
            alias.additional_weights.len()
        ),
        ("1", 0)
    );
}

#[tokio::test(start_paused = true)]
async fn stop_deployment_without_rollback_leaves_the_alias_where_it_was() {
    let (local, outcome) = stopped(
        plan("Linear10PercentEvery1Minute"),
        Duration::from_secs(150),
        false,
    )
    .await;
    assert_eq!(outcome.status, DeploymentStatus::Stopped, "{outcome:?}");
    assert_eq!(weights(&outcome), [(10, 0.0), (20, 60.0), (30, 120.0)]);
    assert!(seconds_of(&outcome, Event::RolledBack).is_empty());
    let alias = local.alias("hello", "live").expect("alias");
    assert_eq!(alias.additional_weights.get("2").copied(), Some(0.3));
}

/// Run `plan` with its BeforeAllowTraffic hook; `on_invoked` gets each HookInvoked event's
/// deployment and execution ids and answers as the hook would.
async fn with_hook(
    mut plan: DeploymentPlan,
    on_invoked: impl Fn(&StandIn, &str, &str, u32) + Send + 'static,
) -> DeploymentOutcome {
    plan.spec = plan.spec.hook("BeforeAllowTraffic", "hook");
    let local = Arc::new(stand_in().await);
    let (tx, mut rx) = mpsc::unbounded_channel::<TimelineEvent>();
    let hook = {
        let local = Arc::clone(&local);
        tokio::spawn(async move {
            let mut deliveries = 0;
            while let Some(event) = rx.recv().await {
                if event.event != Event::HookInvoked {
                    continue;
                }
                deliveries += 1;
                let deployments = &local.codedeploy.deployments();
                let id = deployments
                    .ids(|r| r.status.is_active())
                    .pop()
                    .expect("running");
                let execution = deployments
                    .read(&id, |r| r.executions.keys().next().cloned())
                    .flatten()
                    .expect("an execution");
                on_invoked(&local, &id, &execution, deliveries);
            }
        })
    };
    let mut last: Option<(Event, String, u64)> = None;
    let outcome = local
        .deploy(plan, &mut |progress| {
            // The progress carries the latest event, and comes again without a new one.
            let Some(event) = &progress.last_event else {
                return;
            };
            let key = (event.event, event.detail.clone(), event.real_ms);
            if last.as_ref() != Some(&key) {
                last = Some(key);
                let _ = tx.send(event.clone());
            }
        })
        .await;
    drop(tx);
    hook.await.expect("the hook's task");
    outcome
}

fn report(
    local: &StandIn,
    id: &str,
    execution: &str,
    status: HookStatus,
) -> Result<(), ReportError> {
    local.codedeploy.deployments().report(id, execution, status)
}

#[tokio::test(start_paused = true)]
async fn a_duplicate_delivery_is_reported_once_and_the_second_report_refused() {
    let mut plan = plan("AllAtOnce");
    plan.duplicate_deliveries = true;
    let outcome = with_hook(plan, |local, id, execution, delivery| {
        let second = report(local, id, execution, HookStatus::Succeeded);
        match delivery {
            1 => assert!(second.is_ok()),
            _ => assert!(matches!(second, Err(ReportError::AlreadyCompleted))),
        }
    })
    .await;
    assert_eq!(outcome.status, DeploymentStatus::Succeeded, "{outcome:?}");
    assert_eq!(seconds_of(&outcome, Event::HookInvoked), [0.0, 0.0]);
    assert_eq!(seconds_of(&outcome, Event::HookSucceeded), [0.0]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_report_after_succeeded_is_refused_and_the_deployment_succeeds() {
    let outcome = with_hook(plan("AllAtOnce"), |local, id, execution, _| {
        assert!(report(local, id, execution, HookStatus::Succeeded).is_ok());
        assert!(matches!(
            report(local, id, execution, HookStatus::Failed),
            Err(ReportError::AlreadyCompleted)
        ));
    })
    .await;
    assert_eq!(outcome.status, DeploymentStatus::Succeeded, "{outcome:?}");
    assert!(outcome.timeline.iter().any(|e| matches!(
        e.about,
        Some(About::Hook {
            step: HookStep::Succeeded,
            ..
        })
    )));
    assert!(error_code(&outcome).is_none());
}

/// A stack of `hello` (its plan `first`) and `bye` (Canary10Percent5Minutes, failed by the
/// errors alarm at 120 s): its outcome, and where each alias ends.
async fn stack_failing_at_120_s(
    first: &str,
) -> (
    crate::StackOutcome,
    Option<crate::Alias>,
    Option<crate::Alias>,
) {
    let local = Arc::new(stand_in().await);
    for version in ["1", "2"] {
        local
            .publish_version("bye", version, VersionSpec::new("/bin/true"))
            .expect("published");
    }
    local.set_alias("bye", "live", "1").expect("alias");
    let mut bye = plan("Canary10Percent5Minutes");
    bye.spec = DeploymentSpec::new("bye", "live", "1", "2");
    bye.spec.group_name = "ByeDeploymentGroup".into();
    bye.alarms = vec![errors_alarm()];
    let members = [("HelloFunction", plan(first)), ("ByeFunction", bye)]
        .into_iter()
        .map(|(function, plan)| crate::StackMember {
            function: function.into(),
            plan,
        })
        .collect();
    let errors = {
        let local = Arc::clone(&local);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(90)).await;
            local.lambda.record(error_of_the_new_version(&local));
        })
    };
    let outcome = local
        .deploy_stack(crate::StackPlan { members }, &mut |_, _| {})
        .await;
    errors.await.expect("recorded");
    let (hello, bye) = (local.alias("hello", "live"), local.alias("bye", "live"));
    (outcome, hello, bye)
}

fn on_version_1(alias: Option<crate::Alias>) -> bool {
    alias.is_some_and(|a| a.function_version == "1" && a.additional_weights.is_empty())
}

#[tokio::test(start_paused = true)]
async fn a_failed_deployment_puts_back_the_alias_of_one_that_succeeded() {
    let (outcome, hello, bye) = stack_failing_at_120_s("AllAtOnce").await;
    assert_eq!(outcome.status, crate::StackStatus::UpdateRollbackComplete);
    let statuses: Vec<DeploymentStatus> = outcome.deployments.iter().map(|d| d.status).collect();
    assert_eq!(
        statuses,
        [DeploymentStatus::Succeeded, DeploymentStatus::Failed]
    );
    assert!(
        on_version_1(hello) && on_version_1(bye),
        "both aliases back on 1"
    );
    let events: Vec<(&str, &str)> = outcome
        .events
        .iter()
        .map(|e| (e.logical_id.as_str(), e.status.as_str()))
        .collect();
    assert_eq!(
        events,
        [
            ("ByeFunctionAliaslive", "UPDATE_FAILED"),
            ("Stack", "UPDATE_ROLLBACK_IN_PROGRESS"),
            ("HelloFunctionAliaslive", "UPDATE_COMPLETE"),
            ("Stack", "UPDATE_ROLLBACK_COMPLETE"),
        ]
    );
    assert_eq!(outcome.deployments[0].final_version.as_deref(), Some("1"));
}

#[tokio::test(start_paused = true)]
async fn a_failed_deployment_stops_one_still_shifting() {
    let (outcome, hello, bye) = stack_failing_at_120_s("Linear10PercentEvery1Minute").await;
    assert_eq!(outcome.status, crate::StackStatus::UpdateRollbackComplete);
    let hello_deployment = &outcome.deployments[0];
    assert_eq!(hello_deployment.status, DeploymentStatus::Stopped);
    assert_eq!(hello_deployment.error_code.as_deref(), Some("MANUAL_STOP"));
    assert_eq!(
        seconds_of(&hello_deployment.outcome, Event::RolledBack),
        [120.0],
        "stopped the moment the other failed"
    );
    assert!(on_version_1(hello) && on_version_1(bye));
    assert!(outcome.events.iter().any(
        |e| e.logical_id == "HelloFunctionAliaslive" && e.reason == "Resource update cancelled"
    ));
}

#[tokio::test(start_paused = true)]
async fn a_stack_whose_deployments_all_succeed_completes() {
    let local = stand_in().await;
    let members = vec![crate::StackMember {
        function: "HelloFunction".into(),
        plan: plan("Linear10PercentEvery1Minute"),
    }];
    let outcome = local
        .deploy_stack(crate::StackPlan { members }, &mut |_, _| {})
        .await;
    assert_eq!(outcome.status, crate::StackStatus::UpdateComplete);
    assert_eq!(outcome.deployments[0].final_version.as_deref(), Some("2"));
    assert_eq!(
        seconds_of(&outcome.deployments[0].outcome, Event::DeploymentSucceeded),
        [540.0]
    );
}
