//! A deployment's timeline: what happened ([`Event`]), when, and what it was about
//! ([`About`]). The JSON of `--json` and the picture are drawn from it.

use std::fmt;

use serde::{Serialize, Serializer};

use super::spec::DeploymentStatus;
use crate::alarms::AlarmState;

/// What happened at a point of the timeline. In JSON, its name (`"HookSucceeded"`); a stop
/// is named by CodeDeploy's error code (`"ALARM_ACTIVE"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The deployment was created and began.
    DeploymentStarted,
    /// A hook's event was delivered.
    HookInvoked,
    /// A hook reported `Succeeded`.
    HookSucceeded,
    /// A hook reported `Failed`.
    HookFailed,
    /// A hook did not report in time.
    HookTimedOut,
    /// The alias's weights changed (a step of the shift).
    TrafficShifted,
    /// An alarm changed state.
    AlarmStateChanged,
    /// A round of a codedeploy-hooks watch.
    WatchRound,
    /// The watch stopped the deployment.
    WatchStopped,
    /// Something would have been published to SNS.
    NotificationPublished,
    /// The alias went back to the current version.
    RolledBack,
    /// The deployment succeeded.
    DeploymentSucceeded,
    /// A role's policies did not allow a call (refused, or let through with `--iam report`
    /// or as undecided).
    AccessDenied,
    /// `overrideAlarmConfiguration` changed the alarms watched (break-glass), or an alarm
    /// that could not be read was skipped under `ignorePollAlarmFailure`.
    AlarmsOverridden,
    /// The deployment stopped early, for this reason.
    Stopped(ErrorCode),
}

impl Event {
    /// The event's name, as in JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Event::DeploymentStarted => "DeploymentStarted",
            Event::HookInvoked => "HookInvoked",
            Event::HookSucceeded => "HookSucceeded",
            Event::HookFailed => "HookFailed",
            Event::HookTimedOut => "HookTimedOut",
            Event::TrafficShifted => "TrafficShifted",
            Event::AlarmStateChanged => "AlarmStateChanged",
            Event::WatchRound => "WatchRound",
            Event::WatchStopped => "WatchStopped",
            Event::NotificationPublished => "NotificationPublished",
            Event::RolledBack => "RolledBack",
            Event::DeploymentSucceeded => "DeploymentSucceeded",
            Event::AccessDenied => "AccessDenied",
            Event::AlarmsOverridden => "AlarmsOverridden",
            Event::Stopped(code) => code.as_str(),
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Why a deployment stopped: the codes of CodeDeploy's `ErrorInformation` a Lambda
/// deployment can end with (`ErrorCode`, botocore `codedeploy/2014-10-06`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// A hook reported `Failed`, or could not be invoked.
    HookExecutionFailure,
    /// An alarm of the deployment group went off.
    AlarmActive,
    /// StopDeployment.
    ManualStop,
    /// A hook did not report within an hour.
    Timeout,
    /// The stand-in itself could not go on (e.g. the alias could not be updated).
    InternalError,
    /// CodeDeploy's service role may not do what the deployment needs (invoke a hook,
    /// update the alias, read the alarms).
    IamRolePermissions,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 6] = [
        ErrorCode::HookExecutionFailure,
        ErrorCode::AlarmActive,
        ErrorCode::ManualStop,
        ErrorCode::Timeout,
        ErrorCode::InternalError,
        ErrorCode::IamRolePermissions,
    ];

    /// The code as CodeDeploy writes it, e.g. `HOOK_EXECUTION_FAILURE`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::HookExecutionFailure => "HOOK_EXECUTION_FAILURE",
            ErrorCode::AlarmActive => "ALARM_ACTIVE",
            ErrorCode::ManualStop => "MANUAL_STOP",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::IamRolePermissions => "IAM_ROLE_PERMISSIONS",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
    /// What happened.
    pub event: Event,
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
    /// A call a role's policies did not allow.
    Denial {
        /// The caller's session ARN.
        principal: String,
        /// The action.
        action: String,
        /// The resource it was checked on.
        resource: String,
        /// Whether the call was refused (else let through: `--iam report`, or undecided).
        enforced: bool,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(about: About) -> serde_json::Value {
        let event = TimelineEvent {
            real_ms: 10,
            deployment_seconds: 0.6,
            event: Event::DeploymentStarted,
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
        assert_eq!(hook["event"], "DeploymentStarted", "an event is its name");
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

    #[test]
    fn a_stop_is_named_by_codedeploys_error_code() {
        let stopped = Event::Stopped(ErrorCode::HookExecutionFailure);
        assert_eq!(
            serde_json::to_value(stopped).unwrap(),
            "HOOK_EXECUTION_FAILURE"
        );
        assert_eq!(stopped.to_string(), "HOOK_EXECUTION_FAILURE");
        let names: std::collections::BTreeSet<_> =
            ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len(), "each code its own name");
    }
}
