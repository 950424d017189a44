//! CodeDeploy's output shapes, from the domain's records.

use std::time::SystemTime;

use serde_json::{json, Value};

use crate::codedeploy::deployments::Record;
use crate::codedeploy::spec::RevisionForm;

/// `deploymentInfo` as `GetDeployment` returns it. The revision has only its sha256: the
/// service model says `appSpecContent.content` is always null here, and hooks must read it
/// with `GetApplicationRevision`.
pub(crate) fn deployment_info(record: &Record) -> Value {
    let seconds = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default()
    };
    let mut info = json!({
        "applicationName": record.spec.application_name,
        "deploymentGroupName": record.spec.group_name,
        "deploymentConfigName": record.spec.config_name,
        "deploymentId": record.id,
        "status": record.status,
        "createTime": seconds(record.created),
        "startTime": seconds(record.created),
        "creator": "user",
        "computePlatform": "Lambda",
        "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        "revision": revision_location(record.spec.revision_form, &record.sha256),
    });
    if let Some(done) = record.completed {
        info["completeTime"] = json!(seconds(done));
    }
    if let Some((code, message)) = &record.error {
        info["errorInformation"] = json!({"code": code, "message": message});
    }
    if let Some(o) = record
        .run
        .as_ref()
        .and_then(|r| r.plan.alarm_override.as_ref())
    {
        info["overrideAlarmConfiguration"] = json!(o);
    }
    info
}

/// A revision location with only its sha256.
fn revision_location(form: RevisionForm, sha256: &str) -> Value {
    match form {
        RevisionForm::String => json!({"revisionType": "String", "string": {"sha256": sha256}}),
        RevisionForm::AppSpecContent => {
            json!({"revisionType": "AppSpecContent", "appSpecContent": {"sha256": sha256}})
        }
    }
}

/// A revision with its content, as `GetApplicationRevision` returns it.
pub(crate) fn revision_with_content(form: RevisionForm, content: &str, sha256: &str) -> Value {
    let raw = json!({"content": content, "sha256": sha256});
    match form {
        RevisionForm::String => json!({"revisionType": "String", "string": raw}),
        RevisionForm::AppSpecContent => {
            json!({"revisionType": "AppSpecContent", "appSpecContent": raw})
        }
    }
}
