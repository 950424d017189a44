//! What is being deployed: the deployment, the phase, the function and its versions.

use std::fmt;

use serde::Serialize;

/// The environment variable naming the version under test: a version ARN
/// (`arn:aws:lambda:REGION:ACCOUNT:function:NAME:7`, what SAM's `!Ref Fn.Version` gives)
/// or `NAME:VERSION`.
pub const TARGET_ENV: &str = "CODEDEPLOY_HOOKS_TARGET";

/// The environment variable that tells a [`Watch`](crate::Watch) its clock runs this many
/// times faster than real: `codedeploy-local` sets it to its time scale, so that a 30 s
/// interval lasts 0.5 s in a rehearsal at x60. Unset (1) in AWS.
pub const TIME_SCALE_ENV: &str = "CODEDEPLOY_HOOKS_TIME_SCALE";

/// When the hook runs, relative to the traffic shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum Phase {
    /// `BeforeAllowTraffic`: the alias still points at the current version.
    PreTraffic,
    /// `AfterAllowTraffic`: the alias points at the target version.
    PostTraffic,
    /// Not configured, and this function is not named under the AppSpec's `Hooks`.
    Unknown,
}

impl Phase {
    /// The AppSpec lifecycle event name, e.g. `BeforeAllowTraffic`.
    ///
    /// ```
    /// use codedeploy_hooks::Phase;
    /// assert_eq!(Phase::PreTraffic.lifecycle_event(), "BeforeAllowTraffic");
    /// ```
    pub fn lifecycle_event(self) -> &'static str {
        match self {
            Phase::PreTraffic => "BeforeAllowTraffic",
            Phase::PostTraffic => "AfterAllowTraffic",
            Phase::Unknown => "Unknown",
        }
    }

    /// The phase of an AppSpec lifecycle event name (`BeforeAllowTraffic`, `AfterAllowTraffic`).
    ///
    /// ```
    /// use codedeploy_hooks::Phase;
    /// assert_eq!(Phase::from_lifecycle_event("AfterAllowTraffic"), Some(Phase::PostTraffic));
    /// ```
    pub fn from_lifecycle_event(name: &str) -> Option<Phase> {
        if name.eq_ignore_ascii_case("BeforeAllowTraffic") {
            Some(Phase::PreTraffic)
        } else if name.eq_ignore_ascii_case("AfterAllowTraffic") {
            Some(Phase::PostTraffic)
        } else {
            None
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::PreTraffic => "PreTraffic",
            Phase::PostTraffic => "PostTraffic",
            Phase::Unknown => "Unknown",
        })
    }
}

/// The deployment a hook is checking, as the checks see it.
///
/// ```
/// use codedeploy_hooks::{Deployment, Phase};
///
/// let deployment = Deployment::new("hello", "4").with_phase(Phase::PreTraffic).with_alias("live");
/// assert_eq!(deployment.qualified_target(), "hello:4");
/// assert_eq!(deployment.phase.lifecycle_event(), "BeforeAllowTraffic");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Deployment {
    /// The CodeDeploy deployment id (`d-...`); `None` when run as a CLI without `--report`.
    pub deployment_id: Option<String>,
    /// Before or after the traffic shift.
    pub phase: Phase,
    /// The name of the function being deployed.
    pub function_name: String,
    /// The alias that CodeDeploy shifts, when known.
    pub alias: Option<String>,
    /// The version the alias points at before the deployment, when known.
    pub current_version: Option<String>,
    /// The version under test. Checks always invoke `function_name:target_version`.
    pub target_version: String,
    /// When the deployment was created, when known without asking CodeDeploy (a CLI's
    /// `--since`): where a canary analysis's window starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<std::time::SystemTime>,
}

impl Deployment {
    /// A deployment of `function_name` to `target_version`, phase unknown: for tests and
    /// for running checks by hand.
    ///
    /// ```
    /// let d = codedeploy_hooks::Deployment::new("hello", "4");
    /// assert_eq!(d.qualified_target(), "hello:4");
    /// ```
    pub fn new(function_name: impl Into<String>, target_version: impl Into<String>) -> Self {
        Deployment {
            deployment_id: None,
            phase: Phase::Unknown,
            function_name: function_name.into(),
            alias: None,
            current_version: None,
            target_version: target_version.into(),
            created: None,
        }
    }

    /// The same deployment in another phase.
    ///
    /// ```
    /// use codedeploy_hooks::{Deployment, Phase};
    /// let d = Deployment::new("hello", "4").with_phase(Phase::PostTraffic);
    /// assert_eq!(d.phase, Phase::PostTraffic);
    /// ```
    pub fn with_phase(mut self, phase: Phase) -> Self {
        self.phase = phase;
        self
    }

    /// The same deployment with the alias being shifted.
    ///
    /// ```
    /// let d = codedeploy_hooks::Deployment::new("hello", "4").with_alias("live");
    /// assert_eq!(d.alias.as_deref(), Some("live"));
    /// ```
    pub fn with_alias(mut self, alias: impl Into<String>) -> Self {
        self.alias = Some(alias.into());
        self
    }

    /// `name:version`, the qualified name that checks invoke.
    ///
    /// ```
    /// assert_eq!(codedeploy_hooks::Deployment::new("hello", "4").qualified_target(), "hello:4");
    /// ```
    pub fn qualified_target(&self) -> String {
        format!("{}:{}", self.function_name, self.target_version)
    }
}

/// The function name in a plain name, a partial ARN (`123456789012:function:name`) or a full
/// ARN, with any qualifier removed.
///
/// ```
/// use codedeploy_hooks::function_name_of;
/// assert_eq!(function_name_of("hello:live"), "hello");
/// assert_eq!(function_name_of("arn:aws:lambda:us-east-1:123456789012:function:hello:4"), "hello");
/// assert_eq!(function_name_of("123456789012:function:hello"), "hello");
/// ```
pub fn function_name_of(name_or_arn: &str) -> &str {
    let parts: Vec<&str> = name_or_arn.split(':').collect();
    match parts.iter().position(|p| *p == "function") {
        Some(i) if i + 1 < parts.len() => parts[i + 1],
        _ => parts[0],
    }
}

#[cfg(test)]
mod tests {
    use super::function_name_of;

    #[test]
    fn function_names_are_found_in_names_and_arns() {
        assert_eq!(function_name_of("hello"), "hello");
        assert_eq!(function_name_of("hello:7"), "hello");
        assert_eq!(
            function_name_of("arn:aws:lambda:eu-west-1:123456789012:function:hello"),
            "hello"
        );
        assert_eq!(
            function_name_of("arn:aws:lambda:eu-west-1:123456789012:function:hello:live"),
            "hello"
        );
        assert_eq!(function_name_of("123456789012:function:hello"), "hello");
    }
}
