//! A version's runtime: its queue of invocations and its execution environments, each a
//! process of the version's binary ([`supervisor`]) with a Runtime API of its own
//! ([`runtime_api`], served where [`api_thread`] says), in the state [`environment`] keeps.

pub(crate) mod api_thread;
mod environment;
pub(crate) mod runtime_api;
mod supervisor;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::version::{CodeDigest, Identity, InvokeResult, VersionSpec};
use crate::sync::lock;

/// An invocation waiting for an execution environment.
pub(crate) struct Pending {
    pub(crate) payload: Bytes,
    pub(crate) client_context: Option<String>,
    pub(crate) request_id: String,
    pub(crate) reply: oneshot::Sender<InvokeResult>,
    /// Whether it was handed to a process that was killed before it could read it.
    pub(crate) handed_to_dead_process: bool,
}

/// A version's queue of invocations and its execution environments, started on demand: as
/// Lambda does, a new one only when every one started is busy, up to the version's
/// `environments`.
pub(crate) struct VersionRuntime {
    pub(crate) identity: Identity,
    pub(crate) spec: VersionSpec,
    pub(crate) code: CodeDigest,
    queue_tx: mpsc::UnboundedSender<Pending>,
    pub(crate) queue_rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>>,
    /// Execution environments started (each supervised until the version retires).
    started: Mutex<usize>,
    /// Invocations queued or running: the concurrency the environments must meet.
    in_flight: AtomicUsize,
    /// Given when the registry replaces this version (a new `$LATEST`, a version published
    /// again) or the stand-in stops: its supervisors kill and reap their processes and end,
    /// and invocations still waiting are answered.
    retired: CancellationToken,
    /// The process id of each execution environment's current process.
    pids: Mutex<std::collections::BTreeMap<usize, u32>>,
}

impl VersionRuntime {
    pub(crate) fn new(identity: Identity, spec: VersionSpec) -> Arc<Self> {
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        let retired = identity.tasks.child_token();
        Arc::new(VersionRuntime {
            identity,
            spec,
            code: CodeDigest::default(),
            queue_tx,
            queue_rx: Arc::new(tokio::sync::Mutex::new(queue_rx)),
            started: Mutex::new(0),
            in_flight: AtomicUsize::new(0),
            retired,
            pids: Mutex::new(std::collections::BTreeMap::new()),
        })
    }

    /// The process ids of the running execution environments.
    pub(crate) fn pids(&self) -> Vec<u32> {
        lock(&self.pids).values().copied().collect()
    }

    /// Run one invocation and wait for its result (function errors and timeouts included).
    pub(crate) async fn invoke(
        self: &Arc<Self>,
        payload: Bytes,
        client_context: Option<String>,
        request_id: String,
    ) -> InvokeResult {
        let concurrency = InFlight::enter(&self.in_flight);
        self.ensure_environments(concurrency.now);
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            payload,
            client_context,
            request_id: request_id.clone(),
            reply,
            handed_to_dead_process: false,
        };
        let unavailable = |what: &str| {
            self.failure(
                "Runtime.Unavailable",
                what,
                &request_id,
                String::new(),
                Duration::ZERO,
            )
        };
        if self.retired.is_cancelled() || self.queue_tx.send(pending).is_err() {
            return unavailable("the function's runtime has stopped");
        }
        tokio::select! {
            answer = answer => answer
                .unwrap_or_else(|_| unavailable("the function's runtime stopped before answering")),
            () = self.retired.cancelled() => unavailable("the version was replaced or the stand-in stopped"),
        }
    }

    /// A function error as Lambda reports it, from the stand-in's side.
    pub(crate) fn failure(
        &self,
        error_type: &str,
        message: &str,
        request_id: &str,
        log: String,
        duration: Duration,
    ) -> InvokeResult {
        InvokeResult {
            payload: Bytes::from(
                json!({"errorType": error_type, "errorMessage": message}).to_string(),
            ),
            function_error: Some("Unhandled".into()),
            executed_version: self.identity.version.clone(),
            request_id: request_id.to_owned(),
            log,
            duration,
        }
    }

    /// Start environments until there is one per invocation in flight, up to the version's
    /// number: the first invocation starts one, and a version nobody calls runs none.
    fn ensure_environments(self: &Arc<Self>, in_flight: usize) {
        let mut started = lock(&self.started);
        while *started < in_flight.min(self.spec.environments) {
            let (index, runtime, stop) = (*started, Arc::clone(self), self.retired.clone());
            self.identity
                .tasks
                .spawn_stoppable(|_| async move { runtime.supervise(index, stop).await });
            *started += 1;
        }
    }

    /// Execution environments started so far.
    pub(crate) fn environments_started(&self) -> usize {
        *lock(&self.started)
    }

    /// Stop this version's processes: the registry no longer serves it.
    pub(crate) fn retire(&self) {
        self.retired.cancel();
    }

    /// The next invocation in the queue, when there is one.
    pub(crate) async fn next_queued(&self) -> Option<Pending> {
        self.queue_rx.lock().await.recv().await
    }

    /// Put back an invocation that was never delivered, for another process.
    pub(crate) fn requeue(&self, pending: Pending) {
        debug!(request_id = %pending.request_id, "requeued: its process had ended");
        // Fails only when the runtime is gone; its caller then hears so from its reply.
        let _ = self.queue_tx.send(pending);
    }
}

/// One invocation in flight, counted while it lives.
struct InFlight<'a> {
    count: &'a AtomicUsize,
    /// Invocations in flight, this one included, when it entered.
    now: usize,
}

impl<'a> InFlight<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        let now = count.fetch_add(1, Ordering::SeqCst) + 1;
        InFlight { count, now }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
    }
}
