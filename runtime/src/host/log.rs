//! The `log` interface: a connector's messages and progress, passed to the observer.

use super::HostState;
use crate::bindings::red::connector::log::{Host, Level};
use crate::observer::LogLevel;

/// Longest log line kept; a connector cannot make the host print without bound.
const MAX_LINE: usize = 4096;

impl Host for HostState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
        };
        let mut end = message.len().min(MAX_LINE);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        self.transfer.observer.log(level, &message[..end]);
        Ok(())
    }

    async fn progress(&mut self, done: u64, total: Option<u64>) -> wasmtime::Result<()> {
        self.transfer.observer.progress(done, total);
        Ok(())
    }
}
