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
//! A connector that moves folders (RED's receive-dir and send-dir) implements
//! [`DirectoryGuest`] too and says so: `export_connector!(Mine, directories);`. Without it,
//! the directory calls answer that the connector moves single files only.
//!
//! The host functions (HTTP, the local file, logging) are in [`bindings`]; the helpers here
//! cover what every connector needs: checking the access document with JSON paths
//! ([`access`]), building errors ([`Error`]), and reading or writing through `std::io`
//! adapters ([`io`]).

#![warn(missing_docs)]

pub mod access;
pub mod io;
pub mod listing;
pub mod web;

/// Bindings generated from `wit/connector.wit` (documented there).
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "directory-connector-component",
        pub_export_macro: true,
        export_macro_name: "__export_world",
        default_bindings_module: "red_connector_sdk::bindings",
    });
}

pub use bindings::exports::red::connector::connector::{ConnectorInfo, Guest};
pub use bindings::exports::red::connector::directories::Guest as DirectoryGuest;
pub use bindings::red::connector::http;
pub use bindings::red::connector::local::{DirEntry, DirSink, DirSource, Sink, Source, TreeWalk};
pub use bindings::red::connector::sftp;

/// Exports a connector: `export_connector!(Mine)` for one that implements [`Guest`] (single
/// files), `export_connector!(Mine, directories)` for one that implements
/// [`DirectoryGuest`] as well.
#[macro_export]
macro_rules! export_connector {
    ($ty:ident) => {
        const _: () = {
            struct FilesOnly;

            impl $crate::Guest for FilesOnly {
                fn info() -> $crate::ConnectorInfo {
                    <$ty as $crate::Guest>::info()
                }
                fn validate_receive(access: String) -> Result<(), $crate::Error> {
                    <$ty as $crate::Guest>::validate_receive(access)
                }
                fn validate_send(access: String) -> Result<(), $crate::Error> {
                    <$ty as $crate::Guest>::validate_send(access)
                }
                fn receive(access: String, target: $crate::Sink) -> Result<(), $crate::Error> {
                    <$ty as $crate::Guest>::receive(access, target)
                }
                fn send(access: String, source: $crate::Source) -> Result<(), $crate::Error> {
                    <$ty as $crate::Guest>::send(access, source)
                }
            }

            impl $crate::DirectoryGuest for FilesOnly {
                fn validate_receive_dir(_: String, _: Option<String>) -> Result<(), $crate::Error> {
                    Err($crate::files_only("receive-dir"))
                }
                fn validate_send_dir(_: String, _: Option<String>) -> Result<(), $crate::Error> {
                    Err($crate::files_only("send-dir"))
                }
                fn receive_dir(
                    _: String,
                    _: Option<String>,
                    _: $crate::DirSink,
                ) -> Result<(), $crate::Error> {
                    Err($crate::files_only("receive-dir"))
                }
                fn send_dir(
                    _: String,
                    _: Option<String>,
                    _: $crate::DirSource,
                ) -> Result<(), $crate::Error> {
                    Err($crate::files_only("send-dir"))
                }
            }

            $crate::bindings::__export_world!(FilesOnly with_types_in $crate::bindings);
        };
    };
    ($ty:ident, directories) => {
        $crate::bindings::__export_world!($ty with_types_in $crate::bindings);
    };
}

/// The answer of a connector without folder support to a directory `mode`.
#[doc(hidden)]
pub fn files_only(mode: &str) -> Error {
    Error::new(
        ErrorKind::Denied,
        format!("this connector moves single files only: it has no {mode}"),
    )
}
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
