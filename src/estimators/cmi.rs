//! Conditional mutual information I(X;Y|Z) between continuous variables.
//!
//! Two estimators, both from the k nearest neighbours in the joint (x, y, z)
//! space under the max-norm:
//!
//! * **KSG-1 form** (default; estimator `cmi`): Frenzel & Pompe, "Partial
//!   mutual information for coupling analysis of multivariate time series",
//!   Phys. Rev. Lett. 99, 204101 (2007), eq. 2 — the KSG-1 construction with a
//!   conditioning variable, as NPEET's `cmi(x, y, z)` and JIDT's
//!   `ConditionalMutualInfoCalculatorMultiVariateKraskov1`:
//!   I(X;Y|Z) = ψ(k) − ⟨ψ(n_xz + 1) + ψ(n_yz + 1) − ψ(n_z + 1)⟩,
//!   ε_i the distance to the k-th neighbour in the joint space, each n
//!   counting j ≠ i strictly within ε_i in its subspace.
//! * **KSG-2 form** (estimator `cmi_ksg2`): Kraskov et al.'s algorithm 2
//!   (Phys. Rev. E 69, 066138, 2004, eq. 9) carried to the conditional case by
//!   Wibral, Vicente & Lindner ("Transfer entropy in neuroscience", in
//!   *Directed Information Measures in Neuroscience*, Springer 2014, pp. 3–36),
//!   as JIDT's `ConditionalMutualInfoCalculatorMultiVariateKraskov2`:
//!   I(X;Y|Z) = ψ(k) − 2/k + ⟨ψ(n_z) − ψ(n_xz) + 1/n_xz − ψ(n_yz) + 1/n_yz⟩,
//!   where ε_x,i, ε_y,i, ε_z,i are the largest X, Y and Z distances among the
//!   k joint neighbours of point i, and over j ≠ i
//!   n_z counts ‖z_i − z_j‖ ≤ ε_z,i, n_xz counts ‖x_i − x_j‖ ≤ ε_x,i and
//!   ‖z_i − z_j‖ ≤ ε_z,i together, n_yz likewise with y (so n_xz, n_yz ≥ k).
//!
//! Identity: when Y (or X) is the same array as Z, I(X;Y|Z) = 0. The KSG-1
//! form gives exactly 0 on tie-free data (every count is k − 1 in the
//! shared subspace); a value off it is a warning ([`super::bounds`]). The
//! KSG-2 form does not (its 1/n corrections leave ⟨1/n_z⟩ − 1/k ≤ 0), so it
//! is held only to ≥ 0, like every estimate here.
//!
//! Kernels: `knn` in the joint space (KSG-2 asks for the neighbour indices
//! and takes the marginal radii on the host in the same exact f32 max-norm,
//! as KSG-2 MI does), then `radius_count` in the three subspaces (KSG-1).
//! KSG-2's n_xz and n_yz count in boxes whose sides differ per block
//! (ε_x in X, ε_z in Z), which `radius_count`'s one radius per query cannot
//! express: they are counted on the host, exactly, over the rows whose first
//! Z coordinate lies within ε_z (a window of the rows sorted by it), in
//! parallel over queries. Both backends feed it the same neighbours, so the
//! result is bit-identical on both.

use super::bounds::{BoundKind, Bounds};
use super::ksg::{check_k, check_rows_for_k, marginal_radii, KsgVariant};
use super::{
    finish_checked, note_point_masses, prep_setters, same_n, sum_digamma, Diagnostics, Estimate,
    Meta, Prep, Units,
};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::kernels::{Boundary, CountSpec, Kernels, KnnSpec, Metric};
use crate::special::digamma;
use ndarray::ArrayView2;
use rayon::prelude::*;
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
    /// Defaults: k = 3, the KSG-1 form (Frenzel–Pompe), tie-breaking on with seed 0, nats.
    pub fn params() -> CmiParams {
        CmiParams {
            k: 3,
            variant: KsgVariant::Ksg1,
            prep: Prep::default(),
            units: Units::Nats,
        }
    }
}

/// Unchecked parameters of [`Cmi`].
#[derive(Clone, Debug)]
pub struct CmiParams {
    k: usize,
    variant: KsgVariant,
    prep: Prep,
    units: Units,
}

impl CmiParams {
    /// Neighbour rank (default 3).
    pub fn k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }
    /// The KSG-1 form (Frenzel–Pompe, default) or the KSG-2 form (see the module docs).
    pub fn variant(mut self, v: KsgVariant) -> Self {
        self.variant = v;
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
        let (xs, ys, zs) = (&prepared[0], &prepared[1], &prepared[2]);
        let value = match p.variant {
            KsgVariant::Ksg1 => cmi_nats(xs, ys, zs, p.k, kern)?,
            KsgVariant::Ksg2 => cmi_ksg2_nats(xs, ys, zs, p.k, kern)?,
        };
        note_point_masses(
            &mut diag,
            p.k,
            "the conditional MI then depends on how those ties are broken; for a discrete \
             variable use a discrete or binned estimate",
        );
        let mut bounds = Bounds::nonnegative(BoundKind::Statistical);
        if p.variant == KsgVariant::Ksg1 {
            for (a, which) in [(x, "X"), (y, "Y")] {
                if a.d() == z.d() && a.values() == z.values() {
                    let why = format!(
                        "{which} ({}) and Z ({}) hold the same values",
                        a.name(),
                        z.name()
                    );
                    diag.notes.push(format!("{why}: I(X;Y|Z) = 0 exactly"));
                    bounds = bounds.equal_to(0.0, why);
                }
            }
        }
        let meta = Meta {
            quantity: "I(X;Y|Z)",
            estimator: match p.variant {
                KsgVariant::Ksg1 => "cmi",
                KsgVariant::Ksg2 => "cmi_ksg2",
            },
            units: p.units,
            n: x.n(),
            dims: vec![x.d(), y.d(), z.d()],
            k: Some(p.k),
            seed: p.prep.seed_used(),
            is_mi: true,
        };
        finish_checked(kern, meta, &bounds, value, None, start, diag)
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

/// The KSG-2 form in nats on prepared data (see the module docs).
pub(crate) fn cmi_ksg2_nats(
    x: &Dataset,
    y: &Dataset,
    z: &Dataset,
    k: usize,
    kern: &dyn Kernels,
) -> Result<f64> {
    let joint = Dataset::hstack("joint (x, y, z)", &[x, y, z])?;
    let knn = kern.knn(
        joint.rows(),
        joint.rows(),
        &KnnSpec {
            k,
            metric: Metric::chebyshev(),
            exclude_self: true,
            want_indices: true,
        },
    )?;
    let idx = knn.indices.as_ref().ok_or_else(|| Error::Device {
        kernel: "knn",
        reason: "indices were asked for but not returned".into(),
    })?;
    let radii = [
        marginal_radii(x, idx, k),
        marginal_radii(y, idx, k),
        marginal_radii(z, idx, k),
    ];
    let counts = box_counts(x, y, z, &radii);
    let (mut s, kf) = (0f64, k as f64);
    for &(n_z, n_xz, n_yz) in &counts {
        let (n_z, n_xz, n_yz) = (n_z as f64, n_xz as f64, n_yz as f64);
        s += digamma(n_z) - digamma(n_xz) + 1.0 / n_xz - digamma(n_yz) + 1.0 / n_yz;
    }
    Ok(digamma(kf) - 2.0 / kf + s / x.n() as f64)
}

/// Per point i, over j ≠ i: (n_z, n_xz, n_yz) with `<=` against the point's
/// marginal radii `[ε_x, ε_y, ε_z]`, in the same exact f32 max-norm as the
/// kernels. Only rows whose first Z coordinate lies within ε_z of z_i can
/// count; sorted by that coordinate they form one window, found by binary
/// search with the same rounded differences as the distance.
fn box_counts(
    x: &Dataset,
    y: &Dataset,
    z: &Dataset,
    radii: &[Vec<f32>; 3],
) -> Vec<(u32, u32, u32)> {
    let metric = Metric::chebyshev();
    let (xr, yr, zr) = (x.rows(), y.rows(), z.rows());
    let mut order: Vec<usize> = (0..z.n()).collect();
    order.sort_by(|&a, &b| z.get(a, 0).total_cmp(&z.get(b, 0)).then(a.cmp(&b)));
    let first: Vec<f32> = order.iter().map(|&j| z.get(j, 0)).collect();
    (0..z.n())
        .into_par_iter()
        .map(|i| {
            let (ex, ey, ez) = (radii[0][i], radii[1][i], radii[2][i]);
            let a = z.get(i, 0);
            // fl(|a − b|) is monotone in b on each side of a: the rows within
            // ε_z in the first coordinate are one run of the sorted order.
            let lo = first.partition_point(|&b| b < a && a - b > ez);
            let hi = first.partition_point(|&b| b <= a || b - a <= ez);
            let (mut n_z, mut n_xz, mut n_yz) = (0u32, 0u32, 0u32);
            for &j in &order[lo..hi] {
                if j == i || metric.distance(zr.row(i), zr.row(j)) > ez {
                    continue;
                }
                n_z += 1;
                n_xz += u32::from(metric.distance(xr.row(i), xr.row(j)) <= ex);
                n_yz += u32::from(metric.distance(yr.row(i), yr.row(j)) <= ey);
            }
            (n_z, n_xz, n_yz)
        })
        .collect()
}
