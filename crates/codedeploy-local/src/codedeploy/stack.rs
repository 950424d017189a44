//! A stack update's deployments, run together as CloudFormation runs them, and the stack's
//! fate.
//!
//! What AWS documents: an `AWS::Lambda::Alias` with the `CodeDeployLambdaAliasUpdate` update
//! policy is updated by a CodeDeploy deployment (CloudFormation User Guide, "UpdatePolicy
//! attribute"), so a stack update with several gradual functions runs one deployment per
//! alias, at the same time when nothing orders them; and a stack update that fails rolls
//! every updated resource back to its previous state, ending `UPDATE_ROLLBACK_COMPLETE`
//! (CloudFormation User Guide, "Stack failure options").
//!
//! What AWS does not document, and the stand-in chooses (said in the README too):
//! - how CloudFormation ends a deployment still shifting when another fails: here it is
//!   stopped with rollback, its alias back on the current version (CloudFormation reports
//!   such a resource `UPDATE_FAILED`, "Resource update cancelled");
//! - how an alias whose deployment succeeded is put back: here it is pointed at its
//!   previous version at once, without a deployment and without hooks.

use std::sync::{Arc, Mutex};

use futures::stream::{FuturesUnordered, StreamExt as _};
use serde::Serialize;

use super::deployments::StopRequest;
use super::engine;
use super::plan::{DeploymentOutcome, DeploymentPlan, Progress};
use super::spec::DeploymentStatus;
use super::CodeDeploy;
use crate::sync::lock;

/// A stack update's verdict, as CloudFormation names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum StackStatus {
    /// Every deployment succeeded.
    UpdateComplete,
    /// A deployment failed or was stopped: every alias is back on its previous version.
    UpdateRollbackComplete,
}

impl StackStatus {
    /// CloudFormation's name of it, e.g. `UPDATE_COMPLETE`.
    pub fn as_str(self) -> &'static str {
        match self {
            StackStatus::UpdateComplete => "UPDATE_COMPLETE",
            StackStatus::UpdateRollbackComplete => "UPDATE_ROLLBACK_COMPLETE",
        }
    }
}

/// What CloudFormation would have reported along the way (`DescribeStackEvents`).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct StackEvent {
    /// The resource: the stack, or an alias as SAM names it (`FunctionAliaslive`).
    pub logical_id: String,
    /// `UPDATE_FAILED`, `UPDATE_COMPLETE`, `UPDATE_ROLLBACK_IN_PROGRESS`, ...
    pub status: String,
    /// Why.
    pub reason: String,
}

/// One deployment of the stack update, as `--json` gives it.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct StackDeployment {
    /// The function's logical id.
    pub function: String,
    /// The deployment's id.
    pub deployment_id: String,
    /// Its deployment group.
    pub deployment_group: String,
    /// How it ended.
    pub status: DeploymentStatus,
    /// `errorInformation.code` when it did not succeed.
    pub error_code: Option<String>,
    /// The version the alias sends all traffic to at the end (`None` if it is split).
    pub final_version: Option<String>,
    /// Its whole outcome (timeline, requests, denials).
    #[serde(skip)]
    pub outcome: DeploymentOutcome,
}

/// How a stack update ended.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct StackOutcome {
    /// The stack's verdict.
    pub status: StackStatus,
    /// The resources' events, in order.
    pub events: Vec<StackEvent>,
    /// Each deployment, in the order of the plan.
    pub deployments: Vec<StackDeployment>,
}

/// A deployment's plan in a stack update: the function's logical id and its plan.
pub(crate) type Member = (String, DeploymentPlan);

impl CodeDeploy {
    /// Run the stack's deployments at once; the first that does not succeed fails the stack
    /// update, which stops the others and puts every alias back.
    pub(crate) async fn run_stack(
        self: &Arc<Self>,
        members: &[Member],
        observer: &mut (dyn FnMut(usize, &Progress) + Send),
    ) -> StackOutcome {
        let created: Vec<_> = members
            .iter()
            .map(|(_, plan)| self.deployments.create(plan.spec.clone()))
            .collect();
        let ids: Vec<String> = created.iter().map(|(id, _)| id.clone()).collect();
        let observer = Mutex::new(observer);
        let mut running = FuturesUnordered::new();
        for (index, ((_, plan), (id, stop))) in members.iter().zip(created).enumerate() {
            let observer = &observer;
            running.push(async move {
                let mut forward = |p: &Progress| (*lock(observer))(index, p);
                (index, engine::run(self, plan, id, stop, &mut forward).await)
            });
        }
        let mut fate = Fate::new(members);
        while let Some((index, outcome)) = running.next().await {
            if outcome.status != DeploymentStatus::Succeeded && fate.failed.is_none() {
                fate.fail(index, &outcome);
                for (other, id) in ids.iter().enumerate() {
                    if other != index && fate.outcomes[other].is_none() {
                        fate.cancelled.push(other);
                        // Refused only when it has just ended; its outcome then says how.
                        let _ = self.deployments.request_stop(
                            id,
                            StopRequest {
                                auto_rollback: true,
                            },
                        );
                    }
                }
            }
            fate.outcomes[index] = Some(outcome);
        }
        drop(running);
        fate.settle(self)
    }
}

/// The stack update as its deployments end.
struct Fate<'a> {
    members: &'a [Member],
    outcomes: Vec<Option<DeploymentOutcome>>,
    /// The deployment that failed the stack update first.
    failed: Option<usize>,
    /// The deployments still running when it did.
    cancelled: Vec<usize>,
    events: Vec<StackEvent>,
}

impl<'a> Fate<'a> {
    fn new(members: &'a [Member]) -> Self {
        Fate {
            members,
            outcomes: vec![None; members.len()],
            failed: None,
            cancelled: Vec::new(),
            events: Vec::new(),
        }
    }

    fn succeeded(&self, index: usize) -> bool {
        self.outcomes[index]
            .as_ref()
            .is_some_and(|o| o.status == DeploymentStatus::Succeeded)
    }

    fn alias_id(&self, index: usize) -> String {
        let (function, plan) = &self.members[index];
        format!("{function}Alias{}", plan.spec.alias)
    }

    fn event(&mut self, logical_id: String, status: &str, reason: String) {
        self.events.push(StackEvent {
            logical_id,
            status: status.to_owned(),
            reason,
        });
    }

    fn fail(&mut self, index: usize, outcome: &DeploymentOutcome) {
        self.failed = Some(index);
        let why = outcome
            .error
            .as_ref()
            .map(|(code, message)| format!(": {code}: {message}"))
            .unwrap_or_default();
        let reason = format!(
            "CodeDeploy deployment {} ended {:?}{why}",
            outcome.deployment_id, outcome.status
        );
        self.event(self.alias_id(index), "UPDATE_FAILED", reason);
    }

    /// The stack's verdict; with a failure, every alias whose deployment succeeded is put
    /// back on its previous version.
    fn settle(mut self, codedeploy: &CodeDeploy) -> StackOutcome {
        let status = match self.failed {
            None => StackStatus::UpdateComplete,
            Some(failed) => {
                for &index in &self.cancelled.clone() {
                    // One that succeeded as the stop came is put back below instead.
                    if self.succeeded(index) {
                        continue;
                    }
                    self.event(
                        self.alias_id(index),
                        "UPDATE_FAILED",
                        "Resource update cancelled".into(),
                    );
                }
                let failed_id = self.alias_id(failed);
                self.event(
                    "Stack".into(),
                    "UPDATE_ROLLBACK_IN_PROGRESS",
                    format!("The following resource(s) failed to update: [{failed_id}]."),
                );
                self.roll_back_succeeded(codedeploy);
                self.event("Stack".into(), "UPDATE_ROLLBACK_COMPLETE", String::new());
                StackStatus::UpdateRollbackComplete
            }
        };
        if status == StackStatus::UpdateComplete {
            self.event("Stack".into(), "UPDATE_COMPLETE", String::new());
        }
        let deployments = self.deployments(codedeploy);
        StackOutcome {
            status,
            events: self.events,
            deployments,
        }
    }

    fn roll_back_succeeded(&mut self, codedeploy: &CodeDeploy) {
        for index in 0..self.members.len() {
            if !self.succeeded(index) {
                continue;
            }
            let spec = &self.members[index].1.spec;
            let (status, reason) = match codedeploy.roll_back_alias(spec) {
                Ok(_) => (
                    "UPDATE_COMPLETE",
                    format!(
                        "rolled back: {}:{} on version {} again",
                        spec.function_name, spec.alias, spec.current_version
                    ),
                ),
                Err(e) => ("UPDATE_FAILED", format!("could not be rolled back: {e:?}")),
            };
            self.event(self.alias_id(index), status, reason);
        }
    }

    fn deployments(&mut self, codedeploy: &CodeDeploy) -> Vec<StackDeployment> {
        let mut out = Vec::new();
        for (index, (function, plan)) in self.members.iter().enumerate() {
            let Some(outcome) = self.outcomes[index].take() else {
                continue;
            };
            let spec = &plan.spec;
            let alias = codedeploy
                .lambda()
                .registry()
                .alias(&spec.function_name, &spec.alias);
            let final_version = alias
                .filter(|a| a.additional_weights.is_empty())
                .map(|a| a.function_version);
            out.push(StackDeployment {
                function: function.clone(),
                deployment_id: outcome.deployment_id.clone(),
                deployment_group: spec.group_name.clone(),
                status: outcome.status,
                error_code: outcome.error.as_ref().map(|(code, _)| code.clone()),
                final_version,
                outcome,
            });
        }
        out
    }
}
