//! The Lambda API (restJson1): Invoke, GetAlias, UpdateAlias, ListVersionsByFunction.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::functions::{split_name, Alias, AliasError};
use crate::wire::ApiError;
use crate::Shared;

/// The most a client context may be, base64 included (Lambda's limit).
const MAX_CLIENT_CONTEXT: usize = 3583;

#[derive(Deserialize)]
pub(crate) struct InvokeQuery {
    #[serde(rename = "Qualifier")]
    qualifier: Option<String>,
}

pub(crate) async fn invoke(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    Query(query): Query<InvokeQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let invocation_type = header("x-amz-invocation-type")
        .unwrap_or("RequestResponse")
        .to_owned();
    let tail = header("x-amz-log-type") == Some("Tail");
    let client_context = match header("x-amz-client-context") {
        None => None,
        Some(b64) if b64.len() > MAX_CLIENT_CONTEXT => {
            return ApiError::lambda(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                format!("Client context must be at most {MAX_CLIENT_CONTEXT} bytes"),
            )
            .into_response()
        }
        Some(b64) => match base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        {
            Some(decoded) if serde_json::from_str::<Value>(&decoded).is_ok() => Some(decoded),
            _ => {
                return ApiError::lambda(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestContentException",
                    "Client context must be a valid Base64-encoded JSON object.",
                )
                .into_response()
            }
        },
    };
    if !body.is_empty() && serde_json::from_slice::<Value>(&body).is_err() {
        return ApiError::lambda(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            "Could not parse request body into json: the payload is not valid JSON",
        )
        .into_response();
    }
    let resolved = match shared.registry.resolve(&name, query.qualifier.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            return ApiError::lambda(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                e.to_string(),
            )
            .into_response()
        }
    };
    let payload = if body.is_empty() {
        Bytes::from_static(b"{}")
    } else {
        body
    };
    match invocation_type.as_str() {
        "DryRun" => StatusCode::NO_CONTENT.into_response(),
        "Event" => {
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                resolved
                    .invoke(&shared.registry, payload, client_context)
                    .await;
            });
            StatusCode::ACCEPTED.into_response()
        }
        "RequestResponse" => {
            let version_name = resolved.version_name.clone();
            let result = resolved
                .invoke(&shared.registry, payload, client_context)
                .await;
            let mut response = (StatusCode::OK, result.payload.clone()).into_response();
            let h = response.headers_mut();
            h.insert("content-type", HeaderValue::from_static("application/json"));
            if let Ok(v) = HeaderValue::from_str(&version_name) {
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
        other => ApiError::lambda(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            format!("X-Amz-Invocation-Type `{other}` is not RequestResponse, Event or DryRun"),
        )
        .into_response(),
    }
}

fn alias_json(shared: &Shared, function_name: &str, alias: &Alias) -> Value {
    json!({
        "AliasArn": format!("{}:{}", shared.registry.function_arn(function_name), alias.name),
        "Name": alias.name,
        "FunctionVersion": alias.function_version,
        "Description": alias.description,
        "RoutingConfig": {"AdditionalVersionWeights": alias.additional_weights},
        "RevisionId": alias.revision_id,
    })
}

pub(crate) async fn get_alias(
    State(shared): State<Arc<Shared>>,
    Path((name, alias)): Path<(String, String)>,
) -> Response {
    let (function_name, _) = split_name(&name);
    match shared.registry.alias(function_name, &alias) {
        Some(a) => Json(alias_json(&shared, function_name, &a)).into_response(),
        None => not_found(&shared, "Alias", function_name, Some(&alias)),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateAlias {
    function_version: Option<String>,
    routing_config: Option<RoutingConfig>,
    revision_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RoutingConfig {
    #[serde(default)]
    additional_version_weights: BTreeMap<String, f64>,
}

pub(crate) async fn update_alias(
    State(shared): State<Arc<Shared>>,
    Path((name, alias)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (function_name, _) = split_name(&name);
    let request: UpdateAlias = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return ApiError::lambda(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                format!("invalid UpdateAlias body: {e}"),
            )
            .into_response()
        }
    };
    let Some(existing) = shared.registry.alias(function_name, &alias) else {
        return not_found(&shared, "Alias", function_name, Some(&alias));
    };
    let version = request
        .function_version
        .unwrap_or(existing.function_version);
    let weights = match request.routing_config {
        Some(routing) => routing.additional_version_weights,
        None => existing.additional_weights,
    };
    match shared
        .registry
        .set_alias(function_name, &alias, &version, weights, request.revision_id.as_deref())
    {
        Ok(updated) => Json(alias_json(&shared, function_name, &updated)).into_response(),
        Err(AliasError::NoFunction) => not_found(&shared, "Function", function_name, None),
        Err(AliasError::NoVersion(v)) => not_found(&shared, "Function", function_name, Some(&v)),
        Err(AliasError::BadWeights) => ApiError::lambda(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            "RoutingConfig takes one additional version, other than FunctionVersion, with a weight from 0.0 to 1.0",
        )
        .into_response(),
        Err(AliasError::RevisionMismatch) => ApiError::lambda(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailedException",
            "The RevisionId provided does not match the latest RevisionId for the Lambda function or alias.",
        )
        .into_response(),
    }
}

pub(crate) async fn list_versions(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Response {
    let (function_name, _) = split_name(&name);
    let Some(versions) = shared.registry.versions(function_name) else {
        return not_found(&shared, "Function", function_name, None);
    };
    let arn = shared.registry.function_arn(function_name);
    let config = |version: &str, spec: &crate::VersionSpec| {
        json!({
            "FunctionName": function_name,
            "FunctionArn": format!("{arn}:{version}"),
            "Version": version,
            "Runtime": "provided.al2023",
            "Handler": "bootstrap",
            "Timeout": spec.timeout.as_secs(),
            "MemorySize": spec.memory_mb,
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "PackageType": "Zip",
            "Environment": {"Variables": spec.env},
        })
    };
    let mut list: Vec<Value> = Vec::new();
    if let Some((_, latest)) = versions.last() {
        list.push(config("$LATEST", latest));
    }
    list.extend(versions.iter().map(|(v, spec)| config(v, spec)));
    Json(json!({"Versions": list})).into_response()
}

/// Lambda's 404, naming the ARN (with its qualifier) of what does not exist.
fn not_found(
    shared: &Shared,
    what: &str,
    function_name: &str,
    qualifier: Option<&str>,
) -> Response {
    let arn = shared.registry.function_arn(function_name);
    let target = match qualifier {
        Some(q) => format!("{arn}:{q}"),
        None => arn,
    };
    ApiError::lambda(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        format!("{what} not found: {target}"),
    )
    .into_response()
}
