//! Who calls: a role with its policies, the temporary credentials Lambda gives a function
//! for it, and the caller of a request as the stand-in sees it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::Policy;

/// An IAM role: its policies, and what the stand-in could not read of them (a managed policy
/// it does not know, a role defined outside the template), which makes a missing grant
/// "undecided" instead of denied.
#[derive(Debug)]
pub struct Role {
    /// Distinguishes roles of the same name in decisions the stand-in caches.
    id: u64,
    name: String,
    arn: String,
    policies: Vec<Policy>,
    unknown: Vec<String>,
}

static ROLE_IDS: AtomicU64 = AtomicU64::new(1);

impl Role {
    /// A role of `account` with no policies yet.
    #[must_use]
    pub fn new(name: &str, account_id: &str) -> Role {
        Role {
            id: ROLE_IDS.fetch_add(1, Ordering::Relaxed),
            name: name.to_owned(),
            arn: format!("arn:aws:iam::{account_id}:role/{name}"),
            policies: Vec::new(),
            unknown: Vec::new(),
        }
    }

    /// With one more policy.
    #[must_use]
    pub fn with_policy(mut self, policy: Policy) -> Role {
        self.policies.push(policy);
        self
    }

    /// With something the stand-in cannot read (`reason` says what): a call its known
    /// policies do not allow is then let through as undecided, never as allowed.
    #[must_use]
    pub fn with_unknown(mut self, reason: String) -> Role {
        self.unknown.push(reason);
        self
    }

    /// Its name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its ARN, `arn:aws:iam::ACCOUNT:role/NAME`.
    #[must_use]
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// Its policies.
    #[must_use]
    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// What of it the stand-in could not read.
    #[must_use]
    pub fn unknown(&self) -> &[String] {
        &self.unknown
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The ARN of a session of this role, as STS names an assumed role
    /// (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`).
    pub(crate) fn session_arn(&self, session: &str) -> String {
        let account = self.arn.split(':').nth(4).unwrap_or_default();
        format!(
            "arn:aws:sts::{account}:assumed-role/{}/{session}",
            self.name
        )
    }
}

/// Temporary credentials of a role, in the variables Lambda sets (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
#[derive(Clone)]
pub struct Credentials {
    /// `AWS_ACCESS_KEY_ID`: `ASIA` and 16 characters, as STS issues them.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: String,
    /// `AWS_SESSION_TOKEN`.
    pub session_token: String,
}

impl std::fmt::Debug for Credentials {
    /// The key id only: secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    pub(crate) fn random() -> Credentials {
        const KEY: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let pick = |alphabet: &[u8], n: usize| -> String {
            (0..n)
                .map(|_| char::from(alphabet[fastrand::usize(..alphabet.len())]))
                .collect()
        };
        Credentials {
            access_key_id: format!("ASIA{}", pick(KEY, 16)),
            secret_access_key: pick(SECRET, 40),
            session_token: pick(SECRET, 96),
        }
    }
}

/// A session of a role: a function's, named after the function as Lambda names it, or
/// CodeDeploy's.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The role.
    pub role: Arc<Role>,
    /// The session's name.
    pub session: String,
}

impl Principal {
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    #[must_use]
    pub fn arn(&self) -> String {
        self.role.session_arn(&self.session)
    }
}

/// Who made a request, as the stand-in can tell.
#[derive(Debug, Clone)]
pub enum Caller {
    /// Signed with credentials the stand-in issued, signature verified.
    Role(Arc<Principal>),
    /// The person at the keyboard: no signature, or a key the stand-in did not issue (the
    /// AWS CLI, boto3, curl). They may do anything.
    Keyboard,
}
