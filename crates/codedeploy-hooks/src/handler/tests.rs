//! The handler, tested through its tower `Service` with mocked SDK clients: no runtime.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_codedeploy::types::LifecycleEventStatus;
use aws_sdk_lambda::operation::invoke::InvokeOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_smithy_mocks::{mock, Rule};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use tower::ServiceExt as _;

use super::*;
use crate::test_support::{
    self as test_support, ERROR_ALREADY_COMPLETED, ERROR_THROTTLING, GET_DEPLOYMENT_APPSPEC,
    LIFECYCLE_EVENT,
};
use crate::{ensure, CheckError, Outcome};
use crate::{Check, CheckResult, Phase};

type CodeDeploy = aws_sdk_codedeploy::Client;
type Lambda = aws_sdk_lambda::Client;

const EXECUTION_ID: &str = "eyJlbmNyeXB0ZWREYXRhIjoiWTJGdVlYSjVJR2x6SUdFZ1ptbDRkSFZ5WlE9PSIsIml2UGFyYW1ldGVyU3BlYyI6IkFBQUFBQUFBQUFBQUFBQUEiLCJtYXRlcmlhbFNldFNlcmlhbCI6MX0=";

fn get_deployment() -> Rule {
    mock!(CodeDeploy::get_deployment)
        .sequence()
        .http_status(200, Some(GET_DEPLOYMENT_APPSPEC.to_owned()))
        .repeatedly()
        .build()
}

/// Accepts a report of `status` for the fixture's execution.
fn report_accepts(status: LifecycleEventStatus) -> Rule {
    mock!(CodeDeploy::put_lifecycle_event_hook_execution_status)
        .match_requests(move |r| {
            r.deployment_id() == Some("d-AB12CD34E")
                && r.lifecycle_event_hook_execution_id() == Some(EXECUTION_ID)
                && r.status() == Some(&status)
        })
        .sequence()
        .http_status(
            200,
            Some(format!(
                r#"{{"lifecycleEventHookExecutionId": "{EXECUTION_ID}"}}"#
            )),
        )
        .repeatedly()
        .build()
}

/// The target answering `{"message": "hello smoke"}` from version 4, counting calls that are
/// marked as smoke traffic and go to version 4.
fn hello_ok() -> Rule {
    mock!(Lambda::invoke)
        .match_requests(|r| {
            r.function_name() == Some("hello")
                && r.qualifier() == Some("4")
                && is_marked_smoke(r.client_context())
        })
        .sequence()
        .output(|| answer(r#"{"message": "hello smoke"}"#))
        .repeatedly()
        .build()
}

/// What version 4 of the target answers: status 200 and this payload.
fn answer(payload: &str) -> InvokeOutput {
    InvokeOutput::builder()
        .status_code(200)
        .executed_version("4")
        .payload(Blob::new(payload))
        .build()
}

fn is_marked_smoke(context: Option<&str>) -> bool {
    use base64::Engine as _;
    let Some(bytes) =
        context.and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
    else {
        return false;
    };
    let value: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    value["custom"][crate::smoke::MARKER_KEY] == crate::smoke::MARKER_VALUE
        && value["custom"][crate::smoke::DEPLOYMENT_KEY] == "d-AB12CD34E"
        && value.get("client").is_none()
}

fn event(deadline_in: Option<Duration>) -> LambdaEvent<Value> {
    let mut ctx = Context::default();
    ctx.request_id = "req-1".into();
    if let Some(left) = deadline_in {
        ctx.deadline = (SystemTime::now() + left)
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
    }
    LambdaEvent::new(serde_json::from_str(LIFECYCLE_EVENT).unwrap(), ctx)
}

fn as_hook() -> Settings {
    Settings {
        own_function_name: Some("CodeDeployHook_pre_traffic".into()),
        ..Settings::default()
    }
}

fn greets(hook: Hook) -> Hook {
    hook.check("greets", |t| async move {
        let out = t.invoke(json!({"name": "smoke"})).await?;
        out.ensure_ok()?;
        ensure!(out.json::<Value>()?["message"] == "hello smoke");
        Ok(())
    })
}

async fn serve(
    hook: Hook,
    cd_rules: &[&Rule],
    lambda_rules: &[&Rule],
    settings: Settings,
    deadline_in: Option<Duration>,
) -> Result<Summary, Error> {
    let clients = test_support::clients(
        test_support::codedeploy(cd_rules),
        test_support::lambda(lambda_rules),
    );
    hook.into_service_with(clients, settings)
        .oneshot(event(deadline_in))
        .await
}

#[tokio::test]
async fn passing_checks_report_succeeded_once_and_test_the_target_version() {
    let (deployment, report, hello) = (
        get_deployment(),
        report_accepts(LifecycleEventStatus::Succeeded),
        hello_ok(),
    );
    let summary = serve(
        greets(Hook::new()),
        &[&deployment, &report],
        &[&hello],
        as_hook(),
        Some(Duration::from_secs(30)),
    )
    .await
    .unwrap();
    assert_eq!(summary.status, Status::Succeeded, "{}", summary.table());
    assert_eq!(summary.report, Delivery::Delivered { attempts: 1 });
    assert_eq!(report.num_calls(), 1);
    assert_eq!(
        hello.num_calls(),
        1,
        "the check invoked hello:4 with the smoke marker"
    );
    let d = summary.deployment.unwrap();
    assert_eq!(
        (d.phase, d.target_version.as_str()),
        (Phase::PreTraffic, "4")
    );
}

#[tokio::test]
async fn a_failing_check_reports_failed_with_the_reason() {
    let (deployment, report) = (
        get_deployment(),
        report_accepts(LifecycleEventStatus::Failed),
    );
    let wrong_body = mock!(Lambda::invoke).then_output(|| answer(r#"{"message": "bye"}"#));
    let summary = serve(
        greets(Hook::new()),
        &[&deployment, &report],
        &[&wrong_body],
        as_hook(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(summary.status, Status::Failed);
    assert_eq!(report.num_calls(), 1);
    let reason = summary.reason.as_deref().unwrap();
    assert!(
        reason.starts_with("1 of 1 checks failed: greets (first: greets: `"),
        "the reason names the check and its failure: {reason}"
    );
    let message = summary.checks[0].message.as_deref().unwrap();
    assert!(
        message.contains(r#"(left: String("bye"), right: "hello smoke")"#),
        "{message}"
    );
}

#[tokio::test]
async fn a_function_error_fails_the_check_with_the_error_and_log_tail() {
    let (deployment, report) = (
        get_deployment(),
        report_accepts(LifecycleEventStatus::Failed),
    );
    let failing = mock!(Lambda::invoke).then_output(|| {
        InvokeOutput::builder()
            .status_code(200)
            .function_error("Unhandled")
            .executed_version("4")
            .log_result("U1RBUlQKYm9vbSBpbiB0aGUgaGFuZGxlcgo=") // "START\nboom in the handler\n"
            .payload(Blob::new(
                r#"{"errorType": "Oops", "errorMessage": "HELLO_FAULT=error"}"#,
            ))
            .build()
    });
    let summary = serve(
        greets(Hook::new()),
        &[&deployment, &report],
        &[&failing],
        as_hook(),
        None,
    )
    .await
    .unwrap();
    let message = summary.checks[0].message.as_deref().unwrap();
    assert!(
        message.contains("hello:4 failed (Unhandled function error)"),
        "{message}"
    );
    assert!(message.contains("HELLO_FAULT=error"), "{message}");
    assert!(message.contains("boom in the handler"), "{message}");
    assert_eq!(report.num_calls(), 1);
}

#[tokio::test]
async fn a_panicking_check_is_contained_and_reported_as_failed() {
    let (deployment, report, hello) = (
        get_deployment(),
        report_accepts(LifecycleEventStatus::Failed),
        hello_ok(),
    );
    let hook = greets(Hook::new())
        .check("panics", |_t| async move {
            let empty: Vec<u8> = Vec::new();
            let _ = empty[3];
            Ok(())
        })
        .check(
            "panics before its future",
            |_t| -> std::future::Ready<CheckResult> { panic!("eager") },
        );
    let summary = serve(hook, &[&deployment, &report], &[&hello], as_hook(), None)
        .await
        .unwrap();
    assert_eq!(summary.status, Status::Failed);
    assert_eq!(summary.checks[0].outcome, Outcome::Passed);
    assert_eq!(summary.checks[1].outcome, Outcome::Panicked);
    assert!(summary.checks[1]
        .message
        .as_deref()
        .unwrap()
        .contains("index out of bounds"));
    assert_eq!(summary.checks[2].outcome, Outcome::Panicked);
    assert!(summary.checks[2]
        .message
        .as_deref()
        .unwrap()
        .contains("eager"));
    assert_eq!(report.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_check_past_its_timeout_fails() {
    let (deployment, report) = (
        get_deployment(),
        report_accepts(LifecycleEventStatus::Failed),
    );
    let hook = Hook::new().check(
        Check::named("hangs").timeout(Duration::from_secs(2)),
        |_t| async move {
            std::future::pending::<()>().await;
            Ok(())
        },
    );
    let summary = serve(hook, &[&deployment, &report], &[], as_hook(), None)
        .await
        .unwrap();
    assert_eq!(summary.checks[0].outcome, Outcome::TimedOut);
    assert_eq!(
        summary.checks[0].message.as_deref(),
        Some("took longer than its timeout of 2s")
    );
    assert_eq!(report.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn at_the_deadline_running_checks_are_cancelled_and_failed_is_reported_in_time() {
    let (deployment, report, hello) = (
        get_deployment(),
        report_accepts(LifecycleEventStatus::Failed),
        hello_ok(),
    );
    let hook = greets(Hook::new())
        .check("slow", |_t| async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(())
        })
        .reserve(Duration::from_secs(3));
    let started = tokio::time::Instant::now();
    let summary = serve(
        hook,
        &[&deployment, &report],
        &[&hello],
        as_hook(),
        Some(Duration::from_secs(5)),
    )
    .await
    .unwrap();
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "reported before the deadline ({elapsed:?})"
    );
    assert!(
        elapsed >= Duration::from_millis(1900),
        "checks had the deadline minus the reserve ({elapsed:?})"
    );
    assert_eq!(summary.status, Status::Failed);
    assert_eq!(summary.checks[0].outcome, Outcome::Passed);
    assert_eq!(summary.checks[1].outcome, Outcome::Cancelled);
    assert_eq!(report.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_throttled_invoke_is_retried_inside_the_helper_and_shown_in_the_summary() {
    let (deployment, report) = (
        get_deployment(),
        report_accepts(LifecycleEventStatus::Succeeded),
    );
    let throttled_once = mock!(Lambda::invoke)
        .sequence()
        .http_status(
            429,
            Some(r#"{"Type": "User", "message": "Rate exceeded"}"#.into()),
        )
        .output(|| answer(r#"{"message": "hello smoke"}"#))
        .build();
    let hook = Hook::new().check("greets", |t| async move {
        t.invoke(json!({})).await?.ensure_ok()?;
        Ok(())
    });
    let summary = serve(
        hook,
        &[&deployment, &report],
        &[&throttled_once],
        as_hook(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(summary.status, Status::Succeeded, "{}", summary.table());
    assert_eq!(summary.checks[0].attempts, 1, "not a check retry");
    assert!(!summary.checks[0].is_flaky());
    let table = summary.table();
    assert!(
        table.contains("retried: lambda:Invoke (greets): 1 call, 2 attempts, 0 failed"),
        "{table}"
    );
}

#[tokio::test(start_paused = true)]
async fn assertion_failures_are_retried_only_when_asked() {
    for (check, expected_attempts) in [
        (Check::named("no retries of failures").retries(2), 1),
        (
            Check::named("retries failures").retries(2).retry_failures(),
            3,
        ),
    ] {
        let (deployment, report) = (
            get_deployment(),
            report_accepts(LifecycleEventStatus::Failed),
        );
        let calls = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&calls);
        let hook = Hook::new().check(check, move |_t| {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                ensure!(1 + 1 == 3);
                Ok(())
            }
        });
        let summary = serve(hook, &[&deployment, &report], &[], as_hook(), None)
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), expected_attempts);
        assert_eq!(summary.checks[0].attempts, expected_attempts);
        assert_eq!(summary.status, Status::Failed);
    }
}

#[tokio::test(start_paused = true)]
async fn a_report_throttled_twice_is_delivered_on_the_third_call() {
    let deployment = get_deployment();
    let report = mock!(CodeDeploy::put_lifecycle_event_hook_execution_status)
        .sequence()
        .http_status(400, Some(ERROR_THROTTLING.to_owned()))
        .times(2)
        .http_status(
            200,
            Some(format!(
                r#"{{"lifecycleEventHookExecutionId": "{EXECUTION_ID}"}}"#
            )),
        )
        .build();
    let hello = hello_ok();
    let summary = serve(
        greets(Hook::new()),
        &[&deployment, &report],
        &[&hello],
        as_hook(),
        Some(Duration::from_secs(10)),
    )
    .await
    .unwrap();
    assert_eq!(summary.report, Delivery::Delivered { attempts: 3 });
    assert_eq!(report.num_calls(), 3);
}

#[tokio::test]
async fn a_duplicate_delivery_is_done_without_error() {
    let deployment = get_deployment();
    let already = mock!(CodeDeploy::put_lifecycle_event_hook_execution_status)
        .sequence()
        .http_status(400, Some(ERROR_ALREADY_COMPLETED.to_owned()))
        .build();
    let hello = hello_ok();
    let summary = serve(
        greets(Hook::new()),
        &[&deployment, &already],
        &[&hello],
        as_hook(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(summary.report, Delivery::AlreadyCompleted { attempts: 1 });
    assert_eq!(already.num_calls(), 1, "not retried");
}

#[tokio::test]
async fn an_undeliverable_report_is_the_only_error_returned() {
    let deployment = get_deployment();
    let denied = mock!(CodeDeploy::put_lifecycle_event_hook_execution_status)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type": "AccessDeniedException", "message": "no"}"#.into()),
        )
        .build();
    let hello = hello_ok();
    let err = serve(
        greets(Hook::new()),
        &[&deployment, &denied],
        &[&hello],
        as_hook(),
        Some(Duration::from_secs(10)),
    )
    .await
    .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, Error::ReportUndelivered { attempts: 1, .. }),
        "{message}"
    );
    assert!(
        message.contains("could not report Succeeded for deployment d-AB12CD34E"),
        "{message}"
    );
    assert!(
        message.contains("PutLifecycleEventHookExecutionStatus"),
        "{message}"
    );
}

#[tokio::test]
async fn the_skip_switch_reports_succeeded_without_running_checks() {
    let report = report_accepts(LifecycleEventStatus::Succeeded);
    let hook = Hook::new().check("would fail", |_t| async move {
        Err(CheckError::assertion("must not run"))
    });
    let settings = Settings {
        skip: true,
        ..as_hook()
    };
    let summary = serve(hook, &[&report], &[], settings, None).await.unwrap();
    assert_eq!(summary.status, Status::Succeeded);
    assert!(summary.checks.is_empty());
    assert!(summary.reason.unwrap().contains(SKIP_ENV));
    assert_eq!(report.num_calls(), 1);
}

#[tokio::test]
async fn a_dry_run_check_never_fails_the_hook() {
    let (deployment, report, hello) = (
        get_deployment(),
        report_accepts(LifecycleEventStatus::Succeeded),
        hello_ok(),
    );
    let hook = greets(Hook::new()).check(Check::named("new idea").dry_run(), |_t| async move {
        Err(CheckError::assertion("not yet true"))
    });
    let summary = serve(hook, &[&deployment, &report], &[&hello], as_hook(), None)
        .await
        .unwrap();
    assert_eq!(summary.status, Status::Succeeded);
    assert_eq!(summary.checks[1].outcome, Outcome::Failed);
    assert!(summary.checks[1].dry_run);
}

#[tokio::test]
async fn a_resolution_error_still_reports_failed() {
    let report = report_accepts(LifecycleEventStatus::Failed);
    let missing = mock!(CodeDeploy::get_deployment)
        .sequence()
        .http_status(
            400,
            Some(
                r#"{"__type": "DeploymentDoesNotExistException", "message": "no such deployment"}"#
                    .into(),
            ),
        )
        .build();
    let summary = serve(
        greets(Hook::new()),
        &[&missing, &report],
        &[],
        as_hook(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(summary.status, Status::Failed);
    assert!(summary
        .reason
        .unwrap()
        .contains("DeploymentDoesNotExistException"));
    assert_eq!(report.num_calls(), 1);
}

#[tokio::test]
async fn a_hook_without_checks_fails_closed() {
    let (deployment, report) = (
        get_deployment(),
        report_accepts(LifecycleEventStatus::Failed),
    );
    let summary = serve(Hook::new(), &[&deployment, &report], &[], as_hook(), None)
        .await
        .unwrap();
    assert_eq!(summary.status, Status::Failed);
    assert!(summary.reason.unwrap().contains("no checks"));
}

#[tokio::test]
async fn a_malformed_event_is_a_clear_error_and_nothing_is_reported() {
    let report = report_accepts(LifecycleEventStatus::Failed);
    for (payload, expected) in [
        (
            json!({"DeploymentId": "d-1"}),
            "LifecycleEventHookExecutionId",
        ),
        (
            json!({"DeploymentId": "", "LifecycleEventHookExecutionId": "x"}),
            "DeploymentId is empty",
        ),
        (json!("hello"), "expected a JSON object, got a string"),
        (
            json!({"deploymentId": "d-1", "lifecycleEventHookExecutionId": "x"}),
            "DeploymentId",
        ),
    ] {
        let clients = test_support::clients(
            test_support::codedeploy(&[&report]),
            test_support::lambda(&[]),
        );
        let service = greets(Hook::new()).into_service_with(clients, as_hook());
        let err = service
            .oneshot(LambdaEvent::new(payload, Context::default()))
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, Error::MalformedEvent { .. }));
        assert!(message.contains(expected), "{message}");
        assert!(message.contains("PreTraffic/PostTraffic hook"), "{message}");
    }
    assert_eq!(report.num_calls(), 0);
}

#[tokio::test]
async fn sequential_checks_run_one_at_a_time_in_order() {
    let (deployment, report) = (
        get_deployment(),
        report_accepts(LifecycleEventStatus::Succeeded),
    );
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut hook = Hook::new().sequential();
    for name in ["first", "second", "third"] {
        let order = Arc::clone(&order);
        hook = hook.check(name, move |_t| {
            let order = Arc::clone(&order);
            async move {
                order.lock().unwrap().push(format!("start {name}"));
                tokio::task::yield_now().await;
                order.lock().unwrap().push(format!("end {name}"));
                Ok(())
            }
        });
    }
    serve(hook, &[&deployment, &report], &[], as_hook(), None)
        .await
        .unwrap();
    let order = order.lock().unwrap().clone();
    assert_eq!(
        order,
        [
            "start first",
            "end first",
            "start second",
            "end second",
            "start third",
            "end third"
        ]
    );
}

#[tokio::test]
async fn http_checks_see_the_route_as_api_gateway_would_serve_it() {
    let (deployment, report) = (
        get_deployment(),
        report_accepts(LifecycleEventStatus::Succeeded),
    );
    let route = mock!(Lambda::invoke)
        .match_requests(|r| {
            let event: Value = serde_json::from_slice(r.payload().map(|b| b.as_ref()).unwrap_or_default()).unwrap_or_default();
            event["rawPath"] == "/hello" && event["queryStringParameters"]["name"] == "smoke"
        })
        .then_output(|| {
            answer(r#"{"statusCode": 200, "headers": {"content-type": "application/json"}, "body": "{\"message\":\"hello smoke\"}"}"#)
        });
    let hook = Hook::new().check("GET /hello", |t| async move {
        let response = t
            .http(http::Request::get("/hello?name=smoke").body(Vec::new())?)
            .await?;
        ensure!(response.status() == 200);
        let body: Value = serde_json::from_slice(response.body())?;
        ensure!(body["message"] == "hello smoke");
        Ok(())
    });
    let summary = serve(hook, &[&deployment, &report], &[&route], as_hook(), None)
        .await
        .unwrap();
    assert_eq!(summary.status, Status::Succeeded, "{}", summary.table());
}

#[tokio::test]
async fn invoke_many_counts_errors_and_measures_latency() {
    let (deployment, report) = (
        get_deployment(),
        report_accepts(LifecycleEventStatus::Failed),
    );
    let mixed = mock!(Lambda::invoke)
        .sequence()
        .output(|| {
            InvokeOutput::builder()
                .status_code(200)
                .executed_version("4")
                .build()
        })
        .times(7)
        .output(|| {
            InvokeOutput::builder()
                .status_code(200)
                .function_error("Unhandled")
                .executed_version("4")
                .build()
        })
        .times(3)
        .build();
    let hook = Hook::new().check("load", |t| async move {
        let stats = t
            .invoke_many(json!({}), crate::Load::total(10).concurrency(4))
            .await?;
        ensure!(stats.total() == 10);
        ensure!(
            stats.errors() == 0,
            "first errors: {:?}",
            stats.first_errors()
        );
        Ok(())
    });
    let summary = serve(hook, &[&deployment, &report], &[&mixed], as_hook(), None)
        .await
        .unwrap();
    let message = summary.checks[0].message.clone().unwrap();
    assert!(
        message.starts_with("`stats.errors() == 0` is false (left: 3, right: 0): first errors: ["),
        "{message}"
    );
    assert_eq!(mixed.num_calls(), 10);
}

#[tokio::test]
async fn a_deadline_shorter_than_the_reserve_reports_failed_at_once_saying_so() {
    let report = report_accepts(LifecycleEventStatus::Failed);
    let summary = serve(
        greets(Hook::new()),
        &[&report],
        &[],
        as_hook(),
        Some(Duration::from_secs(2)),
    )
    .await
    .unwrap();
    let reason = summary.reason.unwrap_or_default();
    assert!(
        reason.contains("less than the 3s kept to report the verdict"),
        "{reason}"
    );
    assert!(
        reason.contains("raise the hook function's timeout"),
        "{reason}"
    );
    assert_eq!(report.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failing_cross_check_read_is_a_warning_when_the_target_is_configured() {
    let failing = mock!(CodeDeploy::get_deployment)
        .sequence()
        .http_status(503, Some(r#"{"__type": "ServiceUnavailable"}"#.into()))
        .repeatedly()
        .build();
    let (report, hello) = (report_accepts(LifecycleEventStatus::Succeeded), hello_ok());
    let settings = Settings {
        target: Some("hello:4".into()),
        ..as_hook()
    };
    let summary = serve(
        greets(Hook::new()),
        &[&failing, &report],
        &[&hello],
        settings,
        Some(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    assert_eq!(summary.status, Status::Succeeded, "{}", summary.table());
    assert!(
        summary.warnings[0].contains("codedeploy:GetDeployment"),
        "{:?}",
        summary.warnings
    );
    assert_eq!(summary.retried_calls[0].context, "reading the deployment");
}

/// cargo-lambda 1.9.2's emulator sends `Lambda-Runtime-Deadline-Ms: 600000`, which
/// lambda_runtime puts in the context as is.
#[tokio::test]
async fn a_deadline_that_is_no_epoch_time_is_taken_as_the_time_left() {
    let (deployment, report, hello) = (
        get_deployment(),
        report_accepts(LifecycleEventStatus::Succeeded),
        hello_ok(),
    );
    let clients = test_support::clients(
        test_support::codedeploy(&[&deployment, &report]),
        test_support::lambda(&[&hello]),
    );
    let mut ctx = Context::default();
    ctx.deadline = 600_000;
    let event = LambdaEvent::new(serde_json::from_str(LIFECYCLE_EVENT).unwrap(), ctx);
    let summary = greets(Hook::new())
        .into_service_with(clients, as_hook())
        .oneshot(event)
        .await
        .unwrap();
    assert_eq!(summary.status, Status::Succeeded, "{}", summary.table());
    assert_eq!(summary.checks[0].outcome, Outcome::Passed);
}

// --- the shift's watch ---------------------------------------------------------------

fn with_watch(hook: Hook) -> Hook {
    hook.watch(crate::Watch::every(Duration::from_secs(30)).check("answers", |_| async { Ok(()) }))
}

/// The lease alias of the hook's own function: empty (never used), at revision r1.
fn lease_unused() -> Rule {
    mock!(Lambda::get_alias)
        .match_requests(|r| {
            r.function_name() == Some("CodeDeployHook_pre_traffic")
                && r.name() == Some(crate::LEASE_ALIAS)
        })
        .sequence()
        .output(|| {
            aws_sdk_lambda::operation::get_alias::GetAliasOutput::builder()
                .name(crate::LEASE_ALIAS)
                .function_version("$LATEST")
                .description("")
                .revision_id("r1")
                .build()
        })
        .repeatedly()
        .build()
}

/// Writes the lease only over revision r1, for this deployment's first generation.
fn lease_written() -> Rule {
    mock!(Lambda::update_alias)
        .match_requests(|r| {
            r.revision_id() == Some("r1")
                && r.description().is_some_and(|d| {
                    d.contains(r#""watch":"d-AB12CD34E""#) && d.contains(r#""gen":1"#)
                })
        })
        .sequence()
        .output(|| {
            aws_sdk_lambda::operation::update_alias::UpdateAliasOutput::builder()
                .revision_id("r2")
                .build()
        })
        .repeatedly()
        .build()
}

/// The hook invoking itself asynchronously with the watch event of generation 1.
fn watcher_invoked() -> Rule {
    mock!(Lambda::invoke)
        .match_requests(|r| {
            r.function_name() == Some("CodeDeployHook_pre_traffic")
                && r.invocation_type() == Some(&aws_sdk_lambda::types::InvocationType::Event)
                && r.payload().is_some_and(|p| {
                    let event: Value = serde_json::from_slice(p.as_ref()).unwrap_or_default();
                    event[crate::WATCH_EVENT_KEY]
                        == json!({"deploymentId": "d-AB12CD34E", "generation": 1})
                })
        })
        .sequence()
        .output(|| InvokeOutput::builder().status_code(202).build())
        .repeatedly()
        .build()
}

#[tokio::test]
async fn a_pre_traffic_hook_starts_its_watch_once_its_checks_pass() {
    let (deployment, report, hello) = (
        get_deployment(),
        report_accepts(LifecycleEventStatus::Succeeded),
        hello_ok(),
    );
    let (lease, written, watcher) = (lease_unused(), lease_written(), watcher_invoked());
    let summary = serve(
        with_watch(greets(Hook::new())),
        &[&deployment, &report],
        &[&hello, &lease, &written, &watcher],
        as_hook(),
        Some(Duration::from_secs(30)),
    )
    .await
    .unwrap();
    assert_eq!(summary.status, Status::Succeeded, "{}", summary.table());
    assert_eq!(written.num_calls(), 1, "the lease is written once");
    assert_eq!(watcher.num_calls(), 1, "the watcher is invoked once");
    assert!(summary
        .warnings
        .iter()
        .any(|w| w.contains("watch is started")));
}

/// `watch-lease` held by another deployment, in progress, whose watch renews it.
fn lease_held_by_another() -> Rule {
    mock!(Lambda::get_alias)
        .match_requests(|r| r.name() == Some(crate::LEASE_ALIAS))
        .sequence()
        .output(|| {
            aws_sdk_lambda::operation::get_alias::GetAliasOutput::builder()
                .name(crate::LEASE_ALIAS)
                .function_version("$LATEST")
                .description(
                    r#"{"watch":"d-OTHER0000","gen":1,"owner":"x","rounds":2,"failing":0,"due_ms":99999999999999,"state":"watching"}"#,
                )
                .revision_id("r7")
                .build()
        })
        .repeatedly()
        .build()
}

#[tokio::test]
async fn a_shared_hook_watches_a_second_deployment_on_its_functions_own_lease() {
    let (deployment, report, hello) = (
        get_deployment(),
        report_accepts(LifecycleEventStatus::Succeeded),
        hello_ok(),
    );
    let held = lease_held_by_another();
    let own = mock!(Lambda::get_alias)
        .match_requests(|r| r.name() == Some("watch-lease-hello"))
        .sequence()
        .output(|| {
            aws_sdk_lambda::operation::get_alias::GetAliasOutput::builder()
                .name("watch-lease-hello")
                .revision_id("r1")
                .build()
        })
        .repeatedly()
        .build();
    let written = mock!(Lambda::update_alias)
        .match_requests(|r| {
            r.name() == Some("watch-lease-hello")
                && r.revision_id() == Some("r1")
                && r.description().is_some_and(|d| d.contains("d-AB12CD34E"))
        })
        .sequence()
        .output(|| {
            aws_sdk_lambda::operation::update_alias::UpdateAliasOutput::builder()
                .revision_id("r2")
                .build()
        })
        .repeatedly()
        .build();
    let watcher = mock!(Lambda::invoke)
        .match_requests(|r| {
            r.invocation_type() == Some(&aws_sdk_lambda::types::InvocationType::Event)
                && r.payload().is_some_and(|p| {
                    let event: Value = serde_json::from_slice(p.as_ref()).unwrap_or_default();
                    event[crate::WATCH_EVENT_KEY]["lease"] == "watch-lease-hello"
                })
        })
        .sequence()
        .output(|| InvokeOutput::builder().status_code(202).build())
        .repeatedly()
        .build();
    let summary = serve(
        with_watch(greets(Hook::new())),
        &[&deployment, &report],
        &[&hello, &held, &own, &written, &watcher],
        as_hook(),
        Some(Duration::from_secs(30)),
    )
    .await
    .unwrap();
    assert_eq!(summary.status, Status::Succeeded, "{}", summary.table());
    assert_eq!(
        written.num_calls(),
        1,
        "its own lease is written, watch-lease left"
    );
    assert_eq!(watcher.num_calls(), 1);
}

#[tokio::test]
async fn a_shared_hook_without_its_functions_lease_fails_naming_the_alias_to_create() {
    let (deployment, report, hello) = (
        get_deployment(),
        report_accepts(LifecycleEventStatus::Failed),
        hello_ok(),
    );
    let held = lease_held_by_another();
    let missing = mock!(Lambda::get_alias)
        .match_requests(|r| r.name() == Some("watch-lease-hello"))
        .sequence()
        .http_status(
            404,
            Some(
                r#"{"__type": "ResourceNotFoundException", "Message": "Alias not found"}"#
                    .to_owned(),
            ),
        )
        .repeatedly()
        .build();
    let watcher = watcher_invoked();
    let summary = serve(
        with_watch(greets(Hook::new())),
        &[&deployment, &report],
        &[&hello, &held, &missing, &watcher],
        as_hook(),
        Some(Duration::from_secs(30)),
    )
    .await
    .unwrap();
    assert_eq!(summary.status, Status::Failed);
    let reason = summary.reason.unwrap_or_default();
    assert!(
        reason.contains("held by deployment d-OTHER0000") && reason.contains("watch-lease-hello"),
        "{reason}"
    );
    assert_eq!(
        watcher.num_calls(),
        0,
        "two deployments never share one lease"
    );
}

#[tokio::test]
async fn a_watch_that_cannot_start_fails_the_pre_traffic_hook() {
    let (deployment, report, hello) = (
        get_deployment(),
        report_accepts(LifecycleEventStatus::Failed),
        hello_ok(),
    );
    // The template did not create the lease alias.
    let no_lease = mock!(Lambda::get_alias)
        .sequence()
        .http_status(
            404,
            Some(r#"{"Type": "User", "Message": "Alias not found"}"#.to_owned()),
        )
        .repeatedly()
        .build();
    let watcher = watcher_invoked();
    let summary = serve(
        with_watch(greets(Hook::new())),
        &[&deployment, &report],
        &[&hello, &no_lease, &watcher],
        as_hook(),
        Some(Duration::from_secs(30)),
    )
    .await
    .unwrap();
    assert_eq!(summary.status, Status::Failed);
    let reason = summary.reason.unwrap_or_default();
    assert!(
        reason.contains("could not start the shift's watch") && reason.contains("lambda:GetAlias"),
        "{reason}"
    );
    assert_eq!(report.num_calls(), 1, "Failed is reported");
    assert_eq!(watcher.num_calls(), 0, "no watcher without a lease");
}

#[tokio::test]
async fn a_failing_pre_traffic_hook_starts_no_watch() {
    let (deployment, report) = (
        get_deployment(),
        report_accepts(LifecycleEventStatus::Failed),
    );
    let (lease, watcher) = (lease_unused(), watcher_invoked());
    let wrong = mock!(Lambda::invoke)
        .match_requests(|r| r.qualifier() == Some("4"))
        .sequence()
        .output(|| answer(r#"{"message": "goodbye smoke"}"#))
        .repeatedly()
        .build();
    let summary = serve(
        with_watch(greets(Hook::new())),
        &[&deployment, &report],
        &[&wrong, &lease, &watcher],
        as_hook(),
        Some(Duration::from_secs(30)),
    )
    .await
    .unwrap();
    assert_eq!(summary.status, Status::Failed);
    assert_eq!((lease.num_calls(), watcher.num_calls()), (0, 0));
}

#[tokio::test]
async fn a_watch_event_for_a_hook_without_a_watch_is_a_clear_error() {
    let clients = test_support::clients(test_support::codedeploy(&[]), test_support::lambda(&[]));
    let event = json!({crate::WATCH_EVENT_KEY: {"deploymentId": "d-AB12CD34E", "generation": 2}});
    let err = greets(Hook::new())
        .into_service_with(clients, as_hook())
        .oneshot(LambdaEvent::new(event, Context::default()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no Hook::watch"), "{err}");
}
