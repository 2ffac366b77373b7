//! The live screen: the board redrawn in place on a terminal. Each redraw moves the
//! cursor back to the frame's first line and rewrites every line, clearing only to the
//! end of each line (and below the last), never the screen: no flicker, and what
//! scrolled up before the demo stays. A ticker redraws twice a second so the clock and
//! the estimate move between events.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::board::Board;

/// Log lines (tracing) written while a live screen is up: held back until it ends, since
/// a line written under the frame would shift it and the next redraw would land in the
/// wrong place. `None` when no live screen is up: the lines go straight to stderr.
static HELD: Mutex<Option<Vec<u8>>> = Mutex::new(None);

/// The tracing writer `main` installs: standard error, or held back during a live screen.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match HELD.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            Some(held) => {
                held.extend_from_slice(buf);
                Ok(buf.len())
            }
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;
    fn make_writer(&'a self) -> LogWriter {
        LogWriter
    }
}
use super::screen::{self, Style};
use crate::run::events::{Event, Observer};

struct State {
    board: Board,
    /// Lines of the frame on screen now (where the cursor must go back up from).
    drawn: usize,
    finished: bool,
}

pub struct Live {
    state: Mutex<State>,
    started: Instant,
    style: Style,
}

impl Live {
    /// A live screen on standard error, with its ticker.
    pub fn start(style: Style) -> Arc<Live> {
        let live = Arc::new(Live {
            state: Mutex::new(State {
                board: Board::new(),
                drawn: 0,
                finished: false,
            }),
            started: Instant::now(),
            style,
        });
        *HELD.lock().unwrap_or_else(|p| p.into_inner()) = Some(Vec::new());
        let ticker = Arc::clone(&live);
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(500));
            let mut s = ticker.state.lock().unwrap_or_else(|p| p.into_inner());
            if s.finished {
                break;
            }
            s.board.tick(ticker.started.elapsed());
            ticker.draw(&mut s);
        });
        live
    }

    fn draw(&self, s: &mut State) {
        let (width, height) = size();
        // One line short of the screen: a frame as tall as the screen would scroll it
        // by one line at its last newline, and the cursor could not get back up.
        let lines = screen::render(&s.board, width, height.saturating_sub(1), self.style);
        let mut out = String::new();
        if s.drawn == 0 {
            out.push_str("\x1b[?25l"); // hide the cursor while the demo runs
        } else {
            out.push_str(&format!("\x1b[{}A\r", s.drawn));
        }
        for l in &lines {
            out.push_str(l);
            out.push_str("\x1b[K\n");
        }
        out.push_str("\x1b[J");
        if s.finished {
            out.push_str("\x1b[?25h");
        }
        s.drawn = lines.len();
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(out.as_bytes());
        let _ = err.flush();
    }
}

impl Observer for Live {
    fn on(&self, event: &Event<'_>) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.board.apply(event, self.started.elapsed());
        if matches!(event, Event::RunFinished { .. }) {
            s.finished = true;
        }
        self.draw(&mut s);
        if s.finished {
            let held = HELD.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(held) = held.filter(|h| !h.is_empty()) {
                let _ = std::io::stderr().write_all(&held);
            }
        }
    }
}

/// The terminal's columns and rows (standard error's), 80x24 when it will not say.
fn size() -> (usize, usize) {
    // SAFETY: TIOCGWINSZ fills a winsize struct we own; nothing else is touched.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 && ws.ws_row > 0 {
        (ws.ws_col as usize, ws.ws_row as usize)
    } else {
        (80, 24)
    }
}
