//! The estimators: each asks the kernels for work and sums in f64 on the host.
//!
//! Every estimator returns an [`Estimate`]: the value in nats (or bits on
//! request), what was estimated, on what, by which backend, and the
//! diagnostics a user needs to trust it (duplicates seen, noise added).
//!
//! | module | quantity | reference |
//! | --- | --- | --- |
//! | [`ksg`] | I(X;Y) | Kraskov, Stögbauer & Grassberger 2004, eqs. 8 and 9 |
//! | [`knn_entropy`] | H(X) | Kozachenko & Leonenko 1987 (Kraskov et al. eq. 20) |
//! | [`mixed`] | I(X;Y), Y discrete | Ross 2014, eq. 2 (scikit-learn `mutual_info_classif`) |
//! | [`cmi`] | I(X;Y\|Z) | Frenzel & Pompe 2007, eq. 2 |
//! | [`kde`] | bounds on H(T), I(X;T), I(T;Y) | Kolchinsky & Tracey 2017; Saxe et al. 2018 |
//! | [`binning`] | H(T), I(X;T), I(T;Y), H(Y\|T) | Shwartz-Ziv & Tishby 2017; Saxe et al. 2018; Chelombiev et al. 2019 |
//! | [`discrete`] | H, I, H(·\|·) of symbols | plug-in; Miller 1955 |
//! | [`gaussian`] | I(X;Y), H(X) | closed form for a Gaussian with the sample covariance |
//! | [`layer`] | I(X;T), I(T;Y), H(T) of one layer | the information-plane quantities |
//!
//! Sums over points are accumulated in f64, sequentially in index order, so a
//! seed gives bit-identical results on every thread count, and on both
//! backends wherever the kernels agree to the bit (max-norm paths).

pub mod binning;
pub mod bounds;
pub mod cmi;
pub mod discrete;
pub mod gaussian;
pub mod kde;
pub mod knn_entropy;
pub mod ksg;
pub mod layer;
pub mod mixed;

pub use binning::{BinScheme, Binned};
pub use bounds::{BoundKind, Bounds};
pub use cmi::Cmi;
pub use discrete::{Discrete, Symbols};
pub use gaussian::Gaussian;
pub use kde::Kde;
pub use knn_entropy::KnnEntropy;
pub use ksg::{Ksg, KsgVariant};
pub use layer::{layer_info, LayerInfo, LayerMethod};
pub use mixed::Mixed;

use crate::data::{Dataset, NOISE_REL};
use crate::error::{Error, Result};
use crate::kernels::{Backend, Kernels};
use std::time::Instant;

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
    /// Standard deviation of the tie-breaking noise added, relative to each
    /// column's scale, its largest magnitude ([`crate::data::NOISE_REL`]; None: none added).
    pub noise: Option<f64>,
    /// Anything else worth saying (e.g. "raw KSG estimate is negative").
    pub notes: Vec<String>,
    /// Values the equal-range binning clamped into its end bins because they
    /// lay outside `[lo, hi]`, over every binned array (None: nothing was
    /// binned on a fixed range).
    pub clamped: Option<usize>,
    /// What the user must not miss: an estimate outside its provable bounds
    /// ([`bounds`]), values clamped by the binning. The command line prints
    /// each on stderr as `warning: ...`.
    pub warnings: Vec<String>,
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

/// Preparation shared by the kNN estimators: tie-breaking noise, optional
/// standardisation, the seed. Defaults: noise on, no standardisation, seed 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prep {
    /// Seed of the tie-breaking noise.
    pub seed: u64,
    /// Add tie-breaking noise ([`crate::data::NOISE_REL`] of each column's scale).
    pub noise: bool,
    /// Centre and scale every column to unit variance first (JIDT's `normalise`).
    pub standardize: bool,
}

impl Default for Prep {
    fn default() -> Self {
        Prep {
            seed: 0,
            noise: true,
            standardize: false,
        }
    }
}

impl Prep {
    /// Counts duplicates (recorded in `diag`), standardises if asked, adds noise
    /// if asked. `stream` keeps the noise of X, Y and Z independent under one seed.
    pub fn apply(&self, ds: &Dataset, stream: u64, diag: &mut Diagnostics) -> Result<Dataset> {
        let dups = ds.duplicate_rows();
        diag.duplicates.push((ds.name().to_string(), dups));
        if dups > 0 && !self.noise {
            diag.notes.push(format!(
                "{}: {dups} duplicate rows and no tie-breaking noise: neighbour distances of 0 \
                 make kNN estimates unreliable there",
                ds.name()
            ));
        }
        let out = if self.standardize {
            ds.standardized()
        } else {
            ds.clone()
        };
        if self.noise {
            diag.noise = Some(NOISE_REL);
            let noisy = out.with_noise(self.seed, stream, NOISE_REL)?;
            let left = noisy.duplicate_rows();
            if left > 0 {
                diag.notes.push(format!(
                    "{}: {left} duplicate rows remain after the tie-breaking noise \
                     (many copies of one nonzero value exceed f32 resolution at that scale)",
                    ds.name()
                ));
            }
            Ok(noisy)
        } else {
            Ok(out)
        }
    }

    /// The seed when noise was used.
    pub(crate) fn seed_used(&self) -> Option<u64> {
        self.noise.then_some(self.seed)
    }
}

/// Builder setters shared by every estimator that uses [`Prep`] and [`Units`].
macro_rules! prep_setters {
    () => {
        /// Seed of the tie-breaking noise (default 0).
        pub fn seed(mut self, seed: u64) -> Self {
            self.prep.seed = seed;
            self
        }
        /// Add tie-breaking noise (default true).
        pub fn noise(mut self, on: bool) -> Self {
            self.prep.noise = on;
            self
        }
        /// Standardise every column first (default false).
        pub fn standardize(mut self, on: bool) -> Self {
            self.prep.standardize = on;
            self
        }
        /// Units of the result (default nats).
        pub fn units(mut self, units: $crate::estimators::Units) -> Self {
            self.units = units;
            self
        }
    };
}
pub(crate) use prep_setters;

/// What an estimate is, for [`finish`].
pub(crate) struct Meta<'a> {
    pub quantity: &'a str,
    pub estimator: &'a str,
    pub units: Units,
    pub n: usize,
    pub dims: Vec<usize>,
    pub k: Option<usize>,
    pub seed: Option<u64>,
    /// Whether the quantity is a mutual information (a negative raw value gets a note).
    pub is_mi: bool,
}

/// Assembles an [`Estimate`]: converts units, refuses non-finite values, notes
/// negative MI, and checks the value against the bounds every estimate of
/// its kind obeys (a mutual information is ≥ 0): see [`bounds`].
pub(crate) fn finish(
    kern: &dyn Kernels,
    meta: Meta<'_>,
    value_nats: f64,
    lower_nats: Option<f64>,
    start: Instant,
    diagnostics: Diagnostics,
) -> Result<Estimate> {
    let b = default_bounds(&meta);
    finish_checked(kern, meta, &b, value_nats, lower_nats, start, diagnostics)
}

/// [`finish`] with the estimate's own provable bounds (e.g. I(X;Y) ≤ H(Y) for labels Y).
pub(crate) fn finish_checked(
    kern: &dyn Kernels,
    meta: Meta<'_>,
    bounds: &Bounds,
    value_nats: f64,
    lower_nats: Option<f64>,
    start: Instant,
    diagnostics: Diagnostics,
) -> Result<Estimate> {
    let device = (kern.backend(), kern.device_name());
    let parts = (value_nats, lower_nats, bounds);
    finish_on(device, meta, parts, start, diagnostics)
}

/// [`finish`] for estimators that run no kernel.
pub(crate) fn finish_host(
    meta: Meta<'_>,
    value_nats: f64,
    start: Instant,
    diagnostics: Diagnostics,
) -> Result<Estimate> {
    let b = default_bounds(&meta);
    finish_host_checked(meta, &b, value_nats, start, diagnostics)
}

/// [`finish_checked`] for estimators that run no kernel.
pub(crate) fn finish_host_checked(
    meta: Meta<'_>,
    bounds: &Bounds,
    value_nats: f64,
    start: Instant,
    diagnostics: Diagnostics,
) -> Result<Estimate> {
    let device = (Backend::Cpu, HOST_ADAPTER.to_string());
    finish_on(device, meta, (value_nats, None, bounds), start, diagnostics)
}

/// Adapter name of estimators that run no kernel (Gaussian, discrete).
pub const HOST_ADAPTER: &str = "host (no kernel)";

/// What every estimate of this kind obeys: a mutual information is ≥ 0.
fn default_bounds(meta: &Meta<'_>) -> Bounds {
    if meta.is_mi {
        Bounds::nonnegative(BoundKind::Statistical)
    } else {
        Bounds::default()
    }
}

fn finish_on(
    device: (Backend, String),
    meta: Meta<'_>,
    (value_nats, lower_nats, bounds): (f64, Option<f64>, &Bounds),
    start: Instant,
    mut diagnostics: Diagnostics,
) -> Result<Estimate> {
    check_finite(meta.quantity, meta.estimator, value_nats)?;
    if let Some(l) = lower_nats {
        check_finite(meta.quantity, meta.estimator, l)?;
    }
    if meta.is_mi && value_nats < 0.0 {
        diagnostics.notes.push(format!(
            "raw estimate is negative ({value_nats:.3e} nats): the true value is >= 0; \
             a small negative value is estimator bias at this n and is reported unclamped"
        ));
    }
    let subject = bounds::Subject {
        quantity: meta.quantity,
        estimator: meta.estimator,
        units: meta.units,
        n: meta.n,
    };
    diagnostics
        .warnings
        .extend(bounds::check(&subject, value_nats, bounds));
    if let Some(l) = lower_nats {
        // A lower bound below 0 is merely loose; above an upper bound it contradicts it.
        let upper_only = Bounds {
            nonnegative: false,
            equals: None,
            ..bounds.clone()
        };
        let quantity = format!("{} (lower bound)", meta.quantity);
        let subject = bounds::Subject {
            quantity: &quantity,
            ..subject
        };
        diagnostics
            .warnings
            .extend(bounds::check(&subject, l, &upper_only));
    }
    Ok(Estimate {
        quantity: meta.quantity.to_string(),
        estimator: meta.estimator.to_string(),
        value: meta.units.from_nats(value_nats),
        lower: lower_nats.map(|l| meta.units.from_nats(l)),
        units: meta.units,
        n: meta.n,
        dims: meta.dims,
        k: meta.k,
        backend: device.0,
        adapter: device.1,
        seconds: start.elapsed().as_secs_f64(),
        seed: meta.seed,
        diagnostics,
    })
}

pub(crate) fn check_finite(quantity: &str, estimator: &str, v: f64) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(Error::Data {
            what: format!("{estimator} estimate of {quantity}"),
            reason: format!("the result is {v}; the input is degenerate for this estimator"),
        })
    }
}

/// Checks that arrays that must be paired row by row have the same length.
pub(crate) fn same_n(a: &Dataset, b_name: &str, b_n: usize) -> Result<()> {
    if a.n() != b_n {
        return Err(Error::shape(
            b_name,
            format!("{} rows like {}", a.n(), a.name()),
            format!("{b_n} rows"),
        ));
    }
    Ok(())
}

/// ψ(m) summed over counts, sequentially in index order, in f64.
pub(crate) fn sum_digamma(counts: &[u32], offset: u32) -> f64 {
    counts
        .iter()
        .map(|&c| crate::special::digamma((c + offset) as f64))
        .sum()
}
