//! Fault injection into any operation the stand-in serves: throttling, a 5xx, a late answer,
//! a stall, or a connection dropped before the answer; a number of times, or always.
//!
//! Each API calls one helper (`api::faults::before`) with the operation it serves, before
//! anything else; that is the only place faults are served.

use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use crate::sync::lock;

/// How long a stalled call waits before it is served after all: longer than any Lambda
/// function may run, so to a client it never answers.
pub const STALL: Duration = Duration::from_secs(15 * 60);

/// `times` for a fault that never runs out.
pub const ALWAYS: usize = usize::MAX;

/// An operation that faults can be injected into: every operation the stand-in serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// CodeDeploy `PutLifecycleEventHookExecutionStatus`.
    PutLifecycleEventHookExecutionStatus,
    /// CodeDeploy `GetDeployment`.
    GetDeployment,
    /// CodeDeploy `GetApplicationRevision`.
    GetApplicationRevision,
    /// CodeDeploy `ListDeployments`.
    ListDeployments,
    /// CodeDeploy `CreateDeployment`.
    CreateDeployment,
    /// CodeDeploy `StopDeployment`.
    StopDeployment,
    /// Lambda `Invoke`.
    Invoke,
    /// Lambda `GetAlias`.
    GetAlias,
    /// Lambda `UpdateAlias`.
    UpdateAlias,
    /// Lambda `ListVersionsByFunction`.
    ListVersionsByFunction,
    /// CloudWatch `GetMetricData`.
    GetMetricData,
}

/// `(operation, its name in the API, its name on the command line)`.
const OPERATIONS: [(Operation, &str, &str); 11] = [
    (
        Operation::PutLifecycleEventHookExecutionStatus,
        "PutLifecycleEventHookExecutionStatus",
        "put-status",
    ),
    (Operation::GetDeployment, "GetDeployment", "get-deployment"),
    (
        Operation::GetApplicationRevision,
        "GetApplicationRevision",
        "get-application-revision",
    ),
    (
        Operation::ListDeployments,
        "ListDeployments",
        "list-deployments",
    ),
    (
        Operation::CreateDeployment,
        "CreateDeployment",
        "create-deployment",
    ),
    (
        Operation::StopDeployment,
        "StopDeployment",
        "stop-deployment",
    ),
    (Operation::Invoke, "Invoke", "invoke"),
    (Operation::GetAlias, "GetAlias", "get-alias"),
    (Operation::UpdateAlias, "UpdateAlias", "update-alias"),
    (
        Operation::ListVersionsByFunction,
        "ListVersionsByFunction",
        "list-versions-by-function",
    ),
    (Operation::GetMetricData, "GetMetricData", "get-metric-data"),
];

impl Operation {
    /// Every operation faults can be injected into.
    pub fn all() -> impl Iterator<Item = Operation> {
        OPERATIONS.iter().map(|(op, _, _)| *op)
    }

    /// The operation's name in its API, e.g. `GetDeployment`.
    pub fn api_name(self) -> &'static str {
        OPERATIONS
            .iter()
            .find(|(op, _, _)| *op == self)
            .map_or("", |e| e.1)
    }

    /// The operation's name on the command line, e.g. `get-deployment`.
    pub fn cli_name(self) -> &'static str {
        OPERATIONS
            .iter()
            .find(|(op, _, _)| *op == self)
            .map_or("", |e| e.2)
    }

    pub(crate) fn from_api_name(name: &str) -> Option<Operation> {
        OPERATIONS.iter().find(|e| e.1 == name).map(|e| e.0)
    }

    pub(crate) fn is_codedeploy(self) -> bool {
        !matches!(
            self,
            Operation::Invoke
                | Operation::GetAlias
                | Operation::UpdateAlias
                | Operation::ListVersionsByFunction
                | Operation::GetMetricData
        )
    }

    pub(crate) fn is_cloudwatch(self) -> bool {
        self == Operation::GetMetricData
    }
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
    /// The call gets no answer (for [`STALL`], longer than any client waits).
    Stall,
    /// The connection is dropped before the answer is complete.
    Reset,
}

/// A fault on the command line: `OPERATION:FAULT[:TIMES]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultSpec {
    /// Where.
    pub operation: Operation,
    /// What.
    pub fault: Fault,
    /// How many calls suffer it; [`ALWAYS`] for every one.
    pub times: usize,
}

/// A `--fault` that is not `OPERATION:FAULT[:TIMES]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{spec}` is not OPERATION:FAULT[:TIMES] (e.g. put-status:throttle:2, invoke:stall:always); \
     OPERATION is one of {operations}; FAULT is throttle, 5xx, delay=MILLIS, stall or reset; \
     TIMES is a number (default 1) or `always`"
)]
pub struct BadFaultSpec {
    spec: String,
    operations: String,
}

impl FromStr for FaultSpec {
    type Err = BadFaultSpec;

    fn from_str(text: &str) -> Result<Self, BadFaultSpec> {
        let usage = || BadFaultSpec {
            spec: text.to_owned(),
            operations: OPERATIONS
                .iter()
                .map(|e| e.2)
                .collect::<Vec<_>>()
                .join(", "),
        };
        let mut parts = text.split(':');
        let operation = parts
            .next()
            .and_then(|name| OPERATIONS.iter().find(|e| e.2 == name))
            .map(|e| e.0)
            .ok_or_else(usage)?;
        let fault = match parts.next() {
            Some("throttle") => Fault::Throttle,
            Some("5xx") => Fault::ServerError,
            Some("stall") => Fault::Stall,
            Some("reset") => Fault::Reset,
            Some(delay) if delay.starts_with("delay=") => {
                let ms: u64 = delay["delay=".len()..].parse().map_err(|_| usage())?;
                Fault::Delay(Duration::from_millis(ms))
            }
            _ => return Err(usage()),
        };
        let times = match parts.next() {
            Some("always") => ALWAYS,
            Some(n) => n.parse().map_err(|_| usage())?,
            None => 1,
        };
        if parts.next().is_some() {
            return Err(usage());
        }
        Ok(FaultSpec {
            operation,
            fault,
            times,
        })
    }
}

/// The faults still to be served, per operation, in order.
#[derive(Debug, Default)]
pub struct Faults {
    queued: Mutex<HashMap<Operation, VecDeque<(Fault, usize)>>>,
}

impl Faults {
    /// Make the next `times` calls of `operation` suffer `fault` (after faults already
    /// queued); [`ALWAYS`] makes every later call suffer it.
    pub fn inject(&self, operation: Operation, fault: Fault, times: usize) {
        if times == 0 {
            return;
        }
        lock(&self.queued)
            .entry(operation)
            .or_default()
            .push_back((fault, times));
    }

    /// Drop every queued fault.
    pub fn clear(&self) {
        lock(&self.queued).clear();
    }

    /// How many faults are still queued for `operation` ([`ALWAYS`] if one never runs out).
    pub fn pending(&self, operation: Operation) -> usize {
        let queued = lock(&self.queued);
        queued.get(&operation).map_or(0, |q| {
            q.iter().fold(0usize, |sum, (_, n)| sum.saturating_add(*n))
        })
    }

    /// The fault for this call of `operation`, if one is queued.
    pub(crate) fn take(&self, operation: Operation) -> Option<Fault> {
        let mut queued = lock(&self.queued);
        let queue = queued.get_mut(&operation)?;
        let (fault, left) = queue.front_mut()?;
        let fault = *fault;
        if *left != ALWAYS {
            *left -= 1;
            if *left == 0 {
                queue.pop_front();
            }
        }
        Some(fault)
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

    #[test]
    fn a_persistent_fault_never_runs_out() {
        let faults = Faults::default();
        faults.inject(Operation::GetAlias, Fault::Reset, ALWAYS);
        for _ in 0..1000 {
            assert_eq!(faults.take(Operation::GetAlias), Some(Fault::Reset));
        }
        assert_eq!(faults.pending(Operation::GetAlias), ALWAYS);
    }

    #[test]
    fn every_operation_parses_from_its_command_line_name() {
        for operation in Operation::all() {
            let spec: FaultSpec = format!("{}:stall:always", operation.cli_name())
                .parse()
                .unwrap();
            assert_eq!(
                (spec.operation, spec.fault, spec.times),
                (operation, Fault::Stall, ALWAYS)
            );
        }
        let spec: FaultSpec = "put-status:delay=70000".parse().unwrap();
        assert_eq!(
            (spec.fault, spec.times),
            (Fault::Delay(Duration::from_millis(70000)), 1)
        );
        let err = "get-everything:throttle".parse::<FaultSpec>().unwrap_err();
        assert!(
            err.to_string().contains("get-application-revision"),
            "{err}"
        );
        assert!("invoke:5xx:twice".parse::<FaultSpec>().is_err());
    }
}
