//! The access document of RED's Sftp connector (red-connector-ssh), in both its forms, for
//! files and for folders:
//!
//! - seed (red-connector-ssh 0.2): `host`, `port`?, `username`, `password`, and the remote
//!   path: `fileDir` + `fileName` for a file, `dirPath` for a folder;
//! - later (1.x): `host`, `port`?, `auth` {`username`, `password`} or {`username`,
//!   `privateKey`, `passphrase`?}, `timeout`?, `authTimeout`?, `bannerTimeout`?, and the
//!   remote path: `filePath` for a file, `dirPath` for a folder (receive-dir, send-dir).
//!
//! A document with `auth` (or, for a file, `filePath`) is read as the later form. A file's
//! path field in a folder's access, or `dirPath` in a file's, is a problem naming the field.
//! A leading `~/` is cut from `filePath` and `dirPath`, as red-connector-ssh 1.x does: SFTP
//! paths are relative to the login directory already.

use red_connector_sdk::access::{self, Object, Problems};
use red_connector_sdk::bindings::red::connector::sftp::{ConnectConfig, Credential, KeyLogin};
use red_connector_sdk::Error;

pub const SCHEMA: &str = r##"{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "description": "A file (receive, send: fileDir and fileName, or filePath) or a folder (receive-dir, send-dir: dirPath).",
  "definitions": {
    "host": {"type": "string"},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 22},
    "path": {"type": "string", "description": "relative to the login directory unless absolute"},
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
    "timeout": {"type": "number", "minimum": 0}
  },
  "oneOf": [
    {
      "title": "seed form, a file",
      "type": "object",
      "properties": {
        "host": {"$ref": "#/definitions/host"},
        "port": {"$ref": "#/definitions/port"},
        "username": {"type": "string"},
        "password": {"type": "string"},
        "fileDir": {"$ref": "#/definitions/path"},
        "fileName": {"type": "string"}
      },
      "required": ["host", "username", "password", "fileDir", "fileName"],
      "additionalProperties": false
    },
    {
      "title": "1.x form, a file",
      "type": "object",
      "properties": {
        "host": {"$ref": "#/definitions/host"},
        "port": {"$ref": "#/definitions/port"},
        "auth": {"$ref": "#/definitions/auth"},
        "filePath": {"$ref": "#/definitions/path"},
        "timeout": {"$ref": "#/definitions/timeout", "default": 120},
        "authTimeout": {"$ref": "#/definitions/timeout", "default": 60},
        "bannerTimeout": {"$ref": "#/definitions/timeout", "default": 60}
      },
      "required": ["host", "auth", "filePath"],
      "additionalProperties": false
    },
    {
      "title": "seed form, a folder (receive-dir, send-dir)",
      "type": "object",
      "properties": {
        "host": {"$ref": "#/definitions/host"},
        "port": {"$ref": "#/definitions/port"},
        "username": {"type": "string"},
        "password": {"type": "string"},
        "dirPath": {"$ref": "#/definitions/path"}
      },
      "required": ["host", "username", "password", "dirPath"],
      "additionalProperties": false
    },
    {
      "title": "1.x form, a folder (receive-dir, send-dir)",
      "type": "object",
      "properties": {
        "host": {"$ref": "#/definitions/host"},
        "port": {"$ref": "#/definitions/port"},
        "auth": {"$ref": "#/definitions/auth"},
        "dirPath": {"$ref": "#/definitions/path"},
        "timeout": {"$ref": "#/definitions/timeout", "default": 120},
        "authTimeout": {"$ref": "#/definitions/timeout", "default": 60},
        "bannerTimeout": {"$ref": "#/definitions/timeout", "default": 60}
      },
      "required": ["host", "auth", "dirPath"],
      "additionalProperties": false
    }
  ]
}"##;

/// What the access document addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// One file (receive, send).
    File,
    /// A folder (receive-dir, send-dir).
    Dir,
}

impl Target {
    /// The remote path fields of this target, by form (seed, later).
    fn path_keys(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Target::File => (&["fileDir", "fileName"], &["filePath"]),
            Target::Dir => (&["dirPath"], &["dirPath"]),
        }
    }

    /// The path fields of the other target, which are a problem here.
    fn wrong_keys(self) -> &'static [&'static str] {
        match self {
            Target::File => &["dirPath"],
            Target::Dir => &["filePath", "fileDir", "fileName"],
        }
    }

    fn wrong_key_message(self) -> &'static str {
        match self {
            Target::File => {
                "a folder's path (receive-dir, send-dir): a file transfer takes filePath (or fileDir and fileName)"
            }
            Target::Dir => {
                "a file's path (receive, send): receive-dir and send-dir take dirPath, the folder's path"
            }
        }
    }
}

/// A checked access document.
#[derive(Debug)]
pub struct SftpAccess {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub credential: Credential,
    /// The remote file or folder; relative paths are relative to the login directory.
    pub path: String,
    pub timeout_ms: u32,
    pub auth_timeout_ms: u32,
    pub banner_timeout_ms: u32,
}

const SEED_KEYS: &[&str] = &["host", "port", "username", "password"];
const LATER_KEYS: &[&str] = &[
    "host",
    "port",
    "auth",
    "timeout",
    "authTimeout",
    "bannerTimeout",
];

impl SftpAccess {
    /// The access of a file transfer (receive, send).
    pub fn parse(access: &str) -> Result<Self, Error> {
        Self::parse_for(access, Target::File)
    }

    /// The access of a folder transfer (receive-dir, send-dir).
    pub fn parse_dir(access: &str) -> Result<Self, Error> {
        Self::parse_for(access, Target::Dir)
    }

    fn parse_for(access: &str, target: Target) -> Result<Self, Error> {
        let doc = access::parse(access)?;
        let mut problems = Problems::default();
        let Some(root) = Object::root(&doc, &mut problems) else {
            return Err(problems.into_result().unwrap_err());
        };
        let host = root.required_str("host", &mut problems);
        let port = root.optional_integer("port", 1..=65535, &mut problems);
        let later = root.has("auth") || (target == Target::File && root.has("filePath"));
        let (seed_paths, later_paths) = target.path_keys();
        // The other target's path fields get a message of their own, not "unknown field".
        let wrong = target.wrong_keys();
        let allowed = |keys: &[&'static str], paths: &[&'static str]| {
            let mut all = keys.to_vec();
            all.extend_from_slice(paths);
            all.extend(wrong.iter().filter(|k| root.has(k)));
            all
        };
        for key in wrong.iter().filter(|k| root.has(k)) {
            problems.add(&root.path_of(key), target.wrong_key_message());
        }
        let parsed = if later {
            root.only_keys(&allowed(LATER_KEYS, later_paths), &mut problems);
            let auth = root.object("auth", true, &mut problems);
            let login = auth.and_then(|auth| parse_auth(&auth, &mut problems));
            let path = root
                .required_str(later_paths[0], &mut problems)
                .map(|p| home_relative(p).to_owned());
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
            root.only_keys(&allowed(SEED_KEYS, seed_paths), &mut problems);
            let username = root.required_str("username", &mut problems);
            let password = root.required_str("password", &mut problems);
            let path = match target {
                Target::File => {
                    let dir = root.required_str("fileDir", &mut problems);
                    let name = root.required_str("fileName", &mut problems);
                    dir.zip(name).map(|(dir, name)| join(dir, name))
                }
                Target::Dir => root
                    .required_str("dirPath", &mut problems)
                    .map(|p| home_relative(p).to_owned()),
            };
            let login = username
                .zip(password)
                .map(|(u, p)| (u.to_owned(), Credential::Password(p.to_owned())));
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

    /// The remote path of `relative` (`/`-separated) under the folder of a folder's access.
    pub fn under(&self, relative: &str) -> String {
        join(&self.path, relative)
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

/// `dir/name`, keeping a relative `dir` relative (to the login directory).
fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// `path` without a leading `~/` (red-connector-ssh's `cut_remote_user_dir`): SFTP has no
/// `~`, and a relative path is relative to the login (home) directory already.
fn home_relative(path: &str) -> &str {
    match path.strip_prefix("~/") {
        Some("") => ".",
        Some(rest) => rest,
        None => path,
    }
}

fn to_millis(seconds: f64) -> u32 {
    (seconds * 1000.0).clamp(1.0, u32::MAX as f64) as u32
}
