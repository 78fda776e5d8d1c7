//! {{NAME}}: a RED connector for red-wasm, written in Rust.
//!
//! Access document: the fields of RED's Http connector (`url`, `method`, `auth`,
//! `disableSSLVerification`). Receive downloads `url`; send uploads the local file to it
//! (PUT unless `method` says otherwise). Start from here: add your own fields to `FIELDS` and
//! read them from `root`.

use red_connector_sdk::access::{self, Object, Problems};
use red_connector_sdk::http::{self, Body};
use red_connector_sdk::web::{check_status, redirect_error, HttpAccess, Method};
use red_connector_sdk::{export_connector, info, ConnectorInfo, Error, Guest, Sink, Source};

/// Access fields of this connector besides the common HTTP ones.
const FIELDS: &[&str] = &[];

struct Connector;

/// The access document, checked: every problem with its JSON path.
fn checked(text: &str) -> Result<HttpAccess, Error> {
    let doc = access::parse(text)?;
    let mut problems = Problems::default();
    let Some(root) = Object::root(&doc, &mut problems) else {
        return Err(problems.into_result().unwrap_err());
    };
    let access = HttpAccess::parse_object(&root, FIELDS, &mut problems);
    problems.into_result()?;
    Ok(access)
}

impl Guest for Connector {
    fn info() -> ConnectorInfo {
        ConnectorInfo {
            name: "{{NAME}}".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "{{NAME}}: an HTTP connector made with red-wasm new".into(),
            access_schema: r#"{"type": "object", "required": ["url"]}"#.into(),
        }
    }

    fn validate_receive(access: String) -> Result<(), Error> {
        checked(&access).map(drop)
    }

    fn validate_send(access: String) -> Result<(), Error> {
        checked(&access).map(drop)
    }

    fn receive(access: String, target: Sink) -> Result<(), Error> {
        let access = checked(&access)?;
        let response = http::send(&access.request(Method::Get, Vec::new()), &Body::Empty)?;
        check_status(&response, "GET")?;
        // The host streams the body into the file: the bytes never cross into the connector.
        let bytes = response.copy_to_sink(&target)?;
        info(&format!("received {bytes} bytes"));
        Ok(())
    }

    fn send(access: String, source: Source) -> Result<(), Error> {
        let access = checked(&access)?;
        let request = access.request(Method::Put, Vec::new());
        let response = http::send(&request, &Body::FromSource(&source))?;
        if let Some(error) = redirect_error(&response, &request.method) {
            return Err(error);
        }
        check_status(&response, &request.method)
    }
}

export_connector!(Connector);
