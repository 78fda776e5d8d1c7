//! RED listings as a connector needs them: the paths of the entries, folders before their
//! contents. The host has checked the listing's shape before the connector runs, and checks
//! the folder against it afterwards (classes, checksums, sizes).

use serde_json::Value;

use crate::{Error, ErrorKind};

/// One entry of a listing, by its path in the folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedEntry {
    /// `/`-separated, relative to the folder.
    pub path: String,
    /// A `Directory` (else a `File`).
    pub is_dir: bool,
}

/// The entries of the RED listing `json` (a JSON array), depth first, each folder before its
/// entries. A listing that is not of RED's shape is `invalid-access`.
pub fn entries(json: &str) -> Result<Vec<ListedEntry>, Error> {
    let value: Value = serde_json::from_str(json)
        .map_err(|e| Error::new(ErrorKind::InvalidAccess, format!("listing: not JSON: {e}")))?;
    let mut out = Vec::new();
    walk(&value, "", "listing", &mut out)?;
    Ok(out)
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
            .filter(|n| !n.is_empty() && *n != "." && *n != ".." && !n.contains('/'))
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
