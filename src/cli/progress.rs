//! Progress for the CLI, plugged into the library's observers. On a terminal: an indicatif
//! bar (its length is set before it is first drawn, so it never shows "0/0"). On any other
//! stderr (a log file, CI, a pipe): one line `progress: …` when both at least 10 s and at
//! least 10 % of the work have passed since the last line (whichever is rarer), and one final
//! `summary: …` line (runs, wall time, outcome).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use unlearn_audit::sampling::{Observer, Side};

/// Minimum time between two progress lines on a non-terminal.
const LINE_INTERVAL: Duration = Duration::from_secs(10);
/// Minimum fraction of the work between two progress lines on a non-terminal.
const LINE_FRACTION: f64 = 0.10;

struct LineState {
    last_line: Instant,
    last_fraction: f64,
    done: u64,
    total: u64,
    message: String,
}

/// A progress display: a bar on a terminal, rate-limited lines elsewhere.
pub struct Progress {
    label: String,
    template: &'static str,
    bar: Mutex<Option<ProgressBar>>,
    terminal: bool,
    start: Instant,
    state: Mutex<LineState>,
}

impl Progress {
    /// A display titled `label`; `template` is the bar's indicatif template (terminal only).
    pub fn new(label: &str, template: &'static str) -> Self {
        Progress {
            label: label.to_string(),
            template,
            bar: Mutex::new(None),
            terminal: std::io::stderr().is_terminal(),
            start: Instant::now(),
            state: Mutex::new(LineState {
                last_line: Instant::now(),
                last_fraction: 0.0,
                done: 0,
                total: 0,
                message: String::new(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LineState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the total; the terminal bar is created (and first drawn) only now.
    pub fn set_total(&self, total: u64) {
        self.state().total = total;
        if self.terminal {
            let mut bar = self.bar.lock().unwrap_or_else(|p| p.into_inner());
            match bar.as_ref() {
                Some(b) => b.set_length(total),
                None => {
                    let b =
                        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                    if let Ok(style) = ProgressStyle::with_template(self.template) {
                        b.set_style(style);
                    }
                    b.set_message(self.label.clone());
                    *bar = Some(b);
                }
            }
        }
    }

    fn with_bar(&self, f: impl FnOnce(&ProgressBar)) {
        if let Some(b) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            f(b);
        }
    }

    /// `done` of the total finished, with an optional message.
    pub fn set_position(&self, done: u64, message: Option<&str>) {
        if self.terminal {
            self.with_bar(|b| {
                b.set_position(done);
                if let Some(m) = message {
                    b.set_message(m.to_string());
                }
            });
            return;
        }
        let mut state = self.state();
        state.done = done;
        if let Some(m) = message {
            state.message = m.to_string();
        }
        self.maybe_line(&mut state);
    }

    /// One more unit finished (safe from several threads).
    pub fn inc(&self) {
        if self.terminal {
            self.state().done += 1;
            self.with_bar(|b| b.inc(1));
            return;
        }
        let mut state = self.state();
        state.done += 1;
        self.maybe_line(&mut state);
    }

    /// The total set so far.
    pub fn total(&self) -> u64 {
        self.state().total
    }

    fn maybe_line(&self, state: &mut LineState) {
        if state.total == 0 {
            return;
        }
        let fraction = state.done as f64 / state.total as f64;
        if state.last_line.elapsed() >= LINE_INTERVAL
            && fraction - state.last_fraction >= LINE_FRACTION
        {
            state.last_line = Instant::now();
            state.last_fraction = fraction;
            let message = if state.message.is_empty() {
                String::new()
            } else {
                format!(" ({})", state.message)
            };
            eprintln!(
                "progress: {}: {}/{} ({:.0} %) after {:.0} s{message}",
                self.label,
                state.done,
                state.total,
                100.0 * fraction,
                self.start.elapsed().as_secs_f64()
            );
        }
    }

    /// Clears the bar; on a non-terminal prints the one-line summary `summary: {what} in {t} s: {outcome}`.
    pub fn finish(&self, what: &str, outcome: &str) {
        self.with_bar(ProgressBar::finish_and_clear);
        if !self.terminal {
            eprintln!(
                "summary: {}: {what} in {:.1} s: {outcome}",
                self.label,
                self.start.elapsed().as_secs_f64()
            );
        }
    }

    /// Units finished so far.
    pub fn done(&self) -> u64 {
        self.state().done
    }
}

/// Sampling progress: counts finished runs.
pub struct ProgressBarObserver {
    progress: Progress,
}

impl ProgressBarObserver {
    /// A display titled `label`.
    pub fn new(label: &str) -> Self {
        ProgressBarObserver {
            progress: Progress::new(
                label,
                "{msg} {bar:40} {pos}/{len} runs [{elapsed_precise} < {eta_precise}]",
            ),
        }
    }
}

impl Observer for ProgressBarObserver {
    fn on_start(&self, total_runs: usize) {
        self.progress.set_total(total_runs as u64);
    }
    fn on_run_finished(&self, _run: usize, _side: Side) {
        self.progress.inc();
    }
    fn on_finish(&self) {
        let runs = self.progress.done();
        self.progress
            .finish(&format!("{runs} runs"), "sampling finished");
    }
}
