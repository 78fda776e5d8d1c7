//! Helpers shared by the integration tests: one runtime per test binary, transfers through
//! the library, and the `red-wasm` command as a subprocess.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use red_wasm::{
    Connector, Outcome, ReceiveTarget, Runtime, RuntimeOptions, Timeouts, TransferOptions,
};

/// The compiled-component cache the tests share (inside the target directory).
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("red-wasm-cache")
}

/// The runtime of this test binary.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::with_options(RuntimeOptions {
            cache_dir: Some(cache_dir()),
            ..RuntimeOptions::default()
        })
        .expect("runtime")
    })
}

/// A runtime whose HTTP clients give up after `idle` without a byte.
pub fn runtime_with_idle_timeout(idle: std::time::Duration) -> Runtime {
    Runtime::with_options(RuntimeOptions {
        cache_dir: Some(cache_dir()),
        timeouts: Timeouts {
            idle,
            ..Timeouts::default()
        },
        ..RuntimeOptions::default()
    })
    .expect("runtime")
}

/// Receives with `name` into `target` as an embedder that means "no limit" by the longest
/// Duration does: as the runtime's idle timeout and as the transfer's time limit.
pub async fn receive_with_the_longest_durations(
    name: &str,
    access: serde_json::Value,
    target: &Path,
) -> red_wasm::Result<Outcome> {
    let options = TransferOptions {
        limits: red_wasm::Limits {
            timeout: Some(std::time::Duration::MAX),
            ..red_wasm::Limits::default()
        },
        ..TransferOptions::default()
    };
    runtime_with_idle_timeout(std::time::Duration::MAX)
        .load(name)
        .expect("built-in connector")
        .receive(
            &access.to_string(),
            ReceiveTarget::File(target.to_path_buf()),
            &options,
        )
        .await
}

pub fn connector(name: &str) -> Connector {
    runtime().load(name).expect("built-in connector")
}

/// Receives with `connector` into `target`.
pub async fn receive(
    name: &str,
    access: serde_json::Value,
    target: &Path,
) -> red_wasm::Result<Outcome> {
    connector(name)
        .receive(
            &access.to_string(),
            ReceiveTarget::File(target.to_path_buf()),
            &TransferOptions::default(),
        )
        .await
}

/// Sends `source` with `connector`.
pub async fn send(
    name: &str,
    access: serde_json::Value,
    source: &Path,
) -> red_wasm::Result<Outcome> {
    connector(name)
        .send(&access.to_string(), source, &TransferOptions::default())
        .await
}

/// Runs the `red-wasm` command with `args`.
pub fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_red-wasm"))
        .args(args)
        .env("RED_WASM_CACHE_DIR", cache_dir())
        .output()
        .expect("run red-wasm")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The names in `dir`, sorted: to check that nothing (not even a temporary file) was left.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A fresh temporary folder, removed on drop.
pub fn temp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// `base` with the fields of `fields` set (replacing those it had).
pub fn merged(base: &serde_json::Value, fields: serde_json::Value) -> serde_json::Value {
    let mut doc = base.clone();
    for (key, value) in fields.as_object().expect("an object of fields") {
        doc[key] = value.clone();
    }
    doc
}

/// Builds tests/hostile once per test process and returns its output folder.
pub fn hostile_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/hostile");
        let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hostile");
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--release",
                "--locked",
                "--target",
                "wasm32-wasip2",
            ])
            .arg("--manifest-path")
            .arg(root.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .status()
            .expect("run cargo for tests/hostile");
        assert!(status.success(), "building tests/hostile failed");
        target.join("wasm32-wasip2/release")
    })
}

/// After an attack or a failure, an honest transfer on the shared runtime still works.
pub async fn still_works() {
    let server = red_wasm_testkit::http::HttpServer::start();
    server.put_file("ok", b"fine");
    let dir = temp();
    let access = serde_json::json!({"url": server.url("/files/ok")});
    receive("http", access, &dir.path().join("ok"))
        .await
        .unwrap();
    assert_eq!(std::fs::read(dir.path().join("ok")).unwrap(), b"fine");
}

/// A connector component whose core module has `extra` memories besides its main one, and
/// whose receive grows each by `pages` 64 KiB pages: built from WebAssembly text with the
/// contract's WIT, as a connector author's toolchain would.
pub fn component_with_memories(extra: usize, pages: u32) -> Vec<u8> {
    let memories: String = (0..extra).map(|i| format!("(memory $m{i} 0)\n")).collect();
    let grow: String = (0..extra)
        .map(|i| format!("(drop (memory.grow $m{i} (i32.const {pages})))\n"))
        .collect();
    let export = "red:connector/connector@0.1.0#";
    let wat = format!(
        r#"(module
          (memory (export "memory") 1)
          {memories}
          (global $next (mut i32) (i32.const 1024))
          (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
            (local $p i32)
            (local.set $p (i32.and (i32.add (global.get $next) (i32.const 7)) (i32.const -8)))
            (global.set $next (i32.add (local.get $p) (local.get 3)))
            (local.get $p))
          (func (export "{export}info") (result i32) (i32.const 32))
          (func (export "{export}validate-receive") (param i32 i32) (result i32) (i32.const 16))
          (func (export "{export}validate-send") (param i32 i32) (result i32) (i32.const 16))
          (func (export "{export}receive") (param i32 i32 i32) (result i32) {grow} (i32.const 16))
          (func (export "{export}send") (param i32 i32 i32) (result i32) (i32.const 16))
          (data (i32.const 32) "\40\00\00\00\01\00\00\00\40\00\00\00\01\00\00\00\40\00\00\00\01\00\00\00\41\00\00\00\02\00\00\00")
          (data (i32.const 64) "x{{}}"))"#
    );
    let mut module = wat::parse_str(&wat).expect("the module's text");
    let mut resolve = wit_parser::Resolve::default();
    let wit = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let (package, _) = resolve.push_dir(&wit).expect("the contract");
    let world = resolve
        .select_world(&[package], Some("connector-component"))
        .expect("the world");
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .unwrap();
    wit_component::ComponentEncoder::default()
        .module(&module)
        .unwrap()
        .validate(true)
        .encode()
        .expect("a component")
}
