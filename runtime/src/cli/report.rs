//! Machine-readable output: `--json` prints one result document on standard output, and
//! `--events` prints newline-delimited JSON events (progress and log lines, then the result)
//! as the transfer goes, so that executors in any language can drive red-wasm as a
//! subprocess. The schema is in the README ("Machine-readable output"). Secrets never appear:
//! messages and logs are masked before they get here.

use std::io::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use red_wasm::{Error, LogLevel, Observer};
use serde_json::{json, Value};

/// The schema version of the documents below.
pub const SCHEMA: u32 = 1;

/// The result document of a command that succeeded; `fields` are the command's own.
pub fn success(command: &str, fields: Value) -> Value {
    let mut doc =
        json!({"schema": SCHEMA, "command": command, "outcome": "succeeded", "error": null});
    if let (Some(doc), Value::Object(fields)) = (doc.as_object_mut(), fields) {
        doc.extend(fields);
    }
    doc
}

/// The result document of a command that failed.
pub fn failure(command: &str, error: &Error) -> Value {
    json!({
        "schema": SCHEMA,
        "command": command,
        "outcome": "failed",
        "error": {
            "kind": error.kind.name(),
            "message": error.message,
            "exit_code": error.kind.exit_code(),
        },
    })
}

/// Prints a result: one pretty document, or a `result` event line with `--events`.
pub fn print(doc: Value, events: bool) {
    let mut out = std::io::stdout().lock();
    let text = if events {
        let mut event = json!({"event": "result"});
        if let (Some(event), Value::Object(doc)) = (event.as_object_mut(), doc) {
            event.extend(doc);
        }
        event.to_string()
    } else {
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    };
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// How often progress events are written at most.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Writes `progress` and `log` events to standard output, one JSON object a line.
pub struct Events {
    last_progress: Mutex<Option<Instant>>,
}

impl Events {
    pub fn new() -> Self {
        Events {
            last_progress: Mutex::new(None),
        }
    }

    fn emit(&self, event: Value) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{event}");
        let _ = out.flush();
    }
}

impl Observer for Events {
    fn log(&self, level: LogLevel, message: &str) {
        self.emit(json!({"event": "log", "level": level, "message": message}));
    }

    fn progress(&self, done: u64, total: Option<u64>) {
        let finished = total == Some(done);
        let mut last = self.last_progress.lock().unwrap();
        if !finished && last.is_some_and(|t| t.elapsed() < PROGRESS_EVERY) {
            return;
        }
        *last = Some(Instant::now());
        self.emit(json!({"event": "progress", "done": done, "total": total}));
    }
}
