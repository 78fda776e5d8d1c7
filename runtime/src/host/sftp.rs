//! The `sftp` interface on ssh2 (libssh2): sessions as resources, file bytes moved host-side.
//!
//! libssh2 is blocking, so every call runs on tokio's blocking pool (as a task of the
//! transfer's [`HostStop`]) with the session behind a mutex; the session's own timeout (the
//! runtime's idle timeout once logged in) bounds each call, so a guest waiting on the host
//! cannot wait forever.
//!
//! Stopping: when the transfer stops (deadline, cancellation, dropped future), the copy loops
//! notice between chunks, and a watcher shuts the session's socket down [`STOP_GRACE`] later
//! so that a libssh2 call blocked on the network returns at once; connecting, the banner and
//! the login are cut the same way. A stopped upload never renames onto its target and
//! removes its temporary file; a stopped download's output is dropped (no local `.part`).
//!
//! Throughput: libssh2 reads ahead four times the length asked and pipelines large writes, so
//! reads and writes go in 1 MiB pieces; `std::io::copy`'s 8 KiB would run at a fraction of the
//! speed. A read never asks for more than the rest of the file, though: the read-ahead past
//! a small file's end costs the server as much as the file.
//!
//! Folders (receive-dir, send-dir): `download-files` and `upload-files` move a batch of files
//! over the guest's session and up to [`BATCH_EXTRA_SESSIONS`] more in parallel (each a
//! connection counted against the request limit), one file per worker at a time; the first
//! failure stops the others, and its error names the files that were done. The same stop
//! token and socket watchers as a single file's make a stop prompt; a receive-dir's files go
//! into the host's staging folder, which a failed or stopped transfer removes. A large folder
//! goes in many batches, a page of a walk ([`RemoteWalk`], or the local folder's) each: the
//! extra sessions stay open from one batch to the next ([`Crew`]), so that memory stays the
//! same whatever the number of files and no batch waits for logins.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::sftp_start::start_sftp;
use super::ssh_fault::{connection_gone, hang_up, timed_out, watching_disconnect};
use ssh2::{ErrorCode, HostKeyType, MethodType, OpenFlags, OpenType, Session, Sftp};
use tokio_util::sync::{CancellationToken, DropGuard};
use wasmtime::component::Resource;

use super::dir::{confine, DirSinkHandle, DirSourceHandle, Folder, MAX_NAME};
use super::local::{Input, Output};
use super::{retry, HostState, HostStop};
use crate::bindings::red::connector::local::{DirEntry, Sink, Source};
use crate::bindings::red::connector::sftp::{
    ConnectConfig, Credential, FilePair, FileStat, Host, HostSession, KeyLogin,
};
use crate::limits::Meter;
use crate::observer::{LogLevel, Observer};
use crate::policy::HostKeyCheck;
use crate::secrets::SecretKind;
use crate::{Error, ErrorKind};

/// Bytes per read or write call.
const CHUNK: usize = 1024 * 1024;

/// Bytes per read call when sessions download in parallel (two halves of a file, or the files
/// of a batch): smaller reads keep the sessions' pipelines fuller on two cores (1 GiB over
/// loopback: 2.30 s with 128 KiB, 2.4 s with 256 KiB, 2.5-2.7 s with 1 MiB, 2.8-3.1 s with
/// 2 MiB), and take less memory (a receive-dir of 10 x 100 MiB: 21 MiB peak RSS, 39 MiB with
/// 1 MiB reads).
const RANGE_READ: usize = 128 * 1024;

/// Bytes asked for past a file's known size, to see its end (or that it grew): one SFTP read
/// request with libssh2's read-ahead.
const END_PROBE: usize = 8 * 1024;

/// Files at least this large are downloaded over two sessions, each fetching half.
const PARALLEL_MIN: u64 = 64 * 1024 * 1024;

/// The longest the host waits for each SSH step a connector sets a timeout for (TCP connect,
/// banner and key exchange, login): a connector's `connect-config` may ask for less, never
/// more (its fields go up to 2^32-1 ms, 49 days). The transfer's deadline and cancellation
/// cut every step short as well.
pub const MAX_SSH_TIMEOUT: Duration = Duration::from_secs(300);

/// After a stop, how long a copy loop has to notice it (between chunks, cleaning up over its
/// own session) before the session's socket is shut down under it.
const STOP_GRACE: Duration = Duration::from_millis(100);

/// Each step of the short-lived session that removes an upload's temporary file when the
/// stopped session is dead.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(2);

/// Host-key algorithms by key, in OpenSSH's order of preference: a server has at most one
/// key of each family, and the RSA key serves all three RSA names.
const HOST_KEY_FAMILIES: [&str; 5] = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512,rsa-sha2-256,ssh-rsa",
];

/// The ciphers preferred over libssh2's own first choice, ChaCha20-Poly1305, whose portable C
/// code costs a bulk transfer about 1.5 times OpenSSH's CPU. AES-GCM goes through OpenSSL's
/// AES-NI code, a whole packet a call with the libssh2 in `vendor/libssh2-sys` (the released
/// one calls it once per 16-byte block). OpenSSH servers offer both since 6.5 (2014).
const PREFERRED_CIPHERS: [&str; 2] = ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"];

/// The cipher list of one direction: [`PREFERRED_CIPHERS`], then the rest of libssh2's own
/// list in its order, so that a server without AES-GCM gets the same offer as before.
fn cipher_preference(session: &Session, direction: MethodType) -> String {
    let supported = session.supported_algs(direction).unwrap_or_default();
    let preferred = PREFERRED_CIPHERS
        .iter()
        .filter(|name| supported.contains(name));
    let rest = supported
        .iter()
        .filter(|name| !PREFERRED_CIPHERS.contains(name));
    preferred.chain(rest).copied().collect::<Vec<_>>().join(",")
}

mod walk;

pub use walk::RemoteWalk;

/// A logged-in SFTP session. (Its parts are shared: a clone is the same session, for host
/// work off the async threads.)
#[derive(Clone)]
pub struct SessionHandle {
    conn: Arc<Mutex<Connection>>,
    dial: Arc<Dial>,
    listed: Arc<Listed>,
    crew: Arc<Crew>,
}

/// What the batches of one session share, from one batch to the next: a large folder goes
/// in many (a page of a walk each), and is still one transfer.
#[derive(Default)]
struct Crew {
    /// The extra sessions of the last batch, kept open for the next.
    idle: Mutex<Vec<Connection>>,
    /// Files the batches moved so far (a failure counts them).
    files_done: AtomicU64,
    /// Bytes the batches moved so far (progress counts on from them).
    progress: Mutex<u64>,
}

/// The attributes `list-tree` saw of each regular file (by its remote path), which a
/// following `download-files` takes instead of asking again: one round trip fewer per file,
/// a quarter of a small file's time. A file that changed since is read to its end all the
/// same; a resumed read compares against these attributes, so a change starts it over.
type Listed = Mutex<std::collections::HashMap<PathBuf, ssh2::FileStat>>;

/// How a session was made: enough to open another one (for parallel transfers, or to clean
/// up after a stop) with the same checks.
struct Dial {
    config: ConnectConfig,
    /// `user@host:port`, for messages.
    endpoint: String,
    policy: Arc<crate::Policy>,
    host_keys: HostKeyCheck,
    idle: Duration,
    meter: Arc<Meter>,
    stop: CancellationToken,
    observer: Arc<dyn Observer>,
    /// Tries in a row to resume a download whose connection dropped (the retry setting).
    retries: u32,
    /// The runtime the socket watchers run on: sessions are dialed from plain threads too
    /// (a batch's workers, a resumption), which have no runtime of their own to find.
    runtime: tokio::runtime::Handle,
}

impl Dial {
    fn connect(&self) -> Result<Connection, Error> {
        self.meter.request()?;
        connect(self, &self.stop, None)
    }

    /// A session to go on with after the transfer's own dropped: dialed again after 1, 2,
    /// 4... s while the server cannot be reached (a restarting sshd), up to the retry
    /// setting's tries; each dial counts against the request limit.
    fn redial(&self) -> Result<Connection, Error> {
        let mut attempt = 0;
        loop {
            match self.connect() {
                Err(e) if e.kind == ErrorKind::Network && attempt < self.retries => {
                    let pause = retry::delay(attempt, None).unwrap_or(Duration::from_secs(1));
                    self.observer.log(
                        LogLevel::Info,
                        &format!("{}; dialing again in {} s", e.message, pause.as_secs()),
                    );
                    let until = std::time::Instant::now() + pause;
                    while std::time::Instant::now() < until {
                        check_stop(&self.stop)?;
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    attempt += 1;
                }
                dialed => return dialed,
            }
        }
    }

    /// A short-lived session for removing what a stopped transfer left: not cut by the stop
    /// (it has fired already), each step bounded by [`CLEANUP_TIMEOUT`] instead.
    fn cleanup_session(&self) -> Result<Connection, Error> {
        connect(self, &CancellationToken::new(), Some(CLEANUP_TIMEOUT))
    }
}

struct Connection {
    /// Tells this connection from the one that replaced it (a walk's open folders belong to
    /// one).
    id: u64,
    session: Session,
    sftp: Sftp,
    /// Ends the watcher that shuts the socket down on a stop.
    _watch: DropGuard,
}

impl Drop for Connection {
    /// Hangs up without waiting for the server. Freeing the SFTP channel makes libssh2 wait
    /// for the server to close it, up to the idle timeout: a server that stalls after the
    /// last file kept a finished transfer waiting that long (1000 s by default), and a
    /// failed one waited again. Nothing is in flight by now (uploads are acknowledged and
    /// their files closed before they are renamed), and the sessions that ended well have
    /// said goodbye (`disconnect`) already.
    fn drop(&mut self) {
        hang_up(&self.session);
    }
}

/// Where work that had to go on over a new session (its own dropped) leaves that session:
/// the one it was given is dead, and whoever gave it goes on with this one.
type Replacement = std::cell::Cell<Option<Connection>>;

/// Goes on with the session `replaced` holds, if any, in place of `conn`.
fn adopt(conn: &mut Connection, replaced: Replacement) {
    if let Some(new) = replaced.into_inner() {
        *conn = new;
    }
}

/// Where moved bytes are counted: the meter (the byte limit) and the observer (progress);
/// and the stop that the copy loops check between chunks.
#[derive(Clone, Copy)]
struct Tally<'a> {
    observer: &'a dyn Observer,
    meter: &'a Meter,
    stop: &'a CancellationToken,
}

impl Tally<'_> {
    /// `Err` once the transfer has stopped.
    fn check(&self) -> Result<(), Error> {
        check_stop(self.stop)
    }
}

fn check_stop(stop: &CancellationToken) -> Result<(), Error> {
    if stop.is_cancelled() {
        return Err(stopped());
    }
    Ok(())
}

/// The error of host work cut short by a stop. The caller never sees it: the transfer
/// reports the deadline or the cancellation that stopped it.
fn stopped() -> Error {
    Error::new(ErrorKind::Denied, "the transfer was stopped")
}

impl HostState {
    /// The session behind a guest handle.
    fn sftp_session(&self, session: &Resource<SessionHandle>) -> Result<SessionHandle, Error> {
        Ok(self.table.get(session)?.clone())
    }
}

impl Host for HostState {}

impl HostSession for HostState {
    async fn connect(&mut self, config: ConnectConfig) -> Result<Resource<SessionHandle>, Error> {
        let ctx = &self.transfer;
        ctx.policy.check("ssh", &config.host, config.port)?;
        // The sealed credentials become real here, for an endpoint the policy allowed, each
        // only in its own slot; the user name goes as the connector gave it.
        let secrets = &ctx.secrets;
        let mut config = config;
        config.credential = match config.credential {
            Credential::Password(p) => {
                Credential::Password(secrets.reveal(SecretKind::Password, &p))
            }
            Credential::PrivateKey(login) => Credential::PrivateKey(KeyLogin {
                key: secrets.reveal(SecretKind::PrivateKey, &login.key),
                passphrase: login
                    .passphrase
                    .map(|p| secrets.reveal(SecretKind::Passphrase, &p)),
            }),
        };
        let dial = Arc::new(Dial {
            endpoint: format!("{}@{}:{}", config.username, config.host, config.port),
            config,
            policy: ctx.policy.clone(),
            host_keys: ctx.host_keys.clone(),
            idle: ctx.timeouts.idle,
            meter: ctx.meter.clone(),
            stop: ctx.stop.token().clone(),
            observer: ctx.observer.clone(),
            retries: ctx.retries,
            runtime: tokio::runtime::Handle::current(),
        });
        self.open_handle()?;
        let dialer = dial.clone();
        let stop = self.transfer.stop.clone();
        let conn = blocking(&stop, move || dialer.connect()).await;
        let handle = conn.and_then(|conn| {
            let conn = Arc::new(Mutex::new(conn));
            Ok(self.table.push(SessionHandle {
                conn,
                dial,
                listed: Arc::default(),
                crew: Arc::default(),
            })?)
        });
        if handle.is_err() {
            self.close_handle();
        }
        handle
    }

    async fn download(
        &mut self,
        session: Resource<SessionHandle>,
        path: String,
        target: Resource<Sink>,
    ) -> Result<u64, Error> {
        let slot = self.table.get(&target)?.slot;
        let SessionHandle { conn, dial, .. } = self.sftp_session(&session)?;
        let ctx = &mut self.transfer;
        let mut output = ctx.take_output(slot)?;
        let observer = ctx.observer.clone();
        let (output, result) = blocking(&ctx.stop, move || {
            let mut conn = conn.lock().unwrap();
            let second = || dial.connect();
            let redial = || dial.redial();
            let replaced = Replacement::default();
            let tally = Tally {
                observer: &*observer,
                meter: &dial.meter,
                stop: &dial.stop,
            };
            let result = download(
                &conn.sftp,
                Some(&second as &Dialer<'_>),
                Some((&redial as &Dialer<'_>, dial.retries)),
                CHUNK,
                &dial.endpoint,
                (&path, None),
                &mut output,
                (tally, &replaced),
            );
            adopt(&mut conn, replaced);
            // A stopped download's output goes now, with its temporary file, before the
            // transfer stops waiting for this task.
            tally.check()?;
            Ok((output, result))
        })
        .await?;
        ctx.put_output(slot, output);
        result
    }

    async fn upload(
        &mut self,
        session: Resource<SessionHandle>,
        path: String,
        source: Resource<Source>,
        make_dirs: bool,
    ) -> Result<u64, Error> {
        let input = self.table.get(&source)?.input().clone();
        let SessionHandle { conn, dial, .. } = self.sftp_session(&session)?;
        let observer = self.transfer.observer.clone();
        blocking(&self.transfer.stop, move || {
            let mut conn = conn.lock().unwrap();
            let tally = Tally {
                observer: &*observer,
                meter: &dial.meter,
                stop: &dial.stop,
            };
            let replaced = Replacement::default();
            let upload = Upload {
                conn: &conn,
                dial: &dial,
                input: &input,
                path: Path::new(&path),
                tally,
                split: true,
                replaced: &replaced,
            };
            let sent = upload.run(make_dirs);
            adopt(&mut conn, replaced);
            sent
        })
        .await
    }

    async fn stat(
        &mut self,
        session: Resource<SessionHandle>,
        path: String,
    ) -> Result<Option<FileStat>, Error> {
        let SessionHandle { conn, dial, .. } = self.sftp_session(&session)?;
        blocking(&self.transfer.stop, move || {
            let conn = conn.lock().unwrap();
            match conn.sftp.stat(Path::new(&path)) {
                Ok(stat) => Ok(Some(FileStat {
                    size: stat.size,
                    is_dir: stat.is_dir(),
                })),
                Err(e) if is_missing(&e) => Ok(None),
                Err(e) => Err(sftp_error(&dial.endpoint, "stat", &path, &e)),
            }
        })
        .await
    }

    async fn remove(
        &mut self,
        session: Resource<SessionHandle>,
        path: String,
    ) -> Result<(), Error> {
        let SessionHandle { conn, dial, .. } = self.sftp_session(&session)?;
        blocking(&self.transfer.stop, move || {
            let conn = conn.lock().unwrap();
            conn.sftp
                .unlink(Path::new(&path))
                .map_err(|e| sftp_error(&dial.endpoint, "remove", &path, &e))
        })
        .await
    }

    async fn list_tree(
        &mut self,
        session: Resource<SessionHandle>,
        path: String,
    ) -> Result<Vec<DirEntry>, Error> {
        let SessionHandle {
            conn, dial, listed, ..
        } = self.sftp_session(&session)?;
        blocking(&self.transfer.stop, move || {
            let mut walk = RemoteWalk::start(conn, dial, listed, path)?;
            let mut entries = walk.page(usize::MAX, true)?;
            entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
            Ok(entries)
        })
        .await
    }

    async fn walk(
        &mut self,
        session: Resource<SessionHandle>,
        path: String,
    ) -> Result<Resource<super::tree_walk::TreeWalkHandle>, Error> {
        let SessionHandle {
            conn, dial, listed, ..
        } = self.sftp_session(&session)?;
        let walk = blocking(&self.transfer.stop, move || {
            RemoteWalk::start(conn, dial, listed, path)
        })
        .await?;
        self.push_walk(super::tree_walk::TreeWalkHandle::remote(walk))
    }

    async fn make_dirs(
        &mut self,
        session: Resource<SessionHandle>,
        path: String,
    ) -> Result<(), Error> {
        let SessionHandle { conn, dial, .. } = self.sftp_session(&session)?;
        blocking(&self.transfer.stop, move || {
            let conn = conn.lock().unwrap();
            make_parents(&conn.sftp, Path::new(&path)).map_err(|(dir, e)| {
                sftp_error(
                    &dial.endpoint,
                    "create folder",
                    &dir.display().to_string(),
                    &e,
                )
            })
        })
        .await
    }

    async fn download_files(
        &mut self,
        session: Resource<SessionHandle>,
        files: Vec<FilePair>,
        target: Resource<DirSinkHandle>,
    ) -> Result<u64, Error> {
        self.table.get(&target)?;
        let SessionHandle {
            conn,
            dial,
            listed,
            crew,
        } = self.sftp_session(&session)?;
        let folder = self.transfer.dir_output()?.folder().clone();
        let files = files
            .into_iter()
            .map(|pair| Ok((pair.remote, confine(&pair.local)?)))
            .collect::<Result<Vec<_>, Error>>()?;
        let observer = self.transfer.observer.clone();
        blocking(&self.transfer.stop, move || {
            let progress = BatchProgress::new(observer, None, &crew.progress);
            // A receive's files are counted as they are created, and each widens the request
            // budget: the extra sessions wait for the first one.
            let gate = Gate::default();
            let batch = Batch::new(&conn, &dial, &crew, files.len()).gated(&gate);
            batch.run(
                &files,
                "downloading",
                |conn, replaced, stop, (remote, local)| {
                    let file_progress = progress.file();
                    let tally = Tally {
                        observer: &file_progress,
                        meter: &dial.meter,
                        stop,
                    };
                    let seen = listed.lock().unwrap().remove(Path::new(remote));
                    let file = (remote.as_str(), seen, local.as_path());
                    let sessions = (conn, replaced);
                    download_one(
                        sessions,
                        (&dial, &file_progress),
                        &folder,
                        file,
                        &gate,
                        tally,
                    )
                },
            )
        })
        .await
    }

    async fn upload_files(
        &mut self,
        session: Resource<SessionHandle>,
        files: Vec<FilePair>,
        source: Resource<DirSourceHandle>,
    ) -> Result<u64, Error> {
        self.table.get(&source)?;
        let SessionHandle {
            conn, dial, crew, ..
        } = self.sftp_session(&session)?;
        let folder = self.transfer.dir_input()?;
        // Each file checked to be a file of the folder before anything of the batch is sent;
        // each is opened (beneath the folder, without following links) when its turn comes,
        // so that a batch holds a few files open, not all.
        let files = files
            .into_iter()
            .map(|pair| {
                let (relative, _) = folder.file(&pair.local)?;
                Ok((PathBuf::from(pair.remote), LocalFile { relative }))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let total = folder.byte_count();
        let opener = folder.opener();
        let observer = self.transfer.observer.clone();
        blocking(&self.transfer.stop, move || {
            // The remote folders first, each once, on this session; and whether the server
            // renames, learned once for the batch (a drop box refuses every rename).
            let mut folders: Vec<&Path> = files.iter().filter_map(|(p, _)| p.parent()).collect();
            folders.sort();
            folders.dedup();
            let renames = {
                let conn = conn.lock().unwrap();
                for dir in &folders {
                    check_stop(&dial.stop)?;
                    make_parents(&conn.sftp, dir).map_err(|(dir, e)| {
                        sftp_error(
                            &dial.endpoint,
                            "create folder",
                            &dir.display().to_string(),
                            &e,
                        )
                    })?;
                }
                let first = folders.first().copied().unwrap_or(Path::new(""));
                let renames = probe_renames(&conn.sftp, &dial.endpoint, first);
                if let Err(why) = &renames {
                    observer.log(
                        LogLevel::Info,
                        &format!("{why}: writing each of the {} files directly", files.len()),
                    );
                }
                renames
            };
            let progress = BatchProgress::new(observer, Some(total), &crew.progress);
            let batch = Batch::new(&conn, &dial, &crew, files.len());
            let split = files.len() == 1;
            batch.run(
                &files,
                "sending",
                |conn, replaced, stop, (remote, local)| {
                    let input = &opener.open(&local.relative)?;
                    let file_progress = progress.file();
                    let tally = Tally {
                        observer: &file_progress,
                        meter: &dial.meter,
                        stop,
                    };
                    let file = (&*dial, &file_progress);
                    over_live_session((conn, replaced), file, tally, |conn, replaced| {
                        let upload = Upload {
                            conn,
                            dial: &dial,
                            input,
                            path: remote,
                            tally,
                            split,
                            replaced,
                        };
                        upload.run_knowing(false, Some(&renames))
                    })
                },
            )
        })
        .await
    }

    async fn drop(&mut self, session: Resource<SessionHandle>) -> wasmtime::Result<()> {
        let handle = self.table.delete(session)?;
        self.close_handle();
        // Say goodbye politely, on the batches' idle sessions too; the sessions' timeout (or
        // a stop) bounds it.
        let _ = blocking(&self.transfer.stop, move || {
            let idle = std::mem::take(&mut *handle.crew.idle.lock().unwrap());
            for conn in idle.iter().chain([&*handle.conn.lock().unwrap()]) {
                let _ = conn.session.disconnect(None, "done", None);
            }
            Ok(())
        })
        .await;
        Ok(())
    }
}

/// Runs blocking libssh2 work off the async threads, as a task of the transfer's stop. Once
/// the transfer has stopped, whatever the work says is reported as [`stopped`].
pub(super) async fn blocking<T: Send + 'static>(
    stop: &HostStop,
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let token = stop.token().clone();
    check_stop(&token)?;
    let result = stop
        .spawn_blocking(work)
        .await
        .map_err(|e| Error::internal(format!("an SFTP task failed: {e}")))?;
    check_stop(&token)?;
    result
}

/// A guest's timeout in milliseconds, capped at [`MAX_SSH_TIMEOUT`] and at `cap`.
fn step_timeout(ms: u32, cap: Option<Duration>) -> Duration {
    let asked = Duration::from_millis(u64::from(ms.max(1))).min(MAX_SSH_TIMEOUT);
    cap.map_or(asked, |cap| asked.min(cap))
}

/// libssh2's timeout (milliseconds, 0 = none) for `duration`.
fn libssh2_ms(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis())
        .unwrap_or(u32::MAX)
        .max(1)
}

/// Shuts `socket` down [`STOP_GRACE`] after `stop` fires, unless the returned guard is
/// dropped first (the session is gone).
fn watch(
    runtime: &tokio::runtime::Handle,
    stop: &CancellationToken,
    socket: TcpStream,
) -> DropGuard {
    let done = CancellationToken::new();
    let (stop, gone) = (stop.clone(), done.clone());
    runtime.spawn(async move {
        tokio::select! {
            () = gone.cancelled() => return,
            () = stop.cancelled() => {}
        }
        tokio::select! {
            () = gone.cancelled() => {}
            () = tokio::time::sleep(STOP_GRACE) => {
                let _ = socket.shutdown(Shutdown::Both);
            }
        }
    });
    done.drop_guard()
}

/// `TcpStream::connect_timeout`, given up when `stop` fires: the connect runs in a thread of
/// its own, left to finish (within `timeout`) by itself after a stop.
fn tcp_connect(
    address: SocketAddr,
    timeout: Duration,
    stop: &CancellationToken,
) -> std::io::Result<TcpStream> {
    use std::sync::mpsc::{channel, RecvTimeoutError};
    let (tx, rx) = channel();
    std::thread::Builder::new()
        .name("red-wasm-ssh-connect".into())
        .spawn(move || {
            let _ = tx.send(TcpStream::connect_timeout(&address, timeout));
        })?;
    loop {
        match rx.recv_timeout(Duration::from_millis(10)) {
            Ok(result) => return result,
            Err(RecvTimeoutError::Timeout) if stop.is_cancelled() => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::Interrupted,
                    "stopped",
                ))
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return Err(std::io::Error::other("the connecting thread failed"))
            }
        }
    }
}

/// Connects, checks the host key, logs in, and opens the SFTP channel. `stop` cuts every
/// step short; `cap` bounds each step's timeout further.
///
/// When host keys are pinned or listed in a known-hosts file, the key algorithms are chosen
/// as OpenSSH does: those of the keys known for the host first. A server has one key per
/// algorithm family; when the key it shows does not match, the connection is made again
/// preferring the families not seen yet, until one matches or none is left (fingerprints
/// say nothing about their algorithm, so this is how a pinned ECDSA or RSA key is found).
fn connect(
    dial: &Dial,
    stop: &CancellationToken,
    cap: Option<Duration>,
) -> Result<Connection, Error> {
    let config = &dial.config;
    let endpoint = &dial.endpoint;
    let mut order: Vec<usize> = match &dial.host_keys {
        HostKeyCheck::AcceptAny => Vec::new(),
        HostKeyCheck::KnownHosts(file) => known_families(file, &config.host, config.port),
        HostKeyCheck::Fingerprints(_) => Vec::new(),
    };
    if !matches!(dial.host_keys, HostKeyCheck::AcceptAny) {
        let rest: Vec<usize> = (0..HOST_KEY_FAMILIES.len())
            .filter(|f| !order.contains(f))
            .collect();
        order.extend(rest);
    }
    let mut first_denial: Option<Error> = None;
    let mut others = Vec::new();
    let (session, watch) = loop {
        let prefs = (!order.is_empty()).then(|| {
            order
                .iter()
                .map(|f| HOST_KEY_FAMILIES[*f])
                .collect::<Vec<_>>()
                .join(",")
        });
        let (session, watch) =
            handshake(dial, stop, cap, prefs.as_deref()).map_err(|e| match &first_denial {
                // The server has no key of the families left.
                Some(first) => with_other_keys(first.clone(), &others),
                None => e,
            })?;
        let (key, kind) = session
            .host_key()
            .ok_or_else(|| network(endpoint, "no host key from", &"the server sent none"))?;
        let key = key.to_vec();
        let sha256 = session
            .host_key_hash(ssh2::HashType::Sha256)
            .ok_or_else(|| network(endpoint, "no host key from", &"the server sent none"))?
            .to_vec();
        let checked = dial.policy.check_host_key(endpoint, &sha256, |file| {
            let mut known = session.known_hosts().map_err(|e| e.to_string())?;
            known
                .read_file(file, ssh2::KnownHostFileKind::OpenSSH)
                .map_err(|e| e.to_string())?;
            Ok(matches!(
                known.check_port(&config.host, config.port, &key),
                ssh2::CheckResult::Match
            ))
        });
        let Err(denied) = checked else {
            break (session, watch);
        };
        let _ = session.disconnect(None, "host key not trusted", None);
        // Try the server's other keys, if it has any of a family not seen yet.
        if first_denial.is_none() {
            first_denial = Some(denied);
        } else {
            others.push(fingerprint(&sha256));
        }
        let seen = family(kind);
        order.retain(|f| Some(*f) != seen);
        if seen.is_none() || order.is_empty() {
            let first = first_denial.unwrap_or_else(|| Error::internal("no denial"));
            return Err(with_other_keys(first, &others));
        }
        check_stop(stop)?;
        // Each further connection for another host key counts against --max-requests.
        dial.meter.request()?;
    };
    if let Some(first) = first_denial {
        dial.observer.log(
            LogLevel::Debug,
            &format!(
                "{endpoint}: {}; another of its host keys matched",
                first.message
            ),
        );
    }

    login(
        dial,
        &session,
        step_timeout(config.auth_timeout_ms, cap),
        stop,
    )?;
    let idle = cap.map_or(dial.idle, |cap| dial.idle.min(cap));
    session.set_timeout(libssh2_ms(idle));
    let sftp = start_sftp(&session, idle).map_err(|failure| {
        if stop.is_cancelled() {
            return stopped();
        }
        let e = failure.error;
        // The connection failing as the subsystem starts is the network's doing, not a
        // server without SFTP.
        if failure.connection_lost {
            return network(endpoint, "the SFTP subsystem could not start on", &e);
        }
        // The connection is still there: the server refused the channel, or its SFTP server
        // ended at once (libssh2 then says it waited for a response in vain).
        Error::new(ErrorKind::Remote, format!("{endpoint} offers no SFTP: {e}"))
    })?;
    static DIALED: AtomicU64 = AtomicU64::new(0);
    Ok(Connection {
        id: DIALED.fetch_add(1, Ordering::Relaxed),
        session,
        sftp,
        _watch: watch,
    })
}

fn network(endpoint: &str, what: &str, detail: &dyn std::fmt::Display) -> Error {
    Error::new(ErrorKind::Network, format!("{what} {endpoint}: {detail}"))
}

fn fingerprint(sha256: &[u8]) -> String {
    use base64::Engine as _;
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(sha256)
    )
}

fn with_other_keys(error: Error, others: &[String]) -> Error {
    if others.is_empty() {
        return error;
    }
    let message = format!(
        "{}; its other host keys did not match either: {}",
        error.message,
        others.join(", ")
    );
    Error::new(error.kind, message)
}

/// The index in [`HOST_KEY_FAMILIES`] of a key type.
fn family(kind: HostKeyType) -> Option<usize> {
    match kind {
        HostKeyType::Ed25519 => Some(0),
        HostKeyType::Ecdsa256 => Some(1),
        HostKeyType::Ecdsa384 => Some(2),
        HostKeyType::Ecdsa521 => Some(3),
        HostKeyType::Rsa => Some(4),
        _ => None,
    }
}

/// The families of the keys that an OpenSSH known-hosts file lists for `host` on `port`
/// (hashed entries count too: their host cannot be read), in the file's order.
fn known_families(file: &Path, host: &str, port: u16) -> Vec<usize> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Vec::new();
    };
    let bracketed = format!("[{host}]:{port}");
    let mut families = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(hosts) = fields.next() else { continue };
        if hosts.starts_with('#') || hosts.starts_with('@') {
            continue;
        }
        let listed = hosts.split(',').any(|h| {
            h.starts_with("|1|") || h == bracketed || (port == 22 && h.eq_ignore_ascii_case(host))
        });
        let kind = fields.next().unwrap_or("");
        let found = HOST_KEY_FAMILIES
            .iter()
            .position(|names| names.split(',').any(|name| name == kind));
        if let Some(found) = found.filter(|f| listed && !families.contains(f)) {
            families.push(found);
        }
    }
    families
}

/// TCP connection, banner and key exchange, with `prefs` as the host-key algorithms.
fn handshake(
    dial: &Dial,
    stop: &CancellationToken,
    cap: Option<Duration>,
    prefs: Option<&str>,
) -> Result<(Session, DropGuard), Error> {
    let config = &dial.config;
    let endpoint = &dial.endpoint;
    // Resolving is not cut by a stop (the system's resolver has its own timeouts).
    let addresses = (config.host.as_str(), config.port)
        .to_socket_addrs()
        .map_err(|e| network(endpoint, "cannot resolve", &e))?;
    let mut last_error = None;
    let mut tcp = None;
    for address in addresses {
        check_stop(stop)?;
        match tcp_connect(address, step_timeout(config.connect_timeout_ms, cap), stop) {
            Ok(stream) => {
                tcp = Some(stream);
                break;
            }
            Err(e) => last_error = Some(e),
        }
    }
    check_stop(stop)?;
    let tcp = tcp.ok_or_else(|| {
        let detail = last_error.map_or("no address".to_owned(), |e| e.to_string());
        network(endpoint, "could not connect to", &detail)
    })?;
    let _ = tcp.set_nodelay(true);
    let watch = match tcp.try_clone() {
        Ok(socket) => watch(&dial.runtime, stop, socket),
        Err(e) => return Err(network(endpoint, "could not connect to", &e)),
    };

    let mut session = Session::new().map_err(|e| Error::internal(e.to_string()))?;
    session.set_tcp_stream(tcp);
    session.set_timeout(libssh2_ms(step_timeout(config.banner_timeout_ms, cap)));
    if let Some(prefs) = prefs {
        // libssh2 drops the names it does not know; with none left it keeps its defaults.
        let _ = session.method_pref(MethodType::HostKey, prefs);
    }
    for direction in [MethodType::CryptCs, MethodType::CryptSc] {
        let _ = session.method_pref(direction, &cipher_preference(&session, direction));
    }
    session.handshake().map_err(|e| {
        if stop.is_cancelled() {
            return stopped();
        }
        network(endpoint, "SSH handshake failed with", &e)
    })?;
    Ok((session, watch))
}

/// Logs in with the configured credential (see [`authenticate`]). A failure is `auth` when
/// the server refused: it keeps the connection, or says why it ends it (OpenSSH at
/// `MaxAuthTries`). It is `network` when the connection broke or the server went silent:
/// libssh2 reports a broken keyboard-interactive or key login as a refusal, so the
/// connection is looked at ([`ssh_fault`](super::ssh_fault)).
fn login(
    dial: &Dial,
    session: &Session,
    timeout: Duration,
    stop: &CancellationToken,
) -> Result<(), Error> {
    let (result, disconnect) =
        watching_disconnect(session, || authenticate(dial, session, timeout, stop));
    let Err(e) = result else {
        return Ok(());
    };
    if stop.is_cancelled() {
        return Err(stopped());
    }
    match disconnect {
        Some(why) if e.kind == ErrorKind::Auth && !why.is_empty() => Err(Error::new(
            ErrorKind::Auth,
            format!("{} (the server ended the session: {why})", e.message),
        )),
        None if e.kind == ErrorKind::Auth && connection_gone(session) => {
            Err(network(&dial.endpoint, "SSH login cut off at", &e.message))
        }
        _ => Err(e),
    }
}

/// Tries the configured credential. A password goes by the `password` method, then by
/// `keyboard-interactive` (answering the server's prompts with it) when the server offers
/// that: PAM servers often take passwords only that way. A server that stays silent for
/// `timeout` is `network`; every other failure `auth`, for [`login`] to look at again.
fn authenticate(
    dial: &Dial,
    session: &Session,
    timeout: Duration,
    stop: &CancellationToken,
) -> Result<(), Error> {
    let config = &dial.config;
    let endpoint = &dial.endpoint;
    let user = config.username.as_str();
    session.set_timeout(libssh2_ms(timeout));
    let failed = |how: &str, detail: Option<&str>| {
        if stop.is_cancelled() {
            return stopped();
        }
        let detail = detail.map_or(String::new(), |d| format!(": {d}"));
        Error::new(
            ErrorKind::Auth,
            format!("SSH login to {endpoint} with a {how} failed{detail}"),
        )
    };
    // Asking for the methods tries the `none` method, which some servers accept.
    let methods = match session.auth_methods(user) {
        Ok(methods) => methods.to_owned(),
        Err(_) if session.authenticated() => return Ok(()),
        Err(e) => {
            check_stop(stop)?;
            let detail = format!("SSH login to {endpoint}: {}", e.message());
            return Err(Error::new(ErrorKind::Network, detail));
        }
    };
    if session.authenticated() {
        return Ok(());
    }
    let offers = |method: &str| methods.split(',').any(|m| m == method);
    match &config.credential {
        Credential::Password(password) => {
            let mut last = None;
            if offers("password") {
                last = session.userauth_password(user, password).err();
            }
            check_stop(stop)?;
            if !session.authenticated()
                && offers("keyboard-interactive")
                && !connection_gone(session)
            {
                let mut answer = PasswordPrompter {
                    password,
                    rounds: 0,
                };
                if let Err(e) = session.userauth_keyboard_interactive(user, &mut answer) {
                    last = Some(e);
                }
            }
            if session.authenticated() {
                return Ok(());
            }
            if !offers("password") && !offers("keyboard-interactive") {
                let detail = format!("the server takes no password (it offers: {methods})");
                return Err(failed("password", Some(&detail)));
            }
            match last {
                Some(e) if timed_out(&e) => Err(network(endpoint, "SSH login timed out at", &e)),
                last => Err(failed("password", last.as_ref().map(ssh2::Error::message))),
            }
        }
        Credential::PrivateKey(key) => {
            let encrypted = key_is_encrypted(&key.key);
            let passphrase = key.passphrase.as_deref().filter(|p| !p.is_empty());
            if encrypted == Some(true) && passphrase.is_none() {
                return Err(failed(
                    "private key",
                    Some("the key is encrypted and no passphrase was given (missing passphrase)"),
                ));
            }
            let result = session.userauth_pubkey_memory(user, None, &key.key, passphrase);
            if session.authenticated() {
                return Ok(());
            }
            let Err(e) = result else {
                return Err(failed("private key", None));
            };
            if timed_out(&e) {
                return Err(network(endpoint, "SSH login timed out at", &e));
            }
            // libssh2 says "Unsupported private key format" (or similar) when it cannot
            // decrypt a key; the server's refusals are these two codes.
            let refused = matches!(e.code(), ErrorCode::Session(-18 | -19));
            if encrypted == Some(true) && !refused && !stop.is_cancelled() {
                let detail = format!("wrong passphrase for the encrypted key ({})", e.message());
                return Err(failed("private key", Some(&detail)));
            }
            Err(failed("private key", Some(e.message())))
        }
    }
}

/// Answers keyboard-interactive prompts with the password: a prompt that does not echo and
/// asks for a password, for a few rounds at most. Any other prompt (a one-time code, a
/// token) gets an empty answer: the password is never typed where something else is asked.
struct PasswordPrompter<'a> {
    password: &'a str,
    rounds: u32,
}

impl ssh2::KeyboardInteractivePrompt for PasswordPrompter<'_> {
    fn prompt<'a>(
        &mut self,
        _username: &str,
        _instructions: &str,
        prompts: &[ssh2::Prompt<'a>],
    ) -> Vec<String> {
        if !prompts.is_empty() {
            self.rounds += 1;
        }
        prompts
            .iter()
            .map(|p| {
                if !p.echo && self.rounds <= 3 && asks_for_password(&p.text) {
                    self.password.to_owned()
                } else {
                    String::new()
                }
            })
            .collect()
    }
}

/// Whether a keyboard-interactive prompt asks for the account's password ("Password:",
/// "user's password:"), not for a one-time code or a token.
fn asks_for_password(prompt: &str) -> bool {
    let prompt = prompt.to_lowercase();
    prompt.contains("password")
        && ![
            "one-time",
            "one time",
            "otp",
            "verification",
            "token",
            "code",
        ]
        .iter()
        .any(|other| prompt.contains(other))
}

/// Whether a private key (OpenSSH or PEM text) is encrypted; `None` when that cannot be told.
fn key_is_encrypted(key: &str) -> Option<bool> {
    use base64::Engine as _;
    if key.contains("BEGIN ENCRYPTED PRIVATE KEY") || key.contains("Proc-Type: 4,ENCRYPTED") {
        return Some(true);
    }
    const BEGIN: &str = "-----BEGIN OPENSSH PRIVATE KEY-----";
    let start = key.find(BEGIN)? + BEGIN.len();
    let end = start + key[start..].find("-----END")?;
    let body: String = key[start..end].split_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()?;
    // "openssh-key-v1\0", then the cipher's name as an SSH string ("none" when clear).
    let rest = bytes.strip_prefix(b"openssh-key-v1\0")?;
    let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let cipher = rest.get(4..4 + len)?;
    Some(cipher != b"none")
}

fn is_missing(error: &ssh2::Error) -> bool {
    error.code() == ErrorCode::SFTP(2)
}

/// An SFTP failure as an error of the right kind, naming the endpoint and path.
fn sftp_error(endpoint: &str, action: &str, path: &str, error: &ssh2::Error) -> Error {
    let (kind, detail) = match error.code() {
        ErrorCode::SFTP(2) => (ErrorKind::NotFound, "no such file or folder".to_owned()),
        ErrorCode::SFTP(3) => (ErrorKind::Auth, "permission denied".to_owned()),
        ErrorCode::SFTP(_) => (ErrorKind::Remote, error.message().to_owned()),
        ErrorCode::Session(_) => (ErrorKind::Network, error.message().to_owned()),
    };
    Error::new(kind, format!("{action} {endpoint}:{path}: {detail}"))
}

/// [`sftp_error`] for a failure on `conn`, saying so when the connection has ended: libssh2
/// may call a cut connection a timeout ("Timeout waiting for status message").
fn sftp_error_on(
    conn: &Connection,
    (endpoint, action, path): (&str, &str, &str),
    error: &ssh2::Error,
) -> Error {
    let mut e = sftp_error(endpoint, action, path, error);
    if matches!(error.code(), ErrorCode::Session(_)) && connection_gone(&conn.session) {
        e.message = format!(
            "{action} {endpoint}:{path}: the connection was lost ({})",
            error.message()
        );
    }
    e
}

/// Opens another session like the one a transfer runs on.
type Dialer<'a> = dyn Fn() -> Result<Connection, Error> + Sync + 'a;

/// What a download needs to continue over a new session when its own drops: how to dial, the
/// file, what it looked like (size, mtime: a change is never spliced), and the tries.
struct Reopener<'a> {
    dial: &'a Dialer<'a>,
    path: &'a str,
    /// Updated when the file is found changed: the download starting over then goes on
    /// from the file as it is now.
    looked: Mutex<(Option<u64>, Option<u64>)>,
    retries: u32,
    /// Where each resumption is said.
    observer: &'a dyn Observer,
}

/// The file opened again over a new session (which must outlive it).
struct Reopened {
    conn: Connection,
    file: ssh2::File,
    /// The file's size when it changed since it was first opened (the new file is then at its
    /// start); `None` when it did not (the new file is at the position asked for).
    changed: Option<Option<u64>>,
}

impl Reopener<'_> {
    /// Opens the file over `conn`, and when it is unchanged (its size, its modification time,
    /// and the `tail` received just before `position` read again) goes on at `position`;
    /// `fail` names an SFTP error, `seek_failed` a failed seek.
    fn reopen(
        &self,
        conn: Connection,
        position: u64,
        tail: &Tail,
        fail: &dyn Fn(&ssh2::Error) -> Error,
        seek_failed: &dyn Fn(std::io::Error) -> Error,
    ) -> Result<Reopened, Error> {
        use std::io::{Seek as _, SeekFrom};
        let mut file = conn.sftp.open(Path::new(self.path)).map_err(|e| fail(&e))?;
        let now = file.stat().map_err(|e| fail(&e))?;
        let mut unchanged = {
            let mut looked = self.looked.lock().unwrap();
            let same = (now.size, now.mtime) == *looked;
            *looked = (now.size, now.mtime);
            same
        };
        if unchanged && !tail.0.is_empty() {
            let start = position - tail.0.len() as u64;
            file.seek(SeekFrom::Start(start)).map_err(&seek_failed)?;
            let mut again = Vec::with_capacity(tail.0.len());
            (&mut file)
                .take(tail.0.len() as u64)
                .read_to_end(&mut again)
                .map_err(|e| {
                    Error::new(ErrorKind::Network, format!("download {}: {e}", self.path))
                })?;
            unchanged = again == tail.0;
        }
        let position = if unchanged { position } else { 0 };
        file.seek(SeekFrom::Start(position)).map_err(seek_failed)?;
        Ok(Reopened {
            conn,
            file,
            changed: (!unchanged).then_some(now.size),
        })
    }
    /// Dials and [`Reopener::reopen`]s after the break `cut` at `position` (with the `tail`
    /// before it), again while the new session breaks too; each try counts in `tries`, and
    /// when none is left the last break is the error. A failed dial is final: the dialer has
    /// waited for an unreachable server as long as it may.
    fn reopen_counting(
        &self,
        tries: &mut retry::Tries,
        (position, tail): (u64, &Tail),
        mut cut: Error,
        fail: &dyn Fn(&ssh2::Error) -> Error,
        seek_failed: &dyn Fn(std::io::Error) -> Error,
    ) -> Result<Reopened, Error> {
        loop {
            if tries.after_break(position).is_none() {
                return Err(cut);
            }
            let conn = (self.dial)()?;
            match self.reopen(conn, position, tail, fail, seek_failed) {
                Err(e) if e.kind == ErrorKind::Network => cut = e,
                reopened => return reopened,
            }
        }
    }
}

/// The last bytes of a download before where it stands (up to [`TAIL`]), read again when it
/// resumes: SFTP gives modification times in whole seconds and so misses a file rewritten
/// within the second (or with its time set back), but not its bytes, unless the rewrite left
/// those.
#[derive(Default)]
struct Tail(Vec<u8>);

/// Bytes of a download's [`Tail`].
const TAIL: usize = 16 * 1024;

impl Tail {
    /// Adds the bytes that came next.
    fn push(&mut self, bytes: &[u8]) {
        if bytes.len() >= TAIL {
            self.0.clear();
            self.0.extend_from_slice(&bytes[bytes.len() - TAIL..]);
        } else {
            self.0.extend_from_slice(bytes);
            let excess = self.0.len().saturating_sub(TAIL);
            self.0.drain(..excess);
        }
    }
}

/// Copies the remote file into `output` in reads of `read` bytes (at most), taking its size
/// and modification time from `listed` when given (else asking the server). A large file
/// going to a file is fetched in two halves over this session and a second one (`second`
/// opens it, when given), in parallel: libssh2's decryption is the bottleneck and runs on one
/// core per session.
///
/// A read that fails (the connection dropped) is resumed where it stopped over a new session
/// (`resume` opens one, with `retries` tries in a row without progress), unless the file
/// changed meanwhile (size or modification time), when it starts over.
#[allow(clippy::too_many_arguments)]
fn download(
    sftp: &Sftp,
    second: Option<&Dialer<'_>>,
    resume: Option<(&Dialer<'_>, u32)>,
    read: usize,
    endpoint: &str,
    (path, listed): (&str, Option<ssh2::FileStat>),
    output: &mut Output,
    (tally, replaced): (Tally, &Replacement),
) -> Result<u64, Error> {
    let fail = |e: &ssh2::Error| sftp_error(endpoint, "download", path, e);
    let mut file = sftp.open(Path::new(path)).map_err(|e| fail(&e))?;
    let from_listing = listed.is_some();
    let stat = match listed {
        Some(stat) => stat,
        None => file.stat().map_err(|e| fail(&e))?,
    };
    if stat.is_dir() {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!("download {endpoint}:{path}: a folder, not a file"),
        ));
    }
    let size = stat.size;
    let reopen = resume.map(|(dial, retries)| Reopener {
        dial,
        path,
        looked: Mutex::new((stat.size, stat.mtime)),
        retries,
        observer: tally.observer,
    });
    if let (Some(size), Some(second)) = (size.filter(|size| *size >= PARALLEL_MIN), second) {
        if let Some((dest, base)) = output.positional()? {
            match second() {
                Ok(other) => {
                    let label = format!("download {endpoint}:{path}");
                    let second_file = other.sftp.open(Path::new(path)).map_err(|e| fail(&e))?;
                    let dest = (&dest, base);
                    let halves = [file, second_file];
                    let copied =
                        download_halves(halves, size, dest, &label, reopen.as_ref(), tally)?;
                    let _ = other.session.disconnect(None, "done", None);
                    output.appended(copied)?;
                    return Ok(copied);
                }
                Err(e) => tally.observer.log(
                    crate::LogLevel::Debug,
                    &format!("one SFTP session only ({}): {}", e.kind, e.message),
                ),
            }
        }
    }
    // Reads ask for no more than the rest of the file: libssh2 sends read-ahead requests for
    // four times the length asked, and a 10 KiB file read with a 1 MiB buffer would cost a
    // hundred requests past its end (a receive-dir of 1000 such files took 4 times as long).
    let want = |copied: u64, size: Option<u64>| match size {
        Some(size) if copied < size => (size - copied).min(read as u64) as usize,
        Some(_) => END_PROBE,
        None => read,
    };
    let mut size = size;
    let mut buffer = vec![0u8; want(0, size).max(END_PROBE)];
    let mut copied = 0u64;
    let mut tail = Tail::default();
    let start = output.written();
    // After a resumption: the new session, kept alive while its file is read.
    let mut resumed: Option<Connection> = None;
    let mut tries = retry::Tries::new(resume.map_or(0, |(_, n)| n), 0);
    let network = |e: std::io::Error| {
        Error::new(
            ErrorKind::Network,
            format!("download {endpoint}:{path}: {e}"),
        )
    };
    loop {
        tally.check()?;
        let n = want(copied, size).min(buffer.len());
        let n = match file.read(&mut buffer[..n]) {
            Ok(n) => n,
            Err(e) => {
                let cut = network(e);
                let Some(reopen) = &reopen else {
                    return Err(cut);
                };
                tally.check()?;
                let again = reopen.reopen_counting(
                    &mut tries,
                    (copied, &tail),
                    cut.clone(),
                    &fail,
                    &network,
                )?;
                if let Some(now) = again.changed {
                    output.truncate(start)?;
                    (copied, size, tail) = (0, now, Tail::default());
                }
                tally.observer.log(
                    crate::LogLevel::Info,
                    &format!(
                        "{}; {} over a new session",
                        cut.message,
                        match again.changed {
                            None => format!("resuming from byte {copied}"),
                            Some(_) => "the file changed: starting over".to_owned(),
                        }
                    ),
                );
                (file, resumed) = (again.file, Some(again.conn));
                continue;
            }
        };
        if n == 0 {
            break;
        }
        tally.meter.bytes(n as u64)?;
        output.write_all(&buffer[..n])?;
        tail.push(&buffer[..n]);
        copied += n as u64;
        tally.observer.progress(output.written(), size);
    }
    // A file that shrank since it was listed is whole at its end now.
    let mut shrank = || from_listing && file.stat().is_ok_and(|now| now.size == Some(copied));
    if let Some(size) = size.filter(|size| copied < *size && !shrank()) {
        return Err(Error::new(
            ErrorKind::Network,
            format!("download {endpoint}:{path}: got {copied} of {size} bytes"),
        ));
    }
    drop(file);
    replaced.set(resumed);
    Ok(copied)
}

/// Fetches the first half of a `size`-byte file through one handle and the rest through the
/// other (opened on another session), in two threads, writing each piece at its offset
/// (plus `base`) in `dest`.
fn download_halves(
    [mut first, mut second]: [ssh2::File; 2],
    size: u64,
    (dest, base): (&std::fs::File, u64),
    label: &str,
    reopen: Option<&Reopener>,
    tally: Tally,
) -> Result<u64, Error> {
    let done = AtomicU64::new(0);
    let progress = |n: u64| {
        tally.check()?;
        tally.meter.bytes(n)?;
        let total = done.fetch_add(n, Ordering::Relaxed) + n;
        tally.observer.progress(base + total, Some(base + size));
        Ok(())
    };
    let half = size / 2;
    let (lower, upper) = std::thread::scope(|scope| {
        let upper = scope.spawn(|| {
            let to = (dest, base);
            read_range(&mut second, half..size, to, label, reopen, &progress)
        });
        let lower = read_range(&mut first, 0..half, (dest, base), label, reopen, &progress);
        (lower, upper.join())
    });
    lower?;
    upper.map_err(|_| Error::internal(format!("{label}: a download thread failed")))??;
    Ok(size)
}

/// Reads `range` of `file` into `dest` at `base + offset`; a read that fails (the session
/// dropped) continues over a new session when `reopen` allows it.
fn read_range(
    file: &mut ssh2::File,
    range: std::ops::Range<u64>,
    (dest, base): (&std::fs::File, u64),
    label: &str,
    reopen: Option<&Reopener>,
    progress: &(dyn Fn(u64) -> Result<(), Error> + Sync),
) -> Result<(), Error> {
    use std::io::Seek as _;
    use std::os::unix::fs::FileExt as _;
    let network = |detail: String| Error::new(ErrorKind::Network, format!("{label}: {detail}"));
    file.seek(std::io::SeekFrom::Start(range.start))
        .map_err(|e| network(e.to_string()))?;
    let mut buffer = vec![0u8; RANGE_READ];
    let mut position = range.start;
    let mut tail = Tail::default();
    let mut _resumed: Option<Connection> = None;
    let mut tries = retry::Tries::new(reopen.map_or(0, |r| r.retries), range.start);
    while position < range.end {
        let want = (range.end - position).min(RANGE_READ as u64) as usize;
        let n = match file.read(&mut buffer[..want]) {
            Ok(n) => n,
            Err(e) => {
                let cut = network(e.to_string());
                let Some(reopen) = reopen else {
                    return Err(cut);
                };
                let fail = |e: &ssh2::Error| network(e.to_string());
                let seek_failed = |e: std::io::Error| network(e.to_string());
                let at = (position, &tail);
                let again =
                    reopen.reopen_counting(&mut tries, at, cut.clone(), &fail, &seek_failed)?;
                if again.changed.is_some() {
                    return Err(Error::new(
                        ErrorKind::Network,
                        format!(
                            "{}; the file changed meanwhile, so its halves cannot be joined",
                            cut.message
                        ),
                    ));
                }
                reopen.observer.log(
                    LogLevel::Info,
                    &format!(
                        "{}; resuming from byte {position} over a new session",
                        cut.message
                    ),
                );
                (*file, _resumed) = (again.file, Some(again.conn));
                continue;
            }
        };
        if n == 0 {
            return Err(network(format!(
                "the file ended at byte {position} of {}",
                range.end
            )));
        }
        dest.write_all_at(&buffer[..n], base + position)
            .map_err(|e| Error::local_io("writing the download", &e))?;
        tail.push(&buffer[..n]);
        position += n as u64;
        progress(n as u64)?;
    }
    Ok(())
}

/// Whether the server refused an operation (rather than failing it): permission denied,
/// a generic failure, or an operation it does not support. Drop boxes answer so.
fn refused(error: &ssh2::Error) -> bool {
    matches!(error.code(), ErrorCode::SFTP(3 | 4 | 8))
}

/// One upload of the local input to `path`.
///
/// Where the server allows it, the bytes go to a temporary name beside `path` that is
/// renamed onto it when complete, so that a failed or stopped upload leaves `path` as it
/// was. Where it does not (a drop box refusing renames, a folder where no new file may be
/// created), `path` itself is written, as OpenSSH's `sftp put` does.
struct Upload<'a> {
    conn: &'a Connection,
    dial: &'a Dial,
    input: &'a Input,
    path: &'a Path,
    tally: Tally<'a>,
    /// Whether a large file may go in two halves over a second session (not when a batch
    /// moves several files over several sessions already).
    split: bool,
    /// Gets the new session when `conn` dropped and the upload went on over another.
    replaced: &'a Replacement,
}

/// How an upload reaches its target.
enum Route {
    /// Through this temporary file, created empty and open for writing.
    Temporary(PathBuf, ssh2::File),
    /// By writing the target itself, for this reason.
    Direct(String),
}

impl Upload<'_> {
    fn run(&self, make_dirs: bool) -> Result<u64, Error> {
        self.run_knowing(make_dirs, None)
    }

    /// As [`Upload::run`], knowing already whether the server renames (see
    /// [`probe_renames`]) when `renames` is given: a batch learns that once.
    fn run_knowing(
        &self,
        make_dirs: bool,
        renames: Option<&Result<(), String>>,
    ) -> Result<u64, Error> {
        let sftp = &self.conn.sftp;
        let endpoint = &self.dial.endpoint;
        let shown = self.path.display().to_string();
        let name = self
            .path
            .file_name()
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidAccess,
                    format!("upload {endpoint}:{shown}: not a file path"),
                )
            })?
            .to_string_lossy();
        let parent = self.path.parent().unwrap_or(Path::new(""));
        if make_dirs {
            make_parents(sftp, parent).map_err(|(dir, e)| {
                sftp_error(endpoint, "create folder", &dir.display().to_string(), &e)
            })?;
        }
        let existing = sftp.stat(self.path).ok();
        if existing.as_ref().is_some_and(ssh2::FileStat::is_dir) {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("upload {endpoint}:{shown}: {shown} is a folder"),
            ));
        }
        self.tally.check()?;
        let mode = existing
            .as_ref()
            .and_then(|s| s.perm)
            .map_or(0o644, |perm| (perm & 0o777) as i32);
        match self.temporary(parent, &name, mode, renames)? {
            Route::Temporary(temp, file) => self.through(&temp, file, existing.as_ref()),
            Route::Direct(why) => {
                // A batch that knows renames are refused says so once, not for each file.
                if !matches!(renames, Some(Err(_))) {
                    self.log(
                        LogLevel::Info,
                        &format!("{why}: writing {endpoint}:{shown} directly"),
                    );
                }
                self.directly(existing.is_some())
            }
        }
    }

    fn log(&self, level: LogLevel, message: &str) {
        self.tally.observer.log(level, message);
    }

    /// Learns whether the server lets this upload go through a temporary file: first
    /// whether it renames at all (unless `renames` says), then by creating the temporary
    /// file, empty.
    fn temporary(
        &self,
        parent: &Path,
        name: &str,
        mode: i32,
        renames: Option<&Result<(), String>>,
    ) -> Result<Route, Error> {
        let sftp = &self.conn.sftp;
        let endpoint = &self.dial.endpoint;
        let temp = parent.join(temporary_name(name, &unique_suffix()));
        let probed;
        let renames = match renames {
            Some(known) => known,
            None => {
                probed = probe_renames(sftp, endpoint, parent);
                &probed
            }
        };
        if let Err(why) = renames {
            return Ok(Route::Direct(why.clone()));
        }
        let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUSIVE;
        let shown = temp.display().to_string();
        match sftp.open_mode(&temp, flags, mode, OpenType::File) {
            Ok(file) => Ok(Route::Temporary(temp, file)),
            Err(e) if refused(&e) => {
                let why = sftp_error(endpoint, "create temporary file", &shown, &e);
                Ok(Route::Direct(why.message))
            }
            Err(e) => {
                // The session failed: the server may have made the file and lost the answer.
                if matches!(e.code(), ErrorCode::Session(_)) {
                    self.remove(&temp, "the temporary file");
                }
                Err(sftp_error(endpoint, "create temporary file", &shown, &e))
            }
        }
    }

    /// Writes the `pending` ranges of the local file into the open `remote` file at `path`
    /// (shown as `shown`) of the session `conn` and closes it: the bytes of both routes,
    /// temporary file or target. What was not written is left in `pending`.
    fn fill(
        &self,
        (conn, remote): (&Connection, &mut ssh2::File),
        (path, shown): (&Path, &str),
        pending: &mut Pending,
        label: &str,
    ) -> Result<u64, Error> {
        let endpoint = &self.dial.endpoint;
        let second = || self.dial.connect();
        upload_ranges(
            (&conn.session, remote),
            self.split.then_some(&second as &Dialer<'_>),
            path,
            self.input,
            pending,
            label,
            self.tally,
        )?;
        remote
            .close()
            .map_err(|e| sftp_error(endpoint, "write", shown, &e))?;
        Ok(self.input.size)
    }

    /// Continues writing the temporary file `temp` after its session was cut (`cut`) with
    /// the `pending` ranges, over a new session each time, with the retry setting's tries in
    /// a row that get no further. Returns the new session, with the file complete and closed.
    fn resume(
        &self,
        mut cut: Error,
        (temp, shown): (&Path, &str),
        pending: &mut Pending,
        label: &str,
    ) -> Result<Connection, Error> {
        let size = self.input.size;
        let left = |pending: &Pending| pending.iter().map(|r| r.end - r.start).sum::<u64>();
        let mut tries = retry::Tries::new(self.dial.retries, size - left(pending));
        loop {
            let written = size - left(pending);
            if cut.kind != ErrorKind::Network || tries.after_break(written).is_none() {
                return Err(cut);
            }
            self.tally.check()?;
            self.log(
                LogLevel::Info,
                &format!(
                    "{}; resuming the upload with {} of {size} bytes sent over a new session",
                    cut.message, written
                ),
            );
            let conn = self.dial.redial()?;
            let reopen = |e: &ssh2::Error| sftp_error(&self.dial.endpoint, "reopen", shown, e);
            let mut remote = conn
                .sftp
                .open_mode(temp, OpenFlags::WRITE, 0o600, OpenType::File)
                .map_err(|e| reopen(&e))?;
            // Someone else's hand on the temporary file (it holds less than was acknowledged)
            // would leave a hole: then all of it is written again.
            let holds = remote.stat().map_err(|e| reopen(&e))?.size.unwrap_or(0);
            if holds < highest_written(pending, size) {
                self.log(
                    LogLevel::Info,
                    &format!("{shown} holds less than was sent: writing all of it again"),
                );
                *pending = whole(size);
            }
            let again = Upload {
                split: false,
                ..*self
            };
            match again.fill((&conn, &mut remote), (temp, shown), pending, label) {
                Ok(_) => return Ok(conn),
                Err(e) => cut = e,
            }
        }
    }

    /// Writes the temporary file, gives it the target's mode and group, and renames it onto
    /// the target; on failure or stop, removes it and leaves the target as it was. A cut
    /// session does not lose what the temporary file holds: the rest goes over a new one
    /// (see [`Upload::resume`]), which then does the renaming.
    fn through(
        &self,
        temp: &Path,
        mut remote: ssh2::File,
        existing: Option<&ssh2::FileStat>,
    ) -> Result<u64, Error> {
        let endpoint = &self.dial.endpoint;
        let shown = self.path.display().to_string();
        let temp_shown = temp.display().to_string();
        let label = format!("write {endpoint}:{temp_shown} (the temporary file for {shown})");
        let target = (temp, temp_shown.as_str());
        let mut pending = whole(self.input.size);
        let first = self.fill((self.conn, &mut remote), target, &mut pending, &label);
        drop(remote);
        match first {
            Ok(n) => self.finish(temp, n, existing),
            Err(cut) => match self.resume(cut, target, &mut pending, &label) {
                Ok(conn) => {
                    let finished = Upload {
                        conn: &conn,
                        ..*self
                    }
                    .finish(temp, self.input.size, existing);
                    // A rename finished over yet another session left that one.
                    let newest = self.replaced.take().unwrap_or(conn);
                    self.replaced.set(Some(newest));
                    finished
                }
                Err(e) => {
                    self.remove(temp, "the temporary file");
                    Err(e)
                }
            },
        }
    }

    /// Gives the complete temporary file (`n` bytes) the target's mode and group, and
    /// renames it onto the target; on a stop or failure, removes it.
    fn finish(&self, temp: &Path, n: u64, existing: Option<&ssh2::FileStat>) -> Result<u64, Error> {
        let sftp = &self.conn.sftp;
        let endpoint = &self.dial.endpoint;
        let shown = self.path.display().to_string();
        let temp_shown = temp.display().to_string();
        if let Some(existing) = existing {
            self.keep_attributes(temp, existing);
        }
        // Never rename after a stop: the target keeps its old contents.
        if let Err(e) = self.tally.check() {
            self.remove(temp, "the temporary file");
            return Err(e);
        }
        match replace(sftp, temp, self.path) {
            Ok(()) => Ok(n),
            // The session dropped while renaming: the complete file is not given up.
            Err(e)
                if matches!(e.code(), ErrorCode::Session(_)) && !self.tally.stop.is_cancelled() =>
            {
                let action = format!("rename {endpoint}:{temp_shown} to");
                let cut = Error::new(ErrorKind::Network, format!("{action} {shown}: {e}"));
                self.rename_again(temp, cut).map(|()| n)
            }
            Err(e) => {
                let action = format!("rename {endpoint}:{temp_shown} to");
                let error = sftp_error(endpoint, &action, &shown, &e);
                self.remove(temp, "the temporary file");
                if refused(&e) && !self.tally.stop.is_cancelled() {
                    // Renames work, but not this one (say, onto an existing file that may
                    // not be removed).
                    self.log(
                        LogLevel::Info,
                        &format!("{}: writing {endpoint}:{shown} directly", error.message),
                    );
                    return self.directly(existing.is_some());
                }
                Err(error)
            }
        }
    }

    /// Renames the complete temporary file onto the target over a new session, after the
    /// session dropped while renaming (`cut`): that rename may have happened, or be half done
    /// (an existing target is removed first, as OpenSSH renames onto no existing file). With
    /// the temporary file there, the rename is done again; with only the target there, at
    /// the size sent, it was done. When no new session can be had, the temporary file is left
    /// (the target may be gone already) and the error names it.
    fn rename_again(&self, temp: &Path, cut: Error) -> Result<(), Error> {
        let renamed = self.try_rename_again(temp, cut);
        if renamed.is_err() && self.tally.stop.is_cancelled() {
            self.settle_stopped_rename(temp);
        }
        renamed
    }

    /// After a stop while renaming: over a short session the stop does not cut, the target
    /// is left as it was when it is still there (the temporary file removed), and when it
    /// is gone already (removed before the cut rename), the complete file is put in its place.
    fn settle_stopped_rename(&self, temp: &Path) {
        let (endpoint, shown, temp_shown) =
            (&self.dial.endpoint, self.path.display(), temp.display());
        let settled = self.dial.cleanup_session().and_then(|conn| {
            let sftp = &conn.sftp;
            let outcome = match (sftp.stat(self.path), sftp.stat(temp)) {
                (Ok(_), Ok(_)) => sftp.unlink(temp).map(|()| false),
                (Err(e), Ok(_)) if is_missing(&e) => replace(sftp, temp, self.path).map(|()| true),
                _ => Ok(false),
            };
            let _ = conn.session.disconnect(None, "done", None);
            outcome.map_err(|e| Error::new(ErrorKind::Remote, e.to_string()))
        });
        match settled {
            Ok(true) => self.log(
                LogLevel::Warn,
                &format!("the transfer stopped while {endpoint}:{shown} was being replaced, after the old file was removed: the new one was put in its place"),
            ),
            Ok(false) => {}
            Err(e) => self.log(
                LogLevel::Warn,
                &format!("the transfer stopped while {endpoint}:{shown} was being replaced: it may be gone; the file sent is whole at {endpoint}:{temp_shown} ({})", e.message),
            ),
        }
    }

    fn try_rename_again(&self, temp: &Path, mut cut: Error) -> Result<(), Error> {
        let endpoint = &self.dial.endpoint;
        let (shown, temp_shown) = (self.path.display(), temp.display());
        let mut tries = retry::Tries::new(self.dial.retries, 0);
        while tries.after_break(0).is_some() {
            self.tally.check()?;
            self.log(
                LogLevel::Info,
                &format!("{}; renaming over a new session", cut.message),
            );
            // redial() has tried as often as the server may be unreachable: no more here.
            let conn = match self.dial.redial() {
                Ok(conn) => conn,
                Err(e) if e.kind == ErrorKind::Network => {
                    cut = e;
                    break;
                }
                Err(e) => return Err(e),
            };
            let sftp = &conn.sftp;
            let renamed = match sftp.stat(temp) {
                Ok(_) => replace(sftp, temp, self.path),
                Err(e) if is_missing(&e) => match sftp.stat(self.path) {
                    Ok(stat) if stat.size == Some(self.input.size) => Ok(()),
                    _ => {
                        return Err(Error::new(
                            ErrorKind::Remote,
                            format!(
                                "{}; then {endpoint}:{temp_shown} was gone, and {shown} is not the file sent",
                                cut.message
                            ),
                        ))
                    }
                },
                Err(e) => Err(e),
            };
            match renamed {
                Ok(()) => {
                    self.replaced.set(Some(conn));
                    return Ok(());
                }
                Err(e) if matches!(e.code(), ErrorCode::Session(_)) => {
                    cut = Error::new(
                        ErrorKind::Network,
                        format!("rename {endpoint}:{temp_shown}: {e}"),
                    );
                }
                Err(e) => {
                    return Err(sftp_error(
                        endpoint,
                        &format!("rename {temp_shown} to"),
                        &shown.to_string(),
                        &e,
                    ));
                }
            }
        }
        Err(Error::new(
            cut.kind,
            format!(
                "{}; {shown} may be gone: the file sent is whole at {endpoint}:{temp_shown}, left there",
                cut.message
            ),
        ))
    }

    /// Gives the temporary file the existing target's permissions and group, where the
    /// server allows (the group only if the user is in it); a refusal is logged, not fatal.
    fn keep_attributes(&self, temp: &Path, existing: &ssh2::FileStat) {
        let sftp = &self.conn.sftp;
        let attributes = |uid, gid, perm| ssh2::FileStat {
            size: None,
            uid,
            gid,
            perm,
            atime: None,
            mtime: None,
        };
        // The group first: changing it may clear set-id bits that the mode then restores.
        let own = sftp.stat(temp).ok().and_then(|s| s.uid);
        if let (Some(uid), Some(gid)) = (own, existing.gid) {
            if let Err(e) = sftp.setstat(temp, attributes(Some(uid), Some(gid), None)) {
                self.log(
                    LogLevel::Debug,
                    &format!("cannot give the new file the group {gid} of the old one: {e}"),
                );
            }
        }
        if let Some(perm) = existing.perm {
            if let Err(e) = sftp.setstat(temp, attributes(None, None, Some(perm & 0o7777))) {
                self.log(
                    LogLevel::Debug,
                    &format!(
                        "cannot give the new file the mode {:o} of the old one: {e}",
                        perm & 0o7777
                    ),
                );
            }
        }
    }

    /// Writes the target itself. A failure or stop leaves an existing target partly
    /// overwritten (there is no other copy); a target this created is removed where allowed.
    fn directly(&self, existed: bool) -> Result<u64, Error> {
        let sftp = &self.conn.sftp;
        let endpoint = &self.dial.endpoint;
        let shown = self.path.display().to_string();
        let label = format!("write {endpoint}:{shown}");
        let written = (|| {
            let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE;
            let mut remote = sftp
                .open_mode(self.path, flags, 0o644, OpenType::File)
                .map_err(|e| sftp_error(endpoint, "write", &shown, &e))?;
            let mut pending = whole(self.input.size);
            let target = (self.path, shown.as_str());
            self.fill((self.conn, &mut remote), target, &mut pending, &label)
        })();
        if written.is_err() && !existed {
            self.remove(self.path, "the partly written file");
        }
        written
    }

    /// Removes a file this upload created: over this session, or, when that is dead (a stop
    /// shut its socket down), over a fresh short-lived one. Best effort: when the server
    /// refuses (a drop box) or cannot be reached, the file stays and a warning names it.
    fn remove(&self, path: &Path, what: &str) {
        let endpoint = &self.dial.endpoint;
        let warn = |detail: &dyn std::fmt::Display| {
            self.log(
                LogLevel::Warn,
                &format!(
                    "could not remove {what} {endpoint}:{}: {detail}",
                    path.display()
                ),
            );
        };
        match self.conn.sftp.unlink(path) {
            Ok(()) => return,
            Err(e) if is_missing(&e) => return,
            Err(e) if matches!(e.code(), ErrorCode::SFTP(_)) => return warn(&e),
            Err(_) => {}
        }
        let removed = self.dial.cleanup_session().and_then(|other| {
            let result = match other.sftp.unlink(path) {
                Err(e) if !is_missing(&e) => Err(Error::new(ErrorKind::Remote, e.to_string())),
                _ => Ok(()),
            };
            let _ = other.session.disconnect(None, "done", None);
            result
        });
        if let Err(e) = removed {
            warn(&e.message);
        }
    }
}

/// Byte ranges of an upload's local file still to be written.
type Pending = Vec<std::ops::Range<u64>>;

/// The end of what was written of a `size`-byte file, `pending` still to be written: the
/// temporary file must be at least this long.
fn highest_written(pending: &Pending, size: u64) -> u64 {
    let mut ranges: Vec<_> = pending.iter().filter(|r| !r.is_empty()).collect();
    ranges.sort_by_key(|r| r.start);
    let mut end = size;
    for range in ranges.iter().rev() {
        if range.end != end {
            break;
        }
        end = range.start;
    }
    end
}

/// All of a `size`-byte file still to be written: one range.
#[allow(clippy::single_range_in_vec_init)]
fn whole(size: u64) -> Pending {
    vec![0..size]
}

/// libssh2's error for a request the SFTP server answered with a failure status (as opposed
/// to the session failing).
const LIBSSH2_ERROR_SFTP_PROTOCOL: i32 = -31;

/// Writes the `pending` ranges of the input into the open remote file (at `remote_path`)
/// of `session`; a single large range goes in two halves in parallel, the second over its
/// own session (see [`download`] for why). Each range is taken off `pending` as the server
/// acknowledges it, so that on failure `pending` holds exactly what the remote file may
/// lack.
fn upload_ranges(
    (session, remote): (&Session, &mut ssh2::File),
    second: Option<&dyn Fn() -> Result<Connection, Error>>,
    remote_path: &Path,
    input: &Input,
    pending: &mut Pending,
    label: &str,
    tally: Tally,
) -> Result<(), Error> {
    let size = input.size;
    let left: u64 = pending.iter().map(|r| r.end - r.start).sum();
    let done = AtomicU64::new(size - left);
    let progress = |n: u64| {
        tally.meter.bytes(n)?;
        let total = done.fetch_add(n, Ordering::Relaxed) + n;
        tally.observer.progress(total, Some(size));
        Ok(())
    };
    let other = match second
        .filter(|_| size >= PARALLEL_MIN && *pending == whole(size))
        .map(|second| second())
    {
        Some(Ok(other)) => Some(other),
        Some(Err(e)) => {
            tally.check()?;
            let why = format!("one SFTP session only ({}): {}", e.kind, e.message);
            tally.observer.log(LogLevel::Debug, &why);
            None
        }
        None => None,
    };
    let Some(other) = other else {
        for range in pending.iter_mut() {
            write_range((session, remote), input, range, label, tally, &progress)?;
        }
        pending.clear();
        return Ok(());
    };
    let mut upper_file = other
        .sftp
        .open_mode(remote_path, OpenFlags::WRITE, 0o644, OpenType::File)
        .map_err(|e| Error::new(ErrorKind::Network, format!("{label}: {e}")))?;
    let half = size / 2;
    let (mut lower, mut upper) = (0..half, half..size);
    let (lower_done, upper_done) = std::thread::scope(|scope| {
        let upper = scope.spawn(|| {
            let file = &mut upper_file;
            write_range(
                (&other.session, file),
                input,
                &mut upper,
                label,
                tally,
                &progress,
            )?;
            upper_file
                .close()
                .map_err(|e| Error::new(ErrorKind::Network, format!("{label}: {e}")))
        });
        let lower = write_range(
            (session, remote),
            input,
            &mut lower,
            label,
            tally,
            &progress,
        );
        (lower, upper.join())
    });
    drop(upper_file);
    let _ = other.session.disconnect(None, "done", None);
    *pending = [lower, upper]
        .into_iter()
        .filter(|r| !r.is_empty())
        .collect();
    lower_done?;
    upper_done.map_err(|_| Error::internal(format!("{label}: an upload thread failed")))??;
    Ok(())
}

/// Writes `range` of the local input to the same offsets of `remote`, in 1 MiB writes
/// (libssh2 pipelines one large write better than several small ones), checking for a stop
/// before each. The range's start moves up as the server acknowledges each write. A write
/// the server refused is a `remote` error; a failing session, a `network` one.
fn write_range(
    (session, remote): (&Session, &mut ssh2::File),
    input: &Input,
    range: &mut std::ops::Range<u64>,
    label: &str,
    tally: Tally,
    progress: &(dyn Fn(u64) -> Result<(), Error> + Sync),
) -> Result<(), Error> {
    use std::io::Seek as _;
    use std::os::unix::fs::FileExt as _;
    let what = format!("reading {}", input.path.display());
    let local = input.reader()?;
    let failed = |detail: std::io::Error| {
        let refused = ssh2::Error::last_session_error(session)
            .is_some_and(|e| e.code() == ErrorCode::Session(LIBSSH2_ERROR_SFTP_PROTOCOL));
        let kind = if refused {
            ErrorKind::Remote
        } else {
            ErrorKind::Network
        };
        Error::new(kind, format!("{label}: {detail}"))
    };
    remote
        .seek(std::io::SeekFrom::Start(range.start))
        .map_err(failed)?;
    let mut buffer = vec![0u8; (range.end - range.start).min(CHUNK as u64) as usize];
    while range.start < range.end {
        tally.check()?;
        let want = (range.end - range.start).min(CHUNK as u64) as usize;
        local
            .read_exact_at(&mut buffer[..want], range.start)
            .map_err(|e| Error::local_io(&what, &e))?;
        remote.write_all(&buffer[..want]).map_err(failed)?;
        // libssh2 returns from a write once the server has acknowledged it.
        range.start += want as u64;
        progress(want as u64)?;
    }
    Ok(())
}

/// Whether the server renames at all, learned in `parent`: a rename of a name that does not
/// exist changes nothing; a server that allows renames says "no such file", a drop box
/// refusing them "permission denied" or "unsupported". `Err` says why not.
fn probe_renames(sftp: &Sftp, endpoint: &str, parent: &Path) -> Result<(), String> {
    let probe = parent.join(format!(".red-wasm.{}.absent", unique_suffix()));
    let other = parent.join(format!(".red-wasm.{}.absent", unique_suffix()));
    match sftp.rename(&probe, &other, None) {
        Err(e) if matches!(e.code(), ErrorCode::SFTP(3 | 8)) => {
            let why = sftp_error(endpoint, "rename", &parent.display().to_string(), &e);
            Err(format!("the server refuses renames ({})", why.message))
        }
        _ => Ok(()),
    }
}

/// Renames `temp` onto `path`. SFTP v3 (OpenSSH) will not rename onto an existing file, so an
/// existing one is removed first.
fn replace(sftp: &Sftp, temp: &Path, path: &Path) -> Result<(), ssh2::Error> {
    let refused = match sftp.rename(temp, path, None) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    match sftp.stat(path) {
        Ok(_) => {
            sftp.unlink(path)?;
            sftp.rename(temp, path, None)
        }
        // The session failed meanwhile: that, not the refusal, is what happened.
        Err(e) if matches!(e.code(), ErrorCode::Session(_)) => Err(e),
        Err(_) => Err(refused),
    }
}

/// `mkdir -p`: creates each missing folder of `dir`, from the top.
fn make_parents(sftp: &Sftp, dir: &Path) -> Result<(), (PathBuf, ssh2::Error)> {
    // Most often the folder is there already: one round trip.
    if dir.as_os_str().is_empty() || sftp.stat(dir).is_ok_and(|s| s.is_dir()) {
        return Ok(());
    }
    let mut current = PathBuf::new();
    for part in dir.components() {
        current.push(part);
        if matches!(
            part,
            std::path::Component::RootDir | std::path::Component::CurDir
        ) {
            continue;
        }
        match sftp.stat(&current) {
            Ok(stat) if stat.is_dir() => continue,
            // SFTP's answer to the mkdir would only be "failure".
            Ok(_) => {
                let in_the_way = "a file, not a folder, is there";
                return Err((current, ssh2::Error::new(ErrorCode::SFTP(4), in_the_way)));
            }
            Err(_) => {}
        }
        if let Err(e) = sftp.mkdir(&current, 0o755) {
            // Another writer may have made it meanwhile.
            if !sftp.stat(&current).is_ok_and(|s| s.is_dir()) {
                return Err((current, e));
            }
        }
    }
    Ok(())
}

/// Sessions beside the guest's own that a batch of files may use.
const BATCH_EXTRA_SESSIONS: usize = 3;

/// How many files a batch's error names (of those done before it failed).
const BATCH_NAMED: usize = 20;

/// Files moved over the guest's session and up to [`BATCH_EXTRA_SESSIONS`] more, each worker
/// taking the next file; the first failure stops the others and names the files done.
///
/// Each extra session is one the session's last batch left idle, or one its worker thread
/// opens (so the logins overlap), which counts against the request limit as any connection
/// does. A session that cannot be opened is done without, unless that broke a limit, which
/// fails the batch at once. A batch that ends well leaves its extra sessions idle for the
/// next.
struct Batch<'a> {
    own: &'a Mutex<Connection>,
    dial: &'a Dial,
    crew: &'a Crew,
    extra: usize,
    gate: Option<&'a Gate>,
}

impl<'a> Batch<'a> {
    /// A batch of `files` files (no extra session for one file).
    fn new(own: &'a Mutex<Connection>, dial: &'a Dial, crew: &'a Crew, files: usize) -> Self {
        let extra = files.saturating_sub(1).min(BATCH_EXTRA_SESSIONS);
        Batch {
            own,
            dial,
            crew,
            extra,
            gate: None,
        }
    }

    /// The extra sessions connect (those not idle from the last batch) only once `gate` is
    /// open (the work opens it).
    fn gated(self, gate: &'a Gate) -> Self {
        Batch {
            gate: Some(gate),
            ..self
        }
    }

    /// Runs `work` on every item, with a stop that fires when the transfer stops or another
    /// item failed; returns the bytes moved. A worker goes on with the session an item left
    /// in its [`Replacement`] (its own dropped and the item resumed over a new one).
    fn run<T: Sync + BatchItem>(
        &self,
        items: &[T],
        verb: &str,
        work: impl Fn(&Connection, &Replacement, &CancellationToken, &T) -> Result<u64, Error> + Sync,
    ) -> Result<u64, Error> {
        let dial = self.dial;
        // Fires on the transfer's stop, and on the first failure (the other workers end their
        // file early, as on a stop: a part-sent file is removed).
        let stop = dial.stop.child_token();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let bytes = AtomicU64::new(0);
        let done = Mutex::new(Vec::new());
        let failed: Mutex<Option<(Option<usize>, Error)>> = Mutex::new(None);
        let fail = |index: Option<usize>, error: Error| {
            failed.lock().unwrap().get_or_insert((index, error));
            stop.cancel();
        };
        let worker = |conn: &mut Connection| loop {
            if stop.is_cancelled() {
                return;
            }
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(index) else {
                return;
            };
            let replaced = Replacement::default();
            let result = work(conn, &replaced, &stop, item);
            adopt(conn, replaced);
            match result {
                Ok(n) => {
                    bytes.fetch_add(n, Ordering::Relaxed);
                    done.lock().unwrap().push(index);
                }
                // A file cut short because another failed is not the failure.
                Err(_) if stop.is_cancelled() && !dial.stop.is_cancelled() => return,
                Err(e) => return fail(Some(index), e),
            }
        };
        std::thread::scope(|scope| {
            for _ in 0..self.extra {
                scope.spawn(|| {
                    // An idle session the server has closed meanwhile is dialed anew.
                    let idle = self.crew.idle.lock().unwrap().pop();
                    let idle = idle.filter(|conn| !connection_gone(&conn.session));
                    let conn = match idle {
                        Some(conn) => Ok(conn),
                        None if self.gate.is_some_and(|gate| !gate.wait(&stop)) => return,
                        None => dial.connect(),
                    };
                    match conn {
                        Ok(mut conn) => {
                            worker(&mut conn);
                            if stop.is_cancelled() {
                                let _ = conn.session.disconnect(None, "done", None);
                            } else {
                                self.crew.idle.lock().unwrap().push(conn);
                            }
                        }
                        Err(e) if dial.meter.reached().is_some() => fail(None, e),
                        Err(e) if !stop.is_cancelled() => dial.observer.log(
                            LogLevel::Debug,
                            &format!(
                                "one parallel SFTP session fewer ({}): {}",
                                e.kind, e.message
                            ),
                        ),
                        Err(_) => {}
                    }
                });
            }
            worker(&mut self.own.lock().unwrap());
            // Nothing is left for a worker still waiting.
            if let Some(gate) = self.gate {
                gate.open();
            }
        });
        check_stop(&dial.stop)?;
        let mut done = done.into_inner().unwrap();
        let earlier = self
            .crew
            .files_done
            .fetch_add(done.len() as u64, Ordering::Relaxed);
        let Some((index, error)) = failed.into_inner().unwrap() else {
            return Ok(bytes.into_inner());
        };
        done.sort_unstable();
        let names: Vec<String> = done
            .iter()
            .take(BATCH_NAMED)
            .map(|i| items[*i].name())
            .collect();
        let list = match done.len() {
            0 => "none".to_owned(),
            n if n > BATCH_NAMED => format!("{} and {} more", names.join(", "), n - BATCH_NAMED),
            _ => names.join(", "),
        };
        let during = index.map_or(String::new(), |i| format!("{verb} {}; ", items[i].name()));
        let count = match earlier {
            0 => format!("{} of {} files", done.len(), items.len()),
            _ => format!(
                "{} files (of this batch: {} of {})",
                earlier + done.len() as u64,
                done.len(),
                items.len()
            ),
        };
        Err(Error::new(
            error.kind,
            format!(
                "{} ({during}{count} were done before: {list})",
                error.message
            ),
        ))
    }
}

/// Holds a batch's extra sessions back until the work opens it.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    changed: std::sync::Condvar,
}

impl Gate {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.changed.notify_all();
    }

    /// Waits until the gate is open (`true`) or `stop` fires (`false`).
    fn wait(&self, stop: &CancellationToken) -> bool {
        let mut open = self.open.lock().unwrap();
        while !*open {
            if stop.is_cancelled() {
                return false;
            }
            open = self
                .changed
                .wait_timeout(open, Duration::from_millis(10))
                .unwrap()
                .0;
        }
        true
    }
}

/// An item of a batch, as messages name it.
trait BatchItem {
    fn name(&self) -> String;
}

impl BatchItem for (String, PathBuf) {
    fn name(&self) -> String {
        self.0.clone()
    }
}

/// A file of a send-dir batch, opened when its turn comes.
struct LocalFile {
    relative: PathBuf,
}

impl BatchItem for (PathBuf, LocalFile) {
    fn name(&self) -> String {
        self.0.display().to_string()
    }
}

/// The progress of a batch: the bytes of all its files, reported as one transfer, on from
/// the session's earlier batches.
struct BatchProgress<'a> {
    observer: Arc<dyn Observer>,
    /// The session's bytes so far ([`Crew::progress`]). Held while a report goes out, so that
    /// the reports of parallel files never go back.
    done: &'a Mutex<u64>,
    total: Option<u64>,
}

impl<'a> BatchProgress<'a> {
    fn new(observer: Arc<dyn Observer>, total: Option<u64>, done: &'a Mutex<u64>) -> Self {
        BatchProgress {
            observer,
            done,
            total,
        }
    }

    /// The observer of one file's copy, whose progress counts toward the batch's.
    fn file(&self) -> FileProgress<'_> {
        FileProgress {
            batch: self,
            seen: AtomicU64::new(0),
        }
    }
}

/// One file of a [`BatchProgress`]: its copy reports the bytes of the file so far.
struct FileProgress<'a> {
    batch: &'a BatchProgress<'a>,
    seen: AtomicU64,
}

impl FileProgress<'_> {
    /// The most bytes of the file reported so far.
    fn moved(&self) -> u64 {
        self.seen.load(Ordering::Relaxed)
    }
}

impl Observer for FileProgress<'_> {
    fn log(&self, level: LogLevel, message: &str) {
        self.batch.observer.log(level, message);
    }

    fn progress(&self, done: u64, _total: Option<u64>) {
        let before = self.seen.fetch_max(done, Ordering::Relaxed);
        let more = done.saturating_sub(before);
        let mut all = self.batch.done.lock().unwrap();
        *all += more;
        self.batch.observer.progress(*all, self.batch.total);
    }
}

/// Downloads `remote` (with its attributes when `list-tree` saw them) into a new file at
/// `local` in the folder, over `conn`; opens `gate` once the file is counted.
fn download_one(
    (conn, replaced): (&Connection, &Replacement),
    (dial, progress): (&Dial, &FileProgress),
    folder: &Folder,
    (remote, seen, local): (&str, Option<ssh2::FileStat>, &Path),
    gate: &Gate,
    tally: Tally,
) -> Result<u64, Error> {
    tally.check()?;
    let mut output = folder.create_file(local, &dial.meter)?;
    gate.open();
    // One session per file: the batch's sessions work in parallel already; and the smaller
    // reads of parallel sessions (see RANGE_READ).
    let reconnect = || dial.redial();
    let n = over_live_session(
        (conn, replaced),
        (dial, progress),
        tally,
        |conn, replaced| {
            // A try after a failure starts the file again.
            if output.written() > 0 {
                output.truncate(0)?;
            }
            download(
                &conn.sftp,
                None,
                Some((&reconnect as &Dialer<'_>, dial.retries)),
                RANGE_READ,
                &dial.endpoint,
                (remote, seen.clone()),
                &mut output,
                (tally, replaced),
            )
        },
    )?;
    output.commit()?;
    Ok(n)
}

/// Runs `attempt` (a batch's file, whose progress `file` follows) over `conn`, and when it
/// fails for its session's sake (a `network` error, not the stop) before any of its bytes
/// moved, again over a new session, up to the retry setting's tries: a session that dies
/// between two files (while the next is opened or its temporary file made) is no more fatal
/// than one that dies in a file's bytes, which the file resumes (and when that gives up, so
/// does the file). The session last used, when not `conn`, goes to `replaced` for the
/// worker's next files.
fn over_live_session<T>(
    (conn, replaced): (&Connection, &Replacement),
    (dial, file): (&Dial, &FileProgress),
    tally: Tally,
    mut attempt: impl FnMut(&Connection, &Replacement) -> Result<T, Error>,
) -> Result<T, Error> {
    let mut current: Option<Connection> = None;
    let mut tries = 0;
    loop {
        let inner = Replacement::default();
        let result = attempt(current.as_ref().unwrap_or(conn), &inner);
        if let Some(newer) = inner.take() {
            current = Some(newer);
        }
        match result {
            Err(e) if e.kind == ErrorKind::Network && file.moved() == 0 && tries < dial.retries => {
                tally.check()?;
                tries += 1;
                tally.observer.log(
                    LogLevel::Info,
                    &format!("{}; again over a new session", e.message),
                );
                current = Some(dial.redial()?);
            }
            result => {
                if current.is_some() {
                    replaced.set(current);
                }
                return result;
            }
        }
    }
}

/// The temporary file of an upload to `name`: `.NAME.SUFFIX.part`, with NAME cut short (at a
/// character) where the whole would be longer than [`MAX_NAME`]: a legal name must not make
/// an illegal temporary one.
fn temporary_name(name: &str, suffix: &str) -> String {
    let room = MAX_NAME.saturating_sub(suffix.len() + ".".len() * 2 + ".part".len());
    let mut end = name.len().min(room);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!(".{}.{suffix}.part", &name[..end])
}

/// A suffix that no other upload of this or another process picks.
fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{}-{}-{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::single_range_in_vec_init)]
    fn a_temporary_file_must_hold_up_to_the_last_byte_written() {
        // Nothing written yet; all but the tail; the lower half cut, the upper done; both
        // halves part-way (the upper's progress is the end of what was written).
        assert_eq!(highest_written(&whole(100), 100), 0);
        assert_eq!(highest_written(&vec![90..100], 100), 90);
        assert_eq!(highest_written(&vec![10..50], 100), 100);
        assert_eq!(highest_written(&vec![10..50, 70..100], 100), 70);
        assert_eq!(highest_written(&vec![70..100, 10..50], 100), 70);
        assert_eq!(highest_written(&Vec::new(), 100), 100);
    }

    #[test]
    fn a_temporary_name_fits_where_its_target_does() {
        let suffix = unique_suffix();
        assert_eq!(
            temporary_name("data.csv", &suffix),
            format!(".data.csv.{suffix}.part")
        );
        for name in [
            "n".repeat(255),
            "ü".repeat(127),
            format!("{}ü", "n".repeat(200)),
        ] {
            let temp = temporary_name(&name, &suffix);
            assert!(temp.len() <= MAX_NAME, "{} bytes", temp.len());
            assert!(temp.ends_with(&format!(".{suffix}.part")), "{temp}");
            assert!(
                name.starts_with(&temp[1..temp.len() - suffix.len() - 6]),
                "{temp}"
            );
        }
    }

    #[test]
    fn aes_gcm_is_offered_first_and_every_other_cipher_after_it() {
        let session = Session::new().unwrap();
        for direction in [MethodType::CryptCs, MethodType::CryptSc] {
            let offer = cipher_preference(&session, direction);
            let names: Vec<&str> = offer.split(',').collect();
            assert_eq!(names[..2], PREFERRED_CIPHERS, "{offer}");
            let mut supported = session.supported_algs(direction).unwrap();
            assert!(supported.len() > 2, "{supported:?}");
            supported.sort_unstable();
            let mut offered = names.clone();
            offered.sort_unstable();
            assert_eq!(offered, supported, "{offer}");
        }
    }

    #[test]
    fn only_password_prompts_get_the_password() {
        assert!(asks_for_password("Password: "));
        assert!(asks_for_password("red-sftp-test@127.0.0.1's password: "));
        assert!(!asks_for_password("Verification code: "));
        assert!(!asks_for_password("One-time password (OATH) for `me': "));
        assert!(!asks_for_password("Enter PASSCODE: "));
    }
}
