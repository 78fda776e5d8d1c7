//! The `http` interface on reqwest: one request at a time, every hop checked by the policy.
//!
//! reqwest follows no redirects here (its policy is `none`): this module does, so that each
//! hop is checked against the transfer's [`Policy`](crate::Policy), credentials and cookies
//! are dropped on a hop to another origin, and an upload answered with 301/302/303 is handed
//! back to the connector instead of being turned into a body-less GET.

use std::error::Error as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::TryStreamExt;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use wasmtime::component::Resource;

use super::dir::{confine, DirSinkHandle, Folder};
use super::local::{Input, MAX_READ};
use super::{retry, HostState, TransferCtx};
use crate::bindings::red::connector::http::{
    ArchiveFormat, AuthScheme, Body, Credentials, FetchItem, Host, HostResponse, Request,
    SendOptions,
};
use crate::bindings::red::connector::local::Sink;
use crate::secrets::SecretKind;
use crate::{Error, ErrorKind};

/// Redirects followed before giving up (as the original connectors, on python-requests).
pub const MAX_REDIRECTS: usize = 30;

/// Headers a connector may give one request, and their bytes in all (names and values): far
/// above what any server takes, far below what would cost the host.
pub const MAX_HEADERS: usize = 100;
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// The longest URL a connector may ask for.
pub const MAX_URL: usize = 64 * 1024;

/// Requests `fetch-to-dir` keeps in flight: enough to hide the round trips of small files on
/// kept-alive connections, few enough not to crowd a server.
const FETCH_PARALLEL: usize = 8;

/// Read buffer for streaming the local file as a request body.
const UPLOAD_CHUNK: usize = 1024 * 1024;

/// Network timeouts of the host's HTTP clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing a connection (TCP and TLS).
    pub connect: Duration,
    /// Waiting for the next byte of a response.
    pub idle: Duration,
}

impl Default for Timeouts {
    /// Connect 12 s, 1000 s without a byte: the original connectors' values.
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(12),
            idle: Duration::from_secs(1000),
        }
    }
}

/// The process's HTTP clients (connection pools): one that verifies certificates against
/// the system roots and one for `disableSSLVerification`.
pub struct Clients {
    timeouts: Timeouts,
    /// Made on first use: loading the system's root certificates costs milliseconds that a
    /// validation or an SFTP transfer need not pay.
    verifying: std::sync::OnceLock<reqwest::Client>,
    insecure: std::sync::OnceLock<reqwest::Client>,
}

impl Clients {
    pub fn new(timeouts: &Timeouts) -> Self {
        Clients {
            timeouts: timeouts.clone(),
            verifying: std::sync::OnceLock::new(),
            insecure: std::sync::OnceLock::new(),
        }
    }

    fn get(&self, verify_tls: bool) -> Result<&reqwest::Client, Error> {
        let cell = if verify_tls {
            &self.verifying
        } else {
            &self.insecure
        };
        if let Some(client) = cell.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.timeouts.connect)
            .read_timeout(self.timeouts.idle)
            .no_proxy()
            .gzip(true)
            .deflate(true)
            .danger_accept_invalid_certs(!verify_tls)
            .user_agent(concat!("red-wasm/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                Error::internal(format!("cannot set up the HTTP client: {}", chain(&e)))
            })?;
        Ok(cell.get_or_init(|| client))
    }
}

/// A response whose body is still on the wire.
pub struct ResponseHandle {
    status: u16,
    reason: String,
    url: String,
    headers: Vec<(String, String)>,
    /// The body's size when known (not for compressed bodies, which are decoded).
    total: Option<u64>,
    body: reqwest::Response,
    pending: Bytes,
    finished: bool,
    /// Bytes of the body that came so far (since it last started over).
    received: u64,
    /// How a cut body continues; `None` when it cannot.
    resume: Option<Resume>,
    /// The digests the body is checked against at its end.
    verifier: Option<super::digest::Verifier>,
}

/// What it takes to continue a cut body: the request again, with `Range` from where it was cut
/// and `If-Range` with the validator, so that a changed file is sent whole instead of spliced.
struct Resume {
    request: Request,
    /// A strong ETag, else Last-Modified; without one a cut body can only start over.
    validator: Option<String>,
    /// Resumptions left (the retry setting): only bytes beyond the furthest the body got over
    /// all its tries are progress (a body that starts over and is cut at the same place again
    /// makes none).
    tries: retry::Tries,
}

/// A piece of the body, or the news that the server is sending it again from its start.
enum Piece {
    Data(Bytes),
    Restarted,
}

impl ResponseHandle {
    /// The handle of `response` to `request`; `retry` says whether a cut body may be resumed
    /// (a whole, unencoded 200 answer to a GET), `expected` is the connector's digest, and
    /// `stated` whether the digests the server states are checked.
    fn new(
        response: reqwest::Response,
        request: Option<Request>,
        retries: u32,
        expected: Option<&str>,
        stated: bool,
    ) -> Result<Self, Error> {
        let status = response.status();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let whole =
            status == StatusCode::OK && !response.headers().contains_key(header::CONTENT_RANGE);
        let encoded = response
            .headers()
            .get(header::CONTENT_ENCODING)
            .is_some_and(|e| e.as_bytes() != b"identity");
        let validator = {
            let etag = response
                .headers()
                .get(header::ETAG)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.starts_with("W/"));
            let modified = response
                .headers()
                .get(header::LAST_MODIFIED)
                .and_then(|v| v.to_str().ok());
            etag.or(modified).map(str::to_owned)
        };
        let resume = request
            .filter(|r| whole && !encoded && retries > 0 && r.method.eq_ignore_ascii_case("GET"))
            .map(|request| Resume {
                request,
                validator,
                tries: retry::Tries::new(retries, 0),
            });
        let verifier = match whole {
            true => super::digest::Verifier::new(response.headers(), expected, stated)?,
            false => None,
        };
        Ok(ResponseHandle {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").to_owned(),
            url: shown(response.url()),
            headers,
            total: response.content_length(),
            body: response,
            pending: Bytes::new(),
            finished: false,
            received: 0,
            resume,
            verifier,
        })
    }

    /// The next non-empty piece of the body, or `None` at its end, for a reader that cannot
    /// take the body starting over (the guest's `read`).
    async fn next_chunk(&mut self, ctx: &TransferCtx) -> Result<Option<Bytes>, Error> {
        match self.next_piece(ctx).await? {
            Some(Piece::Data(chunk)) => Ok(Some(chunk)),
            None => Ok(None),
            Some(Piece::Restarted) => Err(Error::new(
                ErrorKind::Network,
                format!(
                    "the body of {} was cut off, and the server sends it again only from its start, which a connector reading it cannot take",
                    self.url
                ),
            )),
        }
    }

    /// The next piece of the body: resumed after a cut where the server allows it, checked
    /// against the stated digests at its end.
    async fn next_piece(&mut self, ctx: &TransferCtx) -> Result<Option<Piece>, Error> {
        if !self.pending.is_empty() {
            return Ok(Some(Piece::Data(std::mem::take(&mut self.pending))));
        }
        loop {
            if self.finished {
                if let Some(verifier) = self.verifier.take() {
                    verifier.check(&self.url)?;
                }
                return Ok(None);
            }
            match self.body.chunk().await {
                Ok(Some(chunk)) if chunk.is_empty() => continue,
                Ok(Some(chunk)) => {
                    self.received += chunk.len() as u64;
                    if let Some(verifier) = &mut self.verifier {
                        verifier.update(&chunk);
                    }
                    return Ok(Some(Piece::Data(chunk)));
                }
                Ok(None) => self.finished = true,
                Err(e) => {
                    let cut = Error::new(
                        ErrorKind::Network,
                        format!("reading the body of {}: {}", self.url, chain(&e)),
                    );
                    if self.resume_after(ctx, cut).await? {
                        return Ok(Some(Piece::Restarted));
                    }
                }
            }
        }
    }

    /// Asks for the rest of a cut body; `Ok(true)` when the server sends it whole again
    /// instead. `cut` is the error when it cannot continue.
    async fn resume_after(&mut self, ctx: &TransferCtx, cut: Error) -> Result<bool, Error> {
        let offset = self.received;
        let Some(resume) = self.resume.as_mut() else {
            self.finished = true;
            return Err(cut);
        };
        match resume.tries.after_break(offset) {
            None => {
                self.finished = true;
                return Err(cut);
            }
            // Further than ever before: no wait.
            Some(retry::Step::Progressed) => {}
            Some(retry::Step::Again(attempt)) => {
                if let Some(wait) = retry::delay(attempt, None) {
                    tokio::time::sleep(wait).await;
                }
            }
        }
        let mut request = resume.request.clone();
        let ranged = resume.validator.clone().filter(|_| offset > 0);
        if let Some(validator) = &ranged {
            request
                .headers
                .push(("Range".into(), format!("bytes={offset}-")));
            request.headers.push(("If-Range".into(), validator.clone()));
        }
        ctx.observer.log(
            crate::LogLevel::Info,
            &format!(
                "{}; {}",
                cut.message,
                match &ranged {
                    Some(_) => format!("resuming from byte {offset}"),
                    None => "asking for it again from its start".to_owned(),
                }
            ),
        );
        let response = execute(ctx, request, Payload::Empty, true).await?;
        let status = response.status();
        let continues = status == StatusCode::PARTIAL_CONTENT
            && ranged.is_some()
            && content_range_start(&response) == Some(offset);
        if continues {
            self.body = response;
            return Ok(false);
        }
        if status == StatusCode::OK {
            // A changed file, or a server that ignores Range: the whole body again.
            self.body = response;
            self.received = 0;
            if let Some(verifier) = &mut self.verifier {
                verifier.restart();
            }
            return Ok(true);
        }
        self.finished = true;
        Err(Error::new(
            ErrorKind::Network,
            format!(
                "{}; asking for the rest answered {} {}",
                cut.message,
                status.as_u16(),
                status.canonical_reason().unwrap_or_default()
            ),
        ))
    }

    /// Streams the rest of the body into `output` (the receive's own when `main`), starting
    /// over there when the server sends it whole again; returns the bytes written by this copy.
    async fn copy_into(
        &mut self,
        ctx: &TransferCtx,
        output: &mut super::local::Output,
        main: bool,
    ) -> Result<u64, Error> {
        let start = output.written();
        while let Some(piece) = self.next_piece(ctx).await? {
            match piece {
                Piece::Data(chunk) => {
                    ctx.meter.bytes(chunk.len() as u64)?;
                    output.write_all(&chunk)?;
                }
                Piece::Restarted => output.truncate(start)?,
            }
            ctx.report(main, output.written(), self.total.map(|t| start + t));
        }
        Ok(output.written() - start)
    }
}

/// Where a 206 answer's `Content-Range: bytes START-END/LENGTH` starts.
fn content_range_start(response: &reqwest::Response) -> Option<u64> {
    let value = response
        .headers()
        .get(header::CONTENT_RANGE)?
        .to_str()
        .ok()?;
    let range = value.trim().strip_prefix("bytes ")?;
    range.split('-').next()?.trim().parse().ok()
}

/// What a request carries.
enum Payload {
    Empty,
    Bytes(Bytes),
    File(Input),
}

impl Host for HostState {
    async fn send(
        &mut self,
        request: Request,
        body: Body,
    ) -> Result<Resource<ResponseHandle>, Error> {
        let options = SendOptions {
            retry: true,
            expected_digest: None,
        };
        self.send_with(request, body, options).await
    }

    async fn send_with(
        &mut self,
        request: Request,
        body: Body,
        options: SendOptions,
    ) -> Result<Resource<ResponseHandle>, Error> {
        let payload = match body {
            Body::Empty => Payload::Empty,
            Body::Bytes(bytes) => Payload::Bytes(bytes.into()),
            Body::FromSource(source) => Payload::File(self.table.get(&source)?.input().clone()),
        };
        self.open_handle()?;
        let again = options.retry.then(|| request.clone());
        let response = execute(&self.transfer, request, payload, options.retry).await;
        let retries = self.transfer.retries;
        let expected = options.expected_digest.as_deref();
        let handle = response
            .and_then(|r| {
                let stated = self.transfer.check_digests;
                ResponseHandle::new(r, again, retries, expected, stated)
            })
            .and_then(|h| Ok(self.table.push(h)?));
        if handle.is_err() {
            self.close_handle();
        }
        handle
    }

    async fn fetch_to_dir(
        &mut self,
        files: Vec<FetchItem>,
        target: Resource<DirSinkHandle>,
    ) -> Result<u64, Error> {
        use futures_util::StreamExt as _;
        self.table.get(&target)?;
        let ctx = &self.transfer;
        let folder = ctx.dir_output()?.folder().clone();
        // Every path checked before the first request.
        let items = files
            .into_iter()
            .map(|item| Ok((item.request, confine(&item.path)?)))
            .collect::<Result<Vec<_>, Error>>()?;
        let mut fetches = futures_util::stream::iter(items)
            .map(|(request, path)| fetch_one(ctx, &folder, request, path))
            .buffer_unordered(FETCH_PARALLEL);
        let mut written = 0;
        // The first error drops the stream, and with it the requests still in flight.
        while let Some(result) = fetches.next().await {
            written += result?;
        }
        Ok(written)
    }
}

/// One file of `fetch-to-dir`: a new file, then the request, its status checked, its body into
/// the file. The file comes first: it counts against the file limit and widens the request
/// budget before the request is made (eight go at once, which a small `--max-requests` would
/// not have room for otherwise); a failure removes the whole staging folder.
async fn fetch_one(
    ctx: &TransferCtx,
    folder: &Folder,
    request: Request,
    path: std::path::PathBuf,
) -> Result<u64, Error> {
    let mut output = folder.create_file(&path, &ctx.meter)?;
    let method = request.method.clone();
    let again = request.clone();
    let response = execute(ctx, request, Payload::Empty, true).await?;
    let status = response.status();
    if status.as_u16() >= 400 {
        let kind = match status.as_u16() {
            401 | 403 | 407 => ErrorKind::Auth,
            404 | 410 => ErrorKind::NotFound,
            409 | 412 => ErrorKind::Conflict,
            _ => ErrorKind::Remote,
        };
        return Err(Error::new(
            kind,
            format!(
                "{method} {} answered {} {}",
                shown(response.url()),
                status.as_u16(),
                status.canonical_reason().unwrap_or_default()
            ),
        ));
    }
    let mut handle =
        ResponseHandle::new(response, Some(again), ctx.retries, None, ctx.check_digests)?;
    let written = handle.copy_into(ctx, &mut output, false).await?;
    output.commit()?;
    Ok(written)
}

impl HostResponse for HostState {
    async fn status(&mut self, response: Resource<ResponseHandle>) -> wasmtime::Result<u16> {
        Ok(self.table.get(&response)?.status)
    }

    async fn reason(&mut self, response: Resource<ResponseHandle>) -> wasmtime::Result<String> {
        Ok(self.table.get(&response)?.reason.clone())
    }

    async fn url(&mut self, response: Resource<ResponseHandle>) -> wasmtime::Result<String> {
        Ok(self.table.get(&response)?.url.clone())
    }

    async fn headers(
        &mut self,
        response: Resource<ResponseHandle>,
    ) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self.table.get(&response)?.headers.clone())
    }

    async fn read(
        &mut self,
        response: Resource<ResponseHandle>,
        max: u32,
    ) -> Result<Vec<u8>, Error> {
        let HostState {
            table, transfer, ..
        } = self;
        let handle = table.get_mut(&response)?;
        let Some(mut chunk) = handle.next_chunk(transfer).await? else {
            return Ok(Vec::new());
        };
        let n = chunk.len().min(max.clamp(1, MAX_READ) as usize);
        handle.pending = chunk.split_off(n);
        Ok(chunk.to_vec())
    }

    async fn copy_to_sink(
        &mut self,
        response: Resource<ResponseHandle>,
        target: Resource<Sink>,
    ) -> Result<u64, Error> {
        let HostState {
            table, transfer, ..
        } = self;
        let slot = table.get(&target)?.slot;
        let handle = table.get_mut(&response)?;
        // The output is taken out while the body streams into it, so that a resumed body can
        // start over in it; it goes back whatever happens.
        let mut output = transfer.take_output(slot)?;
        let main = slot == super::local::SinkHandle::MAIN;
        let copied = handle.copy_into(transfer, &mut output, main).await;
        transfer.put_output(slot, output);
        copied
    }

    async fn unpack_to_dir(
        &mut self,
        response: Resource<ResponseHandle>,
        format: ArchiveFormat,
        target: Resource<DirSinkHandle>,
    ) -> Result<u64, Error> {
        let HostState {
            table, transfer, ..
        } = self;
        table.get(&target)?;
        let handle = table.get_mut(&response)?;
        let folder = transfer.dir_output()?;
        // The archive goes to a temporary file beside the folder first: a zip file's index is
        // at its end, and the unpacking runs off the async threads.
        let mut archive = super::archive::Download::beside(folder)?;
        while let Some(piece) = handle.next_piece(transfer).await? {
            match piece {
                Piece::Data(chunk) => {
                    transfer.meter.bytes(chunk.len() as u64)?;
                    archive.write(&chunk)?;
                }
                Piece::Restarted => archive.restart()?,
            }
            transfer.observer.progress(archive.len(), handle.total);
        }
        let unpack = archive.unpacker(format.into(), folder, transfer.meter.clone())?;
        let stop = transfer.stop.clone();
        let token = stop.token().clone();
        stop.spawn_blocking(move || unpack.run(&token))
            .await
            .map_err(|e| Error::internal(format!("unpacking stopped: {e}")))?
    }

    async fn drop(&mut self, response: Resource<ResponseHandle>) -> wasmtime::Result<()> {
        self.table.delete(response)?;
        self.close_handle();
        Ok(())
    }
}

/// Sends `request`, following redirects as the module documentation says.
async fn execute(
    ctx: &TransferCtx,
    request: Request,
    payload: Payload,
    retry: bool,
) -> Result<reqwest::Response, Error> {
    let mut method = Method::from_bytes(request.method.as_bytes()).map_err(|_| {
        Error::internal(format!(
            "the connector asked for HTTP method {:?}",
            request.method
        ))
    })?;
    let mut url = parse_url(&request.url)?;
    let mut headers = header_map(&request.headers)?;
    // One set of credentials at most: the request's `auth`, else the URL's user info (as
    // python-requests does); the URL never carries them on the wire, and a connector's own
    // Authorization header gives way to them.
    let from_url = take_userinfo(&mut url);
    let mut auth = request.auth.or(from_url).map(|c| Credentials {
        // A sealed password becomes real here, where it is applied as a password, and only
        // there; `ctx.policy` allows each hop before it goes out. A user name is sent as the
        // connector gave it: a token there stays a token.
        password: ctx.secrets.reveal(SecretKind::Password, &c.password),
        ..c
    });
    if auth.is_some() {
        headers.remove(header::AUTHORIZATION);
    }
    let client = ctx.clients.get(request.verify_tls)?;
    for _ in 0..=MAX_REDIRECTS {
        ctx.policy.check_url(&url)?;
        if !request.verify_tls {
            // Only the user's own settings may switch certificate checks off.
            ctx.policy.check_tls_skip(&url)?;
        }
        let hop = Hop {
            retry,
            ctx,
            client,
            method: &method,
            url: &url,
            headers: &headers,
            payload: &payload,
        };
        let response = hop.send_with_auth(auth.as_ref()).await?;
        let status = response.status();
        let location = response.headers().get(header::LOCATION).cloned();
        let Some(location) = location.filter(|_| request.follow_redirects) else {
            return Ok(response);
        };
        match status {
            // Never turn an upload into a body-less GET; the connector reports it.
            StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER
                if !matches!(payload, Payload::Empty) =>
            {
                return Ok(response)
            }
            StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER => {
                if method != Method::HEAD {
                    method = Method::GET;
                }
            }
            StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT => {}
            _ => return Ok(response),
        }
        let next = location
            .to_str()
            .ok()
            .and_then(|l| url.join(l).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Remote,
                    format!(
                        "{} redirected to an invalid location {location:?}",
                        shown(&url)
                    ),
                )
            })?;
        if next.origin() != url.origin() && !is_https_upgrade(&url, &next) {
            // Credentials are for the origin the access document named (or its https form).
            auth = None;
            headers.remove(header::AUTHORIZATION);
            headers.remove(header::COOKIE);
        }
        url = next;
    }
    Err(Error::new(
        ErrorKind::Remote,
        format!(
            "{method} {}: more than {MAX_REDIRECTS} redirects",
            shown(&parse_url(&request.url)?)
        ),
    ))
}

/// Whether `to` is `from` moved from http on port 80 to https on port 443 of the same host:
/// the usual upgrade, across which python-requests keeps credentials too.
fn is_https_upgrade(from: &url::Url, to: &url::Url) -> bool {
    from.scheme() == "http"
        && to.scheme() == "https"
        && from.port_or_known_default() == Some(80)
        && to.port_or_known_default() == Some(443)
        && from.host() == to.host()
}

/// Removes the user name and password from `url`, returning them as Basic credentials
/// (percent-decoded) when there were any.
fn take_userinfo(url: &mut url::Url) -> Option<Credentials> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let credentials = Credentials {
        username: decode(url.username()),
        password: decode(url.password().unwrap_or("")),
        scheme: AuthScheme::Basic,
    };
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Some(credentials)
}

/// A URL for messages: a password in it is masked.
pub fn shown(url: &url::Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    url.to_string()
}

fn parse_url(text: &str) -> Result<url::Url, Error> {
    if text.len() > MAX_URL {
        return Err(Error::new(
            ErrorKind::Denied,
            format!(
                "the connector asked for a URL of {} bytes, more than {MAX_URL}",
                text.len()
            ),
        ));
    }
    let url = url::Url::parse(text).map_err(|e| {
        Error::new(
            ErrorKind::InvalidAccess,
            format!("the connector asked for an invalid URL: {e}"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::new(
            ErrorKind::InvalidAccess,
            format!("{} is not an http:// or https:// URL", shown(&url)),
        ));
    }
    Ok(url)
}

/// The connector's headers; the ones that describe the connection or the body are the host's.
fn header_map(pairs: &[(String, String)]) -> Result<HeaderMap, Error> {
    let size: usize = pairs.iter().map(|(n, v)| n.len() + v.len()).sum();
    if pairs.len() > MAX_HEADERS || size > MAX_HEADER_BYTES {
        return Err(Error::new(
            ErrorKind::Denied,
            format!(
                "the connector sent {} headers of {size} bytes, more than the {MAX_HEADERS} headers or {MAX_HEADER_BYTES} bytes a request may have",
                pairs.len()
            ),
        ));
    }
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let bad = || Error::internal(format!("the connector sent an invalid header {name:?}"));
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
        let value = HeaderValue::from_str(value).map_err(|_| bad())?;
        if [
            header::HOST,
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
            header::CONNECTION,
        ]
        .contains(&name)
        {
            continue;
        }
        map.append(name, value);
    }
    Ok(map)
}

/// One request of a redirect chain.
struct Hop<'a> {
    /// Whether a transient failure may be tried again (the connector can say no).
    retry: bool,
    ctx: &'a TransferCtx,
    client: &'a reqwest::Client,
    method: &'a Method,
    url: &'a url::Url,
    headers: &'a HeaderMap,
    payload: &'a Payload,
}

impl Hop<'_> {
    /// Basic credentials go with the request; Digest answers the server's challenge and sends
    /// the request again. A request with a body learns the challenge first with the same
    /// request and an empty body, as curl does, so that the body goes out once; a server that
    /// asks for nothing then gets the request with its body, without credentials.
    async fn send_with_auth(&self, auth: Option<&Credentials>) -> Result<reqwest::Response, Error> {
        let basic = auth.filter(|c| c.scheme == AuthScheme::Basic).map(|c| {
            let token = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", c.username, c.password));
            format!("Basic {token}")
        });
        let digest = auth.filter(|c| c.scheme == AuthScheme::Digest);
        let probe = digest.is_some() && !matches!(self.payload, Payload::Empty);
        let response = if probe {
            Hop {
                payload: &Payload::Bytes(Bytes::new()),
                ..*self
            }
            .send_once(None)
            .await?
        } else {
            self.send_once(basic).await?
        };
        let (Some(credentials), StatusCode::UNAUTHORIZED) = (digest, response.status()) else {
            return match probe {
                true => self.send_once(None).await,
                false => Ok(response),
            };
        };
        let challenge = response
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.trim_start().to_ascii_lowercase().starts_with("digest"))
            .map(str::to_owned);
        let Some(challenge) = challenge else {
            return match probe {
                true => self.send_once(None).await,
                false => Ok(response),
            };
        };
        let answer = digest_answer(&challenge, credentials, self.method, self.url)?;
        self.send_once(Some(answer)).await
    }
    /// Sends the request, and again after a transient failure where that is safe (see
    /// [`super::retry`]), each try logged.
    async fn send_once(&self, authorization: Option<String>) -> Result<reqwest::Response, Error> {
        let mut attempt = 0;
        loop {
            let outcome = self.try_once(authorization.clone()).await;
            let retries = if self.retry { self.ctx.retries } else { 0 };
            let (wait, why) = match &outcome {
                Ok(response) if retry::transient_status(response.status()) => {
                    // An answer means the body (if any) went out.
                    if attempt >= retries || !retry::may_repeat(self.method, self.has_body()) {
                        return outcome.map_err(|f| f.error);
                    }
                    let status = response.status();
                    let why = format!(
                        "{} {}",
                        status.as_u16(),
                        status.canonical_reason().unwrap_or_default()
                    );
                    (retry::delay(attempt, Some(response.headers())), why)
                }
                Err(failure) if failure.transient => {
                    let body_sent = self.has_body() && !failure.before_connecting;
                    if attempt >= retries || !retry::may_repeat(self.method, body_sent) {
                        return outcome.map_err(|f| f.error);
                    }
                    (retry::delay(attempt, None), failure.error.message.clone())
                }
                _ => return outcome.map_err(|f| f.error),
            };
            let Some(wait) = wait else {
                return outcome.map_err(|f| f.error);
            };
            drop(outcome);
            attempt += 1;
            self.ctx.observer.log(
                crate::LogLevel::Info,
                &format!(
                    "retrying {} {} in {wait:?} (try {} of {}): {why}",
                    self.method,
                    shown(self.url),
                    attempt + 1,
                    retries + 1
                ),
            );
            tokio::time::sleep(wait).await;
        }
    }

    fn has_body(&self) -> bool {
        !matches!(self.payload, Payload::Empty)
    }

    /// One try: the request counted, sent, and its answer's head read.
    async fn try_once(&self, authorization: Option<String>) -> Result<reqwest::Response, Failure> {
        self.ctx.meter.request()?;
        // What the request line and headers carry counts against --max-bytes too.
        let head: usize = self.url.as_str().len()
            + self
                .headers
                .iter()
                .map(|(n, v)| n.as_str().len() + v.len())
                .sum::<usize>();
        self.ctx.meter.bytes(head as u64)?;
        let Hop {
            ctx,
            client,
            method,
            url,
            headers,
            payload,
            ..
        } = *self;
        let mut builder = client
            .request(method.clone(), url.clone())
            .headers(headers.clone());
        if let Some(value) = authorization {
            builder = builder.header(header::AUTHORIZATION, value);
        }
        builder = match payload {
            Payload::Empty => builder,
            Payload::Bytes(bytes) => {
                // Bytes the connector built count against --max-bytes like file bytes.
                ctx.meter.bytes(bytes.len() as u64)?;
                builder.body(bytes.clone())
            }
            Payload::File(input) => {
                let file = tokio::fs::File::from_std(input.reader()?);
                let (observer, meter) = (ctx.observer.clone(), ctx.meter.clone());
                let sent = AtomicU64::new(0);
                let total = Some(input.size);
                let stream = tokio_util::io::ReaderStream::with_capacity(file, UPLOAD_CHUNK)
                    .and_then(move |chunk| {
                        let n = chunk.len() as u64;
                        let counted = meter.bytes(n).map_err(|e| std::io::Error::other(e.message));
                        let done = sent.fetch_add(n, Ordering::Relaxed) + n;
                        observer.progress(done, total);
                        std::future::ready(counted.map(|()| chunk))
                    });
                builder
                    .header(header::CONTENT_LENGTH, input.size)
                    .body(reqwest::Body::wrap_stream(stream))
            }
        };
        builder.send().await.map_err(|e| {
            let error = transport_error(method, url, &e);
            // A certificate that fails its check fails again; a connection that could not be
            // made or broke off may not.
            let tls = error.message.contains("(TLS:") || error.message.contains("certificate");
            Failure {
                transient: !tls && !e.is_builder() && !e.is_body(),
                before_connecting: e.is_connect(),
                error,
            }
        })
    }
}

/// A try that failed before an answer came.
struct Failure {
    error: Error,
    /// Worth trying again (a network failure, not a certificate or a local problem).
    transient: bool,
    /// No connection was made, so no byte of a body went out.
    before_connecting: bool,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure {
            error,
            transient: false,
            before_connecting: true,
        }
    }
}

fn digest_answer(
    challenge: &str,
    credentials: &Credentials,
    method: &Method,
    url: &url::Url,
) -> Result<String, Error> {
    let bad = |e: digest_auth::Error| {
        Error::new(
            ErrorKind::Remote,
            format!(
                "{} sent a Digest challenge that cannot be answered: {e}",
                shown(url)
            ),
        )
    };
    let mut prompt = digest_auth::parse(challenge).map_err(bad)?;
    let mut uri = url.path().to_owned();
    if let Some(query) = url.query() {
        uri.push('?');
        uri.push_str(query);
    }
    let context = digest_auth::AuthContext::new_with_method(
        credentials.username.as_str(),
        credentials.password.as_str(),
        uri,
        None::<&[u8]>,
        digest_auth::HttpMethod::from(method.as_str().to_owned()),
    );
    Ok(prompt.respond(&context).map_err(bad)?.to_header_string())
}

fn transport_error(method: &Method, url: &url::Url, error: &reqwest::Error) -> Error {
    let mut message = format!("{method} {}: ", shown(url));
    if error.is_timeout() {
        message.push_str("timed out: ");
    } else if error.is_connect() {
        message.push_str("could not connect: ");
    }
    let detail = chain(error);
    let tls = tls_problem(&detail);
    if let Some((name, meaning)) = tls {
        message.push_str(&format!("{meaning} (TLS: {name})"));
    } else {
        message.push_str(&detail);
    }
    if tls.is_some() || detail.contains("certificate") {
        message.push_str(
            " (set \"disableSSLVerification\": true in the access document to skip the check)",
        );
    }
    Error::new(ErrorKind::Network, message)
}

/// What a TLS failure that rustls and webpki name in their own terms means, for people: the
/// name and its meaning.
fn tls_problem(detail: &str) -> Option<(&'static str, &'static str)> {
    const MEANINGS: [(&str, &str); 11] = [
        ("CaUsedAsEndEntity", "the server's certificate is a CA certificate, not a server certificate (a self-made certificate with the CA flag set)"),
        ("UnknownIssuer", "the server's certificate is not signed by an authority this machine trusts (self-signed, or from a private CA)"),
        ("NotValidForName", "the server's certificate is not valid for this host name"),
        ("Expired", "the server's certificate has expired"),
        ("NotValidYet", "the server's certificate is not valid yet (or this machine's clock is wrong)"),
        ("Revoked", "the server's certificate has been revoked"),
        ("BadSignature", "the server's certificate has an invalid signature"),
        ("UnsupportedSignatureAlgorithm", "the server's certificate uses a signature algorithm that is not supported"),
        ("BadEncoding", "the server's certificate cannot be read"),
        ("UnknownRevocationStatus", "the revocation status of the server's certificate is unknown"),
        ("HandshakeFailure", "the TLS handshake failed: the server and red-wasm share no protocol version or cipher"),
    ];
    MEANINGS
        .iter()
        .find(|(name, _)| detail.contains(name))
        .copied()
}

/// An error and its causes, without the URL that reqwest puts in its own message.
fn chain(error: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut current: Option<&dyn std::error::Error> = error.source();
    while let Some(e) = current {
        let text = e.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        current = e.source();
    }
    if parts.is_empty() {
        parts.push(error.to_string());
    }
    parts.join(": ")
}
