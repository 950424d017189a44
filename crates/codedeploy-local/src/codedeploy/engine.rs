//! The deployment engine: BeforeAllowTraffic hook -> weight steps -> AfterAllowTraffic hook,
//! watching the alarms throughout (through its [`Run`]), and rolling the alias back on any
//! failure, on a clock `time_scale` times faster than real.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::Instant;
use tracing::warn;

use super::deployments::StopRequest;
use super::hook::HookRun;
use super::plan::{DeploymentOutcome, DeploymentPlan, Progress};
use super::run::{Run, Stop};
use super::spec::DeploymentStatus;
use super::timeline::{About, ErrorCode, Event};
use super::traffic;
use super::CodeDeploy;

/// Run a deployment to its end. It is visible through `GetDeployment` from the start, and
/// can be stopped with `StopDeployment`.
pub(crate) async fn run(
    codedeploy: &Arc<CodeDeploy>,
    plan: &DeploymentPlan,
    id: String,
    stop: watch::Receiver<Option<StopRequest>>,
    observer: &mut (dyn FnMut(&Progress) + Send),
) -> DeploymentOutcome {
    codedeploy
        .deployments
        .with(&id, |r| r.status = DeploymentStatus::InProgress);
    let group_alarms: Vec<String> = plan.alarms.iter().map(|a| a.name.clone()).collect();
    let effective = plan.overridden();
    let plan = &effective;
    let mut run = Run::new(codedeploy, plan, id.clone(), stop, observer);
    let spec = &plan.spec;
    run.started(&group_alarms);
    let traffic = plan
        .traffic
        .clone()
        .map(|t| traffic::spawn(Arc::clone(codedeploy.lambda()), spec, t));
    run.notify_deployment("DeploymentStart", "the deployment started");
    let mut result = run.steps().await;
    if let Err(stop) = &mut result {
        run.await_watch_stop(stop).await;
    }
    run.name_first_denial(&mut result);
    if let Some(task) = traffic {
        task.abort();
    }
    let (status, error) = run.conclude(result);
    codedeploy.deployments().finish(&id, status, error.clone());
    run.report();
    let (through_alias, to_target) =
        run.invocations
            .alias_counts(&spec.function_name, &spec.alias, &spec.target_version);
    let timeline = codedeploy
        .deployments
        .read(&id, |r| r.timeline.clone())
        .unwrap_or_default();
    DeploymentOutcome {
        deployment_id: id,
        status,
        error,
        timeline,
        target_requests_through_alias: to_target,
        requests_through_alias: through_alias,
        denials: run.denials.iter().map(|d| d.as_ref().clone()).collect(),
    }
}

impl Run<'_> {
    /// The first events: the deployment, and the alarm override it runs with.
    fn started(&mut self, group_alarms: &[String]) {
        let plan = self.plan;
        let spec = &plan.spec;
        self.event(
            Event::DeploymentStarted,
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
        if let Some(o) = &plan.alarm_override {
            self.event(Event::AlarmsOverridden, o.describe(group_alarms));
        }
    }

    async fn steps(&mut self) -> Result<(), Stop> {
        let spec = self.plan.spec.clone();
        self.may_shift_and_watch()?;
        if let Some(hook) = spec.hook_for("BeforeAllowTraffic") {
            HookRun::new(self, "BeforeAllowTraffic", hook).run().await?;
        }
        self.phase = "Shifting traffic".into();
        let shift_start = Instant::now();
        for step in self.plan.config.steps() {
            let at = shift_start + self.scaled(step.after);
            self.wait(Some(at), None).await?;
            self.shift(step.percent)?;
        }
        if let Some(hook) = spec.hook_for("AfterAllowTraffic") {
            HookRun::new(self, "AfterAllowTraffic", hook).run().await?;
        }
        Ok(())
    }

    /// The verdict: on success, the event and notification; on a stop, the rollback.
    fn conclude(
        &mut self,
        result: Result<(), Stop>,
    ) -> (DeploymentStatus, Option<(String, String)>) {
        let spec = &self.plan.spec;
        match result {
            Ok(()) => {
                let detail = format!(
                    "alias {} now points at version {}",
                    spec.alias, spec.target_version
                );
                let verdict = About::Verdict {
                    status: DeploymentStatus::Succeeded,
                };
                self.record(Event::DeploymentSucceeded, detail, Some(verdict));
                self.notify_deployment("DeploymentSuccess", "the deployment succeeded");
                (DeploymentStatus::Succeeded, None)
            }
            Err(stop) => {
                let verdict = About::Verdict {
                    status: stop.status,
                };
                self.record(
                    Event::Stopped(stop.code),
                    stop.message.clone(),
                    Some(verdict),
                );
                let event = match stop.status {
                    DeploymentStatus::Stopped => "DeploymentStop",
                    _ => "DeploymentFailure",
                };
                self.notify_deployment(event, &format!("{}: {}", stop.code, stop.message));
                if stop.roll_back {
                    self.roll_back();
                    self.notify_deployment(
                        "DeploymentRollback",
                        "the alias points at the current version again",
                    );
                }
                (
                    stop.status,
                    Some((stop.code.as_str().to_owned(), stop.message)),
                )
            }
        }
    }

    fn shift(&mut self, percent: u32) -> Result<(), Stop> {
        self.on_alias("lambda:UpdateAlias")?;
        let spec = &self.plan.spec;
        let (version, weights) = if percent >= 100 {
            (spec.target_version.clone(), BTreeMap::new())
        } else {
            (
                spec.current_version.clone(),
                BTreeMap::from([(spec.target_version.clone(), f64::from(percent) / 100.0)]),
            )
        };
        self.codedeploy
            .lambda
            .registry()
            .set_alias(
                &spec.function_name,
                &spec.alias,
                &version,
                weights,
                None,
                None,
            )
            .map_err(|e| {
                Stop::failed(
                    ErrorCode::InternalError,
                    format!("cannot update alias {}: {e:?}", spec.alias),
                )
            })?;
        self.percent = percent;
        let detail = format!(
            "{percent}% of {} to version {}",
            spec.alias, spec.target_version
        );
        self.record(
            Event::TrafficShifted,
            detail,
            Some(About::Weight { percent }),
        );
        Ok(())
    }

    fn roll_back(&mut self) {
        let spec = &self.plan.spec;
        match self.codedeploy.roll_back_alias(spec) {
            Ok(_) => {
                self.percent = 0;
                let detail = format!(
                    "alias {} points at version {} again",
                    spec.alias, spec.current_version
                );
                self.record(
                    Event::RolledBack,
                    detail,
                    Some(About::Weight { percent: 0 }),
                );
            }
            Err(e) => warn!(error = ?e, "rollback failed"),
        }
    }
}
