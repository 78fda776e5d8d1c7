//! Compiled components, kept so that a component is compiled once per machine, not per run.
//!
//! A compiled component is native code that wasmtime loads without checking it, so an entry
//! is trusted only if it is whole: each file holds the SHA-256 of its payload, and an entry
//! that fails that check (or that wasmtime refuses) is compiled again and rewritten.
//! Entries are keyed by the component's bytes and the engine's compatibility hash (wasmtime
//! version and settings).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Compiled components in memory (this process) and on disk (across processes).
pub struct ComponentCache {
    dir: Option<PathBuf>,
    engine_key: u64,
    loaded: Mutex<HashMap<[u8; 32], Component>>,
}

impl ComponentCache {
    /// A cache in `dir`, or in memory only when `None`.
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        ComponentCache {
            dir,
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

    /// The component for `bytes`, as `accept` makes it ready for use: from memory, from
    /// disk, or compiled. A freshly compiled component is written to disk only when `accept`
    /// takes it, so a rejected component never stays in the cache.
    pub fn get<T>(
        &self,
        engine: &Engine,
        bytes: &[u8],
        accept: impl FnOnce(&Component) -> Result<T, crate::Error>,
    ) -> Result<T, CacheError> {
        let key: [u8; 32] = Sha256::new()
            .chain_update(self.engine_key.to_le_bytes())
            .chain_update(bytes)
            .finalize()
            .into();
        let known = self.loaded.lock().unwrap().get(&key).cloned();
        if let Some(component) = known {
            return accept(&component).map_err(CacheError::Rejected);
        }
        let file = self
            .dir
            .as_ref()
            .map(|dir| dir.join(format!("{}.cwasm", hex(&key))));
        let (component, fresh) = match file.as_deref().and_then(|f| load(engine, f)) {
            Some(component) => (component, false),
            None => (
                Component::new(engine, bytes).map_err(CacheError::Compile)?,
                true,
            ),
        };
        let ready = accept(&component).map_err(CacheError::Rejected)?;
        if let Some(file) = file.filter(|_| fresh) {
            // A cache that cannot be written only costs time.
            let _ = store(&component, &file);
        }
        self.loaded.lock().unwrap().insert(key, component);
        Ok(ready)
    }
}

/// Why [`ComponentCache::get`] gave no component.
pub enum CacheError {
    /// wasmtime could not compile the bytes.
    Compile(wasmtime::Error),
    /// The caller's check refused the compiled component.
    Rejected(crate::Error),
}

/// An entry from disk, if it is whole and wasmtime takes it.
fn load(engine: &Engine, file: &Path) -> Option<Component> {
    let data = std::fs::read(file).ok()?;
    let (sum, payload) = data.split_at_checked(32)?;
    if Sha256::digest(payload).as_slice() != sum {
        return None;
    }
    // SAFETY: the payload is what `Component::serialize` wrote for an engine with the same
    // compatibility hash (the file name says so), and its checksum shows it is unchanged.
    unsafe { Component::deserialize(engine, payload) }.ok()
}

/// Writes an entry atomically: a temporary file in the folder, renamed into place.
fn store(component: &Component, file: &Path) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let payload = component.serialize().map_err(std::io::Error::other)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    use std::io::Write as _;
    temp.write_all(&Sha256::digest(&payload))?;
    temp.write_all(&payload)?;
    temp.persist(file).map_err(|e| e.error)?;
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_entry_is_rebuilt_not_trusted() {
        let engine = Engine::default();
        let dir = tempfile::tempdir().unwrap();
        let bytes = crate::builtin::component_bytes("http-mock-send").unwrap();
        let accept = |_: &Component| Ok(());
        assert!(ComponentCache::new(&engine, Some(dir.path().into()))
            .get(&engine, bytes, accept)
            .is_ok());
        let entry = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut data = std::fs::read(&entry).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0xff;
        std::fs::write(&entry, &data).unwrap();
        assert!(
            load(&engine, &entry).is_none(),
            "a damaged entry must fail its check"
        );
        let accept = |_: &Component| Ok(());
        assert!(ComponentCache::new(&engine, Some(dir.path().into()))
            .get(&engine, bytes, accept)
            .is_ok());
        assert!(
            load(&engine, &entry).is_some(),
            "the entry was rewritten whole"
        );
    }
}
