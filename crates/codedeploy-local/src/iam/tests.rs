//! Known answers of the IAM User Guide's policy evaluation logic, one per rule, and of the
//! managed policies a Lambda deployment uses.

use super::{evaluate, managed, Policy, Verdict};

const ROLE: &str = "arn:aws:sts::000000000000:assumed-role/HookRole/CodeDeployHook_pre";
const HELLO_2: &str = "arn:aws:lambda:us-east-1:000000000000:function:hello:2";
const HOOK: &str = "arn:aws:lambda:us-east-1:000000000000:function:CodeDeployHook_pre";

fn policy(statements: &str) -> Policy {
    Policy::parse(
        "test",
        &format!(r#"{{"Version": "2012-10-17", "Statement": {statements}}}"#),
    )
    .expect("a policy")
}

fn verdict(policies: &[Policy], action: &str, resource: &str) -> Verdict {
    evaluate(policies, ROLE, action, resource, &[]).expect("evaluated")
}

/// Each `(action, resource, verdict)` is the policies' answer.
fn answers(policies: &[Policy], cases: &[(&str, &str, Verdict)]) {
    for &(action, resource, expected) in cases {
        assert_eq!(
            verdict(policies, action, resource),
            expected,
            "{action} on {resource}"
        );
    }
}

#[test]
fn an_allow_allows() {
    let p = policy(r#"[{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}]"#);
    assert_eq!(
        verdict(&[p], "lambda:InvokeFunction", HELLO_2),
        Verdict::Allowed
    );
}

#[test]
fn without_a_statement_that_applies_the_request_is_implicitly_denied() {
    let p = policy(r#"[{"Effect": "Allow", "Action": "lambda:GetAlias", "Resource": "*"}]"#);
    assert_eq!(
        verdict(&[p], "lambda:InvokeFunction", HELLO_2),
        Verdict::ImplicitlyDenied
    );
    assert_eq!(
        verdict(&[], "lambda:InvokeFunction", HELLO_2),
        Verdict::ImplicitlyDenied
    );
}

#[test]
fn an_explicit_deny_wins_over_an_allow_in_any_policy() {
    let allow = policy(r#"[{"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}]"#);
    let deny =
        policy(r#"[{"Effect": "Deny", "Action": "lambda:InvokeFunction", "Resource": "*"}]"#);
    assert_eq!(
        verdict(
            &[allow.clone(), deny.clone()],
            "lambda:InvokeFunction",
            HELLO_2
        ),
        Verdict::ExplicitlyDenied
    );
    assert_eq!(
        verdict(&[deny, allow], "lambda:GetAlias", HELLO_2),
        Verdict::Allowed,
        "a Deny of another action does not apply"
    );
}

#[test]
fn actions_match_with_wildcards() {
    let p = policy(
        r#"[{"Effect": "Allow", "Action": ["lambda:Invoke*", "codedeploy:Put?ifecycle*"], "Resource": "*"}]"#,
    );
    let ps = [p];
    assert_eq!(
        verdict(&ps, "lambda:InvokeFunction", HELLO_2),
        Verdict::Allowed
    );
    assert_eq!(
        verdict(
            &ps,
            "codedeploy:PutLifecycleEventHookExecutionStatus",
            "arn:aws:codedeploy:us-east-1:000000000000:deploymentgroup:App/Group"
        ),
        Verdict::Allowed
    );
    assert_eq!(
        verdict(&ps, "lambda:GetAlias", HELLO_2),
        Verdict::ImplicitlyDenied
    );
}

#[test]
fn not_action_allows_every_other_action() {
    let p = policy(r#"[{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]"#);
    let ps = [p];
    assert_eq!(
        verdict(&ps, "lambda:InvokeFunction", HELLO_2),
        Verdict::Allowed
    );
    assert_eq!(
        verdict(
            &ps,
            "iam:PassRole",
            "arn:aws:iam::000000000000:role/CodeDeployRole"
        ),
        Verdict::ImplicitlyDenied
    );
}

#[test]
fn resources_match_with_wildcards() {
    let p = policy(
        r#"[{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "arn:aws:lambda:*:*:function:CodeDeployHook_*"}]"#,
    );
    answers(
        &[p],
        &[
            ("lambda:InvokeFunction", HOOK, Verdict::Allowed),
            ("lambda:InvokeFunction", HELLO_2, Verdict::ImplicitlyDenied),
        ],
    );
}

#[test]
fn not_resource_applies_to_every_other_resource() {
    let p = policy(
        r#"[{"Effect": "Deny", "Action": "lambda:InvokeFunction", "NotResource": "arn:aws:lambda:*:*:function:hello:*"},
                       {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}]"#,
    );
    answers(
        &[p],
        &[
            ("lambda:InvokeFunction", HELLO_2, Verdict::Allowed),
            ("lambda:InvokeFunction", HOOK, Verdict::ExplicitlyDenied),
        ],
    );
}

#[test]
fn a_condition_limits_the_statement_to_requests_that_meet_it() {
    let p = policy(
        r#"[{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
                        "Condition": {"StringEquals": {"s3:ExistingObjectTag/UseWithCodeDeploy": "true"}}}]"#,
    );
    let object = "arn:aws:s3:::bucket/revision.zip";
    let tagged = [("s3:ExistingObjectTag/UseWithCodeDeploy", "true")];
    assert_eq!(
        evaluate(
            std::slice::from_ref(&p),
            ROLE,
            "s3:GetObject",
            object,
            &tagged
        )
        .expect("evaluated"),
        Verdict::Allowed
    );
    assert_eq!(
        verdict(&[p], "s3:GetObject", object),
        Verdict::ImplicitlyDenied
    );
}

#[test]
fn codedeploys_managed_role_invokes_only_hooks_named_codedeployhook() {
    let role = managed::by_name("arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda")
        .expect("known");
    let ps = [role];
    assert_eq!(
        verdict(&ps, "lambda:InvokeFunction", HOOK),
        Verdict::Allowed
    );
    assert_eq!(
        verdict(
            &ps,
            "lambda:InvokeFunction",
            "arn:aws:lambda:us-east-1:000000000000:function:pre-traffic"
        ),
        Verdict::ImplicitlyDenied
    );
    assert_eq!(
        verdict(
            &ps,
            "lambda:UpdateAlias",
            "arn:aws:lambda:us-east-1:000000000000:function:hello:live"
        ),
        Verdict::Allowed
    );
    assert_eq!(
        verdict(
            &ps,
            "sns:Publish",
            "arn:aws:sns:us-east-1:000000000000:alerts"
        ),
        Verdict::Allowed
    );
    let limited = [managed::by_name("AWSCodeDeployRoleForLambdaLimited").expect("known")];
    assert_eq!(
        verdict(
            &limited,
            "sns:Publish",
            "arn:aws:sns:us-east-1:000000000000:alerts"
        ),
        Verdict::ImplicitlyDenied,
        "the Limited policy has no sns:Publish"
    );
    assert!(
        managed::by_name("AdministratorAccess").is_none(),
        "unknown, not guessed"
    );
}

#[test]
fn action_names_are_case_insensitive() {
    // IAM JSON policy elements, Action: "the service prefix and the action name are case
    // insensitive".
    let p = policy(r#"[{"Effect": "Allow", "Action": "LAMBDA:invokefunction", "Resource": "*"}]"#);
    assert_eq!(
        verdict(&[p], "lambda:InvokeFunction", HELLO_2),
        Verdict::Allowed
    );
}

#[test]
fn a_document_that_is_not_a_policy_is_an_error_naming_it() {
    let err = Policy::parse("HookRole/inline", r#"{"Statement": 7}"#).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("policy HookRole/inline is not an IAM policy document"),
        "{err}"
    );
}

#[test]
fn an_action_without_a_resource_is_granted_by_star_only() {
    let star =
        policy(r#"[{"Effect": "Allow", "Action": "cloudwatch:GetMetricData", "Resource": "*"}]"#);
    assert_eq!(
        verdict(&[star], "cloudwatch:GetMetricData", "*"),
        Verdict::Allowed
    );
    let scoped = policy(
        r#"[{"Effect": "Allow", "Action": "cloudwatch:GetMetricData", "Resource": "arn:aws:cloudwatch:us-east-1:000000000000:alarm:*"}]"#,
    );
    assert_eq!(
        verdict(&[scoped], "cloudwatch:GetMetricData", "*"),
        Verdict::ImplicitlyDenied
    );
}

#[test]
fn a_resource_policy_grants_the_service_it_names_on_the_source_it_names() {
    use super::evaluate_for_service;
    let permission = Policy::parse(
        "HelloApiPermission",
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "apigateway.amazonaws.com"},
            "Action": "lambda:InvokeFunction",
            "Resource": "arn:aws:lambda:us-east-1:000000000000:function:hello:live",
            "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:execute-api:us-east-1:000000000000:HelloApi/*/GET/hello"}}}]}"#,
    )
    .expect("a policy");
    let live = "arn:aws:lambda:us-east-1:000000000000:function:hello:live";
    let from = |source: &str, service: &str, resource: &str| {
        evaluate_for_service(
            std::slice::from_ref(&permission),
            service,
            "lambda:InvokeFunction",
            resource,
            &[("aws:SourceArn", source)],
        )
        .expect("evaluated")
    };
    let route = "arn:aws:execute-api:us-east-1:000000000000:HelloApi/$default/GET/hello";
    assert_eq!(
        from(route, "apigateway.amazonaws.com", live),
        Verdict::Allowed
    );
    let other_route = "arn:aws:execute-api:us-east-1:000000000000:HelloApi/$default/POST/hello";
    assert_eq!(
        from(other_route, "apigateway.amazonaws.com", live),
        Verdict::ImplicitlyDenied
    );
    assert_eq!(
        from(route, "sns.amazonaws.com", live),
        Verdict::ImplicitlyDenied
    );
    let version = "arn:aws:lambda:us-east-1:000000000000:function:hello:2";
    assert_eq!(
        from(route, "apigateway.amazonaws.com", version),
        Verdict::ImplicitlyDenied
    );
}

#[test]
fn a_topic_policy_grants_cloudwatch_the_alarms_it_lists() {
    use super::evaluate_for_service;
    let policy = Policy::parse(
        "TopicPolicy",
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish",
            "Resource": "arn:aws:sns:us-east-1:000000000000:Topic",
            "Condition": {"ArnEquals": {"aws:SourceArn": [
                "arn:aws:cloudwatch:us-east-1:000000000000:alarm:A",
                "arn:aws:cloudwatch:us-east-1:000000000000:alarm:B"]}}}]}"#,
    )
    .expect("a policy");
    let publish = |alarm: &str| {
        evaluate_for_service(
            std::slice::from_ref(&policy),
            "cloudwatch.amazonaws.com",
            "sns:Publish",
            "arn:aws:sns:us-east-1:000000000000:Topic",
            &[("aws:SourceArn", alarm)],
        )
        .expect("evaluated")
    };
    assert_eq!(
        publish("arn:aws:cloudwatch:us-east-1:000000000000:alarm:B"),
        Verdict::Allowed
    );
    assert_eq!(
        publish("arn:aws:cloudwatch:us-east-1:000000000000:alarm:C"),
        Verdict::ImplicitlyDenied
    );
}
