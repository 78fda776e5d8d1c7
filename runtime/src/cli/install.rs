//! `red-wasm install-commands`: RED connector CLI 1 commands as small scripts that run this
//! binary's `connector-cli` mode.

use std::path::{Path, PathBuf};

use red_wasm::reference::COMMANDS;
use red_wasm::{Error, ErrorKind, RuntimeOptions, PRECOMPILED_DIR_NAME};

/// Writes the built-in commands into `dir`, or one command for a custom component; returns
/// the files written (and prints them unless `quiet`).
pub fn install(
    dir: &Path,
    custom: Option<(PathBuf, String)>,
    quiet: bool,
) -> Result<Vec<String>, Error> {
    let io = |what: String| move |e: std::io::Error| Error::local_io(&what, &e);
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(io("finding the red-wasm binary".into()))?;
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    // The scripts name the folder beside them by its absolute path.
    let dir = &dir
        .canonicalize()
        .map_err(io(format!("reading {}", dir.display())))?;
    let entries: Vec<(String, String)> = match custom {
        Some((component, name)) => {
            let component = component
                .canonicalize()
                .map_err(io(format!("reading {}", component.display())))?;
            let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
            if name.is_empty() || name.starts_with('.') || !name.chars().all(plain) {
                return Err(Error::new(
                    ErrorKind::InvalidAccess,
                    format!(
                        "--name {name:?}: expected a command name (letters, digits, '-', '_', '.')"
                    ),
                ));
            }
            vec![(name, component.display().to_string())]
        }
        None => COMMANDS
            .iter()
            .map(|(command, builtin)| (command.to_string(), builtin.to_string()))
            .collect(),
    };
    // Precompile each connector now, beside the commands, readable by every user: a broken
    // component is reported here rather than by the agent, and no launch compiles anything,
    // whoever runs it and whatever its HOME.
    let precompiled = dir.join(PRECOMPILED_DIR_NAME);
    let connectors: Vec<String> = entries.iter().map(|(_, c)| c.clone()).collect();
    precompile(&precompiled, &connectors, true)?;
    let mut written = Vec::new();
    for (command, connector) in entries {
        let file = dir.join(&command);
        let script = format!(
            "#!/bin/sh\n# {command}: the RED connector CLI 1 over a red-wasm connector.\n# Written by `red-wasm install-commands`.\nRED_WASM_PRECOMPILED={}\nexport RED_WASM_PRECOMPILED\nexec {} connector-cli {} \"$@\"\n",
            quote(&precompiled.display().to_string()),
            quote(&exe.display().to_string()),
            quote(&connector)
        );
        std::fs::write(&file, script).map_err(io(format!("writing {}", file.display())))?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755))
            .map_err(io(format!("writing {}", file.display())))?;
        if !quiet {
            println!("{}", file.display());
        }
        written.push(file.display().to_string());
    }
    Ok(written)
}

/// Precompiles `connectors` (every built-in when empty) into `dir`, a folder readable by every
/// user; returns the files written (and prints them unless `quiet`).
pub fn precompile(dir: &Path, connectors: &[String], quiet: bool) -> Result<Vec<String>, Error> {
    let io = |e: std::io::Error| Error::local_io(format!("creating {}", dir.display()), &e);
    std::fs::create_dir_all(dir).map_err(io)?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
    let builtins: Vec<String> = red_wasm::builtin_names().map(String::from).collect();
    let connectors = if connectors.is_empty() {
        &builtins
    } else {
        connectors
    };
    // Compile afresh: what goes into the folder must not depend on a user's cache.
    let runtime = super::process_runtime(RuntimeOptions {
        cache_dir: None,
        precompiled_dirs: Vec::new(),
        compile: true,
        ..RuntimeOptions::default()
    })?;
    let mut written = Vec::new();
    for connector in connectors {
        let file = runtime.precompile(connector, dir)?;
        if !quiet {
            println!("{}", file.display());
        }
        written.push(file.display().to_string());
    }
    Ok(written)
}

/// `text` as one single-quoted shell word.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}
