//! One execution environment: the invocation it runs and the process it runs it in.
//!
//! An environment outlives its processes: the supervisor starts a new [`Process`] after one
//! exits or is stopped. Each process has its own Runtime API listener and a retire token, so
//! a request of a dead process (a `/next` still waiting, a request read after its death)
//! can never take an event meant for its successor.
//!
//! Handing an event to a process and retiring the process are one critical section (the
//! `current` lock): an event is either handed out before the supervisor saw the death (and
//! the supervisor then answers for it), or refused and put back in the queue. Before handing
//! out, the process's exit is also checked with the kernel (`waitid(WNOWAIT)`), so a process
//! that has already died is never chosen, however late tokio's reaper runs.

use std::fs::File;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{oneshot, SetOnce};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::{Pending, VersionRuntime};
use crate::lambda::log_pipe::LogPipe;
use crate::lambda::version::InvokeResult;
use crate::sync::lock;

/// A line sink of one pipe of a process.
pub(crate) type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// One execution environment: its current invocation and its current process.
pub(crate) struct Environment {
    pub(crate) runtime: Weak<VersionRuntime>,
    current: Mutex<Option<Current>>,
    process: Mutex<Arc<Process>>,
}

/// One process of an environment, from just before its start until it is retired.
pub(crate) struct Process {
    /// Set by the supervisor once it has recorded the process; until then it is handed
    /// nothing, so whoever sees an answer of the process also sees its pid.
    pid: SetOnce<u32>,
    /// When it was about to start.
    spawned: Instant,
    /// Cancelled when the supervisor has seen the process end: its requests are refused.
    retired: CancellationToken,
    state: Mutex<ProcessState>,
}

#[derive(Default)]
struct ProcessState {
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
    pub(crate) deadline: Instant,
    pub(crate) log: String,
    pub(crate) reply: oneshot::Sender<InvokeResult>,
    pub(crate) payload: Bytes,
    pub(crate) client_context: Option<String>,
    /// Whether it was requeued once already after its process was killed.
    pub(crate) requeued: bool,
    pub(crate) init_duration: Option<Duration>,
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

    /// Back to a waiting invocation, for a fresh process.
    pub(crate) fn into_pending(self) -> Pending {
        Pending {
            payload: self.payload,
            client_context: self.client_context,
            request_id: self.request_id,
            reply: self.reply,
            handed_to_dead_process: true,
        }
    }
}

impl Process {
    fn new() -> Arc<Self> {
        Arc::new(Process {
            pid: SetOnce::new(),
            retired: CancellationToken::new(),
            spawned: Instant::now(),
            state: Mutex::new(ProcessState::default()),
        })
    }

    pub(crate) fn set_pid(&self, pid: u32) {
        let _ = self.pid.set(pid);
    }

    /// Resolves once the supervisor has recorded the process.
    pub(crate) async fn registered(&self) {
        self.pid.wait().await;
    }

    /// Resolves when the supervisor has retired the process.
    pub(crate) async fn retired(&self) {
        self.retired.cancelled().await;
    }

    /// Whether an event may still be handed to it: not retired, and not exited as far as
    /// the kernel knows (a process not yet reaped by tokio is a zombie by then).
    fn can_take_events(&self) -> bool {
        !self.retired.is_cancelled() && self.pid.get().is_some_and(|&pid| !has_exited(pid))
    }

    /// A `next` arrived: the first one ends its init.
    pub(crate) fn asked_for_event(&self) {
        let mut state = lock(&self.state);
        if !state.served && state.init_duration.is_none() {
            state.init_duration = Some(self.spawned.elapsed());
        }
    }

    /// It is handed an event: the init duration, on its first.
    fn take_init_duration(&self) -> Option<Duration> {
        let mut state = lock(&self.state);
        let first = !state.served;
        state.served = true;
        if first {
            state.init_duration.take()
        } else {
            None
        }
    }

    pub(crate) fn set_init_error(&self, message: String) {
        lock(&self.state).init_error = Some(message);
    }
}

/// Whether a child process has exited (a zombie, or already reaped), without reaping it:
/// tokio's reaper still collects its status.
fn has_exited(pid: u32) -> bool {
    let id: libc::id_t = pid;
    // SAFETY: `info` is a plain C struct that waitid fills; WNOWAIT leaves the child
    // waitable, WNOHANG returns at once. Zeroed, `si_pid` stays 0 when no child changed.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        if libc::waitid(libc::P_PID, id, &mut info, flags) != 0 {
            // ECHILD: reaped already (or not our child): in any case not one to hand to.
            return true;
        }
        info.si_pid() != 0
    }
}

impl Environment {
    pub(crate) fn new(runtime: Weak<VersionRuntime>) -> Arc<Self> {
        Arc::new(Environment {
            runtime,
            current: Mutex::new(None),
            process: Mutex::new(Process::new()),
        })
    }

    /// A new process is about to start: its record, which its Runtime API serves.
    pub(crate) fn begin_process(&self) -> Arc<Process> {
        let process = Process::new();
        *lock(&self.process) = Arc::clone(&process);
        process
    }

    fn process(&self) -> Arc<Process> {
        Arc::clone(&lock(&self.process))
    }

    /// Hand an event to `process`, unless it is retired or has exited: then the event is
    /// given back, never delivered.
    pub(crate) fn hand_out(
        &self,
        process: &Process,
        pending: Pending,
        timeout: Duration,
    ) -> Result<(), Pending> {
        let mut current = lock(&self.current);
        if !process.can_take_events() {
            return Err(pending);
        }
        let now = Instant::now();
        *current = Some(Current {
            request_id: pending.request_id,
            started: now,
            deadline: now + timeout,
            log: String::new(),
            reply: pending.reply,
            payload: pending.payload,
            client_context: pending.client_context,
            requeued: pending.handed_to_dead_process,
            init_duration: process.take_init_duration(),
        });
        Ok(())
    }

    /// The supervisor saw `process` end: from now on it takes no event; returns the
    /// invocation it was running, if any.
    pub(crate) fn retire(&self, process: &Process) -> Option<Current> {
        let mut current = lock(&self.current);
        process.retired.cancel();
        current.take()
    }

    /// Whether the current process finished its init: it asked for an event at least once.
    pub(crate) fn initialized(&self) -> bool {
        let process = self.process();
        let state = lock(&process.state);
        state.served || state.init_duration.is_some()
    }

    /// Whether the current process reported an init error.
    pub(crate) fn has_init_error(&self) -> bool {
        lock(&self.process().state).init_error.is_some()
    }

    pub(crate) fn take_init_error(&self) -> Option<String> {
        lock(&self.process().state).init_error.take()
    }

    /// The current process's peak resident memory (Linux: `VmHWM`), in MB as Lambda
    /// rounds it.
    pub(crate) fn peak_memory_mb(&self) -> Option<u64> {
        let process = self.process();
        {
            let state = lock(&process.state);
            if let Some((at, mb)) = state.peak_mb {
                if at.elapsed() < PEAK_MEMORY_EVERY {
                    return Some(mb);
                }
            }
        }
        let mb = read_peak_memory_mb(*process.pid.get()?)?;
        lock(&process.state).peak_mb = Some((Instant::now(), mb));
        Some(mb)
    }

    /// Register a pipe of the current process; returns the sink its lines go to.
    pub(crate) fn add_pipe(
        self: &Arc<Self>,
        name: &str,
        label: &'static str,
        pipe: Arc<LogPipe>,
    ) -> Sink {
        let sink = self.sink(name, label);
        lock(&self.process().state)
            .pipes
            .push((pipe, Arc::clone(&sink)));
        sink
    }

    /// Where a pipe's lines go: the log file, tracing, the log taps and the current
    /// invocation's log.
    fn sink(self: &Arc<Self>, name: &str, label: &'static str) -> Sink {
        let runtime = self.runtime.upgrade();
        let file = runtime.as_ref().and_then(|runtime| {
            let dir = runtime.identity.log_dir.as_ref()?;
            let path = dir.join(format!("{}.log", runtime.identity.function_name));
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .ok()
        });
        let file: Mutex<Option<File>> = Mutex::new(file);
        let taps = runtime.map(|runtime| runtime.identity.log_taps.clone());
        let (env, name) = (Arc::downgrade(self), name.to_owned());
        Arc::new(move |line: &str| {
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
        })
    }

    /// Read what the current process has written so far into the current invocation's
    /// log. Locks: process state, then a pipe's, then (in the sink) current; nothing takes
    /// them the other way round.
    pub(crate) fn drain_logs(&self) {
        let process = self.process();
        for (pipe, sink) in &lock(&process.state).pipes {
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
                    timer.as_mut().reset(deadline);
                    continue;
                }
                None => {
                    timer.as_mut().reset(now + timeout);
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

    /// Take the current invocation if it has this request id.
    pub(crate) fn take_if(&self, id: &str) -> Option<Current> {
        let mut current = lock(&self.current);
        if current.as_ref().is_some_and(|c| c.request_id == id) {
            current.take()
        } else {
            None
        }
    }
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
