//! `red-wasm new NAME --lang rust|python`: a connector project that builds as it is and passes
//! its own test (`./test.sh`), with the SDK written into it, so that it works anywhere: no
//! checkout of red-wasm, no registry of ours.

use std::path::{Path, PathBuf};

use red_wasm::{Error, ErrorKind};

/// The language of a new connector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// A Rust crate built for wasm32-wasip2 (`rustup target add wasm32-wasip2`).
    Rust,
    /// A Python module built with componentize-py (`pip install componentize-py==0.25.1`).
    Python,
}

/// A file of the project: its path inside it, and its text (with `{{NAME}}` and `{{BUILD}}`
/// to fill in).
type Template = (&'static str, &'static str);

const RUST: &[Template] = &[
    ("Cargo.toml", include_str!("templates/rust-Cargo.toml")),
    ("src/lib.rs", include_str!("templates/rust-lib.rs")),
    (
        "red-connector-sdk/Cargo.toml",
        include_str!("templates/sdk-Cargo.toml"),
    ),
    (
        "red-connector-sdk/README.md",
        include_str!("../../../connectors/sdk/README.md"),
    ),
    (
        "red-connector-sdk/src/lib.rs",
        include_str!("../../../connectors/sdk/src/lib.rs"),
    ),
    (
        "red-connector-sdk/src/access.rs",
        include_str!("../../../connectors/sdk/src/access.rs"),
    ),
    (
        "red-connector-sdk/src/io.rs",
        include_str!("../../../connectors/sdk/src/io.rs"),
    ),
    (
        "red-connector-sdk/src/listing.rs",
        include_str!("../../../connectors/sdk/src/listing.rs"),
    ),
    (
        "red-connector-sdk/src/web.rs",
        include_str!("../../../connectors/sdk/src/web.rs"),
    ),
    (
        "red-connector-sdk/wit/connector.wit",
        include_str!("../../../wit/connector.wit"),
    ),
    ("test.sh", include_str!("templates/test.sh")),
];

const PYTHON: &[Template] = &[
    ("app.py", include_str!("templates/python-app.py")),
    (
        "red_connector/__init__.py",
        include_str!("../../../connectors/python/red_connector/__init__.py"),
    ),
    (
        "red_connector/__main__.py",
        include_str!("../../../connectors/python/red_connector/__main__.py"),
    ),
    (
        "red_connector/access.py",
        include_str!("../../../connectors/python/red_connector/access.py"),
    ),
    (
        "red_connector/build.py",
        include_str!("../../../connectors/python/red_connector/build.py"),
    ),
    (
        "red_connector/component.py",
        include_str!("../../../connectors/python/red_connector/component.py"),
    ),
    (
        "red_connector/errors.py",
        include_str!("../../../connectors/python/red_connector/errors.py"),
    ),
    (
        "red_connector/host.py",
        include_str!("../../../connectors/python/red_connector/host.py"),
    ),
    (
        "red_connector/wit/connector.wit",
        include_str!("../../../wit/connector.wit"),
    ),
    ("test.sh", include_str!("templates/test.sh")),
];

const RUST_BUILD: &str = "cargo build --release --target wasm32-wasip2\n\
    wasm=\"${CARGO_TARGET_DIR:-$PWD/target}/wasm32-wasip2/release/{{CRATE}}.wasm\"";
const PYTHON_BUILD: &str =
    "\"${PYTHON:-python3}\" -m red_connector build app.py -o {{NAME}}.wasm\n\
    wasm=\"$PWD/{{NAME}}.wasm\"";

/// Writes the project `name` in a new folder `parent/name`; returns the folder.
pub fn create(name: &str, lang: Lang, parent: &Path) -> Result<PathBuf, Error> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(Error::new(
            ErrorKind::InvalidAccess,
            format!("NAME {name:?}: expected lower-case letters, digits and '-', starting with a letter (e.g. my-connector)"),
        ));
    }
    let dir = parent.join(name);
    if dir.exists() {
        return Err(Error::new(
            ErrorKind::Conflict,
            format!(
                "{} exists already: choose another NAME or folder",
                dir.display()
            ),
        ));
    }
    let (files, build) = match lang {
        Lang::Rust => (RUST, RUST_BUILD),
        Lang::Python => (PYTHON, PYTHON_BUILD),
    };
    let fill = |text: &str| {
        text.replace("{{BUILD}}", build)
            .replace("{{CRATE}}", &name.replace('-', "_"))
            .replace("{{NAME}}", name)
    };
    for (path, text) in files {
        let file = dir.join(path);
        let io = |e: std::io::Error| Error::local_io(format!("writing {}", file.display()), &e);
        std::fs::create_dir_all(file.parent().unwrap_or(&dir)).map_err(io)?;
        // The SDK's own sources go as they are; the project's files get their name.
        let text = if path.starts_with("red-connector-sdk/") || path.starts_with("red_connector/") {
            text.to_string()
        } else {
            fill(text)
        };
        std::fs::write(&file, text).map_err(io)?;
        if path.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
        }
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module added to the SDK must go into the projects `new` writes, or they do not build.
    #[test]
    fn every_sdk_source_file_is_in_the_rust_template() {
        let sdk = concat!(env!("CARGO_MANIFEST_DIR"), "/../connectors/sdk/src");
        for entry in std::fs::read_dir(sdk).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let path = format!("red-connector-sdk/src/{name}");
            assert!(
                RUST.iter().any(|(p, _)| *p == path),
                "{path} is missing from cli/new.rs"
            );
        }
    }
}
