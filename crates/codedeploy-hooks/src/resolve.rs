//! Finding the version under test and the phase: code, then environment, then the AppSpec.

use tracing::{debug, warn};

use crate::appspec::AppSpec;
use crate::deployment::{function_name_of, Deployment, Phase};
use crate::error::Error;

pub use crate::deployment::TARGET_ENV;

/// A function and version named by code or the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Named {
    pub(crate) function_name: String,
    pub(crate) version: String,
}

impl Named {
    /// Parse `NAME:VERSION` or a version ARN; `source_name` names the origin in errors.
    pub(crate) fn parse(source_name: &str, value: &str) -> Result<Named, Error> {
        let invalid = |reason: &str| Error::InvalidSetting {
            source_name: source_name.to_owned(),
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let value = value.trim();
        let (rest, version) = value
            .rsplit_once(':')
            .ok_or_else(|| invalid("names no version; expected NAME:VERSION or a version ARN"))?;
        if version.is_empty() || !version.chars().all(|c| c.is_ascii_digit()) {
            return Err(invalid(
                "does not end in a version number (not an alias or $LATEST: checks must run the exact new version)",
            ));
        }
        let function_name = function_name_of(rest);
        if function_name.is_empty() || rest.starts_with("arn:") && !rest.contains(":function:") {
            return Err(invalid(
                "names no function; expected NAME:VERSION or a version ARN",
            ));
        }
        Ok(Named {
            function_name: function_name.to_owned(),
            version: version.to_owned(),
        })
    }

    fn display(&self) -> String {
        format!("{}:{}", self.function_name, self.version)
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
}

/// Decide what to test. With a deployment id the AppSpec is read too: it supplies what the
/// code and environment leave open, and must agree with what they say.
pub(crate) async fn resolve(
    codedeploy: &aws_sdk_codedeploy::Client,
    deployment_id: Option<&str>,
    known: &Known,
) -> Result<Deployment, Error> {
    let given = match (&known.in_code, &known.in_env) {
        (Some(code), Some(env)) if code != env => {
            return Err(Error::TargetConflict {
                first: "Hook::target",
                first_value: code.display(),
                second: TARGET_ENV,
                second_value: env.display(),
            })
        }
        (Some(code), _) => Some((code, "Hook::target")),
        (None, Some(env)) => Some((env, TARGET_ENV)),
        (None, None) => None,
    };
    let spec = match (deployment_id, given) {
        (Some(id), None) => Some(read_appspec(codedeploy, id).await?),
        (Some(id), Some(_)) => match read_appspec(codedeploy, id).await {
            Ok(spec) => Some(spec),
            Err(err) => {
                // The version is known; the AppSpec only cross-checks it. A hook role without
                // codedeploy:GetDeployment still works.
                warn!(error = %err, "could not read the AppSpec to cross-check the target version");
                None
            }
        },
        (None, _) => None,
    };
    if let (Some((named, source)), Some(spec)) = (given, &spec) {
        if named.function_name != function_name_of(&spec.function_name)
            || named.version != spec.target_version
        {
            return Err(Error::TargetConflict {
                first: source,
                first_value: named.display(),
                second: "the deployment's AppSpec",
                second_value: format!("{}:{}", spec.function_name, spec.target_version),
            });
        }
    }
    let (function_name, target_version) = match (given, &spec) {
        (Some((named, _)), _) => (named.function_name.clone(), named.version.clone()),
        (None, Some(spec)) => (
            function_name_of(&spec.function_name).to_owned(),
            spec.target_version.clone(),
        ),
        (None, None) => {
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
    };
    debug!(?deployment, "resolved the version under test");
    Ok(deployment)
}

/// GetDeployment, then GetApplicationRevision when the content is not inline.
async fn read_appspec(
    codedeploy: &aws_sdk_codedeploy::Client,
    deployment_id: &str,
) -> Result<AppSpec, Error> {
    let unusable = |reason: String| Error::AppSpec {
        what: format!("the AppSpec of deployment {deployment_id}"),
        reason,
    };
    let out = codedeploy
        .get_deployment()
        .deployment_id(deployment_id)
        .send()
        .await
        .map_err(|e| Error::aws("codedeploy:GetDeployment", e))?;
    let info = out
        .deployment_info()
        .ok_or_else(|| unusable("GetDeployment returned no deploymentInfo".into()))?;
    let revision = info
        .revision()
        .ok_or_else(|| unusable("the deployment has no revision".into()))?;
    let content = match inline_content(revision) {
        Some(content) => content.to_owned(),
        None => {
            let application = info.application_name().ok_or_else(|| {
                unusable("the deployment names no application to read the revision from".into())
            })?;
            let out = codedeploy
                .get_application_revision()
                .application_name(application)
                .revision(revision.clone())
                .send()
                .await
                .map_err(|e| Error::aws("codedeploy:GetApplicationRevision", e))?;
            out.revision()
                .and_then(inline_content)
                .ok_or_else(|| {
                    unusable("neither GetDeployment nor GetApplicationRevision returned AppSpec content (S3 or GitHub revisions are not read)".into())
                })?
                .to_owned()
        }
    };
    AppSpec::parse_content(&content).map_err(unusable)
}

fn inline_content(revision: &aws_sdk_codedeploy::types::RevisionLocation) -> Option<&str> {
    let string = revision.string().and_then(|s| s.content());
    let appspec = revision.app_spec_content().and_then(|s| s.content());
    string.or(appspec).filter(|c| !c.trim().is_empty())
}

#[cfg(test)]
mod tests;
