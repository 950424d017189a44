//! The Lambda API (restJson1): Invoke, GetAlias, UpdateAlias, ListVersionsByFunction.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::faults::before;
use super::permission::{Permission, Service};
use super::{AppState, RequestId};
use crate::faults::{Faults, Operation};
use crate::lambda::registry::{AliasError, LookupError};
use crate::lambda::runtime::VersionRuntime;
use crate::lambda::{Alias, InvokeResult, Lambda, LATEST};

/// The most a client context may be, base64 included (Lambda's limit).
const MAX_CLIENT_CONTEXT: usize = 3583;
/// The most versions ListVersionsByFunction returns at once (its `MaxItems` documentation).
const VERSIONS_PAGE: usize = 50;

/// The Lambda routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .route(
            "/2015-03-31/functions/{name}/aliases/{alias}",
            get(get_alias).put(update_alias),
        )
        .route("/2015-03-31/functions/{name}/versions", get(list_versions))
}

impl From<LookupError> for ApiError {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::QualifierConflict => ApiError::invalid_parameter(e.to_string()),
            LookupError::NotFound { .. } | LookupError::Foreign { .. } => {
                ApiError::resource_not_found(e.to_string())
            }
        }
    }
}

#[derive(Deserialize)]
struct InvokeQuery {
    #[serde(rename = "Qualifier")]
    qualifier: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum InvocationType {
    RequestResponse,
    Event,
    DryRun,
}

/// The headers of an Invoke.
struct InvokeHeaders {
    invocation_type: InvocationType,
    tail: bool,
    client_context: Option<String>,
}

impl InvokeHeaders {
    fn parse(headers: &HeaderMap) -> Result<Self, ApiError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let invocation_type = match header("x-amz-invocation-type").unwrap_or("RequestResponse") {
            "RequestResponse" => InvocationType::RequestResponse,
            "Event" => InvocationType::Event,
            "DryRun" => InvocationType::DryRun,
            other => {
                return Err(ApiError::invalid_parameter(format!(
                    "X-Amz-Invocation-Type `{other}` is not RequestResponse, Event or DryRun"
                )))
            }
        };
        let client_context = header("x-amz-client-context")
            .map(client_context)
            .transpose()?;
        Ok(InvokeHeaders {
            invocation_type,
            tail: header("x-amz-log-type") == Some("Tail"),
            client_context,
        })
    }
}

fn invalid_content(message: impl Into<String>) -> ApiError {
    ApiError::lambda(
        StatusCode::BAD_REQUEST,
        "InvalidRequestContentException",
        message,
    )
}

fn client_context(b64: &str) -> Result<String, ApiError> {
    if b64.len() > MAX_CLIENT_CONTEXT {
        return Err(invalid_content(format!(
            "Client context must be at most {MAX_CLIENT_CONTEXT} bytes"
        )));
    }
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|decoded| serde_json::from_str::<Value>(decoded).is_ok())
        .ok_or_else(|| {
            invalid_content("Client context must be a valid Base64-encoded JSON object.")
        })
}

/// The payload, as JSON (its size was bounded at the door: [`super::guard`]).
fn payload(body: Bytes) -> Result<Bytes, ApiError> {
    if !body.is_empty() && serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err() {
        return Err(invalid_content(
            "Could not parse request body into json: the payload is not valid JSON",
        ));
    }
    Ok(if body.is_empty() {
        Bytes::from_static(b"{}")
    } else {
        body
    })
}

/// `POST /2015-03-31/functions/{name}/invocations`.
#[allow(clippy::too_many_arguments)] // axum's extractors, one per part of the request
async fn invoke(
    State(lambda): State<Arc<Lambda>>,
    State(faults): State<Arc<Faults>>,
    permission: Permission,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Path(name): Path<String>,
    Query(query): Query<InvokeQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if let Err(refused) = before(&faults, Operation::Invoke).await {
        if refused.code == "TooManyRequestsException" {
            record_throttled(&lambda, &name, query.qualifier.as_deref());
        }
        return Err(refused);
    }
    let headers = InvokeHeaders::parse(&headers)?;
    let payload = payload(body)?;
    let resource = function_resource(&lambda, &name, query.qualifier.as_deref())?;
    permission.check(Service::Lambda, "lambda:InvokeFunction", &resource)?;
    let resolved = lambda
        .registry()
        .resolve(&name, query.qualifier.as_deref())?;
    match headers.invocation_type {
        InvocationType::DryRun => Ok(StatusCode::NO_CONTENT.into_response()),
        InvocationType::Event => {
            let event = crate::lambda::AsyncEvent {
                name,
                qualifier: query.qualifier,
                payload,
                client_context: headers.client_context,
                request_id,
            };
            queue_event(&lambda, event)
        }
        InvocationType::RequestResponse => {
            let result = lambda
                .invoke(resolved, payload, headers.client_context, request_id)
                .await;
            Ok(invoke_response(&result, headers.tail))
        }
    }
}

/// The function's ARN as Lambda checks a call on it: qualified with the version or alias
/// named (in the name or as `Qualifier`), unqualified otherwise (the Lambda developer guide,
/// "Fine-tuning the Resources and Conditions sections of policies": functions are
/// restricted by function, version or alias ARN).
fn function_resource(
    lambda: &Lambda,
    name: &str,
    qualifier: Option<&str>,
) -> Result<String, ApiError> {
    let (function, embedded) = lambda.registry().function_name(name)?;
    let arn = lambda.registry().function_arn(function);
    Ok(match qualifier.or(embedded) {
        Some(q) => format!("{arn}:{q}"),
        None => arn,
    })
}

/// An `Event` invocation: queued, and answered 202 at once.
fn queue_event(
    lambda: &Arc<Lambda>,
    event: crate::lambda::AsyncEvent,
) -> Result<Response, ApiError> {
    // Lambda documents no size for its event queue; the stand-in's is bounded, and past it
    // Invoke answers with its modeled throttling error.
    let Some(slot) = lambda.async_slot() else {
        return Err(ApiError::too_many_requests(Some(
            "codedeploy-local's queue of asynchronous invocations is full (Options::max_async_events)",
        )));
    };
    let (tasks, lambda) = (lambda.tasks().clone(), Arc::clone(lambda));
    tasks.spawn(async move {
        let _slot = slot;
        lambda.invoke_async(event).await;
    });
    Ok(StatusCode::ACCEPTED.into_response())
}

/// A `RequestResponse` invocation's answer: the function's payload, with the executed
/// version, the function error and (with `LogType: Tail`) the log's tail in headers.
fn invoke_response(result: &InvokeResult, tail: bool) -> Response {
    let mut response = (StatusCode::OK, result.payload.clone()).into_response();
    let h = response.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&result.executed_version) {
        h.insert("x-amz-executed-version", v);
    }
    if let Some(kind) = result
        .function_error
        .as_deref()
        .and_then(|k| HeaderValue::from_str(k).ok())
    {
        h.insert("x-amz-function-error", kind);
    }
    if tail {
        let encoded = base64::engine::general_purpose::STANDARD.encode(result.log_tail());
        if let Ok(v) = HeaderValue::from_str(&encoded) {
            h.insert("x-amz-log-result", v);
        }
    }
    response
}

/// A throttled invocation counts in the `Throttles` metric that alarms watch.
fn record_throttled(lambda: &Lambda, name: &str, qualifier: Option<&str>) {
    let Ok((function, embedded)) = lambda.registry().function_name(name) else {
        return;
    };
    let alias = qualifier
        .or(embedded)
        .filter(|q| *q != LATEST && !q.chars().all(|c| c.is_ascii_digit()));
    lambda.record_throttled(function, alias.map(str::to_owned));
}

fn alias_json(lambda: &Lambda, function_name: &str, alias: &Alias) -> Value {
    json!({
        "AliasArn": format!("{}:{}", lambda.registry().function_arn(function_name), alias.name),
        "Name": alias.name,
        "FunctionVersion": alias.function_version,
        "Description": alias.description,
        "RoutingConfig": {"AdditionalVersionWeights": alias.additional_weights},
        "RevisionId": alias.revision_id,
    })
}

/// Lambda's 404, naming the ARN (with its qualifier) of what does not exist.
fn not_found(
    lambda: &Lambda,
    what: &str,
    function_name: &str,
    qualifier: Option<&str>,
) -> ApiError {
    let arn = lambda.registry().function_arn(function_name);
    let target = qualifier.map_or(arn.clone(), |q| format!("{arn}:{q}"));
    ApiError::resource_not_found(format!("{what} not found: {target}"))
}

/// May the caller perform `action` on the alias? Checked on its ARN (the function's,
/// qualified with the alias).
fn alias_permission(
    lambda: &Lambda,
    permission: &Permission,
    function_name: &str,
    alias: &str,
    action: &str,
) -> Result<(), ApiError> {
    let resource = format!("{}:{alias}", lambda.registry().function_arn(function_name));
    permission.check(Service::Lambda, action, &resource)
}

/// `GET /2015-03-31/functions/{name}/aliases/{alias}`.
async fn get_alias(
    State(lambda): State<Arc<Lambda>>,
    State(faults): State<Arc<Faults>>,
    permission: Permission,
    Path((name, alias)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    before(&faults, Operation::GetAlias).await?;
    let (function_name, _) = lambda.registry().function_name(&name)?;
    alias_permission(
        &lambda,
        &permission,
        function_name,
        &alias,
        "lambda:GetAlias",
    )?;
    let found = lambda
        .registry()
        .alias(function_name, &alias)
        .ok_or_else(|| not_found(&lambda, "Alias", function_name, Some(&alias)))?;
    Ok(Json(alias_json(&lambda, function_name, &found)))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateAlias {
    function_version: Option<String>,
    routing_config: Option<RoutingConfig>,
    revision_id: Option<String>,
    description: Option<String>,
}

/// The longest alias description (botocore `lambda` model: `Description`, max 256).
const MAX_DESCRIPTION: usize = 256;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoutingConfig {
    #[serde(default)]
    additional_version_weights: BTreeMap<String, f64>,
}

/// An alias description within the model's length.
fn check_description(description: Option<&str>) -> Result<(), ApiError> {
    if let Some(d) = description.filter(|d| d.chars().count() > MAX_DESCRIPTION) {
        return Err(ApiError::lambda(StatusCode::BAD_REQUEST, "ValidationException", format!(
            "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to {MAX_DESCRIPTION} (it has {})",
            d.chars().count()
        )));
    }
    Ok(())
}

/// `PUT /2015-03-31/functions/{name}/aliases/{alias}`.
async fn update_alias(
    State(lambda): State<Arc<Lambda>>,
    State(faults): State<Arc<Faults>>,
    permission: Permission,
    Path((name, alias)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    before(&faults, Operation::UpdateAlias).await?;
    let (function_name, _) = lambda.registry().function_name(&name)?;
    alias_permission(
        &lambda,
        &permission,
        function_name,
        &alias,
        "lambda:UpdateAlias",
    )?;
    let request: UpdateAlias = serde_json::from_slice(&body)
        .map_err(|e| invalid_content(format!("invalid UpdateAlias body: {e}")))?;
    check_description(request.description.as_deref())?;
    let existing = lambda
        .registry()
        .alias(function_name, &alias)
        .ok_or_else(|| not_found(&lambda, "Alias", function_name, Some(&alias)))?;
    let version = request
        .function_version
        .unwrap_or(existing.function_version);
    let weights = request
        .routing_config
        .map_or(existing.additional_weights, |r| {
            r.additional_version_weights
        });
    let updated = lambda
        .registry()
        .set_alias(
            function_name,
            &alias,
            &version,
            weights,
            request.revision_id.as_deref(),
            request.description.as_deref(),
        )
        .map_err(|e| match e {
            AliasError::NoFunction => not_found(&lambda, "Function", function_name, None),
            AliasError::NoVersion(v) => not_found(&lambda, "Function", function_name, Some(&v)),
            AliasError::BadWeights => ApiError::invalid_parameter(
                "RoutingConfig takes one additional version, other than FunctionVersion, with a weight from 0.0 to 1.0",
            ),
            AliasError::LatestWithWeights => {
                ApiError::invalid_parameter("$LATEST is not supported for an alias pointing to more than 1 version")
            }
            AliasError::RevisionMismatch => ApiError::lambda(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailedException",
                "The RevisionId provided does not match the latest RevisionId for the Lambda function or alias.",
            ),
        })?;
    Ok(Json(alias_json(&lambda, function_name, &updated)))
}

#[derive(Deserialize)]
struct ListVersionsQuery {
    #[serde(rename = "Marker")]
    marker: Option<String>,
    #[serde(rename = "MaxItems")]
    max_items: Option<String>,
}

/// `GET /2015-03-31/functions/{name}/versions`: a page of at most 50, `NextMarker` to go on.
async fn list_versions(
    State(lambda): State<Arc<Lambda>>,
    State(faults): State<Arc<Faults>>,
    permission: Permission,
    Path(name): Path<String>,
    Query(query): Query<ListVersionsQuery>,
) -> Result<Json<Value>, ApiError> {
    before(&faults, Operation::ListVersionsByFunction).await?;
    let (function_name, _) = lambda.registry().function_name(&name)?;
    let resource = lambda.registry().function_arn(function_name);
    permission.check(Service::Lambda, "lambda:ListVersionsByFunction", &resource)?;
    let versions = lambda
        .registry()
        .versions(function_name)
        .ok_or_else(|| not_found(&lambda, "Function", function_name, None))?;
    let page_size = match query.max_items.as_deref() {
        None => VERSIONS_PAGE,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=10_000).contains(&n) => n.min(VERSIONS_PAGE),
            _ => {
                return Err(ApiError::invalid_parameter(format!(
                    "MaxItems `{text}` is not a number from 1 to 10000"
                )))
            }
        },
    };
    let start = match query.marker.as_deref() {
        None => 0,
        Some(marker) => versions
            .iter()
            .position(|v| v.identity.version == marker)
            .ok_or_else(|| {
                ApiError::invalid_parameter(format!(
                    "Marker `{marker}` is not valid: pass NextMarker as given"
                ))
            })?,
    };
    let page: Vec<Value> = versions
        .iter()
        .skip(start)
        .take(page_size)
        .map(|v| configuration(v))
        .collect();
    let mut body = json!({"Versions": page});
    if let Some(next) = versions.get(start + page_size) {
        body["NextMarker"] = json!(next.identity.version);
    }
    Ok(Json(body))
}

/// A version's `FunctionConfiguration`, as ListVersionsByFunction gives it.
fn configuration(version: &VersionRuntime) -> Value {
    let (id, spec) = (&version.identity, &version.spec);
    let (code_size, code_sha256) = version.code.of(&spec.binary);
    // ListVersionsByFunction qualifies `$LATEST`'s ARN too (the API reference's example).
    let arn = if id.version == LATEST && !id.function_arn.ends_with(LATEST) {
        format!("{}:{LATEST}", id.function_arn)
    } else {
        id.function_arn.clone()
    };
    json!({
        "FunctionName": id.function_name,
        "FunctionArn": arn,
        "Runtime": "provided.al2023",
        "Role": format!("arn:aws:iam::{}:role/{}-role", id.account_id, id.function_name),
        "Handler": "bootstrap",
        "CodeSize": code_size,
        "Description": "",
        "Timeout": spec.timeout.as_secs(),
        "MemorySize": spec.memory_mb,
        "LastModified": last_modified(id.published),
        "CodeSha256": code_sha256,
        "Version": id.version,
        "Environment": {"Variables": spec.env},
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": id.revision_id,
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": [spec.architecture],
        "EphemeralStorage": {"Size": 512},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": format!("/aws/lambda/{}", id.function_name)},
    })
}

/// `LastModified` as Lambda writes it: `2026-11-30T16:00:00.000+0000`.
fn last_modified(at: std::time::SystemTime) -> String {
    let format = time::format_description::parse_borrowed::<2>(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000",
    );
    match format {
        Ok(format) => time::OffsetDateTime::from(at)
            .format(&format)
            .unwrap_or_default(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_modified_is_written_as_lambda_writes_it() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_796_054_400_123);
        assert_eq!(last_modified(at), "2026-11-30T16:00:00.123+0000");
    }
}
