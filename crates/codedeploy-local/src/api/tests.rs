//! The router in-process, as axum tests one (`ServiceExt::oneshot`): each service's typed
//! answers on its own wire, without a socket.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt as _;

use super::router;
use crate::{Options, StandIn, VersionSpec};

async fn app() -> (StandIn, Router) {
    let local = StandIn::start(Options::default()).await.expect("starts");
    local
        .publish_version("hello", "1", VersionSpec::new("/bin/true"))
        .expect("published");
    local.set_alias("hello", "live", "1").expect("alias");
    let app = router(local.app_state(), Duration::from_secs(30));
    (local, app)
}

async fn json_of(response: Response) -> Value {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("a body");
    serde_json::from_slice(&bytes).expect("JSON")
}

fn codedeploy(operation: &str, body: &Value) -> Request<Body> {
    Request::post("/")
        .header("x-amz-target", format!("CodeDeploy_20141006.{operation}"))
        .header("content-type", "application/x-amz-json-1.1")
        .body(Body::from(body.to_string()))
        .expect("a request")
}

#[tokio::test]
async fn get_alias_answers_with_the_alias_and_a_request_id() {
    let (_local, app) = app().await;
    let request = Request::get("/2015-03-31/functions/hello/aliases/live")
        .body(Body::empty())
        .expect("a request");
    let response = app.oneshot(request).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("x-amzn-requestid"));
    let alias = json_of(response).await;
    assert_eq!(
        (alias["Name"].as_str(), alias["FunctionVersion"].as_str()),
        (Some("live"), Some("1"))
    );
}

#[tokio::test]
async fn an_unknown_function_is_lambdas_resource_not_found() {
    let (_local, app) = app().await;
    let request = Request::get("/2015-03-31/functions/nope/aliases/live")
        .body(Body::empty())
        .expect("a request");
    let response = app.oneshot(request).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "ResourceNotFoundException"
    );
}

#[tokio::test]
async fn get_deployment_of_an_unknown_id_is_codedeploys_own_error() {
    let (_local, app) = app().await;
    let request = codedeploy("GetDeployment", &json!({"deploymentId": "d-ABCDEFGHI"}));
    let response = app.oneshot(request).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        json_of(response).await["__type"],
        "DeploymentDoesNotExistException"
    );
}

#[tokio::test]
async fn an_unknown_codedeploy_operation_and_an_unknown_path_are_named() {
    let (_local, app) = app().await;
    let response = app
        .clone()
        .oneshot(codedeploy("CreateApplication", &json!({})))
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        json_of(response).await["__type"],
        "UnknownOperationException"
    );
    let request = Request::get("/nowhere")
        .body(Body::empty())
        .expect("a request");
    let response = app.oneshot(request).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(json_of(response).await["message"]
        .as_str()
        .is_some_and(|m| m.contains("GET /nowhere")));
}

/// Lambda's model names it `RequestTooLargeException` (413, botocore `lambda/2015-03-31`).
#[tokio::test]
async fn an_invoke_over_lambdas_payload_quota_is_refused_before_the_function_runs() {
    let (local, app) = app().await;
    let request = Request::post("/2015-03-31/functions/hello:live/invocations")
        .body(Body::from(vec![b' '; 6 * 1024 * 1024 + 1]))
        .expect("a request");
    let response = app.oneshot(request).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "RequestTooLargeException"
    );
    assert!(
        local.pids("hello", "1").is_empty(),
        "no process was started"
    );
}
