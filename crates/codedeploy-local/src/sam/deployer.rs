//! The deployer's calls: what `sam deploy` (through CloudFormation, with the deployer's
//! credentials) does for a gradual deployment that the stand-in models, checked against a
//! deployer policy (`deploy --deployer-policy FILE`).
//!
//! The calls, each on the resource the Service Authorization Reference lists for it:
//! passing each function's role to Lambda (`iam:PassRole`, `iam:PassedToService`
//! `lambda.amazonaws.com`: creating or updating a function names its role), publishing the
//! new version (`lambda:PublishVersion` on the function), passing CodeDeploy's role to
//! CodeDeploy (`iam:PassRole`, `codedeploy.amazonaws.com`: the deployment group names it),
//! and the alias update CloudFormation turns into a deployment
//! (`codedeploy:GetDeploymentConfig` on the configuration, `codedeploy:CreateDeployment`
//! and `codedeploy:GetDeployment` on the group). Which of them CloudFormation makes on an
//! update, and in which order, its documentation does not list; these are the calls the
//! resources need at all. CloudFormation's own, S3's and the other resources' (alarms,
//! topics, the API, the dashboard) are not rehearsed: the shipped policies grant them, and
//! `parliament` checks their form in CI.

use std::sync::Arc;

use crate::codedeploy::plan::DeploymentPlan;
use crate::iam::{Authority, Denial, Policy, Principal, Role};

/// The deployer, as the messages name it.
const DEPLOYER_ROLE: &str = "Deployer";
const DEPLOYER_SESSION: &str = "sam-deploy";

/// One call made on the deployer's behalf: action, resource, and the service a role is
/// passed to (`iam:PassedToService`).
type Call = (&'static str, String, Option<&'static str>);

/// The calls made on the deployer's behalf for `plan` (its functions' roles passed, its
/// version published, CodeDeploy's role passed, its deployment created and read), checked
/// against `policy`: the denials, in the order the calls are made.
pub(crate) fn check(
    iam: &Authority,
    policy: &Policy,
    plan: &DeploymentPlan,
    function_roles: &[Arc<Role>],
    region_account: (&str, &str),
) -> Vec<Denial> {
    let role = Role::new(DEPLOYER_ROLE, region_account.1).with_policy(policy.clone());
    let deployer = Principal {
        role: Arc::new(role),
        session: DEPLOYER_SESSION.to_owned(),
    };
    let mut denials: Vec<Denial> = Vec::new();
    for (action, resource, passed_to) in calls(plan, function_roles, region_account) {
        let context: Vec<(&str, &str)> = passed_to
            .map(|s| ("iam:PassedToService", s))
            .into_iter()
            .collect();
        if let Some(denial) = iam.judge(&deployer, action, &resource, &context) {
            keep_distinct(&mut denials, Arc::unwrap_or_clone(denial));
        }
    }
    denials
}

/// Add `denial` unless a call of the same action on the same resource is there already.
pub(crate) fn keep_distinct(denials: &mut Vec<Denial>, denial: Denial) {
    let seen = denials
        .iter()
        .any(|d| d.action == denial.action && d.resource == denial.resource);
    if !seen {
        denials.push(denial);
    }
}

/// The calls, in the order a stack update makes them.
fn calls(
    plan: &DeploymentPlan,
    function_roles: &[Arc<Role>],
    (region, account): (&str, &str),
) -> Vec<Call> {
    let spec = &plan.spec;
    let function = format!(
        "arn:aws:lambda:{region}:{account}:function:{}",
        spec.function_name
    );
    let group = format!(
        "arn:aws:codedeploy:{region}:{account}:deploymentgroup:{}/{}",
        spec.application_name, spec.group_name
    );
    let config = format!(
        "arn:aws:codedeploy:{region}:{account}:deploymentconfig:{}",
        plan.config.api_name()
    );
    let mut calls: Vec<Call> = function_roles
        .iter()
        .map(|r| {
            (
                "iam:PassRole",
                r.arn().to_owned(),
                Some("lambda.amazonaws.com"),
            )
        })
        .collect();
    calls.push(("lambda:PublishVersion", function, None));
    if let Some(role) = &plan.service_role {
        calls.push((
            "iam:PassRole",
            role.arn().to_owned(),
            Some("codedeploy.amazonaws.com"),
        ));
    }
    calls.push(("codedeploy:GetDeploymentConfig", config, None));
    if plan.alarm_override.is_some() {
        // "If you specify an overrideAlarmConfiguration, you need the UpdateDeploymentGroup
        // IAM permission when calling CreateDeployment" (botocore `codedeploy` model).
        calls.push(("codedeploy:UpdateDeploymentGroup", group.clone(), None));
    }
    calls.push(("codedeploy:CreateDeployment", group.clone(), None));
    calls.push(("codedeploy:GetDeployment", group, None));
    calls
}
