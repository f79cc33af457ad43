//! Progress on the terminal for a long command (an import of 100,000 users takes tens of seconds):
//! a spinner naming the phase with the time it has taken, and a byte bar while the body uploads.
//! Drawn on standard error only when it is a terminal (indicatif hides it otherwise), so scripts
//! and logs see only the lines the command prints anyway.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One command's progress line.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A spinner saying `phase`.
    pub fn start(phase: impl Into<String>) -> Progress {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let progress = Progress { bar };
        progress.phase(phase);
        progress.bar.enable_steady_tick(Duration::from_millis(120));
        progress
    }

    /// A new phase: the spinner and its message (the elapsed time goes on counting).
    pub fn phase(&self, phase: impl Into<String>) {
        self.bar.set_message(phase.into());
        self.bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        self.bar.unset_length();
    }

    /// A phase that moves `total` bytes: a bar with the bytes done and the rate.
    pub fn bytes(&self, phase: impl Into<String>, total: u64) {
        self.bar.set_message(phase.into());
        self.bar.set_length(total);
        self.bar.set_position(0);
        self.bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
    }

    /// Bytes done so far, for [`Progress::bytes`]; callable from any thread.
    pub fn counter(&self) -> impl Fn(u64) + Send + Sync + 'static {
        let bar = self.bar.clone();
        move |done| bar.set_position(done)
    }

    /// Removes the line, before the command prints its result.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
