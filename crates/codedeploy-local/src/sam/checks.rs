//! What a stack's rehearsal refuses before anything is built or published, each refusal
//! naming the function and what to fix; and finding a function's hooks and variables.

use std::collections::BTreeMap;

use super::options::RehearsalOptions;
use super::template::{ResolveError, Resolver, Template, TemplateFunction};
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
