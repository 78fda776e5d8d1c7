//! red-wasm runs RED connectors as sandboxed WebAssembly components.
//!
//! A connector (untrusted code holding a user's credentials) gets nothing but the
//! `red:connector` contract in `wit/`: it decides what to request, the host decides whether
//! and does the I/O. Every HTTP request is checked against the transfer's [`Policy`] first,
//! and the only local file a connector can touch is the one of its transfer.
//!
//! ```no_run
//! # async fn demo() -> red_wasm::Result<()> {
//! use red_wasm::{ReceiveTarget, Runtime, TransferOptions};
//!
//! let runtime = Runtime::new()?;                 // once per process
//! let http = runtime.load("http")?;             // a built-in, or a path to a .wasm file
//! let access = r#"{"url": "https://example.org/data.csv"}"#;
//! let outcome = http
//!     .receive(access, ReceiveTarget::File("data.csv".into()), &TransferOptions::default())
//!     .await?;
//! println!("{} bytes in {:?}", outcome.bytes, outcome.duration);
//! # Ok(()) }
//! ```

mod bindings;
mod builtin;
mod cache;
mod connector;
mod error;
mod host;
mod limits;
pub mod listing;
mod messages;
mod observer;
mod policy;
pub mod reference;
mod runtime;
mod secrets;

pub use cache::PRECOMPILED_DIR_NAME;
pub use connector::{Connector, ConnectorInfo, Direction, Outcome, ReceiveTarget, TransferOptions};
pub use error::{Error, ErrorKind, Result};
pub use host::http::Timeouts;
pub use limits::Limits;
pub use observer::{LogLevel, Observer, Silent};
pub use policy::{HostKeyCheck, HostRule, Policy};
pub use runtime::{Runtime, RuntimeOptions};
pub use secrets::DEFAULT_SECRET_FIELDS;
pub use tokio_util::sync::CancellationToken;

/// The names of the connectors built into red-wasm.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    builtin::names()
}

/// The component bytes of a built-in connector (a starting point to save, inspect or wrap).
pub fn builtin_component(name: &str) -> Option<&'static [u8]> {
    builtin::component_bytes(name)
}
