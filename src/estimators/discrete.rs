//! Entropy, mutual information and conditional entropy of discrete data.
//!
//! Plug-in estimates are exact on the empirical distribution:
//! H = −Σ p̂ ln p̂. The Miller–Madow correction (Miller 1955) adds the
//! first-order bias term (m − 1)/(2N), m the number of symbols seen. Mutual
//! information is H(X) + H(Y) − H(X,Y) and H(Y|X) = H(X,Y) − H(X) with the same
//! correction on every term (which equals Σ_x p(x)·[H(Y|x) + (m_x − 1)/(2N_x)]).
//!
//! [`Symbols`] is the discrete form of data: one u32 id per row, rows
//! deduplicated (ids in order of first appearance, so results never depend on
//! hashing order).

use super::bounds::{BoundKind, Bounds};
use super::{finish_host, finish_host_checked, Diagnostics, Estimate, Meta, Units};
use crate::data::Dataset;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::hash::Hash;
use std::time::Instant;

/// One symbol per row; equal rows have equal ids, ids are 0..alphabet in order
/// of first appearance.
///
/// ```
/// use infoplane::estimators::Symbols;
/// let s = Symbols::from_labels(&[7, 3, 7, 7]);
/// assert_eq!(s.ids(), &[0, 1, 0, 0]);
/// assert_eq!(s.alphabet(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbols {
    ids: Vec<u32>,
    alphabet: usize,
}

fn dedup<K: Hash + Eq>(keys: impl Iterator<Item = K>) -> Symbols {
    let mut map: HashMap<K, u32> = HashMap::new();
    let ids = keys
        .map(|key| {
            let next = map.len() as u32;
            *map.entry(key).or_insert(next)
        })
        .collect();
    Symbols {
        ids,
        alphabet: map.len(),
    }
}

impl Symbols {
    /// One symbol per label.
    pub fn from_labels<T: Hash + Eq + Copy>(labels: &[T]) -> Symbols {
        dedup(labels.iter().copied())
    }

    /// One symbol per row of an integer matrix.
    pub fn from_rows<T: Hash + Eq + Copy>(rows: ndarray::ArrayView2<'_, T>) -> Symbols {
        dedup(rows.rows().into_iter().map(|r| r.to_vec()))
    }

    /// One symbol per row of a dataset whose values are all integers
    /// (labels or integer inputs stored as floats). A value with a fraction is
    /// an error naming the row, column and value. The source values are
    /// judged (a column stored centred at its mean is still integer data).
    pub fn from_dataset(ds: &Dataset) -> Result<Symbols> {
        if !ds.map().is_identity() {
            return Symbols::from_source_values(ds);
        }
        for i in 0..ds.n() {
            for c in 0..ds.d() {
                let v = ds.get(i, c);
                if v.fract() != 0.0 {
                    return Err(Error::Data {
                        what: ds.name().to_string(),
                        reason: format!(
                            "row {i}, column {c} holds {v}, which is not an integer; \
                             discrete estimators need integer symbols"
                        ),
                    });
                }
            }
        }
        Ok(dedup((0..ds.n()).map(|i| {
            (0..ds.d())
                .map(|c| ds.get(i, c) as i64)
                .collect::<Vec<i64>>()
        })))
    }

    /// [`Symbols::from_dataset`] for data stored with a map: the integers are
    /// the source values, rebuilt in f64.
    fn from_source_values(ds: &Dataset) -> Result<Symbols> {
        let mut rows = Vec::with_capacity(ds.n());
        for i in 0..ds.n() {
            let mut row = Vec::with_capacity(ds.d());
            for c in 0..ds.d() {
                let v = ds.source_value(i, c);
                if v.fract() != 0.0 || v.abs() > 9.0e15 {
                    return Err(Error::Data {
                        what: ds.name().to_string(),
                        reason: format!(
                            "row {i}, column {c} holds {v}, which is not an integer; discrete \
                             estimators need integer symbols"
                        ),
                    });
                }
                row.push(v as i64);
            }
            rows.push(row);
        }
        Ok(dedup(rows.into_iter()))
    }

    /// Every row its own symbol (inputs X of a network, each sample distinct).
    pub fn distinct(n: usize) -> Symbols {
        Symbols {
            ids: (0..n as u32).collect(),
            alphabet: n,
        }
    }

    /// One symbol per distinct row of a float dataset, rows equal when every
    /// value is bit-identical (−0.0 equal to 0.0).
    pub fn from_exact_rows(ds: &Dataset) -> Symbols {
        dedup((0..ds.n()).map(|i| {
            (0..ds.d())
                .map(|c| {
                    let v = ds.get(i, c);
                    if v == 0.0 {
                        0
                    } else {
                        v.to_bits()
                    }
                })
                .collect::<Vec<u32>>()
        }))
    }

    /// From ids that are already 0..alphabet (re-labelled in order of first appearance).
    pub fn from_ids(ids: &[u32]) -> Symbols {
        dedup(ids.iter().copied())
    }

    /// The pair (self, other) as one symbol per row.
    pub fn joint(&self, other: &Symbols) -> Result<Symbols> {
        if self.n() != other.n() {
            return Err(Error::shape(
                "joint symbols",
                format!("{} rows on both sides", self.n()),
                format!("{} and {} rows", self.n(), other.n()),
            ));
        }
        Ok(dedup(
            self.ids.iter().zip(&other.ids).map(|(&a, &b)| (a, b)),
        ))
    }

    /// The ids, one per row.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }
    /// Rows.
    pub fn n(&self) -> usize {
        self.ids.len()
    }
    /// Number of distinct symbols.
    pub fn alphabet(&self) -> usize {
        self.alphabet
    }
    /// Rows per symbol, indexed by id.
    pub fn counts(&self) -> Vec<usize> {
        let mut c = vec![0usize; self.alphabet];
        for &s in &self.ids {
            c[s as usize] += 1;
        }
        c
    }
    /// Row indices per symbol, indexed by id, each ascending.
    pub fn groups(&self) -> Vec<Vec<usize>> {
        let mut g = vec![Vec::new(); self.alphabet];
        for (i, &s) in self.ids.iter().enumerate() {
            g[s as usize].push(i);
        }
        g
    }
}

/// Entropy in nats of the empirical distribution with these counts (zeros
/// ignored), summed in index order; with `miller_madow`, plus (m − 1)/(2N).
pub fn entropy_of_counts(counts: &[usize], miller_madow: bool) -> f64 {
    let n: usize = counts.iter().sum();
    if n == 0 {
        return 0.0;
    }
    let nf = n as f64;
    let mut h = 0f64;
    let mut m = 0usize;
    for &c in counts.iter().filter(|&&c| c > 0) {
        let p = c as f64 / nf;
        h -= p * p.ln();
        m += 1;
    }
    if miller_madow {
        h += (m as f64 - 1.0) / (2.0 * nf);
    }
    h
}

/// H(S) in nats.
pub fn entropy_nats(s: &Symbols, miller_madow: bool) -> f64 {
    entropy_of_counts(&s.counts(), miller_madow)
}

/// I(A;B) = H(A) + H(B) − H(A,B) in nats.
pub fn mutual_info_nats(a: &Symbols, b: &Symbols, miller_madow: bool) -> Result<f64> {
    let ab = a.joint(b)?;
    Ok(
        entropy_nats(a, miller_madow) + entropy_nats(b, miller_madow)
            - entropy_nats(&ab, miller_madow),
    )
}

/// H(A|B) = H(A,B) − H(B) in nats.
pub fn cond_entropy_nats(a: &Symbols, given: &Symbols, miller_madow: bool) -> Result<f64> {
    let ab = a.joint(given)?;
    Ok(entropy_nats(&ab, miller_madow) - entropy_nats(given, miller_madow))
}

/// Entry point: `Discrete::params()`.
///
/// ```
/// use infoplane::estimators::{Discrete, Symbols, Units};
/// let x = Symbols::from_labels(&[0, 0, 1, 1]);
/// let y = Symbols::from_labels(&[5, 5, 6, 6]);
/// let est = Discrete::params().units(Units::Bits).check()?.mutual_info(&x, &y)?;
/// assert!((est.value - 1.0).abs() < 1e-12);
/// # Ok::<(), infoplane::Error>(())
/// ```
pub struct Discrete;

impl Discrete {
    /// Defaults: plug-in (no Miller–Madow), nats.
    pub fn params() -> DiscreteParams {
        DiscreteParams {
            miller_madow: false,
            units: Units::Nats,
        }
    }
}

/// Parameters of [`Discrete`] (every combination is valid).
#[derive(Clone, Debug)]
pub struct DiscreteParams {
    miller_madow: bool,
    units: Units,
}

impl DiscreteParams {
    /// Add the Miller–Madow correction (default false).
    pub fn miller_madow(mut self, on: bool) -> Self {
        self.miller_madow = on;
        self
    }
    /// Units of the result (default nats).
    pub fn units(mut self, units: Units) -> Self {
        self.units = units;
        self
    }
    /// Validates the parameters (all are valid; kept for a uniform API).
    pub fn check(self) -> Result<ValidDiscrete> {
        Ok(ValidDiscrete(self))
    }
}

/// Checked parameters of [`Discrete`].
#[derive(Clone, Debug)]
pub struct ValidDiscrete(DiscreteParams);

impl ValidDiscrete {
    fn meta(
        &self,
        quantity: &'static str,
        n: usize,
        dims: Vec<usize>,
        is_mi: bool,
    ) -> Meta<'static> {
        Meta {
            quantity,
            estimator: "discrete",
            units: self.0.units,
            n,
            dims,
            k: None,
            seed: None,
            is_mi,
        }
    }

    /// H(X).
    pub fn entropy(&self, x: &Symbols) -> Result<Estimate> {
        let start = Instant::now();
        let v = entropy_nats(x, self.0.miller_madow);
        finish_host(
            self.meta("H(X)", x.n(), vec![1], false),
            v,
            start,
            Diagnostics::default(),
        )
    }

    /// Plug-in values are exact on the empirical distribution; Miller–Madow
    /// corrected ones are estimates (see [`super::bounds`]).
    fn bound_kind(&self) -> BoundKind {
        if self.0.miller_madow {
            BoundKind::Statistical
        } else {
            BoundKind::Exact
        }
    }

    /// I(X;Y), checked against 0 ≤ I ≤ min(H(X), H(Y)).
    pub fn mutual_info(&self, x: &Symbols, y: &Symbols) -> Result<Estimate> {
        let start = Instant::now();
        let mm = self.0.miller_madow;
        let v = mutual_info_nats(x, y, mm)?;
        let bounds = Bounds::nonnegative(self.bound_kind())
            .at_most(entropy_nats(x, mm), "H(X)")
            .at_most(entropy_nats(y, mm), "H(Y)");
        finish_host_checked(
            self.meta("I(X;Y)", x.n(), vec![1, 1], true),
            &bounds,
            v,
            start,
            Diagnostics::default(),
        )
    }

    /// H(Y|X), checked against 0 ≤ H(Y|X) ≤ H(Y).
    pub fn cond_entropy(&self, y: &Symbols, x: &Symbols) -> Result<Estimate> {
        let start = Instant::now();
        let mm = self.0.miller_madow;
        let v = cond_entropy_nats(y, x, mm)?;
        let bounds = Bounds::nonnegative(self.bound_kind()).at_most(entropy_nats(y, mm), "H(Y)");
        finish_host_checked(
            self.meta("H(Y|X)", y.n(), vec![1, 1], false),
            &bounds,
            v,
            start,
            Diagnostics::default(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plug-in values on hand-made data are sums of a few logs.
    const EXACT: f64 = 1e-14;

    #[test]
    fn from_dataset_rejects_fractions() {
        let ds = Dataset::new("labels", vec![1.0, 2.5], 2, 1).unwrap();
        let e = Symbols::from_dataset(&ds).unwrap_err().to_string();
        assert!(
            e.contains("labels") && e.contains("row 1") && e.contains("2.5"),
            "{e}"
        );
        let ds = Dataset::new("x", vec![1.0, 2.0, 1.0, 2.0, 0.0, 2.0], 3, 2).unwrap();
        assert_eq!(Symbols::from_dataset(&ds).unwrap().ids(), &[0, 0, 1]);
    }

    #[test]
    fn hand_made_values() {
        // X uniform on 4 symbols, Y = X mod 2.
        let x = Symbols::from_labels(&[0, 1, 2, 3, 0, 1, 2, 3]);
        let y = Symbols::from_labels(&[0, 1, 0, 1, 0, 1, 0, 1]);
        let ln2 = std::f64::consts::LN_2;
        assert!((entropy_nats(&x, false) - 2.0 * ln2).abs() < EXACT);
        assert!((mutual_info_nats(&x, &y, false).unwrap() - ln2).abs() < EXACT);
        assert!((cond_entropy_nats(&x, &y, false).unwrap() - ln2).abs() < EXACT);
        assert!(cond_entropy_nats(&y, &x, false).unwrap().abs() < EXACT);
        // Miller–Madow: + (4 − 1)/(2·8).
        assert!((entropy_nats(&x, true) - (2.0 * ln2 + 3.0 / 16.0)).abs() < EXACT);
    }
}
