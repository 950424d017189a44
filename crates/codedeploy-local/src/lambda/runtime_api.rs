//! The Lambda Runtime API, served to each execution environment's process on its own
//! loopback listener (so every request is known to come from that environment).

use std::fs::File;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use serde_json::json;
use tokio::sync::oneshot;
use tracing::{debug, warn};

use super::log_pipe::LogPipe;
use super::supervisor::{Pending, VersionRuntime};
use super::version::InvokeResult;
use crate::lock;

/// A line sink of one pipe of the current process.
type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// One execution environment: its current invocation and its current process.
pub(crate) struct Environment {
    runtime: Weak<VersionRuntime>,
    current: Mutex<Option<Current>>,
    process: Mutex<Process>,
}

/// The environment's current process.
#[derive(Default)]
struct Process {
    pid: Option<u32>,
    spawned: Option<Instant>,
    /// Whether it has been handed an invocation.
    served: bool,
    /// From the first `next`: how long it took to initialize, until it is reported.
    init_duration: Option<Duration>,
    init_error: Option<String>,
    pipes: Vec<(Arc<LogPipe>, Sink)>,
    /// The last `VmHWM` read, and when: /proc is read at most every `PEAK_MEMORY_EVERY`.
    peak_mb: Option<(Instant, u64)>,
}

/// How often the REPORT line's `Max Memory Used` is read again from /proc.
const PEAK_MEMORY_EVERY: Duration = Duration::from_millis(100);

/// The invocation an environment is running.
pub(crate) struct Current {
    pub(crate) request_id: String,
    pub(crate) started: Instant,
    /// When the function timeout ends it.
    deadline: Instant,
    pub(crate) log: String,
    pub(crate) reply: oneshot::Sender<InvokeResult>,
    pub(crate) payload: Bytes,
    pub(crate) client_context: Option<String>,
    /// Whether it was requeued once already after its process was killed.
    pub(crate) requeued: bool,
    init_duration: Option<Duration>,
}

impl Current {
    /// The invocation's log as Lambda writes it: START, the function's lines, END, REPORT.
    pub(crate) fn log_with_report(&self, runtime: &VersionRuntime, peak_mb: Option<u64>) -> String {
        let id = &self.request_id;
        let elapsed = self.started.elapsed();
        let ms = elapsed.as_secs_f64() * 1000.0;
        let billed = elapsed.as_nanos().div_ceil(1_000_000);
        let init = self
            .init_duration
            .map(|d| format!("Init Duration: {:.2} ms\t", d.as_secs_f64() * 1000.0))
            .unwrap_or_default();
        format!(
            "START RequestId: {id} Version: {version}\n{log}END RequestId: {id}\n\
             REPORT RequestId: {id}\tDuration: {ms:.2} ms\tBilled Duration: {billed} ms\t\
             Memory Size: {memory} MB\tMax Memory Used: {peak} MB\t{init}\n",
            version = runtime.identity.version,
            log = self.log,
            memory = runtime.spec.memory_mb,
            peak = peak_mb.unwrap_or(0),
        )
    }
}

impl Environment {
    pub(crate) fn new(runtime: Weak<VersionRuntime>) -> Arc<Self> {
        Arc::new(Environment {
            runtime,
            current: Mutex::new(None),
            process: Mutex::new(Process::default()),
        })
    }

    /// A new process is about to start.
    pub(crate) fn begin_process(&self) {
        *lock(&self.process) = Process {
            spawned: Some(Instant::now()),
            ..Process::default()
        };
    }

    pub(crate) fn set_pid(&self, pid: u32) {
        lock(&self.process).pid = Some(pid);
    }

    /// Whether the process finished its init: it asked for an event at least once.
    pub(crate) fn initialized(&self) -> bool {
        let process = lock(&self.process);
        process.served || process.init_duration.is_some()
    }

    pub(crate) fn take_init_error(&self) -> Option<String> {
        lock(&self.process).init_error.take()
    }

    /// The process's peak resident memory (Linux: `VmHWM`), in MB as Lambda rounds it.
    pub(crate) fn peak_memory_mb(&self) -> Option<u64> {
        let pid = {
            let process = lock(&self.process);
            if let Some((at, mb)) = process.peak_mb {
                if at.elapsed() < PEAK_MEMORY_EVERY {
                    return Some(mb);
                }
            }
            process.pid?
        };
        let mb = Self::read_peak_memory_mb(pid)?;
        lock(&self.process).peak_mb = Some((Instant::now(), mb));
        Some(mb)
    }

    fn read_peak_memory_mb(pid: u32) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb.div_ceil(1024))
    }

    /// Register a pipe of the current process; returns the sink its lines go to.
    pub(crate) fn add_pipe(
        self: &Arc<Self>,
        name: &str,
        label: &'static str,
        pipe: Arc<LogPipe>,
    ) -> Sink {
        let file = self.runtime.upgrade().and_then(|runtime| {
            let dir = runtime.identity.log_dir.as_ref()?;
            let path = dir.join(format!("{}.log", runtime.identity.function_name));
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .ok()
        });
        let file: Mutex<Option<File>> = Mutex::new(file);
        let taps = self
            .runtime
            .upgrade()
            .map(|runtime| runtime.identity.log_taps.clone());
        let (env, name) = (Arc::downgrade(self), name.to_owned());
        let sink: Sink = Arc::new(move |line: &str| {
            use std::io::Write as _;
            if let Some(file) = lock(&file).as_mut() {
                let _ = writeln!(file, "[{name} {label}] {line}");
            }
            debug!(target: "codedeploy_local::function_log", function = %name, stream = label, "{line}");
            if let Some(taps) = &taps {
                taps.offer(line);
            }
            if let Some(env) = env.upgrade() {
                if let Some(current) = lock(&env.current).as_mut() {
                    current.log.push_str(line);
                    current.log.push('\n');
                }
            }
        });
        lock(&self.process).pipes.push((pipe, Arc::clone(&sink)));
        sink
    }

    /// Read what the process has written so far into the current invocation's log.
    /// Locks: process, then a pipe's, then (in the sink) current; nothing takes them the
    /// other way round.
    pub(crate) fn drain_logs(&self) {
        for (pipe, sink) in &lock(&self.process).pipes {
            pipe.drain(&**sink);
        }
    }

    /// Wait until the current invocation runs past the function timeout, and fail it as
    /// Lambda does; the caller then stops the process.
    ///
    /// One timer per environment, re-armed to the current invocation's deadline when it
    /// fires (or a timeout later when idle): handing out an event costs no timer and no
    /// wake-up, and no cancelled timers pile up (tokio frees one only at its deadline).
    pub(crate) async fn timed_out(&self, runtime: &VersionRuntime) {
        let timeout = runtime.spec.timeout;
        let timer = tokio::time::sleep(timeout);
        tokio::pin!(timer);
        loop {
            timer.as_mut().await;
            let now = Instant::now();
            let due = lock(&self.current)
                .as_ref()
                .map(|c| (c.deadline, c.request_id.clone()));
            let id = match due {
                Some((deadline, id)) if deadline <= now => id,
                Some((deadline, _)) => {
                    timer.as_mut().reset(deadline.into());
                    continue;
                }
                None => {
                    timer.as_mut().reset((now + timeout).into());
                    continue;
                }
            };
            self.drain_logs();
            let Some(current) = self.take_if(&id) else {
                continue;
            };
            let message = format!(
                "RequestId: {id} Error: Task timed out after {:.2} seconds",
                timeout.as_secs_f64()
            );
            let log = current.log_with_report(runtime, self.peak_memory_mb());
            let failure = runtime.failure("Sandbox.Timedout", &message, &id, log, timeout);
            let _ = current.reply.send(failure);
            return;
        }
    }

    pub(crate) fn take_current(&self) -> Option<Current> {
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

/// Serve an environment's Runtime API; returns its address and the server, stopped when
/// the guard is dropped.
pub(crate) async fn serve(env: Arc<Environment>) -> std::io::Result<(String, AbortOnDrop)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    let router = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(env);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((address, AbortOnDrop(server)))
}

/// Aborts a task when dropped.
pub(crate) struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn runtime_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"errorType": error_type, "errorMessage": message})),
    )
        .into_response()
}

fn gone(why: &str) -> Response {
    runtime_error(StatusCode::GONE, "Runtime.Stopped", why)
}

/// `GET /runtime/invocation/next`: wait for the next invocation of this version. If the
/// process dies while waiting, hyper sees its connection close and drops this future before
/// anything is taken from the queue.
async fn next(State(env): State<Arc<Environment>>) -> Response {
    let Some(runtime) = env.runtime.upgrade() else {
        return gone("the function was removed");
    };
    {
        let mut process = lock(&env.process);
        if !process.served && process.init_duration.is_none() {
            process.init_duration = process.spawned.map(|s| s.elapsed());
        }
    }
    let queue = Arc::clone(&runtime.queue_rx);
    let pending = { queue.lock().await.recv().await };
    let Some(pending) = pending else {
        return gone("the stand-in is stopping");
    };
    let timeout = runtime.spec.timeout;
    let deadline_ms = SystemTime::now()
        .checked_add(timeout)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let init_duration = {
        let mut process = lock(&env.process);
        let first = !process.served;
        process.served = true;
        if first {
            process.init_duration.take()
        } else {
            None
        }
    };
    let request_id = pending.request_id.clone();
    let headers = event_headers(&runtime, &pending, deadline_ms);
    let payload = pending.payload.clone();
    *lock(&env.current) = Some(Current {
        request_id,
        started: Instant::now(),
        deadline: Instant::now() + timeout,
        log: String::new(),
        reply: pending.reply,
        payload: pending.payload,
        client_context: pending.client_context,
        requeued: pending.handed_to_dead_process,
        init_duration,
    });
    (StatusCode::OK, headers, payload).into_response()
}

/// The headers that come with an event: its request id, deadline, ARN, trace and context.
fn event_headers(runtime: &VersionRuntime, pending: &Pending, deadline_ms: u128) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let request_id = &pending.request_id;
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", request_id);
    set("lambda-runtime-deadline-ms", &deadline_ms.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        &runtime.identity.function_arn,
    );
    set(
        "lambda-runtime-trace-id",
        &format!("Root=1-{}", &request_id[..8.min(request_id.len())]),
    );
    if let Some(context) = &pending.client_context {
        set("lambda-runtime-client-context", context);
    }
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers
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
    let Some(runtime) = env.runtime.upgrade() else {
        return gone("the function was removed");
    };
    // Everything the function printed before answering belongs to this invocation's log.
    env.drain_logs();
    let Some(current) = env.take_if(id) else {
        return runtime_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            &format!("no invocation {id} is in progress (it may have timed out)"),
        );
    };
    let result = InvokeResult {
        payload: body,
        function_error,
        executed_version: runtime.identity.version.clone(),
        request_id: current.request_id.clone(),
        log: current.log_with_report(&runtime, env.peak_memory_mb()),
        duration: current.started.elapsed(),
    };
    let _ = current.reply.send(result);
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

/// `POST /runtime/init/error`: remembered, and given as the reason when the process exits.
async fn init_error(State(env): State<Arc<Environment>>, body: Bytes) -> Response {
    let message = String::from_utf8_lossy(&body).into_owned();
    warn!(error = %message, "a function failed to initialize");
    lock(&env.process).init_error = Some(message);
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
