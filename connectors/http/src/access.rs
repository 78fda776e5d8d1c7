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
    "disableSSLVerification": {"type": "boolean", "default": false},
    "checksum": {"type": "string", "pattern": "^(sha256|sha512|sha1|md5)\\$[0-9a-fA-F]+$", "description": "the digest the received file must have (red-wasm)"}
  },
  "required": ["url"],
  "additionalProperties": false
}"#;

/// http-archive's schema: the same fields and `archiveFormat` (required).
pub fn archive_schema() -> String {
    let mut schema: serde_json::Value =
        serde_json::from_str(SCHEMA).expect("the HTTP schema is JSON");
    schema["properties"]["archiveFormat"] =
        serde_json::json!({"enum": ["zip", "tar", "gztar", "bztar", "xztar"]});
    if let Some(required) = schema["required"].as_array_mut() {
        required.push("archiveFormat".into());
    }
    schema.to_string()
}
