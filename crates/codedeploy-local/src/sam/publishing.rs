//! Building the template's functions and publishing them in the stand-in: versions 1
//! (current, on the alias) and 2 (new) of each deployed function, and each hook once, however
//! many deployments share it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::build::{build_at_ref, locate};
use super::checks::{hooks, scoped_to, unresolved};
use super::options::{RehearsalOptions, CURRENT_VERSION, TARGET_VERSION};
use super::roles::Roles;
use super::template::{Resolver, Template, TemplateFunction};
use crate::codedeploy::spec::DeploymentSpec;
use crate::error::Error;
use crate::lambda::VersionSpec;
use crate::StandIn;

/// Execution environments a hook function may run per deployment it serves. They start on
/// demand, as Lambda's do; a hook's event delivered twice and a watch (which holds one
/// environment for the whole shift) must not wait for each other.
const HOOK_ENVIRONMENTS: usize = 3;

/// Building and publishing the template's functions in the stand-in.
pub(crate) struct Publishing<'a> {
    pub(crate) local: &'a StandIn,
    pub(crate) template: &'a Template,
    pub(crate) options: &'a RehearsalOptions,
    pub(crate) resolver: &'a Resolver,
    pub(crate) roles: &'a Roles<'a>,
}

impl<'a> Publishing<'a> {
    /// Every deployed function's versions and every hook; returns each function's
    /// deployment of version 1 to 2, in order.
    pub(crate) async fn publish(
        &self,
        deployed: &[&TemplateFunction],
    ) -> Result<Vec<DeploymentSpec>, Error> {
        let hooks = self.hooks_of(deployed)?;
        let mut wanted: BTreeSet<&str> = deployed.iter().map(|f| f.binary.as_str()).collect();
        wanted.extend(hooks.values().map(|(h, _)| h.binary.as_str()));
        let wanted: Vec<&str> = wanted.into_iter().collect();
        let binaries = locate(&self.template.root, &self.options.binaries, &wanted).await?;
        let mut specs = Vec::new();
        let mut built_at_ref = BTreeMap::new();
        for f in deployed {
            let current = match &self.options.current_git_ref {
                Some(reference) => match built_at_ref.get(&f.binary) {
                    Some(path) => Clone::clone(path),
                    None => {
                        let path = build_at_ref(&self.template.root, reference, &f.binary).await?;
                        built_at_ref.insert(f.binary.clone(), path.clone());
                        path
                    }
                },
                None => binaries[&f.binary].clone(),
            };
            specs.push(self.publish_function(f, &current, &binaries[&f.binary])?);
        }
        for (hook, served) in hooks.into_values() {
            let name = &self.resolver.function_names[&hook.logical_id];
            let spec = version_spec(hook, &binaries[&hook.binary], self.environment(hook)?)
                .environments(HOOK_ENVIRONMENTS * served)
                .role(self.roles.of_function(hook));
            self.local.publish_version(name, "1", spec)?;
        }
        self.create_aliases()?;
        Ok(specs)
    }

    /// The hook functions of the deployed functions (by logical id), each with how many it
    /// serves.
    fn hooks_of(
        &self,
        deployed: &[&TemplateFunction],
    ) -> Result<BTreeMap<&'a str, (&'a TemplateFunction, usize)>, Error> {
        let mut served = BTreeMap::new();
        for f in deployed {
            for (_, hook) in hooks(self.template, f)? {
                served
                    .entry(hook.logical_id.as_str())
                    .or_insert((hook, 0))
                    .1 += 1;
            }
        }
        Ok(served)
    }

    /// Versions 1 (current, on the alias) and 2 of `deployed`; its deployment of 1 to 2.
    fn publish_function(
        &self,
        deployed: &TemplateFunction,
        current_binary: &Path,
        target_binary: &Path,
    ) -> Result<DeploymentSpec, Error> {
        let (local, options) = (self.local, self.options);
        let function_name = &self.resolver.function_names[&deployed.logical_id];
        let alias = deployed.alias_name();
        let template_env = self.environment(deployed)?;
        let id = &deployed.logical_id;
        let mut target_env = template_env.clone();
        target_env.extend(scoped_to(&options.target_env, id));
        let mut current_env = template_env;
        current_env.extend(scoped_to(&options.current_env, id));
        let role = self.roles.of_function(deployed);
        let current = version_spec(deployed, current_binary, current_env)
            .environments(options.environments)
            .role(Arc::clone(&role));
        local.publish_version(function_name, CURRENT_VERSION, current)?;
        let target = version_spec(deployed, target_binary, target_env)
            .environments(options.environments)
            .role(role);
        local.publish_version(function_name, TARGET_VERSION, target)?;
        local.set_alias(function_name, alias, CURRENT_VERSION)?;
        let mut spec = DeploymentSpec::new(function_name, alias, CURRENT_VERSION, TARGET_VERSION);
        (spec.application_name, spec.group_name) = self.group_of(deployed)?;
        for (event, hook) in hooks(self.template, deployed)? {
            spec = spec.hook(event, &self.resolver.function_names[&hook.logical_id]);
        }
        Ok(spec)
    }

    /// The CodeDeploy application and deployment group of `deployed`: the template's, or
    /// the names SAM gives them.
    fn group_of(&self, deployed: &TemplateFunction) -> Result<(String, String), Error> {
        let preference = deployed.deployment.as_ref();
        let application = match preference.and_then(|p| p.application.as_ref()) {
            Some(app) => self
                .resolver
                .refs
                .get(app)
                .cloned()
                .unwrap_or_else(|| app.clone()),
            None => "ServerlessDeploymentApplication".into(),
        };
        let group = match preference.and_then(|p| p.group.as_ref()) {
            Some(group) => self.resolver.string(group).map_err(|e| {
                let field = format!("{}'s DeploymentGroupName", deployed.logical_id);
                unresolved(self.template, field, e)
            })?,
            None => format!("{}DeploymentGroup", deployed.logical_id),
        };
        Ok((application, group))
    }

    /// The template's `AWS::Lambda::Alias`es of the functions just published (e.g. a
    /// watch's lease on its hook function).
    fn create_aliases(&self) -> Result<(), Error> {
        for alias in &self.template.aliases {
            let Some(name) = self.resolver.function_names.get(&alias.function) else {
                continue;
            };
            if self.local.lambda.registry().has_function(name) {
                let alias_name = self.resolver.string(&alias.name).map_err(|e| {
                    let field = format!("the alias Name of {}", alias.function);
                    unresolved(self.template, field, e)
                })?;
                self.local.set_alias(name, &alias_name, &alias.version)?;
            }
        }
        Ok(())
    }

    /// A function's `Environment.Variables`, resolved, and the rehearsal's clock for the
    /// framework's watch ([`codedeploy_hooks::TIME_SCALE_ENV`]).
    fn environment(&self, f: &TemplateFunction) -> Result<BTreeMap<String, String>, Error> {
        let scale = (
            codedeploy_hooks::TIME_SCALE_ENV.to_owned(),
            self.options.time_scale.to_string(),
        );
        f.environment
            .iter()
            .map(|(k, v)| {
                let value = self.resolver.string(v).map_err(|e| {
                    let field = format!("{}.Environment.Variables.{k}", f.logical_id);
                    unresolved(self.template, field, e)
                })?;
                Ok((k.clone(), value))
            })
            .chain(std::iter::once(Ok(scale)))
            .collect()
    }
}

fn version_spec(f: &TemplateFunction, binary: &Path, env: BTreeMap<String, String>) -> VersionSpec {
    let mut spec = VersionSpec::new(binary).timeout(Duration::from_secs(f.timeout_seconds));
    spec.memory_mb = f.memory_mb;
    spec.architecture = f.architecture.clone();
    spec.env = env;
    spec
}
