//! Progress on stderr, never on stdout: a bar redrawn on a terminal, a
//! plain status line every ten seconds anywhere else (a CI log keeps every
//! line, so it gets no redraws), nothing with `-q`.

use crate::scan::Progress;
use crate::text;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{self, IsTerminal};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// How often a status line is written when stderr is no terminal.
pub const STATUS_EVERY: Duration = Duration::from_secs(10);

/// How progress is shown for one run.
pub struct Display {
    bar: Option<ProgressBar>,
    status: bool,
    task: Option<JoinHandle<()>>,
}

impl Display {
    /// A bar when stderr is a terminal, status lines when it is not,
    /// nothing when `quiet`.
    pub fn new(quiet: bool) -> Display {
        let terminal = io::stderr().is_terminal();
        let bar = (!quiet && terminal).then(|| {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(8));
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {human_pos}/{human_len} ports · {msg}",
                )
                .expect("valid template"),
            );
            b
        });
        Display {
            bar,
            status: !quiet && !terminal,
            task: None,
        }
    }

    /// The bar, for printing lines above it.
    pub fn bar(&self) -> Option<&ProgressBar> {
        self.bar.as_ref()
    }

    /// Starts following the sweep's counters.
    pub fn start(&mut self, p: Arc<Progress>) {
        let started = Instant::now();
        self.task = match (&self.bar, self.status) {
            (Some(bar), _) => {
                let bar = bar.clone();
                Some(tokio::spawn(async move {
                    loop {
                        bar.set_length(p.total.load(Ordering::Relaxed));
                        bar.set_position(p.done.load(Ordering::Relaxed));
                        bar.set_message(message(&p, started.elapsed()));
                        tokio::time::sleep(Duration::from_millis(120)).await;
                    }
                }))
            }
            (None, true) => Some(tokio::spawn(async move {
                let mut every = tokio::time::interval_at(
                    tokio::time::Instant::now() + STATUS_EVERY,
                    STATUS_EVERY,
                );
                loop {
                    every.tick().await;
                    eprintln!("exposecheck: {}", status_line(&p, started.elapsed()));
                }
            })),
            (None, false) => None,
        };
    }

    /// Stops and clears the display.
    pub fn finish(self) {
        if let Some(t) = self.task {
            t.abort();
        }
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

/// Ports per second so far.
fn rate(done: u64, elapsed: Duration) -> f64 {
    done as f64 / elapsed.as_secs_f64().max(0.001)
}

/// The bar's message: open ports, rate, time left.
fn message(p: &Progress, elapsed: Duration) -> String {
    let (done, total) = (
        p.done.load(Ordering::Relaxed),
        p.total.load(Ordering::Relaxed),
    );
    let r = rate(done, elapsed);
    format!(
        "{} open · {} · {}",
        text::count(p.open.load(Ordering::Relaxed)),
        text::per_second(r),
        left(done, total, r)
    )
}

/// `about 21 s left` (or `finishing` when nothing is left to start).
fn left(done: u64, total: u64, r: f64) -> String {
    match total.saturating_sub(done) {
        0 => "finishing".into(),
        n if r > 0.0 => format!(
            "about {} left",
            text::duration(Duration::from_secs_f64((n as f64 / r).min(360_000.0)))
        ),
        _ => "time left unknown".into(),
    }
}

/// One status line: `12,345 of 65,535 ports (18%), 3 open, 2,757/s, about 21 s left, 10 s in`.
pub fn status_line(p: &Progress, elapsed: Duration) -> String {
    let (done, total) = (
        p.done.load(Ordering::Relaxed),
        p.total.load(Ordering::Relaxed),
    );
    let pct = (done * 100).checked_div(total).unwrap_or(0);
    let r = rate(done, elapsed);
    format!(
        "{} of {} ports ({pct}%), {} open, {}, {}, {} in",
        text::count(done),
        text::count(total),
        text::count(p.open.load(Ordering::Relaxed)),
        text::per_second(r),
        left(done, total, r),
        text::duration(Duration::from_secs(elapsed.as_secs()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn status_lines_are_rounded_for_people() {
        let p = Progress {
            total: AtomicU64::new(65_535),
            done: AtomicU64::new(27_573),
            open: AtomicU64::new(3),
        };
        let line = status_line(&p, Duration::from_millis(10_001));
        assert_eq!(
            line,
            "27,573 of 65,535 ports (42%), 3 open, 2,757/s, about 14 s left, 10 s in"
        );
        p.done.store(65_535, Ordering::Relaxed);
        assert!(status_line(&p, Duration::from_secs(20)).contains("finishing"));
    }
}
