//! The stand-in's tasks: every task it starts (the server, function supervisors and their
//! log pumps, deployments, hook deliveries, asynchronous invocations, synthetic traffic) is
//! started here, and all stop when the stand-in shuts down. A stopped supervisor drops its
//! process, which kills it (`kill_on_drop`).

use std::future::Future;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The tasks of one stand-in; clones share them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tasks {
    tracker: TaskTracker,
    stop: CancellationToken,
}

impl Tasks {
    /// Start `task`; it ends early, dropped where it waits, when the stand-in stops. After
    /// that, a task started is dropped at once.
    pub(crate) fn spawn<F>(&self, task: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let stop = self.stop.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                biased;
                () = stop.cancelled() => {}
                () = task => {}
            }
        })
    }

    /// Start a task that stops by itself when told (it gets the signal): for one that must
    /// clean up first, as a supervisor kills and reaps its process.
    pub(crate) fn spawn_stoppable<F>(
        &self,
        task: impl FnOnce(CancellationToken) -> F,
    ) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task(self.stop.clone()))
    }

    /// A signal to stop part of the tasks, which the stand-in's own stop also gives.
    pub(crate) fn child_token(&self) -> CancellationToken {
        self.stop.child_token()
    }

    /// Tell every task to stop; they do at their next wake-up.
    pub(crate) fn stop(&self) {
        self.stop.cancel();
        self.tracker.close();
    }

    /// Stop every task and wait until all have ended.
    pub(crate) async fn stopped(&self) {
        self.stop();
        self.tracker.wait().await;
    }

    /// How many tasks are running.
    pub(crate) fn running(&self) -> usize {
        self.tracker.len()
    }
}
