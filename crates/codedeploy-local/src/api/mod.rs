//! The HTTP face of the stand-in: the AWS APIs in their wire formats ([`lambda`],
//! [`codedeploy`]), one error type ([`error`]), faults ([`faults`]), HTTP endpoints for
//! aliases ([`endpoint`]), the live view of deployments ([`ui`]), and the server that bounds
//! connections.
//!
//! Handlers are thin: they read a typed input, call the service, and shape its output.
//! Each takes only the state it uses ([`FromRef`] substates of [`AppState`]).

mod cloudwatch;
mod cloudwatch_wire;
pub(crate) mod codedeploy;
mod codedeploy_shapes;
pub(crate) mod endpoint;
pub(crate) mod error;
pub(crate) mod faults;
mod guard;
pub(crate) mod lambda;
mod permission;
mod server;
mod ui;

use std::sync::Arc;

use axum::extract::{FromRef, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;

pub(crate) use server::{serve, Limits};

use crate::cloudwatch::Metrics;
use crate::codedeploy::CodeDeploy;
use crate::faults::Faults;
use crate::iam::Authority;
use crate::lambda::Lambda;
use crate::request_id::new_request_id;
use error::ApiError;

/// Everything the handlers share; each takes its part with `State<Arc<...>>`.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) lambda: Arc<Lambda>,
    pub(crate) codedeploy: Arc<CodeDeploy>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) faults: Arc<Faults>,
    pub(crate) iam: Arc<Authority>,
}

impl FromRef<AppState> for Arc<Authority> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.iam)
    }
}

impl FromRef<AppState> for Arc<Lambda> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.lambda)
    }
}

impl FromRef<AppState> for Arc<CodeDeploy> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.codedeploy)
    }
}

impl FromRef<AppState> for Arc<Faults> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.faults)
    }
}

impl FromRef<AppState> for Arc<Metrics> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.metrics)
    }
}

/// The request id of an API call, in `x-amzn-RequestId`; for a synchronous Invoke, also
/// the invocation's (the one in the function's log lines), as in Lambda.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub(crate) String);

/// The router of every API. Every request comes through [`guard`]: its body bounded by its
/// service's limit and read within `request_timeout`, and every answer typed.
pub(crate) fn router(state: AppState, request_timeout: std::time::Duration) -> Router {
    let iam = Arc::clone(&state.iam);
    Router::new()
        .route("/", axum::routing::post(post_root))
        .merge(cloudwatch::routes())
        .merge(lambda::routes())
        .merge(ui::routes())
        .fallback(unknown_operation)
        .layer(axum::middleware::from_fn(move |request, next| {
            guard::guard(Arc::clone(&iam), request_timeout, request, next)
        }))
        // The guard bounds every body by its service's limit: axum's own 2 MB is not AWS's.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn(request_id))
        .with_state(state)
}

/// Give every call a request id, and every answer its `x-amzn-RequestId`.
async fn request_id(mut request: Request, next: Next) -> Response {
    let id = new_request_id();
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-amzn-requestid", value);
    }
    response
}

/// `POST /` is shared: CloudWatch's awsJson1.0 and query wires, and CodeDeploy.
async fn post_root(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::Extension(request_id): axum::Extension<RequestId>,
    permission: permission::Permission,
    headers: axum::http::HeaderMap,
    body: bytes::Bytes,
) -> Response {
    match cloudwatch::wire_of(&headers, &body) {
        Some((wire, operation)) => {
            cloudwatch::serve(
                &state.metrics,
                &state.faults,
                &permission,
                wire,
                &operation,
                &body,
                &request_id,
            )
            .await
        }
        None => codedeploy::dispatch(
            &state.codedeploy,
            &state.faults,
            &permission,
            &headers,
            &body,
        )
        .await
        .into_response(),
    }
}

async fn unknown_operation(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    ApiError::lambda(
        axum::http::StatusCode::NOT_FOUND,
        "UnknownOperationException",
        format!(
            "codedeploy-local does not serve {method} {}; it serves Lambda Invoke, GetAlias, UpdateAlias, \
             ListVersionsByFunction, CodeDeploy (POST / with X-Amz-Target) and CloudWatch GetMetricData",
            uri.path()
        ),
    )
    .into_response()
}

#[cfg(test)]
mod tests;
