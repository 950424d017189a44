//! What a stack's rehearsal refuses before anything is built or published, each refusal
//! naming the function and what to fix; and finding a function's hooks and variables.

use std::collections::BTreeMap;

use super::options::RehearsalOptions;
use super::template::{AlarmProperties, ResolveError, Resolver, Template, TemplateFunction};
use crate::error::Error;

/// What a stack update would refuse before any deployment: hooks or alarms not in the
/// template, functions whose aliases collide; flags naming what is not deployed.
pub(crate) fn check_stack(
    template: &Template,
    options: &RehearsalOptions,
    resolver: &Resolver,
    deployed: &[&TemplateFunction],
) -> Result<(), Error> {
    check_functions(template, resolver, deployed)?;
    check_flags(template, options, deployed)
}

fn check_functions(
    template: &Template,
    resolver: &Resolver,
    deployed: &[&TemplateFunction],
) -> Result<(), Error> {
    let mut aliases: BTreeMap<(String, String), &str> = BTreeMap::new();
    for f in deployed {
        hooks(template, f)?;
        watched_alarms(template, f)?;
        let name = resolver.function_names[&f.logical_id].clone();
        let alias = f.alias_name().to_owned();
        if let Some(other) = aliases.insert((name.clone(), alias.clone()), &f.logical_id) {
            return Err(bad(template, format!(
                "{other} and {} are both the function {name}: their aliases {name}:{alias} collide; give each its own FunctionName",
                f.logical_id
            )));
        }
    }
    Ok(())
}

fn check_flags(
    template: &Template,
    options: &RehearsalOptions,
    deployed: &[&TemplateFunction],
) -> Result<(), Error> {
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

pub(crate) fn bad(template: &Template, reason: String) -> Error {
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

/// The hooks of `deployed`'s preference, each with its lifecycle event: functions of the
/// template, or an error naming both.
pub(crate) fn hooks<'t>(
    template: &'t Template,
    deployed: &TemplateFunction,
) -> Result<Vec<(&'static str, &'t TemplateFunction)>, Error> {
    let Some(preference) = &deployed.deployment else {
        return Ok(Vec::new());
    };
    let named = [
        ("BeforeAllowTraffic", &preference.pre_traffic),
        ("AfterAllowTraffic", &preference.post_traffic),
    ];
    let mut found = Vec::new();
    for (event, id) in named {
        let Some(id) = id else { continue };
        let hook = template.functions.get(id).ok_or_else(|| {
            bad(
                template,
                format!(
                    "{}'s DeploymentPreference names the hook {id}, which is not an AWS::Serverless::Function of the template",
                    deployed.logical_id
                ),
            )
        })?;
        found.push((event, hook));
    }
    Ok(found)
}

/// The alarms `deployed`'s preference watches (logical id and properties): alarms of the
/// template, or an error naming both.
pub(crate) fn watched_alarms<'t>(
    template: &'t Template,
    deployed: &'t TemplateFunction,
) -> Result<Vec<(&'t str, &'t AlarmProperties)>, Error> {
    let Some(preference) = &deployed.deployment else {
        return Ok(Vec::new());
    };
    preference
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
        .collect()
}
