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
    let template = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let output = tokio::process::Command::new(binary("codedeploy-local"))
        .arg("deploy")
        .arg("--template")
        .arg(&template)
        .arg("--bin-dir")
        .arg(bin_dir())
        .arg("--log-dir")
        .arg(dir.join("logs"))
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
            "--time-scale 0 must be a positive number",
        ),
    ] {
        let (output, _) = deploy(&args).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
