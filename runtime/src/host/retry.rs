//! When an HTTP request is tried again: transient failures only (a connection that could not
//! be made or was cut before the answer, 408, 429, 500, 502, 503, 504), only where repeating
//! it is safe (GET, HEAD, PUT, DELETE and OPTIONS always; POST and PATCH only when no byte of
//! a body went out), at most `retries` times per request, after 1, 2, 4, ... seconds (capped
//! at [`MAX_BACKOFF`]) or what the server's `Retry-After` asks (up to [`MAX_RETRY_AFTER`]).
//! Each try counts against the request limit, and the transfer's `--timeout` bounds them all.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};

/// The default number of retries per request: enough to ride out a restarting proxy or a
/// short overload (1 + 2 + 4 s of waiting), few enough that a server that is down fails the
/// transfer within seconds.
pub const DEFAULT_RETRIES: u32 = 3;

/// The longest wait between tries that red-wasm picks itself.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The longest `Retry-After` honoured; a server that asks for more gets its answer passed on.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// Statuses that say "try again": timeout, too many requests, and the server-side failures
/// that proxies and overloaded servers answer with (curl's `--retry` list).
pub fn transient_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

/// Whether a request may be sent again: idempotent methods always; others only when none of
/// their body went out (`body_sent` false: the connection was never made, or there is no body).
pub fn may_repeat(method: &Method, body_sent: bool) -> bool {
    let idempotent = [
        Method::GET,
        Method::HEAD,
        Method::PUT,
        Method::DELETE,
        Method::OPTIONS,
    ]
    .contains(method);
    idempotent || !body_sent
}

/// The wait before try number `attempt + 2` (attempt 0 failed first): the answer's
/// `Retry-After` when it has one (`None` when that is longer than [`MAX_RETRY_AFTER`]: the
/// answer stands), else 1 s doubling up to [`MAX_BACKOFF`].
pub fn delay(attempt: u32, headers: Option<&HeaderMap>) -> Option<Duration> {
    if let Some(value) = headers
        .and_then(|h| h.get(RETRY_AFTER))
        .and_then(|v| v.to_str().ok())
    {
        if let Some(wait) = retry_after(value.trim()) {
            return (wait <= MAX_RETRY_AFTER).then_some(wait);
        }
    }
    let backoff = Duration::from_secs(1u64 << attempt.min(16));
    Some(backoff.min(MAX_BACKOFF))
}

/// The tries of something that keeps breaking off part-way (a body, a download): a fresh set
/// whenever it got further than ever before, one fewer each time it breaks at or before the
/// furthest point, so that a long transfer over a link that is cut now and then is never
/// given up while it makes progress.
#[derive(Clone, Debug)]
pub struct Tries {
    retries: u32,
    left: u32,
    furthest: u64,
}

/// What a break allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Further than ever: go on at once.
    Progressed,
    /// No further than before: this is try `attempt` (0 for the first) in a row.
    Again(u32),
}

impl Tries {
    /// `retries` tries in a row, for a transfer that starts at `start`.
    pub fn new(retries: u32, start: u64) -> Self {
        Tries {
            retries,
            left: retries,
            furthest: start,
        }
    }

    /// Counts a break at `position`: `None` when no try is left.
    pub fn after_break(&mut self, position: u64) -> Option<Step> {
        let step = if position > self.furthest {
            (self.furthest, self.left) = (position, self.retries);
            Step::Progressed
        } else {
            Step::Again(self.retries - self.left)
        };
        self.left = self.left.checked_sub(1)?;
        Some(step)
    }
}

/// `Retry-After` as delay-seconds or an HTTP date.
fn retry_after(value: &str) -> Option<Duration> {
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn only_safe_requests_are_repeated() {
        assert!(may_repeat(&Method::GET, true));
        assert!(may_repeat(&Method::PUT, true));
        assert!(may_repeat(&Method::POST, false));
        assert!(!may_repeat(&Method::POST, true));
        assert!(!may_repeat(&Method::PATCH, true));
        assert!(transient_status(StatusCode::SERVICE_UNAVAILABLE));
        assert!(transient_status(StatusCode::TOO_MANY_REQUESTS));
        assert!(!transient_status(StatusCode::NOT_FOUND));
        assert!(!transient_status(StatusCode::NOT_IMPLEMENTED));
    }

    #[test]
    fn tries_come_back_with_progress() {
        let mut tries = Tries::new(2, 0);
        assert_eq!(tries.after_break(0), Some(Step::Again(0)));
        assert_eq!(tries.after_break(0), Some(Step::Again(1)));
        assert_eq!(tries.after_break(0), None);
        assert_eq!(tries.after_break(10), Some(Step::Progressed));
        assert_eq!(tries.after_break(10), Some(Step::Again(1)));
        assert_eq!(tries.after_break(10), None);
        assert_eq!(Tries::new(0, 0).after_break(5), None);
    }

    #[test]
    fn waits_double_and_honour_retry_after() {
        assert_eq!(delay(0, None), Some(Duration::from_secs(1)));
        assert_eq!(delay(2, None), Some(Duration::from_secs(4)));
        assert_eq!(delay(10, None), Some(MAX_BACKOFF));
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(delay(0, Some(&headers)), Some(Duration::from_secs(7)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3600"));
        assert_eq!(
            delay(0, Some(&headers)),
            None,
            "too long: the answer stands"
        );
        let soon = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(5));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&soon).unwrap());
        let wait = delay(0, Some(&headers)).unwrap();
        assert!(
            wait <= Duration::from_secs(5) && wait >= Duration::from_secs(3),
            "{wait:?}"
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(delay(1, Some(&headers)), Some(Duration::from_secs(2)));
    }
}
