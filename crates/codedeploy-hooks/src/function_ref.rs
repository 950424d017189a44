//! A reference to a Lambda function, as the AppSpec, the environment or code name it: a
//! plain name, a partial ARN (`ACCOUNT:function:NAME`) or a full ARN, optionally qualified.
//! The forms are those of the Lambda service model's `NamespacedFunctionName` (botocore
//! `lambda/2015-03-31`); anything else, e.g. an IAM role's ARN, is refused.

#[cfg(feature = "hook")]
use std::fmt;

#[cfg(feature = "hook")]
use crate::invocation::shorten;

/// The longest function name (`FunctionName`, max 64 for a name in the service model).
const MAX_NAME: usize = 64;

/// Why a function reference or version cannot be what a hook tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetProblem {
    /// An ARN of a partition that is not AWS's.
    #[error("is an ARN of partition `{0}`, not an AWS one")]
    Partition(String),
    /// An ARN of another service, e.g. IAM.
    #[error("is an ARN of the `{0}` service, not of a Lambda function")]
    Service(String),
    /// `arn:` with too few parts.
    #[error("is an incomplete ARN")]
    IncompleteArn,
    /// A Lambda ARN of a layer or an event source mapping.
    #[error("is a Lambda ARN but not of a function")]
    NotAFunction,
    /// More `:`-separated parts than a function name or ARN has.
    #[error("has too many `:`-separated parts for a function name or ARN")]
    TooManyParts,
    /// An account id that is not 12 digits.
    #[error("names account `{0}`, which is not 12 digits")]
    Account(String),
    /// Not a valid function name.
    #[error("does not name a function: a name is 1 to {MAX_NAME} letters, digits, `-` or `_`")]
    Name,
    /// A trailing `:` with nothing after it.
    #[error("ends in `:` with no qualifier")]
    EmptyQualifier,
    /// No version was given.
    #[error("names no version; expected NAME:VERSION or a version ARN")]
    NoVersion,
    /// The qualifier is an alias or `$LATEST`.
    #[error(
        "does not end in a version number (not an alias or $LATEST: checks must run the exact new version)"
    )]
    NotAVersion,
    /// A qualifier where only a function belongs (the AppSpec's `Properties.Name`).
    #[error("has a qualifier; the version belongs in Properties.TargetVersion")]
    Qualified,
    /// A function of another account than the hook's.
    #[error(
        "is a function of account {theirs}, but this hook runs in account {ours}: a hook tests \
         functions of its own account and region"
    )]
    OtherAccount {
        /// The function's account.
        theirs: String,
        /// The hook's account.
        ours: String,
    },
    /// A function in another region than the hook's.
    #[error(
        "is a function in region {theirs}, but this hook runs in {ours}: a hook tests \
         functions of its own account and region"
    )]
    OtherRegion {
        /// The function's region.
        theirs: String,
        /// The hook's region.
        ours: String,
    },
}

#[cfg(feature = "hook")]
/// Where the hook itself runs: a function it may test must live there too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Home {
    /// The hook's region, from its SDK configuration.
    pub(crate) region: Option<String>,
    /// The hook's account, from its own ARN (unknown outside Lambda).
    pub(crate) account: Option<String>,
}

#[cfg(feature = "hook")]
impl Home {
    /// The region and account of a function ARN (the hook's own, from the Lambda context).
    pub(crate) fn from_own_arn(arn: &str, region: Option<String>) -> Home {
        let parsed = FunctionRef::parse(arn).ok();
        Home {
            region: parsed.as_ref().and_then(|f| f.region.clone()).or(region),
            account: parsed.and_then(|f| f.account),
        }
    }
}

#[cfg(feature = "hook")]
/// A parsed function reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FunctionRef {
    pub(crate) partition: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) account: Option<String>,
    pub(crate) name: String,
    pub(crate) qualifier: Option<String>,
}

#[cfg(feature = "hook")]
impl FunctionRef {
    /// Parse a name or ARN; the error says what is wrong with it.
    pub(crate) fn parse(text: &str) -> Result<FunctionRef, TargetProblem> {
        let parts: Vec<&str> = text.split(':').collect();
        let (partition, region, account, rest, is_arn) = match parts.as_slice() {
            ["arn", partition, service, region, account, rest @ ..] => {
                if !partition.starts_with("aws") {
                    return Err(TargetProblem::Partition(shorten(partition).into_owned()));
                }
                if *service != "lambda" {
                    return Err(TargetProblem::Service(shorten(service).into_owned()));
                }
                (Some(*partition), Some(*region), Some(*account), rest, true)
            }
            ["arn", ..] => return Err(TargetProblem::IncompleteArn),
            [account, "function", ..] if is_account(account) => {
                (None, None, Some(*account), &parts[2..], false)
            }
            _ => (None, None, None, &parts[..], false),
        };
        let rest = match rest {
            ["function", rest @ ..] if is_arn => rest,
            _ if is_arn => return Err(TargetProblem::NotAFunction),
            rest => rest,
        };
        let (name, qualifier) = match rest {
            [name] => (*name, None),
            [name, qualifier] => (*name, Some(*qualifier)),
            _ => return Err(TargetProblem::TooManyParts),
        };
        if let Some(account) = account.filter(|a| !is_account(a)) {
            return Err(TargetProblem::Account(shorten(account).into_owned()));
        }
        if name.is_empty()
            || name.len() > MAX_NAME
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(TargetProblem::Name);
        }
        if qualifier.is_some_and(str::is_empty) {
            return Err(TargetProblem::EmptyQualifier);
        }
        Ok(FunctionRef {
            partition: partition.map(str::to_owned),
            region: region.map(str::to_owned),
            account: account.map(str::to_owned),
            name: name.to_owned(),
            qualifier: qualifier.map(str::to_owned),
        })
    }

    /// Refuse a function of another account or region: the hook would otherwise invoke the
    /// function of the same name in its own, which is not the one being deployed.
    pub(crate) fn check_home(&self, home: &Home) -> Result<(), TargetProblem> {
        if let (Some(theirs), Some(ours)) = (&self.account, &home.account) {
            if theirs != ours {
                return Err(TargetProblem::OtherAccount {
                    theirs: theirs.clone(),
                    ours: ours.clone(),
                });
            }
        }
        if let (Some(theirs), Some(ours)) = (&self.region, &home.region) {
            if theirs != ours {
                return Err(TargetProblem::OtherRegion {
                    theirs: theirs.clone(),
                    ours: ours.clone(),
                });
            }
        }
        Ok(())
    }

    /// Whether two references can name the same function: the names agree, and so do the
    /// account and region wherever both say one.
    pub(crate) fn same_function(&self, other: &FunctionRef) -> bool {
        let agree = |a: &Option<String>, b: &Option<String>| match (a, b) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        self.name == other.name
            && agree(&self.account, &other.account)
            && agree(&self.region, &other.region)
    }
}

#[cfg(feature = "hook")]
impl fmt::Display for FunctionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.partition, &self.region, &self.account) {
            (Some(partition), Some(region), Some(account)) => {
                write!(f, "arn:{partition}:lambda:{region}:{account}:function:")?
            }
            (None, _, Some(account)) => write!(f, "{account}:function:")?,
            _ => {}
        }
        f.write_str(&self.name)?;
        if let Some(q) = &self.qualifier {
            write!(f, ":{q}")?;
        }
        Ok(())
    }
}

#[cfg(feature = "hook")]
fn is_account(text: &str) -> bool {
    text.len() == 12 && text.chars().all(|c| c.is_ascii_digit())
}

#[cfg(feature = "hook")]
/// A published version number: what a hook must test (never an alias or `$LATEST`).
pub(crate) fn is_version_number(text: &str) -> bool {
    !text.is_empty() && text.len() <= 20 && text.chars().all(|c| c.is_ascii_digit())
}

#[cfg(all(test, feature = "hook"))]
mod tests {
    use super::*;

    #[test]
    fn names_partial_and_full_arns_parse() {
        let plain = FunctionRef::parse("hello").unwrap();
        assert_eq!((plain.name.as_str(), plain.qualifier), ("hello", None));
        let partial = FunctionRef::parse("123456789012:function:hello:7").unwrap();
        assert_eq!(partial.account.as_deref(), Some("123456789012"));
        assert_eq!(partial.qualifier.as_deref(), Some("7"));
        let full =
            FunctionRef::parse("arn:aws:lambda:eu-west-1:123456789012:function:hello:7").unwrap();
        assert_eq!(full.region.as_deref(), Some("eu-west-1"));
        assert_eq!(full.partition.as_deref(), Some("aws"), "a full ARN");
        assert_eq!(
            full.to_string(),
            "arn:aws:lambda:eu-west-1:123456789012:function:hello:7"
        );
    }

    #[test]
    fn arns_of_other_things_are_refused_naming_them() {
        let iam = FunctionRef::parse("arn:aws:iam::123456789012:role/hello")
            .unwrap_err()
            .to_string();
        assert!(iam.contains("`iam` service"), "{iam}");
        let layer = FunctionRef::parse("arn:aws:lambda:eu-west-1:123456789012:layer:x:1");
        assert_eq!(layer.unwrap_err(), TargetProblem::NotAFunction);
        assert!(FunctionRef::parse("").is_err());
        assert!(FunctionRef::parse("a b").is_err());
        assert!(FunctionRef::parse("hello:").is_err());
        assert!(FunctionRef::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn functions_of_another_account_or_region_are_refused() {
        let home = Home::from_own_arn(
            "arn:aws:lambda:eu-west-1:123456789012:function:CodeDeployHook_pre",
            None,
        );
        let other_account =
            FunctionRef::parse("arn:aws:lambda:eu-west-1:999999999999:function:hello").unwrap();
        assert!(matches!(
            other_account.check_home(&home),
            Err(TargetProblem::OtherAccount { theirs, .. }) if theirs == "999999999999"
        ));
        let other_region =
            FunctionRef::parse("arn:aws:lambda:us-east-1:123456789012:function:hello").unwrap();
        let err = other_region.check_home(&home).unwrap_err().to_string();
        assert!(err.contains("region us-east-1"), "{err}");
        assert!(FunctionRef::parse("hello")
            .unwrap()
            .check_home(&home)
            .is_ok());
    }

    #[test]
    fn whole_arns_are_compared_when_both_are_arns() {
        let a = FunctionRef::parse("arn:aws:lambda:eu-west-1:111111111111:function:hello").unwrap();
        let b = FunctionRef::parse("arn:aws:lambda:eu-west-1:222222222222:function:hello").unwrap();
        assert!(!a.same_function(&b));
        assert!(a.same_function(&FunctionRef::parse("hello").unwrap()));
    }

    #[test]
    fn only_version_numbers_are_versions() {
        assert!(is_version_number("7"));
        for not in ["", "live", "$LATEST", "7a", "-1"] {
            assert!(!is_version_number(not), "{not}");
        }
    }
}
