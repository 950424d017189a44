//! The door every API request comes through: which service it is for, its body read within
//! that service's size limit and in bounded time, and every answer the router gives on its
//! own (a path that is not UTF-8, a wrong method) in that service's error shape.
//!
//! Size limits, where AWS documents them: Lambda's Invoke takes 6 MB synchronously and
//! 1 MB as an event (`RequestTooLargeException`, 413; the Lambda quotas page). For Lambda's
//! other operations the model names `SerializedRequestEntityTooLargeException` (413) without
//! a number; the stand-in takes 6 MB there too. CodeDeploy's and CloudWatch's references
//! give no request size limit and their models no error for it (undocumented): the stand-in
//! takes 1 MiB, far above any input of the operations it serves, and answers 413 with the
//! wire's error shape, code `RequestEntityTooLargeException` for CodeDeploy and CloudWatch's
//! modeled `LimitExceededException`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::cloudwatch_wire::CloudWatchWire;
use super::error::ApiError;
use super::server::Connection;
use crate::body::{read_bounded, ReadError};
use crate::iam::{sigv4, Authority, Caller, Mode, SignatureError};

/// Lambda's synchronous invocation payload (the Lambda quotas page: 6 MB).
pub(crate) const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;
/// Lambda's asynchronous invocation payload (the Lambda quotas page: 1 MB).
pub(crate) const MAX_ASYNC_PAYLOAD: usize = 1024 * 1024;
/// CodeDeploy's and CloudWatch's bodies: undocumented by AWS (see the module docs).
const MAX_OTHER_BODY: usize = 1024 * 1024;
/// The live view takes no bodies worth the name.
const MAX_UI_BODY: usize = 64 * 1024;
/// The most of an untyped rejection's text kept as the typed error's message.
const MAX_REJECTION_TEXT: usize = 1024;

/// Which service a request is for, as its path and headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Door {
    /// restJson1 paths; `invoke` is the invocation's size limit.
    Lambda { invoke: Option<usize> },
    /// `POST /` with `X-Amz-Target: CodeDeploy_20141006.*` (and any other `POST /`).
    CodeDeploy,
    /// One of CloudWatch's three wires.
    CloudWatch(CloudWatchWire),
    /// The live view (`/ui`): not an AWS API.
    Ui,
}

impl Door {
    pub(crate) fn of(method: &Method, path: &str, headers: &HeaderMap) -> Door {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if path == "/ui" || path.starts_with("/ui/") {
            return Door::Ui;
        }
        if path.starts_with("/service/") {
            return Door::CloudWatch(CloudWatchWire::Cbor);
        }
        if path == "/" {
            // As `POST /` is dispatched: CloudWatch when its headers say so, else CodeDeploy.
            return match super::cloudwatch::wire_of_headers(headers) {
                Some((wire, _)) => Door::CloudWatch(wire),
                None => Door::CodeDeploy,
            };
        }
        let invoke =
            (method == Method::POST && path.ends_with("/invocations")).then(|| {
                match header("x-amz-invocation-type") {
                    Some("Event") => MAX_ASYNC_PAYLOAD,
                    _ => MAX_SYNC_PAYLOAD,
                }
            });
        Door::Lambda { invoke }
    }

    fn limit(self) -> usize {
        match self {
            Door::Lambda { invoke } => invoke.unwrap_or(MAX_SYNC_PAYLOAD),
            Door::CodeDeploy | Door::CloudWatch(_) => MAX_OTHER_BODY,
            Door::Ui => MAX_UI_BODY,
        }
    }

    /// An error of this door's service, in its wire's shape.
    fn error(self, status: StatusCode, code: &'static str, message: String) -> Response {
        match self {
            Door::Lambda { .. } => ApiError::lambda(status, code, message).into_response(),
            Door::CodeDeploy => ApiError::codedeploy(code, message)
                .with_status(status)
                .into_response(),
            Door::CloudWatch(wire) => ApiError::cloudwatch(status, code, message)
                .on_wire(wire)
                .into_response(),
            Door::Ui => (status, message).into_response(),
        }
    }

    fn too_large(self) -> Response {
        let limit = self.limit();
        let (status, code, message) = match self {
            Door::Lambda {
                invoke: Some(limit),
            } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestTooLargeException",
                format!(
                    "Request must be smaller than {limit} bytes for the {} operation",
                    if limit == MAX_ASYNC_PAYLOAD {
                        "InvokeAsync"
                    } else {
                        "InvokeFunction"
                    }
                ),
            ),
            Door::Lambda { invoke: None } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "SerializedRequestEntityTooLargeException",
                format!("Request must be smaller than {limit} bytes"),
            ),
            Door::CloudWatch(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "LimitExceededException",
                format!("codedeploy-local takes CloudWatch requests of at most {limit} bytes"),
            ),
            Door::CodeDeploy | Door::Ui => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLargeException",
                format!("codedeploy-local takes requests of at most {limit} bytes here"),
            ),
        };
        self.error(status, code, message)
    }

    /// A request signed with a key the stand-in issued whose signature or token does not
    /// hold. The services' models name no error for it; the codes are the ones the SDK's
    /// clock-skew classifier knows as signature errors (`aws-runtime`,
    /// `service_clock_skew.rs`: `InvalidSignatureException`, `SignatureDoesNotMatch`), and
    /// for a bad token the Common Errors pages' `InvalidClientTokenId` (403), which the JSON
    /// services spell `UnrecognizedClientException`.
    fn bad_signature(self, error: &SignatureError) -> Response {
        let query = matches!(self, Door::CloudWatch(CloudWatchWire::Query));
        let code = match (error, query) {
            (SignatureError::BadToken, false) => "UnrecognizedClientException",
            (SignatureError::BadToken, true) => "InvalidClientTokenId",
            (_, false) => "InvalidSignatureException",
            (_, true) => "SignatureDoesNotMatch",
        };
        self.error(StatusCode::FORBIDDEN, code, error.to_string())
    }

    /// The error for an answer the router gave on its own, without a service's shape.
    fn rejection(self, status: StatusCode, text: String) -> Response {
        let code = match (self, status) {
            (_, StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED) => {
                "UnknownOperationException"
            }
            (Door::Lambda { .. }, StatusCode::UNSUPPORTED_MEDIA_TYPE)
            | (Door::Lambda { .. }, StatusCode::UNPROCESSABLE_ENTITY) => {
                "InvalidRequestContentException"
            }
            (Door::Lambda { .. }, _) => "InvalidParameterValueException",
            (Door::CodeDeploy, _) => "SerializationException",
            (Door::CloudWatch(_), _) => "InvalidParameterValue",
            (Door::Ui, _) => "",
        };
        self.error(status, code, text)
    }
}

/// What went wrong reading a body.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// Over the door's limit, or broken.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Not all of it arrived within the request timeout.
    #[error("the body did not arrive within {0:?}")]
    TimedOut(Duration),
}

/// Read a body of at most `limit` bytes within `timeout`.
///
/// # Errors
/// [`BodyError`]: over the limit (after draining the rest), too slow, or broken.
pub(crate) async fn read_body(
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError> {
    let read = tokio::time::timeout(timeout, read_bounded(body, limit))
        .await
        .map_err(|_| BodyError::TimedOut(timeout))?;
    Ok(read?)
}

/// The middleware: the body read within its door's limit and `timeout`, the caller known
/// (a request signed with a key the stand-in issued has its signature checked), and answers
/// the router gave on its own turned into the door's typed errors.
pub(crate) async fn guard(
    iam: Arc<Authority>,
    timeout: Duration,
    request: Request,
    next: Next,
) -> Response {
    let door = Door::of(request.method(), request.uri().path(), request.headers());
    let declared = request
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (parts, body) = request.into_parts();
    let limit = door.limit();
    let read = if declared.is_some_and(|n| n > limit as u64) {
        // Known too large: drain it without keeping any of it.
        read_body(body, 0, timeout)
            .await
            .and(Err(BodyError::Read(ReadError::TooLarge { limit })))
    } else {
        read_body(body, limit, timeout).await
    };
    let body = match read {
        Ok(body) => body,
        Err(BodyError::Read(ReadError::TooLarge { .. })) => return door.too_large(),
        Err(err @ BodyError::TimedOut(_)) => {
            let mut response = door.error(
                StatusCode::REQUEST_TIMEOUT,
                "RequestTimeout",
                err.to_string(),
            );
            response
                .headers_mut()
                .insert("connection", HeaderValue::from_static("close"));
            return response;
        }
        Err(err @ BodyError::Read(ReadError::Broken(_))) => {
            return door.error(StatusCode::BAD_REQUEST, "RequestAborted", err.to_string())
        }
    };
    if let Some(connection) = parts.extensions.get::<Arc<Connection>>() {
        connection.handling();
    }
    let mut parts = parts;
    let caller = if iam.mode() == Mode::Off || door == Door::Ui {
        Caller::Keyboard
    } else {
        match sigv4::caller_of(&iam, &parts, &body) {
            Ok(caller) => caller,
            Err(bad) => return door.bad_signature(&bad),
        }
    };
    parts.extensions.insert(caller);
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    typed(door, response).await
}

/// An error answer without a service's content type is the router's own (a rejected path,
/// query or body, a wrong method): give it the door's shape, keeping its text.
async fn typed(door: Door, response: Response) -> Response {
    let status = response.status();
    if door == Door::Ui || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let typed = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| !c.starts_with("text/plain"));
    if typed {
        return response;
    }
    let text: String = axum::body::to_bytes(response.into_body(), MAX_REJECTION_TEXT * 4)
        .await
        .map(|b| {
            String::from_utf8_lossy(&b)
                .chars()
                .take(MAX_REJECTION_TEXT)
                .collect()
        })
        .unwrap_or_default();
    let text = if text.is_empty() {
        status.canonical_reason().unwrap_or("rejected").to_owned()
    } else {
        text
    };
    door.rejection(status, text)
}
