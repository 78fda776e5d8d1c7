//! For connector authors: the SDKs carry the contract, `red-wasm new` projects build and pass
//! their own tests, the worked examples (a checksum-verifying HTTP receive in Rust and in
//! Python) build outside the repository's workspaces and run through `red-wasm run` on
//! loopback, and a Python connector meets the sandbox as a Rust one does.
//!
//! The Python parts need componentize-py, which `.ci/deps` installs into
//! `.ci/.venv-componentize`; without it they are skipped with a printed reason.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use red_wasm::{ErrorKind, ReceiveTarget, TransferOptions};
use red_wasm_testkit::http::{pattern, HttpServer};
use serde_json::json;
use support::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where author builds go (shared, so that the Rust dependencies compile once).
fn scratch() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("authors")
}

/// The Python that has componentize-py, or `None` (and why, printed).
fn python() -> Option<PathBuf> {
    let python = repo().join(".ci/.venv-componentize/bin/python");
    if python.exists() {
        Some(python)
    } else {
        eprintln!("skipped: no componentize-py in .ci/.venv-componentize (run `bash .ci/deps`)");
        None
    }
}

fn run(command: &mut Command) -> std::process::Output {
    let out = command.output().expect("run a build");
    assert!(
        out.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A cargo command for a crate outside the host workspace, building for wasm32-wasip2.
fn cargo_wasm(dir: &Path) -> Command {
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .current_dir(dir)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .env("CARGO_TARGET_DIR", scratch().join("rust-target"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    cargo
}

#[test]
fn every_copy_of_the_contract_is_the_contract() {
    let contract = std::fs::read_to_string(repo().join("wit/connector.wit")).unwrap();
    for copy in [
        "connectors/sdk/wit/connector.wit",
        "connectors/python/red_connector/wit/connector.wit",
    ] {
        let text = std::fs::read_to_string(repo().join(copy)).unwrap();
        assert!(
            text == contract,
            "{copy} differs from wit/connector.wit: copy it again"
        );
    }
}

#[test]
fn new_projects_build_and_pass_their_own_tests() {
    let dir = temp();
    let red_wasm = env!("CARGO_BIN_EXE_red-wasm");
    let mut langs = vec!["rust"];
    let python = python();
    if python.is_some() {
        langs.push("python");
    }
    for lang in langs {
        let name = format!("new-{lang}");
        let out = cli(&[
            "new",
            &name,
            "--lang",
            lang,
            "--dir",
            dir.path().to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let mut test = Command::new(dir.path().join(&name).join("test.sh"));
        test.env("RED_WASM", red_wasm)
            .env("RED_WASM_CACHE_DIR", cache_dir())
            .env("CARGO_TARGET_DIR", scratch().join("rust-target"))
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS");
        if let Some(python) = &python {
            test.env("PYTHON", python);
        }
        let out = run(&mut test);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains("test: 3 passed, 0 failed"), "{lang}: {said}");
    }
    let out = cli(&[
        "new",
        "Bad Name",
        "--lang",
        "rust",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
}

/// The examples' components, built once: (label, .wasm).
fn examples() -> &'static Vec<(&'static str, PathBuf)> {
    static BUILT: OnceLock<Vec<(&'static str, PathBuf)>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut built = Vec::new();
        run(&mut cargo_wasm(&repo().join("examples/checksum-rust")));
        built.push((
            "rust",
            scratch().join("rust-target/wasm32-wasip2/release/checksum_rust.wasm"),
        ));
        if let Some(python) = python() {
            let out = scratch().join("checksum-python.wasm");
            std::fs::create_dir_all(scratch()).unwrap();
            run(Command::new(&python)
                .args(["-m", "red_connector", "build", "app.py", "-o"])
                .arg(&out)
                .current_dir(repo().join("examples/checksum-python"))
                .env("PYTHONPATH", repo().join("connectors/python")));
            built.push(("python", out));
        }
        built
    })
}

#[tokio::test]
async fn the_checksum_examples_keep_verified_bytes_only() {
    let server = HttpServer::start();
    let data = pattern(3 << 20);
    server.put_file("data.bin", &data);
    use sha2::Digest as _;
    let digest: String = sha2::Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let wrong: String = digest.chars().rev().collect();
    for (lang, wasm) in examples() {
        let connector = runtime().load_file(wasm).unwrap();
        let dir = temp();
        let target = dir.path().join("data.bin");
        let access = json!({"url": server.url("/files/data.bin"), "sha256": digest});
        connector
            .receive(
                &access.to_string(),
                ReceiveTarget::File(target.clone()),
                &TransferOptions::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("{lang}: {e}"));
        assert_eq!(std::fs::read(&target).unwrap(), data, "{lang}");

        let bad = json!({"url": server.url("/files/data.bin"), "sha256": wrong});
        let other = dir.path().join("bad.bin");
        let err = connector
            .receive(
                &bad.to_string(),
                ReceiveTarget::File(other.clone()),
                &TransferOptions::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Remote, "{lang}: {err}");
        assert!(err.message.contains("SHA-256"), "{lang}: {err}");
        assert!(!other.exists(), "{lang}: nothing kept");

        let invalid = json!({"url": "ftp://x", "sha256": "12", "colour": "red"});
        let err = connector
            .validate(red_wasm::Direction::Receive, &invalid.to_string())
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidAccess, "{lang}: {err}");
        for path in ["/url:", "/sha256:", "/colour: unknown field"] {
            assert!(err.message.contains(path), "{lang}: {path} in {err}");
        }
    }
}

#[tokio::test]
async fn a_python_connector_meets_the_sandbox_and_says_why_it_crashed() {
    let Some(python) = python() else {
        return;
    };
    let wasm = scratch().join("hostile-python.wasm");
    std::fs::create_dir_all(scratch()).unwrap();
    run(Command::new(&python)
        .args(["-m", "red_connector", "build", "hostile_app.py", "-o"])
        .arg(&wasm)
        .current_dir(repo().join("tests/python"))
        .env("PYTHONPATH", repo().join("connectors/python")));
    let connector = runtime()
        .load_file(&wasm)
        .expect("CPython's socket imports load");
    let dir = temp();
    let receive = |access: serde_json::Value, name: &str| {
        let target = dir.path().join(name);
        let connector = connector.clone();
        async move {
            let result = connector
                .receive(
                    &access.to_string(),
                    ReceiveTarget::File(target.clone()),
                    &TransferOptions::default(),
                )
                .await;
            (result, target)
        }
    };

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (result, target) = receive(json!({"attack": "socket", "port": port}), "s").await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Network, "{err}");
    assert!(err.message.contains("socket refused"), "{err}");
    assert!(!target.exists());
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(listener.accept().is_err(), "the listening port saw nothing");

    let (result, _) = receive(json!({"attack": "raise"}), "r").await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Internal, "{err}");
    assert!(
        err.message.contains("Traceback") && err.message.contains("ZeroDivisionError"),
        "{err}"
    );

    let (result, target) = receive(json!({"attack": "clock"}), "c").await;
    result.unwrap();
    let seen = std::fs::read_to_string(&target).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let time: u64 = seen.split(['=', ' ']).nth(1).unwrap().parse().unwrap();
    assert!(time.abs_diff(now) < 600, "the clock works: {seen}");
    assert_eq!(seen.split("random=").nth(1).unwrap().len(), 32, "{seen}");
}

#[tokio::test]
async fn serve_streams_files_and_never_leaves_its_folder() {
    use std::io::BufRead as _;
    let dir = temp();
    let served = dir.path().join("served");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&served).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), b"outside").unwrap();
    std::os::unix::fs::symlink(&outside, served.join("link")).unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_red-wasm"))
        .args(["serve"])
        .arg(&served)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line.trim().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let client = reqwest::Client::new();
    let data = pattern(3 << 20);
    let put = client
        .put(format!("{base}/a/b/data.bin"))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    assert_eq!(std::fs::read(served.join("a/b/data.bin")).unwrap(), data);
    let got = client
        .get(format!("{base}/a/b/data.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), &data[..]);
    for path in [
        "/link/secret.txt",
        "/../outside/secret.txt",
        "/a/%2e%2e/%2e%2e/outside/secret.txt",
    ] {
        let response = client.get(format!("{base}{path}")).send().await.unwrap();
        let status = response.status();
        let body = response.bytes().await.unwrap();
        assert!(status == 400 || status == 404, "{path}: {status}");
        assert_ne!(body.as_ref(), b"outside", "{path}");
    }
    let status = client
        .put(format!("{base}/link/planted.txt"))
        .body("x")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 400);
    assert!(
        !outside.join("planted.txt").exists(),
        "nothing written through the link"
    );
    let _ = server.kill();
    let _ = server.wait();
}
