//! AWS errors in each service's own wire form, so SDKs raise their typed errors.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Which protocol's error shape to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// awsJson1.1 (CodeDeploy): `{"__type": ..., "message": ...}`.
    Json11,
    /// restJson1 (Lambda): `{"Type": "User", "message": ...}` and `x-amzn-ErrorType`.
    RestJson,
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
    pub(crate) fn codedeploy(code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
            protocol: Protocol::Json11,
        }
    }

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

    pub(crate) fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match self.protocol {
            Protocol::Json11 => json!({"__type": self.code, "message": self.message}),
            Protocol::RestJson => {
                let kind = if self.status.is_server_error() {
                    "Service"
                } else {
                    "User"
                };
                json!({"Type": kind, "message": self.message})
            }
        };
        let content_type = match self.protocol {
            Protocol::Json11 => "application/x-amz-json-1.1",
            Protocol::RestJson => "application/json",
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
