//! What a deployment would publish to SNS, from the template's own wiring: alarm state
//! changes (an alarm's `AlarmActions` and `OKActions`) and CodeDeploy's triggers
//! (`DeploymentPreference.TriggerConfigurations`). Nothing is sent anywhere: the timeline shows
//! each notification as a `NotificationPublished` event.
//!
//! Only changes between OK and ALARM during the deployment are notified. In AWS an alarm also
//! leaves INSUFFICIENT_DATA when it is created, long before a deployment; the stand-in's
//! alarms start with the deployment, so that first change is not rehearsed.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::alarms::AlarmState;
use crate::error::Error;

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
        triggers: Option<&Value>,
        alarms: &[(&str, &Value)],
        topics: &BTreeSet<String>,
    ) -> Result<Notifications, Error> {
        let triggers = triggers.and_then(Value::as_array).into_iter().flatten();
        let mut notifications = Notifications {
            triggers: triggers
                .enumerate()
                .map(|(i, trigger)| read_trigger(i, trigger, topics))
                .collect::<Result<_, _>>()?,
            alarms: BTreeMap::new(),
        };
        for &(alarm, props) in alarms {
            let actions = |key: &str| read_actions(alarm, props, key, topics);
            let topics = AlarmTopics {
                alarm: actions("AlarmActions")?,
                ok: actions("OKActions")?,
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
fn read_trigger(i: usize, trigger: &Value, topics: &BTreeSet<String>) -> Result<Trigger, Error> {
    let place = format!("DeploymentPreference.TriggerConfigurations[{i}]");
    let topic =
        topic_of(trigger.get("TriggerTargetArn"), topics).map_err(|why| Error::Notification {
            place: format!("{place}.TriggerTargetArn"),
            why,
        })?;
    let events: Vec<String> = trigger
        .get("TriggerEvents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    if let Some(unknown) = events
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
    let name = trigger
        .get("TriggerName")
        .and_then(Value::as_str)
        .unwrap_or("unnamed");
    Ok(Trigger {
        name: name.to_owned(),
        topic,
        events,
    })
}

/// The topics of an alarm's `AlarmActions` or `OKActions`.
fn read_actions(
    alarm: &str,
    props: &Value,
    key: &str,
    topics: &BTreeSet<String>,
) -> Result<Vec<String>, Error> {
    props
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|action| {
            topic_of(Some(action), topics).map_err(|why| Error::Notification {
                place: format!("alarm {alarm}: {key}"),
                why,
            })
        })
        .collect()
}

/// The topic an action or target names: `Ref` of a topic of the template, or an SNS ARN.
fn topic_of(value: Option<&Value>, topics: &BTreeSet<String>) -> Result<String, String> {
    match value {
        Some(Value::Object(o)) => match o.get("Ref").and_then(Value::as_str) {
            Some(id) if topics.contains(id) => Ok(id.to_owned()),
            Some(id) => Err(format!(
                "refers to {id}, which is not an AWS::SNS::Topic of the template"
            )),
            None => Err(format!(
                "is {value:?}, not a Ref to an AWS::SNS::Topic of the template",
                value = Value::Object(o.clone())
            )),
        },
        Some(Value::String(arn)) if arn.starts_with("arn:") && arn.contains(":sns:") => {
            Ok(arn.clone())
        }
        Some(other) => Err(format!(
            "is `{other}`, neither a Ref to a topic of the template nor an SNS topic ARN"
        )),
        None => Err("is missing".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn topics() -> BTreeSet<String> {
        BTreeSet::from(["Topic".to_owned()])
    }

    #[test]
    fn triggers_and_alarm_actions_name_their_topics() {
        let triggers = json!([{"TriggerName": "problems", "TriggerTargetArn": {"Ref": "Topic"},
            "TriggerEvents": ["DeploymentFailure", "DeploymentRollback"]}]);
        let alarm = json!({"AlarmActions": [{"Ref": "Topic"}], "OKActions": [{"Ref": "Topic"}]});
        let alarms = [("Errors", &alarm)];
        let n = Notifications::from_template(Some(&triggers), &alarms, &topics()).unwrap();
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
        let triggers = json!([{"TriggerTargetArn": {"Ref": "Nowhere"}, "TriggerEvents": ["DeploymentFailure"]}]);
        let err = Notifications::from_template(Some(&triggers), &[], &topics()).unwrap_err();
        assert!(
            err.to_string()
                .contains("TriggerConfigurations[0].TriggerTargetArn refers to Nowhere"),
            "{err}"
        );
        let alarm = json!({"AlarmActions": [{"Ref": "Missing"}]});
        let alarms = [("Errors", &alarm)];
        let err = Notifications::from_template(None, &alarms, &topics()).unwrap_err();
        assert!(
            err.to_string()
                .contains("alarm Errors: AlarmActions refers to Missing"),
            "{err}"
        );
        let bad_event = json!([{"TriggerTargetArn": {"Ref": "Topic"}, "TriggerEvents": ["DeploymentExploded"]}]);
        let err = Notifications::from_template(Some(&bad_event), &[], &topics()).unwrap_err();
        assert!(
            err.to_string()
                .contains("`DeploymentExploded` is no CodeDeploy trigger event"),
            "{err}"
        );
    }
}
