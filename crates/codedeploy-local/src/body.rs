//! Reading an HTTP body within a limit, for the API's door and the Runtime API alike.

use axum::body::{Body, Bytes};
use futures::StreamExt as _;

/// Past a limit, the rest of a body is read and dropped up to this much, so the sender
/// (still sending) reads the answer rather than a reset; beyond it the connection closes.
const MAX_DRAIN: usize = 64 * 1024 * 1024;

/// Why a body was not read whole.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// Over the limit (the rest was drained, up to 64 MiB).
    #[error("the body is over {limit} bytes")]
    TooLarge { limit: usize },
    /// The connection failed while it was being read.
    #[error("the body could not be read")]
    Broken(#[source] axum::Error),
}

/// The body, if it is at most `limit` bytes; past it, nothing of it is kept.
///
/// # Errors
/// [`ReadError`]: over the limit (after draining the rest), or broken.
pub(crate) async fn read_bounded(body: Body, limit: usize) -> Result<Bytes, ReadError> {
    let mut stream = body.into_data_stream();
    let mut buffer = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(ReadError::Broken)?;
        seen = seen.saturating_add(chunk.len());
        if seen > limit {
            drop(buffer);
            while seen <= MAX_DRAIN {
                match stream.next().await {
                    Some(Ok(chunk)) => seen = seen.saturating_add(chunk.len()),
                    _ => break,
                }
            }
            return Err(ReadError::TooLarge { limit });
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buffer))
}
