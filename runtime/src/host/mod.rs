//! The host side of the contract: what a connector's imports do, one module per interface.
//!
//! Every store holds one [`HostState`]: the WASI context (no preopens, no environment, no
//! sockets, no stdio), the resource table, and the [`TransferCtx`] with the policy, the HTTP
//! clients and the transfer's one local file.

pub mod archive;
pub mod digest;
pub mod dir;
pub mod http;
pub mod local;
pub mod log;
pub mod retry;
pub mod sftp;
mod sftp_start;
mod ssh_fault;
pub mod stderr;
pub mod tree_walk;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::red::connector::types;
use crate::bindings::WitError;
use crate::limits::Meter;
use crate::observer::Observer;
use crate::policy::{HostKeyCheck, Policy};
use crate::secrets::Secrets;

/// The data of one store: one transfer (or one `info`/`validate` call).
pub struct HostState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) transfer: TransferCtx,
    pub(crate) limiter: MemoryLimiter,
    /// HTTP responses and SFTP sessions the guest holds (bounded by `Limits::max_open`).
    open_handles: u32,
}

/// Caps the guest's memory: the bytes of all its linear memories and tables together, and
/// how many instances, memories and tables it may create; records when a cap was hit.
pub struct MemoryLimiter {
    max_memory: usize,
    /// Bytes of all memories and tables so far.
    used: usize,
    meter: Arc<Meter>,
}

impl MemoryLimiter {
    /// Grows the total by `desired - current` bytes if that stays within the limit.
    fn grow(&mut self, current: usize, desired: usize) -> bool {
        let total = self.used.saturating_sub(current).saturating_add(desired);
        if total > self.max_memory {
            self.meter
                .reach(crate::connector::memory_limit(self.max_memory));
            return false;
        }
        self.used = total;
        true
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.grow(current, desired))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // A table element is a pointer (or a pair of them) on the host.
        const ELEMENT: usize = 2 * std::mem::size_of::<usize>();
        Ok(self.grow(current * ELEMENT, desired.saturating_mul(ELEMENT)))
    }

    fn instances(&self) -> usize {
        crate::limits::MAX_INSTANCES
    }

    fn memories(&self) -> usize {
        crate::limits::MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        crate::limits::MAX_TABLES
    }
}

/// What a transfer's host calls may use.
pub struct TransferCtx {
    pub policy: Arc<Policy>,
    pub clients: Arc<http::Clients>,
    pub timeouts: http::Timeouts,
    pub observer: Arc<dyn Observer>,
    /// The outputs the guest writes, by [`local::SinkHandle`] slot: the receive's
    /// ([`local::SinkHandle::MAIN`]), or the files of a receive-dir still open.
    pub outputs: std::collections::HashMap<u64, local::Output>,
    /// The slot of the next receive-dir file.
    pub next_slot: u64,
    /// The first receive-dir file that could not be finished (its error fails the transfer).
    pub failed_output: Option<crate::Error>,
    /// The send's input file.
    pub input: Option<local::Input>,
    /// The receive-dir's folder, while the guest fills it.
    pub dir_output: Option<dir::DirOutput>,
    /// The send-dir's folder.
    pub dir_input: Option<dir::DirInput>,
    /// What the transfer has used of its limits.
    pub meter: Arc<Meter>,
    /// The secrets behind the sealed access document's tokens.
    pub secrets: Secrets,
    /// How SSH host keys are checked (the policy checks them; SFTP also prefers the
    /// algorithms of pinned or known keys).
    pub host_keys: HostKeyCheck,
    /// Stops the transfer's blocking host I/O (SFTP) on deadline, cancellation or drop.
    pub stop: HostStop,
    /// How often a request that failed transiently is tried again (see [`retry`]).
    pub retries: u32,
    /// Whether the digests servers state are checked (see [`digest`]).
    pub check_digests: bool,
}

/// How long [`HostStop::halt`] waits for stopped host work to wind down (an SFTP upload
/// removes its remote temporary file meanwhile).
pub const STOP_WAIT: Duration = Duration::from_millis(200);

/// The stop signal of one transfer's blocking host work, and that work's tasks.
///
/// Host calls that block (libssh2) run as tasks of [`HostStop::spawn_blocking`] and watch
/// [`HostStop::token`]: between chunks, and by shutting their sockets down when it fires.
/// The transfer triggers it on deadline or cancellation ([`HostStop::halt`]) and when its
/// future is dropped (a guard on the token).
#[derive(Clone, Default)]
pub struct HostStop {
    token: CancellationToken,
    tasks: TaskTracker,
}

impl HostStop {
    /// Fires when the transfer stops.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Runs blocking work as one of the transfer's tasks.
    pub fn spawn_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        self.tasks.spawn_blocking(work)
    }

    /// Stops the host work and waits (at most [`STOP_WAIT`]) for it to clean up and end.
    pub async fn halt(&self) {
        self.token.cancel();
        self.tasks.close();
        let _ = tokio::time::timeout(STOP_WAIT, self.tasks.wait()).await;
    }
}

impl HostState {
    /// The state of a store for `transfer`; the guest's standard error goes to `stderr`.
    pub fn new(transfer: TransferCtx, stderr: stderr::GuestStderr) -> Self {
        // A WASI context with nothing in it: wasm32-wasip2's std and CPython link wasi:cli,
        // clocks, random and sockets, so these must exist, but there are no preopened
        // directories, no environment variables, no arguments, no network (no socket can be
        // made, the default socket check denies every address, and name lookup is off), and
        // stdin/stdout are closed streams; standard error is kept (bounded) for crash reports.
        let wasi = wasmtime_wasi::WasiCtxBuilder::new()
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false)
            .stderr(stderr)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(crate::limits::MAX_HANDLES);
        HostState {
            wasi,
            table,
            limiter: MemoryLimiter {
                max_memory: transfer.meter.limits().max_memory,
                used: 0,
                meter: transfer.meter.clone(),
            },
            open_handles: 0,
            transfer,
        }
    }

    /// Counts one more HTTP response or SFTP session held open, if the limit allows it.
    pub fn open_handle(&mut self) -> Result<(), crate::Error> {
        let max = self.transfer.meter.limits().max_open;
        if self.open_handles >= max {
            return Err(self.transfer.meter.reach(format!(
                "the connector held more than {max} HTTP responses, SFTP sessions or folder walks open at once (--max-open)"
            )));
        }
        self.open_handles += 1;
        Ok(())
    }

    /// Counts one HTTP response, SFTP session or folder walk closed.
    pub fn close_handle(&mut self) {
        self.open_handles = self.open_handles.saturating_sub(1);
    }
}

impl TransferCtx {
    /// The receive-dir's folder.
    pub fn dir_output(&self) -> Result<&dir::DirOutput, crate::Error> {
        self.dir_output
            .as_ref()
            .ok_or_else(|| crate::Error::internal("this transfer has no folder to receive into"))
    }

    /// The send-dir's folder.
    pub fn dir_input(&mut self) -> Result<&mut dir::DirInput, crate::Error> {
        self.dir_input
            .as_mut()
            .ok_or_else(|| crate::Error::internal("this transfer has no folder to send"))
    }

    /// Keeps `output` as a receive-dir file and returns the guest's handle to it.
    pub fn add_output(&mut self, output: local::Output) -> local::SinkHandle {
        self.next_slot += 1;
        let slot = self.next_slot;
        self.outputs.insert(slot, output);
        local::SinkHandle { slot }
    }

    /// The output of `slot`, taken out while host work writes it (put it back with
    /// [`TransferCtx::put_output`]).
    pub fn take_output(&mut self, slot: u64) -> Result<local::Output, crate::Error> {
        self.outputs
            .remove(&slot)
            .ok_or_else(|| crate::Error::internal("this sink has no output"))
    }

    /// Puts an output taken with [`TransferCtx::take_output`] back.
    pub fn put_output(&mut self, slot: u64, output: local::Output) {
        self.outputs.insert(slot, output);
    }

    /// Appends `bytes` to the output of `slot`: counted against the byte limit, then written,
    /// then reported as progress (of `total`, when known; a receive-dir's progress is its
    /// bytes so far).
    pub fn append(
        &mut self,
        slot: u64,
        bytes: &[u8],
        total: Option<u64>,
    ) -> Result<(), crate::Error> {
        let output = self
            .outputs
            .get_mut(&slot)
            .ok_or_else(|| crate::Error::internal("this sink has no output"))?;
        self.meter.bytes(bytes.len() as u64)?;
        output.write_all(bytes)?;
        let written = output.written();
        self.report(slot == local::SinkHandle::MAIN, written, total);
        Ok(())
    }

    /// Reports the progress of an output: its bytes of `total` for the receive's own
    /// (`main`), the transfer's bytes so far for a receive-dir's file (one of many).
    pub fn report(&self, main: bool, written: u64, total: Option<u64>) {
        if main {
            self.observer.progress(written, total);
        } else {
            self.observer.progress(self.meter.moved(), None);
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for HostState {
    fn convert_error(&mut self, error: crate::Error) -> wasmtime::Result<WitError> {
        // A limit reached stops the guest: the call traps instead of returning an error.
        if let Some(reached) = self.transfer.meter.reached() {
            return Err(wasmtime::Error::msg(reached.message));
        }
        Ok(WitError {
            kind: error.kind.into(),
            message: error.message,
        })
    }
}
