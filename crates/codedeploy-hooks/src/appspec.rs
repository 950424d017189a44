//! Reading the AppSpec content of a Lambda deployment (JSON or YAML, keys in any case), as
//! `GetDeployment` or `GetApplicationRevision` return it.
//!
//! ```
//! use codedeploy_hooks::appspec::AppSpec;
//!
//! let spec = AppSpec::parse(r#"{"version": 0.0, "Resources": [{"Fn": {"Type": "AWS::Lambda::Function",
//!     "Properties": {"Name": "hello", "Alias": "live", "CurrentVersion": "3", "TargetVersion": "4"}}}]}"#)?;
//! assert_eq!(spec.target_version, "4");
//! # Ok::<(), codedeploy_hooks::Error>(())
//! ```

use serde_json::Value;

use crate::deployment::{function_name_of, Phase};
use crate::error::Error;
use crate::function_ref::TargetProblem;

/// What is wrong with AppSpec content, or with what it names.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppSpecProblem {
    /// It looks like JSON but does not parse.
    #[error("not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// It is neither JSON nor YAML.
    #[error("neither JSON nor valid YAML: {0}")]
    Yaml(#[source] serde_yaml_ng::Error),
    /// No `Resources` list.
    #[error("it has no `Resources` list")]
    NoResources,
    /// An empty `Resources` list.
    #[error("its `Resources` list is empty")]
    EmptyResources,
    /// More than the one resource of a Lambda AppSpec.
    #[error("it names {0} resources; a Lambda AppSpec names exactly one")]
    ManyResources(usize),
    /// The resource is not `{LogicalId: {Type, Properties}}`.
    #[error("its resource is not a `{{LogicalId: {{Type, Properties}}}}` map")]
    NotAResource,
    /// A required key is missing, e.g. `Properties.TargetVersion`.
    #[error("its resource has no `{0}`")]
    Missing(&'static str),
    /// `Properties.Name` is not a function a hook may test.
    #[error("its Properties.Name `{name}` {problem}")]
    Function {
        /// The name as given (shortened).
        name: String,
        /// What is wrong with it.
        #[source]
        problem: TargetProblem,
    },
    /// `Properties.TargetVersion` is an alias or `$LATEST`.
    #[error(
        "its Properties.TargetVersion `{0}` is not a published version number (an alias or \
         $LATEST would test other code than the deployment ships)"
    )]
    NotAVersion(String),
    /// The deployment as CodeDeploy returned it carries no AppSpec to read.
    #[error("{0}")]
    NotReadable(&'static str),
}

/// What a Lambda AppSpec says about the deployment.
///
/// ```
/// use codedeploy_hooks::{appspec::AppSpec, Phase};
///
/// let spec = AppSpec::parse("Resources:\n  - Fn:\n      Type: AWS::Lambda::Function\n      Properties: {Name: hello, Alias: live, CurrentVersion: 3, TargetVersion: 4}\nHooks:\n  - BeforeAllowTraffic: CodeDeployHook_pre\n")?;
/// assert_eq!((spec.function_name.as_str(), spec.target_version.as_str()), ("hello", "4"));
/// assert_eq!(spec.phase_of("CodeDeployHook_pre"), Some(Phase::PreTraffic));
/// # Ok::<(), codedeploy_hooks::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppSpec {
    /// `Properties.Name`: the function being deployed (a name or an ARN).
    pub function_name: String,
    /// `Properties.Alias`.
    pub alias: Option<String>,
    /// `Properties.CurrentVersion`.
    pub current_version: Option<String>,
    /// `Properties.TargetVersion`: the version under test.
    pub target_version: String,
    /// `(lifecycle event, hook function name)` pairs, in order.
    pub hooks: Vec<(String, String)>,
}

impl AppSpec {
    /// Parse AppSpec content.
    ///
    /// # Errors
    /// [`Error::AppSpec`] saying what is missing or malformed.
    ///
    /// ```
    /// # fn main() -> Result<(), codedeploy_hooks::Error> {
    /// let spec = codedeploy_hooks::appspec::AppSpec::parse(r#"{"version": 0.0, "Resources": [{"hello": {"Type": "AWS::Lambda::Function", "Properties": {"Name": "hello", "Alias": "live", "CurrentVersion": "3", "TargetVersion": "4"}}}], "Hooks": [{"BeforeAllowTraffic": "CodeDeployHook_pre"}]}"#)?;
    /// assert_eq!(spec.target_version, "4");
    /// # Ok(()) }
    /// ```
    pub fn parse(content: &str) -> Result<AppSpec, Error> {
        Self::parse_content(content).map_err(|problem| Error::AppSpec {
            what: "the AppSpec".into(),
            problem,
        })
    }

    pub(crate) fn parse_content(content: &str) -> Result<AppSpec, AppSpecProblem> {
        let trimmed = content.trim_start();
        let doc: Value = if trimmed.starts_with('{') {
            serde_json::from_str(trimmed).map_err(AppSpecProblem::Json)?
        } else {
            serde_yaml_ng::from_str(trimmed).map_err(AppSpecProblem::Yaml)?
        };
        let resources = get(&doc, "Resources")
            .and_then(Value::as_array)
            .ok_or(AppSpecProblem::NoResources)?;
        let resource = match resources.as_slice() {
            [one] => one,
            [] => return Err(AppSpecProblem::EmptyResources),
            _ => return Err(AppSpecProblem::ManyResources(resources.len())),
        };
        // Each resource is `{LogicalId: {Type, Properties}}`.
        let body = resource
            .as_object()
            .and_then(|m| m.values().next())
            .ok_or(AppSpecProblem::NotAResource)?;
        let props = get(body, "Properties").ok_or(AppSpecProblem::Missing("Properties"))?;
        let text = |key: &str| get(props, key).and_then(scalar_text);
        let function_name = text("Name").ok_or(AppSpecProblem::Missing("Properties.Name"))?;
        let target_version =
            text("TargetVersion").ok_or(AppSpecProblem::Missing("Properties.TargetVersion"))?;
        let hooks = get(&doc, "Hooks")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_object)
                    .flat_map(|m| m.iter())
                    .filter_map(|(event, f)| Some((event.clone(), scalar_text(f)?)))
                    .collect()
            })
            .unwrap_or_default();
        Ok(AppSpec {
            function_name,
            alias: text("Alias"),
            current_version: text("CurrentVersion"),
            target_version,
            hooks,
        })
    }

    /// The phase in which the function `own_name` (a name or ARN) is a hook, if it is one.
    ///
    /// ```
    /// # fn main() -> Result<(), codedeploy_hooks::Error> {
    /// let spec = codedeploy_hooks::appspec::AppSpec::parse(r#"{"version": 0.0, "Resources": [{"hello": {"Type": "AWS::Lambda::Function", "Properties": {"Name": "hello", "Alias": "live", "CurrentVersion": "3", "TargetVersion": "4"}}}], "Hooks": [{"BeforeAllowTraffic": "CodeDeployHook_pre"}]}"#)?;
    /// assert_eq!(spec.phase_of("CodeDeployHook_pre"), Some(codedeploy_hooks::Phase::PreTraffic));
    /// assert_eq!(spec.phase_of("hello"), None);
    /// # Ok(()) }
    /// ```
    pub fn phase_of(&self, own_name: &str) -> Option<Phase> {
        let own = function_name_of(own_name);
        self.hooks
            .iter()
            .find(|(_, hook)| function_name_of(hook) == own)
            .and_then(|(event, _)| Phase::from_lifecycle_event(event))
    }
}

/// Case-insensitive key lookup: AWS documents both `Resources` and `resources`.
fn get<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    let map = value.as_object()?;
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Versions come as `"4"` or `4`.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = include_str!("../tests/data/appspec-lambda.json");
    const YAML: &str = include_str!("../tests/data/appspec-lambda.yaml");

    fn expected() -> AppSpec {
        AppSpec {
            function_name: "hello".into(),
            alias: Some("live".into()),
            current_version: Some("3".into()),
            target_version: "4".into(),
            hooks: vec![
                (
                    "BeforeAllowTraffic".into(),
                    "CodeDeployHook_pre_traffic".into(),
                ),
                (
                    "AfterAllowTraffic".into(),
                    "CodeDeployHook_post_traffic".into(),
                ),
            ],
        }
    }

    #[test]
    fn json_and_yaml_forms_say_the_same() {
        assert_eq!(AppSpec::parse_content(JSON).unwrap(), expected());
        assert_eq!(AppSpec::parse_content(YAML).unwrap(), expected());
    }

    #[test]
    fn keys_in_any_case_and_numeric_versions_are_accepted() {
        let content = r#"{"Version": "0.0", "resources": [{"Fn": {"type": "AWS::Lambda::Function",
            "properties": {"name": "hello", "alias": "live", "currentversion": 3, "targetversion": 4}}}]}"#;
        let spec = AppSpec::parse_content(content).unwrap();
        assert_eq!(spec.target_version, "4");
        assert_eq!(spec.current_version.as_deref(), Some("3"));
        assert!(spec.hooks.is_empty());
    }

    #[test]
    fn the_phase_is_found_from_the_hook_name_or_arn() {
        let spec = expected();
        assert_eq!(
            spec.phase_of("CodeDeployHook_pre_traffic"),
            Some(Phase::PreTraffic)
        );
        assert_eq!(
            spec.phase_of(
                "arn:aws:lambda:eu-west-1:123456789012:function:CodeDeployHook_post_traffic"
            ),
            Some(Phase::PostTraffic)
        );
        assert_eq!(spec.phase_of("someone_else"), None);
    }

    #[test]
    fn the_public_parser_names_the_appspec_in_its_error() {
        let err = AppSpec::parse("{").unwrap_err().to_string();
        assert!(
            err.starts_with("the AppSpec is unusable: not valid JSON"),
            "{err}"
        );
    }

    #[test]
    fn unusable_content_is_explained() {
        let problem = |content: &str| AppSpec::parse_content(content).unwrap_err().to_string();
        assert!(problem("{").contains("not valid JSON"));
        assert!(problem(r#"{"Resources": []}"#).contains("empty"));
        let no_target = r#"{"Resources": [{"F": {"Properties": {"Name": "hello"}}}]}"#;
        assert!(problem(no_target).contains("TargetVersion"));
        assert!(problem("- just\n- a list").contains("Resources"));
        let err = AppSpec::parse("{").unwrap_err();
        let cause = std::error::Error::source(&err).expect("the problem is kept as the source");
        assert!(
            std::error::Error::source(cause).is_some(),
            "and serde's error under it"
        );
    }
}
