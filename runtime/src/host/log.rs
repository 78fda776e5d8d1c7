//! The `log` interface: a connector's messages and progress, passed to the observer.

use super::HostState;
use crate::bindings::red::connector::log::{Host, Level};
use crate::observer::LogLevel;

impl Host for HostState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
        };
        // The observer masks, escapes and bounds the line (crate::messages).
        self.transfer.observer.log(level, &message);
        Ok(())
    }

    async fn progress(&mut self, done: u64, total: Option<u64>) -> wasmtime::Result<()> {
        self.transfer.observer.progress(done, total);
        Ok(())
    }
}
