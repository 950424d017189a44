//! One watcher invocation: claim its generation of the lease, run rounds while the
//! deployment is in progress, stop it when rounds keep failing, and hand over to a new
//! invocation before the Lambda deadline.

use std::time::Duration;

use tokio::time::Instant;
use tracing::{error, info, warn};

use super::lease::{self, State};
use super::start::{due_ms, now_ms, Home};
use super::{is_over, real, Watch, WatchEvent, MAX_GENERATIONS};
use crate::call::{Call, CallLog, CallPolicy};
use crate::clients::Clients;
use crate::deployment::Deployment;
use crate::error::Error;
use crate::runner::{self, Plan};
use crate::summary::{CheckReport, Outcome, Status, Summary, WatchEnd, WatchReport};
use crate::target::Target;

/// What the watcher needs from the hook.
pub(crate) struct Setup<'a> {
    pub(crate) watch: &'a Watch,
    pub(crate) clients: &'a Clients,
    pub(crate) policy: &'a CallPolicy,
    pub(crate) function: &'a str,
    pub(crate) namespace: &'a str,
    pub(crate) time_scale: f64,
    /// Time kept back from the Lambda deadline (the hook's reserve).
    pub(crate) reserve: Duration,
}

/// Watch `deployment` as the generation `event` names, until the deployment ends, the
/// watch stops it, or it is time to hand over.
pub(crate) async fn watch(
    setup: &Setup<'_>,
    deployment: Deployment,
    event: &WatchEvent,
    request_id: &str,
    lambda_deadline: Option<Instant>,
) -> Summary {
    let started = Instant::now();
    let log = CallLog::default();
    let mut watcher = Watcher {
        setup,
        home: Home {
            clients: setup.clients,
            policy: setup.policy,
            log: &log,
            function: setup.function,
            deadline: lambda_deadline.map(|d| d - setup.reserve),
        },
        target: Target::with_calls(
            deployment.clone(),
            setup.clients.clone(),
            *setup.policy,
            log.clone(),
        ),
        event,
        me: request_id,
        interval: real(setup.watch.interval, setup.time_scale),
        report: WatchReport::new(event.generation),
        last_round: Vec::new(),
        last_took: Duration::ZERO,
    };
    let (end, reason) = watcher.run(lambda_deadline).await;
    let stopped = end == WatchEnd::StoppedDeployment;
    let report = WatchReport {
        end,
        ..watcher.report
    };
    let mut summary = Summary::of_watch(deployment, watcher.last_round, report, started);
    summary.status = if stopped {
        Status::Failed
    } else {
        Status::Succeeded
    };
    summary.reason = reason;
    summary.retried_calls = log.snapshot();
    summary
}

struct Watcher<'a> {
    setup: &'a Setup<'a>,
    home: Home<'a>,
    target: Target,
    event: &'a WatchEvent,
    me: &'a str,
    interval: Duration,
    report: WatchReport,
    last_round: Vec<CheckReport>,
    /// How long the last round took, in real time.
    last_took: Duration,
}

/// How a round went.
enum Round {
    Passed,
    /// A check failed; the reason names the round and the check.
    Failed(String),
    /// Cut short by the Lambda deadline: says nothing of the new version.
    Cut,
}

/// Why a watcher could not renew its lease, and so stops watching.
#[derive(Debug, thiserror::Error)]
enum LeaseLost {
    #[error(transparent)]
    Refused(lease::Refusal),
    #[error("could not renew the lease: {0}")]
    Renew(#[source] Error),
}

impl Watcher<'_> {
    /// Claim this generation of the lease: the end of the invocation when it cannot.
    async fn claim(&mut self) -> Result<lease::Record, (WatchEnd, Option<String>)> {
        let (d, g) = (&self.event.deployment_id, self.event.generation);
        let due = self.due();
        let claimed = self
            .home
            .lease(&self.event.lease)
            .update(|r| lease::claim(r, d, g, self.me, due))
            .await;
        match claimed {
            Ok(Ok(record)) => {
                info!(generation = g, rounds = record.rounds, "watching the shift");
                self.report.rounds = record.rounds;
                Ok(record)
            }
            Ok(Err(reason)) => {
                warn!(%reason, "not watching");
                Err((WatchEnd::Refused, Some(reason.to_string())))
            }
            Err(err) => Err(self.lost(format!("could not claim the lease: {err}"))),
        }
    }

    async fn run(&mut self, lambda_deadline: Option<Instant>) -> (WatchEnd, Option<String>) {
        let mut failing = match self.claim().await {
            Ok(record) => record.failing,
            Err(end) => return end,
        };
        let mut first = true;
        loop {
            let tick = Instant::now();
            if let Some(deadline) = lambda_deadline {
                let needed = self.interval * 2 + self.last_took + self.setup.reserve;
                let left = deadline.saturating_duration_since(tick);
                if left < needed && first {
                    // Handing over at once would only start a chain of empty invocations.
                    return self.lost(format!(
                        "the function's timeout leaves {left:?}, less than two round intervals and the reserve ({needed:?}): raise it"
                    ));
                }
                if left < needed {
                    return self.hand_over().await;
                }
            }
            match self.in_progress().await {
                Ok(true) => {}
                Ok(false) => {
                    return self
                        .finish(State::Ended, WatchEnd::DeploymentEnded, None)
                        .await
                }
                Err(err) => {
                    error!(error = %err, "could not read the deployment's status; trying again next round")
                }
            }
            if self.shifting().await {
                match self.round(tick, lambda_deadline).await {
                    Round::Passed => failing = 0,
                    Round::Failed(reason) => {
                        failing += 1;
                        if failing >= self.setup.watch.failures_to_stop {
                            return self.stop(reason).await;
                        }
                    }
                    Round::Cut => {}
                }
            }
            if let Err(lost) = self.renew(failing).await {
                return self.lost(lost.to_string());
            }
            first = false;
            tokio::time::sleep_until(tick + self.interval).await;
        }
    }

    /// One round: the checks, each under its own timeout, all under the Lambda deadline
    /// minus the reserve. A round longer than the interval delays the next.
    async fn round(&mut self, tick: Instant, lambda_deadline: Option<Instant>) -> Round {
        self.report.rounds += 1;
        let watch = self.setup.watch;
        let plan = Plan {
            filter: None,
            concurrency: watch.checks.len().max(1),
            deadline: lambda_deadline.map(|d| d - self.setup.reserve),
        };
        let reports = runner::run(&watch.checks, &self.target, &plan).await;
        self.last_took = tick.elapsed();
        let round = self.report.rounds;
        let (verdict, reason) = if reports.iter().any(|r| r.outcome == Outcome::Cancelled) {
            // Cut by this invocation's deadline, not by the new version: not counted.
            warn!(
                round,
                "watch round cut short by the Lambda deadline; not counted"
            );
            (Round::Cut, None)
        } else if let Some(first) = reports.iter().find(|r| r.fails_hook()) {
            let reason = format!(
                "round {round}: check `{}` failed: {}",
                first.name,
                first.message.as_deref().unwrap_or("-")
            );
            self.report.failed_rounds += 1;
            warn!(round, reason = %reason, "watch round failed");
            (Round::Failed(reason.clone()), Some(reason))
        } else {
            info!(round, "watch round passed");
            (Round::Passed, None)
        };
        let label = match verdict {
            Round::Passed => "passed",
            Round::Failed(_) => "failed",
            Round::Cut => "cut",
        };
        let record = self.round_record(&reports, self.last_took, label, reason.as_deref());
        println!("{record}");
        self.last_round = reports;
        verdict
    }

    /// When the lease must be renewed by: two intervals, slack, and twice the last round's
    /// real duration (checks run in real time, even on a rehearsal's fast clock).
    fn due(&self) -> u64 {
        due_ms(self.setup.watch.interval, self.setup.time_scale)
            + 2 * self.last_took.as_millis() as u64
    }

    /// Whether the deployment is still in progress (`GetDeployment`).
    async fn in_progress(&self) -> Result<bool, Error> {
        let operation = "codedeploy:GetDeployment";
        let clients = self.setup.clients;
        let out = self
            .call(operation)
            .run(|| {
                let sent = clients
                    .codedeploy
                    .get_deployment()
                    .deployment_id(&self.event.deployment_id)
                    .send();
                async move { sent.await.map_err(|e| Error::aws(operation, e)) }
            })
            .await?;
        Ok(!is_over(out.deployment_info().and_then(|i| i.status())))
    }

    /// Whether the alias sends the target version any traffic yet (rounds wait until then).
    async fn shifting(&self) -> bool {
        let target = &self.target.deployment().target_version;
        match self.target.read_alias().await {
            Ok(alias) => {
                alias.function_version() == Some(target.as_str())
                    || alias
                        .routing_config()
                        .and_then(|r| r.additional_version_weights())
                        .is_some_and(|w| w.get(target).is_some_and(|weight| *weight > 0.0))
            }
            Err(err) => {
                // Unknown: run the round anyway rather than skip a check of the shift.
                warn!(error = %err, "could not read the alias; running the round anyway");
                true
            }
        }
    }

    /// `StopDeployment` with rollback, then mark the lease stopped.
    async fn stop(&mut self, reason: String) -> (WatchEnd, Option<String>) {
        error!(%reason, "stopping the deployment and rolling it back");
        // Printed first: whoever reads the log sees why before the deployment stops.
        let record = self.round_record(&self.last_round, Duration::ZERO, "stopping", Some(&reason));
        println!("{record}");
        let operation = "codedeploy:StopDeployment";
        let clients = self.setup.clients;
        let stopped = self
            .call(operation)
            .run(|| {
                let sent = clients
                    .codedeploy
                    .stop_deployment()
                    .deployment_id(&self.event.deployment_id)
                    .auto_rollback_enabled(true)
                    .send();
                async move { sent.await.map_err(|e| Error::aws(operation, e)) }
            })
            .await;
        if let Err(err) = stopped {
            // The lease is not renewed either: the PostTraffic hook fails the deployment.
            error!(error = %err, "could not stop the deployment; its PostTraffic hook will find the watch gone");
            return self.lost(format!("{reason}; StopDeployment failed: {err}"));
        }
        println!(
            "{}",
            self.round_record(&self.last_round, Duration::ZERO, "stopped", Some(&reason))
        );
        self.finish(State::Stopped, WatchEnd::StoppedDeployment, Some(reason))
            .await
    }

    async fn renew(&self, failing: u32) -> Result<(), LeaseLost> {
        let due = self.due();
        let rounds = self.report.rounds;
        let (d, g) = (&self.event.deployment_id, self.event.generation);
        let renewed = self
            .home
            .lease(&self.event.lease)
            .update(|r| {
                lease::held(r, d, g, self.me, |r| {
                    r.rounds = rounds;
                    r.failing = failing;
                    r.due_ms = due;
                })
            })
            .await;
        match renewed {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(refusal)) => Err(LeaseLost::Refused(refusal)),
            Err(err) => Err(LeaseLost::Renew(err)),
        }
    }

    /// Open the next generation of the lease and invoke it, before this invocation's time
    /// runs out.
    async fn hand_over(&mut self) -> (WatchEnd, Option<String>) {
        let (d, g) = (&self.event.deployment_id, self.event.generation);
        if g >= MAX_GENERATIONS {
            return self.lost(format!(
                "{MAX_GENERATIONS} watcher invocations in a row: not handing over again"
            ));
        }
        let due = self.due();
        let opened = self
            .home
            .lease(&self.event.lease)
            .update(|r| {
                lease::held(r, d, g, self.me, |r| {
                    r.generation = g + 1;
                    r.owner = None;
                    r.due_ms = due;
                })
            })
            .await;
        let next = WatchEvent {
            deployment_id: d.clone(),
            generation: g + 1,
            lease: self.event.lease.clone(),
        };
        let result = match opened {
            Ok(Ok(_)) => self.home.invoke_watcher(&next).await,
            Ok(Err(refusal)) => return self.lost(refusal.to_string()),
            Err(err) => Err(err),
        };
        match result {
            Ok(()) => {
                info!(
                    next_generation = g + 1,
                    "handed the watch over to a new invocation"
                );
                (WatchEnd::HandedOver, None)
            }
            Err(err) => self.lost(format!("could not hand over: {err}")),
        }
    }

    async fn finish(
        &self,
        state: State,
        end: WatchEnd,
        reason: Option<String>,
    ) -> (WatchEnd, Option<String>) {
        let (d, g) = (&self.event.deployment_id, self.event.generation);
        let rounds = self.report.rounds;
        let lease = self.home.lease(&self.event.lease);
        let marked = lease
            .update(|r| {
                lease::held(r, d, g, self.me, |r| {
                    r.state = state;
                    r.rounds = rounds;
                    r.due_ms = now_ms();
                })
            })
            .await;
        if let Err(err) = marked {
            warn!(error = %err, "could not mark the lease");
        }
        info!(end = ?end, rounds, "the watch ends");
        (end, reason)
    }

    fn lost(&self, reason: String) -> (WatchEnd, Option<String>) {
        error!(%reason, "the watch ends early; the PostTraffic hook will see its lease lapse");
        (WatchEnd::Lost, Some(reason))
    }

    fn call(&self, operation: &'static str) -> Call<'_> {
        Call::control(operation, self.setup.policy, self.home.log, "the watch")
            .until(self.home.deadline)
    }

    /// One line of EMF: the round as metrics (`WatchRounds`, `WatchRoundsFailed`) and its
    /// details as properties. `codedeploy-local` picks these lines out for its timeline.
    fn round_record(
        &self,
        reports: &[CheckReport],
        took: Duration,
        verdict: &str,
        failure: Option<&str>,
    ) -> String {
        let d = self.target.deployment();
        #[allow(unused_mut)] // without the canary feature
        let mut record = serde_json::json!({
            "_aws": {
                "Timestamp": now_ms(),
                "CloudWatchMetrics": [{
                    "Namespace": self.setup.namespace,
                    "Dimensions": [["FunctionName", "Phase"]],
                    "Metrics": [
                        {"Name": "WatchRounds", "Unit": "Count"},
                        {"Name": "WatchRoundsFailed", "Unit": "Count"},
                        {"Name": "WatchRoundDuration", "Unit": "Milliseconds"}
                    ]
                }]
            },
            "codedeploy-hooks": "watch-round",
            "FunctionName": d.function_name,
            "Phase": "Watch",
            "DeploymentId": self.event.deployment_id,
            "Generation": self.event.generation,
            "Round": self.report.rounds,
            "WatchRounds": 1,
            "WatchRoundsFailed": u8::from(failure.is_some()),
            "WatchRoundDuration": took.as_secs_f64() * 1000.0,
            "Verdict": verdict,
            "Reason": failure.map(|r| crate::invocation::shorten(r).into_owned()),
            "Checks": reports,
        });
        #[cfg(feature = "canary")]
        {
            let analyses = self.target.take_analyses();
            if !analyses.is_empty() {
                record["Canary"] = analyses.iter().map(|r| r.emf_properties()).collect();
            }
        }
        record.to_string()
    }
}
