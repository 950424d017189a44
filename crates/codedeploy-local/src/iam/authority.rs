//! The stand-in's authority: the credentials it issued and whose they are, and its decision
//! on each call a role makes, cached, with every denial told to whoever listens (the
//! deployments on their timelines).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::broadcast;

use super::role::{Caller, Credentials, Principal, Role};
use super::{evaluate, evaluate_for_service, Policy, Verdict};

/// How the stand-in checks permissions (`--iam`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// A call no policy allows is refused with the service's access-denied error, as AWS
    /// refuses it (the default).
    #[default]
    Enforce,
    /// Every call is let through; what would have been denied is listed.
    Report,
    /// No checks.
    Off,
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(text: &str) -> Result<Mode, String> {
        match text {
            "enforce" => Ok(Mode::Enforce),
            "report" => Ok(Mode::Report),
            "off" => Ok(Mode::Off),
            other => Err(format!(
                "`{other}` is no IAM mode: enforce (the default), report or off"
            )),
        }
    }
}

/// Why a call was not allowed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Refusal {
    /// No statement allows it.
    Implicit,
    /// A statement denies it.
    Explicit,
    /// A service's call that no resource-based policy allows (a function's
    /// `AWS::Lambda::Permission`, a topic's policy).
    NoResourcePolicy,
    /// The role's known policies do not allow it, and the stand-in could not read all of
    /// them (the reason): let through, never counted as allowed.
    Undecided(String),
}

/// A call that a role's policies did not allow.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct Denial {
    /// The caller's session ARN (`arn:aws:sts::...:assumed-role/ROLE/SESSION`).
    pub principal: String,
    /// The role's name.
    pub role: String,
    /// The session's name: the function's, or CodeDeploy's.
    pub session: String,
    /// The action, e.g. `lambda:InvokeFunction`.
    pub action: String,
    /// The resource the call was checked on.
    pub resource: String,
    /// The request's condition keys the decision read (e.g. `iam:PassedToService`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<(String, String)>,
    /// Why.
    pub refusal: Refusal,
    /// Whether the call was refused (`--iam enforce` and not undecided).
    pub enforced: bool,
}

impl Denial {
    /// A denial of `who` (principal ARN, role, session) calling `call` (action, resource,
    /// condition keys).
    fn of(
        who: (&str, &str, &str),
        call: (&str, &str, &[(&str, &str)]),
        refusal: Refusal,
        enforced: bool,
    ) -> Denial {
        let (action, resource, context) = call;
        Denial {
            principal: who.0.to_owned(),
            role: who.1.to_owned(),
            session: who.2.to_owned(),
            action: action.to_owned(),
            resource: resource.to_owned(),
            context: context
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            refusal,
            enforced,
        }
    }

    /// AWS's message for it: `User: ARN is not authorized to perform: ACTION on resource:
    /// RESOURCE because no identity-based policy allows the ACTION action` (the IAM User
    /// Guide, "Troubleshoot access denied error messages").
    #[must_use]
    pub fn message(&self) -> String {
        let because = match &self.refusal {
            Refusal::Implicit => {
                format!("no identity-based policy allows the {} action", self.action)
            }
            Refusal::Explicit => "of an explicit deny in a policy".to_owned(),
            Refusal::NoResourcePolicy => {
                format!("no resource-based policy allows the {} action", self.action)
            }
            Refusal::Undecided(why) => format!("the stand-in cannot decide: {why}"),
        };
        format!(
            "User: {} is not authorized to perform: {} on resource: {} because {because}",
            self.principal, self.action, self.resource
        )
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

/// A decision, cached per role, action and resource.
#[derive(Debug, Clone)]
enum Decision {
    Allowed,
    Refused(Refusal),
}

/// How many decisions are kept; past it the cache starts again (a rehearsal makes a few
/// dozen distinct ones; a hostile caller must not grow it without bound).
const MAX_DECISIONS: usize = 4096;

/// Credentials issued, and decisions on the calls made with them.
pub struct Authority {
    mode: Mode,
    /// Resource-based policies, by what they are attached to (a function's name, a topic's
    /// ARN).
    resource_policies: RwLock<HashMap<String, Vec<Policy>>>,
    issued: RwLock<HashMap<String, Arc<Issued>>>,
    decisions: Mutex<HashMap<(u64, String, String), Decision>>,
    denials: broadcast::Sender<Arc<Denial>>,
}

/// What the stand-in knows of a key it issued (shared: every signed request looks it up).
pub(crate) struct Issued {
    pub(crate) secret: String,
    pub(crate) session_token: String,
    pub(crate) principal: Arc<Principal>,
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Authority {
    /// An authority checking in `mode`.
    #[must_use]
    pub fn new(mode: Mode) -> Authority {
        Authority {
            mode,
            resource_policies: RwLock::new(HashMap::new()),
            issued: RwLock::new(HashMap::new()),
            decisions: Mutex::new(HashMap::new()),
            denials: broadcast::channel(256).0,
        }
    }

    /// How it checks.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Temporary credentials of `role` for a session named `session`.
    pub fn issue(&self, role: Arc<Role>, session: &str) -> Credentials {
        let credentials = Credentials::random();
        let issued = Issued {
            secret: credentials.secret_access_key.clone(),
            session_token: credentials.session_token.clone(),
            principal: Arc::new(Principal {
                role,
                session: session.to_owned(),
            }),
        };
        crate::sync::write(&self.issued)
            .insert(credentials.access_key_id.clone(), Arc::new(issued));
        credentials
    }

    /// The credentials issued for each session (a function's name), the first of each.
    #[must_use]
    pub fn sessions(&self) -> std::collections::BTreeMap<String, Credentials> {
        let mut sessions = std::collections::BTreeMap::new();
        for (key, issued) in crate::sync::read(&self.issued).iter() {
            sessions
                .entry(issued.principal.session.clone())
                .or_insert_with(|| Credentials {
                    access_key_id: key.clone(),
                    secret_access_key: issued.secret.clone(),
                    session_token: issued.session_token.clone(),
                });
        }
        sessions
    }

    /// Attach a resource-based policy to `owner` (a function's name, a topic's ARN).
    pub fn attach(&self, owner: &str, policy: Policy) {
        crate::sync::write(&self.resource_policies)
            .entry(owner.to_owned())
            .or_default()
            .push(policy);
    }

    /// Whether `owner` has resource-based policies.
    #[must_use]
    pub fn has_resource_policy(&self, owner: &str) -> bool {
        crate::sync::read(&self.resource_policies).contains_key(owner)
    }

    /// May the AWS service `service` perform `action` on `resource`, which belongs to
    /// `owner`, with condition keys `context`? Only `owner`'s resource-based policies can
    /// allow it (a service has no identity-based ones). A refusal is told to the listeners.
    ///
    /// # Errors
    /// The [`Denial`] when the call is refused.
    pub fn check_service(
        &self,
        service: &str,
        owner: &str,
        action: &str,
        resource: &str,
        context: &[(&str, &str)],
    ) -> Result<(), Arc<Denial>> {
        if self.mode == Mode::Off {
            return Ok(());
        }
        let verdict = {
            let policies = crate::sync::read(&self.resource_policies);
            let attached = policies.get(owner).map_or(&[][..], Vec::as_slice);
            evaluate_for_service(attached, service, action, resource, context)
        };
        let refusal = match verdict {
            Ok(Verdict::Allowed) => return Ok(()),
            Ok(Verdict::ExplicitlyDenied) => Refusal::Explicit,
            Ok(Verdict::ImplicitlyDenied) => Refusal::NoResourcePolicy,
            Err(e) => Refusal::Undecided(e.to_string()),
        };
        let who = (service, service, service);
        self.settle(self.denial(who, (action, resource, context), refusal))
    }

    /// A denial of `who` (principal ARN, role, session), enforced unless the mode says
    /// otherwise or the stand-in could not decide.
    fn denial(
        &self,
        who: (&str, &str, &str),
        call: (&str, &str, &[(&str, &str)]),
        refusal: Refusal,
    ) -> Arc<Denial> {
        let enforced = self.mode == Mode::Enforce && !matches!(refusal, Refusal::Undecided(_));
        Arc::new(Denial::of(who, call, refusal, enforced))
    }

    /// Tell the listeners of `denial`; refuse the call when it is enforced.
    fn settle(&self, denial: Arc<Denial>) -> Result<(), Arc<Denial>> {
        self.tell(&denial);
        if denial.enforced {
            Err(denial)
        } else {
            Ok(())
        }
    }

    fn tell(&self, denial: &Arc<Denial>) {
        tracing::info!(
            principal = %denial.principal, action = %denial.action, resource = %denial.resource,
            enforced = denial.enforced, "access denied"
        );
        let _ = self.denials.send(Arc::clone(denial));
    }

    /// What the stand-in issued as `access_key_id`, if it did.
    pub(crate) fn issued(&self, access_key_id: &str) -> Option<Arc<Issued>> {
        crate::sync::read(&self.issued).get(access_key_id).cloned()
    }

    /// Every denial from now on (a slow listener loses the oldest, and is told so).
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Denial>> {
        self.denials.subscribe()
    }

    /// May `caller` perform `action` on `resource`? Always, for the person at the keyboard
    /// and with `--iam off`. A refusal is told to the listeners, and returned when enforced.
    ///
    /// # Errors
    /// The [`Denial`] when the call is refused.
    pub fn authorize(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
    ) -> Result<(), Arc<Denial>> {
        match caller {
            Caller::Keyboard => Ok(()),
            Caller::Role(principal) => self.check(principal, action, resource),
        }
    }

    /// May `principal` perform `action` on `resource`? (CodeDeploy's own calls with its
    /// service role come here too.) A refusal is told to the listeners.
    ///
    /// # Errors
    /// The [`Denial`] when the call is refused.
    pub fn check(
        &self,
        principal: &Principal,
        action: &str,
        resource: &str,
    ) -> Result<(), Arc<Denial>> {
        match self.judge(principal, action, resource, &[]) {
            Some(denial) => self.settle(denial),
            None => Ok(()),
        }
    }

    /// The denial of `principal` performing `action` on `resource` with condition keys
    /// `context`, if its policies do not allow it (enforced or not, by the mode); `None`
    /// when they do, or with `--iam off`. Nobody is told.
    pub(crate) fn judge(
        &self,
        principal: &Principal,
        action: &str,
        resource: &str,
        context: &[(&str, &str)],
    ) -> Option<Arc<Denial>> {
        if self.mode == Mode::Off {
            return None;
        }
        let refusal = match self.decide(principal, action, resource, context) {
            Decision::Allowed => return None,
            Decision::Refused(refusal) => refusal,
        };
        let who = (
            principal.arn(),
            principal.role.name(),
            principal.session.as_str(),
        );
        Some(self.denial((&who.0, who.1, who.2), (action, resource, context), refusal))
    }

    /// The decision, cached when it depends on no condition key of the request.
    fn decide(
        &self,
        principal: &Principal,
        action: &str,
        resource: &str,
        context: &[(&str, &str)],
    ) -> Decision {
        let role = &principal.role;
        let key = (role.id(), action.to_owned(), resource.to_owned());
        if context.is_empty() {
            if let Some(known) = crate::sync::lock(&self.decisions).get(&key) {
                return known.clone();
            }
        }
        let decision = match evaluate(role.policies(), &principal.arn(), action, resource, context)
        {
            Ok(Verdict::Allowed) => Decision::Allowed,
            Ok(Verdict::ExplicitlyDenied) => Decision::Refused(Refusal::Explicit),
            Ok(Verdict::ImplicitlyDenied) if role.unknown().is_empty() => {
                Decision::Refused(Refusal::Implicit)
            }
            Ok(Verdict::ImplicitlyDenied) => {
                Decision::Refused(Refusal::Undecided(role.unknown().join("; ")))
            }
            Err(e) => Decision::Refused(Refusal::Undecided(e.to_string())),
        };
        if !context.is_empty() {
            return decision;
        }
        let mut decisions = crate::sync::lock(&self.decisions);
        if decisions.len() >= MAX_DECISIONS {
            decisions.clear();
        }
        decisions.insert(key, decision.clone());
        decision
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{Authority, Mode, Refusal};
    use crate::iam::{Caller, Policy, Principal, Role};

    const ALIAS: &str = "arn:aws:lambda:us-east-1:000000000000:function:hello:live";

    fn principal(unknown: bool) -> Arc<Principal> {
        let policy = Policy::parse(
            "p",
            r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:GetAlias", "Resource": "*"}]}"#,
        )
        .expect("a policy");
        let mut role = Role::new("hook", "000000000000").with_policy(policy);
        if unknown {
            role = role.with_unknown("the managed policy X is not one the stand-in knows".into());
        }
        Arc::new(Principal {
            role: Arc::new(role),
            session: "pre".into(),
        })
    }

    #[test]
    fn enforce_refuses_report_lets_through_off_does_not_look_and_each_denial_is_told() {
        for (mode, refused, told) in [
            (Mode::Enforce, true, true),
            (Mode::Report, false, true),
            (Mode::Off, false, false),
        ] {
            let authority = Authority::new(mode);
            let mut denials = authority.subscribe();
            let caller = Caller::Role(principal(false));
            assert!(
                authority
                    .authorize(&caller, "lambda:GetAlias", ALIAS)
                    .is_ok(),
                "{mode:?}"
            );
            let result = authority.authorize(&caller, "lambda:UpdateAlias", ALIAS);
            assert_eq!(result.is_err(), refused, "{mode:?}");
            let heard = denials.try_recv().ok();
            assert_eq!(heard.is_some(), told, "{mode:?}");
            if let Some(denial) = heard {
                assert_eq!(denial.enforced, refused);
                assert_eq!(denial.refusal, Refusal::Implicit);
                assert_eq!(
                    denial.message(),
                    format!("User: arn:aws:sts::000000000000:assumed-role/hook/pre is not authorized to perform: lambda:UpdateAlias on resource: {ALIAS} because no identity-based policy allows the lambda:UpdateAlias action")
                );
            }
        }
    }

    #[test]
    fn what_the_stand_in_cannot_read_makes_a_missing_grant_undecided_never_allowed() {
        let authority = Authority::new(Mode::Enforce);
        let mut denials = authority.subscribe();
        let caller = Caller::Role(principal(true));
        assert!(
            authority
                .authorize(&caller, "lambda:UpdateAlias", ALIAS)
                .is_ok(),
            "let through"
        );
        let denial = denials.try_recv().expect("told");
        assert!(
            matches!(&denial.refusal, Refusal::Undecided(why) if why.contains("managed policy X"))
        );
        assert!(!denial.enforced);
    }

    #[test]
    fn the_keyboard_may_do_anything() {
        let authority = Authority::new(Mode::Enforce);
        assert!(authority
            .authorize(&Caller::Keyboard, "lambda:UpdateAlias", ALIAS)
            .is_ok());
    }

    #[test]
    fn issued_keys_name_their_session_and_keep_their_secret() {
        let authority = Authority::new(Mode::Enforce);
        let credentials = authority.issue(Arc::clone(&principal(false).role), "pre");
        assert!(
            credentials.access_key_id.starts_with("ASIA") && credentials.access_key_id.len() == 20
        );
        let issued = authority
            .issued(&credentials.access_key_id)
            .expect("issued");
        assert_eq!(issued.secret, credentials.secret_access_key);
        assert_eq!(issued.principal.session, "pre");
        assert!(authority.issued("AKIAEXAMPLE").is_none());
        assert!(
            !format!("{credentials:?}").contains(&credentials.secret_access_key),
            "no secret in Debug"
        );
    }
}
