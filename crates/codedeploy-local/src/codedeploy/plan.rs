//! What a deployment is given (its plan) and what it gives back (its timeline, progress and
//! outcome).

use std::time::Duration;

use serde::Serialize;

use super::config::TrafficConfig;
use super::notifications::Notifications;
use super::spec::{DeploymentSpec, DeploymentStatus};
use super::timeline::TimelineEvent;
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
    /// The alarms to watch (the group's; see `alarm_override`).
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
    /// CodeDeploy's service role: its invocations of the hooks, its updates of the alias,
    /// its reading of the alarms and its notifications are checked against its policies.
    /// Without one (a deployment group created through the API), they are not checked.
    pub service_role: Option<std::sync::Arc<crate::iam::Role>>,
    /// The calls made on the deployer's behalf that its policy does not allow (the
    /// rehearsal's `deployer_policy`): with any refused, the stack update fails before
    /// CodeDeploy starts.
    pub deployer_denials: Vec<crate::iam::Denial>,
    /// `CreateDeployment`'s `overrideAlarmConfiguration`: the break-glass of a deployment
    /// that must go ahead past its group's alarms. Recorded on the timeline.
    pub alarm_override: Option<AlarmOverride>,
}

/// `overrideAlarmConfiguration` (botocore `codedeploy` model, `AlarmConfiguration`): it
/// replaces the deployment group's alarm configuration for one deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AlarmOverride {
    /// `false`: no alarm is watched.
    #[serde(default)]
    pub enabled: bool,
    /// Go on when an alarm's state cannot be read (the service role may not
    /// `cloudwatch:DescribeAlarms` it), instead of stopping.
    #[serde(default)]
    pub ignore_poll_alarm_failure: bool,
    /// The alarms watched instead of the group's (by name); none: the group's.
    #[serde(default, with = "alarm_names")]
    pub alarms: Vec<String>,
}

impl AlarmOverride {
    /// Alarms off: the deployment watches none.
    pub fn disabled() -> Self {
        AlarmOverride::default()
    }

    /// Only these alarms are watched.
    pub fn only(alarms: Vec<String>) -> Self {
        AlarmOverride {
            enabled: true,
            alarms,
            ..AlarmOverride::default()
        }
    }

    /// What it changes, for the timeline: the audit trail of a break-glass release.
    pub(crate) fn describe(&self, watched: &[String]) -> String {
        let mut out = if !self.enabled {
            format!(
                "overrideAlarmConfiguration: alarms off; not watched: {}",
                list(watched)
            )
        } else if self.alarms.is_empty() {
            format!(
                "overrideAlarmConfiguration: the group's alarms ({})",
                list(watched)
            )
        } else {
            format!(
                "overrideAlarmConfiguration: only {} of the group's {}",
                list(&self.alarms),
                list(watched)
            )
        };
        if self.ignore_poll_alarm_failure {
            out.push_str("; ignorePollAlarmFailure: an alarm that cannot be read is skipped");
        }
        out
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// The model's `AlarmList`: `[{"name": NAME}]`.
mod alarm_names {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Named {
        name: String,
    }

    pub(super) fn serialize<S: Serializer>(names: &[String], s: S) -> Result<S::Ok, S::Error> {
        let named: Vec<Named> = names.iter().map(|n| Named { name: n.clone() }).collect();
        named.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        let named: Option<Vec<Named>> = Option::deserialize(d)?;
        Ok(named
            .unwrap_or_default()
            .into_iter()
            .map(|n| n.name)
            .collect())
    }
}

impl DeploymentPlan {
    /// The plan as it runs: the override applied to the alarms watched.
    pub(crate) fn overridden(&self) -> DeploymentPlan {
        let mut plan = self.clone();
        if let Some(o) = &self.alarm_override {
            if !o.enabled {
                plan.alarms.clear();
            } else if !o.alarms.is_empty() {
                plan.alarms.retain(|a| o.alarms.contains(&a.name));
            }
        }
        plan
    }

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
            service_role: None,
            deployer_denials: Vec::new(),
            alarm_override: None,
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
    /// The calls the roles' policies did not allow, first of each kind, in order.
    pub denials: Vec<crate::iam::Denial>,
}
