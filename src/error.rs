//! The one error type of the library.
//!
//! Sections: input data and shapes, parameters, files, devices, planning.
//! Every message names the thing at fault (file, array, field, value) and what
//! was expected, so a user can act on it without reading the source.

use std::path::PathBuf;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in infoplane.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- input data and shapes ------------------------------------------
    /// A matrix or array has the wrong shape.
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        /// The array or argument at fault.
        what: String,
        /// What the shape should have been.
        expected: String,
        /// What it was.
        got: String,
    },
    /// A value is NaN or infinite.
    #[error("{what}: row {row}, column {col} holds {value}, which is not a finite number")]
    NonFinite {
        /// The array at fault.
        what: String,
        /// Row index (0-based).
        row: usize,
        /// Column index (0-based).
        col: usize,
        /// The offending value.
        value: f64,
    },
    /// Data that is valid in form but cannot be used by the estimator asked for.
    #[error("{what}: {reason}")]
    Data {
        /// The array at fault.
        what: String,
        /// Why it cannot be used.
        reason: String,
    },

    // ---- parameters ------------------------------------------------------
    /// A parameter broke one of its rules.
    #[error("invalid parameter `{name}`: {reason}")]
    Param {
        /// Parameter (builder field or CLI flag) name.
        name: &'static str,
        /// The rule it broke, with the value.
        reason: String,
    },

    // ---- files -----------------------------------------------------------
    /// An operating-system error on a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file that was read but whose contents are not what they should be.
    #[error("{}: {reason}", path.display())]
    Format {
        /// The file (and, after a colon, the array inside it where relevant).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    // ---- devices ---------------------------------------------------------
    /// No GPU adapter was found (or none that the backend choice accepts).
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),
    /// Adapters may exist, but asking for one or opening its device failed
    /// (a driver or loader error), as opposed to finding none.
    #[error("GPU adapter request failed: {0}")]
    AdapterRequest(String),
    /// The GPU device failed (lost, validation error, out of memory) during a kernel.
    #[error("GPU error in `{kernel}`: {reason}")]
    Device {
        /// Kernel name.
        kernel: &'static str,
        /// What the device reported.
        reason: String,
    },

    // ---- planning --------------------------------------------------------
    /// The problem cannot be tiled within the device limits.
    #[error("cannot plan `{kernel}`: {reason}")]
    Plan {
        /// Kernel name.
        kernel: &'static str,
        /// Which limit rules it out.
        reason: String,
    },
    /// The run needs more memory than the machine has: refused before it starts.
    #[error("{what}: {reason}")]
    TooLarge {
        /// The run (command, estimator or kernel) that was sized.
        what: String,
        /// The need, what is available, and what to change.
        reason: String,
    },
}

impl Error {
    /// Shorthand for a [`Error::Param`].
    pub fn param(name: &'static str, reason: impl Into<String>) -> Self {
        Error::Param {
            name,
            reason: reason.into(),
        }
    }

    /// Shorthand for a [`Error::Shape`].
    pub fn shape(
        what: impl Into<String>,
        expected: impl Into<String>,
        got: impl Into<String>,
    ) -> Self {
        Error::Shape {
            what: what.into(),
            expected: expected.into(),
            got: got.into(),
        }
    }

    /// Whether this error is the user's input (exit status 2 in the CLI)
    /// rather than a device or internal failure. A run too large for the
    /// machine counts as input: the request, not the device, has to change.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            Error::Shape { .. }
                | Error::NonFinite { .. }
                | Error::Data { .. }
                | Error::Param { .. }
                | Error::Io { .. }
                | Error::Format { .. }
                | Error::TooLarge { .. }
        )
    }
}
