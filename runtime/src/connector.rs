//! A loaded connector and its calls: each runs in a fresh store under the transfer's policy,
//! sealed secrets and limits.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use wasmtime::{Store, UpdateDeadline};

use crate::bindings::{exports, WitError};
use crate::host::dir::{DirInput, DirOutput, DirSinkHandle, DirSourceHandle};
use crate::host::local::{Input, Output, SinkHandle};
use crate::host::{HostState, HostStop, TransferCtx};
use crate::limits::{human_bytes, Limits, Meter};
use crate::listing::Listing;
use crate::messages::{self, Lines};
use crate::observer::{LogLevel, Observer, Silent};
use crate::policy::{HostKeyCheck, HostRule, Policy};
use crate::runtime::Shared;
use crate::secrets::Secrets;
use crate::{Error, Result};

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
    /// Field names whose values are sealed besides `password`, `privateKey` and `passphrase`.
    pub secret_fields: Vec<String>,
    /// Memory, time, fuel, bytes and requests.
    pub limits: Limits,
    /// Receives log lines and progress (with secrets masked).
    pub observer: Arc<dyn Observer>,
    /// Endpoints whose TLS certificates a connector may leave unchecked, besides those the
    /// access document marks with `"disableSSLVerification": true` (`--insecure-host`).
    pub insecure_tls_hosts: Vec<HostRule>,
    /// Cancels the transfer when triggered: the connector stops, host I/O is dropped, and a
    /// receive leaves no file. (Dropping the transfer's future does the same.)
    pub cancel: Option<CancellationToken>,
    /// How often an HTTP request that failed transiently (no connection, cut before the
    /// answer, 408, 429, 500, 502-504) is tried again where repeating it is safe (`--retries`;
    /// default 3, after 1, 2 and 4 s or the server's `Retry-After`).
    pub retries: u32,
    /// Whether a digest the server states for a body (`Repr-Digest`, `Content-Digest`,
    /// `Digest`, `Content-MD5`) is checked as it streams (default true; `--no-digest-check`).
    pub check_digests: bool,
}

impl Default for TransferOptions {
    fn default() -> Self {
        TransferOptions {
            allow_hosts: Vec::new(),
            allow_derived_hosts: true,
            ssh_host_keys: HostKeyCheck::AcceptAny,
            secret_fields: Vec::new(),
            limits: Limits::default(),
            observer: Arc::new(Silent),
            insecure_tls_hosts: Vec::new(),
            cancel: None,
            retries: crate::host::retry::DEFAULT_RETRIES,
            check_digests: true,
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
        for rule in &self.insecure_tls_hosts {
            policy.allow_tls_skip(rule.clone());
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
    pub(crate) shared: Arc<Shared>,
    pub(crate) pre: ConnectorPre,
    pub(crate) label: String,
}

/// A linked component and where its exports are: `connector` always, `directories` when it
/// moves folders (the `directory-connector-component` world).
#[derive(Clone)]
pub(crate) struct ConnectorPre {
    instance: wasmtime::component::InstancePre<HostState>,
    connector: exports::red::connector::connector::GuestIndices,
    directories: Option<exports::red::connector::directories::GuestIndices>,
}

impl ConnectorPre {
    pub(crate) fn new(
        instance: wasmtime::component::InstancePre<HostState>,
    ) -> wasmtime::Result<Self> {
        let connector = exports::red::connector::connector::GuestIndices::new(&instance)?;
        let directories = exports::red::connector::directories::GuestIndices::new(&instance).ok();
        Ok(ConnectorPre {
            instance,
            connector,
            directories,
        })
    }
}

/// One call into the connector's exports.
enum Call {
    Info,
    Validate(Direction),
    Receive,
    Send,
    ValidateDir(Direction, Option<String>),
    ReceiveDir(Option<String>),
    SendDir(Option<String>),
}

/// The local side a call gets.
enum Local {
    None,
    Output(Output),
    Input(Input),
    DirOutput(DirOutput),
    DirInput(DirInput),
}

/// What a call gave back.
enum Answer {
    Info(exports::red::connector::connector::ConnectorInfo),
    Done,
}

/// An observer that hands on log lines masked, escaped and bounded.
struct Masked {
    inner: Arc<dyn Observer>,
    secrets: Secrets,
}

impl Observer for Masked {
    fn log(&self, level: LogLevel, message: &str) {
        let line = messages::clean(message, &self.secrets, Lines::One, messages::MAX_LOG_LINE);
        self.inner.log(level, &line);
    }

    fn progress(&self, done: u64, total: Option<u64>) {
        self.inner.progress(done, total);
    }
}

/// How often the epoch ticks: the granularity of the time limit, and of the yields that let
/// other transfers on the same threads run while a guest computes.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

impl Connector {
    /// The name it was loaded by.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The connector's name, version, description and access schema.
    pub async fn info(&self) -> Result<ConnectorInfo> {
        let options = TransferOptions::default();
        let (answer, _) = self.run(Call::Info, "", Local::None, &options).await?;
        let Answer::Info(info) = answer else {
            return Err(Error::internal("info gave no info"));
        };
        if info.access_schema.len() > messages::MAX_SCHEMA {
            return Err(Error::internal(format!(
                "{}: its access schema is larger than {} bytes",
                self.label,
                messages::MAX_SCHEMA
            )));
        }
        let access_schema = serde_json::from_str(&info.access_schema).map_err(|e| {
            Error::internal(format!(
                "{}: its access schema is not JSON: {e}",
                self.label
            ))
        })?;
        let field = |text: &str| {
            let none = Secrets::default();
            messages::clean(text, &none, Lines::One, messages::MAX_INFO_FIELD)
        };
        Ok(ConnectorInfo {
            name: field(&info.name),
            version: field(&info.version),
            description: field(&info.description),
            access_schema: messages::clean_json(access_schema, messages::MAX_INFO_FIELD),
        })
    }

    /// Checks `access` for a transfer in `direction`, without network traffic. The error lists
    /// every problem with its JSON path.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> red_wasm::Result<()> {
    /// use red_wasm::{Direction, ErrorKind, Runtime};
    ///
    /// let http = Runtime::new()?.load("http")?;
    /// http.validate(Direction::Receive, r#"{"url": "https://example.org/a.csv"}"#).await?;
    /// let error = http
    ///     .validate(Direction::Send, r#"{"url": "ftp://example.org", "method": "PATCH"}"#)
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(error.kind, ErrorKind::InvalidAccess);
    /// assert!(error.message.contains("/url:") && error.message.contains("/method:"));
    /// # Ok(()) }
    /// ```
    pub async fn validate(&self, direction: Direction, access: &str) -> Result<()> {
        let options = TransferOptions::default();
        let call = Call::Validate(direction);
        self.run(call, access, Local::None, &options)
            .await
            .map(drop)
    }

    /// Whether the connector moves folders (exports `directories`: receive-dir, send-dir).
    pub fn moves_directories(&self) -> bool {
        self.pre.directories.is_some()
    }

    /// Checks `access` (and the RED `listing`, a JSON array, when given) for a directory
    /// transfer in `direction`, without network traffic.
    pub async fn validate_dir(
        &self,
        direction: Direction,
        access: &str,
        listing: Option<&str>,
    ) -> Result<()> {
        self.require_directories(direction)?;
        if let Some(listing) = listing {
            Listing::parse(listing)?;
        }
        let options = TransferOptions::default();
        let call = Call::ValidateDir(direction, listing.map(str::to_owned));
        self.run(call, access, Local::None, &options)
            .await
            .map(drop)
    }

    /// Receives a remote folder into `target`, which must not exist or be an empty folder.
    /// The tree is built under a temporary name beside it and renamed into place only when
    /// the connector succeeds and the folder matches `listing` (when given): on failure
    /// nothing is left. The outcome's bytes are the bytes of the files received.
    pub async fn receive_dir(
        &self,
        access: &str,
        listing: Option<&str>,
        target: &Path,
        options: &TransferOptions,
    ) -> Result<Outcome> {
        let started = Instant::now();
        self.require_directories(Direction::Receive)?;
        let checked = listing.map(Listing::parse).transpose()?;
        let folder = DirOutput::beside(target)?;
        let call = Call::ReceiveDir(listing.map(str::to_owned));
        let (_, mut state) = self
            .run(call, access, Local::DirOutput(folder), options)
            .await?;
        let transfer = &mut state.transfer;
        // Files the connector did not let go of (a garbage-collected guest may not have) are
        // finished now; one that could not be finished fails the transfer.
        for (_, output) in transfer.outputs.drain() {
            output.commit()?;
        }
        if let Some(error) = transfer.failed_output.take() {
            return Err(error);
        }
        let folder = transfer
            .dir_output
            .take()
            .ok_or_else(|| Error::internal("the transfer's folder is gone"))?;
        if let Some(listing) = checked {
            listing.check(folder.folder().root(), crate::ErrorKind::Remote)?;
        }
        let bytes = folder.folder().file_bytes();
        folder.commit()?;
        Ok(Outcome {
            bytes,
            duration: started.elapsed(),
        })
    }

    /// Sends the local folder `source`: with a `listing`, exactly its entries (checked
    /// against the folder first). A link or a special file in the folder is refused before
    /// anything is sent. The outcome's bytes are those of the files the connector read.
    pub async fn send_dir(
        &self,
        access: &str,
        listing: Option<&str>,
        source: &Path,
        options: &TransferOptions,
    ) -> Result<Outcome> {
        let started = Instant::now();
        self.require_directories(Direction::Send)?;
        let mut input = DirInput::open(source)?;
        if let Some(listing) = listing {
            let listed = Listing::parse(listing)?.check(source, crate::ErrorKind::LocalIo)?;
            input.only(listed);
        }
        let call = Call::SendDir(listing.map(str::to_owned));
        let (_, state) = self
            .run(call, access, Local::DirInput(input), options)
            .await?;
        let sent = state
            .transfer
            .dir_input
            .as_ref()
            .map_or(0, DirInput::opened_bytes);
        Ok(Outcome {
            bytes: sent,
            duration: started.elapsed(),
        })
    }

    /// An error when the connector does not export `directories`.
    fn require_directories(&self, direction: Direction) -> Result<()> {
        if self.moves_directories() {
            return Ok(());
        }
        let mode = match direction {
            Direction::Receive => "receive-dir",
            Direction::Send => "send-dir",
        };
        Err(Error::new(
            crate::ErrorKind::Denied,
            format!(
                "the connector {} moves single files only: it has no {mode} (it does not export red:connector/directories)",
                self.label
            ),
        ))
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
        let (_, mut state) = self
            .run(Call::Receive, access, Local::Output(output), options)
            .await?;
        let output = state
            .transfer
            .outputs
            .remove(&SinkHandle::MAIN)
            .ok_or_else(|| Error::internal("the transfer's output is gone"))?;
        let bytes = output.written();
        output.commit()?;
        Ok(Outcome {
            bytes,
            duration: started.elapsed(),
        })
    }

    /// Sends the file at `source`. The file is checked before anything goes on the network.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> red_wasm::Result<()> {
    /// use red_wasm::{Runtime, TransferOptions};
    ///
    /// let file = tempfile::NamedTempFile::new().unwrap();
    /// std::fs::write(file.path(), b"results").unwrap();
    /// // http-mock-send accepts a send and moves nothing (RED's HttpMockSend).
    /// let mock = Runtime::new()?.load("http-mock-send")?;
    /// let access = r#"{"url": "https://example.org/upload", "method": "PUT"}"#;
    /// let outcome = mock.send(access, file.path(), &TransferOptions::default()).await?;
    /// assert_eq!(outcome.bytes, 7);
    /// # Ok(()) }
    /// ```
    pub async fn send(
        &self,
        access: &str,
        source: &Path,
        options: &TransferOptions,
    ) -> Result<Outcome> {
        let started = Instant::now();
        let input = Input::open(source)?;
        let size = input.size;
        if let Some(max) = options.limits.max_bytes.filter(|max| size > *max) {
            return Err(Meter::new(options.limits.clone()).reach(format!(
                "{} has {size} bytes, more than the limit of {max} (--max-bytes)",
                source.display()
            )));
        }
        self.run(Call::Send, access, Local::Input(input), options)
            .await?;
        Ok(Outcome {
            bytes: size,
            duration: started.elapsed(),
        })
    }

    /// Runs `call` in a fresh store: the access document sealed, the policy derived, the
    /// limits armed. A limit reached fails the call whatever the guest answered, and every
    /// message leaves with the secrets masked.
    async fn run(
        &self,
        call: Call,
        access: &str,
        local: Local,
        options: &TransferOptions,
    ) -> Result<(Answer, HostState)> {
        let (sealed, secrets) = Secrets::seal(access, &options.secret_fields)?;
        // Validation (and info) is offline: no endpoint is allowed and no token unseals, so a
        // connector's `validate-*` can neither reach a server nor apply a credential.
        let offline = matches!(call, Call::Validate(_) | Call::ValidateDir(..) | Call::Info);
        let (policy, secrets) = if offline {
            (Policy::deny_all(), secrets.sealed_for_good())
        } else {
            // Derived from the sealed document: a secret's value never widens the policy,
            // and a denial that lists the allowed endpoints names no secret.
            (options.policy(&sealed), secrets)
        };
        let meter = Arc::new(Meter::new(options.limits.clone()));
        let observer: Arc<dyn Observer> = Arc::new(Masked {
            inner: options.observer.clone(),
            secrets: secrets.clone(),
        });
        // Host I/O stops with the transfer: at the deadline, on cancellation, or when this
        // future is dropped (the guard).
        let stop = HostStop::default();
        let _stop_on_drop = stop.token().clone().drop_guard();
        let (mut outputs, mut input, mut dir_output, mut dir_input) =
            (std::collections::HashMap::new(), None, None, None);
        match local {
            Local::None => {}
            Local::Output(output) => {
                outputs.insert(SinkHandle::MAIN, output);
            }
            Local::Input(file) => input = Some(file),
            Local::DirOutput(folder) => dir_output = Some(folder),
            Local::DirInput(folder) => {
                // Each file and folder to send counts against the file limit and widens the
                // request budget, as each received does.
                meter.files(folder.entry_count())?;
                dir_input = Some(folder);
            }
        }
        let transfer = TransferCtx {
            policy: Arc::new(policy),
            clients: self.shared.clients.clone(),
            timeouts: self.shared.timeouts.clone(),
            observer,
            meter: meter.clone(),
            secrets: secrets.clone(),
            outputs,
            next_slot: SinkHandle::MAIN,
            failed_output: None,
            input,
            dir_output,
            dir_input,
            host_keys: options.ssh_host_keys.clone(),
            stop: stop.clone(),
            retries: options.retries,
            check_digests: options.check_digests,
        };
        let stderr = crate::host::stderr::GuestStderr::default();
        let mut store = Store::new(
            &self.shared.engine,
            HostState::new(transfer, stderr.clone()),
        );
        store.limiter(|state| &mut state.limiter);
        let limits = &options.limits;
        store
            .set_fuel(limits.fuel.unwrap_or(u64::MAX))
            .map_err(|e| Error::internal(e.to_string()))?;
        // A limit too long to add to the clock (Duration::MAX from an embedder) is no limit.
        let deadline = limits.timeout.and_then(|t| Instant::now().checked_add(t));
        let timeout = limits.timeout.unwrap_or_default();
        store.epoch_deadline_callback(move |store| {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                store.data().transfer.meter.reach(time_limit(timeout));
                return Ok(UpdateDeadline::Interrupt);
            }
            // Let other tasks run; look again at the next tick.
            Ok(UpdateDeadline::Yield(1))
        });
        store.set_epoch_deadline(1);

        let work = async {
            let instance = self.pre.instance.instantiate_async(&mut store).await?;
            let exports = self.pre.connector.load(&mut store, &instance)?;
            let directories = match &self.pre.directories {
                Some(indices) => Some(indices.load(&mut store, &instance)?),
                None => None,
            };
            let directories = || {
                directories
                    .as_ref()
                    .ok_or_else(|| wasmtime::Error::msg("no directories export"))
            };
            let result: Result<Answer, WitError> = match call {
                Call::Info => Ok(Answer::Info(exports.call_info(&mut store).await?)),
                Call::Validate(Direction::Receive) => exports
                    .call_validate_receive(&mut store, &sealed)
                    .await?
                    .map(|()| Answer::Done),
                Call::Validate(Direction::Send) => exports
                    .call_validate_send(&mut store, &sealed)
                    .await?
                    .map(|()| Answer::Done),
                Call::Receive => {
                    let main = SinkHandle {
                        slot: SinkHandle::MAIN,
                    };
                    let sink = store.data_mut().table.push(main)?;
                    exports
                        .call_receive(&mut store, &sealed, sink)
                        .await?
                        .map(|()| Answer::Done)
                }
                Call::Send => {
                    let input = store.data().transfer.input.clone();
                    let handle = input
                        .ok_or_else(|| wasmtime::Error::msg("no input"))?
                        .handle();
                    let handle = handle.map_err(|e| wasmtime::Error::msg(e.message))?;
                    let source = store.data_mut().table.push(handle)?;
                    exports
                        .call_send(&mut store, &sealed, source)
                        .await?
                        .map(|()| Answer::Done)
                }
                Call::ValidateDir(Direction::Receive, listing) => directories()?
                    .call_validate_receive_dir(&mut store, &sealed, listing.as_deref())
                    .await?
                    .map(|()| Answer::Done),
                Call::ValidateDir(Direction::Send, listing) => directories()?
                    .call_validate_send_dir(&mut store, &sealed, listing.as_deref())
                    .await?
                    .map(|()| Answer::Done),
                Call::ReceiveDir(listing) => {
                    let sink = store.data_mut().table.push(DirSinkHandle)?;
                    directories()?
                        .call_receive_dir(&mut store, &sealed, listing.as_deref(), sink)
                        .await?
                        .map(|()| Answer::Done)
                }
                Call::SendDir(listing) => {
                    let source = store.data_mut().table.push(DirSourceHandle)?;
                    directories()?
                        .call_send_dir(&mut store, &sealed, listing.as_deref(), source)
                        .await?
                        .map(|()| Answer::Done)
                }
            };
            wasmtime::Result::Ok(result)
        };
        // The deadline also bounds host I/O that the guest waits on, which the epoch cannot
        // interrupt: past it (or on cancellation) the whole call is dropped.
        let deadline = async {
            match limits.timeout {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        let cancelled = async {
            match &options.cancel {
                Some(token) => token.cancelled().await,
                None => std::future::pending().await,
            }
        };
        let outcome = tokio::select! {
            outcome = work => outcome,
            () = deadline => {
                stop.halt().await;
                return Err(meter.reach(time_limit(limits.timeout.unwrap_or_default())));
            }
            () = cancelled => {
                stop.halt().await;
                return Err(Error::new(
                    crate::ErrorKind::Denied,
                    format!("the transfer with {} was cancelled", self.label),
                ));
            }
        };
        let mask = |e: Error| {
            let message = messages::clean(&e.message, &secrets, Lines::Many, messages::MAX_ERROR);
            Error::new(e.kind, message)
        };
        if let Some(reached) = meter.reached() {
            return Err(mask(reached));
        }
        let answer = match outcome {
            Ok(Ok(answer)) => answer,
            Ok(Err(error)) => return Err(mask(error.into())),
            Err(trap) => {
                // A crash: what the connector last wrote to standard error (a panic message, a
                // traceback) says why.
                let mut error = self.trap(trap, limits);
                let said = stderr.text();
                if error.kind == crate::ErrorKind::Internal && !said.is_empty() {
                    error.message = format!("{}\n{said}", error.message);
                }
                return Err(mask(error));
            }
        };
        Ok((answer, store.into_data()))
    }

    /// A trap as an error: a limit when it was one, else the connector's crash, in one line
    /// (wasmtime's error also carries the guest's backtrace, which can be thousands of frames).
    fn trap(&self, error: wasmtime::Error, limits: &Limits) -> Error {
        use crate::ErrorKind::{Denied, Internal};
        use wasmtime::Trap;
        let label = &self.label;
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => {
                let fuel = limits.fuel.unwrap_or(u64::MAX);
                Error::new(Denied, format!("the connector {label} used up its fuel limit of {fuel} (--fuel)"))
            }
            Some(Trap::StackOverflow) => {
                Error::new(Denied, format!("the connector {label} overflowed its call stack"))
            }
            Some(Trap::MemoryOutOfBounds) => Error::new(
                Internal,
                format!("the connector {label} crashed: out of bounds memory access (its stack may have overflowed)"),
            ),
            Some(trap) => Error::new(Internal, format!("the connector {label} crashed: {trap}")),
            None if error
                .downcast_ref::<wasmtime::component::ResourceTableError>()
                .is_some_and(|e| matches!(e, wasmtime::component::ResourceTableError::Full)) =>
            {
                crate::error::handles_limit()
            }
            None if error.root_cause().to_string().contains("resource limit exceeded") => {
                use crate::limits::{MAX_INSTANCES, MAX_MEMORIES, MAX_TABLES};
                Error::new(
                    Denied,
                    format!(
                        "the connector {label} creates more than {MAX_INSTANCES} instances, {MAX_MEMORIES} memories or {MAX_TABLES} tables ({})",
                        error.root_cause()
                    ),
                )
            }
            None => Error::new(Internal, format!("the connector {label} failed: {}", error.root_cause())),
        }
    }
}

fn time_limit(limit: Duration) -> String {
    format!("the transfer ran past its time limit of {limit:?} (--timeout)")
}

/// A message for a memory limit, used by the limiter.
pub(crate) fn memory_limit(max: usize) -> String {
    format!(
        "the connector asked for more memory than its limit of {} (--max-memory)",
        human_bytes(max)
    )
}
