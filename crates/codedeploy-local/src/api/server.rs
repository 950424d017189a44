//! The API server: hyper's HTTP/1 with a bound on open connections and a timeout on idle
//! and half-open ones, so held sockets cannot use up the file descriptors that invokes and
//! function restarts need. (`axum::serve` has neither setting.)

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Connection bounds of the API server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Most connections open at once; more wait in the listen backlog.
    pub(crate) max_connections: usize,
    /// How long a connection may take to send a request's head, idle between requests
    /// included; then it is closed.
    pub(crate) idle_timeout: Duration,
}

/// Serve `router` on `listener` until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, router: Router, limits: Limits) {
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        let Ok(permit) = Arc::clone(&open).acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                // EMFILE and friends: wait a little rather than spin.
                tracing::warn!(error = %err, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.idle_timeout)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended");
            }
        });
    }
}
