//! Resolving a template's values against the local stand-in: parameters, function names, the
//! versions and aliases of the deployment, and HTTP APIs' local addresses.

use std::collections::BTreeMap;
use std::ops::Range;

use super::expr::Expr;

/// What intrinsic functions resolve to, locally.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    /// Parameter values (defaults, then overrides), as text.
    pub parameters: BTreeMap<String, String>,
    /// Function logical id -> function name.
    pub function_names: BTreeMap<String, String>,
    /// Function logical id -> (alias, target version), for `Fn.Version` / `Fn.Alias`.
    pub versions: BTreeMap<String, (String, String)>,
    /// API logical id -> local base URL.
    pub api_urls: BTreeMap<String, String>,
    /// Other resources' `Ref` values: topics (ARN), alarms and roles (name), and the
    /// CodeDeploy application and deployment groups SAM generates (name).
    pub refs: BTreeMap<String, String>,
    /// Other resources' `Arn` attributes: topics, alarms, roles.
    pub arns: BTreeMap<String, String>,
    /// Region and account of the stand-in.
    pub region: String,
    /// The account id.
    pub account_id: String,
}

/// Why a value of the template cannot be resolved locally.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// A name that is no parameter, function, API or pseudo parameter.
    #[error("`{name}` cannot be resolved locally: it is no parameter, function, HTTP API or pseudo parameter the stand-in knows")]
    Unknown {
        /// The name, as written.
        name: String,
    },
    /// `F.Version` or `F.Alias` of a function without `AutoPublishAlias`.
    #[error("{name} names no function with AutoPublishAlias")]
    NoAlias {
        /// The name, as written.
        name: String,
    },
    /// An attribute of a function other than `Arn`, `Version`, `Alias`, `Version.Version`.
    #[error("{resource}.{attribute} is not supported locally (Arn, Version, Alias and Version.Version are)")]
    Attribute {
        /// The logical id.
        resource: String,
        /// The attribute.
        attribute: String,
    },
    /// An intrinsic function the stand-in does not evaluate.
    #[error("{function} is not supported locally; use Ref, Fn::Sub, Fn::GetAtt or Fn::Join")]
    Unsupported {
        /// Its name, e.g. `Fn::If`.
        function: String,
    },
    /// A `${` without its `}`.
    #[error("an unclosed ${{ in Fn::Sub")]
    UnclosedSub,
}

/// A resolved text, and where in it an API's local address stands in for its id.
#[derive(Default)]
struct Resolved {
    text: String,
    apis: Vec<Range<usize>>,
}

impl Resolved {
    fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }

    fn push_api(&mut self, url: &str) {
        let start = self.text.len();
        self.text.push_str(url);
        self.apis.push(start..self.text.len());
    }

    /// `https://URL.execute-api.REGION.amazonaws.com/rest` -> `URL/rest`: an API's public
    /// address becomes its local one.
    fn localized(self) -> String {
        let mut out = String::with_capacity(self.text.len());
        let mut cursor = 0;
        for api in self.apis {
            if api.start < cursor {
                continue;
            }
            let before = &self.text[cursor..api.start];
            out.push_str(before.strip_suffix("https://").unwrap_or(before));
            out.push_str(&self.text[api.clone()]);
            cursor = api.end;
            if let Some(after) = self.text[cursor..].strip_prefix(".execute-api.") {
                // Skip the region and `amazonaws.com`, up to the path.
                let host = after.find('/').unwrap_or(after.len());
                cursor += ".execute-api.".len() + host;
            }
        }
        out.push_str(&self.text[cursor..]);
        out
    }
}

impl Resolver {
    fn arn(&self, function: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{function}",
            self.region, self.account_id
        )
    }

    /// Resolve a value to its text.
    ///
    /// # Errors
    /// [`ResolveError`] naming what could not be resolved.
    pub fn string(&self, value: &Expr) -> Result<String, ResolveError> {
        let mut out = Resolved::default();
        self.resolve(value, &mut out)?;
        Ok(out.localized())
    }

    fn resolve(&self, value: &Expr, out: &mut Resolved) -> Result<(), ResolveError> {
        match value {
            Expr::Literal(text) => out.push(text),
            Expr::Ref(name) => self.reference(name, out)?,
            Expr::GetAtt {
                resource,
                attribute,
            } => self.reference(&format!("{resource}.{attribute}"), out)?,
            Expr::Sub { text, variables } => self.sub(text, variables, out)?,
            Expr::Join { separator, items } => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(separator);
                    }
                    self.resolve(item, out)?;
                }
            }
            Expr::Unsupported(function) => {
                return Err(ResolveError::Unsupported {
                    function: function.clone(),
                })
            }
        }
        Ok(())
    }

    fn sub(
        &self,
        text: &str,
        variables: &BTreeMap<String, Expr>,
        out: &mut Resolved,
    ) -> Result<(), ResolveError> {
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push(&rest[..start]);
            let end = rest[start..].find('}').ok_or(ResolveError::UnclosedSub)? + start;
            let name = &rest[start + 2..end];
            match variables.get(name) {
                Some(v) => self.resolve(v, out)?,
                None => self.reference(name, out)?,
            }
            rest = &rest[end + 1..];
        }
        out.push(rest);
        Ok(())
    }

    /// The value of `!Ref name` or `${name}`.
    fn reference(&self, name: &str, out: &mut Resolved) -> Result<(), ResolveError> {
        if let Some(v) = self.parameters.get(name) {
            out.push(v);
        } else if let Some(f) = self.function_names.get(name) {
            out.push(f);
        } else if let Some(url) = self.api_urls.get(name) {
            out.push_api(url);
        } else if let Some(value) = self.refs.get(name) {
            out.push(value);
        } else if let Some((resource, attribute)) = name.split_once('.') {
            out.push(&self.attribute(name, resource, attribute)?);
        } else {
            out.push(match name {
                "AWS::Region" => &self.region,
                "AWS::AccountId" => &self.account_id,
                "AWS::Partition" => "aws",
                "AWS::URLSuffix" => "amazonaws.com",
                "AWS::StackName" => "local",
                _ => {
                    return Err(ResolveError::Unknown {
                        name: name.to_owned(),
                    })
                }
            });
        }
        Ok(())
    }

    fn attribute(
        &self,
        name: &str,
        resource: &str,
        attribute: &str,
    ) -> Result<String, ResolveError> {
        if attribute == "Arn" {
            if let Some(arn) = self.arns.get(resource) {
                return Ok(arn.clone());
            }
            if let Some(function) = self.function_names.get(resource) {
                return Ok(self.arn(function));
            }
        }
        let (alias, version) =
            self.versions
                .get(resource)
                .ok_or_else(|| ResolveError::NoAlias {
                    name: name.to_owned(),
                })?;
        let function = self
            .function_names
            .get(resource)
            .map(String::as_str)
            .unwrap_or_default();
        match attribute {
            "Version" => Ok(format!("{}:{version}", self.arn(function))),
            "Alias" => Ok(format!("{}:{alias}", self.arn(function))),
            "Arn" => Ok(self.arn(function)),
            "Version.Version" => Ok(version.clone()),
            other => Err(ResolveError::Attribute {
                resource: resource.to_owned(),
                attribute: other.to_owned(),
            }),
        }
    }
}
