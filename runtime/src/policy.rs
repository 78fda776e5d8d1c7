//! Which hosts a transfer may reach: the allow-list, checked in one place.
//!
//! The network is deny-by-default. [`Policy::derived_from`] allows what the access document
//! names (every http(s) URL value gives its scheme, host and port; an object with a `host`
//! gives that SSH endpoint), so normal use needs no flags; [`Policy::allow`] widens the list.

use std::fmt;

use crate::{Error, ErrorKind};

/// One allowed endpoint pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostRule {
    /// `http`, `https`, `ssh`, or `None` for any.
    pub scheme: Option<String>,
    /// A host name or address (lower case), or a `*.domain` suffix pattern.
    pub host: String,
    /// `None` for any port.
    pub port: Option<u16>,
}

impl HostRule {
    /// Parses `host`, `host:port`, `*.domain`, `[v6]:port` or `scheme://host[:port]`.
    pub fn parse(pattern: &str) -> Result<Self, Error> {
        let bad = |why: &str| {
            Error::new(
                ErrorKind::InvalidAccess,
                format!("--allow-host {pattern:?}: {why} (expected HOST, HOST:PORT, *.DOMAIN or SCHEME://HOST[:PORT])"),
            )
        };
        let (scheme, rest) = match pattern.split_once("://") {
            Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
            None => (None, pattern),
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p.parse::<u16>().map_err(|_| bad("bad port"))?),
                None if after.is_empty() => None,
                None => return Err(bad("junk after ]")),
            };
            (host.to_string(), port)
        } else {
            match rest.rsplit_once(':') {
                Some((host, port)) => (
                    host.to_string(),
                    Some(port.parse::<u16>().map_err(|_| bad("bad port"))?),
                ),
                None => (rest.to_string(), None),
            }
        };
        if host.is_empty() || host.contains('/') || host.contains('@') {
            return Err(bad("bad host"));
        }
        let port = port.or(match scheme.as_deref() {
            Some("http") => Some(80),
            Some("https") => Some(443),
            Some("ssh") => Some(22),
            _ => None,
        });
        Ok(HostRule {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        let host_ok = match self.host.strip_prefix("*.") {
            Some(domain) => host.len() > domain.len() + 1 && host.ends_with(&format!(".{domain}")),
            None => self.host == host,
        };
        host_ok
            && self.scheme.as_deref().is_none_or(|s| s == scheme)
            && self.port.is_none_or(|p| p == port)
    }
}

impl fmt::Display for HostRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(scheme) = &self.scheme {
            write!(f, "{scheme}://")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// How an SSH server's host key is checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum HostKeyCheck {
    /// Any key (the original connectors' behaviour, and the default).
    #[default]
    AcceptAny,
    /// The key's SHA-256 fingerprint must be one of these (`SHA256:` + unpadded base64, as
    /// `ssh-keygen -lf` prints it).
    Fingerprints(Vec<String>),
    /// The key must be listed for the host (and port) in this OpenSSH known-hosts file.
    KnownHosts(std::path::PathBuf),
}

/// The endpoints a transfer may reach, where TLS certificates may go unchecked, and how SSH
/// host keys are checked.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    rules: Vec<HostRule>,
    /// Endpoints whose certificates a request may leave unchecked: those the access document
    /// names in an object that says `"disableSSLVerification": true`, and those the caller
    /// adds. A connector's `verify-tls: false` is refused anywhere else.
    insecure_tls: Vec<HostRule>,
    host_keys: HostKeyCheck,
}

impl Policy {
    /// A policy that allows nothing.
    pub fn deny_all() -> Self {
        Policy::default()
    }

    /// Allows every endpoint the access document names: each string value that is an
    /// http(s) URL, and each object with a string `host` (SSH, with its `port` or 22). The
    /// URLs in an object with `"disableSSLVerification": true` (and in the objects within it)
    /// may also be requested without checking their certificates.
    pub fn derived_from(access: &serde_json::Value) -> Self {
        let mut policy = Policy::default();
        policy.derive(access, false);
        policy
    }

    fn derive(&mut self, value: &serde_json::Value, insecure: bool) {
        use serde_json::Value;
        match value {
            Value::String(s) => {
                if let Ok(url) = url::Url::parse(s) {
                    if let (scheme @ ("http" | "https"), Some(host), Some(port)) =
                        (url.scheme(), url.host_str(), url.port_or_known_default())
                    {
                        let rule = HostRule {
                            scheme: Some(scheme.into()),
                            host: bare_host(host),
                            port: Some(port),
                        };
                        // http://host (port 80) may be upgraded to https://host, as sites
                        // redirect; never the other way.
                        let upgrade = (scheme == "http" && port == 80).then(|| HostRule {
                            scheme: Some("https".into()),
                            port: Some(443),
                            ..rule.clone()
                        });
                        for rule in std::iter::once(rule).chain(upgrade) {
                            if insecure {
                                self.allow_tls_skip(rule.clone());
                            }
                            self.push(rule);
                        }
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| self.derive(v, insecure)),
            Value::Object(map) => {
                let insecure =
                    insecure || map.get("disableSSLVerification") == Some(&Value::Bool(true));
                if let Some(host) = map.get("host").and_then(Value::as_str) {
                    let port = map.get("port").and_then(Value::as_u64).unwrap_or(22);
                    if let Ok(port) = u16::try_from(port) {
                        self.push(HostRule {
                            scheme: Some("ssh".into()),
                            host: bare_host(host),
                            port: Some(port),
                        });
                    }
                }
                map.values().for_each(|v| self.derive(v, insecure));
            }
            _ => {}
        }
    }

    fn push(&mut self, rule: HostRule) {
        if !self.rules.contains(&rule) {
            self.rules.push(rule);
        }
    }

    /// Also allows `rule`.
    pub fn allow(&mut self, rule: HostRule) {
        self.push(rule);
    }

    /// Also lets requests to `rule` leave TLS certificates unchecked.
    pub fn allow_tls_skip(&mut self, rule: HostRule) {
        if !self.insecure_tls.contains(&rule) {
            self.insecure_tls.push(rule);
        }
    }

    /// `Ok` if a request to `url` may leave the server's certificate unchecked: plain http, or
    /// an endpoint the user said so for; else a `denied` error saying how to allow it.
    pub fn check_tls_skip(&self, url: &url::Url) -> Result<(), Error> {
        let host = url.host_str().map(bare_host).unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(0);
        if url.scheme() != "https"
            || self
                .insecure_tls
                .iter()
                .any(|r| r.matches(url.scheme(), &host, port))
        {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Denied,
            format!(
                "the connector asked to skip the certificate check of https://{}:{port}, which \
                 the user did not allow: set \"disableSSLVerification\": true in the access \
                 document, or pass --insecure-host {}:{port}",
                flag_host(&host),
                flag_host(&host)
            ),
        ))
    }

    /// Sets how SSH host keys are checked.
    pub fn check_host_keys(&mut self, check: HostKeyCheck) {
        self.host_keys = check;
    }

    /// `Ok` if an SSH server at `endpoint` (for messages) may be trusted with host key
    /// fingerprint `sha256`; `known_hosts` looks the key up in a known-hosts file.
    pub fn check_host_key(
        &self,
        endpoint: &str,
        sha256: &[u8],
        known_hosts: impl FnOnce(&std::path::Path) -> Result<bool, String>,
    ) -> Result<(), Error> {
        use base64::Engine as _;
        let fingerprint = format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(sha256)
        );
        let denied = |why: String| {
            Err(Error::new(
                ErrorKind::Denied,
                format!("the host key of {endpoint} ({fingerprint}) {why}"),
            ))
        };
        match &self.host_keys {
            HostKeyCheck::AcceptAny => Ok(()),
            HostKeyCheck::Fingerprints(pinned) => {
                if pinned
                    .iter()
                    .any(|p| p.trim_end_matches('=') == fingerprint)
                {
                    Ok(())
                } else {
                    denied(format!(
                        "is not a pinned key (pinned: {})",
                        pinned.join(", ")
                    ))
                }
            }
            HostKeyCheck::KnownHosts(file) => match known_hosts(file) {
                Ok(true) => Ok(()),
                Ok(false) => denied(format!("is not listed for it in {}", file.display())),
                Err(e) => denied(format!("cannot be checked against {}: {e}", file.display())),
            },
        }
    }

    /// The allowed endpoints.
    pub fn rules(&self) -> &[HostRule] {
        &self.rules
    }

    /// `Ok` if `url` may be requested; else a `denied` error naming the endpoint and the flag
    /// that would allow it.
    pub fn check_url(&self, url: &url::Url) -> Result<(), Error> {
        let host = url.host_str().map(bare_host).unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(0);
        self.check(url.scheme(), &host, port)
    }

    /// `Ok` if `scheme://host:port` may be reached.
    pub fn check(&self, scheme: &str, host: &str, port: u16) -> Result<(), Error> {
        let host = host.to_ascii_lowercase();
        if self.rules.iter().any(|r| r.matches(scheme, &host, port)) {
            return Ok(());
        }
        let endpoint = HostRule {
            scheme: Some(scheme.into()),
            host: host.clone(),
            port: Some(port),
        };
        let allowed = if self.rules.is_empty() {
            "nothing".to_string()
        } else {
            self.rules
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        Err(Error::new(
            ErrorKind::Denied,
            format!(
                "{endpoint} is not an allowed host for this transfer (allowed: {allowed}); allow it with --allow-host {}:{port}",
                flag_host(&host)
            ),
        ))
    }
}

/// A host as the flags take it: an IPv6 address in brackets.
fn flag_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// A URL host without IPv6 brackets, in lower case.
fn bare_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn derives_scheme_host_and_port_from_urls_and_ssh_objects() {
        let access = serde_json::json!({
            "url": "https://Data.Example.org/x",
            "nested": {"baseUrl": "http://127.0.0.1:8080"},
            "ssh": {"host": "sftp.example.org", "port": 2222},
            "note": "not a url"
        });
        let policy = Policy::derived_from(&access);
        assert!(policy
            .check_url(&url("https://data.example.org:443/y"))
            .is_ok());
        assert!(
            policy.check_url(&url("http://data.example.org/y")).is_err(),
            "scheme differs"
        );
        assert!(
            policy
                .check_url(&url("https://data.example.org:8443/"))
                .is_err(),
            "port differs"
        );
        assert!(policy.check_url(&url("http://127.0.0.1:8080/a")).is_ok());
        assert!(
            policy.check_url(&url("https://127.0.0.1:8080/a")).is_err(),
            "an upgrade only from and to the default ports"
        );
        let plain = Policy::derived_from(&serde_json::json!({"url": "http://site.test/x"}));
        assert!(
            plain.check_url(&url("https://site.test/x")).is_ok(),
            "the usual upgrade"
        );
        let secure = Policy::derived_from(&serde_json::json!({"url": "https://site.test/x"}));
        assert!(
            secure.check_url(&url("http://site.test/x")).is_err(),
            "never a downgrade"
        );
        assert!(policy.check_url(&url("http://127.0.0.1:8081/a")).is_err());
        assert!(policy.check("ssh", "sftp.example.org", 2222).is_ok());
        assert!(policy.check("ssh", "sftp.example.org", 22).is_err());
    }

    #[test]
    fn denial_names_the_endpoint_and_the_flag() {
        let policy = Policy::derived_from(&serde_json::json!({"url": "http://a.test/"}));
        let err = policy.check_url(&url("http://evil.test:81/")).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Denied);
        assert!(
            err.message.contains("http://evil.test:81"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("--allow-host evil.test:81"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("allowed: http://a.test:80"),
            "{}",
            err.message
        );
    }

    #[test]
    fn tls_checks_are_skipped_only_where_the_user_said_so() {
        let access = serde_json::json!({
            "url": "https://self-signed.test/a",
            "other": {"url": "https://b.test/", "disableSSLVerification": true},
        });
        let mut policy = Policy::derived_from(&access);
        let err = policy
            .check_tls_skip(&url("https://self-signed.test/a"))
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Denied);
        assert!(err.message.contains("disableSSLVerification"), "{err}");
        assert!(
            err.message.contains("--insecure-host self-signed.test:443"),
            "{err}"
        );
        assert!(policy.check_tls_skip(&url("https://b.test/x")).is_ok());
        assert!(
            policy
                .check_tls_skip(&url("http://self-signed.test/"))
                .is_ok(),
            "no TLS"
        );
        policy.allow_tls_skip(HostRule::parse("self-signed.test").unwrap());
        assert!(policy
            .check_tls_skip(&url("https://self-signed.test/a"))
            .is_ok());
        let top = Policy::derived_from(&serde_json::json!({
            "baseUrl": "https://x.test:8443", "disableSSLVerification": true
        }));
        assert!(top.check_tls_skip(&url("https://x.test:8443/REST")).is_ok());
        assert!(
            top.check_tls_skip(&url("https://x.test/REST")).is_err(),
            "port differs"
        );
    }

    #[test]
    fn allow_patterns() {
        let mut policy = Policy::deny_all();
        policy.allow(HostRule::parse("*.example.org").unwrap());
        policy.allow(HostRule::parse("10.0.0.1:9000").unwrap());
        policy.allow(HostRule::parse("https://[::1]").unwrap());
        assert!(policy.check_url(&url("http://a.example.org:1234/")).is_ok());
        assert!(
            policy.check_url(&url("http://example.org/")).is_err(),
            "suffix needs a label"
        );
        assert!(policy.check_url(&url("http://badexample.org/")).is_err());
        assert!(policy.check_url(&url("http://10.0.0.1:9000/")).is_ok());
        assert!(policy.check_url(&url("http://10.0.0.1:9001/")).is_err());
        assert!(policy.check_url(&url("https://[::1]/")).is_ok());
        assert!(policy.check_url(&url("http://[::1]/")).is_err());
        assert!(HostRule::parse("host:notaport").is_err());
        assert!(HostRule::parse("").is_err());
    }
}
