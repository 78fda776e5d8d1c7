//! A loaded connector and its calls: each runs in a fresh store under the transfer's policy,
//! sealed secrets and limits.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use wasmtime::{Store, UpdateDeadline};

use crate::bindings::{exports, ConnectorComponentPre, WitError};
use crate::host::local::{Input, Output, SinkHandle};
use crate::host::{HostState, HostStop, TransferCtx};
use crate::limits::{human_bytes, Limits, Meter};
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
    pub(crate) pre: ConnectorComponentPre<HostState>,
    pub(crate) label: String,
}

/// One call into the connector's export.
enum Call {
    Info,
    Validate(Direction),
    Receive,
    Send,
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
        let (answer, _) = self.run(Call::Info, "", None, None, &options).await?;
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
        self.run(call, access, None, None, &options).await.map(drop)
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
            .run(Call::Receive, access, Some(output), None, options)
            .await?;
        let output = state
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
        self.run(Call::Send, access, None, Some(input), options)
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
        output: Option<Output>,
        input: Option<Input>,
        options: &TransferOptions,
    ) -> Result<(Answer, HostState)> {
        let (sealed, secrets) = Secrets::seal(access, &options.secret_fields)?;
        // Validation (and info) is offline: no endpoint is allowed and no token unseals, so a
        // connector's `validate-*` can neither reach a server nor apply a credential.
        let offline = matches!(call, Call::Validate(_) | Call::Info);
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
        let transfer = TransferCtx {
            policy: Arc::new(policy),
            clients: self.shared.clients.clone(),
            timeouts: self.shared.timeouts.clone(),
            observer,
            meter: meter.clone(),
            secrets: secrets.clone(),
            output,
            input,
            host_keys: options.ssh_host_keys.clone(),
            stop: stop.clone(),
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
        let deadline = limits.timeout.map(|t| Instant::now() + t);
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
            let instance = self.pre.instantiate_async(&mut store).await?;
            let exports = instance.red_connector_connector();
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
                    let sink = store.data_mut().table.push(SinkHandle)?;
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
