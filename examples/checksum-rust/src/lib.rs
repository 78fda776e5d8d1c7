//! A RED connector in Rust: an HTTP receive that verifies the file's SHA-256 while it streams,
//! and keeps nothing when the digest differs (the host renames the output into place only
//! when `receive` returns `Ok`).
//!
//! Access document: `{"url": "https://...", "sha256": "<64 hex digits>", "auth"?: {...},
//! "disableSSLVerification"?: false}`.

use red_connector_sdk::access::{self, Object, Problems};
use red_connector_sdk::http::{self, Body};
use red_connector_sdk::web::{check_status, HttpAccess, Method};
use red_connector_sdk::{
    export_connector, info, ConnectorInfo, Error, ErrorKind, Guest, Sink, Source,
};
use sha2::{Digest, Sha256};

struct Checksum;

/// The access document, checked: the common HTTP fields plus `sha256`.
fn checked(text: &str) -> Result<(HttpAccess, String), Error> {
    let doc = access::parse(text)?;
    let mut problems = Problems::default();
    let Some(root) = Object::root(&doc, &mut problems) else {
        return Err(problems.into_result().unwrap_err());
    };
    let http_access = HttpAccess::parse_object(&root, &["sha256"], &mut problems);
    let digest = root
        .required_str("sha256", &mut problems)
        .map(str::to_ascii_lowercase);
    if let Some(digest) = &digest {
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            problems.add(&root.path_of("sha256"), "expected 64 hex digits");
        }
    }
    problems.into_result()?;
    Ok((http_access, digest.unwrap_or_default()))
}

fn only_receives() -> Error {
    Error::new(ErrorKind::InvalidAccess, "/: this connector only receives")
}

impl Guest for Checksum {
    fn info() -> ConnectorInfo {
        ConnectorInfo {
            name: "checksum-rust".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "HTTP receive that verifies a SHA-256 (a red-wasm example in Rust)".into(),
            access_schema: r#"{"type": "object", "required": ["url", "sha256"]}"#.into(),
        }
    }

    fn validate_receive(access: String) -> Result<(), Error> {
        checked(&access).map(drop)
    }

    fn validate_send(_access: String) -> Result<(), Error> {
        Err(only_receives())
    }

    fn receive(access: String, target: Sink) -> Result<(), Error> {
        let (http_access, expected) = checked(&access)?;
        let response = http::send(&http_access.request(Method::Get, Vec::new()), &Body::Empty)?;
        check_status(&response, "GET")?;
        // The bytes pass through the connector to be hashed, then go to the sink.
        let mut digest = Sha256::new();
        let mut size = 0u64;
        loop {
            let chunk = response.read(1 << 20)?;
            if chunk.is_empty() {
                break;
            }
            digest.update(&chunk);
            size += chunk.len() as u64;
            target.write(&chunk)?;
        }
        let got: String = digest
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if got != expected {
            return Err(Error::new(
                ErrorKind::Remote,
                format!(
                    "{}: the {size} bytes have SHA-256 {got}, not {expected}",
                    http_access.url
                ),
            ));
        }
        info(&format!("{size} bytes, SHA-256 verified"));
        Ok(())
    }

    fn send(_access: String, _source: Source) -> Result<(), Error> {
        Err(only_receives())
    }
}

export_connector!(Checksum);
