//! Real servers on 127.0.0.1 for red-wasm's tests, the quick-start demo and benchmarks.
//! Nothing here listens on any other address.

pub mod http;
pub mod proxy;
pub mod sshd;
pub mod web;
pub mod xnat;

use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};

/// A free port of 127.0.0.1 (free when asked; the server binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a server as a child that dies with the test process: no input, no output, its
/// errors on ours.
pub fn spawn_server(command: &mut Command) -> std::io::Result<Child> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    // SAFETY: prctl is async-signal-safe; it makes the server die with the test process.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    command.spawn()
}
