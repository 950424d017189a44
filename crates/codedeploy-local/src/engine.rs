//! The deployment engine: BeforeAllowTraffic hook -> weight steps -> AfterAllowTraffic hook,
//! watching the alarms throughout, and rolling the alias back on any failure, on a clock
//! `time_scale` times faster than real.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tracing::{info, warn};

use crate::alarms::{Alarm, AlarmState};
use crate::config::TrafficConfig;
use crate::deployments::{DeploymentSpec, DeploymentStatus, HookStatus};
use crate::functions::InvocationRecord;
use crate::lock;
use crate::notifications::Notifications;
use crate::Shared;

/// How often the engine looks at alarms and stop requests, in real time.
const TICK: Duration = Duration::from_millis(25);
/// How long CodeDeploy waits for a hook's report: one hour (scaled).
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(3600);
/// When Lambda retries a failed asynchronous invocation: after about 1 and 2 more minutes.
const ASYNC_RETRIES: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(120)];

/// Everything a deployment needs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeploymentPlan {
    /// What to deploy (function, alias, versions, hooks).
    pub spec: DeploymentSpec,
    /// How traffic shifts.
    pub config: TrafficConfig,
    /// The alarms to watch.
    pub alarms: Vec<Alarm>,
    /// How much faster than real the deployment's clock runs.
    pub time_scale: f64,
    /// How long a hook may take to report (deployment time; one hour by default).
    pub hook_timeout: Duration,
    /// Synthetic load on the alias during the deployment.
    pub traffic: Option<Traffic>,
    /// Deliver every hook event twice, as Lambda's at-least-once asynchronous invocation
    /// sometimes does: a correct hook reports once and treats the second as done.
    pub duplicate_deliveries: bool,
    /// What would be published to SNS, from the template's wiring.
    pub notifications: Notifications,
}

impl DeploymentPlan {
    /// A plan for `spec` with `config`, no alarms, no traffic, at the given time scale.
    pub fn new(spec: DeploymentSpec, config: TrafficConfig, time_scale: f64) -> Self {
        DeploymentPlan {
            spec,
            config,
            alarms: Vec::new(),
            time_scale,
            hook_timeout: HOOK_TIMEOUT,
            traffic: None,
            duplicate_deliveries: false,
            notifications: Notifications::default(),
        }
    }
}

/// Synthetic load on the alias: `rate` invocations per real second with `payload`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Traffic {
    /// Invocations per second (real time).
    pub rate: f64,
    /// The payload of each.
    pub payload: Vec<u8>,
}

impl Traffic {
    /// `rate` invocations per second with this payload.
    pub fn new(rate: f64, payload: Vec<u8>) -> Self {
        Traffic { rate, payload }
    }

    /// `rate` HTTP requests per second to a route (e.g. `/hello?name=load`), sent as API
    /// Gateway (HTTP API, payload 2.0) would send them to the alias.
    pub fn route(rate: f64, method: &str, path_and_query: &str) -> Result<Self, crate::Error> {
        let request = http::Request::builder()
            .method(method)
            .uri(path_and_query)
            .header("host", "localhost")
            .header("user-agent", "codedeploy-local-traffic")
            .body(Vec::new())
            .map_err(|source| crate::Error::TrafficRoute {
                route: format!("{method} {path_and_query}"),
                source,
            })?;
        let event = codedeploy_hooks::apigw::event(
            &request,
            codedeploy_hooks::apigw::Flavor::HttpApi,
            "traffic",
        );
        Ok(Traffic::new(rate, event.to_string().into_bytes()))
    }
}

/// One entry of the timeline.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct TimelineEvent {
    /// Real milliseconds since the deployment started.
    pub real_ms: u64,
    /// Seconds on the deployment's (scaled) clock.
    pub deployment_seconds: f64,
    /// What happened, e.g. `HookSucceeded`, `TrafficShifted`, `AlarmActive`.
    pub event: String,
    /// Details.
    pub detail: String,
}

/// Where a running deployment stands, for progress displays.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Progress {
    /// The current phase, e.g. `BeforeAllowTraffic`, `Shifting traffic`.
    pub phase: String,
    /// The target version's share of the alias's traffic.
    pub percent: u32,
    /// Every alarm's state.
    pub alarms: Vec<(String, AlarmState)>,
    /// Deployment-clock time since the start.
    pub deployment_time: Duration,
    /// The last event.
    pub last_event: Option<TimelineEvent>,
}

/// How a deployment ended.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct DeploymentOutcome {
    /// The deployment id.
    pub deployment_id: String,
    /// `Succeeded`, `Failed` or `Stopped`.
    pub status: DeploymentStatus,
    /// `errorInformation`: code (`HOOK_EXECUTION_FAILURE`, `ALARM_ACTIVE`, `TIMEOUT`,
    /// `MANUAL_STOP`) and message.
    pub error: Option<(String, String)>,
    /// Every step, in order.
    pub timeline: Vec<TimelineEvent>,
    /// Invocations through the alias that ran the target version.
    pub target_requests_through_alias: usize,
    /// Invocations through the alias in all.
    pub requests_through_alias: usize,
}

/// Why a deployment stops early.
struct Stop {
    status: DeploymentStatus,
    code: &'static str,
    message: String,
}

struct Run<'a> {
    shared: &'a Arc<Shared>,
    plan: &'a DeploymentPlan,
    id: String,
    started: Instant,
    started_at: SystemTime,
    timeline: Vec<TimelineEvent>,
    percent: u32,
    phase: String,
    alarm_states: Vec<(String, AlarmState)>,
    observer: &'a mut (dyn FnMut(&Progress) + Send),
}

/// Run a deployment to its end. The deployment is visible through `GetDeployment` from the
/// start, and can be stopped with `StopDeployment`.
pub(crate) async fn run(
    shared: &Arc<Shared>,
    plan: &DeploymentPlan,
    id: String,
    observer: &mut (dyn FnMut(&Progress) + Send),
) -> DeploymentOutcome {
    shared
        .deployments
        .with(&id, |r| r.status = DeploymentStatus::InProgress);
    let mut run = Run {
        shared,
        plan,
        id: id.clone(),
        started: Instant::now(),
        started_at: SystemTime::now(),
        timeline: Vec::new(),
        percent: 0,
        phase: "Starting".into(),
        alarm_states: plan
            .alarms
            .iter()
            .map(|a| (a.name.clone(), AlarmState::Ok))
            .collect(),
        observer,
    };
    let spec = &plan.spec;
    run.event(
        "DeploymentStarted",
        format!(
            "{} alias {} from version {} to {} ({}, time x{})",
            spec.function_name,
            spec.alias,
            spec.current_version,
            spec.target_version,
            plan.config,
            plan.time_scale
        ),
    );
    let traffic = plan
        .traffic
        .clone()
        .map(|t| spawn_traffic(Arc::clone(shared), spec, t));
    run.notify_deployment("DeploymentStart", "the deployment started");
    let result = run.steps().await;
    if let Some(task) = traffic {
        task.abort();
    }
    let (status, error) = match result {
        Ok(()) => {
            run.event(
                "DeploymentSucceeded",
                format!(
                    "alias {} now points at version {}",
                    spec.alias, spec.target_version
                ),
            );
            run.notify_deployment("DeploymentSuccess", "the deployment succeeded");
            (DeploymentStatus::Succeeded, None)
        }
        Err(stop) => {
            run.event(stop.code, stop.message.clone());
            let event = match stop.status {
                DeploymentStatus::Stopped => "DeploymentStop",
                _ => "DeploymentFailure",
            };
            run.notify_deployment(event, &format!("{}: {}", stop.code, stop.message));
            run.roll_back();
            run.notify_deployment(
                "DeploymentRollback",
                "the alias points at the current version again",
            );
            (stop.status, Some((stop.code.to_owned(), stop.message)))
        }
    };
    shared.deployments.with(&id, |r| {
        r.status = status;
        r.error = error.clone();
        r.completed = Some(SystemTime::now());
    });
    let alias_records: Vec<InvocationRecord> = shared
        .registry
        .invocations()
        .into_iter()
        .filter(|r| {
            r.function_name == spec.function_name
                && r.alias.as_deref() == Some(&spec.alias)
                && r.at >= run.started_at
        })
        .collect();
    run.report();
    DeploymentOutcome {
        deployment_id: id,
        status,
        error,
        timeline: run.timeline,
        target_requests_through_alias: alias_records
            .iter()
            .filter(|r| r.executed_version == spec.target_version)
            .count(),
        requests_through_alias: alias_records.len(),
    }
}

impl Run<'_> {
    async fn steps(&mut self) -> Result<(), Stop> {
        let spec = self.plan.spec.clone();
        if let Some(hook) = hook_for(&spec, "BeforeAllowTraffic") {
            self.run_hook("BeforeAllowTraffic", &hook).await?;
        }
        self.phase = "Shifting traffic".into();
        let shift_start = self.started.elapsed();
        for step in self.plan.config.steps() {
            let at = shift_start + step.after.div_f64(self.plan.time_scale);
            self.watch_until(at).await?;
            self.shift(step.percent)?;
        }
        if let Some(hook) = hook_for(&spec, "AfterAllowTraffic") {
            self.run_hook("AfterAllowTraffic", &hook).await?;
        }
        Ok(())
    }

    /// Invoke the hook asynchronously with its event, as CodeDeploy does, and wait for its
    /// report (retrying the delivery after a function error, as Lambda does).
    async fn run_hook(&mut self, lifecycle_event: &str, hook: &str) -> Result<(), Stop> {
        self.phase = lifecycle_event.to_owned();
        let Some((execution_id, event)) = self
            .shared
            .deployments
            .start_execution(&self.id, lifecycle_event)
        else {
            return Err(self.failure(
                "HOOK_EXECUTION_FAILURE",
                format!("the deployment {} disappeared", self.id),
            ));
        };
        self.event("HookInvoked", format!("{lifecycle_event}: {hook}"));
        let deadline =
            self.started.elapsed() + self.plan.hook_timeout.div_f64(self.plan.time_scale);
        let duplicate = self.plan.duplicate_deliveries.then(|| {
            let (shared, hook, event) = (
                Arc::clone(self.shared),
                hook.to_owned(),
                event.to_string().into_bytes(),
            );
            tokio::spawn(async move {
                if let Ok(resolved) = shared.registry.resolve(&hook, None) {
                    resolved.invoke(&shared.registry, event.into(), None).await;
                }
            })
        });
        if duplicate.is_some() {
            self.event(
                "HookInvoked",
                format!("{lifecycle_event}: {hook} (duplicate delivery)"),
            );
        }
        let answer = Arc::new(std::sync::Mutex::new(None));
        let delivery = deliver_with_retries(
            Arc::clone(self.shared),
            hook.to_owned(),
            event.to_string().into_bytes(),
            self.plan.time_scale,
            Arc::clone(&answer),
            {
                let (shared, id, execution) = (
                    Arc::clone(self.shared),
                    self.id.clone(),
                    execution_id.clone(),
                );
                move || {
                    shared
                        .deployments
                        .read(&id, |r| r.executions.get(&execution).and_then(|e| e.status))
                        .flatten()
                        .is_some()
                }
            },
        );
        let result = loop {
            let status = self
                .shared
                .deployments
                .read(&self.id, |r| {
                    r.executions.get(&execution_id).and_then(|e| e.status)
                })
                .flatten();
            match status {
                Some(HookStatus::Succeeded) => {
                    self.event(
                        "HookSucceeded",
                        format!("{lifecycle_event}: {hook} reported Succeeded"),
                    );
                    break Ok(());
                }
                Some(HookStatus::Failed) => {
                    // The hook's own answer, when it has come, says why (codedeploy-hooks
                    // answers with its summary).
                    let _ = tokio::time::timeout(Duration::from_secs(2), async {
                        while lock(&answer).is_none() {
                            tokio::time::sleep(TICK).await;
                        }
                    })
                    .await;
                    let why = lock(&answer)
                        .clone()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default();
                    break Err(self.failure(
                        "HOOK_EXECUTION_FAILURE",
                        format!("the {lifecycle_event} hook {hook} reported Failed{why}"),
                    ));
                }
                None => {}
            }
            if self.started.elapsed() >= deadline {
                break Err(Stop {
                    status: DeploymentStatus::Failed,
                    code: "TIMEOUT",
                    message: format!(
                        "the {lifecycle_event} hook {hook} did not report within {:?} (deployment time): it must call \
                         PutLifecycleEventHookExecutionStatus",
                        self.plan.hook_timeout
                    ),
                });
            }
            if let Err(stop) = self.check() {
                break Err(stop);
            }
            tokio::time::sleep(TICK).await;
        };
        match (duplicate, &result) {
            (Some(duplicate), Ok(())) => {
                // Let both deliveries finish (whichever ran second had its report refused as
                // already completed), so the hook's report count is complete when the
                // deployment ends. Both have answered once the hook has reported.
                let _ = duplicate.await;
                let _ = delivery.await;
            }
            (duplicate, _) => {
                delivery.abort();
                if let Some(task) = duplicate {
                    task.abort();
                }
            }
        }
        result
    }

    fn failure(&self, code: &'static str, message: String) -> Stop {
        Stop {
            status: DeploymentStatus::Failed,
            code,
            message,
        }
    }

    /// Wait until `at` (real time since the start), watching alarms and stop requests.
    async fn watch_until(&mut self, at: Duration) -> Result<(), Stop> {
        loop {
            self.check()?;
            let now = self.started.elapsed();
            if now >= at {
                return Ok(());
            }
            tokio::time::sleep((at - now).min(TICK)).await;
        }
    }

    /// Alarms and stop requests.
    fn check(&mut self) -> Result<(), Stop> {
        if self
            .shared
            .deployments
            .read(&self.id, |r| r.stop_requested)
            .unwrap_or(false)
        {
            return Err(Stop {
                status: DeploymentStatus::Stopped,
                code: "MANUAL_STOP",
                message: "the deployment was stopped by StopDeployment".into(),
            });
        }
        if !self.plan.alarms.is_empty() {
            let records = self.shared.registry.invocations();
            let now = SystemTime::now();
            let mut active = Vec::new();
            let mut changed = Vec::new();
            for (alarm, state) in self.plan.alarms.iter().zip(self.alarm_states.iter_mut()) {
                let now_state =
                    alarm.evaluate(&records, self.started_at, now, self.plan.time_scale);
                if now_state != state.1 {
                    changed.push((alarm.name.clone(), now_state));
                }
                state.1 = now_state;
                if state.1 == AlarmState::Alarm {
                    active.push(alarm.name.clone());
                }
            }
            for (alarm, state) in changed {
                let notes = self.plan.notifications.of_alarm(&alarm, state);
                self.publish(notes);
            }
            if !active.is_empty() {
                return Err(Stop {
                    status: DeploymentStatus::Failed,
                    code: "ALARM_ACTIVE",
                    message: format!(
                        "one or more alarms were activated and the deployment was stopped. Activated alarms: {}",
                        active.join(", ")
                    ),
                });
            }
        }
        self.report();
        Ok(())
    }

    fn shift(&mut self, percent: u32) -> Result<(), Stop> {
        let spec = &self.plan.spec;
        let (version, weights) = if percent >= 100 {
            (spec.target_version.clone(), BTreeMap::new())
        } else {
            (
                spec.current_version.clone(),
                BTreeMap::from([(spec.target_version.clone(), f64::from(percent) / 100.0)]),
            )
        };
        self.shared
            .registry
            .set_alias(&spec.function_name, &spec.alias, &version, weights, None)
            .map_err(|e| {
                self.failure(
                    "INTERNAL_ERROR",
                    format!("cannot update alias {}: {e:?}", spec.alias),
                )
            })?;
        self.percent = percent;
        self.event(
            "TrafficShifted",
            format!(
                "{percent}% of {} to version {}",
                spec.alias, spec.target_version
            ),
        );
        Ok(())
    }

    fn roll_back(&mut self) {
        let spec = &self.plan.spec;
        match self.shared.registry.set_alias(
            &spec.function_name,
            &spec.alias,
            &spec.current_version,
            BTreeMap::new(),
            None,
        ) {
            Ok(_) => {
                self.percent = 0;
                self.event(
                    "RolledBack",
                    format!(
                        "alias {} points at version {} again",
                        spec.alias, spec.current_version
                    ),
                );
            }
            Err(e) => warn!(error = ?e, "rollback failed"),
        }
    }

    /// Show what CodeDeploy's triggers would publish for a deployment event.
    fn notify_deployment(&mut self, event: &str, detail: &str) {
        let notes = self.plan.notifications.of_deployment(event, detail);
        self.publish(notes);
    }

    fn publish(&mut self, notes: Vec<(String, String)>) {
        for (topic, what) in notes {
            self.event("NotificationPublished", format!("to {topic}: {what}"));
        }
    }

    fn event(&mut self, event: &str, detail: String) {
        let real = self.started.elapsed();
        let entry = TimelineEvent {
            real_ms: real.as_millis() as u64,
            deployment_seconds: (real.as_secs_f64() * self.plan.time_scale * 10.0).round() / 10.0,
            event: event.to_owned(),
            detail,
        };
        info!(deployment = %self.id, event = %entry.event, detail = %entry.detail, "deployment");
        self.timeline.push(entry);
        self.report();
    }

    fn report(&mut self) {
        let progress = Progress {
            phase: self.phase.clone(),
            percent: self.percent,
            alarms: self.alarm_states.clone(),
            deployment_time: self.started.elapsed().mul_f64(self.plan.time_scale),
            last_event: self.timeline.last().cloned(),
        };
        (self.observer)(&progress);
    }
}

fn hook_for(spec: &DeploymentSpec, lifecycle_event: &str) -> Option<String> {
    spec.hooks
        .iter()
        .find(|(e, _)| e == lifecycle_event)
        .map(|(_, f)| f.clone())
}

/// Invoke the hook function asynchronously; after a function error, deliver again after ~1
/// and ~2 minutes (scaled) unless the hook has reported by then.
fn deliver_with_retries(
    shared: Arc<Shared>,
    hook: String,
    event: Vec<u8>,
    time_scale: f64,
    answer: Arc<std::sync::Mutex<Option<String>>>,
    reported: impl Fn() -> bool + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for attempt in 0..=ASYNC_RETRIES.len() {
            if attempt > 0 {
                tokio::time::sleep(ASYNC_RETRIES[attempt - 1].div_f64(time_scale)).await;
                if reported() {
                    return;
                }
                info!(hook = %hook, attempt, "Lambda retries the asynchronous invocation of the hook");
            }
            let Ok(resolved) = shared.registry.resolve(&hook, None) else {
                warn!(hook = %hook, "the hook function does not exist");
                return;
            };
            let result = resolved
                .invoke(&shared.registry, event.clone().into(), None)
                .await;
            let reason = serde_json::from_slice::<serde_json::Value>(&result.payload)
                .ok()
                .and_then(|v| {
                    let reason = v.get("reason").or_else(|| v.get("errorMessage"))?;
                    reason.as_str().map(str::to_owned)
                });
            *lock(&answer) = Some(reason.unwrap_or_else(|| "see the hook's log".to_owned()));
            if result.function_error.is_none() {
                return;
            }
            warn!(hook = %hook, error = %String::from_utf8_lossy(&result.payload), "the hook function failed");
        }
    })
}

/// Invoke the alias at a steady rate until aborted.
fn spawn_traffic(
    shared: Arc<Shared>,
    spec: &DeploymentSpec,
    traffic: Traffic,
) -> tokio::task::JoinHandle<()> {
    let (function, alias) = (spec.function_name.clone(), spec.alias.clone());
    tokio::spawn(async move {
        let period = Duration::from_secs_f64(1.0 / traffic.rate.max(0.001));
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let in_flight = Arc::new(tokio::sync::Semaphore::new(32));
        loop {
            interval.tick().await;
            let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
                continue; // the function cannot keep up: drop this request, as a client would time out
            };
            let Ok(resolved) = shared.registry.resolve(&function, Some(&alias)) else {
                return;
            };
            let (shared, payload) = (Arc::clone(&shared), traffic.payload.clone());
            tokio::spawn(async move {
                let _permit = permit;
                resolved
                    .invoke(&shared.registry, payload.into(), None)
                    .await;
            });
        }
    })
}
