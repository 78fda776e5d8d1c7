//! `session.walk`: a remote folder's tree a page at a time, read over the session's own
//! connection with one open folder handle per level, so that neither side holds the tree.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ssh2::ErrorCode;

use super::super::dir::MAX_DEPTH;
use super::super::ssh_fault::hang_up;
use super::{check_stop, sftp_error, sftp_error_on, Connection, Dial, Listed};
use crate::bindings::red::connector::local::DirEntry;
use crate::observer::LogLevel;
use crate::{Error, ErrorKind};

/// libssh2's "no more entries" from a folder handle.
const LIBSSH2_ERROR_FILE: i32 = -16;

/// A remote folder's tree, an entry at a time: depth first, each folder before its entries,
/// in the order the server lists them. Entries are as the server's readdir gives them
/// (OpenSSH: not following links); a link is looked at through `stat` and kept only when it
/// leads to a file; a link to a folder (which could loop) and other special files are left
/// out with a warning; a name that is not UTF-8 fails the walk.
///
/// When the session drops, the walk goes on over the session's new connection (the one a
/// batch moved to, or one it dials), opening each folder on its way down again and reading
/// past the entries it had read. That relies on the server listing an unchanged folder in the
/// same order again, as OpenSSH does (it passes on the file system's order); a folder whose
/// first entries are no longer the ones read (a hash of their names in order tells) fails the
/// walk rather than skip or repeat entries.
pub struct RemoteWalk {
    conn: Arc<Mutex<Connection>>,
    dial: Arc<Dial>,
    /// Where each regular file's attributes (a link's: its target's) go, by remote path.
    listed: Arc<Listed>,
    /// The folder walked, as the guest named it.
    top: String,
    /// The folders being read, outermost first.
    open: Vec<OpenFolder>,
    /// The connection the open folders' handles belong to.
    on: Option<u64>,
    files: u64,
    folders: u64,
}

/// A folder of a walk, being read.
struct OpenFolder {
    remote: PathBuf,
    /// Its path under the top ("" for the top).
    relative: String,
    /// Open on the walk's connection; `None` until it is opened (again).
    handle: Option<ssh2::File>,
    /// The entries read of it so far, `.` and `..` and those left out included.
    read: u64,
    /// Their names, hashed in order: what the folder opened again must list first.
    prefix: u64,
}

/// `prefix` with `name` after it.
fn chained(prefix: u64, name: &std::path::Path) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::hash::DefaultHasher::new();
    (prefix, name).hash(&mut hasher);
    hasher.finish()
}

impl RemoteWalk {
    /// A walk of the folder `top`: `not-found` when it is missing or a file.
    pub(super) fn start(
        conn: Arc<Mutex<Connection>>,
        dial: Arc<Dial>,
        listed: Arc<Listed>,
        top: String,
    ) -> Result<Self, Error> {
        {
            let conn = conn.lock().unwrap();
            match conn.sftp.stat(std::path::Path::new(&top)) {
                Ok(stat) if stat.is_dir() => {}
                Ok(_) => {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        format!("list {}:{top}: a file, not a folder", dial.endpoint),
                    ))
                }
                Err(e) => return Err(sftp_error(&dial.endpoint, "list", &top, &e)),
            }
        }
        let open = vec![OpenFolder {
            remote: PathBuf::from(&top),
            relative: String::new(),
            handle: None,
            read: 0,
            prefix: 0,
        }];
        Ok(RemoteWalk {
            conn,
            dial,
            listed,
            top,
            open,
            on: None,
            files: 0,
            folders: 0,
        })
    }

    /// Up to `max` more entries; none at the end. With `forget`, the attributes kept of the
    /// files of earlier pages are dropped first (a batch has taken them).
    pub fn page(&mut self, max: usize, forget: bool) -> Result<Vec<DirEntry>, Error> {
        if forget {
            self.listed.lock().unwrap().clear();
        }
        let mut page = Vec::new();
        let mut tries = 0;
        let conn = self.conn.clone();
        let mut conn = conn.lock().unwrap();
        while page.len() < max && !self.open.is_empty() {
            check_stop(&self.dial.stop)?;
            match self.step(&conn) {
                Ok(Some(entry)) => {
                    tries = 0;
                    page.push(entry);
                }
                Ok(None) => {}
                Err(e) if e.kind == ErrorKind::Network && tries < self.dial.retries => {
                    tries += 1;
                    self.dial.observer.log(
                        LogLevel::Info,
                        &format!("{}; the listing goes on over a new session", e.message),
                    );
                    // `step` failed on this connection (it moves the walk to the current one
                    // first): given up, and hung up first, so that closing the folder handles
                    // on it (`step` does, on the new one) does not wait for a server that went
                    // silent.
                    hang_up(&conn.session);
                    *conn = self.dial.redial()?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(page)
    }

    /// The next entry of the innermost open folder (`None` for one skipped, or at a folder's
    /// end), opening the folder on `conn` if need be.
    fn step(&mut self, conn: &Connection) -> Result<Option<DirEntry>, Error> {
        if self.on != Some(conn.id) {
            // The session is on another connection (a batch moved it, or the walk dialed
            // anew): the handles are of the old one, hung up by now.
            for folder in &mut self.open {
                folder.handle = None;
            }
            self.on = Some(conn.id);
        }
        let endpoint = &self.dial.endpoint;
        let depth = self.open.len();
        let Some(folder) = self.open.last_mut() else {
            return Ok(None);
        };
        // The folder's path shown only for an error: not an allocation per entry.
        let remote = &folder.remote;
        let listing = |e: &ssh2::Error| {
            let shown = remote.display().to_string();
            sftp_error_on(conn, (endpoint, "list", &shown), e)
        };
        let handle = match &mut folder.handle {
            Some(handle) => handle,
            empty => {
                let mut handle = conn.sftp.opendir(remote).map_err(|e| listing(&e))?;
                // Past the entries given already, which must be the same, in the same order:
                // a folder that changed meanwhile cannot be gone on with where it was.
                let mut prefix = 0;
                for _ in 0..folder.read {
                    match handle.readdir() {
                        Ok((name, _)) => prefix = chained(prefix, &name),
                        Err(e) if is_end(&e) => break,
                        Err(e) => return Err(listing(&e)),
                    }
                }
                if prefix != folder.prefix {
                    // Not `network`: dialing again would not help.
                    return Err(Error::new(
                        ErrorKind::Remote,
                        format!("list {endpoint}:{}: the session dropped while the folder was listed, and the folder changed before it could be listed again; the listing cannot go on where it stopped", remote.display()),
                    ));
                }
                empty.insert(handle)
            }
        };
        let (name, stat) = match handle.readdir() {
            Ok(entry) => entry,
            Err(e) if is_end(&e) => {
                self.open.pop();
                return Ok(None);
            }
            Err(e) => return Err(listing(&e)),
        };
        folder.read += 1;
        folder.prefix = chained(folder.prefix, &name);
        let path = folder.remote.join(&name);
        let child = match name.to_str() {
            Some("." | "..") => return Ok(None),
            Some(name) if folder.relative.is_empty() => Some(name.to_owned()),
            Some(name) => Some(format!("{}/{name}", folder.relative)),
            None => None,
        };
        let Some(child) = child else {
            // Not left out with a warning: a receive-dir that ends well must hold every file.
            return Err(Error::new(
                ErrorKind::Remote,
                format!(
                    "list {}:{}: a name that is not UTF-8, which a folder transfer cannot name",
                    self.dial.endpoint,
                    path.display()
                ),
            ));
        };
        let kind = stat.file_type();
        let file = if kind.is_file() {
            Some(stat)
        } else if kind.is_symlink() {
            match conn.sftp.stat(&path) {
                Ok(target) if target.is_file() => Some(target),
                Ok(target) if target.is_dir() => {
                    self.left_out(&path, "a link to a folder");
                    return Ok(None);
                }
                _ => {
                    self.left_out(&path, "a link to nothing or to a special file");
                    return Ok(None);
                }
            }
        } else if kind.is_dir() {
            None
        } else {
            self.left_out(&path, "not a regular file or folder");
            return Ok(None);
        };
        if let Some(stat) = file {
            self.files += 1;
            self.check_limit()?;
            let size = stat.size.unwrap_or(0);
            self.listed.lock().unwrap().insert(path, stat);
            return Ok(Some(DirEntry {
                path: child,
                is_dir: false,
                size,
            }));
        }
        self.folders += 1;
        self.check_limit()?;
        if depth >= MAX_DEPTH {
            return Err(Error::new(
                ErrorKind::Remote,
                format!(
                    "list {}:{}: folders nested more than {MAX_DEPTH} deep",
                    self.dial.endpoint,
                    path.display()
                ),
            ));
        }
        self.open.push(OpenFolder {
            remote: path,
            relative: child.clone(),
            handle: None,
            read: 0,
            prefix: 0,
        });
        Ok(Some(DirEntry {
            path: child,
            is_dir: true,
            size: 0,
        }))
    }

    /// A tree with more files and folders than the file limit fails as the limit (before
    /// any of them is made: each would count when it is).
    fn check_limit(&self) -> Result<(), Error> {
        let max = self.dial.meter.limits().max_files;
        if self.files + self.folders > max {
            return Err(self.dial.meter.reach(format!(
                "the remote folder {}:{} has more than {max} files and folders, the transfer's limit (--max-files)",
                self.dial.endpoint, self.top
            )));
        }
        Ok(())
    }

    fn left_out(&self, path: &std::path::Path, why: &str) {
        self.dial.observer.log(
            LogLevel::Warn,
            &format!("left out {}:{}: {why}", self.dial.endpoint, path.display()),
        );
    }
}

/// Whether a folder handle said it has no more entries.
fn is_end(error: &ssh2::Error) -> bool {
    error.code() == ErrorCode::Session(LIBSSH2_ERROR_FILE)
}
