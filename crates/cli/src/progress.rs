//! Progress display: an indicatif bar on a terminal, one plain line per interval otherwise, and
//! nothing at all with `--quiet` (the command then prints errors and its final summary only).
//! Failed writes (a closed pipe) are ignored: training goes on.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use trainer::{Evaluation, Event, Observer, StepReport};

use crate::output::say;

/// Shows training progress.
pub struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    every: u64,
    last_eval: Option<Evaluation>,
    quiet: bool,
}

impl Progress {
    /// Nothing when `quiet`; else a bar when stdout is a terminal, a line log otherwise (about
    /// 20 lines a run, and the events).
    pub fn new(total: u64, start: u64, quiet: bool) -> Self {
        let bar = (!quiet && std::io::stdout().is_terminal()).then(|| {
            let bar = ProgressBar::new(total).with_position(start);
            let style =
                ProgressStyle::with_template("{bar:30.cyan/blue} {pos:>6}/{len} | {msg} | {elapsed_precise} ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self { bar, total, every: (total / 20).max(1), last_eval: None, quiet }
    }

    fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(bar) => bar.println(text),
            None => say(text),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn on_step(&mut self, r: &StepReport) {
        if self.quiet {
            return;
        }
        let eval = self
            .last_eval
            .as_ref()
            .and_then(|e| e.accuracy().map(|a| format!(" val acc {:.4}", a)))
            .unwrap_or_default();
        // A language model's examples are token windows: its throughput is in tokens.
        let speed = match r.tokens_per_sec {
            Some(t) => format!("{t:.0} tokens/s"),
            None => format!("{:.0} samples/s", r.samples_per_sec),
        };
        let msg = format!("loss {:.4} lr {:.3e} {speed}{eval}", r.loss, r.lr);
        match &self.bar {
            Some(bar) => {
                bar.set_position(r.step + 1);
                bar.set_message(msg);
            }
            None if (r.step + 1).is_multiple_of(self.every) || r.step + 1 == self.total => {
                say(format_args!("step {:>6}/{} {msg}", r.step + 1, self.total));
            }
            None => {}
        }
    }

    fn on_eval(&mut self, r: &Evaluation) {
        let acc = r.accuracy().map(|a| format!(" val/accuracy {a:.4}")).unwrap_or_default();
        if self.bar.is_none() && !self.quiet {
            say(format_args!("eval after step {}: val/loss {:.4}{acc}", r.step, r.loss()));
        }
        self.last_eval = Some(r.clone());
    }

    fn on_event(&mut self, event: &Event) {
        self.line(&event.to_string());
    }
}
