//! How to rehearse a template's deployments: the options, and the versions published.

use std::time::Duration;

use super::build::Binaries;
use crate::codedeploy::plan::{Traffic, HOOK_TIMEOUT};

/// The version numbers the rehearsal publishes: the current one, and the new one.
pub const CURRENT_VERSION: &str = "1";
/// The version under deployment.
pub const TARGET_VERSION: &str = "2";

/// How to rehearse a template's deployment.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RehearsalOptions {
    /// The logical ids of the functions to deploy; none: every function with an enabled
    /// `DeploymentPreference` (`prepare_stack`), or the only one (`prepare`).
    pub functions: Vec<String>,
    /// Overrides the deployment preference's `Type`.
    pub deployment_type: Option<String>,
    /// How much faster than real the deployment's clock runs.
    pub time_scale: f64,
    /// Environment overrides of the target version only (e.g. `HELLO_FAULT=error`); a
    /// `LOGICAL_ID.NAME` key sets `NAME` on that function's new version only.
    pub target_env: Vec<(String, String)>,
    /// Environment overrides of the current version only (e.g. `HELLO_FAULT=flaky:0.01`,
    /// a baseline error rate for a canary analysis to compare against); keys as
    /// `target_env`'s.
    pub current_env: Vec<(String, String)>,
    /// Synthetic load on the alias during the deployment.
    pub traffic: Option<Traffic>,
    /// Where the binaries come from.
    pub binaries: Binaries,
    /// Build the current version from this git ref instead of the working tree.
    pub current_git_ref: Option<String>,
    /// How long CodeDeploy waits for a hook's report (deployment time).
    pub hook_timeout: Duration,
    /// Execution environments (processes) per version of the deployed function.
    pub environments: usize,
    /// The deployer's policy: the calls made on its behalf (roles passed, the version
    /// published, the deployment created) are checked against it, into
    /// `DeploymentPlan::deployer_denials`.
    pub deployer_policy: Option<crate::iam::Policy>,
    /// `overrideAlarmConfiguration` of every deployment: alarms off, or only those named
    /// (logical ids or alarm names; each deployment watches those of its own).
    pub alarm_override: Option<crate::codedeploy::plan::AlarmOverride>,
}

impl Default for RehearsalOptions {
    fn default() -> Self {
        RehearsalOptions {
            functions: Vec::new(),
            deployment_type: None,
            time_scale: 60.0,
            target_env: Vec::new(),
            current_env: Vec::new(),
            traffic: None,
            binaries: Binaries::Build { release: false },
            current_git_ref: None,
            hook_timeout: HOOK_TIMEOUT,
            environments: 1,
            deployer_policy: None,
            alarm_override: None,
        }
    }
}
