use aws_sdk_codedeploy::Client;
use aws_smithy_mocks::{mock, Rule};

use tokio::time::Instant;

use super::*;
use crate::test_support::{
    self, GET_APPLICATION_REVISION, GET_DEPLOYMENT_APPSPEC, GET_DEPLOYMENT_NO_CONTENT,
    GET_DEPLOYMENT_STRING,
};

fn get_deployment(body: &'static str) -> Rule {
    mock!(Client::get_deployment)
        .match_requests(|r| r.deployment_id() == Some("d-AB12CD34E"))
        .sequence()
        .http_status(200, Some(body.to_owned()))
        .repeatedly()
        .build()
}

fn get_deployment_denied() -> Rule {
    mock!(Client::get_deployment)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type": "AccessDeniedException", "message": "not authorized to perform codedeploy:GetDeployment"}"#.into()),
        )
        .build()
}

fn known_as_hook(name: &str) -> Known {
    Known {
        own_function_name: Some(name.into()),
        ..Known::default()
    }
}

async fn resolve_with(rules: &[&Rule], known: &Known) -> Result<Deployment, Error> {
    resolve_read(rules, known, None).await.map(|r| r.deployment)
}

async fn resolve_read(
    rules: &[&Rule],
    known: &Known,
    deadline: Option<Instant>,
) -> Result<Resolved, Error> {
    let (policy, log) = (CallPolicy::default(), CallLog::default());
    let codedeploy = test_support::codedeploy(rules);
    let reading = Reading {
        codedeploy: &codedeploy,
        policy: &policy,
        log: &log,
        deadline,
    };
    resolve(&reading, Some("d-AB12CD34E"), known).await
}

/// A GetDeployment answering with this AppSpec content, inline.
fn appspec_says(content: &str) -> Rule {
    let body = serde_json::json!({"deploymentInfo": {"applicationName": "app", "revision": {
        "revisionType": "String", "string": {"content": content}}}})
    .to_string();
    mock!(Client::get_deployment)
        .sequence()
        .http_status(200, Some(body))
        .repeatedly()
        .build()
}

fn appspec_of(name: &str, target_version: &str) -> String {
    serde_json::json!({"Resources": [{"Fn": {"Type": "AWS::Lambda::Function",
        "Properties": {"Name": name, "Alias": "live", "CurrentVersion": "3", "TargetVersion": target_version}}}]})
    .to_string()
}

fn at_home() -> Known {
    Known {
        home: Home::from_own_arn(
            "arn:aws:lambda:eu-west-1:123456789012:function:CodeDeployHook_pre",
            None,
        ),
        ..Known::default()
    }
}

#[tokio::test]
async fn every_appspec_shape_gives_the_same_target() {
    let revision = mock!(Client::get_application_revision)
        .match_requests(|r| {
            r.application_name() == Some("hello-app-ServerlessDeploymentApplication-1ABC")
        })
        .sequence()
        .http_status(200, Some(GET_APPLICATION_REVISION.to_owned()))
        .build();
    for (body, extra) in [
        (GET_DEPLOYMENT_APPSPEC, None),
        (GET_DEPLOYMENT_STRING, None),
        (GET_DEPLOYMENT_NO_CONTENT, Some(&revision)),
    ] {
        let deployment_rule = get_deployment(body);
        let mut rules = vec![&deployment_rule];
        rules.extend(extra);
        let d = resolve_with(&rules, &known_as_hook("CodeDeployHook_pre_traffic"))
            .await
            .unwrap();
        assert_eq!(d.function_name, "hello");
        assert_eq!(d.target_version, "4");
        assert_eq!(d.current_version.as_deref(), Some("3"));
        assert_eq!(d.alias.as_deref(), Some("live"));
        assert_eq!(d.phase, Phase::PreTraffic);
        assert_eq!(d.deployment_id.as_deref(), Some("d-AB12CD34E"));
    }
    assert_eq!(
        revision.num_calls(),
        1,
        "GetApplicationRevision is called only when content is not inline"
    );
}

#[tokio::test]
async fn yaml_appspec_content_is_read() {
    let yaml = include_str!("../../tests/data/appspec-lambda.yaml");
    let body: &'static str = Box::leak(
        serde_json::json!({"deploymentInfo": {"applicationName": "app", "revision": {
            "revisionType": "String", "string": {"content": yaml}}}})
        .to_string()
        .into_boxed_str(),
    );
    let rule = get_deployment(body);
    let d = resolve_with(
        &[&rule],
        &known_as_hook("arn:aws:lambda:eu-west-1:1:function:CodeDeployHook_post_traffic"),
    )
    .await
    .unwrap();
    assert_eq!(d.target_version, "4");
    assert_eq!(d.phase, Phase::PostTraffic);
}

#[tokio::test]
async fn the_phase_is_unknown_when_this_function_is_not_a_listed_hook() {
    let rule = get_deployment(GET_DEPLOYMENT_STRING);
    let d = resolve_with(&[&rule], &known_as_hook("some-other-function"))
        .await
        .unwrap();
    assert_eq!(d.phase, Phase::Unknown);
    let configured = Known {
        phase: Some(Phase::PostTraffic),
        ..known_as_hook("CodeDeployHook_pre_traffic")
    };
    let d = resolve_with(&[&rule], &configured).await.unwrap();
    assert_eq!(
        d.phase,
        Phase::PostTraffic,
        "configuration wins over discovery"
    );
}

#[tokio::test]
async fn an_environment_target_that_disagrees_with_the_appspec_fails_naming_both() {
    let rule = get_deployment(GET_DEPLOYMENT_APPSPEC);
    let known = Known {
        in_env: Some(
            Named::parse(
                TARGET_ENV,
                "arn:aws:lambda:eu-west-1:123456789012:function:hello:5",
            )
            .unwrap(),
        ),
        ..Known::default()
    };
    let err = resolve_with(&[&rule], &known).await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::TargetConflict { .. }), "{message}");
    assert!(
        message.contains(
            "CODEDEPLOY_HOOKS_TARGET says `arn:aws:lambda:eu-west-1:123456789012:function:hello:5`"
        ),
        "{message}"
    );
    assert!(
        message.contains("the deployment's AppSpec says `hello:4`"),
        "{message}"
    );
}

#[tokio::test]
async fn an_agreeing_environment_target_is_completed_by_the_appspec() {
    let rule = get_deployment(GET_DEPLOYMENT_APPSPEC);
    let known = Known {
        in_env: Some(Named::parse(TARGET_ENV, "hello:4").unwrap()),
        ..Known::default()
    };
    let d = resolve_with(&[&rule], &known).await.unwrap();
    assert_eq!(
        (d.alias.as_deref(), d.current_version.as_deref()),
        (Some("live"), Some("3"))
    );
}

#[tokio::test]
async fn code_and_environment_must_agree() {
    let known = Known {
        in_code: Some(Named::parse("Hook::target", "hello:4").unwrap()),
        in_env: Some(Named::parse(TARGET_ENV, "hello:7").unwrap()),
        ..Known::default()
    };
    let err = resolve_with(&[], &known).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("Hook::target says `hello:4` but CODEDEPLOY_HOOKS_TARGET says `hello:7`"),
        "{err}"
    );
}

#[tokio::test]
async fn a_known_target_survives_an_unreadable_deployment_but_an_unknown_one_does_not() {
    let denied = get_deployment_denied();
    let known = Known {
        in_env: Some(Named::parse(TARGET_ENV, "hello:4").unwrap()),
        ..Known::default()
    };
    let d = resolve_with(&[&denied], &known).await.unwrap();
    assert_eq!(d.target_version, "4");

    let denied = get_deployment_denied();
    let err = resolve_with(&[&denied], &Known::default())
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("codedeploy:GetDeployment failed (rejected)"),
        "{message}"
    );
    assert!(message.contains("AccessDeniedException"), "{message}");
    assert!(message.contains("permissions"), "{message}");
}

#[tokio::test]
async fn without_a_deployment_something_must_name_the_target() {
    let (policy, log) = (CallPolicy::default(), CallLog::default());
    let codedeploy = test_support::codedeploy(&[]);
    let reading = Reading {
        codedeploy: &codedeploy,
        policy: &policy,
        log: &log,
        deadline: None,
    };
    let err = resolve(&reading, None, &Known::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TargetUnknown { .. }));
    assert!(err.to_string().contains(TARGET_ENV), "{err}");
}

#[tokio::test]
async fn unusable_appspec_content_is_an_error_naming_the_deployment() {
    let body: &'static str = r#"{"deploymentInfo": {"applicationName": "app", "revision": {"revisionType": "String", "string": {"content": "{\"Resources\": []}"}}}}"#;
    let rule = get_deployment(body);
    let err = resolve_with(&[&rule], &Known::default()).await.unwrap_err();
    assert!(
        err.to_string().contains(
            "AppSpec of deployment d-AB12CD34E is unusable: its `Resources` list is empty"
        ),
        "{err}"
    );
}

#[test]
fn targets_parse_from_names_and_version_arns_only() {
    let arn = Named::parse(
        "X",
        "arn:aws:lambda:eu-west-1:123456789012:function:hello:7",
    )
    .unwrap();
    assert_eq!(
        (arn.function.name.as_str(), arn.version.as_str()),
        ("hello", "7")
    );
    assert_eq!(Named::parse("X", " hello:12 ").unwrap().version, "12");
    for bad in [
        "hello",
        "hello:live",
        "hello:$LATEST",
        ":7",
        "arn:aws:lambda:eu-west-1:1:layer:x:7",
        "arn:aws:iam::123456789012:role/hello:7",
    ] {
        let err = Named::parse("CODEDEPLOY_HOOKS_TARGET", bad)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "CODEDEPLOY_HOOKS_TARGET is invalid: `{}`",
                bad.trim()
            )),
            "{err}"
        );
    }
}

#[tokio::test]
async fn an_appspec_target_that_is_not_a_published_version_is_refused() {
    for version in ["live", "$LATEST"] {
        let rule = appspec_says(&appspec_of("hello", version));
        let err = resolve_with(&[&rule], &at_home())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!(
                "Properties.TargetVersion `{version}` is not a published version number"
            )),
            "{err}"
        );
    }
}

#[tokio::test]
async fn an_appspec_function_of_another_account_or_no_function_is_refused_naming_it() {
    let cases = [
        (
            "arn:aws:lambda:eu-west-1:999999999999:function:hello",
            "account 999999999999",
        ),
        (
            "arn:aws:lambda:us-east-1:123456789012:function:hello",
            "region us-east-1",
        ),
        ("arn:aws:iam::123456789012:role/hello", "`iam` service"),
    ];
    for (name, says) in cases {
        let rule = appspec_says(&appspec_of(name, "4"));
        let err = resolve_with(&[&rule], &at_home())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(name) && err.contains(says), "{name}: {err}");
    }
    let own = appspec_says(&appspec_of(
        "arn:aws:lambda:eu-west-1:123456789012:function:hello",
        "4",
    ));
    let d = resolve_with(&[&own], &at_home()).await.unwrap();
    assert_eq!(d.qualified_target(), "hello:4");
}

#[tokio::test]
async fn the_cross_check_compares_whole_arns() {
    let rule = appspec_says(&appspec_of(
        "arn:aws:lambda:eu-west-1:123456789012:function:hello",
        "4",
    ));
    let known = Known {
        in_env: Some(
            Named::parse(
                TARGET_ENV,
                "arn:aws:lambda:eu-west-1:210987654321:function:hello:4",
            )
            .unwrap(),
        ),
        ..Known::default()
    };
    let err = resolve_with(&[&rule], &known).await.unwrap_err();
    assert!(matches!(err, Error::TargetConflict { .. }), "{err}");
}

#[tokio::test]
async fn a_target_in_the_environment_of_another_account_is_refused() {
    let mut known = at_home();
    known.in_env = Some(
        Named::parse(
            TARGET_ENV,
            "arn:aws:lambda:eu-west-1:999999999999:function:hello:4",
        )
        .unwrap(),
    );
    let err = resolve_with(&[], &known).await.unwrap_err().to_string();
    assert!(
        err.contains("CODEDEPLOY_HOOKS_TARGET is invalid") && err.contains("account 999999999999"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stalled_cross_check_is_a_warning_within_a_bounded_slice() {
    let stalls = mock!(Client::get_deployment)
        .sequence()
        .http_status(500, Some(r#"{"__type": "InternalFailure"}"#.into()))
        .repeatedly()
        .build();
    let known = Known {
        in_env: Some(Named::parse(TARGET_ENV, "hello:4").unwrap()),
        ..Known::default()
    };
    let started = Instant::now();
    let deadline = started + std::time::Duration::from_secs(57);
    let resolved = resolve_read(&[&stalls], &known, Some(deadline))
        .await
        .unwrap();
    assert_eq!(resolved.deployment.qualified_target(), "hello:4");
    assert!(
        resolved.warnings[0]
            .contains("codedeploy:GetDeployment failed (service error) after 3 attempts"),
        "{:?}",
        resolved.warnings
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_required_read_is_retried_through_throttling() {
    let throttled_twice = mock!(Client::get_deployment)
        .sequence()
        .http_status(400, Some(crate::test_support::ERROR_THROTTLING.to_owned()))
        .times(2)
        .http_status(200, Some(GET_DEPLOYMENT_APPSPEC.to_owned()))
        .build();
    let d = resolve_with(
        &[&throttled_twice],
        &known_as_hook("CodeDeployHook_pre_traffic"),
    )
    .await
    .unwrap();
    assert_eq!(d.qualified_target(), "hello:4");
}
