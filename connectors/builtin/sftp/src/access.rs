//! The access document of RED's Sftp connector, in both its forms:
//!
//! - seed (red-connector-ssh 0.2): `host`, `port`?, `username`, `password`, `fileDir`,
//!   `fileName`;
//! - later (1.x): `host`, `port`?, `auth` {`username`, `password`} or {`username`,
//!   `privateKey`, `passphrase`?}, `filePath`, `timeout`?, `authTimeout`?, `bannerTimeout`?.
//!
//! A document with `auth` or `filePath` is read as the later form.

use red_connector_sdk::access::{self, Object, Problems};
use red_connector_sdk::bindings::red::connector::sftp::{ConnectConfig, Credential, KeyLogin};
use red_connector_sdk::Error;

pub const SCHEMA: &str = r#"{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "oneOf": [
    {
      "title": "seed form",
      "type": "object",
      "properties": {
        "host": {"type": "string"},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 22},
        "username": {"type": "string"},
        "password": {"type": "string"},
        "fileDir": {"type": "string", "description": "relative to the login directory unless absolute"},
        "fileName": {"type": "string"}
      },
      "required": ["host", "username", "password", "fileDir", "fileName"],
      "additionalProperties": false
    },
    {
      "title": "1.x form",
      "type": "object",
      "properties": {
        "host": {"type": "string"},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 22},
        "auth": {
          "type": "object",
          "properties": {
            "username": {"type": "string"},
            "password": {"type": "string"},
            "privateKey": {"type": "string", "description": "RSA, ECDSA or Ed25519, OpenSSH or PEM form"},
            "passphrase": {"type": "string"}
          },
          "required": ["username"],
          "additionalProperties": false
        },
        "filePath": {"type": "string", "description": "relative to the login directory unless absolute"},
        "timeout": {"type": "number", "minimum": 0, "default": 120},
        "authTimeout": {"type": "number", "minimum": 0, "default": 60},
        "bannerTimeout": {"type": "number", "minimum": 0, "default": 60}
      },
      "required": ["host", "auth", "filePath"],
      "additionalProperties": false
    }
  ]
}"#;

/// A checked access document.
#[derive(Debug)]
pub struct SftpAccess {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub credential: Credential,
    /// The remote path; relative paths are relative to the login directory.
    pub path: String,
    pub timeout_ms: u32,
    pub auth_timeout_ms: u32,
    pub banner_timeout_ms: u32,
}

const SEED_KEYS: &[&str] = &[
    "host", "port", "username", "password", "fileDir", "fileName",
];
const LATER_KEYS: &[&str] = &[
    "host",
    "port",
    "auth",
    "filePath",
    "timeout",
    "authTimeout",
    "bannerTimeout",
];

impl SftpAccess {
    pub fn parse(access: &str) -> Result<Self, Error> {
        let doc = access::parse(access)?;
        let mut problems = Problems::default();
        let Some(root) = Object::root(&doc, &mut problems) else {
            return Err(problems.into_result().unwrap_err());
        };
        let host = root.required_str("host", &mut problems);
        let port = root.optional_integer("port", 1..=65535, &mut problems);
        let later = root.has("auth") || root.has("filePath");
        let parsed = if later {
            root.only_keys(LATER_KEYS, &mut problems);
            let auth = root.object("auth", true, &mut problems);
            let login = auth.and_then(|auth| parse_auth(&auth, &mut problems));
            let path = root
                .required_str("filePath", &mut problems)
                .map(str::to_owned);
            let seconds = |key: &str, default: f64, problems: &mut Problems| {
                to_millis(root.optional_number(key, problems).unwrap_or(default))
            };
            let timeouts = (
                seconds("timeout", 120.0, &mut problems),
                seconds("authTimeout", 60.0, &mut problems),
                seconds("bannerTimeout", 60.0, &mut problems),
            );
            login.zip(path).map(|(login, path)| (login, path, timeouts))
        } else {
            root.only_keys(SEED_KEYS, &mut problems);
            let username = root.required_str("username", &mut problems);
            let password = root.required_str("password", &mut problems);
            let dir = root.required_str("fileDir", &mut problems);
            let name = root.required_str("fileName", &mut problems);
            let login = username
                .zip(password)
                .map(|(u, p)| (u.to_owned(), Credential::Password(p.to_owned())));
            let path = dir.zip(name).map(|(dir, name)| join(dir, name));
            login
                .zip(path)
                .map(|(login, path)| (login, path, (120_000, 60_000, 60_000)))
        };
        problems.into_result()?;
        let ((username, credential), path, (timeout_ms, auth_timeout_ms, banner_timeout_ms)) =
            parsed.expect("no problems, so every part parsed");
        Ok(SftpAccess {
            host: host.unwrap_or_default().to_owned(),
            port: port.map_or(22, |p| p as u16),
            username,
            credential,
            path,
            timeout_ms,
            auth_timeout_ms,
            banner_timeout_ms,
        })
    }

    pub fn connect_config(&self) -> ConnectConfig {
        ConnectConfig {
            host: self.host.clone(),
            port: self.port,
            username: self.username.clone(),
            credential: self.credential.clone(),
            connect_timeout_ms: self.timeout_ms,
            banner_timeout_ms: self.banner_timeout_ms,
            auth_timeout_ms: self.auth_timeout_ms,
        }
    }
}

fn parse_auth(auth: &Object, problems: &mut Problems) -> Option<(String, Credential)> {
    auth.only_keys(
        &["username", "password", "privateKey", "passphrase"],
        problems,
    );
    let username = auth.required_str("username", problems);
    let credential = match (auth.has("password"), auth.has("privateKey")) {
        (true, true) => {
            problems.add(
                &auth.path_of("privateKey"),
                "give either password or privateKey, not both",
            );
            None
        }
        (false, false) => {
            problems.add(&auth.path_of("password"), "required (or privateKey)");
            None
        }
        (true, false) => {
            if auth.has("passphrase") {
                problems.add(&auth.path_of("passphrase"), "only goes with privateKey");
            }
            auth.required_str("password", problems)
                .map(|p| Credential::Password(p.to_owned()))
        }
        (false, true) => {
            let key = auth.required_str("privateKey", problems);
            let passphrase = auth.optional_str("passphrase", problems);
            key.map(|key| {
                Credential::PrivateKey(KeyLogin {
                    key: key.to_owned(),
                    passphrase: passphrase.filter(|p| !p.is_empty()).map(str::to_owned),
                })
            })
        }
    };
    Some((username?.to_owned(), credential?))
}

/// `fileDir/fileName`, keeping a relative `fileDir` relative (to the login directory).
fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn to_millis(seconds: f64) -> u32 {
    (seconds * 1000.0).clamp(1.0, u32::MAX as f64) as u32
}
