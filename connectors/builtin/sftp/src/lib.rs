//! The built-in `sftp` connector: RED's `Sftp` (`red_connectors_ssh.sftp`, red-connector-ssh):
//! one file, or a folder (receive-dir, send-dir), over SFTP. The host does the SSH and moves
//! the bytes; this decides what to ask for.
//!
//! Folders as red-connector-ssh 1.3 moves them, from and to `dirPath`: with a RED listing,
//! exactly the listed entries (listed folders are made even when empty); without one, the
//! whole tree. A receive-dir puts the tree directly into the local folder (the original
//! nested it one level too deep when the folder existed). The files of a folder go in host
//! batches (`download-files`, `upload-files`) of up to a thousand, over several sessions in
//! parallel; a tree without a listing is walked a page at a time (`walk`), so that no side
//! holds all of it.

mod access;

use red_connector_sdk::bindings::red::connector::sftp::{FilePair, Session};
use red_connector_sdk::listing::{self, ListedEntry, Pages};
use red_connector_sdk::{
    export_connector, ConnectorInfo, DirSink, DirSource, DirectoryGuest, Error, Guest, Sink, Source,
};

use access::SftpAccess;

struct Connector;

impl Guest for Connector {
    fn info() -> ConnectorInfo {
        ConnectorInfo {
            name: "sftp".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "RED's Sftp connector: download or upload one file (filePath), or a folder (dirPath: receive-dir, send-dir), over SSH SFTP.".into(),
            access_schema: access::SCHEMA.into(),
        }
    }

    fn validate_receive(access: String) -> Result<(), Error> {
        SftpAccess::parse(&access).map(drop)
    }

    fn validate_send(access: String) -> Result<(), Error> {
        SftpAccess::parse(&access).map(drop)
    }

    fn receive(access: String, target: Sink) -> Result<(), Error> {
        let access = SftpAccess::parse(&access)?;
        let session = Session::connect(&access.connect_config())?;
        session.download(&access.path, &target)?;
        Ok(())
    }

    fn send(access: String, source: Source) -> Result<(), Error> {
        let access = SftpAccess::parse(&access)?;
        let session = Session::connect(&access.connect_config())?;
        session.upload(&access.path, &source, true)?;
        Ok(())
    }
}

impl DirectoryGuest for Connector {
    fn validate_receive_dir(access: String, listing: Option<String>) -> Result<(), Error> {
        SftpAccess::parse_dir(&access)?;
        listed(listing.as_deref()).map(drop)
    }

    fn validate_send_dir(access: String, listing: Option<String>) -> Result<(), Error> {
        SftpAccess::parse_dir(&access)?;
        listed(listing.as_deref()).map(drop)
    }

    /// With a listing, its folders and exactly its files from `dirPath/PATH`; without, the
    /// remote tree under `dirPath` (a missing `dirPath` is `not-found`).
    fn receive_dir(access: String, listing: Option<String>, target: DirSink) -> Result<(), Error> {
        let access = SftpAccess::parse_dir(&access)?;
        let listed = listed(listing.as_deref())?;
        let session = Session::connect(&access.connect_config())?;
        let mut pages = match listed {
            Some(entries) => Pages::Listed(entries.into_iter()),
            None => Pages::Walk(session.walk(&access.path)?),
        };
        loop {
            let page = pages.next_page()?;
            if page.is_empty() {
                return Ok(());
            }
            let files: Vec<FilePair> = listing::make_folders(page, &target)?
                .into_iter()
                .map(|path| FilePair {
                    remote: access.under(&path),
                    local: path,
                })
                .collect();
            if !files.is_empty() {
                session.download_files(&files, &target)?;
            }
        }
    }

    /// With a listing, exactly its entries; without, the whole local folder: `dirPath` and
    /// every folder made (`mkdir -p`, empty ones too), then the files uploaded. (The host
    /// has refused a folder with a link in it before this runs.)
    fn send_dir(access: String, listing: Option<String>, source: DirSource) -> Result<(), Error> {
        let access = SftpAccess::parse_dir(&access)?;
        let mut pages = match listed(listing.as_deref())? {
            Some(entries) => Pages::Listed(entries.into_iter()),
            None => Pages::Walk(source.walk()?),
        };
        let session = Session::connect(&access.connect_config())?;
        session.make_dirs(&access.path)?;
        loop {
            let page = pages.next_page()?;
            if page.is_empty() {
                return Ok(());
            }
            // Only the page's deepest folders: `mkdir -p` makes their parents.
            let parents: std::collections::HashSet<&str> = page
                .iter()
                .filter(|e| e.is_dir)
                .filter_map(|e| e.path.rsplit_once('/').map(|(parent, _)| parent))
                .collect();
            for entry in page.iter().filter(|e| e.is_dir) {
                if !parents.contains(entry.path.as_str()) {
                    session.make_dirs(&access.under(&entry.path))?;
                }
            }
            let files: Vec<FilePair> = page
                .iter()
                .filter(|e| !e.is_dir)
                .map(|e| FilePair {
                    remote: access.under(&e.path),
                    local: e.path.clone(),
                })
                .collect();
            if !files.is_empty() {
                session.upload_files(&files, &source)?;
            }
        }
    }
}

/// The listing's entries, or `None` without a listing.
fn listed(listing: Option<&str>) -> Result<Option<Vec<ListedEntry>>, Error> {
    listing.map(listing::entries).transpose()
}

export_connector!(Connector, directories);
