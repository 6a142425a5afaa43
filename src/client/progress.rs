//! Download progress: a bar redrawn in place on a terminal, plain lines otherwise, or
//! nothing (library callers that show their own).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Receives download progress.
pub trait Progress: Send {
    /// A download of `total` bytes starts, `already` of them on disk from an earlier attempt.
    fn start(&mut self, label: &str, total: u64, already: u64);
    /// `bytes` more arrived.
    fn advance(&mut self, bytes: u64);
    /// A line of news (resuming, verifying, installing).
    fn note(&mut self, message: &str);
    fn finish(&mut self);
}

/// Shows nothing.
pub struct Silent;

impl Progress for Silent {
    fn start(&mut self, _: &str, _: u64, _: u64) {}
    fn advance(&mut self, _: u64) {}
    fn note(&mut self, _: &str) {}
    fn finish(&mut self) {}
}

/// The progress display for standard error: a bar on a terminal, plain lines otherwise.
pub fn for_stderr() -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() {
        Box::new(TerminalBar::default())
    } else {
        Box::new(PlainLines::default())
    }
}

fn mebibytes(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A bar on standard error, redrawn at most ten times a second.
#[derive(Default)]
pub struct TerminalBar {
    total: u64,
    done: u64,
    label: String,
    drawn: Option<Instant>,
}

impl TerminalBar {
    fn draw(&mut self, force: bool) {
        if !force && self.drawn.is_some_and(|at| at.elapsed() < Duration::from_millis(100)) {
            return;
        }
        self.drawn = Some(Instant::now());
        let fraction = if self.total == 0 {
            1.0
        } else {
            self.done as f64 / self.total as f64
        };
        let filled = (fraction * 30.0).round() as usize;
        let _ = write!(
            std::io::stderr(),
            "\r{} [{}{}] {:>3.0}% {:.1}/{:.1} MiB",
            self.label,
            "#".repeat(filled.min(30)),
            " ".repeat(30 - filled.min(30)),
            fraction * 100.0,
            mebibytes(self.done),
            mebibytes(self.total)
        );
    }
}

impl Progress for TerminalBar {
    fn start(&mut self, label: &str, total: u64, already: u64) {
        self.label = label.to_string();
        self.total = total;
        self.done = already;
        self.draw(true);
    }
    fn advance(&mut self, bytes: u64) {
        self.done += bytes;
        self.draw(false);
    }
    fn note(&mut self, message: &str) {
        let _ = writeln!(std::io::stderr(), "\r{message}");
    }
    fn finish(&mut self) {
        self.draw(true);
        let _ = writeln!(std::io::stderr());
    }
}

/// Plain lines on standard error: the start, each further quarter, the end. By default in a
/// download's words (`downloading <label>: …`, `downloaded 25% …`); [`PlainLines::labelled`]
/// starts every line with the label instead (`export: 25% …`, `export: done …`).
#[derive(Default)]
pub struct PlainLines {
    labelled: bool,
    label: String,
    total: u64,
    done: u64,
    reported_quarter: u64,
}

impl PlainLines {
    /// Lines that start with the label (`<label>: …`), for commands that are not downloads.
    pub fn labelled() -> Self {
        PlainLines {
            labelled: true,
            ..PlainLines::default()
        }
    }
}

impl Progress for PlainLines {
    fn start(&mut self, label: &str, total: u64, already: u64) {
        self.label = label.to_string();
        self.total = total;
        self.done = already;
        self.reported_quarter = 0;
        if self.labelled {
            eprintln!("{label}: {total} bytes");
        } else {
            eprintln!("downloading {label}: {total} bytes");
        }
    }
    fn advance(&mut self, bytes: u64) {
        self.done += bytes;
        if self.total == 0 {
            return;
        }
        let quarter = self.done * 4 / self.total;
        if quarter > self.reported_quarter && quarter < 4 {
            self.reported_quarter = quarter;
            let (head, percent, done, total) = (self.head(), quarter * 25, self.done, self.total);
            eprintln!("{head}{percent}% ({done} of {total} bytes)");
        }
    }
    fn note(&mut self, message: &str) {
        if self.labelled {
            eprintln!("{}: {message}", self.label);
        } else {
            eprintln!("{message}");
        }
    }
    fn finish(&mut self) {
        if self.labelled {
            eprintln!("{}: done ({} bytes)", self.label, self.done);
        } else {
            eprintln!("downloaded 100% ({} bytes)", self.done);
        }
    }
}

impl PlainLines {
    /// What a progress line starts with.
    fn head(&self) -> String {
        if self.labelled {
            format!("{}: ", self.label)
        } else {
            "downloaded ".to_string()
        }
    }
}
