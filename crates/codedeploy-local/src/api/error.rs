//! AWS errors in each service's own wire form, so SDKs raise their typed errors.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::cloudwatch_wire::CloudWatchWire;

/// Which protocol's error shape to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// awsJson1.1 (CodeDeploy): `{"__type": ..., "message": ...}`.
    Json11,
    /// restJson1 (Lambda): `{"Type": "User", "message": ...}` and `x-amzn-ErrorType`.
    RestJson,
    /// CloudWatch, in the protocol the request came in.
    CloudWatch(CloudWatchWire),
    /// No answer at all: the connection drops (an injected fault).
    DroppedConnection,
}

/// A service error as the service would send it.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) protocol: Protocol,
}

impl ApiError {
    /// A CodeDeploy error (HTTP 400).
    pub(crate) fn codedeploy(code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
            protocol: Protocol::Json11,
        }
    }

    /// A Lambda error.
    pub(crate) fn lambda(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            protocol: Protocol::RestJson,
        }
    }

    /// A CloudWatch error; its wire is set by the handler that answers it.
    pub(crate) fn cloudwatch(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            protocol: Protocol::CloudWatch(CloudWatchWire::Json),
        }
    }

    /// The same error in CloudWatch's `wire`, unless it is no answer at all.
    pub(crate) fn on_wire(mut self, wire: CloudWatchWire) -> Self {
        if self.protocol != Protocol::DroppedConnection {
            self.protocol = Protocol::CloudWatch(wire);
        }
        self
    }

    /// Lambda's `InvalidParameterValueException` (400).
    pub(crate) fn invalid_parameter(message: impl Into<String>) -> Self {
        ApiError::lambda(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            message,
        )
    }

    /// Lambda's `TooManyRequestsException` (429): `Rate Exceeded.`, and why when given.
    pub(crate) fn too_many_requests(why: Option<&str>) -> Self {
        let message = match why {
            Some(why) => format!("Rate Exceeded.: {why}"),
            None => "Rate Exceeded.".to_owned(),
        };
        ApiError::lambda(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            message,
        )
    }

    /// Lambda's `ResourceNotFoundException` (404).
    pub(crate) fn resource_not_found(message: impl Into<String>) -> Self {
        ApiError::lambda(StatusCode::NOT_FOUND, "ResourceNotFoundException", message)
    }

    /// The connection is dropped before the answer is complete, as after a reset.
    pub(crate) fn dropped_connection() -> Self {
        ApiError {
            status: StatusCode::OK,
            code: "",
            message: String::new(),
            protocol: Protocol::DroppedConnection,
        }
    }

    pub(crate) fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (body, content_type) = match self.protocol {
            Protocol::Json11 => (
                json!({"__type": self.code, "message": self.message}),
                "application/x-amz-json-1.1",
            ),
            Protocol::RestJson => {
                let kind = if self.status.is_server_error() {
                    "Service"
                } else {
                    "User"
                };
                (
                    json!({"Type": kind, "message": self.message}),
                    "application/json",
                )
            }
            Protocol::CloudWatch(wire) => {
                return super::cloudwatch_wire::error_response(
                    wire,
                    self.status,
                    self.code,
                    &self.message,
                )
            }
            Protocol::DroppedConnection => return failing_body(),
        };
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert("content-type", HeaderValue::from_static(content_type));
        if let Ok(code) = HeaderValue::from_str(self.code) {
            headers.insert("x-amzn-errortype", code);
        }
        response
    }
}

/// A response whose body fails at once: hyper drops the connection, and the client sees it
/// close before the answer is complete.
fn failing_body() -> Response {
    let failing = futures::stream::once(async {
        Err::<bytes::Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected fault: connection reset",
        ))
    });
    Response::new(Body::from_stream(failing))
}
