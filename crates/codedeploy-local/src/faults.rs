//! Fault injection: make an operation throttle, fail with a 5xx, or answer late, N times.

use crate::lock;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

/// An operation that faults can be injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// CodeDeploy `PutLifecycleEventHookExecutionStatus`.
    PutLifecycleEventHookExecutionStatus,
    /// CodeDeploy `GetDeployment`.
    GetDeployment,
    /// Lambda `Invoke`.
    Invoke,
}

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The service's throttling error (`ThrottlingException`, `TooManyRequestsException`).
    Throttle,
    /// An HTTP 500 service error.
    ServerError,
    /// The call succeeds, but only after this delay.
    Delay(Duration),
}

/// The faults still to be served, per operation, in order.
#[derive(Debug, Default)]
pub struct Faults {
    queued: Mutex<HashMap<Operation, VecDeque<Fault>>>,
}

impl Faults {
    /// Make the next `times` calls of `operation` suffer `fault` (after faults already queued).
    pub fn inject(&self, operation: Operation, fault: Fault, times: usize) {
        let mut queued = lock(&self.queued);
        queued
            .entry(operation)
            .or_default()
            .extend(std::iter::repeat_n(fault, times));
    }

    /// Drop every queued fault.
    pub fn clear(&self) {
        lock(&self.queued).clear();
    }

    /// How many faults are still queued for `operation`.
    pub fn pending(&self, operation: Operation) -> usize {
        let queued = lock(&self.queued);
        queued.get(&operation).map_or(0, |q| q.len())
    }

    /// The fault for this call of `operation`, if one is queued.
    pub(crate) fn take(&self, operation: Operation) -> Option<Fault> {
        let mut queued = lock(&self.queued);
        queued.get_mut(&operation)?.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_served_in_order_then_stop() {
        let faults = Faults::default();
        faults.inject(Operation::Invoke, Fault::Throttle, 2);
        faults.inject(Operation::Invoke, Fault::ServerError, 1);
        assert_eq!(faults.pending(Operation::Invoke), 3);
        assert_eq!(faults.take(Operation::Invoke), Some(Fault::Throttle));
        assert_eq!(faults.take(Operation::GetDeployment), None);
        assert_eq!(faults.take(Operation::Invoke), Some(Fault::Throttle));
        assert_eq!(faults.take(Operation::Invoke), Some(Fault::ServerError));
        assert_eq!(faults.take(Operation::Invoke), None);
    }
}
