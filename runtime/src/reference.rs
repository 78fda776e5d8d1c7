//! The names existing RED files give connectors, and RED connector objects.
//!
//! A RED file names a connector by Python class (`pyModule` + `pyClass`, the seed era) or by
//! command (`command`, the RED connector CLI 1 era); red-wasm adds `component` (a built-in
//! name or a `.wasm` path). Each maps to a built-in component here.

use std::path::{Path, PathBuf};

use crate::{builtin, Error, ErrorKind, Result};

/// `(pyModule, pyClass) -> built-in`.
const CLASSES: &[(&str, &str, &str)] = &[
    ("cc_core.commons.connectors.http", "Http", "http"),
    ("cc_core.commons.connectors.http", "HttpJson", "http-json"),
    (
        "cc_core.commons.connectors.http",
        "HttpMockSend",
        "http-mock-send",
    ),
    ("cc_core.connectors.http", "Http", "http"),
    ("cc_core.connectors.http", "HttpJson", "http-json"),
    ("cc_core.connectors.http", "HttpMockSend", "http-mock-send"),
    ("red_connector_ssh.sftp", "Sftp", "sftp"),
    ("red_connectors_ssh.sftp", "Sftp", "sftp"),
    ("red_connector_xnat.http", "Http", "xnat"),
    ("red_connectors_xnat.http", "Http", "xnat"),
];

/// `command -> built-in`: the RED connector CLI 1 commands.
pub const COMMANDS: &[(&str, &str)] = &[
    ("red-connector-http", "http"),
    ("red-connector-http-json", "http-json"),
    ("red-connector-http-mock-send", "http-mock-send"),
    ("red-connector-http-archive", "http-archive"),
    ("red-connector-ssh", "sftp"),
    ("red-connector-xnat-http", "xnat"),
];

/// The built-in for a RED `pyModule` / `pyClass`.
pub fn builtin_for_class(module: &str, class: &str) -> Option<&'static str> {
    CLASSES
        .iter()
        .find(|(m, c, _)| *m == module && *c == class)
        .map(|(_, _, b)| *b)
}

/// The built-in for a RED connector CLI 1 command (a name or a path ending in one).
pub fn builtin_for_command(command: &str) -> Option<&'static str> {
    let name = Path::new(command.trim()).file_name()?.to_str()?;
    COMMANDS.iter().find(|(c, _)| *c == name).map(|(_, b)| *b)
}

/// Every name red-wasm knows, for error messages.
pub fn known_names() -> String {
    let builtins: Vec<&str> = builtin::names().collect();
    let commands: Vec<&str> = COMMANDS.iter().map(|(c, _)| *c).collect();
    let classes: Vec<String> = CLASSES.iter().map(|(m, c, _)| format!("{m}/{c}")).collect();
    format!(
        "built-in: {}; commands: {}; pyModule/pyClass: {}; or give the path of a .wasm component",
        builtins.join(", "),
        commands.join(", "),
        classes.join(", ")
    )
}

/// What a connector object names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reference {
    Builtin(&'static str),
    /// A component file (relative paths are resolved against the object's file).
    Component(PathBuf),
}

/// A RED connector object: `{pyModule, pyClass, access}`, `{command, access}` or
/// `{component, access}`.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectorObject {
    pub reference: Reference,
    /// The access document, if the object has one.
    pub access: Option<serde_json::Value>,
}

/// Whether `path` names a connector-object file (`.json`, `.yml`, `.yaml`).
pub fn is_object_file(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    [".json", ".yml", ".yaml"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

/// Reads a connector object from a JSON or YAML file.
pub fn read_object(path: &Path) -> Result<ConnectorObject> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::local_io(format!("reading {shown}"), &e))?;
    let bad = |why: String| Error::new(ErrorKind::InvalidAccess, format!("{shown}: {why}"));
    let doc: serde_json::Value = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| bad(format!("not valid JSON: {e}")))?
    } else {
        serde_saphyr::from_str(&text).map_err(|e| bad(format!("not valid YAML: {e}")))?
    };
    let base = path.parent().unwrap_or(Path::new("."));
    parse_object(&doc, base).map_err(|e| bad(e.message))
}

/// Reads a connector object already parsed; relative component paths are against `base`.
pub fn parse_object(doc: &serde_json::Value, base: &Path) -> Result<ConnectorObject> {
    let text = |key: &str| doc.get(key).and_then(serde_json::Value::as_str);
    let unknown = |what: String| {
        Error::new(
            ErrorKind::InvalidAccess,
            format!("unknown connector {what} ({})", known_names()),
        )
    };
    let reference = if let Some(component) = text("component") {
        match builtin::component_bytes(component) {
            Some(_) => {
                Reference::Builtin(builtin::names().find(|n| *n == component).expect("listed"))
            }
            None if component.ends_with(".wasm") || component.contains('/') => {
                Reference::Component(base.join(component))
            }
            None => return Err(unknown(format!("component {component:?}"))),
        }
    } else if let Some(command) = text("command") {
        Reference::Builtin(
            builtin_for_command(command).ok_or_else(|| unknown(format!("command {command:?}")))?,
        )
    } else if let (Some(module), Some(class)) = (text("pyModule"), text("pyClass")) {
        Reference::Builtin(
            builtin_for_class(module, class)
                .ok_or_else(|| unknown(format!("class {module}/{class}")))?,
        )
    } else {
        return Err(Error::new(
            ErrorKind::InvalidAccess,
            "expected a connector object with pyModule and pyClass, command, or component",
        ));
    };
    Ok(ConnectorObject {
        reference,
        access: doc.get("access").cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_red_name_maps_to_its_builtin() {
        for (module, class, builtin) in CLASSES {
            assert_eq!(builtin_for_class(module, class), Some(*builtin));
            assert!(
                builtin::component_bytes(builtin).is_some(),
                "{builtin} is built in"
            );
        }
        assert_eq!(
            builtin_for_command("/usr/local/bin/red-connector-ssh"),
            Some("sftp")
        );
        assert_eq!(builtin_for_command("red-connector-xnat-http"), Some("xnat"));
        assert_eq!(builtin_for_command("red-connector-ftp"), None);
    }

    #[test]
    fn objects_of_both_eras_and_ours() {
        let base = Path::new("/red");
        let seed = serde_json::json!({"pyModule": "red_connector_ssh.sftp", "pyClass": "Sftp",
                                      "access": {"host": "h"}});
        let object = parse_object(&seed, base).unwrap();
        assert_eq!(object.reference, Reference::Builtin("sftp"));
        assert_eq!(object.access.unwrap()["host"], "h");
        let command = serde_json::json!({"command": "red-connector-http-json", "access": {}});
        assert_eq!(
            parse_object(&command, base).unwrap().reference,
            Reference::Builtin("http-json")
        );
        let ours = serde_json::json!({"component": "mine.wasm"});
        assert_eq!(
            parse_object(&ours, base).unwrap().reference,
            Reference::Component(PathBuf::from("/red/mine.wasm"))
        );
        let err =
            parse_object(&serde_json::json!({"command": "red-connector-ftp"}), base).unwrap_err();
        assert!(
            err.message.contains("red-connector-ftp") && err.message.contains(".wasm component"),
            "{err}"
        );
    }
}
