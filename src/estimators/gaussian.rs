//! Gaussian (parametric) baselines: I(X;Y) and H(X) of the Gaussian with the
//! sample covariance.
//!
//! For a Gaussian, H(X) = ½ ln det(2πe Σ_X) (Cover & Thomas, Thm. 8.4.1) and
//! I(X;Y) = ½[ln det Σ_X + ln det Σ_Y − ln det Σ_XY]. The log-determinants
//! are computed in f64 without forming the covariance: the centred data A is
//! split into its column norms and unit columns B = A·D⁻¹, and a Householder
//! QR of B gives ln det(AᵀA) = 2 Σ ln‖a_c‖ + 2 Σ ln |R_cc|. This avoids
//! squaring the condition number, so nearly collinear columns still give an
//! accurate (large) value; exactly collinear or constant columns are an error
//! naming the column. No kernel is used.
//!
//! The covariance is of the source values: an offset stored apart does not
//! change it, and data stored as 2^-e × the source values adds 2·d·e·ln 2 to
//! ln det (the mutual information, a difference of log-determinants, does not
//! change).

use super::{finish_host, same_n, Diagnostics, Estimate, Meta, Units};
use crate::data::Dataset;
use crate::error::{Error, Result};
use ndarray::ArrayView2;
use std::f64::consts::PI;
use std::time::Instant;

/// A column whose component orthogonal to the earlier (unit) columns is below
/// this is treated as an exact linear combination of them: f64 Householder QR
/// is accurate to about n·1e-16 here, and f32 data that is not collinear
/// differs from a combination by at least ~1e-8.
pub const SINGULAR_TOL: f64 = 1e-12;

/// Entry point: `Gaussian::params()`.
///
/// ```
/// use infoplane::estimators::Gaussian;
/// use ndarray::array;
/// let x = array![[0.0f32], [1.0], [2.0], [3.0]];
/// let y = array![[0.0f32], [1.0], [2.0], [3.5]];
/// let i = Gaussian::params().check()?.mi(x.view(), y.view())?;
/// assert!(i.value > 1.0);
/// # Ok::<(), infoplane::Error>(())
/// ```
pub struct Gaussian;

impl Gaussian {
    /// Defaults: nats.
    pub fn params() -> GaussianParams {
        GaussianParams { units: Units::Nats }
    }
}

/// Parameters of [`Gaussian`].
#[derive(Clone, Debug)]
pub struct GaussianParams {
    units: Units,
}

impl GaussianParams {
    /// Units of the result (default nats).
    pub fn units(mut self, units: Units) -> Self {
        self.units = units;
        self
    }
    /// Validates the parameters (all are valid; kept for a uniform API).
    pub fn check(self) -> Result<ValidGaussian> {
        Ok(ValidGaussian(self))
    }
}

/// Checked parameters of [`Gaussian`].
#[derive(Clone, Debug)]
pub struct ValidGaussian(GaussianParams);

/// ln det of the sample covariance (denominator n − 1) of the given datasets'
/// columns side by side, in the units of the source values.
pub fn ln_det_cov(parts: &[&Dataset]) -> Result<f64> {
    let n = parts[0].n();
    let d: usize = parts.iter().map(|p| p.d()).sum();
    let name = parts
        .iter()
        .map(|p| p.name())
        .collect::<Vec<_>>()
        .join(", ");
    if n <= d {
        return Err(Error::Data {
            what: name,
            reason: format!(
                "{d} columns need at least {} rows for a non-singular covariance, got {n}",
                d + 1
            ),
        });
    }
    // Column-major centred copy in f64, columns scaled to unit norm.
    let mut cols: Vec<Vec<f64>> = Vec::with_capacity(d);
    let mut colname = Vec::with_capacity(d);
    for p in parts {
        for c in 0..p.d() {
            let v: Vec<f64> = (0..n).map(|i| p.get(i, c) as f64).collect();
            let mean = v.iter().sum::<f64>() / n as f64;
            cols.push(v.iter().map(|x| x - mean).collect());
            colname.push(format!("{}, column {c}", p.name()));
        }
    }
    let mut ln_det = -(d as f64) * ((n - 1) as f64).ln()
        + parts
            .iter()
            .map(|p| 2.0 * p.d() as f64 * p.map().exponent() as f64 * std::f64::consts::LN_2)
            .sum::<f64>();
    for (c, col) in cols.iter_mut().enumerate() {
        let norm = col.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            return Err(Error::Data {
                what: colname[c].clone(),
                reason: "the column is constant, so the covariance is singular".into(),
            });
        }
        col.iter_mut().for_each(|x| *x /= norm);
        ln_det += 2.0 * norm.ln();
    }
    // Householder QR, in place, column by column.
    for j in 0..d {
        let alpha = cols[j][j..].iter().map(|x| x * x).sum::<f64>().sqrt();
        if alpha <= SINGULAR_TOL {
            return Err(Error::Data {
                what: colname[j].clone(),
                reason: "the column is a linear combination of earlier columns, so the covariance is singular".into(),
            });
        }
        ln_det += 2.0 * alpha.ln();
        let sign = if cols[j][j] >= 0.0 { 1.0 } else { -1.0 };
        let mut v: Vec<f64> = cols[j][j..].to_vec();
        v[0] += sign * alpha;
        let vv: f64 = v.iter().map(|x| x * x).sum();
        for col in cols.iter_mut().skip(j + 1) {
            let dot: f64 = v.iter().zip(&col[j..]).map(|(a, b)| a * b).sum();
            let f = 2.0 * dot / vv;
            for (x, a) in col[j..].iter_mut().zip(&v) {
                *x -= f * a;
            }
        }
    }
    Ok(ln_det)
}

impl ValidGaussian {
    fn meta(
        &self,
        quantity: &'static str,
        n: usize,
        dims: Vec<usize>,
        is_mi: bool,
    ) -> Meta<'static> {
        Meta {
            quantity,
            estimator: "gaussian",
            units: self.0.units,
            n,
            dims,
            k: None,
            seed: None,
            is_mi,
        }
    }

    /// I(X;Y) from two row-aligned matrices.
    pub fn mi(&self, x: ArrayView2<'_, f32>, y: ArrayView2<'_, f32>) -> Result<Estimate> {
        let x = Dataset::from_array("x", x)?;
        let y = Dataset::from_array("y", y)?;
        self.mi_datasets(&x, &y)
    }

    /// I(X;Y) from two row-aligned datasets.
    pub fn mi_datasets(&self, x: &Dataset, y: &Dataset) -> Result<Estimate> {
        let start = Instant::now();
        same_n(x, y.name(), y.n())?;
        let v = 0.5 * (ln_det_cov(&[x])? + ln_det_cov(&[y])? - ln_det_cov(&[x, y])?);
        finish_host(
            self.meta("I(X;Y)", x.n(), vec![x.d(), y.d()], true),
            v,
            start,
            Diagnostics::default(),
        )
    }

    /// H(X) of a matrix.
    pub fn entropy(&self, x: ArrayView2<'_, f32>) -> Result<Estimate> {
        self.entropy_dataset(&Dataset::from_array("x", x)?)
    }

    /// H(X) of a dataset.
    pub fn entropy_dataset(&self, x: &Dataset) -> Result<Estimate> {
        let start = Instant::now();
        let d = x.d() as f64;
        let v = 0.5 * (d * (2.0 * PI * std::f64::consts::E).ln() + ln_det_cov(&[x])?);
        finish_host(
            self.meta("H(X)", x.n(), vec![x.d()], false),
            v,
            start,
            Diagnostics::default(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log-determinants of small exact matrices, f64 round-off only.
    const LOGDET_TOL: f64 = 1e-12;

    #[test]
    fn log_det_matches_hand_computation() {
        // Columns (0,1,2,3) and (0,1,2,4): var 5/3 and 35/12·… computed directly.
        let x = Dataset::new("x", vec![0.0, 1.0, 2.0, 3.0], 4, 1).unwrap();
        let y = Dataset::new("y", vec![0.0, 1.0, 2.0, 4.0], 4, 1).unwrap();
        let (vx, vy, cxy): (f64, f64, f64) = (5.0 / 3.0, 35.0 / 12.0, 13.0 / 6.0);
        let want = (vx * vy - cxy * cxy).ln();
        assert!((ln_det_cov(&[&x, &y]).unwrap() - want).abs() < LOGDET_TOL);
        assert!((ln_det_cov(&[&x]).unwrap() - vx.ln()).abs() < LOGDET_TOL);
    }

    #[test]
    fn singular_inputs_name_the_column() {
        let x = Dataset::new("x", vec![0.0, 1.0, 2.0, 3.0], 4, 1).unwrap();
        let y = Dataset::new("y", vec![0.0, 2.0, 4.0, 6.0], 4, 1).unwrap();
        let e = ln_det_cov(&[&x, &y]).unwrap_err().to_string();
        assert!(
            e.contains("y, column 0") && e.contains("linear combination"),
            "{e}"
        );
        let c = Dataset::new("c", vec![1.0; 4], 4, 1).unwrap();
        assert!(ln_det_cov(&[&c])
            .unwrap_err()
            .to_string()
            .contains("constant"));
    }
}
