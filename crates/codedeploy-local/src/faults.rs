//! Fault injection into any operation the stand-in serves: throttling, a 5xx, a late answer,
//! a stall, or a connection dropped before the answer; a number of times, or always.
//!
//! One axum middleware ([`inject`]) sits in front of every route, so no handler knows about
//! faults.

use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::functions::{split_name, InvocationRecord};
use crate::lock;
use crate::wire::ApiError;
use crate::Shared;

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
}

/// `(operation, its name in the API, its name on the command line)`.
const OPERATIONS: [(Operation, &str, &str); 10] = [
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

    fn from_api_name(name: &str) -> Option<Operation> {
        OPERATIONS.iter().find(|e| e.1 == name).map(|e| e.0)
    }

    fn is_codedeploy(self) -> bool {
        !matches!(
            self,
            Operation::Invoke
                | Operation::GetAlias
                | Operation::UpdateAlias
                | Operation::ListVersionsByFunction
        )
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

impl FromStr for FaultSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let operations: Vec<&str> = OPERATIONS.iter().map(|e| e.2).collect();
        let usage = || {
            format!(
                "`{text}` is not OPERATION:FAULT[:TIMES] (e.g. put-status:throttle:2, invoke:stall:always); \
                 OPERATION is one of {}; FAULT is throttle, 5xx, delay=MILLIS, stall or reset; \
                 TIMES is a number (default 1) or `always`",
                operations.join(", ")
            )
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

/// The middleware: serve the next queued fault of the request's operation, if any.
pub(crate) async fn inject(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(operation) = operation_of(&request) else {
        return next.run(request).await;
    };
    let Some(fault) = shared.faults.take(operation) else {
        return next.run(request).await;
    };
    tracing::debug!(
        operation = operation.api_name(),
        ?fault,
        "injecting a fault"
    );
    match fault {
        Fault::Throttle => {
            if operation == Operation::Invoke {
                record_throttled_invoke(&shared, &request);
            }
            throttled(operation).into_response()
        }
        Fault::ServerError => server_error(operation).into_response(),
        Fault::Delay(delay) => {
            tokio::time::sleep(delay).await;
            next.run(request).await
        }
        Fault::Stall => {
            tokio::time::sleep(STALL).await;
            next.run(request).await
        }
        Fault::Reset => dropped_connection(),
    }
}

fn throttled(operation: Operation) -> ApiError {
    if operation.is_codedeploy() {
        ApiError::codedeploy("ThrottlingException", "Rate exceeded")
    } else {
        ApiError::lambda(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            "Rate Exceeded.",
        )
    }
}

fn server_error(operation: Operation) -> ApiError {
    let message = "injected fault: the service failed";
    if operation.is_codedeploy() {
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

/// A response whose body fails at once: hyper drops the connection, and the client sees it
/// close before the answer is complete, as after a reset.
fn dropped_connection() -> Response {
    let failing = futures::stream::once(async {
        Err::<bytes::Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected fault: connection reset",
        ))
    });
    Response::new(Body::from_stream(failing))
}

/// A throttled invocation counts in the `Throttles` metric that alarms watch.
fn record_throttled_invoke(shared: &Shared, request: &Request) {
    let Some(name) = invoked_name(request.uri().path()) else {
        return;
    };
    let (function_name, _) = split_name(&name);
    let qualifier = request.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "Qualifier")
            .map(|(_, v)| v.into_owned())
    });
    shared.registry.record(InvocationRecord {
        at: SystemTime::now(),
        function_name: function_name.to_owned(),
        alias: qualifier.filter(|q| !q.chars().all(|c| c.is_ascii_digit())),
        executed_version: String::new(),
        duration: Duration::ZERO,
        error: false,
        throttled: true,
        smoke: false,
    });
}

/// Which operation a request is: `X-Amz-Target` for CodeDeploy, method and path for Lambda.
fn operation_of(request: &Request) -> Option<Operation> {
    if let Some(target) = request.headers().get("x-amz-target") {
        let name = target.to_str().ok()?.strip_prefix("CodeDeploy_20141006.")?;
        return Operation::from_api_name(name);
    }
    let path = request.uri().path();
    let rest = path.strip_prefix("/2015-03-31/functions/")?;
    let mut segments = rest.split('/').skip(1);
    match (request.method(), segments.next(), segments.next()) {
        (&Method::POST, Some("invocations"), None) => Some(Operation::Invoke),
        (&Method::GET, Some("aliases"), Some(_)) => Some(Operation::GetAlias),
        (&Method::PUT, Some("aliases"), Some(_)) => Some(Operation::UpdateAlias),
        (&Method::GET, Some("versions"), None) => Some(Operation::ListVersionsByFunction),
        _ => None,
    }
}

/// The function name of an Invoke path, percent-decoded (SDKs encode an ARN's `:`).
fn invoked_name(path: &str) -> Option<String> {
    let encoded = path
        .strip_prefix("/2015-03-31/functions/")?
        .split('/')
        .next()?;
    Some(
        percent_encoding::percent_decode_str(encoded)
            .decode_utf8_lossy()
            .into_owned(),
    )
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
        assert!(err.contains("get-application-revision"), "{err}");
        assert!("invoke:5xx:twice".parse::<FaultSpec>().is_err());
    }

    #[test]
    fn lambda_paths_name_their_operation() {
        let request = |method: Method, uri: &str| {
            Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .unwrap()
        };
        let invoke = request(Method::POST, "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Ahello/invocations");
        assert_eq!(operation_of(&invoke), Some(Operation::Invoke));
        assert_eq!(
            invoked_name(invoke.uri().path()).as_deref(),
            Some("arn:aws:lambda:us-east-1:000000000000:function:hello")
        );
        let alias = request(Method::GET, "/2015-03-31/functions/hello/aliases/live");
        assert_eq!(operation_of(&alias), Some(Operation::GetAlias));
        let versions = request(Method::GET, "/2015-03-31/functions/hello/versions");
        assert_eq!(
            operation_of(&versions),
            Some(Operation::ListVersionsByFunction)
        );
        let cd = Request::builder()
            .method(Method::POST)
            .uri("/")
            .header("x-amz-target", "CodeDeploy_20141006.GetApplicationRevision")
            .body(Body::empty())
            .unwrap();
        assert_eq!(operation_of(&cd), Some(Operation::GetApplicationRevision));
    }
}
