//! The estimators: each asks the kernels for work and sums in f64 on the host.
//!
//! Every estimator returns an [`Estimate`]: the value in nats (or bits on
//! request), what was estimated, on what, by which backend, and the
//! diagnostics a user needs to trust it (duplicates seen, noise added).

use crate::kernels::Backend;

/// Units of a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Units {
    /// Natural logarithm.
    Nats,
    /// Base-2 logarithm.
    Bits,
}

impl Units {
    /// Converts a value in nats to these units.
    pub fn from_nats(self, nats: f64) -> f64 {
        match self {
            Units::Nats => nats,
            Units::Bits => nats / std::f64::consts::LN_2,
        }
    }
}

/// What an estimator noticed about its input and did about it.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Diagnostics {
    /// Rows that duplicated an earlier row (before noise), per input array.
    pub duplicates: Vec<(String, usize)>,
    /// Standard deviation of the tie-breaking noise added, relative to each column's spread (None: none added).
    pub noise: Option<f64>,
    /// Anything else worth saying (e.g. "raw KSG estimate is negative").
    pub notes: Vec<String>,
}

/// One estimated quantity.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Estimate {
    /// "I(X;Y)", "H(X)", "I(X;Y|Z)", "H(Y|X)".
    pub quantity: String,
    /// "ksg1", "ksg2", "kl", "mixed", "cmi", "kde", "binned", "discrete", "gaussian".
    pub estimator: String,
    /// The estimate (for `kde`, the upper bound), in `units`.
    pub value: f64,
    /// A lower bound where the estimator gives one (`kde`), in `units`.
    pub lower: Option<f64>,
    /// Units of `value` and `lower`.
    pub units: Units,
    /// Rows used.
    pub n: usize,
    /// Columns of each input (X, Y[, Z]).
    pub dims: Vec<usize>,
    /// Neighbour rank where used.
    pub k: Option<usize>,
    /// Backend that ran the kernels.
    pub backend: Backend,
    /// Adapter or CPU description.
    pub adapter: String,
    /// Wall time of the estimate.
    pub seconds: f64,
    /// Noise seed where noise was used.
    pub seed: Option<u64>,
    /// What the estimator saw and did.
    pub diagnostics: Diagnostics,
}
