//! The access document of RED's XNAT connector (`red_connectors_xnat.http`).

use red_connector_http::check_url;
use red_connector_sdk::access::{self, Object, Problems};
use red_connector_sdk::Error;

pub const SCHEMA: &str = r#"{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "description": "receive and receive-dir: option 1 has containerType and container; option 2 neither; option 3 also no session; option 4 also no subject. receive-dir receives the whole resource (or the files of the RED listing), so it takes no file. send: subject, session, containerType and container are required.",
  "properties": {
    "baseUrl": {"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"},
    "project": {"type": "string"},
    "subject": {"type": "string"},
    "session": {"type": "string"},
    "containerType": {"enum": ["scans", "reconstructions", "assessors"]},
    "container": {"type": "string"},
    "resource": {"type": "string", "description": "send: default OTHER"},
    "file": {"type": "string", "description": "receive and send: required; receive-dir: not allowed"},
    "xsiType": {"type": "string", "description": "send only"},
    "overwriteExistingFile": {"type": "boolean", "default": false, "description": "send only"},
    "auth": {
      "type": "object",
      "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
      "required": ["username", "password"],
      "additionalProperties": false
    },
    "disableSSLVerification": {"type": "boolean", "default": false}
  },
  "required": ["baseUrl", "project", "auth"],
  "additionalProperties": false
}"#;

/// The transfer's mode: each takes different fields.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Receive,
    Send,
    /// A whole resource into a folder: the receive forms without `file`.
    ReceiveDir,
}

/// A checked access document.
pub struct XnatAccess {
    pub base: url::Url,
    pub project: String,
    pub subject: Option<String>,
    pub session: Option<String>,
    /// `(containerType, container)`.
    pub container: Option<(&'static str, String)>,
    pub resource: String,
    /// The file of a receive or send; empty for a receive-dir.
    pub file: String,
    pub username: String,
    pub password: String,
    pub verify_tls: bool,
    pub xsi_type: Option<String>,
    pub overwrite: bool,
}

const COMMON: &[&str] = &[
    "baseUrl",
    "project",
    "subject",
    "session",
    "containerType",
    "container",
    "resource",
    "file",
    "auth",
    "disableSSLVerification",
];
const SEND_ONLY: &[&str] = &["xsiType", "overwriteExistingFile"];

impl XnatAccess {
    pub fn parse(access: &str, direction: Direction) -> Result<Self, Error> {
        let doc = access::parse(access)?;
        let mut problems = Problems::default();
        let Some(root) = Object::root(&doc, &mut problems) else {
            return Err(problems.into_result().unwrap_err());
        };
        let send = direction == Direction::Send;
        let dir = direction == Direction::ReceiveDir;
        match direction {
            Direction::Send => {
                let allowed: Vec<&str> = COMMON.iter().chain(SEND_ONLY).copied().collect();
                root.only_keys(&allowed, &mut problems);
            }
            Direction::Receive => root.only_keys(COMMON, &mut problems),
            Direction::ReceiveDir => {
                // `file` is reported below, with the reason.
                let allowed: Vec<&str> = COMMON.iter().filter(|k| **k != "file").copied().collect();
                for key in doc.as_object().into_iter().flat_map(|o| o.keys()) {
                    if key != "file" && !allowed.contains(&key.as_str()) {
                        problems.add(
                            &root.path_of(key),
                            format!("unknown field (allowed: {})", allowed.join(", ")),
                        );
                    }
                }
            }
        }
        let base = root.required_str("baseUrl", &mut problems);
        if let Some(base) = base {
            check_url(base, &root.path_of("baseUrl"), &mut problems);
        }
        let project = root.required_segment("project", &mut problems);
        let (subject, session, container) = if send {
            (
                root.required_segment("subject", &mut problems),
                root.required_segment("session", &mut problems),
                root.required_segment("container", &mut problems),
            )
        } else {
            (
                optional_name(&root, "subject", &mut problems),
                optional_name(&root, "session", &mut problems),
                optional_name(&root, "container", &mut problems),
            )
        };
        let kinds = ["scans", "reconstructions", "assessors"];
        let kind = if send && !root.has("containerType") {
            problems.add(&root.path_of("containerType"), "required");
            None
        } else {
            root.optional_choice("containerType", &kinds, &mut problems)
        };
        // The receive forms: containerType and container together need a session; a session
        // needs a subject.
        if !send {
            match (root.has("containerType"), root.has("container")) {
                (true, false) => {
                    problems.add(&root.path_of("container"), "required with containerType")
                }
                (false, true) => {
                    problems.add(&root.path_of("containerType"), "required with container")
                }
                _ => {}
            }
            if root.has("container") && !root.has("session") {
                problems.add(&root.path_of("session"), "required with container");
            }
            if root.has("session") && !root.has("subject") {
                problems.add(&root.path_of("subject"), "required with session");
            }
        }
        let resource = if send {
            optional_name(&root, "resource", &mut problems).unwrap_or("OTHER")
        } else {
            root.required_segment("resource", &mut problems)
                .unwrap_or_default()
        };
        let file = if dir {
            if root.has("file") {
                problems.add(
                    &root.path_of("file"),
                    "not for receive-dir: it receives every file of the resource (a RED listing chooses some)",
                );
            }
            None
        } else {
            root.required_segment("file", &mut problems)
        };
        let auth = root.object("auth", true, &mut problems);
        let credentials = auth.and_then(|auth| {
            auth.only_keys(&["username", "password"], &mut problems);
            let username = auth.required_str("username", &mut problems);
            let password = auth.required_str("password", &mut problems);
            username.zip(password)
        });
        let disable = root.optional_bool("disableSSLVerification", &mut problems);
        let xsi_type = optional_name(&root, "xsiType", &mut problems);
        let overwrite = root.optional_bool("overwriteExistingFile", &mut problems);
        problems.into_result()?;
        let (username, password) = credentials.unwrap_or_default();
        let mut base = url::Url::parse(base.unwrap_or_default()).expect("checked above");
        if let Ok(mut segments) = base.path_segments_mut() {
            segments.pop_if_empty();
        }
        Ok(XnatAccess {
            base,
            project: project.unwrap_or_default().into(),
            subject: subject.map(Into::into),
            session: session.map(Into::into),
            container: kind.zip(container.map(String::from)),
            resource: resource.into(),
            file: file.unwrap_or_default().into(),
            username: username.into(),
            password: password.into(),
            verify_tls: !disable.unwrap_or(false),
            xsi_type: xsi_type.map(Into::into),
            overwrite: overwrite.unwrap_or(false),
        })
    }

    /// `{base}/REST/projects/P[/subjects/S[/experiments/E]]`.
    pub fn experiment_path(&self) -> Vec<&str> {
        let mut segments = vec!["REST", "projects", self.project.as_str()];
        if let Some(subject) = &self.subject {
            segments.extend(["subjects", subject.as_str()]);
            if let Some(session) = &self.session {
                segments.extend(["experiments", session.as_str()]);
            }
        }
        segments
    }

    /// The owner of the resource: the container when there is one, else the experiment
    /// (or subject, or project).
    pub fn owner_path(&self) -> Vec<&str> {
        let mut segments = self.experiment_path();
        if let Some((kind, container)) = &self.container {
            segments.extend([*kind, container.as_str()]);
        }
        segments
    }

    /// `base` plus `segments`, each percent-encoded, plus `query`.
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> String {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url.to_string()
    }
}

/// An optional path segment (see [`Object::required_segment`]).
fn optional_name<'a>(root: &Object<'a>, key: &str, problems: &mut Problems) -> Option<&'a str> {
    if root.has(key) {
        root.required_segment(key, problems)
    } else {
        None
    }
}
