//! What a deployment is given (its plan) and what it gives back (its timeline, progress and
//! outcome).

use std::time::Duration;

use serde::Serialize;

use super::config::TrafficConfig;
use super::deployments::{DeploymentSpec, DeploymentStatus};
use super::notifications::Notifications;
use crate::alarms::{Alarm, AlarmState};

/// How long CodeDeploy waits for a hook's report: one hour (scaled).
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(3600);

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
    /// What the event is about, in fields a program can read (the picture of the
    /// deployment is drawn from these); `None` for events only told in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub about: Option<About>,
}

/// What a timeline event is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
// snake_case, as the rest of the outcome's JSON (`deployment_seconds`, ...).
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum About {
    /// The new version's share of the alias's traffic is now `percent` (a step of the
    /// shift, or 0 after the rollback).
    Weight {
        /// Percent of the alias's traffic to the new version.
        percent: u32,
    },
    /// An alarm changed state (every alarm starts `Ok`).
    Alarm {
        /// The alarm's name.
        alarm: String,
        /// Its new state.
        state: AlarmState,
    },
    /// A step of a hook execution.
    Hook {
        /// `BeforeAllowTraffic` or `AfterAllowTraffic`.
        lifecycle_event: String,
        /// The hook function.
        function: String,
        /// Invoked, or how it ended.
        step: HookStep,
    },
    /// A round of a codedeploy-hooks watch over the shift.
    WatchRound {
        /// The round's number.
        round: u64,
        /// `passed`, `failed`, `stopping`, ... as the watch printed it.
        verdict: String,
        /// The verdict of the round's canary analysis (`Pass`, `Fail`, `Inconclusive`), when
        /// the watch analyses.
        #[serde(skip_serializing_if = "Option::is_none")]
        analysis: Option<String>,
    },
    /// The deployment ended.
    Verdict {
        /// How it ended.
        status: DeploymentStatus,
    },
}

/// A step of a hook execution on the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum HookStep {
    /// Its event was delivered (again, for a duplicate delivery).
    Invoked,
    /// It reported `Succeeded`.
    Succeeded,
    /// It reported `Failed`.
    Failed,
    /// It did not report in time.
    TimedOut,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(about: About) -> serde_json::Value {
        let event = TimelineEvent {
            real_ms: 10,
            deployment_seconds: 0.6,
            event: "Event".into(),
            detail: "detail".into(),
            about: Some(about),
        };
        serde_json::to_value(event).unwrap()
    }

    #[test]
    fn what_an_event_is_about_reads_as_the_rest_of_the_outcome_json() {
        let hook = event(About::Hook {
            lifecycle_event: "BeforeAllowTraffic".into(),
            function: "pre".into(),
            step: HookStep::Invoked,
        });
        assert_eq!(hook["deployment_seconds"], 0.6);
        assert_eq!(
            hook["about"],
            json!({"kind": "hook", "lifecycle_event": "BeforeAllowTraffic", "function": "pre", "step": "Invoked"})
        );
        let alarm = event(About::Alarm {
            alarm: "Errors".into(),
            state: AlarmState::Alarm,
        });
        assert_eq!(
            alarm["about"],
            json!({"kind": "alarm", "alarm": "Errors", "state": "ALARM"})
        );
        let round = event(About::WatchRound {
            round: 3,
            verdict: "passed".into(),
            analysis: Some("Pass".into()),
        });
        assert_eq!(
            round["about"],
            json!({"kind": "watch_round", "round": 3, "verdict": "passed", "analysis": "Pass"})
        );
    }
}
