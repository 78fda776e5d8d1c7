//! The embedding API: one [`Runtime`] per process, [`Connector`]s loaded from it, and
//! transfers that each run in a store of their own.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use wasmtime::component::Linker;
use wasmtime::Engine;

use crate::bindings::DirectoryConnectorComponent;
use crate::cache::ComponentCache;
use crate::connector::ConnectorPre;
use crate::connector::{Connector, EPOCH_TICK};
use crate::host::http::{Clients, Timeouts};
use crate::host::HostState;
use crate::{builtin, Error, ErrorKind, Result};

/// Settings of a [`Runtime`].
#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    /// Network timeouts of the HTTP clients.
    pub timeouts: Timeouts,
    /// Where compiled components are kept across processes; `None` keeps them in memory only.
    /// [`RuntimeOptions::default`] uses `$RED_WASM_CACHE_DIR`, else `~/.cache/red-wasm`.
    /// A folder that cannot be written is no error: compiled components then live for the
    /// process only.
    pub cache_dir: Option<PathBuf>,
    /// Read-only folders of precompiled components (written by [`Runtime::precompile`],
    /// `red-wasm compile` and `red-wasm install-commands`), looked at after `cache_dir`.
    /// [`RuntimeOptions::default`] uses `$RED_WASM_PRECOMPILED` (`:`-separated), then
    /// `.red-wasm-precompiled` beside the running executable.
    pub precompiled_dirs: Vec<PathBuf>,
    /// Whether a component that no cache holds may be compiled (seconds for a large one);
    /// `false` makes loading it an error instead. [`RuntimeOptions::default`]: true unless
    /// `$RED_WASM_COMPILE` is `never`.
    pub compile: bool,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            timeouts: Timeouts::default(),
            cache_dir: ComponentCache::default_dir(),
            precompiled_dirs: ComponentCache::default_precompiled(),
            compile: std::env::var("RED_WASM_COMPILE")
                .map_or(true, |v| !v.trim().eq_ignore_ascii_case("never")),
        }
    }
}

/// The red-wasm runtime: one wasmtime engine, the host's linker and HTTP connection pools.
/// Create one per process and share it; it is cheap to clone, `Send` and `Sync`.
#[derive(Clone)]
pub struct Runtime {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) engine: Engine,
    linker: Linker<HostState>,
    pub(crate) clients: Arc<Clients>,
    pub(crate) timeouts: Timeouts,
    components: ComponentCache,
    /// Stops the epoch ticker when the last clone of the runtime goes.
    ticking: Arc<AtomicBool>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.ticking.store(false, Ordering::Relaxed);
    }
}

impl Runtime {
    /// A runtime with default settings.
    pub fn new() -> Result<Self> {
        Self::with_options(RuntimeOptions::default())
    }

    pub fn with_options(options: RuntimeOptions) -> Result<Self> {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        // Time limits and cooperative yields (epochs) and instruction limits (fuel).
        config.epoch_interruption(true);
        config.consume_fuel(true);
        let engine = Engine::new(&config)
            .map_err(|e| Error::internal(format!("cannot set up wasmtime: {e}")))?;
        let ticking = Arc::new(AtomicBool::new(true));
        let (ticker, running) = (engine.weak(), ticking.clone());
        std::thread::Builder::new()
            .name("red-wasm-epoch".into())
            .spawn(move || {
                while running.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match ticker.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| Error::internal(format!("cannot start the epoch ticker: {e}")))?;
        let mut linker = Linker::new(&engine);
        let link_error = |e: wasmtime::Error| Error::internal(format!("cannot link the host: {e}"));
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(link_error)?;
        DirectoryConnectorComponent::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
            &mut linker,
            |s| s,
        )
        .map_err(link_error)?;
        Ok(Runtime {
            shared: Arc::new(Shared {
                components: ComponentCache::new(
                    &engine,
                    options.cache_dir,
                    options.precompiled_dirs,
                    options.compile,
                ),
                engine,
                linker,
                clients: Arc::new(Clients::new(&options.timeouts)),
                timeouts: options.timeouts,
                ticking,
            }),
        })
    }

    /// A connector by built-in name (`http`, ...), by RED connector CLI 1 command name
    /// (`red-connector-http`, ...) or by the path of a `.wasm` component: a reference with a
    /// `/` or ending in `.wasm` is a path.
    pub fn load(&self, reference: &str) -> Result<Connector> {
        let (source, label) = component_source(reference)?;
        self.load_component(&source, &label).map(|(c, ..)| c)
    }

    /// The connector a RED connector object file (`.json`, `.yml`, `.yaml`) names, and the
    /// access document it holds (as JSON text), if any.
    pub fn load_object(&self, path: &Path) -> Result<(Connector, Option<String>)> {
        let object = crate::reference::read_object(path)?;
        let connector = match &object.reference {
            crate::reference::Reference::Builtin(name) => self.builtin(name)?,
            crate::reference::Reference::Component(file) => self.load_file(file)?,
        };
        Ok((connector, object.access.map(|a| a.to_string())))
    }

    /// A built-in connector; see [`builtin_names`](crate::builtin_names).
    pub fn builtin(&self, name: &str) -> Result<Connector> {
        self.load_bytes(builtin_bytes(name)?, name)
    }

    /// A connector component from a file. When the file is cached or precompiled, its bytes
    /// are only hashed, never held in memory.
    pub fn load_file(&self, path: &Path) -> Result<Connector> {
        let source = Source::File(path.to_path_buf());
        self.load_component(&source, &path.display().to_string())
            .map(|(c, ..)| c)
    }

    /// A connector component from its bytes; `label` names it in messages.
    ///
    /// Its imports are checked before anything is compiled, and a component that is rejected
    /// (imports, contract) is never written to the compiled-component cache.
    pub fn load_bytes(&self, bytes: &[u8], label: &str) -> Result<Connector> {
        self.load_component(&Source::Bytes(bytes), label)
            .map(|(connector, ..)| connector)
    }

    /// Compiles a connector component (as [`Runtime::load`] names it) into `dir`, a folder of
    /// precompiled components for [`RuntimeOptions::precompiled_dirs`], readable by every
    /// user. Returns the file written. The component is checked as a load checks it.
    pub fn precompile(&self, reference: &str, dir: &Path) -> Result<PathBuf> {
        let (source, label) = component_source(reference)?;
        let (_, component, key) = self.load_component(&source, &label)?;
        let file = dir.join(ComponentCache::entry_name(&key));
        crate::cache::store(&component, &file, 0o644)
            .map_err(|e| Error::local_io(format!("writing {}", file.display()), &e))?;
        Ok(file)
    }

    /// Loads a component: from the caches when they hold it, else checked (imports first,
    /// before compiling) and compiled; in both cases linked against the contract.
    fn load_component(
        &self,
        source: &Source,
        label: &str,
    ) -> Result<(Connector, wasmtime::component::Component, crate::cache::Key)> {
        let engine = &self.shared.engine;
        let cache = &self.shared.components;
        let key = source.key(cache)?;
        let compile = || {
            let bytes = source.bytes()?;
            // A file read twice may have changed between the reads (or be a pipe): what is
            // compiled must be what the key names, or another component's entry would be made.
            if cache.key(&bytes) != key {
                return Err(crate::cache::CacheError::Rejected(Error::new(
                    ErrorKind::LocalIo,
                    format!("{label} changed while it was read"),
                )));
            }
            check_imports(&bytes, label).map_err(crate::cache::CacheError::Rejected)?;
            wasmtime::component::Component::new(engine, &bytes)
                .map_err(crate::cache::CacheError::Compile)
        };
        let link = |component: &wasmtime::component::Component| {
            let instance_pre = self.shared.linker.instantiate_pre(component).map_err(|e| {
                Error::internal(format!(
                    "{label} does not fit the red:connector contract: {e:#}"
                ))
            })?;
            ConnectorPre::new(instance_pre).map_err(|e| {
                Error::internal(format!(
                    "{label} does not export red:connector/connector: {e:#}"
                ))
            })
        };
        let (pre, component) = self
            .shared
            .components
            .get(engine, key, compile, link)
            .map_err(|e| match e {
                crate::cache::CacheError::Compile(e) => Error::internal(format!(
                    "{label} is not a loadable WebAssembly component: {}",
                    one_line(&e)
                )),
                crate::cache::CacheError::Rejected(e) => e,
            })?;
        let connector = Connector {
            shared: self.shared.clone(),
            pre,
            label: label.to_owned(),
        };
        Ok((connector, component, key))
    }
}

/// Where a component's bytes are.
enum Source<'a> {
    Bytes(&'a [u8]),
    File(PathBuf),
}

impl Source<'_> {
    fn key(&self, cache: &ComponentCache) -> Result<crate::cache::Key> {
        match self {
            Source::Bytes(bytes) => Ok(cache.key(bytes)),
            Source::File(path) => cache
                .key_of_file(path)
                .map_err(|e| Error::local_io(format!("reading {}", path.display()), &e)),
        }
    }

    fn bytes(&self) -> Result<std::borrow::Cow<'_, [u8]>, crate::cache::CacheError> {
        match self {
            Source::Bytes(bytes) => Ok((*bytes).into()),
            Source::File(path) => file_bytes(path)
                .map(Into::into)
                .map_err(crate::cache::CacheError::Rejected),
        }
    }
}

/// The component `reference` names (see [`Runtime::load`]) and its label.
fn component_source(reference: &str) -> Result<(Source<'static>, String)> {
    if let Some(name) = crate::reference::builtin_for_command(reference) {
        return Ok((Source::Bytes(builtin_bytes(name)?), name.to_owned()));
    }
    if reference.contains('/') || reference.ends_with(".wasm") {
        Ok((Source::File(reference.into()), reference.to_owned()))
    } else {
        Ok((
            Source::Bytes(builtin_bytes(reference)?),
            reference.to_owned(),
        ))
    }
}

fn builtin_bytes(name: &str) -> Result<&'static [u8]> {
    builtin::component_bytes(name).ok_or_else(|| {
        let known = crate::reference::known_names();
        Error::new(
            ErrorKind::InvalidAccess,
            format!("no connector named {name:?} ({known})"),
        )
    })
}

fn file_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::local_io(format!("reading {}", path.display()), &e))
}

/// A wasmtime error and its causes on one line.
fn one_line(error: &wasmtime::Error) -> String {
    format!("{error:#}").replace('\n', " ")
}

/// The interfaces a connector may import: the contract, and the WASI 0.2 interfaces that
/// wasm32-wasip2's std and CPython link, all empty, closed or refusing here: no preopens, no
/// environment, no stdio, and sockets that can be neither created nor connected (every
/// address is refused and name lookup fails; see `HostState::new`). HTTP and anything else
/// are not among them.
const ALLOWED_IMPORTS: &[&str] = &[
    "wasi:sockets/",
    "red:connector/",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
];

/// Rejects a file that is not a WebAssembly component, or a component that imports anything
/// outside [`ALLOWED_IMPORTS`] (listing every offending import), by reading its top-level
/// import section: before compiling, which costs seconds for a large component.
fn check_imports(bytes: &[u8], label: &str) -> Result<()> {
    use wasmparser::{Encoding, Parser, Payload};
    let not_loadable = |why: String| {
        Error::internal(format!(
            "{label} is not a loadable WebAssembly component: {why}"
        ))
    };
    if !bytes.starts_with(b"\0asm") {
        return Err(not_loadable(
            "not a WebAssembly file (it does not start with \\0asm)".into(),
        ));
    }
    let mut depth = 0usize;
    let mut offending = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| not_loadable(e.to_string()))?;
        match payload {
            Payload::Version { encoding, .. } => {
                if depth == 0 && encoding != Encoding::Component {
                    return Err(not_loadable(
                        "a core WebAssembly module, not a component (build for wasm32-wasip2, or wrap it with `wasm-tools component new`)".into(),
                    ));
                }
                depth += 1;
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    let name = import.map_err(|e| not_loadable(e.to_string()))?.name.name;
                    if !ALLOWED_IMPORTS
                        .iter()
                        .any(|allowed| name.starts_with(allowed))
                    {
                        offending.push(name.to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    if offending.is_empty() {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Denied,
        format!(
            "{label} imports what a connector may not use: {} (a connector may import only red:connector and the WASI interfaces that wasm32-wasip2's std needs)",
            offending.join(", ")
        ),
    ))
}
