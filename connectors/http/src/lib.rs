//! RED's HTTP connectors: `Http`, `HttpJson` and `HttpMockSend` (cc-core's
//! `cc_core.commons.connectors.http`), with the behaviour of `shared/CONNECTORS.md`.
//!
//! The three differ only in what they do with the bytes, so one [`Flavor`] value selects it;
//! each component in `connectors/builtin/` is this crate plus a flavor.

mod access;

use std::io::BufReader;

use red_connector_sdk::http::{self, Body};
use red_connector_sdk::io::{from_io, response_reader, source_reader};
use red_connector_sdk::{ConnectorInfo, Error, ErrorKind, Sink, Source};

pub use red_connector_sdk::web::{check_status, check_url, redirect_error, HttpAccess, Method};

/// Which of RED's three HTTP connectors this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// `Http`: the bytes as they are.
    Plain,
    /// `HttpJson`: the bytes must be a JSON document.
    Json,
    /// `HttpMockSend`: receives as `Http`; a send does nothing.
    MockSend,
}

impl Flavor {
    pub fn info(self) -> ConnectorInfo {
        let (name, description) = match self {
            Flavor::Plain => ("http", "RED's Http connector: download or upload one file over HTTP(S)."),
            Flavor::Json => (
                "http-json",
                "RED's HttpJson connector: as http, but the file must be a JSON document.",
            ),
            Flavor::MockSend => (
                "http-mock-send",
                "RED's HttpMockSend connector: receives as http; send succeeds without any transfer.",
            ),
        };
        ConnectorInfo {
            name: name.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: description.into(),
            access_schema: access::SCHEMA.into(),
        }
    }

    pub fn validate_receive(self, access: &str) -> Result<(), Error> {
        HttpAccess::parse(access).map(drop)
    }

    pub fn validate_send(self, access: &str) -> Result<(), Error> {
        HttpAccess::parse(access).map(drop)
    }

    pub fn receive(self, access: &str, target: Sink) -> Result<(), Error> {
        let access = HttpAccess::parse(access)?;
        let method = access.method.unwrap_or(Method::Get);
        let response = http::send(&access.request(method, Vec::new()), &Body::Empty)?;
        check_status(&response, method.as_str())?;
        match self {
            Flavor::Plain | Flavor::MockSend => {
                response.copy_to_sink(&target)?;
            }
            Flavor::Json => {
                // Validate while the bytes stream into the (temporary) output, so that memory
                // stays bounded; the host only keeps the file if this returns Ok.
                let reader = response_reader(&response, Some(&target));
                let what = format!("the body of {}", response.url());
                check_json(reader, ErrorKind::Remote, &what)?;
            }
        }
        Ok(())
    }

    pub fn send(self, access: &str, source: Source) -> Result<(), Error> {
        let access = HttpAccess::parse(access)?;
        let method = access.method.unwrap_or(Method::Post);
        let mut headers = Vec::new();
        match self {
            Flavor::MockSend => return Ok(()),
            Flavor::Plain => {}
            Flavor::Json => {
                check_json(source_reader(&source), ErrorKind::LocalIo, "the local file")?;
                headers.push(("Content-Type".into(), "application/json".into()));
            }
        }
        let request = access.request(method, headers);
        let response = http::send(&request, &Body::FromSource(&source))?;
        if let Some(error) = redirect_error(&response, method.as_str()) {
            return Err(error);
        }
        check_status(&response, method.as_str())
    }
}

/// Reads `reader` to its end and checks that it holds exactly one JSON document, with bounded
/// memory. Not JSON is an error of `kind` naming `what`; a failed read keeps its own error.
fn check_json(reader: impl std::io::Read, kind: ErrorKind, what: &str) -> Result<(), Error> {
    serde_json::from_reader::<_, serde::de::IgnoredAny>(BufReader::new(reader))
        .map(drop)
        .map_err(|error| {
            if error.is_io() {
                from_io(error.into(), kind)
            } else {
                Error::new(
                    kind,
                    format!("{what} is not a valid JSON document: {error}"),
                )
            }
        })
}

#[doc(hidden)]
pub use red_connector_sdk as __sdk;

/// Defines and exports the component of one [`Flavor`]: all that a crate in `builtin/` holds.
/// The crate must depend on `red-connector-sdk` too (the export refers to its bindings).
#[macro_export]
macro_rules! export_flavor {
    ($flavor:expr) => {
        struct Connector;

        impl $crate::__sdk::Guest for Connector {
            fn info() -> $crate::__sdk::ConnectorInfo {
                $flavor.info()
            }
            fn validate_receive(access: String) -> Result<(), $crate::__sdk::Error> {
                $flavor.validate_receive(&access)
            }
            fn validate_send(access: String) -> Result<(), $crate::__sdk::Error> {
                $flavor.validate_send(&access)
            }
            fn receive(
                access: String,
                target: $crate::__sdk::Sink,
            ) -> Result<(), $crate::__sdk::Error> {
                $flavor.receive(&access, target)
            }
            fn send(
                access: String,
                source: $crate::__sdk::Source,
            ) -> Result<(), $crate::__sdk::Error> {
                $flavor.send(&access, source)
            }
        }

        $crate::__sdk::export_connector!(Connector);
    };
}
