//! Binning estimators of H(T), I(X;T), I(T;Y) and H(Y|T) for a layer T.
//!
//! Every activation is mapped to a bin and a row's vector of bin indices is
//! one discrete symbol; then the plug-in (optionally Miller–Madow) entropies of
//! [`super::discrete`] give I(X;T) = H(T) − H(T|X) and I(T;Y) = H(T) − H(T|Y).
//! Schemes:
//!
//! * Shwartz-Ziv & Tishby 2017 (arXiv:1703.00810, §3.1): 30 equal bins on
//!   [−1, 1] (the default), values outside clamped to the end bins;
//! * Saxe et al. 2018 (ICLR, `simplebinmi.py` `bin_calc_information2`):
//!   fixed width, index floor(t / w);
//! * Chelombiev, Houghton & O'Donnell 2019 (ICLR, §3): adaptive bins of equal
//!   mass for the layer — cut points at the quantiles of all of the layer's
//!   activations pooled, the same cut points for every unit.
//!
//! Kernel: `bin` gives per-row indices and a 64-bit pattern key; rows are
//! grouped by key and equal keys are confirmed by comparing the index vectors,
//! so a hash collision can never merge two patterns.

use super::discrete::{cond_entropy_nats, entropy_nats, mutual_info_nats, Symbols};
use super::{finish, Diagnostics, Estimate, Meta, Units};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::kernels::{Binning, Kernels};
use std::time::Instant;

/// How activations are binned.
#[derive(Clone, Debug, PartialEq)]
pub enum BinScheme {
    /// `bins` equal bins on `[lo, hi]`, values outside clamped (SZT: 30 on [−1, 1]).
    EqualRange {
        /// Lower end.
        lo: f32,
        /// Upper end.
        hi: f32,
        /// Number of bins.
        bins: u32,
    },
    /// floor(t / width) (Saxe et al.).
    Width(f32),
    /// `bins` equal-mass bins from the quantiles of the whole layer (Chelombiev et al.).
    Adaptive {
        /// Number of bins.
        bins: u32,
    },
}

impl Default for BinScheme {
    fn default() -> Self {
        BinScheme::EqualRange {
            lo: -1.0,
            hi: 1.0,
            bins: 30,
        }
    }
}

/// Entry point: `Binned::params()`.
///
/// ```
/// use infoplane::estimators::{Binned, Symbols};
/// use infoplane::{Dataset, Engine};
/// // Two patterns, equally often: H(T) = ln 2; T copies Y, so I(T;Y) = ln 2.
/// let t = Dataset::new("t", vec![-0.9, 0.9, -0.9, 0.9], 4, 1)?;
/// let y = Symbols::from_labels(&[0, 1, 0, 1]);
/// let b = Binned::params().check()?;
/// let i = b.mi_labels(&t, &y, &Engine::cpu())?;
/// assert!((i.value - std::f64::consts::LN_2).abs() < 1e-12);
/// # Ok::<(), infoplane::Error>(())
/// ```
pub struct Binned;

impl Binned {
    /// Defaults: 30 equal bins on [−1, 1], plug-in, nats.
    pub fn params() -> BinnedParams {
        BinnedParams {
            scheme: BinScheme::default(),
            miller_madow: false,
            units: Units::Nats,
        }
    }
}

/// Unchecked parameters of [`Binned`].
#[derive(Clone, Debug)]
pub struct BinnedParams {
    scheme: BinScheme,
    miller_madow: bool,
    units: Units,
}

impl BinnedParams {
    /// The binning scheme (default SZT: 30 bins on [−1, 1]).
    pub fn scheme(mut self, s: BinScheme) -> Self {
        self.scheme = s;
        self
    }
    /// Add the Miller–Madow correction to every entropy (default false).
    pub fn miller_madow(mut self, on: bool) -> Self {
        self.miller_madow = on;
        self
    }
    /// Units of the result (default nats).
    pub fn units(mut self, units: Units) -> Self {
        self.units = units;
        self
    }

    /// Validates the scheme: bins ≥ 1, a finite range with lo < hi, a finite width > 0.
    pub fn check(self) -> Result<ValidBinned> {
        match self.scheme {
            BinScheme::EqualRange { lo, hi, bins } => {
                if bins == 0 {
                    return Err(Error::param("bins", "must be at least 1, got 0"));
                }
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return Err(Error::param(
                        "range",
                        format!("needs finite lo < hi, got [{lo}, {hi}]"),
                    ));
                }
            }
            BinScheme::Width(w) => {
                if !(w.is_finite() && w > 0.0) {
                    return Err(Error::param(
                        "width",
                        format!("must be finite and > 0, got {w}"),
                    ));
                }
            }
            BinScheme::Adaptive { bins } => {
                if bins == 0 {
                    return Err(Error::param("bins", "must be at least 1, got 0"));
                }
            }
        }
        Ok(ValidBinned(self))
    }
}

/// Checked parameters of [`Binned`].
#[derive(Clone, Debug)]
pub struct ValidBinned(BinnedParams);

/// Cut points at the `bins`-quantiles of all values pooled (duplicates
/// removed: a ReLU layer's many zeros make one bin, not several empty ones).
pub fn adaptive_edges(t: &Dataset, bins: u32) -> Vec<f32> {
    let mut v = t.values().to_vec();
    v.sort_unstable_by(f32::total_cmp);
    let n = v.len();
    let mut cuts: Vec<f32> = (1..bins as usize)
        .filter_map(|j| v.get(j * n / bins as usize).copied())
        .collect();
    cuts.dedup();
    cuts
}

impl ValidBinned {
    /// Units of the results.
    pub fn units(&self) -> Units {
        self.0.units
    }

    /// The kernel binning of this scheme for layer `t` (its values taken as
    /// they are: [`ValidBinned::symbols`] passes the source values).
    pub fn binning(&self, t: &Dataset) -> Binning {
        match self.0.scheme {
            BinScheme::EqualRange { lo, hi, bins } => Binning::EqualRange { lo, hi, bins },
            BinScheme::Width(width) => Binning::Width { width },
            BinScheme::Adaptive { bins } => Binning::Edges {
                edges: vec![adaptive_edges(t, bins); t.d()],
            },
        }
    }

    /// One symbol per row of `t`: its pattern of bin indices. Bin edges and
    /// widths are absolute, so the source values are binned (as f32, see
    /// [`Dataset::materialized`]), not values stored centred or scaled.
    pub fn symbols(&self, t: &Dataset, kern: &dyn Kernels) -> Result<Symbols> {
        let t = t.materialized()?;
        let out = kern.bin(t.rows(), &self.binning(&t))?;
        Ok(pattern_symbols(&out.keys, &out.indices, t.d()))
    }

    fn meta(&self, quantity: &'static str, t: &Dataset, is_mi: bool) -> Meta<'static> {
        Meta {
            quantity,
            estimator: "binned",
            units: self.0.units,
            n: t.n(),
            dims: vec![t.d()],
            k: None,
            seed: None,
            is_mi,
        }
    }

    /// H(T) of the binned layer.
    pub fn entropy(&self, t: &Dataset, kern: &dyn Kernels) -> Result<Estimate> {
        let start = Instant::now();
        let s = self.symbols(t, kern)?;
        let v = entropy_nats(&s, self.0.miller_madow);
        finish(kern, self.meta("H(T)", t, false), v, None, start, notes(&s))
    }

    /// I(X;T) with the inputs as symbols (each distinct input row one symbol).
    pub fn mi_input(&self, t: &Dataset, x: &Symbols, kern: &dyn Kernels) -> Result<Estimate> {
        self.mi_with(t, x, "x", "I(X;T)", kern)
    }

    /// I(T;Y) with the labels as symbols.
    pub fn mi_labels(&self, t: &Dataset, y: &Symbols, kern: &dyn Kernels) -> Result<Estimate> {
        self.mi_with(t, y, "y", "I(T;Y)", kern)
    }

    /// H(Y|T): the labels' remaining uncertainty given the binned layer.
    pub fn cond_entropy_labels(
        &self,
        t: &Dataset,
        y: &Symbols,
        kern: &dyn Kernels,
    ) -> Result<Estimate> {
        let start = Instant::now();
        super::same_n(t, "y", y.n())?;
        let s = self.symbols(t, kern)?;
        let v = cond_entropy_nats(y, &s, self.0.miller_madow)?;
        finish(
            kern,
            self.meta("H(Y|T)", t, false),
            v,
            None,
            start,
            notes(&s),
        )
    }

    fn mi_with(
        &self,
        t: &Dataset,
        other: &Symbols,
        other_name: &str,
        quantity: &'static str,
        kern: &dyn Kernels,
    ) -> Result<Estimate> {
        let start = Instant::now();
        super::same_n(t, other_name, other.n())?;
        let s = self.symbols(t, kern)?;
        let v = mutual_info_nats(&s, other, self.0.miller_madow)?;
        finish(
            kern,
            self.meta(quantity, t, true),
            v,
            None,
            start,
            notes(&s),
        )
    }

    /// Whether Miller–Madow is on.
    pub fn miller_madow(&self) -> bool {
        self.0.miller_madow
    }
}

fn notes(s: &Symbols) -> Diagnostics {
    Diagnostics {
        notes: vec![format!(
            "{} distinct binned patterns in {} rows",
            s.alphabet(),
            s.n()
        )],
        ..Diagnostics::default()
    }
}

/// Groups rows by key, confirming equal keys with the index vectors, and
/// numbers the patterns in order of first appearance.
pub fn pattern_symbols(keys: &[u64], indices: &[i32], d: usize) -> Symbols {
    let n = keys.len();
    let row = |i: usize| &indices[i * d..(i + 1) * d];
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by(|&a, &b| keys[a].cmp(&keys[b]).then_with(|| row(a).cmp(row(b))));
    let mut group = vec![0u32; n];
    let mut g = 0u32;
    for w in 0..n {
        if w > 0 {
            let (a, b) = (order[w - 1], order[w]);
            if keys[a] != keys[b] || row(a) != row(b) {
                g += 1;
            }
        }
        group[order[w]] = g;
    }
    Symbols::from_ids(&group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colliding_keys_do_not_merge_patterns() {
        // Same key on purpose, different index vectors.
        let keys = [5u64, 5, 5, 9];
        let idx = [1, 2, 1, 3, 1, 2, 0, 0];
        let s = pattern_symbols(&keys, &idx, 2);
        assert_eq!(s.ids(), &[0, 1, 0, 2]);
    }

    #[test]
    fn adaptive_edges_are_quantiles() {
        let t = Dataset::new("t", (0..8).map(|v| v as f32).collect(), 8, 1).unwrap();
        assert_eq!(adaptive_edges(&t, 4), vec![2.0, 4.0, 6.0]);
        let z = Dataset::new("t", vec![0.0, 0.0, 0.0, 1.0], 4, 1).unwrap();
        assert_eq!(adaptive_edges(&z, 4), vec![0.0, 1.0]);
    }

    #[test]
    fn parameter_rules() {
        let e = |s| Binned::params().scheme(s).check().unwrap_err().to_string();
        assert!(e(BinScheme::Width(0.0)).contains("width"));
        assert!(e(BinScheme::EqualRange {
            lo: 1.0,
            hi: 1.0,
            bins: 3
        })
        .contains("range"));
        assert!(e(BinScheme::Adaptive { bins: 0 }).contains("bins"));
    }
}
