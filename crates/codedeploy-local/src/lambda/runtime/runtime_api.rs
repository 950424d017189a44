//! The Lambda Runtime API, served to each process on its own loopback listener: every
//! request is known to come from that process, and none outlives it (the listener and its
//! connections are dropped when the supervisor retires the process).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::task::JoinSet;
use tracing::warn;

use super::api_thread::ApiHost;
use super::environment::{Environment, Process};
use super::{Pending, VersionRuntime};
use crate::body::ReadError;
use crate::lambda::version::InvokeResult;

/// The largest response a function may give: "6 MB" on the Lambda quotas page; Lambda's
/// own error message names 6,291,556 bytes ("Response payload size exceeded maximum allowed
/// payload size (6291556 bytes).", errorType `Function.ResponseSizeTooLarge`, as invokers
/// see it; the AWS documentation does not spell out the message).
pub(crate) const MAX_RESPONSE: usize = 6_291_556;

/// What a Runtime API request is served with: its environment and its own process.
#[derive(Clone)]
struct Api {
    env: Arc<Environment>,
    process: Arc<Process>,
}

/// Serve a process's Runtime API on `host`; returns its address and the server, which stops
/// with every connection it accepted when the guard is dropped.
pub(crate) fn serve(
    env: Arc<Environment>,
    process: Arc<Process>,
    host: &ApiHost,
) -> std::io::Result<(String, AbortOnDrop)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?.to_string();
    let router = router(env, process);
    let server = host.spawn(async move {
        // Registered with the reactor of the runtime it is served on.
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(err) => {
                // The process then finds no Runtime API, exits, and its supervisor says so.
                warn!(error = %err, "cannot serve a Runtime API listener");
                return;
            }
        };
        // The connections belong to the server: dropping it drops them, and any `next`
        // still waiting on one.
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { return };
                    let _ = stream.set_nodelay(true);
                    let service = TowerToHyperService::new(router.clone());
                    connections.spawn(async move {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    });
    Ok((address, AbortOnDrop(server)))
}

/// The Runtime API of one process.
fn router(env: Arc<Environment>, process: Arc<Process>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        // Bodies are bounded by the handlers, at Lambda's limit (axum's 2 MB is not it).
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(Api { env, process })
}

/// Aborts a task when dropped.
pub(crate) struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn runtime_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"errorType": error_type, "errorMessage": message})),
    )
        .into_response()
}

fn gone(why: &str) -> Response {
    runtime_error(StatusCode::GONE, "Runtime.Stopped", why)
}

/// `GET /runtime/invocation/next`: wait for the next invocation of this version, and hand
/// it to this process unless the process has died meanwhile (then it goes back to the
/// queue for a fresh one).
async fn next(State(api): State<Api>) -> Response {
    let Some(runtime) = api.env.runtime.upgrade() else {
        return gone("the function was removed");
    };
    api.process.asked_for_event();
    let pending = tokio::select! {
        biased;
        () = api.process.retired() => return gone("the process has ended"),
        pending = async {
            api.process.registered().await;
            runtime.next_queued().await
        } => pending,
    };
    let Some(pending) = pending else {
        return gone("the stand-in is stopping");
    };
    let timeout = runtime.spec.timeout;
    let deadline_ms = SystemTime::now()
        .checked_add(timeout)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let headers = event_headers(&runtime, &pending, deadline_ms);
    let payload = pending.payload.clone();
    match api.env.hand_out(&api.process, pending, timeout) {
        Ok(()) => (StatusCode::OK, headers, payload).into_response(),
        Err(pending) => {
            runtime.requeue(pending);
            gone("the process has ended")
        }
    }
}

/// The headers that come with an event: its request id, deadline, ARN, trace and context.
fn event_headers(runtime: &VersionRuntime, pending: &Pending, deadline_ms: u128) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let request_id = &pending.request_id;
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", request_id);
    set("lambda-runtime-deadline-ms", &deadline_ms.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        &runtime.identity.function_arn,
    );
    set(
        "lambda-runtime-trace-id",
        &format!("Root=1-{}", &request_id[..8.min(request_id.len())]),
    );
    if let Some(context) = &pending.client_context {
        set("lambda-runtime-client-context", context);
    }
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers
}

/// `POST /runtime/invocation/{id}/response`.
async fn response(
    State(Api { env, .. }): State<Api>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    match crate::body::read_bounded(body, MAX_RESPONSE).await {
        Ok(body) => finish(&env, &id, body, None),
        Err(err) => unread(&env, &id, &err),
    }
}

/// `POST /runtime/invocation/{id}/error`.
async fn error(State(Api { env, .. }): State<Api>, Path(id): Path<String>, body: Body) -> Response {
    match crate::body::read_bounded(body, MAX_RESPONSE).await {
        Ok(body) => finish(&env, &id, body, Some("Unhandled".into())),
        Err(err) => unread(&env, &id, &err),
    }
}

/// An answer that could not be read: too large (the invoke fails as Lambda's does), or cut
/// off (the process is dying; its supervisor answers for the invocation).
fn unread(env: &Environment, id: &str, err: &ReadError) -> Response {
    match err {
        ReadError::TooLarge { .. } => too_large(env, id),
        ReadError::Broken(_) => runtime_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestBody",
            &err.to_string(),
        ),
    }
}

/// The function answered more than Lambda takes: the invoke fails at once, as Lambda's
/// does, and the function is told.
fn too_large(env: &Environment, id: &str) -> Response {
    let message = format!(
        "Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE} bytes)."
    );
    if let Some(runtime) = env.runtime.upgrade() {
        env.drain_logs();
        if let Some(current) = env.take_if(id) {
            let log = current.log_with_report(&runtime, env.peak_memory_mb());
            let failure = runtime.failure(
                "Function.ResponseSizeTooLarge",
                &message,
                id,
                log,
                current.started.elapsed(),
            );
            let _ = current.reply.send(failure);
        }
    }
    runtime_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLarge",
        &message,
    )
}

fn finish(env: &Environment, id: &str, body: Bytes, function_error: Option<String>) -> Response {
    let Some(runtime) = env.runtime.upgrade() else {
        return gone("the function was removed");
    };
    // Everything the function printed before answering belongs to this invocation's log.
    env.drain_logs();
    let Some(current) = env.take_if(id) else {
        return runtime_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            &format!("no invocation {id} is in progress (it may have timed out)"),
        );
    };
    let result = InvokeResult {
        payload: body,
        function_error,
        executed_version: runtime.identity.version.clone(),
        request_id: current.request_id.clone(),
        log: current.log_with_report(&runtime, env.peak_memory_mb()),
        duration: current.started.elapsed(),
    };
    let _ = current.reply.send(result);
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

/// `POST /runtime/init/error`: remembered, and given as the reason when the process exits.
async fn init_error(State(api): State<Api>, body: Bytes) -> Response {
    let message = String::from_utf8_lossy(&body).into_owned();
    warn!(error = %message, "a function failed to initialize");
    api.process.set_init_error(message);
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::Weak;

    use axum::http::{Method, Request};
    use proptest::prelude::*;
    use tower::ServiceExt as _;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000))]

        /// Any method, path and body on a process's Runtime API: an answer, never a panic,
        /// and, the function being gone, no event handed out and no answer taken.
        #[test]
        fn any_request_gets_an_answer(
            method in prop_oneof![Just(Method::GET), Just(Method::POST), Just(Method::PUT)],
            tail in prop_oneof![
                Just("invocation/next".to_owned()),
                "invocation/[ -~]{0,40}/response",
                "invocation/(%[0-9A-F]{2}){0,8}/error",
                Just("init/error".to_owned()),
                "[ -~]{0,60}",
            ],
            body in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let status = runtime.block_on(async {
                let env = Environment::new(Weak::new());
                let process = env.begin_process();
                let uri = format!("/2018-06-01/runtime/{}", tail.replace(' ', "%20"));
                // Not a request a client could send (the URI does not parse): nothing to ask.
                let request = Request::builder().method(method).uri(uri).body(Body::from(body)).ok()?;
                router(env, process).oneshot(request).await.ok().map(|r| r.status())
            });
            if let Some(status) = status {
                // No event handed out, and no answer taken for an invocation (an init
                // error is kept for the process, whatever becomes of the function).
                prop_assert_ne!(status, StatusCode::OK);
                if tail.starts_with("invocation/") {
                    prop_assert_ne!(status, StatusCode::ACCEPTED);
                }
            }
        }
    }
}
