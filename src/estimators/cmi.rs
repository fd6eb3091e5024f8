//! Conditional mutual information I(X;Y|Z) between continuous variables.
//!
//! Frenzel & Pompe, "Partial mutual information for coupling analysis of
//! multivariate time series", Phys. Rev. Lett. 99, 204101 (2007), eq. 2 —
//! the KSG-1 construction with a conditioning variable, as NPEET's
//! `cmi(x, y, z)` and JIDT's conditional KSG (algorithm 1):
//! I(X;Y|Z) = ψ(k) − ⟨ψ(n_xz + 1) + ψ(n_yz + 1) − ψ(n_z + 1)⟩,
//! ε_i the max-norm distance to the k-th neighbour in the joint (x, y, z)
//! space, each n counting j ≠ i strictly within ε_i in its subspace.
//!
//! Kernels: `knn` in the joint space, then three `radius_count`s.

use super::ksg::{check_k, check_rows_for_k};
use super::{
    finish, note_point_masses, prep_setters, same_n, sum_digamma, Diagnostics, Estimate, Meta,
    Prep, Units,
};
use crate::data::Dataset;
use crate::error::Result;
use crate::kernels::{Boundary, CountSpec, Kernels, KnnSpec, Metric};
use crate::special::digamma;
use ndarray::ArrayView2;
use std::time::Instant;

/// Entry point: `Cmi::params()`.
///
/// ```
/// use infoplane::estimators::Cmi;
/// use infoplane::Engine;
/// use ndarray::Array2;
/// use rand::{Rng, SeedableRng};
/// // X and Y are both Z plus independent noise: given Z they are independent.
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// let z = Array2::from_shape_fn((500, 1), |_| rng.random::<f32>());
/// let x = z.mapv(|v| v + 0.3 * rng.random::<f32>());
/// let y = z.mapv(|v| v + 0.3 * rng.random::<f32>());
/// let est = Cmi::params().check()?.estimate(x.view(), y.view(), z.view(), &Engine::cpu())?;
/// assert!(est.value.abs() < 0.1);
/// # Ok::<(), infoplane::Error>(())
/// ```
pub struct Cmi;

impl Cmi {
    /// Defaults: k = 3, tie-breaking on with seed 0, nats.
    pub fn params() -> CmiParams {
        CmiParams {
            k: 3,
            prep: Prep::default(),
            units: Units::Nats,
        }
    }
}

/// Unchecked parameters of [`Cmi`].
#[derive(Clone, Debug)]
pub struct CmiParams {
    k: usize,
    prep: Prep,
    units: Units,
}

impl CmiParams {
    /// Neighbour rank (default 3).
    pub fn k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }
    prep_setters!();

    /// Validates the parameters.
    pub fn check(self) -> Result<ValidCmi> {
        check_k(self.k)?;
        Ok(ValidCmi(self))
    }
}

/// Checked parameters of [`Cmi`].
#[derive(Clone, Debug)]
pub struct ValidCmi(CmiParams);

impl ValidCmi {
    /// I(X;Y|Z) from three row-aligned matrices.
    pub fn estimate(
        &self,
        x: ArrayView2<'_, f32>,
        y: ArrayView2<'_, f32>,
        z: ArrayView2<'_, f32>,
        kern: &dyn Kernels,
    ) -> Result<Estimate> {
        let x = Dataset::from_array("x", x)?;
        let y = Dataset::from_array("y", y)?;
        let z = Dataset::from_array("z", z)?;
        self.estimate_datasets(&x, &y, &z, kern)
    }

    /// I(X;Y|Z) from three row-aligned datasets.
    pub fn estimate_datasets(
        &self,
        x: &Dataset,
        y: &Dataset,
        z: &Dataset,
        kern: &dyn Kernels,
    ) -> Result<Estimate> {
        let p = &self.0;
        let start = Instant::now();
        same_n(x, y.name(), y.n())?;
        same_n(x, z.name(), z.n())?;
        check_rows_for_k(x.name(), x.n(), p.k)?;
        let mut diag = Diagnostics::default();
        let prepared = p.prep.apply_joint(&[x, y, z], &mut diag)?;
        let value = cmi_nats(&prepared[0], &prepared[1], &prepared[2], p.k, kern)?;
        note_point_masses(
            &mut diag,
            p.k,
            "the conditional MI then depends on how those ties are broken; for a discrete \
             variable use a discrete or binned estimate",
        );
        let meta = Meta {
            quantity: "I(X;Y|Z)",
            estimator: "cmi",
            units: p.units,
            n: x.n(),
            dims: vec![x.d(), y.d(), z.d()],
            k: Some(p.k),
            seed: p.prep.seed_used(),
            is_mi: true,
        };
        finish(kern, meta, value, None, start, diag)
    }
}

/// Frenzel–Pompe in nats on prepared data.
pub(crate) fn cmi_nats(
    x: &Dataset,
    y: &Dataset,
    z: &Dataset,
    k: usize,
    kern: &dyn Kernels,
) -> Result<f64> {
    let joint = Dataset::hstack("joint (x, y, z)", &[x, y, z])?;
    let eps = kern
        .knn(
            joint.rows(),
            joint.rows(),
            &KnnSpec {
                k,
                metric: Metric::chebyshev(),
                exclude_self: true,
                want_indices: false,
            },
        )?
        .kth;
    let spec = CountSpec {
        metric: Metric::chebyshev(),
        boundary: Boundary::Less,
        exclude_self: true,
    };
    let xz = Dataset::hstack("(x, z)", &[x, z])?;
    let yz = Dataset::hstack("(y, z)", &[y, z])?;
    let n_xz = kern.radius_count(xz.rows(), xz.rows(), &eps, &spec)?;
    let n_yz = kern.radius_count(yz.rows(), yz.rows(), &eps, &spec)?;
    let n_z = kern.radius_count(z.rows(), z.rows(), &eps, &spec)?;
    let n = x.n() as f64;
    let avg = (sum_digamma(&n_xz, 1) + sum_digamma(&n_yz, 1) - sum_digamma(&n_z, 1)) / n;
    Ok(digamma(k as f64) - avg)
}
