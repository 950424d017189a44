//! Functions, their published versions and aliases, and the record of every invocation
//! served (what the alarms are evaluated from).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::error::Error;
use crate::lock;
use crate::runtime::{Identity, VersionRuntime, VersionSpec};

/// An alias: the version it points at, and extra versions with their share of traffic.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Alias {
    /// The alias name, e.g. `live`.
    pub name: String,
    /// The main version.
    pub function_version: String,
    /// `RoutingConfig.AdditionalVersionWeights`: version -> share (0.0 to 1.0).
    pub additional_weights: BTreeMap<String, f64>,
    /// Changes on every update, as Lambda's `RevisionId`.
    pub revision_id: String,
    /// The alias description.
    pub description: String,
}

/// One invocation the stand-in served, for metrics and alarms.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct InvocationRecord {
    /// When it was dispatched.
    pub at: SystemTime,
    /// The function.
    pub function_name: String,
    /// The alias it was invoked through, if any.
    pub alias: Option<String>,
    /// The version that ran.
    pub executed_version: String,
    /// How long it ran.
    pub duration: Duration,
    /// Whether it ended with a function error.
    pub error: bool,
    /// Whether it was refused by throttling (it then did not run).
    pub throttled: bool,
    /// Whether it was marked as smoke traffic by a hook.
    pub smoke: bool,
}

impl InvocationRecord {
    /// The record of an invocation that ran (dispatched at `at`).
    pub(crate) fn of(
        function_name: &str,
        alias: Option<String>,
        result: &crate::InvokeResult,
        at: SystemTime,
        smoke: bool,
    ) -> Self {
        InvocationRecord {
            at,
            function_name: function_name.to_owned(),
            alias,
            executed_version: result.executed_version.clone(),
            duration: result.duration,
            error: result.function_error.is_some(),
            throttled: false,
            smoke,
        }
    }
}

struct Function {
    versions: BTreeMap<u64, Arc<VersionRuntime>>,
    aliases: BTreeMap<String, Alias>,
}

/// What an invoke resolved to.
pub(crate) struct Resolved {
    pub(crate) function_name: String,
    pub(crate) alias: Option<String>,
    pub(crate) version: Arc<VersionRuntime>,
    pub(crate) version_name: String,
}

impl Resolved {
    /// Run the invocation, and record it for the metrics the alarms read.
    pub(crate) async fn invoke(
        self,
        registry: &Registry,
        payload: bytes::Bytes,
        client_context: Option<String>,
    ) -> crate::InvokeResult {
        let smoke = client_context.as_deref().is_some_and(is_smoke);
        let at = SystemTime::now();
        let result = self.version.invoke(payload, client_context).await;
        registry.record(InvocationRecord::of(
            &self.function_name,
            self.alias,
            &result,
            at,
            smoke,
        ));
        result
    }
}

/// Whether a client context marks smoke traffic from a codedeploy-hooks check.
fn is_smoke(client_context: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(client_context)
        .ok()
        .is_some_and(|v| {
            v["custom"][codedeploy_hooks::smoke::MARKER_KEY]
                == codedeploy_hooks::smoke::MARKER_VALUE
        })
}

/// All functions.
pub(crate) struct Registry {
    functions: Mutex<BTreeMap<String, Function>>,
    invocations: Mutex<Vec<InvocationRecord>>,
    pub(crate) region: String,
    pub(crate) account_id: String,
}

impl Registry {
    pub(crate) fn new(region: String, account_id: String) -> Self {
        Registry {
            functions: Mutex::new(BTreeMap::new()),
            invocations: Mutex::new(Vec::new()),
            region,
            account_id,
        }
    }

    pub(crate) fn function_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            self.region, self.account_id
        )
    }

    pub(crate) fn publish(
        &self,
        function_name: &str,
        version: &str,
        spec: VersionSpec,
        endpoint: &str,
        log_dir: Option<std::path::PathBuf>,
    ) -> Result<(), Error> {
        let number: u64 = version.parse().map_err(|_| Error::Version {
            function: function_name.to_owned(),
            version: version.to_owned(),
        })?;
        if !spec.binary.is_file() {
            return Err(Error::MissingBinary { path: spec.binary });
        }
        let identity = Identity {
            function_name: function_name.to_owned(),
            version: version.to_owned(),
            function_arn: format!("{}:{version}", self.function_arn(function_name)),
            region: self.region.clone(),
            endpoint: endpoint.to_owned(),
            log_dir,
        };
        let mut functions = lock(&self.functions);
        let function = functions
            .entry(function_name.to_owned())
            .or_insert_with(|| Function {
                versions: BTreeMap::new(),
                aliases: BTreeMap::new(),
            });
        function
            .versions
            .insert(number, VersionRuntime::new(identity, spec));
        Ok(())
    }

    pub(crate) fn set_alias(
        &self,
        function_name: &str,
        alias: &str,
        version: &str,
        weights: BTreeMap<String, f64>,
        expected_revision: Option<&str>,
    ) -> Result<Alias, AliasError> {
        let mut functions = lock(&self.functions);
        let function = functions
            .get_mut(function_name)
            .ok_or(AliasError::NoFunction)?;
        for v in std::iter::once(version).chain(weights.keys().map(String::as_str)) {
            let known = v
                .parse::<u64>()
                .ok()
                .is_some_and(|n| function.versions.contains_key(&n));
            if !known {
                return Err(AliasError::NoVersion(v.to_owned()));
            }
        }
        if weights.len() > 1
            || weights.values().any(|w| !(0.0..=1.0).contains(w))
            || weights.contains_key(version)
        {
            return Err(AliasError::BadWeights);
        }
        let existing = function.aliases.get(alias);
        if let (Some(expected), Some(existing)) = (expected_revision, existing) {
            if expected != existing.revision_id {
                return Err(AliasError::RevisionMismatch);
            }
        }
        let updated = Alias {
            name: alias.to_owned(),
            function_version: version.to_owned(),
            additional_weights: weights,
            revision_id: crate::runtime::new_request_id(),
            description: existing.map(|a| a.description.clone()).unwrap_or_default(),
        };
        function.aliases.insert(alias.to_owned(), updated.clone());
        Ok(updated)
    }

    pub(crate) fn alias(&self, function_name: &str, alias: &str) -> Option<Alias> {
        lock(&self.functions)
            .get(function_name)?
            .aliases
            .get(alias)
            .cloned()
    }

    /// The versions of a function, oldest first.
    pub(crate) fn versions(&self, function_name: &str) -> Option<Vec<(String, VersionSpec)>> {
        let functions = lock(&self.functions);
        let function = functions.get(function_name)?;
        Some(
            function
                .versions
                .iter()
                .map(|(n, v)| (n.to_string(), v.spec().clone()))
                .collect(),
        )
    }

    /// Resolve a name (plain, `name:qualifier`, or ARN) and qualifier to the version that
    /// runs, choosing by the alias weights.
    pub(crate) fn resolve(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<Resolved, NotFound> {
        let (function_name, embedded) = split_name(name);
        let qualifier = qualifier.or(embedded);
        let functions = lock(&self.functions);
        let function = functions.get(function_name).ok_or_else(|| NotFound {
            arn: self.function_arn(function_name),
        })?;
        let not_found = |q: &str| NotFound {
            arn: format!("{}:{q}", self.function_arn(function_name)),
        };
        let (alias, version_name) = match qualifier {
            None | Some("$LATEST") => {
                let (n, _) = function
                    .versions
                    .iter()
                    .next_back()
                    .ok_or_else(|| not_found("$LATEST"))?;
                (None, n.to_string())
            }
            Some(q) if q.chars().all(|c| c.is_ascii_digit()) => (None, q.to_owned()),
            Some(q) => {
                let alias = function.aliases.get(q).ok_or_else(|| not_found(q))?;
                (Some(q.to_owned()), pick_version(alias))
            }
        };
        let version = version_name
            .parse::<u64>()
            .ok()
            .and_then(|n| function.versions.get(&n))
            .ok_or_else(|| not_found(&version_name))?;
        Ok(Resolved {
            function_name: function_name.to_owned(),
            alias,
            version: Arc::clone(version),
            version_name,
        })
    }

    /// The process ids running a version.
    pub(crate) fn pids(&self, function_name: &str, version: &str) -> Vec<u32> {
        let functions = lock(&self.functions);
        let number = version.parse::<u64>().ok();
        functions
            .get(function_name)
            .and_then(|f| f.versions.get(&number?))
            .map(|v| v.pids())
            .unwrap_or_default()
    }

    pub(crate) fn record(&self, record: InvocationRecord) {
        lock(&self.invocations).push(record);
    }

    pub(crate) fn invocations(&self) -> Vec<InvocationRecord> {
        lock(&self.invocations).clone()
    }
}

/// A name and qualifier that resolve to no version, in Lambda's words.
#[derive(Debug, thiserror::Error)]
#[error("Function not found: {arn}")]
pub(crate) struct NotFound {
    /// The function's or version's ARN.
    pub(crate) arn: String,
}

/// Why an alias update was refused.
#[derive(Debug)]
pub(crate) enum AliasError {
    NoFunction,
    NoVersion(String),
    BadWeights,
    RevisionMismatch,
}

/// Weighted choice between the alias's main version and its additional version.
fn pick_version(alias: &Alias) -> String {
    let roll = fastrand::f64();
    let mut acc = 0.0;
    for (version, weight) in &alias.additional_weights {
        acc += weight;
        if roll < acc {
            return version.clone();
        }
    }
    alias.function_version.clone()
}

/// `hello`, `hello:7`, `123456789012:function:hello:live`, or a full ARN.
pub(crate) fn split_name(name: &str) -> (&str, Option<&str>) {
    let parts: Vec<&str> = name.split(':').collect();
    match parts.iter().position(|p| *p == "function") {
        Some(i) if i + 1 < parts.len() => (parts[i + 1], parts.get(i + 2).copied()),
        _ => match parts.as_slice() {
            [name, qualifier] => (name, Some(qualifier)),
            _ => (name, None),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_function_and_qualifier() {
        assert_eq!(split_name("hello"), ("hello", None));
        assert_eq!(split_name("hello:7"), ("hello", Some("7")));
        assert_eq!(
            split_name("arn:aws:lambda:us-east-1:000000000000:function:hello"),
            ("hello", None)
        );
        assert_eq!(
            split_name("arn:aws:lambda:us-east-1:000000000000:function:hello:live"),
            ("hello", Some("live"))
        );
        assert_eq!(
            split_name("000000000000:function:hello:3"),
            ("hello", Some("3"))
        );
    }

    #[test]
    fn alias_weights_split_traffic() {
        let alias = Alias {
            name: "live".into(),
            function_version: "3".into(),
            additional_weights: BTreeMap::from([("4".to_owned(), 0.25)]),
            revision_id: String::new(),
            description: String::new(),
        };
        fastrand::seed(7);
        let to_new = (0..4000).filter(|_| pick_version(&alias) == "4").count();
        assert!(
            (800..1200).contains(&to_new),
            "{to_new} of 4000 went to the new version"
        );
        let all_old = Alias {
            additional_weights: BTreeMap::new(),
            ..alias
        };
        assert!((0..100).all(|_| pick_version(&all_old) == "3"));
    }
}
