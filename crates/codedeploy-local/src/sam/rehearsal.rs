//! From a template to a deployment plan: build the functions with cargo, publish the current
//! and target versions and the hooks in the stand-in, and read the alarms.

use std::collections::BTreeMap;
use std::sync::Arc;

use tracing::info;

use super::checks::{bad, check_stack, hooks, unresolved, watched_alarms};
use super::deployer;
use super::options::{RehearsalOptions, TARGET_VERSION};
use super::publishing::Publishing;
use super::resource_policies;
use super::roles::{resource_names, Roles};
use super::template::{Preference, Resolver, Template, TemplateFunction};
use crate::alarms::Alarm;
use crate::codedeploy::config::TrafficConfig;
use crate::codedeploy::notifications::Notifications;
use crate::codedeploy::plan::DeploymentPlan;
use crate::codedeploy::spec::DeploymentSpec;
use crate::error::Error;
use crate::StandIn;

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
        return template.gradual_functions();
    }
    let mut functions: Vec<&TemplateFunction> = Vec::new();
    for id in chosen {
        let f = template.deployed_function(Some(id))?;
        if !functions.iter().any(|g| g.logical_id == f.logical_id) {
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
        let versions = (f.alias_name().to_owned(), TARGET_VERSION.to_owned());
        resolver.versions.insert(f.logical_id.clone(), versions);
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
            for (_, hook) in hooks(template, f)? {
                function_roles.push(roles.of_function(hook));
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

/// The deployments of a stack update, in the template's order of functions.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StackPlan {
    /// One per function deployed.
    pub members: Vec<StackMember>,
}

impl StackPlan {
    /// The calls made on the deployer's behalf that its policy does not allow, over every
    /// deployment, each once (the hooks' roles are passed for each function they serve):
    /// with any refused, the stack update fails before CodeDeploy starts.
    pub fn deployer_denials(&self) -> Vec<crate::iam::Denial> {
        let mut denials = Vec::new();
        for denial in self.members.iter().flat_map(|m| &m.plan.deployer_denials) {
            deployer::keep_distinct(&mut denials, denial.clone());
        }
        denials
    }
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
    let watched = watched_alarms(template, deployed)?;
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
