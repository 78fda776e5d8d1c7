//! The HTTP connectors (`http`, `http-json`, `http-mock-send`) against a real HTTP(S) server
//! on 127.0.0.1: bytes end to end, the exact requests the server saw, error kinds, messages,
//! exit codes, and that a failed receive leaves nothing behind.

mod support;

use red_wasm::{Direction, ErrorKind, HostRule, ReceiveTarget, TransferOptions};
use red_wasm_testkit::http::{pattern, HttpServer, PASSWORD, USER};
use serde_json::json;
use support::*;

// ---- receive -------------------------------------------------------------------------

#[tokio::test]
async fn receive_streams_the_body_into_the_file() {
    let server = HttpServer::start();
    let data = pattern(3 * 1024 * 1024 + 17);
    server.put_file("data.bin", &data);
    let dir = temp();
    let target = dir.path().join("data.bin");
    let outcome = receive(
        "http",
        json!({"url": server.url("/files/data.bin")}),
        &target,
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), data);
    assert_eq!(outcome.bytes, data.len() as u64);
    assert_eq!(
        listing(dir.path()),
        ["data.bin"],
        "no temporary file remains"
    );
    // The file has the permissions any new file gets here (0666 less the umask).
    use std::os::unix::fs::PermissionsExt as _;
    let reference = dir.path().join("reference");
    std::fs::File::create(&reference).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&target), mode(&reference));
    std::fs::remove_file(&reference).unwrap();
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].target, "/files/data.bin");
    assert_eq!(seen[0].header("authorization"), None);
    assert!(seen[0].header("accept-encoding").unwrap().contains("gzip"));
}

/// An embedder that means "no limit" by the longest Duration (as the idle timeout and as the
/// time limit) gets a working transfer, not a panic from adding it to the clock.
#[tokio::test]
async fn the_longest_durations_mean_no_limit() {
    let server = HttpServer::start();
    let data = pattern(100_000);
    server.put_file("long.bin", &data);
    let dir = temp();
    let target = dir.path().join("long.bin");
    receive_with_the_longest_durations(
        "http",
        json!({"url": server.url("/files/long.bin")}),
        &target,
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), data);
}

#[tokio::test]
async fn receive_accepts_every_method_casing_and_uses_the_method() {
    let server = HttpServer::start();
    server.put_file("a", b"A");
    let dir = temp();
    for (method, expected) in [
        ("Get", "GET"),
        ("get", "GET"),
        ("GET", "GET"),
        ("post", "POST"),
    ] {
        let target = dir.path().join("a");
        let _ = receive(
            "http",
            json!({"url": server.url("/files/a"), "method": method}),
            &target,
        )
        .await;
        assert_eq!(
            server.seen().last().unwrap().method,
            expected,
            "method {method}"
        );
    }
}

#[tokio::test]
async fn basic_auth_goes_with_the_first_request() {
    let server = HttpServer::start();
    server.put_file("secret.txt", b"top secret");
    let dir = temp();
    let target = dir.path().join("secret.txt");
    let access = json!({"url": server.url("/basic/secret.txt"),
                        "auth": {"username": USER, "password": PASSWORD}});
    receive("http", access, &target).await.unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"top secret");
    let seen = server.seen();
    assert_eq!(seen.len(), 1, "basic credentials are sent up front");
    assert!(seen[0]
        .header("authorization")
        .unwrap()
        .starts_with("Basic "));
}

#[tokio::test]
async fn wrong_password_is_an_auth_error_and_leaves_no_file() {
    let server = HttpServer::start();
    server.put_file("secret.txt", b"top secret");
    let dir = temp();
    let target = dir.path().join("secret.txt");
    for method in ["BASIC", "DIGEST"] {
        let path = if method == "BASIC" {
            "/basic/secret.txt"
        } else {
            "/digest/secret.txt"
        };
        let access = json!({"url": server.url(path),
                            "auth": {"username": USER, "password": "wrong-password", "method": method}});
        let err = receive("http", access, &target).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Auth, "{method}: {err}");
        assert!(err.message.contains("401"), "{}", err.message);
        assert!(
            err.message.contains(path),
            "the message names the URL: {}",
            err.message
        );
        assert!(
            !err.message.contains("wrong-password"),
            "no secret in messages"
        );
        assert!(
            listing(dir.path()).is_empty(),
            "{method}: nothing left behind"
        );
    }
}

#[tokio::test]
async fn digest_auth_answers_the_challenge() {
    let server = HttpServer::start();
    server.put_file("d.txt", b"digest protected");
    let dir = temp();
    let target = dir.path().join("d.txt");
    let access = json!({"url": server.url("/digest/d.txt?x=1"),
                        "auth": {"username": USER, "password": PASSWORD, "method": "Digest"}});
    receive("http", access, &target).await.unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"digest protected");
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "one challenge, one answer");
    assert_eq!(
        seen[0].header("authorization"),
        None,
        "no credentials before the challenge"
    );
    let answer = seen[1].header("authorization").unwrap();
    assert!(answer.starts_with("Digest "), "{answer}");
    assert!(
        answer.contains("qop=auth") && answer.contains("uri=\"/digest/d.txt?x=1\""),
        "{answer}"
    );
    assert!(!answer.contains(PASSWORD));
}

#[tokio::test]
async fn redirects_are_followed_and_checked() {
    let server = HttpServer::start();
    server.put_file("r", b"redirected");
    let dir = temp();
    let target = dir.path().join("r");
    for code in [301, 302, 303, 307, 308] {
        let url = server.url(&format!("/redirect/{code}?to=/files/r"));
        receive("http", json!({"url": url}), &target).await.unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"redirected", "{code}");
    }
    let seen = server.seen();
    assert_eq!(seen.len(), 10);
    assert!(seen.iter().all(|s| s.method == "GET"));
}

#[tokio::test]
async fn a_redirect_loop_stops_after_30_hops() {
    let server = HttpServer::start();
    let dir = temp();
    let err = receive(
        "http",
        json!({"url": server.url("/loop/0")}),
        &dir.path().join("x"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Remote);
    assert!(
        err.message.contains("more than 30 redirects"),
        "{}",
        err.message
    );
    assert_eq!(server.seen().len(), 31);
    assert!(listing(dir.path()).is_empty());
}

#[tokio::test]
async fn a_redirect_to_another_origin_drops_credentials_and_needs_an_allowed_host() {
    let origin = HttpServer::start();
    let other = HttpServer::start();
    other.put_file("x", b"elsewhere");
    let url = origin.url(&format!("/redirect/302?to={}", other.url("/files/x")));
    let access = json!({"url": url, "auth": {"username": USER, "password": PASSWORD}}).to_string();
    let dir = temp();
    let target = dir.path().join("x");
    let http = connector("http");

    // Not named in the access document: denied, with the flag that would allow it.
    let err = http
        .receive(
            &access,
            ReceiveTarget::File(target.clone()),
            &TransferOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied);
    let flag = format!("--allow-host 127.0.0.1:{}", other.port());
    assert!(err.message.contains(&flag), "{}", err.message);
    assert!(other.seen().is_empty(), "a denied host is never contacted");
    assert!(listing(dir.path()).is_empty());

    // Allowed: followed, without the credentials meant for the first origin.
    let options = TransferOptions {
        allow_hosts: vec![HostRule::parse(&format!("127.0.0.1:{}", other.port())).unwrap()],
        ..TransferOptions::default()
    };
    http.receive(&access, ReceiveTarget::File(target.clone()), &options)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"elsewhere");
    assert!(origin.seen()[0].header("authorization").is_some());
    assert_eq!(other.seen()[0].header("authorization"), None);
}

#[tokio::test]
async fn compressed_bodies_are_decoded() {
    let server = HttpServer::start();
    let data = pattern(2 * 1024 * 1024);
    server.put_file("z", &data);
    let dir = temp();
    for encoding in ["gzip", "deflate"] {
        let target = dir.path().join(encoding);
        receive(
            "http",
            json!({"url": server.url(&format!("/{encoding}/z"))}),
            &target,
        )
        .await
        .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), data, "{encoding}");
    }
}

#[tokio::test]
async fn error_statuses_name_the_status_line_and_url() {
    let server = HttpServer::start();
    let dir = temp();
    let target = dir.path().join("out");
    for (code, kind) in [
        (404, ErrorKind::NotFound),
        (500, ErrorKind::Remote),
        (403, ErrorKind::Auth),
        (409, ErrorKind::Conflict),
        (400, ErrorKind::Remote),
        (503, ErrorKind::Remote),
    ] {
        let url = server.url(&format!("/status/{code}"));
        // Without retries: 500 and 503 would be tried again (see the retry test).
        let access = json!({"url": url}).to_string();
        let err = connector("http")
            .receive(
                &access,
                ReceiveTarget::File(target.clone()),
                &with_retries(0),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind, kind, "{code}");
        assert!(
            err.message.contains(&format!("GET {url} answered {code}")),
            "{}",
            err.message
        );
        assert!(listing(dir.path()).is_empty());
    }
}

#[tokio::test]
async fn a_failed_receive_keeps_an_existing_file_as_it_was() {
    let server = HttpServer::start();
    let dir = temp();
    let target = dir.path().join("precious.csv");
    std::fs::write(&target, b"old contents").unwrap();
    let err = receive_once("http", json!({"url": server.url("/truncated")}), &target)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Network);
    assert_eq!(std::fs::read(&target).unwrap(), b"old contents");
    assert_eq!(listing(dir.path()), ["precious.csv"]);
}

#[tokio::test]
async fn a_body_cut_short_or_dropped_is_a_network_error_and_leaves_nothing() {
    let server = HttpServer::start();
    let dir = temp();
    for route in ["/truncated", "/drop"] {
        for name in ["http", "http-json"] {
            let err = receive_once(
                name,
                json!({"url": server.url(route)}),
                &dir.path().join("out"),
            )
            .await
            .unwrap_err();
            assert_eq!(err.kind, ErrorKind::Network, "{name} {route}: {err}");
            assert!(err.message.contains(&server.url(route)), "{}", err.message);
            assert!(
                listing(dir.path()).is_empty(),
                "{name} {route}: no partial file"
            );
        }
    }
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let server = HttpServer::start();
    let runtime = runtime_with_idle_timeout(std::time::Duration::from_millis(500));
    let dir = temp();
    let started = std::time::Instant::now();
    let err = runtime
        .load("http")
        .unwrap()
        .receive(
            &json!({"url": server.url("/stall")}).to_string(),
            ReceiveTarget::File(dir.path().join("out")),
            &TransferOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Network, "{err}");
    assert!(
        err.message.contains("timed out") || err.message.contains("timeout"),
        "{}",
        err.message
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(listing(dir.path()).is_empty());
}

#[tokio::test]
async fn a_refused_connection_is_a_network_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = temp();
    let url = format!("http://127.0.0.1:{port}/x");
    let access = json!({"url": url}).to_string();
    let target = ReceiveTarget::File(dir.path().join("out"));
    let started = std::time::Instant::now();
    let err = connector("http")
        .receive(&access, target, &with_retries(1))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "tried again after 1 s"
    );
    assert_eq!(err.kind, ErrorKind::Network);
    assert!(
        err.message.contains("could not connect") && err.message.contains(&url),
        "{}",
        err.message
    );
}

// ---- TLS -----------------------------------------------------------------------------

#[tokio::test]
async fn https_is_verified_unless_disabled() {
    let server = HttpServer::start_tls();
    server.put_file("t", b"over tls");
    let dir = temp();
    let target = dir.path().join("t");
    let err = receive("http", json!({"url": server.url("/files/t")}), &target)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Network);
    assert!(err.message.contains("certificate"), "{}", err.message);
    assert!(
        err.message.contains("disableSSLVerification"),
        "{}",
        err.message
    );
    assert!(listing(dir.path()).is_empty());
    assert!(
        server.seen().is_empty(),
        "no request was made over the unverified connection"
    );

    receive(
        "http",
        json!({"url": server.url("/files/t"), "disableSSLVerification": true}),
        &target,
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"over tls");

    // The setting is per transfer: the next one verifies again.
    let err = receive(
        "http",
        json!({"url": server.url("/files/t")}),
        &dir.path().join("u"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Network);
}

// ---- send ----------------------------------------------------------------------------

#[tokio::test]
async fn send_streams_the_file_with_content_length_and_no_content_type() {
    let server = HttpServer::start();
    let dir = temp();
    let source = dir.path().join("up.bin");
    let data = pattern(5 * 1024 * 1024 + 3);
    std::fs::write(&source, &data).unwrap();
    let outcome = send(
        "http",
        json!({"url": server.url("/files/up"), "method": "Put"}),
        &source,
    )
    .await
    .unwrap();
    assert_eq!(outcome.bytes, data.len() as u64);
    assert_eq!(server.file("up").unwrap(), data);
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "PUT");
    assert_eq!(
        seen[0].header("content-length"),
        Some(data.len().to_string().as_str())
    );
    assert_eq!(seen[0].header("transfer-encoding"), None);
    assert_eq!(seen[0].header("content-type"), None);
}

#[tokio::test]
async fn send_defaults_to_post_and_sends_an_empty_file_with_content_length_zero() {
    let server = HttpServer::start();
    let dir = temp();
    let source = dir.path().join("empty");
    std::fs::write(&source, b"").unwrap();
    send("http", json!({"url": server.url("/files/empty")}), &source)
        .await
        .unwrap();
    let seen = server.seen();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].header("content-length"), Some("0"));
    assert_eq!(server.file("empty").unwrap(), b"");
}

#[tokio::test]
async fn send_with_digest_replays_the_body() {
    let server = HttpServer::start();
    let dir = temp();
    let source = dir.path().join("d");
    std::fs::write(&source, b"replayed body").unwrap();
    let access = json!({"url": server.url("/digest/d"), "method": "PUT",
                        "auth": {"username": USER, "password": PASSWORD, "method": "DIGEST"}});
    send("http", access, &source).await.unwrap();
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].body, b"replayed body");
    assert_eq!(server.file("d").unwrap(), b"replayed body");
}

#[tokio::test]
async fn a_301_302_303_answer_to_a_send_is_an_error_naming_the_location() {
    let server = HttpServer::start();
    let dir = temp();
    let source = dir.path().join("s");
    std::fs::write(&source, b"payload").unwrap();
    for code in [301, 302, 303] {
        let url = server.url(&format!("/redirect/{code}?to=/files/moved"));
        let err = send("http", json!({"url": url, "method": "PUT"}), &source)
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Remote, "{code}");
        assert!(
            err.message.contains(&format!("answered {code}")),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("/files/moved"),
            "names the location: {}",
            err.message
        );
    }
    assert_eq!(
        server.seen().len(),
        3,
        "the upload was not repeated at the new location"
    );
    assert!(server.file("moved").is_none());
}

#[tokio::test]
async fn a_307_308_answer_to_a_send_resends_the_body() {
    let server = HttpServer::start();
    let dir = temp();
    let source = dir.path().join("s");
    std::fs::write(&source, b"payload").unwrap();
    for code in [307, 308] {
        let url = server.url(&format!("/redirect/{code}?to=/files/moved{code}"));
        send("http", json!({"url": url, "method": "PUT"}), &source)
            .await
            .unwrap();
        assert_eq!(server.file(&format!("moved{code}")).unwrap(), b"payload");
        let last = server.seen().pop().unwrap();
        assert_eq!(
            (last.method.as_str(), last.body.as_slice()),
            ("PUT", &b"payload"[..])
        );
    }
}

#[tokio::test]
async fn send_fails_on_an_error_status_and_on_a_missing_local_file() {
    let server = HttpServer::start();
    let dir = temp();
    let source = dir.path().join("s");
    std::fs::write(&source, b"x").unwrap();
    let err = send("http", json!({"url": server.url("/status/500")}), &source)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Remote);
    assert!(
        err.message.contains("POST") && err.message.contains("500"),
        "{}",
        err.message
    );

    let before = server.seen().len();
    let missing = dir.path().join("missing");
    let err = send("http", json!({"url": server.url("/files/m")}), &missing)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::LocalIo);
    assert!(err.message.contains("missing"), "{}", err.message);
    assert_eq!(server.seen().len(), before, "nothing was sent");
}

// ---- HttpJson, HttpMockSend ------------------------------------------------------------

#[tokio::test]
async fn http_json_receive_keeps_the_bytes_exactly_and_rejects_non_json() {
    let server = HttpServer::start();
    let doc = b"{ \"b\" : [1, 2.50, \"\\u00e9\"],\n  \"a\": null }\n";
    server.put_file("doc.json", doc);
    server.put_file("bad.json", b"{\"a\": 1,}");
    server.put_file("two.json", b"{} {}");
    let dir = temp();
    let target = dir.path().join("doc.json");
    receive(
        "http-json",
        json!({"url": server.url("/files/doc.json")}),
        &target,
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), doc, "not re-serialised");
    for bad in ["bad.json", "two.json"] {
        let target = dir.path().join(bad);
        let err = receive(
            "http-json",
            json!({"url": server.url(&format!("/files/{bad}"))}),
            &target,
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Remote, "{bad}");
        assert!(
            err.message.contains("not a valid JSON document"),
            "{}",
            err.message
        );
        assert!(!target.exists(), "{bad}: no file");
    }
    assert_eq!(listing(dir.path()), ["doc.json"]);
}

#[tokio::test]
async fn http_json_receive_of_a_large_document_streams() {
    let server = HttpServer::start();
    let mut doc = String::from("[");
    while doc.len() < 8 * 1024 * 1024 {
        doc.push_str("{\"k\": \"value\", \"n\": 12345.678},");
    }
    doc.push_str("null]");
    server.put_file("big.json", doc.as_bytes());
    let dir = temp();
    let target = dir.path().join("big.json");
    receive(
        "http-json",
        json!({"url": server.url("/files/big.json")}),
        &target,
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), doc.as_bytes());
}

#[tokio::test]
async fn http_json_send_checks_the_file_first_and_sets_the_content_type() {
    let server = HttpServer::start();
    let dir = temp();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, b"not json").unwrap();
    let err = send("http-json", json!({"url": server.url("/files/j")}), &bad)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::LocalIo);
    assert!(
        err.message.contains("not a valid JSON document"),
        "{}",
        err.message
    );
    assert!(server.seen().is_empty(), "no request for an invalid file");

    let good = dir.path().join("good.json");
    std::fs::write(&good, b"{\"x\": [1, 2]}").unwrap();
    send(
        "http-json",
        json!({"url": server.url("/files/j"), "method": "PUT"}),
        &good,
    )
    .await
    .unwrap();
    let seen = server.seen();
    assert_eq!(seen[0].header("content-type"), Some("application/json"));
    assert_eq!(server.file("j").unwrap(), b"{\"x\": [1, 2]}");
}

#[tokio::test]
async fn http_mock_send_sends_nothing_and_receives_like_http() {
    let server = HttpServer::start();
    server.put_file("m", b"mock");
    let dir = temp();
    let source = dir.path().join("s");
    std::fs::write(&source, b"never sent").unwrap();
    send(
        "http-mock-send",
        json!({"url": server.url("/files/m"), "method": "PUT"}),
        &source,
    )
    .await
    .unwrap();
    assert!(server.seen().is_empty());
    assert_eq!(server.file("m").unwrap(), b"mock");
    let target = dir.path().join("m");
    receive(
        "http-mock-send",
        json!({"url": server.url("/files/m")}),
        &target,
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"mock");
    // Validation is Http's.
    let err = send("http-mock-send", json!({"url": 5}), &source)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidAccess);
}

// ---- validation ----------------------------------------------------------------------

#[tokio::test]
async fn validation_reports_every_problem_with_its_json_path() {
    let access = json!({
        "url": "ftp://example.org/x",
        "method": "DELETE",
        "auth": {"username": 7, "method": "NTLM", "token": "t"},
        "disableSSLVerification": "yes",
        "extra": true
    })
    .to_string();
    for direction in [Direction::Receive, Direction::Send] {
        let err = connector("http")
            .validate(direction, &access)
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidAccess);
        let lines: Vec<&str> = err.message.lines().collect();
        for expected in [
            "/url: expected an http:// or https:// URL, got scheme \"ftp\"",
            "/method: expected one of GET, PUT, POST, got \"DELETE\"",
            "/auth/username: expected a string, got a number",
            "/auth/password: required",
            "/auth/method: expected one of BASIC, DIGEST, got \"NTLM\"",
            "/auth/token: unknown field (allowed: username, password, method)",
            "/disableSSLVerification: expected a boolean, got a string",
            "/extra: unknown field (allowed: url, method, auth, disableSSLVerification, checksum)",
        ] {
            assert!(
                lines.contains(&expected),
                "missing {expected:?} in {lines:#?}"
            );
        }
        assert_eq!(lines.len(), 8, "{lines:#?}");
    }
}

#[tokio::test]
async fn validation_accepts_the_seed_and_later_forms_without_network() {
    let http = connector("http");
    for access in [
        json!({"url": "https://example.org/a"}),
        json!({"url": "http://example.org/a", "method": "Get"}),
        json!({"url": "http://example.org/a", "method": "put",
               "auth": {"username": "u", "password": "p", "method": "Basic"},
               "disableSSLVerification": true}),
        json!({"url": "http://example.org/a", "auth": {"username": "u", "password": "p", "method": "digest"}}),
    ] {
        http.validate(Direction::Receive, &access.to_string())
            .await
            .unwrap();
        http.validate(Direction::Send, &access.to_string())
            .await
            .unwrap();
    }
    for (access, expected) in [
        ("not json", "/: the access document is not valid JSON"),
        ("[1]", "/: expected an object, got an array"),
        ("{}", "/url: required"),
        ("{\"url\": \"\"}", "/url: must not be empty"),
        ("{\"url\": \"http://\"}", "/url: "),
    ] {
        let err = http.validate(Direction::Receive, access).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidAccess, "{access}");
        assert!(
            err.message.starts_with(expected),
            "{access}: {}",
            err.message
        );
    }
}

#[tokio::test]
async fn info_gives_name_version_and_a_json_schema() {
    for name in ["http", "http-json", "http-mock-send"] {
        let info = connector(name).info().await.unwrap();
        assert_eq!(info.name, name);
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(info.access_schema["required"], json!(["url"]));
        assert_eq!(info.access_schema["additionalProperties"], json!(false));
    }
}

// ---- the command ---------------------------------------------------------------------

#[test]
fn cli_receives_to_a_file_and_to_stdout() {
    let server = HttpServer::start();
    let data = pattern(100_000);
    server.put_file("c", &data);
    let dir = temp();
    let access = dir.path().join("access.json");
    std::fs::write(&access, json!({"url": server.url("/files/c")}).to_string()).unwrap();
    let target = dir.path().join("c.bin");
    let out = cli(&[
        "run",
        "http",
        access.to_str().unwrap(),
        "-o",
        target.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read(&target).unwrap(), data);

    let out = cli(&["run", "http", access.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, data);
}

#[test]
fn cli_sends_with_inline_access() {
    let server = HttpServer::start();
    let dir = temp();
    let source = dir.path().join("s");
    std::fs::write(&source, b"from the cli").unwrap();
    let access = json!({"url": server.url("/files/s"), "method": "PUT"}).to_string();
    let out = cli(&["run", "http", &access, "--send", source.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(server.file("s").unwrap(), b"from the cli");
}

#[test]
fn cli_exit_codes_differ_by_error_kind() {
    let server = HttpServer::start();
    server.put_file("secret", b"s");
    let dir = temp();
    let target = dir.path().join("o");
    let t = target.to_str().unwrap();
    let cases = [
        (json!({"url": 3}), 10, "/url: expected a string"),
        (
            json!({"url": server.url("/basic/secret"), "auth": {"username": "u", "password": "bad"}}),
            11,
            "401",
        ),
        (json!({"url": server.url("/status/404")}), 12, "404"),
        (json!({"url": server.url("/status/409")}), 13, "409"),
        (
            json!({"url": server.url("/redirect/302?to=http://127.0.0.1:9/x")}),
            14,
            "--allow-host 127.0.0.1:9",
        ),
        (json!({"url": server.url("/truncated")}), 15, "/truncated"),
        (json!({"url": server.url("/status/500")}), 16, "500"),
    ];
    for (access, code, needle) in cases {
        let out = cli(&[
            "run",
            "http",
            &access.to_string(),
            "-o",
            t,
            "--retries",
            "0",
        ]);
        assert_eq!(out.status.code(), Some(code), "{access}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{access}: {}", stderr(&out));
        assert!(!stderr(&out).contains("bad\""), "no secret in messages");
        assert!(
            listing(dir.path()).is_empty(),
            "{access}: nothing left behind"
        );
    }
    let unwritable = dir.path().join("no/such/dir/o");
    let access = json!({"url": server.url("/files/secret")}).to_string();
    let out = cli(&["run", "http", &access, "-o", unwritable.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(17), "{}", stderr(&out));
    let out = cli(&["run", "no-such-connector", &access]);
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("built-in: http, http-json, http-mock-send"),
        "{}",
        stderr(&out)
    );
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"\0asm garbage").unwrap();
    let out = cli(&["run", garbage.to_str().unwrap(), &access]);
    assert_eq!(out.status.code(), Some(18), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a loadable WebAssembly component"),
        "{}",
        stderr(&out)
    );
    let out = cli(&["run", "http"]);
    assert_eq!(out.status.code(), Some(2), "usage error");
}

#[test]
fn cli_validate_info_and_list() {
    let out = cli(&[
        "validate",
        "http",
        r#"{"url": "http://example.org", "auth": {}}"#,
    ]);
    assert_eq!(out.status.code(), Some(10));
    let err = stderr(&out);
    assert!(
        err.contains("/auth/username: required") && err.contains("/auth/password: required"),
        "{err}"
    );
    let out = cli(&[
        "validate",
        "http-json",
        r#"{"url": "http://example.org"}"#,
        "--send",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cli(&["info", "http"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("name:        http") && text.contains("\"disableSSLVerification\""),
        "{text}"
    );
    let out = cli(&["list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for name in ["http ", "http-json ", "http-mock-send "] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{text}");
    }
}

#[tokio::test]
async fn a_password_in_the_url_never_appears_in_messages() {
    let server = HttpServer::start();
    let dir = temp();
    let base = server.base().replace("http://", "http://alice:hunter2@");
    for path in ["/status/404", "/truncated", "/loop/0"] {
        let err = receive_once(
            "http",
            json!({"url": format!("{base}{path}")}),
            &dir.path().join("o"),
        )
        .await
        .unwrap_err();
        assert!(!err.message.contains("hunter2"), "{}", err.message);
        assert!(err.message.contains(path), "{}", err.message);
    }
}

#[test]
fn cli_timeouts_default_to_the_originals_and_can_be_set() {
    let defaults = red_wasm::Timeouts::default();
    assert_eq!(defaults.connect, std::time::Duration::from_secs(12));
    assert_eq!(defaults.idle, std::time::Duration::from_secs(1000));
    let server = HttpServer::start();
    let access = json!({"url": server.url("/stall")}).to_string();
    let started = std::time::Instant::now();
    let out = cli(&[
        "run",
        "http",
        &access,
        "--idle-timeout",
        "0.5",
        "--retries",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(15), "{}", stderr(&out));
    assert!(stderr(&out).contains("/stall"), "{}", stderr(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let out = cli(&["run", "http", &access, "--idle-timeout=0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--idle-timeout"), "{}", stderr(&out));
}

/// Receives without retries or resumption, for tests of what a failure leaves (the tests at
/// the end try again).
async fn receive_once(
    name: &str,
    access: serde_json::Value,
    target: &std::path::Path,
) -> red_wasm::Result<red_wasm::Outcome> {
    connector(name)
        .receive(
            &access.to_string(),
            ReceiveTarget::File(target.to_path_buf()),
            &with_retries(0),
        )
        .await
}

/// Options with `retries` tries again per request.
fn with_retries(retries: u32) -> TransferOptions {
    TransferOptions {
        retries,
        ..TransferOptions::default()
    }
}

fn requests_for(server: &HttpServer, path: &str) -> usize {
    server.seen().iter().filter(|s| s.target == path).count()
}

#[tokio::test]
async fn transient_failures_are_tried_again_where_that_is_safe() {
    let server = HttpServer::start();
    server.put_file("data", b"the data");
    let dir = temp();
    let target = dir.path().join("out");
    let http = connector("http");

    // 503 twice, then the file: a GET gets it on the third try, after 1 s and 2 s.
    let started = std::time::Instant::now();
    let access = json!({"url": server.url("/flaky/2/data")}).to_string();
    http.receive(
        &access,
        ReceiveTarget::File(target.clone()),
        &with_retries(3),
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"the data");
    assert_eq!(requests_for(&server, "/flaky/2/data"), 3);
    assert!(started.elapsed() >= std::time::Duration::from_secs(3));

    // 429 with Retry-After: 1 is honoured.
    let started = std::time::Instant::now();
    let access = json!({"url": server.url("/busy/data")}).to_string();
    http.receive(
        &access,
        ReceiveTarget::File(target.clone()),
        &with_retries(3),
    )
    .await
    .unwrap();
    assert_eq!(requests_for(&server, "/busy/data"), 2);
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));

    // A POST whose body went out is not repeated; a PUT is.
    let source = dir.path().join("source");
    std::fs::write(&source, b"upload").unwrap();
    let post = json!({"url": server.url("/flaky/1/posted"), "method": "POST"}).to_string();
    let err = http
        .send(&post, &source, &with_retries(3))
        .await
        .unwrap_err();
    assert!(err.message.contains("503"), "{}", err.message);
    assert_eq!(requests_for(&server, "/flaky/1/posted"), 1);
    let put = json!({"url": server.url("/flaky/1/put"), "method": "PUT"}).to_string();
    http.send(&put, &source, &with_retries(3)).await.unwrap();
    assert_eq!(requests_for(&server, "/flaky/1/put"), 2);
    assert_eq!(server.file("put").unwrap(), b"upload");

    // Out of tries: the last answer stands; --retries 0 tries once.
    let access = json!({"url": server.url("/flaky/5/data")}).to_string();
    let err = http
        .receive(
            &access,
            ReceiveTarget::File(target.clone()),
            &with_retries(1),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Remote);
    assert_eq!(requests_for(&server, "/flaky/5/data"), 2);
    let access = json!({"url": server.url("/flaky/9/data")}).to_string();
    http.receive(
        &access,
        ReceiveTarget::File(target.clone()),
        &with_retries(0),
    )
    .await
    .unwrap_err();
    assert_eq!(requests_for(&server, "/flaky/9/data"), 1);

    // Every try counts against --max-requests.
    let access = json!({"url": server.url("/flaky/3/data")}).to_string();
    let options = TransferOptions {
        limits: red_wasm::Limits {
            max_requests: 2,
            ..red_wasm::Limits::default()
        },
        ..with_retries(5)
    };
    let err = http
        .receive(&access, ReceiveTarget::File(target.clone()), &options)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{}", err.message);
    assert!(err.message.contains("--max-requests"), "{}", err.message);
}

#[tokio::test]
async fn a_connector_can_send_a_request_at_most_once() {
    let server = HttpServer::start();
    server.put_file("data", b"x");
    let dir = temp();
    let target = dir.path().join("out");
    let hostile = runtime()
        .load_file(&hostile_dir().join("hostile_contract.wasm"))
        .unwrap();
    let access = json!({"attack": "send-once", "url": server.url("/flaky/1/data")}).to_string();
    hostile
        .receive(
            &access,
            ReceiveTarget::File(target.clone()),
            &with_retries(3),
        )
        .await
        .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"503");
    assert_eq!(requests_for(&server, "/flaky/1/data"), 1);
}

#[tokio::test]
async fn a_cut_body_is_resumed_or_started_over_never_spliced() {
    let server = HttpServer::start();
    let data = pattern(64 << 20);
    server.put_file("big", &data);
    let other = pattern(3 << 20)
        .iter()
        .map(|b| b ^ 0x5a)
        .collect::<Vec<u8>>();
    server.put_file("other", &other);
    let dir = temp();
    let target = dir.path().join("out");
    let http = connector("http");
    let options = with_retries(3);

    // Every answer stops after 10 MiB: resumed from each cut, byte-identical, 7 requests.
    let access = json!({"url": server.url(&format!("/cut/{}/big", 10 << 20))}).to_string();
    http.receive(&access, ReceiveTarget::File(target.clone()), &options)
        .await
        .unwrap();
    assert!(std::fs::read(&target).unwrap() == data, "byte-identical");
    let seen: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|s| s.target.starts_with("/cut/"))
        .collect();
    assert_eq!(seen.len(), 7, "one request per 10 MiB");
    assert_eq!(
        seen[1].header("range"),
        Some(format!("bytes={}-", 10 << 20).as_str())
    );
    assert!(seen[1]
        .header("if-range")
        .is_some_and(|v| v.starts_with("\"67108864-")));

    // A server that ignores Range: the second answer is whole, and the file starts over.
    let access = json!({"url": server.url("/once/1000000/big")}).to_string();
    http.receive(&access, ReceiveTarget::File(target.clone()), &options)
        .await
        .unwrap();
    assert!(std::fs::read(&target).unwrap() == data);

    // The file changed between tries (another ETag): the new one whole, nothing spliced.
    let access = json!({"url": server.url("/swap/1000000/big/other")}).to_string();
    http.receive(&access, ReceiveTarget::File(target.clone()), &options)
        .await
        .unwrap();
    assert!(
        std::fs::read(&target).unwrap() == other,
        "the new file, whole"
    );

    // Without retries, a cut is an error and leaves nothing.
    std::fs::remove_file(&target).unwrap();
    let access = json!({"url": server.url(&format!("/cut/{}/big", 10 << 20))}).to_string();
    let err = http
        .receive(
            &access,
            ReceiveTarget::File(target.clone()),
            &with_retries(0),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Network, "{}", err.message);
    assert!(listing(dir.path()).is_empty());
}

#[tokio::test]
async fn a_body_that_does_not_match_its_stated_digest_is_not_kept() {
    let server = HttpServer::start();
    server.put_file("doc", b"the document");
    let dir = temp();
    let target = dir.path().join("out");
    receive("http", json!({"url": server.url("/stated/doc")}), &target)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"the document");
    let other = dir.path().join("other");
    let err = receive(
        "http",
        json!({"url": server.url("/stated/doc?wrong")}),
        &other,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Remote, "{}", err.message);
    assert!(err.message.contains("Repr-Digest"), "{}", err.message);
    assert_eq!(listing(dir.path()), ["out"], "nothing kept");
}

#[test]
fn no_digest_check_keeps_a_body_whose_stated_digest_differs() {
    let server = HttpServer::start();
    server.put_file("doc", b"the document");
    let dir = temp();
    let target = dir.path().join("out");
    let access = json!({"url": server.url("/stated/doc?wrong")}).to_string();
    let t = target.to_str().unwrap();
    let out = cli(&["run", "http", &access, "-o", t]);
    assert_eq!(out.status.code(), Some(16), "{}", stderr(&out));
    assert!(!target.exists());
    let out = cli(&["run", "http", &access, "-o", t, "--no-digest-check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&target).unwrap(), b"the document");
}

#[tokio::test]
async fn an_access_checksum_is_checked_as_the_file_streams() {
    use sha2::Digest as _;
    let server = HttpServer::start();
    let data = pattern(3 << 20);
    server.put_file("data", &data);
    let sum: String = sha2::Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = temp();
    let url = server.url("/files/data");
    let target = dir.path().join("ok");
    receive(
        "http",
        json!({"url": url, "checksum": format!("sha256${sum}")}),
        &target,
    )
    .await
    .unwrap();
    assert!(std::fs::read(&target).unwrap() == data);
    let wrong = format!("sha256${}", "0".repeat(64));
    let err = receive(
        "http",
        json!({"url": url, "checksum": wrong}),
        &dir.path().join("bad"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Remote, "{}", err.message);
    assert!(err.message.contains("sha256"), "{}", err.message);
    assert_eq!(listing(dir.path()), ["ok"]);
    let err = connector("http")
        .validate(
            Direction::Receive,
            &json!({"url": url, "checksum": "crc32$1234"}).to_string(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidAccess);
    assert!(err.message.contains("/checksum"), "{}", err.message);
}

#[tokio::test]
async fn the_deadline_bounds_the_retries() {
    let server = HttpServer::start();
    server.put_file("data", b"x");
    let dir = temp();
    let options = TransferOptions {
        limits: red_wasm::Limits {
            timeout: Some(std::time::Duration::from_secs(2)),
            ..red_wasm::Limits::default()
        },
        ..with_retries(10)
    };
    let access = json!({"url": server.url("/flaky/20/data")}).to_string();
    let started = std::time::Instant::now();
    let err = connector("http")
        .receive(&access, ReceiveTarget::File(dir.path().join("o")), &options)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{}", err.message);
    assert!(err.message.contains("--timeout"), "{}", err.message);
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert!(listing(dir.path()).is_empty());
}
