//! Host bindings generated from `wit/connector.wit`.

wasmtime::component::bindgen!({
    path: "../wit",
    // The larger world: its imports are every connector's, and a component of the smaller
    // `connector-component` world (no `directories` export) is loaded by its export indices
    // (see `connector::ConnectorPre`).
    world: "directory-connector-component",
    imports: { default: async | trappable },
    exports: { default: async },
    trappable_error_type: {
        "red:connector/types.error" => crate::Error,
    },
    with: {
        "red:connector/local.sink": crate::host::local::SinkHandle,
        "red:connector/local.source": crate::host::local::SourceHandle,
        "red:connector/local.dir-sink": crate::host::dir::DirSinkHandle,
        "red:connector/local.dir-source": crate::host::dir::DirSourceHandle,
        "red:connector/local.tree-walk": crate::host::tree_walk::TreeWalkHandle,
        "red:connector/http.response": crate::host::http::ResponseHandle,
        "red:connector/sftp.session": crate::host::sftp::SessionHandle,
    },
});

pub use red::connector::types::{Error as WitError, ErrorKind as WitErrorKind};

impl From<crate::ErrorKind> for WitErrorKind {
    fn from(kind: crate::ErrorKind) -> Self {
        use crate::ErrorKind as K;
        match kind {
            K::InvalidAccess => WitErrorKind::InvalidAccess,
            K::Auth => WitErrorKind::Auth,
            K::NotFound => WitErrorKind::NotFound,
            K::Conflict => WitErrorKind::Conflict,
            K::Denied => WitErrorKind::Denied,
            K::Network => WitErrorKind::Network,
            K::Remote => WitErrorKind::Remote,
            K::LocalIo => WitErrorKind::LocalIo,
            K::Internal => WitErrorKind::Internal,
        }
    }
}

impl From<WitErrorKind> for crate::ErrorKind {
    fn from(kind: WitErrorKind) -> Self {
        use crate::ErrorKind as K;
        match kind {
            WitErrorKind::InvalidAccess => K::InvalidAccess,
            WitErrorKind::Auth => K::Auth,
            WitErrorKind::NotFound => K::NotFound,
            WitErrorKind::Conflict => K::Conflict,
            WitErrorKind::Denied => K::Denied,
            WitErrorKind::Network => K::Network,
            WitErrorKind::Remote => K::Remote,
            WitErrorKind::LocalIo => K::LocalIo,
            WitErrorKind::Internal => K::Internal,
        }
    }
}

impl From<WitError> for crate::Error {
    fn from(error: WitError) -> Self {
        crate::Error::new(error.kind.into(), error.message)
    }
}
