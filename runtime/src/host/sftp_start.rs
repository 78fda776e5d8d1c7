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

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use ssh2::{BlockDirections, ErrorCode, Session, Sftp};

/// libssh2's "would block" (`LIBSSH2_ERROR_EAGAIN`).
const LIBSSH2_ERROR_EAGAIN: i32 = -37;
/// libssh2's timeout (`LIBSSH2_ERROR_TIMEOUT`), for a start that does not end in time.
const LIBSSH2_ERROR_TIMEOUT: i32 = -9;
/// libssh2's failed receive (`LIBSSH2_ERROR_SOCKET_RECV`), for a wait that fails.
const LIBSSH2_ERROR_SOCKET_RECV: i32 = -43;

/// `session.sftp()`, given up after `timeout` as the blocking call would be (libssh2's error
/// `LIBSSH2_ERROR_TIMEOUT`). The session is blocking again afterwards, whatever the outcome.
pub(crate) fn start_sftp(session: &Session, timeout: Duration) -> Result<Sftp, ssh2::Error> {
    let fd = session.as_raw_fd();
    // None: a timeout too long to add to the clock (an embedder's Duration::MAX), no deadline.
    let deadline = Instant::now().checked_add(timeout);
    session.set_blocking(false);
    let started = loop {
        match session.sftp() {
            Err(e) if e.code() == ErrorCode::Session(LIBSSH2_ERROR_EAGAIN) => {}
            done => break done,
        }
        let left = deadline.map_or(Duration::MAX, |d| {
            d.saturating_duration_since(Instant::now())
        });
        if left.is_zero() {
            break Err(timed_out());
        }
        quick_ack(fd);
        if let Err(e) = wait(fd, session.block_directions(), left) {
            break Err(ssh2::Error::from_errno(ErrorCode::Session(
                match e.kind() {
                    std::io::ErrorKind::TimedOut => LIBSSH2_ERROR_TIMEOUT,
                    _ => LIBSSH2_ERROR_SOCKET_RECV,
                },
            )));
        }
    };
    session.set_blocking(true);
    started
}

fn timed_out() -> ssh2::Error {
    ssh2::Error::new(
        ErrorCode::Session(LIBSSH2_ERROR_TIMEOUT),
        "timed out starting the SFTP subsystem",
    )
}

#[cfg(target_os = "linux")]
fn quick_ack(fd: std::os::fd::RawFd) {
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

#[cfg(not(target_os = "linux"))]
fn quick_ack(_fd: std::os::fd::RawFd) {}

/// Waits until the socket is ready in the directions libssh2 waits for, or `timeout`.
fn wait(
    fd: std::os::fd::RawFd,
    directions: BlockDirections,
    timeout: Duration,
) -> std::io::Result<()> {
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
