//! Synthetic traffic on the alias during a deployment.

use std::sync::Arc;
use std::time::Duration;

use super::plan::Traffic;
use super::spec::DeploymentSpec;
use crate::lambda::Lambda;
use crate::request_id::new_request_id;

/// Invoke the alias at a steady rate until aborted.
pub(crate) fn spawn(
    lambda: Arc<Lambda>,
    spec: &DeploymentSpec,
    traffic: Traffic,
) -> tokio::task::JoinHandle<()> {
    let (function, alias) = (spec.function_name.clone(), spec.alias.clone());
    let tasks = lambda.tasks().clone();
    lambda.tasks().clone().spawn(async move {
        let period = Duration::from_secs_f64(1.0 / traffic.rate.max(0.001));
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let in_flight = Arc::new(tokio::sync::Semaphore::new(32));
        loop {
            interval.tick().await;
            let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
                continue; // the function cannot keep up: drop this request, as a client would time out
            };
            let Ok(resolved) = lambda.registry().resolve(&function, Some(&alias)) else {
                return;
            };
            let (lambda, payload) = (Arc::clone(&lambda), traffic.payload.clone());
            tasks.spawn(async move {
                let _permit = permit;
                lambda
                    .invoke(resolved, payload.into(), None, new_request_id())
                    .await;
            });
        }
    })
}
