//! What a deployment is (its spec: function, alias, versions, hooks, revision) and where it
//! stands (its status, and its hooks').

use serde::Serialize;
use serde_json::json;

/// How the deployment's revision was given: its `revisionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum RevisionForm {
    /// `revisionType: String` (the deprecated `RawString`).
    String,
    /// `revisionType: AppSpecContent`.
    AppSpecContent,
}

/// What to deploy.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeploymentSpec {
    /// The CodeDeploy application.
    pub application_name: String,
    /// The deployment group.
    pub group_name: String,
    /// e.g. `CodeDeployDefault.LambdaCanary10Percent5Minutes`.
    pub config_name: String,
    /// The function being deployed.
    pub function_name: String,
    /// The alias being shifted.
    pub alias: String,
    /// The version the alias points at now.
    pub current_version: String,
    /// The new version.
    pub target_version: String,
    /// `(lifecycle event, hook function name)`, e.g. `("BeforeAllowTraffic", "CodeDeployHook_pre")`.
    pub hooks: Vec<(String, String)>,
    /// The revision's `revisionType`. Either way, `GetDeployment` gives only its sha256, and
    /// hooks read the content with `GetApplicationRevision`, as in AWS.
    pub revision_form: RevisionForm,
    /// The AppSpec content as given to `CreateDeployment`; generated from the fields when
    /// `None`.
    pub appspec_content: Option<String>,
}

impl DeploymentSpec {
    /// A deployment of `function_name`'s `alias` from `current` to `target`, all at once,
    /// with no hooks and the revision as `AppSpecContent`.
    pub fn new(function_name: &str, alias: &str, current: &str, target: &str) -> Self {
        DeploymentSpec {
            application_name: "local-app".into(),
            group_name: format!("{function_name}-group"),
            config_name: "CodeDeployDefault.LambdaAllAtOnce".into(),
            function_name: function_name.into(),
            alias: alias.into(),
            current_version: current.into(),
            target_version: target.into(),
            hooks: Vec::new(),
            revision_form: RevisionForm::AppSpecContent,
            appspec_content: None,
        }
    }

    /// Add a hook for a lifecycle event (`BeforeAllowTraffic` or `AfterAllowTraffic`).
    pub fn hook(mut self, lifecycle_event: &str, function_name: &str) -> Self {
        self.hooks
            .push((lifecycle_event.into(), function_name.into()));
        self
    }

    /// The revision's `revisionType`.
    pub fn revision_form(mut self, form: RevisionForm) -> Self {
        self.revision_form = form;
        self
    }

    /// The AppSpec content CodeDeploy would hold for this deployment.
    pub fn appspec(&self) -> String {
        if let Some(content) = &self.appspec_content {
            return content.clone();
        }
        let logical_id = format!("{}Function", self.function_name);
        json!({
            "version": 0.0,
            "Resources": [{ logical_id: {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Name": self.function_name,
                    "Alias": self.alias,
                    "CurrentVersion": self.current_version,
                    "TargetVersion": self.target_version,
                }
            }}],
            "Hooks": self.hooks.iter().map(|(e, f)| json!({ e: f })).collect::<Vec<_>>(),
        })
        .to_string()
    }

    /// The hook function of a lifecycle event, if any.
    pub(crate) fn hook_for(&self, lifecycle_event: &str) -> Option<&str> {
        self.hooks
            .iter()
            .find(|(e, _)| e == lifecycle_event)
            .map(|(_, f)| f.as_str())
    }
}

/// A deployment's state, as `GetDeployment` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum DeploymentStatus {
    /// Created, not started.
    Created,
    /// Running.
    InProgress,
    /// Ended well.
    Succeeded,
    /// Ended badly (and rolled back).
    Failed,
    /// Stopped by `StopDeployment`.
    Stopped,
}

impl DeploymentStatus {
    /// Whether the deployment has not ended.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            DeploymentStatus::Created | DeploymentStatus::InProgress
        )
    }
}

/// A hook's reported status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum HookStatus {
    /// Reported `Succeeded`.
    Succeeded,
    /// Reported `Failed`.
    Failed,
}
