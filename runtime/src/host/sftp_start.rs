//! Starting the SFTP subsystem on a logged-in SSH session without the 40 ms stall that
//! OpenSSH servers otherwise cause there.
//!
//! Right after a login, OpenSSH's sshd sends a host-keys notice (`hostkeys-00@openssh.com`)
//! and then, as its own small segment, the answer to our channel open. sshd turns Nagle's
//! algorithm off only for interactive sessions, so that answer waits until we acknowledge the
//! notice; and Linux delays that acknowledgement by up to 40 ms on a connection it takes for
//! request and response (we had just sent the channel open). libssh2 waits in between, so
//! each session lost 40 ms before its first file: measured, 44 ms of a 1000-file
//! receive-dir's 300 ms, once for the first session and once for the sessions added after it.
//!
//! So the subsystem is started with the session in non-blocking mode, and before each wait
//! for the server the socket is put in quick-ACK mode (`TCP_QUICKACK`), in which reading the
//! notice acknowledges it at once. Linux leaves that mode by itself when we send, which is
//! why it is set again before every wait rather than once.

use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use ssh2::{BlockDirections, ErrorCode, Session, Sftp};

use super::ssh_fault::{connection_gone, hang_up, timed_out, LIBSSH2_ERROR_TIMEOUT};

/// libssh2's "would block" (`LIBSSH2_ERROR_EAGAIN`).
const LIBSSH2_ERROR_EAGAIN: i32 = -37;
/// libssh2's failed receive (`LIBSSH2_ERROR_SOCKET_RECV`), for a wait that fails.
const LIBSSH2_ERROR_SOCKET_RECV: i32 = -43;

/// Why the subsystem did not start.
pub(crate) struct StartFailure {
    pub error: ssh2::Error,
    /// The connection was gone when it failed (closed or reset by the other end, or a wait
    /// that timed out): the network's doing, whatever libssh2 called it. libssh2 reports a
    /// connection cut while the channel opens as "Unable to startup channel", the same as a
    /// server refusing it, and an SFTP server that ends at once as a receive error.
    pub connection_lost: bool,
}

/// `session.sftp()`, giving up when the server sends nothing for `idle`, as libssh2's
/// blocking calls do. The session is blocking again afterwards. On failure the connection
/// is shut down: the caller drops the session, and libssh2 would otherwise wait, again up to
/// `idle` and past any stop, for the server to close the half-opened channel.
pub(crate) fn start_sftp(session: &Session, idle: Duration) -> Result<Sftp, StartFailure> {
    let fd = session.as_raw_fd();
    session.set_blocking(false);
    let started = loop {
        match session.sftp() {
            Err(e) if e.code() == ErrorCode::Session(LIBSSH2_ERROR_EAGAIN) => {}
            done => break done,
        }
        quick_ack(fd);
        if let Err(e) = wait(fd, session.block_directions(), idle) {
            let (code, message) = match e.kind() {
                std::io::ErrorKind::TimedOut => (
                    LIBSSH2_ERROR_TIMEOUT,
                    "timed out starting the SFTP subsystem",
                ),
                _ => (
                    LIBSSH2_ERROR_SOCKET_RECV,
                    "the connection failed while the SFTP subsystem started",
                ),
            };
            break Err(ssh2::Error::new(ErrorCode::Session(code), message));
        }
    };
    session.set_blocking(true);
    started.map_err(|error| {
        let connection_lost = timed_out(&error) || connection_gone(session);
        hang_up(session);
        StartFailure {
            error,
            connection_lost,
        }
    })
}

fn quick_ack(fd: RawFd) {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket and a c_int option of its size; failure only costs the speed-up.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            std::ptr::from_ref(&on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Waits until the socket is ready in the directions libssh2 waits for, or `timeout`.
fn wait(fd: RawFd, directions: BlockDirections, timeout: Duration) -> std::io::Result<()> {
    let events = match directions {
        BlockDirections::Outbound => libc::POLLOUT,
        BlockDirections::Both => libc::POLLIN | libc::POLLOUT,
        BlockDirections::Inbound | BlockDirections::None => libc::POLLIN,
    };
    let mut poll = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
    loop {
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut poll, 1, ms) } {
            0 => return Err(std::io::ErrorKind::TimedOut.into()),
            n if n > 0 => return Ok(()),
            _ => {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}
