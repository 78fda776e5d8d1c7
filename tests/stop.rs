//! Stop means stop: a deadline, a cancellation, a dropped future or a signal (SIGINT, SIGTERM,
//! SIGHUP) stops host I/O at once, commits nothing (no renamed upload, no local file) and
//! removes the temporary files, locally and on the SFTP server; a server that never answers
//! does not keep the process alive. Real servers on 127.0.0.1: OpenSSH sshd and the test
//! HTTP server.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use red_wasm::{CancellationToken, ErrorKind, Limits, TransferOptions};
use red_wasm_testkit::proxy::CutProxy;
use red_wasm_testkit::sshd::{Scratch, Sshd, PASSWORD, USER};
use serde_json::{json, Value};
use support::*;

/// How long a stop may take to return, host I/O included (the 250 ms), plus slack
/// for a loaded 2-core machine.
const PROMPT: Duration = Duration::from_millis(250 + 150);

fn sshd() -> &'static Sshd {
    Sshd::shared()
}

/// The shared sshd behind a link of 32 MiB/s each way, so that a transfer of [`big_file`]'s
/// size takes seconds, and is under way when a test stops it, however fast the machine.
fn slow_link() -> &'static CutProxy {
    static LINK: std::sync::OnceLock<CutProxy> = std::sync::OnceLock::new();
    LINK.get_or_init(|| {
        let sshd = format!("127.0.0.1:{}", sshd().port()).parse().unwrap();
        CutProxy::start_slow(sshd, 32 << 20)
    })
}

fn access(path: &str) -> Value {
    json!({"host": "127.0.0.1", "port": slow_link().port(),
           "auth": {"username": USER, "password": PASSWORD}, "filePath": path})
}

/// The size of the transfers that tests stop: over [`slow_link`], about three seconds.
const BIG_MIB: usize = 100;

/// A large local file (sparse-free, so that reading it costs what a real one does).
fn big_file(dir: &Path, mib: usize) -> std::path::PathBuf {
    let path = dir.join("big.bin");
    let block = red_wasm_testkit::http::pattern(1 << 20);
    let mut file = std::fs::File::create(&path).unwrap();
    for _ in 0..mib {
        std::io::Write::write_all(&mut file, &block).unwrap();
    }
    path
}

/// A folder on the server with `target.bin` holding `old`; the upload goes there.
fn remote_target(old: &[u8]) -> (Scratch, String) {
    let scratch = sshd().scratch();
    let target = scratch.put("target.bin", old);
    (scratch, target.display().to_string())
}

/// Waits until `check` holds (at most `limit`); whether it did.
fn eventually(limit: Duration, check: impl Fn() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    check()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_sftp_upload_stops_at_once_and_leaves_the_target_as_it_was() {
    let dir = temp();
    let source = big_file(dir.path(), BIG_MIB);
    let (scratch, target) = remote_target(b"old contents");
    let token = CancellationToken::new();
    let options = TransferOptions {
        cancel: Some(token.clone()),
        ..TransferOptions::default()
    };
    let trigger = token.clone();
    let cancelled_at = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        trigger.cancel();
        Instant::now()
    });
    let err = connector("sftp")
        .send(&access(&target).to_string(), &source, &options)
        .await
        .unwrap_err();
    let returned = Instant::now();
    let took = returned - cancelled_at.await.unwrap();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert!(err.message.contains("cancelled"), "{}", err.message);
    assert!(
        took < PROMPT,
        "the cancelled upload returned {took:?} after the cancel"
    );
    eprintln!("cancel to return: {took:?}");
    assert_eq!(std::fs::read(&target).unwrap(), b"old contents");
    assert_eq!(
        scratch.listing(),
        ["target.bin"],
        "no temporary file remains"
    );
    // And nothing renames it later.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(std::fs::read(&target).unwrap(), b"old contents");
    assert_eq!(scratch.listing(), ["target.bin"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sftp_upload_past_its_time_limit_stops_at_once_and_leaves_the_target_as_it_was() {
    let dir = temp();
    let source = big_file(dir.path(), BIG_MIB);
    let (scratch, target) = remote_target(b"old contents");
    let limit = Duration::from_millis(600);
    let options = TransferOptions {
        limits: Limits {
            timeout: Some(limit),
            ..Limits::default()
        },
        ..TransferOptions::default()
    };
    let started = Instant::now();
    let err = connector("sftp")
        .send(&access(&target).to_string(), &source, &options)
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert!(err.message.contains("time limit"), "{}", err.message);
    assert!(took < limit + PROMPT, "returned after {took:?}");
    eprintln!("time limit {limit:?}, returned after {took:?}");
    assert_eq!(std::fs::read(&target).unwrap(), b"old contents");
    assert_eq!(
        scratch.listing(),
        ["target.bin"],
        "no temporary file remains"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_sftp_upload_stops_and_cleans_up_behind_it() {
    let dir = temp();
    let source = big_file(dir.path(), BIG_MIB);
    let (scratch, target) = remote_target(b"old contents");
    let doc = access(&target).to_string();
    let sftp = connector("sftp");
    let options = TransferOptions::default();
    let upload = sftp.send(&doc, &source, &options);
    // Dropped half a second in, mid-upload: nothing can be awaited any more, so the host
    // work stops and cleans up on its own, promptly.
    let dropped = tokio::time::timeout(Duration::from_millis(500), upload).await;
    assert!(dropped.is_err(), "the upload ended before it was dropped");
    let clean = eventually(PROMPT, || scratch.listing() == ["target.bin"]);
    assert!(clean, "left behind: {:?}", scratch.listing());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(std::fs::read(&target).unwrap(), b"old contents");
    assert_eq!(scratch.listing(), ["target.bin"]);
}

/// A server that accepts connections and never says a word (no SSH banner).
fn silent_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    port
}

/// The access of a banner-less server, with the largest timeouts a connector can ask for
/// (u32::MAX ms each: the access document's seconds are clamped to that).
fn silent_access(port: u16) -> Value {
    json!({"host": "127.0.0.1", "port": port,
           "auth": {"username": USER, "password": PASSWORD}, "filePath": "x",
           "timeout": 1e9, "bannerTimeout": 1e9, "authTimeout": 1e9})
}

#[tokio::test]
async fn a_server_that_never_sends_its_banner_is_given_up_at_the_deadline() {
    let port = silent_server();
    let dir = temp();
    let options = TransferOptions {
        limits: Limits {
            timeout: Some(Duration::from_secs(1)),
            ..Limits::default()
        },
        ..TransferOptions::default()
    };
    let started = Instant::now();
    let err = connector("sftp")
        .receive(
            &silent_access(port).to_string(),
            red_wasm::ReceiveTarget::File(dir.path().join("x")),
            &options,
        )
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert!(err.message.contains("time limit"), "{}", err.message);
    assert!(
        took < Duration::from_millis(1300),
        "returned after {took:?}"
    );
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn the_command_exits_at_the_deadline_when_the_server_never_sends_its_banner() {
    let port = silent_server();
    let dir = temp();
    let out = dir.path().join("x");
    let started = Instant::now();
    let output = cli(&[
        "run",
        "sftp",
        &silent_access(port).to_string(),
        "-o",
        out.to_str().unwrap(),
        "--timeout",
        "1",
    ]);
    let took = started.elapsed();
    assert_eq!(output.status.code(), Some(14), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("time limit"),
        "{}",
        stderr(&output)
    );
    // Start-up (loading the cached connector) and exit included.
    assert!(
        took < Duration::from_millis(1800),
        "the process took {took:?}"
    );
    assert!(listing(dir.path()).is_empty());
}

/// `red-wasm` with `args`, running in the background.
fn spawn_cli(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_red-wasm"))
        .args(args)
        .env("RED_WASM_CACHE_DIR", cache_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run red-wasm")
}

/// Sends `signal` to `child` and returns how long it took to exit, and its exit code.
fn signal_and_wait(child: &mut Child, signal: &str) -> (Duration, Option<i32>, String) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let sent = Instant::now();
    let until = sent + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("red-wasm did not exit within 10 s of SIG{signal}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = sent.elapsed();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    (took, status.code(), err)
}

/// The names in `dir` that end in `.part`.
fn parts(names: &[String]) -> Vec<&String> {
    names.iter().filter(|n| n.ends_with(".part")).collect()
}

#[test]
fn sigterm_stops_an_sftp_upload_and_removes_the_remote_temporary_file() {
    let dir = temp();
    let source = big_file(dir.path(), BIG_MIB);
    let (scratch, target) = remote_target(b"old contents");
    let doc = access(&target).to_string();
    let mut child = spawn_cli(&["run", "sftp", &doc, "--send", source.to_str().unwrap()]);
    // Signal once the upload is under way (its temporary file exists on the server).
    let started = eventually(Duration::from_secs(10), || {
        parts(&scratch.listing()).len() == 1
    });
    assert!(started, "the upload never started: {:?}", scratch.listing());
    std::thread::sleep(Duration::from_millis(200));
    let (took, code, err) = signal_and_wait(&mut child, "TERM");
    assert_eq!(code, Some(14), "{err}");
    assert!(err.contains("cancelled"), "{err}");
    assert!(took < PROMPT, "exited {took:?} after SIGTERM");
    assert_eq!(std::fs::read(&target).unwrap(), b"old contents");
    assert_eq!(
        scratch.listing(),
        ["target.bin"],
        "no remote temporary file"
    );
}

#[test]
fn sighup_stops_an_sftp_download_and_leaves_no_local_file() {
    let dir = temp();
    let scratch = sshd().scratch();
    let remote = scratch.put("big.bin", b"");
    std::fs::copy(big_file(dir.path(), BIG_MIB), &remote).unwrap();
    let out_dir = temp();
    let out = out_dir.path().join("big.bin");
    let doc = access(&remote.display().to_string()).to_string();
    let mut child = spawn_cli(&["run", "sftp", &doc, "-o", out.to_str().unwrap()]);
    let started = eventually(Duration::from_secs(10), || {
        let names = listing(out_dir.path());
        names.len() == 1
            && std::fs::metadata(out_dir.path().join(&names[0])).is_ok_and(|m| m.len() > 0)
    });
    assert!(started, "the download never started");
    let (took, code, err) = signal_and_wait(&mut child, "HUP");
    assert_eq!(code, Some(14), "{err}");
    assert!(took < PROMPT, "exited {took:?} after SIGHUP");
    assert!(listing(out_dir.path()).is_empty(), "no local .part file");
}

#[test]
fn sigterm_stops_an_http_download_and_leaves_no_local_file() {
    let server = red_wasm_testkit::http::HttpServer::start();
    let dir = temp();
    let out = dir.path().join("slow.bin");
    let doc = json!({"url": server.url("/slow/1000000000")}).to_string();
    let mut child = spawn_cli(&["run", "http", &doc, "-o", out.to_str().unwrap()]);
    let started = eventually(Duration::from_secs(10), || {
        let names = listing(dir.path());
        names.len() == 1 && std::fs::metadata(dir.path().join(&names[0])).is_ok_and(|m| m.len() > 0)
    });
    assert!(started, "the download never started");
    let (took, code, err) = signal_and_wait(&mut child, "TERM");
    assert_eq!(code, Some(14), "{err}");
    assert!(took < PROMPT, "exited {took:?} after SIGTERM");
    assert!(listing(dir.path()).is_empty(), "no local .part file");
}

#[test]
fn sigterm_stops_a_receive_dir_and_leaves_no_folder() {
    let server = red_wasm_testkit::http::HttpServer::start();
    let dir = temp();
    // The listed file is the test server's slow stream: `/slow/N` joined with its name.
    let listing_file = dir.path().join("listing.json");
    std::fs::write(
        &listing_file,
        json!([{"class": "File", "basename": "1000000000"}]).to_string(),
    )
    .unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let out = work.join("in");
    let doc = json!({"url": server.url("/slow")}).to_string();
    let args = [
        "run",
        "http",
        &doc,
        "--dir",
        "-o",
        out.to_str().unwrap(),
        "--listing",
        listing_file.to_str().unwrap(),
    ];
    let mut child = spawn_cli(&args);
    // Under way once the staging folder holds part of the file.
    let started = eventually(Duration::from_secs(10), || {
        let names = listing(&work);
        names.len() == 1
            && std::fs::metadata(work.join(&names[0]).join("1000000000")).is_ok_and(|m| m.len() > 0)
    });
    assert!(
        started,
        "the receive-dir never started: {:?}",
        listing(&work)
    );
    let (took, code, err) = signal_and_wait(&mut child, "TERM");
    assert_eq!(code, Some(14), "{err}");
    assert!(took < PROMPT, "exited {took:?} after SIGTERM");
    assert!(listing(&work).is_empty(), "no folder and no staging folder");
}
