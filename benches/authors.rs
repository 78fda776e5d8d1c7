//! Benchmark: connectors written by authors, in the library (`benches/authors.sh` runs it with
//! the examples built): for each component named in `AUTHOR_COMPONENTS` (`label=path`,
//! separated by spaces), the first load (compiling, no cache), and a call from the compiled
//! cache (instantiation plus `validate`), mean of many.

use std::time::Instant;

use red_wasm::{Direction, Runtime, RuntimeOptions};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let list = std::env::var("AUTHOR_COMPONENTS").unwrap_or_default();
    let access = format!(
        r#"{{"url": "http://127.0.0.1:9/x", "sha256": "{}"}}"#,
        "0".repeat(64)
    );
    println!(
        "{:<10} {:>16} {:>22}",
        "component", "first load (s)", "cached call (ms)"
    );
    for entry in list.split_whitespace() {
        let (label, path) = entry.split_once('=').expect("label=path");
        let cache = tempfile::tempdir().unwrap();
        let runtime = Runtime::with_options(RuntimeOptions {
            cache_dir: Some(cache.path().into()),
            precompiled_dirs: Vec::new(),
            ..RuntimeOptions::default()
        })
        .unwrap();
        let started = Instant::now();
        let connector = runtime.load(path).unwrap();
        let first = started.elapsed();
        for _ in 0..20 {
            connector
                .validate(Direction::Receive, &access)
                .await
                .unwrap();
        }
        let n = 200;
        let started = Instant::now();
        for _ in 0..n {
            connector
                .validate(Direction::Receive, &access)
                .await
                .unwrap();
        }
        let call = started.elapsed() / n;
        println!(
            "{label:<10} {:>16.2} {:>22.3}",
            first.as_secs_f64(),
            call.as_secs_f64() * 1000.0
        );
    }
}
