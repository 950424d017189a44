//! Each call a role makes, checked on the resource the Service Authorization Reference lists
//! for its action ("Actions, resources, and condition keys" for AWS Lambda, AWS CodeDeploy and
//! Amazon CloudWatch), and refused with the service's error.
//!
//! The error: none of the three models (botocore `lambda/2015-03-31`,
//! `codedeploy/2014-10-06`, `cloudwatch/2010-08-01`) names an access-denied shape; their API
//! References' "Common Errors" pages list `AccessDeniedException`, HTTP 400, and that is what
//! each wire answers, with AWS's message (see [`crate::iam::Denial::message`]).

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Extension;

use super::error::ApiError;
use crate::iam::{Authority, Caller, Denial};

/// The service a call is for, for the shape of its refusal.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Service {
    Lambda,
    CodeDeploy,
    CloudWatch,
}

/// The caller of one request (the guard put it in the request's extensions) and the
/// authority that decides on it: an extractor, so a handler takes one argument for both.
pub(crate) struct Permission {
    iam: Arc<Authority>,
    caller: Caller,
}

impl<S> FromRequestParts<S> for Permission
where
    Arc<Authority>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = axum::extract::rejection::ExtensionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Extension(caller) = Extension::<Caller>::from_request_parts(parts, state).await?;
        Ok(Permission {
            iam: Arc::<Authority>::from_ref(state),
            caller,
        })
    }
}

impl Permission {
    /// May the caller perform `action` on `resource`?
    ///
    /// # Errors
    /// The service's `AccessDeniedException` when the call is refused.
    pub(crate) fn check(
        &self,
        service: Service,
        action: &str,
        resource: &str,
    ) -> Result<(), ApiError> {
        self.iam
            .authorize(&self.caller, action, resource)
            .map_err(|denial| denied(service, &denial))
    }
}

/// The service's refusal of a call.
pub(crate) fn denied(service: Service, denial: &Arc<Denial>) -> ApiError {
    const CODE: &str = "AccessDeniedException";
    let message = denial.message();
    match service {
        Service::Lambda => ApiError::lambda(StatusCode::BAD_REQUEST, CODE, message),
        Service::CodeDeploy => ApiError::codedeploy(CODE, message),
        Service::CloudWatch => ApiError::cloudwatch(StatusCode::BAD_REQUEST, CODE, message),
    }
}
