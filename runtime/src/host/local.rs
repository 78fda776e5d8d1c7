//! The `local` interface: the one local file of a transfer (folders: [`super::dir`]).
//!
//! A receive writes into an [`Output`]: a temporary file beside the target, renamed into
//! place only when the connector returns success (or standard output). A send reads an
//! [`Input`]: the given file, opened read-only; the guest's `source` reads it through its own
//! cursor, and `body::from-source` streams it host-side from the start.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use wasmtime::component::Resource;

use super::HostState;
use crate::bindings::red::connector::local::{Host, HostSink, HostSource};
use crate::{Error, ErrorKind};

/// The largest chunk one guest `read` gets.
pub const MAX_READ: u32 = 1024 * 1024;

/// Write buffer of the receive's output.
const WRITE_BUFFER: usize = 1024 * 1024;

/// Write buffer of each file of a receive-dir (many may be open at once).
const FOLDER_WRITE_BUFFER: usize = 64 * 1024;

/// The guest's handle to an output: the receive's, or a file of a receive-dir. The
/// [`Output`] itself stays in the transfer ([`TransferCtx::outputs`](super::TransferCtx)),
/// so that it outlives the guest's handle.
pub struct SinkHandle {
    pub(crate) slot: u64,
}

impl SinkHandle {
    /// The receive's own output.
    pub const MAIN: u64 = 0;
}

/// The guest's handle to a file to send, with its own read cursor.
pub struct SourceHandle {
    file: File,
    input: Input,
}

impl SourceHandle {
    /// A handle reading `file` (which is `input`) from the start.
    pub fn new(input: Input, file: File) -> Self {
        SourceHandle { file, input }
    }

    /// The file it reads.
    pub fn input(&self) -> &Input {
        &self.input
    }
}

/// Where a receive's bytes go, and how many went.
pub struct Output {
    destination: Destination,
    written: u64,
}

enum Destination {
    /// A temporary file beside `target`.
    File {
        writer: BufWriter<tempfile::NamedTempFile>,
        target: PathBuf,
    },
    Stdout(BufWriter<std::io::Stdout>),
    /// A new file in a receive-dir's staging folder (which is what gets renamed on success).
    InFolder {
        writer: BufWriter<File>,
        shown: PathBuf,
        /// The folder's count of bytes in finished files, which this one's join on commit.
        finished: std::sync::Arc<std::sync::atomic::AtomicU64>,
    },
    /// A target that exists and is not a regular file (a device such as /dev/null, a FIFO):
    /// written in place, never replaced.
    Special {
        writer: BufWriter<File>,
        target: PathBuf,
    },
}

impl Output {
    /// A new temporary file in `target`'s folder (which must exist); or, when `target`
    /// exists and is a device or a FIFO, `target` itself, opened for writing.
    pub fn beside(target: &Path) -> Result<Self, Error> {
        if let Some(special) = Self::special(target)? {
            return Ok(special);
        }
        let (dir, prefix) = staging_place(target, "file")?;
        // The file gets the usual permissions (0666 less the umask), as any download would,
        // not the temporary file's private 0600.
        let temp = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".part")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(dir)
            .map_err(|e| {
                Error::local_io(format!("cannot create a file in {}", dir.display()), &e)
            })?;
        Ok(Output {
            destination: Destination::File {
                writer: BufWriter::with_capacity(WRITE_BUFFER, temp),
                target: target.to_path_buf(),
            },
            written: 0,
        })
    }

    /// `target` opened in place when it exists and is not a regular file; a folder or a
    /// socket is an error.
    fn special(target: &Path) -> Result<Option<Self>, Error> {
        use std::os::unix::fs::FileTypeExt as _;
        let Ok(meta) = std::fs::metadata(target) else {
            return Ok(None);
        };
        let kind = meta.file_type();
        if kind.is_file() {
            return Ok(None);
        }
        let refuse = |what: &str| {
            Err(Error::new(
                ErrorKind::LocalIo,
                format!("writing {}: {what}", target.display()),
            ))
        };
        if kind.is_dir() {
            return refuse("a folder, not a file");
        }
        if kind.is_socket() {
            return refuse("a socket, not a file");
        }
        // A device or a FIFO: written directly (replacing it would destroy /dev/null).
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(target)
            .map_err(|e| Error::local_io(format!("writing {}", target.display()), &e))?;
        Ok(Some(Output {
            destination: Destination::Special {
                writer: BufWriter::with_capacity(WRITE_BUFFER, file),
                target: target.to_path_buf(),
            },
            written: 0,
        }))
    }

    /// A file of a receive-dir, created by the folder; `shown` is its path for messages, and
    /// its bytes are added to `finished` when it is committed.
    pub fn in_folder(
        file: File,
        shown: PathBuf,
        finished: std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) -> Self {
        Output {
            destination: Destination::InFolder {
                writer: BufWriter::with_capacity(FOLDER_WRITE_BUFFER, file),
                shown,
                finished,
            },
            written: 0,
        }
    }

    /// Standard output: streamed, so a failed receive may leave part of the bytes there.
    pub fn stdout() -> Self {
        Output {
            destination: Destination::Stdout(BufWriter::with_capacity(
                WRITE_BUFFER,
                std::io::stdout(),
            )),
            written: 0,
        }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// For writers that fill ranges in parallel: the output file (after flushing what is
    /// buffered) and the offset where new bytes start; `None` for standard output. Report
    /// what was written with [`Output::appended`].
    pub fn positional(&mut self) -> Result<Option<(File, u64)>, Error> {
        let what = self.describe();
        let Some(file) = self.flushed_file()? else {
            return Ok(None);
        };
        let file = file.try_clone().map_err(|e| Error::local_io(&what, &e))?;
        Ok(Some((file, self.written)))
    }

    /// Drops what was written after the first `keep` bytes (a body that starts over); a
    /// stream (standard output, a device) cannot take it back.
    pub fn truncate(&mut self, keep: u64) -> Result<(), Error> {
        let what = self.describe();
        let Some(file) = self.flushed_file()? else {
            return Err(Error::new(
                ErrorKind::Network,
                format!("{what}: the body was cut off and is being sent again from its start, which a stream cannot take back"),
            ));
        };
        file.set_len(keep)
            .and_then(|()| file.seek(SeekFrom::Start(keep)).map(drop))
            .map_err(|e| Error::local_io(&what, &e))?;
        self.written = keep;
        Ok(())
    }

    /// Records `n` bytes written through [`Output::positional`] after the previous end.
    pub fn appended(&mut self, n: u64) -> Result<(), Error> {
        let what = self.describe();
        let end = self.written + n;
        let Some(file) = self.flushed_file()? else {
            return Ok(());
        };
        file.seek(SeekFrom::Start(end))
            .map_err(|e| Error::local_io(&what, &e))?;
        self.written = end;
        Ok(())
    }

    /// The file under a file output (a temporary file, or a file of a receive-dir), its
    /// buffer flushed; `None` for a stream (standard output, a device, a FIFO).
    fn flushed_file(&mut self) -> Result<Option<&mut File>, Error> {
        let what = self.describe();
        let file = match &mut self.destination {
            Destination::File { writer, .. } => {
                writer.flush().map_err(|e| Error::local_io(&what, &e))?;
                writer.get_mut().as_file_mut()
            }
            Destination::InFolder { writer, .. } => {
                writer.flush().map_err(|e| Error::local_io(&what, &e))?;
                writer.get_mut()
            }
            Destination::Stdout(_) | Destination::Special { .. } => return Ok(None),
        };
        Ok(Some(file))
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let result = match &mut self.destination {
            Destination::File { writer, .. } => writer.write_all(bytes),
            Destination::Stdout(writer) => writer.write_all(bytes),
            Destination::Special { writer, .. } => writer.write_all(bytes),
            Destination::InFolder { writer, .. } => writer.write_all(bytes),
        };
        result.map_err(|e| Error::local_io(self.describe(), &e))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn describe(&self) -> String {
        match &self.destination {
            Destination::File { target, .. }
            | Destination::Special { target, .. }
            | Destination::InFolder { shown: target, .. } => {
                format!("writing {}", target.display())
            }
            Destination::Stdout(_) => "writing standard output".into(),
        }
    }

    /// Makes the output final: flushes the temporary file and renames it onto the target.
    /// Dropping an `Output` instead removes the temporary file.
    ///
    /// There is no fsync: as with curl or rsync, surviving a power cut is the file system's
    /// business; what the rename guarantees is that a failed transfer never leaves a partial
    /// file under the target's name.
    pub fn commit(self) -> Result<(), Error> {
        match self.destination {
            Destination::File { writer, target } => {
                let what = format!("writing {}", target.display());
                let temp = writer
                    .into_inner()
                    .map_err(|e| Error::local_io(&what, e.error()))?;
                temp.persist(&target)
                    .map_err(|e| Error::local_io(&what, &e.error))?;
                Ok(())
            }
            Destination::Stdout(mut writer) => writer
                .flush()
                .map_err(|e| Error::local_io("writing standard output", &e)),
            Destination::Special { mut writer, target } => writer
                .flush()
                .map_err(|e| Error::local_io(format!("writing {}", target.display()), &e)),
            Destination::InFolder {
                mut writer,
                shown,
                finished,
            } => {
                writer
                    .flush()
                    .map_err(|e| Error::local_io(format!("writing {}", shown.display()), &e))?;
                finished.fetch_add(self.written, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
        }
    }
}

/// Where a temporary `.NAME.XXXXXX.part` for `target` goes (its folder, `.` when it has
/// none) and the name's prefix; `kind` (file, folder) names what `target` should be.
pub(crate) fn staging_place<'a>(target: &'a Path, kind: &str) -> Result<(&'a Path, String), Error> {
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = target.file_name().ok_or_else(|| {
        Error::new(
            ErrorKind::LocalIo,
            format!("{}: not a {kind} path", target.display()),
        )
    })?;
    Ok((dir, format!(".{}.", name.to_string_lossy())))
}

/// The file a send reads: opened once, where it was checked, and read again only through
/// that open file, so that swapping the path for something else (a link, a FIFO) meanwhile
/// changes nothing.
#[derive(Clone, Debug)]
pub struct Input {
    pub path: PathBuf,
    pub size: u64,
    file: std::sync::Arc<File>,
}

impl Input {
    /// Checks that `path` is a readable regular file and records its size. (A FIFO is opened
    /// without waiting for a writer, and refused.)
    pub fn open(path: &Path) -> Result<Self, Error> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let what = format!("reading {}", path.display());
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| Error::local_io(&what, &e))?;
        Self::checked(path.to_path_buf(), file)
    }

    /// `file` (opened from `path`) if it is a regular file.
    pub fn checked(path: PathBuf, file: File) -> Result<Self, Error> {
        let what = format!("reading {}", path.display());
        let meta = file.metadata().map_err(|e| Error::local_io(&what, &e))?;
        if !meta.is_file() {
            return Err(Error::new(
                ErrorKind::LocalIo,
                format!("{what}: not a regular file"),
            ));
        }
        Ok(Input {
            path,
            size: meta.len(),
            file: std::sync::Arc::new(file),
        })
    }

    /// The file again, with a read position of its own (the kernel's handle of the open
    /// file, not its path, so that nothing swapped in at the path is read).
    pub fn reader(&self) -> Result<File, Error> {
        use std::os::fd::AsRawFd as _;
        let what = || format!("reading {}", self.path.display());
        let proc_path = format!("/proc/self/fd/{}", self.file.as_raw_fd());
        match File::open(&proc_path) {
            Ok(file) => Ok(file),
            // Without /proc, a copy of the handle, read from the start (positions are shared
            // with other copies; the readers that run in parallel seek before every read).
            Err(_) => {
                let file = self
                    .file
                    .try_clone()
                    .map_err(|e| Error::local_io(what(), &e))?;
                let mut seekable = &file;
                seekable
                    .seek(SeekFrom::Start(0))
                    .map_err(|e| Error::local_io(what(), &e))?;
                Ok(file)
            }
        }
    }

    /// A new guest handle reading from the start.
    pub fn handle(&self) -> Result<SourceHandle, Error> {
        Ok(SourceHandle::new(self.clone(), self.reader()?))
    }
}

impl Host for HostState {}

impl HostSink for HostState {
    async fn write(&mut self, sink: Resource<SinkHandle>, bytes: Vec<u8>) -> Result<(), Error> {
        let slot = self.table.get(&sink)?.slot;
        self.transfer.append(slot, &bytes, None)
    }

    async fn drop(&mut self, sink: Resource<SinkHandle>) -> wasmtime::Result<()> {
        let slot = self.table.delete(sink)?.slot;
        // A receive-dir's file is done when the guest lets go of it; the receive's own output
        // waits for the receive's answer.
        if slot != SinkHandle::MAIN {
            self.close_handle();
            if let Some(output) = self.transfer.outputs.remove(&slot) {
                if let Err(e) = output.commit() {
                    self.transfer.failed_output.get_or_insert(e);
                }
            }
        }
        Ok(())
    }
}

impl HostSource for HostState {
    async fn read(&mut self, source: Resource<SourceHandle>, max: u32) -> Result<Vec<u8>, Error> {
        let handle = self.table.get_mut(&source)?;
        let mut buffer = vec![0; max.min(MAX_READ) as usize];
        let n = handle
            .file
            .read(&mut buffer)
            .map_err(|e| Error::local_io(format!("reading {}", handle.input.path.display()), &e))?;
        buffer.truncate(n);
        Ok(buffer)
    }

    async fn size(&mut self, source: Resource<SourceHandle>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&source)?.input.size)
    }

    async fn drop(&mut self, source: Resource<SourceHandle>) -> wasmtime::Result<()> {
        self.table.delete(source)?;
        Ok(())
    }
}
