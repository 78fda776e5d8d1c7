//! RED listings: the entries a RED file says a Directory input or output holds.
//!
//! A listing is a JSON array of `{"class": "File"|"Directory", "basename": NAME}` objects; a
//! Directory may have a nested `listing`, a File a `checksum` (`sha1$<hex>`) and a `size`.
//! [`Listing::parse`] checks its shape (an error names the JSON path at fault), and
//! [`Listing::check`] checks a local folder against it: every entry is there with its class,
//! and a given checksum and size match. Entries the listing does not name are not an error
//! (as in RED's agent).

use std::io::Read as _;
use std::path::Path;

use serde_json::Value;
use sha1::Digest as _;

use crate::{Error, ErrorKind};

/// A checked RED listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    entries: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    basename: String,
    kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    File {
        /// Lower-case hex SHA-1.
        sha1: Option<String>,
        size: Option<u64>,
    },
    Directory(Vec<Entry>),
}

impl Listing {
    /// Parses and checks `json`; an error is `invalid-access` and names the entry at fault
    /// (`listing/2/basename: ...`).
    ///
    /// A listing is read into the fields it has, not into a JSON tree: a listing of many files
    /// costs about the size of its names (a `serde_json::Value` of it took some 0.5 KiB a
    /// file). One that does not fit them is read again as JSON, for errors naming the place.
    pub fn parse(json: &str) -> Result<Self, Error> {
        if let Some(entries) = serde_json::from_str::<Vec<Raw>>(json).ok().and_then(typed) {
            return Ok(Listing { entries });
        }
        let value: Value = serde_json::from_str(json)
            .map_err(|e| Error::new(ErrorKind::InvalidAccess, format!("listing: not JSON: {e}")))?;
        let mut problems = Vec::new();
        let entries = entries(&value, "listing", &mut problems);
        if !problems.is_empty() {
            return Err(Error::new(ErrorKind::InvalidAccess, problems.join("\n")));
        }
        Ok(Listing { entries })
    }

    /// Checks the folder `root` against the listing: `ErrorKind::NotFound` for a missing entry
    /// or one of the wrong class, `mismatch` for a checksum or size that differs.
    ///
    /// Returns the files it names in the folder: how many, and their bytes.
    pub fn check(&self, root: &Path, mismatch: ErrorKind) -> Result<ListedFiles, Error> {
        let mut files = ListedFiles::default();
        check(&self.entries, root, "", mismatch, &mut files)?;
        Ok(files)
    }

    /// The files it names, as relative `/`-separated paths.
    pub fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.entries, "", &mut out);
        out
    }
}

fn walk(entries: &[Entry], prefix: &str, out: &mut Vec<String>) {
    for entry in entries {
        let path = format!("{prefix}{}", entry.basename);
        match &entry.kind {
            Kind::File { .. } => out.push(path),
            Kind::Directory(children) => walk(children, &format!("{path}/"), out),
        }
    }
}

/// An entry as a listing has it; other fields are skipped unread.
#[derive(serde::Deserialize)]
struct Raw {
    class: Option<RawClass>,
    basename: Option<String>,
    listing: Option<Vec<Raw>>,
    checksum: Option<String>,
    size: Option<u64>,
}

#[derive(serde::Deserialize)]
enum RawClass {
    File,
    Directory,
}

/// The entries, or `None` when one breaks a rule (the JSON walk, [`entries`], then says
/// which).
fn typed(raw: Vec<Raw>) -> Option<Vec<Entry>> {
    raw.into_iter()
        .map(|entry| {
            let basename = entry.basename.filter(|name| is_basename(name))?;
            let kind = match entry.class? {
                RawClass::File if entry.listing.is_some() => return None,
                RawClass::File => Kind::File {
                    sha1: match entry.checksum {
                        Some(sum) => Some(sha1_hex(&sum)?),
                        None => None,
                    },
                    size: entry.size,
                },
                RawClass::Directory => Kind::Directory(typed(entry.listing.unwrap_or_default())?),
            };
            Some(Entry { basename, kind })
        })
        .collect()
}

/// The lower-case hex of a `sha1$` and 40 hex digits checksum.
fn sha1_hex(sum: &str) -> Option<String> {
    let hex = sum.strip_prefix("sha1$")?;
    (hex.len() == 40 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

fn entries(value: &Value, at: &str, problems: &mut Vec<String>) -> Vec<Entry> {
    let Some(items) = value.as_array() else {
        problems.push(format!(
            "{at}: must be an array of File and Directory objects"
        ));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{at}/{i}");
        let Some(object) = item.as_object() else {
            problems.push(format!("{at}: must be an object"));
            continue;
        };
        let basename = match object.get("basename").and_then(Value::as_str) {
            Some(name) if is_basename(name) => name.to_owned(),
            Some(name) => {
                problems.push(format!(
                    "{at}/basename: {name:?} is not a plain file name (no `/`, not `.` or `..`)"
                ));
                continue;
            }
            None => {
                problems.push(format!("{at}/basename: required, a string"));
                continue;
            }
        };
        let kind = match object.get("class").and_then(Value::as_str) {
            Some("File") => {
                if object.contains_key("listing") {
                    problems.push(format!("{at}/listing: only a Directory has a listing"));
                }
                let sha1 = match object.get("checksum") {
                    None => None,
                    Some(Value::String(sum)) => match sha1_hex(sum) {
                        Some(hex) => Some(hex),
                        None => {
                            problems.push(format!(
                                "{at}/checksum: {sum:?} is not `sha1$` and 40 hex digits"
                            ));
                            None
                        }
                    },
                    Some(_) => {
                        problems.push(format!("{at}/checksum: must be a string"));
                        None
                    }
                };
                let size = match object.get("size") {
                    None => None,
                    Some(size) => match size.as_u64() {
                        Some(n) => Some(n),
                        None => {
                            problems.push(format!("{at}/size: must be a whole number of bytes"));
                            None
                        }
                    },
                };
                Kind::File { sha1, size }
            }
            Some("Directory") => match object.get("listing") {
                None => Kind::Directory(Vec::new()),
                Some(listing) => {
                    Kind::Directory(entries(listing, &format!("{at}/listing"), problems))
                }
            },
            _ => {
                problems.push(format!("{at}/class: must be \"File\" or \"Directory\""));
                continue;
            }
        };
        out.push(Entry { basename, kind });
    }
    out
}

fn is_basename(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}

/// The files a listing names in a folder it was checked against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListedFiles {
    /// How many files.
    pub count: u64,
    /// Their sizes, added up.
    pub bytes: u64,
}

fn check(
    entries: &[Entry],
    root: &Path,
    prefix: &str,
    mismatch: ErrorKind,
    files: &mut ListedFiles,
) -> Result<(), Error> {
    for entry in entries {
        let shown = format!("{prefix}{}", entry.basename);
        let path = root.join(&entry.basename);
        let meta = std::fs::symlink_metadata(&path).ok();
        match &entry.kind {
            Kind::File { sha1, size } => {
                let Some(meta) = meta.filter(|m| m.is_file()) else {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        format!("the listing names the file {shown}, which is not in the folder"),
                    ));
                };
                if let Some(size) = size.filter(|s| *s != meta.len()) {
                    return Err(Error::new(
                        mismatch,
                        format!("{shown} has {} bytes, the listing says {size}", meta.len()),
                    ));
                }
                if let Some(expected) = sha1 {
                    let actual = sha1_of(&path)?;
                    if &actual != expected {
                        return Err(Error::new(
                            mismatch,
                            format!("{shown} has the checksum sha1${actual}, the listing says sha1${expected}"),
                        ));
                    }
                }
                files.count += 1;
                files.bytes += meta.len();
            }
            Kind::Directory(children) => {
                if !meta.is_some_and(|m| m.is_dir()) {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        format!("the listing names the folder {shown}, which is not in the folder"),
                    ));
                }
                check(children, &path, &format!("{shown}/"), mismatch, files)?;
            }
        }
    }
    Ok(())
}

fn sha1_of(path: &Path) -> Result<String, Error> {
    let what = |e: &std::io::Error| Error::local_io(format!("reading {}", path.display()), e);
    let mut file = std::fs::File::open(path).map_err(|e| what(&e))?;
    let mut hasher = sha1::Sha1::new();
    let mut buffer = vec![0; 256 * 1024];
    loop {
        let n = file.read(&mut buffer).map_err(|e| what(&e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(crate::messages::hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_is_checked_for_shape_with_paths() {
        let error = Listing::parse(
            r#"[{"class": "File", "basename": "../x"}, {"class": "Folder", "basename": "a"},
                {"class": "Directory", "basename": "d", "listing": [{"class": "File", "basename": "f", "checksum": "md5$00", "size": -1}]}]"#,
        )
        .unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidAccess);
        for part in [
            "listing/0/basename",
            "listing/1/class",
            "listing/2/listing/0/checksum",
            "listing/2/listing/0/size",
        ] {
            assert!(error.message.contains(part), "{part}: {}", error.message);
        }
        assert!(Listing::parse("{}").is_err());
        assert!(Listing::parse("[]").unwrap().files().is_empty());
    }

    #[test]
    fn the_typed_read_and_the_json_walk_agree() {
        let json_walk = |json: &str| {
            let mut problems = Vec::new();
            let entries = entries(
                &serde_json::from_str(json).unwrap(),
                "listing",
                &mut problems,
            );
            problems.is_empty().then_some(entries)
        };
        let typed_read = |json: &str| serde_json::from_str::<Vec<Raw>>(json).ok().and_then(typed);
        for json in [
            "[]",
            r#"[{"class": "File", "basename": "a", "size": 3, "checksum": "sha1$A9993E364706816ABA3E25717850C26C9CD0D89D", "location": "x", "extra": {"n": [1]}}]"#,
            r#"[{"class": "Directory", "basename": "d"}, {"class": "Directory", "basename": "e", "listing": [{"class": "Directory", "basename": "f", "listing": []}]}]"#,
        ] {
            assert_eq!(typed_read(json), json_walk(json), "{json}");
            assert!(typed_read(json).is_some(), "{json}");
        }
        for json in [
            r#"[{"class": "File", "basename": "a", "listing": []}]"#,
            r#"[{"class": "File", "basename": "a", "checksum": "md5$00"}]"#,
            r#"[{"class": "File", "basename": "a", "size": -1}]"#,
            r#"[{"class": "File", "basename": "a", "size": 1.5}]"#,
            r#"[{"class": "Folder", "basename": "a"}]"#,
            r#"[{"basename": "a"}]"#,
            r#"[{"class": "File", "basename": ".."}]"#,
            r#"[{"class": "File", "basename": 7}]"#,
            r#"[{"class": "Directory", "basename": "d", "listing": [{"class": "File"}]}]"#,
            r#"["a"]"#,
        ] {
            assert_eq!(typed_read(json), None, "{json}");
            assert_eq!(json_walk(json), None, "{json}");
        }
    }

    #[test]
    fn a_folder_is_checked_against_its_listing() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("d")).unwrap();
        std::fs::write(root.path().join("d/f"), b"abc").unwrap();
        // sha1("abc")
        let good = r#"[{"class": "Directory", "basename": "d", "listing": [
            {"class": "File", "basename": "f", "size": 3, "checksum": "sha1$A9993E364706816ABA3E25717850C26C9CD0D89D"}]}]"#;
        let listing = Listing::parse(good).unwrap();
        assert_eq!(listing.files(), ["d/f"]);
        let listed = listing.check(root.path(), ErrorKind::Remote).unwrap();
        assert_eq!(listed, ListedFiles { count: 1, bytes: 3 });
        let wrong_sum = good.replace("A999", "B999");
        let error = Listing::parse(&wrong_sum)
            .unwrap()
            .check(root.path(), ErrorKind::Remote)
            .unwrap_err();
        assert_eq!(error.kind, ErrorKind::Remote);
        assert!(
            error.message.contains("d/f has the checksum sha1$a9993e"),
            "{}",
            error.message
        );
        let wrong_size = good.replace("\"size\": 3", "\"size\": 4");
        assert!(Listing::parse(&wrong_size)
            .unwrap()
            .check(root.path(), ErrorKind::Remote)
            .is_err());
        let missing = r#"[{"class": "File", "basename": "d"}]"#;
        let error = Listing::parse(missing)
            .unwrap()
            .check(root.path(), ErrorKind::Remote)
            .unwrap_err();
        assert_eq!(error.kind, ErrorKind::NotFound);
    }
}
