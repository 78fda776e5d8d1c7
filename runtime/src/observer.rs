//! How a transfer reports to whoever runs it: log lines and progress.

/// The level of a connector's log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
}

/// Receives a transfer's log lines and progress. Called from the transfer's task; keep it
/// cheap. Both methods default to doing nothing.
pub trait Observer: Send + Sync {
    /// A log line from the connector or the host.
    fn log(&self, level: LogLevel, message: &str) {
        let _ = (level, message);
    }

    /// `done` bytes moved so far; `total` when the size is known.
    fn progress(&self, done: u64, total: Option<u64>) {
        let _ = (done, total);
    }
}

/// An observer that ignores everything.
pub struct Silent;

impl Observer for Silent {}
