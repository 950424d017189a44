//! A function's stdout or stderr, read line by line.
//!
//! Lines are read as they come by a task, and also on demand: when the function answers, the
//! Runtime API drains the pipe before it closes the invocation's log. The function wrote
//! those lines before it answered, so they are in the pipe by then, and the log tail is
//! complete (a task alone could still be behind).

use std::fs::File;
use std::io::{ErrorKind, Read as _};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use tokio::net::unix::pipe;

use crate::sync::lock;

/// The longest line kept whole; longer output is cut into lines of this size.
const MAX_LINE: usize = 256 * 1024;

pub(crate) struct LogPipe {
    state: Mutex<PipeState>,
}

struct PipeState {
    file: File,
    partial: Vec<u8>,
    open: bool,
}

impl LogPipe {
    /// The pipe, and a handle the pump task waits on for data. Reads go through a duplicate
    /// of the descriptor, so they do not depend on the reactor having seen the data yet.
    pub(crate) fn new(fd: OwnedFd) -> std::io::Result<(Arc<LogPipe>, pipe::Receiver)> {
        let reader = File::from(fd.try_clone()?);
        let ready = pipe::Receiver::from_owned_fd(fd)?;
        let pipe = Arc::new(LogPipe {
            state: Mutex::new(PipeState {
                file: reader,
                partial: Vec::new(),
                open: true,
            }),
        });
        Ok((pipe, ready))
    }

    /// Read everything the pipe holds now, without waiting, giving each complete line to
    /// `sink`. Returns whether the pipe is still open.
    pub(crate) fn drain(&self, sink: &dyn Fn(&str)) -> bool {
        let mut state = lock(&self.state);
        let mut buf = [0u8; 16 * 1024];
        while state.open {
            match state.file.read(&mut buf) {
                Ok(0) => {
                    state.open = false;
                    let rest = std::mem::take(&mut state.partial);
                    if !rest.is_empty() {
                        sink(&String::from_utf8_lossy(&rest));
                    }
                }
                Ok(n) => {
                    state.partial.extend_from_slice(&buf[..n]);
                    emit_lines(&mut state.partial, sink);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => state.open = false,
            }
        }
        state.open
    }
}

fn emit_lines(partial: &mut Vec<u8>, sink: &dyn Fn(&str)) {
    let mut start = 0;
    while let Some(end) = partial[start..].iter().position(|b| *b == b'\n') {
        sink(&String::from_utf8_lossy(&partial[start..start + end]));
        start += end + 1;
    }
    partial.drain(..start);
    while partial.len() > MAX_LINE {
        let line: Vec<u8> = partial.drain(..MAX_LINE).collect();
        sink(&String::from_utf8_lossy(&line));
    }
}

/// Read the pipe as data comes, until it closes.
pub(crate) async fn pump(pipe: Arc<LogPipe>, ready: pipe::Receiver, sink: impl Fn(&str)) {
    loop {
        if ready.readable().await.is_err() {
            return;
        }
        // Draining ends on WouldBlock while the pipe is open, which clears the readiness.
        let drained = ready.try_io(|| match pipe.drain(&sink) {
            true => Err(ErrorKind::WouldBlock.into()),
            false => Ok(()),
        });
        if drained.is_ok() {
            return;
        }
    }
}
