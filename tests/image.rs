//! Into any RED image, run by any user: the recipe of the README ("RED images") run in a fresh
//! folder as an image build would run it (as root), then the commands run as an unprivileged
//! user with no home, with compiling switched off, so that a launch that would compile fails.

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use red_wasm_testkit::http::HttpServer;
use serde_json::json;
use support::*;

/// Runs `program` as the user `nobody`, with `HOME=/nonexistent`, nothing else in the
/// environment but a PATH, and compiling switched off.
fn as_nobody(program: &Path, args: &[&str]) -> Output {
    Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "env",
            "-i",
        ])
        .args([
            "HOME=/nonexistent",
            "PATH=/usr/bin:/bin",
            "RED_WASM_COMPILE=never",
        ])
        .arg(program)
        .args(args)
        .output()
        .expect("run setpriv (util-linux)")
}

fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn the_image_recipe_gives_commands_that_never_compile_for_any_user() {
    if !root() {
        eprintln!("skipped: the recipe runs as root (an image build) and then as another user");
        return;
    }
    let image = tempfile::Builder::new()
        .prefix("red-wasm-image")
        .tempdir()
        .unwrap();
    let bin = image.path().join("usr/local/bin");
    let data = image.path().join("data");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    for dir in [
        image.path(),
        &image.path().join("usr"),
        &image.path().join("usr/local"),
        &bin,
    ] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();

    // The recipe: copy one file, run install-commands.
    let red_wasm = bin.join("red-wasm");
    std::fs::copy(env!("CARGO_BIN_EXE_red-wasm"), &red_wasm).unwrap();
    let out = Command::new(&red_wasm)
        .args(["install-commands"])
        .arg(&bin)
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let server = HttpServer::start();
    server.put_file("one-kib", &[7u8; 1024]);
    let access = data.join("access.json");
    std::fs::write(
        &access,
        json!({"url": server.url("/files/one-kib")}).to_string(),
    )
    .unwrap();
    std::fs::set_permissions(&access, std::fs::Permissions::from_mode(0o644)).unwrap();

    let target = data.join("cli1.bin");
    let out = as_nobody(
        &bin.join("red-connector-http"),
        &[
            "receive-file",
            access.to_str().unwrap(),
            target.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "CLI 1 as nobody: {}", stderr(&out));
    assert_eq!(std::fs::read(&target).unwrap(), [7u8; 1024]);

    // The binary itself finds the folder beside it, for `run` too.
    let target = data.join("run.bin");
    let out = as_nobody(
        &red_wasm,
        &[
            "run",
            "http",
            access.to_str().unwrap(),
            "-o",
            target.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "run as nobody: {}", stderr(&out));
    assert_eq!(std::fs::read(&target).unwrap(), [7u8; 1024]);

    // Without the folder the same launch would compile: switched off, it says so.
    std::fs::rename(
        bin.join(red_wasm::PRECOMPILED_DIR_NAME),
        image.path().join("moved"),
    )
    .unwrap();
    let out = as_nobody(
        &red_wasm,
        &[
            "run",
            "http",
            access.to_str().unwrap(),
            "-o",
            target.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(18), "{}", stderr(&out));
    assert!(stderr(&out).contains("not precompiled"), "{}", stderr(&out));
}

#[test]
fn a_precompiled_folder_that_others_may_write_is_not_trusted() {
    let dir = temp();
    let folder = dir.path().join("precompiled");
    let out = cli(&[
        "compile",
        "--out",
        folder.to_str().unwrap(),
        "http-mock-send",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let strict = |folder: &Path| {
        red_wasm::Runtime::with_options(red_wasm::RuntimeOptions {
            cache_dir: None,
            precompiled_dirs: vec![folder.to_path_buf()],
            compile: false,
            ..red_wasm::RuntimeOptions::default()
        })
        .unwrap()
    };
    strict(&folder)
        .load("http-mock-send")
        .expect("precompiled, trusted");
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = strict(&folder)
        .load("http-mock-send")
        .err()
        .expect("not trusted");
    assert!(err.message.contains("not precompiled"), "{err}");
}

#[test]
fn the_static_build_needs_no_shared_library() {
    if !cfg!(target_env = "musl") {
        eprintln!(
            "skipped: this is the glibc build; `.ci/test` tests the static one (--target x86_64-unknown-linux-musl)"
        );
        return;
    }
    // A static PIE (what Rust builds for musl, keeping address randomisation): glibc's ldd
    // calls it "statically linked", older ones "not a dynamic executable"; either way there
    // is no program interpreter and no shared library to need.
    let binary = env!("CARGO_BIN_EXE_red-wasm");
    let out = Command::new("ldd").arg(binary).output().expect("run ldd");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("statically linked") || said.contains("not a dynamic executable"),
        "ldd: {said}"
    );
    let elf = |flag: &str| {
        let out = Command::new("readelf")
            .args([flag, binary])
            .output()
            .expect("run readelf (binutils)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(!elf("-l").contains("INTERP"), "no program interpreter");
    assert!(!elf("-d").contains("(NEEDED)"), "no shared library needed");
}
