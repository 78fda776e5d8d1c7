//! Builds the built-in connector components (`connectors/builtin/*`) for wasm32-wasip2 and
//! embeds them, so that `red-wasm` carries them and nobody builds them by hand.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Built-in name, cargo package directory under connectors/builtin/.
const BUILTINS: &[&str] = &[
    "http",
    "http-json",
    "http-mock-send",
    "http-archive",
    "sftp",
    "xnat",
];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap();
    let connectors = root.join("connectors");
    for watched in [
        "wit",
        "connectors/sdk",
        "connectors/http",
        "connectors/builtin",
        "connectors/Cargo.toml",
        "connectors/Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let target_dir = out_dir.join("connectors-target");
    build_components(&connectors, &target_dir);

    let release = target_dir.join("wasm32-wasip2").join("release");
    let mut table = String::from("/// The built-in connectors: name and component bytes.\npub const BUILTINS: &[(&str, &[u8])] = &[\n");
    for name in BUILTINS {
        let file = release.join(format!(
            "red_connector_builtin_{}.wasm",
            name.replace('-', "_")
        ));
        assert!(
            file.exists(),
            "the connector build did not produce {}",
            file.display()
        );
        writeln!(
            table,
            "    ({name:?}, include_bytes!({:?})),",
            file.display().to_string()
        )
        .unwrap();
    }
    table.push_str("];\n");
    std::fs::write(out_dir.join("builtins.rs"), table).unwrap();
}

fn build_components(connectors: &Path, target_dir: &Path) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(connectors)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(connectors.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    for package in BUILTINS {
        command.args(["-p", &format!("red-connector-builtin-{package}")]);
    }
    // The outer build's flags and wrappers (clippy, coverage, a host target) are not for
    // the guest build.
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        let outer = key.starts_with("CARGO_")
            && !key.starts_with("CARGO_HOME")
            && !key.starts_with("CARGO_NET")
            && !key.starts_with("CARGO_REGISTR")
            && !key.starts_with("CARGO_HTTP")
            && key != "CARGO_MAKEFLAGS";
        if outer
            || matches!(
                key.as_ref(),
                "RUSTFLAGS"
                    | "RUSTDOCFLAGS"
                    | "RUSTC_WRAPPER"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "TARGET"
                    | "HOST"
                    | "PROFILE"
                    | "OPT_LEVEL"
                    | "DEBUG"
            )
        {
            command.env_remove(key.as_ref());
        }
    }
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the connectors: {e}"));
    if !status.success() {
        panic!(
            "building the connector components failed ({status}). Is the WebAssembly target installed? \
             Run: rustup target add wasm32-wasip2"
        );
    }
}
