//! CodeDeploy's side: deployments, their AppSpec revision, and hook executions waiting for
//! a status.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::SystemTime;

use base64::Engine as _;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

/// How the deployment's revision is shown by `GetDeployment`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum RevisionForm {
    /// `revisionType: String`, content in `string.content`.
    String,
    /// `revisionType: AppSpecContent`, content in `appSpecContent.content`.
    AppSpecContent,
    /// `AppSpecContent` with only the `sha256`: the content is read with `GetApplicationRevision`.
    NotInline,
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
    /// How `GetDeployment` shows the revision.
    pub revision_form: RevisionForm,
    /// The AppSpec content as given to `CreateDeployment`; generated from the fields when
    /// `None`.
    pub appspec_content: Option<String>,
}

impl DeploymentSpec {
    /// A deployment of `function_name`'s `alias` from `current` to `target`, all at once,
    /// with no hooks and the revision inline as `AppSpecContent`.
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

    /// How `GetDeployment` shows the revision.
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

/// A hook's reported status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum HookStatus {
    /// Reported `Succeeded`.
    Succeeded,
    /// Reported `Failed`.
    Failed,
}

pub(crate) struct Record {
    pub(crate) id: String,
    pub(crate) spec: DeploymentSpec,
    pub(crate) content: String,
    pub(crate) sha256: String,
    pub(crate) status: DeploymentStatus,
    pub(crate) created: SystemTime,
    pub(crate) completed: Option<SystemTime>,
    pub(crate) error: Option<(String, String)>,
    pub(crate) stop_requested: bool,
    pub(crate) executions: BTreeMap<String, Execution>,
}

pub(crate) struct Execution {
    pub(crate) lifecycle_event: String,
    pub(crate) status: Option<HookStatus>,
    /// Reports received, accepted or not (a second one is refused).
    pub(crate) reports: u32,
}

/// All deployments; `changed` ticks on every change so waiters wake up.
pub(crate) struct Deployments {
    records: Mutex<BTreeMap<String, Record>>,
    changed: watch::Sender<u64>,
}

impl Default for Deployments {
    fn default() -> Self {
        Deployments {
            records: Mutex::new(BTreeMap::new()),
            changed: watch::Sender::new(0),
        }
    }
}

/// Why a status report was refused, in CodeDeploy's words.
pub(crate) enum ReportError {
    NoDeployment,
    NoExecution,
    AlreadyCompleted,
}

impl Deployments {
    pub(crate) fn create(&self, spec: DeploymentSpec) -> String {
        let id = format!("d-{}", random_id(9));
        let content = spec.appspec();
        let sha256 = hex::encode(Sha256::digest(content.as_bytes()));
        let record = Record {
            id: id.clone(),
            spec,
            content,
            sha256,
            status: DeploymentStatus::Created,
            created: SystemTime::now(),
            completed: None,
            error: None,
            stop_requested: false,
            executions: BTreeMap::new(),
        };
        self.lock().insert(id.clone(), record);
        self.bump();
        id
    }

    pub(crate) fn with<R>(&self, id: &str, f: impl FnOnce(&mut Record) -> R) -> Option<R> {
        let result = self.lock().get_mut(id).map(f);
        self.bump();
        result
    }

    pub(crate) fn read<R>(&self, id: &str, f: impl FnOnce(&Record) -> R) -> Option<R> {
        self.lock().get(id).map(f)
    }

    pub(crate) fn ids(&self, filter: impl Fn(&Record) -> bool) -> Vec<String> {
        self.lock()
            .values()
            .filter(|r| filter(r))
            .map(|r| r.id.clone())
            .collect()
    }

    /// Open a hook execution and give the event CodeDeploy sends the hook.
    pub(crate) fn start_execution(
        &self,
        deployment_id: &str,
        lifecycle_event: &str,
    ) -> Option<(String, Value)> {
        let opaque = json!({
            "encryptedData": base64::engine::general_purpose::STANDARD.encode(random_id(48)),
            "ivParameterSpec": base64::engine::general_purpose::STANDARD.encode(random_id(12)),
            "materialSetSerial": 1,
        });
        let execution_id = base64::engine::general_purpose::STANDARD.encode(opaque.to_string());
        self.with(deployment_id, |record| {
            record.executions.insert(
                execution_id.clone(),
                Execution {
                    lifecycle_event: lifecycle_event.to_owned(),
                    status: None,
                    reports: 0,
                },
            );
        })?;
        let event =
            json!({"DeploymentId": deployment_id, "LifecycleEventHookExecutionId": execution_id});
        Some((execution_id, event))
    }

    pub(crate) fn report(
        &self,
        deployment_id: &str,
        execution_id: &str,
        status: HookStatus,
    ) -> Result<(), ReportError> {
        let mut records = self.lock();
        let record = records
            .get_mut(deployment_id)
            .ok_or(ReportError::NoDeployment)?;
        let execution = record
            .executions
            .get_mut(execution_id)
            .ok_or(ReportError::NoExecution)?;
        execution.reports += 1;
        if execution.status.is_some() {
            return Err(ReportError::AlreadyCompleted);
        }
        execution.status = Some(status);
        drop(records);
        self.bump();
        Ok(())
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Content of a revision of an application, by its sha256.
    pub(crate) fn revision_content(&self, application: &str, sha256: &str) -> Option<String> {
        self.lock()
            .values()
            .find(|r| r.spec.application_name == application && r.sha256 == sha256)
            .map(|r| r.content.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Record>> {
        crate::lock(&self.records)
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }
}

impl Record {
    /// `deploymentInfo` as `GetDeployment` returns it.
    pub(crate) fn info(&self) -> Value {
        let seconds = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or_default()
        };
        let revision = self.revision(false);
        let mut info = json!({
            "applicationName": self.spec.application_name,
            "deploymentGroupName": self.spec.group_name,
            "deploymentConfigName": self.spec.config_name,
            "deploymentId": self.id,
            "status": self.status,
            "createTime": seconds(self.created),
            "startTime": seconds(self.created),
            "creator": "user",
            "computePlatform": "Lambda",
            "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
            "revision": revision,
        });
        if let Some(done) = self.completed {
            info["completeTime"] = json!(seconds(done));
        }
        if let Some((code, message)) = &self.error {
            info["errorInformation"] = json!({"code": code, "message": message});
        }
        info
    }

    /// The revision location; `force_inline` for `GetApplicationRevision`.
    pub(crate) fn revision(&self, force_inline: bool) -> Value {
        let form = if force_inline {
            RevisionForm::String
        } else {
            self.spec.revision_form
        };
        match form {
            RevisionForm::String => {
                json!({"revisionType": "String", "string": {"content": self.content, "sha256": self.sha256}})
            }
            RevisionForm::AppSpecContent => {
                json!({"revisionType": "AppSpecContent", "appSpecContent": {"content": self.content, "sha256": self.sha256}})
            }
            RevisionForm::NotInline => {
                json!({"revisionType": "AppSpecContent", "appSpecContent": {"sha256": self.sha256}})
            }
        }
    }
}

fn random_id(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..len)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}
