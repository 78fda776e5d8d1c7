//! The access document of RED's HTTP connectors.

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

/// http-archive's schema: the same fields and `archiveFormat`.
pub const ARCHIVE_SCHEMA: &str = r#"{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "url": {"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"},
    "method": {"type": "string", "pattern": "^([Gg][Ee][Tt]|[Pp][Uu][Tt]|[Pp][Oo][Ss][Tt])$", "description": "default GET"},
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
    "disableSSLVerification": {"type": "boolean", "default": false},
    "archiveFormat": {"enum": ["zip", "tar", "gztar", "bztar", "xztar"]}
  },
  "required": ["url", "archiveFormat"],
  "additionalProperties": false
}"#;
