//! What a deployment would publish to SNS, from the template's own wiring: alarm state
//! changes (an alarm's `AlarmActions` and `OKActions`) and CodeDeploy's triggers
//! (`DeploymentPreference.TriggerConfigurations`). Nothing is sent anywhere: the timeline shows
//! each notification as a `NotificationPublished` event.
//!
//! Only changes between OK and ALARM during the deployment are notified. In AWS an alarm also
//! leaves INSUFFICIENT_DATA when it is created, long before a deployment; the stand-in's
//! alarms start with the deployment, so that first change is not rehearsed.

use std::collections::{BTreeMap, BTreeSet};

use crate::alarms::AlarmState;
use crate::error::Error;
use crate::sam::template::{AlarmProperties, Expr, TriggerConfiguration};

/// The trigger events of CodeDeploy's service model (`TriggerEventType`, botocore
/// `codedeploy/2014-10-06`). The instance events never happen in a Lambda deployment.
const TRIGGER_EVENTS: [&str; 10] = [
    "DeploymentStart",
    "DeploymentSuccess",
    "DeploymentFailure",
    "DeploymentStop",
    "DeploymentRollback",
    "DeploymentReady",
    "InstanceStart",
    "InstanceSuccess",
    "InstanceFailure",
    "InstanceReady",
];

/// A CodeDeploy trigger: a topic told of some deployment events.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Trigger {
    /// `TriggerName`.
    pub name: String,
    /// The topic, by its logical id (or its ARN when the template names one outside it).
    pub topic: String,
    /// `TriggerEvents`.
    pub events: Vec<String>,
}

/// Where an alarm's state changes go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AlarmTopics {
    /// `AlarmActions`: told when the alarm goes into ALARM.
    pub alarm: Vec<String>,
    /// `OKActions`: told when it comes back to OK.
    pub ok: Vec<String>,
}

/// The notifications of a deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Notifications {
    /// The deployment group's triggers.
    pub triggers: Vec<Trigger>,
    /// By alarm (logical id).
    pub alarms: BTreeMap<String, AlarmTopics>,
}

impl Notifications {
    /// Read the triggers of a deployment preference and the actions of its alarms; every
    /// topic they name must be an `AWS::SNS::Topic` of the template (or an SNS ARN).
    ///
    /// # Errors
    /// [`Error::Notification`] naming the trigger or alarm whose topic is nothing, or an
    /// event CodeDeploy does not know.
    pub fn from_template(
        triggers: &[TriggerConfiguration],
        alarms: &[(&str, &AlarmProperties)],
        topics: &BTreeSet<String>,
    ) -> Result<Notifications, Error> {
        let mut notifications = Notifications {
            triggers: triggers
                .iter()
                .enumerate()
                .map(|(i, trigger)| read_trigger(i, trigger, topics))
                .collect::<Result<_, _>>()?,
            alarms: BTreeMap::new(),
        };
        for &(alarm, props) in alarms {
            let actions = |key: &str, list: &[Expr]| {
                let place = format!("alarm {alarm}: {key}");
                list.iter()
                    .map(|action| topic_of(&place, Some(action), topics))
                    .collect::<Result<Vec<_>, _>>()
            };
            let topics = AlarmTopics {
                alarm: actions("AlarmActions", &props.alarm_actions)?,
                ok: actions("OKActions", &props.ok_actions)?,
            };
            if !(topics.alarm.is_empty() && topics.ok.is_empty()) {
                notifications.alarms.insert(alarm.to_owned(), topics);
            }
        }
        Ok(notifications)
    }

    /// `(topic, what)` for each notification of a deployment event, e.g. `DeploymentFailure`.
    pub(crate) fn of_deployment(&self, event: &str, detail: &str) -> Vec<(String, String)> {
        self.triggers
            .iter()
            .filter(|t| t.events.iter().any(|e| e == event))
            .map(|t| {
                (
                    t.topic.clone(),
                    format!("{event} (trigger {}): {detail}", t.name),
                )
            })
            .collect()
    }

    /// `(topic, what)` for each notification of an alarm's change into `state`.
    pub(crate) fn of_alarm(&self, alarm: &str, state: AlarmState) -> Vec<(String, String)> {
        let Some(topics) = self.alarms.get(alarm) else {
            return Vec::new();
        };
        let to = match state {
            AlarmState::Alarm => &topics.alarm,
            AlarmState::Ok => &topics.ok,
        };
        to.iter()
            .map(|topic| {
                (
                    topic.clone(),
                    format!("alarm {alarm} is {}", state.as_str()),
                )
            })
            .collect()
    }
}

/// One entry of `TriggerConfigurations`.
fn read_trigger(
    i: usize,
    trigger: &TriggerConfiguration,
    topics: &BTreeSet<String>,
) -> Result<Trigger, Error> {
    let place = format!("DeploymentPreference.TriggerConfigurations[{i}]");
    let topic = topic_of(
        &format!("{place}.TriggerTargetArn"),
        trigger.trigger_target_arn.as_ref(),
        topics,
    )?;
    if let Some(unknown) = trigger
        .trigger_events
        .iter()
        .find(|e| !TRIGGER_EVENTS.contains(&e.as_str()))
    {
        return Err(Error::Notification {
            place: format!("{place}.TriggerEvents"),
            why: format!(
                "`{unknown}` is no CodeDeploy trigger event (one of {})",
                TRIGGER_EVENTS.join(", ")
            ),
        });
    }
    Ok(Trigger {
        name: trigger
            .trigger_name
            .clone()
            .unwrap_or_else(|| "unnamed".into()),
        topic,
        events: trigger.trigger_events.clone(),
    })
}

/// The topic an action or target names: `Ref` of a topic of the template, or an SNS ARN.
fn topic_of(place: &str, value: Option<&Expr>, topics: &BTreeSet<String>) -> Result<String, Error> {
    let why = match value {
        Some(Expr::Ref(id)) if topics.contains(id) => return Ok(id.clone()),
        Some(Expr::Literal(arn)) if arn.starts_with("arn:") && arn.contains(":sns:") => {
            return Ok(arn.clone())
        }
        Some(Expr::Ref(id)) => {
            format!("refers to {id}, which is not an AWS::SNS::Topic of the template")
        }
        Some(Expr::Literal(text)) => {
            format!("is `{text}`, neither a Ref to a topic of the template nor an SNS topic ARN")
        }
        Some(other) => format!("is {other:?}, not a Ref to an AWS::SNS::Topic of the template"),
        None => "is missing".into(),
    };
    Err(Error::Notification {
        place: place.to_owned(),
        why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn triggers(value: serde_json::Value) -> Vec<TriggerConfiguration> {
        serde_json::from_value(value).unwrap()
    }

    fn alarm(value: serde_json::Value) -> AlarmProperties {
        serde_json::from_value(value).unwrap()
    }

    fn topics() -> BTreeSet<String> {
        BTreeSet::from(["Topic".to_owned()])
    }

    #[test]
    fn triggers_and_alarm_actions_name_their_topics() {
        let triggers = triggers(
            json!([{"TriggerName": "problems", "TriggerTargetArn": {"Ref": "Topic"},
            "TriggerEvents": ["DeploymentFailure", "DeploymentRollback"]}]),
        );
        let alarm =
            alarm(json!({"AlarmActions": [{"Ref": "Topic"}], "OKActions": [{"Ref": "Topic"}]}));
        let alarms = [("Errors", &alarm)];
        let n = Notifications::from_template(&triggers, &alarms, &topics()).unwrap();
        assert_eq!(
            n.of_deployment("DeploymentFailure", "hook failed")[0].0,
            "Topic"
        );
        assert!(n.of_deployment("DeploymentSuccess", "").is_empty());
        assert_eq!(
            n.of_alarm("Errors", AlarmState::Alarm),
            [("Topic".to_owned(), "alarm Errors is ALARM".to_owned())]
        );
    }

    #[test]
    fn wiring_that_points_at_nothing_is_an_error_naming_it() {
        let nowhere = triggers(
            json!([{"TriggerTargetArn": {"Ref": "Nowhere"}, "TriggerEvents": ["DeploymentFailure"]}]),
        );
        let err = Notifications::from_template(&nowhere, &[], &topics()).unwrap_err();
        assert!(
            err.to_string()
                .contains("TriggerConfigurations[0].TriggerTargetArn refers to Nowhere"),
            "{err}"
        );
        let missing = alarm(json!({"AlarmActions": [{"Ref": "Missing"}]}));
        let alarms = [("Errors", &missing)];
        let err = Notifications::from_template(&[], &alarms, &topics()).unwrap_err();
        assert!(
            err.to_string()
                .contains("alarm Errors: AlarmActions refers to Missing"),
            "{err}"
        );
        let bad_event = triggers(
            json!([{"TriggerTargetArn": {"Ref": "Topic"}, "TriggerEvents": ["DeploymentExploded"]}]),
        );
        let err = Notifications::from_template(&bad_event, &[], &topics()).unwrap_err();
        assert!(
            err.to_string()
                .contains("`DeploymentExploded` is no CodeDeploy trigger event"),
            "{err}"
        );
    }
}
