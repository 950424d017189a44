//! The call policy against scripted failures, on tokio's paused clock.

use std::cell::Cell;
use std::time::Duration;

use tokio::time::Instant;

use super::*;

fn failure(kind: AwsErrorKind) -> Error {
    Error::Aws {
        operation: "lambda:Invoke",
        kind,
        message: "scripted".into(),
        attempts: 1,
    }
}

fn call<'a>(policy: &'a CallPolicy, log: &'a CallLog, deadline: Option<Instant>) -> Call<'a> {
    Call {
        operation: "lambda:Invoke",
        attempt_timeout: policy.attempt_timeout,
        max_attempts: Some(policy.max_attempts),
        deadline,
        policy,
        log: Some(log),
        context: "greets",
    }
}

#[tokio::test(start_paused = true)]
async fn throttling_and_5xx_are_retried_until_an_answer_and_recorded() {
    let (policy, log) = (CallPolicy::default(), CallLog::default());
    let calls = Cell::new(0);
    let answer = call(&policy, &log, None)
        .run(|| {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                match n {
                    1 => Err(failure(AwsErrorKind::Throttling)),
                    2 => Err(failure(AwsErrorKind::Server)),
                    _ => Ok("answer"),
                }
            }
        })
        .await;
    assert_eq!(answer.unwrap(), "answer");
    assert_eq!(calls.get(), 3);
    let recorded = log.snapshot();
    assert_eq!(
        (recorded[0].calls, recorded[0].attempts, recorded[0].failed),
        (1, 3, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_stalled_attempt_is_abandoned_and_the_next_one_answers() {
    let policy = CallPolicy::default().attempt_timeout(Duration::from_secs(1));
    let log = CallLog::default();
    let calls = Cell::new(0);
    let started = Instant::now();
    let answer = call(&policy, &log, None)
        .run(|| {
            calls.set(calls.get() + 1);
            let stall = calls.get() == 1;
            async move {
                if stall {
                    tokio::time::sleep(Duration::from_secs(70)).await;
                }
                Ok(())
            }
        })
        .await;
    assert!(answer.is_ok());
    assert_eq!(calls.get(), 2);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn client_errors_are_not_retried() {
    let (policy, log) = (CallPolicy::default(), CallLog::default());
    let calls = Cell::new(0);
    let err = call(&policy, &log, None)
        .run(|| {
            calls.set(calls.get() + 1);
            async { Err::<(), _>(failure(AwsErrorKind::Client)) }
        })
        .await
        .unwrap_err();
    assert_eq!(calls.get(), 1);
    assert!(
        err.to_string()
            .starts_with("lambda:Invoke failed (rejected): scripted"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn persistent_failures_stop_at_the_attempt_limit_naming_the_count() {
    let policy = CallPolicy::default().max_attempts(4);
    let log = CallLog::default();
    let err = call(&policy, &log, None)
        .run(|| async { Err::<(), _>(failure(AwsErrorKind::Throttling)) })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("after 4 attempts"), "{err}");
    let recorded = log.snapshot();
    assert_eq!((recorded[0].attempts, recorded[0].failed), (4, 1));
    assert!(recorded[0]
        .last_error
        .as_deref()
        .unwrap()
        .contains("throttled"));
}

#[tokio::test(start_paused = true)]
async fn no_attempt_runs_past_the_deadline() {
    let policy = CallPolicy::default().max_attempts(100);
    let log = CallLog::default();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(5);
    let mut c = call(&policy, &log, Some(deadline));
    c.max_attempts = None;
    let err = c
        .run(|| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<(), Error>(())
        })
        .await
        .unwrap_err();
    assert!(
        Instant::now() <= deadline,
        "stopped at {:?}",
        started.elapsed()
    );
    assert!(
        matches!(
            err,
            Error::Aws {
                kind: AwsErrorKind::Timeout,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn pauses_grow_are_capped_and_jittered_within_half() {
    let policy = CallPolicy::default();
    for attempt in 1..20 {
        let full = Duration::from_millis(100 << (attempt.min(16) - 1)).min(Duration::from_secs(2));
        let pause = policy.pause_after(attempt);
        assert!(
            pause >= full / 2 && pause <= full,
            "attempt {attempt}: {pause:?}"
        );
    }
}
