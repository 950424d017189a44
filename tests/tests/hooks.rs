//! The real `pre-traffic` and `post-traffic` binaries, run as Lambda functions under the
//! stand-in's Runtime API, with their real SDK clients talking HTTP to the stand-in.

use std::time::Duration;

use codedeploy_local::{Fault, HookStatus, Operation, RevisionForm};
use e2e::{Rehearsal, Setup, POST_HOOK, PRE_HOOK};

fn check<'a>(summary: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    summary["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check {name} in {summary:#}"))
}

#[tokio::test]
async fn passing_checks_report_succeeded_and_only_ever_call_the_new_version() {
    let rehearsal = Rehearsal::start(Setup::default()).await;
    let run = rehearsal.run_hook(PRE_HOOK, "BeforeAllowTraffic").await;
    let summary = run.summary();
    assert_eq!(
        run.result.function_error, None,
        "{summary:#}\n{}",
        run.result.log
    );
    assert_eq!(summary["status"], "Succeeded", "{summary:#}");
    assert_eq!(summary["deployment"]["target_version"], "4");
    assert_eq!(summary["deployment"]["phase"], "PreTraffic");
    assert_eq!(
        summary["report"],
        serde_json::json!({"delivery": "delivered", "attempts": 1})
    );
    assert_eq!(rehearsal.reported(&run), Some(HookStatus::Succeeded));
    let hello: Vec<_> = rehearsal
        .invocations
        .records()
        .into_iter()
        .filter(|i| i.function_name == "hello")
        .collect();
    assert_eq!(
        hello.len(),
        1 + 1 + 20,
        "one invoke, one HTTP route, twenty for latency"
    );
    assert!(
        hello
            .iter()
            .all(|i| i.executed_version == "4" && i.alias.is_none()),
        "never the alias or the old version"
    );
    assert!(
        hello.iter().all(|i| i.smoke),
        "every call is marked as smoke traffic"
    );
}

#[tokio::test]
async fn a_function_error_in_the_new_version_reports_failed() {
    let rehearsal = Rehearsal::start(Setup {
        fault: Some("error"),
        ..Setup::default()
    })
    .await;
    let run = rehearsal.run_hook(PRE_HOOK, "BeforeAllowTraffic").await;
    let summary = run.summary();
    assert_eq!(summary["status"], "Failed");
    assert_eq!(rehearsal.reported(&run), Some(HookStatus::Failed));
    let greets = check(&summary, "greets by name");
    assert_eq!(greets["outcome"], "failed");
    let message = greets["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("hello:4 failed (Unhandled function error)"),
        "{message}"
    );
    assert!(message.contains("HELLO_FAULT=error"), "{message}");
}

#[tokio::test]
async fn a_wrong_answer_reports_failed_and_shows_it() {
    let rehearsal = Rehearsal::start(Setup {
        fault: Some("wrong-body"),
        ..Setup::default()
    })
    .await;
    let run = rehearsal.run_hook(PRE_HOOK, "BeforeAllowTraffic").await;
    let summary = run.summary();
    assert_eq!(rehearsal.reported(&run), Some(HookStatus::Failed));
    let message = check(&summary, "greets by name")["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("goodbye smoke"), "{message}");
    assert_eq!(
        check(&summary, "p95 under 1 s")["outcome"],
        "passed",
        "latency is fine, only the body is wrong"
    );
}

#[tokio::test]
async fn a_slow_version_is_failed_before_the_hook_deadline() {
    // The hook has 5 s; the framework keeps 3 s to report, so checks get 2 s, and the new
    // version needs 10 s. Had the hook overrun its deadline, the stand-in would have stopped
    // it with a Sandbox.Timedout function error and nothing reported.
    let rehearsal = Rehearsal::start(Setup {
        fault: Some("slow"),
        hook_timeout: Duration::from_secs(5),
        ..Setup::default()
    })
    .await;
    let run = rehearsal.run_hook(PRE_HOOK, "BeforeAllowTraffic").await;
    assert_eq!(run.result.function_error, None, "{}", run.result.log);
    let summary = run.summary();
    assert_eq!(summary["status"], "Failed");
    assert_eq!(rehearsal.reported(&run), Some(HookStatus::Failed));
    assert_eq!(check(&summary, "greets by name")["outcome"], "cancelled");
}

#[tokio::test]
async fn a_report_throttled_twice_is_delivered_on_the_third_call() {
    let rehearsal = Rehearsal::start(Setup::default()).await;
    rehearsal.local.faults().inject(
        Operation::PutLifecycleEventHookExecutionStatus,
        Fault::Throttle,
        2,
    );
    let run = rehearsal.run_hook(PRE_HOOK, "BeforeAllowTraffic").await;
    let summary = run.summary();
    assert_eq!(
        summary["report"],
        serde_json::json!({"delivery": "delivered", "attempts": 3}),
        "{summary:#}"
    );
    assert_eq!(rehearsal.reported(&run), Some(HookStatus::Succeeded));
}

#[tokio::test]
async fn a_duplicate_delivery_is_harmless() {
    let rehearsal = Rehearsal::start(Setup::default()).await;
    let run = rehearsal.run_hook(PRE_HOOK, "BeforeAllowTraffic").await;
    assert_eq!(rehearsal.reported(&run), Some(HookStatus::Succeeded));
    let again = rehearsal.deliver(PRE_HOOK, &run.event).await;
    assert_eq!(
        again.function_error, None,
        "a duplicate is not an error (Lambda would retry it)"
    );
    let summary: serde_json::Value = serde_json::from_slice(&again.payload).expect("JSON summary");
    assert_eq!(
        summary["report"]["delivery"], "already_completed",
        "{summary:#}"
    );
    assert_eq!(
        rehearsal
            .local
            .hook_reports(&rehearsal.deployment_id, &run.execution_id),
        2
    );
    assert_eq!(rehearsal.reported(&run), Some(HookStatus::Succeeded));
}

#[tokio::test]
async fn a_string_revision_is_read_from_the_application_revision_too() {
    let rehearsal = Rehearsal::start(Setup {
        revision_form: RevisionForm::String,
        ..Setup::default()
    })
    .await;
    let run = rehearsal.run_hook(PRE_HOOK, "BeforeAllowTraffic").await;
    let summary = run.summary();
    assert_eq!(summary["status"], "Succeeded", "{summary:#}");
    assert_eq!(summary["deployment"]["target_version"], "4");
}

#[tokio::test]
async fn post_traffic_checks_that_the_alias_moved() {
    let rehearsal = Rehearsal::start(Setup::default()).await;
    let early = rehearsal.run_hook(POST_HOOK, "AfterAllowTraffic").await;
    assert_eq!(
        rehearsal.reported(&early),
        Some(HookStatus::Failed),
        "{:#}",
        early.summary()
    );
    assert_eq!(early.summary()["deployment"]["phase"], "PostTraffic");

    rehearsal
        .local
        .set_alias("hello", "live", "4")
        .expect("alias moves");
    let late = rehearsal.run_hook(POST_HOOK, "AfterAllowTraffic").await;
    assert_eq!(
        rehearsal.reported(&late),
        Some(HookStatus::Succeeded),
        "{:#}",
        late.summary()
    );
}
