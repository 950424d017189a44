//! One lifecycle hook of a deployment, run as CodeDeploy runs it: the hook function invoked
//! asynchronously with its event (delivered again after a function error, as Lambda does),
//! then the wait for its report.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::watch;

use super::run::{Run, Stop};
use super::spec::HookStatus;
use super::timeline::{About, ErrorCode, Event, HookStep};
use crate::lambda::{AsyncEvent, InvokeResult, Lambda};
use crate::request_id::new_request_id;

/// How long a failed report waits for the hook's own answer, which says why.
const ANSWER_GRACE: Duration = Duration::from_secs(2);

pub(crate) struct HookRun<'r, 'a> {
    run: &'r mut Run<'a>,
    lifecycle_event: &'r str,
    hook: &'r str,
}

impl<'r, 'a> HookRun<'r, 'a> {
    pub(crate) fn new(run: &'r mut Run<'a>, lifecycle_event: &'r str, hook: &'r str) -> Self {
        HookRun {
            run,
            lifecycle_event,
            hook,
        }
    }

    pub(crate) async fn run(self) -> Result<(), Stop> {
        let HookRun {
            run,
            lifecycle_event,
            hook,
        } = self;
        run.phase = lifecycle_event.to_owned();
        let lambda = Arc::clone(run.codedeploy.lambda());
        if !lambda.registry().has_function(hook) {
            return Err(Stop::failed(
                ErrorCode::HookExecutionFailure,
                format!(
                    "the {lifecycle_event} hook function {hook} does not exist; publish it, or fix the AppSpec's Hooks"
                ),
            ));
        }
        let hook_arn = lambda.registry().function_arn(hook);
        run.as_codedeploy("AWSLambda", "lambda:InvokeFunction", &hook_arn)?;
        let Some(opened) = run
            .codedeploy
            .deployments
            .start_execution(&run.id, lifecycle_event)
        else {
            return Err(Stop::failed(
                ErrorCode::HookExecutionFailure,
                format!("the deployment {} disappeared", run.id),
            ));
        };
        let mut status = opened.status;
        let about = |step| {
            Some(About::Hook {
                lifecycle_event: lifecycle_event.to_owned(),
                function: hook.to_owned(),
                step,
            })
        };
        let invoked = format!("{lifecycle_event}: {hook}");
        run.record(Event::HookInvoked, invoked, about(HookStep::Invoked));
        let deliveries =
            Deliveries::start(run, hook, opened.event.to_string().into_bytes(), &status);
        if deliveries.duplicate.is_some() {
            let invoked = format!("{lifecycle_event}: {hook} (duplicate delivery)");
            run.record(Event::HookInvoked, invoked, about(HookStep::Invoked));
        }
        let deadline = Instant::now() + run.scaled(run.plan.hook_timeout);
        let waited = run.wait(Some(deadline), Some(&mut status)).await;
        let result = Verdict {
            run,
            lifecycle_event,
            hook,
        }
        .of(waited, &deliveries)
        .await;
        deliveries.end(result.is_ok()).await;
        result
    }
}

/// What a hook's wait ended with, on the timeline and as the deployment's stop.
struct Verdict<'r, 'a> {
    run: &'r mut Run<'a>,
    lifecycle_event: &'r str,
    hook: &'r str,
}

impl Verdict<'_, '_> {
    fn record(&mut self, event: Event, what: &str, step: HookStep) {
        let (lifecycle_event, hook) = (self.lifecycle_event, self.hook);
        let about = About::Hook {
            lifecycle_event: lifecycle_event.to_owned(),
            function: hook.to_owned(),
            step,
        };
        let detail = format!("{lifecycle_event}: {hook} {what}");
        self.run.record(event, detail, Some(about));
    }

    async fn of(
        mut self,
        waited: Result<Option<HookStatus>, Stop>,
        deliveries: &Deliveries,
    ) -> Result<(), Stop> {
        let (lifecycle_event, hook) = (self.lifecycle_event, self.hook);
        match waited {
            Ok(Some(HookStatus::Succeeded)) => {
                self.record(
                    Event::HookSucceeded,
                    "reported Succeeded",
                    HookStep::Succeeded,
                );
                Ok(())
            }
            Ok(Some(HookStatus::Failed)) => {
                self.record(Event::HookFailed, "reported Failed", HookStep::Failed);
                let why = deliveries.reason().await;
                Err(Stop::failed(
                    ErrorCode::HookExecutionFailure,
                    format!("the {lifecycle_event} hook {hook} reported Failed{why}"),
                ))
            }
            Ok(None) => {
                self.record(
                    Event::HookTimedOut,
                    "did not report in time",
                    HookStep::TimedOut,
                );
                Err(Stop::failed(
                    ErrorCode::Timeout,
                    format!(
                        "the {lifecycle_event} hook {hook} did not report within {:?} (deployment time): it must \
                         call PutLifecycleEventHookExecutionStatus",
                        self.run.plan.hook_timeout
                    ),
                ))
            }
            Err(stop) => Err(stop),
        }
    }
}

/// The deliveries of a hook's event: Lambda's, with its retries, and a duplicate when asked.
struct Deliveries {
    delivery: tokio::task::JoinHandle<()>,
    duplicate: Option<tokio::task::JoinHandle<()>>,
    /// The hook's answer (its reason, or error message) from the latest delivery.
    answer: watch::Receiver<Option<String>>,
}

impl Deliveries {
    fn start(
        run: &Run<'_>,
        hook: &str,
        event: Vec<u8>,
        status: &watch::Receiver<Option<HookStatus>>,
    ) -> Self {
        let lambda = &run.codedeploy.lambda();
        let duplicate = run.plan.duplicate_deliveries.then(|| {
            let (lambda, hook, event) = (Arc::clone(lambda), hook.to_owned(), event.clone());
            lambda.tasks().clone().spawn(async move {
                if let Ok(resolved) = lambda.registry().resolve(&hook, None) {
                    lambda
                        .invoke(resolved, event.into(), None, new_request_id())
                        .await;
                }
            })
        });
        let (answer_tx, answer) = watch::channel(None);
        let delivery = lambda.tasks().spawn(deliver(
            Arc::clone(lambda),
            hook.to_owned(),
            event,
            run.plan.time_scale,
            answer_tx,
            status.clone(),
        ));
        Deliveries {
            delivery,
            duplicate,
            answer,
        }
    }

    /// Why the hook failed, from its own answer when it comes soon (codedeploy-hooks
    /// answers with its summary).
    async fn reason(&self) -> String {
        let mut answer = self.answer.clone();
        let _ = tokio::time::timeout(ANSWER_GRACE, answer.wait_for(Option::is_some)).await;
        let reason = answer.borrow().clone();
        reason.map(|r| format!(": {r}")).unwrap_or_default()
    }

    /// After a success, let both deliveries finish (whichever ran second had its report
    /// refused as already completed), so the hook's report count is complete when the
    /// deployment ends; both have answered once the hook has reported. Otherwise stop them.
    async fn end(self, succeeded: bool) {
        match (self.duplicate, succeeded) {
            (Some(duplicate), true) => {
                let _ = duplicate.await;
                let _ = self.delivery.await;
            }
            (duplicate, _) => {
                self.delivery.abort();
                if let Some(task) = duplicate {
                    task.abort();
                }
            }
        }
    }
}

/// Invoke the hook function asynchronously, with Lambda's retries on the deployment's clock,
/// until the hook has reported; each answer's reason goes to `answer`.
async fn deliver(
    lambda: Arc<Lambda>,
    hook: String,
    event: Vec<u8>,
    time_scale: f64,
    answer: watch::Sender<Option<String>>,
    reported: watch::Receiver<Option<HookStatus>>,
) {
    let event = AsyncEvent {
        name: hook,
        qualifier: None,
        payload: event.into(),
        client_context: None,
        request_id: new_request_id(),
    };
    let settled = || reported.borrow().is_some();
    let answered = |result: &InvokeResult| {
        let reason = serde_json::from_slice::<serde_json::Value>(&result.payload)
            .ok()
            .and_then(|v| {
                let reason = v.get("reason").or_else(|| v.get("errorMessage"))?;
                reason.as_str().map(str::to_owned)
            });
        answer.send_replace(Some(
            reason.unwrap_or_else(|| "see the hook's log".to_owned()),
        ));
    };
    lambda.deliver(event, time_scale, settled, answered).await;
}
