//! Kozachenko–Leonenko differential entropy H(X) from k-th neighbour distances.
//!
//! Kozachenko & Leonenko, Probl. Inf. Transm. 23, 95 (1987), in the form of
//! Kraskov et al. 2004, eq. 20:
//! H = ψ(N) − ψ(k) + ln V_d + (d/N) Σ_i ln r_i,
//! r_i the distance to the k-th neighbour and V_d the volume of the unit ball
//! of the norm: 2^d for the max-norm (NPEET's `entropy`, which uses the
//! radius, not the diameter, with `d·log 2`) and π^{d/2}/Γ(d/2 + 1) for the
//! Euclidean norm. Kernel: `knn` (exclude-self); the Euclidean kernel returns
//! squared distances, so ln r = ½ ln r².
//!
//! The estimate is of the source values: data stored as 2^e × values (see
//! [`crate::data::convert`]) gets d·e·ln 2 added (H(aX) = H(X) + d ln|a|), and
//! standardised data gets Σ ln σ_c of the source columns. A value with more
//! than k copies in a column is a point mass: the differential entropy is
//! then −∞ (the distribution has no density), and a kNN estimate would only
//! measure the tie-breaking, so it is an error that names the column, the
//! value and its share of rows and points to the estimators defined there.

use super::ksg::{check_k, check_rows_for_k};
use super::{
    finish, point_mass, point_mass_text, prep_setters, Diagnostics, Estimate, Meta, Prep, Units,
};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::kernels::{Kernels, KnnSpec, Metric, Norm};
use crate::special::{digamma, ln_unit_ball};
use ndarray::ArrayView2;
use std::time::Instant;

/// Entry point: `KnnEntropy::params()`.
///
/// ```
/// use infoplane::estimators::KnnEntropy;
/// use infoplane::Engine;
/// use ndarray::Array2;
/// use rand::{Rng, SeedableRng};
/// // 2000 draws from U(0, 1), whose entropy is 0.
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// let x = Array2::from_shape_fn((2000, 1), |_| rng.random::<f32>());
/// let h = KnnEntropy::params().check()?.estimate(x.view(), &Engine::cpu())?;
/// assert!(h.value.abs() < 0.05);
/// # Ok::<(), infoplane::Error>(())
/// ```
pub struct KnnEntropy;

impl KnnEntropy {
    /// Defaults: k = 3, max-norm, tie-breaking on with seed 0, nats.
    pub fn params() -> KnnEntropyParams {
        KnnEntropyParams {
            k: 3,
            norm: Norm::Chebyshev,
            prep: Prep::default(),
            units: Units::Nats,
        }
    }
}

/// Unchecked parameters of [`KnnEntropy`].
#[derive(Clone, Debug)]
pub struct KnnEntropyParams {
    k: usize,
    norm: Norm,
    prep: Prep,
    units: Units,
}

impl KnnEntropyParams {
    /// Neighbour rank (default 3).
    pub fn k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }
    /// `Norm::Chebyshev` (default, NPEET) or `Norm::SqEuclidean` (the Euclidean ball).
    pub fn norm(mut self, norm: Norm) -> Self {
        self.norm = norm;
        self
    }
    prep_setters!();

    /// Validates the parameters.
    pub fn check(self) -> Result<ValidKnnEntropy> {
        check_k(self.k)?;
        Ok(ValidKnnEntropy(self))
    }
}

/// Checked parameters of [`KnnEntropy`].
#[derive(Clone, Debug)]
pub struct ValidKnnEntropy(KnnEntropyParams);

impl ValidKnnEntropy {
    /// H(X) of a matrix.
    pub fn estimate(&self, x: ArrayView2<'_, f32>, kern: &dyn Kernels) -> Result<Estimate> {
        self.estimate_dataset(&Dataset::from_array("x", x)?, kern)
    }

    /// H(X) of a dataset.
    pub fn estimate_dataset(&self, x: &Dataset, kern: &dyn Kernels) -> Result<Estimate> {
        let p = &self.0;
        let start = Instant::now();
        check_rows_for_k(x.name(), x.n(), p.k)?;
        let mut diag = Diagnostics::default();
        let xs = p.prep.apply(x, 0, &mut diag)?;
        if let Some(rep) = point_mass(&diag, p.k) {
            return Err(Error::Data {
                what: rep.array.clone(),
                reason: format!(
                    "{}, so the differential entropy is −∞ (the data have no density there) and \
                     a kNN estimate would only measure how the ties are broken; estimate H with \
                     `binned` or `discrete`, or I(T;Y) with `mixed`",
                    point_mass_text(rep, p.k)
                ),
            });
        }
        let mut value = kl_nats(&xs, p.k, p.norm, kern)? + scale_back(&xs);
        if p.prep.standardize {
            // H(aX) = H(X) + ln|a|: undo the scaling so the result is still H(X).
            let back: f64 = x
                .source_std()
                .iter()
                .filter(|&&s| s > 0.0)
                .map(|s| s.ln())
                .sum();
            value += back;
            diag.notes.push(format!(
                "estimated on standardised columns, then Σ ln σ_c = {back:.6} nats added back \
                 (H(aX) = H(X) + ln|a|), so the value is the entropy of the data as given"
            ));
        }
        let meta = Meta {
            quantity: "H(X)",
            estimator: "kl",
            units: p.units,
            n: x.n(),
            dims: vec![x.d()],
            k: Some(p.k),
            seed: p.prep.seed_used(),
            is_mi: false,
        };
        finish(kern, meta, value, None, start, diag)
    }
}

/// d·e·ln 2: what the entropy of data stored as 2^-e × the source values
/// lacks (H(aX) = H(X) + d ln|a|).
pub(crate) fn scale_back(x: &Dataset) -> f64 {
    x.d() as f64 * x.map().exponent() as f64 * std::f64::consts::LN_2
}

/// The Kozachenko–Leonenko estimate in nats of the stored values of prepared data.
pub(crate) fn kl_nats(x: &Dataset, k: usize, norm: Norm, kern: &dyn Kernels) -> Result<f64> {
    let metric = match norm {
        Norm::Chebyshev => Metric::chebyshev(),
        Norm::SqEuclidean => Metric::sq_euclidean(),
    };
    let out = kern.knn(
        x.rows(),
        x.rows(),
        &KnnSpec {
            k,
            metric,
            exclude_self: true,
            want_indices: false,
        },
    )?;
    let mut sum_ln = 0f64;
    for (i, &r) in out.kth.iter().enumerate() {
        if r <= 0.0 {
            return Err(Error::Data {
                what: x.name().to_string(),
                reason: format!(
                    "row {i} has {k} or more exact duplicates, so its k-th neighbour distance is 0 \
                     and ln 0 = −inf; keep the tie-breaking on (`noise(true)`)"
                ),
            });
        }
        sum_ln += match norm {
            Norm::Chebyshev => (r as f64).ln(),
            Norm::SqEuclidean => 0.5 * (r as f64).ln(),
        };
    }
    let n = x.n() as f64;
    let d = x.d() as f64;
    Ok(digamma(n) - digamma(k as f64) + ln_unit_ball(x.d(), norm) + d * sum_ln / n)
}
