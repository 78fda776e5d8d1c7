//! Limits of one transfer: memory, time, fuel, bytes moved, requests made.
//!
//! A limit that is reached stops the guest: the host call that hit it traps (see
//! `host::HostState::convert_error`), and the transfer fails with kind `denied` and a message
//! that names the limit and its flag, whatever the guest does next.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::{Error, ErrorKind};

/// The limits of one transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The connector's memory, in bytes: all its linear memories and tables together
    /// (`--max-memory`; default 128 MiB).
    pub max_memory: usize,
    /// Wall-clock time of the whole transfer, host I/O included (`--timeout`; default none).
    pub timeout: Option<Duration>,
    /// WebAssembly instructions, roughly (`--fuel`; default none).
    pub fuel: Option<u64>,
    /// Bytes moved between the local file and the network, both ways (`--max-bytes`;
    /// default none).
    pub max_bytes: Option<u64>,
    /// HTTP requests (each redirect hop and authentication round counts) and SSH
    /// connections (`--max-requests`; default 1000). A directory transfer may make
    /// [`REQUESTS_PER_FILE`] more for each file it creates or reads.
    pub max_requests: u32,
    /// Files and folders a folder transfer may create or read, archive entries included
    /// (`--max-files`; default 100,000).
    pub max_files: u64,
    /// How many times its own size an archive may unpack to (`--max-expansion`; default 2000,
    /// plus 1 MiB): what makes a zip bomb `denied` before it fills the disk. Deflate (gzip,
    /// zip) packs at most about 1030:1, so only an overlapping-entries zip bomb reaches this
    /// with it; bzip2 and xz can, on very repetitive data such as long runs of zeros.
    pub max_expansion: u64,
    /// HTTP responses, SFTP sessions and folder walks held open at once (`--max-open`;
    /// default 32). Other
    /// handles a connector can make (WASI streams, timers) are bounded by [`MAX_HANDLES`].
    pub max_open: u32,
}

/// Handles of every sort a connector may hold at once (a fixed bound: each costs the host a
/// little memory, and a connector needs a handful).
pub const MAX_HANDLES: usize = 4096;

/// Requests a directory transfer may make per file besides `max_requests`: a file's GET, its
/// authentication round and a redirect or two.
pub const REQUESTS_PER_FILE: u32 = 4;

/// Core WebAssembly instances, memories and tables one connector instance may create: far
/// more than a Rust or Python component uses, few enough that their bookkeeping stays small.
/// The bytes of all memories and tables together are bounded by `max_memory`.
pub const MAX_INSTANCES: usize = 200;
pub const MAX_MEMORIES: usize = 16;
pub const MAX_TABLES: usize = 64;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_memory: 128 << 20,
            timeout: None,
            fuel: None,
            max_bytes: None,
            max_requests: 1000,
            max_open: 32,
            max_files: 100_000,
            max_expansion: 2000,
        }
    }
}

/// Counts what a transfer uses, and remembers the first limit it reached.
#[derive(Debug)]
pub struct Meter {
    limits: Limits,
    moved: AtomicU64,
    requests: AtomicU32,
    files: AtomicU64,
    reached: Mutex<Option<Error>>,
}

impl Meter {
    pub fn new(limits: Limits) -> Self {
        Meter {
            limits,
            moved: AtomicU64::new(0),
            requests: AtomicU32::new(0),
            files: AtomicU64::new(0),
            reached: Mutex::new(None),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Counts `n` more bytes moved.
    pub fn bytes(&self, n: u64) -> Result<(), Error> {
        let moved = self.moved.fetch_add(n, Ordering::Relaxed) + n;
        match self.limits.max_bytes {
            Some(max) if moved > max => Err(self.reach(format!(
                "the transfer moved more than its limit of {max} bytes (--max-bytes)"
            ))),
            _ => Ok(()),
        }
    }

    /// Bytes moved so far.
    pub fn moved(&self) -> u64 {
        self.moved.load(Ordering::Relaxed)
    }

    /// Counts one more request or connection.
    pub fn request(&self) -> Result<(), Error> {
        let made = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let max = self.limits.max_requests;
        let files = self.files.load(Ordering::Relaxed);
        let credit = files.saturating_mul(u64::from(REQUESTS_PER_FILE));
        if u64::from(made) > u64::from(max).saturating_add(credit) {
            return Err(self.reach(format!(
                "the connector made more than its limit of {max} requests (--max-requests)"
            )));
        }
        Ok(())
    }

    /// Counts `n` more files of a directory transfer (created or read).
    pub fn files(&self, n: u64) -> Result<(), Error> {
        let files = self.files.fetch_add(n, Ordering::Relaxed) + n;
        let max = self.limits.max_files;
        if files > max {
            return Err(self.reach(format!(
                "the transfer has more than its limit of {max} files and folders (--max-files)"
            )));
        }
        Ok(())
    }

    /// Records a limit reached elsewhere (memory, time, fuel) and returns its error.
    pub fn reach(&self, message: String) -> Error {
        let error = Error::new(ErrorKind::Denied, message);
        let mut reached = self.reached.lock().unwrap();
        reached.get_or_insert_with(|| error.clone()).clone()
    }

    /// The first limit reached, if any.
    pub fn reached(&self) -> Option<Error> {
        self.reached.lock().unwrap().clone()
    }
}

/// `n` bytes as people read them (for messages).
pub fn human_bytes(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}
