//! The progress bar the CLI plugs into the library's observers (hidden when stderr is not a
//! terminal, so logs and tests stay clean).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use unlearn_audit::sampling::{Observer, Side};

/// An indicatif bar counting finished runs.
pub struct ProgressBarObserver {
    bar: ProgressBar,
}

impl ProgressBarObserver {
    /// A bar titled `label`, drawn on stderr only when it is a terminal.
    pub fn new(label: &str) -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} {bar:40} {pos}/{len} runs [{elapsed_precise} < {eta_precise}]",
        ) {
            bar.set_style(style);
        }
        bar.set_message(label.to_string());
        ProgressBarObserver { bar }
    }
}

impl Observer for ProgressBarObserver {
    fn on_start(&self, total_runs: usize) {
        self.bar.set_length(total_runs as u64);
    }
    fn on_run_finished(&self, _run: usize, _side: Side) {
        self.bar.inc(1);
    }
    fn on_finish(&self) {
        self.bar.finish_and_clear();
    }
}
