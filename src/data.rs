//! `Dataset`: a validated, owned, row-major f32 matrix, the one form every
//! estimator and kernel takes, with the map back to the source values.
//!
//! Validation happens once, here: every value finite, at least one column.
//! A dataset made from f64 (or badly scaled f32) values records how its
//! stored f32 values relate to the source ([`ValueMap`], built by
//! [`convert`]): `source = origin_c + 2^e · stored`, the identity for data
//! that f32 holds as it is. [`ties`] breaks exact ties for the kNN
//! estimators.

pub mod convert;
pub mod ties;

pub use convert::{convert_f64, fit_f32, Converted, COMFORT_MAX, COMFORT_MIN};
pub use ties::{TieGroup, TieReport};

use crate::error::{Error, Result};
use crate::kernels::Rows;
use std::borrow::Cow;

/// How stored values relate to the source values:
/// `source = origin[c] + 2^exponent · stored` (origin 0 and exponent 0, the
/// identity, unless the conversion centred or scaled; see [`convert`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ValueMap {
    origin: Vec<f64>,
    exponent: i32,
}

impl ValueMap {
    /// The identity for `d` columns.
    pub fn identity(d: usize) -> ValueMap {
        ValueMap {
            origin: vec![0.0; d],
            exponent: 0,
        }
    }
    /// Per column: the f64 value that stored 0 stands for.
    pub fn origin(&self) -> &[f64] {
        &self.origin
    }
    /// The power of two the stored values are multiplied by.
    pub fn exponent(&self) -> i32 {
        self.exponent
    }
    /// Whether stored values are the source values.
    pub fn is_identity(&self) -> bool {
        self.exponent == 0 && self.origin.iter().all(|&o| o == 0.0)
    }
    /// The source value of `stored` in column `c`.
    pub fn source(&self, c: usize, stored: f32) -> f64 {
        self.origin[c] + convert::mul_pow2(stored as f64, self.exponent as i64)
    }
}

/// An owned `n × d` matrix of finite f32 values, row-major, with the map to
/// its source values and what the conversion noted.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    name: String,
    data: Vec<f32>,
    n: usize,
    d: usize,
    map: ValueMap,
    notes: Vec<String>,
}

impl Dataset {
    /// Validates `data` as `n × d` (row-major); `name` appears in every error.
    /// The values are the source values (identity map).
    pub fn new(name: impl Into<String>, data: Vec<f32>, n: usize, d: usize) -> Result<Self> {
        Dataset::with_map(name, data, n, d, ValueMap::identity(d), Vec::new())
    }

    /// Validates stored values with their map to the source values.
    pub(crate) fn with_map(
        name: impl Into<String>,
        data: Vec<f32>,
        n: usize,
        d: usize,
        map: ValueMap,
        notes: Vec<String>,
    ) -> Result<Self> {
        let name = name.into();
        if d == 0 {
            return Err(Error::shape(&name, "at least one column", "0 columns"));
        }
        if n.checked_mul(d) != Some(data.len()) {
            return Err(Error::shape(
                &name,
                format!("{n} × {d} = {} values", n.saturating_mul(d)),
                format!("{} values", data.len()),
            ));
        }
        if let Some(pos) = data.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: name,
                row: pos / d,
                col: pos % d,
                value: data[pos] as f64,
            });
        }
        debug_assert_eq!(map.origin.len(), d);
        Ok(Dataset {
            name,
            data,
            n,
            d,
            map,
            notes,
        })
    }

    /// From f64 values (`n × d`, row-major), keeping their precision through
    /// the cast to f32: columns are centred and the array scaled by a power
    /// of two where that keeps bits (see [`convert`]). Values f32 holds as
    /// they are are stored as they are. A column f32 cannot hold even then is
    /// an error naming its range.
    pub fn from_f64(name: impl Into<String>, values: &[f64], n: usize, d: usize) -> Result<Self> {
        let name = name.into();
        if let Some(pos) = values.iter().position(|v| !v.is_finite()) {
            if let (Some(row), Some(col)) = (pos.checked_div(d), pos.checked_rem(d)) {
                return Err(Error::NonFinite {
                    what: name,
                    row,
                    col,
                    value: values[pos],
                });
            }
        }
        let c = convert_f64(&name, values, n, d)?;
        Dataset::with_map(name, c.values, n, d, c.map, c.notes)
    }

    /// From an ndarray view of any layout (converted to row-major f32).
    pub fn from_array(name: impl Into<String>, a: ndarray::ArrayView2<'_, f32>) -> Result<Self> {
        let (n, d) = a.dim();
        Dataset::new(name, a.iter().copied().collect(), n, d)
    }

    /// The name used in messages.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Rows.
    pub fn n(&self) -> usize {
        self.n
    }
    /// Columns.
    pub fn d(&self) -> usize {
        self.d
    }
    /// The stored values, row-major.
    pub fn values(&self) -> &[f32] {
        &self.data
    }
    /// A borrowed view for the kernels.
    pub fn rows(&self) -> Rows<'_> {
        Rows::new(&self.data, self.n, self.d).expect("validated at construction")
    }
    /// How stored values relate to the source values.
    pub fn map(&self) -> &ValueMap {
        &self.map
    }
    /// What the conversion to f32 noted (centring, scaling, values stored as 0).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }
    /// The source value at row `i`, column `c` (f64).
    pub fn source_value(&self, i: usize, c: usize) -> f64 {
        self.map.source(c, self.get(i, c))
    }

    /// The same stored values scaled to `exponent` (which must not be below
    /// this dataset's): each value is multiplied by 2^(own − exponent), exact
    /// in f32 unless it falls below f32's normal range, where it becomes 0.
    /// Returns the copy and how many nonzero values became 0.
    pub(crate) fn rescaled(&self, exponent: i32) -> (Dataset, usize) {
        let shift = self.map.exponent as i64 - exponent as i64;
        let mut out = self.clone();
        out.map.exponent = exponent;
        if shift == 0 {
            return (out, 0);
        }
        let mut lost = 0;
        for v in out.data.iter_mut() {
            let s = convert::mul_pow2(*v as f64, shift) as f32;
            let s = if s.abs() < f32::MIN_POSITIVE { 0.0 } else { s };
            lost += usize::from(s == 0.0 && *v != 0.0);
            *v = s;
        }
        (out, lost)
    }

    /// The source values as f32, fl(origin_c + 2^e · stored), for estimators
    /// with absolute parameters (bin edges and widths). Borrowed when the map
    /// is the identity; an error naming the array, row and column when a
    /// source value is beyond f32.
    pub fn materialized(&self) -> Result<Cow<'_, Dataset>> {
        if self.map.is_identity() {
            return Ok(Cow::Borrowed(self));
        }
        self.mapped(true)
    }

    /// 2^e · stored as f32: the source values up to each column's offset,
    /// exact, for estimators that are translation invariant but not scale
    /// invariant (KDE with a fixed σ²). Borrowed when e = 0.
    pub fn unscaled(&self) -> Result<Cow<'_, Dataset>> {
        if self.map.exponent == 0 {
            return Ok(Cow::Borrowed(self));
        }
        self.mapped(false)
    }

    fn mapped(&self, with_origin: bool) -> Result<Cow<'_, Dataset>> {
        let mut data = Vec::with_capacity(self.data.len());
        for (pos, &v) in self.data.iter().enumerate() {
            let c = pos % self.d;
            let o = if with_origin { self.map.origin[c] } else { 0.0 };
            let s = o + convert::mul_pow2(v as f64, self.map.exponent as i64);
            let f = s as f32;
            if !f.is_finite() {
                return Err(Error::Data {
                    what: self.name.clone(),
                    reason: format!(
                        "row {}, column {c} holds {s:e}, beyond f32's range (±3.4e38): this \
                         estimator works on the values themselves (bin edges, widths or σ² are \
                         absolute), which f32 cannot hold; rescale the data",
                        pos / self.d
                    ),
                });
            }
            data.push(f);
        }
        let mut map = ValueMap::identity(self.d);
        if !with_origin {
            map.origin.clone_from(&self.map.origin);
        }
        Ok(Cow::Owned(Dataset {
            name: self.name.clone(),
            data,
            n: self.n,
            d: self.d,
            map,
            notes: self.notes.clone(),
        }))
    }
}

impl Dataset {
    /// A copy with every column centred and scaled to unit standard deviation
    /// (population, as JIDT's `normalise`), computed in f64 from the stored
    /// values: centring and scaling by a positive power of two commute with
    /// standardisation, so this is the standardised source data whatever the
    /// map (the result's map is the identity). A constant column becomes all
    /// zeros: it has no spread to scale by, and carries no information.
    pub fn standardized(&self) -> Dataset {
        let mean = self.column_mean();
        let sd = self.column_std();
        let mut data = self.data.clone();
        for row in data.chunks_exact_mut(self.d) {
            for ((v, m), s) in row.iter_mut().zip(&mean).zip(&sd) {
                *v = if *s > 0.0 {
                    ((*v as f64 - m) / s) as f32
                } else {
                    0.0
                };
            }
        }
        Dataset {
            name: self.name.clone(),
            data,
            n: self.n,
            d: self.d,
            map: ValueMap::identity(self.d),
            notes: self.notes.clone(),
        }
    }

    /// Per column: the population standard deviation of the source values
    /// (the stored values' times 2^e).
    pub fn source_std(&self) -> Vec<f64> {
        self.column_std()
            .into_iter()
            .map(|s| convert::mul_pow2(s, self.map.exponent as i64))
            .collect()
    }

    /// How many rows duplicate an earlier row exactly (−0.0 equals 0.0).
    /// n rows with only m distinct values give n − m. Sorts row indices (no
    /// copy of the data), so it is affordable on large layers.
    pub fn duplicate_rows(&self) -> usize {
        if self.n < 2 {
            return 0;
        }
        let bits = |v: f32| if v == 0.0 { 0 } else { v.to_bits() };
        let row = |i: usize| {
            self.data[i * self.d..(i + 1) * self.d]
                .iter()
                .map(|&v| bits(v))
        };
        let mut order: Vec<usize> = (0..self.n).collect();
        order.sort_unstable_by(|&a, &b| row(a).cmp(row(b)));
        order.windows(2).filter(|w| row(w[0]).eq(row(w[1]))).count()
    }

    /// Per column: the mean of the stored values, accumulated in f64 in row order.
    pub fn column_mean(&self) -> Vec<f64> {
        let n = self.n.max(1) as f64;
        let mut mean = vec![0f64; self.d];
        for row in self.data.chunks_exact(self.d) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        mean
    }

    /// Per column: the population standard deviation of the stored values (0
    /// for a constant column).
    pub fn column_std(&self) -> Vec<f64> {
        let n = self.n.max(1) as f64;
        let mean = self.column_mean();
        let mut var = vec![0f64; self.d];
        for row in self.data.chunks_exact(self.d) {
            for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
                *s += (v as f64 - m).powi(2);
            }
        }
        var.iter().map(|s| (s / n).sqrt()).collect()
    }

    /// The columns of several datasets side by side (the joint space of KSG).
    /// Their stored values must share one exponent (a joint distance mixes
    /// their columns); the estimators bring them to a common one first.
    pub fn hstack(name: impl Into<String>, parts: &[&Dataset]) -> Result<Dataset> {
        let name = name.into();
        let Some(first) = parts.first() else {
            return Err(Error::shape(&name, "at least one array", "none"));
        };
        let n = first.n;
        for p in parts {
            if p.n != n {
                return Err(Error::shape(
                    format!("{name}: {}", p.name),
                    format!("{n} rows like {}", first.name),
                    format!("{} rows", p.n),
                ));
            }
            if p.map.exponent != first.map.exponent {
                return Err(Error::Data {
                    what: format!("{name}: {}", p.name),
                    reason: format!(
                        "stored at scale 2^{} while {} is at 2^{}: bring them to one exponent first",
                        p.map.exponent, first.name, first.map.exponent
                    ),
                });
            }
        }
        let d: usize = parts.iter().map(|p| p.d).sum();
        let mut data = Vec::with_capacity(n * d);
        for i in 0..n {
            for p in parts {
                data.extend_from_slice(&p.data[i * p.d..(i + 1) * p.d]);
            }
        }
        let map = ValueMap {
            origin: parts.iter().flat_map(|p| p.map.origin.clone()).collect(),
            exponent: first.map.exponent,
        };
        Ok(Dataset {
            name,
            data,
            n,
            d,
            map,
            notes: Vec::new(),
        })
    }

    /// The given rows, in the given order (indices must be < n).
    pub fn select(&self, rows: &[usize]) -> Dataset {
        let mut data = Vec::with_capacity(rows.len() * self.d);
        for &i in rows {
            data.extend_from_slice(&self.data[i * self.d..(i + 1) * self.d]);
        }
        Dataset {
            name: self.name.clone(),
            data,
            n: rows.len(),
            d: self.d,
            map: self.map.clone(),
            notes: self.notes.clone(),
        }
    }

    /// Value at row `i`, column `c`.
    pub fn get(&self, i: usize, c: usize) -> f32 {
        self.data[i * self.d + c]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(v: &[f32], n: usize, d: usize) -> Dataset {
        Dataset::new("t", v.to_vec(), n, d).unwrap()
    }

    #[test]
    fn duplicates_are_counted_once_per_extra_row() {
        let a = ds(&[0.0, 1.0, -0.0, 1.0, 0.0, 1.0, 2.0, 3.0], 4, 2);
        assert_eq!(a.duplicate_rows(), 2);
        assert_eq!(ds(&[1.0, 2.0], 2, 1).duplicate_rows(), 0);
    }

    #[test]
    fn from_f64_keeps_what_f32_holds_and_centres_offsets() {
        let plain = Dataset::from_f64("t", &[0.5, 1.5, -2.0], 3, 1).unwrap();
        assert_eq!(plain, ds(&[0.5, 1.5, -2.0], 3, 1));
        let off: Vec<f64> = [0.1, 0.2, 0.4].iter().map(|v| v + 1e7).collect();
        let x = Dataset::from_f64("x", &off, 3, 1).unwrap();
        assert!(!x.map().is_identity());
        for (i, v) in off.iter().enumerate() {
            assert!((x.source_value(i, 0) - v).abs() < 1e-12 * v);
        }
        // Standardised values are those of the source data.
        let s = x.standardized();
        let t = Dataset::from_f64("t", &[0.1, 0.2, 0.4], 3, 1)
            .unwrap()
            .standardized();
        for (a, b) in s.values().iter().zip(t.values()) {
            assert!((a - b).abs() <= 4.0 * f32::EPSILON, "{a} vs {b}");
        }
        assert!(s.map().is_identity());
        let e = Dataset::from_f64("x", &[1.0, f64::NAN], 2, 1).unwrap_err();
        assert!(e.to_string().contains("row 1"), "{e}");
    }

    #[test]
    fn materialized_and_rescaled_values() {
        let x = Dataset::from_f64("x", &[1e-300, 3e-300, -2e-300], 3, 1).unwrap();
        let e = x.map().exponent();
        assert!(e < -900);
        // 1e-300 is 0 at f32's resolution: the materialised values are 0.
        let m = x.materialized().unwrap();
        assert!(m.values().iter().all(|v| *v == 0.0));
        let (r, lost) = x.rescaled(0);
        assert_eq!(lost, 3);
        assert!(r.values().iter().all(|v| *v == 0.0));
        let (same, lost) = x.rescaled(e);
        assert_eq!((same, lost), (x.clone(), 0));
        let h = Dataset::from_f64("h", &[1e300, -1e300], 2, 1).unwrap();
        assert!(h.materialized().unwrap_err().to_string().contains("h"));
        let f = Dataset::from_f64("f", &[1e20, -3e20], 2, 1).unwrap();
        assert_eq!(f.unscaled().unwrap().values(), &[1e20f32, -3e20]);
        assert!(Dataset::hstack("j", &[&x, &f]).is_err());
    }

    #[test]
    fn standardize_handles_constant_columns() {
        let a = ds(&[1.0, 5.0, 3.0, 5.0], 2, 2).standardized();
        assert_eq!(a.values(), &[-1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn hstack_and_select() {
        let a = ds(&[1.0, 2.0], 2, 1);
        let b = ds(&[3.0, 4.0, 5.0, 6.0], 2, 2);
        let j = Dataset::hstack("j", &[&a, &b]).unwrap();
        assert_eq!(j.values(), &[1.0, 3.0, 4.0, 2.0, 5.0, 6.0]);
        assert_eq!(j.select(&[1]).values(), &[2.0, 5.0, 6.0]);
        assert!(Dataset::hstack("j", &[&a, &ds(&[1.0], 1, 1)]).is_err());
    }
}
