//! IAM as AWS evaluates it, for a rehearsal whose pass means AWS's pass (issue 22): policy
//! documents, the AWS managed policies a Lambda deployment uses ([`managed`]), and a request's
//! verdict under them by the IAM User Guide's "Policy evaluation logic": an explicit Deny
//! wins; otherwise an Allow allows; otherwise the request is implicitly denied.
//!
//! The evaluation is `iam-rs`'s (pinned), held to those rules by the known-answer tests below,
//! one per rule. Who calls ([`Role`], [`Caller`]: a function's role, by the credentials the
//! stand-in gave it and the signature of its request) and the decisions on each
//! call ([`Authority`]) are here; which resource each call is checked on (the Service
//! Authorization Reference) belongs to the services.

mod authority;
pub mod managed;
mod role;
pub(crate) mod sigv4;
mod summary;

pub use authority::{Authority, Denial, Mode, Refusal};
pub use role::{Caller, Credentials, Principal, Role};
pub use sigv4::SignatureError;
pub use summary::{grant, grant_to_service, what_roles_lack};

/// A policy document, named for the messages that cite it.
#[derive(Debug, Clone)]
pub struct Policy {
    name: String,
    document: iam_rs::IAMPolicy,
}

/// A policy document that is not one IAM takes.
#[derive(Debug, thiserror::Error)]
#[error("policy {name} is not an IAM policy document: {source}")]
pub struct PolicyError {
    name: String,
    #[source]
    source: serde_json::Error,
}

impl Policy {
    /// Read a policy document (IAM's JSON grammar).
    ///
    /// # Errors
    /// [`PolicyError`] naming the policy and what is wrong.
    pub fn parse(name: &str, json: &str) -> Result<Policy, PolicyError> {
        let document = iam_rs::IAMPolicy::from_json(json).map_err(|source| PolicyError {
            name: name.to_owned(),
            source,
        })?;
        Ok(Policy {
            name: name.to_owned(),
            document,
        })
    }

    /// Its name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What IAM decides for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// A statement allows it and none denies it.
    Allowed,
    /// A statement denies it: no Allow can override that.
    ExplicitlyDenied,
    /// No statement applies: denied by default.
    ImplicitlyDenied,
}

/// A request the policies could not be evaluated for (a resource that is no ARN, a condition
/// the evaluator cannot read).
#[derive(Debug, thiserror::Error)]
#[error("cannot evaluate {action} on {resource}: {reason}")]
pub struct EvaluationError {
    action: String,
    resource: String,
    reason: String,
}

/// The ARN a call without a resource is evaluated on (see [`evaluate`]).
const NO_RESOURCE: &str = "arn:aws:no-resource:::*";

/// The verdict of `policies` (all of one principal's, and resource policies of the same
/// account) on `principal` calling `action` on `resource`, with condition keys `context`.
///
/// # Errors
/// [`EvaluationError`] when the request cannot be evaluated.
pub fn evaluate(
    policies: &[Policy],
    principal: &str,
    action: &str,
    resource: &str,
    context: &[(&str, &str)],
) -> Result<Verdict, EvaluationError> {
    let principal = iam_rs::Principal::Aws(iam_rs::PrincipalId::String(principal.to_owned()));
    evaluate_as(policies, principal, action, resource, context)
}

/// The verdict of resource-based `policies` on the AWS service `service` (e.g.
/// `apigateway.amazonaws.com`) calling `action` on `resource`: their statements' `Principal`
/// must name it.
///
/// # Errors
/// [`EvaluationError`] when the request cannot be evaluated.
pub fn evaluate_for_service(
    policies: &[Policy],
    service: &str,
    action: &str,
    resource: &str,
    context: &[(&str, &str)],
) -> Result<Verdict, EvaluationError> {
    let principal = iam_rs::Principal::Service(iam_rs::PrincipalId::String(service.to_owned()));
    evaluate_as(policies, principal, action, resource, context)
}

fn evaluate_as(
    policies: &[Policy],
    principal: iam_rs::Principal,
    action: &str,
    resource: &str,
    context: &[(&str, &str)],
) -> Result<Verdict, EvaluationError> {
    let failed = |reason: String| EvaluationError {
        action: action.to_owned(),
        resource: resource.to_owned(),
        reason,
    };
    // An action that takes no resource (the Service Authorization Reference lists none for
    // it, e.g. `cloudwatch:GetMetricData`) is checked on `*`, which only `*` grants; iam-rs
    // takes ARNs only, so it is asked about one that no policy of a template names. (A
    // pattern as wide as `arn:aws:*` matches it too; IAM documents no such grant.)
    let resource = if resource == "*" {
        NO_RESOURCE
    } else {
        resource
    };
    let resource_arn = iam_rs::Arn::parse(resource).map_err(|e| failed(e.to_string()))?;
    let mut keys = iam_rs::Context::new();
    for (key, value) in context {
        keys.insert(
            (*key).to_owned(),
            iam_rs::ContextValue::String((*value).to_owned()),
        );
    }
    let request = iam_rs::IAMRequest::new_with_context(principal, action, resource_arn, keys);
    let documents: Vec<iam_rs::IAMPolicy> = policies.iter().map(|p| p.document.clone()).collect();
    match iam_rs::evaluate_policies(&documents, &request).map_err(|e| failed(e.to_string()))? {
        iam_rs::Decision::Allow => Ok(Verdict::Allowed),
        iam_rs::Decision::Deny => Ok(Verdict::ExplicitlyDenied),
        iam_rs::Decision::NotApplicable => Ok(Verdict::ImplicitlyDenied),
    }
}

#[cfg(test)]
mod tests;
