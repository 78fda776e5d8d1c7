//! Telling a broken SSH connection from a server that said no, when libssh2 cannot.
//!
//! libssh2 turns any failure while it waits for a login's answer into "authentication
//! failed" (keyboard-interactive) or "public key unverified" (keys), and a channel that
//! closes while SFTP starts into a receive error, so its error codes do not say whether the
//! link broke (`network`: worth another try) or the server refused (`auth`, `remote`). The
//! connection itself does: a refusal leaves it open, a cut closes it. And a server that
//! refuses and then hangs up (OpenSSH at `MaxAuthTries`) first says why in an
//! SSH_MSG_DISCONNECT, which [`watching_disconnect`] records.

use std::cell::RefCell;
use std::os::fd::AsRawFd;
use std::os::raw::{c_char, c_int, c_void};

use ssh2::Session;

/// libssh2's `LIBSSH2_CALLBACK_DISCONNECT`.
const CALLBACK_DISCONNECT: c_int = 2;

/// libssh2's error of a wait that timed out (`LIBSSH2_ERROR_TIMEOUT`).
pub(crate) const LIBSSH2_ERROR_TIMEOUT: i32 = -9;

/// Whether libssh2 (or our own wait) gave up waiting: the server said nothing for the
/// timeout, which is the network's doing whatever step it happened in.
pub(crate) fn timed_out(e: &ssh2::Error) -> bool {
    e.code() == ssh2::ErrorCode::Session(LIBSSH2_ERROR_TIMEOUT)
}

extern "C" {
    // libssh2 1.11.1 and later (the vendored copy is 1.11.2).
    fn libssh2_session_callback_set2(
        session: *mut c_void,
        cbtype: c_int,
        callback: *mut c_void,
    ) -> *mut c_void;
}

thread_local! {
    /// The description in the SSH_MSG_DISCONNECT that the server sent during the step that
    /// [`watching_disconnect`] runs on this thread.
    static DISCONNECT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Called by libssh2, on the thread that drives the session, when the server disconnects.
extern "C" fn on_disconnect(
    _session: *mut c_void,
    _reason: c_int,
    message: *const c_char,
    message_len: c_int,
    _language: *const c_char,
    _language_len: c_int,
    _abstract: *mut *mut c_void,
) {
    let text = match usize::try_from(message_len) {
        Ok(len) if !message.is_null() => {
            // SAFETY: libssh2 passes the message's bytes and their count.
            let bytes = unsafe { std::slice::from_raw_parts(message.cast::<u8>(), len) };
            String::from_utf8_lossy(bytes).trim().to_owned()
        }
        _ => String::new(),
    };
    DISCONNECT.with(|d| *d.borrow_mut() = Some(text));
}

/// Runs `step` on `session` (driven from this thread), and returns with its result the
/// description of an SSH_MSG_DISCONNECT the server sent meanwhile (empty when it gave none).
pub(crate) fn watching_disconnect<T>(
    session: &Session,
    step: impl FnOnce() -> T,
) -> (T, Option<String>) {
    let raw = {
        let mut guard = session.raw();
        std::ptr::from_mut(&mut *guard).cast::<c_void>()
    };
    DISCONNECT.with(|d| d.borrow_mut().take());
    // SAFETY: the session is alive for this call; the callback has libssh2's disconnect
    // signature and is removed again before returning.
    unsafe {
        libssh2_session_callback_set2(raw, CALLBACK_DISCONNECT, on_disconnect as *mut c_void);
    }
    let result = step();
    // SAFETY: as above; a null callback is libssh2's "none".
    unsafe {
        libssh2_session_callback_set2(raw, CALLBACK_DISCONNECT, std::ptr::null_mut());
    }
    (result, DISCONNECT.with(|d| d.borrow_mut().take()))
}

/// Whether the other end has closed or reset the connection (even with bytes of it still
/// unread): what a cut leaves, where a refusal leaves the connection open.
pub(crate) fn connection_gone(session: &Session) -> bool {
    let mut poll = libc::pollfd {
        fd: session.as_raw_fd(),
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd; a zero timeout only looks.
    let ready = unsafe { libc::poll(&mut poll, 1, 0) };
    ready > 0 && poll.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0
}

/// Shuts the session's connection down, both ways, so that libssh2's last messages on it
/// (closing channels, freeing the session) fail at once instead of waiting, up to the idle
/// timeout and past any stop, for a server that may never answer.
pub(crate) fn hang_up(session: &Session) {
    // SAFETY: the session's own socket, still open (the session owns it); shutting it down
    // only makes its later use fail.
    unsafe { libc::shutdown(session.as_raw_fd(), libc::SHUT_RDWR) };
}
