//! Guest-side SDK for RED connectors.
//!
//! A connector is a crate of type `cdylib` built for `wasm32-wasip2` that implements
//! [`Guest`] and exports it with [`export_connector!`]:
//!
//! ```ignore
//! use red_connector_sdk::{export_connector, Guest, Error, ConnectorInfo, Sink, Source};
//! struct Mine;
//! impl Guest for Mine { /* info, validate-*, receive, send */ }
//! export_connector!(Mine);
//! ```
//!
//! The host functions (HTTP, the local file, logging) are in [`bindings`]; the helpers here
//! cover what every connector needs: checking the access document with JSON paths
//! ([`access`]), building errors ([`Error`]), and reading or writing through `std::io`
//! adapters ([`io`]).

#![warn(missing_docs)]

pub mod access;
pub mod io;
pub mod web;

/// Bindings generated from `wit/connector.wit` (documented there).
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "connector-component",
        pub_export_macro: true,
        export_macro_name: "export_connector",
        default_bindings_module: "red_connector_sdk::bindings",
    });
}

pub use bindings::export_connector;
pub use bindings::exports::red::connector::connector::{ConnectorInfo, Guest};
pub use bindings::red::connector::http;
pub use bindings::red::connector::local::{Sink, Source};
pub use bindings::red::connector::log;
pub use bindings::red::connector::types::{Error, ErrorKind};

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            ErrorKind::InvalidAccess => "invalid access",
            ErrorKind::Auth => "authentication failed",
            ErrorKind::NotFound => "not found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Denied => "denied",
            ErrorKind::Network => "network error",
            ErrorKind::Remote => "remote error",
            ErrorKind::LocalIo => "local I/O error",
            ErrorKind::Internal => "internal error",
        };
        f.write_str(name)
    }
}

/// Logs at info level through the host.
pub fn info(message: &str) {
    log::log(log::Level::Info, message);
}

/// Logs at warn level through the host.
pub fn warn(message: &str) {
    log::log(log::Level::Warn, message);
}

/// Logs at debug level through the host.
pub fn debug(message: &str) {
    log::log(log::Level::Debug, message);
}
