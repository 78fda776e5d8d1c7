//! `std::io` adapters over the host's byte streams, so that parsers such as `serde_json`
//! can read a response or the local source incrementally, with bounded memory.

use crate::bindings::red::connector::http::Response;
use crate::{Error, ErrorKind, Sink, Source};

/// How many bytes one host `read` call asks for.
pub const CHUNK: u32 = 256 * 1024;

/// Converts a contract error into an `io::Error` that keeps it, so it can be recovered with
/// [`from_io`] after a parser gives up.
pub fn to_io(error: Error) -> std::io::Error {
    std::io::Error::other(ContractError(error))
}

/// Recovers a contract error carried by [`to_io`], or wraps any other I/O error as `kind`.
pub fn from_io(error: std::io::Error, kind: ErrorKind) -> Error {
    match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ContractError>())
    {
        Some(ContractError(e)) => e.clone(),
        None => Error::new(kind, error.to_string()),
    }
}

#[derive(Debug)]
struct ContractError(Error);

impl std::fmt::Display for ContractError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for ContractError {}

/// A `std::io::Read` over a host stream that hands out chunks: the response body or the local
/// source. `next` returns the next chunk, empty at the end.
pub struct ChunkReader<F> {
    next: F,
    pending: Vec<u8>,
    offset: usize,
}

impl<F: FnMut() -> Result<Vec<u8>, Error>> ChunkReader<F> {
    /// A reader that calls `next` for each chunk.
    pub fn new(next: F) -> Self {
        ChunkReader {
            next,
            pending: Vec::new(),
            offset: 0,
        }
    }
}

impl<F: FnMut() -> Result<Vec<u8>, Error>> std::io::Read for ChunkReader<F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.offset == self.pending.len() {
            self.pending = (self.next)().map_err(to_io)?;
            self.offset = 0;
        }
        let n = buf.len().min(self.pending.len() - self.offset);
        buf[..n].copy_from_slice(&self.pending[self.offset..self.offset + n]);
        self.offset += n;
        Ok(n)
    }
}

/// Reads a response body; every chunk read is also appended to `tee` when one is given.
pub fn response_reader<'a>(
    response: &'a Response,
    tee: Option<&'a Sink>,
) -> ChunkReader<impl FnMut() -> Result<Vec<u8>, Error> + 'a> {
    ChunkReader::new(move || {
        let chunk = response.read(CHUNK)?;
        if let (Some(sink), false) = (tee, chunk.is_empty()) {
            sink.write(&chunk)?;
        }
        Ok(chunk)
    })
}

/// Reads the local source from the guest's cursor (the start, on the first call).
pub fn source_reader(source: &Source) -> ChunkReader<impl FnMut() -> Result<Vec<u8>, Error> + '_> {
    ChunkReader::new(move || source.read(CHUNK))
}
