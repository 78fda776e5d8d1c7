//! An HTTP/1.1 and HTTPS server on 127.0.0.1 in plain threads, with the behaviours the HTTP
//! connectors must handle, and a record of every request it saw.
//!
//! Routes (`NAME` is any path rest):
//! - `GET|PUT|POST|DELETE /files/NAME`: the stored files (PUT and POST store the body: 201).
//! - `/basic/...` and `/digest/...`: as `/files/...`, behind Basic or Digest (MD5, qop=auth)
//!   authentication with the server's user and password.
//! - `/redirect/CODE?to=TARGET`: answers CODE with `Location: TARGET`.
//! - `/loop/N`: redirects to `/loop/N+1`, forever.
//! - `/gzip/NAME`, `/deflate/NAME`: the stored file, compressed with that Content-Encoding.
//! - `/status/CODE`: an empty answer with that status.
//! - `/truncated`: promises 1000 bytes, sends 500 and closes.
//! - `/drop`: a chunked body cut off mid-stream.
//!   (Both bodies are the start of a JSON array.)
//! - `/stall`: headers, then silence for 30 s.
//! - `/generate/N`: N bytes of a fixed pattern, streamed (for large transfers).
//! - `/slow/N`: N bytes, throttled to about 16 MiB/s (for stopping a transfer midway).
//! - `PUT|POST /sink/...`: reads and counts the body without keeping it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use base64::Engine as _;

/// The user and password the authenticated routes accept.
pub const USER: &str = "alice";
pub const PASSWORD: &str = "s3cret-Pa55";

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Header names in lower case, in order.
    pub headers: Vec<(String, String)>,
    /// The body (empty for `/sink/` routes, which only count).
    pub body: Vec<u8>,
    pub body_len: u64,
}

impl Seen {
    /// The request without its body.
    fn clone_head(&self) -> Seen {
        Seen {
            method: self.method.clone(),
            target: self.target.clone(),
            headers: self.headers.clone(),
            body: Vec::new(),
            body_len: self.body_len,
        }
    }

    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Answers one request on `out`; `Ok(false)` closes the connection afterwards. Servers with
/// other routes (the XNAT test server) plug in here.
pub type Router = dyn Fn(&Seen, &mut dyn Write) -> std::io::Result<bool> + Send + Sync;

/// The most of a request body kept in [`Seen::body`].
const RECORDED_BODY: usize = 1 << 20;

#[derive(Default)]
struct State {
    router: Option<Arc<Router>>,
    /// Stop recording requests (long benchmarks would otherwise grow the record).
    unrecorded: AtomicBool,
    /// Shared, so that serving a large file does not copy it.
    files: Mutex<HashMap<String, Arc<Vec<u8>>>>,
    seen: Mutex<Vec<Seen>>,
    sunk: AtomicU64,
    stop: AtomicBool,
    /// Failures answered so far, by route and name (the `flaky` and `busy` routes).
    failures: Mutex<HashMap<String, u32>>,
    /// SHA-256 of stored files, by name and size, computed once (a 1 GiB file takes a second).
    digests: Mutex<HashMap<(String, usize), Vec<u8>>>,
}

/// A running server; it stops when dropped.
pub struct HttpServer {
    addr: SocketAddr,
    tls: bool,
    state: Arc<State>,
}

impl HttpServer {
    /// A plain HTTP server on a free port of 127.0.0.1.
    pub fn start() -> Self {
        Self::spawn(None)
    }

    /// An HTTPS server with a fresh self-signed certificate for 127.0.0.1 and localhost.
    pub fn start_tls() -> Self {
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .expect("self-signed certificate");
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .expect("TLS config");
        Self::spawn(Some(Arc::new(config)))
    }

    /// A server on a specific port of 127.0.0.1 (0 for any).
    pub fn start_on(port: u16) -> Self {
        Self::spawn_on(port, None, None)
    }

    /// A plain HTTP server on a free port whose answers come from `router` (which sees every
    /// request whole, while [`HttpServer::seen`] keeps at most 1 MiB of each body).
    pub fn start_with_router(router: Arc<Router>) -> Self {
        Self::spawn_on(0, None, Some(router))
    }

    fn spawn(tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        Self::spawn_on(0, tls, None)
    }

    fn spawn_on(
        port: u16,
        tls: Option<Arc<rustls::ServerConfig>>,
        router: Option<Arc<Router>>,
    ) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            router,
            ..State::default()
        });
        let server = HttpServer {
            addr,
            tls: tls.is_some(),
            state: state.clone(),
        };
        thread::spawn(move || {
            for stream in listener.incoming() {
                if state.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let state = state.clone();
                let tls = tls.clone();
                thread::spawn(move || {
                    let _ = stream.set_nodelay(true);
                    match tls {
                        Some(config) => {
                            let Ok(conn) = rustls::ServerConnection::new(config) else {
                                return;
                            };
                            serve(rustls::StreamOwned::new(conn, stream), &state);
                        }
                        None => serve(stream, &state),
                    }
                });
            }
        });
        server
    }

    /// `http://127.0.0.1:PORT` (or https).
    pub fn base(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// `base()` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Stores a file served at `/files/NAME` (and the auth and compression routes).
    pub fn put_file(&self, name: &str, bytes: &[u8]) {
        self.state
            .files
            .lock()
            .unwrap()
            .insert(name.to_owned(), Arc::new(bytes.to_vec()));
    }

    /// A stored file.
    pub fn file(&self, name: &str) -> Option<Vec<u8>> {
        let files = self.state.files.lock().unwrap();
        files.get(name).map(|bytes| bytes.to_vec())
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Stops keeping requests for [`HttpServer::seen`] (for benchmarks that make many).
    pub fn stop_recording(&self) {
        self.state.unrecorded.store(true, Ordering::Relaxed);
    }

    /// Bytes read by the `/sink/` routes.
    pub fn sunk(&self) -> u64 {
        self.state.sunk.load(Ordering::SeqCst)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Serves requests on one connection until it closes.
fn serve<S: Read + Write>(stream: S, state: &State) {
    let mut reader = BufReader::with_capacity(256 * 1024, stream);
    loop {
        let Some(head) = read_head(&mut reader) else {
            return;
        };
        let sink = head.target.starts_with("/sink/");
        let Some((body, body_len)) = read_body(&mut reader, &head, sink) else {
            return;
        };
        if sink {
            state.sunk.fetch_add(body_len, Ordering::SeqCst);
        }
        let seen = Seen {
            method: head.method.clone(),
            target: head.target.clone(),
            headers: head.headers.clone(),
            body,
            body_len,
        };
        let mut recorded = seen.clone_head();
        recorded.body = seen.body[..seen.body.len().min(RECORDED_BODY)].to_vec();
        if !state.unrecorded.load(Ordering::Relaxed) {
            state.seen.lock().unwrap().push(recorded);
        }
        let keep_alive = !seen
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let out: &mut dyn Write = reader.get_mut();
        let answered = match &state.router {
            Some(router) => router(&seen, out),
            None => respond(out, &seen, state),
        };
        match answered {
            Ok(true) if keep_alive => continue,
            _ => return,
        }
    }
}

struct Head {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

fn read_head(reader: &mut impl BufRead) -> Option<Head> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    Some(Head {
        method,
        target,
        headers,
    })
}

/// Reads the body by Content-Length or chunked encoding; `discard` counts without keeping.
fn read_body(reader: &mut impl BufRead, head: &Head, discard: bool) -> Option<(Vec<u8>, u64)> {
    let header = |name: &str| {
        head.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    let mut total = 0u64;
    let mut take = |reader: &mut dyn BufRead, mut n: u64| -> Option<()> {
        while n > 0 {
            let buf = reader.fill_buf().ok()?;
            if buf.is_empty() {
                return None;
            }
            let k = buf.len().min(n as usize);
            if !discard {
                body.extend_from_slice(&buf[..k]);
            }
            reader.consume(k);
            n -= k as u64;
            total += k as u64;
        }
        Some(())
    };
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line).ok()?;
            let size = u64::from_str_radix(size_line.trim().split(';').next()?, 16).ok()?;
            if size == 0 {
                let mut end = String::new();
                reader.read_line(&mut end).ok()?;
                break;
            }
            take(reader, size)?;
            let mut crlf = String::new();
            reader.read_line(&mut crlf).ok()?;
        }
    } else if let Some(length) = header("content-length") {
        take(reader, length.parse().ok()?)?;
    }
    Some((body, total))
}

/// `bytes` as a 200 or (for `Range: bytes=S-` whose `If-Range` is absent or `etag`) a 206
/// answer, stopping after `limit` bytes of body (and closing the connection then).
fn partial(
    out: &mut dyn Write,
    req: &Seen,
    bytes: &[u8],
    etag: &str,
    limit: usize,
) -> std::io::Result<bool> {
    let if_range_ok = req.header("if-range").is_none_or(|v| v == etag);
    let start = req
        .header("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|s| if_range_ok && *s < bytes.len());
    let body = &bytes[start.unwrap_or(0)..];
    match start {
        Some(s) => write!(
            out,
            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {s}-{}/{}\r\nETag: {etag}\r\nAccept-Ranges: bytes\r\n\r\n",
            body.len(),
            bytes.len() - 1,
            bytes.len()
        )?,
        None => write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: {etag}\r\nAccept-Ranges: bytes\r\n\r\n",
            body.len()
        )?,
    }
    let cut = body.len() > limit;
    out.write_all(&body[..body.len().min(limit)])?;
    out.flush()?;
    Ok(!cut)
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).to_vec()
}

impl State {
    /// The SHA-256 of the stored file `name` (`bytes`), computed once.
    fn digest(&self, name: &str, bytes: &[u8]) -> Vec<u8> {
        let key = (name.to_owned(), bytes.len());
        if let Some(digest) = self.digests.lock().unwrap().get(&key) {
            return digest.clone();
        }
        let digest = sha256(bytes);
        self.digests.lock().unwrap().insert(key, digest.clone());
        digest
    }

    fn digest_hex(&self, name: &str, bytes: &[u8]) -> String {
        self.digest(name, bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Counts one more failure for `key` while fewer than `n` were answered; whether it did.
    fn fail_once(&self, key: &str, n: u32) -> bool {
        let mut failures = self.failures.lock().unwrap();
        let count = failures.entry(key.to_owned()).or_default();
        if *count < n {
            *count += 1;
            return true;
        }
        false
    }
}

/// Writes the answer; `Ok(false)` when the connection must close afterwards.
fn respond(out: &mut dyn Write, req: &Seen, state: &State) -> std::io::Result<bool> {
    let (path, query) = req
        .target
        .split_once('?')
        .unwrap_or((req.target.as_str(), ""));
    let segments: Vec<&str> = path.trim_start_matches('/').splitn(2, '/').collect();
    let rest = segments.get(1).copied().unwrap_or("");
    match segments[0] {
        "files" => files(out, req, rest, state),
        "basic" => match check_basic(req) {
            true => files(out, req, rest, state),
            false => {
                let challenge = [("WWW-Authenticate", "Basic realm=\"red\"".to_owned())];
                reply(out, 401, &challenge, b"")
            }
        },
        "digest" => match check_digest(req) {
            true => files(out, req, rest, state),
            false => {
                let challenge = [(
                    "WWW-Authenticate",
                    format!(
                        "Digest realm=\"red\", qop=\"auth\", algorithm=MD5, nonce=\"{}\", opaque=\"0pa9ue\"",
                        NONCE
                    ),
                )];
                reply(out, 401, &challenge, b"")
            }
        },
        "redirect" => {
            let code = rest.parse().unwrap_or(302);
            let to = query.strip_prefix("to=").unwrap_or("/");
            reply(out, code, &[("Location", percent_decode(to))], b"")
        }
        "loop" => {
            let n: u64 = rest.parse().unwrap_or(0);
            reply(out, 302, &[("Location", format!("/loop/{}", n + 1))], b"")
        }
        "gzip" | "deflate" => {
            let Some(bytes) = state.files.lock().unwrap().get(rest).cloned() else {
                return reply(out, 404, &[], b"");
            };
            let encoded = compress(segments[0], &bytes);
            reply(
                out,
                200,
                &[("Content-Encoding", segments[0].to_owned())],
                &encoded,
            )
        }
        "status" => reply(out, rest.parse().unwrap_or(500), &[], b""),
        "truncated" => {
            out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")?;
            out.write_all(&json_prefix(500))?;
            out.flush()?;
            Ok(false)
        }
        "drop" => {
            out.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")?;
            let body = json_prefix(1024);
            for chunk in body.chunks(256) {
                out.write_all(b"100\r\n")?;
                out.write_all(chunk)?;
                out.write_all(b"\r\n")?;
            }
            out.flush()?;
            Ok(false)
        }
        "stall" => {
            out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")?;
            out.flush()?;
            thread::sleep(Duration::from_secs(30));
            Ok(false)
        }
        "generate" => {
            let n: u64 = rest.parse().unwrap_or(0);
            write!(out, "HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n")?;
            let block = pattern(1 << 20);
            let mut left = n;
            while left > 0 {
                let k = left.min(block.len() as u64) as usize;
                out.write_all(&block[..k])?;
                left -= k as u64;
            }
            out.flush()?;
            Ok(true)
        }
        "slow" => {
            let n: u64 = rest.parse().unwrap_or(0);
            write!(out, "HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n")?;
            let block = pattern(160 << 10);
            let mut left = n;
            while left > 0 {
                let k = left.min(block.len() as u64) as usize;
                out.write_all(&block[..k])?;
                out.flush()?;
                left -= k as u64;
                thread::sleep(Duration::from_millis(10));
            }
            Ok(true)
        }
        "sink" => reply(out, 201, &[], b""),
        // `/flaky/N/NAME`: the first N requests for NAME answer 503, then it is `/files/NAME`.
        "flaky" => {
            let (n, name) = rest.split_once('/').unwrap_or(("0", rest));
            let failed = state.fail_once(&format!("flaky/{rest}"), n.parse().unwrap_or(0));
            match failed {
                true => reply(out, 503, &[], b"busy"),
                false => files(out, req, name, state),
            }
        }
        // `/cut/N/NAME`: NAME with a strong ETag, honouring `Range` (with `If-Range`), but every
        // answer stops after N bytes of body and closes the connection.
        "cut" => {
            let (n, name) = rest.split_once('/').unwrap_or(("0", rest));
            let Some(bytes) = state.files.lock().unwrap().get(name).cloned() else {
                return reply(out, 404, &[], b"");
            };
            let etag = format!(
                "\"{}-{}\"",
                bytes.len(),
                state.digest_hex(name, &bytes)[..16].to_owned()
            );
            partial(out, req, &bytes, &etag, n.parse().unwrap_or(0))
        }
        // `/once/N/NAME`: NAME whole, ignoring `Range`; the first answer stops after N bytes.
        "once" => {
            let (n, name) = rest.split_once('/').unwrap_or(("0", rest));
            let Some(bytes) = state.files.lock().unwrap().get(name).cloned() else {
                return reply(out, 404, &[], b"");
            };
            let cut = state.fail_once(&format!("once/{rest}"), 1);
            let limit = if cut {
                n.parse().unwrap_or(0)
            } else {
                usize::MAX
            };
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: \"same\"\r\n\r\n",
                bytes.len()
            )?;
            out.write_all(&bytes[..bytes.len().min(limit)])?;
            out.flush()?;
            Ok(!cut)
        }
        // `/swap/N/FIRST/THEN`: FIRST (ETag "first") cut after N bytes; every later answer is
        // THEN (ETag "then"), whole unless `If-Range` names "then".
        "swap" => {
            let mut parts = rest.splitn(3, '/');
            let (n, first, then) = (
                parts.next().unwrap_or("0"),
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
            );
            let files = state.files.lock().unwrap();
            let (Some(a), Some(b)) = (files.get(first).cloned(), files.get(then).cloned()) else {
                return reply(out, 404, &[], b"");
            };
            drop(files);
            match state.fail_once(&format!("swap/{rest}"), 1) {
                true => partial(out, req, &a, "\"first\"", n.parse().unwrap_or(0)),
                false => partial(out, req, &b, "\"then\"", usize::MAX),
            }
        }
        // `/stated/NAME`: NAME with `Repr-Digest: sha-256=...` of its bytes, or (with `?wrong`)
        // of other bytes.
        "stated" => {
            let Some(bytes) = state.files.lock().unwrap().get(rest).cloned() else {
                return reply(out, 404, &[], b"");
            };
            let digest = match query {
                "wrong" => sha256(b"other"),
                _ => state.digest(rest, &bytes),
            };
            let sum = base64::engine::general_purpose::STANDARD.encode(digest);
            reply(
                out,
                200,
                &[("Repr-Digest", format!("sha-256=:{sum}:"))],
                &bytes,
            )
        }
        // `/busy/NAME`: the first request answers 429 with `Retry-After: 1`.
        "busy" => match state.fail_once(&format!("busy/{rest}"), 1) {
            true => reply(out, 429, &[("Retry-After", "1".to_owned())], b""),
            false => files(out, req, rest, state),
        },
        // The Authorization headers the request carried, one a line (after a Digest
        // challenge with `?challenge=digest` when it carried none).
        "echo" => {
            let sent: Vec<&str> = req
                .headers
                .iter()
                .filter(|(n, _)| n == "authorization")
                .map(|(_, v)| v.as_str())
                .collect();
            if sent.is_empty() && query == "challenge=digest" {
                let challenge =
                    format!("Digest realm=\"red\", qop=\"auth\", algorithm=MD5, nonce=\"{NONCE}\"");
                return reply(out, 401, &[("WWW-Authenticate", challenge)], b"");
            }
            reply(out, 200, &[], sent.join("\n").as_bytes())
        }
        _ => reply(out, 404, &[], b"no such route"),
    }
}

/// `n` bytes that begin a JSON array and never end it (`[0,0,0,...`), so that a cut-off body
/// is noticed as a cut, by JSON-checking connectors too.
fn json_prefix(n: usize) -> Vec<u8> {
    let mut body = b"[".to_vec();
    body.extend((1..n).map(|i| if i % 2 == 1 { b'0' } else { b',' }));
    body
}

/// `n` bytes of the pattern `/generate/` serves: byte i is `i % 251`.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn files(out: &mut dyn Write, req: &Seen, name: &str, state: &State) -> std::io::Result<bool> {
    // Stored under their decoded names, as a file server maps a path to a file.
    let decoded = percent_decode(name);
    let name = decoded.as_str();
    match req.method.as_str() {
        "GET" | "HEAD" => match state.files.lock().unwrap().get(name).cloned() {
            Some(bytes) => reply(out, 200, &[], &bytes),
            None => reply(out, 404, &[], b"not found"),
        },
        "PUT" | "POST" => {
            state
                .files
                .lock()
                .unwrap()
                .insert(name.to_owned(), Arc::new(req.body.clone()));
            reply(out, 201, &[], b"")
        }
        "DELETE" => {
            let existed = state.files.lock().unwrap().remove(name).is_some();
            reply(out, if existed { 200 } else { 404 }, &[], b"")
        }
        _ => reply(out, 405, &[], b""),
    }
}

/// Writes a whole answer with a Content-Length; `Ok(true)` (keep the connection).
pub fn reply(
    out: &mut dyn Write,
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<bool> {
    let reason = match status {
        200 => "OK",
        201 => "Created",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        500 => "Internal Server Error",
        _ => "Status",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    out.write_all(body)?;
    out.flush()?;
    Ok(true)
}

fn check_basic(req: &Seen) -> bool {
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    req.header("authorization") == Some(&format!("Basic {expected}"))
}

const NONCE: &str = "dcd98b7102dd2f0e8b11d0f600bfb0c093";

/// Checks a Digest answer by computing the expected response from the password.
fn check_digest(req: &Seen) -> bool {
    let Some(answer) = req.header("authorization") else {
        return false;
    };
    let Ok(mut header) = digest_auth::AuthorizationHeader::parse(answer) else {
        return false;
    };
    if header.username != USER || header.nonce != NONCE || header.uri != req.target {
        return false;
    }
    let received = header.response.clone();
    let context = digest_auth::AuthContext::new_with_method(
        USER,
        PASSWORD,
        header.uri.clone(),
        None::<&[u8]>,
        digest_auth::HttpMethod::from(req.method.clone()),
    );
    header.digest(&context);
    header.response == received
}

fn compress(encoding: &str, bytes: &[u8]) -> Vec<u8> {
    let level = flate2::Compression::default();
    if encoding == "gzip" {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    } else {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), level);
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }
}

/// Decodes `%XX` escapes.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
