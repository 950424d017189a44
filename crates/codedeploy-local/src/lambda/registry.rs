//! Functions, their published versions, `$LATEST`, and aliases; and how a function name and
//! qualifier resolve to the version that runs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::runtime::VersionRuntime;
use super::version::{Identity, VersionSpec};
use crate::clock::WallClock;
use crate::error::Error;
use crate::request_id::new_request_id;
use crate::sync::lock;

pub use crate::invocation::LATEST;

/// An alias: the version it points at, and extra versions with their share of traffic.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Alias {
    /// The alias name, e.g. `live`.
    pub name: String,
    /// The main version (a number, or `$LATEST`).
    pub function_version: String,
    /// `RoutingConfig.AdditionalVersionWeights`: version -> share (0.0 to 1.0).
    pub additional_weights: BTreeMap<String, f64>,
    /// Changes on every update, as Lambda's `RevisionId`.
    pub revision_id: String,
    /// The alias description.
    pub description: String,
}

struct Function {
    versions: BTreeMap<u64, Arc<VersionRuntime>>,
    latest: Arc<VersionRuntime>,
    aliases: BTreeMap<String, Alias>,
}

/// What an invoke resolved to.
pub(crate) struct Resolved {
    pub(crate) function_name: String,
    pub(crate) alias: Option<String>,
    pub(crate) version: Arc<VersionRuntime>,
}

/// Why a name and qualifier resolve to nothing, in Lambda's terms.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LookupError {
    /// `ResourceNotFoundException`.
    #[error("Function not found: {arn}")]
    NotFound { arn: String },
    /// `InvalidParameterValueException`: `name:1` with `Qualifier=2`.
    #[error(
        "The derived qualifier from the function name does not match the specified qualifier."
    )]
    QualifierConflict,
    /// An ARN of another account or region: the stand-in is one account in one region.
    #[error(
        "Function not found: {arn}; codedeploy-local serves account {account} in {region} only"
    )]
    Foreign {
        arn: String,
        account: String,
        region: String,
    },
}

/// Why an alias update was refused.
#[derive(Debug)]
pub(crate) enum AliasError {
    NoFunction,
    NoVersion(String),
    BadWeights,
    LatestWithWeights,
    RevisionMismatch,
}

/// All functions.
pub(crate) struct Registry {
    functions: Mutex<BTreeMap<String, Function>>,
    pub(crate) region: String,
    pub(crate) account_id: String,
    clock: WallClock,
}

impl Registry {
    pub(crate) fn new(region: String, account_id: String, clock: WallClock) -> Self {
        Registry {
            functions: Mutex::new(BTreeMap::new()),
            region,
            account_id,
            clock,
        }
    }

    pub(crate) fn function_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            self.region, self.account_id
        )
    }

    /// Publish a version (and make its code `$LATEST`'s).
    pub(crate) fn publish(
        &self,
        base: Identity,
        version: &str,
        spec: VersionSpec,
    ) -> Result<(), Error> {
        let function_name = base.function_name.clone();
        let number: u64 = version.parse().map_err(|_| Error::Version {
            function: function_name.clone(),
            version: version.to_owned(),
        })?;
        if !spec.binary.is_file() {
            return Err(Error::MissingBinary { path: spec.binary });
        }
        let unqualified = self.function_arn(&function_name);
        let identity = |version: &str, arn: String| Identity {
            version: version.to_owned(),
            function_arn: arn,
            published: self.clock.now(),
            revision_id: new_request_id(),
            ..base.clone()
        };
        let published = VersionRuntime::new(
            identity(version, format!("{unqualified}:{version}")),
            spec.clone(),
        );
        let latest = VersionRuntime::new(identity(LATEST, unqualified), spec);
        let mut functions = lock(&self.functions);
        match functions.get_mut(&function_name) {
            Some(function) => {
                if let Some(replaced) = function.versions.insert(number, published) {
                    replaced.retire();
                }
                std::mem::replace(&mut function.latest, latest).retire();
            }
            None => {
                functions.insert(
                    function_name,
                    Function {
                        versions: BTreeMap::from([(number, published)]),
                        latest,
                        aliases: BTreeMap::new(),
                    },
                );
            }
        }
        Ok(())
    }

    pub(crate) fn set_alias(
        &self,
        function_name: &str,
        alias: &str,
        version: &str,
        weights: BTreeMap<String, f64>,
        expected_revision: Option<&str>,
        description: Option<&str>,
    ) -> Result<Alias, AliasError> {
        let mut functions = lock(&self.functions);
        let function = functions
            .get_mut(function_name)
            .ok_or(AliasError::NoFunction)?;
        for v in std::iter::once(version).chain(weights.keys().map(String::as_str)) {
            let known = v == LATEST
                || v.parse::<u64>()
                    .ok()
                    .is_some_and(|n| function.versions.contains_key(&n));
            if !known {
                return Err(AliasError::NoVersion(v.to_owned()));
            }
        }
        if !weights.is_empty() && (version == LATEST || weights.contains_key(LATEST)) {
            return Err(AliasError::LatestWithWeights);
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
            revision_id: new_request_id(),
            description: match description {
                Some(d) => d.to_owned(),
                None => existing.map(|a| a.description.clone()).unwrap_or_default(),
            },
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

    /// Whether a function has this published version (a number).
    pub(crate) fn has_version(&self, function_name: &str, version: &str) -> bool {
        let number = version.parse::<u64>().ok();
        lock(&self.functions)
            .get(function_name)
            .is_some_and(|f| number.is_some_and(|n| f.versions.contains_key(&n)))
    }

    /// Whether a function exists.
    pub(crate) fn has_function(&self, function_name: &str) -> bool {
        lock(&self.functions).contains_key(function_name)
    }

    /// `$LATEST` and the published versions of a function, in Lambda's order.
    pub(crate) fn versions(&self, function_name: &str) -> Option<Vec<Arc<VersionRuntime>>> {
        let functions = lock(&self.functions);
        let function = functions.get(function_name)?;
        Some(
            std::iter::once(Arc::clone(&function.latest))
                .chain(function.versions.values().cloned())
                .collect(),
        )
    }

    /// The function name of a name or ARN, checking an ARN's account and region.
    pub(crate) fn function_name<'n>(
        &self,
        name: &'n str,
    ) -> Result<(&'n str, Option<&'n str>), LookupError> {
        let parsed = parse_name(name);
        let foreign = parsed.region.is_some_and(|r| r != self.region)
            || parsed.account.is_some_and(|a| a != self.account_id);
        if foreign {
            return Err(LookupError::Foreign {
                arn: name.to_owned(),
                account: self.account_id.clone(),
                region: self.region.clone(),
            });
        }
        Ok((parsed.function, parsed.qualifier))
    }

    /// Resolve a name (plain, `name:qualifier`, or ARN) and qualifier to the version that
    /// runs, choosing by the alias weights.
    pub(crate) fn resolve(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<Resolved, LookupError> {
        let (function_name, embedded) = self.function_name(name)?;
        let qualifier = match (embedded, qualifier) {
            (Some(a), Some(b)) if a != b => return Err(LookupError::QualifierConflict),
            (a, b) => a.or(b),
        };
        let functions = lock(&self.functions);
        let not_found = |q: Option<&str>| {
            let arn = self.function_arn(function_name);
            LookupError::NotFound {
                arn: q.map_or(arn.clone(), |q| format!("{arn}:{q}")),
            }
        };
        let function = functions
            .get(function_name)
            .ok_or_else(|| not_found(None))?;
        let version_of = |name: &str| -> Option<Arc<VersionRuntime>> {
            if name == LATEST {
                return Some(Arc::clone(&function.latest));
            }
            function.versions.get(&name.parse::<u64>().ok()?).cloned()
        };
        let (alias, version) = match qualifier {
            None => (None, Arc::clone(&function.latest)),
            Some(q) if q == LATEST || q.chars().all(|c| c.is_ascii_digit()) => {
                (None, version_of(q).ok_or_else(|| not_found(Some(q)))?)
            }
            Some(q) => {
                let alias = function.aliases.get(q).ok_or_else(|| not_found(Some(q)))?;
                let chosen = pick_version(alias);
                (
                    Some(q.to_owned()),
                    version_of(&chosen).ok_or_else(|| not_found(Some(&chosen)))?,
                )
            }
        };
        Ok(Resolved {
            function_name: function_name.to_owned(),
            alias,
            version,
        })
    }

    /// The process ids running a version.
    pub(crate) fn pids(&self, function_name: &str, version: &str) -> Vec<u32> {
        self.with_runtime(function_name, version, |v| v.pids())
            .unwrap_or_default()
    }

    /// The execution environments a version has started (each runs until it retires).
    pub(crate) fn environments_started(&self, function_name: &str, version: &str) -> usize {
        self.with_runtime(function_name, version, |v| v.environments_started())
            .unwrap_or_default()
    }

    fn with_runtime<R>(
        &self,
        function_name: &str,
        version: &str,
        f: impl FnOnce(&VersionRuntime) -> R,
    ) -> Option<R> {
        let functions = lock(&self.functions);
        let function = functions.get(function_name)?;
        if version == LATEST {
            return Some(f(&function.latest));
        }
        let number = version.parse::<u64>().ok()?;
        function.versions.get(&number).map(|v| f(v))
    }
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

/// A function name as Lambda takes it, in parts.
#[derive(Debug, PartialEq, Eq)]
struct ParsedName<'n> {
    function: &'n str,
    qualifier: Option<&'n str>,
    account: Option<&'n str>,
    region: Option<&'n str>,
}

/// `hello`, `hello:7`, `123456789012:function:hello:live`, or a full ARN.
fn parse_name(name: &str) -> ParsedName<'_> {
    let parts: Vec<&str> = name.split(':').collect();
    let plain = |function, qualifier| ParsedName {
        function,
        qualifier,
        account: None,
        region: None,
    };
    match parts.as_slice() {
        ["arn", _partition, "lambda", region, account, "function", function, rest @ ..] => {
            ParsedName {
                function,
                qualifier: rest.first().copied(),
                account: Some(account),
                region: Some(region),
            }
        }
        [account, "function", function, rest @ ..] => ParsedName {
            account: Some(account),
            ..plain(function, rest.first().copied())
        },
        [function, qualifier] => plain(function, Some(qualifier)),
        _ => plain(name, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_function_qualifier_account_and_region() {
        assert_eq!(
            parse_name("hello"),
            ParsedName {
                function: "hello",
                qualifier: None,
                account: None,
                region: None
            }
        );
        assert_eq!(parse_name("hello:7").qualifier, Some("7"));
        let arn = parse_name("arn:aws:lambda:eu-west-1:123456789012:function:hello:live");
        assert_eq!(
            arn,
            ParsedName {
                function: "hello",
                qualifier: Some("live"),
                account: Some("123456789012"),
                region: Some("eu-west-1")
            }
        );
        let partial = parse_name("000000000000:function:hello:3");
        assert_eq!(
            (partial.function, partial.qualifier, partial.account),
            ("hello", Some("3"), Some("000000000000"))
        );
    }

    #[test]
    fn an_arn_of_another_account_or_region_is_not_the_local_function() {
        let registry = Registry::new(
            "us-east-1".into(),
            "000000000000".into(),
            WallClock::start(),
        );
        for name in [
            "arn:aws:lambda:eu-west-1:000000000000:function:hello",
            "arn:aws:lambda:us-east-1:123456789012:function:hello",
            "123456789012:function:hello",
        ] {
            assert!(
                matches!(
                    registry.function_name(name),
                    Err(LookupError::Foreign { .. })
                ),
                "{name}"
            );
        }
        assert_eq!(
            registry
                .function_name("arn:aws:lambda:us-east-1:000000000000:function:hello:2")
                .unwrap(),
            ("hello", Some("2"))
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
