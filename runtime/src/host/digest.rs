//! Checking a body against the digest its server states, while it streams.
//!
//! A 200 answer may say what its bytes hash to: `Repr-Digest` (RFC 9530; the representation,
//! which is what red-wasm hands on after decoding), and, when the body is not
//! content-encoded (so that the bytes on the wire are the representation), `Content-Digest`,
//! `Digest` (RFC 3230) or `Content-MD5`. A connector may also expect a digest
//! (`send-options.expected-digest`, `ALGORITHM$HEX`, as RED writes `sha1$...`). The first
//! stated digest red-wasm can compute is checked at the body's end; a mismatch is a `remote`
//! error, so the receive keeps nothing.

use base64::Engine as _;
use sha2::Digest as _;

use crate::{Error, ErrorKind};

/// A hash function of the digests red-wasm checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    /// By its name in HTTP fields (`sha-256`, `SHA-256`, `md5`, `sha`) or RED's (`sha256`).
    fn named(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "md5" => Some(Algorithm::Md5),
            "sha" | "sha1" | "sha-1" => Some(Algorithm::Sha1),
            "sha-256" | "sha256" => Some(Algorithm::Sha256),
            "sha-512" | "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "md5",
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }
}

enum Hasher {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Md5 => Hasher::Md5(md5::Md5::new()),
            Algorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(bytes),
            Hasher::Sha1(h) => h.update(bytes),
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Md5(h) => h.finalize().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

/// One expected digest: where it came from, and its bytes.
struct Expected {
    algorithm: Algorithm,
    bytes: Vec<u8>,
    /// `the server's Repr-Digest`, `the connector`, ...
    source: String,
}

/// The digests a body is checked against. The hashing runs on a thread of its own, fed the
/// body's pieces (shared, not copied) through a bounded channel, so that it overlaps the
/// network and the disk instead of stalling them (SHA-256 of 1 GiB takes about a second).
pub struct Verifier {
    feed: std::sync::mpsc::SyncSender<Feed>,
    hashing: std::thread::JoinHandle<Vec<(Expected, Hasher)>>,
}

enum Feed {
    Bytes(bytes::Bytes),
    Restart,
}

/// Pieces in flight to the hashing thread (a few MiB at most).
const FEED_DEPTH: usize = 16;

impl Verifier {
    /// The checks for a 200 answer with `headers` (names in lower case) when `stated_too`, and
    /// the connector's `expected` (`ALGORITHM$HEX`); `None` when there is nothing to check. An
    /// `expected` that cannot be read is an `invalid-access` error.
    pub fn new(
        headers: &reqwest::header::HeaderMap,
        expected: Option<&str>,
        stated_too: bool,
    ) -> Result<Option<Self>, Error> {
        let mut checks = Vec::new();
        if let Some(text) = expected {
            let expected = parse_expected(text)?;
            let hasher = Hasher::new(expected.algorithm);
            checks.push((expected, hasher));
        }
        if let Some(stated) = stated(headers).filter(|_| stated_too) {
            let hasher = Hasher::new(stated.algorithm);
            checks.push((stated, hasher));
        }
        if checks.is_empty() {
            return Ok(None);
        }
        let (feed, pieces) = std::sync::mpsc::sync_channel::<Feed>(FEED_DEPTH);
        let hashing = std::thread::Builder::new()
            .name("red-wasm-digest".into())
            .spawn(move || {
                for piece in pieces {
                    for (expected, hasher) in &mut checks {
                        match &piece {
                            Feed::Bytes(bytes) => hasher.update(bytes),
                            Feed::Restart => *hasher = Hasher::new(expected.algorithm),
                        }
                    }
                }
                checks
            })
            .map_err(|e| Error::internal(format!("cannot start hashing: {e}")))?;
        Ok(Some(Verifier { feed, hashing }))
    }

    /// Hashes more of the body.
    pub fn update(&mut self, bytes: &bytes::Bytes) {
        let _ = self.feed.send(Feed::Bytes(bytes.clone()));
    }

    /// Starts over (the body is being sent again from its first byte).
    pub fn restart(&mut self) {
        let _ = self.feed.send(Feed::Restart);
    }

    /// Compares each hash with its expected digest, at the body's end.
    pub fn check(self, url: &str) -> Result<(), Error> {
        drop(self.feed);
        let checks = self
            .hashing
            .join()
            .map_err(|_| Error::internal("the hashing thread failed"))?;
        for (expected, hasher) in checks {
            let actual = hasher.finish();
            if actual != expected.bytes {
                let name = expected.algorithm.name();
                return Err(Error::new(
                    ErrorKind::Remote,
                    format!(
                        "the body of {url} has the {name} digest {}, but {} says {}: the bytes are not what the server meant to send",
                        hex(&actual),
                        expected.source,
                        hex(&expected.bytes)
                    ),
                ));
            }
        }
        Ok(())
    }
}

use crate::messages::hex;

/// `ALGORITHM$HEX` (`sha256$...`, `sha1$...`, `md5$...`, `sha512$...`).
fn parse_expected(text: &str) -> Result<Expected, Error> {
    let bad = || {
        Error::new(
            ErrorKind::InvalidAccess,
            format!("the expected digest {text:?} is not ALGORITHM$HEX with sha256, sha512, sha1 or md5"),
        )
    };
    let (name, digits) = text.split_once('$').ok_or_else(bad)?;
    let algorithm = Algorithm::named(name).ok_or_else(bad)?;
    if digits.len() % 2 != 0 {
        return Err(bad());
    }
    let bytes = (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(digits.get(i..i + 2).unwrap_or("x"), 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| bad())?;
    let size = Hasher::new(algorithm).finish().len();
    if bytes.len() != size {
        return Err(bad());
    }
    Ok(Expected {
        algorithm,
        bytes,
        source: "the connector (or the access document)".into(),
    })
}

/// The first digest the server states that red-wasm can check.
fn stated(headers: &reqwest::header::HeaderMap) -> Option<Expected> {
    let field = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let encoded = field("content-encoding").is_some_and(|e| !e.eq_ignore_ascii_case("identity"));
    let structured = |name: &str, shown: &str| {
        let value = field(name)?;
        // `sha-256=:BASE64:, sha-512=:BASE64:` (RFC 9530, a structured dictionary).
        value.split(',').find_map(|member| {
            let (key, rest) = member.split_once('=')?;
            let algorithm = Algorithm::named(key)?;
            let inner = rest.trim().strip_prefix(':')?.strip_suffix(':')?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(inner)
                .ok()?;
            Some(Expected {
                algorithm,
                bytes,
                source: format!("the server's {shown}"),
            })
        })
    };
    if let Some(found) = structured("repr-digest", "Repr-Digest") {
        return Some(found);
    }
    if encoded {
        return None;
    }
    if let Some(found) = structured("content-digest", "Content-Digest") {
        return Some(found);
    }
    // `SHA-256=BASE64, MD5=BASE64` (RFC 3230).
    if let Some(found) = field("digest").and_then(|value| {
        value.split(',').find_map(|member| {
            let (key, rest) = member.split_once('=')?;
            let algorithm = Algorithm::named(key)?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()?;
            Some(Expected {
                algorithm,
                bytes,
                source: "the server's Digest".into(),
            })
        })
    }) {
        return Some(found);
    }
    let md5 = field("content-md5")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(md5.trim())
        .ok()?;
    Some(Expected {
        algorithm: Algorithm::Md5,
        bytes,
        source: "the server's Content-MD5".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn verify(
        headers: &[(&'static str, String)],
        expected: Option<&str>,
        body: &[u8],
    ) -> Result<(), Error> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        let Some(mut verifier) = Verifier::new(&map, expected, true)? else {
            return Ok(());
        };
        let body = bytes::Bytes::copy_from_slice(body);
        verifier.update(&body.slice(..3));
        verifier.update(&body.slice(3..));
        verifier.check("http://x/")
    }

    #[test]
    fn stated_digests_are_checked() {
        let body = b"hello world";
        let sha256 = sha2::Sha256::digest(body).to_vec();
        let md5 = md5::Md5::digest(body).to_vec();
        let good = format!("sha-256=:{}:", b64(&sha256));
        verify(&[("repr-digest", good.clone())], None, body).unwrap();
        verify(&[("content-digest", good.clone())], None, body).unwrap();
        verify(&[("digest", format!("MD5={}", b64(&md5)))], None, body).unwrap();
        verify(&[("content-md5", b64(&md5))], None, body).unwrap();
        let err = verify(&[("repr-digest", good.clone())], None, b"hello worle").unwrap_err();
        assert_eq!(err.kind, ErrorKind::Remote);
        assert!(err.message.contains("Repr-Digest"), "{}", err.message);
        // A content-encoded body's Content-Digest is of the encoded bytes: not checked.
        let wrong = format!("sha-256=:{}:", b64(&[0; 32]));
        verify(
            &[
                ("content-digest", wrong),
                ("content-encoding", "gzip".into()),
            ],
            None,
            body,
        )
        .unwrap();
        // Unknown algorithms are no check.
        verify(&[("repr-digest", "unixsum=:AAAA:".into())], None, body).unwrap();
    }

    #[test]
    fn an_expected_digest_is_checked_and_must_be_readable() {
        let body = b"hello world";
        let hex_sum = hex(&sha2::Sha256::digest(body));
        verify(&[], Some(&format!("sha256${hex_sum}")), body).unwrap();
        let err = verify(&[], Some(&format!("sha256${}", "0".repeat(64))), body).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Remote);
        for bad in ["sha256$abc", "crc32$00000000", "nonsense"] {
            let err = verify(&[], Some(bad), body).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidAccess, "{bad}");
        }
    }
}
