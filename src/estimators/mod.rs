//! The estimators: each asks the kernels for work and sums in f64 on the host.
//!
//! Every estimator returns an [`Estimate`]: the value in nats (or bits on
//! request), what was estimated, on what, by which backend, and the
//! diagnostics a user needs to trust it (duplicates and ties seen, what the
//! tie-breaking moved, point masses, what the conversion to f32 did).
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

use crate::data::ties::show_value;
use crate::data::{Dataset, TieReport};
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
    /// Rows that equal an earlier row exactly (before the tie-breaking), per input array.
    pub duplicates: Vec<(String, usize)>,
    /// The largest displacement the tie-breaking made, relative to its
    /// column's range (max − min; 1 for a constant column), over all input
    /// arrays; None when nothing moved (no ties, or tie-breaking off). Only
    /// values equal to another value of their column move
    /// ([`crate::data::ties`]).
    pub noise: Option<f64>,
    /// Per input array: values tied within their column, values moved, ties
    /// left, the largest group of equal values (empty for estimators without
    /// tie-breaking).
    pub ties: Vec<TieReport>,
    /// Anything else worth saying (e.g. which estimator the data types chose).
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
    /// Tie-breaking seed where tie-breaking was used.
    pub seed: Option<u64>,
    /// What the estimator saw and did.
    pub diagnostics: Diagnostics,
}

/// Preparation shared by the kNN estimators: optional standardisation, one
/// scale for arrays that meet in a distance, tie-breaking, the seed.
/// Defaults: tie-breaking on, no standardisation, seed 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prep {
    /// Seed of the tie-breaking.
    pub seed: u64,
    /// Break exact ties: values equal within their column are spread over
    /// distinct nearby f32 values, every other value is left as it is
    /// ([`crate::data::ties`]).
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
    /// One array: [`Prep::apply_joint`] of `ds` alone. `stream` no longer
    /// changes anything (the tie-breaking order follows the seed and each
    /// column's content, so that identical columns in different arrays are
    /// broken identically); it is kept so that callers compile unchanged.
    pub fn apply(&self, ds: &Dataset, stream: u64, diag: &mut Diagnostics) -> Result<Dataset> {
        let _ = stream;
        let mut out = self.apply_joint(&[ds], diag)?;
        Ok(out.swap_remove(0))
    }

    /// Arrays whose columns meet in one distance (X, Y and Z of an
    /// estimate): counts duplicate rows, standardises every column if asked
    /// or else brings the arrays to one power-of-two scale (exact; values
    /// that fall below f32's normal range become 0, noted), breaks ties if
    /// asked, and records all of it in `diag`.
    pub fn apply_joint(&self, parts: &[&Dataset], diag: &mut Diagnostics) -> Result<Vec<Dataset>> {
        for p in parts {
            diag.duplicates
                .push((p.name().to_string(), p.duplicate_rows()));
            for note in p.notes() {
                if !diag.notes.contains(note) {
                    diag.notes.push(note.clone());
                }
            }
        }
        let common = parts.iter().map(|p| p.map().exponent()).max().unwrap_or(0);
        let mut out = Vec::with_capacity(parts.len());
        for (w, p) in parts.iter().enumerate() {
            let s = if self.standardize {
                p.standardized()
            } else {
                let (r, lost) = p.rescaled(common);
                if p.map().exponent() != common {
                    let mut note = format!(
                        "{}: multiplied by 2^{} to share the scale 2^{common} of the other arrays \
                         in the joint distances",
                        p.name(),
                        p.map().exponent() - common
                    );
                    if lost > 0 {
                        note.push_str(&format!(
                            "; {lost} value(s) fell below f32's normal range and became 0 \
                             (standardise to compare arrays of very different scales)"
                        ));
                    }
                    diag.notes.push(note);
                }
                r
            };
            let dups = diag.duplicates[diag.duplicates.len() - parts.len() + w].1;
            let (s, mut rep) = if self.noise {
                s.break_ties(self.seed)
            } else {
                let rep = s.tie_report();
                (s, rep)
            };
            if let Some(g) = rep.largest.as_mut() {
                g.value = p.source_value(g.row, g.column);
            }
            let rows = |k: usize| if k == 1 { "row equals" } else { "rows equal" };
            if !self.noise {
                if dups > 0 {
                    diag.notes.push(format!(
                        "{}: {dups} {} an earlier row exactly and the tie-breaking is off: \
                         neighbour distances of 0 make kNN estimates unreliable there",
                        p.name(),
                        rows(dups)
                    ));
                }
            } else if rep.moved > 0 {
                let g = rep.largest.as_ref().expect("moved values were tied");
                let dup_text = if dups > 0 {
                    format!("{dups} {} an earlier row exactly; ", rows(dups))
                } else {
                    String::new()
                };
                diag.notes.push(format!(
                    "{}: {dup_text}{} values equal another value of their column (the largest \
                     group: {} copies of {} in column {}); the tie-breaking moved {} of them, by \
                     at most {:.1e} of the column's range, and left every other value unchanged",
                    p.name(),
                    rep.tied,
                    g.copies,
                    show_value(g.value),
                    g.column,
                    rep.moved,
                    rep.displacement.unwrap_or(0.0)
                ));
            }
            if self.noise && rep.residual > 0 {
                diag.notes.push(format!(
                    "{}: {} values are still equal to another value of their column after the \
                     tie-breaking: their groups hold more copies than there are f32 values \
                     between the neighbouring distinct values",
                    p.name(),
                    rep.residual
                ));
            }
            if let Some(dp) = rep.displacement {
                diag.noise = Some(diag.noise.map_or(dp, |x| x.max(dp)));
            }
            diag.ties.push(rep);
            out.push(s);
        }
        Ok(out)
    }

    /// The seed when tie-breaking was used.
    pub(crate) fn seed_used(&self) -> Option<u64> {
        self.noise.then_some(self.seed)
    }
}

/// The first input array holding a value with more than `k` copies in one
/// column: a point mass (an atom), which makes a continuous entropy −∞ and
/// leaves a kNN MI estimate to the tie-breaking.
pub(crate) fn point_mass(diag: &Diagnostics, k: usize) -> Option<&TieReport> {
    diag.ties
        .iter()
        .find(|t| t.largest.as_ref().is_some_and(|g| g.copies > k))
}

/// "column 0 holds 3600 copies of 0 (72.0 % of rows), more than k = 3: a point mass".
pub(crate) fn point_mass_text(rep: &TieReport, k: usize) -> String {
    let g = rep.largest.as_ref().expect("a point mass has a group");
    format!(
        "column {} holds {} copies of {} ({:.1} % of rows), more than k = {k}: a point mass",
        g.column,
        g.copies,
        show_value(g.value),
        100.0 * g.share
    )
}

/// A note per input array with a point mass, saying what it does to `what`.
pub(crate) fn note_point_masses(diag: &mut Diagnostics, k: usize, consequence: &str) {
    let notes: Vec<String> = diag
        .ties
        .iter()
        .filter(|t| t.largest.as_ref().is_some_and(|g| g.copies > k))
        .map(|t| format!("{}: {}; {consequence}", t.array, point_mass_text(t, k)))
        .collect();
    diag.notes.extend(notes);
}

/// Builder setters shared by every estimator that uses [`Prep`] and [`Units`].
macro_rules! prep_setters {
    () => {
        /// Seed of the tie-breaking (default 0).
        pub fn seed(mut self, seed: u64) -> Self {
            self.prep.seed = seed;
            self
        }
        /// Break exact ties (default true): only values equal within their column move.
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
    /// Whether the quantity is a mutual information (a negative raw value earns a warning).
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
