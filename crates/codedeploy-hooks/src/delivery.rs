//! Delivering the verdict to CodeDeploy: exactly once, retried until the Lambda deadline.

use std::time::Duration;

use aws_sdk_codedeploy::types::LifecycleEventStatus;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::call::{Call, CallPolicy};
use crate::error::Error;
use crate::summary::{Delivery, Status};

const OPERATION: &str = "codedeploy:PutLifecycleEventHookExecutionStatus";

/// Where and how to deliver one verdict.
pub(crate) struct Verdict<'a> {
    pub(crate) deployment_id: &'a str,
    pub(crate) execution_id: &'a str,
    pub(crate) status: Status,
}

/// Send the verdict, retrying throttling, 5xx, transport errors and stalled attempts with
/// backoff until `deadline` (no attempt limit then: nothing matters more). Each attempt gets
/// at most a third of `reserve`, so a stalled call leaves time for two more. A
/// `LifecycleEventAlreadyCompletedException` means an earlier delivery of the same event
/// already reported: that counts as done.
pub(crate) async fn deliver(
    codedeploy: &aws_sdk_codedeploy::Client,
    verdict: &Verdict<'_>,
    policy: &CallPolicy,
    reserve: Duration,
    deadline: Option<Instant>,
) -> Result<Delivery, Error> {
    let started = Instant::now();
    let wire_status = match verdict.status {
        Status::Succeeded => LifecycleEventStatus::Succeeded,
        Status::Failed => LifecycleEventStatus::Failed,
    };
    let attempt_timeout = policy
        .attempt_timeout
        .min(reserve / 3)
        .max(Duration::from_millis(100));
    let call = Call {
        operation: OPERATION,
        attempt_timeout,
        max_attempts: None,
        deadline,
        policy,
        log: None,
        context: "reporting the verdict",
    };
    let mut attempts = 0;
    let result = call
        .run(|| {
            attempts += 1;
            put_status(codedeploy, verdict, wire_status.clone())
        })
        .await;
    let status = verdict.status.as_str();
    match result {
        Ok(false) => {
            info!(status, attempts, "reported to CodeDeploy");
            Ok(Delivery::Delivered { attempts })
        }
        Ok(true) => {
            warn!(
                status,
                "CodeDeploy already has a status for this hook execution (a duplicate delivery of the event); nothing more to report"
            );
            Ok(Delivery::AlreadyCompleted { attempts })
        }
        Err(last) => Err(Error::ReportUndelivered {
            deployment_id: crate::invocation::shorten(verdict.deployment_id).into_owned(),
            status,
            attempts,
            elapsed: started.elapsed(),
            last_error: Box::new(last),
        }),
    }
}

/// One `PutLifecycleEventHookExecutionStatus`: `Ok(true)` when CodeDeploy already had a
/// status for the execution (`LifecycleEventAlreadyCompletedException`).
async fn put_status(
    codedeploy: &aws_sdk_codedeploy::Client,
    verdict: &Verdict<'_>,
    status: LifecycleEventStatus,
) -> Result<bool, Error> {
    let sent = codedeploy
        .put_lifecycle_event_hook_execution_status()
        .deployment_id(verdict.deployment_id)
        .lifecycle_event_hook_execution_id(verdict.execution_id)
        .status(status)
        .send()
        .await;
    match sent {
        Ok(_) => Ok(false),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_lifecycle_event_already_completed_exception()) =>
        {
            Ok(true)
        }
        Err(err) => Err(Error::aws(OPERATION, err)),
    }
}
