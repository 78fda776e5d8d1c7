//! RED's HTTP connectors: `Http`, `HttpJson` and `HttpMockSend` (cc-core's
//! `cc_core.commons.connectors.http`), with the behaviour of `shared/CONNECTORS.md`.
//!
//! The three differ only in what they do with the bytes, so one [`Flavor`] value selects it;
//! each component in `connectors/builtin/` is this crate plus a flavor.

mod access;

use std::io::BufReader;

use red_connector_sdk::access::{Object, Problems};
use red_connector_sdk::http::{self, ArchiveFormat, Body};
use red_connector_sdk::io::{from_io, response_reader, source_reader};
use red_connector_sdk::{
    files_only, listing, ConnectorInfo, DirSink, DirSource, Error, ErrorKind, Sink, Source,
};

pub use red_connector_sdk::web::{check_status, check_url, redirect_error, HttpAccess, Method};

/// Which of RED's three HTTP connectors this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// `Http`: the bytes as they are.
    Plain,
    /// `HttpJson`: the bytes must be a JSON document.
    Json,
    /// `HttpMockSend`: receives as `Http`; a send does nothing.
    MockSend,
    /// `red-connector-http-archive`: receive-dir downloads an archive and unpacks it.
    Archive,
}

impl Flavor {
    pub fn info(self) -> ConnectorInfo {
        let (name, description) = match self {
            Flavor::Plain => ("http", "RED's Http connector: download or upload one file over HTTP(S)."),
            Flavor::Json => (
                "http-json",
                "RED's HttpJson connector: as http, but the file must be a JSON document.",
            ),
            Flavor::MockSend => (
                "http-mock-send",
                "RED's HttpMockSend connector: receives as http; send succeeds without any transfer.",
            ),
            Flavor::Archive => (
                "http-archive",
                "red-connector-http-archive: receive-dir downloads a zip, tar, gztar, bztar or xztar archive and unpacks it (host-side, confined).",
            ),
        };
        let schema = match self {
            Flavor::Archive => access::archive_schema(),
            _ => access::SCHEMA.to_owned(),
        };
        ConnectorInfo {
            name: name.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: description.into(),
            access_schema: schema,
        }
    }

    pub fn validate_receive(self, access: &str) -> Result<(), Error> {
        self.files_only_archive("receive-file")?;
        HttpAccess::parse(access).map(drop)
    }

    pub fn validate_send(self, access: &str) -> Result<(), Error> {
        self.files_only_archive("send-file")?;
        HttpAccess::parse(access).map(drop)
    }

    /// http-archive moves folders only.
    fn files_only_archive(self, mode: &str) -> Result<(), Error> {
        if self == Flavor::Archive {
            return Err(Error::new(
                ErrorKind::Denied,
                format!("http-archive receives folders only (receive-dir): it has no {mode}"),
            ));
        }
        Ok(())
    }

    pub fn receive(self, access: &str, target: Sink) -> Result<(), Error> {
        self.files_only_archive("receive-file")?;
        let access = HttpAccess::parse(access)?;
        let method = access.method.unwrap_or(Method::Get);
        let options = http::SendOptions {
            retry: true,
            expected_digest: access.checksum.clone(),
        };
        let response =
            http::send_with(&access.request(method, Vec::new()), &Body::Empty, &options)?;
        check_status(&response, method.as_str())?;
        match self {
            Flavor::Plain | Flavor::MockSend | Flavor::Archive => {
                response.copy_to_sink(&target)?;
            }
            Flavor::Json => {
                // Validate while the bytes stream into the (temporary) output, so that memory
                // stays bounded; the host only keeps the file if this returns Ok.
                let reader = response_reader(&response, Some(&target));
                let what = format!("the body of {}", response.url());
                check_json(reader, ErrorKind::Remote, &what)?;
            }
        }
        Ok(())
    }

    pub fn send(self, access: &str, source: Source) -> Result<(), Error> {
        self.files_only_archive("send-file")?;
        let access = HttpAccess::parse(access)?;
        let method = access.method.unwrap_or(Method::Post);
        let mut headers = Vec::new();
        match self {
            Flavor::MockSend => return Ok(()),
            Flavor::Plain | Flavor::Archive => {}
            Flavor::Json => {
                check_json(source_reader(&source), ErrorKind::LocalIo, "the local file")?;
                headers.push(("Content-Type".into(), "application/json".into()));
            }
        }
        let request = access.request(method, headers);
        let response = http::send(&request, &Body::FromSource(&source))?;
        if let Some(error) = redirect_error(&response, method.as_str()) {
            return Err(error);
        }
        check_status(&response, method.as_str())
    }
}

impl Flavor {
    pub fn validate_receive_dir(self, access: &str, listing: Option<&str>) -> Result<(), Error> {
        match self {
            Flavor::Plain => {
                HttpAccess::parse(access)?;
                listed(listing).map(drop)
            }
            Flavor::Archive => parse_archive(access).map(drop),
            Flavor::Json | Flavor::MockSend => Err(files_only("receive-dir")),
        }
    }

    /// `Http`: each listed file from the access URL joined with its path (red-connector-http
    /// 1.0's receive-dir); `http-archive`: the archive at the URL, unpacked by the host.
    pub fn receive_dir(
        self,
        access: &str,
        listing: Option<&str>,
        target: DirSink,
    ) -> Result<(), Error> {
        match self {
            Flavor::Plain => {
                let access = HttpAccess::parse(access)?;
                let entries = listed(listing)?;
                let base = url::Url::parse(&access.url)
                    .map_err(|e| Error::new(ErrorKind::InvalidAccess, format!("/url: {e}")))?;
                let method = access.method.unwrap_or(Method::Get);
                // A page of the listing at a time: its folders (empty ones too), then its files
                // in one host call that keeps several requests in flight. The requests of a
                // page are all that is held besides the listing, whatever its length.
                let mut pages = listing::Pages::Listed(entries.into_iter());
                loop {
                    let page = pages.next_page()?;
                    if page.is_empty() {
                        return Ok(());
                    }
                    let files: Vec<http::FetchItem> = listing::make_folders(page, &target)?
                        .into_iter()
                        .map(|path| {
                            let mut request = access.request(method, Vec::new());
                            request.url = join(&base, &path);
                            http::FetchItem { request, path }
                        })
                        .collect();
                    if !files.is_empty() {
                        http::fetch_to_dir(&files, &target)?;
                    }
                }
            }
            Flavor::Archive => {
                let (access, format) = parse_archive(access)?;
                let method = access.method.unwrap_or(Method::Get);
                let options = http::SendOptions {
                    retry: true,
                    expected_digest: access.checksum.clone(),
                };
                let request = access.request(method, Vec::new());
                let response = http::send_with(&request, &Body::Empty, &options)?;
                check_status(&response, method.as_str())?;
                response.unpack_to_dir(format, &target)?;
                Ok(())
            }
            Flavor::Json | Flavor::MockSend => Err(files_only("receive-dir")),
        }
    }

    pub fn validate_send_dir(self, _access: &str, _listing: Option<&str>) -> Result<(), Error> {
        Err(files_only("send-dir"))
    }

    pub fn send_dir(
        self,
        _access: &str,
        _listing: Option<&str>,
        _source: DirSource,
    ) -> Result<(), Error> {
        Err(files_only("send-dir"))
    }
}

/// The entries of the listing that HTTP's receive-dir requires.
fn listed(listing: Option<&str>) -> Result<Vec<listing::ListedEntry>, Error> {
    let listing = listing.ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidAccess,
            "listing: required: HTTP's receive-dir downloads the files a RED listing names, each from the url joined with its path",
        )
    })?;
    listing::entries(listing)
}

/// `base` with the `/`-separated `path` appended to its path, each segment percent-encoded
/// (the query, if any, stays after the path).
fn join(base: &url::Url, path: &str) -> String {
    let mut url = base.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().extend(path.split('/'));
    }
    url.into()
}

/// http-archive's access: the HTTP fields and `archiveFormat`.
fn parse_archive(access: &str) -> Result<(HttpAccess, ArchiveFormat), Error> {
    let doc = red_connector_sdk::access::parse(access)?;
    let mut problems = Problems::default();
    let Some(root) = Object::root(&doc, &mut problems) else {
        return Err(problems.into_result().unwrap_err());
    };
    let parsed = HttpAccess::parse_object(&root, &["archiveFormat"], &mut problems);
    let format = match root.required_str("archiveFormat", &mut problems) {
        Some("zip") => Some(ArchiveFormat::Zip),
        Some("tar") => Some(ArchiveFormat::Tar),
        Some("gztar") => Some(ArchiveFormat::Gztar),
        Some("bztar") => Some(ArchiveFormat::Bztar),
        Some("xztar") => Some(ArchiveFormat::Xztar),
        Some(other) => {
            problems.add(
                &root.path_of("archiveFormat"),
                format!("{other:?} is not one of zip, tar, gztar, bztar, xztar"),
            );
            None
        }
        None => None,
    };
    problems.into_result()?;
    Ok((parsed, format.unwrap_or(ArchiveFormat::Tar)))
}

/// Reads `reader` to its end and checks that it holds exactly one JSON document, with bounded
/// memory. Not JSON is an error of `kind` naming `what`; a failed read keeps its own error.
fn check_json(reader: impl std::io::Read, kind: ErrorKind, what: &str) -> Result<(), Error> {
    serde_json::from_reader::<_, serde::de::IgnoredAny>(BufReader::new(reader))
        .map(drop)
        .map_err(|error| {
            if error.is_io() {
                from_io(error.into(), kind)
            } else {
                Error::new(
                    kind,
                    format!("{what} is not a valid JSON document: {error}"),
                )
            }
        })
}

#[doc(hidden)]
pub use red_connector_sdk as __sdk;

/// Defines and exports the component of one [`Flavor`]: all that a crate in `builtin/` holds.
/// The crate must depend on `red-connector-sdk` too (the export refers to its bindings).
#[macro_export]
macro_rules! export_flavor {
    ($flavor:expr) => {
        struct Connector;

        impl $crate::__sdk::Guest for Connector {
            fn info() -> $crate::__sdk::ConnectorInfo {
                $flavor.info()
            }
            fn validate_receive(access: String) -> Result<(), $crate::__sdk::Error> {
                $flavor.validate_receive(&access)
            }
            fn validate_send(access: String) -> Result<(), $crate::__sdk::Error> {
                $flavor.validate_send(&access)
            }
            fn receive(
                access: String,
                target: $crate::__sdk::Sink,
            ) -> Result<(), $crate::__sdk::Error> {
                $flavor.receive(&access, target)
            }
            fn send(
                access: String,
                source: $crate::__sdk::Source,
            ) -> Result<(), $crate::__sdk::Error> {
                $flavor.send(&access, source)
            }
        }

        impl $crate::__sdk::DirectoryGuest for Connector {
            fn validate_receive_dir(
                access: String,
                listing: Option<String>,
            ) -> Result<(), $crate::__sdk::Error> {
                $flavor.validate_receive_dir(&access, listing.as_deref())
            }
            fn validate_send_dir(
                access: String,
                listing: Option<String>,
            ) -> Result<(), $crate::__sdk::Error> {
                $flavor.validate_send_dir(&access, listing.as_deref())
            }
            fn receive_dir(
                access: String,
                listing: Option<String>,
                target: $crate::__sdk::DirSink,
            ) -> Result<(), $crate::__sdk::Error> {
                $flavor.receive_dir(&access, listing.as_deref(), target)
            }
            fn send_dir(
                access: String,
                listing: Option<String>,
                source: $crate::__sdk::DirSource,
            ) -> Result<(), $crate::__sdk::Error> {
                $flavor.send_dir(&access, listing.as_deref(), source)
            }
        }

        $crate::__sdk::export_connector!(Connector, directories);
    };
}
