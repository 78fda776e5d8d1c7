//! The built-in `xnat` connector: RED's XNAT `Http` (`red_connectors_xnat.http`). The XNAT
//! session and container flow run here, over the host's HTTP; file bytes move host-side and
//! only XNAT's JSON listings pass through the guest.
//!
//! Besides RED's file modes it offers receive-dir, which none of the original connectors
//! have: every file of a resource (e.g. a scan's DICOM), or the files a RED listing names,
//! into a folder, with the resource's sub-folders ([`receive_resource`]). send-dir is not
//! offered.

mod access;
mod resource;

use std::io::Read as _;

use red_connector_http::{check_status, redirect_error};
use red_connector_sdk::http::{self, AuthScheme, Body, Credentials, Request, Response};
use red_connector_sdk::io::{from_io, response_reader};
use red_connector_sdk::{
    export_connector, files_only, listing, warn, ConnectorInfo, DirSink, DirSource, DirectoryGuest,
    Error, ErrorKind, Guest, Sink, Source,
};

use access::{Direction, XnatAccess};

/// The largest listing read into the guest.
const MAX_LISTING: u64 = 64 * 1024 * 1024;

struct Connector;

impl Guest for Connector {
    fn info() -> ConnectorInfo {
        ConnectorInfo {
            name: "xnat".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "RED's XNAT connector: download or upload one resource file of an XNAT project, subject, experiment or container; receive-dir downloads a whole resource (or the files of a RED listing) into a folder.".into(),
            access_schema: access::SCHEMA.into(),
        }
    }

    fn validate_receive(access: String) -> Result<(), Error> {
        XnatAccess::parse(&access, Direction::Receive).map(drop)
    }

    fn validate_send(access: String) -> Result<(), Error> {
        XnatAccess::parse(&access, Direction::Send).map(drop)
    }

    fn receive(access: String, target: Sink) -> Result<(), Error> {
        let access = XnatAccess::parse(&access, Direction::Receive)?;
        let mut session = Session::new(&access);
        let result = (|| {
            let mut path = access.owner_path();
            path.extend(["resources", &access.resource, "files", &access.file]);
            let response = session.request("GET", &path, &[], &Body::Empty)?;
            check_status(&response, "GET")?;
            response.copy_to_sink(&target)?;
            Ok(())
        })();
        session.logout();
        result
    }

    fn send(access: String, source: Source) -> Result<(), Error> {
        let access = XnatAccess::parse(&access, Direction::Send)?;
        let mut session = Session::new(&access);
        let result = upload(&mut session, &access, &source);
        session.logout();
        result
    }
}

impl DirectoryGuest for Connector {
    fn validate_receive_dir(access: String, listing: Option<String>) -> Result<(), Error> {
        XnatAccess::parse(&access, Direction::ReceiveDir)?;
        listing
            .as_deref()
            .map(listing::entries)
            .transpose()
            .map(drop)
    }

    fn validate_send_dir(_access: String, _listing: Option<String>) -> Result<(), Error> {
        Err(files_only("send-dir"))
    }

    fn receive_dir(access: String, listing: Option<String>, target: DirSink) -> Result<(), Error> {
        let access = XnatAccess::parse(&access, Direction::ReceiveDir)?;
        let listed = listing.as_deref().map(listing::entries).transpose()?;
        let mut session = Session::new(&access);
        let result = receive_resource(&mut session, &access, listed.as_deref(), &target);
        session.logout();
        result
    }

    fn send_dir(
        _access: String,
        _listing: Option<String>,
        _source: DirSource,
    ) -> Result<(), Error> {
        Err(files_only("send-dir"))
    }
}

/// receive-dir: `GET {owner}/resources/{resource}/files?format=json`, then each file (or each
/// file of the RED listing, which must all be in the resource) at its path in the resource,
/// from `{owner}/resources/{resource}/files/{path}`, streamed host-side into the folder.
fn receive_resource(
    session: &mut Session,
    access: &XnatAccess,
    listed: Option<&[listing::ListedEntry]>,
    target: &DirSink,
) -> Result<(), Error> {
    let mut files = access.owner_path();
    files.extend(["resources", access.resource.as_str(), "files"]);
    let listing_url = access.url(&files, &[("format", "json")]);
    let rows = session.listing(&files)?;
    let remote = resource::files(&rows, &access.base, &access.resource, &listing_url)?;
    let wanted: Vec<(&str, bool)> = match listed {
        None => remote.keys().map(|path| (path.as_str(), false)).collect(),
        Some(entries) => {
            // Every listed file must be in the resource (and no listed folder be a file
            // there), before anything is downloaded.
            for entry in entries {
                if entry.is_dir && remote.contains_key(&entry.path) {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        format!(
                            "{}: the listing's folder is a file in the resource {} (GET {listing_url})",
                            entry.path, access.resource
                        ),
                    ));
                }
                if !entry.is_dir && !remote.contains_key(&entry.path) {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        format!(
                            "{}: the listing's file is not in the resource {} (GET {listing_url})",
                            entry.path, access.resource
                        ),
                    ));
                }
            }
            entries
                .iter()
                .map(|e| (e.path.as_str(), e.is_dir))
                .collect()
        }
    };
    for (path, is_dir) in wanted {
        if is_dir {
            target.create_folder(path)?;
            continue;
        }
        let mut segments = files.clone();
        segments.extend(path.split('/'));
        // The MD5 XNAT lists for the file is checked by the host as the bytes stream.
        let listed = &remote[path];
        let expected = listed.md5.as_ref().map(|md5| format!("md5${md5}"));
        let url = session.access.url(&segments, &[]);
        let response = session.send_with_digest("GET", url, &Body::Empty, expected)?;
        check_status(&response, "GET")?;
        let file = target.create_file(path)?;
        let got = response.copy_to_sink(&file)?;
        if let Some(size) = listed.size.filter(|size| *size != got) {
            warn(&format!(
                "{path}: received {got} bytes, XNAT's listing says {size} (its catalog may be out of date)"
            ));
        }
    }
    Ok(())
}

/// The upload sequence of shared/CONNECTORS.md: find or create the container, check the
/// resource and file, then PUT the file.
fn upload(session: &mut Session, access: &XnatAccess, source: &Source) -> Result<(), Error> {
    let (kind, container) = access
        .container
        .as_ref()
        .ok_or_else(|| Error::new(ErrorKind::InvalidAccess, "/container: required"))?;
    // 1. Does the container exist (by ID or label)?
    let mut list = access.experiment_path();
    list.push(kind);
    let rows = session.listing(&list)?;
    let existing = rows
        .iter()
        .find(|row| field(row, "ID") == Some(container) || field(row, "label") == Some(container));
    let container_path = access.owner_path();
    match (existing, &access.xsi_type) {
        // 2. Create it, with the xsiType when given.
        (None, xsi) => {
            let query: Vec<(&str, &str)> = xsi.iter().map(|x| ("xsiType", x.as_str())).collect();
            let response = session.request("PUT", &container_path, &query, &Body::Empty)?;
            check_status(&response, "PUT")?;
        }
        (Some(row), Some(xsi)) if field(row, "xsiType").is_some_and(|have| have != xsi) => {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "{kind}/{container} exists with xsiType {}, not {xsi}; nothing was changed",
                    field(row, "xsiType").unwrap_or_default()
                ),
            ));
        }
        (Some(_), _) => {}
    }
    // 3. The resource, and the file in it.
    let mut resources = container_path.clone();
    resources.push("resources");
    let rows = session.listing(&resources)?;
    let resource = &access.resource;
    let resource_exists = rows.iter().any(|row| {
        field(row, "label") == Some(resource)
            || field(row, "xnat_abstractresource_id") == Some(resource)
    });
    let mut file_path = resources.clone();
    file_path.extend([resource.as_str(), "files"]);
    if resource_exists {
        let rows = session.listing(&file_path)?;
        if rows
            .iter()
            .any(|row| field(row, "Name") == Some(&access.file))
        {
            if !access.overwrite {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!(
                        "{} already exists; set \"overwriteExistingFile\": true to replace it",
                        access.url(&[&file_path[..], &[access.file.as_str()]].concat(), &[])
                    ),
                ));
            }
            file_path.push(&access.file);
            let response = session.request("DELETE", &file_path, &[], &Body::Empty)?;
            check_status(&response, "DELETE")?;
            file_path.pop();
        }
    }
    // 4. The file itself.
    file_path.push(&access.file);
    let response = session.request(
        "PUT",
        &file_path,
        &[("inbody", "true")],
        &Body::FromSource(source),
    )?;
    if let Some(error) = redirect_error(&response, "PUT") {
        return Err(error);
    }
    check_status(&response, "PUT")
}

/// A string field of a listing row.
fn field<'a>(row: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    row.get(name).and_then(serde_json::Value::as_str)
}

/// An XNAT session: Basic credentials until XNAT hands out a `JSESSIONID`, the cookie after.
struct Session<'a> {
    access: &'a XnatAccess,
    cookie: Option<String>,
}

impl<'a> Session<'a> {
    fn new(access: &'a XnatAccess) -> Self {
        Session {
            access,
            cookie: None,
        }
    }

    fn request(
        &mut self,
        method: &str,
        segments: &[&str],
        query: &[(&str, &str)],
        body: &Body,
    ) -> Result<Response, Error> {
        let url = self.access.url(segments, query);
        self.send(method, url, body)
    }

    fn send(&mut self, method: &str, url: String, body: &Body) -> Result<Response, Error> {
        self.send_with_digest(method, url, body, None)
    }

    /// `send`, with the digest the body must have (`ALGORITHM$HEX`), checked by the host.
    fn send_with_digest(
        &mut self,
        method: &str,
        url: String,
        body: &Body,
        expected: Option<String>,
    ) -> Result<Response, Error> {
        let (auth, headers) = match &self.cookie {
            Some(cookie) => (
                None,
                vec![("Cookie".into(), format!("JSESSIONID={cookie}"))],
            ),
            None => (
                Some(Credentials {
                    username: self.access.username.clone(),
                    password: self.access.password.clone(),
                    scheme: AuthScheme::Basic,
                }),
                Vec::new(),
            ),
        };
        let request = Request {
            method: method.into(),
            url,
            headers,
            auth,
            verify_tls: self.access.verify_tls,
            follow_redirects: true,
        };
        let options = http::SendOptions {
            retry: true,
            expected_digest: expected,
        };
        let response = http::send_with(&request, body, &options)?;
        if let Some(id) = response.headers().iter().find_map(|(name, value)| {
            (name == "set-cookie")
                .then(|| value.split(';').next()?.trim().strip_prefix("JSESSIONID="))
                .flatten()
                .map(str::to_owned)
        }) {
            self.cookie = Some(id);
        }
        Ok(response)
    }

    /// `GET segments?format=json`: the rows of XNAT's `ResultSet.Result`. A listing larger
    /// than [`MAX_LISTING`] is a `remote` error.
    fn listing(&mut self, segments: &[&str]) -> Result<Vec<serde_json::Value>, Error> {
        let response = self.request("GET", segments, &[("format", "json")], &Body::Empty)?;
        check_status(&response, "GET")?;
        let url = response.url();
        let mut text = Vec::new();
        response_reader(&response, None)
            .take(MAX_LISTING + 1)
            .read_to_end(&mut text)
            .map_err(|e| from_io(e, ErrorKind::Network))?;
        let bad = |why: String| Error::new(ErrorKind::Remote, format!("GET {url}: {why}"));
        if text.len() as u64 > MAX_LISTING {
            return Err(bad(format!(
                "the listing is larger than {} MiB",
                MAX_LISTING >> 20
            )));
        }
        let doc: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| bad(format!("not a JSON listing: {e}")))?;
        match doc.pointer("/ResultSet/Result") {
            Some(serde_json::Value::Array(rows)) => Ok(rows.clone()),
            _ => Err(bad("no ResultSet.Result in the listing".into())),
        }
    }

    /// `DELETE {base}/data/JSESSION`, if a session was opened. A failure is a warning: it never
    /// hides the transfer's own result.
    fn logout(&mut self) {
        if self.cookie.is_none() {
            return;
        }
        let url = self.access.url(&["data", "JSESSION"], &[]);
        match self.send("DELETE", url.clone(), &Body::Empty) {
            Ok(response) if response.status() < 300 => {}
            Ok(response) => warn(&format!(
                "logging out of XNAT: DELETE {url} answered {} {}",
                response.status(),
                response.reason()
            )),
            Err(e) => warn(&format!("logging out of XNAT: {}", e.message)),
        }
        self.cookie = None;
    }
}

export_connector!(Connector, directories);
