//! A deployment's run: its state, its clock and its waits. It wakes when a hook reports
//! (the execution's `watch`), when `StopDeployment` signals, at a traffic step, and at the
//! end of an alarm period (when an alarm's state can change); everything it sees goes on
//! the timeline.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use tracing::info;

use super::deployments::{RunInfo, StopRequest};
use super::plan::{DeploymentPlan, Progress};
use super::spec::{DeploymentStatus, HookStatus};
use super::timeline::{About, ErrorCode, Event, TimelineEvent};
use super::CodeDeploy;
use crate::alarms::AlarmState;
use crate::iam::Denial;
use crate::lambda::InvocationLog;

/// How long a stop waits for the watch's record of why it stopped the deployment.
const WATCH_RECORD_GRACE: Duration = Duration::from_secs(2);

/// Why a deployment stops early.
pub(crate) struct Stop {
    pub(crate) status: DeploymentStatus,
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
    /// Shift the alias back to the current version (always, but for a stop without
    /// `autoRollbackEnabled`).
    pub(crate) roll_back: bool,
}

impl Stop {
    pub(crate) fn failed(code: ErrorCode, message: String) -> Stop {
        Stop {
            status: DeploymentStatus::Failed,
            code,
            message,
            roll_back: true,
        }
    }
}

pub(crate) struct Run<'a> {
    pub(crate) codedeploy: &'a Arc<CodeDeploy>,
    pub(crate) plan: &'a DeploymentPlan,
    pub(crate) id: String,
    started: Instant,
    started_at: SystemTime,
    /// The latest event, for progress (the timeline itself is in the deployment's record).
    last_event: Option<TimelineEvent>,
    pub(crate) percent: u32,
    pub(crate) phase: String,
    alarm_states: Vec<(String, AlarmState)>,
    observer: &'a mut (dyn FnMut(&Progress) + Send),
    stop: watch::Receiver<Option<StopRequest>>,
    /// The invocations the alarms and the outcome need: the longest alarm window.
    pub(crate) invocations: InvocationLog,
    /// The rounds of a codedeploy-hooks watch, as its function prints them.
    watch_rounds: broadcast::Receiver<Arc<str>>,
    /// Watch rounds seen, and whether the watch said it stops the deployment.
    rounds_seen: bool,
    watch_stopping: bool,
    /// Every call a role's policies did not allow, as the authority tells them.
    pub(crate) denial_events: broadcast::Receiver<Arc<Denial>>,
    /// The distinct denials of this deployment's roles, in order.
    pub(crate) denials: Vec<Arc<Denial>>,
    /// Alarms CodeDeploy's role may not read, skipped under `ignorePollAlarmFailure`.
    pub(crate) unreadable_alarms: Vec<String>,
}

impl<'a> Run<'a> {
    pub(crate) fn new(
        codedeploy: &'a Arc<CodeDeploy>,
        plan: &'a DeploymentPlan,
        id: String,
        stop: watch::Receiver<Option<StopRequest>>,
        observer: &'a mut (dyn FnMut(&Progress) + Send),
    ) -> Self {
        // Twice the longest alarm window: a period's records are read at its end.
        let window = plan
            .alarms
            .iter()
            .map(|a| a.window(plan.time_scale))
            .max()
            .unwrap_or_default();
        let (started, started_at) = (Instant::now(), codedeploy.lambda().clock().now());
        codedeploy.deployments().with(&id, |r| {
            r.run = Some(RunInfo {
                plan: plan.clone(),
                started,
                started_at,
            });
        });
        Run {
            codedeploy,
            plan,
            id,
            started,
            started_at,
            last_event: None,
            percent: 0,
            phase: "Starting".into(),
            alarm_states: plan
                .alarms
                .iter()
                .map(|a| (a.name.clone(), AlarmState::Ok))
                .collect(),
            observer,
            stop,
            invocations: codedeploy.lambda().invocations().open(Some(window * 2)),
            watch_rounds: codedeploy.lambda().watch_rounds().subscribe(),
            rounds_seen: false,
            watch_stopping: false,
            denial_events: codedeploy.lambda().iam().subscribe(),
            denials: Vec::new(),
            unreadable_alarms: Vec::new(),
        }
    }
}

impl Run<'_> {
    /// Wait until `until`, or until the hook reports when `hook` is given (its status is
    /// returned), watching the alarms at their period ends and stop requests.
    pub(crate) async fn wait(
        &mut self,
        until: Option<Instant>,
        mut hook: Option<&mut watch::Receiver<Option<HookStatus>>>,
    ) -> Result<Option<HookStatus>, Stop> {
        loop {
            if let Some(request) = *self.stop.borrow_and_update() {
                let how = if request.auto_rollback {
                    "with autoRollbackEnabled"
                } else {
                    "without rollback: the alias stays where it was"
                };
                return Err(Stop {
                    status: DeploymentStatus::Stopped,
                    code: ErrorCode::ManualStop,
                    message: format!("the deployment was stopped by StopDeployment {how}"),
                    roll_back: request.auto_rollback,
                });
            }
            if let Some(status) = hook.as_deref_mut().and_then(|h| *h.borrow_and_update()) {
                return Ok(Some(status));
            }
            let now = Instant::now();
            if until.is_some_and(|u| now >= u) {
                return Ok(None);
            }
            let alarms_at = self.next_alarm_evaluation();
            let wake = [until, alarms_at].into_iter().flatten().min();
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let reported = async {
                let changed = match hook.as_deref_mut() {
                    Some(h) => h.changed().await.is_ok(),
                    None => false,
                };
                if !changed {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                () = sleep => {}
                () = reported => {}
                _ = self.stop.changed() => {}
                round = self.watch_rounds.recv() => self.watch_round(round),
                denial = self.denial_events.recv() => self.told_of_denial(denial),
            }
            if alarms_at.is_some_and(|at| Instant::now() >= at) {
                self.check_alarms()?;
            }
        }
    }

    /// A watch round of this deployment on the timeline: `WatchRound` (passed or failed) or
    /// `WatchStopped` (the watch called StopDeployment).
    fn watch_round(&mut self, round: Result<Arc<str>, broadcast::error::RecvError>) {
        let Ok(line) = round else {
            return; // lagged: the records are for show; the deployment's state is elsewhere
        };
        let Ok(record) = serde_json::from_str::<serde_json::Value>(&line) else {
            return;
        };
        if record["DeploymentId"].as_str() != Some(self.id.as_str()) {
            return;
        }
        self.rounds_seen = true;
        let verdict = record["Verdict"].as_str().unwrap_or("?");
        let round = record["Round"].as_u64().unwrap_or_default();
        let reason = record["Reason"].as_str();
        // A failure's reason names its round already.
        let (event, mut detail) = match (verdict, reason) {
            ("stopping", Some(reason)) => {
                self.watch_stopping = true;
                (Event::WatchStopped, reason.to_owned())
            }
            (_, Some(reason)) => (Event::WatchRound, reason.to_owned()),
            _ => (Event::WatchRound, format!("round {round} {verdict}")),
        };
        let analysis = analysis_of(&record["Canary"]);
        if let (Some((_, told)), None) = (&analysis, reason) {
            detail = format!("{detail}; {told}");
        }
        let about = About::WatchRound {
            round,
            verdict: verdict.to_owned(),
            analysis: analysis.map(|(verdict, _)| verdict),
        };
        self.record(event, detail, Some(about));
    }

    /// After a StopDeployment while a watch ran: its record saying why (printed just before
    /// it called StopDeployment) may still be in the function's pipe; give it a moment to
    /// come through, and name the watch as the stopper.
    pub(crate) async fn await_watch_stop(&mut self, stop: &mut Stop) {
        if stop.code != ErrorCode::ManualStop || !self.rounds_seen {
            return;
        }
        let deadline = Instant::now() + WATCH_RECORD_GRACE;
        while !self.watch_stopping {
            match tokio::time::timeout_at(deadline, self.watch_rounds.recv()).await {
                Ok(round) => self.watch_round(round),
                Err(_) => return,
            }
        }
        let why = self.codedeploy.deployments().read(&self.id, |r| {
            let last = r
                .timeline
                .iter()
                .rev()
                .find(|e| e.event == Event::WatchStopped);
            last.map(|e| e.detail.clone())
        });
        if let Some(why) = why.flatten() {
            let how = if stop.roll_back { "with" } else { "without" };
            stop.message = format!(
                "the shift's watch stopped the deployment (StopDeployment {how} autoRollbackEnabled): {why}"
            );
        }
    }

    /// When the alarms are next looked at, if any is watched.
    fn next_alarm_evaluation(&self) -> Option<Instant> {
        let elapsed = self.started.elapsed();
        self.plan
            .alarms
            .iter()
            .map(|a| a.next_evaluation(elapsed, self.plan.time_scale))
            .min()
            .map(|at| self.started + at)
    }

    fn check_alarms(&mut self) -> Result<(), Stop> {
        let now = self.codedeploy.lambda().clock().now();
        let (plan, started_at) = (self.plan, self.started_at);
        let states: Vec<AlarmState> = self.invocations.with(|records| {
            plan.alarms
                .iter()
                .map(|alarm| alarm.evaluate(records.iter(), started_at, now, plan.time_scale))
                .collect()
        });
        let mut active = Vec::new();
        let mut changed = Vec::new();
        for (state, now_state) in self.alarm_states.iter_mut().zip(states) {
            if self.unreadable_alarms.contains(&state.0) {
                continue;
            }
            if now_state != state.1 {
                changed.push((state.0.clone(), now_state));
            }
            state.1 = now_state;
            if now_state == AlarmState::Alarm {
                active.push(state.0.clone());
            }
        }
        for (alarm, state) in changed {
            let detail = format!("{alarm} is {}", state.as_str());
            let about = About::Alarm {
                alarm: alarm.clone(),
                state,
            };
            self.record(Event::AlarmStateChanged, detail, Some(about));
            let notes = self.plan.notifications.of_alarm(&alarm, state);
            self.publish(Some(&alarm), notes);
        }
        self.report();
        if active.is_empty() {
            return Ok(());
        }
        Err(Stop::failed(
            ErrorCode::AlarmActive,
            format!(
                "one or more alarms were activated and the deployment was stopped. Activated alarms: {}",
                active.join(", ")
            ),
        ))
    }

    /// Show what CodeDeploy's triggers would publish for a deployment event.
    pub(crate) fn notify_deployment(&mut self, event: &str, detail: &str) {
        let notes = self.plan.notifications.of_deployment(event, detail);
        self.publish(None, notes);
    }

    /// What would be published, each note if its publisher may: CodeDeploy's role for a
    /// trigger, CloudWatch (the topic's policy) for an alarm's action.
    fn publish(&mut self, alarm: Option<&str>, notes: Vec<(String, String)>) {
        for (topic, what) in notes {
            let may = match alarm {
                Some(alarm) => self.cloudwatch_may_publish(alarm, &topic),
                None => self.may_publish(&topic),
            };
            if may {
                self.event(Event::NotificationPublished, format!("to {topic}: {what}"));
            }
        }
    }

    pub(crate) fn event(&mut self, event: Event, detail: String) {
        self.record(event, detail, None);
    }

    /// Put an event on the deployment's timeline (in its record, where `GetDeployment`'s
    /// state is too, so the live view reads what the engine writes).
    pub(crate) fn record(&mut self, event: Event, detail: String, about: Option<About>) {
        let real = self.started.elapsed();
        let entry = TimelineEvent {
            real_ms: real.as_millis() as u64,
            deployment_seconds: (real.as_secs_f64() * self.plan.time_scale * 10.0).round() / 10.0,
            event,
            detail,
            about,
        };
        info!(deployment = %self.id, event = %entry.event, detail = %entry.detail, "deployment");
        self.codedeploy
            .deployments
            .with(&self.id, |r| r.timeline.push(entry.clone()));
        self.last_event = Some(entry);
        self.report();
    }

    pub(crate) fn report(&mut self) {
        let progress = Progress {
            phase: self.phase.clone(),
            percent: self.percent,
            alarms: self.alarm_states.clone(),
            deployment_time: crate::clock::to_deployment(
                self.started.elapsed(),
                self.plan.time_scale,
            ),
            last_event: self.last_event.clone(),
        };
        (self.observer)(&progress);
    }

    /// Real time until `deployment_time` has passed on the deployment's clock, from now.
    pub(crate) fn scaled(&self, deployment_time: Duration) -> Duration {
        crate::clock::to_real(deployment_time, self.plan.time_scale)
    }
}

/// The verdict of the last canary analysis in a watch round's record (its `Canary`
/// property, as codedeploy-hooks writes it), and it in words with each metric's verdict (the
/// values are in the watch's log).
fn analysis_of(canary: &serde_json::Value) -> Option<(String, String)> {
    let last = canary.as_array()?.last()?;
    let verdict = last["verdict"].as_str()?.to_owned();
    let metrics: Vec<String> = last["metrics"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, m)| format!("{name} {}", m["verdict"].as_str().unwrap_or("?")))
        .collect();
    let told = format!("canary analysis {verdict} ({})", metrics.join(", "));
    Some((verdict, told))
}

#[cfg(test)]
mod tests {
    use super::analysis_of;
    use serde_json::json;

    #[test]
    fn a_rounds_analysis_is_its_last_verdict_with_each_metrics() {
        let canary = json!([
            {"verdict": "Inconclusive", "metrics": {}},
            {"verdict": "Fail", "metrics": {"errors": {"verdict": "Fail"}, "p99 latency": {"verdict": "Pass"}}},
        ]);
        let (verdict, told) = analysis_of(&canary).unwrap();
        assert_eq!(verdict, "Fail");
        assert_eq!(told, "canary analysis Fail (errors Fail, p99 latency Pass)");
        assert_eq!(
            analysis_of(&serde_json::Value::Null),
            None,
            "a round without analysis"
        );
    }
}
