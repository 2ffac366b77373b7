//! The crate's error: what failed, where, why, and the fix when it is known. One type
//! for artifacts, measurement and platforms, so that a step's error travels up to the
//! runner unchanged and there is exactly one `Cancelled` to test for (Ctrl-C is not a
//! failure of the step that was waiting when it came).
//!
//! Platforms name it `PlatformError` (a re-export in `platform/`), the name they had
//! before it was shared.

use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O call failed: what was being done, and the system's reason.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A library or a service failed: what was being done, and its error.
    #[error("{context}: {source}")]
    Backend {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A step of a component failed: `place` is the component ("docker", "qemu", a
    /// file), `what` the step, `why` its reason, `fix` what the user can do when known.
    #[error("{place}: {what}: {why}{}", fix.as_deref().map(|f| format!(" (fix: {f})")).unwrap_or_default())]
    At {
        place: String,
        what: String,
        why: String,
        fix: Option<String>,
    },
    /// A failure the harness found itself, said in one line.
    #[error("{0}")]
    Failed(String),
    /// The deployment's host resources cannot be read from this host (a remote cloud's
    /// instances): a state of the figure, not a failure of the run. The runner skips
    /// the memory and CPU figures and measures the rest.
    #[error("not observable: {0}")]
    NotObservable(String),
    /// More context on an error from below ("snapshot VM: ...").
    #[error("{context}: {source}")]
    Context {
        context: String,
        #[source]
        source: Box<Error>,
    },
    #[error("{what} did not happen within {after:?}")]
    Timeout { what: String, after: Duration },
    /// The calculator gave no correct answer in time.
    #[error("no correct answer from {addr} within {after:?} (last: {last})")]
    NotReady {
        addr: SocketAddr,
        after: Duration,
        last: String,
    },
    /// The run was interrupted (Ctrl-C, SIGTERM): long waits return this.
    #[error("cancelled")]
    Cancelled,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// `map_err(Error::io("reading x"))`.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }

    /// `map_err(Error::backend("parsing y"))`.
    pub fn backend<E: std::error::Error + Send + Sync + 'static>(
        context: impl Into<String>,
    ) -> impl FnOnce(E) -> Error {
        let context = context.into();
        move |source| Error::Backend {
            context,
            source: Box::new(source),
        }
    }

    /// `what` failed in `place` because `why`.
    pub fn at(place: impl Into<String>, what: impl Into<String>, why: impl Into<String>) -> Error {
        Error::At {
            place: place.into(),
            what: what.into(),
            why: why.into(),
            fix: None,
        }
    }

    /// The same error with what the user can do about it (kept on [`Error::At`] only;
    /// other errors say it after their own text).
    pub fn with_fix(self, fix: impl Into<String>) -> Error {
        match self {
            Error::At {
                place,
                what,
                why,
                fix: _,
            } => Error::At {
                place,
                what,
                why,
                fix: Some(fix.into()),
            },
            other => Error::Failed(format!("{other} (fix: {})", fix.into())),
        }
    }

    /// The error under `context`; a cancellation stays a cancellation.
    pub fn context(self, context: impl Into<String>) -> Error {
        match self {
            Error::Cancelled => Error::Cancelled,
            source => Error::Context {
                context: context.into(),
                source: Box::new(source),
            },
        }
    }

    /// Was the run interrupted (whatever context was added on the way up)?
    pub fn is_cancelled(&self) -> bool {
        match self {
            Error::Cancelled => true,
            Error::Context { source, .. } => source.is_cancelled(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_says_where_what_why_and_the_fix() {
        let e = Error::at(
            "docker",
            "creating container c1",
            "engine answered 409: name in use",
        )
        .with_fix("virtbench cleanup");
        assert_eq!(
            e.to_string(),
            "docker: creating container c1: engine answered 409: name in use (fix: virtbench cleanup)"
        );
    }

    #[test]
    fn context_keeps_a_cancellation_a_cancellation() {
        assert!(matches!(
            Error::Cancelled.context("snapshot VM"),
            Error::Cancelled
        ));
        let e = Error::Failed("no answer".into()).context("snapshot VM");
        assert_eq!(e.to_string(), "snapshot VM: no answer");
        assert!(!e.is_cancelled());
    }
}
