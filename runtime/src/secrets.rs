//! Sealed secrets: the connector never sees a password.
//!
//! Before the guest gets the access document, every value under a secret field name
//! (`password`, `privateKey`, `passphrase`, and the names the caller adds; names match
//! whatever their case) is replaced by an opaque token: strings, and numbers and booleans as
//! their text. A secret field holding an object or an array is an `invalid-access` error,
//! never passed through. The host swaps a token back only where it applies a credential of
//! the token's own kind (a password only as a password, a private key only as a key, a
//! passphrase only as a passphrase; never as a user name, a URL, a header or a body), and only
//! after the policy allowed the endpoint. Validation gets tokens that never unseal.
//!
//! Messages and log lines are masked with [`Secrets::redact`]: each secret, and the forms it
//! takes on the wire (the Basic `base64(user:password)` and any base64 stream that carries it,
//! percent-encoding, hex). Masking cannot recognise every transformation a connector could
//! apply (a reversed, split or re-encoded secret), which is why the connector only ever holds
//! tokens: masking covers what a server echoes back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;

use crate::{Error, ErrorKind};

/// The field names whose values are sealed unless the caller adds more.
pub const DEFAULT_SECRET_FIELDS: [&str; 3] = ["password", "privateKey", "passphrase"];

/// What a secret is, and so the one place where it may be applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    /// A password (also every field added with `--secret-field`).
    Password,
    /// A private key.
    PrivateKey,
    /// The passphrase of a private key.
    Passphrase,
}

impl SecretKind {
    /// The kind of a field named `name`, if it is a secret field.
    fn of_field(name: &str, extra: &[String]) -> Option<Self> {
        let is = |field: &str| name.eq_ignore_ascii_case(field);
        if is("password") {
            Some(SecretKind::Password)
        } else if is("privateKey") {
            Some(SecretKind::PrivateKey)
        } else if is("passphrase") {
            Some(SecretKind::Passphrase)
        } else if extra.iter().any(|f| is(f)) {
            Some(SecretKind::Password)
        } else {
            None
        }
    }
}

#[derive(Clone, Debug)]
struct Sealed {
    kind: SecretKind,
    value: String,
}

/// The secrets of one transfer, by token, and the forms of them that messages are masked for.
#[derive(Clone, Debug, Default)]
pub struct Secrets {
    by_token: HashMap<String, Sealed>,
    /// Every text to mask, longest first (so that a longer form is masked whole).
    masks: Vec<Mask>,
    /// Whether tokens may be swapped back at all (not during validation).
    unsealed: bool,
}

impl Secrets {
    /// Seals `access`: returns the document the guest gets and the secrets behind its tokens.
    /// A document that is not JSON is refused (`invalid-access`) before a connector sees it:
    /// what the host cannot read, it cannot seal. A leading byte-order mark is dropped; an
    /// empty document (an `info` call) stays empty.
    pub fn seal(access: &str, fields: &[String]) -> Result<(String, Secrets), Error> {
        let mut secrets = Secrets {
            unsealed: true,
            ..Secrets::default()
        };
        let access = access.trim_start_matches('\u{feff}');
        if access.trim().is_empty() {
            return Ok((access.to_owned(), secrets));
        }
        let mut doc = serde_json::from_str::<serde_json::Value>(access).map_err(|e| {
            Error::new(
                ErrorKind::InvalidAccess,
                format!("/: the access document is not valid JSON: {e}"),
            )
        })?;
        secrets.seal_value(&mut doc, fields, "")?;
        secrets
            .masks
            .sort_by_key(|m| std::cmp::Reverse(m.text.len()));
        secrets.masks.dedup();
        // Always the document as the host read it, never the text: with a key given twice
        // the text holds a value the host did not read (JSON keeps the last), unsealed.
        Ok((doc.to_string(), secrets))
    }

    /// The same secrets for masking only: [`Secrets::reveal`] never unseals a token.
    pub fn sealed_for_good(&self) -> Secrets {
        Secrets {
            unsealed: false,
            ..self.clone()
        }
    }

    fn seal_value(
        &mut self,
        value: &mut serde_json::Value,
        fields: &[String],
        path: &str,
    ) -> Result<(), Error> {
        use serde_json::Value;
        match value {
            Value::Object(map) => {
                // A user name beside a password gives the Basic form `base64(user:password)`.
                let user = ["username", "user"]
                    .iter()
                    .find_map(|k| map.get(*k).and_then(Value::as_str))
                    .map(str::to_owned);
                for (key, item) in map.iter_mut() {
                    let item_path = format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"));
                    let Some(kind) = SecretKind::of_field(key, fields) else {
                        self.seal_value(item, fields, &item_path)?;
                        continue;
                    };
                    let secret = match item {
                        Value::String(text) => std::mem::take(text),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Null => continue,
                        Value::Array(_) | Value::Object(_) => {
                            return Err(Error::new(
                                ErrorKind::InvalidAccess,
                                format!(
                                    "{item_path}: a secret field must hold a string (or a number), not {}",
                                    if item.is_array() { "an array" } else { "an object" }
                                ),
                            ))
                        }
                    };
                    if secret.is_empty() {
                        continue;
                    }
                    if let Some(user) = &user {
                        let basic = base64::engine::general_purpose::STANDARD
                            .encode(format!("{user}:{secret}"));
                        self.masks.push(Mask {
                            text: basic,
                            any_case: false,
                        });
                    }
                    self.masks.extend(wire_forms(&secret));
                    *item = Value::String(self.token_for(kind, secret));
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.seal_value(item, fields, &format!("{path}/{i}"))?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn token_for(&mut self, kind: SecretKind, value: String) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let token = format!(
            "red-wasm-sealed-secret-{:016x}",
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        self.by_token.insert(token.clone(), Sealed { kind, value });
        token
    }

    /// The secret behind `value` if it is one of this transfer's tokens of `kind`, else
    /// `value` as it is. Call only where a credential of that kind is applied to an allowed
    /// endpoint.
    pub fn reveal(&self, kind: SecretKind, value: &str) -> String {
        match self.by_token.get(value) {
            Some(sealed) if self.unsealed && sealed.kind == kind => sealed.value.clone(),
            _ => value.to_owned(),
        }
    }

    /// The length of the longest text masked (0 when there is none).
    pub fn longest_mask(&self) -> usize {
        self.masks.first().map_or(0, |m| m.text.len())
    }

    /// `text` with every secret, in every form it is masked in, replaced by `***`. A secret
    /// shorter than [`WORD_ONLY_BELOW`] characters is masked where it stands as a word of its
    /// own (masking every `p` of a message for a password `p` would garble it, and hide
    /// nothing).
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for mask in &self.masks {
            if !mask.occurs_in(&out) {
                continue;
            }
            out = if !mask.any_case && mask.text.chars().count() < WORD_ONLY_BELOW {
                replace_words(&out, &mask.text)
            } else {
                mask.apply(&out)
            };
        }
        out
    }
}

/// Secrets shorter than this many characters are masked only as whole words.
pub const WORD_ONLY_BELOW: usize = 3;

/// `text` with each occurrence of `word` that no letter or digit touches replaced by `***`.
fn replace_words(text: &str, word: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut before: Option<char> = None;
    while let Some(at) = rest.find(word) {
        let (head, tail) = rest.split_at(at);
        let previous = head.chars().next_back().or(before);
        let next = tail[word.len()..].chars().next();
        out.push_str(head);
        let alone = !previous.is_some_and(char::is_alphanumeric)
            && !next.is_some_and(char::is_alphanumeric);
        out.push_str(if alone { "***" } else { word });
        before = word.chars().next_back();
        rest = &tail[word.len()..];
    }
    out.push_str(rest);
    out
}

/// The texts a secret is masked in: itself (however short), and, when at least four
/// characters long, its percent-encodings, hex, and the base64 runs that stand for it in any
/// base64 stream that carries it (at each of the three alignments a stream can give it).
fn wire_forms(secret: &str) -> Vec<Mask> {
    const MIN_FORM: usize = 4;
    let bytes = secret.as_bytes();
    let exact = |text: String| Mask {
        text,
        any_case: false,
    };
    // Hex digits and percent-escapes come in either case (and mixed): matched in any case.
    let any_case = |text: String| Mask {
        text: text.to_ascii_lowercase(),
        any_case: true,
    };
    let mut forms = vec![exact(secret.to_owned())];
    forms.push(any_case(crate::messages::hex(bytes)));
    forms.push(exact(url::form_urlencoded::byte_serialize(bytes).collect()));
    forms.push(any_case(
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
    ));
    // Every byte percent-encoded, as some encoders do.
    forms.push(any_case(
        bytes.iter().map(|b| format!("%{b:02x}")).collect(),
    ));
    // JSON string escapes: `<`, `>` and `&` as \u00XX (Go's encoder), every character
    // beyond ASCII as \uXXXX (Python's), or every character but letters and digits.
    let json = |escape: &dyn Fn(char) -> bool| -> String {
        let mut out = String::new();
        for c in secret.chars() {
            if escape(c) {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            } else {
                out.push(c);
            }
        }
        out
    };
    forms.push(any_case(json(&|c| matches!(c, '<' | '>' | '&'))));
    forms.push(any_case(json(&|c| !c.is_ascii())));
    forms.push(any_case(json(&|c| !c.is_ascii_alphanumeric())));
    forms.push(any_case(json(&|_| true)));
    for engine in [
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        for shift in 0..3usize {
            // The secret after `shift` bytes of something else: the characters of whole
            // groups that hold only the secret's bytes do not depend on its neighbours.
            let mut shifted = vec![0u8; shift];
            shifted.extend_from_slice(bytes);
            let encoded = engine.encode(&shifted);
            let start = if shift == 0 { 0 } else { 4 };
            let end = shifted.len() / 3 * 4;
            if end > start {
                forms.push(exact(encoded[start..end].to_owned()));
            }
            // The secret at the very end of a stream (as in `user:password`): its padded tail.
            if shift > 0 {
                forms.push(exact(encoded[start.min(encoded.len())..].to_owned()));
            }
        }
    }
    // Short forms would mask unrelated text: only the secret itself is kept whatever its
    // length (and a short one is masked as a word only, see `Secrets::redact`).
    forms.retain(|f| f.text.len() >= MIN_FORM || (f.text == secret && !f.any_case));
    forms
}

/// A text to mask, matched exactly or in any (ASCII) case.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Mask {
    text: String,
    any_case: bool,
}

impl Mask {
    /// `text` with every occurrence of this mask replaced by `***`.
    fn apply(&self, text: &str) -> String {
        if !self.any_case {
            return text.replace(self.text.as_str(), "***");
        }
        // ASCII lower-casing keeps every byte where it was, so positions carry over.
        let lower = text.to_ascii_lowercase();
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        while let Some(found) = lower[at..].find(self.text.as_str()) {
            out.push_str(&text[at..at + found]);
            out.push_str("***");
            at += found + self.text.len();
        }
        out.push_str(&text[at..]);
        out
    }

    fn occurs_in(&self, text: &str) -> bool {
        if self.any_case {
            text.to_ascii_lowercase().contains(self.text.as_str())
        } else {
            text.contains(self.text.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(access: &str, extra: &[&str]) -> (serde_json::Value, Secrets) {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let (sealed, secrets) = Secrets::seal(access, &extra).unwrap();
        (serde_json::from_str(&sealed).unwrap(), secrets)
    }

    #[test]
    fn seals_secret_fields_at_any_depth_and_reveals_only_in_their_own_slot() {
        let access = r#"{"url": "http://h/", "auth": {"username": "u", "password": "hunter22"},
                         "nested": [{"privateKey": "KEY", "token": "T0K"}], "passphrase": ""}"#;
        let (doc, secrets) = seal(access, &["token"]);
        assert!(!doc.to_string().contains("hunter22") && !doc.to_string().contains("T0K"));
        let token = doc["auth"]["password"].as_str().unwrap();
        assert!(token.starts_with("red-wasm-sealed-secret-"));
        assert_eq!(secrets.reveal(SecretKind::Password, token), "hunter22");
        assert_eq!(
            secrets.reveal(SecretKind::PrivateKey, token),
            token,
            "not a key"
        );
        assert_eq!(secrets.reveal(SecretKind::Passphrase, token), token);
        let key = doc["nested"][0]["privateKey"].as_str().unwrap();
        assert_eq!(secrets.reveal(SecretKind::PrivateKey, key), "KEY");
        assert_eq!(
            secrets.reveal(SecretKind::Password, key),
            key,
            "not a password"
        );
        assert_eq!(doc["auth"]["username"], "u", "other fields are untouched");
        assert_eq!(doc["passphrase"], "", "empty values stay empty");
        assert_eq!(
            secrets.reveal(SecretKind::Password, "not a token"),
            "not a token"
        );
        assert_eq!(secrets.redact("login hunter22 failed"), "login *** failed");
        let validation = secrets.sealed_for_good();
        assert_eq!(validation.reveal(SecretKind::Password, token), token);
        assert_eq!(validation.redact("hunter22"), "***", "still masked");
        let err = Secrets::seal("not json", &[]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidAccess);
        assert!(
            err.message
                .starts_with("/: the access document is not valid JSON"),
            "{err}"
        );
        let err = Secrets::seal(r#"{"password": "s3cretComma", }"#, &[]).unwrap_err();
        assert!(!err.message.contains("s3cretComma"), "{err}");
        let (bom, _) = Secrets::seal("\u{feff}{\"a\": 1}", &[]).unwrap();
        assert_eq!(bom, "{\"a\":1}", "a byte-order mark is dropped");
        for twice in [
            r#"{"auth": {"password": "hunter2-DUP"}, "auth": null}"#,
            r#"{"password": "hunter2-DUP", "password": ""}"#,
        ] {
            let (sealed, _) = Secrets::seal(twice, &[]).unwrap();
            assert!(!sealed.contains("hunter2-DUP"), "{twice} -> {sealed}");
        }
    }

    #[test]
    fn numbers_booleans_and_any_case_are_sealed_and_containers_refused() {
        let (doc, secrets) = seal(
            r#"{"password": 12345678, "Password": true, "PASSPHRASE": 1.5, "API_Key": "k3y!"}"#,
            &["api_key"],
        );
        for field in ["password", "Password", "PASSPHRASE", "API_Key"] {
            let token = doc[field]
                .as_str()
                .unwrap_or_else(|| panic!("{field}: {doc}"));
            assert!(token.starts_with("red-wasm-sealed-secret-"), "{field}");
        }
        let token = doc["password"].as_str().unwrap();
        assert_eq!(secrets.reveal(SecretKind::Password, token), "12345678");
        assert_eq!(secrets.redact("pw 12345678"), "pw ***");
        for bad in [
            r#"{"auth": {"password": ["a"]}}"#,
            r#"{"password": {"a": 1}}"#,
        ] {
            let err = Secrets::seal(bad, &[]).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidAccess);
            assert!(err.message.contains("password: a secret field"), "{err}");
        }
    }

    /// `text` with every other letter upper-cased.
    fn mixed_case(text: &str) -> String {
        text.chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect()
    }

    #[test]
    fn wire_forms_are_masked() {
        let password = "s3cret-Pa55 w0rd";
        let access = serde_json::json!({"auth": {"username": "alice", "password": password}});
        let (_, secrets) = seal(&access.to_string(), &[]);
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let hex: String = password.bytes().map(|b| format!("{b:02x}")).collect();
        for shown in [
            format!("Basic {}", b64(&format!("alice:{password}"))),
            format!("Basic {}", b64(&format!("mallory:{password}"))),
            format!("x{}y", b64(&format!("ab{password}cd"))),
            hex.clone(),
            hex.to_uppercase(),
            "s3cret-Pa55+w0rd".into(),
            "s3cret%2DPa55%20w0rd".into(),
            "s3cret%2dPa55%20w0rd".into(),
            mixed_case(&hex),
            "s3cret\\u002dPa55\\u0020w0rd".into(),
        ] {
            let masked = secrets.redact(&shown);
            assert!(masked.contains("***"), "{shown} -> {masked}");
            for piece in [password, &hex[4..20], "s3cret", "Pa55"] {
                assert!(!masked.contains(piece), "{shown} -> {masked}");
            }
        }
        let (_, short) = seal(r#"{"password": "pw"}"#, &[]);
        assert_eq!(
            short.redact("my pw"),
            "my ***",
            "short passwords are masked too"
        );
        assert_eq!(short.redact("pw:pw."), "***:***.");
        assert_eq!(
            short.redact("/password: pwned"),
            "/password: pwned",
            "as words only"
        );
    }
}
