//! An alias served over HTTP, as API Gateway (HTTP API, payload 2.0) or a function URL would
//! serve it: `curl` and the post-traffic hook's URL check reach the alias through it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::Router;
use codedeploy_hooks::apigw::{self, Flavor};

use crate::body::{read_bounded, ReadError};
use crate::lambda::Lambda;
use crate::request_id::new_request_id;

struct Endpoint {
    lambda: Arc<Lambda>,
    function: String,
    alias: String,
}

/// Serve `function:alias` on a new loopback port, as one of the stand-in's tasks, within
/// the API server's `limits`; returns the base URL.
pub(crate) async fn serve(
    lambda: Arc<Lambda>,
    function: &str,
    alias: &str,
    limits: super::Limits,
) -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let tasks = lambda.tasks().clone();
    let state = Arc::new(Endpoint {
        lambda,
        function: function.to_owned(),
        alias: alias.to_owned(),
    });
    let router = Router::new().fallback(handle).with_state(state);
    // The API server, which owns its connections (axum::serve detaches them).
    tasks.spawn(super::serve(listener, router, limits));
    Ok(url)
}

async fn handle(State(endpoint): State<Arc<Endpoint>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = match read_bounded(body, 6 * 1024 * 1024).await {
        Ok(b) => b,
        Err(ReadError::TooLarge { .. }) => {
            return (
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is over 6 MB",
            )
                .into_response()
        }
        Err(err @ ReadError::Broken(_)) => {
            return (axum::http::StatusCode::BAD_REQUEST, err.to_string()).into_response()
        }
    };
    let request = http::Request::from_parts(parts, body.to_vec());
    let request_id = new_request_id();
    let event = apigw::event(&request, Flavor::HttpApi, &request_id);
    let resolved = match endpoint
        .lambda
        .registry
        .resolve(&endpoint.function, Some(&endpoint.alias))
    {
        Ok(r) => r,
        Err(e) => return (axum::http::StatusCode::NOT_FOUND, e.to_string()).into_response(),
    };
    let payload = event.to_string().into_bytes().into();
    let result = endpoint
        .lambda
        .invoke(resolved, payload, None, request_id)
        .await;
    let response = apigw::response(
        &result.payload,
        result.function_error.is_some(),
        Flavor::HttpApi,
    );
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, axum::body::Body::from(body))
}
