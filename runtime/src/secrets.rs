//! Sealed secrets: the connector never sees a password.
//!
//! Before the guest gets the access document, every string under a secret field name
//! (`password`, `privateKey`, `passphrase`, and the names the caller adds) is replaced by an
//! opaque token. The host swaps a token back only where it applies a credential (HTTP
//! `auth`, the SFTP login), and only after the policy allowed the endpoint. A token that the
//! guest puts anywhere else (a URL, a header, a body, a log line) stays a token.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// The field names whose values are sealed unless the caller adds more.
pub const DEFAULT_SECRET_FIELDS: [&str; 3] = ["password", "privateKey", "passphrase"];

/// The secrets of one transfer, by token.
#[derive(Clone, Debug, Default)]
pub struct Secrets {
    by_token: HashMap<String, String>,
}

impl Secrets {
    /// Seals `access`: returns the document the guest gets and the secrets behind its tokens.
    /// A document that is not JSON is returned as it is (the guest reports it).
    pub fn seal(access: &str, fields: &[String]) -> (String, Secrets) {
        let mut secrets = Secrets::default();
        let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(access) else {
            return (access.to_owned(), secrets);
        };
        secrets.seal_value(&mut doc, fields);
        if secrets.by_token.is_empty() {
            return (access.to_owned(), secrets);
        }
        (doc.to_string(), secrets)
    }

    fn seal_value(&mut self, value: &mut serde_json::Value, fields: &[String]) {
        use serde_json::Value;
        match value {
            Value::Object(map) => {
                for (key, item) in map.iter_mut() {
                    let secret = DEFAULT_SECRET_FIELDS.contains(&key.as_str())
                        || fields.iter().any(|f| f == key);
                    match item {
                        Value::String(text) if secret && !text.is_empty() => {
                            *text = self.token_for(std::mem::take(text));
                        }
                        _ => self.seal_value(item, fields),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.seal_value(v, fields)),
            _ => {}
        }
    }

    fn token_for(&mut self, secret: String) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let token = format!(
            "red-wasm-sealed-secret-{:016x}",
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        self.by_token.insert(token.clone(), secret);
        token
    }

    /// The secret behind `value` if it is one of this transfer's tokens, else `value`.
    /// Call only where a credential is applied to an allowed endpoint.
    pub fn reveal(&self, value: &str) -> String {
        self.by_token
            .get(value)
            .cloned()
            .unwrap_or_else(|| value.to_owned())
    }

    /// `text` with every secret value replaced by `***`, for messages and logs.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in self.by_token.values() {
            if secret.len() >= 3 && out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_secret_fields_at_any_depth_and_reveals_only_tokens() {
        let access = r#"{"url": "http://h/", "auth": {"username": "u", "password": "hunter22"},
                         "nested": [{"privateKey": "KEY", "token": "T0K"}], "passphrase": ""}"#;
        let (sealed, secrets) = Secrets::seal(access, &["token".to_owned()]);
        assert!(!sealed.contains("hunter22") && !sealed.contains("KEY") && !sealed.contains("T0K"));
        let doc: serde_json::Value = serde_json::from_str(&sealed).unwrap();
        let token = doc["auth"]["password"].as_str().unwrap();
        assert!(token.starts_with("red-wasm-sealed-secret-"));
        assert_eq!(secrets.reveal(token), "hunter22");
        assert_eq!(doc["auth"]["username"], "u", "other fields are untouched");
        assert_eq!(doc["passphrase"], "", "empty values stay empty");
        assert_eq!(secrets.reveal("not a token"), "not a token");
        assert_eq!(secrets.redact("login hunter22 failed"), "login *** failed");
        let (same, none) = Secrets::seal("not json", &[]);
        assert_eq!(same, "not json");
        assert!(none.by_token.is_empty());
    }
}
