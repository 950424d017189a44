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

/// What an endpoint serves: a function's alias, as an HTTP API when `api_id` is given.
pub(crate) struct Target {
    pub(crate) function: String,
    pub(crate) alias: String,
    /// The API's id in `execute-api` ARNs: its invocations are checked against the
    /// function's resource-based policy.
    pub(crate) api_id: Option<String>,
}

struct Endpoint {
    lambda: Arc<Lambda>,
    target: Target,
}

/// Serve the target on a new loopback port, as one of the stand-in's tasks, within the API
/// server's `limits`; returns the base URL.
pub(crate) async fn serve(
    lambda: Arc<Lambda>,
    target: Target,
    limits: super::Limits,
) -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let tasks = lambda.tasks().clone();
    let state = Arc::new(Endpoint { lambda, target });
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
    if !endpoint.may_invoke(&parts.method, parts.uri.path()) {
        let body = r#"{"message":"Internal Server Error"}"#;
        let json = [("content-type", "application/json")];
        return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, json, body).into_response();
    }
    let request = http::Request::from_parts(parts, body.to_vec());
    let request_id = new_request_id();
    let event = apigw::event(&request, Flavor::HttpApi, &request_id);
    let resolved = match endpoint
        .lambda
        .registry()
        .resolve(&endpoint.target.function, Some(&endpoint.target.alias))
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

impl Endpoint {
    /// May API Gateway invoke the alias for this route? Asked of the function's
    /// resource-based policy, with the route's `execute-api` ARN as `aws:SourceArn`
    /// (`arn:aws:execute-api:REGION:ACCOUNT:API/$default/METHOD/PATH`). Refused, API Gateway
    /// answers `500 {"message":"Internal Server Error"}` (the AWS Knowledge Center, "How do
    /// I troubleshoot permission errors for API Gateway HTTP APIs with a Lambda
    /// integration": `integrationError` in the access log).
    fn may_invoke(&self, method: &http::Method, path: &str) -> bool {
        let Some(api) = &self.target.api_id else {
            return true;
        };
        let registry = &self.lambda.registry();
        let (region, account) = (&registry.region, &registry.account_id);
        let source =
            format!("arn:aws:execute-api:{region}:{account}:{api}/$default/{method}{path}");
        let function = &self.target.function;
        let alias = format!("{}:{}", registry.function_arn(function), self.target.alias);
        let context = [
            ("aws:SourceArn", source.as_str()),
            ("aws:SourceAccount", account.as_str()),
        ];
        self.lambda
            .iam()
            .check_service(
                "apigateway.amazonaws.com",
                function,
                "lambda:InvokeFunction",
                &alias,
                &context,
            )
            .is_ok()
    }
}
