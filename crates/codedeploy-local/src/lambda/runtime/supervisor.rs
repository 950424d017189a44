//! The process supervisor: each version's execution environments, each a process of its
//! binary that is started on first use and restarted after it exits or times out.

use std::os::unix::process::ExitStatusExt as _;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::environment::{Environment, Process};
use super::runtime_api;
use super::VersionRuntime;
use crate::lambda::log_pipe::{self, LogPipe};
use crate::sync::lock;

/// How a process ended, for [`VersionRuntime::after_exit`].
struct Exit<'s> {
    status: &'s str,
    /// By SIGKILL.
    killed: bool,
    /// Whether the process before it was killed during its init too.
    killed_in_init_before: bool,
}

impl VersionRuntime {
    /// Keep one execution environment alive: start its process with a Runtime API of its
    /// own, and start a new one after it exits or is stopped after a timeout.
    pub(super) async fn supervise(self: Arc<Self>, index: usize, stop: CancellationToken) {
        let env = Environment::new(Arc::downgrade(&self));
        let name = format!(
            "{}:{}#{index}",
            self.identity.function_name, self.identity.version
        );
        // Whether the last process was killed during its init (see `after_exit`).
        let mut killed_in_init = false;
        while !stop.is_cancelled() {
            let process = env.begin_process();
            let Some((mut child, server)) = self.start(&env, &process, index, &name, &stop).await
            else {
                continue;
            };
            let pid = child.id();
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

    /// Start a process of the version with a Runtime API of its own; `None` when it cannot
    /// be (the next invocation queued is failed with why).
    async fn start(
        &self,
        env: &Arc<Environment>,
        process: &Arc<Process>,
        index: usize,
        name: &str,
        stop: &CancellationToken,
    ) -> Option<(tokio::process::Child, runtime_api::AbortOnDrop)> {
        let host = &self.identity.api_host;
        let (runtime_api, server) =
            match runtime_api::serve(Arc::clone(env), Arc::clone(process), host) {
                Ok(served) => served,
                Err(err) => {
                    warn!(error = %err, "cannot open a Runtime API listener");
                    self.fail_next_queued(stop, "Runtime.Unavailable", &err.to_string())
                        .await;
                    return None;
                }
            };
        let mut child = match self.spawn(&runtime_api) {
            Ok(child) => child,
            Err(err) => {
                let message = format!("cannot start {}: {err}", self.spec.binary.display());
                warn!(function = %name, "{message}");
                self.fail_next_queued(stop, "Runtime.InvalidEntrypoint", &message)
                    .await;
                return None;
            }
        };
        // Recorded before the process may take an event (see `Process::registered`).
        if let Some(pid) = child.id() {
            lock(&self.pids).insert(index, pid);
            process.set_pid(pid);
        }
        self.attach_logs(&mut child, env, name);
        Some((child, server))
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
        // Without a role, a key the stand-in did not issue: its calls are not checked.
        let credentials = id
            .credentials
            .clone()
            .unwrap_or_else(|| crate::iam::Credentials {
                access_key_id: "codedeploy-local".into(),
                secret_access_key: "codedeploy-local".into(),
                session_token: "codedeploy-local".into(),
            });
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
            .env("AWS_ACCESS_KEY_ID", &credentials.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &credentials.secret_access_key)
            .env("AWS_SESSION_TOKEN", &credentials.session_token)
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
