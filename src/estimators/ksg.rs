//! Kraskov–Stögbauer–Grassberger mutual information between continuous X and Y.
//!
//! Kraskov, Stögbauer & Grassberger, "Estimating mutual information",
//! Phys. Rev. E 69, 066138 (2004):
//!
//! * KSG-1 (eq. 8): I = ψ(k) + ψ(N) − ⟨ψ(n_x + 1) + ψ(n_y + 1)⟩, where ε_i is the
//!   joint max-norm distance max(‖x_i − x_j‖∞, ‖y_i − y_j‖∞) to the k-th
//!   neighbour and n_x counts j ≠ i with ‖x_i − x_j‖∞ < ε_i (strict), as NPEET
//!   (`mi`, radius − 1e-15), scikit-learn and JIDT's default.
//! * KSG-2 (eq. 9): I = ψ(k) − 1/k + ψ(N) − ⟨ψ(n_x) + ψ(n_y)⟩, where ε_x,i is the
//!   largest X-distance among the k joint neighbours and n_x counts j ≠ i with
//!   ‖x_i − x_j‖∞ ≤ ε_x,i.
//!
//! Kernels: `knn` in the joint space (Chebyshev, exclude-self; KSG-2 asks for
//! the neighbour indices and computes ε_x, ε_y on the host with the same exact
//! f32 max-norm), then `radius_count` in each marginal with per-point radii.

use super::{
    finish, note_point_masses, prep_setters, same_n, sum_digamma, Diagnostics, Estimate, Meta,
    Prep, Units,
};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::kernels::{plan::MAX_K, Boundary, CountSpec, Kernels, KnnSpec, Metric};
use crate::special::digamma;
use ndarray::ArrayView2;
use std::time::Instant;

/// Which of Kraskov et al.'s two estimators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KsgVariant {
    /// Eq. 8, strict marginal counts (NPEET, scikit-learn, JIDT default).
    #[default]
    Ksg1,
    /// Eq. 9, `<=` counts within the marginal radii of the k joint neighbours.
    Ksg2,
}

/// Entry point: `Ksg::params()`.
///
/// ```
/// use infoplane::estimators::Ksg;
/// use infoplane::Engine;
/// use ndarray::Array2;
/// let x = Array2::from_shape_fn((200, 1), |(i, _)| (i as f32 * 0.37).sin());
/// let y = Array2::from_shape_fn((200, 1), |(i, _)| (i as f32 * 0.37).sin() + 0.1 * (i as f32 * 1.9).cos());
/// let est = Ksg::params().k(3).check()?.estimate(x.view(), y.view(), &Engine::cpu())?;
/// assert!(est.value > 0.5);
/// # Ok::<(), infoplane::Error>(())
/// ```
pub struct Ksg;

impl Ksg {
    /// Defaults: k = 3, KSG-1, tie-breaking on with seed 0, no standardisation, nats.
    pub fn params() -> KsgParams {
        KsgParams::default()
    }
}

/// Unchecked parameters of [`Ksg`].
#[derive(Clone, Debug)]
pub struct KsgParams {
    k: usize,
    variant: KsgVariant,
    prep: Prep,
    units: Units,
}

impl Default for KsgParams {
    fn default() -> Self {
        KsgParams {
            k: 3,
            variant: KsgVariant::Ksg1,
            prep: Prep::default(),
            units: Units::Nats,
        }
    }
}

/// Checks k once: 1 ≤ k ≤ [`MAX_K`].
pub(crate) fn check_k(k: usize) -> Result<usize> {
    if k == 0 {
        return Err(Error::param("k", "must be at least 1, got 0"));
    }
    if k > MAX_K {
        return Err(Error::param(
            "k",
            format!("must be at most {MAX_K}, got {k}"),
        ));
    }
    Ok(k)
}

/// Checks that `n` rows leave k neighbours besides the point itself.
pub(crate) fn check_rows_for_k(what: &str, n: usize, k: usize) -> Result<()> {
    if n <= k {
        return Err(Error::Data {
            what: what.to_string(),
            reason: format!("k = {k} needs at least {} rows, got {n}", k + 1),
        });
    }
    Ok(())
}

impl KsgParams {
    /// Neighbour rank (default 3).
    pub fn k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }
    /// KSG-1 (default) or KSG-2.
    pub fn variant(mut self, v: KsgVariant) -> Self {
        self.variant = v;
        self
    }
    prep_setters!();

    /// Validates the parameters.
    pub fn check(self) -> Result<ValidKsg> {
        check_k(self.k)?;
        Ok(ValidKsg(self))
    }
}

/// Checked parameters of [`Ksg`].
#[derive(Clone, Debug)]
pub struct ValidKsg(KsgParams);

impl ValidKsg {
    /// I(X;Y) from two row-aligned matrices.
    pub fn estimate(
        &self,
        x: ArrayView2<'_, f32>,
        y: ArrayView2<'_, f32>,
        kern: &dyn Kernels,
    ) -> Result<Estimate> {
        let x = Dataset::from_array("x", x)?;
        let y = Dataset::from_array("y", y)?;
        self.estimate_datasets(&x, &y, kern)
    }

    /// I(X;Y) from two row-aligned datasets.
    pub fn estimate_datasets(
        &self,
        x: &Dataset,
        y: &Dataset,
        kern: &dyn Kernels,
    ) -> Result<Estimate> {
        let p = &self.0;
        let start = Instant::now();
        same_n(x, y.name(), y.n())?;
        check_rows_for_k(x.name(), x.n(), p.k)?;
        let mut diag = Diagnostics::default();
        let prepared = p.prep.apply_joint(&[x, y], &mut diag)?;
        let value = ksg_nats(&prepared[0], &prepared[1], p.k, p.variant, kern)?;
        note_point_masses(
            &mut diag,
            p.k,
            "the KSG value then depends on how those ties are broken (the true I(X;Y) may be \
             unbounded or undefined); for a discrete variable use `mixed` (with it as the labels), \
             `binned` or `discrete`",
        );
        let meta = Meta {
            quantity: "I(X;Y)",
            estimator: match p.variant {
                KsgVariant::Ksg1 => "ksg1",
                KsgVariant::Ksg2 => "ksg2",
            },
            units: p.units,
            n: x.n(),
            dims: vec![x.d(), y.d()],
            k: Some(p.k),
            seed: p.prep.seed_used(),
            is_mi: true,
        };
        finish(kern, meta, value, None, start, diag)
    }
}

/// The KSG estimate in nats on prepared data (one scale, ties broken).
pub(crate) fn ksg_nats(
    x: &Dataset,
    y: &Dataset,
    k: usize,
    variant: KsgVariant,
    kern: &dyn Kernels,
) -> Result<f64> {
    let n = x.n();
    let joint = Dataset::hstack("joint (x, y)", &[x, y])?;
    let knn = kern.knn(
        joint.rows(),
        joint.rows(),
        &KnnSpec {
            k,
            metric: Metric::chebyshev(),
            exclude_self: true,
            want_indices: variant == KsgVariant::Ksg2,
        },
    )?;
    let nf = n as f64;
    match variant {
        KsgVariant::Ksg1 => {
            let spec = CountSpec {
                metric: Metric::chebyshev(),
                boundary: Boundary::Less,
                exclude_self: true,
            };
            let nx = kern.radius_count(x.rows(), x.rows(), &knn.kth, &spec)?;
            let ny = kern.radius_count(y.rows(), y.rows(), &knn.kth, &spec)?;
            let avg = (sum_digamma(&nx, 1) + sum_digamma(&ny, 1)) / nf;
            Ok(digamma(k as f64) + digamma(nf) - avg)
        }
        KsgVariant::Ksg2 => {
            let idx = knn.indices.as_ref().ok_or_else(|| Error::Device {
                kernel: "knn",
                reason: "indices were asked for but not returned".into(),
            })?;
            let eps_x = marginal_radii(x, idx, k);
            let eps_y = marginal_radii(y, idx, k);
            let spec = CountSpec {
                metric: Metric::chebyshev(),
                boundary: Boundary::LessEqual,
                exclude_self: true,
            };
            let nx = kern.radius_count(x.rows(), x.rows(), &eps_x, &spec)?;
            let ny = kern.radius_count(y.rows(), y.rows(), &eps_y, &spec)?;
            let avg = (sum_digamma(&nx, 0) + sum_digamma(&ny, 0)) / nf;
            Ok(digamma(k as f64) - 1.0 / k as f64 + digamma(nf) - avg)
        }
    }
}

/// Per point: the largest max-norm distance in `m` to its k joint neighbours
/// (exact in f32, so both backends agree to the bit).
pub(crate) fn marginal_radii(m: &Dataset, idx: &[u32], k: usize) -> Vec<f32> {
    let metric = Metric::chebyshev();
    let rows = m.rows();
    (0..m.n())
        .map(|i| {
            idx[i * k..(i + 1) * k]
                .iter()
                .map(|&j| metric.distance(rows.row(i), rows.row(j as usize)))
                .fold(0.0f32, f32::max)
        })
        .collect()
}
