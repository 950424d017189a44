//! Starting the watch from the PreTraffic hook, and the PostTraffic hook's check that the
//! shift was watched to its end.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use tracing::info;

use super::lease::{self, Lease, State};
use super::{is_over, lease_alias_of, real, WatchEvent, LEASE_ALIAS};
use crate::call::{Call, CallLog, CallPolicy};
use crate::check::{Check, CheckError, CheckFn};
use crate::clients::Clients;
use crate::error::Error;
use crate::runner::Registered;

/// How late past its interval a round may renew the lease (deployment clock): time for the
/// round's calls and the renewal itself.
const RENEWAL_SLACK: Duration = Duration::from_secs(10);

/// The least slack in real time, whatever the clock's scale: a round's calls and the renewal
/// take real time, which a rehearsal's compressed clock does not shrink (at x600 the 10 s
/// slack is 17 ms, less than a first round and its renewal take on a busy machine, and a
/// PostTraffic hook then saw a live watcher's lease as lapsed). In AWS (x1) it changes
/// nothing.
const REAL_SLACK: Duration = Duration::from_secs(1);

/// Epoch milliseconds now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// When a lease written now must be renewed by: two intervals and some slack, in real time.
pub(crate) fn due_ms(interval: Duration, time_scale: f64) -> u64 {
    let margin = real(interval * 2, time_scale) + real(RENEWAL_SLACK, time_scale).max(REAL_SLACK);
    now_ms() + margin.as_millis() as u64
}

/// Where the watch runs: the hook's own function and its lease alias.
pub(crate) struct Home<'a> {
    pub(crate) clients: &'a Clients,
    pub(crate) policy: &'a CallPolicy,
    pub(crate) log: &'a CallLog,
    pub(crate) function: &'a str,
    /// No call runs past it (the checks' deadline: the report keeps its reserve).
    pub(crate) deadline: Option<tokio::time::Instant>,
}

impl Home<'_> {
    /// The lease held in `alias` of this function.
    pub(crate) fn lease<'a>(&'a self, alias: &'a str) -> Lease<'a> {
        Lease {
            lambda: &self.clients.lambda,
            function: self.function,
            alias,
            policy: self.policy,
            log: self.log,
            deadline: self.deadline,
        }
    }

    /// Invoke this function asynchronously with a watch event: Lambda queues it (and retries
    /// it after a function error, which the lease then refuses).
    pub(crate) async fn invoke_watcher(&self, event: &WatchEvent) -> Result<(), Error> {
        let operation = "lambda:Invoke";
        let payload = event.payload();
        let call = Call::control(operation, self.policy, self.log, "starting the watcher")
            .until(self.deadline);
        call.run(|| {
            let sent = self
                .clients
                .lambda
                .invoke()
                .function_name(self.function)
                .invocation_type(InvocationType::Event)
                .payload(Blob::new(payload.clone()))
                .send();
            async move { sent.await.map(|_| ()).map_err(|e| Error::aws(operation, e)) }
        })
        .await
    }
}

/// Start watching `deployment_id` of `target` (the function deployed): write the lease
/// (generation 1, unclaimed) and invoke the first watcher. A start already made (a duplicate
/// delivery of the hook's event) is left alone. The lease is [`LEASE_ALIAS`]'s, or, while
/// another deployment in progress holds that (a hook shared by functions deployed at once),
/// [`lease_alias_of`] the target's. Returns what was done, for the summary.
///
/// # Errors
/// The failing call, or [`Error::LeaseBusy`]: the PreTraffic hook then fails, so the shift
/// never runs unwatched.
pub(crate) async fn start(
    home: &Home<'_>,
    deployment_id: &str,
    target: &str,
    interval: Duration,
    time_scale: f64,
) -> Result<String, Error> {
    let due = due_ms(interval, time_scale);
    let mut over = BTreeSet::new();
    let own = lease_alias_of(target);
    let mut held = None;
    for alias in [LEASE_ALIAS, own.as_str()] {
        // Each held deployment is asked about once, so this ends.
        for _ in 0..=MAX_ASKED {
            let begun = home
                .lease(alias)
                .update(|r| lease::begin(r, deployment_id, due, now_ms(), &over))
                .await;
            let begun = match begun {
                Err(e) if alias != LEASE_ALIAS && e.is_not_found() => break,
                other => other?,
            };
            match begun {
                Ok(_) => return started(home, deployment_id, alias).await,
                Err(lease::Refusal::Busy { held: other }) => {
                    if over.len() < MAX_ASKED && deployment_over(home, &other).await? {
                        over.insert(other);
                        continue;
                    }
                    held.get_or_insert(other);
                    break;
                }
                Err(reason) => {
                    info!(%reason, "not starting the watch again");
                    return Ok(reason.to_string());
                }
            }
        }
    }
    Err(Error::LeaseBusy {
        function: home.function.to_owned(),
        held: held.unwrap_or_default(),
        alias: own,
    })
}

/// How many deployments holding a lease are asked about.
const MAX_ASKED: usize = 4;

async fn started(home: &Home<'_>, deployment_id: &str, alias: &str) -> Result<String, Error> {
    let event = WatchEvent {
        deployment_id: deployment_id.to_owned(),
        generation: 1,
        lease: alias.to_owned(),
    };
    home.invoke_watcher(&event).await?;
    info!(
        function = home.function,
        lease = alias,
        "the shift's watch is started"
    );
    Ok(format!(
        "the shift's watch is started ({}, lease {alias})",
        home.function
    ))
}

/// Whether a deployment is over (`GetDeployment`: succeeded, failed, stopped, or unknown):
/// then its PostTraffic hook has read its lease, and the lease may be taken. A deployment
/// the hook may not read (another group's) is not known to be over.
async fn deployment_over(home: &Home<'_>, deployment_id: &str) -> Result<bool, Error> {
    let operation = "codedeploy:GetDeployment";
    let call =
        Call::control(operation, home.policy, home.log, "the lease's holder").until(home.deadline);
    call.run(|| {
        let sent = home
            .clients
            .codedeploy
            .get_deployment()
            .deployment_id(deployment_id)
            .send();
        async move {
            match sent.await {
                Ok(out) => Ok(is_over(out.deployment_info().and_then(|i| i.status()))),
                Err(e) => match e.as_service_error() {
                    Some(e) if e.is_deployment_does_not_exist_exception() => Ok(true),
                    Some(e) if e.meta().code() == Some("AccessDeniedException") => Ok(false),
                    _ => Err(Error::aws(operation, e)),
                },
            }
        }
    })
    .await
}

/// The PostTraffic check that the watch of `function` guarded the whole shift: it started,
/// was claimed, and kept renewing its lease.
pub(crate) fn evidence_check(function: String) -> Arc<Registered> {
    let name = format!("the shift was watched by {function}");
    let function = Arc::<str>::from(function);
    let run: CheckFn = Arc::new(move |t| {
        let function = Arc::clone(&function);
        Box::pin(async move {
            let deployment_id = t.deployment().deployment_id.clone().ok_or_else(|| {
                CheckError::assertion("no deployment id: the watch is checked in a deployment")
            })?;
            let target = lease_alias_of(&t.deployment().function_name);
            let policy = CallPolicy::default();
            let read = |alias| {
                let lease = Lease {
                    lambda: t.lambda(),
                    function: &function,
                    alias,
                    policy: &policy,
                    log: t.call_log(),
                    deadline: None, // the runner cancels the check at the hook's deadline
                };
                async move { lease.read().await }
            };
            let (mut record, _) = read(LEASE_ALIAS).await?;
            if record
                .as_ref()
                .is_none_or(|r| r.deployment_id != deployment_id)
            {
                // A shared hook's watch leases the function's own alias while another
                // deployment holds watch-lease; none there, the first one is judged.
                match read(&target).await {
                    Ok((Some(own), _)) if own.deployment_id == deployment_id => {
                        record = Some(own);
                    }
                    Ok(_) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e.into()),
                }
            }
            judge(record.as_ref(), &deployment_id, &function, now_ms())
                .map_err(|unwatched| CheckError::assertion(unwatched.to_string()))
        })
    });
    Arc::new(Registered {
        check: Check::named(name),
        run,
    })
}

/// How the lease shows that the shift was not watched throughout.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum Unwatched {
    #[error("the shift of {deployment_id} was not watched: the lease of {function} names {named}; was the watch started by the PreTraffic hook (Hook::watch)?")]
    NotStarted {
        deployment_id: String,
        function: String,
        named: String,
    },
    #[error("the watch stopped {deployment_id}")]
    Stopped { deployment_id: String },
    #[error("the watch of {deployment_id} was started but no watcher claimed it: its invocation of {function} never ran (see that function's logs and errors)")]
    Unclaimed {
        deployment_id: String,
        function: String,
    },
    #[error("the watch of {deployment_id} stopped renewing its lease {:.1} s ago, after {rounds} rounds (generation {generation}): the watcher died or could not hand over, so part of the shift went unwatched; see the logs of {function}", *.late_ms as f64 / 1000.0)]
    Lapsed {
        deployment_id: String,
        function: String,
        late_ms: u64,
        rounds: u32,
        generation: u32,
    },
}

/// Whether the lease shows a live watch of `deployment_id`.
fn judge(
    record: Option<&lease::Record>,
    deployment_id: &str,
    function: &str,
    now: u64,
) -> Result<(), Unwatched> {
    let (deployment_id, function) = (deployment_id.to_owned(), function.to_owned());
    let Some(r) = record.filter(|r| r.deployment_id == deployment_id) else {
        return Err(Unwatched::NotStarted {
            named: record.map_or("no deployment".to_owned(), |r| r.deployment_id.clone()),
            deployment_id,
            function,
        });
    };
    if r.state == State::Stopped {
        return Err(Unwatched::Stopped { deployment_id });
    }
    if r.owner.is_none() && r.generation == 1 {
        return Err(Unwatched::Unclaimed {
            deployment_id,
            function,
        });
    }
    if now > r.due_ms {
        return Err(Unwatched::Lapsed {
            deployment_id,
            function,
            late_ms: now - r.due_ms,
            rounds: r.rounds,
            generation: r.generation,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(owner: Option<&str>, due_ms: u64) -> lease::Record {
        lease::Record {
            deployment_id: "d-1".into(),
            generation: 1,
            owner: owner.map(str::to_owned),
            rounds: 3,
            failing: 0,
            due_ms,
            state: State::Watching,
        }
    }

    #[test]
    fn a_live_watch_passes_and_each_gap_is_named() {
        assert_eq!(
            judge(Some(&record(Some("a"), 2_000)), "d-1", "w", 1_000),
            Ok(())
        );
        let dead = judge(Some(&record(Some("a"), 1_000)), "d-1", "w", 4_500)
            .unwrap_err()
            .to_string();
        assert!(
            dead.contains("stopped renewing its lease 3.5 s ago, after 3 rounds"),
            "{dead}"
        );
        let unclaimed = judge(Some(&record(None, 9_000)), "d-1", "w", 1_000)
            .unwrap_err()
            .to_string();
        assert!(unclaimed.contains("no watcher claimed it"), "{unclaimed}");
        let other = judge(Some(&record(Some("a"), 9_000)), "d-2", "w", 1_000)
            .unwrap_err()
            .to_string();
        assert!(other.contains("names d-1"), "{other}");
        assert!(judge(None, "d-2", "w", 1)
            .unwrap_err()
            .to_string()
            .contains("names no deployment"));
    }
}
