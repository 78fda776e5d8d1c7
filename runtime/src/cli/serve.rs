//! `red-wasm serve DIR`: a small HTTP server on 127.0.0.1 for connector authors to test
//! against. GET and HEAD serve `DIR/PATH`; PUT and POST write the request body to `DIR/PATH`
//! (folders made as needed). Paths never leave DIR: no `..`, and no symbolic link is
//! followed. Bodies stream to disk; request heads, idle connections and the number of
//! connections are bounded. One line per request on standard error.

use std::path::{Component, Path, PathBuf};

use red_wasm::{Error, ErrorKind};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use tokio::net::{TcpListener, TcpStream};

/// The largest request head read (request line and headers).
const MAX_HEAD: usize = 64 * 1024;
/// Connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 128;
/// How long a connection may stay silent.
const IDLE: std::time::Duration = std::time::Duration::from_secs(60);

/// Serves `dir` on 127.0.0.1:`port` (0 for any free port) until interrupted. Prints the base
/// URL on standard output first.
pub async fn serve(dir: PathBuf, port: u16) -> Result<(), Error> {
    let io = |what: String| move |e: std::io::Error| Error::local_io(&what, &e);
    let dir = dir
        .canonicalize()
        .map_err(io(format!("reading {}", dir.display())))?;
    if !dir.is_dir() {
        return Err(Error::new(
            ErrorKind::LocalIo,
            format!("{}: not a folder", dir.display()),
        ));
    }
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(io(format!("listening on 127.0.0.1:{port}")))?;
    let address = listener.local_addr().map_err(io("listening".into()))?;
    println!("http://{address}");
    eprintln!(
        "red-wasm: serving {} on http://{address} (GET, HEAD, PUT, POST; Ctrl-C stops)",
        dir.display()
    );
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return Ok(());
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => {
                // The head and the body go in separate writes: without this, each answer on a
                // kept-alive connection waits for the client's delayed ACK (40 ms).
                let _ = stream.set_nodelay(true);
                stream
            }
            Err(e) => {
                // Out of file descriptors, say: not a reason to stop serving.
                eprintln!("red-wasm: serve: accepting: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let dir = dir.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, &dir).await {
                eprintln!("red-wasm: serve: {e}");
            }
            drop(slot);
        });
    }
}

/// Answers the requests of one connection (keep-alive) until it closes.
async fn connection(stream: TcpStream, dir: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    loop {
        let mut head = Vec::new();
        loop {
            let room = (MAX_HEAD + 1).saturating_sub(head.len()) as u64;
            let mut limited = (&mut reader).take(room);
            let read = limited.read_until(b'\n', &mut head);
            let n = match tokio::time::timeout(IDLE, read).await {
                Ok(n) => n?,
                Err(_) => return Ok(()), // idle: close
            };
            if n == 0 {
                return Ok(());
            }
            if head.ends_with(b"\r\n\r\n") || head == b"\r\n" {
                break;
            }
            if head.len() > MAX_HEAD {
                return respond(reader.get_mut(), 431, b"request head too large").await;
            }
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        let mut lines = text.lines();
        let mut request = lines.next().unwrap_or_default().split_whitespace();
        let (method, target) = (
            request.next().unwrap_or_default().to_owned(),
            request.next().unwrap_or_default().to_owned(),
        );
        let header = |name: &str| {
            text.lines().skip(1).find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        let length: Option<u64> = header("content-length").and_then(|v| v.parse().ok());
        let chunked =
            header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let shown = target.escape_debug().to_string();
        let file = resolve(dir, &target).filter(|f| !through_a_link(dir, f));
        // Only a write that goes ahead reads its body; any other request's body is dropped
        // here, so that it is not read as the next request.
        if file.is_none() || !matches!(method.as_str(), "PUT" | "POST") {
            discard(&mut reader, length).await?;
        }
        let Some(file) = file else {
            eprintln!("red-wasm: serve: {method} {shown} 400 (outside the folder)");
            respond(reader.get_mut(), 400, b"bad path").await?;
            continue;
        };
        let status = match method.as_str() {
            "GET" | "HEAD" => match regular_file(&file).await {
                Ok(bytes) => {
                    let out = reader.get_mut();
                    let head =
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", bytes.len());
                    out.write_all(head.as_bytes()).await?;
                    if method == "GET" {
                        out.write_all(&bytes).await?;
                    }
                    200
                }
                Err(_) => {
                    respond(reader.get_mut(), 404, b"not found").await?;
                    404
                }
            },
            "PUT" | "POST" if chunked || length.is_none() => {
                respond(reader.get_mut(), 411, b"send a Content-Length").await?;
                return Ok(());
            }
            "PUT" | "POST" => {
                if let Some(parent) = file.parent() {
                    tokio::fs::create_dir_all(parent).await?;
                }
                // Streamed to disk, never held whole; an existing link is not written through.
                let _ = tokio::fs::remove_file(&file).await;
                let mut out = tokio::fs::File::create_new(&file).await?;
                let want = length.unwrap_or(0);
                let got = tokio::io::copy(&mut (&mut reader).take(want), &mut out).await?;
                if got < want {
                    drop(out);
                    let _ = tokio::fs::remove_file(&file).await;
                    return Ok(());
                }
                respond(reader.get_mut(), 201, b"").await?;
                201
            }
            _ => {
                respond(reader.get_mut(), 405, b"GET, HEAD, PUT or POST").await?;
                405
            }
        };
        eprintln!("red-wasm: serve: {method} {shown} {status}");
    }
}

/// Reads and drops a request body of `length` bytes (sent with a GET, say).
async fn discard(reader: &mut BufReader<TcpStream>, length: Option<u64>) -> std::io::Result<()> {
    let mut sink = tokio::io::sink();
    tokio::io::copy(&mut reader.take(length.unwrap_or(0)), &mut sink).await?;
    Ok(())
}

/// The bytes of `file` if it is a regular file (not a folder, a FIFO or a device).
async fn regular_file(file: &Path) -> std::io::Result<Vec<u8>> {
    let meta = tokio::fs::symlink_metadata(file).await?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    tokio::fs::read(file).await
}

/// Whether a folder or file on the way from `dir` to `file` is a symbolic link.
fn through_a_link(dir: &Path, file: &Path) -> bool {
    let mut current = dir.to_path_buf();
    for part in file.strip_prefix(dir).unwrap_or(file).components() {
        current.push(part);
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => return true,
            Ok(_) => {}
            Err(_) => return false, // the rest does not exist yet
        }
    }
    false
}

/// The file `target` (a request path) names inside `dir`, or `None` when it would leave it.
fn resolve(dir: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?;
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?;
    let mut file = dir.to_path_buf();
    for part in Path::new(decoded.as_ref()).components() {
        match part {
            Component::Normal(name) => file.push(name),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    (file != dir).then_some(file)
}

async fn respond(out: &mut TcpStream, status: u16, body: &[u8]) -> std::io::Result<()> {
    let reason = match status {
        201 => "Created",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        431 => "Request Header Fields Too Large",
        _ => "",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    out.write_all(head.as_bytes()).await?;
    out.write_all(body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_folder() {
        let dir = Path::new("/srv/data");
        assert_eq!(resolve(dir, "/a/b.csv?x=1"), Some(dir.join("a/b.csv")));
        assert_eq!(resolve(dir, "/a%20b"), Some(dir.join("a b")));
        assert_eq!(resolve(dir, "/../etc/passwd"), None);
        assert_eq!(resolve(dir, "/a/%2e%2e/%2e%2e/x"), None);
        assert_eq!(resolve(dir, "/"), None);
    }
}
