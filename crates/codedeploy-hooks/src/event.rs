//! The lifecycle event CodeDeploy sends a hook, checked before anything else uses it.

use serde_json::Value;

use crate::error::Error;

/// The longest id accepted. Neither the service model (botocore `codedeploy/2014-10-06`:
/// `DeploymentId` and `LifecycleEventHookExecutionId` are plain strings) nor the API
/// reference bounds them; CodeDeploy's own are about 11 and 300 bytes. Anything far longer
/// did not come from CodeDeploy, and is refused before it is copied into every log line.
pub(crate) const MAX_ID_BYTES: usize = 2048;

/// How much of an id a log line shows.
const LOGGED_ID_CHARS: usize = 96;

/// A validated lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lifecycle {
    pub(crate) deployment_id: String,
    pub(crate) execution_id: String,
}

/// Check the event's shape: an object with two non-empty string ids of bounded length.
pub(crate) fn parse(payload: Value) -> Result<Lifecycle, Error> {
    let malformed = |reason: String| Error::MalformedEvent { reason };
    let Value::Object(mut fields) = payload else {
        return Err(malformed(format!(
            "expected a JSON object, got {}",
            kind_of(&payload)
        )));
    };
    let mut id = |name: &str| -> Result<String, Error> {
        match fields.remove(name) {
            None | Some(Value::Null) => Err(malformed(format!("{name} is missing"))),
            Some(Value::String(id)) if id.trim().is_empty() => {
                Err(malformed(format!("{name} is empty")))
            }
            Some(Value::String(id)) if id.len() > MAX_ID_BYTES => Err(malformed(format!(
                "{name} is {} bytes long, more than the {MAX_ID_BYTES} any CodeDeploy id needs (it starts `{}`)",
                id.len(),
                for_log(&id)
            ))),
            Some(Value::String(id)) => Ok(id),
            Some(other) => Err(malformed(format!(
                "{name} is {}, not a string",
                kind_of(&other)
            ))),
        }
    };
    Ok(Lifecycle {
        deployment_id: id("DeploymentId")?,
        execution_id: id("LifecycleEventHookExecutionId")?,
    })
}

/// An id cut to a length fit for a log line.
pub(crate) fn for_log(id: &str) -> String {
    match id.char_indices().nth(LOGGED_ID_CHARS) {
        Some((end, _)) => format!("{}…", &id[..end]),
        None => id.to_owned(),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_event_of_codedeploy_parses() {
        let event = json!({"DeploymentId": "d-AB12CD34E", "LifecycleEventHookExecutionId": "eyJ"});
        assert_eq!(
            parse(event).unwrap(),
            Lifecycle {
                deployment_id: "d-AB12CD34E".into(),
                execution_id: "eyJ".into()
            }
        );
    }

    #[test]
    fn ids_that_are_not_strings_are_named() {
        let err = parse(json!({"DeploymentId": 7, "LifecycleEventHookExecutionId": "e"}))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("DeploymentId is a number, not a string"),
            "{err}"
        );
        let err = parse(json!({"DeploymentId": "d", "LifecycleEventHookExecutionId": ["e"]}))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("LifecycleEventHookExecutionId is an array"),
            "{err}"
        );
        assert!(parse(json!({"DeploymentId": "d"}))
            .unwrap_err()
            .to_string()
            .contains("missing"));
        assert!(parse(json!(["d"]))
            .unwrap_err()
            .to_string()
            .contains("got an array"));
    }

    #[test]
    fn an_absurdly_long_id_is_refused_and_never_copied_whole() {
        let long = "x".repeat(1 << 20);
        let err = parse(json!({"DeploymentId": long, "LifecycleEventHookExecutionId": "e"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("1048576 bytes long"), "{err}");
        assert!(
            err.len() < 1024,
            "the error stays short: {} bytes",
            err.len()
        );
        assert!(for_log(&"é".repeat(500)).chars().count() <= LOGGED_ID_CHARS + 1);
    }
}
