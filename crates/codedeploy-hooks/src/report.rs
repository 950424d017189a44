//! Reporting the verdict to CodeDeploy: exactly once, retried within the reserve.

use std::time::Duration;

use aws_sdk_codedeploy::types::LifecycleEventStatus;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::error::Error;
use crate::summary::{Delivery, Status};

/// Attempts when there is no deadline (CLI runs).
const MAX_ATTEMPTS_WITHOUT_DEADLINE: u32 = 6;

/// Send `status` for one hook execution, retrying throttling, 5xx and transport errors with
/// backoff until `deadline`. A `LifecycleEventAlreadyCompletedException` means an earlier
/// delivery of the same event already reported: that counts as done.
pub(crate) async fn report(
    codedeploy: &aws_sdk_codedeploy::Client,
    deployment_id: &str,
    execution_id: &str,
    status: Status,
    deadline: Option<Instant>,
) -> Result<Delivery, Error> {
    let started = Instant::now();
    let wire_status = match status {
        Status::Succeeded => LifecycleEventStatus::Succeeded,
        Status::Failed => LifecycleEventStatus::Failed,
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        let call = codedeploy
            .put_lifecycle_event_hook_execution_status()
            .deployment_id(deployment_id)
            .lifecycle_event_hook_execution_id(execution_id)
            .status(wire_status.clone())
            .send();
        let result = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, call).await {
                Ok(result) => result,
                Err(_) => {
                    return Err(undelivered(
                        deployment_id,
                        status,
                        attempts,
                        started,
                        Error::Aws {
                            operation: "codedeploy:PutLifecycleEventHookExecutionStatus",
                            kind: crate::AwsErrorKind::Transport,
                            message: "no answer before the Lambda deadline".into(),
                        },
                    ))
                }
            },
            None => call.await,
        };
        let err = match result {
            Ok(_) => {
                info!(status = status.as_str(), attempts, "reported to CodeDeploy");
                return Ok(Delivery::Delivered { attempts });
            }
            Err(err) => err,
        };
        if err
            .as_service_error()
            .is_some_and(|e| e.is_lifecycle_event_already_completed_exception())
        {
            warn!(
                status = status.as_str(),
                "CodeDeploy already has a status for this hook execution (a duplicate delivery of the event); nothing more to report"
            );
            return Ok(Delivery::AlreadyCompleted { attempts });
        }
        let err = Error::aws("codedeploy:PutLifecycleEventHookExecutionStatus", err);
        let pause = backoff(attempts);
        let time_left = match deadline {
            Some(deadline) => Instant::now() + pause < deadline,
            None => attempts < MAX_ATTEMPTS_WITHOUT_DEADLINE,
        };
        if !err.is_infrastructure() || !time_left {
            return Err(undelivered(deployment_id, status, attempts, started, err));
        }
        warn!(attempt = attempts, error = %err, "report failed; retrying");
        tokio::time::sleep(pause).await;
    }
}

fn undelivered(
    deployment_id: &str,
    status: Status,
    attempts: u32,
    started: Instant,
    last: Error,
) -> Error {
    Error::ReportUndelivered {
        deployment_id: deployment_id.to_owned(),
        status: status.as_str(),
        attempts,
        elapsed: started.elapsed(),
        last_error: Box::new(last),
    }
}

/// 50 ms, 100 ms, 200 ms, ... up to 1 s: the reserve is a few seconds.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(50u64 << attempt.clamp(1, 6).saturating_sub(1))
        .min(Duration::from_secs(1))
}
