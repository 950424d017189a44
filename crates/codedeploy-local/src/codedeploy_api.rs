//! The CodeDeploy API (awsJson1.1, `X-Amz-Target: CodeDeploy_20141006.<Operation>`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use codedeploy_hooks::appspec::AppSpec;

use crate::config::TrafficConfig;
use crate::deployments::{DeploymentSpec, DeploymentStatus, HookStatus, ReportError, RevisionForm};
use crate::engine::DeploymentPlan;
use crate::lock;
use crate::wire::ApiError;
use crate::Shared;

const TARGET_PREFIX: &str = "CodeDeploy_20141006.";

/// `POST /`: every awsJson1.1 operation arrives here; `X-Amz-Target` names it.
pub(crate) async fn dispatch(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(operation) = target.strip_prefix(TARGET_PREFIX) else {
        return ApiError::codedeploy(
            "UnknownOperationException",
            format!(
                "codedeploy-local serves CodeDeploy ({TARGET_PREFIX}*) and Lambda; X-Amz-Target `{target}` is neither"
            ),
        )
        .into_response();
    };
    let request: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return ApiError::codedeploy(
                    "SerializationException",
                    format!("the body is not JSON: {e}"),
                )
                .into_response()
            }
        }
    };
    let result = match operation {
        "PutLifecycleEventHookExecutionStatus" => put_status(&shared, &request),
        "GetDeployment" => get_deployment(&shared, &request),
        "GetApplicationRevision" => get_application_revision(&shared, &request),
        "ListDeployments" => list_deployments(&shared, &request),
        "StopDeployment" => stop_deployment(&shared, &request),
        "CreateDeployment" => create_deployment(&shared, &request),
        other => Err(ApiError::codedeploy(
            "UnknownOperationException",
            format!(
                "codedeploy-local does not implement CodeDeploy {other}; it serves PutLifecycleEventHookExecutionStatus, \
                 GetDeployment, GetApplicationRevision, ListDeployments, CreateDeployment and StopDeployment"
            ),
        )),
    };
    match result {
        Ok(value) => {
            let mut response = (StatusCode::OK, value.to_string()).into_response();
            response.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/x-amz-json-1.1"),
            );
            response
        }
        Err(err) => err.into_response(),
    }
}

fn field<'a>(request: &'a Value, name: &str, missing: &'static str) -> Result<&'a str, ApiError> {
    request
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::codedeploy(missing, format!("{name} is required")))
}

fn no_deployment(id: &str) -> ApiError {
    ApiError::codedeploy(
        "DeploymentDoesNotExistException",
        format!("The deployment {id} could not be found."),
    )
}

fn put_status(shared: &Shared, request: &Value) -> Result<Value, ApiError> {
    let deployment_id = field(request, "deploymentId", "DeploymentIdRequiredException")?;
    let execution_id = field(
        request,
        "lifecycleEventHookExecutionId",
        "InvalidLifecycleEventHookExecutionIdException",
    )?;
    let status = match request.get("status").and_then(Value::as_str) {
        Some("Succeeded") => HookStatus::Succeeded,
        Some("Failed") => HookStatus::Failed,
        other => {
            return Err(ApiError::codedeploy(
                "InvalidLifecycleEventHookExecutionStatusException",
                format!("status {other:?} is not valid: a hook reports Succeeded or Failed"),
            ))
        }
    };
    match shared.deployments.report(deployment_id, execution_id, status) {
        Ok(()) => Ok(json!({"lifecycleEventHookExecutionId": execution_id})),
        Err(ReportError::NoDeployment) => Err(no_deployment(deployment_id)),
        Err(ReportError::NoExecution) => Err(ApiError::codedeploy(
            "InvalidLifecycleEventHookExecutionIdException",
            format!("The lifecycle event hook execution id is not valid for deployment {deployment_id}."),
        )),
        Err(ReportError::AlreadyCompleted) => Err(ApiError::codedeploy(
            "LifecycleEventAlreadyCompletedException",
            "An attempt to return the status of an already completed lifecycle event occurred.",
        )),
    }
}

fn get_deployment(shared: &Shared, request: &Value) -> Result<Value, ApiError> {
    let id = field(request, "deploymentId", "DeploymentIdRequiredException")?;
    shared
        .deployments
        .read(id, |r| json!({"deploymentInfo": r.info()}))
        .ok_or_else(|| no_deployment(id))
}

fn get_application_revision(shared: &Shared, request: &Value) -> Result<Value, ApiError> {
    let application = field(
        request,
        "applicationName",
        "ApplicationNameRequiredException",
    )?;
    let revision = request
        .get("revision")
        .ok_or_else(|| ApiError::codedeploy("RevisionRequiredException", "revision is required"))?;
    let sha256 = ["string", "appSpecContent"]
        .iter()
        .find_map(|k| {
            revision
                .get(k)
                .and_then(|r| r.get("sha256"))
                .and_then(Value::as_str)
        })
        .ok_or_else(|| {
            ApiError::codedeploy(
                "InvalidRevisionException",
                "the revision has no sha256 to look up",
            )
        })?;
    let content = shared
        .deployments
        .revision_content(application, sha256)
        .ok_or_else(|| {
            ApiError::codedeploy(
                "RevisionDoesNotExistException",
                format!("No revision {sha256} in application {application}"),
            )
        })?;
    Ok(json!({
        "applicationName": application,
        "revision": {"revisionType": "String", "string": {"content": content, "sha256": sha256}},
        "revisionInfo": {"description": "", "deploymentGroups": []},
    }))
}

fn list_deployments(shared: &Shared, request: &Value) -> Result<Value, ApiError> {
    let application = request.get("applicationName").and_then(Value::as_str);
    let group = request.get("deploymentGroupName").and_then(Value::as_str);
    let statuses: Vec<String> = request
        .get("includeOnlyStatuses")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let ids = shared.deployments.ids(|r| {
        application.is_none_or(|a| a == r.spec.application_name)
            && group.is_none_or(|g| g == r.spec.group_name)
            && (statuses.is_empty() || statuses.iter().any(|s| json!(r.status) == json!(s)))
    });
    Ok(json!({"deployments": ids}))
}

fn stop_deployment(shared: &Shared, request: &Value) -> Result<Value, ApiError> {
    let id = field(request, "deploymentId", "DeploymentIdRequiredException")?;
    let running = shared
        .deployments
        .with(id, |r| {
            let running = matches!(
                r.status,
                DeploymentStatus::Created | DeploymentStatus::InProgress
            );
            r.stop_requested |= running;
            running
        })
        .ok_or_else(|| no_deployment(id))?;
    if !running {
        return Err(ApiError::codedeploy(
            "DeploymentAlreadyCompletedException",
            format!("The deployment {id} is already completed."),
        ));
    }
    Ok(
        json!({"status": "Pending", "statusMessage": format!("Stop of {id} requested; the alias will be rolled back")}),
    )
}

/// `CreateDeployment` of a Lambda AppSpec: runs the deployment in the background, with the
/// deployment group's configuration and alarms when it was registered.
fn create_deployment(shared: &Arc<Shared>, request: &Value) -> Result<Value, ApiError> {
    let application = field(
        request,
        "applicationName",
        "ApplicationNameRequiredException",
    )?;
    let group = field(
        request,
        "deploymentGroupName",
        "DeploymentGroupNameRequiredException",
    )?;
    let revision = request
        .get("revision")
        .ok_or_else(|| ApiError::codedeploy("RevisionRequiredException", "revision is required"))?;
    let (form, content) = match revision.get("revisionType").and_then(Value::as_str) {
        Some("String") => (RevisionForm::String, revision.pointer("/string/content")),
        Some("AppSpecContent") => (RevisionForm::AppSpecContent, revision.pointer("/appSpecContent/content")),
        other => {
            return Err(ApiError::codedeploy(
                "InvalidRevisionException",
                format!("revisionType {other:?}: codedeploy-local takes String or AppSpecContent revisions with inline content"),
            ))
        }
    };
    let content = content.and_then(Value::as_str).ok_or_else(|| {
        ApiError::codedeploy("InvalidRevisionException", "the revision has no content")
    })?;
    let appspec = AppSpec::parse(content)
        .map_err(|e| ApiError::codedeploy("InvalidRevisionException", e.to_string()))?;
    let function = codedeploy_hooks::function_name_of(&appspec.function_name).to_owned();
    let alias = appspec.alias.clone().ok_or_else(|| {
        ApiError::codedeploy("InvalidRevisionException", "the AppSpec names no Alias")
    })?;
    let current = appspec.current_version.clone().ok_or_else(|| {
        ApiError::codedeploy(
            "InvalidRevisionException",
            "the AppSpec names no CurrentVersion",
        )
    })?;
    for version in [&current, &appspec.target_version] {
        shared
            .registry
            .resolve(&function, Some(version))
            .map_err(|e| ApiError::codedeploy("InvalidRevisionException", e.to_string()))?;
    }
    let registered = lock(&shared.groups)
        .get(&(application.to_owned(), group.to_owned()))
        .cloned();
    let mut spec = DeploymentSpec::new(&function, &alias, &current, &appspec.target_version)
        .revision_form(form);
    spec.application_name = application.to_owned();
    spec.group_name = group.to_owned();
    spec.hooks = appspec.hooks.clone();
    spec.appspec_content = Some(content.to_owned());
    let mut plan = match registered {
        Some(mut plan) => {
            plan.spec = spec;
            plan
        }
        None => DeploymentPlan::new(spec, TrafficConfig::AllAtOnce, 60.0),
    };
    if let Some(name) = request.get("deploymentConfigName").and_then(Value::as_str) {
        plan.config = name.parse::<TrafficConfig>().map_err(|e| {
            ApiError::codedeploy("DeploymentConfigDoesNotExistException", e.to_string())
        })?;
    }
    plan.spec.config_name = format!("CodeDeployDefault.Lambda{}", plan.config);
    let id = shared.deployments.create(plan.spec.clone());
    let (shared, deployment_id) = (Arc::clone(shared), id.clone());
    tokio::spawn(async move {
        crate::engine::run(&shared, &plan, deployment_id, &mut |_| {}).await;
    });
    Ok(json!({"deploymentId": id}))
}
