//! The hostile-connector suite: components built from tests/hostile that each try one escape,
//! and what the sandbox makes of them. Every case must be contained with a clear error, leave
//! no side effect, and leave the runtime working for the next transfer.

mod support;

use std::process::Command;
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

/// Runs an attack that a limit or the policy must stop, and returns the `denied` error.
async fn denied(
    name: &str,
    extra: serde_json::Value,
    options: &TransferOptions,
    target: &std::path::Path,
) -> red_wasm::Error {
    let err = attack(name, extra, options, target)
        .await
        .expect_err("the sandbox stops it");
    assert_eq!(err.kind, ErrorKind::Denied, "{name}: {err}");
    err
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
    let err = denied("oom", json!({}), &options, &dir.path().join("o")).await;
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
    let err = denied("spin", json!({}), &options, &dir.path().join("s")).await;
    assert!(err.message.contains("--timeout"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));

    let options = limited(Limits {
        fuel: Some(50_000_000),
        ..Limits::default()
    });
    let err = denied("spin", json!({}), &options, &dir.path().join("s")).await;
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
    let err = denied("write-flood", json!({}), &options, &dir.path().join("w")).await;
    assert!(err.message.contains("--max-bytes"), "{err}");
    assert!(listing(dir.path()).is_empty(), "no partial file");

    let server = HttpServer::start();
    let options = limited(Limits {
        max_requests: 20,
        ..Limits::default()
    });
    let err = denied(
        "request-flood",
        json!({"url": server.base()}),
        &options,
        &dir.path().join("q"),
    )
    .await;
    assert!(err.message.contains("--max-requests"), "{err}");
    assert_eq!(server.seen().len(), 20);
}

#[test]
fn components_that_reach_outside_the_contract_are_rejected_at_load() {
    let dir = hostile_dir();
    let err = runtime()
        .load_file(&dir.join("hostile_import.wasm"))
        .err()
        .expect("rejected");
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
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

#[tokio::test]
async fn sockets_link_but_reach_nothing() {
    // std (and CPython) link the WASI socket interfaces; the host refuses every socket.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let socket = runtime()
        .load_file(&hostile_dir().join("hostile_socket.wasm"))
        .expect("a component linking wasi:sockets loads");
    let dir = temp();
    for address in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        let target = dir.path().join("s");
        let access = json!({"address": address}).to_string();
        let err = socket
            .receive(
                &access,
                ReceiveTarget::File(target.clone()),
                &TransferOptions::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Network, "{address}: {err}");
        assert!(!target.exists());
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        listener.accept().is_err(),
        "the listening port saw no connection"
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

// ---------------------------------------------------------------------------------------------
// Credentials: only the user decides where a password goes, and in which slot.

/// Receives with the hostile connector and returns what it wrote.
async fn attack_output(name: &str, extra: serde_json::Value) -> red_wasm::Result<String> {
    let dir = temp();
    let target = dir.path().join("out");
    attack(name, extra, &TransferOptions::default(), &target).await?;
    Ok(String::from_utf8_lossy(&std::fs::read(&target).unwrap()).into_owned())
}

#[tokio::test]
async fn a_connector_cannot_switch_tls_checks_off_by_itself() {
    let server = HttpServer::start_tls();
    let access = json!({"url": server.base(), "password": PASSWORD});
    let err = attack_output("tls-skip", access.clone()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert!(err.message.contains("disableSSLVerification"), "{err}");
    assert!(err.message.contains("--insecure-host"), "{err}");
    assert!(
        server.seen().is_empty(),
        "nothing went out, least of all the password"
    );

    // Where the user said so, the same request goes through.
    let allowed = merged(&access, json!({"disableSSLVerification": true}));
    let echoed = attack_output("tls-skip", allowed).await.unwrap();
    assert!(echoed.starts_with("Basic "), "{echoed}");
    let options = TransferOptions {
        insecure_tls_hosts: vec![red_wasm::HostRule::parse(&format!(
            "127.0.0.1:{}",
            server.port()
        ))
        .unwrap()],
        ..TransferOptions::default()
    };
    let dir = temp();
    attack("tls-skip", access, &options, &dir.path().join("x"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_password_token_is_never_revealed_as_a_user_name() {
    let server = HttpServer::start();
    let echoed = attack_output(
        "digest-username",
        json!({"url": server.base(), "password": PASSWORD}),
    )
    .await
    .unwrap();
    assert!(echoed.starts_with("Digest "), "{echoed}");
    assert!(
        echoed.contains("username=\"red-wasm-sealed-secret-"),
        "{echoed}"
    );
    assert!(!format!("{:?}", server.seen()).contains(PASSWORD));
}

#[tokio::test]
async fn a_request_carries_one_set_of_credentials() {
    let server = HttpServer::start();
    let echoed = attack_output(
        "userinfo-and-auth",
        json!({"url": server.base(), "password": PASSWORD}),
    )
    .await
    .unwrap();
    let expected = format!("Basic {}", base64_of(&format!("alice:{PASSWORD}")));
    assert_eq!(
        echoed, expected,
        "one Authorization header: the request's own credentials"
    );
    let seen = &server.seen()[0];
    assert!(!seen.target.contains("mallory"), "{}", seen.target);
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn an_sftp_password_token_is_not_a_user_name() {
    use red_wasm_testkit::sshd::{Sshd, PASSWORD as SSH_PASSWORD, USER as SSH_USER};
    let sshd = Sshd::start();
    // The secret's value is the real account name: were the token revealed as the user name,
    // the login (with the right password, given in clear) would succeed.
    let access =
        json!({"host": "127.0.0.1", "port": sshd.port(), "password": SSH_USER, "pw": SSH_PASSWORD});
    let err = attack_output("sftp-username", access).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    assert!(err.message.contains("red-wasm-sealed-secret-"), "{err}");
}

#[test]
fn secrets_that_are_not_strings_are_sealed_and_containers_refused() {
    let server = HttpServer::start();
    let dir = temp();
    let object = dir.path().join("leak.yml");
    let wasm = hostile_dir().join("hostile_contract.wasm");
    std::fs::write(
        &object,
        format!(
            "component: {}\naccess:\n  attack: leak-log\n  url: \"{}\"\n  password: 12345678\n  Password: 87654321\n",
            wasm.display(),
            server.base()
        ),
    )
    .unwrap();
    let out = cli(&[
        "run",
        object.to_str().unwrap(),
        "-o",
        dir.path().join("o").to_str().unwrap(),
    ]);
    let text = stderr(&out);
    assert!(
        !text.contains("12345678") && !text.contains("87654321"),
        "{text}"
    );
    assert!(
        text.contains("red-wasm-sealed-secret-"),
        "the connector got a token: {text}"
    );

    std::fs::write(
        &object,
        format!(
            "component: {}\naccess:\n  attack: leak-log\n  auth:\n    password: [a, b]\n",
            wasm.display()
        ),
    )
    .unwrap();
    let out = cli(&[
        "run",
        object.to_str().unwrap(),
        "-o",
        dir.path().join("o").to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(10),
        "invalid access: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("/auth/password: a secret field"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn an_echoed_password_is_masked_in_its_wire_forms_and_across_the_cut() {
    let server = HttpServer::start();
    let lines = Arc::new(Lines::default());
    let options = TransferOptions {
        observer: lines.clone(),
        ..TransferOptions::default()
    };
    let dir = temp();
    let access = json!({"url": server.base(), "password": PASSWORD});
    let err = attack("echo-auth", access, &options, &dir.path().join("e"))
        .await
        .unwrap_err();
    let logged = lines.0.lock().unwrap().join("\n");
    let hex: String = PASSWORD.bytes().map(|b| format!("{b:02x}")).collect();
    let percent: String = PASSWORD.bytes().map(|b| format!("%{b:02X}")).collect();
    let basic = base64_of(&format!("alice:{PASSWORD}"));
    for (what, text) in [("log", &logged), ("error", &err.message)] {
        for form in [
            PASSWORD,
            &hex,
            &hex.to_uppercase(),
            &percent,
            &basic,
            &PASSWORD[..8],
        ] {
            assert!(!text.contains(form), "{what} shows {form}: {text}");
        }
    }
    assert!(logged.contains("raw ***"), "{logged}");
    assert!(!dir.path().join("e").exists());
}

#[tokio::test]
async fn validation_is_offline_and_unseals_nothing() {
    let server = HttpServer::start();
    let access = json!({"attack": "validate-leak", "url": server.base(), "password": PASSWORD});
    let err = hostile()
        .validate(red_wasm::Direction::Receive, &access.to_string())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert!(server.seen().is_empty(), "validation sent nothing");
    let out = cli(&[
        "validate",
        hostile_dir()
            .join("hostile_contract.wasm")
            .to_str()
            .unwrap(),
        &access.to_string(),
    ]);
    assert_eq!(out.status.code(), Some(14), "{}", stderr(&out));
    assert!(server.seen().is_empty(), "validation sent nothing");
}

// ---------------------------------------------------------------------------------------------
// Limits hold for the transfer as a whole.

#[tokio::test]
async fn max_memory_bounds_all_memories_together_and_their_number() {
    let dir = temp();
    let options = limited(Limits {
        max_memory: 64 << 20,
        ..Limits::default()
    });
    // 12 memories of 8 MiB: 96 MiB in all, each one far under the limit.
    let many = runtime()
        .load_bytes(&component_with_memories(12, 128), "many-memories")
        .unwrap();
    let target = dir.path().join("m");
    let err = many
        .receive("{}", ReceiveTarget::File(target.clone()), &options)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert!(
        err.message.contains("--max-memory") && err.message.contains("64 MiB"),
        "{err}"
    );
    // The same component within its limit runs (so the limit, not the component, failed).
    let roomy = limited(Limits {
        max_memory: 256 << 20,
        ..Limits::default()
    });
    many.receive("{}", ReceiveTarget::File(target.clone()), &roomy)
        .await
        .unwrap();

    let crowd = runtime()
        .load_bytes(&component_with_memories(40, 0), "forty-memories")
        .unwrap();
    let err = crowd
        .receive(
            "{}",
            ReceiveTarget::File(dir.path().join("c")),
            &TransferOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert!(err.message.contains("memories"), "{err}");
    still_works().await;
}

#[tokio::test]
async fn max_bytes_counts_bodies_the_connector_builds() {
    let server = HttpServer::start();
    let dir = temp();
    let options = limited(Limits {
        max_bytes: Some(1 << 20),
        ..Limits::default()
    });
    let err = denied(
        "body-flood",
        json!({"url": server.base()}),
        &options,
        &dir.path().join("b"),
    )
    .await;
    assert!(err.message.contains("--max-bytes"), "{err}");
    let sent: u64 = server.seen().iter().map(|s| s.body_len).sum();
    assert_eq!(sent, 0, "no 10 MiB body went out under a 1 MiB limit");
}

#[tokio::test]
async fn held_responses_are_bounded_and_named() {
    let server = HttpServer::start();
    server.put_file("x", b"x");
    let dir = temp();
    let options = limited(Limits {
        max_requests: 100_000,
        max_open: 16,
        ..Limits::default()
    });
    let err = denied(
        "hold-responses",
        json!({"url": server.base()}),
        &options,
        &dir.path().join("h"),
    )
    .await;
    assert!(
        err.message.contains("--max-open") && err.message.contains("16"),
        "{err}"
    );
    assert_eq!(
        server.seen().len(),
        16,
        "no request beyond the limit went out"
    );
    still_works().await;
}

// ---------------------------------------------------------------------------------------------
// Messages: bounded, escaped, one line each.

#[test]
fn connector_messages_are_bounded_and_cannot_forge_lines_or_escapes() {
    let wasm = hostile_dir().join("hostile_contract.wasm");
    let wasm = wasm.to_str().unwrap();
    let dir = temp();
    let out_file = dir.path().join("o");
    let run = |attack: &str| {
        cli(&[
            "run",
            wasm,
            &json!({"attack": attack}).to_string(),
            "-o",
            out_file.to_str().unwrap(),
        ])
    };
    let out = run("forge-log");
    let text = stderr(&out);
    assert!(
        !text.contains('\x1b') && !text.contains('\r') && !text.contains('\x07'),
        "{text:?}"
    );
    for line in text.lines() {
        assert!(
            !line.starts_with("red-wasm: denied: forged")
                && !line.starts_with("red-wasm: error: forged"),
            "a forged line: {text}"
        );
    }
    assert!(
        text.contains("innocent\\nred-wasm: denied: forged"),
        "escaped, on one line: {text}"
    );
    assert!(text.contains("\\u{1b}[31m"), "{text}");

    for attack in ["huge-log", "huge-error"] {
        let out = run(attack);
        let text = stderr(&out);
        assert!(
            text.len() < 20_000,
            "{attack}: {} bytes on stderr",
            text.len()
        );
        assert!(
            text.contains("[cut: 104857600 bytes in all]"),
            "{attack}: {}",
            &text[text.len() - 200..]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The local output: special files are written, never replaced.

#[test]
fn devices_and_fifos_are_written_in_place_never_replaced() {
    use std::os::unix::fs::FileTypeExt as _;
    let server = HttpServer::start();
    server.put_file("data", b"to the device");
    let url = server.url("/files/data");
    let out = cli(&[
        "run",
        "http",
        &json!({"url": url}).to_string(),
        "-o",
        "/dev/null",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let meta = std::fs::metadata("/dev/null").unwrap();
    assert!(
        meta.file_type().is_char_device(),
        "/dev/null is still a device"
    );

    let dir = temp();
    let fifo = dir.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let out = cli(&[
        "run",
        "http",
        &json!({"url": url}).to_string(),
        "-o",
        fifo.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(reader.join().unwrap(), b"to the device");
    assert!(
        std::fs::metadata(&fifo).unwrap().file_type().is_fifo(),
        "still a FIFO"
    );
    assert_eq!(listing(dir.path()), ["fifo"], "no temporary file beside it");

    // A twin of /dev/null made by root: a device, written, kept.
    let twin = dir.path().join("null");
    if Command::new("mknod")
        .arg(&twin)
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success())
    {
        let out = cli(&[
            "run",
            "http",
            &json!({"url": url}).to_string(),
            "-o",
            twin.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(std::fs::metadata(&twin)
            .unwrap()
            .file_type()
            .is_char_device());
    } else {
        eprintln!("skipped the mknod twin of /dev/null: mknod needs root");
    }
}

// ---------------------------------------------------------------------------------------------
// Load-time checks come before compiling, and a rejected component is never cached.

#[test]
fn rejected_components_are_not_compiled_or_cached() {
    let dir = temp();
    let cache = dir.path().join("cache");
    let fresh = red_wasm::Runtime::with_options(red_wasm::RuntimeOptions {
        cache_dir: Some(cache.clone()),
        ..red_wasm::RuntimeOptions::default()
    })
    .unwrap();
    for name in ["hostile_import.wasm", "hostile-other-world.wasm"] {
        assert!(
            fresh.load_file(&hostile_dir().join(name)).is_err(),
            "{name}"
        );
    }
    let cached = std::fs::read_dir(&cache).map_or(0, |d| d.count());
    assert_eq!(cached, 0, "nothing rejected was cached");
    let err = fresh
        .load_bytes(b"#!/bin/sh\necho not wasm\n", "script.wasm")
        .err()
        .unwrap();
    assert_eq!(err.message.lines().count(), 1, "{err}");
    assert!(err.message.contains("not a WebAssembly file"), "{err}");
    fresh
        .load_file(&hostile_dir().join("hostile_contract.wasm"))
        .unwrap();
    let entries = listing(&cache);
    assert!(
        entries.len() == 2 && entries.iter().any(|e| e.ends_with(".cwasm")),
        "an accepted one is, with its checksum: {entries:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// XNAT names that would address another resource.

#[tokio::test]
async fn xnat_names_that_are_dots_empty_or_control_characters_are_invalid() {
    let xnat = red_wasm_testkit::xnat::XnatServer::start();
    let base = json!({"baseUrl": xnat.base(), "project": "P1", "resource": "R",
                      "auth": {"username": "u", "password": "xnat-Pa55"}});
    for (field, value) in [
        ("file", ".."),
        ("file", "."),
        ("resource", ".."),
        ("project", "a\tb"),
        ("file", "x\ny"),
        ("subject", ".."),
        ("file", "..;jsessionid=x"),
        ("resource", "a;b"),
    ] {
        let mut access = merged(&base, json!({"file": "f.txt"}));
        access[field] = json!(value);
        if field == "subject" {
            access["session"] = json!("E");
        }
        let dir = temp();
        let err = receive("xnat", access, &dir.path().join("x"))
            .await
            .unwrap_err();
        assert_eq!(
            err.kind,
            ErrorKind::InvalidAccess,
            "{field}={value:?}: {err}"
        );
        assert!(
            err.message.contains(&format!("/{field}:")),
            "{field}: {err}"
        );
    }
    assert!(xnat.seen().is_empty(), "no request was made");
}

#[tokio::test]
async fn wasi_handles_are_bounded_too() {
    let dir = temp();
    let target = dir.path().join("p");
    let err = denied(
        "pollable-flood",
        json!({}),
        &TransferOptions::default(),
        &target,
    )
    .await;
    assert!(err.message.contains("4096 handles"), "{err}");
    assert!(!target.exists());
    still_works().await;
}

#[tokio::test]
async fn a_crashed_connector_says_why_in_its_error() {
    let dir = temp();
    let err = attack(
        "panic",
        json!({"reason": "the index was out of range", "password": PASSWORD}),
        &TransferOptions::default(),
        &dir.path().join("p"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Internal, "{err}");
    assert!(err.message.contains("crashed"), "{err}");
    assert!(
        err.message
            .contains("deliberate panic: the index was out of range"),
        "the panic message is in the error: {err}"
    );
    still_works().await;
}

#[tokio::test]
async fn a_flood_of_headers_is_refused_not_a_crash() {
    let server = HttpServer::start();
    let dir = temp();
    let err = denied(
        "header-flood",
        json!({"url": server.base()}),
        &TransferOptions::default(),
        &dir.path().join("h"),
    )
    .await;
    assert!(err.message.contains("100 headers"), "{err}");
    assert!(server.seen().is_empty());
    still_works().await;
}

#[tokio::test]
async fn bytes_in_urls_and_headers_count_against_max_bytes() {
    let server = HttpServer::start();
    let dir = temp();
    let options = limited(Limits {
        max_bytes: Some(100_000),
        ..Limits::default()
    });
    let err = denied(
        "header-bytes",
        json!({"url": server.base()}),
        &options,
        &dir.path().join("b"),
    )
    .await;
    assert!(err.message.contains("--max-bytes"), "{err}");
    assert!(
        server.seen().len() <= 1,
        "{} requests went out",
        server.seen().len()
    );
}

#[tokio::test]
async fn an_access_document_the_host_cannot_read_never_reaches_the_connector() {
    let lines = Arc::new(Lines::default());
    let options = TransferOptions {
        observer: lines.clone(),
        ..TransferOptions::default()
    };
    let dir = temp();
    for access in [
        format!(r#"{{"attack": "leak-log", "password": "{PASSWORD}", }}"#),
        format!(r#"{{"attack": "leak-log", "password": "{PASSWORD}", "size": 1e400}}"#),
    ] {
        let err = hostile()
            .receive(&access, ReceiveTarget::File(dir.path().join("x")), &options)
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidAccess, "{err}");
        assert!(!err.message.contains(PASSWORD), "{err}");
    }
    assert!(
        lines.0.lock().unwrap().is_empty(),
        "the connector never ran"
    );
    // A byte-order mark is no reason to refuse: the document is read, and sealed.
    let access = format!(
        "{}{}",
        '\u{feff}',
        json!({"attack": "leak-log", "password": PASSWORD})
    );
    let err = hostile()
        .receive(&access, ReceiveTarget::File(dir.path().join("x")), &options)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Remote, "the connector ran: {err}");
    let logged = lines.0.lock().unwrap().join("\n");
    assert!(
        logged.contains("red-wasm-sealed-secret-") && !logged.contains(PASSWORD),
        "{logged}"
    );
}

#[tokio::test]
async fn a_secret_value_never_widens_the_allow_list() {
    let server = HttpServer::start();
    let dir = temp();
    // A password that reads as a URL: sealed, it allows nothing and is named nowhere.
    let access = json!({"url": server.base(), "target": "secret.test:443",
                        "password": "https://secret.test/"});
    let err = denied(
        "deny-host",
        access,
        &TransferOptions::default(),
        &dir.path().join("d"),
    )
    .await;
    assert!(
        !err.message.contains("allowed: https://secret.test"),
        "{err}"
    );
}

#[test]
fn a_component_that_changes_while_it_is_read_is_not_cached_as_the_other() {
    let dir = temp();
    let fifo = dir.path().join("changing.wasm");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // The first read (the cache key) sees one component, the second (compiling) another.
    {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            for name in ["http-mock-send", "http-json"] {
                let bytes = red_wasm::builtin_component(name).unwrap();
                // Until a reader takes it whole (a reader that saw the end may still hold the
                // pipe open a moment, and the write then fails).
                for _ in 0..50 {
                    if std::fs::write(&fifo, bytes).is_ok() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
    }
    let cache = dir.path().join("cache");
    let (done, result) = std::sync::mpsc::channel();
    {
        let (fifo, cache) = (fifo.clone(), cache.clone());
        std::thread::spawn(move || {
            let fresh = red_wasm::Runtime::with_options(red_wasm::RuntimeOptions {
                cache_dir: Some(cache),
                precompiled_dirs: Vec::new(),
                ..red_wasm::RuntimeOptions::default()
            })
            .unwrap();
            let _ = done.send(fresh.load_file(&fifo).err());
        });
    }
    let err = result
        .recv_timeout(Duration::from_secs(30))
        .expect("the load ends")
        .expect("refused");
    assert!(err.message.contains("changed while it was read"), "{err}");
    assert!(
        std::fs::read_dir(&cache).map_or(0, |d| d.count()) == 0,
        "no entry was made"
    );
}
