//! The record of invocations served, for metrics, alarms and tests.
//!
//! Nothing is kept for nobody: a record goes only to the logs that are open (an
//! [`InvocationLog`] from `StandIn::record_invocations`, or a deployment's alarm window),
//! and each log keeps only its own window. So serving any number of invocations with no log
//! open holds no memory for them.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use crate::invocation::InvocationRecord;
use crate::sync::lock;

/// A log of invocations, open while it is held.
#[derive(Debug)]
pub struct InvocationLog {
    inner: Arc<Tap>,
}

#[derive(Debug)]
struct Tap {
    /// Records older than this (by `at`) are dropped; `None` keeps everything.
    window: Option<Duration>,
    records: Mutex<VecDeque<InvocationRecord>>,
    /// Invocations through each alias since the log was opened: `(function, alias, version)`.
    through_aliases: Mutex<BTreeMap<(String, String, String), usize>>,
}

impl InvocationLog {
    /// Every invocation recorded since the log was opened (within its window), oldest
    /// first.
    pub fn records(&self) -> Vec<InvocationRecord> {
        lock(&self.inner.records).iter().cloned().collect()
    }

    /// Invocations of `function` through `alias` since the log was opened, whatever its
    /// window: `(all, those that ran target_version)`.
    pub(crate) fn alias_counts(
        &self,
        function: &str,
        alias: &str,
        target_version: &str,
    ) -> (usize, usize) {
        let counts = lock(&self.inner.through_aliases);
        counts
            .iter()
            .filter(|((f, a, _), _)| f == function && a == alias)
            .fold((0, 0), |(all, target), ((_, _, v), n)| {
                (all + n, target + if v == target_version { *n } else { 0 })
            })
    }

    /// Look at the records without copying them.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&VecDeque<InvocationRecord>) -> R) -> R {
        f(&lock(&self.inner.records))
    }
}

/// Where invocations are recorded: the open logs.
#[derive(Debug, Default)]
pub(crate) struct Invocations {
    taps: Mutex<Vec<Weak<Tap>>>,
}

impl Invocations {
    /// Open a log; `window` bounds how far back it keeps records.
    pub(crate) fn open(&self, window: Option<Duration>) -> InvocationLog {
        let inner = Arc::new(Tap {
            window,
            records: Mutex::new(VecDeque::new()),
            through_aliases: Mutex::new(BTreeMap::new()),
        });
        let mut taps = lock(&self.taps);
        taps.retain(|t| t.strong_count() > 0);
        taps.push(Arc::downgrade(&inner));
        InvocationLog { inner }
    }

    /// Whether any log is open (so a record is worth building).
    pub(crate) fn is_open(&self) -> bool {
        !lock(&self.taps).is_empty()
    }

    /// Give a record to every open log.
    pub(crate) fn record(&self, record: InvocationRecord) {
        let taps: Vec<Arc<Tap>> = {
            let mut taps = lock(&self.taps);
            if taps.is_empty() {
                return;
            }
            taps.retain(|t| t.strong_count() > 0);
            taps.iter().filter_map(Weak::upgrade).collect()
        };
        for tap in taps {
            if let (Some(alias), false) = (&record.alias, record.throttled) {
                let key = (
                    record.function_name.clone(),
                    alias.clone(),
                    record.executed_version.clone(),
                );
                *lock(&tap.through_aliases).entry(key).or_default() += 1;
            }
            let mut records = lock(&tap.records);
            if let Some(window) = tap.window {
                let oldest = record
                    .at
                    .checked_sub(window)
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                while records.front().is_some_and(|r| r.at < oldest) {
                    records.pop_front();
                }
            }
            records.push_back(record.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> InvocationRecord {
        InvocationRecord {
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(seconds),
            function_name: "hello".into(),
            alias: None,
            executed_version: "1".into(),
            duration: Duration::ZERO,
            error: false,
            throttled: false,
            smoke: false,
        }
    }

    #[test]
    fn records_go_only_to_open_logs_and_each_keeps_its_window() {
        let invocations = Invocations::default();
        invocations.record(at(1));
        let all = invocations.open(None);
        let recent = invocations.open(Some(Duration::from_secs(10)));
        for s in [100, 105, 111, 120] {
            invocations.record(at(s));
        }
        assert_eq!(all.records().len(), 4, "nothing from before it was opened");
        assert_eq!(recent.alias_counts("hello", "live", "1"), (0, 0));
        let kept: Vec<_> = recent.records().iter().map(|r| r.at).collect();
        assert_eq!(kept, [at(111).at, at(120).at]);
        drop(all);
        invocations.record(at(121));
        assert_eq!(
            lock(&invocations.taps).len(),
            1,
            "a dropped log is forgotten"
        );
    }
}
