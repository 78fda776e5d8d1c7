//! Errors of a transfer: the contract's kinds, with messages that name the field, URL or host.

use std::fmt;

/// What went wrong; the same kinds as the contract's `error-kind`, each with its own exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The access document is malformed or has a bad value.
    InvalidAccess,
    /// The remote side rejected the credentials.
    Auth,
    /// The remote resource does not exist.
    NotFound,
    /// The remote resource exists and the transfer would overwrite or contradict it.
    Conflict,
    /// The policy refused the operation (host not allowed, limit exceeded).
    Denied,
    /// The connection failed, timed out or was cut short.
    Network,
    /// The remote side answered with an error.
    Remote,
    /// Reading or writing the local file failed.
    LocalIo,
    /// A bug, a trap in the connector, or a connector that could not be loaded.
    Internal,
}

impl ErrorKind {
    /// All kinds, in exit-code order.
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::InvalidAccess,
        ErrorKind::Auth,
        ErrorKind::NotFound,
        ErrorKind::Conflict,
        ErrorKind::Denied,
        ErrorKind::Network,
        ErrorKind::Remote,
        ErrorKind::LocalIo,
        ErrorKind::Internal,
    ];

    /// The `red-wasm` command's exit code for this kind (10-18; 2 is a usage error).
    pub fn exit_code(self) -> u8 {
        10 + Self::ALL.iter().position(|k| *k == self).unwrap_or(8) as u8
    }

    /// The kind's name as the contract spells it (`invalid-access`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidAccess => "invalid-access",
            ErrorKind::Auth => "auth",
            ErrorKind::NotFound => "not-found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Denied => "denied",
            ErrorKind::Network => "network",
            ErrorKind::Remote => "remote",
            ErrorKind::LocalIo => "local-io",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed operation: its kind and a message for people.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    pub fn local_io(what: impl fmt::Display, error: &std::io::Error) -> Self {
        Self::new(ErrorKind::LocalIo, format!("{what}: {error}"))
    }
}

/// A connector handed the host a handle that is not (or no longer) in its resource table.
impl From<wasmtime::component::ResourceTableError> for Error {
    fn from(error: wasmtime::component::ResourceTableError) -> Self {
        match error {
            wasmtime::component::ResourceTableError::Full => handles_limit(),
            other => Error::internal(other.to_string()),
        }
    }
}

/// The error of a connector that holds more handles than [`MAX_HANDLES`](crate::limits::MAX_HANDLES).
pub(crate) fn handles_limit() -> Error {
    Error::new(
        ErrorKind::Denied,
        format!(
            "the connector held more than {} handles at once (a fixed bound)",
            crate::limits::MAX_HANDLES
        ),
    )
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
