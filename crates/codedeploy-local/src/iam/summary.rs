//! "What the template's roles lack": for each role, the calls its policies did not allow,
//! and the least-privilege statement that grants each (its action on its exact resource).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::authority::{Denial, Refusal};

/// The summary of `denials`, or `None` when there are none. Each statement grants one
/// action on the one resource it was refused on; an undecided call is listed with why the
/// stand-in could not decide.
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
                (Refusal::Implicit, true) => "denied".to_owned(),
                (Refusal::Implicit, false) => "would be denied (let through)".to_owned(),
            };
            let statement = serde_json::json!({
                "Effect": "Allow",
                "Action": d.action,
                "Resource": d.resource,
            });
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
