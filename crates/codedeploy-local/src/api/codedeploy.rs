//! The CodeDeploy API (awsJson1.1, `X-Amz-Target: CodeDeploy_20141006.<Operation>`): each
//! operation's input is a typed `Deserialize`, checked as the service model says.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use codedeploy_hooks::appspec::AppSpec;

use super::codedeploy_shapes::{deployment_info, revision_with_content};
use super::error::ApiError;
use super::faults::before;
use super::permission::{Permission, Service};
use crate::codedeploy::config::TrafficConfig;
use crate::codedeploy::deployments::{is_deployment_id, ReportError, StopError, StopRequest};
use crate::codedeploy::plan::{AlarmOverride, DeploymentPlan};
use crate::codedeploy::spec::{DeploymentSpec, HookStatus, RevisionForm};
use crate::codedeploy::{CodeDeploy, CreateError};
use crate::faults::{Faults, Operation};

const TARGET_PREFIX: &str = "CodeDeploy_20141006.";
/// `DeploymentStatus` of the service model.
const DEPLOYMENT_STATUSES: [&str; 8] = [
    "Created",
    "Queued",
    "InProgress",
    "Baking",
    "Succeeded",
    "Failed",
    "Stopped",
    "Ready",
];

/// A CodeDeploy call (`POST /`, which it shares with CloudWatch): `X-Amz-Target` names
/// the operation.
pub(crate) async fn dispatch(
    codedeploy: &Arc<CodeDeploy>,
    faults: &Faults,
    permission: &Permission,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let operation = operation_of(headers)?;
    before(faults, operation).await?;
    let cd = codedeploy;
    let allowed = Resources { cd, permission };
    allowed.check(operation, body)?;
    let output = match operation {
        Operation::PutLifecycleEventHookExecutionStatus => put_status(cd, input(body)?),
        Operation::GetDeployment => get_deployment(cd, input(body)?),
        Operation::GetApplicationRevision => get_application_revision(cd, input(body)?),
        Operation::ListDeployments => list_deployments(cd, input(body)?),
        Operation::StopDeployment => stop_deployment(cd, input(body)?),
        Operation::CreateDeployment => create_deployment(cd, input(body)?),
        other => Err(ApiError::codedeploy(
            "UnknownOperationException",
            format!("{} is not a CodeDeploy operation", other.api_name()),
        )),
    }?;
    let mut response = (StatusCode::OK, output.to_string()).into_response();
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    Ok(response)
}

/// The resources a CodeDeploy call is checked on (the Service Authorization Reference, AWS
/// CodeDeploy): a deployment's calls on its deployment group
/// (`arn:aws:codedeploy:REGION:ACCOUNT:deploymentgroup:APPLICATION/GROUP`), a revision's on
/// its application. A deployment the stand-in does not know is left to the operation to
/// refuse (which resource AWS checks then is undocumented), as is `ListDeployments` without
/// a group, checked on `*`.
struct Resources<'a> {
    cd: &'a CodeDeploy,
    permission: &'a Permission,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Scope {
    deployment_id: Option<String>,
    application_name: Option<String>,
    deployment_group_name: Option<String>,
}

impl Resources<'_> {
    fn check(&self, operation: Operation, body: &[u8]) -> Result<(), ApiError> {
        let scope: Scope = serde_json::from_slice(body).unwrap_or_default();
        let (region, account) = (
            &self.cd.lambda().registry().region,
            &self.cd.lambda().registry().account_id,
        );
        let group = |app: &str, group: &str| {
            format!("arn:aws:codedeploy:{region}:{account}:deploymentgroup:{app}/{group}")
        };
        let resource = match operation {
            Operation::PutLifecycleEventHookExecutionStatus
            | Operation::GetDeployment
            | Operation::StopDeployment => {
                let Some(id) = scope.deployment_id.as_deref() else {
                    return Ok(());
                };
                let found = self
                    .cd
                    .deployments()
                    .read(id, |r| group(&r.spec.application_name, &r.spec.group_name));
                let Some(resource) = found else {
                    return Ok(());
                };
                resource
            }
            Operation::GetApplicationRevision => match scope.application_name.as_deref() {
                Some(app) => format!("arn:aws:codedeploy:{region}:{account}:application:{app}"),
                None => return Ok(()),
            },
            Operation::ListDeployments | Operation::CreateDeployment => {
                match (
                    scope.application_name.as_deref(),
                    scope.deployment_group_name.as_deref(),
                ) {
                    (Some(app), Some(name)) => group(app, name),
                    _ => "*".to_owned(),
                }
            }
            _ => return Ok(()),
        };
        let action = format!("codedeploy:{}", operation.api_name());
        self.permission
            .check(Service::CodeDeploy, &action, &resource)
    }
}

/// The CodeDeploy operation `X-Amz-Target` names, or `UnknownOperationException`.
fn operation_of(headers: &HeaderMap) -> Result<Operation, ApiError> {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(name) = target.strip_prefix(TARGET_PREFIX) else {
        return Err(ApiError::codedeploy(
            "UnknownOperationException",
            format!("codedeploy-local serves CodeDeploy ({TARGET_PREFIX}*) and Lambda; X-Amz-Target `{target}` is neither"),
        ));
    };
    Operation::from_api_name(name)
        .filter(|op| op.is_codedeploy())
        .ok_or_else(|| {
            ApiError::codedeploy(
                "UnknownOperationException",
                format!(
                    "codedeploy-local does not implement CodeDeploy {name}; it serves PutLifecycleEventHookExecutionStatus, \
                     GetDeployment, GetApplicationRevision, ListDeployments, CreateDeployment and StopDeployment"
                ),
            )
        })
}

/// An operation's input, or `SerializationException`.
fn input<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        ApiError::codedeploy(
            "SerializationException",
            format!("the input does not match the operation: {e}"),
        )
    })
}

/// A required string member: missing or empty is `code`.
fn required<'a>(
    value: &'a Option<String>,
    name: &str,
    code: &'static str,
) -> Result<&'a str, ApiError> {
    value
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::codedeploy(code, format!("{name} is required")))
}

/// A deployment id: present (`DeploymentIdRequiredException`) and well formed
/// (`InvalidDeploymentIdException`).
fn deployment_id(value: &Option<String>) -> Result<&str, ApiError> {
    let id = required(value, "deploymentId", "DeploymentIdRequiredException")?;
    if !is_deployment_id(id) {
        return Err(ApiError::codedeploy(
            "InvalidDeploymentIdException",
            format!("Specified DeploymentId is not in the valid format: {id}"),
        ));
    }
    Ok(id)
}

fn no_deployment(id: &str) -> ApiError {
    ApiError::codedeploy(
        "DeploymentDoesNotExistException",
        format!("The deployment {id} could not be found."),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutStatusInput {
    deployment_id: Option<String>,
    lifecycle_event_hook_execution_id: Option<String>,
    status: Option<String>,
}

fn put_status(cd: &CodeDeploy, input: PutStatusInput) -> Result<Value, ApiError> {
    let deployment_id = deployment_id(&input.deployment_id)?;
    let execution_id = required(
        &input.lifecycle_event_hook_execution_id,
        "lifecycleEventHookExecutionId",
        "InvalidLifecycleEventHookExecutionIdException",
    )?;
    let status = match input.status.as_deref() {
        Some("Succeeded") => HookStatus::Succeeded,
        Some("Failed") => HookStatus::Failed,
        other => {
            return Err(ApiError::codedeploy(
                "InvalidLifecycleEventHookExecutionStatusException",
                format!("status {other:?} is not valid: a hook reports Succeeded or Failed"),
            ))
        }
    };
    cd.deployments().report(deployment_id, execution_id, status).map_err(|e| match e {
        ReportError::NoDeployment => no_deployment(deployment_id),
        ReportError::NoExecution => ApiError::codedeploy(
            "InvalidLifecycleEventHookExecutionIdException",
            format!("The lifecycle event hook execution id is not valid for deployment {deployment_id}."),
        ),
        ReportError::AlreadyCompleted => ApiError::codedeploy(
            "LifecycleEventAlreadyCompletedException",
            "An attempt to return the status of an already completed lifecycle event occurred.",
        ),
    })?;
    Ok(json!({"lifecycleEventHookExecutionId": execution_id}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeploymentIdInput {
    deployment_id: Option<String>,
}

fn get_deployment(cd: &CodeDeploy, input: DeploymentIdInput) -> Result<Value, ApiError> {
    let id = deployment_id(&input.deployment_id)?;
    cd.deployments()
        .read(id, |r| json!({"deploymentInfo": deployment_info(r)}))
        .ok_or_else(|| no_deployment(id))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct StopDeploymentInput {
    deployment_id: Option<String>,
    auto_rollback_enabled: Option<bool>,
}

/// `StopDeployment`. Whether a stop without `autoRollbackEnabled` leaves a Lambda alias
/// where it was (weights included) is not documented; the stand-in leaves it so, and rolls
/// back only when asked.
fn stop_deployment(cd: &CodeDeploy, input: StopDeploymentInput) -> Result<Value, ApiError> {
    let id = deployment_id(&input.deployment_id)?;
    let request = StopRequest {
        auto_rollback: input.auto_rollback_enabled.unwrap_or(false),
    };
    cd.deployments()
        .request_stop(id, request)
        .map_err(|e| match e {
            StopError::NoDeployment => no_deployment(id),
            StopError::AlreadyCompleted => ApiError::codedeploy(
                "DeploymentAlreadyCompletedException",
                format!("The deployment {id} is already completed."),
            ),
        })?;
    Ok(
        json!({"status": "Pending", "statusMessage": if request.auto_rollback {
            format!("Stop of {id} requested; the alias will be rolled back")
        } else {
            format!("Stop of {id} requested; the alias stays where it is")
        }}),
    )
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RevisionLocation {
    revision_type: Option<String>,
    string: Option<RawContent>,
    app_spec_content: Option<RawContent>,
}

#[derive(Deserialize, Default)]
struct RawContent {
    content: Option<String>,
    sha256: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetRevisionInput {
    application_name: Option<String>,
    revision: Option<RevisionLocation>,
}

fn get_application_revision(cd: &CodeDeploy, input: GetRevisionInput) -> Result<Value, ApiError> {
    let application = required(
        &input.application_name,
        "applicationName",
        "ApplicationNameRequiredException",
    )?;
    cd.check_application(application)?;
    let revision = input
        .revision
        .ok_or_else(|| ApiError::codedeploy("RevisionRequiredException", "revision is required"))?;
    let form = match revision.revision_type.as_deref() {
        Some("String") => RevisionForm::String,
        _ => RevisionForm::AppSpecContent,
    };
    let sha256 = [revision.string, revision.app_spec_content]
        .into_iter()
        .flatten()
        .find_map(|r| r.sha256)
        .ok_or_else(|| {
            ApiError::codedeploy(
                "InvalidRevisionException",
                "the revision has no sha256 to look up",
            )
        })?;
    let content = cd
        .deployments()
        .revision_content(application, &sha256)
        .ok_or_else(|| {
            ApiError::codedeploy(
                "RevisionDoesNotExistException",
                format!("No revision {sha256} in application {application}"),
            )
        })?;
    Ok(json!({
        "applicationName": application,
        "revision": revision_with_content(form, &content, &sha256),
        "revisionInfo": {"description": "", "deploymentGroups": []},
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListDeploymentsInput {
    application_name: Option<String>,
    deployment_group_name: Option<String>,
    include_only_statuses: Option<Vec<String>>,
    next_token: Option<String>,
}

fn list_deployments(cd: &CodeDeploy, input: ListDeploymentsInput) -> Result<Value, ApiError> {
    let (application, group) = (
        input.application_name.as_deref(),
        input.deployment_group_name.as_deref(),
    );
    match (application, group) {
        (Some(_), None) => {
            return Err(ApiError::codedeploy(
                "DeploymentGroupNameRequiredException",
                "If applicationName is specified, then deploymentGroupName must be specified",
            ))
        }
        (None, Some(_)) => {
            return Err(ApiError::codedeploy(
                "ApplicationNameRequiredException",
                "If deploymentGroupName is specified, then applicationName must be specified",
            ))
        }
        (Some(app), Some(group)) => {
            cd.with_group(app, group, |_| ())?;
        }
        (None, None) => {}
    }
    let statuses = input.include_only_statuses.unwrap_or_default();
    if let Some(bad) = statuses
        .iter()
        .find(|s| !DEPLOYMENT_STATUSES.contains(&s.as_str()))
    {
        return Err(ApiError::codedeploy(
            "InvalidDeploymentStatusException",
            format!(
                "`{bad}` is not a deployment status; use one of {}",
                DEPLOYMENT_STATUSES.join(", ")
            ),
        ));
    }
    let ids = cd.deployments().ids(|r| {
        application.is_none_or(|a| a == r.spec.application_name)
            && group.is_none_or(|g| g == r.spec.group_name)
            && (statuses.is_empty() || statuses.iter().any(|s| json!(r.status) == json!(s)))
    });
    let start = match input.next_token.as_deref() {
        None => 0,
        Some(token) => ids.iter().position(|id| id == token).ok_or_else(|| {
            ApiError::codedeploy(
                "InvalidNextTokenException",
                "The next token was specified in an invalid format.",
            )
        })?,
    };
    let mut output = json!({"deployments": ids.iter().skip(start).take(cd.list_page_size()).collect::<Vec<_>>()});
    if let Some(next) = ids.get(start + cd.list_page_size()) {
        output["nextToken"] = json!(next);
    }
    Ok(output)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateDeploymentInput {
    application_name: Option<String>,
    deployment_group_name: Option<String>,
    revision: Option<RevisionLocation>,
    deployment_config_name: Option<String>,
    override_alarm_configuration: Option<AlarmOverride>,
}

impl From<CreateError> for ApiError {
    fn from(e: CreateError) -> Self {
        let code = match e {
            CreateError::NoApplication(_) => "ApplicationDoesNotExistException",
            CreateError::NoGroup { .. } => "DeploymentGroupDoesNotExistException",
            CreateError::GroupBusy { .. } => "DeploymentLimitExceededException",
            CreateError::Revision(_) => "InvalidRevisionException",
        };
        ApiError::codedeploy(code, e.to_string())
    }
}

/// An override naming alarms the stand-in knows (the group's, from the template): the
/// stand-in evaluates its alarms itself and cannot watch others.
fn check_override(o: &AlarmOverride, plan: &DeploymentPlan) -> Result<(), ApiError> {
    let known: Vec<&str> = plan.alarms.iter().map(|a| a.name.as_str()).collect();
    if o.alarms.len() > 10 {
        return Err(ApiError::codedeploy(
            "InvalidAlarmConfigException",
            "The alarm configuration is invalid: at most 10 alarms",
        ));
    }
    match o.alarms.iter().find(|name| !known.contains(&name.as_str())) {
        None => Ok(()),
        Some(name) => Err(ApiError::codedeploy(
            "InvalidAlarmConfigException",
            format!(
                "The alarm configuration is invalid: codedeploy-local knows only the deployment group's alarms ({}), not {name}",
                known.join(", ")
            ),
        )),
    }
}

/// A revision with inline content: its form, its content and the AppSpec in it.
fn revision_of(
    revision: Option<RevisionLocation>,
) -> Result<(RevisionForm, String, AppSpec), ApiError> {
    let revision = revision
        .ok_or_else(|| ApiError::codedeploy("RevisionRequiredException", "revision is required"))?;
    let invalid = |message: String| ApiError::codedeploy("InvalidRevisionException", message);
    let (form, raw) = match revision.revision_type.as_deref() {
        Some("String") => (RevisionForm::String, revision.string),
        Some("AppSpecContent") => (RevisionForm::AppSpecContent, revision.app_spec_content),
        other => {
            return Err(invalid(format!(
                "revisionType {other:?}: codedeploy-local takes String or AppSpecContent revisions with inline content"
            )))
        }
    };
    let content = raw
        .and_then(|r| r.content)
        .ok_or_else(|| invalid("the revision has no content".into()))?;
    let appspec = AppSpec::parse(&content).map_err(|e| invalid(e.to_string()))?;
    Ok((form, content, appspec))
}

/// `CreateDeployment` of a Lambda AppSpec in a registered deployment group: runs in the
/// background with the group's configuration and alarms.
fn create_deployment(
    cd: &Arc<CodeDeploy>,
    input: CreateDeploymentInput,
) -> Result<Value, ApiError> {
    let application = required(
        &input.application_name,
        "applicationName",
        "ApplicationNameRequiredException",
    )?;
    let group = required(
        &input.deployment_group_name,
        "deploymentGroupName",
        "DeploymentGroupNameRequiredException",
    )?;
    let mut plan = cd.with_group(application, group, DeploymentPlan::clone)?;
    let (form, content, appspec) = revision_of(input.revision)?;
    let invalid = |message: String| ApiError::codedeploy("InvalidRevisionException", message);
    let alias = appspec
        .alias
        .clone()
        .ok_or_else(|| invalid("the AppSpec names no Alias".into()))?;
    let current = appspec
        .current_version
        .clone()
        .ok_or_else(|| invalid("the AppSpec names no CurrentVersion".into()))?;
    let function = codedeploy_hooks::function_name_of(&appspec.function_name).to_owned();
    let mut spec = DeploymentSpec::new(&function, &alias, &current, &appspec.target_version)
        .revision_form(form);
    spec.application_name = application.to_owned();
    spec.group_name = group.to_owned();
    spec.hooks = appspec.hooks.clone();
    spec.appspec_content = Some(content);
    if let Some(name) = input.deployment_config_name.as_deref() {
        plan.config = TrafficConfig::predefined(name).ok_or_else(|| {
            ApiError::codedeploy(
                "DeploymentConfigDoesNotExistException",
                format!(
                    "No deployment configuration found for name: {name}; use a predefined one, e.g. \
                     CodeDeployDefault.LambdaCanary10Percent5Minutes"
                ),
            )
        })?;
    }
    spec.config_name = plan.config.api_name();
    if let Some(o) = input.override_alarm_configuration {
        check_override(&o, &plan)?;
        plan.alarm_override = Some(o);
    }
    cd.validate(&spec)?;
    plan.spec = spec;
    Ok(json!({"deploymentId": cd.start(plan)}))
}
