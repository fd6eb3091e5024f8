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
//! **Atoms.** A value that holds more than one bin's mass (the zeros of a
//! ReLU unit, a saturated or clipped bound) makes several quantiles equal:
//! their cut points coincide, the bins collapse, and in the extreme (85 %
//! zeros at 5 bins) every activation falls in one bin and H(T) = 0. That is
//! faithful to the equal-mass method, and a note says so whenever it happens
//! (how many bins were asked and made, and which value caused it). With
//! [`BinnedParams::atoms`] each such value gets a bin of its own instead: a
//! cut at the value and one at the next larger value present in the data
//! (never a value in between, so no subnormal constant reaches a shader),
//! and the other values share the remaining `bins − atoms` equal-mass bins.
//! The kernel contract is unchanged (index = number of cut points ≤ t).
//!
//! **Clamping.** Equal bins on `[lo, hi]` put values outside the range into
//! the end bins. The estimators count those values on the host
//! ([`super::Diagnostics::clamped`]) and warn with their share and the
//! observed range: a clamped layer looks compressed when it is not (Saxe et
//! al. 2018 §2 describe this artefact of a fixed range).
//!
//! Kernel: `bin` gives per-row indices and a 64-bit pattern key; rows are
//! grouped by key and equal keys are confirmed by comparing the index vectors,
//! so a hash collision can never merge two patterns.

use super::bounds::{BoundKind, Bounds};
use super::discrete::{cond_entropy_nats, entropy_nats, mutual_info_nats, Symbols};
use super::{finish_checked, Diagnostics, Estimate, Meta, Units};
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
            atoms: false,
            units: Units::Nats,
        }
    }
}

/// Unchecked parameters of [`Binned`].
#[derive(Clone, Debug)]
pub struct BinnedParams {
    scheme: BinScheme,
    miller_madow: bool,
    atoms: bool,
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
    /// Adaptive bins only: give every value that holds more than one bin's
    /// mass its own bin (see the module docs; default false, the equal-mass
    /// method as published).
    pub fn atoms(mut self, on: bool) -> Self {
        self.atoms = on;
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
        if self.atoms && !matches!(self.scheme, BinScheme::Adaptive { .. }) {
            return Err(Error::param(
                "adaptive-atoms",
                "gives atoms their own bin among adaptive (equal-mass) bins; \
                 equal bins on a range or of a fixed width already keep a value in one bin",
            ));
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
    quantile_cuts(&v, bins as usize)
}

/// Cut points at the `bins`-quantiles of sorted values, equal cuts merged.
fn quantile_cuts(sorted: &[f32], bins: usize) -> Vec<f32> {
    let n = sorted.len();
    let mut cuts: Vec<f32> = (1..bins)
        .filter_map(|j| sorted.get(j * n / bins).copied())
        .collect();
    cuts.dedup();
    cuts
}

/// Runs of equal values (−0 equal to 0) in sorted data holding more than one
/// bin's mass (count · bins > n): `(value, count, index of the run's end)`.
fn atoms_of(sorted: &[f32], bins: usize) -> Vec<(f32, usize, usize)> {
    let n = sorted.len();
    let mut out = Vec::new();
    let mut start = 0;
    while start < n {
        let v = sorted[start];
        let end = start + sorted[start..].iter().take_while(|&&w| w == v).count();
        let count = end - start;
        if count * bins > n {
            out.push((v, count, end));
        }
        start = end;
    }
    out
}

/// Adaptive cut points where every atom (a value holding more than one
/// bin's mass) gets its own bin: cuts at the atom and at the next larger
/// value present, the other values cut at their own `bins − atoms`
/// quantiles. Without atoms this is [`adaptive_edges`].
pub fn adaptive_edges_with_atoms(t: &Dataset, bins: u32) -> Vec<f32> {
    let mut v = t.values().to_vec();
    v.sort_unstable_by(f32::total_cmp);
    let bins = bins as usize;
    let atoms = atoms_of(&v, bins);
    if atoms.is_empty() {
        return quantile_cuts(&v, bins);
    }
    let mut cuts = Vec::new();
    for &(value, _, end) in &atoms {
        cuts.push(value);
        if let Some(&next) = v.get(end) {
            cuts.push(next);
        }
    }
    let rest: Vec<f32> = v
        .iter()
        .copied()
        .filter(|w| !atoms.iter().any(|a| a.0 == *w))
        .collect();
    cuts.extend(quantile_cuts(
        &rest,
        bins.saturating_sub(atoms.len()).max(1),
    ));
    cuts.sort_unstable_by(f32::total_cmp);
    cuts.dedup();
    cuts
}

/// The binning of one array and what it noticed (collapsed bins, clamped values).
struct Plan {
    binning: Binning,
    notes: Vec<String>,
    warnings: Vec<String>,
    clamped: Option<usize>,
}

fn percent(part: usize, whole: usize) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

impl ValidBinned {
    /// Units of the results.
    pub fn units(&self) -> Units {
        self.0.units
    }

    /// The kernel binning of this scheme for layer `t` (its values taken as
    /// they are: [`ValidBinned::symbols`] passes the source values).
    pub fn binning(&self, t: &Dataset) -> Binning {
        self.plan(t).binning
    }

    fn plan(&self, t: &Dataset) -> Plan {
        let mut plan = Plan {
            binning: Binning::Width { width: 1.0 },
            notes: Vec::new(),
            warnings: Vec::new(),
            clamped: None,
        };
        plan.binning = match self.0.scheme {
            BinScheme::EqualRange { lo, hi, bins } => {
                plan.clamped = Some(self.clamp_check(t, lo, hi, &mut plan.warnings));
                Binning::EqualRange { lo, hi, bins }
            }
            BinScheme::Width(width) => Binning::Width { width },
            BinScheme::Adaptive { bins } => {
                let cuts = if self.0.atoms {
                    adaptive_edges_with_atoms(t, bins)
                } else {
                    adaptive_edges(t, bins)
                };
                self.collapse_note(t, bins, &cuts, &mut plan.notes);
                Binning::Edges {
                    edges: vec![cuts; t.d()],
                }
            }
        };
        plan
    }

    /// Counts the values of `t` outside `[lo, hi]` (clamped into the end bins)
    /// and warns when there are any.
    fn clamp_check(&self, t: &Dataset, lo: f32, hi: f32, warnings: &mut Vec<String>) -> usize {
        let v = t.values();
        let clamped = v.iter().filter(|&&x| x < lo || x > hi).count();
        if clamped > 0 {
            let min = v.iter().copied().fold(f32::INFINITY, f32::min);
            let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            warnings.push(format!(
                "{}: {clamped} of {} values ({:.2} %) lie outside the binning range [{lo}, {hi}] \
                 and were clamped into the end bins (observed range [{min}, {max}]); clamping \
                 merges distinct activations and lowers H(T) and I(X;T): bin on a range that \
                 covers the data, or use adaptive bins",
                t.name(),
                v.len(),
                percent(clamped, v.len()),
            ));
        }
        clamped
    }

    /// A note when coinciding quantiles made fewer adaptive bins than asked.
    fn collapse_note(&self, t: &Dataset, bins: u32, cut_points: &[f32], notes: &mut Vec<String>) {
        let (asked, cuts) = (bins as usize, cut_points.len());
        if cuts + 1 >= asked {
            return;
        }
        let mut v = t.values().to_vec();
        v.sort_unstable_by(f32::total_cmp);
        let atoms = atoms_of(&v, asked);
        // Bins that hold values: distinct indices (cuts <= v) over the sorted values.
        let mut occupied = 0;
        let mut last = usize::MAX;
        for &x in &v {
            let idx = cut_points.partition_point(|&c| c <= x);
            if idx != last {
                occupied += 1;
                last = idx;
            }
        }
        let cause = match atoms.iter().max_by_key(|a| a.1) {
            Some(&(value, count, _)) => format!(
                ": the value {value} holds {:.1} % of the values, more than one bin's mass \
                 ({:.1} %)",
                percent(count, v.len()),
                100.0 / asked as f64
            ),
            None => " (repeated values made quantiles coincide)".into(),
        };
        let remedy = if self.0.atoms {
            "atoms already have their own bins; the remaining values hold too few distinct values"
        } else {
            "this is faithful to the equal-mass method (Chelombiev et al. 2019); \
             adaptive atoms (--adaptive-atoms) give such a value its own bin"
        };
        notes.push(format!(
            "{}: adaptive binning filled {occupied} of the {asked} bins asked ({} of {} cut \
             points coincide){cause}; {remedy}",
            t.name(),
            asked - 1 - cuts,
            asked - 1,
        ));
    }

    /// One symbol per row of `t`, with what the binning noticed added to `diag`
    /// (notes on collapsed adaptive bins, clamped values and their warning).
    pub fn symbols_noted(
        &self,
        t: &Dataset,
        kern: &dyn Kernels,
        diag: &mut Diagnostics,
    ) -> Result<Symbols> {
        // Bin edges and widths are absolute: bin the source values.
        let t = t.materialized()?;
        let plan = self.plan(&t);
        let out = kern.bin(t.rows(), &plan.binning)?;
        diag.notes.extend(plan.notes);
        diag.warnings.extend(plan.warnings);
        if let Some(c) = plan.clamped {
            diag.clamped = Some(diag.clamped.unwrap_or(0) + c);
        }
        Ok(pattern_symbols(&out.keys, &out.indices, t.d()))
    }

    /// One symbol per row of `t`: its pattern of bin indices. Bin edges and
    /// widths are absolute, so the source values are binned (as f32, see
    /// [`Dataset::materialized`]), not values stored centred or scaled.
    pub fn symbols(&self, t: &Dataset, kern: &dyn Kernels) -> Result<Symbols> {
        self.symbols_noted(t, kern, &mut Diagnostics::default())
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

    /// Plug-in entropies are exact; with Miller–Madow they are estimates.
    pub(crate) fn bound_kind(&self) -> BoundKind {
        if self.0.miller_madow {
            BoundKind::Statistical
        } else {
            BoundKind::Exact
        }
    }

    /// H(T) of the binned layer.
    pub fn entropy(&self, t: &Dataset, kern: &dyn Kernels) -> Result<Estimate> {
        let start = Instant::now();
        let mut diag = Diagnostics::default();
        let s = self.symbols_noted(t, kern, &mut diag)?;
        let v = entropy_nats(&s, self.0.miller_madow);
        diag.notes.push(patterns_note(&s));
        let meta = self.meta("H(T)", t, false);
        finish_checked(kern, meta, &Bounds::default(), v, None, start, diag)
    }

    /// I(X;T) with the inputs as symbols (each distinct input row one symbol).
    pub fn mi_input(&self, t: &Dataset, x: &Symbols, kern: &dyn Kernels) -> Result<Estimate> {
        self.mi_with(t, x, "x", "I(X;T)", kern)
    }

    /// I(T;Y) with the labels as symbols.
    pub fn mi_labels(&self, t: &Dataset, y: &Symbols, kern: &dyn Kernels) -> Result<Estimate> {
        self.mi_with(t, y, "y", "I(T;Y)", kern)
    }

    /// I(X;Y) with both arrays binned (each with its own cut points when adaptive).
    pub fn mi_datasets(&self, x: &Dataset, y: &Dataset, kern: &dyn Kernels) -> Result<Estimate> {
        let start = Instant::now();
        super::same_n(x, y.name(), y.n())?;
        let mut diag = Diagnostics::default();
        let xs = self.symbols_noted(x, kern, &mut diag)?;
        let ys = self.symbols_noted(y, kern, &mut diag)?;
        let mm = self.0.miller_madow;
        let v = mutual_info_nats(&xs, &ys, mm)?;
        diag.notes.push(patterns_note(&xs));
        diag.notes.push(patterns_note(&ys));
        let bounds = Bounds::nonnegative(self.bound_kind())
            .at_most(entropy_nats(&xs, mm), format!("H of binned {}", x.name()))
            .at_most(entropy_nats(&ys, mm), format!("H of binned {}", y.name()));
        let mut meta = self.meta("I(X;Y)", x, true);
        meta.dims = vec![x.d(), y.d()];
        finish_checked(kern, meta, &bounds, v, None, start, diag)
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
        let mut diag = Diagnostics::default();
        let s = self.symbols_noted(t, kern, &mut diag)?;
        let mm = self.0.miller_madow;
        let v = cond_entropy_nats(y, &s, mm)?;
        diag.notes.push(patterns_note(&s));
        let bounds = Bounds::nonnegative(self.bound_kind()).at_most(entropy_nats(y, mm), "H(Y)");
        let meta = self.meta("H(Y|T)", t, false);
        finish_checked(kern, meta, &bounds, v, None, start, diag)
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
        let mut diag = Diagnostics::default();
        let s = self.symbols_noted(t, kern, &mut diag)?;
        let mm = self.0.miller_madow;
        let v = mutual_info_nats(&s, other, mm)?;
        diag.notes.push(patterns_note(&s));
        let bounds = Bounds::nonnegative(self.bound_kind())
            .at_most(
                entropy_nats(other, mm),
                format!("H({})", other_name.to_uppercase()),
            )
            .at_most(entropy_nats(&s, mm), "H(T) of the binned layer");
        let meta = self.meta(quantity, t, true);
        finish_checked(kern, meta, &bounds, v, None, start, diag)
    }

    /// Whether Miller–Madow is on.
    pub fn miller_madow(&self) -> bool {
        self.0.miller_madow
    }
}

fn patterns_note(s: &Symbols) -> String {
    format!(
        "{} distinct binned patterns in {} rows",
        s.alphabet(),
        s.n()
    )
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
