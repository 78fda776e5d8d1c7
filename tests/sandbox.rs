//! The hostile-connector suite: components built from tests/hostile that each try one escape,
//! and what the sandbox makes of them. Every case must be contained with a clear error, leave
//! no side effect, and leave the runtime working for the next transfer.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use red_wasm::{Connector, ErrorKind, Limits, LogLevel, Observer, ReceiveTarget, TransferOptions};
use red_wasm_testkit::http::HttpServer;
use serde_json::json;
use support::*;

fn hostile() -> Connector {
    runtime()
        .load_file(&hostile_dir().join("hostile_contract.wasm"))
        .expect("the hostile connector loads: it only uses the contract")
}

async fn attack(
    attack: &str,
    extra: serde_json::Value,
    options: &TransferOptions,
    target: &std::path::Path,
) -> red_wasm::Result<red_wasm::Outcome> {
    let access = merged(&json!({"attack": attack}), extra);
    hostile()
        .receive(
            &access.to_string(),
            ReceiveTarget::File(target.to_path_buf()),
            options,
        )
        .await
}

#[tokio::test]
async fn no_filesystem() {
    let dir = temp();
    for name in ["read-passwd", "list-root"] {
        let target = dir.path().join(name);
        let err = attack(name, json!({}), &TransferOptions::default(), &target)
            .await
            .unwrap_err();
        assert!(!err.message.contains("root:"), "{err}");
        assert!(!target.exists(), "{name}: nothing written");
    }
    assert!(listing(dir.path()).is_empty());
    still_works().await;
}

#[tokio::test]
async fn no_environment_arguments_or_working_directory() {
    let dir = temp();
    let target = dir.path().join("env");
    attack("env", json!({}), &TransferOptions::default(), &target)
        .await
        .unwrap();
    let seen = String::from_utf8(std::fs::read(&target).unwrap()).unwrap();
    assert!(seen.starts_with("vars=[] args=[] cwd="), "{seen}");
    assert!(seen.ends_with("home="), "{seen}");
    assert!(!seen.contains("/root") && !seen.contains("PATH"), "{seen}");
}

#[tokio::test]
async fn a_host_not_allowed_is_never_contacted_directly_or_through_a_redirect() {
    let allowed = HttpServer::start();
    let forbidden = HttpServer::start();
    forbidden.put_file("x", b"secret data");
    let dir = temp();
    let target = dir.path().join("x");
    let hosts = json!({"url": allowed.base(), "target": format!("127.0.0.1:{}", forbidden.port())});
    for name in ["deny-host", "redirect-escape"] {
        let err = attack(name, hosts.clone(), &TransferOptions::default(), &target)
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Denied, "{name}: {err}");
        let flag = format!("--allow-host 127.0.0.1:{}", forbidden.port());
        assert!(err.message.contains(&flag), "{name}: {}", err.message);
    }
    assert!(
        forbidden.seen().is_empty(),
        "the forbidden server saw nothing"
    );
    assert_eq!(
        allowed.seen().len(),
        1,
        "only the redirect's first hop went out"
    );
    assert!(!target.exists());
}

#[derive(Default)]
struct Lines(Mutex<Vec<String>>);

impl Observer for Lines {
    fn log(&self, _level: LogLevel, message: &str) {
        self.0.lock().unwrap().push(message.to_owned());
    }
}

const PASSWORD: &str = "the-real-Pa55word";

#[tokio::test]
async fn a_sealed_password_reaches_no_server_log_or_error() {
    let server = HttpServer::start();
    let dir = temp();
    let lines = Arc::new(Lines::default());
    let options = TransferOptions {
        observer: lines.clone(),
        ..TransferOptions::default()
    };
    let access = json!({"url": server.base(), "password": PASSWORD});
    attack(
        "leak-request",
        access.clone(),
        &options,
        &dir.path().join("a"),
    )
    .await
    .unwrap();
    let seen = &server.seen()[0];
    let header = seen.header("x-leak").unwrap();
    assert!(
        header.starts_with("red-wasm-sealed-secret-"),
        "the server saw a token: {header}"
    );
    assert!(
        seen.target.contains("p=red-wasm-sealed-secret-"),
        "{}",
        seen.target
    );
    assert!(String::from_utf8_lossy(&seen.body).starts_with("red-wasm-sealed-secret-"));
    let everything = format!("{:?}", server.seen());
    assert!(
        !everything.contains(PASSWORD),
        "the password never left: {everything}"
    );

    let err = attack("leak-log", access, &options, &dir.path().join("b"))
        .await
        .unwrap_err();
    assert!(!err.message.contains(PASSWORD), "{err}");
    let logged = lines.0.lock().unwrap().join("\n");
    assert!(
        logged.contains("red-wasm-sealed-secret-") && !logged.contains(PASSWORD),
        "{logged}"
    );
}

fn limited(limits: Limits) -> TransferOptions {
    TransferOptions {
        limits,
        ..TransferOptions::default()
    }
}

#[tokio::test]
async fn memory_is_capped() {
    let dir = temp();
    let options = limited(Limits {
        max_memory: 32 << 20,
        ..Limits::default()
    });
    let err = attack("oom", json!({}), &options, &dir.path().join("o"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert!(
        err.message.contains("32 MiB") && err.message.contains("--max-memory"),
        "{err}"
    );
    assert!(listing(dir.path()).is_empty());
    still_works().await;
}

#[tokio::test]
async fn a_spinning_connector_is_stopped_by_time_or_fuel() {
    let dir = temp();
    let started = Instant::now();
    let options = limited(Limits {
        timeout: Some(Duration::from_millis(500)),
        ..Limits::default()
    });
    let err = attack("spin", json!({}), &options, &dir.path().join("s"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert!(err.message.contains("--timeout"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));

    let options = limited(Limits {
        fuel: Some(50_000_000),
        ..Limits::default()
    });
    let err = attack("spin", json!({}), &options, &dir.path().join("s"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert!(err.message.contains("--fuel"), "{err}");
    assert!(listing(dir.path()).is_empty());
    still_works().await;
}

#[tokio::test]
async fn a_spinning_connector_does_not_hold_up_other_transfers() {
    let dir = temp();
    let options = limited(Limits {
        timeout: Some(Duration::from_secs(3)),
        ..Limits::default()
    });
    let target = dir.path().join("s");
    let spin = attack("spin", json!({}), &options, &target);
    let honest = async {
        let started = Instant::now();
        still_works().await;
        started.elapsed()
    };
    let (spun, took) = tokio::join!(spin, honest);
    assert_eq!(spun.unwrap_err().kind, ErrorKind::Denied);
    assert!(
        took < Duration::from_secs(2),
        "the honest transfer took {took:?}"
    );
}

#[tokio::test]
async fn unbounded_recursion_is_a_contained_stack_overflow() {
    let dir = temp();
    let err = attack(
        "recurse",
        json!({}),
        &TransferOptions::default(),
        &dir.path().join("r"),
    )
    .await
    .unwrap_err();
    // The guest's stack lives in its linear memory: it runs out of that first.
    assert_eq!(err.kind, ErrorKind::Internal, "{err}");
    assert!(
        err.message.contains("crashed") && err.message.contains("stack"),
        "{err}"
    );
    assert!(
        err.message.lines().count() == 1,
        "one line, no backtrace: {err}"
    );
    still_works().await;
}

#[tokio::test]
async fn bytes_and_requests_are_capped() {
    let dir = temp();
    let options = limited(Limits {
        max_bytes: Some(5 << 20),
        ..Limits::default()
    });
    let err = attack("write-flood", json!({}), &options, &dir.path().join("w"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert!(err.message.contains("--max-bytes"), "{err}");
    assert!(listing(dir.path()).is_empty(), "no partial file");

    let server = HttpServer::start();
    let options = limited(Limits {
        max_requests: 20,
        ..Limits::default()
    });
    let err = attack(
        "request-flood",
        json!({"url": server.base()}),
        &options,
        &dir.path().join("q"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert!(err.message.contains("--max-requests"), "{err}");
    assert_eq!(server.seen().len(), 20);
}

#[test]
fn components_that_reach_outside_the_contract_are_rejected_at_load() {
    let dir = hostile_dir();
    let err = runtime()
        .load_file(&dir.join("hostile_socket.wasm"))
        .err()
        .expect("rejected");
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert!(err.message.contains("wasi:sockets/"), "{err}");
    let err = runtime()
        .load_file(&dir.join("hostile_import.wasm"))
        .err()
        .expect("rejected");
    assert!(err.message.contains("evil:spy/steal"), "{err}");
    let err = runtime()
        .load_file(&dir.join("hostile-other-world.wasm"))
        .err()
        .expect("rejected");
    assert!(
        err.message
            .contains("does not export red:connector/connector"),
        "{err}"
    );
}

#[test]
fn malformed_files_and_core_modules_are_rejected_at_load() {
    for (name, bytes) in [
        ("garbage.wasm", b"this is not wasm at all".to_vec()),
        ("truncated.wasm", b"\0asm\x0d\x00\x01\x00\x07".to_vec()),
        ("core.wasm", b"\0asm\x01\0\0\0".to_vec()),
    ] {
        let err = runtime().load_bytes(&bytes, name).err().expect("rejected");
        assert_eq!(err.kind, ErrorKind::Internal, "{name}: {err}");
        assert!(
            err.message.contains("not a loadable WebAssembly component"),
            "{name}: {err}"
        );
    }
}
