//! The same hook binary as a CLI, against the stand-in: the same verdicts, exit codes, and
//! valid JUnit XML.

use std::process::Output;

use codedeploy_local::HookStatus;
use e2e::{binary, Rehearsal, Setup};
use quick_junit::Report;

async fn pre_traffic(rehearsal: &Rehearsal, args: &[&str]) -> Output {
    tokio::process::Command::new(binary("pre-traffic"))
        .args(args)
        // Only what the CLI needs: nothing of the developer's AWS setup.
        .env_clear()
        .env("AWS_ENDPOINT_URL", rehearsal.local.endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .await
        .expect("pre-traffic runs")
}

fn junit(output: &Output) -> Report {
    let xml = String::from_utf8_lossy(&output.stdout);
    Report::deserialize_from_str(&xml).unwrap_or_else(|e| panic!("not JUnit XML ({e}):\n{xml}"))
}

#[tokio::test]
async fn passing_checks_exit_0_with_junit_xml() {
    let rehearsal = Rehearsal::start(Setup::default()).await;
    let output = pre_traffic(
        &rehearsal,
        &[
            "--function",
            "hello",
            "--qualifier",
            "4",
            "--format",
            "junit",
        ],
    )
    .await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = junit(&output);
    assert_eq!((report.tests, report.failures, report.errors), (3, 0, 0));
}

#[tokio::test]
async fn failing_checks_exit_1_and_name_the_failure() {
    for fault in ["error", "wrong-body"] {
        let rehearsal = Rehearsal::start(Setup {
            fault: Some(fault),
            ..Setup::default()
        })
        .await;
        let output = pre_traffic(
            &rehearsal,
            &[
                "--function",
                "hello",
                "--qualifier",
                "4",
                "--format",
                "junit",
            ],
        )
        .await;
        assert_eq!(output.status.code(), Some(1), "HELLO_FAULT={fault}");
        let report = junit(&output);
        assert!(report.failures >= 1, "HELLO_FAULT={fault}: {report:?}");
    }
}

#[tokio::test]
async fn pretty_output_is_a_table_and_json_is_the_summary() {
    let rehearsal = Rehearsal::start(Setup::default()).await;
    let output = pre_traffic(&rehearsal, &["--function", "hello", "--qualifier", "4"]).await;
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.starts_with("PreTraffic hook for hello:4: Succeeded - 3 passed, 0 failing"),
        "{table}"
    );
    assert!(table.contains("PASS    greets by name"), "{table}");

    let output = pre_traffic(
        &rehearsal,
        &[
            "--function",
            "hello",
            "--qualifier",
            "4",
            "--format",
            "json",
            "--filter",
            "greets",
        ],
    )
    .await;
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(summary["status"], "Succeeded");
    let outcomes: Vec<_> = summary["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["outcome"].clone())
        .collect();
    assert_eq!(
        outcomes,
        ["passed", "skipped", "skipped"],
        "--filter selects by name"
    );
}

#[tokio::test]
async fn report_delivers_the_verdict_to_codedeploy() {
    let rehearsal = Rehearsal::start(Setup {
        fault: Some("wrong-body"),
        ..Setup::default()
    })
    .await;
    let (execution_id, _event) = rehearsal
        .local
        .start_hook_execution(&rehearsal.deployment_id, "BeforeAllowTraffic")
        .unwrap();
    let ids = format!("{}:{execution_id}", rehearsal.deployment_id);
    let output = pre_traffic(
        &rehearsal,
        &["--function", "hello", "--qualifier", "4", "--report", &ids],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        rehearsal
            .local
            .hook_status(&rehearsal.deployment_id, &execution_id),
        Some(HookStatus::Failed)
    );
}

#[tokio::test]
async fn bad_usage_exits_2_with_a_clear_message() {
    let rehearsal = Rehearsal::start(Setup::default()).await;
    for (args, expected) in [
        (
            vec!["--function", "hello", "--qualifier", "live"],
            "does not end in a version number",
        ),
        (vec!["--function", "hello"], "--qualifier <VERSION>"),
        (
            vec!["--function", "hello", "--qualifier", "4", "--report", "d-1"],
            "DEPLOYMENT_ID:EXECUTION_ID",
        ),
        (
            vec!["--function", "hello", "--qualifier", "4", "--format", "xml"],
            "invalid value 'xml'",
        ),
        (
            vec![
                "--function",
                "arn:aws:lambda:eu-west-1:000000000000:function:hello",
                "--qualifier",
                "4",
            ],
            "is a function in region eu-west-1, but this hook runs in us-east-1",
        ),
        (
            vec![
                "--function",
                "arn:aws:iam::000000000000:role/hello",
                "--qualifier",
                "4",
            ],
            "not of a Lambda function",
        ),
    ] {
        let output = pre_traffic(&rehearsal, &args).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn an_unknown_function_fails_the_checks_with_the_service_error() {
    let rehearsal = Rehearsal::start(Setup::default()).await;
    let output = pre_traffic(
        &rehearsal,
        &["--function", "nope", "--qualifier", "1", "--format", "json"],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let message = summary["checks"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("ResourceNotFoundException"), "{message}");
}

#[tokio::test]
async fn missing_aws_setup_exits_2_before_any_check_runs() {
    let output = tokio::process::Command::new(binary("pre-traffic"))
        .args(["--function", "hello", "--qualifier", "4"])
        .env_clear()
        .env("HOME", std::env::temp_dir())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .await
        .expect("pre-traffic runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no AWS region is configured"), "{stderr}");
    assert!(output.stdout.is_empty(), "no checks ran");
}

/// Without AWS_EC2_METADATA_DISABLED, aws-config asks the EC2 metadata service for a region
/// and warns when it cannot: none of that reaches the user, only the CLI's own message, and no
/// colour codes go to a pipe. The metadata endpoint is a closed loopback port.
#[tokio::test]
async fn missing_region_says_only_that_with_no_colour_codes() {
    let closed = e2e::closed_loopback_address();
    let output = tokio::process::Command::new(binary("pre-traffic"))
        .args(["--function", "hello", "--qualifier", "4"])
        .env_clear()
        .env("HOME", std::env::temp_dir())
        .env(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://{closed}"),
        )
        .output()
        .await
        .expect("pre-traffic runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: no AWS region is configured"),
        "nothing before the message: {stderr}"
    );
    assert!(
        !stderr.contains("WARN") && !stderr.contains('\u{1b}'),
        "{stderr}"
    );
}
