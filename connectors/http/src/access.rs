//! The access document of RED's HTTP connectors.

use red_connector_sdk::access::{self, Object, Problems};
use red_connector_sdk::http::{AuthScheme, Credentials};
use red_connector_sdk::Error;

/// The access document's JSON Schema, as `red-wasm info` shows it.
pub const SCHEMA: &str = r#"{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "url": {"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"},
    "method": {"type": "string", "pattern": "^([Gg][Ee][Tt]|[Pp][Uu][Tt]|[Pp][Oo][Ss][Tt])$", "description": "default GET for receive, POST for send"},
    "auth": {
      "type": "object",
      "properties": {
        "username": {"type": "string"},
        "password": {"type": "string"},
        "method": {"type": "string", "pattern": "^([Bb][Aa][Ss][Ii][Cc]|[Dd][Ii][Gg][Ee][Ss][Tt])$", "description": "default BASIC"}
      },
      "required": ["username", "password"],
      "additionalProperties": false
    },
    "disableSSLVerification": {"type": "boolean", "default": false}
  },
  "required": ["url"],
  "additionalProperties": false
}"#;

/// An HTTP method the access document may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Put,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Post => "POST",
        }
    }
}

/// A checked access document.
#[derive(Debug)]
pub struct HttpAccess {
    pub url: String,
    /// `None` when absent: GET for a receive, POST for a send.
    pub method: Option<Method>,
    pub auth: Option<Credentials>,
    pub verify_tls: bool,
}

impl HttpAccess {
    /// Parses and checks `access`, reporting every problem with its JSON path.
    pub fn parse(access: &str) -> Result<Self, Error> {
        let doc = access::parse(access)?;
        let mut problems = Problems::default();
        let Some(root) = Object::root(&doc, &mut problems) else {
            return Err(problems.into_result().unwrap_err());
        };
        root.only_keys(
            &["url", "method", "auth", "disableSSLVerification"],
            &mut problems,
        );
        let url = root.required_str("url", &mut problems);
        if let Some(url) = url {
            check_url(url, &root.path_of("url"), &mut problems);
        }
        let method = root
            .optional_choice("method", &["GET", "PUT", "POST"], &mut problems)
            .map(|m| match m {
                "GET" => Method::Get,
                "PUT" => Method::Put,
                _ => Method::Post,
            });
        let auth = root
            .object("auth", false, &mut problems)
            .and_then(|auth| parse_auth(&auth, &mut problems));
        let disable_verification = root.optional_bool("disableSSLVerification", &mut problems);
        problems.into_result()?;
        Ok(HttpAccess {
            url: url.unwrap_or_default().to_owned(),
            method,
            auth,
            verify_tls: !disable_verification.unwrap_or(false),
        })
    }
}

fn parse_auth(auth: &Object, problems: &mut Problems) -> Option<Credentials> {
    auth.only_keys(&["username", "password", "method"], problems);
    let username = auth.required_str("username", problems);
    let password = auth.required_str("password", problems);
    let scheme = match auth.optional_choice("method", &["BASIC", "DIGEST"], problems) {
        Some("DIGEST") => AuthScheme::Digest,
        _ => AuthScheme::Basic,
    };
    Some(Credentials {
        username: username?.to_owned(),
        password: password?.to_owned(),
        scheme,
    })
}

/// An absolute http(s) URL with a host.
pub fn check_url(url: &str, path: &str, problems: &mut Problems) {
    match url::Url::parse(url) {
        Ok(parsed) if !matches!(parsed.scheme(), "http" | "https") => problems.add(
            path,
            format!(
                "expected an http:// or https:// URL, got scheme {:?}",
                parsed.scheme()
            ),
        ),
        Ok(parsed) if parsed.host_str().is_none_or(str::is_empty) => {
            problems.add(path, "the URL has no host")
        }
        Ok(_) => {}
        Err(e) => problems.add(path, format!("not a valid URL: {e}")),
    }
}
