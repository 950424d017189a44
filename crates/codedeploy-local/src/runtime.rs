//! Functions run for real: each version's binary in its own process, speaking the Lambda
//! Runtime API that this module serves to it (one listener per execution environment, so
//! every request is known to come from that environment).

use crate::lock;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{mpsc, oneshot, Notify};
use tracing::{debug, warn};

/// The most of a log that `LogType: Tail` returns, as Lambda does.
const TAIL_BYTES: usize = 4096;

/// How one version of a function runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VersionSpec {
    /// The executable (a `bootstrap` built by cargo).
    pub binary: PathBuf,
    /// Environment variables, as the template's `Environment.Variables`.
    pub env: BTreeMap<String, String>,
    /// The function timeout: an invocation running longer is stopped and fails.
    pub timeout: Duration,
    /// `MemorySize`, passed to the runtime (not enforced).
    pub memory_mb: u32,
    /// How many execution environments (processes) may serve it at once.
    pub environments: usize,
}

impl VersionSpec {
    /// A version running `binary` with a 3 s timeout, 128 MB and one environment, as
    /// Lambda's defaults.
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        VersionSpec {
            binary: binary.into(),
            env: BTreeMap::new(),
            timeout: Duration::from_secs(3),
            memory_mb: 128,
            environments: 1,
        }
    }

    /// Set an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Set the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Set the number of execution environments.
    pub fn environments(mut self, n: usize) -> Self {
        self.environments = n.max(1);
        self
    }
}

/// What an invocation returned.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InvokeResult {
    /// The response, or the error JSON for a function error.
    pub payload: Bytes,
    /// `Unhandled` when the function failed.
    pub function_error: Option<String>,
    /// The version that ran.
    pub executed_version: String,
    /// The function's log lines for this invocation, with START/END/REPORT lines.
    pub log: String,
    /// Time from dispatch to the answer.
    pub duration: Duration,
}

impl InvokeResult {
    /// The last 4 KB of the log, as `X-Amz-Log-Result` carries it (before base64).
    pub fn log_tail(&self) -> &str {
        let mut start = self.log.len().saturating_sub(TAIL_BYTES);
        while !self.log.is_char_boundary(start) {
            start += 1;
        }
        &self.log[start..]
    }
}

/// Where everything about the process environment comes from.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) function_name: String,
    pub(crate) version: String,
    pub(crate) function_arn: String,
    pub(crate) region: String,
    /// The stand-in's own endpoint: functions' SDK calls come back to it.
    pub(crate) endpoint: String,
    /// Where the function's output goes, one file per function, when set.
    pub(crate) log_dir: Option<PathBuf>,
}

struct Pending {
    payload: Bytes,
    client_context: Option<String>,
    reply: oneshot::Sender<InvokeResult>,
}

/// A version's queue of invocations and its execution environments, started on first use.
pub(crate) struct VersionRuntime {
    identity: Identity,
    spec: VersionSpec,
    queue_tx: mpsc::UnboundedSender<Pending>,
    queue_rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>>,
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
            queue_tx,
            queue_rx: Arc::new(tokio::sync::Mutex::new(queue_rx)),
            started: Mutex::new(false),
            tasks: Mutex::new(Vec::new()),
            pids: Mutex::new(std::collections::BTreeMap::new()),
        })
    }

    pub(crate) fn spec(&self) -> &VersionSpec {
        &self.spec
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
    ) -> InvokeResult {
        self.ensure_started().await;
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            payload,
            client_context,
            reply,
        };
        if self.queue_tx.send(pending).is_err() {
            return self.failure(
                "Runtime.Unavailable",
                "the function's runtime has stopped",
                String::new(),
                Duration::ZERO,
            );
        }
        answer.await.unwrap_or_else(|_| {
            self.failure(
                "Runtime.Unavailable",
                "the function's runtime stopped before answering",
                String::new(),
                Duration::ZERO,
            )
        })
    }

    fn failure(
        &self,
        error_type: &str,
        message: &str,
        log: String,
        duration: Duration,
    ) -> InvokeResult {
        InvokeResult {
            payload: Bytes::from(
                json!({"errorType": error_type, "errorMessage": message}).to_string(),
            ),
            function_error: Some("Unhandled".into()),
            executed_version: self.identity.version.clone(),
            log,
            duration,
        }
    }

    async fn ensure_started(self: &Arc<Self>) {
        {
            let mut started = lock(&self.started);
            if *started {
                return;
            }
            *started = true;
        }
        for index in 0..self.spec.environments {
            let runtime = Arc::clone(self);
            let task = tokio::spawn(async move { runtime.supervise(index).await });
            lock(&self.tasks).push(task);
        }
    }

    /// Keep one execution environment alive: serve its Runtime API, start its process,
    /// and restart it after a crash or a timeout.
    async fn supervise(self: Arc<Self>, index: usize) {
        let env = Arc::new(Environment {
            runtime: Arc::downgrade(&self),
            current: Mutex::new(None),
            served_since_start: Mutex::new(false),
            init_error: Mutex::new(None),
            kill: Notify::new(),
        });
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(err) => {
                warn!(error = %err, "cannot open a Runtime API listener");
                return;
            }
        };
        let runtime_api = match listener.local_addr() {
            Ok(addr) => addr.to_string(),
            Err(_) => return,
        };
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(Arc::clone(&env));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let _server = AbortOnDrop(server);
        let name = format!(
            "{}:{}#{index}",
            self.identity.function_name, self.identity.version
        );
        loop {
            *lock(&env.served_since_start) = false;
            let mut child = match self.spawn(&runtime_api) {
                Ok(child) => {
                    if let Some(pid) = child.id() {
                        lock(&self.pids).insert(index, pid);
                    }
                    child
                }
                Err(err) => {
                    let message = format!("cannot start {}: {err}", self.spec.binary.display());
                    warn!(function = %name, "{message}");
                    self.fail_next_queued("Runtime.InvalidEntrypoint", &message)
                        .await;
                    continue;
                }
            };
            for (stream, label) in [
                (
                    child
                        .stdout
                        .take()
                        .map(|s| Box::new(s) as Box<dyn AsyncRead + Unpin + Send>),
                    "stdout",
                ),
                (
                    child
                        .stderr
                        .take()
                        .map(|s| Box::new(s) as Box<dyn AsyncRead + Unpin + Send>),
                    "stderr",
                ),
            ] {
                if let Some(stream) = stream {
                    tokio::spawn(pump_log(stream, Arc::clone(&env), name.clone(), label));
                }
            }
            let status = tokio::select! {
                status = child.wait() => status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()),
                _ = env.kill.notified() => {
                    let _ = child.kill().await;
                    "stopped after a timeout".to_owned()
                }
            };
            debug!(function = %name, %status, "execution environment ended");
            let served = *lock(&env.served_since_start);
            if let Some(current) = env.take_current() {
                let log = current.log_with_report(&self.identity.version, "");
                let _ = current.reply.send(self.failure(
                    "Runtime.ExitError",
                    &format!(
                        "RequestId: {} Error: Runtime exited ({status})",
                        current.request_id
                    ),
                    log,
                    current.started.elapsed(),
                ));
            } else if !served {
                // It died during init: answer one waiting invocation with the reason, so
                // callers are not left hanging, and start again only when there is work.
                let reason = lock(&env.init_error)
                    .take()
                    .unwrap_or_else(|| format!("Runtime exited during init ({status})"));
                self.fail_next_queued("Runtime.ExitError", &reason).await;
            }
        }
    }

    async fn fail_next_queued(&self, error_type: &str, message: &str) {
        let next = self.queue_rx.lock().await.recv().await;
        if let Some(pending) = next {
            let _ = pending.reply.send(self.failure(
                error_type,
                message,
                String::new(),
                Duration::ZERO,
            ));
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

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One execution environment's state, shared by its Runtime API handlers.
struct Environment {
    runtime: std::sync::Weak<VersionRuntime>,
    current: Mutex<Option<Current>>,
    served_since_start: Mutex<bool>,
    init_error: Mutex<Option<String>>,
    kill: Notify,
}

struct Current {
    request_id: String,
    started: Instant,
    log: String,
    reply: oneshot::Sender<InvokeResult>,
}

impl Current {
    fn log_with_report(&self, version: &str, extra: &str) -> String {
        let id = &self.request_id;
        let ms = self.started.elapsed().as_secs_f64() * 1000.0;
        format!(
            "START RequestId: {id} Version: {version}\n{}{extra}END RequestId: {id}\nREPORT RequestId: {id}\tDuration: {ms:.2} ms\n",
            self.log
        )
    }
}

impl Environment {
    fn take_current(&self) -> Option<Current> {
        lock(&self.current).take()
    }

    /// Take the current invocation if it has this request id.
    fn take_if(&self, id: &str) -> Option<Current> {
        let mut current = lock(&self.current);
        if current.as_ref().is_some_and(|c| c.request_id == id) {
            current.take()
        } else {
            None
        }
    }
}

async fn pump_log(
    stream: Box<dyn AsyncRead + Unpin + Send>,
    env: Arc<Environment>,
    name: String,
    label: &'static str,
) {
    use std::io::Write as _;
    let mut file = env.runtime.upgrade().and_then(|runtime| {
        let dir = runtime.identity.log_dir.as_ref()?;
        let path = dir.join(format!("{}.log", runtime.identity.function_name));
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
    });
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(file) = file.as_mut() {
            let _ = writeln!(file, "[{name} {label}] {line}");
        }
        debug!(target: "codedeploy_local::function_log", function = %name, stream = label, "{line}");
        if let Some(current) = lock(&env.current).as_mut() {
            current.log.push_str(&line);
            current.log.push('\n');
        }
    }
}

fn runtime_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"errorType": error_type, "errorMessage": message})),
    )
        .into_response()
}

/// `GET /runtime/invocation/next`: wait for the next invocation of this version.
async fn next(State(env): State<Arc<Environment>>) -> Response {
    let Some(runtime) = env.runtime.upgrade() else {
        return runtime_error(
            StatusCode::GONE,
            "Runtime.Stopped",
            "the function was removed",
        );
    };
    let queue = Arc::clone(&runtime.queue_rx);
    let pending = { queue.lock().await.recv().await };
    let Some(pending) = pending else {
        return runtime_error(
            StatusCode::GONE,
            "Runtime.Stopped",
            "the stand-in is stopping",
        );
    };
    let request_id = new_request_id();
    let timeout = runtime.spec.timeout;
    let deadline_ms = SystemTime::now()
        .checked_add(timeout)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis())
        .unwrap_or_default();
    *lock(&env.served_since_start) = true;
    *lock(&env.current) = Some(Current {
        request_id: request_id.clone(),
        started: Instant::now(),
        log: String::new(),
        reply: pending.reply,
    });
    // The function timeout: stop the process and fail the invocation as Lambda does.
    let watched = Arc::clone(&env);
    let (watched_id, version) = (request_id.clone(), runtime.identity.version.clone());
    let failure = runtime.failure(
        "Sandbox.Timedout",
        &format!(
            "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
            timeout.as_secs_f64()
        ),
        String::new(),
        timeout,
    );
    tokio::spawn(async move {
        tokio::time::sleep(timeout).await;
        if let Some(current) = watched.take_if(&watched_id) {
            let mut failure = failure;
            failure.log = current.log_with_report(&version, "");
            let _ = current.reply.send(failure);
            watched.kill.notify_one();
        }
    });
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", &request_id);
    set("lambda-runtime-deadline-ms", &deadline_ms.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        &runtime.identity.function_arn,
    );
    set(
        "lambda-runtime-trace-id",
        &format!("Root=1-{}", &request_id[..8]),
    );
    if let Some(context) = &pending.client_context {
        set("lambda-runtime-client-context", context);
    }
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    (StatusCode::OK, headers, pending.payload).into_response()
}

/// `POST /runtime/invocation/{id}/response`.
async fn response(
    State(env): State<Arc<Environment>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    finish(&env, &id, body, None)
}

/// `POST /runtime/invocation/{id}/error`.
async fn error(
    State(env): State<Arc<Environment>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    finish(&env, &id, body, Some("Unhandled".into()))
}

fn finish(env: &Environment, id: &str, body: Bytes, function_error: Option<String>) -> Response {
    let Some(current) = env.take_if(id) else {
        return runtime_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            &format!("no invocation {id} is in progress (it may have timed out)"),
        );
    };
    let Some(runtime) = env.runtime.upgrade() else {
        return runtime_error(
            StatusCode::GONE,
            "Runtime.Stopped",
            "the function was removed",
        );
    };
    let result = InvokeResult {
        payload: body,
        function_error,
        executed_version: runtime.identity.version.clone(),
        log: current.log_with_report(&runtime.identity.version, ""),
        duration: current.started.elapsed(),
    };
    let _ = current.reply.send(result);
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

/// `POST /runtime/init/error`: remembered, and given as the reason when the process exits.
async fn init_error(State(env): State<Arc<Environment>>, body: Bytes) -> Response {
    let message = String::from_utf8_lossy(&body).into_owned();
    warn!(error = %message, "a function failed to initialize");
    *lock(&env.init_error) = Some(message);
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

/// A request id in Lambda's format (a v4-style UUID).
pub(crate) fn new_request_id() -> String {
    let a = fastrand::u128(..);
    let hex = format!("{a:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}
