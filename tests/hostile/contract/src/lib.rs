//! A connector that tries one escape per call. The access document says which (`attack`), and
//! gives what the attack needs: `url` (an allowed server), `target` (`HOST:PORT` of a server
//! that is not allowed, without a scheme so that it is not derived as allowed), `password`
//! (sealed by the host; the connector only ever has the token).
//!
//! The attacks that get something write it to the sink, so that a test can see what leaked.

use base64::Engine as _;
use red_connector_sdk::bindings::red::connector::sftp;
use red_connector_sdk::http::{self, AuthScheme, Body, Credentials, Request};
use red_connector_sdk::log::{self, Level};
use red_connector_sdk::{
    export_connector, ConnectorInfo, DirSink, DirSource, DirectoryGuest, Error, ErrorKind, Guest,
    Sink, Source,
};

struct Hostile;

fn field(access: &serde_json::Value, name: &str) -> String {
    access[name].as_str().unwrap_or_default().to_owned()
}

fn get(url: String, headers: Vec<(String, String)>, body: Body) -> Result<http::Response, Error> {
    let request = Request {
        method: "POST".into(),
        url,
        headers,
        auth: None,
        verify_tls: true,
        follow_redirects: true,
    };
    http::send(&request, &body)
}

/// A GET of `url` + `path` with the sealed `password` as credentials.
fn with_password(access: &serde_json::Value, path: &str, scheme: AuthScheme) -> Request {
    Request {
        method: "GET".into(),
        url: format!("{}{path}", field(access, "url")),
        headers: vec![],
        auth: Some(Credentials {
            username: "alice".into(),
            password: field(access, "password"),
            scheme,
        }),
        verify_tls: true,
        follow_redirects: true,
    }
}

fn fail(message: String) -> Error {
    Error::new(ErrorKind::Remote, message)
}

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64, pad: &mut [u8; 256]) -> u64 {
    pad[(depth % 256) as usize] = depth as u8;
    let mut next = [0u8; 256];
    next[0] = pad[0];
    recurse(depth + 1, &mut next) + u64::from(pad[1])
}

impl Guest for Hostile {
    fn info() -> ConnectorInfo {
        ConnectorInfo {
            name: "hostile".into(),
            version: "0".into(),
            description: "tries to escape".into(),
            access_schema: "{}".into(),
        }
    }

    fn validate_receive(access: String) -> Result<(), Error> {
        // Validation is offline: this request must never leave, least of all with a password.
        let doc: serde_json::Value = serde_json::from_str(&access).unwrap_or_default();
        if field(&doc, "attack") == "validate-leak" {
            let request = with_password(&doc, "/echo", AuthScheme::Basic);
            http::send(&request, &Body::Empty)?;
        }
        Ok(())
    }

    fn validate_send(_access: String) -> Result<(), Error> {
        Ok(())
    }

    fn receive(access: String, target: Sink) -> Result<(), Error> {
        let doc: serde_json::Value = serde_json::from_str(&access).unwrap_or_default();
        let password = field(&doc, "password");
        match field(&doc, "attack").as_str() {
            "read-passwd" => {
                let bytes = std::fs::read("/etc/passwd").map_err(|e| fail(format!("read: {e}")))?;
                target.write(&bytes)
            }
            "list-root" => {
                let entries = std::fs::read_dir("/").map_err(|e| fail(format!("read_dir: {e}")))?;
                let names: Vec<String> = entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                target.write(names.join("\n").as_bytes())
            }
            "env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
                let args: Vec<String> = std::env::args().collect();
                let cwd = std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default();
                let home = std::env::var("HOME").unwrap_or_default();
                let seen = format!("vars={vars:?} args={args:?} cwd={cwd} home={home}");
                target.write(seen.as_bytes())
            }
            "deny-host" => {
                let response = get(
                    format!("http://{}/", field(&doc, "target")),
                    vec![],
                    Body::Empty,
                )?;
                response.copy_to_sink(&target).map(drop)
            }
            "redirect-escape" => {
                let url = format!(
                    "{}/redirect/302?to=http://{}/files/x",
                    field(&doc, "url"),
                    field(&doc, "target")
                );
                let request = Request {
                    method: "GET".into(),
                    url,
                    headers: vec![],
                    auth: None,
                    verify_tls: true,
                    follow_redirects: true,
                };
                http::send(&request, &Body::Empty)?
                    .copy_to_sink(&target)
                    .map(drop)
            }
            "leak-request" => {
                let url = format!("{}/files/leak?p={password}", field(&doc, "url"));
                let headers = vec![("X-Leak".to_owned(), password.clone())];
                get(url, headers, Body::Bytes(password.clone().into_bytes()))?;
                Ok(())
            }
            "leak-log" => {
                log::log(Level::Warn, &format!("the password is {password}"));
                log::log(Level::Warn, &format!("the access document is {access}"));
                Err(fail(format!("failing with the password {password}")))
            }
            "oom" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    if hoard.len() > 1 << 20 {
                        return Ok(());
                    }
                }
            }
            "spin" => {
                let mut x: u64 = 1;
                loop {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    if x == 0 {
                        return Ok(());
                    }
                }
            }
            "recurse" => {
                let mut pad = [0u8; 256];
                let n = recurse(0, &mut pad);
                target.write(&n.to_le_bytes())
            }
            "write-flood" => {
                let chunk = vec![7u8; 1 << 20];
                // Ignore errors: a limit must stop the connector all the same.
                for _ in 0..10_000 {
                    let _ = target.write(&chunk);
                }
                Ok(())
            }
            "request-flood" => {
                for _ in 0..100_000 {
                    let _ = get(
                        format!("{}/files/x", field(&doc, "url")),
                        vec![],
                        Body::Empty,
                    );
                }
                Ok(())
            }
            "tls-skip" => {
                let request = Request {
                    verify_tls: false,
                    ..with_password(&doc, "/echo", AuthScheme::Basic)
                };
                http::send(&request, &Body::Empty)?
                    .copy_to_sink(&target)
                    .map(drop)
            }
            "digest-username" => {
                // The password's token as the user name: it must go out as the token.
                let mut request = with_password(&doc, "/echo?challenge=digest", AuthScheme::Digest);
                if let Some(auth) = request.auth.as_mut() {
                    auth.username = password.clone();
                }
                http::send(&request, &Body::Empty)?
                    .copy_to_sink(&target)
                    .map(drop)
            }
            "userinfo-and-auth" => {
                let mut request = with_password(&doc, "/echo", AuthScheme::Basic);
                request.url = request.url.replacen("://", "://mallory:hunter2@", 1);
                request
                    .headers
                    .push(("Authorization".into(), "Bearer from-the-connector".into()));
                http::send(&request, &Body::Empty)?
                    .copy_to_sink(&target)
                    .map(drop)
            }
            "sftp-username" => {
                // The sealed password as the SSH user name, the real password in clear.
                let config = sftp::ConnectConfig {
                    host: field(&doc, "host"),
                    port: doc["port"].as_u64().unwrap_or(22) as u16,
                    username: password.clone(),
                    credential: sftp::Credential::Password(field(&doc, "pw")),
                    connect_timeout_ms: 5000,
                    banner_timeout_ms: 5000,
                    auth_timeout_ms: 5000,
                };
                sftp::Session::connect(&config).map(drop)
            }
            "echo-auth" => {
                // The user's own server echoes the Authorization header: the guest now holds
                // the password and tries to get it out in every form it can think of.
                let request = with_password(&doc, "/echo", AuthScheme::Basic);
                let response = http::send(&request, &Body::Empty)?;
                let echoed = String::from_utf8(response.read(1 << 16)?).unwrap_or_default();
                let encoded = echoed.trim().trim_start_matches("Basic ").to_owned();
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(&encoded)
                    .unwrap_or_default();
                let decoded = String::from_utf8_lossy(&decoded).into_owned();
                let real = decoded
                    .split_once(':')
                    .map(|(_, p)| p)
                    .unwrap_or("")
                    .to_owned();
                let hex: String = real.bytes().map(|b| format!("{b:02x}")).collect();
                let reversed: String = real.chars().rev().collect();
                let spaced: String = real.chars().map(|c| format!("{c} ")).collect();
                let percent: String = real.bytes().map(|b| format!("%{b:02X}")).collect();
                for line in [
                    format!("echoed {echoed}"),
                    format!("decoded {decoded}"),
                    format!("raw {real}"),
                    format!("hex {hex} HEX {}", hex.to_uppercase()),
                    format!("percent {percent}"),
                    format!("reversed {reversed} spaced {spaced}"),
                    format!("{}{real}", "x".repeat(4090)),
                ] {
                    log::log(Level::Warn, &line);
                }
                target.write(format!("{real}\n{hex}\n").as_bytes())?;
                Err(fail(format!("the password is {real} ({encoded})")))
            }
            "body-flood" => {
                for _ in 0..20 {
                    let body = Body::Bytes(vec![7u8; 10 << 20]);
                    let _ = get(format!("{}/sink/x", field(&doc, "url")), vec![], body);
                }
                Ok(())
            }
            "hold-responses" => {
                let mut held = Vec::new();
                for _ in 0..10_000 {
                    held.push(get(
                        format!("{}/files/x", field(&doc, "url")),
                        vec![],
                        Body::Empty,
                    )?);
                }
                Ok(())
            }
            "forge-log" => {
                log::log(
                    Level::Warn,
                    "innocent\nred-wasm: denied: forged by the connector\x1b[31m",
                );
                Err(fail(
                    "failed\x1b]0;title\x07\nred-wasm: error: forged too\r".into(),
                ))
            }
            "huge-log" => {
                log::log(Level::Warn, &"L".repeat(100 << 20));
                Ok(())
            }
            "pollable-flood" => {
                // WASI handles cost the host memory too: hold timers without end.
                let mut held = Vec::new();
                for _ in 0..1_000_000 {
                    held.push(wasip2::clocks::monotonic_clock::subscribe_duration(1 << 40));
                }
                target.write(format!("held {}", held.len()).as_bytes())
            }
            "header-flood" => {
                let headers = (0..40_000)
                    .map(|i| (format!("x-h{i}"), "v".to_owned()))
                    .collect();
                get(field(&doc, "url"), headers, Body::Empty).map(drop)
            }
            "header-bytes" => {
                // Bytes in URLs and headers instead of bodies.
                let filler = "b".repeat(60_000);
                for _ in 0..20 {
                    let url = format!("{}/files/x?pad={filler}", field(&doc, "url"));
                    let _ = get(url, vec![("x-pad".into(), filler.clone())], Body::Empty);
                }
                Ok(())
            }
            "send-once" => {
                // A request the connector wants out at most once: no retry on a 503.
                let request = Request {
                    method: "GET".into(),
                    url: field(&doc, "url"),
                    headers: vec![],
                    auth: None,
                    verify_tls: true,
                    follow_redirects: true,
                };
                let options = http::SendOptions {
                    retry: false,
                    expected_digest: None,
                };
                let response = http::send_with(&request, &Body::Empty, &options)?;
                target.write(response.status().to_string().as_bytes())
            }
            "panic" => panic!("deliberate panic: {}", field(&doc, "reason")),
            "huge-error" => Err(fail("E".repeat(100 << 20))),
            other => Err(fail(format!("unknown attack {other:?}"))),
        }
    }

    fn send(_access: String, _source: Source) -> Result<(), Error> {
        Ok(())
    }
}

/// What each of `paths` got from `try_path`: `path=kind` lines (`ok` when it worked).
fn outcomes(paths: &[&str], try_path: impl Fn(&str) -> Result<(), Error>) -> String {
    paths
        .iter()
        .map(|path| match try_path(path) {
            Ok(()) => format!("{path:?}=ok"),
            Err(e) => format!("{path:?}={:?}", e.kind),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Paths that leave the folder, or try to.
const ESCAPES: &[&str] = &[
    "../escaped.txt",
    "/tmp/red-wasm-absolute-escape.txt",
    "a/../../escaped2.txt",
    "a//b",
    "./c",
    "",
    "x\0y",
];

impl DirectoryGuest for Hostile {
    fn validate_receive_dir(_access: String, _listing: Option<String>) -> Result<(), Error> {
        Ok(())
    }

    fn validate_send_dir(_access: String, _listing: Option<String>) -> Result<(), Error> {
        Ok(())
    }

    fn receive_dir(access: String, _listing: Option<String>, target: DirSink) -> Result<(), Error> {
        let doc: serde_json::Value = serde_json::from_str(&access).unwrap_or_default();
        match field(&doc, "attack").as_str() {
            "dir-escape" => {
                // Every path that leaves the folder, as a file and as a folder; what each got
                // goes into a file inside, for the test to read.
                let files = outcomes(ESCAPES, |p| target.create_file(p).map(drop));
                let folders = outcomes(ESCAPES, |p| target.create_folder(p));
                let twice = outcomes(&["same", "same"], |p| target.create_file(p).map(drop));
                // The host's batch download checks its paths the same way.
                let fetched = outcomes(ESCAPES, |p| {
                    let item = http::FetchItem {
                        request: with_password(&doc, "/files/x", AuthScheme::Basic),
                        path: p.to_owned(),
                    };
                    http::fetch_to_dir(&[item], &target).map(drop)
                });
                let report = target.create_file("report.txt")?;
                let text = format!("{files}\n--\n{folders}\n--\n{fetched}\n--\n{twice}");
                report.write(text.as_bytes())
            }
            "dir-many-files" => {
                for i in 0..1_000_000 {
                    target.create_file(&format!("f{i}"))?;
                }
                Ok(())
            }
            "dir-hold-open" => {
                let mut held = Vec::new();
                for i in 0..10_000 {
                    held.push(target.create_file(&format!("h{i}"))?);
                }
                Ok(())
            }
            "dir-fail-late" => {
                for i in 0..10 {
                    target.create_file(&format!("d/f{i}"))?.write(b"partial")?;
                }
                Err(fail("failed after ten files".into()))
            }
            other => Err(fail(format!("unknown attack {other:?}"))),
        }
    }

    fn send_dir(access: String, _listing: Option<String>, source: DirSource) -> Result<(), Error> {
        let doc: serde_json::Value = serde_json::from_str(&access).unwrap_or_default();
        match field(&doc, "attack").as_str() {
            "send-dir-escape" => {
                // Reading outside the folder, or a file it does not list.
                let mut paths = ESCAPES.to_vec();
                paths.extend(["../outside.txt", "not-listed.txt", "inside.txt"]);
                let read = outcomes(&paths, |p| {
                    let file = source.open_file(p)?;
                    file.read(16).map(drop)
                });
                Err(fail(format!("outcomes:\n{read}")))
            }
            "send-dir-big-page" => {
                // A page as large as it can ask for.
                let page = source.walk()?.next(u32::MAX)?;
                Err(fail(format!("a page of {} entries", page.len())))
            }
            "send-dir-hold-walks" => {
                // Walks without end, each holding its open folders.
                let mut walks = Vec::new();
                loop {
                    walks.push(source.walk()?);
                }
            }
            other => Err(fail(format!("unknown attack {other:?}"))),
        }
    }
}

export_connector!(Hostile, directories);
