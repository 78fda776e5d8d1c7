//! Benchmark: the library as executors use it, side by side in one run (`cargo bench --bench
//! embedding`):
//! 1. a call from the compiled-component cache (instantiation plus the smallest call);
//! 2. 64 concurrent 16 MiB HTTP transfers in one process against one stream at a time:
//!    aggregate throughput and peak RSS;
//! 3. 1 KiB transfers per second through the API against one `red-wasm` process each;
//! 4. RSS after 100 to 20,000 transfers.
//!
//! Servers are the project's test servers on 127.0.0.1; files go to /dev/shm when it exists.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use red_wasm::{Direction, ReceiveTarget, Runtime, RuntimeOptions, TransferOptions};
use red_wasm_testkit::http::HttpServer;

/// A `/proc/self/status` field in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn scratch() -> tempfile::TempDir {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    tempfile::tempdir_in(base).unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = Runtime::with_options(RuntimeOptions {
        cache_dir: Some(cache.path().into()),
        ..RuntimeOptions::default()
    })
    .unwrap();
    let http = runtime.load("http").unwrap();
    let server = HttpServer::start();
    // The server runs in this process: its record of requests must not count as ours.
    server.stop_recording();
    let dir = scratch();
    let options = TransferOptions::default();

    // 1. Instantiation from the cache, with the smallest call (validate, no network).
    let access = r#"{"url": "http://127.0.0.1:9/x"}"#;
    for _ in 0..200 {
        http.validate(Direction::Receive, access).await.unwrap();
    }
    let n = 5000;
    let started = Instant::now();
    for _ in 0..n {
        http.validate(Direction::Receive, access).await.unwrap();
    }
    let per_call = started.elapsed() / n;
    println!(
        "instantiate + validate call: {:.1} us per call ({n} calls)",
        per_call.as_secs_f64() * 1e6
    );

    // 2. One stream at a time, then 64 at once.
    let size: u64 = 16 << 20;
    let url = server.url(&format!("/generate/{size}"));
    let access = format!(r#"{{"url": "{url}"}}"#);
    let single_runs = 16;
    let started = Instant::now();
    for i in 0..single_runs {
        let target = ReceiveTarget::File(dir.path().join(format!("single{}", i % 2)));
        http.receive(&access, target, &options).await.unwrap();
    }
    let single = (single_runs * size) as f64 / started.elapsed().as_secs_f64() / (1 << 20) as f64;
    let before_hwm = status_kib("VmHWM:");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let (http, access, target) = (
            http.clone(),
            access.clone(),
            dir.path().join(format!("c{i}")),
        );
        tasks.push(tokio::spawn(async move {
            http.receive(
                &access,
                ReceiveTarget::File(target),
                &TransferOptions::default(),
            )
            .await
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().bytes, size);
    }
    let aggregate = (64 * size) as f64 / started.elapsed().as_secs_f64() / (1 << 20) as f64;
    println!(
        "16 MiB transfers: one at a time {single:.0} MiB/s; 64 at once {aggregate:.0} MiB/s aggregate ({:.2}x); peak RSS {:.1} MiB (before: {:.1} MiB)",
        aggregate / single,
        status_kib("VmHWM:") as f64 / 1024.0,
        before_hwm as f64 / 1024.0
    );
    for i in 0..64 {
        let _ = std::fs::remove_file(dir.path().join(format!("c{i}")));
    }

    // 3. 1 KiB transfers per second: the API against a process each.
    server.put_file("kib", &[7u8; 1024]);
    let access = format!(r#"{{"url": "{}"}}"#, server.url("/files/kib"));
    let target = dir.path().join("kib");
    let count = 2000;
    let started = Instant::now();
    for _ in 0..count {
        http.receive(&access, ReceiveTarget::File(target.clone()), &options)
            .await
            .unwrap();
    }
    let api = count as f64 / started.elapsed().as_secs_f64();
    let processes = 100;
    let started = Instant::now();
    for _ in 0..processes {
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_red-wasm"))
            .args(["run", "http", &access, "-o"])
            .arg(&target)
            .env("RED_WASM_CACHE_DIR", cache.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
    let cli = processes as f64 / started.elapsed().as_secs_f64();
    println!(
        "1 KiB transfers: API {api:.0}/s; one CLI process each {cli:.0}/s ({:.1}x)",
        api / cli
    );

    // 4. RSS along 20,000 transfers: it must level off, not grow with their number.
    let marks = [100, 1_000, 5_000, 10_000, 20_000];
    let mut series = Vec::new();
    for i in 1..=*marks.last().unwrap() {
        http.receive(&access, ReceiveTarget::File(target.clone()), &options)
            .await
            .unwrap();
        if marks.contains(&i) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            series.push(format!(
                "{i}: {:.1} MiB",
                status_kib("VmRSS:") as f64 / 1024.0
            ));
        }
    }
    println!("RSS after N transfers: {}", series.join(", "));
}
