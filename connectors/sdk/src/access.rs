//! Checking an access document, collecting every problem with its JSON path.
//!
//! ```ignore
//! let doc = access::parse(text)?;
//! let mut problems = Problems::default();
//! if let Some(root) = Object::root(&doc, &mut problems) {
//!     let url = root.required_str("url", &mut problems);
//!     root.only_keys(&["url"], &mut problems);
//! }
//! problems.into_result()?; // "/url: required"
//! ```

use serde_json::{Map, Value};

use crate::{Error, ErrorKind};

/// Parses the access document. Bad JSON is an `invalid-access` error at path `/`.
pub fn parse(access: &str) -> Result<Value, Error> {
    serde_json::from_str(access).map_err(|e| {
        Error::new(
            ErrorKind::InvalidAccess,
            format!("/: the access document is not valid JSON: {e}"),
        )
    })
}

/// The problems found so far, one line each: `PATH: message`.
#[derive(Debug, Default)]
pub struct Problems(Vec<String>);

impl Problems {
    /// Records a problem at `path` (a JSON pointer; the root is `/`).
    pub fn add(&mut self, path: &str, message: impl std::fmt::Display) {
        let path = if path.is_empty() { "/" } else { path };
        self.0.push(format!("{path}: {message}"));
    }

    /// Whether no problem was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` when nothing was found, else one `invalid-access` error listing every problem.
    pub fn into_result(self) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::InvalidAccess, self.0.join("\n")))
        }
    }
}

/// The JSON type name used in messages.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON object in the access document, with its path.
#[derive(Clone)]
pub struct Object<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

/// Escapes a key for a JSON pointer (RFC 6901).
fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl<'a> Object<'a> {
    /// The document's root, which must be an object.
    pub fn root(value: &'a Value, problems: &mut Problems) -> Option<Self> {
        match value {
            Value::Object(map) => Some(Object {
                path: String::new(),
                map,
            }),
            other => {
                problems.add("/", format!("expected an object, got {}", type_name(other)));
                None
            }
        }
    }

    /// The JSON path of `key` in this object.
    pub fn path_of(&self, key: &str) -> String {
        format!("{}/{}", self.path, pointer_token(key))
    }

    /// Whether `key` is present (with any value).
    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    fn typed<T>(
        &self,
        key: &str,
        required: bool,
        expected: &str,
        problems: &mut Problems,
        extract: impl Fn(&'a Value) -> Option<T>,
    ) -> Option<T> {
        match self.map.get(key) {
            None if required => {
                problems.add(&self.path_of(key), "required");
                None
            }
            None => None,
            Some(value) => {
                let got = extract(value);
                if got.is_none() {
                    problems.add(
                        &self.path_of(key),
                        format!("expected {expected}, got {}", type_name(value)),
                    );
                }
                got
            }
        }
    }

    /// A required string; empty strings are a problem too.
    pub fn required_str(&self, key: &str, problems: &mut Problems) -> Option<&'a str> {
        let value = self.typed(key, true, "a string", problems, Value::as_str)?;
        if value.is_empty() {
            problems.add(&self.path_of(key), "must not be empty");
            return None;
        }
        Some(value)
    }

    /// A required string that names one segment of a URL path (a project, a file): not
    /// empty, not `.` or `..` (which would address another resource), and without control
    /// characters or `;`.
    pub fn required_segment(&self, key: &str, problems: &mut Problems) -> Option<&'a str> {
        let value = self.required_str(key, problems)?;
        let why = if value == "." || value == ".." {
            Some(format!(
                "{value:?} is not a name (it would address another resource)"
            ))
        } else if value.chars().any(char::is_control) {
            Some(format!("{value:?} contains control characters"))
        } else if value.contains(';') {
            // Tomcat (XNAT's server) reads `;` as the start of path parameters: `..;x` is `..`.
            Some(format!(
                "{value:?} contains ';', which servers such as Tomcat read as path parameters"
            ))
        } else {
            None
        };
        match why {
            Some(why) => {
                problems.add(&self.path_of(key), why);
                None
            }
            None => Some(value),
        }
    }

    /// An optional string.
    pub fn optional_str(&self, key: &str, problems: &mut Problems) -> Option<&'a str> {
        self.typed(key, false, "a string", problems, Value::as_str)
    }

    /// An optional boolean.
    pub fn optional_bool(&self, key: &str, problems: &mut Problems) -> Option<bool> {
        self.typed(key, false, "a boolean", problems, Value::as_bool)
    }

    /// An optional non-negative number (integers or decimals, e.g. a timeout in seconds).
    pub fn optional_number(&self, key: &str, problems: &mut Problems) -> Option<f64> {
        self.typed(key, false, "a non-negative number", problems, |v| {
            v.as_f64().filter(|n| *n >= 0.0)
        })
    }

    /// An optional integer in `range`.
    pub fn optional_integer(
        &self,
        key: &str,
        range: std::ops::RangeInclusive<u64>,
        problems: &mut Problems,
    ) -> Option<u64> {
        let expected = format!("an integer from {} to {}", range.start(), range.end());
        self.typed(key, false, &expected, problems, |v| {
            v.as_u64().filter(|n| range.contains(n))
        })
    }

    /// A nested object.
    pub fn object(&self, key: &str, required: bool, problems: &mut Problems) -> Option<Object<'a>> {
        let path = self.path_of(key);
        let map = self.typed(key, required, "an object", problems, Value::as_object)?;
        Some(Object { path, map })
    }

    /// An optional string that must be one of `choices` (compared case-insensitively);
    /// returns the matching choice as spelled in `choices`.
    pub fn optional_choice(
        &self,
        key: &str,
        choices: &[&'static str],
        problems: &mut Problems,
    ) -> Option<&'static str> {
        let value = self.optional_str(key, problems)?;
        let found = choices.iter().find(|c| c.eq_ignore_ascii_case(value));
        if found.is_none() {
            problems.add(
                &self.path_of(key),
                format!("expected one of {}, got {value:?}", choices.join(", ")),
            );
        }
        found.copied()
    }

    /// Records every key not in `allowed` as a problem.
    pub fn only_keys(&self, allowed: &[&str], problems: &mut Problems) {
        for key in self.map.keys() {
            if !allowed.contains(&key.as_str()) {
                problems.add(
                    &self.path_of(key),
                    format!("unknown field (allowed: {})", allowed.join(", ")),
                );
            }
        }
    }
}
