//! The guest's standard error, kept (the last [`KEPT`] bytes) so that a crashed connector's
//! own words reach its error: a Rust panic message, a Python traceback. Nothing is printed
//! as it comes; the rest of what a connector writes there is dropped.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// The bytes of standard error kept, the latest.
pub const KEPT: usize = 16 * 1024;

/// A bounded in-memory standard error, shared between the store and the transfer.
#[derive(Clone, Default)]
pub struct GuestStderr(Arc<Mutex<Vec<u8>>>);

impl GuestStderr {
    /// What the guest wrote lately, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .trim()
            .to_owned()
    }

    fn append(&self, bytes: &[u8]) {
        let mut kept = self.0.lock().unwrap();
        kept.extend_from_slice(&bytes[bytes.len().saturating_sub(KEPT)..]);
        if kept.len() > KEPT {
            let excess = kept.len() - KEPT;
            kept.drain(..excess);
        }
    }
}

impl IsTerminal for GuestStderr {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestStderr {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for GuestStderr {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_bytes() {
        let stderr = GuestStderr::default();
        stderr.append(&vec![b'a'; KEPT]);
        stderr.append(b"panicked at the end");
        let text = stderr.text();
        assert_eq!(text.len(), KEPT);
        assert!(text.ends_with("panicked at the end"));
    }
}
