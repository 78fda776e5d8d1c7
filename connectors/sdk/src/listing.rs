//! RED listings as a connector needs them: the paths of the entries, folders before their
//! contents. The host has checked the listing's shape before the connector runs, and checks
//! the folder against it afterwards (classes, checksums, sizes).
//!
//! And a folder's entries a page at a time ([`Pages`]), a listing's or a walk's: a connector
//! that hands the host one page per batch holds the same memory whatever the number of
//! files.

use serde_json::Value;

use crate::{DirEntry, DirSink, Error, ErrorKind, TreeWalk};

/// Entries per page: what a connector asks a walk for and hands the host per batch
/// (`download-files`, `upload-files`, `fetch-to-dir`).
pub const PAGE: usize = 1000;

/// A folder's entries, a page at a time: a RED listing's (held whole: it is the input), or a
/// walk's, which the host reads as it goes.
pub enum Pages {
    /// The entries of a listing ([`entries`]).
    Listed(std::vec::IntoIter<ListedEntry>),
    /// A walk of a local or remote tree (`dir-source.walk`, `sftp` `session.walk`).
    Walk(TreeWalk),
}

impl Pages {
    /// The next page, of up to [`PAGE`] entries; empty at the end.
    pub fn next_page(&mut self) -> Result<Vec<DirEntry>, Error> {
        match self {
            Pages::Listed(entries) => Ok(entries.by_ref().take(PAGE).map(DirEntry::from).collect()),
            Pages::Walk(walk) => walk.next(PAGE as u32),
        }
    }
}

/// Makes the folders of `page` in `target` (empty ones too; each comes before its entries)
/// and returns the paths of its files, for the page's batch.
pub fn make_folders(page: Vec<DirEntry>, target: &DirSink) -> Result<Vec<String>, Error> {
    let mut files = Vec::new();
    for entry in page {
        if entry.is_dir {
            target.create_folder(&entry.path)?;
        } else {
            files.push(entry.path);
        }
    }
    Ok(files)
}

/// One entry of a listing, by its path in the folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedEntry {
    /// `/`-separated, relative to the folder.
    pub path: String,
    /// A `Directory` (else a `File`).
    pub is_dir: bool,
}

impl From<ListedEntry> for DirEntry {
    fn from(entry: ListedEntry) -> Self {
        DirEntry {
            path: entry.path,
            is_dir: entry.is_dir,
            size: 0,
        }
    }
}

/// The entries of the RED listing `json` (a JSON array), depth first, each folder before its
/// entries. A listing that is not of RED's shape is `invalid-access`.
///
/// Read into the few fields a connector needs, not into a JSON tree: a listing of many files
/// costs about the size of its paths (a `serde_json::Value` of it took some 1 KiB a file).
/// One that does not fit those fields is read again as JSON, for an error naming the place.
pub fn entries(json: &str) -> Result<Vec<ListedEntry>, Error> {
    let mut out = Vec::new();
    let typed = serde_json::from_str::<Vec<Raw>>(json).map(|raw| flatten(raw, "", &mut out));
    if let Ok(true) = typed {
        return Ok(out);
    }
    let value: Value = serde_json::from_str(json)
        .map_err(|e| Error::new(ErrorKind::InvalidAccess, format!("listing: not JSON: {e}")))?;
    out.clear();
    walk(&value, "", "listing", &mut out)?;
    // The JSON walk accepts what the typed read refused: say what that was.
    match typed {
        Err(e) => Err(Error::new(
            ErrorKind::InvalidAccess,
            format!("listing: {e}"),
        )),
        Ok(_) => Ok(out),
    }
}

/// An entry of a listing as a connector reads it; other fields are skipped unread.
#[derive(serde::Deserialize)]
struct Raw {
    class: Option<Class>,
    basename: Option<String>,
    listing: Option<Vec<Raw>>,
}

#[derive(serde::Deserialize)]
enum Class {
    File,
    Directory,
}

/// Appends `entries` under `prefix` to `out`; `false` when one is not of RED's shape (the
/// JSON walk then says which).
fn flatten(entries: Vec<Raw>, prefix: &str, out: &mut Vec<ListedEntry>) -> bool {
    for entry in entries {
        let Some(name) = entry.basename.filter(|n| is_plain(n)) else {
            return false;
        };
        let path = format!("{prefix}{name}");
        match entry.class {
            Some(Class::File) => out.push(ListedEntry {
                path,
                is_dir: false,
            }),
            Some(Class::Directory) => {
                out.push(ListedEntry {
                    path: path.clone(),
                    is_dir: true,
                });
                if let Some(children) = entry.listing {
                    if !flatten(children, &format!("{path}/"), out) {
                        return false;
                    }
                }
            }
            None => return false,
        }
    }
    true
}

/// A plain file name: not empty, `.` or `..`, no `/`.
fn is_plain(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/')
}

fn walk(value: &Value, prefix: &str, at: &str, out: &mut Vec<ListedEntry>) -> Result<(), Error> {
    let bad = |what: String| Error::new(ErrorKind::InvalidAccess, what);
    let items = value
        .as_array()
        .ok_or_else(|| bad(format!("{at}: must be an array")))?;
    for (i, item) in items.iter().enumerate() {
        let at = format!("{at}/{i}");
        let name = item
            .get("basename")
            .and_then(Value::as_str)
            .filter(|n| is_plain(n))
            .ok_or_else(|| bad(format!("{at}/basename: required, a plain file name")))?;
        let path = format!("{prefix}{name}");
        match item.get("class").and_then(Value::as_str) {
            Some("File") => out.push(ListedEntry {
                path,
                is_dir: false,
            }),
            Some("Directory") => {
                out.push(ListedEntry {
                    path: path.clone(),
                    is_dir: true,
                });
                if let Some(children) = item.get("listing") {
                    walk(children, &format!("{path}/"), &format!("{at}/listing"), out)?;
                }
            }
            _ => {
                return Err(bad(format!(
                    "{at}/class: must be \"File\" or \"Directory\""
                )))
            }
        }
    }
    Ok(())
}
