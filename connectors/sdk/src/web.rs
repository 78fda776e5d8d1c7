//! Helpers for connectors that speak HTTP: the access fields every RED HTTP connector takes
//! (`url`, `method`, `auth`, `disableSSLVerification`), parsed with JSON paths and open to
//! fields of your own, requests built from them, and what a status code means.
//!
//! ```ignore
//! let doc = access::parse(text)?;
//! let mut problems = Problems::default();
//! let root = Object::root(&doc, &mut problems);
//! // Your own field beside the common ones:
//! let access = root.as_ref().map(|r| HttpAccess::parse_object(r, &["sha256"], &mut problems));
//! let digest = root.as_ref().and_then(|r| r.required_str("sha256", &mut problems));
//! problems.into_result()?;
//! let response = http::send(&access.unwrap().request(Method::Get, vec![]), &Body::Empty)?;
//! check_status(&response, "GET")?;
//! ```

use crate::access::{self, Object, Problems};
use crate::bindings::red::connector::http::{AuthScheme, Credentials, Request, Response};
use crate::{Error, ErrorKind};

/// The access fields [`HttpAccess`] reads.
pub const HTTP_FIELDS: [&str; 5] = [
    "url",
    "method",
    "auth",
    "disableSSLVerification",
    "checksum",
];

/// An HTTP method the access document may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// PUT.
    Put,
    /// POST.
    Post,
}

impl Method {
    /// The method's name on the wire.
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
    /// The absolute http(s) URL.
    pub url: String,
    /// `None` when absent: GET for a receive, POST for a send.
    pub method: Option<Method>,
    /// Basic or Digest credentials (the password a sealed token that only the host unseals).
    pub auth: Option<Credentials>,
    /// `false` when the access says `"disableSSLVerification": true`.
    pub verify_tls: bool,
    /// The digest a received body must have (`sha256$HEX`, `sha512$`, `sha1$`, `md5$`), from
    /// the access's `checksum`; the host checks it as the bytes stream.
    pub checksum: Option<String>,
}

impl HttpAccess {
    /// Parses and checks `access`, which must hold the common fields only, reporting every
    /// problem with its JSON path.
    pub fn parse(access: &str) -> Result<Self, Error> {
        let doc = access::parse(access)?;
        let mut problems = Problems::default();
        let Some(root) = Object::root(&doc, &mut problems) else {
            return Err(problems.into_result().unwrap_err());
        };
        let parsed = Self::parse_object(&root, &[], &mut problems);
        problems.into_result()?;
        Ok(parsed)
    }

    /// Checks the common fields of `root`, recording problems; fields other than those and
    /// `extra` are reported as unknown. The result is meaningful only when `problems` stays
    /// empty.
    pub fn parse_object(root: &Object, extra: &[&str], problems: &mut Problems) -> Self {
        let known: Vec<&str> = HTTP_FIELDS.iter().chain(extra).copied().collect();
        root.only_keys(&known, problems);
        let url = root.required_str("url", problems);
        if let Some(url) = url {
            check_url(url, &root.path_of("url"), problems);
        }
        let method = root
            .optional_choice("method", &["GET", "PUT", "POST"], problems)
            .map(|m| match m {
                "GET" => Method::Get,
                "PUT" => Method::Put,
                _ => Method::Post,
            });
        let auth = root
            .object("auth", false, problems)
            .and_then(|auth| parse_auth(&auth, problems));
        let disable_verification = root.optional_bool("disableSSLVerification", problems);
        let checksum = root.optional_str("checksum", problems);
        if let Some(sum) = checksum {
            if !is_checksum(sum) {
                problems.add(
                    &root.path_of("checksum"),
                    format!("{sum:?} is not ALGORITHM$HEX with sha256, sha512, sha1 or md5"),
                );
            }
        }
        HttpAccess {
            url: url.unwrap_or_default().to_owned(),
            method,
            auth,
            verify_tls: !disable_verification.unwrap_or(false),
            checksum: checksum.map(str::to_owned),
        }
    }

    /// A request for this access's URL with its credentials and TLS setting, following
    /// redirects; `method` unless the access names one.
    pub fn request(&self, method: Method, headers: Vec<(String, String)>) -> Request {
        Request {
            method: self.method.unwrap_or(method).as_str().into(),
            url: self.url.clone(),
            headers,
            auth: self.auth.clone(),
            verify_tls: self.verify_tls,
            follow_redirects: true,
        }
    }
}

/// `sha256$`, `sha512$`, `sha1$` or `md5$` and that many hex digits.
fn is_checksum(text: &str) -> bool {
    let Some((algorithm, digits)) = text.split_once('$') else {
        return false;
    };
    let length = match algorithm.to_ascii_lowercase().as_str() {
        "md5" => 32,
        "sha1" => 40,
        "sha256" => 64,
        "sha512" => 128,
        _ => return false,
    };
    digits.len() == length && digits.bytes().all(|b| b.is_ascii_hexdigit())
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

/// `Ok` for 1xx-3xx; for 400-599 an error naming the status line and URL, with the kind
/// that the status implies.
pub fn check_status(response: &Response, method: &str) -> Result<(), Error> {
    let status = response.status();
    if status < 400 {
        return Ok(());
    }
    let kind = match status {
        401 | 403 | 407 => ErrorKind::Auth,
        404 | 410 => ErrorKind::NotFound,
        409 | 412 => ErrorKind::Conflict,
        _ => ErrorKind::Remote,
    };
    Err(Error::new(
        kind,
        format!(
            "{method} {} answered {status} {}",
            response.url(),
            response.reason()
        ),
    ))
}

/// A 301, 302 or 303 answer to an upload is an error that names the new location: following
/// it would turn the upload into a body-less GET (the original connector did that and
/// reported success).
pub fn redirect_error(response: &Response, method: &str) -> Option<Error> {
    let status = response.status();
    if !(301..=303).contains(&status) {
        return None;
    }
    let location = response
        .headers()
        .into_iter()
        .find(|(name, _)| name == "location")
        .map(|(_, value)| value)
        .unwrap_or_else(|| "(no Location header)".into());
    Some(Error::new(
        ErrorKind::Remote,
        format!(
            "{method} {} answered {status} {} redirecting to {location}; the upload was not repeated there (use that URL in the access document)",
            response.url(),
            response.reason()
        ),
    ))
}
