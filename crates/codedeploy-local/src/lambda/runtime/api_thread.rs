//! Where the functions' Runtime API is served: on the stand-in's own runtime, or on a thread
//! of its own.
//!
//! With one execution environment, a version's throughput is its process's round trips:
//! `/response`, then `/next`, each answered before the process goes on. On the stand-in's
//! runtime those answers wait behind whatever the API's clients ask meanwhile. On a thread
//! that does nothing else they go out at once: measured side by side (the throughput bench,
//! 64 clients), 8,900 - 9,100 -> 11,000 - 14,000 invokes/s with one environment, and
//! 17,900 - 23,600 -> 19,400 - 24,700 with four.
//!
//! The thread reads tokio's clock of its own runtime, the real one: it is for the
//! `codedeploy-local` binary, not for tests on tokio's paused clock (whose environments'
//! deadlines would then be read off two clocks).

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::sync::lock;

/// Where Runtime API servers run.
#[derive(Debug, Clone, Default)]
pub(crate) enum ApiHost {
    /// On the runtime the stand-in was started on.
    #[default]
    Shared,
    /// On a thread of their own.
    Thread(Arc<ApiThread>),
}

impl ApiHost {
    /// On a thread of their own when `thread`, else on the stand-in's runtime.
    ///
    /// # Errors
    /// When the thread cannot be started.
    pub(crate) fn new(thread: bool) -> std::io::Result<ApiHost> {
        Ok(match thread {
            true => ApiHost::Thread(ApiThread::start()?),
            false => ApiHost::Shared,
        })
    }

    /// Start `server` where Runtime API servers run.
    pub(crate) fn spawn<F>(&self, server: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match self {
            ApiHost::Shared => tokio::spawn(server),
            ApiHost::Thread(thread) => thread.handle.spawn(server),
        }
    }

    /// Stop the thread, if there is one, and wait until it has ended: every server and
    /// connection on it is dropped by then.
    pub(crate) async fn stopped(&self) {
        if let ApiHost::Thread(thread) = self {
            thread.stop();
            let ending = lock(&thread.thread).take();
            if let Some(ending) = ending {
                let _ = tokio::task::spawn_blocking(move || ending.join()).await;
            }
        }
    }
}

/// A thread with a single-threaded tokio runtime, running until stopped or dropped.
#[derive(Debug)]
pub(crate) struct ApiThread {
    handle: Handle,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl ApiThread {
    /// Start the thread.
    ///
    /// # Errors
    /// When the runtime or the thread cannot be created (out of memory or threads).
    fn start() -> std::io::Result<Arc<ApiThread>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("runtime-api".into())
            .spawn(move || {
                // Stopped, or its sender dropped: either way the runtime and every task on
                // it are dropped here.
                let _ = runtime.block_on(stopped);
            })?;
        Ok(Arc::new(ApiThread {
            handle,
            stop: Mutex::new(Some(stop)),
            thread: Mutex::new(Some(thread)),
        }))
    }

    fn stop(&self) {
        if let Some(stop) = lock(&self.stop).take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for ApiThread {
    fn drop(&mut self) {
        self.stop();
        let Some(thread) = lock(&self.thread).take() else {
            return;
        };
        // The last owner may be a task on the thread itself: it then ends on its own.
        if thread.thread().id() != std::thread::current().id() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_server_runs_on_the_thread_and_stops_with_it() {
        let host = ApiHost::new(true).expect("a thread");
        let (name_tx, name_rx) = oneshot::channel();
        let (_hold, held) = oneshot::channel::<()>();
        let server = host.spawn(async move {
            let _ = name_tx.send(std::thread::current().name().map(str::to_owned));
            let _ = held.await;
        });
        assert_eq!(name_rx.await.ok().flatten().as_deref(), Some("runtime-api"));
        host.stopped().await;
        // Its runtime dropped the task, which never finished on its own.
        assert!(server.await.is_err_and(|e| e.is_cancelled()));
    }
}
