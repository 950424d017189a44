//! Permissions, rehearsed (issue 22): the example template with one grant missing fails as AWS
//! would fail it, naming the call; the template as shipped passes under `--iam enforce`.

use std::process::Output;

use e2e::{bin_dir, binary};

/// The example template with `edit` applied (which must change it).
fn broken(name: &str, edit: impl FnOnce(&str) -> String) -> std::path::PathBuf {
    let original = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let text = std::fs::read_to_string(original).expect("template.yaml");
    let changed = edit(&text);
    assert_ne!(
        changed, text,
        "{name}: the template has what this test breaks"
    );
    let dir = std::env::temp_dir().join(format!(
        "codedeploy-local-iam-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("template.yaml");
    std::fs::write(&path, changed).unwrap();
    path
}

/// Rehearsals of this file at once: each runs the stand-in and five function processes, and
/// the example hooks' checks measure latency (`p95 under 1 s`); twelve at once on two cores
/// would test the machine, not the permissions.
static AT_ONCE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Run a rehearsal's command, at most [`AT_ONCE`] of them at a time.
async fn run(mut command: tokio::process::Command) -> Output {
    let _slot = AT_ONCE.acquire().await.expect("never closed");
    command.output().await.expect("codedeploy-local runs")
}

/// `codedeploy-local deploy` of `template`, its logs beside it, then `args`.
fn deploy(template: &std::path::Path, args: &[&str]) -> tokio::process::Command {
    let dir = template.parent().unwrap();
    let mut command = tokio::process::Command::new(binary("codedeploy-local"));
    command
        .arg("deploy")
        .arg("--bin-dir")
        .arg(bin_dir())
        .arg("--template")
        .arg(template)
        .arg("--log-dir")
        .arg(dir.join("logs"))
        .args(args);
    command
}

/// Rehearse `template` (AllAtOnce, fast clock): the process's output and the JSON outcome.
async fn rehearse(template: &std::path::Path, extra: &[&str]) -> (Output, serde_json::Value) {
    let json = template
        .parent()
        .unwrap()
        .join(format!("outcome{}.json", extra.join("")));
    let mut command = deploy(
        template,
        &["--type", "AllAtOnce", "--time-scale", "600", "--json"],
    );
    command.arg(&json).args(extra);
    let output = run(command).await;
    let text = std::fs::read_to_string(&json)
        .unwrap_or_else(|_| panic!("no outcome: {}", String::from_utf8_lossy(&output.stderr)));
    (output, serde_json::from_str(&text).expect("JSON"))
}

/// The outcome failed, its reason and the summary naming `action`.
fn failed_naming(output: &Output, outcome: &serde_json::Value, code: &str, action: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(outcome["status"], "Failed", "{stderr}");
    assert_eq!(outcome["error"][0], code, "{stderr}");
    let reason = outcome["error"][1].as_str().unwrap_or_default();
    assert!(
        reason.contains(action),
        "the verdict names {action}: {reason}"
    );
    assert!(
        stderr.contains("What the template's roles lack:") && stderr.contains(action),
        "the summary names {action}: {stderr}"
    );
    let denied: Vec<&serde_json::Value> = outcome["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "AccessDenied")
        .collect();
    assert!(
        denied
            .iter()
            .any(|e| e["about"]["action"] == action && e["about"]["enforced"] == true),
        "a refused {action} on the timeline: {denied:?}"
    );
    assert!(outcome["denials"].as_array().is_some_and(|d| !d.is_empty()));
}

fn shifts(outcome: &serde_json::Value) -> usize {
    outcome["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "TrafficShifted")
        .count()
}

#[tokio::test]
async fn a_hook_that_may_not_report_leaves_the_deployment_to_fail() {
    let template = broken("report", |t| {
        t.replacen(
            "                - codedeploy:PutLifecycleEventHookExecutionStatus\n",
            "",
            1,
        )
    });
    let (output, outcome) = rehearse(&template, &[]).await;
    failed_naming(
        &output,
        &outcome,
        "TIMEOUT",
        "codedeploy:PutLifecycleEventHookExecutionStatus",
    );
    assert_eq!(shifts(&outcome), 0, "no traffic moved");
}

#[tokio::test]
async fn a_hook_that_may_not_invoke_the_version_under_test_fails_it() {
    let template = broken("invoke", |t| {
        t.replacen("                - !Ref HelloFunction.Version\n", "", 1)
    });
    let (output, outcome) = rehearse(&template, &[]).await;
    failed_naming(
        &output,
        &outcome,
        "HOOK_EXECUTION_FAILURE",
        "lambda:InvokeFunction",
    );
    let reason = outcome["error"][1].as_str().unwrap_or_default();
    assert!(
        reason.contains("function:HelloFunction:2"),
        "the qualified ARN: {reason}"
    );
}

#[tokio::test]
async fn a_hook_not_named_codedeployhook_fails_before_any_traffic_moves() {
    let template = broken("name", |t| {
        t.replacen(
            r#"FunctionName: !Sub "CodeDeployHook_${AWS::StackName}_pre_traffic""#,
            r#"FunctionName: !Sub "${AWS::StackName}_pre_traffic""#,
            1,
        )
    });
    let (output, outcome) = rehearse(&template, &[]).await;
    failed_naming(
        &output,
        &outcome,
        "IAM_ROLE_PERMISSIONS",
        "lambda:InvokeFunction",
    );
    assert_eq!(shifts(&outcome), 0, "no traffic moved");
    let reason = outcome["error"][1].as_str().unwrap_or_default();
    assert!(reason.contains("AWSLambda"), "{reason}");
}

#[tokio::test]
async fn a_post_traffic_hook_that_may_not_read_metrics_fails() {
    let template = broken("metrics", |t| {
        // The second grant of GetMetricData is the PostTraffic hook's.
        let at = t
            .match_indices("                - cloudwatch:GetMetricData\n")
            .nth(1)
            .expect("two grants")
            .0;
        format!(
            "{}                - cloudwatch:ListMetrics\n{}",
            &t[..at],
            &t[at + "                - cloudwatch:GetMetricData\n".len()..]
        )
    });
    let (output, outcome) = rehearse(&template, &[]).await;
    failed_naming(
        &output,
        &outcome,
        "HOOK_EXECUTION_FAILURE",
        "cloudwatch:GetMetricData",
    );
}

#[tokio::test]
async fn report_mode_lets_the_denied_call_through_and_lists_it() {
    let template = broken("report-mode", |t| {
        t.replacen("                - !Ref HelloFunction.Version\n", "", 1)
    });
    let (output, outcome) = rehearse(&template, &["--iam", "report"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(outcome["status"], "Succeeded", "{stderr}");
    assert!(stderr.contains("would be denied (let through)"), "{stderr}");
    let denial = &outcome["denials"][0];
    assert_eq!(denial["action"], "lambda:InvokeFunction");
    assert_eq!(denial["enforced"], false);
}

#[tokio::test]
async fn the_template_as_shipped_passes_under_enforce_with_no_denial() {
    // A copy (with a newline more), so the outcome is written beside it.
    let copy = broken("shipped", |t| format!("{t}\n"));
    let (output, outcome) = rehearse(&copy, &[]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(outcome["status"], "Succeeded", "{stderr}");
    assert_eq!(outcome["denials"], serde_json::json!([]), "{stderr}");
    assert!(
        !stderr.contains("What the template's roles lack"),
        "{stderr}"
    );
}

/// `deploy --deployer-policy`: the shipped policy, and the same with a change.
async fn with_deployer_policy(
    name: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> (Output, serde_json::Value) {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deployer-policy.json");
    let mut policy: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(shipped).expect("deployer-policy.json"))
            .expect("JSON");
    edit(&mut policy);
    let template = broken(name, |t| format!("{t}\n"));
    let path = template.parent().unwrap().join("deployer-policy.json");
    std::fs::write(&path, policy.to_string()).unwrap();
    let mut command = deploy(&template, &["--type", "AllAtOnce", "--time-scale", "600"]);
    command.arg("--deployer-policy").arg(&path);
    let output = run(command).await;
    (output, policy)
}

fn statements_without(policy: &mut serde_json::Value, drop: impl Fn(&serde_json::Value) -> bool) {
    let statements = policy["Statement"].as_array_mut().expect("statements");
    let before = statements.len();
    statements.retain(|s| !drop(s));
    assert!(
        statements.len() < before,
        "the policy has what this test takes away"
    );
}

#[tokio::test]
async fn the_shipped_deployer_policy_passes_the_rehearsal() {
    let (output, _) = with_deployer_policy("deployer", |_| {}).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("Deployer:"), "{stderr}");
}

#[tokio::test]
async fn the_deployer_policy_without_pass_role_fails_naming_it() {
    let (output, _) = with_deployer_policy("deployer-no-pass-role", |p| {
        statements_without(p, |s| s["Action"] == "iam:PassRole");
    })
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Verdict: Failed before any deployment")
            && stderr.contains("may not perform iam:PassRole"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("TrafficShifted"),
        "nothing deployed: {stderr}"
    );
    assert!(
        stderr.contains(
            r#""Condition":{"StringEquals":{"iam:PassedToService":"codedeploy.amazonaws.com"}}"#
        ),
        "the grant names the service the role is passed to: {stderr}"
    );
}

#[tokio::test]
async fn passing_codedeploys_role_to_another_service_does_not_grant_it() {
    let (output, _) = with_deployer_policy("deployer-wrong-service", |p| {
        for s in p["Statement"].as_array_mut().unwrap() {
            if s["Sid"] == "PassCodeDeploysRoleToCodeDeployOnly" {
                s["Condition"]["StringEquals"]["iam:PassedToService"] =
                    "lambda.amazonaws.com".into();
            }
        }
    })
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "iam:PassRole on resource: arn:aws:iam::000000000000:role/HelloDeploymentRole"
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_deployer_policy_that_is_no_policy_exits_2_naming_the_file() {
    let dir = std::env::temp_dir().join(format!(
        "codedeploy-local-iam-{}-bad-policy",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("policy.json");
    std::fs::write(&path, "{not json").unwrap();
    let output = e2e::deploy_command(&dir)
        .arg("--deployer-policy")
        .arg(&path)
        .output()
        .await
        .expect("codedeploy-local runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("deployer policy") && stderr.contains("policy.json"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_declared_http_api_without_its_lambda_permission_answers_500_and_the_post_traffic_check_fails(
) {
    let template = broken("api-permission", |t| {
        let start = t.find("  HelloApiPermission:").expect("the permission");
        let end = t
            .find("  # Any error through the alias")
            .expect("what follows it");
        format!("{}{}", &t[..start], &t[end..])
    });
    let (output, outcome) = rehearse(&template, &[]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(outcome["status"], "Failed", "{stderr}");
    let reason = outcome["error"][1].as_str().unwrap_or_default();
    assert!(
        reason.contains("left: 500"),
        "API Gateway answered 500: {reason}"
    );
    let denial = &outcome["denials"][0];
    assert_eq!(denial["principal"], "apigateway.amazonaws.com", "{stderr}");
    assert_eq!(
        denial["resource"],
        "arn:aws:lambda:us-east-1:000000000000:function:HelloFunction:live"
    );
    assert!(
        stderr.contains(r#""Principal":{"Service":"apigateway.amazonaws.com"}"#)
            && stderr.contains(r#""ArnLike":{"aws:SourceArn":"arn:aws:execute-api:us-east-1:000000000000:HelloApi/$default/GET/hello"}"#),
        "the summary gives the permission's statement: {stderr}"
    );
}

#[tokio::test]
async fn cloudwatch_publishes_only_the_alarms_the_topic_policy_names() {
    let template = broken("topic-policy", |t| {
        t.replacen("                  - !GetAtt AliasErrorsAlarm.Arn\n", "", 1)
            .replacen(
                "                  - !GetAtt NewVersionErrorsAlarm.Arn\n",
                "",
                1,
            )
    });
    let json = template.parent().unwrap().join("outcome.json");
    let mut command = deploy(&template, &["--time-scale", "60", "--traffic", "20"]);
    command
        .args(["--target-env", "HELLO_FAULT=error-unmarked", "--json"])
        .arg(&json);
    let output = run(command).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let outcome: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the outcome")).expect("JSON");
    assert_eq!(
        outcome["error"][0], "ALARM_ACTIVE",
        "the alarm still rolls back: {stderr}"
    );
    let timeline = outcome["timeline"].as_array().unwrap();
    let refused = timeline.iter().any(|e| {
        e["event"] == "AccessDenied"
            && e["about"]["principal"] == "cloudwatch.amazonaws.com"
            && e["about"]["action"] == "sns:Publish"
    });
    assert!(refused, "CloudWatch's publish refused: {stderr}");
    let published_alarm = timeline.iter().any(|e| {
        e["event"] == "NotificationPublished"
            && e["detail"]
                .as_str()
                .is_some_and(|d| d.contains("alarm AliasErrorsAlarm"))
    });
    assert!(!published_alarm, "not published: {stderr}");
}
