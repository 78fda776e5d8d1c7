//! The library as executors use it: one `Runtime` shared by many concurrent transfers, some
//! failing and some hostile, and cancellation.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use red_wasm::{CancellationToken, ErrorKind, Limits, ReceiveTarget, Runtime, TransferOptions};
use red_wasm_testkit::http::{pattern, HttpServer};
use serde_json::json;
use support::*;

#[test]
fn the_runtime_is_send_and_sync_and_cheap_to_clone() {
    fn shared<T: Send + Sync + Clone + 'static>() {}
    shared::<Runtime>();
    shared::<red_wasm::Connector>();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_transfers_finish_byte_exact_among_failing_and_hostile_ones() {
    let server = Arc::new(HttpServer::start());
    let data = Arc::new(pattern(1 << 20));
    for i in 0..32 {
        server.put_file(&format!("f{i}"), &data);
    }
    let hostile = runtime()
        .load_file(&hostile_dir().join("hostile_contract.wasm"))
        .unwrap();
    let http = connector("http");
    let dir = Arc::new(temp());
    let mut tasks = Vec::new();
    for i in 0..48 {
        let (server, dir, http, hostile) =
            (server.clone(), dir.clone(), http.clone(), hostile.clone());
        tasks.push(tokio::spawn(async move {
            let target = ReceiveTarget::File(dir.path().join(format!("out{i}")));
            match i % 6 {
                // A 404.
                4 => {
                    let access = json!({"url": server.url("/files/missing")}).to_string();
                    let err = http
                        .receive(&access, target, &TransferOptions::default())
                        .await
                        .unwrap_err();
                    (i, Err(err.kind), ErrorKind::NotFound)
                }
                // A connector that spins (stopped by its time limit) or hoards memory.
                5 => {
                    let attack = if i % 12 == 5 { "spin" } else { "oom" };
                    let options = TransferOptions {
                        limits: Limits {
                            timeout: Some(Duration::from_secs(2)),
                            max_memory: 32 << 20,
                            ..Limits::default()
                        },
                        ..TransferOptions::default()
                    };
                    let access = json!({"attack": attack}).to_string();
                    let err = hostile
                        .receive(&access, target, &options)
                        .await
                        .unwrap_err();
                    (i, Err(err.kind), ErrorKind::Denied)
                }
                _ => {
                    let access =
                        json!({"url": server.url(&format!("/files/f{}", i % 32))}).to_string();
                    let outcome = http
                        .receive(&access, target, &TransferOptions::default())
                        .await;
                    (
                        i,
                        outcome.map(|o| o.bytes).map_err(|e| e.kind),
                        ErrorKind::Internal,
                    )
                }
            }
        }));
    }
    for task in tasks {
        let (i, result, expected) = task.await.expect("no task panicked");
        match result {
            Ok(bytes) => {
                assert_eq!(bytes, 1 << 20, "transfer {i}");
                let got = std::fs::read(dir.path().join(format!("out{i}"))).unwrap();
                assert!(got == *data, "transfer {i} is byte-exact");
            }
            Err(kind) => {
                assert_eq!(kind, expected, "transfer {i}");
                assert!(
                    !dir.path().join(format!("out{i}")).exists(),
                    "transfer {i} left no file"
                );
            }
        }
    }
    let leftovers: Vec<String> = listing(dir.path())
        .into_iter()
        .filter(|n| n.ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary files: {leftovers:?}");
}

#[tokio::test]
async fn dropping_the_future_or_cancelling_stops_the_transfer_and_leaves_no_file() {
    let server = HttpServer::start();
    let dir = temp();
    let access = json!({"url": server.url("/stall")}).to_string();
    let http = connector("http");

    // Dropped: the future is abandoned after a moment.
    let target = ReceiveTarget::File(dir.path().join("dropped"));
    let options = TransferOptions::default();
    let abandoned = tokio::time::timeout(
        Duration::from_millis(300),
        http.receive(&access, target, &options),
    )
    .await;
    assert!(abandoned.is_err(), "still waiting when dropped");
    assert!(
        listing(dir.path()).is_empty(),
        "no file and no temporary file"
    );

    // Cancelled through a token.
    let token = CancellationToken::new();
    let options = TransferOptions {
        cancel: Some(token.clone()),
        ..TransferOptions::default()
    };
    let started = Instant::now();
    let cancel = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        token.cancel();
    };
    let target = ReceiveTarget::File(dir.path().join("cancelled"));
    let (result, ()) = tokio::join!(http.receive(&access, target, &options), cancel);
    let err = result.unwrap_err();
    assert!(err.message.contains("cancelled"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        listing(dir.path()).is_empty(),
        "no file and no temporary file"
    );

    // The runtime carries on.
    still_works().await;
}
