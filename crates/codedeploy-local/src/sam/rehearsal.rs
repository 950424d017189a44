//! From a template to a deployment plan: build the functions with cargo, publish the current
//! and target versions and the hooks in the stand-in, and read the alarms.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tracing::info;

use super::build::Binaries;
use super::deployer;
use super::publishing::Publishing;
use super::resource_policies;
use super::roles::{resource_names, Roles};
use super::template::{Preference, ResolveError, Resolver, Template, TemplateFunction};
use crate::alarms::Alarm;
use crate::codedeploy::config::TrafficConfig;
use crate::codedeploy::notifications::Notifications;
use crate::codedeploy::plan::{DeploymentPlan, Traffic, HOOK_TIMEOUT};
use crate::codedeploy::spec::DeploymentSpec;
use crate::error::Error;
use crate::StandIn;

/// The version numbers the rehearsal publishes: the current one, and the new one.
pub const CURRENT_VERSION: &str = "1";
/// The version under deployment.
pub const TARGET_VERSION: &str = "2";

/// How to rehearse a template's deployment.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RehearsalOptions {
    /// The logical ids of the functions to deploy; none: every function with an enabled
    /// `DeploymentPreference` ([`prepare_stack`]), or the only one ([`prepare`]).
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
    /// [`DeploymentPlan::deployer_denials`].
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

/// Build, publish and plan one function's deployment: after this, [`StandIn::deploy`] runs
/// it. The function is `options.functions`' only one, or the template's only function with
/// a `DeploymentPreference`.
///
/// # Errors
/// [`Error::Template`], [`Error::UnsupportedAlarm`], [`Error::Build`] or
/// [`Error::MissingBinary`], each naming what to fix.
pub async fn prepare(
    local: &StandIn,
    template: &Template,
    options: &RehearsalOptions,
) -> Result<DeploymentPlan, Error> {
    if options.functions.len() > 1 {
        return Err(bad(
            template,
            "prepare deploys one function; prepare_stack deploys several".into(),
        ));
    }
    let deployed = template.deployed_function(options.functions.first().map(String::as_str))?;
    let mut stack = prepare_functions(local, template, options, &[deployed]).await?;
    Ok(stack.members.remove(0).plan)
}

/// Build, publish and plan the deployments a stack update starts: one per function with an
/// enabled `DeploymentPreference` (or those `options.functions` names), each in its own
/// deployment group, hooks shared where the template shares them. After this,
/// [`StandIn::deploy_stack`] runs them.
///
/// # Errors
/// As [`prepare`]; and [`Error::Template`] naming the function when a hook or an alarm is
/// not in the template, two functions' aliases collide, a chosen function has no
/// `DeploymentPreference`, or a `LOGICAL_ID.NAME` variable names a function not deployed.
pub async fn prepare_stack(
    local: &StandIn,
    template: &Template,
    options: &RehearsalOptions,
) -> Result<StackPlan, Error> {
    let chosen = chosen_functions(template, &options.functions)?;
    prepare_functions(local, template, options, &chosen).await
}

/// The functions a stack update deploys: the chosen ones, or every one with a preference.
fn chosen_functions<'t>(
    template: &'t Template,
    chosen: &[String],
) -> Result<Vec<&'t TemplateFunction>, Error> {
    if chosen.is_empty() {
        let gradual: Vec<_> = template
            .functions
            .values()
            .filter(|f| f.deployment.is_some())
            .collect();
        if gradual.is_empty() {
            return Err(bad(
                template,
                "no function has an enabled DeploymentPreference".into(),
            ));
        }
        return Ok(gradual);
    }
    let mut functions = Vec::new();
    for id in chosen {
        let f = template.deployed_function(Some(id))?;
        if !functions
            .iter()
            .any(|g: &&TemplateFunction| g.logical_id == f.logical_id)
        {
            functions.push(f);
        }
    }
    Ok(functions)
}

async fn prepare_functions(
    local: &StandIn,
    template: &Template,
    options: &RehearsalOptions,
    deployed: &[&TemplateFunction],
) -> Result<StackPlan, Error> {
    let mut resolver = resolver_for(local, template)?;
    for f in deployed {
        let alias = f.alias.clone().unwrap_or_else(|| "live".into());
        resolver
            .versions
            .insert(f.logical_id.clone(), (alias, TARGET_VERSION.to_owned()));
    }
    resource_names(template, &mut resolver);
    check_stack(template, options, &resolver, deployed)?;
    for f in deployed {
        serve_apis(local, template, f, &mut resolver).await?;
    }
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
    let specs = publishing.publish(deployed).await?;
    resource_policies::attach(template, &resolver, local.lambda.iam());
    let mut members = Vec::new();
    for (f, spec) in deployed.iter().zip(specs) {
        let preference = f.deployment.as_ref().ok_or_else(|| {
            bad(
                template,
                format!("{} has no DeploymentPreference", f.logical_id),
            )
        })?;
        let mut plan = plan_of(template, options, f, preference, &resolver, spec)?;
        plan.service_role = Some(roles.of_deployment(f));
        if let Some(policy) = &options.deployer_policy {
            let mut function_roles = vec![roles.of_function(f)];
            for hook in [&preference.pre_traffic, &preference.post_traffic] {
                if let Some(hook) = hook_function(template, f, hook)? {
                    function_roles.push(roles.of_function(hook));
                }
            }
            plan.deployer_denials = deployer_denials(local, policy, &plan, &function_roles);
        }
        members.push(StackMember {
            function: f.logical_id.clone(),
            plan,
        });
    }
    Ok(StackPlan { members })
}

/// What a stack update would refuse before any deployment: hooks not in the template,
/// functions whose aliases collide, variables scoped to a function not deployed.
fn check_stack(
    template: &Template,
    options: &RehearsalOptions,
    resolver: &Resolver,
    deployed: &[&TemplateFunction],
) -> Result<(), Error> {
    let mut aliases: BTreeMap<(String, String), &str> = BTreeMap::new();
    for f in deployed {
        if let Some(preference) = &f.deployment {
            for hook in [&preference.pre_traffic, &preference.post_traffic] {
                hook_function(template, f, hook)?;
            }
            if let Some(id) = preference
                .alarms
                .iter()
                .find(|id| !template.alarms.contains_key(*id))
            {
                return Err(bad(template, format!(
                    "{}'s DeploymentPreference names the alarm {id}, which is not an AWS::CloudWatch::Alarm of the template",
                    f.logical_id
                )));
            }
        }
        let name = resolver.function_names[&f.logical_id].clone();
        let alias = f.alias.clone().unwrap_or_else(|| "live".into());
        if let Some(other) = aliases.insert((name.clone(), alias.clone()), &f.logical_id) {
            return Err(bad(template, format!(
                "{other} and {} are both the function {name}: their aliases {name}:{alias} collide; give each its own FunctionName",
                f.logical_id
            )));
        }
    }
    if let Some(o) = &options.alarm_override {
        let known: Vec<&str> = deployed
            .iter()
            .filter_map(|f| f.deployment.as_ref())
            .flat_map(|p| p.alarms.iter().map(String::as_str))
            .collect();
        if let Some(name) = o.alarms.iter().find(|n| !known.contains(&n.as_str())) {
            return Err(bad(
                template,
                format!(
                "--override-alarms {name}: no function deployed watches it; their alarms are {}",
                known.join(", ")
            ),
            ));
        }
    }
    for (flag, variables) in [
        ("--target-env", &options.target_env),
        ("--current-env", &options.current_env),
    ] {
        for (key, _) in variables {
            let Some((id, _)) = key.split_once('.') else {
                continue;
            };
            if !deployed.iter().any(|f| f.logical_id == id) {
                let ids: Vec<&str> = deployed.iter().map(|f| f.logical_id.as_str()).collect();
                return Err(bad(
                    template,
                    format!(
                        "{flag} {key}: {id} is not a function this rehearsal deploys ({})",
                        ids.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The variables of `entries` that apply to `logical_id`: plain `NAME`s, and
/// `LOGICAL_ID.NAME`s of that function (Lambda's variable names have no dot).
pub(crate) fn scoped_to<'a>(
    entries: &'a [(String, String)],
    logical_id: &'a str,
) -> impl Iterator<Item = (String, String)> + 'a {
    entries
        .iter()
        .filter_map(move |(key, value)| match key.split_once('.') {
            Some((id, name)) if id == logical_id => Some((name.to_owned(), value.clone())),
            Some(_) => None,
            None => Some((key.clone(), value.clone())),
        })
}

/// The deployments of a stack update, in the template's order of functions.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StackPlan {
    /// One per function deployed.
    pub members: Vec<StackMember>,
}

/// A function of the stack and its deployment's plan.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StackMember {
    /// The function's logical id.
    pub function: String,
    /// Its deployment.
    pub plan: DeploymentPlan,
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

pub(crate) fn unresolved(template: &Template, field: String, source: ResolveError) -> Error {
    Error::Unresolved {
        path: template.path.clone(),
        field,
        source,
    }
}

/// A hook of `deployed`'s preference: a function of the template, or an error naming both.
pub(crate) fn hook_function<'t>(
    template: &'t Template,
    deployed: &TemplateFunction,
    id: &Option<String>,
) -> Result<Option<&'t TemplateFunction>, Error> {
    id.as_ref()
        .map(|id| {
            template.functions.get(id).ok_or_else(|| {
                bad(
                    template,
                    format!(
                        "{}'s DeploymentPreference names the hook {id}, which is not an AWS::Serverless::Function of the template",
                        deployed.logical_id
                    ),
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

/// The deployment plan: configuration, alarms and notifications of the preference.
fn plan_of(
    template: &Template,
    options: &RehearsalOptions,
    deployed: &TemplateFunction,
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
                    "{}'s DeploymentPreference names the alarm {id}, which is not an AWS::CloudWatch::Alarm of the template",
                    deployed.logical_id
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
        None => resolver.string(&preference.deployment_type).map_err(|e| {
            let field = format!("{}.DeploymentPreference.Type", deployed.logical_id);
            unresolved(template, field, e)
        })?,
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
    plan.alarm_override = options.alarm_override.as_ref().map(|o| {
        // Each deployment watches the named alarms of its own function, by name.
        let mut own = o.clone();
        own.alarms = watched
            .iter()
            .zip(&plan.alarms)
            .filter(|((id, _), _)| o.alarms.iter().any(|n| n == id))
            .map(|(_, alarm)| alarm.name.clone())
            .collect();
        if o.enabled && !o.alarms.is_empty() && own.alarms.is_empty() {
            own.enabled = false;
        }
        own
    });
    Ok(plan)
}
