//! "What the template's roles lack": for each role, the calls its policies did not allow,
//! and the least-privilege statement that grants each (its action on its exact resource).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::authority::{Denial, Refusal};

/// The summary of `denials`, or `None` when there are none. Each statement grants one
/// action on the one resource it was refused on (on the condition keys the request had,
/// e.g. the service a role is passed to); an undecided call is listed with why the stand-in
/// could not decide.
#[must_use]
pub fn what_roles_lack(denials: &[Denial]) -> Option<String> {
    if denials.is_empty() {
        return None;
    }
    let mut by_role: BTreeMap<&str, Vec<&Denial>> = BTreeMap::new();
    for denial in denials {
        by_role.entry(&denial.role).or_default().push(denial);
    }
    let mut out = String::from("What the template's roles lack:\n");
    for (role, denials) in by_role {
        let _ = writeln!(out, "  role {role}:");
        for d in denials {
            let how = match (&d.refusal, d.enforced) {
                (Refusal::Undecided(why), _) => format!("undecided, let through: {why}"),
                (Refusal::Explicit, _) => "explicitly denied: remove the Deny first".to_owned(),
                (Refusal::NoResourcePolicy, _) => {
                    "no resource-based policy allows it: grant it there, with the principal"
                        .to_owned()
                }
                (Refusal::Implicit, true) => "denied".to_owned(),
                (Refusal::Implicit, false) => "would be denied (let through)".to_owned(),
            };
            let statement = match d.refusal {
                Refusal::NoResourcePolicy => {
                    grant_to_service(&d.principal, &d.action, &d.resource, &d.context)
                }
                _ => grant(&d.action, &d.resource, &d.context),
            };
            let _ = writeln!(
                out,
                "    {} on {} ({how}); grant it with",
                d.action, d.resource
            );
            let _ = writeln!(out, "      {statement}");
        }
    }
    Some(out)
}

/// The least-privilege statement granting `action` on `resource` (on the condition keys
/// `context`), its members in the order the IAM User Guide writes them, whatever
/// `serde_json`'s map order.
#[must_use]
pub fn grant(action: &str, resource: &str, context: &[(String, String)]) -> String {
    statement(None, action, resource, context)
}

/// The statement of a resource-based policy granting the AWS service `service` `action` on
/// `resource`, from the source its request named (`aws:SourceArn`, `aws:SourceAccount`).
#[must_use]
pub fn grant_to_service(
    service: &str,
    action: &str,
    resource: &str,
    context: &[(String, String)],
) -> String {
    statement(Some(service), action, resource, context)
}

fn statement(
    service: Option<&str>,
    action: &str,
    resource: &str,
    context: &[(String, String)],
) -> String {
    let text = |s: &str| serde_json::Value::from(s).to_string();
    let principal = service.map_or(String::new(), |s| {
        format!(r#""Principal":{{"Service":{}}},"#, text(s))
    });
    let mut out = format!(
        r#"{{"Effect":"Allow",{principal}"Action":{},"Resource":{}"#,
        text(action),
        text(resource)
    );
    // An ARN is compared as one (ArnLike), anything else as a string.
    let operator = |key: &str| {
        if key.eq_ignore_ascii_case("aws:SourceArn") {
            "ArnLike"
        } else {
            "StringEquals"
        }
    };
    let mut operators: Vec<&str> = context.iter().map(|(k, _)| operator(k)).collect();
    operators.sort_unstable();
    operators.dedup();
    let blocks: Vec<String> = operators
        .iter()
        .map(|op| {
            let keys: Vec<String> = context
                .iter()
                .filter(|(k, _)| operator(k) == *op)
                .map(|(k, v)| format!("{}:{}", text(k), text(v)))
                .collect();
            format!(r#""{op}":{{{}}}"#, keys.join(","))
        })
        .collect();
    if !blocks.is_empty() {
        let _ = write!(out, r#","Condition":{{{}}}"#, blocks.join(","));
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::grant;

    #[test]
    fn a_grant_reads_as_the_iam_user_guide_writes_statements() {
        assert_eq!(
            grant(
                "lambda:InvokeFunction",
                "arn:aws:lambda:us-east-1:000000000000:function:hello:2",
                &[]
            ),
            r#"{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:000000000000:function:hello:2"}"#
        );
        let passed = [(
            "iam:PassedToService".to_owned(),
            "codedeploy.amazonaws.com".to_owned(),
        )];
        assert_eq!(
            grant("iam:PassRole", "arn:aws:iam::000000000000:role/r", &passed),
            r#"{"Effect":"Allow","Action":"iam:PassRole","Resource":"arn:aws:iam::000000000000:role/r","Condition":{"StringEquals":{"iam:PassedToService":"codedeploy.amazonaws.com"}}}"#
        );
        let from = [
            (
                "aws:SourceArn".to_owned(),
                "arn:aws:execute-api:us-east-1:000000000000:Api/$default/GET/hello".to_owned(),
            ),
            ("aws:SourceAccount".to_owned(), "000000000000".to_owned()),
        ];
        assert_eq!(
            super::grant_to_service(
                "apigateway.amazonaws.com",
                "lambda:InvokeFunction",
                "arn:f:live",
                &from
            ),
            r#"{"Effect":"Allow","Principal":{"Service":"apigateway.amazonaws.com"},"Action":"lambda:InvokeFunction","Resource":"arn:f:live","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:execute-api:us-east-1:000000000000:Api/$default/GET/hello"},"StringEquals":{"aws:SourceAccount":"000000000000"}}}"#
        );
        let parsed: serde_json::Value =
            serde_json::from_str(&grant("a:B", "x\"y", &passed)).expect("JSON");
        assert_eq!(parsed["Resource"], "x\"y");
    }
}
