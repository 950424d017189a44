//! The crate's one error enum.

use std::path::PathBuf;

/// What went wrong while setting up or driving the stand-in.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listener could not be bound.
    #[error("cannot listen on {address}: {source}; choose another address or port")]
    Bind {
        /// The address asked for.
        address: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A function binary does not exist.
    #[error(
        "the function binary {path} does not exist; build it first (cargo build -p <package>)"
    )]
    MissingBinary {
        /// The path given.
        path: PathBuf,
    },
    /// No such function, version or alias.
    #[error("{what} not found; {hint}")]
    NotFound {
        /// What was looked up.
        what: String,
        /// What to do.
        hint: String,
    },
    /// The template cannot be used.
    #[error("template {path}: {reason}")]
    Template {
        /// The template file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An alarm of the template cannot be evaluated locally.
    #[error("alarm {alarm}: {field} {reason}; codedeploy-local evaluates AWS/Lambda Errors, Invocations, Throttles and Duration alarms")]
    UnsupportedAlarm {
        /// The alarm's logical id.
        alarm: String,
        /// The property, e.g. `MetricName`.
        field: String,
        /// Why it cannot be evaluated.
        reason: String,
    },
    /// Building the functions failed.
    #[error("building the functions failed: {0}")]
    Build(String),
    /// A value given to the stand-in is invalid.
    #[error("{0}")]
    Invalid(String),
}
