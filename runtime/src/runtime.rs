//! The embedding API: one [`Runtime`] per process, [`Connector`]s loaded from it, and
//! transfers that each run in a store of their own.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::Linker;
use wasmtime::{Engine, Store, StoreLimitsBuilder};

use crate::bindings::{ConnectorComponent, ConnectorComponentPre};
use crate::cache::ComponentCache;
use crate::host::http::{Clients, Timeouts};
use crate::host::local::{Input, Output, SinkHandle};
use crate::host::{HostState, TransferCtx};
use crate::observer::{Observer, Silent};
use crate::policy::{HostKeyCheck, HostRule, Policy};
use crate::{builtin, Error, ErrorKind, Result};

/// Settings of a [`Runtime`].
#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    /// Network timeouts of the HTTP clients.
    pub timeouts: Timeouts,
    /// Where compiled components are kept across processes; `None` keeps them in memory only.
    /// [`RuntimeOptions::default`] uses `$RED_WASM_CACHE_DIR`, else `~/.cache/red-wasm`.
    pub cache_dir: Option<PathBuf>,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            timeouts: Timeouts::default(),
            cache_dir: ComponentCache::default_dir(),
        }
    }
}

/// The red-wasm runtime: one wasmtime engine, the host's linker and HTTP connection pools.
/// Create one per process and share it; it is cheap to clone, `Send` and `Sync`.
#[derive(Clone)]
pub struct Runtime {
    shared: Arc<Shared>,
}

struct Shared {
    engine: Engine,
    linker: Linker<HostState>,
    clients: Arc<Clients>,
    timeouts: Timeouts,
    components: ComponentCache,
}

impl Runtime {
    /// A runtime with default settings.
    pub fn new() -> Result<Self> {
        Self::with_options(RuntimeOptions::default())
    }

    pub fn with_options(options: RuntimeOptions) -> Result<Self> {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        let engine = Engine::new(&config)
            .map_err(|e| Error::internal(format!("cannot set up wasmtime: {e}")))?;
        let mut linker = Linker::new(&engine);
        let link_error = |e: wasmtime::Error| Error::internal(format!("cannot link the host: {e}"));
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(link_error)?;
        ConnectorComponent::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)
            .map_err(link_error)?;
        Ok(Runtime {
            shared: Arc::new(Shared {
                components: ComponentCache::new(&engine, options.cache_dir),
                engine,
                linker,
                clients: Arc::new(Clients::new(&options.timeouts)?),
                timeouts: options.timeouts,
            }),
        })
    }

    /// A connector by built-in name (`http`, ...) or by the path of a `.wasm` component: a
    /// reference with a `/` or ending in `.wasm` is a path.
    pub fn load(&self, reference: &str) -> Result<Connector> {
        if reference.contains('/') || reference.ends_with(".wasm") {
            self.load_file(Path::new(reference))
        } else {
            self.builtin(reference)
        }
    }

    /// A built-in connector; see [`builtin_names`](crate::builtin_names).
    pub fn builtin(&self, name: &str) -> Result<Connector> {
        let bytes = builtin::component_bytes(name).ok_or_else(|| {
            let known = builtin::names().collect::<Vec<_>>().join(", ");
            Error::new(
                ErrorKind::InvalidAccess,
                format!("no built-in connector named {name:?} (built-in: {known}; give a path to load a .wasm component)"),
            )
        })?;
        self.load_bytes(bytes, name)
    }

    /// A connector component from a file.
    pub fn load_file(&self, path: &Path) -> Result<Connector> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::local_io(format!("reading {}", path.display()), &e))?;
        self.load_bytes(&bytes, &path.display().to_string())
    }

    /// A connector component from its bytes; `label` names it in messages.
    pub fn load_bytes(&self, bytes: &[u8], label: &str) -> Result<Connector> {
        let component = self
            .shared
            .components
            .get(&self.shared.engine, bytes)
            .map_err(|e| {
                Error::internal(format!(
                    "{label} is not a loadable WebAssembly component: {e:#}"
                ))
            })?;
        let instance_pre = self
            .shared
            .linker
            .instantiate_pre(&component)
            .map_err(|e| {
                Error::internal(format!(
                    "{label} does not fit the red:connector contract: {e:#}"
                ))
            })?;
        let pre = ConnectorComponentPre::new(instance_pre).map_err(|e| {
            Error::internal(format!(
                "{label} does not export red:connector/connector: {e:#}"
            ))
        })?;
        Ok(Connector {
            shared: self.shared.clone(),
            pre,
            label: label.to_owned(),
        })
    }
}

/// Which way a transfer goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Remote to a local file.
    Receive,
    /// A local file to remote.
    Send,
}

/// Where a receive writes.
#[derive(Clone, Debug)]
pub enum ReceiveTarget {
    /// A file: written under a temporary name beside it, renamed on success.
    File(PathBuf),
    /// Standard output, streamed.
    Stdout,
}

/// Settings of one transfer.
#[derive(Clone)]
pub struct TransferOptions {
    /// Endpoints allowed besides those the access document names.
    pub allow_hosts: Vec<HostRule>,
    /// Whether the endpoints named in the access document are allowed (default true).
    pub allow_derived_hosts: bool,
    /// How SSH host keys are checked (default: any key, as the original connectors).
    pub ssh_host_keys: HostKeyCheck,
    /// Largest linear memory of the connector, in bytes.
    pub max_memory: usize,
    /// Receives log lines and progress.
    pub observer: Arc<dyn Observer>,
}

impl Default for TransferOptions {
    fn default() -> Self {
        TransferOptions {
            allow_hosts: Vec::new(),
            allow_derived_hosts: true,
            ssh_host_keys: HostKeyCheck::AcceptAny,
            max_memory: 128 << 20,
            observer: Arc::new(Silent),
        }
    }
}

impl TransferOptions {
    fn policy(&self, access: &str) -> Policy {
        let mut policy = match serde_json::from_str(access) {
            Ok(doc) if self.allow_derived_hosts => Policy::derived_from(&doc),
            _ => Policy::deny_all(),
        };
        for rule in &self.allow_hosts {
            policy.allow(rule.clone());
        }
        policy.check_host_keys(self.ssh_host_keys.clone());
        policy
    }
}

/// What a finished transfer did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    /// Bytes written (receive) or the size of the file sent (send).
    pub bytes: u64,
    /// Wall-clock time of the whole transfer.
    pub duration: Duration,
}

/// What a connector says about itself.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ConnectorInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    /// The access document's JSON Schema.
    pub access_schema: serde_json::Value,
}

/// A loaded connector, compiled and linked; each call instantiates it in a fresh store.
/// Cheap to clone.
#[derive(Clone)]
pub struct Connector {
    shared: Arc<Shared>,
    pre: ConnectorComponentPre<HostState>,
    label: String,
}

impl Connector {
    /// The name it was loaded by.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The connector's name, version, description and access schema.
    pub async fn info(&self) -> Result<ConnectorInfo> {
        let (mut store, instance) = self
            .instantiate(None, None, &TransferOptions::default(), "")
            .await?;
        let info = instance
            .red_connector_connector()
            .call_info(&mut store)
            .await
            .map_err(|e| self.trap(e))?;
        let access_schema = serde_json::from_str(&info.access_schema).map_err(|e| {
            Error::internal(format!(
                "{}: its access schema is not JSON: {e}",
                self.label
            ))
        })?;
        Ok(ConnectorInfo {
            name: info.name,
            version: info.version,
            description: info.description,
            access_schema,
        })
    }

    /// Checks `access` for a transfer in `direction`, without network traffic.
    pub async fn validate(&self, direction: Direction, access: &str) -> Result<()> {
        let (mut store, instance) = self
            .instantiate(None, None, &TransferOptions::default(), access)
            .await?;
        let exports = instance.red_connector_connector();
        let result = match direction {
            Direction::Receive => exports.call_validate_receive(&mut store, access).await,
            Direction::Send => exports.call_validate_send(&mut store, access).await,
        };
        result.map_err(|e| self.trap(e))?.map_err(Error::from)
    }

    /// Receives into `target`. On failure nothing is left at a target file.
    pub async fn receive(
        &self,
        access: &str,
        target: ReceiveTarget,
        options: &TransferOptions,
    ) -> Result<Outcome> {
        let started = Instant::now();
        let output = match &target {
            ReceiveTarget::File(path) => Output::beside(path)?,
            ReceiveTarget::Stdout => Output::stdout(),
        };
        let (mut store, instance) = self
            .instantiate(Some(output), None, options, access)
            .await?;
        let sink = store
            .data_mut()
            .table
            .push(SinkHandle)
            .map_err(|e| Error::internal(e.to_string()))?;
        let result = instance
            .red_connector_connector()
            .call_receive(&mut store, access, sink)
            .await;
        result.map_err(|e| self.trap(e))?.map_err(Error::from)?;
        let output = store
            .data_mut()
            .transfer
            .output
            .take()
            .ok_or_else(|| Error::internal("the transfer's output is gone"))?;
        let bytes = output.written();
        output.commit()?;
        Ok(Outcome {
            bytes,
            duration: started.elapsed(),
        })
    }

    /// Sends the file at `source`. The file is checked before anything goes on the network.
    pub async fn send(
        &self,
        access: &str,
        source: &Path,
        options: &TransferOptions,
    ) -> Result<Outcome> {
        let started = Instant::now();
        let input = Input::open(source)?;
        let handle = input.handle()?;
        let size = input.size;
        let (mut store, instance) = self.instantiate(None, Some(input), options, access).await?;
        let source = store
            .data_mut()
            .table
            .push(handle)
            .map_err(|e| Error::internal(e.to_string()))?;
        let result = instance
            .red_connector_connector()
            .call_send(&mut store, access, source)
            .await;
        result.map_err(|e| self.trap(e))?.map_err(Error::from)?;
        Ok(Outcome {
            bytes: size,
            duration: started.elapsed(),
        })
    }

    async fn instantiate(
        &self,
        output: Option<Output>,
        input: Option<Input>,
        options: &TransferOptions,
        access: &str,
    ) -> Result<(Store<HostState>, ConnectorComponent)> {
        let transfer = TransferCtx {
            policy: Arc::new(options.policy(access)),
            clients: self.shared.clients.clone(),
            timeouts: self.shared.timeouts.clone(),
            observer: options.observer.clone(),
            output,
            input,
        };
        let limits = StoreLimitsBuilder::new()
            .memory_size(options.max_memory)
            .instances(4)
            .build();
        let mut store = Store::new(&self.shared.engine, HostState::new(transfer, limits));
        store.limiter(|data| &mut data.limits);
        let instance = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| self.trap(e))?;
        Ok((store, instance))
    }

    fn trap(&self, error: wasmtime::Error) -> Error {
        Error::internal(format!("the connector {} failed: {error:#}", self.label))
    }
}
