//! A whole stack rehearsed at once (`hooks-examples/stack/template.yaml`: two functions, one
//! pair of shared hooks): the stack's fate is CloudFormation's, every alias ends where AWS
//! would leave it, and break-glass overrides are honoured and recorded.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

fn stack_template() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../hooks-examples/stack/template.yaml")
}

/// `codedeploy-local deploy` of `template` with the built binaries and `args`: its output,
/// and its `--json` and `--report` when written.
async fn deploy(name: &str, template: &Path, args: &[&str]) -> (Output, Option<Value>, String) {
    let dir = std::env::temp_dir().join(format!("codedeploy-local-stack-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, report) = (
        dir.join(format!("{name}.json")),
        dir.join(format!("{name}.html")),
    );
    let output = e2e::deploy_command_for(template, &dir.join(name))
        .arg("--json")
        .arg(&json)
        .arg("--report")
        .arg(&report)
        .args(args)
        .output()
        .await
        .expect("codedeploy-local runs");
    let outcome = std::fs::read_to_string(&json)
        .ok()
        .map(|t| serde_json::from_str(&t).expect("JSON"));
    (
        output,
        outcome,
        std::fs::read_to_string(report).unwrap_or_default(),
    )
}

fn deployment<'a>(outcome: &'a Value, function: &str) -> &'a Value {
    outcome["deployments"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["function"] == function))
        .unwrap_or_else(|| panic!("no deployment of {function}: {outcome:#}"))
}

fn events(deployment: &Value) -> Vec<String> {
    deployment["timeline"]
        .as_array()
        .map(|t| t.iter().map(|e| e["event"].to_string()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn both_good_complete_the_stack_update_with_both_aliases_on_the_new_versions() {
    let (output, outcome, report) =
        deploy("good", &stack_template(), &["--time-scale", "600"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let outcome = outcome.expect("the JSON was written");
    assert_eq!(outcome["stack"]["status"], "UPDATE_COMPLETE", "{stderr}");
    for function in ["GreeterFunction", "WelcomeFunction"] {
        let d = deployment(&outcome, function);
        assert_eq!(d["status"], "Succeeded", "{function}: {stderr}");
        assert_eq!(d["final_version"], "2", "{function}");
        assert_eq!(d["deployment_group"], format!("{function}DeploymentGroup"));
        // One pair of hooks watched both shifts at once, each on a lease of its own: had
        // they shared one, a PostTraffic hook would have failed the shift as unwatched.
        assert!(
            events(d).iter().any(|e| e.contains("WatchRound")),
            "{function} was watched: {stderr}"
        );
    }
    assert_eq!(
        report
            .matches("<section class=\"panel\" data-function=")
            .count(),
        2,
        "a panel each"
    );
    assert!(report.contains("Stack: UPDATE_COMPLETE"));
}

#[tokio::test]
async fn one_broken_function_rolls_the_whole_stack_back() {
    let (output, outcome, _) = deploy(
        "broken",
        &stack_template(),
        &[
            "--time-scale",
            "600",
            "--target-env",
            "GreeterFunction.HELLO_FAULT=error",
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let outcome = outcome.expect("the JSON was written");
    assert_eq!(outcome["stack"]["status"], "UPDATE_ROLLBACK_COMPLETE");
    let greeter = deployment(&outcome, "GreeterFunction");
    assert_eq!(greeter["status"], "Failed");
    assert_eq!(greeter["error_code"], "HOOK_EXECUTION_FAILURE");
    let welcome = deployment(&outcome, "WelcomeFunction");
    // Its new version was good: stopped while it shifted, or put back after it succeeded,
    // it ends on its old version all the same.
    assert_ne!(welcome["status"], "Failed", "{stderr}");
    for d in [greeter, welcome] {
        assert_eq!(d["final_version"], "1", "{}: {stderr}", d["function"]);
    }
    let stack_events = outcome["stack"]["events"].to_string();
    assert!(
        stack_events.contains("GreeterFunctionAliaslive")
            && stack_events.contains("UPDATE_ROLLBACK_COMPLETE"),
        "{stack_events}"
    );
}

#[tokio::test]
async fn an_alarm_override_is_honoured_and_recorded() {
    // The current versions fail real traffic: the alarms fire from the start, as when a
    // fix must go out past them (the break-glass of SAM #716).
    let firing = [
        "--time-scale",
        "120",
        "--traffic",
        "50",
        "--current-env",
        "HELLO_FAULT=error-unmarked",
    ];
    let (output, outcome, _) = deploy("blocked", &stack_template(), &firing).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let outcome = outcome.expect("the JSON was written");
    let codes: Vec<&Value> = outcome["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["error_code"])
        .collect();
    assert!(codes.iter().any(|c| *c == "ALARM_ACTIVE"), "{codes:?}");

    let overridden: Vec<&str> = firing
        .iter()
        .copied()
        .chain(["--override-alarms", "none"])
        .collect();
    let (output, outcome, report) = deploy("break-glass", &stack_template(), &overridden).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let outcome = outcome.expect("the JSON was written");
    assert_eq!(outcome["stack"]["status"], "UPDATE_COMPLETE");
    for function in ["GreeterFunction", "WelcomeFunction"] {
        let timeline = deployment(&outcome, function)["timeline"].to_string();
        assert!(
            timeline.contains("AlarmsOverridden") && timeline.contains("alarms off"),
            "the audit trail of {function}: {timeline}"
        );
    }
    assert!(report.contains("AlarmsOverridden"), "the report records it");
}

/// The stack template with `from` replaced by `to`, in a file of its own.
fn broken_template(name: &str, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(stack_template()).unwrap();
    assert!(text.contains(from), "{from}");
    let dir = std::env::temp_dir().join(format!("codedeploy-local-stack-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The CodeUris are relative to the template's folder: keep them pointing at the examples.
    let examples = stack_template()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    let text = text
        .replacen(from, to, 1)
        .replace("CodeUri: ../", &format!("CodeUri: {}/", examples.display()));
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_function_and_what_is_wrong() {
    let cases = [
        (
            broken_template("no-hook", "PostTraffic: !Ref PostTrafficHook", "PostTraffic: !Ref NoSuchHook"),
            vec![],
            "GreeterFunction's DeploymentPreference names the hook NoSuchHook",
        ),
        (
            broken_template("no-alarm", "- !Ref WelcomeErrorsAlarm", "- !Ref NoSuchAlarm"),
            vec![],
            "WelcomeFunction's DeploymentPreference names the alarm NoSuchAlarm",
        ),
        (
            broken_template(
                "collision",
                "      CodeUri: ../hello\n      Timeout: 15\n      AutoPublishAlias: live\n      DeploymentPreference:\n        Type: !Ref DeploymentType\n        Alarms:\n          - !Ref WelcomeErrorsAlarm",
                "      FunctionName: GreeterFunction\n      CodeUri: ../hello\n      Timeout: 15\n      AutoPublishAlias: live\n      DeploymentPreference:\n        Type: !Ref DeploymentType\n        Alarms:\n          - !Ref WelcomeErrorsAlarm",
            ),
            vec![],
            "GreeterFunction and WelcomeFunction are both the function GreeterFunction",
        ),
        (
            stack_template(),
            vec!["--function", "PreTrafficHook"],
            "PreTrafficHook has no enabled DeploymentPreference",
        ),
        (
            stack_template(),
            vec!["--target-env", "NoSuchFunction.HELLO_FAULT=error"],
            "NoSuchFunction is not a function this rehearsal deploys",
        ),
        (
            stack_template(),
            vec!["--override-alarms", "NoSuchAlarm"],
            "--override-alarms NoSuchAlarm: no function deployed watches it",
        ),
    ];
    for (index, (template, args, expected)) in cases.into_iter().enumerate() {
        let (output, _, _) = deploy(&format!("bad-{index}"), &template, &args).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{expected}: {stderr}");
        assert!(
            stderr.contains(expected),
            "wanted `{expected}` in: {stderr}"
        );
    }
}
