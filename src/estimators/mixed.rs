//! Mutual information between continuous X and discrete labels Y.
//!
//! Ross, "Mutual information between discrete and continuous data sets",
//! PLoS ONE 9, e87357 (2014), eq. 2, as scikit-learn's `mutual_info_classif`
//! (`_compute_mi_cd`): I = ψ(N) + ⟨ψ(k_i)⟩ − ⟨ψ(N_{y_i})⟩ − ⟨ψ(m_i)⟩, where
//! for each point the radius is the distance to its k_i-th neighbour among the
//! points of its own label (k_i = min(k, N_y − 1)), and m_i counts the points
//! of every label strictly within that radius, the point itself included
//! (scikit-learn: `nextafter(r, 0)` then a `<=` query). Points whose label
//! occurs once are dropped, as in scikit-learn, and N is the number kept.
//! Multivariate X uses the max-norm over its columns. scikit-learn clips the
//! result at 0; this estimator reports the raw value and says when it is
//! negative.
//!
//! Bounds: 0 ≤ I(X;Y) ≤ H(Y) for labels Y. The estimate can leave them on a
//! finite sample (ψ(N) − ⟨ψ(N_y)⟩ exceeds the plug-in H(Y) by about
//! (classes − 1)/2N, so a layer that determines the label lands slightly
//! above H(Y)); every excursion is a warning ([`super::bounds`]), the value
//! is reported unclipped.
//!
//! Kernels: `knn` per label (Chebyshev, exclude-self), then one `radius_count`
//! over all kept points (`<`, exclude-self, plus one for the point itself).
//!
//! Ties: with the tie-breaking on (the default), values equal within a
//! column are spread over distinct f32 values ([`crate::data::ties`]), the
//! f32 counterpart of scikit-learn's 1e-10 noise, so a point mass in X (a
//! clipped bound, a constant column) is measured as scikit-learn measures it.
//! Where copies remain (tie-breaking off, or more copies than f32 values
//! around them) a within-label radius can be 0; the count then follows
//! scikit-learn's rule for a radius `nextafter(0, 0) = 0`: every point at
//! distance ≤ 0, the point itself included.

use super::bounds::{BoundKind, Bounds};
use super::discrete::{entropy_nats, Symbols};
use super::ksg::check_k;
use super::{finish_checked, prep_setters, same_n, Diagnostics, Estimate, Meta, Prep, Units};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::kernels::{Boundary, CountSpec, Kernels, KnnSpec, Metric};
use crate::special::digamma;
use ndarray::ArrayView2;
use std::time::Instant;

/// Entry point: `Mixed::params()`.
///
/// ```
/// use infoplane::estimators::{Mixed, Symbols};
/// use infoplane::Engine;
/// use ndarray::Array2;
/// use rand::{Rng, SeedableRng};
/// // Label 0 lives on [0, 1), label 1 on [2, 3): X determines Y, I = ln 2.
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// let x = Array2::from_shape_fn((400, 1), |(i, _)| (i % 2) as f32 * 2.0 + rng.random::<f32>());
/// let y = Symbols::from_labels(&(0..400).map(|i| i % 2).collect::<Vec<_>>());
/// let est = Mixed::params().check()?.estimate(x.view(), &y, &Engine::cpu())?;
/// assert!((est.value - std::f64::consts::LN_2).abs() < 0.02);
/// # Ok::<(), infoplane::Error>(())
/// ```
pub struct Mixed;

impl Mixed {
    /// Defaults: k = 3 (scikit-learn's `n_neighbors`), tie-breaking on with seed 0, nats.
    pub fn params() -> MixedParams {
        MixedParams {
            k: 3,
            prep: Prep::default(),
            units: Units::Nats,
        }
    }
}

/// Unchecked parameters of [`Mixed`].
#[derive(Clone, Debug)]
pub struct MixedParams {
    k: usize,
    prep: Prep,
    units: Units,
}

impl MixedParams {
    /// Neighbour rank (default 3).
    pub fn k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }
    prep_setters!();

    /// Validates the parameters.
    pub fn check(self) -> Result<ValidMixed> {
        check_k(self.k)?;
        Ok(ValidMixed(self))
    }
}

/// Checked parameters of [`Mixed`].
#[derive(Clone, Debug)]
pub struct ValidMixed(MixedParams);

impl ValidMixed {
    /// Units of the results.
    pub fn units(&self) -> Units {
        self.0.units
    }
    /// Neighbour rank.
    pub fn k(&self) -> usize {
        self.0.k
    }
    /// Noise and standardisation.
    pub fn prep(&self) -> &Prep {
        &self.0.prep
    }

    /// I(X;Y) from a matrix and labels.
    pub fn estimate(
        &self,
        x: ArrayView2<'_, f32>,
        y: &Symbols,
        kern: &dyn Kernels,
    ) -> Result<Estimate> {
        self.estimate_dataset(&Dataset::from_array("x", x)?, y, kern)
    }

    /// I(X;Y) from a dataset and labels.
    pub fn estimate_dataset(
        &self,
        x: &Dataset,
        y: &Symbols,
        kern: &dyn Kernels,
    ) -> Result<Estimate> {
        let p = &self.0;
        let start = Instant::now();
        same_n(x, "y (labels)", y.n())?;
        let mut diag = Diagnostics::default();
        let xs = p.prep.apply(x, 0, &mut diag)?;
        let value = mixed_nats(&xs, y, p.k, kern, &mut diag)?;
        let meta = Meta {
            quantity: "I(X;Y)",
            estimator: "mixed",
            units: p.units,
            n: x.n(),
            dims: vec![x.d(), 1],
            k: Some(p.k),
            seed: p.prep.seed_used(),
            is_mi: true,
        };
        let bounds = label_bounds(y);
        finish_checked(kern, meta, &bounds, value, None, start, diag)
    }
}

/// 0 ≤ I(·;Y) ≤ H(Y), the plug-in entropy of the labels; statistical.
pub(crate) fn label_bounds(y: &Symbols) -> Bounds {
    Bounds::nonnegative(BoundKind::Statistical).at_most(
        entropy_nats(y, false),
        "H(Y), the plug-in entropy of the labels",
    )
}

/// Ross's estimate in nats on prepared data.
pub(crate) fn mixed_nats(
    x: &Dataset,
    y: &Symbols,
    k: usize,
    kern: &dyn Kernels,
    diag: &mut Diagnostics,
) -> Result<f64> {
    let groups = y.groups();
    // Kept points in ascending row order, so the sums below run in index order.
    let mut kept_mask = vec![false; x.n()];
    for g in groups.iter().filter(|g| g.len() > 1) {
        g.iter().for_each(|&i| kept_mask[i] = true);
    }
    let kept: Vec<usize> = (0..x.n()).filter(|&i| kept_mask[i]).collect();
    let dropped = x.n() - kept.len();
    if dropped > 0 {
        diag.notes.push(format!(
            "{dropped} rows whose label occurs once were left out (as scikit-learn does)"
        ));
    }
    if kept.is_empty() {
        return Err(Error::Data {
            what: "y (labels)".into(),
            reason: "every label occurs once; the mixed estimator needs labels seen at least twice"
                .into(),
        });
    }
    let mut radius = vec![0f32; x.n()];
    let mut k_of = vec![0usize; x.n()];
    for g in groups.iter().filter(|g| g.len() > 1) {
        let kc = k.min(g.len() - 1);
        let sub = x.select(g);
        let out = kern.knn(
            sub.rows(),
            sub.rows(),
            &KnnSpec {
                k: kc,
                metric: Metric::chebyshev(),
                exclude_self: true,
                want_indices: false,
            },
        )?;
        for (&i, &r) in g.iter().zip(&out.kth) {
            radius[i] = r;
            k_of[i] = kc;
        }
    }
    let xk = x.select(&kept);
    let radii: Vec<f32> = kept.iter().map(|&i| radius[i]).collect();
    let mut m = kern.radius_count(
        xk.rows(),
        xk.rows(),
        &radii,
        &CountSpec {
            metric: Metric::chebyshev(),
            boundary: Boundary::Less,
            exclude_self: true,
        },
    )?;
    // A radius of 0 (copies left): scikit-learn counts every point at
    // distance <= 0, itself included; `m + 1` below adds the point itself.
    let zero: Vec<usize> = (0..kept.len()).filter(|&w| radii[w] == 0.0).collect();
    if !zero.is_empty() {
        let q = xk.select(&zero);
        let at_zero = kern.radius_count(
            q.rows(),
            xk.rows(),
            &vec![0.0; zero.len()],
            &CountSpec {
                metric: Metric::chebyshev(),
                boundary: Boundary::LessEqual,
                exclude_self: false,
            },
        )?;
        for (&w, &c) in zero.iter().zip(&at_zero) {
            m[w] = c - 1;
        }
        diag.notes.push(format!(
            "{} points have an exact copy as their k-th neighbour within their label (radius \
             0); they count the points at distance 0, themselves included (scikit-learn's rule)",
            zero.len()
        ));
    }
    let counts = y.counts();
    let nk = kept.len() as f64;
    let (mut sk, mut sl, mut sm) = (0f64, 0f64, 0f64);
    for (w, &i) in kept.iter().enumerate() {
        sk += digamma(k_of[i] as f64);
        sl += digamma(counts[y.ids()[i] as usize] as f64);
        sm += digamma((m[w] + 1) as f64);
    }
    Ok(digamma(nk) + (sk - sl - sm) / nk)
}
