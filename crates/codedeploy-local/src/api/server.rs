//! The API server: hyper's HTTP/1 with a bound on open connections, a timeout on idle and
//! half-open ones, and room made for new clients. (`axum::serve` has none of these.)
//!
//! When every slot is taken, a new connection does not wait behind held ones: the
//! connection idle the longest is closed for it (a keep-alive or a half-sent head), else
//! the one that has spent the longest sending its body. A connection whose request is being
//! handled (an Invoke waiting on its function) is never closed. So held or slow sockets,
//! however many, cannot lock out a client with a whole request to send.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;
use tower::ServiceExt as _;

use crate::sync::lock;

/// Connection bounds of the API server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Most connections open at once; past it, the idlest is closed for a new one.
    pub(crate) max_connections: usize,
    /// How long a connection may take to send a request's head, idle between requests
    /// included; then it is closed.
    pub(crate) idle_timeout: Duration,
}

/// What a connection is doing, for choosing one to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Waiting for a request head (keep-alive, or a head still arriving): closed first.
    Idle,
    /// Sending its body: closed when no connection is idle.
    Reading,
    /// Its request is being handled: never closed.
    Handling,
}

/// One open connection's phase and since when, shared with its requests.
#[derive(Debug)]
pub(crate) struct Connection {
    state: Mutex<(Phase, Instant)>,
}

impl Connection {
    fn set(&self, phase: Phase) {
        *lock(&self.state) = (phase, Instant::now());
    }

    /// The request's body has been read: it is being handled now.
    pub(crate) fn handling(&self) {
        self.set(Phase::Handling);
    }
}

/// The open connections, to pick one to close when the slots run out.
#[derive(Default)]
struct Connections {
    open: Mutex<HashMap<u64, (Arc<Connection>, AbortHandle)>>,
}

impl Connections {
    /// Close the connection idle the longest, else the one reading a body the longest.
    fn evict_one(&self) {
        let mut open = lock(&self.open);
        let victim = open
            .iter()
            .filter_map(|(id, (conn, _))| {
                let (phase, since) = *lock(&conn.state);
                (phase != Phase::Handling).then_some((phase, since, *id))
            })
            .min_by_key(|(phase, since, _)| (*phase, *since));
        let Some((_, _, id)) = victim else {
            return;
        };
        tracing::debug!(connection = id, "closing a held connection to make room");
        if let Some((_, abort)) = open.remove(&id) {
            abort.abort();
        }
    }
}

/// Removes a connection from the open ones however its task ends (an aborted task runs no
/// more of its code, but drops this).
struct Registered {
    connections: Arc<Connections>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        lock(&self.connections.open).remove(&self.id);
    }
}

/// Serve `router` on `listener` until the task is aborted; the connections are its own
/// and close with it.
pub(crate) async fn serve(listener: TcpListener, router: Router, limits: Limits) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let connections = Arc::new(Connections::default());
    let mut tasks = JoinSet::new();
    let mut next_id = 0u64;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                // EMFILE and friends: wait a little rather than spin.
                tracing::warn!(error = %err, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let permit = match Arc::clone(&slots).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                connections.evict_one();
                let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                    return;
                };
                permit
            }
        };
        let _ = stream.set_nodelay(true);
        let id = next_id;
        next_id += 1;
        let connection = Arc::new(Connection {
            state: Mutex::new((Phase::Idle, Instant::now())),
        });
        let service = tracked(router.clone(), Arc::clone(&connection));
        let registered = Registered {
            connections: Arc::clone(&connections),
            id,
        };
        // Registered under the lock before the task can remove itself.
        let mut open = lock(&connections.open);
        let abort = tasks.spawn(async move {
            let _registered = registered;
            let _permit = permit;
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.idle_timeout)
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            if let Err(err) = served.await {
                tracing::debug!(error = %err, "connection ended");
            }
        });
        open.insert(id, (connection, abort));
    }
}

/// The router, marking the connection's phase around each request and giving the request
/// its [`Connection`] (the guard marks the end of its body).
fn tracked(
    router: Router,
    connection: Arc<Connection>,
) -> impl tower::Service<
    Request<hyper::body::Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone {
    tower::service_fn(move |request: Request<hyper::body::Incoming>| {
        let (router, connection) = (router.clone(), Arc::clone(&connection));
        async move {
            connection.set(Phase::Reading);
            let mut request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(Arc::clone(&connection));
            let response = router.oneshot(request).await;
            connection.set(Phase::Idle);
            response
        }
    })
}
