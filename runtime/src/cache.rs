//! Compiled components, kept so that a component is compiled once, not per run.
//!
//! Three places hold them, looked at in this order: this process's memory; the user's cache
//! folder (read and written; a folder that cannot be written only costs time); and read-only
//! precompiled folders, which `red-wasm install-commands` and `red-wasm compile` fill so that
//! no launch compiles, for any user and any `HOME` (an image's commands run as whatever user
//! the image runs as, usually with no writable home).
//!
//! A compiled component is native code that wasmtime loads without checking it, so an entry
//! is trusted only if it is whole: each `.cwasm` file has a `.sum` file beside it with its
//! checksum, and an entry that fails that check (or that wasmtime refuses) is compiled again. A precompiled folder
//! is trusted like the binary itself: one that others than its owner may write to, or owned
//! by someone other than root or the current user, is passed over. Entries are keyed by the
//! component's bytes and the engine's compatibility hash (wasmtime version and settings).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// The folder name of the precompiled components that `install-commands` writes beside the
/// commands (and that the `red-wasm` binary looks for beside itself).
pub const PRECOMPILED_DIR_NAME: &str = ".red-wasm-precompiled";

/// Compiled components in memory (this process) and on disk (across processes).
pub struct ComponentCache {
    dir: Option<PathBuf>,
    precompiled: Vec<PathBuf>,
    compile: bool,
    engine_key: u64,
    loaded: Mutex<HashMap<[u8; 32], Component>>,
}

impl ComponentCache {
    /// A cache in `dir` (or in memory only when `None`) that also reads the `precompiled`
    /// folders, and compiles what none holds only if `compile` is true.
    pub fn new(
        engine: &Engine,
        dir: Option<PathBuf>,
        precompiled: Vec<PathBuf>,
        compile: bool,
    ) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        ComponentCache {
            dir,
            precompiled,
            compile,
            engine_key: hasher.finish(),
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// The default folder: `$RED_WASM_CACHE_DIR`, else `$XDG_CACHE_HOME/red-wasm`, else
    /// `~/.cache/red-wasm`; `None` when `RED_WASM_CACHE_DIR` is empty or `off`.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("RED_WASM_CACHE_DIR") {
            return match dir.to_str() {
                Some("") | Some("off") => None,
                _ => Some(PathBuf::from(dir)),
            };
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
        Some(base.join("red-wasm"))
    }

    /// The default precompiled folders: those in `$RED_WASM_PRECOMPILED` (separated by `:`),
    /// then [`PRECOMPILED_DIR_NAME`] beside the running executable.
    pub fn default_precompiled() -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::env::var_os("RED_WASM_PRECOMPILED")
            .map(|v| {
                std::env::split_paths(&v)
                    .filter(|p| !p.as_os_str().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf))
        {
            dirs.push(dir.join(PRECOMPILED_DIR_NAME));
        }
        dirs
    }

    /// The file name of the entry for `key`.
    pub fn entry_name(key: &Key) -> String {
        format!("{}.cwasm", crate::messages::hex(&key.0))
    }

    /// The key of a component's bytes (SHA-256, with the engine's compatibility).
    pub fn key(&self, bytes: &[u8]) -> Key {
        Key(self.hasher().chain_update(bytes).finalize().into())
    }

    /// The key of the component in `file`, read in pieces: a cached component never has its
    /// bytes in memory (a CPython one is 18 MB).
    pub fn key_of_file(&self, file: &Path) -> std::io::Result<Key> {
        use std::io::Read as _;
        let mut reader = std::fs::File::open(file)?;
        let mut hasher = self.hasher();
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let n = reader.read(&mut buffer)?;
            if n == 0 {
                return Ok(Key(hasher.finalize().into()));
            }
            hasher.update(&buffer[..n]);
        }
    }

    fn hasher(&self) -> Sha256 {
        Sha256::new().chain_update(self.engine_key.to_le_bytes())
    }

    /// The component with `key`, as `accept` makes it ready for use, and the component itself:
    /// from memory, from disk, or made by `compile` (which checks and compiles the bytes; only
    /// a component that passed it and `accept` is ever cached, so a hit needs no check again).
    /// A freshly compiled component is written to the cache folder only when `accept` takes it.
    pub fn get<T>(
        &self,
        engine: &Engine,
        key: Key,
        compile: impl FnOnce() -> Result<Component, CacheError>,
        accept: impl FnOnce(&Component) -> Result<T, crate::Error>,
    ) -> Result<(T, Component), CacheError> {
        let key = key.0;
        let known = self.loaded.lock().unwrap().get(&key).cloned();
        if let Some(component) = known {
            let ready = accept(&component).map_err(CacheError::Rejected)?;
            return Ok((ready, component));
        }
        let name = format!("{}.cwasm", crate::messages::hex(&key));
        // Precompiled folders first (an image's, written by root), then the user's cache; each
        // only when it may be trusted with native code.
        let on_disk = self
            .precompiled
            .iter()
            .chain(&self.dir)
            .filter_map(|dir| TrustedDir::open(dir))
            .find_map(|dir| dir.load(engine, &name));
        let (component, fresh) = match on_disk {
            Some(component) => (component, false),
            None if !self.compile => return Err(CacheError::Compile(wasmtime::Error::msg(
                "it is not precompiled, and compiling is switched off (RED_WASM_COMPILE=never); \
                     precompile it with `red-wasm compile` or `red-wasm install-commands`",
            ))),
            None => (compile()?, true),
        };
        let ready = accept(&component).map_err(CacheError::Rejected)?;
        if let Some(dir) = self.dir.as_ref().filter(|_| fresh) {
            // A cache that cannot be written (or is not ours) only costs time.
            let _ = std::fs::create_dir_all(dir);
            if TrustedDir::open(dir).is_some() {
                let _ = store(&component, &dir.join(&name), 0o600);
            }
        }
        self.loaded.lock().unwrap().insert(key, component.clone());
        Ok((ready, component))
    }
}

/// A folder that may be trusted with native code, held open so that what is checked is what
/// is read: it is a folder owned by root or the current user that nobody else may write to,
/// and each entry is opened inside it (through the open handle, never following a symbolic
/// link) and checked the same way. A folder whose parent others may write to cannot be
/// swapped for another between the check and the read.
struct TrustedDir(std::fs::File);

impl TrustedDir {
    fn open(dir: &Path) -> Option<Self> {
        let handle = std::fs::File::open(dir).ok()?;
        let meta = handle.metadata().ok()?;
        (meta.is_dir() && owned_safely(&meta)).then_some(TrustedDir(handle))
    }

    /// The path of `name` inside this very folder (not whatever its path names now).
    fn path_of(&self, name: &str) -> PathBuf {
        use std::os::fd::AsRawFd as _;
        PathBuf::from(format!("/proc/self/fd/{}/{name}", self.0.as_raw_fd()))
    }

    /// The entry `name`, opened without following links, if it is a file owned safely.
    fn entry(&self, name: &str) -> Option<std::fs::File> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(self.path_of(name))
            .ok()?;
        let meta = file.metadata().ok()?;
        (meta.is_file() && owned_safely(&meta)).then_some(file)
    }

    /// The entry `name`, if it is whole and wasmtime takes it. The file is mapped, not read:
    /// only the pages a transfer uses become memory of the process, and the connector's
    /// memory image is mapped copy-on-write from it (a CPython component starts in
    /// milliseconds, not after a 40 MB copy).
    fn load(&self, engine: &Engine, name: &str) -> Option<Component> {
        use std::io::Read as _;
        use std::os::fd::AsRawFd as _;
        let mut expected = String::new();
        self.entry(&sum_name(name))?
            .read_to_string(&mut expected)
            .ok()?;
        let entry = self.entry(name)?;
        if checksum(&entry).ok()? != expected.trim() {
            return None;
        }
        let path = format!("/proc/self/fd/{}", entry.as_raw_fd());
        // SAFETY: the file is what `Component::serialize` wrote for an engine with the same
        // compatibility hash (its name says so), its checksum shows it is unchanged, it lies in
        // a folder only root or this user can write, and it is replaced only by renaming a new
        // file onto it (never written in place); the path names the very file checked.
        unsafe { Component::deserialize_file(engine, path) }.ok()
    }
}

/// Owned by root or the current user, and writable by nobody else.
fn owned_safely(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    meta.mode() & 0o022 == 0 && (meta.uid() == 0 || meta.uid() == me)
}

/// What a cache entry is found by: a component's bytes and the engine it was compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key([u8; 32]);

/// Why [`ComponentCache::get`] gave no component.
pub enum CacheError {
    /// wasmtime could not compile the bytes.
    Compile(wasmtime::Error),
    /// The caller's check refused the compiled component.
    Rejected(crate::Error),
}

/// The checksum file's name beside entry `name`.
fn sum_name(name: &str) -> String {
    format!("{}.sum", name.trim_end_matches(".cwasm"))
}

/// The entry's XXH3-128, in hex. A checksum against damage, not against an attacker: the
/// folders are trusted (see the module documentation). Read in 1 MiB pieces, so that
/// checking a large entry does not make it resident.
fn checksum(mut reader: &std::fs::File) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(format!("{:032x}", hasher.digest128()))
}

/// Writes an entry atomically (a temporary file in the folder, renamed into place) with its
/// checksum file beside it, with permissions `mode` (0600 in a user's cache, 0644 in a
/// precompiled folder for every user).
pub fn store(component: &Component, file: &Path, mode: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let payload = component.serialize().map_err(std::io::Error::other)?;
    let write = |bytes: &[u8], to: &Path| -> std::io::Result<()> {
        let mut temp = tempfile::NamedTempFile::new_in(dir)?;
        temp.write_all(bytes)?;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
        temp.persist(to).map_err(|e| e.error)?;
        Ok(())
    };
    let sum = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&payload));
    // The checksum first: an entry without its (matching) checksum is never loaded.
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    write(sum.as_bytes(), &dir.join(sum_name(&name)))?;
    write(&payload, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// http-mock-send through `cache`.
    fn get(
        cache: &ComponentCache,
        accept: impl FnOnce(&Component) -> Result<(), crate::Error>,
    ) -> Result<((), Component), CacheError> {
        let engine = Engine::default();
        let bytes = crate::builtin::component_bytes("http-mock-send").unwrap();
        let compile = || Component::new(&engine, bytes).map_err(CacheError::Compile);
        cache.get(&engine, cache.key(bytes), compile, accept)
    }

    #[test]
    fn a_damaged_entry_is_rebuilt_not_trusted() {
        let engine = Engine::default();
        let dir = tempfile::tempdir().unwrap();
        let accept = |_: &Component| Ok(());
        assert!(get(
            &ComponentCache::new(&engine, Some(dir.path().into()), Vec::new(), true),
            accept
        )
        .is_ok());
        let entry = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
            .unwrap();
        let mut data = std::fs::read(&entry).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0xff;
        std::fs::write(&entry, &data).unwrap();
        let name = entry.file_name().unwrap().to_str().unwrap().to_owned();
        let load = || TrustedDir::open(dir.path()).unwrap().load(&engine, &name);
        assert!(load().is_none(), "a damaged entry must fail its check");
        let accept = |_: &Component| Ok(());
        assert!(get(
            &ComponentCache::new(&engine, Some(dir.path().into()), Vec::new(), true),
            accept
        )
        .is_ok());
        assert!(load().is_some(), "the entry was rewritten whole");
    }

    #[test]
    fn only_folders_and_entries_that_nobody_else_may_write_are_read() {
        use std::os::unix::fs::PermissionsExt as _;
        let engine = Engine::default();
        let dir = tempfile::tempdir().unwrap();
        let cache = || ComponentCache::new(&engine, Some(dir.path().into()), Vec::new(), false);
        // Compiling is off below: a load succeeds only from a trusted entry.
        get(
            &ComponentCache::new(&engine, Some(dir.path().into()), Vec::new(), true),
            |_| Ok(()),
        )
        .ok()
        .unwrap();
        assert!(get(&cache(), |_| Ok(())).is_ok());
        let mode = |path: &Path, mode: u32| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
        };
        mode(dir.path(), 0o777);
        assert!(
            get(&cache(), |_| Ok(())).is_err(),
            "a folder others may write"
        );
        mode(dir.path(), 0o755);
        let entry = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
            .unwrap();
        mode(&entry, 0o666);
        assert!(
            get(&cache(), |_| Ok(())).is_err(),
            "an entry others may write"
        );
        mode(&entry, 0o600);
        // A link in a trusted folder to an entry elsewhere is not followed.
        let elsewhere = tempfile::tempdir().unwrap();
        let moved = elsewhere.path().join("moved.cwasm");
        std::fs::rename(&entry, &moved).unwrap();
        std::os::unix::fs::symlink(&moved, &entry).unwrap();
        assert!(get(&cache(), |_| Ok(())).is_err(), "a link is not followed");
    }
}
