//! CodeDeploy's records: deployments, their AppSpec revision, and hook executions, each with
//! a `watch` that wakes whoever waits for its report.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::SystemTime;

use tokio::time::Instant;

use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::plan::DeploymentPlan;
use super::spec::{DeploymentSpec, DeploymentStatus, HookStatus};
use super::timeline::TimelineEvent;
use crate::clock::WallClock;

pub(crate) struct Record {
    pub(crate) id: String,
    /// Creation order, for listing.
    pub(crate) seq: u64,
    pub(crate) spec: DeploymentSpec,
    pub(crate) content: String,
    pub(crate) sha256: String,
    pub(crate) status: DeploymentStatus,
    pub(crate) created: SystemTime,
    pub(crate) completed: Option<SystemTime>,
    pub(crate) error: Option<(String, String)>,
    stop: watch::Sender<Option<StopRequest>>,
    pub(crate) executions: BTreeMap<String, Execution>,
    /// Every event of its run, in order: the one timeline the outcome, the report and the
    /// live view read.
    pub(crate) timeline: Vec<TimelineEvent>,
    /// How it runs, once the engine has started it (`None` for a deployment made with
    /// `StandIn::create_deployment`, which nothing runs).
    pub(crate) run: Option<RunInfo>,
}

/// What the engine runs a deployment with, and when it started.
#[derive(Clone)]
pub(crate) struct RunInfo {
    pub(crate) plan: DeploymentPlan,
    pub(crate) started: Instant,
    pub(crate) started_at: SystemTime,
}

pub(crate) struct Execution {
    pub(crate) lifecycle_event: String,
    status: watch::Sender<Option<HookStatus>>,
    /// Reports received, accepted or not (a second one is refused).
    pub(crate) reports: u32,
}

impl Execution {
    pub(crate) fn status(&self) -> Option<HookStatus> {
        *self.status.borrow()
    }
}

/// A hook execution just opened: its id, the event for the hook, and its status to wait on.
pub(crate) struct Opened {
    pub(crate) execution_id: String,
    pub(crate) event: serde_json::Value,
    pub(crate) status: watch::Receiver<Option<HookStatus>>,
}

/// The deployments: every running one, and the newest finished ones up to a bound.
pub(crate) struct Deployments {
    clock: WallClock,
    records: Mutex<BTreeMap<String, Record>>,
    /// The next deployment's sequence number (creation order; never reused).
    next_seq: std::sync::atomic::AtomicU64,
    /// How many finished deployments are kept (at least 1: the one that just finished).
    keep_finished: usize,
}

impl Default for Deployments {
    fn default() -> Self {
        Deployments::new(100, WallClock::start())
    }
}

/// Why a status report was refused, in CodeDeploy's words.
pub(crate) enum ReportError {
    NoDeployment,
    NoExecution,
    AlreadyCompleted,
}

/// A `StopDeployment` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StopRequest {
    /// `autoRollbackEnabled`: shift the alias back to the current version.
    pub(crate) auto_rollback: bool,
}

/// Why a stop was refused.
pub(crate) enum StopError {
    NoDeployment,
    AlreadyCompleted,
}

impl Deployments {
    /// No deployments yet; at most `keep_finished` finished ones will be kept.
    pub(crate) fn new(keep_finished: usize, clock: WallClock) -> Self {
        Deployments {
            clock,
            records: Mutex::new(BTreeMap::new()),
            next_seq: std::sync::atomic::AtomicU64::new(0),
            keep_finished: keep_finished.max(1),
        }
    }

    /// A deployment ended: its status, error and completion time; the oldest finished
    /// deployments past the bound are forgotten (GetDeployment then answers
    /// `DeploymentDoesNotExistException`, as for any unknown id).
    pub(crate) fn finish(
        &self,
        id: &str,
        status: DeploymentStatus,
        error: Option<(String, String)>,
    ) {
        let mut records = self.lock();
        if let Some(r) = records.get_mut(id) {
            r.status = status;
            r.error = error;
            r.completed = Some(self.clock.now());
        }
        let mut finished: Vec<(u64, String)> = records
            .values()
            .filter(|r| !r.status.is_active())
            .map(|r| (r.seq, r.id.clone()))
            .collect();
        if finished.len() > self.keep_finished {
            finished.sort_unstable();
            let excess = finished.len() - self.keep_finished;
            for (_, old) in finished.into_iter().take(excess) {
                records.remove(&old);
            }
        }
    }

    /// Record a new deployment (status `Created`) and give its id and its stop signal.
    pub(crate) fn create(
        &self,
        spec: DeploymentSpec,
    ) -> (String, watch::Receiver<Option<StopRequest>>) {
        let id = format!("d-{}", random_id(9));
        let content = spec.appspec();
        let sha256 = hex::encode(Sha256::digest(content.as_bytes()));
        let (stop, stopped) = watch::channel(None);
        let mut records = self.lock();
        let record = Record {
            id: id.clone(),
            seq: self
                .next_seq
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            spec,
            content,
            sha256,
            status: DeploymentStatus::Created,
            created: self.clock.now(),
            completed: None,
            error: None,
            stop,
            executions: BTreeMap::new(),
            timeline: Vec::new(),
            run: None,
        };
        records.insert(id.clone(), record);
        (id, stopped)
    }

    pub(crate) fn with<R>(&self, id: &str, f: impl FnOnce(&mut Record) -> R) -> Option<R> {
        self.lock().get_mut(id).map(f)
    }

    pub(crate) fn read<R>(&self, id: &str, f: impl FnOnce(&Record) -> R) -> Option<R> {
        self.lock().get(id).map(f)
    }

    /// The ids of the deployments that pass `filter`, newest first.
    pub(crate) fn ids(&self, filter: impl Fn(&Record) -> bool) -> Vec<String> {
        self.newest_first(|r| filter(r).then(|| r.id.clone()))
    }

    /// What `f` makes of each deployment it takes (`Some`), newest first, in one look.
    pub(crate) fn newest_first<R>(&self, f: impl Fn(&Record) -> Option<R>) -> Vec<R> {
        let records = self.lock();
        let mut chosen: Vec<&Record> = records.values().collect();
        chosen.sort_by_key(|r| std::cmp::Reverse(r.seq));
        chosen.into_iter().filter_map(f).collect()
    }

    /// The active deployment of a deployment group, if any.
    pub(crate) fn active_in(&self, application: &str, group: &str) -> Option<String> {
        self.lock()
            .values()
            .find(|r| {
                r.status.is_active()
                    && r.spec.application_name == application
                    && r.spec.group_name == group
            })
            .map(|r| r.id.clone())
    }

    /// Open a hook execution.
    pub(crate) fn start_execution(
        &self,
        deployment_id: &str,
        lifecycle_event: &str,
    ) -> Option<Opened> {
        let opaque = json!({
            "encryptedData": base64::engine::general_purpose::STANDARD.encode(random_id(48)),
            "ivParameterSpec": base64::engine::general_purpose::STANDARD.encode(random_id(12)),
            "materialSetSerial": 1,
        });
        let execution_id = base64::engine::general_purpose::STANDARD.encode(opaque.to_string());
        let (sender, status) = watch::channel(None);
        self.with(deployment_id, |record| {
            record.executions.insert(
                execution_id.clone(),
                Execution {
                    lifecycle_event: lifecycle_event.to_owned(),
                    status: sender,
                    reports: 0,
                },
            );
        })?;
        let event =
            json!({"DeploymentId": deployment_id, "LifecycleEventHookExecutionId": execution_id});
        Some(Opened {
            execution_id,
            event,
            status,
        })
    }

    /// A hook's report: the first one counts, and wakes whoever waits on the execution.
    pub(crate) fn report(
        &self,
        deployment_id: &str,
        execution_id: &str,
        status: HookStatus,
    ) -> Result<(), ReportError> {
        let mut records = self.lock();
        let record = records
            .get_mut(deployment_id)
            .ok_or(ReportError::NoDeployment)?;
        let execution = record
            .executions
            .get_mut(execution_id)
            .ok_or(ReportError::NoExecution)?;
        execution.reports += 1;
        if execution.status().is_some() {
            return Err(ReportError::AlreadyCompleted);
        }
        execution.status.send_replace(Some(status));
        Ok(())
    }

    /// `StopDeployment`: signal the running deployment.
    pub(crate) fn request_stop(&self, id: &str, request: StopRequest) -> Result<(), StopError> {
        let records = self.lock();
        let record = records.get(id).ok_or(StopError::NoDeployment)?;
        if !record.status.is_active() {
            return Err(StopError::AlreadyCompleted);
        }
        record.stop.send_replace(Some(request));
        Ok(())
    }

    /// Content of a revision of an application, by its sha256.
    pub(crate) fn revision_content(&self, application: &str, sha256: &str) -> Option<String> {
        self.lock()
            .values()
            .find(|r| r.spec.application_name == application && r.sha256 == sha256)
            .map(|r| r.content.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Record>> {
        crate::sync::lock(&self.records)
    }
}

/// Whether an id is in the form CodeDeploy gives deployment ids: `d-` and nine uppercase
/// letters or digits (e.g. `d-A1B2C3D4E`). The form is AWS's observed one; the service model
/// sets no pattern.
pub(crate) fn is_deployment_id(id: &str) -> bool {
    id.strip_prefix("d-").is_some_and(|rest| {
        rest.len() == 9
            && rest
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    })
}

fn random_id(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..len)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_deployments_past_the_bound_are_forgotten_oldest_first_running_ones_never() {
        let deployments = Deployments::new(3, crate::clock::WallClock::start());
        let spec = || DeploymentSpec::new("hello", "live", "1", "2");
        let running = deployments.create(spec()).0;
        let ids: Vec<String> = (0..5).map(|_| deployments.create(spec()).0).collect();
        for id in &ids {
            deployments.finish(id, DeploymentStatus::Succeeded, None);
        }
        let kept = deployments.ids(|_| true);
        assert_eq!(
            kept,
            [
                ids[4].clone(),
                ids[3].clone(),
                ids[2].clone(),
                running.clone()
            ]
        );
        assert!(deployments.read(&ids[0], |_| ()).is_none());
        deployments.finish(&running, DeploymentStatus::Failed, None);
        assert_eq!(
            deployments.ids(|_| true),
            ids[2..].iter().rev().cloned().collect::<Vec<_>>()
        );
    }
}
