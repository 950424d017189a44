//! The process supervisor: each version's execution environments, each a process of its
//! binary that is started on first use and restarted after it exits or times out.

use std::os::unix::process::ExitStatusExt as _;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::environment::{Environment, Process};
use super::log_pipe::{self, LogPipe};
use super::runtime_api;
use super::version::{CodeDigest, Identity, InvokeResult, VersionSpec};
use crate::sync::lock;

/// How a process ended, for [`VersionRuntime::after_exit`].
struct Exit<'s> {
    status: &'s str,
    /// By SIGKILL.
    killed: bool,
    /// Whether the process before it was killed during its init too.
    killed_in_init_before: bool,
}

/// An invocation waiting for an execution environment.
pub(crate) struct Pending {
    pub(crate) payload: Bytes,
    pub(crate) client_context: Option<String>,
    pub(crate) request_id: String,
    pub(crate) reply: oneshot::Sender<InvokeResult>,
    /// Whether it was handed to a process that was killed before it could read it.
    pub(crate) handed_to_dead_process: bool,
}

/// A version's queue of invocations and its execution environments, started on first use.
pub(crate) struct VersionRuntime {
    pub(crate) identity: Identity,
    pub(crate) spec: VersionSpec,
    pub(crate) code: CodeDigest,
    queue_tx: mpsc::UnboundedSender<Pending>,
    pub(crate) queue_rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>>,
    started: Mutex<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// The process id of each execution environment's current process.
    pids: Mutex<std::collections::BTreeMap<usize, u32>>,
}

impl Drop for VersionRuntime {
    fn drop(&mut self) {
        // Aborting a supervisor drops its child, which kills the process (kill_on_drop).
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}

impl VersionRuntime {
    pub(crate) fn new(identity: Identity, spec: VersionSpec) -> Arc<Self> {
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        Arc::new(VersionRuntime {
            identity,
            spec,
            code: CodeDigest::default(),
            queue_tx,
            queue_rx: Arc::new(tokio::sync::Mutex::new(queue_rx)),
            started: Mutex::new(false),
            tasks: Mutex::new(Vec::new()),
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
        self.ensure_started();
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
        if self.queue_tx.send(pending).is_err() {
            return unavailable("the function's runtime has stopped");
        }
        answer
            .await
            .unwrap_or_else(|_| unavailable("the function's runtime stopped before answering"))
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

    fn ensure_started(self: &Arc<Self>) {
        {
            let mut started = lock(&self.started);
            if *started {
                return;
            }
            *started = true;
        }
        for index in 0..self.spec.environments {
            let runtime = Arc::clone(self);
            let task = self
                .identity
                .tasks
                .spawn_stoppable(|stop| async move { runtime.supervise(index, stop).await });
            lock(&self.tasks).push(task);
        }
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

    /// Keep one execution environment alive: start its process with a Runtime API of its
    /// own, and start a new one after it exits or is stopped after a timeout.
    async fn supervise(self: Arc<Self>, index: usize, stop: CancellationToken) {
        let env = Environment::new(Arc::downgrade(&self));
        let name = format!(
            "{}:{}#{index}",
            self.identity.function_name, self.identity.version
        );
        // Whether the last process was killed during its init (see `after_exit`).
        let mut killed_in_init = false;
        while !stop.is_cancelled() {
            let process = env.begin_process();
            let (runtime_api, server) =
                match runtime_api::serve(Arc::clone(&env), Arc::clone(&process)).await {
                    Ok(served) => served,
                    Err(err) => {
                        warn!(error = %err, "cannot open a Runtime API listener");
                        self.fail_next_queued(&stop, "Runtime.Unavailable", &err.to_string())
                            .await;
                        continue;
                    }
                };
            let mut child = match self.spawn(&runtime_api) {
                Ok(child) => child,
                Err(err) => {
                    let message = format!("cannot start {}: {err}", self.spec.binary.display());
                    warn!(function = %name, "{message}");
                    self.fail_next_queued(&stop, "Runtime.InvalidEntrypoint", &message)
                        .await;
                    continue;
                }
            };
            // Recorded before the process may take an event (see `Process::registered`).
            let pid = child.id();
            if let Some(pid) = pid {
                lock(&self.pids).insert(index, pid);
                process.set_pid(pid);
            }
            self.attach_logs(&mut child, &env, &name);
            let status = tokio::select! {
                status = child.wait() => status,
                () = env.timed_out(&self) => {
                    let _ = child.kill().await;
                    child.wait().await
                }
                () = stop.cancelled() => {
                    // The stand-in stops: the process goes, reaped, before the task ends.
                    let _ = child.kill().await;
                    env.retire(&process);
                    return;
                }
            };
            debug!(function = %name, ?status, "execution environment ended");
            // Its pid may be reused by any process from now on: nobody may signal it.
            {
                let mut pids = lock(&self.pids);
                if pids.get(&index).copied() == pid {
                    pids.remove(&index);
                }
            }
            let killed = status.as_ref().ok().and_then(|s| s.signal()) == Some(9);
            let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
            let exit = Exit {
                status: &status,
                killed,
                killed_in_init_before: killed_in_init,
            };
            killed_in_init = self.after_exit(&env, &process, exit, &stop).await;
            drop(server);
        }
    }

    /// Retire an ended process and answer for what it leaves behind: its current
    /// invocation, or the reason it could not start.
    ///
    /// Returns whether it was killed during its init, without an init error: a process
    /// killed from outside while it started (as a test or an OOM kill does) is restarted
    /// for the waiting invocation, as Lambda starts a fresh environment; a second one in a
    /// row fails the invocation, so a function whose init always dies is not restarted
    /// forever.
    async fn after_exit(
        &self,
        env: &Environment,
        process: &Process,
        exit: Exit<'_>,
        stop: &CancellationToken,
    ) -> bool {
        let Exit {
            status,
            killed,
            killed_in_init_before,
        } = exit;
        env.drain_logs();
        match env.retire(process) {
            // Killed with no sign of having read the event (no output, no answer): the
            // signal may have been on its way when the event was handed out. Lambda never
            // hands an event to a dead environment, so a fresh process gets it, once.
            Some(current) if killed && current.log.is_empty() && !current.requeued => {
                self.requeue(current.into_pending());
            }
            Some(current) => {
                let log = current.log_with_report(self, env.peak_memory_mb());
                let message = format!(
                    "RequestId: {} Error: Runtime exited ({status})",
                    current.request_id
                );
                let result = self.failure(
                    "Runtime.ExitError",
                    &message,
                    &current.request_id,
                    log,
                    current.started.elapsed(),
                );
                let _ = current.reply.send(result);
            }
            None if !env.initialized()
                && killed
                && !killed_in_init_before
                && !env.has_init_error() =>
            {
                debug!(
                    status,
                    "killed during init: a fresh process takes the waiting invocation"
                );
                return true;
            }
            None if !env.initialized() => {
                // It died during init: answer one waiting invocation with the reason, so
                // callers are not left hanging, and start again only when there is work.
                let reason = env
                    .take_init_error()
                    .unwrap_or_else(|| format!("Runtime exited during init ({status})"));
                self.fail_next_queued(stop, "Runtime.ExitError", &reason)
                    .await;
            }
            None => {}
        }
        false
    }

    fn attach_logs(&self, child: &mut tokio::process::Child, env: &Arc<Environment>, name: &str) {
        let streams = [
            (
                "stdout",
                child.stdout.take().and_then(|s| s.into_owned_fd().ok()),
            ),
            (
                "stderr",
                child.stderr.take().and_then(|s| s.into_owned_fd().ok()),
            ),
        ];
        for (label, fd) in streams {
            let Some(fd) = fd else { continue };
            match LogPipe::new(fd) {
                Ok((pipe, ready)) => {
                    let sink = env.add_pipe(name, label, Arc::clone(&pipe));
                    self.identity
                        .tasks
                        .spawn(log_pipe::pump(pipe, ready, move |line: &str| sink(line)));
                }
                Err(err) => {
                    warn!(function = %name, error = %err, "cannot read the function's {label}")
                }
            }
        }
    }

    /// Fail the next invocation queued (none, if the stand-in stops first).
    async fn fail_next_queued(&self, stop: &CancellationToken, error_type: &str, message: &str) {
        let next = tokio::select! {
            () = stop.cancelled() => return,
            next = self.next_queued() => next,
        };
        if let Some(pending) = next {
            let result = self.failure(
                error_type,
                message,
                &pending.request_id,
                String::new(),
                Duration::ZERO,
            );
            let _ = pending.reply.send(result);
        }
    }

    fn spawn(&self, runtime_api: &str) -> std::io::Result<tokio::process::Child> {
        let id = &self.identity;
        let mut command = tokio::process::Command::new(&self.spec.binary);
        // A clean environment, as in Lambda: nothing of the developer's shell (credentials,
        // profiles) leaks into the function.
        command.env_clear();
        for key in ["PATH", "RUST_LOG", "RUST_BACKTRACE", "HOME"] {
            if let Ok(value) = std::env::var(key) {
                command.env(key, value);
            }
        }
        command
            .env("LANG", "C.UTF-8")
            .env("TZ", ":UTC")
            .env("AWS_REGION", &id.region)
            .env("AWS_DEFAULT_REGION", &id.region)
            .env("AWS_ACCESS_KEY_ID", "codedeploy-local")
            .env("AWS_SECRET_ACCESS_KEY", "codedeploy-local")
            .env("AWS_SESSION_TOKEN", "codedeploy-local")
            .env("AWS_ENDPOINT_URL", &id.endpoint)
            .env("AWS_LAMBDA_FUNCTION_NAME", &id.function_name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", &id.version)
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                self.spec.memory_mb.to_string(),
            )
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", id.function_name),
            )
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                format!("local/[{}]", id.version),
            )
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
            .env("_HANDLER", "bootstrap")
            .envs(&self.spec.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command.spawn()
    }
}
