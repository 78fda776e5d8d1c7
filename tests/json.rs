//! `--json` and `--events`: the result documents and event lines executors parse, checked
//! against the schema the README documents.

mod support;

use red_wasm_testkit::http::{pattern, HttpServer, PASSWORD, USER};
use serde_json::{json, Value};
use support::*;

/// Checks the fields every result document has, and returns it.
fn result_doc(doc: &Value, command: &str, outcome: &str) {
    assert_eq!(doc["schema"], 1, "{doc}");
    assert_eq!(doc["command"], command, "{doc}");
    assert_eq!(doc["outcome"], outcome, "{doc}");
    match outcome {
        "succeeded" => assert!(doc["error"].is_null(), "{doc}"),
        _ => {
            let error = &doc["error"];
            assert!(
                error["kind"].is_string() && error["message"].is_string(),
                "{doc}"
            );
            assert!(
                error["exit_code"]
                    .as_u64()
                    .is_some_and(|c| (10..=18).contains(&c)),
                "{doc}"
            );
        }
    }
}

fn parse(stdout: &[u8]) -> Value {
    serde_json::from_slice(stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(stdout)))
}

#[test]
fn run_prints_one_result_document() {
    let server = HttpServer::start();
    server.put_file("f", &pattern(5000));
    let dir = temp();
    let target = dir.path().join("f");
    let access =
        json!({"url": server.url("/basic/f"), "auth": {"username": USER, "password": PASSWORD}});
    let out = cli(&[
        "run",
        "http",
        &access.to_string(),
        "-o",
        target.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = parse(&out.stdout);
    result_doc(&doc, "run", "succeeded");
    assert_eq!(
        (doc["connector"].as_str(), doc["direction"].as_str()),
        (Some("http"), Some("receive"))
    );
    assert_eq!(doc["bytes"], 5000);
    assert!(doc["duration_ms"].as_f64().unwrap() > 0.0);

    let mut wrong = access.clone();
    wrong["auth"]["password"] = json!("Wrong-Pa55word");
    let out = cli(&[
        "run",
        "http",
        &wrong.to_string(),
        "-o",
        target.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(11));
    let doc = parse(&out.stdout);
    result_doc(&doc, "run", "failed");
    assert_eq!(doc["error"]["kind"], "auth");
    assert_eq!(doc["error"]["exit_code"], 11);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("Wrong-Pa55word"),
        "no secret in the document"
    );
}

#[test]
fn events_stream_progress_then_the_result() {
    let server = HttpServer::start();
    let dir = temp();
    let target = dir.path().join("big");
    let access = json!({"url": server.url("/generate/200000000")}).to_string();
    let out = cli(&[
        "run",
        "http",
        &access,
        "-o",
        target.to_str().unwrap(),
        "--json",
        "--events",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| parse(l.as_bytes()))
        .collect();
    let (result, progress) = lines.split_last().unwrap();
    assert_eq!(result["event"], "result");
    result_doc(result, "run", "succeeded");
    assert!(!progress.is_empty());
    let mut last = 0;
    for event in progress {
        assert_eq!(event["event"], "progress", "{event}");
        let done = event["done"].as_u64().unwrap();
        assert!(done >= last, "progress only grows");
        assert_eq!(event["total"], 200_000_000);
        last = done;
    }
    assert_eq!(
        last, 200_000_000,
        "the last progress event is the whole file"
    );
}

#[test]
fn validate_info_and_list_have_result_documents() {
    let out = cli(&["validate", "http", r#"{"url": 3}"#, "--json"]);
    assert_eq!(out.status.code(), Some(10));
    let doc = parse(&out.stdout);
    result_doc(&doc, "validate", "failed");
    assert!(doc["error"]["message"].as_str().unwrap().contains("/url:"));
    let out = cli(&[
        "--json",
        "validate",
        "sftp",
        r#"{"host": "h", "auth": {"username": "u", "password": "p"}, "filePath": "f"}"#,
        "--send",
    ]);
    let doc = parse(&out.stdout);
    result_doc(&doc, "validate", "succeeded");
    assert_eq!(doc["direction"], "send");
    let out = cli(&["info", "xnat", "--json"]);
    let doc = parse(&out.stdout);
    result_doc(&doc, "info", "succeeded");
    assert_eq!(doc["info"]["name"], "xnat");
    assert!(doc["info"]["access_schema"].is_object());
    let out = cli(&["list", "--json"]);
    let doc = parse(&out.stdout);
    result_doc(&doc, "list", "succeeded");
    assert_eq!(doc["connectors"].as_array().unwrap().len(), 6);
    let out = cli(&["run", "http", r#"{"url": "http://127.0.0.1:9/"}"#, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--json with stdout as the output is a usage error"
    );
}
