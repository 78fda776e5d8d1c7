//! Real servers on 127.0.0.1 for red-wasm's tests, the quick-start demo and benchmarks.
//! Nothing here listens on any other address.

pub mod http;
pub mod sshd;
pub mod web;
pub mod xnat;
