use super::*;
use crate::codedeploy::deployments::{Deployments, RunInfo};
use crate::codedeploy::plan::DeploymentPlan;
use crate::codedeploy::spec::DeploymentSpec;
use crate::codedeploy::timeline::{ErrorCode, Event};
use crate::TrafficConfig;

fn at(seconds: f64, event: Event, about: Option<About>) -> TimelineEvent {
    TimelineEvent {
        real_ms: (seconds * 1000.0 / 60.0) as u64,
        deployment_seconds: seconds,
        event,
        detail: format!("{event} at {seconds}"),
        about,
    }
}

fn hook(lifecycle_event: &str, step: HookStep) -> Option<About> {
    Some(About::Hook {
        lifecycle_event: lifecycle_event.into(),
        function: "hook-fn".into(),
        step,
    })
}

fn alarm(state: AlarmState) -> Option<About> {
    Some(About::Alarm {
        alarm: "Errors".into(),
        state,
    })
}

/// A canary that an alarm stopped: PreTraffic passed, 10% at 12 s, the alarm at 80 s,
/// rolled back at 80 s.
fn rolled_back() -> Vec<TimelineEvent> {
    vec![
        at(0.0, Event::DeploymentStarted, None),
        at(
            0.5,
            Event::HookInvoked,
            hook("BeforeAllowTraffic", HookStep::Invoked),
        ),
        at(
            0.6,
            Event::HookInvoked,
            hook("BeforeAllowTraffic", HookStep::Invoked),
        ),
        at(
            12.0,
            Event::HookSucceeded,
            hook("BeforeAllowTraffic", HookStep::Succeeded),
        ),
        at(
            12.0,
            Event::TrafficShifted,
            Some(About::Weight { percent: 10 }),
        ),
        at(60.0, Event::AlarmStateChanged, alarm(AlarmState::Alarm)),
        at(60.0, Event::Stopped(ErrorCode::AlarmActive), None),
        at(80.0, Event::RolledBack, Some(About::Weight { percent: 0 })),
    ]
}

#[test]
fn the_weight_steps_up_and_back_to_zero_on_rollback() {
    assert_eq!(
        weight_steps(&rolled_back()),
        [(0.0, 0), (12.0, 10), (80.0, 0)]
    );
}

#[test]
fn an_alarm_is_ok_until_it_changes_and_its_last_state_runs_to_the_end() {
    let lanes = alarm_lanes(
        ["Errors".to_owned(), "Latency".to_owned()].into_iter(),
        &rolled_back(),
        80.0,
    );
    assert_eq!(
        lanes[0].spans,
        [(0.0, 60.0, AlarmState::Ok), (60.0, 80.0, AlarmState::Alarm)]
    );
    assert_eq!(
        lanes[1].spans,
        [(0.0, 80.0, AlarmState::Ok)],
        "never changed"
    );
}

#[test]
fn a_hook_span_runs_from_its_invocation_to_its_report_and_a_duplicate_is_the_same_span() {
    let spans = hook_spans(&rolled_back(), 80.0);
    assert_eq!(spans.len(), 1, "{spans:?}");
    assert_eq!((spans[0].start, spans[0].end), (0.5, 12.0));
    assert_eq!(spans[0].outcome, Some(HookStep::Succeeded));
}

#[test]
fn a_hook_without_a_report_ends_with_the_axis() {
    let mut timeline = rolled_back();
    timeline.push(at(
        90.0,
        Event::HookInvoked,
        hook("AfterAllowTraffic", HookStep::Invoked),
    ));
    let spans = hook_spans(&timeline, 120.0);
    assert_eq!(spans.len(), 2);
    assert_eq!(
        (spans[1].start, spans[1].end, spans[1].outcome),
        (90.0, 120.0, None)
    );
}

#[test]
fn a_picture_reads_the_record_and_draws_its_verdict_and_steps() {
    let deployments = Deployments::default();
    let spec = DeploymentSpec::new("hello", "live", "1", "2");
    let (id, _stop) = deployments.create(spec.clone());
    let plan = DeploymentPlan::new(
        spec,
        TrafficConfig::Canary {
            percent: 10,
            minutes: 5,
        },
        60.0,
    );
    deployments.with(&id, |r| {
        r.timeline = rolled_back();
        r.status = DeploymentStatus::Failed;
        r.error = Some(("ALARM_ACTIVE".into(), "alarm <Errors> & more".into()));
        r.run = Some(RunInfo {
            plan,
            started: Instant::now(),
            started_at: SystemTime::now(),
        });
    });
    let mut picture = deployments.read(&id, Picture::of).unwrap();
    picture.read_metrics(&Metrics::default());
    assert_eq!(
        picture.end, 80.0,
        "an ended deployment's axis ends at its last event"
    );
    assert_eq!(picture.config, "Canary10Percent5Minutes");
    let html = super::super::report(&picture);
    assert!(html.contains(r#"data-status="Failed""#), "{html}");
    assert!(html.contains("✗ Failed, rolled back"));
    assert!(html.contains("alarm &lt;Errors&gt; &amp; more"), "escaped");
    assert_eq!(html.matches(r#"data-kind="weight-step""#).count(), 2);
    assert!(html.contains(r#"data-percent="10""#));
    assert!(
        !html.contains("http://") || html.matches("http://").count() == 1,
        "only the SVG namespace: no network"
    );
}

#[test]
fn the_report_lists_what_the_roles_lack_with_the_grant_of_each() {
    let mut picture = Picture::ended_at(100.0, DeploymentStatus::Failed);
    assert!(
        !super::super::page::fragment(&picture).contains("id=\"denials\""),
        "none, no section"
    );
    picture.events.push(at(
        5.0,
        Event::AccessDenied,
        Some(About::Denial {
            principal: "arn:aws:sts::000000000000:assumed-role/PreRole/pre".into(),
            action: "lambda:InvokeFunction".into(),
            resource: "arn:aws:lambda:us-east-1:000000000000:function:hello:2".into(),
            enforced: true,
        }),
    ));
    let html = super::super::page::fragment(&picture);
    assert!(html.contains("<table id=\"denials\">"), "{html}");
    assert!(html.contains("<code>lambda:InvokeFunction</code>"));
    assert!(html.contains(
        "{&quot;Effect&quot;:&quot;Allow&quot;,&quot;Action&quot;:&quot;lambda:InvokeFunction&quot;,&quot;Resource&quot;:&quot;arn:aws:lambda:us-east-1:000000000000:function:hello:2&quot;}"
    ), "{html}");
}
