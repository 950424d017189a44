//! `codedeploy-local deploy`, the command a newcomer runs first: its verdicts, exit codes and
//! JSON timeline.

use std::process::Output;

use e2e::{bin_dir, binary};

async fn deploy(args: &[&str]) -> (Output, Option<serde_json::Value>) {
    let dir = std::env::temp_dir().join(format!("codedeploy-local-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join(format!(
        "timeline-{}.json",
        args.join("_").replace(['/', '='], "-")
    ));
    let output = e2e::deploy_command(&dir)
        .arg("--json")
        .arg(&json)
        .args(args)
        .output()
        .await
        .expect("codedeploy-local runs");
    let timeline = std::fs::read_to_string(&json)
        .ok()
        .map(|t| serde_json::from_str(&t).expect("JSON"));
    (output, timeline)
}

#[tokio::test]
async fn the_example_deployment_succeeds_and_exits_0() {
    let (output, outcome) = deploy(&["--time-scale", "600"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("Verdict: Succeeded"), "{stderr}");
    assert!(
        stderr.contains("TrafficShifted"),
        "a readable timeline: {stderr}"
    );
    let outcome = outcome.expect("the timeline was written");
    assert_eq!(outcome["status"], "Succeeded");
    assert!(outcome["timeline"].as_array().unwrap().len() >= 8);
}

#[tokio::test]
async fn a_faulty_version_is_stopped_by_its_hook_and_exits_1() {
    let (output, outcome) =
        deploy(&["--time-scale", "600", "--target-env", "HELLO_FAULT=error"]).await;
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let outcome = outcome.expect("the timeline was written");
    assert_eq!(outcome["status"], "Failed");
    assert_eq!(outcome["error"][0], "HOOK_EXECUTION_FAILURE");
}

#[tokio::test]
async fn the_type_flag_and_injected_faults_are_honoured() {
    let (output, outcome) = deploy(&[
        "--time-scale",
        "600",
        "--type",
        "AllAtOnce",
        "--fault",
        "put-status:throttle:2",
    ])
    .await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let outcome = outcome.expect("the timeline was written");
    let shifts: Vec<_> = outcome["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "TrafficShifted")
        .collect();
    assert_eq!(shifts.len(), 1, "AllAtOnce shifts once: {shifts:?}");
}

#[tokio::test]
async fn bad_input_exits_2_naming_what_is_wrong() {
    for (args, expected) in [
        (vec!["--type", "Blue"], "deployment type `Blue`"),
        (
            vec!["--function", "Nope"],
            "it has no AWS::Serverless::Function Nope",
        ),
        (
            vec!["--target-env", "NOEQUALS"],
            "`NOEQUALS` is not KEY=VALUE",
        ),
        (
            vec!["--fault", "put-status:explode"],
            "is not OPERATION:FAULT[:TIMES]",
        ),
        (
            vec!["--time-scale", "0"],
            "invalid value '0' for '--time-scale <N>': must be a number from 0.001 to 1000000",
        ),
    ] {
        let (output, _) = deploy(&args).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

/// The four faults of a busy AWS account that once rolled back a good release (issue: right
/// verdicts when AWS has a bad moment): each must leave the deployment Succeeded.
#[tokio::test]
async fn a_good_release_survives_transient_aws_faults() {
    let faults = [
        "get-deployment:5xx:2",
        "get-deployment:throttle:2",
        "invoke:throttle:2",
        // One stalled report attempt must not eat the reserve.
        "put-status:delay=70000:1",
        // A stalled cross-check must not make the known version unknown.
        "get-deployment:delay=70000:1",
    ];
    let runs = faults.map(|fault| async move {
        (
            fault,
            deploy(&["--time-scale", "600", "--fault", fault]).await,
        )
    });
    for (fault, (output, outcome)) in futures::future::join_all(runs).await {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "--fault {fault}: {stderr}");
        assert_eq!(
            outcome.expect("the timeline was written")["status"],
            "Succeeded",
            "--fault {fault}"
        );
    }
}

/// The same faults made persistent end Failed, naming the operation.
#[tokio::test]
async fn persistent_aws_faults_fail_the_release_naming_the_operation() {
    for (fault, operation) in [
        ("invoke:throttle:always", "lambda:Invoke failed (throttled)"),
        (
            "get-deployment:5xx:always",
            "codedeploy:GetDeployment failed (service error)",
        ),
    ] {
        let (output, outcome) = deploy(&["--time-scale", "600", "--fault", fault]).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "--fault {fault}: {stderr}");
        let outcome = outcome.expect("the timeline was written");
        assert_eq!(
            outcome["error"][0], "HOOK_EXECUTION_FAILURE",
            "--fault {fault}"
        );
        let message = outcome["error"][1].as_str().unwrap_or_default();
        assert!(message.contains(operation), "--fault {fault}: {message}");
    }
}

/// A trigger of the template that points at no topic is refused before anything runs.
#[tokio::test]
async fn a_notification_to_nowhere_exits_2_naming_it() {
    let original = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let text = std::fs::read_to_string(original).expect("template.yaml");
    let broken = text.replacen(
        "TriggerTargetArn: !Ref DeploymentNotificationsTopic",
        "TriggerTargetArn: !Ref NoSuchTopic",
        1,
    );
    assert_ne!(
        broken, text,
        "the template has the trigger this test breaks"
    );
    let dir = std::env::temp_dir().join(format!("codedeploy-local-nowhere-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let template = dir.join("template.yaml");
    std::fs::write(&template, broken).unwrap();
    let output = tokio::process::Command::new(binary("codedeploy-local"))
        .args(["deploy", "--bin-dir"])
        .arg(bin_dir())
        .arg("--template")
        .arg(&template)
        .output()
        .await
        .expect("codedeploy-local runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("TriggerConfigurations[0].TriggerTargetArn refers to NoSuchTopic"),
        "{stderr}"
    );
}
