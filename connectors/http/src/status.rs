//! What an HTTP status means for a transfer.

use red_connector_sdk::http::Response;
use red_connector_sdk::{Error, ErrorKind};

/// `Ok` for 1xx-3xx; for 400-599 an error naming the status line and URL, with the kind
/// that the status implies.
pub fn check_status(response: &Response, method: &str) -> Result<(), Error> {
    let status = response.status();
    if status < 400 {
        return Ok(());
    }
    let kind = match status {
        401 | 403 | 407 => ErrorKind::Auth,
        404 | 410 => ErrorKind::NotFound,
        409 | 412 => ErrorKind::Conflict,
        _ => ErrorKind::Remote,
    };
    Err(Error::new(
        kind,
        format!(
            "{method} {} answered {status} {}",
            response.url(),
            response.reason()
        ),
    ))
}

/// A 301, 302 or 303 answer to an upload is an error that names the new location: following
/// it would turn the upload into a body-less GET (the original connector did that and
/// reported success).
pub fn redirect_error(response: &Response, method: &str) -> Option<Error> {
    let status = response.status();
    if !(301..=303).contains(&status) {
        return None;
    }
    let location = response
        .headers()
        .into_iter()
        .find(|(name, _)| name == "location")
        .map(|(_, value)| value)
        .unwrap_or_else(|| "(no Location header)".into());
    Some(Error::new(
        ErrorKind::Remote,
        format!(
            "{method} {} answered {status} {} redirecting to {location}; the upload was not repeated there (use that URL in the access document)",
            response.url(),
            response.reason()
        ),
    ))
}
