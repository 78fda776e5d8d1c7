//! The files of an XNAT resource, from its listing
//! (`GET {owner}/resources/{resource}/files?format=json`).
//!
//! XNAT 1.8 answers one row per file, `{"Name", "Size", "URI", "collection", "file_tags",
//! "file_format", "file_content", "cat_ID", "digest"}`, for every file of the resource's
//! catalog, those in sub-folders included (there is no folder row and no `path` field). The
//! `URI` is `{resource URI}/files/{path in the resource}`, e.g.
//! `/data/experiments/E/scans/1/resources/123/files/secondary/a.dcm`, with the resource by
//! its numeric ID (`cat_ID`) or label, and the path as stored, not percent-encoded
//! (`CatalogUtils.getEntryDetails` in xnat-web). `Name` is the file's own name.

use std::collections::BTreeMap;

use red_connector_sdk::{Error, ErrorKind};
use serde_json::Value;

/// A file of the resource as its listing describes it.
#[derive(Clone, Debug, Default)]
pub struct Listed {
    /// Its size (`Size`), when given.
    pub size: Option<u64>,
    /// Its MD5 (`digest`, 32 hex digits), when given.
    pub md5: Option<String>,
}

/// The files of the resource: path in the resource -> what the listing says of it.
pub type Files = BTreeMap<String, Listed>;

/// The files of the listing `rows` of resource `resource` (as the access names it), fetched
/// from `listing_url`. A row whose URI is not on `base`'s origin, has no
/// `/resources/{resource}/files/` part, or whose path leaves the resource is a `remote` error
/// naming it.
pub fn files(
    rows: &[Value],
    base: &url::Url,
    resource: &str,
    listing_url: &str,
) -> Result<Files, Error> {
    let bad = |why: String| Error::new(ErrorKind::Remote, format!("GET {listing_url}: {why}"));
    let mut files = Files::new();
    for (i, row) in rows.iter().enumerate() {
        let text = |name: &str| match row.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let uri = text("URI").ok_or_else(|| bad(format!("row {i} has no URI")))?;
        let resolved = base
            .join(&uri)
            .map_err(|e| bad(format!("the file URI {uri:?} is not a URL: {e}")))?;
        if resolved.origin() != base.origin() {
            return Err(bad(format!(
                "the file URI {uri} is not on the XNAT server {}; refused",
                base.origin().ascii_serialization()
            )));
        }
        let names = [
            Some(resource.to_owned()),
            text("collection"),
            text("cat_ID"),
        ];
        let path = path_in_resource(&uri, &names, text("Name").as_deref()).ok_or_else(|| {
            bad(format!(
                "the file URI {uri} names no plain path inside the resource {resource}; refused"
            ))
        })?;
        let size = text("Size").and_then(|s| s.trim().parse::<u64>().ok());
        let md5 = text("digest")
            .map(|d| d.trim().to_ascii_lowercase())
            .filter(|d| d.len() == 32 && d.bytes().all(|b| b.is_ascii_hexdigit()));
        if files.insert(path.clone(), Listed { size, md5 }).is_some() {
            return Err(bad(format!("the file {path} is listed twice")));
        }
    }
    Ok(files)
}

/// The part of `uri` after `/resources/{resource}/files/`, `/`-separated, each segment a
/// plain name (not empty, `.` or `..`). `names` are the resource's label and ID as the URI may
/// spell it; without a match, the first `resources/*/files` is taken. The path stays as XNAT
/// stored it unless only its percent-decoded form ends in the row's `name`.
fn path_in_resource(uri: &str, names: &[Option<String>], name: Option<&str>) -> Option<String> {
    // The path part: after the scheme and authority of an absolute URI. A raw path may hold
    // `?` or `#` in a file name, so nothing is cut at them.
    let path = match uri.split_once("://") {
        Some((_, rest)) => &rest[rest.find('/')?..],
        None if uri.starts_with("//") => &uri[2 + uri[2..].find('/')?..],
        None => uri,
    };
    let segments: Vec<&str> = path.split('/').collect();
    let is_files = |i: usize| {
        segments[i] == "resources"
            && segments.get(i + 2) == Some(&"files")
            && i + 3 < segments.len()
    };
    let named = |i: &usize| {
        names
            .iter()
            .flatten()
            .any(|n| segments[i + 1] == n || decode(segments[i + 1]).as_deref() == Some(n.as_str()))
    };
    let start = (0..segments.len())
        .filter(|i| is_files(*i))
        .find(named)
        .or_else(|| (0..segments.len()).find(|i| is_files(*i)))?;
    let raw: Vec<String> = segments[start + 3..]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let decoded: Option<Vec<String>> = raw.iter().map(|s| decode(s)).collect();
    let chosen = match (name, decoded) {
        (Some(name), Some(decoded))
            if raw.last().map(String::as_str) != Some(name)
                && decoded.last().map(String::as_str) == Some(name) =>
        {
            decoded
        }
        _ => raw,
    };
    let plain = |s: &String| !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\0']);
    chosen.iter().all(plain).then(|| chosen.join("/"))
}

/// `text` percent-decoded, if the result is UTF-8.
fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}
