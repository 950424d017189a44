//! A deployment's permissions: what CodeDeploy does with its service role, checked as IAM
//! checks it, and the denials of its functions' calls on its timeline.
//!
//! When the service role may not invoke a hook or update the alias, CodeDeploy fails the
//! deployment with `IAM_ROLE_PERMISSIONS` and "The IAM role ARN does not give you permission
//! to perform operations in the following AWS service: AWSLambda. ..." (the message as users
//! quote it in aws/serverless-application-model #219 and amazon-archives/
//! serverless-app-examples #21; CodeDeploy's documentation gives no message). Which service
//! name it gives for CloudWatch's `DescribeAlarms` is not documented nor quoted anywhere
//! found: the stand-in writes `AmazonCloudWatch` and says so here. A notification its role may
//! not publish is not published; the deployment goes on (undocumented too: CodeDeploy's
//! triggers are best effort).
//!
//! The session name CodeDeploy uses with its role is undocumented; the stand-in names it
//! `CodeDeploy`.

use std::sync::Arc;

use tokio::sync::broadcast;

use super::run::{Run, Stop};
use super::timeline::{About, ErrorCode, Event};
use crate::iam::{Denial, Principal};

/// The session name of CodeDeploy's calls (see the module docs).
pub(crate) const CODEDEPLOY_SESSION: &str = "CodeDeploy";

impl Run<'_> {
    /// May CodeDeploy's service role perform `action` on `resource`? `service` is how
    /// CodeDeploy names the service in its error. Without a service role, yes.
    pub(crate) fn as_codedeploy(
        &mut self,
        service: &str,
        action: &str,
        resource: &str,
    ) -> Result<(), Stop> {
        let Some(role) = self.plan.service_role.clone() else {
            return Ok(());
        };
        let principal = Principal {
            role: Arc::clone(&role),
            session: CODEDEPLOY_SESSION.to_owned(),
        };
        match self
            .codedeploy
            .lambda
            .iam()
            .check(&principal, action, resource)
        {
            Ok(()) => Ok(()),
            Err(denial) => {
                self.note_denial(denial);
                Err(Stop::failed(
                    ErrorCode::IamRolePermissions,
                    format!(
                        "The IAM role {} does not give you permission to perform operations in the following AWS \
                         service: {service}. Contact your AWS administrator if you need help. If you are an AWS \
                         administrator, you can grant permissions to your users or groups by creating IAM policies. \
                         (It may not perform {action} on {resource}.)",
                        role.arn()
                    ),
                ))
            }
        }
    }

    /// May CodeDeploy's role perform `action` on the deployment's alias?
    pub(crate) fn on_alias(&mut self, action: &str) -> Result<(), Stop> {
        let spec = &self.plan.spec;
        let registry = &self.codedeploy.lambda().registry();
        let alias = format!(
            "{}:{}",
            registry.function_arn(&spec.function_name),
            spec.alias
        );
        self.as_codedeploy("AWSLambda", action, &alias)
    }

    /// Before the first hook: may CodeDeploy's role read the alias and the alarms?
    pub(crate) fn may_shift_and_watch(&mut self) -> Result<(), Stop> {
        self.on_alias("lambda:GetAlias")?;
        let registry = &self.codedeploy.lambda().registry();
        let prefix = format!(
            "arn:aws:cloudwatch:{}:{}:alarm:",
            registry.region, registry.account_id
        );
        let alarms: Vec<String> = self
            .plan
            .alarms
            .iter()
            .map(|a| format!("{prefix}{}", a.name))
            .collect();
        let ignore = self
            .plan
            .alarm_override
            .as_ref()
            .is_some_and(|o| o.ignore_poll_alarm_failure);
        for (alarm, name) in alarms.iter().zip(self.plan.alarms.iter().map(|a| &a.name)) {
            match self.as_codedeploy("AmazonCloudWatch", "cloudwatch:DescribeAlarms", alarm) {
                Err(stop) if !ignore => return Err(stop),
                Err(_) => {
                    let detail = format!(
                        "{name} cannot be read (cloudwatch:DescribeAlarms refused); ignorePollAlarmFailure: the deployment goes on without it"
                    );
                    self.event(Event::AlarmsOverridden, detail);
                    self.unreadable_alarms.push(name.clone());
                }
                Ok(()) => {}
            }
        }
        Ok(())
    }

    /// May CodeDeploy publish to `topic` (a logical id of the template, or an ARN)?
    pub(crate) fn may_publish(&mut self, topic: &str) -> bool {
        let arn = self.topic_arn(topic);
        self.as_codedeploy("AmazonSNS", "sns:Publish", &arn).is_ok()
    }

    /// May CloudWatch publish `alarm`'s action to `topic`? Asked of the topic's policy,
    /// with the alarm's ARN as `aws:SourceArn`; a topic without one is not checked (see
    /// `sam::resource_policies`).
    pub(crate) fn cloudwatch_may_publish(&mut self, alarm: &str, topic: &str) -> bool {
        let arn = self.topic_arn(topic);
        let iam = &self.codedeploy.lambda().iam();
        if !iam.has_resource_policy(&arn) {
            return true;
        }
        let registry = &self.codedeploy.lambda().registry();
        let (region, account) = (&registry.region, &registry.account_id);
        let alarm_arn = format!("arn:aws:cloudwatch:{region}:{account}:alarm:{alarm}");
        let context = [
            ("aws:SourceArn", alarm_arn.as_str()),
            ("aws:SourceAccount", account.as_str()),
        ];
        match iam.check_service(
            "cloudwatch.amazonaws.com",
            &arn,
            "sns:Publish",
            &arn,
            &context,
        ) {
            Ok(()) => true,
            Err(denial) => {
                self.note_denial(denial);
                false
            }
        }
    }

    fn topic_arn(&self, topic: &str) -> String {
        if topic.starts_with("arn:") {
            return topic.to_owned();
        }
        let registry = &self.codedeploy.lambda().registry();
        format!(
            "arn:aws:sns:{}:{}:{topic}",
            registry.region, registry.account_id
        )
    }

    /// A denial the authority told of: this deployment's if one of its functions made the
    /// call (CodeDeploy's own are noted where they are made).
    pub(crate) fn told_of_denial(
        &mut self,
        denial: Result<Arc<Denial>, broadcast::error::RecvError>,
    ) {
        let Ok(denial) = denial else {
            return; // lagged: the denials seen are on the timeline; the rest in the log
        };
        let spec = &self.plan.spec;
        let function = self
            .codedeploy
            .lambda
            .registry()
            .function_arn(&spec.function_name);
        // Its functions' calls, and calls on its function (API Gateway's).
        let ours = denial.session == spec.function_name
            || spec.hooks.iter().any(|(_, hook)| *hook == denial.session)
            || denial.resource == function
            || denial.resource.starts_with(&format!("{function}:"));
        if ours {
            self.note_denial(denial);
        }
    }

    /// Denials told but not yet read, before the verdict.
    pub(crate) fn drain_denials(&mut self) {
        while let Ok(denial) = self.denial_events.try_recv() {
            self.told_of_denial(Ok(denial));
        }
    }

    /// A denial on the timeline, the first of its kind only.
    fn note_denial(&mut self, denial: Arc<Denial>) {
        let seen = self.denials.iter().any(|d| {
            d.principal == denial.principal
                && d.action == denial.action
                && d.resource == denial.resource
        });
        if seen {
            return;
        }
        let about = About::Denial {
            principal: denial.principal.clone(),
            action: denial.action.clone(),
            resource: denial.resource.clone(),
            enforced: denial.enforced,
        };
        let detail = if denial.enforced {
            denial.message()
        } else {
            format!("{} (let through)", denial.message())
        };
        self.denials.push(denial);
        self.record(Event::AccessDenied, detail, Some(about));
    }

    /// A failed deployment's reason names the first refused call (unless it is already
    /// about CodeDeploy's own role), with every denial told so far on the timeline.
    pub(crate) fn name_first_denial(&mut self, result: &mut Result<(), Stop>) {
        self.drain_denials();
        let first = self.denials.iter().find(|d| d.enforced);
        if let (Err(stop), Some(first)) = (result, first) {
            if stop.code != ErrorCode::IamRolePermissions {
                stop.message = format!(
                    "{} (first access denied: {})",
                    stop.message,
                    first.message()
                );
            }
        }
    }
}
