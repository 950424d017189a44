//! Finding the version under test and the phase: code, then environment, then the AppSpec.

use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, warn};

use crate::appspec::{AppSpec, AppSpecProblem};
use crate::call::{Call, CallLog, CallPolicy};
use crate::deployment::{Deployment, Phase};
use crate::error::Error;
use crate::function_ref::{is_version_number, FunctionRef, Home, TargetProblem};
use crate::invocation::shorten;

pub use crate::deployment::TARGET_ENV;

/// A function and version named by code or the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Named {
    pub(crate) function: FunctionRef,
    pub(crate) version: String,
}

impl Named {
    /// Parse `NAME:VERSION` or a version ARN; `source_name` names the origin in errors.
    pub(crate) fn parse(source_name: &str, value: &str) -> Result<Named, Error> {
        let invalid = |problem: TargetProblem| Error::InvalidSetting {
            source_name: source_name.to_owned(),
            value: shorten(value).into_owned(),
            problem,
        };
        let mut function = FunctionRef::parse(value.trim()).map_err(invalid)?;
        let version = function
            .qualifier
            .take()
            .ok_or_else(|| invalid(TargetProblem::NoVersion))?;
        if !is_version_number(&version) {
            return Err(invalid(TargetProblem::NotAVersion));
        }
        Ok(Named { function, version })
    }

    /// Refuse a function of another account or region than the hook's.
    pub(crate) fn check_home(&self, source_name: &str, home: &Home) -> Result<(), Error> {
        self.function
            .check_home(home)
            .map_err(|problem| Error::InvalidSetting {
                source_name: source_name.to_owned(),
                value: self.display(),
                problem,
            })
    }

    fn display(&self) -> String {
        format!("{}:{}", self.function, self.version)
    }
}

/// What the hook knows before it asks CodeDeploy.
#[derive(Debug, Clone, Default)]
pub(crate) struct Known {
    pub(crate) in_code: Option<Named>,
    pub(crate) in_env: Option<Named>,
    pub(crate) alias: Option<String>,
    pub(crate) phase: Option<Phase>,
    /// This hook's own function name, to find its phase under the AppSpec's `Hooks`.
    pub(crate) own_function_name: Option<String>,
    /// The hook's account and region: the function under test must be there too.
    pub(crate) home: Home,
}

/// How to read the deployment: the client, the policy, and the time there is.
pub(crate) struct Reading<'a> {
    pub(crate) codedeploy: &'a aws_sdk_codedeploy::Client,
    pub(crate) policy: &'a CallPolicy,
    pub(crate) log: &'a CallLog,
    /// When the checks must stop (the Lambda deadline minus the reserve).
    pub(crate) deadline: Option<Instant>,
}

/// The deployment to test, and what went wrong on the way without deciding the verdict.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub(crate) deployment: Deployment,
    pub(crate) warnings: Vec<String>,
}

/// What the checks are for, in the summary and the logs.
pub(crate) const READING: &str = "reading the deployment";

/// Decide what to test. With a deployment id the AppSpec is read too: it supplies what the
/// code and environment leave open, and must agree with what they say.
pub(crate) async fn resolve(
    reading: &Reading<'_>,
    deployment_id: Option<&str>,
    known: &Known,
) -> Result<Resolved, Error> {
    let given = given_target(known)?;
    let mut warnings = Vec::new();
    let spec = match deployment_id {
        Some(id) => read_for(reading, id, given.is_some(), &mut warnings).await?,
        None => None,
    };
    let spec_function = spec
        .as_ref()
        .map(|s| validate(s, &known.home))
        .transpose()?;
    if let (Some((named, source)), Some(spec), Some(function)) = (&given, &spec, &spec_function) {
        if !named.function.same_function(function) || named.version != spec.target_version {
            return Err(Error::TargetConflict {
                first: source,
                first_value: named.display(),
                second: "the deployment's AppSpec",
                second_value: format!("{}:{}", function, spec.target_version),
            });
        }
    }
    let (function_name, target_version) = match (&given, &spec, spec_function) {
        (Some((named, _)), _, _) => (named.function.name.clone(), named.version.clone()),
        (None, Some(spec), Some(function)) => (function.name, spec.target_version.clone()),
        _ => {
            return Err(Error::TargetUnknown {
                reason: "no target was configured and there is no deployment to read".into(),
            })
        }
    };
    let phase = known
        .phase
        .or_else(|| {
            let own = known.own_function_name.as_deref()?;
            spec.as_ref()?.phase_of(own)
        })
        .unwrap_or(Phase::Unknown);
    let deployment = Deployment {
        deployment_id: deployment_id.map(str::to_owned),
        phase,
        function_name,
        alias: known.alias.clone().or_else(|| spec.as_ref()?.alias.clone()),
        current_version: spec.as_ref().and_then(|s| s.current_version.clone()),
        target_version,
        created: None,
    };
    debug!(?deployment, "resolved the version under test");
    Ok(Resolved {
        deployment,
        warnings,
    })
}

/// The deployment's AppSpec. When the version is known already, the AppSpec only
/// cross-checks it (and may name the alias): it gets a bounded slice of the time, and its
/// failure is a warning, so a hook role without codedeploy:GetDeployment still works.
async fn read_for(
    reading: &Reading<'_>,
    deployment_id: &str,
    version_known: bool,
    warnings: &mut Vec<String>,
) -> Result<Option<AppSpec>, Error> {
    if !version_known {
        return read_appspec(reading, deployment_id, reading.deadline, None)
            .await
            .map(Some);
    }
    let (deadline, attempts) = cross_check_budget(reading);
    match read_appspec(reading, deployment_id, Some(deadline), Some(attempts)).await {
        Ok(spec) => Ok(Some(spec)),
        Err(err) => {
            warn!(error = %err, "could not read the deployment to cross-check the target version; going on with the configured one");
            warnings.push(format!("the deployment could not be read: {err}"));
            Ok(None)
        }
    }
}

/// The target named by code or the environment, validated; they must agree.
fn given_target(known: &Known) -> Result<Option<(Named, &'static str)>, Error> {
    let given = match (&known.in_code, &known.in_env) {
        (Some(code), Some(env)) if code != env => {
            return Err(Error::TargetConflict {
                first: "Hook::target",
                first_value: code.display(),
                second: TARGET_ENV,
                second_value: env.display(),
            })
        }
        (Some(code), _) => Some((code.clone(), "Hook::target")),
        (None, Some(env)) => Some((env.clone(), TARGET_ENV)),
        (None, None) => None,
    };
    if let Some((named, source)) = &given {
        named.check_home(source, &known.home)?;
    }
    Ok(given)
}

/// A cross-check may take a quarter of the time left, and at most three attempts.
fn cross_check_budget(reading: &Reading<'_>) -> (Instant, u32) {
    let now = Instant::now();
    let cap = reading.policy.attempt_timeout * 3 + Duration::from_secs(1);
    let slice = match reading.deadline {
        Some(deadline) => cap.min(deadline.saturating_duration_since(now) / 4),
        None => cap,
    };
    (now + slice, reading.policy.max_attempts.min(3))
}

/// The AppSpec's function and version must be what a hook may test: a function of the
/// hook's own account and region, and a published version.
fn validate(spec: &AppSpec, home: &Home) -> Result<FunctionRef, Error> {
    let unusable = |problem: AppSpecProblem| Error::AppSpec {
        what: "the deployment's AppSpec".into(),
        problem,
    };
    let function_problem = |problem: TargetProblem| {
        unusable(AppSpecProblem::Function {
            name: shorten(&spec.function_name).into_owned(),
            problem,
        })
    };
    let function = FunctionRef::parse(&spec.function_name).map_err(function_problem)?;
    if function.qualifier.is_some() {
        return Err(function_problem(TargetProblem::Qualified));
    }
    function.check_home(home).map_err(function_problem)?;
    if !is_version_number(&spec.target_version) {
        return Err(unusable(AppSpecProblem::NotAVersion(
            shorten(&spec.target_version).into_owned(),
        )));
    }
    Ok(function)
}

/// GetDeployment, then GetApplicationRevision when the content is not inline.
async fn read_appspec(
    reading: &Reading<'_>,
    deployment_id: &str,
    deadline: Option<Instant>,
    max_attempts: Option<u32>,
) -> Result<AppSpec, Error> {
    let unusable = |problem: AppSpecProblem| Error::AppSpec {
        what: format!("the AppSpec of deployment {}", shorten(deployment_id)),
        problem,
    };
    let call = |operation| Call {
        operation,
        attempt_timeout: reading.policy.attempt_timeout,
        max_attempts: Some(max_attempts.unwrap_or(reading.policy.max_attempts)),
        deadline,
        policy: reading.policy,
        log: Some(reading.log),
        context: READING,
    };
    let codedeploy = reading.codedeploy;
    let operation = "codedeploy:GetDeployment";
    let out = call(operation)
        .run(|| async {
            let sent = codedeploy
                .get_deployment()
                .deployment_id(deployment_id)
                .send();
            sent.await.map_err(|e| Error::aws(operation, e))
        })
        .await?;
    let info = out.deployment_info().ok_or_else(|| {
        unusable(AppSpecProblem::NotReadable(
            "GetDeployment returned no deploymentInfo",
        ))
    })?;
    let revision = info.revision().ok_or_else(|| {
        unusable(AppSpecProblem::NotReadable(
            "the deployment has no revision",
        ))
    })?;
    let content = match inline_content(revision) {
        Some(content) => content.to_owned(),
        None => {
            let application = info.application_name().ok_or_else(|| {
                unusable(AppSpecProblem::NotReadable(
                    "the deployment names no application to read the revision from",
                ))
            })?;
            let operation = "codedeploy:GetApplicationRevision";
            read_revision(call(operation), codedeploy, application, revision)
                .await?
                .ok_or_else(|| {
                    unusable(AppSpecProblem::NotReadable("neither GetDeployment nor GetApplicationRevision returned AppSpec content (S3 or GitHub revisions are not read)"))
                })?
        }
    };
    AppSpec::parse_content(&content).map_err(unusable)
}

/// The content GetApplicationRevision returns for a revision, if it is inline.
async fn read_revision(
    call: Call<'_>,
    codedeploy: &aws_sdk_codedeploy::Client,
    application: &str,
    revision: &aws_sdk_codedeploy::types::RevisionLocation,
) -> Result<Option<String>, Error> {
    let operation = call.operation;
    let out = call
        .run(|| async {
            let sent = codedeploy
                .get_application_revision()
                .application_name(application)
                .revision(revision.clone())
                .send();
            sent.await.map_err(|e| Error::aws(operation, e))
        })
        .await?;
    Ok(out.revision().and_then(inline_content).map(str::to_owned))
}

fn inline_content(revision: &aws_sdk_codedeploy::types::RevisionLocation) -> Option<&str> {
    let string = revision.string().and_then(|s| s.content());
    let appspec = revision.app_spec_content().and_then(|s| s.content());
    string.or(appspec).filter(|c| !c.trim().is_empty())
}

#[cfg(test)]
mod tests;
