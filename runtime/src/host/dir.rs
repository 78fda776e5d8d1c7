//! Directories: the one local folder of a receive-dir or send-dir.
//!
//! Every path a connector (or an archive) names goes through [`confine`], the one place that
//! keeps it inside the folder. A receive-dir builds its tree in a private staging folder
//! beside the target ([`DirOutput`]) and renames it into place only on success; the host
//! creates nothing but regular files and folders there. A send-dir reads a folder
//! ([`DirInput`]) whose tree is listed once, without following links, and only listed files
//! can be opened.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Component, Path, PathBuf};

use wasmtime::component::Resource;

use super::local::{Input, Output, SinkHandle, SourceHandle};
use super::HostState;
use crate::bindings::red::connector::local::{DirEntry, HostDirSink, HostDirSource};
use crate::limits::Meter;
use crate::{Error, ErrorKind};

/// The longest relative path a connector may name (Linux's PATH_MAX).
const MAX_PATH: usize = 4096;
/// The longest name of one file or folder (Linux's NAME_MAX), in bytes.
pub(crate) const MAX_NAME: usize = 255;
/// How deep a tree may go (a local folder's, a remote one's, a path's).
pub(crate) const MAX_DEPTH: usize = 128;

/// The guest's handle to the receive-dir's folder ([`DirOutput`] lives in the transfer).
pub struct DirSinkHandle;

/// The guest's handle to the send-dir's folder ([`DirInput`] lives in the transfer).
pub struct DirSourceHandle;

/// `path` as a relative path inside a folder, or `denied` naming it: `/`-separated, no
/// empty, `.` or `..` segment, not absolute, no NUL, bounded in length and depth.
pub fn confine(path: &str) -> Result<PathBuf, Error> {
    let refuse = |why: &str| {
        Err(Error::new(
            ErrorKind::Denied,
            format!(
                "the path {:?} {why}; paths in a folder are relative and stay inside it",
                path.chars().take(200).collect::<String>()
            ),
        ))
    };
    if path.is_empty() {
        return refuse("is empty");
    }
    if path.len() > MAX_PATH {
        return refuse("is too long");
    }
    if path.contains('\0') {
        return refuse("has a NUL byte");
    }
    if path.starts_with('/') {
        return refuse("is absolute");
    }
    let mut depth = 0;
    for segment in path.split('/') {
        match segment {
            "" => return refuse("has an empty segment"),
            "." | ".." => return refuse("has a `.` or `..` segment"),
            name if name.len() > MAX_NAME => return refuse("has a name that is too long"),
            _ => depth += 1,
        }
    }
    if depth > MAX_DEPTH {
        return refuse("is too deep");
    }
    Ok(PathBuf::from(path))
}

/// A path as the guest sees it: relative, `/`-separated.
fn guest_path(relative: &Path) -> String {
    relative
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_string_lossy()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The folder a receive-dir builds: a private staging folder beside the target, renamed
/// onto it by [`DirOutput::commit`]; dropped, it is removed with everything in it.
pub struct DirOutput {
    staging: tempfile::TempDir,
    folder: Folder,
    /// The permissions of the empty folder the tree replaces, if there was one.
    mode: Option<u32>,
}

/// Where a receive-dir's files go: the staging folder, shown to the user under the target's
/// name. Cheap to clone, for host work off the async threads (unpacking).
#[derive(Clone, Debug)]
pub struct Folder {
    root: PathBuf,
    target: PathBuf,
    /// Bytes of the files finished (committed) so far, shared by the folder's clones.
    finished: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl DirOutput {
    /// A staging folder in `target`'s parent folder (which must exist). `target` must not
    /// exist, or be an empty folder (which the commit replaces: RED's agent makes it).
    pub fn beside(target: &Path) -> Result<Self, Error> {
        let what =
            |e: &std::io::Error| Error::local_io(format!("receiving into {}", target.display()), e);
        let mut mode = None;
        match std::fs::symlink_metadata(target) {
            Ok(meta) if meta.is_dir() => {
                // The folder RED's agent made keeps its permissions.
                mode = Some(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777);
                let mut entries = std::fs::read_dir(target).map_err(|e| what(&e))?;
                if entries.next().is_some() {
                    return Err(Error::new(
                        ErrorKind::LocalIo,
                        format!(
                            "receiving into {}: the folder is not empty",
                            target.display()
                        ),
                    ));
                }
            }
            Ok(_) => {
                return Err(Error::new(
                    ErrorKind::LocalIo,
                    format!("receiving into {}: not a folder", target.display()),
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(what(&e)),
        }
        let (parent, prefix) = super::local::staging_place(target, "folder")?;
        // Private (0700) while it is built, so nothing else can plant a link in it.
        let staging = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".part")
            .tempdir_in(parent)
            .map_err(|e| {
                Error::local_io(
                    format!("cannot create a folder in {}", parent.display()),
                    &e,
                )
            })?;
        let folder = Folder {
            root: staging.path().to_path_buf(),
            target: target.to_path_buf(),
            finished: Default::default(),
        };
        Ok(DirOutput {
            staging,
            folder,
            mode,
        })
    }

    /// Where the files go.
    pub fn folder(&self) -> &Folder {
        &self.folder
    }

    /// Renames the staging folder onto the target (replacing an empty folder there), with the
    /// permissions of the folder it replaces, or the usual ones (0777 less the umask), instead
    /// of the staging folder's 0700.
    pub fn commit(self) -> Result<(), Error> {
        let target = &self.folder.target;
        let what = format!("receiving into {}", target.display());
        let path = self.staging.keep();
        let mode = self.mode.unwrap_or_else(|| 0o777 & !current_umask());
        let result =
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode))
                .and_then(|()| std::fs::rename(&path, target));
        result.map_err(|e| {
            let _ = std::fs::remove_dir_all(&path);
            Error::local_io(&what, &e)
        })
    }
}

impl Folder {
    /// The staging folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder the staging becomes.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Makes `relative` (confined) and its missing parents.
    pub fn create_folder(&self, relative: &Path, meter: &Meter) -> Result<(), Error> {
        let mut path = self.root().to_path_buf();
        for component in relative.components() {
            path.push(component);
            match std::fs::create_dir(&path) {
                // Each folder made counts against the file limit, as a file does.
                Ok(()) => meter.files(1)?,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    // Only this folder's own makings exist here: a file is in the way.
                    if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                        return Err(Error::new(
                            ErrorKind::Conflict,
                            format!(
                                "{}: {} is a file, not a folder",
                                self.target.display(),
                                guest_path(path.strip_prefix(self.root()).unwrap_or(&path))
                            ),
                        ));
                    }
                }
                Err(e) => {
                    return Err(Error::local_io(
                        format!("creating {}", self.shown(relative)),
                        &e,
                    ))
                }
            }
        }
        Ok(())
    }

    /// A new, empty file at `relative` (confined), its parents made; counted as one file.
    pub fn create_file(&self, relative: &Path, meter: &Meter) -> Result<Output, Error> {
        meter.files(1)?;
        if let Some(parent) = relative.parent().filter(|p| !p.as_os_str().is_empty()) {
            self.create_folder(parent, meter)?;
        }
        let path = self.root().join(relative);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(0o666)
            .open(&path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::new(
                        ErrorKind::Conflict,
                        format!(
                            "{}: {} exists already",
                            self.target.display(),
                            guest_path(relative)
                        ),
                    )
                } else {
                    Error::local_io(format!("creating {}", self.shown(relative)), &e)
                }
            })?;
        let shown = self.target.join(relative);
        Ok(Output::in_folder(file, shown, self.finished.clone()))
    }

    /// The bytes of the files finished in the folder (counted as each was committed).
    pub fn file_bytes(&self) -> u64 {
        self.finished.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `relative` as the user will see it: under the target's name.
    fn shown(&self, relative: &Path) -> String {
        self.target.join(relative).display().to_string()
    }
}

/// The process's umask (read by setting and restoring it: there is no other way on Linux
/// without /proc).
fn current_umask() -> u32 {
    // SAFETY: umask only swaps the process's mask; it is restored at once.
    unsafe {
        let mask = libc::umask(0o022);
        libc::umask(mask);
        mask as u32
    }
}

/// The folder a send-dir reads: its tree, looked at once up front without following links
/// (counted, not kept), and its files opened beneath the folder's own handle, one name at a
/// time, never following a link (so a folder swapped for a link during the send leads
/// nowhere).
pub struct DirInput {
    root: PathBuf,
    /// The folder, open: what every file is opened beneath.
    handle: std::sync::Arc<File>,
    /// The files to send and their bytes: the whole tree's, or the listing's; and the
    /// tree's folders (none with a listing).
    files: u64,
    bytes: u64,
    folders: u64,
    /// The tree as it was looked at: what every walk of it must find again.
    shape: Shape,
    /// Bytes of the files opened so far, by any [`Opener`] of the folder.
    opened: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl DirInput {
    /// Opens the folder `root` and looks at its whole tree: a link or a special file in it is
    /// an error naming it, before anything is sent.
    pub fn open(root: &Path) -> Result<Self, Error> {
        let what = |e: &std::io::Error| Error::local_io(format!("reading {}", root.display()), e);
        let handle = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(root)
            .map_err(|e| {
                if e.raw_os_error() == Some(libc::ENOTDIR) {
                    Error::new(
                        ErrorKind::LocalIo,
                        format!("reading {}: not a folder", root.display()),
                    )
                } else {
                    what(&e)
                }
            })?;
        let (mut files, mut bytes, mut folders) = (0, 0, 0);
        let mut survey = LocalWalk::new(root)?;
        for entry in survey.by_ref() {
            let entry = entry?;
            if entry.is_dir {
                folders += 1;
            } else {
                files += 1;
                bytes += entry.size;
            }
        }
        Ok(DirInput {
            root: root.to_path_buf(),
            handle: std::sync::Arc::new(handle),
            files,
            bytes,
            folders,
            shape: survey.seen,
            opened: Default::default(),
        })
    }

    /// Sends only a listing's files (as [`Listing::check`](crate::listing::Listing::check)
    /// found them in the folder): what the file count and the progress's total are of.
    pub fn only(&mut self, listed: crate::listing::ListedFiles) {
        self.files = listed.count;
        self.bytes = listed.bytes;
        self.folders = 0;
    }

    /// Every folder and regular file under the folder, in path order (a folder before its
    /// entries); a link or a special file is an error naming it. The whole tree:
    /// [`DirInput::walk`] gives it a page at a time.
    pub fn entries(&self) -> Result<Vec<DirEntry>, Error> {
        let mut entries = self.walk()?.collect::<Result<Vec<_>, Error>>()?;
        entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        Ok(entries)
    }

    /// The tree, an entry at a time, depth first. A tree that is not the one looked at when
    /// the folder was opened (entries added, removed or renamed since) fails the walk at its
    /// end: files that changed under a send-dir are never silently left out.
    pub fn walk(&self) -> Result<LocalWalk, Error> {
        let mut walk = LocalWalk::new(&self.root)?;
        walk.expected = Some(self.shape);
        Ok(walk)
    }

    /// The bytes of the files opened so far (each time it was opened).
    pub fn opened_bytes(&self) -> u64 {
        self.opened.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The number of files and folders to send (what counts against the file limit).
    pub fn entry_count(&self) -> u64 {
        self.files + self.folders
    }

    /// The bytes of the files to send, as they were when the folder was opened.
    pub fn byte_count(&self) -> u64 {
        self.bytes
    }

    /// The file at `path`, opened without following a link.
    pub fn open_file(&self, path: &str) -> Result<(Input, File), Error> {
        let (relative, _) = self.file(path)?;
        let input = self.opener().open(&relative)?;
        let reader = input.reader()?;
        Ok((input, reader))
    }

    /// `path` checked: confined, and a regular file in the folder; with its size. (For
    /// batches that open their files one by one, with [`DirInput::opener`], which refuses a
    /// link swapped in since.)
    pub fn file(&self, path: &str) -> Result<(PathBuf, u64), Error> {
        let relative = confine(path)?;
        let full = self.root.join(&relative);
        match std::fs::symlink_metadata(&full) {
            Ok(meta) if meta.is_file() => Ok((relative, meta.len())),
            Ok(_) => Err(Error::new(
                ErrorKind::LocalIo,
                format!(
                    "{}: not a regular file; send-dir sends regular files and folders only, and never follows a link",
                    full.display()
                ),
            )),
            Err(_) => Err(Error::new(
                ErrorKind::NotFound,
                format!("{}: no file {path} in it", self.root.display()),
            )),
        }
    }

    /// What opens the folder's files, on any thread.
    pub fn opener(&self) -> Opener {
        Opener {
            root: self.root.clone(),
            handle: self.handle.clone(),
            opened: self.opened.clone(),
        }
    }
}

/// A local folder's tree, an entry at a time (the host side of a `tree-walk` over a
/// send-dir's folder): depth first, each folder before its entries, in the order the file
/// system lists them. It holds one open folder per level, nothing else; a link, a special
/// file or a name that is not UTF-8 is an error naming it, and ends the walk.
pub struct LocalWalk {
    root: PathBuf,
    /// The folders being read, outermost first, each with its path under the root.
    open: Vec<(std::fs::ReadDir, PathBuf)>,
    /// The entries given so far.
    seen: Shape,
    /// The tree the walk must find, checked at its end.
    expected: Option<Shape>,
}

/// A tree's entries, counted and hashed (path and kind) in any order: enough to tell, without
/// keeping the tree, that a walk found another tree than an earlier one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Shape {
    entries: u64,
    hashes: u64,
}

impl Shape {
    fn add(&mut self, entry: &DirEntry) {
        use std::hash::{Hash as _, Hasher as _};
        let mut hasher = std::hash::DefaultHasher::new();
        (entry.path.as_str(), entry.is_dir).hash(&mut hasher);
        self.entries += 1;
        self.hashes = self.hashes.wrapping_add(hasher.finish());
    }
}

impl LocalWalk {
    fn new(root: &Path) -> Result<Self, Error> {
        let read = std::fs::read_dir(root)
            .map_err(|e| Error::local_io(format!("reading {}", root.display()), &e))?;
        Ok(LocalWalk {
            root: root.to_path_buf(),
            open: vec![(read, PathBuf::new())],
            seen: Shape::default(),
            expected: None,
        })
    }

    /// Up to `max` more entries; none at the end.
    pub fn page(&mut self, max: usize) -> Result<Vec<DirEntry>, Error> {
        self.by_ref().take(max).collect()
    }

    /// The next entry of the innermost open folder, descending into a folder it names.
    fn step(&mut self) -> Result<Option<DirEntry>, Error> {
        loop {
            let depth = self.open.len();
            let Some((read, relative)) = self.open.last_mut() else {
                return Ok(None);
            };
            // The folder's full path only for an error: not an allocation per entry.
            let root = &self.root;
            let what = |e: &std::io::Error| {
                Error::local_io(format!("reading {}", root.join(&*relative).display()), e)
            };
            let Some(entry) = read.next() else {
                self.open.pop();
                continue;
            };
            let entry = entry.map_err(|e| what(&e))?;
            let kind = entry.file_type().map_err(|e| what(&e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(Error::new(
                    ErrorKind::LocalIo,
                    format!(
                        "reading {}: a name that is not UTF-8",
                        entry.path().display()
                    ),
                ));
            };
            let child = relative.join(name);
            let path = guest_path(&child);
            if kind.is_dir() {
                if depth > MAX_DEPTH {
                    return Err(Error::new(
                        ErrorKind::LocalIo,
                        format!(
                            "reading {}: folders nested too deep",
                            entry.path().display()
                        ),
                    ));
                }
                let read = std::fs::read_dir(entry.path()).map_err(|e| {
                    Error::local_io(format!("reading {}", entry.path().display()), &e)
                })?;
                self.open.push((read, child));
                return Ok(Some(DirEntry {
                    path,
                    is_dir: true,
                    size: 0,
                }));
            }
            if kind.is_file() {
                let size = entry.metadata().map_err(|e| what(&e))?.len();
                return Ok(Some(DirEntry {
                    path,
                    is_dir: false,
                    size,
                }));
            }
            let sort = if kind.is_symlink() {
                "a symbolic link"
            } else {
                "not a regular file or folder"
            };
            return Err(Error::new(
                ErrorKind::LocalIo,
                format!(
                    "{}: {sort}; send-dir sends regular files and folders only, and never follows a link",
                    entry.path().display()
                ),
            ));
        }
    }
}

impl LocalWalk {
    /// At the walk's end: the tree it found, and the tree as it is now (looked at again, for
    /// changes behind the walk), must both be the tree looked at first.
    fn check_unchanged(&self, expected: Shape) -> Result<(), Error> {
        let mut now = LocalWalk::new(&self.root)?;
        for entry in now.by_ref() {
            entry?;
        }
        let changed = [self.seen, now.seen].into_iter().find(|s| *s != expected);
        let Some(found) = changed else {
            return Ok(());
        };
        Err(Error::new(
            ErrorKind::LocalIo,
            format!(
                "{}: the folder changed during the send-dir (files or folders added, removed, renamed or replaced since it was looked at, {} entries then, {} now): the send is not whole",
                self.root.display(),
                expected.entries,
                found.entries
            ),
        ))
    }
}

impl Iterator for LocalWalk {
    type Item = Result<DirEntry, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let step = match self.step() {
            Ok(Some(entry)) => {
                self.seen.add(&entry);
                Ok(Some(entry))
            }
            Ok(None) => match self.expected.take() {
                Some(expected) => self.check_unchanged(expected).map(|()| None),
                None => Ok(None),
            },
            Err(e) => Err(e),
        };
        if step.is_err() {
            self.open.clear();
        }
        step.transpose()
    }
}

/// Opens files beneath a send-dir's folder (see [`DirInput`]).
#[derive(Clone)]
pub struct Opener {
    root: PathBuf,
    handle: std::sync::Arc<File>,
    opened: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Opener {
    /// The file at the confined `relative` path, as an [`Input`].
    pub fn open(&self, relative: &Path) -> Result<Input, Error> {
        let full = self.root.join(relative);
        let what = format!("reading {}", full.display());
        let file = open_beneath(&self.handle, relative).map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) || e.raw_os_error() == Some(libc::ENOTDIR) {
                Error::new(
                    ErrorKind::LocalIo,
                    format!("{what}: a symbolic link appeared in the folder during the send; send-dir never follows one"),
                )
            } else {
                Error::local_io(&what, &e)
            }
        })?;
        let input = Input::checked(full, file)?;
        self.opened
            .fetch_add(input.size, std::sync::atomic::Ordering::Relaxed);
        Ok(input)
    }
}

/// Opens the file at `relative` beneath the open folder `root`, one name at a time with
/// `O_NOFOLLOW` (a link anywhere on the way is `ELOOP`), the file itself without blocking (a
/// FIFO swapped in is opened and then refused, not waited on).
fn open_beneath(root: &File, relative: &Path) -> std::io::Result<File> {
    use std::os::fd::{AsRawFd as _, FromRawFd as _};
    use std::os::unix::ffi::OsStrExt as _;
    let names: Vec<&std::ffi::OsStr> = relative
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name),
            _ => None,
        })
        .collect();
    let mut current: Option<File> = None;
    for (i, name) in names.iter().enumerate() {
        let last = i + 1 == names.len();
        let name = std::ffi::CString::new(name.as_bytes())?;
        let flags = libc::O_RDONLY
            | libc::O_CLOEXEC
            | libc::O_NOFOLLOW
            | if last {
                libc::O_NONBLOCK
            } else {
                libc::O_DIRECTORY
            };
        let dir = current.as_ref().unwrap_or(root).as_raw_fd();
        // SAFETY: `dir` is an open descriptor and `name` a NUL-terminated string; a
        // descriptor returned is owned by the File made from it.
        let fd = unsafe { libc::openat(dir, name.as_ptr(), flags) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        current = Some(unsafe { File::from_raw_fd(fd) });
    }
    current.ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))
}

impl HostDirSink for HostState {
    async fn create_file(
        &mut self,
        _sink: Resource<DirSinkHandle>,
        path: String,
    ) -> Result<Resource<SinkHandle>, Error> {
        let relative = confine(&path)?;
        let transfer = &mut self.transfer;
        let folder = transfer.dir_output()?;
        let output = folder.folder().create_file(&relative, &transfer.meter)?;
        self.open_handle()?;
        let handle = self.transfer.add_output(output);
        Ok(self.table.push(handle)?)
    }

    async fn create_folder(
        &mut self,
        _sink: Resource<DirSinkHandle>,
        path: String,
    ) -> Result<(), Error> {
        let relative = confine(&path)?;
        self.transfer
            .dir_output()?
            .folder()
            .create_folder(&relative, &self.transfer.meter)
    }

    async fn drop(&mut self, sink: Resource<DirSinkHandle>) -> wasmtime::Result<()> {
        self.table.delete(sink)?;
        Ok(())
    }
}

impl HostDirSource for HostState {
    async fn entries(
        &mut self,
        _source: Resource<DirSourceHandle>,
    ) -> Result<Vec<DirEntry>, Error> {
        self.transfer.dir_input()?.entries()
    }

    async fn walk(
        &mut self,
        _source: Resource<DirSourceHandle>,
    ) -> Result<Resource<super::tree_walk::TreeWalkHandle>, Error> {
        let walk = self.transfer.dir_input()?.walk()?;
        self.push_walk(super::tree_walk::TreeWalkHandle::Local(walk))
    }

    async fn open_file(
        &mut self,
        _source: Resource<DirSourceHandle>,
        path: String,
    ) -> Result<Resource<SourceHandle>, Error> {
        let (input, file) = self.transfer.dir_input()?.open_file(&path)?;
        Ok(self.table.push(SourceHandle::new(input, file))?)
    }

    async fn drop(&mut self, source: Resource<DirSourceHandle>) -> wasmtime::Result<()> {
        self.table.delete(source)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confine_keeps_paths_inside_the_folder() {
        for good in ["a", "a/b.txt", "x y/ü", "..a/b..", ".hidden/f"] {
            assert!(confine(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "a/./b",
            ".",
            "a/",
            "a\0b",
        ] {
            let error = confine(bad).unwrap_err();
            assert_eq!(error.kind, ErrorKind::Denied, "{bad}");
        }
        assert!(confine(&"a/".repeat(200)).is_err());
        assert!(confine(&"n".repeat(256)).is_err());
    }

    #[test]
    fn a_staged_folder_appears_only_on_commit_and_replaces_an_empty_folder() {
        let parent = tempfile::tempdir().unwrap();
        let target = parent.path().join("in");
        std::fs::create_dir(&target).unwrap();
        let meter = Meter::new(crate::Limits::default());
        let staged = DirOutput::beside(&target).unwrap();
        let folder = staged.folder();
        let mut out = folder.create_file(Path::new("a/b/c.txt"), &meter).unwrap();
        out.write_all(b"hello").unwrap();
        out.commit().unwrap();
        assert_eq!(
            folder
                .create_file(Path::new("a/b/c.txt"), &meter)
                .err()
                .unwrap()
                .kind,
            ErrorKind::Conflict
        );
        assert_eq!(
            folder
                .create_folder(Path::new("a/b/c.txt/d"), &meter)
                .unwrap_err()
                .kind,
            ErrorKind::Conflict
        );
        assert!(std::fs::read_dir(&target).unwrap().next().is_none());
        staged.commit().unwrap();
        assert_eq!(std::fs::read(target.join("a/b/c.txt")).unwrap(), b"hello");
        // Dropped, a staging folder goes with its files.
        let other = parent.path().join("other");
        let staged = DirOutput::beside(&other).unwrap();
        staged.folder().create_file(Path::new("x"), &meter).unwrap();
        drop(staged);
        let left: Vec<_> = std::fs::read_dir(parent.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the committed folder is left");
        // A folder with something in it is refused.
        assert_eq!(
            DirOutput::beside(&target).err().unwrap().kind,
            ErrorKind::LocalIo
        );
    }

    #[test]
    fn files_to_send_are_opened_beneath_the_folder_whatever_is_swapped_in() {
        let top = tempfile::tempdir().unwrap();
        let root = top.path().join("out");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/secret"), b"inside").unwrap();
        std::fs::write(root.join("f"), b"inside").unwrap();
        std::fs::create_dir(top.path().join("outside")).unwrap();
        std::fs::write(top.path().join("outside/secret"), b"OUTSIDE").unwrap();
        std::fs::write(top.path().join("outside/f"), b"OUTSIDE").unwrap();
        let input = DirInput::open(&root).unwrap();
        // A folder on the way swapped for a link after the listing.
        std::fs::rename(root.join("sub"), top.path().join("sub.bak")).unwrap();
        std::os::unix::fs::symlink(top.path().join("outside"), root.join("sub")).unwrap();
        let error = input.open_file("sub/secret").unwrap_err();
        assert!(
            error.message.contains("symbolic link appeared"),
            "{}",
            error.message
        );
        // The folder itself swapped for a link: its files are still read from the folder.
        std::fs::rename(&root, top.path().join("out.bak")).unwrap();
        std::os::unix::fs::symlink(top.path().join("outside"), &root).unwrap();
        let (_, mut file) = input.open_file("f").unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut file, &mut text).unwrap();
        assert_eq!(text, "inside");
    }

    #[test]
    fn a_walk_of_a_folder_that_changed_since_it_was_opened_fails_at_its_end() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("sub")).unwrap();
        for name in ["a", "sub/b", "sub/c"] {
            std::fs::write(root.path().join(name), name).unwrap();
        }
        let input = DirInput::open(root.path()).unwrap();
        assert_eq!(input.walk().unwrap().page(10).unwrap().len(), 4);
        // The same number of entries, one of them another name.
        std::fs::rename(root.path().join("sub/c"), root.path().join("sub/d")).unwrap();
        let mut walk = input.walk().unwrap();
        let error = walk.page(10).unwrap_err();
        assert_eq!(error.kind, ErrorKind::LocalIo);
        assert!(
            error
                .message
                .contains("the folder changed during the send-dir"),
            "{}",
            error.message
        );
        assert!(walk.page(10).unwrap().is_empty(), "the walk is over");
        std::fs::rename(root.path().join("sub/d"), root.path().join("sub/c")).unwrap();
        // A change behind the walk: found when the walk ends, by looking again.
        let mut walk = input.walk().unwrap();
        let first = walk.page(4).unwrap();
        std::fs::rename(
            root.path().join(&first[0].path),
            root.path().join(format!("{}.moved", first[0].path)),
        )
        .unwrap();
        let error = walk.page(10).unwrap_err();
        assert!(
            error.message.contains("4 entries then, 4 now"),
            "{}",
            error.message
        );
        std::fs::rename(
            root.path().join(format!("{}.moved", first[0].path)),
            root.path().join(&first[0].path),
        )
        .unwrap();
        std::fs::remove_file(root.path().join("a")).unwrap();
        assert!(input.entries().unwrap_err().message.contains("3 now"));
    }

    #[test]
    fn a_fifo_swapped_in_is_refused_without_waiting() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("f"), b"x").unwrap();
        let input = DirInput::open(root.path()).unwrap();
        std::fs::remove_file(root.path().join("f")).unwrap();
        let fifo = std::ffi::CString::new(root.path().join("f").to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let error = input.open_file("f").unwrap_err();
        assert!(
            error.message.contains("not a regular file"),
            "{}",
            error.message
        );
    }

    #[test]
    fn a_folder_to_send_with_a_link_in_it_is_refused() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("sub")).unwrap();
        std::fs::write(root.path().join("sub/a"), b"12").unwrap();
        let input = DirInput::open(root.path()).unwrap();
        let entries = input.entries().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!((entries[1].path.as_str(), entries[1].size), ("sub/a", 2));
        assert_eq!(input.open_file("sub/a").unwrap().0.size, 2);
        assert_eq!(
            input.open_file("sub/b").unwrap_err().kind,
            ErrorKind::NotFound
        );
        assert_eq!(input.open_file("../x").unwrap_err().kind, ErrorKind::Denied);
        std::os::unix::fs::symlink("/etc/passwd", root.path().join("sub/link")).unwrap();
        let error = DirInput::open(root.path()).err().unwrap();
        assert!(
            error.message.contains("sub/link: a symbolic link"),
            "{}",
            error.message
        );
    }
}
