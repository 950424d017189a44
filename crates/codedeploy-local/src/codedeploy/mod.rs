//! CodeDeploy: applications and deployment groups, deployments and their hook executions
//! ([`deployments`]), and the engine that runs a deployment ([`engine`], [`hook`],
//! [`traffic`]) from its plan ([`plan`], [`config`], [`notifications`]).

pub(crate) mod config;
pub(crate) mod deployments;
pub(crate) mod engine;
mod hook;
pub(crate) mod notifications;
mod permissions;
pub(crate) mod plan;
mod run;
pub(crate) mod spec;
pub(crate) mod stack;
pub(crate) mod timeline;
mod traffic;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::lambda::Lambda;
use crate::sync::lock;
use deployments::Deployments;
use plan::{DeploymentOutcome, DeploymentPlan, Progress};
use spec::DeploymentSpec;

/// The CodeDeploy service of the stand-in. It drives Lambda, as CodeDeploy does.
pub(crate) struct CodeDeploy {
    deployments: Deployments,
    /// Application -> deployment group -> how deployments in it run.
    groups: Mutex<BTreeMap<String, BTreeMap<String, DeploymentPlan>>>,
    lambda: Arc<Lambda>,
    /// Ids per `ListDeployments` page.
    list_page_size: usize,
}

/// Why `CreateDeployment` (and, for an unknown application or group, `ListDeployments` and
/// `GetApplicationRevision`) is refused, in CodeDeploy's terms.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CreateError {
    #[error("No application found for name: {0}")]
    NoApplication(String),
    #[error("No Deployment Group found for name: {group} (application {application})")]
    NoGroup { application: String, group: String },
    #[error("The Deployment Group '{group}' already has an active Deployment '{active}'")]
    GroupBusy { group: String, active: String },
    #[error("{0}")]
    Revision(String),
}

impl CodeDeploy {
    pub(crate) fn new(lambda: Arc<Lambda>, list_page_size: usize, keep_deployments: usize) -> Self {
        CodeDeploy {
            deployments: Deployments::new(keep_deployments, lambda.clock()),
            groups: Mutex::new(BTreeMap::new()),
            lambda,
            list_page_size: list_page_size.max(1),
        }
    }

    /// Its deployments.
    pub(crate) fn deployments(&self) -> &Deployments {
        &self.deployments
    }

    /// The Lambda it drives.
    pub(crate) fn lambda(&self) -> &Arc<Lambda> {
        &self.lambda
    }

    /// Ids per `ListDeployments` page.
    pub(crate) fn list_page_size(&self) -> usize {
        self.list_page_size
    }

    /// Register a deployment group (and its application) with how deployments in it run.
    pub(crate) fn register_group(&self, plan: &DeploymentPlan) {
        let spec = &plan.spec;
        lock(&self.groups)
            .entry(spec.application_name.clone())
            .or_default()
            .insert(spec.group_name.clone(), plan.clone());
    }

    /// Register a deployment group unless it is registered already.
    pub(crate) fn register_group_if_absent(&self, plan: &DeploymentPlan) {
        let spec = &plan.spec;
        lock(&self.groups)
            .entry(spec.application_name.clone())
            .or_default()
            .entry(spec.group_name.clone())
            .or_insert_with(|| plan.clone());
    }

    /// That the application exists: `NoApplication` otherwise.
    pub(crate) fn check_application(&self, application: &str) -> Result<(), CreateError> {
        match lock(&self.groups).contains_key(application) {
            true => Ok(()),
            false => Err(CreateError::NoApplication(application.to_owned())),
        }
    }

    /// Look at a registered deployment group's plan: `NoApplication` or `NoGroup` when
    /// there is none.
    pub(crate) fn with_group<R>(
        &self,
        application: &str,
        group: &str,
        f: impl FnOnce(&DeploymentPlan) -> R,
    ) -> Result<R, CreateError> {
        self.check_application(application)?;
        let groups = lock(&self.groups);
        let plan = groups.get(application).and_then(|app| app.get(group));
        plan.map(f).ok_or_else(|| CreateError::NoGroup {
            application: application.to_owned(),
            group: group.to_owned(),
        })
    }

    /// Check what AWS checks before a deployment starts: one active deployment per group,
    /// versions that are published. Hook functions are checked when their turn comes, as
    /// CodeDeploy invokes them then.
    pub(crate) fn validate(&self, spec: &DeploymentSpec) -> Result<(), CreateError> {
        if let Some(active) = self
            .deployments
            .active_in(&spec.application_name, &spec.group_name)
        {
            return Err(CreateError::GroupBusy {
                group: spec.group_name.clone(),
                active,
            });
        }
        if !self.lambda.registry().has_function(&spec.function_name) {
            return Err(CreateError::Revision(format!(
                "the AppSpec's function {} does not exist",
                spec.function_name
            )));
        }
        for (field, version) in [
            ("CurrentVersion", &spec.current_version),
            ("TargetVersion", &spec.target_version),
        ] {
            if !self
                .lambda
                .registry()
                .has_version(&spec.function_name, version)
            {
                return Err(CreateError::Revision(format!(
                    "the AppSpec's {field} `{version}` is not a published version of {}",
                    spec.function_name
                )));
            }
        }
        Ok(())
    }

    /// Point a deployment's alias at its current version alone, as a rollback leaves it.
    pub(crate) fn roll_back_alias(
        &self,
        spec: &DeploymentSpec,
    ) -> Result<crate::lambda::Alias, crate::lambda::registry::AliasError> {
        self.lambda.registry().set_alias(
            &spec.function_name,
            &spec.alias,
            &spec.current_version,
            BTreeMap::new(),
            None,
            None,
        )
    }

    /// Create a deployment of a plan and run it in the background; returns its id.
    pub(crate) fn start(self: &Arc<Self>, plan: DeploymentPlan) -> String {
        let (id, stop) = self.deployments.create(plan.spec.clone());
        let (codedeploy, deployment_id) = (Arc::clone(self), id.clone());
        self.lambda.tasks().spawn(async move {
            engine::run(&codedeploy, &plan, deployment_id, stop, &mut |_| {}).await;
        });
        id
    }

    /// Create a deployment of a plan and run it to its end.
    pub(crate) async fn run(
        self: &Arc<Self>,
        plan: DeploymentPlan,
        observer: &mut (dyn FnMut(&Progress) + Send),
    ) -> DeploymentOutcome {
        let (id, stop) = self.deployments.create(plan.spec.clone());
        engine::run(self, &plan, id, stop, observer).await
    }
}
