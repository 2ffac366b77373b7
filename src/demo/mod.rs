//! `virtbench demo`: a run made to be watched on a projector. The run's events
//! (`crate::run::events`) fold into a [`board::Board`] (rows, progress, verdicts so
//! far), drawn live in place on a terminal (`terminal.rs`) or as one line per event
//! elsewhere (`lines.rs`); at the end the report opens in the browser when there is a
//! display.

pub mod board;
pub mod estimate;
pub mod lines;
pub mod screen;
pub mod terminal;
pub mod verdicts;

use std::io::IsTerminal;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::run::events::{Event, Observer};
use board::Board;
use screen::Style;

/// The log form: one line per event on standard error.
pub struct Log {
    board: Mutex<Board>,
    started: Instant,
}

impl Observer for Log {
    fn on(&self, event: &Event<'_>) {
        let mut b = self.board.lock().unwrap_or_else(|p| p.into_inner());
        b.apply(event, self.started.elapsed());
        for l in lines::lines(&b, event) {
            eprintln!("{l}");
        }
    }
}

/// Whether to redraw in place and in colour, from the terminal and environment:
/// (live, colour). TERM=dumb cannot move the cursor; NO_COLOR (any non-empty value,
/// no-color.org) keeps the live table but drops the colour.
pub fn mode(is_tty: bool, term: Option<&str>, no_color: Option<&str>) -> (bool, bool) {
    let live = is_tty && term.is_some_and(|t| !t.is_empty() && t != "dumb");
    (live, live && no_color.is_none_or(|v| v.is_empty()))
}

/// The observer for this process's standard error.
pub fn observer() -> Arc<dyn Observer> {
    let term = std::env::var("TERM").ok();
    let no_color = std::env::var("NO_COLOR").ok();
    let (live, colour) = mode(
        std::io::stderr().is_terminal(),
        term.as_deref(),
        no_color.as_deref(),
    );
    if live {
        terminal::Live::start(Style { colour })
    } else {
        Arc::new(Log {
            board: Mutex::new(Board::new()),
            started: Instant::now(),
        })
    }
}

/// Open the report in the default browser when there is a display; never waits for it.
pub fn open(report: &Path) {
    let display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    if !display {
        return;
    }
    match std::process::Command::new("xdg-open")
        .arg(report)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(_) => {}
        Err(e) => eprintln!("virtbench: demo: cannot open the report with xdg-open: {e}"),
    }
}
#[cfg(test)]
mod tests;
