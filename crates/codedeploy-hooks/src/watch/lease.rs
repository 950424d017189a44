//! The watch's lease: a small JSON record in the description of an alias of the hook
//! function, changed only by compare and swap (`UpdateAlias` with the `RevisionId` that
//! `GetAlias` gave). It says which deployment is watched, by which generation of watcher and
//! which invocation, how many rounds ran, and when the next is due.
//!
//! The decisions (who may claim, renew, hand over) are pure functions of the record, tested
//! below; `Lease` only reads and writes.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use tracing::debug;

use crate::call::{Call, CallLog, CallPolicy};
use crate::error::Error;

/// An alias description is at most 256 characters (botocore `lambda` model, `Description`).
const MAX_DESCRIPTION: usize = 256;
/// How many times a compare and swap is tried again after another writer won.
const CAS_ATTEMPTS: u32 = 5;

/// Where the watch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum State {
    /// Rounds are running (or the next generation is about to claim).
    Watching,
    /// The watch stopped the deployment.
    Stopped,
    /// The deployment ended; nothing more to watch.
    Ended,
}

/// The lease record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    #[serde(rename = "watch")]
    pub(crate) deployment_id: String,
    #[serde(rename = "gen")]
    pub(crate) generation: u32,
    /// The request id of the invocation holding it; `None` until claimed.
    pub(crate) owner: Option<String>,
    pub(crate) rounds: u32,
    /// Failed rounds in a row.
    pub(crate) failing: u32,
    /// Epoch milliseconds by which the holder renews it; later, the watch is dead.
    pub(crate) due_ms: u64,
    pub(crate) state: State,
}

/// What a decision on the record does.
pub(crate) enum Decision {
    Write(Record),
    /// Leave it; the refusal says why.
    Refuse(Refusal),
}

/// Why the lease was left as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("the watch of {deployment_id} already started (generation {generation})")]
    AlreadyStarted {
        deployment_id: String,
        generation: u32,
    },
    #[error("there is no lease: the watch was never started")]
    NeverStarted,
    #[error("the lease is for deployment {held}, not {wanted}")]
    OtherDeployment { held: String, wanted: String },
    #[error("the watch of {deployment_id} is over ({state:?})")]
    Over { deployment_id: String, state: State },
    #[error("the lease is at generation {held}, not {wanted}: a stale or duplicate delivery")]
    OtherGeneration { held: u32, wanted: u32 },
    #[error("generation {generation} is already held by invocation {owner}: a duplicate delivery or a retry after a crash; one watcher per deployment")]
    Claimed { generation: u32, owner: String },
    #[error("the lease is no longer this watcher's: {}", holder(.now.as_ref()))]
    NotMine { now: Option<Record> },
    #[error("the lease alias kept changing under {CAS_ATTEMPTS} attempts to update it")]
    KeepsChanging,
    #[error("the lease is held by deployment {held}, which may still be in progress")]
    Busy { held: String },
}

fn holder(record: Option<&Record>) -> String {
    record.map_or("gone".to_owned(), |r| {
        format!(
            "{} generation {} held by {:?}",
            r.deployment_id, r.generation, r.owner
        )
    })
}

/// The record a PreTraffic hook writes to start watching `deployment_id` at `now`; `Refuse`
/// when the watch of that deployment already started (a duplicate delivery of the hook's
/// event), or when another deployment holds it that is not known to be `over` and whose
/// watch has not lapsed (a hook shared by deployments running at once).
pub(crate) fn begin(
    existing: Option<&Record>,
    deployment_id: &str,
    due_ms: u64,
    now: u64,
    over: &BTreeSet<String>,
) -> Decision {
    match existing {
        Some(r) if r.deployment_id == deployment_id && (r.owner.is_some() || r.generation > 1) => {
            Decision::Refuse(Refusal::AlreadyStarted {
                deployment_id: deployment_id.to_owned(),
                generation: r.generation,
            })
        }
        Some(r)
            if r.deployment_id != deployment_id
                && !over.contains(&r.deployment_id)
                && !(r.state == State::Watching && now > r.due_ms) =>
        {
            Decision::Refuse(Refusal::Busy {
                held: r.deployment_id.clone(),
            })
        }
        _ => Decision::Write(Record {
            deployment_id: deployment_id.to_owned(),
            generation: 1,
            owner: None,
            rounds: 0,
            failing: 0,
            due_ms,
            state: State::Watching,
        }),
    }
}

/// Claim generation `generation` of the watch of `deployment_id` for invocation `me`: only
/// an unclaimed lease of exactly that generation can be claimed, so a duplicate delivery, a
/// late retry or a stale continuation is refused.
pub(crate) fn claim(
    existing: Option<&Record>,
    deployment_id: &str,
    generation: u32,
    me: &str,
    due_ms: u64,
) -> Decision {
    let Some(r) = existing else {
        return Decision::Refuse(Refusal::NeverStarted);
    };
    if r.deployment_id != deployment_id {
        return Decision::Refuse(Refusal::OtherDeployment {
            held: r.deployment_id.clone(),
            wanted: deployment_id.to_owned(),
        });
    }
    if r.state != State::Watching {
        return Decision::Refuse(Refusal::Over {
            deployment_id: deployment_id.to_owned(),
            state: r.state,
        });
    }
    if r.generation != generation {
        return Decision::Refuse(Refusal::OtherGeneration {
            held: r.generation,
            wanted: generation,
        });
    }
    match &r.owner {
        Some(owner) => Decision::Refuse(Refusal::Claimed {
            generation,
            owner: owner.clone(),
        }),
        None => Decision::Write(Record {
            owner: Some(me.to_owned()),
            due_ms,
            ..r.clone()
        }),
    }
}

/// Change the lease held by `me` (renew, hand over, finish); refused when someone else holds
/// it now.
pub(crate) fn held(
    existing: Option<&Record>,
    deployment_id: &str,
    generation: u32,
    me: &str,
    change: impl FnOnce(&mut Record),
) -> Decision {
    match existing {
        Some(r)
            if r.deployment_id == deployment_id
                && r.generation == generation
                && r.owner.as_deref() == Some(me) =>
        {
            let mut next = r.clone();
            change(&mut next);
            Decision::Write(next)
        }
        other => Decision::Refuse(Refusal::NotMine {
            now: other.cloned(),
        }),
    }
}

/// The record in an alias description, if it holds one.
pub(crate) fn parse(description: Option<&str>) -> Option<Record> {
    serde_json::from_str(description?).ok()
}

/// The lease alias, read and written under the call policy.
pub(crate) struct Lease<'a> {
    pub(crate) lambda: &'a aws_sdk_lambda::Client,
    pub(crate) function: &'a str,
    /// The alias holding it: [`LEASE_ALIAS`](crate::LEASE_ALIAS) or one of
    /// [`lease_alias_of`](crate::lease_alias_of).
    pub(crate) alias: &'a str,
    pub(crate) policy: &'a CallPolicy,
    pub(crate) log: &'a CallLog,
    /// No call runs past it: the hook's reporting reserve stays whole.
    pub(crate) deadline: Option<tokio::time::Instant>,
}

impl Lease<'_> {
    /// The record and the alias revision it was read at.
    pub(crate) async fn read(&self) -> Result<(Option<Record>, Option<String>), Error> {
        let operation = "lambda:GetAlias";
        let out = self
            .call(operation)
            .run(|| {
                let sent = self
                    .lambda
                    .get_alias()
                    .function_name(self.function)
                    .name(self.alias)
                    .send();
                async move {
                    sent.await.map_err(|e| match e.as_service_error() {
                        Some(e) if e.is_resource_not_found_exception() => Error::LeaseMissing {
                            function: self.function.to_owned(),
                            alias: self.alias.to_owned(),
                        },
                        _ => Error::aws(operation, e),
                    })
                }
            })
            .await?;
        Ok((
            parse(out.description()),
            out.revision_id().map(str::to_owned),
        ))
    }

    /// Read, decide, and write if the alias did not change in between; decided again when
    /// it did. `Ok(Err(reason))` when the decision refused.
    pub(crate) async fn update(
        &self,
        mut decide: impl FnMut(Option<&Record>) -> Decision,
    ) -> Result<Result<Record, Refusal>, Error> {
        for _ in 0..CAS_ATTEMPTS {
            let (record, revision) = self.read().await?;
            let next = match decide(record.as_ref()) {
                Decision::Write(next) => next,
                Decision::Refuse(reason) => return Ok(Err(reason)),
            };
            if self.write(&next, revision).await? {
                return Ok(Ok(next));
            }
            debug!(
                alias = self.alias,
                "the lease changed while deciding; reading it again"
            );
        }
        Ok(Err(Refusal::KeepsChanging))
    }

    /// `UpdateAlias` of the description only if the revision is still `revision`: `false`
    /// when another writer came first (`PreconditionFailedException`).
    async fn write(&self, record: &Record, revision: Option<String>) -> Result<bool, Error> {
        let operation = "lambda:UpdateAlias";
        let description = serde_json::to_string(record).map_err(|source| Error::Payload {
            what: "watch lease".into(),
            source,
        })?;
        debug_assert!(description.len() <= MAX_DESCRIPTION, "{description}");
        let result = self
            .call(operation)
            .run(|| {
                let sent = self
                    .lambda
                    .update_alias()
                    .function_name(self.function)
                    .name(self.alias)
                    .description(description.clone())
                    .set_revision_id(revision.clone())
                    .send();
                async move {
                    match sent.await {
                        Ok(_) => Ok(true),
                        Err(e)
                            if e.as_service_error()
                                .is_some_and(|e| e.is_precondition_failed_exception()) =>
                        {
                            Ok(false)
                        }
                        Err(e) => Err(Error::aws(operation, e)),
                    }
                }
            })
            .await?;
        Ok(result)
    }

    fn call(&self, operation: &'static str) -> Call<'_> {
        Call::control(operation, self.policy, self.log, "the watch's lease").until(self.deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(generation: u32, owner: Option<&str>) -> Record {
        Record {
            deployment_id: "d-1".into(),
            generation,
            owner: owner.map(str::to_owned),
            rounds: 4,
            failing: 0,
            due_ms: 1_000,
            state: State::Watching,
        }
    }

    fn written(d: Decision) -> Record {
        match d {
            Decision::Write(r) => r,
            Decision::Refuse(reason) => panic!("refused: {reason}"),
        }
    }

    fn refused(d: Decision) -> String {
        match d {
            Decision::Write(r) => panic!("wrote {r:?}"),
            Decision::Refuse(reason) => reason.to_string(),
        }
    }

    fn none_over() -> BTreeSet<String> {
        BTreeSet::new()
    }

    #[test]
    fn a_new_deployment_takes_the_lease_over_one_that_is_over() {
        let old = record(7, Some("a"));
        let over = BTreeSet::from(["d-1".to_owned()]);
        let new = written(begin(Some(&old), "d-2", 5, 500, &over));
        assert_eq!(
            (new.deployment_id.as_str(), new.generation, new.owner),
            ("d-2", 1, None)
        );
        assert_eq!(new.generation, 1);
    }

    #[test]
    fn a_lease_held_by_a_deployment_maybe_in_progress_is_not_taken() {
        let held = record(7, Some("a"));
        let why = refused(begin(Some(&held), "d-2", 5, 500, &none_over()));
        assert!(why.contains("held by deployment d-1"), "{why}");
        // Ended, but its PostTraffic hook may not have read it yet: still held.
        let ended = Record {
            state: State::Ended,
            ..held.clone()
        };
        assert!(refused(begin(Some(&ended), "d-2", 5, 5_000, &none_over())).contains("held"));
        // A watch that stopped renewing is dead: its lease is free.
        assert_eq!(
            written(begin(Some(&held), "d-2", 9_000, 5_000, &none_over())).deployment_id,
            "d-2"
        );
    }

    #[test]
    fn a_second_start_of_the_same_deployment_is_refused_once_claimed() {
        let claimed = begin(Some(&record(1, Some("a"))), "d-1", 5, 500, &none_over());
        assert!(refused(claimed).contains("already started"));
        // Unclaimed yet (the first start's invocation may have been lost): start again.
        assert_eq!(
            written(begin(Some(&record(1, None)), "d-1", 5, 500, &none_over())).generation,
            1
        );
    }

    #[test]
    fn only_one_invocation_claims_a_generation() {
        let open = record(2, None);
        let mine = written(claim(Some(&open), "d-1", 2, "me", 9));
        assert_eq!(mine.owner.as_deref(), Some("me"));
        assert!(refused(claim(Some(&mine), "d-1", 2, "twin", 9))
            .contains("already held by invocation me"));
        assert!(refused(claim(Some(&open), "d-1", 1, "late", 9)).contains("stale or duplicate"));
        assert!(refused(claim(Some(&open), "d-9", 2, "x", 9)).contains("not d-9"));
        assert!(refused(claim(None, "d-1", 1, "x", 9)).contains("never started"));
    }

    #[test]
    fn only_the_holder_changes_a_held_lease() {
        let mine = record(2, Some("me"));
        let renewed = written(held(Some(&mine), "d-1", 2, "me", |r| r.rounds += 1));
        assert_eq!(renewed.rounds, 5);
        assert!(refused(held(Some(&mine), "d-1", 2, "other", |_| {})).contains("no longer"));
    }

    #[test]
    fn the_record_fits_an_alias_description() {
        let mut r = record(MAX_GENERATIONS_FOR_TEST, Some(&"f".repeat(36)));
        r.deployment_id = "d-ABCDEFGHIJ".into();
        r.due_ms = u64::MAX;
        let text = serde_json::to_string(&r).unwrap();
        assert!(
            text.len() <= MAX_DESCRIPTION,
            "{} bytes: {text}",
            text.len()
        );
        assert_eq!(parse(Some(&text)), Some(r));
        assert_eq!(parse(Some("hello's watch lease")), None);
    }

    const MAX_GENERATIONS_FOR_TEST: u32 = super::super::MAX_GENERATIONS;
}
