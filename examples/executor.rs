//! An example executor: receives a list of inputs concurrently, with bounded concurrency and one
//! progress display, through one shared red-wasm `Runtime`, and reports each outcome.
//!
//! ```sh
//! cargo run --release --example executor -- inputs.json --jobs 8
//! ```
//!
//! `inputs.json` lists the inputs: `[{"connector": "http", "access": {...}, "path": "a.csv"}, ...]`
//! (`connector` is anything `red-wasm run` takes: a built-in, a command name or a `.wasm` path).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use red_wasm::{LogLevel, Observer, ReceiveTarget, Runtime, TransferOptions};
use tokio::sync::Semaphore;

#[derive(Parser)]
struct Args {
    /// A JSON list of {connector, access, path}
    inputs: PathBuf,
    /// How many transfers run at once
    #[arg(long, default_value_t = 4)]
    jobs: usize,
}

#[derive(serde::Deserialize)]
struct Input {
    connector: String,
    access: serde_json::Value,
    path: PathBuf,
}

/// Adds every transfer's bytes to one shared display.
struct Shared {
    bar: ProgressBar,
    total: Arc<AtomicU64>,
    last: AtomicU64,
}

/// Prints a line above the progress display (or plainly when there is none).
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        println!("{line}");
    } else {
        bar.println(line);
    }
}

impl Observer for Shared {
    fn log(&self, level: LogLevel, message: &str) {
        if level == LogLevel::Warn {
            say(&self.bar, format!("warning: {message}"));
        }
    }

    fn progress(&self, done: u64, _total: Option<u64>) {
        // `done` counts this transfer; add what it moved since its last report.
        let before = self.last.swap(done, Ordering::Relaxed);
        let all = self
            .total
            .fetch_add(done.saturating_sub(before), Ordering::Relaxed);
        self.bar.set_position(all + done.saturating_sub(before));
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let inputs: Vec<Input> = serde_json::from_slice(&std::fs::read(&args.inputs)?)?;
    let runtime = Runtime::new()?;
    let jobs = Arc::new(Semaphore::new(args.jobs.max(1)));
    let bar = ProgressBar::new_spinner();
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {bytes} received, {bytes_per_sec} {msg}")
    {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    let total = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for input in inputs {
        let (runtime, jobs, bar, total) =
            (runtime.clone(), jobs.clone(), bar.clone(), total.clone());
        tasks.push(tokio::spawn(async move {
            let _slot = jobs.acquire_owned().await?;
            let connector = runtime.load(&input.connector)?;
            let options = TransferOptions {
                observer: Arc::new(Shared {
                    bar,
                    total,
                    last: AtomicU64::new(0),
                }),
                ..TransferOptions::default()
            };
            let target = ReceiveTarget::File(input.path.clone());
            let outcome = connector
                .receive(&input.access.to_string(), target, &options)
                .await;
            anyhow::Ok((input.path, outcome))
        }));
    }
    let mut failed = 0;
    for task in tasks {
        match task.await? {
            Ok((path, Ok(outcome))) => say(
                &bar,
                format!(
                    "ok      {} ({} bytes in {:.2?})",
                    path.display(),
                    outcome.bytes,
                    outcome.duration
                ),
            ),
            Ok((path, Err(error))) => {
                failed += 1;
                say(&bar, format!("failed  {} ({error})", path.display()));
            }
            Err(error) => {
                failed += 1;
                say(&bar, format!("failed  ({error})"));
            }
        }
    }
    bar.finish_and_clear();
    if failed > 0 {
        anyhow::bail!("{failed} transfer(s) failed");
    }
    Ok(())
}
