//! The connectors compiled into red-wasm, by name.

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

/// The component bytes of the built-in connector `name`.
pub fn component_bytes(name: &str) -> Option<&'static [u8]> {
    BUILTINS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| *bytes)
}

/// The names of the built-in connectors.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|(name, _)| *name)
}
