//! What the command shows on standard error while a transfer runs.

use std::io::IsTerminal as _;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use red_wasm::{LogLevel, Observer};

/// A transfer shorter than this shows no progress bar.
const BAR_DELAY: Duration = Duration::from_millis(700);

/// Prints warnings (and with `verbose` info and debug lines), and a progress bar when standard
/// error is a terminal and the transfer takes more than a moment.
pub struct CliObserver {
    verbose: bool,
    bar_wanted: bool,
    started: Instant,
    bar: OnceLock<ProgressBar>,
}

impl CliObserver {
    pub fn new(verbose: bool, progress: bool) -> Self {
        CliObserver {
            verbose,
            bar_wanted: progress && std::io::stderr().is_terminal(),
            started: Instant::now(),
            bar: OnceLock::new(),
        }
    }

    /// Removes the progress bar.
    pub fn finish(&self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}

impl Observer for CliObserver {
    fn log(&self, level: LogLevel, message: &str) {
        if level == LogLevel::Warn || self.verbose {
            let line = format!(
                "red-wasm: {}: {message}",
                format!("{level:?}").to_lowercase()
            );
            match self.bar.get() {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            }
        }
    }

    fn progress(&self, done: u64, total: Option<u64>) {
        if !self.bar_wanted || self.started.elapsed() < BAR_DELAY {
            return;
        }
        let bar = self.bar.get_or_init(|| {
            let bar = ProgressBar::new(total.unwrap_or(0));
            let template = if total.is_some() {
                "{bytes:>10} / {total_bytes:<10} {wide_bar} {bytes_per_sec:>12} {eta:>4}"
            } else {
                "{bytes:>10} {spinner} {bytes_per_sec:>12}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar
        });
        if let Some(total) = total {
            bar.set_length(total);
        }
        bar.set_position(done);
    }
}
