//! Unpacking an archive into a receive-dir's folder, host-side (`response.unpack-to-dir`).
//!
//! The archive is first downloaded to a temporary file beside the folder ([`Download`]), then
//! unpacked off the async threads ([`Unpack::run`]). Every entry's path goes through
//! [`confine`]; only regular files and folders are made (a link, hard link, device or FIFO in
//! the archive is `denied`, naming the entry); and the unpacked bytes and files are bounded by
//! the transfer's limits (`--max-expansion` times the archive's size, `--max-files`), so that a
//! zip bomb is `denied` long before it fills the disk.

use std::cell::Cell;
use std::fs::File;
use std::io::{BufReader, Read, Seek, Write};
use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::dir::{confine, DirOutput, Folder};
use crate::bindings::red::connector::http::ArchiveFormat;
use crate::limits::Meter;
use crate::{Error, ErrorKind};

/// Slack on top of the expansion bound, so that tiny archives of small files unpack.
const EXPANSION_SLACK: u64 = 1 << 20;
/// Memory an xz stream's dictionary may take (xz -9 needs 64 MiB).
const XZ_MEMORY_KIB: u32 = 256 * 1024;
/// Copy buffer.
const CHUNK: usize = 256 * 1024;
/// The most a tar reader may read between two entries: headers, GNU long names, pax records
/// and the data of entries it skips. Real ones take a few KiB (a path is at most 4 KiB); an
/// archive that asks for more would make the reader hold it all in memory.
const MAX_BETWEEN_ENTRIES: u64 = 1 << 20;

/// An archive's format (Python's `shutil.unpack_archive` names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Zip,
    Tar,
    GzTar,
    BzTar,
    XzTar,
}

impl From<ArchiveFormat> for Format {
    fn from(format: ArchiveFormat) -> Self {
        match format {
            ArchiveFormat::Zip => Format::Zip,
            ArchiveFormat::Tar => Format::Tar,
            ArchiveFormat::Gztar => Format::GzTar,
            ArchiveFormat::Bztar => Format::BzTar,
            ArchiveFormat::Xztar => Format::XzTar,
        }
    }
}

/// The archive's bytes, in a temporary file beside the receive-dir's folder.
pub struct Download {
    file: std::io::BufWriter<tempfile::NamedTempFile>,
    len: u64,
}

impl Download {
    /// A new temporary file in the folder's parent (removed when dropped).
    pub fn beside(folder: &DirOutput) -> Result<Self, Error> {
        let parent = folder
            .folder()
            .root()
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let temp = tempfile::Builder::new()
            .prefix(".archive.")
            .suffix(".part")
            .tempfile_in(&parent)
            .map_err(|e| {
                Error::local_io(format!("cannot create a file in {}", parent.display()), &e)
            })?;
        Ok(Download {
            file: std::io::BufWriter::with_capacity(CHUNK, temp),
            len: 0,
        })
    }

    /// Appends downloaded bytes.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.file
            .write_all(bytes)
            .map_err(|e| Error::local_io("writing the archive's temporary file", &e))?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Starts over: the server sends the archive again from its first byte.
    pub fn restart(&mut self) -> Result<(), Error> {
        use std::io::Seek as _;
        let what = "writing the archive's temporary file";
        self.file.flush().map_err(|e| Error::local_io(what, &e))?;
        let file = self.file.get_mut();
        file.as_file()
            .set_len(0)
            .and_then(|()| file.rewind())
            .map_err(|e| Error::local_io(what, &e))?;
        self.len = 0;
        Ok(())
    }

    /// Bytes downloaded.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The work of unpacking the downloaded archive into `folder`.
    pub fn unpacker(
        self,
        format: Format,
        folder: &DirOutput,
        meter: Arc<Meter>,
    ) -> Result<Unpack, Error> {
        let archive = self
            .file
            .into_inner()
            .map_err(|e| Error::local_io("writing the archive's temporary file", e.error()))?;
        let expansion = meter.limits().max_expansion;
        Ok(Unpack {
            budget: self
                .len
                .saturating_mul(expansion)
                .saturating_add(EXPANSION_SLACK),
            archive,
            format,
            folder: folder.folder().clone(),
            meter,
            unpacked: 0,
        })
    }
}

/// Why the guard stopped the tar stream.
#[derive(Clone, Copy, Debug)]
enum Broke {
    Stopped,
    Expansion,
    Header,
}

/// What the tar reader has taken from the decompressed stream, and the bounds on it.
struct Guard {
    read: Cell<u64>,
    /// `read` when the reader began looking for the next entry.
    step_start: Cell<u64>,
    between_entries: Cell<bool>,
    budget: u64,
    stop: CancellationToken,
    broke: Cell<Option<Broke>>,
}

/// The decompressed stream as the tar reader sees it: every read checks the stop, counts
/// against the expansion budget, and between entries against [`MAX_BETWEEN_ENTRIES`]; so a
/// stop is prompt even in data the reader skips, and no header can make it allocate without
/// bound.
struct Guarded<R> {
    inner: R,
    guard: std::rc::Rc<Guard>,
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let guard = &self.guard;
        let fail = |why: Broke| {
            guard.broke.set(Some(why));
            Err(std::io::Error::other(format!("{why:?}")))
        };
        if guard.stop.is_cancelled() {
            return fail(Broke::Stopped);
        }
        // Between entries, never read past the bound (so a header cannot grow past it).
        let mut limit = buf.len();
        if guard.between_entries.get() {
            let used = guard.read.get() - guard.step_start.get();
            if used >= MAX_BETWEEN_ENTRIES {
                return fail(Broke::Header);
            }
            limit = limit.min((MAX_BETWEEN_ENTRIES - used) as usize);
        }
        let n = self.inner.read(&mut buf[..limit])?;
        let read = guard.read.get() + n as u64;
        guard.read.set(read);
        if read > guard.budget {
            return fail(Broke::Expansion);
        }
        Ok(n)
    }
}

/// Unpacking one downloaded archive.
pub struct Unpack {
    archive: tempfile::NamedTempFile,
    format: Format,
    folder: Folder,
    meter: Arc<Meter>,
    /// Bytes the files may take in all.
    budget: u64,
    unpacked: u64,
}

impl Unpack {
    /// Unpacks every entry (checking `stop` between chunks); returns the bytes unpacked.
    pub fn run(mut self, stop: &CancellationToken) -> Result<u64, Error> {
        let mut file = self
            .archive
            .reopen()
            .map_err(|e| Error::local_io("reading the archive's temporary file", &e))?;
        file.rewind()
            .map_err(|e| Error::local_io("reading the archive's temporary file", &e))?;
        let reader = BufReader::with_capacity(CHUNK, file);
        match self.format {
            Format::Zip => self.zip(reader.into_inner(), stop)?,
            Format::Tar => self.tar(reader, stop)?,
            Format::GzTar => self.tar(flate2::read::MultiGzDecoder::new(reader), stop)?,
            Format::BzTar => self.tar(bzip2::read::MultiBzDecoder::new(reader), stop)?,
            Format::XzTar => self.tar(
                lzma_rust2::XzReader::new_mem_limit(reader, true, XZ_MEMORY_KIB),
                stop,
            )?,
        }
        Ok(self.unpacked)
    }

    fn tar(&mut self, reader: impl Read, stop: &CancellationToken) -> Result<(), Error> {
        let guard = std::rc::Rc::new(Guard {
            read: Cell::new(0),
            step_start: Cell::new(0),
            between_entries: Cell::new(true),
            budget: self.budget,
            stop: stop.clone(),
            broke: Cell::new(None),
        });
        let guarded = Guarded {
            inner: reader,
            guard: guard.clone(),
        };
        let mut archive = tar::Archive::new(guarded);
        let mut entries = archive.entries().map_err(|e| self.guarded(&guard, &e))?;
        loop {
            guard.step_start.set(guard.read.get());
            guard.between_entries.set(true);
            let Some(entry) = entries.next() else {
                break;
            };
            let mut entry = entry.map_err(|e| self.guarded(&guard, &e))?;
            guard.between_entries.set(false);
            let name = entry.path().map_err(|e| self.guarded(&guard, &e))?;
            let name = name.to_str().map(str::to_owned).ok_or_else(|| {
                self.refuse(&name.to_string_lossy(), "has a name that is not UTF-8")
            })?;
            use tar::EntryType as T;
            match entry.header().entry_type() {
                T::Regular | T::Continuous | T::GNUSparse => {
                    if let Some(path) = self.entry_path(&name)? {
                        self.file(&path, &mut entry, stop)
                            .map_err(|e| guard.broke.take().map_or(e, |why| self.violation(why)))?;
                    }
                }
                T::Directory => {
                    if let Some(path) = self.entry_path(&name)? {
                        self.folder.create_folder(&path, &self.meter)?;
                    }
                }
                T::Symlink | T::Link => {
                    return Err(
                        self.refuse(&name, "is a link; red-wasm unpacks files and folders only")
                    )
                }
                T::Char | T::Block | T::Fifo => {
                    return Err(self.refuse(
                        &name,
                        "is a device or a FIFO; red-wasm unpacks files and folders only",
                    ))
                }
                // Metadata (pax headers, GNU long names) the reader has applied already.
                _ => {}
            }
        }
        Ok(())
    }

    fn zip(&mut self, file: File, stop: &CancellationToken) -> Result<(), Error> {
        let mut archive = zip::ZipArchive::new(file).map_err(|e| self.broken(&e))?;
        for index in 0..archive.len() {
            let mut entry = archive.by_index(index).map_err(|e| self.broken(&e))?;
            let name = entry.name().map_err(|e| self.broken(&e))?.into_owned();
            if entry.is_symlink() {
                return Err(
                    self.refuse(&name, "is a link; red-wasm unpacks files and folders only")
                );
            }
            // Unix file types other than files and folders (devices, FIFOs, sockets).
            if let Some(mode) = entry.unix_mode() {
                let kind = mode & 0o170_000;
                if kind != 0 && kind != 0o100_000 && kind != 0o040_000 {
                    return Err(self.refuse(
                        &name,
                        "is a device, a FIFO or a socket; red-wasm unpacks files and folders only",
                    ));
                }
            }
            let Some(path) = self.entry_path(&name)? else {
                continue;
            };
            if entry.is_dir() {
                self.folder.create_folder(&path, &self.meter)?;
            } else {
                self.file(&path, &mut entry, stop)?;
            }
        }
        Ok(())
    }

    /// An entry's name as a confined path; `None` for the archive's root (`.`, `./`). Leading
    /// `./` and `.` segments, and a trailing `/`, are what archivers write; they are dropped.
    fn entry_path(&self, name: &str) -> Result<Option<std::path::PathBuf>, Error> {
        let relative: Vec<&str> = name
            .split('/')
            .enumerate()
            .filter(|(i, s)| *s != "." && !(s.is_empty() && *i > 0))
            .map(|(_, s)| s)
            .collect();
        if relative.is_empty() {
            return Ok(None);
        }
        confine(&relative.join("/"))
            .map(Some)
            .map_err(|e| self.refuse(name, &format!("is refused: {}", e.message)))
    }

    /// Writes one file's bytes, within the budget.
    fn file(
        &mut self,
        path: &Path,
        reader: &mut impl Read,
        stop: &CancellationToken,
    ) -> Result<(), Error> {
        let mut output = self.folder.create_file(path, &self.meter)?;
        let mut buffer = vec![0; CHUNK];
        loop {
            if stop.is_cancelled() {
                return Err(Error::new(ErrorKind::Denied, "unpacking was stopped"));
            }
            let n = reader.read(&mut buffer).map_err(|e| self.broken(&e))?;
            if n == 0 {
                break;
            }
            self.unpacked += n as u64;
            if self.unpacked > self.budget {
                let expansion = self.meter.limits().max_expansion;
                return Err(self.meter.reach(format!(
                    "the archive unpacks to more than {} bytes, {expansion} times its size (--max-expansion)",
                    self.budget
                )));
            }
            output.write_all(&buffer[..n])?;
        }
        output.commit()
    }

    /// The error for a failed read of the tar stream: what the guard stopped it for, else a
    /// broken archive.
    fn guarded(&self, guard: &Guard, error: &dyn std::fmt::Display) -> Error {
        match guard.broke.take() {
            Some(why) => self.violation(why),
            None => self.broken(error),
        }
    }

    fn violation(&self, why: Broke) -> Error {
        match why {
            Broke::Stopped => Error::new(ErrorKind::Denied, "unpacking was stopped"),
            Broke::Expansion => {
                let expansion = self.meter.limits().max_expansion;
                self.meter.reach(format!(
                    "the archive unpacks to more than {} bytes, {expansion} times its size (--max-expansion)",
                    self.budget
                ))
            }
            Broke::Header => Error::new(
                ErrorKind::Denied,
                format!(
                    "unpacking into {}: the archive has more than {MAX_BETWEEN_ENTRIES} bytes of headers (long names, pax records) or skipped data between two entries",
                    self.folder.target().display()
                ),
            ),
        }
    }

    fn refuse(&self, name: &str, why: &str) -> Error {
        let name: String = name.chars().take(200).collect();
        Error::new(
            ErrorKind::Denied,
            format!(
                "unpacking into {}: the archive's entry {name:?} {why}",
                self.folder.target().display()
            ),
        )
    }

    fn broken(&self, error: &dyn std::fmt::Display) -> Error {
        Error::new(
            ErrorKind::Remote,
            format!(
                "unpacking into {}: not a readable {} archive: {error}",
                self.folder.target().display(),
                match self.format {
                    Format::Zip => "zip",
                    Format::Tar => "tar",
                    Format::GzTar => "gzip-compressed tar",
                    Format::BzTar => "bzip2-compressed tar",
                    Format::XzTar => "xz-compressed tar",
                }
            ),
        )
    }
}
