//! Against the servers institutions run: nginx and Apache httpd, configured as sites configure
//! them (tests/kit/src/web.rs), started here on 127.0.0.1. A server that is not installed is
//! skipped with a printed reason (`.ci/deps` installs both).

mod support;

use red_wasm::ErrorKind;
use red_wasm_testkit::http::pattern;
use red_wasm_testkit::web::{self, Certificate, WebServer, PASSWORD, USER};
use serde_json::json;
use support::*;

fn auth() -> serde_json::Value {
    json!({"username": USER, "password": PASSWORD})
}

#[tokio::test]
async fn nginx_static_files_gzip_and_auth_basic() {
    let Some(nginx) = WebServer::nginx(None) else {
        return;
    };
    let data = pattern(3 << 20);
    nginx.put("data.bin", &data);
    let json_doc = format!("[{}]", vec!["1.5"; 50_000].join(","));
    nginx.put("table.json", json_doc.as_bytes());
    nginx.put("private/secret.csv", b"a,b\n1,2\n");
    let dir = temp();

    let target = dir.path().join("data.bin");
    receive("http", json!({"url": nginx.url("/data.bin")}), &target)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), data);

    // nginx compresses JSON for a client that accepts gzip: the file is the document itself.
    let target = dir.path().join("table.json");
    receive(
        "http-json",
        json!({"url": nginx.url("/table.json")}),
        &target,
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), json_doc.as_bytes());

    let target = dir.path().join("secret.csv");
    let access = json!({"url": nginx.url("/private/secret.csv"), "auth": auth()});
    receive("http", access.clone(), &target).await.unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"a,b\n1,2\n");
    let wrong = merged(
        &access,
        json!({"auth": {"username": USER, "password": "wrong"}}),
    );
    let err = receive("http", wrong, &dir.path().join("no"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    assert!(!dir.path().join("no").exists());
}

#[tokio::test]
async fn nginx_dav_put_creates_and_replaces_and_413_is_reported() {
    let Some(nginx) = WebServer::nginx(None) else {
        return;
    };
    let dir = temp();
    let file = dir.path().join("up.bin");
    for size in [2 << 20, 1000] {
        let data = pattern(size);
        std::fs::write(&file, &data).unwrap();
        let access = json!({"url": nginx.url("/dav/new/folder/up.bin"), "method": "PUT"});
        send("http", access, &file).await.unwrap();
        assert_eq!(nginx.file("dav/new/folder/up.bin").unwrap(), data, "{size}");
    }
    let access = json!({"url": nginx.url("/private/up.bin"), "method": "PUT", "auth": auth()});
    send("http", access, &file).await.unwrap();
    assert_eq!(nginx.file("private/up.bin").unwrap(), pattern(1000));

    std::fs::write(&file, pattern(64 << 10)).unwrap();
    let access = json!({"url": nginx.url("/small/x.bin"), "method": "PUT"});
    let err = send("http", access, &file).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Remote, "{err}");
    assert!(err.message.contains("413"), "{err}");
    assert!(nginx.file("small/x.bin").is_none());
}

#[tokio::test]
async fn nginx_https_with_self_made_certificates_says_what_is_wrong() {
    for (certificate, meaning) in [
        (
            Certificate::PrivateCa,
            "not signed by an authority this machine trusts",
        ),
        (
            Certificate::SelfSigned,
            "is a CA certificate, not a server certificate",
        ),
    ] {
        let Some(nginx) = WebServer::nginx(Some(certificate)) else {
            return;
        };
        nginx.put("dav/x.txt", b"over TLS");
        let dir = temp();
        let target = dir.path().join("x.txt");
        let access = json!({"url": nginx.tls_url("/dav/x.txt")});
        let err = receive("http", access.clone(), &target).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Network, "{err}");
        assert!(err.message.contains(meaning), "{certificate:?}: {err}");
        assert!(err.message.contains("disableSSLVerification"), "{err}");
        assert!(!err.message.contains("Other(OtherError"), "{err}");

        let insecure = merged(&access, json!({"disableSSLVerification": true}));
        receive("http", insecure, &target).await.unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"over TLS");
        let log = nginx.access_log_with("HTTP/2.0");
        assert!(log.contains("HTTP/2.0"), "spoken over http2: {log}");
    }
}

#[tokio::test]
async fn an_http_url_upgraded_to_https_by_the_site_keeps_its_credentials() {
    if !(web::port_is_free(80) && web::port_is_free(443)) {
        eprintln!("skipped: ports 80 and 443 of 127.0.0.1 cannot be bound here (they need root and must be free)");
        return;
    }
    let Some(nginx) = WebServer::nginx_on(80, Some((443, Certificate::SelfSigned))) else {
        return;
    };
    nginx.put("up/report.csv", b"upgraded");
    let dir = temp();
    let target = dir.path().join("report.csv");
    // The RED file names http://, the site answers 301 to https://: no --allow-host needed.
    let access = json!({"url": "http://127.0.0.1/up/report.csv", "auth": auth(),
                        "disableSSLVerification": true});
    receive("http", access, &target).await.unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"upgraded");
    let log = nginx.access_log_with("HTTP/2.0\" 200");
    assert!(log.contains("\"GET /up/report.csv HTTP/1.1\" 301"), "{log}");
    assert!(log.contains("\"GET /up/report.csv HTTP/2.0\" 200"), "{log}");
}

#[tokio::test]
async fn apache_digest_put_sends_the_body_once_and_gets_it_back() {
    let Some(apache) = WebServer::apache() else {
        return;
    };
    let dir = temp();
    let file = dir.path().join("up.bin");
    let data = pattern(4 << 20);
    std::fs::write(&file, &data).unwrap();
    let digest = json!({"username": USER, "password": PASSWORD, "method": "DIGEST"});
    let access = json!({"url": apache.url("/digest/up.bin"), "method": "PUT", "auth": digest});
    send("http", access.clone(), &file).await.unwrap();
    assert_eq!(apache.file("digest/up.bin").unwrap(), data);
    // Apache's log: %m %U %>s %I (bytes received, headers included).
    let log = apache.access_log_with("PUT /digest/up.bin 201");
    let received: Vec<u64> = log
        .lines()
        .filter(|l| l.starts_with("PUT "))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(received.len(), 2, "a probe, then the upload: {log}");
    assert!(received[0] < 4096, "the probe carried no body: {log}");
    assert!(
        received[1] < data.len() as u64 + 4096,
        "the body went once: {log}"
    );

    let target = dir.path().join("back.bin");
    let access = merged(&access, json!({"method": "GET"}));
    receive("http", access.clone(), &target).await.unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), data);
    let wrong = merged(
        &access,
        json!({"auth": {"username": USER, "password": "nope", "method": "DIGEST"}}),
    );
    let err = receive("http", wrong, &dir.path().join("no"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
}

#[tokio::test]
async fn nginx_serves_a_listed_folder_and_an_archive_behind_auth_basic() {
    let Some(nginx) = WebServer::nginx(None) else {
        return;
    };
    let data = pattern(1 << 20);
    nginx.put("private/run 1/a.csv", b"a,b\n1,2\n");
    nginx.put("private/run 1/raw/data.bin", &data);
    // The same tree as a gzip-compressed tar, made by GNU tar as a site would.
    let tgz = temp();
    let archive = tgz.path().join("run.tgz");
    let status = std::process::Command::new("tar")
        .args(["czf", archive.to_str().unwrap(), "-C"])
        .arg(nginx.root().join("private/run 1"))
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    nginx.put("private/run.tgz", &std::fs::read(&archive).unwrap());
    let listed = json!([
        {"class": "File", "basename": "a.csv", "size": 8},
        {"class": "Directory", "basename": "raw", "listing": [{"class": "File", "basename": "data.bin"}]}
    ])
    .to_string();
    let options = red_wasm::TransferOptions::default();
    let dir = temp();

    let access = json!({"url": nginx.url("/private/run 1"), "auth": auth()}).to_string();
    let target = dir.path().join("listed");
    connector("http")
        .receive_dir(&access, Some(&listed), &target, &options)
        .await
        .unwrap();
    assert_eq!(std::fs::read(target.join("raw/data.bin")).unwrap(), data);
    let encoded = "/private/run%201/raw/data.bin";
    assert!(
        nginx.access_log_with(encoded).contains(encoded),
        "each path percent-encoded"
    );

    let access =
        json!({"url": nginx.url("/private/run.tgz"), "auth": auth(), "archiveFormat": "gztar"})
            .to_string();
    let target = dir.path().join("unpacked");
    connector("http-archive")
        .receive_dir(&access, Some(&listed), &target, &options)
        .await
        .unwrap();
    assert_eq!(std::fs::read(target.join("a.csv")).unwrap(), b"a,b\n1,2\n");
    assert_eq!(std::fs::read(target.join("raw/data.bin")).unwrap(), data);

    // A wrong password fails the first file, and nothing is left.
    let wrong = json!({"url": nginx.url("/private/run 1"), "auth": {"username": USER, "password": "wrong"}})
        .to_string();
    let err = connector("http")
        .receive_dir(&wrong, Some(&listed), &dir.path().join("no"), &options)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    assert_eq!(listing(dir.path()), ["listed", "unpacked"]);
}

/// nginx as it serves files (ETag from the modification time and size, Range and If-Range
/// honoured) behind a link cut part-way: the download resumes from where it stopped, and when
/// the file was replaced between the cut and the resumption, starts over; either way the
/// result is what nginx serves, never two versions joined.
#[tokio::test]
async fn nginx_a_cut_download_resumes_and_a_changed_file_starts_over() {
    let Some(nginx) = WebServer::nginx(None) else {
        return;
    };
    let old = pattern(24 << 20);
    nginx.put("big.bin", &old);
    let served: std::net::SocketAddr = nginx
        .url("/")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let dir = temp();
    let through = |proxy: &red_wasm_testkit::proxy::CutProxy| json!({"url": format!("http://127.0.0.1:{}/big.bin", proxy.port())});

    let proxy = red_wasm_testkit::proxy::CutProxy::start(served, 5 << 20);
    let target = dir.path().join("resumed.bin");
    receive("http", through(&proxy), &target).await.unwrap();
    assert!(std::fs::read(&target).unwrap() == old, "byte-identical");
    assert_eq!(proxy.connections(), 2, "one resumption");

    let new: Vec<u8> = old.iter().map(|b| b ^ 0x3c).collect();
    let (file, with) = (nginx.root().join("big.bin"), new.clone());
    let proxy = red_wasm_testkit::proxy::CutProxy::start_with(served, 5 << 20, move || {
        std::fs::write(&file, &with).unwrap();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(10);
        let f = std::fs::File::options().write(true).open(&file).unwrap();
        f.set_modified(later).unwrap();
    });
    let target = dir.path().join("changed.bin");
    receive("http", through(&proxy), &target).await.unwrap();
    assert!(
        std::fs::read(&target).unwrap() == new,
        "all of the new version"
    );
    assert_eq!(proxy.connections(), 2, "one more request, from the start");
}
