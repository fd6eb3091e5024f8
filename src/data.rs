//! `Dataset`: a validated, owned, row-major f32 matrix, the one form every
//! estimator and kernel takes.
//!
//! Validation happens once, here: every value finite, at least one column.

use crate::error::{Error, Result};
use crate::kernels::Rows;

/// An owned `n × d` matrix of finite f32 values, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    name: String,
    data: Vec<f32>,
    n: usize,
    d: usize,
}

impl Dataset {
    /// Validates `data` as `n × d` (row-major); `name` appears in every error.
    pub fn new(name: impl Into<String>, data: Vec<f32>, n: usize, d: usize) -> Result<Self> {
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
        Ok(Dataset { name, data, n, d })
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
    /// The values, row-major.
    pub fn values(&self) -> &[f32] {
        &self.data
    }
    /// A borrowed view for the kernels.
    pub fn rows(&self) -> Rows<'_> {
        Rows::new(&self.data, self.n, self.d).expect("validated at construction")
    }
}

/// Standard deviation of the tie-breaking noise, relative to each column's
/// scale (its largest magnitude): four f32 machine epsilons. An f32 value v is
/// spaced from its neighbours by at most `f32::EPSILON · |v|`, so this noise
/// moves every value of the column by a few ULPs — enough to separate ReLU
/// zeros and quantised duplicates in f32 (NPEET's 1e-10 is below f32
/// resolution and would be rounded away), and small enough (≈ 5e-7 of the
/// scale) that kNN estimates on untied data move by far less than 1e-3 nats.
/// Around a nonzero value v only a few dozen f32 values lie within a few
/// standard deviations, so a column holding very many copies of one nonzero
/// value can keep some ties; estimators report such residual duplicates.
pub const NOISE_REL: f64 = 4.0 * f32::EPSILON as f64;

impl Dataset {
    /// Per column: the largest magnitude, the scale the tie-breaking noise is
    /// relative to. An all-zero column has scale 1 (it still needs its ties
    /// broken, and has no other scale).
    pub fn column_scales(&self) -> Vec<f64> {
        let mut s = vec![0f64; self.d];
        for row in self.data.chunks_exact(self.d) {
            for (m, &v) in s.iter_mut().zip(row) {
                *m = m.max((v as f64).abs());
            }
        }
        s.iter().map(|&m| if m > 0.0 { m } else { 1.0 }).collect()
    }

    /// A copy with seeded Gaussian noise of standard deviation
    /// `rel × scale_c` added to every value of column c (scales from
    /// [`Dataset::column_scales`]). The stream separates arrays that share a
    /// seed (X, Y, Z of one estimate). Values are drawn in row-major order from
    /// ChaCha8, so a seed gives the same data on every machine and thread count.
    pub fn with_noise(&self, seed: u64, stream: u64, rel: f64) -> Result<Dataset> {
        use rand::{Rng, SeedableRng};
        if !(rel.is_finite() && rel >= 0.0) {
            return Err(Error::param(
                "noise",
                format!("relative noise must be finite and >= 0, got {rel}"),
            ));
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        let sd: Vec<f64> = self.column_scales().iter().map(|s| s * rel).collect();
        let mut data = self.data.clone();
        for row in data.chunks_exact_mut(self.d) {
            for (v, s) in row.iter_mut().zip(&sd) {
                let z: f64 = rng.sample(rand_distr::StandardNormal);
                *v = (*v as f64 + z * s) as f32;
            }
        }
        Dataset::new(self.name.clone(), data, self.n, self.d)
    }

    /// A copy with every column centred and scaled to unit standard deviation
    /// (population, as JIDT's `normalise`). A constant column becomes all
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
        }
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

    /// Per column: the mean, accumulated in f64 in row order.
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

    /// Per column: the population standard deviation (0 for a constant column).
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
        }
        let d: usize = parts.iter().map(|p| p.d).sum();
        let mut data = Vec::with_capacity(n * d);
        for i in 0..n {
            for p in parts {
                data.extend_from_slice(&p.data[i * p.d..(i + 1) * p.d]);
            }
        }
        Ok(Dataset { name, data, n, d })
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
    fn noise_breaks_ties_and_is_reproducible() {
        let a = ds(&[0.0; 8], 8, 1);
        let b = a.with_noise(7, 0, NOISE_REL).unwrap();
        assert_eq!(b.duplicate_rows(), 0);
        assert_eq!(b, a.with_noise(7, 0, NOISE_REL).unwrap());
        assert_ne!(b, a.with_noise(7, 1, NOISE_REL).unwrap());
        // Large values: the noise must survive f32 rounding (most values move).
        let c = ds(&[1000.0; 64], 64, 1)
            .with_noise(1, 0, NOISE_REL)
            .unwrap();
        assert!(c.values().iter().filter(|&&v| v != 1000.0).count() > 48);
        assert!(c.values().iter().all(|v| (v - 1000.0).abs() < 1e-2));
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
