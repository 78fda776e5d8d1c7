//! `red-wasm install-commands`: RED connector CLI 1 commands as small scripts that run this
//! binary's `connector-cli` mode.

use std::path::{Path, PathBuf};

use red_wasm::reference::COMMANDS;
use red_wasm::{Error, ErrorKind, Runtime};

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
    let entries: Vec<(String, String)> = match custom {
        Some((component, name)) => {
            let component = component
                .canonicalize()
                .map_err(io(format!("reading {}", component.display())))?;
            if name.is_empty() || name.contains('/') {
                return Err(Error::new(
                    ErrorKind::InvalidAccess,
                    format!("--name {name:?}: expected a command name"),
                ));
            }
            vec![(name, component.display().to_string())]
        }
        None => COMMANDS
            .iter()
            .map(|(command, builtin)| (command.to_string(), builtin.to_string()))
            .collect(),
    };
    // Load each connector once now: a broken component is reported here rather than by the
    // agent, and its compiled form goes into the cache, so that no launch compiles anything.
    let runtime = Runtime::new()?;
    for (_, connector) in &entries {
        runtime.load(connector)?;
    }
    let mut written = Vec::new();
    for (command, connector) in entries {
        let file = dir.join(&command);
        let script = format!(
            "#!/bin/sh\n# {command}: the RED connector CLI 1 over red-wasm's {connector} connector.\n# Written by `red-wasm install-commands`.\nexec {} connector-cli {} \"$@\"\n",
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

/// `text` as one single-quoted shell word.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}
