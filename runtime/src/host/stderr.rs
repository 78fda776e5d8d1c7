//! The guest's standard error, kept (the last [`KEPT`] bytes) so that a crashed connector's
//! own words reach its error: a Rust panic message, a Python traceback. Nothing is printed
//! as it comes; the rest of what a connector writes there is dropped.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// The bytes of standard error kept, the latest: half the bound of an error message, so that
/// the crash's own words (the end) always fit in it.
pub const KEPT: usize = 8 * 1024;

/// A bounded in-memory standard error, shared between the store and the transfer.
#[derive(Clone, Default)]
pub struct GuestStderr(Arc<Mutex<Kept>>);

#[derive(Default)]
struct Kept {
    bytes: Vec<u8>,
    /// Whether earlier bytes were dropped.
    cut: bool,
}

impl GuestStderr {
    /// What the guest wrote lately, as text, in whole lines: when earlier output was dropped,
    /// the line it was dropped from goes too (a secret cut in half would not be masked).
    pub fn text(&self) -> String {
        let kept = self.0.lock().unwrap();
        let mut bytes = &kept.bytes[..];
        if kept.cut {
            bytes = match bytes.iter().position(|b| *b == b'\n') {
                Some(newline) => &bytes[newline + 1..],
                None => &[],
            };
        }
        let text = String::from_utf8_lossy(bytes).trim().to_owned();
        if kept.cut {
            format!("[earlier output cut]\n{text}")
        } else {
            text
        }
    }

    fn append(&self, bytes: &[u8]) {
        let mut kept = self.0.lock().unwrap();
        if bytes.len() > KEPT {
            kept.cut = true;
        }
        kept.bytes
            .extend_from_slice(&bytes[bytes.len().saturating_sub(KEPT)..]);
        if kept.bytes.len() > KEPT {
            let excess = kept.bytes.len() - KEPT;
            kept.bytes.drain(..excess);
            kept.cut = true;
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
    fn keeps_the_latest_whole_lines() {
        let stderr = GuestStderr::default();
        stderr.append(b"the password is Tr0ub4dor-Secret-77\n");
        stderr.append(&vec![b'a'; KEPT - 30]);
        stderr.append(b"\npanicked at the end");
        let text = stderr.text();
        assert!(text.ends_with("panicked at the end"), "{text}");
        assert!(text.starts_with("[earlier output cut]"), "{text}");
        assert!(!text.contains("Secret-77"), "the cut line goes: {text}");
        let one_line = GuestStderr::default();
        one_line.append(&vec![b'x'; 3 * KEPT]);
        assert_eq!(one_line.text(), "[earlier output cut]\n");
    }
}
