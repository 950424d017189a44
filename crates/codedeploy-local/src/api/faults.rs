//! Serving the injected faults: every operation calls [`before`] first.

use axum::http::StatusCode;

use super::error::ApiError;
use crate::faults::{Fault, Faults, Operation, STALL};

/// Serve the next queued fault of `operation`, if any: an error to answer with, or a delay
/// before the call goes on.
///
/// # Errors
/// The throttling error, a 5xx, or a dropped connection, as the fault says.
pub(crate) async fn before(faults: &Faults, operation: Operation) -> Result<(), ApiError> {
    let Some(fault) = faults.take(operation) else {
        return Ok(());
    };
    tracing::debug!(
        operation = operation.api_name(),
        ?fault,
        "injecting a fault"
    );
    match fault {
        Fault::Throttle => Err(throttled(operation)),
        Fault::ServerError => Err(server_error(operation)),
        Fault::Delay(delay) => {
            tokio::time::sleep(delay).await;
            Ok(())
        }
        Fault::Stall => {
            tokio::time::sleep(STALL).await;
            Ok(())
        }
        Fault::Reset => Err(ApiError::dropped_connection()),
    }
}

fn throttled(operation: Operation) -> ApiError {
    if operation.is_cloudwatch() {
        // CloudWatch's own code (its service model's awsQueryError names it too).
        ApiError::cloudwatch(StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded")
    } else if operation.is_codedeploy() {
        ApiError::codedeploy("ThrottlingException", "Rate exceeded")
    } else {
        ApiError::too_many_requests(None)
    }
}

fn server_error(operation: Operation) -> ApiError {
    let message = "injected fault: the service failed";
    if operation.is_cloudwatch() {
        ApiError::cloudwatch(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServiceFault",
            message,
        )
    } else if operation.is_codedeploy() {
        ApiError::codedeploy("InternalFailure", message)
            .with_status(StatusCode::INTERNAL_SERVER_ERROR)
    } else {
        ApiError::lambda(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            message,
        )
    }
}
