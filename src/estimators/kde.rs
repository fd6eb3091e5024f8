//! Kernel-density upper and lower bounds on H(T), I(X;T) and I(T;Y), for a
//! layer T = h + N(0, σ²I) made stochastic by additive Gaussian noise.
//!
//! Kolchinsky & Tracey, "Estimating mixture entropy with pairwise distances",
//! Entropy 19, 361 (2017): the entropy of a mixture of N Gaussians is bounded
//! above by the KL-divergence estimator and below by the Bhattacharyya one.
//! Exactly the formulas of Saxe et al. 2018 (`kde.py`), in nats:
//!
//! * `entropy_estimator_kl`: H_up = d/2 − ⟨ln[(1/N) Σ_j exp(−‖h_i−h_j‖²/2σ²)] − (d/2) ln 2πσ²⟩
//!   (the j = i term included);
//! * `entropy_estimator_bd`: H_low = H_up(4σ²) + (d/2) ln ¼;
//! * `kde_condentropy`: H(T|X) = (d/2)(ln 2πσ² + 1);
//! * I(X;T) = H(T) − H(T|X) (for both bounds), and
//!   I(T;Y) = H(T) − Σ_y p(y)·H(T | Y = y), each class's entropy from its own rows.
//!
//! Kernel: `kde_lse` with scale 1/(2σ²) (and 1/(8σ²) for the lower bound),
//! no self-exclusion; the means over points are taken in f64.
//!
//! σ² is in the units of the source values. The bounds do not depend on an
//! offset, so data stored centred (see [`crate::data::convert`]) is used as
//! stored; data stored as 2^-e × the source values is used with the kernel
//! scale multiplied by 4^e (exact), or, where that scale leaves f32, as the
//! source values 2^e × stored (exact) with the scale itself.

use super::discrete::Symbols;
use super::{finish, Diagnostics, Estimate, Meta, Units};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::kernels::Kernels;
use std::f64::consts::PI;
use std::time::Instant;

/// Default noise variance σ² (Saxe et al. 2018, `computeMI`: `noise_variance = 1e-3`).
pub const DEFAULT_VARIANCE: f64 = 1e-3;

/// Entry point: `Kde::params()`.
///
/// ```
/// use infoplane::estimators::Kde;
/// use infoplane::{Dataset, Engine};
/// // Two far-apart points: the mixture is two separate bumps, I(X;T) = ln 2.
/// let t = Dataset::new("t", vec![0.0, 10.0], 2, 1)?;
/// let kde = Kde::params().variance(0.01).check()?;
/// let i = kde.mi_input(&t, &Engine::cpu())?;
/// assert!((i.value - std::f64::consts::LN_2).abs() < 1e-6);
/// // Overlapping bumps: the bounds bracket the truth, both below ln 3.
/// let t = Dataset::new("t", vec![0.0, 0.1, 1.0], 3, 1)?;
/// let i = kde.mi_input(&t, &Engine::cpu())?;
/// assert!(i.lower.unwrap() <= i.value && i.value < 3f64.ln());
/// # Ok::<(), infoplane::Error>(())
/// ```
pub struct Kde;

impl Kde {
    /// Defaults: σ² = 1e-3, nats.
    pub fn params() -> KdeParams {
        KdeParams {
            variance: DEFAULT_VARIANCE,
            units: Units::Nats,
        }
    }
}

/// Unchecked parameters of [`Kde`].
#[derive(Clone, Debug)]
pub struct KdeParams {
    variance: f64,
    units: Units,
}

impl KdeParams {
    /// Noise variance σ² (default 1e-3).
    pub fn variance(mut self, v: f64) -> Self {
        self.variance = v;
        self
    }
    /// Units of the result (default nats).
    pub fn units(mut self, units: Units) -> Self {
        self.units = units;
        self
    }
    /// Validates σ²: finite, > 0, and such that 1/(2σ²) and 1/(8σ²) are finite
    /// positive f32 kernel scales.
    pub fn check(self) -> Result<ValidKde> {
        let v = self.variance;
        if !(v.is_finite() && v > 0.0) {
            return Err(Error::param(
                "variance",
                format!("must be finite and > 0, got {v}"),
            ));
        }
        let (s2, s8) = ((1.0 / (2.0 * v)) as f32, (1.0 / (8.0 * v)) as f32);
        if !(s2.is_finite() && s8 > 0.0) {
            return Err(Error::param(
                "variance",
                format!("{v} makes the kernel scale 1/(2σ²) leave the f32 range"),
            ));
        }
        Ok(ValidKde(self))
    }
}

/// Checked parameters of [`Kde`].
#[derive(Clone, Debug)]
pub struct ValidKde(KdeParams);

/// All KDE bounds of one layer, in nats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KdeBounds {
    /// Upper bound on H(T).
    pub h_upper: f64,
    /// Lower bound on H(T).
    pub h_lower: f64,
    /// Upper bound on I(X;T).
    pub i_xt_upper: f64,
    /// Lower bound on I(X;T).
    pub i_xt_lower: f64,
    /// Upper bound on I(T;Y) (None without labels).
    pub i_ty_upper: Option<f64>,
    /// Lower bound on I(T;Y) (None without labels).
    pub i_ty_lower: Option<f64>,
}

impl ValidKde {
    /// Units of the results.
    pub fn units(&self) -> Units {
        self.0.units
    }

    /// σ².
    pub fn variance(&self) -> f64 {
        self.0.variance
    }

    /// Saxe's `entropy_estimator_kl(t, var)` in nats.
    fn h_kl(&self, t: &Dataset, var: f64, kern: &dyn Kernels) -> Result<f64> {
        let e = t.map().exponent() as i64;
        let stored_scale = crate::data::convert::mul_pow2(1.0 / (2.0 * var), 2 * e) as f32;
        let lse = if stored_scale.is_normal() {
            kern.kde_lse(t.rows(), t.rows(), stored_scale, false)?
        } else {
            let source = t.unscaled()?;
            let scale = (1.0 / (2.0 * var)) as f32;
            kern.kde_lse(source.rows(), source.rows(), scale, false)?
        };
        let n = t.n() as f64;
        let d = t.d() as f64;
        let mean_lse = lse.iter().map(|&v| v as f64).sum::<f64>() / n;
        Ok(d / 2.0 + (d / 2.0) * (2.0 * PI * var).ln() + n.ln() - mean_lse)
    }

    /// (upper, lower) bounds on H(T) in nats.
    pub fn entropy_bounds(&self, t: &Dataset, kern: &dyn Kernels) -> Result<(f64, f64)> {
        if t.n() == 0 {
            return Err(Error::Data {
                what: t.name().to_string(),
                reason: "no rows".into(),
            });
        }
        let v = self.0.variance;
        let upper = self.h_kl(t, v, kern)?;
        let lower = self.h_kl(t, 4.0 * v, kern)? + (t.d() as f64 / 2.0) * 0.25f64.ln();
        Ok((upper, lower))
    }

    /// H(T|X) = (d/2)(ln 2πσ² + 1), Saxe's `kde_condentropy`.
    pub fn cond_entropy_given_input(&self, d: usize) -> f64 {
        (d as f64 / 2.0) * ((2.0 * PI * self.0.variance).ln() + 1.0)
    }

    /// Every bound for layer `t`, with I(T;Y) when labels are given.
    pub fn bounds(
        &self,
        t: &Dataset,
        y: Option<&Symbols>,
        kern: &dyn Kernels,
    ) -> Result<KdeBounds> {
        let (h_upper, h_lower) = self.entropy_bounds(t, kern)?;
        let hx = self.cond_entropy_given_input(t.d());
        let (mut i_ty_upper, mut i_ty_lower) = (None, None);
        if let Some(y) = y {
            super::same_n(t, "y", y.n())?;
            let n = t.n() as f64;
            let (mut up, mut low) = (0f64, 0f64);
            for rows in y.groups() {
                let p = rows.len() as f64 / n;
                let (u, l) = self.entropy_bounds(&t.select(&rows), kern)?;
                up += p * u;
                low += p * l;
            }
            i_ty_upper = Some(h_upper - up);
            i_ty_lower = Some(h_lower - low);
        }
        Ok(KdeBounds {
            h_upper,
            h_lower,
            i_xt_upper: h_upper - hx,
            i_xt_lower: h_lower - hx,
            i_ty_upper,
            i_ty_lower,
        })
    }

    fn meta(&self, quantity: &'static str, t: &Dataset, is_mi: bool) -> Meta<'static> {
        Meta {
            quantity,
            estimator: "kde",
            units: self.0.units,
            n: t.n(),
            dims: vec![t.d()],
            k: None,
            seed: None,
            is_mi,
        }
    }

    fn diag(&self) -> Diagnostics {
        Diagnostics {
            notes: vec![format!("noise variance σ² = {}", self.0.variance)],
            ..Diagnostics::default()
        }
    }

    /// H(T): value = upper bound, lower = lower bound.
    pub fn entropy(&self, t: &Dataset, kern: &dyn Kernels) -> Result<Estimate> {
        let start = Instant::now();
        let (u, l) = self.entropy_bounds(t, kern)?;
        finish(
            kern,
            self.meta("H(T)", t, false),
            u,
            Some(l),
            start,
            self.diag(),
        )
    }

    /// I(X;T) bounds.
    pub fn mi_input(&self, t: &Dataset, kern: &dyn Kernels) -> Result<Estimate> {
        let start = Instant::now();
        let b = self.bounds(t, None, kern)?;
        finish(
            kern,
            self.meta("I(X;T)", t, true),
            b.i_xt_upper,
            Some(b.i_xt_lower),
            start,
            self.diag(),
        )
    }

    /// I(T;Y) bounds.
    pub fn mi_labels(&self, t: &Dataset, y: &Symbols, kern: &dyn Kernels) -> Result<Estimate> {
        let start = Instant::now();
        let b = self.bounds(t, Some(y), kern)?;
        let (u, l) = (b.i_ty_upper.unwrap_or(0.0), b.i_ty_lower.unwrap_or(0.0));
        super::finish_checked(
            kern,
            self.meta("I(T;Y)", t, true),
            &super::mixed::label_bounds(y).round_off(super::bounds::KDE_REL_TOL),
            u,
            Some(l),
            start,
            self.diag(),
        )
    }
}
