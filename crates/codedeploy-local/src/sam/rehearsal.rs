//! From a template to a deployment plan: build the functions with cargo, publish the current
//! and target versions and the hooks in the stand-in, and read the alarms.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tracing::info;

use super::build::{build_at_ref, locate, Binaries};
use super::deployer;
use super::resource_policies;
use super::roles::{resource_names, Roles};
use super::template::{Preference, ResolveError, Resolver, Template, TemplateFunction};
use crate::alarms::Alarm;
use crate::codedeploy::config::TrafficConfig;
use crate::codedeploy::notifications::Notifications;
use crate::codedeploy::plan::{DeploymentPlan, Traffic, HOOK_TIMEOUT};
use crate::codedeploy::spec::DeploymentSpec;
use crate::error::Error;
use crate::lambda::VersionSpec;
use crate::StandIn;

/// The version numbers the rehearsal publishes: the current one, and the new one.
pub const CURRENT_VERSION: &str = "1";
/// The version under deployment.
pub const TARGET_VERSION: &str = "2";

/// Execution environments of each hook function. Lambda runs concurrent invocations in
/// environments of their own, and the stand-in does not scale them on demand: a hook's event
/// delivered twice and a watch (which holds one environment for the whole shift) must not
/// wait for each other.
const HOOK_ENVIRONMENTS: usize = 3;

/// How to rehearse a template's deployment.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RehearsalOptions {
    /// The logical id of the function to deploy, when several have a deployment preference.
    pub function: Option<String>,
    /// Overrides the deployment preference's `Type`.
    pub deployment_type: Option<String>,
    /// How much faster than real the deployment's clock runs.
    pub time_scale: f64,
    /// Environment overrides of the target version only (e.g. `HELLO_FAULT=error`).
    pub target_env: Vec<(String, String)>,
    /// Environment overrides of the current version only (e.g. `HELLO_FAULT=flaky:0.01`,
    /// a baseline error rate for a canary analysis to compare against).
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
    /// [`DeploymentPlan::deployer_denials`].
    pub deployer_policy: Option<crate::iam::Policy>,
}

impl Default for RehearsalOptions {
    fn default() -> Self {
        RehearsalOptions {
            function: None,
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
        }
    }
}

/// Build, publish and plan: after this, [`StandIn::deploy`] runs the deployment.
///
/// # Errors
/// [`Error::Template`], [`Error::UnsupportedAlarm`], [`Error::Build`] or
/// [`Error::MissingBinary`], each naming what to fix.
pub async fn prepare(
    local: &StandIn,
    template: &Template,
    options: &RehearsalOptions,
) -> Result<DeploymentPlan, Error> {
    let deployed = template.deployed_function(options.function.as_deref())?;
    let preference = deployed.deployment.as_ref().ok_or_else(|| {
        bad(
            template,
            format!("{} has no DeploymentPreference", deployed.logical_id),
        )
    })?;
    let alias = deployed.alias.clone().unwrap_or_else(|| "live".into());
    let mut resolver = resolver_for(local, template)?;
    resolver.versions.insert(
        deployed.logical_id.clone(),
        (alias.clone(), TARGET_VERSION.to_owned()),
    );
    resource_names(template, &mut resolver);
    let function_name = resolver.function_names[&deployed.logical_id].clone();
    serve_apis(local, template, deployed, &mut resolver).await?;
    let roles = Roles {
        template,
        resolver: &resolver,
    };
    let publishing = Publishing {
        local,
        template,
        options,
        resolver: &resolver,
        roles: &roles,
    };
    let hooks = [
        (
            "BeforeAllowTraffic",
            hook_function(template, &preference.pre_traffic)?,
        ),
        (
            "AfterAllowTraffic",
            hook_function(template, &preference.post_traffic)?,
        ),
    ];
    let spec = publishing
        .publish(deployed, &function_name, &alias, hooks)
        .await?;
    resource_policies::attach(template, &resolver, local.lambda.iam());
    let mut plan = plan_of(template, options, preference, &resolver, spec)?;
    plan.service_role = Some(roles.of_deployment(deployed));
    if let Some(policy) = &options.deployer_policy {
        let mut function_roles = vec![roles.of_function(deployed)];
        function_roles.extend(
            hooks
                .iter()
                .filter_map(|(_, h)| h.map(|h| roles.of_function(h))),
        );
        plan.deployer_denials = deployer_denials(local, policy, &plan, &function_roles);
    }
    Ok(plan)
}

/// The deployed function's HTTP APIs served on loopback, their addresses resolvable.
async fn serve_apis(
    local: &StandIn,
    template: &Template,
    deployed: &TemplateFunction,
    resolver: &mut Resolver,
) -> Result<(), Error> {
    let function_name = resolver.function_names[&deployed.logical_id].clone();
    for api in template
        .apis
        .iter()
        .filter(|a| a.function == deployed.logical_id)
    {
        // SAM writes the permission of an API made from a function's event; a declared
        // API needs its own `AWS::Lambda::Permission`, which the endpoint checks.
        let declared = (api.logical_id != "ServerlessHttpApi").then_some(api.logical_id.as_str());
        let url = local
            .serve_api_http(declared, &function_name, &api.alias)
            .await?;
        info!(api = %api.logical_id, %url, "serving the alias over HTTP");
        resolver.api_urls.insert(api.logical_id.clone(), url);
    }
    Ok(())
}

/// The deployer's calls for `plan` that `policy` does not allow.
fn deployer_denials(
    local: &StandIn,
    policy: &crate::iam::Policy,
    plan: &DeploymentPlan,
    function_roles: &[Arc<crate::iam::Role>],
) -> Vec<crate::iam::Denial> {
    let (region, account) = local.region_and_account();
    deployer::check(
        local.lambda.iam(),
        policy,
        plan,
        function_roles,
        (&region, &account),
    )
}

fn bad(template: &Template, reason: String) -> Error {
    Error::Template {
        path: template.path.clone(),
        reason,
    }
}

fn unresolved(template: &Template, field: String, source: ResolveError) -> Error {
    Error::Unresolved {
        path: template.path.clone(),
        field,
        source,
    }
}

fn hook_function<'t>(
    template: &'t Template,
    id: &Option<String>,
) -> Result<Option<&'t TemplateFunction>, Error> {
    id.as_ref()
        .map(|id| {
            template.functions.get(id).ok_or_else(|| {
                bad(
                    template,
                    format!("the hook {id} is not an AWS::Serverless::Function of the template"),
                )
            })
        })
        .transpose()
}

/// A resolver of the template's intrinsics against the stand-in, with every function's name.
fn resolver_for(local: &StandIn, template: &Template) -> Result<Resolver, Error> {
    let (region, account_id) = local.region_and_account();
    let mut resolver = Resolver {
        parameters: template.parameters.clone(),
        region,
        account_id,
        ..Resolver::default()
    };
    let mut names = BTreeMap::new();
    for f in template.functions.values() {
        let name = match &f.function_name {
            Some(v) => resolver
                .string(v)
                .map_err(|e| unresolved(template, format!("{}.FunctionName", f.logical_id), e))?,
            None => f.logical_id.clone(),
        };
        names.insert(f.logical_id.clone(), name);
    }
    resolver.function_names = names;
    Ok(resolver)
}

/// Building and publishing the template's functions in the stand-in.
struct Publishing<'a> {
    local: &'a StandIn,
    template: &'a Template,
    options: &'a RehearsalOptions,
    resolver: &'a Resolver,
    roles: &'a Roles<'a>,
}

impl Publishing<'_> {
    /// Versions 1 (current, on the alias) and 2 of the deployed function, and the hooks;
    /// returns the deployment of 1 to 2.
    async fn publish(
        &self,
        deployed: &TemplateFunction,
        function_name: &str,
        alias: &str,
        hooks: [(&str, Option<&TemplateFunction>); 2],
    ) -> Result<DeploymentSpec, Error> {
        let (local, options, root) = (self.local, self.options, &self.template.root);
        let mut wanted: Vec<&str> = vec![deployed.binary.as_str()];
        wanted.extend(
            hooks
                .iter()
                .filter_map(|(_, f)| f.map(|f| f.binary.as_str())),
        );
        let binaries = locate(root, &options.binaries, &wanted).await?;
        let current_binary = match &options.current_git_ref {
            Some(reference) => build_at_ref(root, reference, &deployed.binary).await?,
            None => binaries[&deployed.binary].clone(),
        };
        let template_env = self.environment(deployed)?;
        let mut target_env = template_env.clone();
        target_env.extend(options.target_env.iter().cloned());
        let mut current_env = template_env;
        current_env.extend(options.current_env.iter().cloned());
        let environments = options.environments;
        let role = self.roles.of_function(deployed);
        let current = version_spec(deployed, &current_binary, current_env)
            .environments(environments)
            .role(Arc::clone(&role));
        local.publish_version(function_name, CURRENT_VERSION, current)?;
        let target = version_spec(deployed, &binaries[&deployed.binary], target_env)
            .environments(environments)
            .role(role);
        local.publish_version(function_name, TARGET_VERSION, target)?;
        local.set_alias(function_name, alias, CURRENT_VERSION)?;
        let mut spec = DeploymentSpec::new(function_name, alias, CURRENT_VERSION, TARGET_VERSION);
        (spec.application_name, spec.group_name) = self.group_of(deployed)?;
        for (event, hook) in hooks {
            if let Some(hook) = hook {
                let name = &self.resolver.function_names[&hook.logical_id];
                let hook_spec =
                    version_spec(hook, &binaries[&hook.binary], self.environment(hook)?)
                        .environments(HOOK_ENVIRONMENTS)
                        .role(self.roles.of_function(hook));
                local.publish_version(name, "1", hook_spec)?;
                spec = spec.hook(event, name);
            }
        }
        self.create_aliases()?;
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
                self.local.set_alias(name, &alias.name, &alias.version)?;
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

/// The deployment plan: configuration, alarms and notifications of the preference.
fn plan_of(
    template: &Template,
    options: &RehearsalOptions,
    preference: &Preference,
    resolver: &Resolver,
    spec: DeploymentSpec,
) -> Result<DeploymentPlan, Error> {
    let watched = preference
        .alarms
        .iter()
        .map(|id| {
            let props = template.alarms.get(id).ok_or_else(|| {
                bad(template, format!(
                    "the deployment preference names alarm {id}, which is not an AWS::CloudWatch::Alarm of the template"
                ))
            })?;
            Ok((id.as_str(), props))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let alarms = watched
        .iter()
        .map(|(id, props)| Alarm::from_template(id, props, resolver))
        .collect::<Result<Vec<_>, Error>>()?;
    let config_name = match &options.deployment_type {
        Some(t) => t.clone(),
        None => resolver
            .string(&preference.deployment_type)
            .map_err(|e| unresolved(template, "DeploymentPreference.Type".into(), e))?,
    };
    // A deployment group names the configuration in full (`CodeDeployDefault.LambdaAllAtOnce`).
    let config_name = config_name
        .strip_prefix("CodeDeployDefault.Lambda")
        .unwrap_or(&config_name);
    let config: TrafficConfig = config_name.parse()?;
    let mut plan = DeploymentPlan::new(spec, config, options.time_scale);
    plan.alarms = alarms;
    plan.notifications =
        Notifications::from_template(&preference.triggers, &watched, &template.topics)?;
    plan.hook_timeout = options.hook_timeout;
    plan.traffic = options.traffic.clone();
    Ok(plan)
}
