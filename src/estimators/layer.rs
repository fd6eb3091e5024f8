//! The information-plane quantities of one layer: I(X;T), I(T;Y) and H(T).
//!
//! Given a layer's activations T (one row per sample), the inputs X as
//! [`Symbols`] (each distinct input row one symbol) and the labels Y as
//! [`Symbols`], [`layer_info`] computes the three coordinates of the layer's
//! point in the information plane (Shwartz-Ziv & Tishby 2017, §2.3) with one
//! of three methods:
//!
//! * **Binned** ([`ValidBinned`]): the row's bin pattern is a symbol;
//!   I(X;T) = H(T) − H(T|X), I(T;Y) = H(T) − H(T|Y), also H(Y|T).
//! * **KDE** ([`ValidKde`]): upper bounds in the main fields and lower bounds
//!   in the `*_lower` fields (Kolchinsky & Tracey 2017; Saxe et al. 2018).
//! * **kNN** ([`ValidMixed`] gives k and the noise): H(T) is the
//!   Kozachenko–Leonenko estimate (max-norm) and I(T;Y) the Ross mixed
//!   estimate with Y as the discrete side. I(X;T) is not a kNN estimate: the
//!   layer is a deterministic function of the input, so within one input's
//!   rows T never varies and kNN distances inside an input class are zero —
//!   there is nothing for a kNN estimator to measure (the continuous I(X;T) of
//!   a deterministic injective layer is infinite). `i_xt` is therefore the
//!   exact empirical I(X;T) with T's rows taken as symbols (bit-exact
//!   equality), which is the plug-in H(T) of the distinct activation patterns
//!   when every input is distinct (at most ln N). A note in the diagnostics
//!   says so.
//!
//! Every row is checked against the bounds the quantities obey
//! ([`super::bounds`]): 0 ≤ I(X;T) ≤ H(X) (the plug-in entropy of the input
//! symbols), 0 ≤ I(T;Y) ≤ H(Y), 0 ≤ H(Y|T) ≤ H(Y). Exact plug-in values
//! (binned, the kNN row's I(X;T)) may cross them only by round-off; the
//! statistical ones (KDE, the kNN row's Ross I(T;Y)) by their bias and
//! variance, which is reported as a warning in the row's diagnostics, the
//! value unclipped.

use super::binning::ValidBinned;
use super::bounds::{self, BoundKind, Bounds, Subject};
use super::discrete::{cond_entropy_nats, entropy_nats, mutual_info_nats, Symbols};
use super::kde::ValidKde;
use super::knn_entropy::{kl_nats, scale_back};
use super::mixed::{mixed_nats, ValidMixed};
use super::{check_finite, point_mass, point_mass_text, same_n, Diagnostics, Units};
use crate::data::Dataset;
use crate::error::Result;
use crate::kernels::{Backend, Kernels, Norm};
use std::time::Instant;

/// How [`layer_info`] estimates.
#[derive(Clone, Debug)]
pub enum LayerMethod {
    /// Binning (SZT 30 bins on [−1, 1], fixed width, or adaptive).
    Binned(ValidBinned),
    /// KDE upper and lower bounds with noise variance σ².
    Kde(ValidKde),
    /// kNN: Kozachenko–Leonenko H(T), Ross I(T;Y), plug-in I(X;T) (see the module docs).
    Knn(ValidMixed),
}

impl LayerMethod {
    /// "binned", "kde" or "knn".
    pub fn name(&self) -> &'static str {
        match self {
            LayerMethod::Binned(_) => "binned",
            LayerMethod::Kde(_) => "kde",
            LayerMethod::Knn(_) => "knn",
        }
    }
    fn units(&self) -> Units {
        match self {
            LayerMethod::Binned(b) => b.units(),
            LayerMethod::Kde(k) => k.units(),
            LayerMethod::Knn(m) => m.units(),
        }
    }
}

/// One layer's point in the information plane, in `units`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LayerInfo {
    /// "binned", "kde" or "knn".
    pub estimator: String,
    /// I(X;T) (KDE: the upper bound).
    pub i_xt: f64,
    /// I(T;Y) (KDE: the upper bound).
    pub i_ty: f64,
    /// H(T) (KDE: the upper bound).
    pub h_t: f64,
    /// KDE lower bound on I(X;T).
    pub i_xt_lower: Option<f64>,
    /// KDE lower bound on I(T;Y).
    pub i_ty_lower: Option<f64>,
    /// KDE lower bound on H(T).
    pub h_t_lower: Option<f64>,
    /// H(Y|T) (binned only).
    pub h_y_given_t: Option<f64>,
    /// Units of every value.
    pub units: Units,
    /// Rows.
    pub n: usize,
    /// Units (columns) of the layer.
    pub d: usize,
    /// Backend that ran the kernels.
    pub backend: Backend,
    /// Adapter or CPU description.
    pub adapter: String,
    /// Wall time.
    pub seconds: f64,
    /// Noise seed where noise was used.
    pub seed: Option<u64>,
    /// What the estimators saw and did.
    pub diagnostics: Diagnostics,
}

/// I(X;T), I(T;Y) and H(T) of layer `t` (see the module docs for each method).
///
/// ```
/// use infoplane::estimators::{layer_info, Binned, LayerMethod, Symbols};
/// use infoplane::{Dataset, Engine};
/// let t = Dataset::new("layer1", vec![-0.9, 0.9, -0.9, 0.9], 4, 1)?;
/// let x = Symbols::distinct(4);
/// let y = Symbols::from_labels(&[0, 1, 0, 1]);
/// let m = LayerMethod::Binned(Binned::params().check()?);
/// let info = layer_info(&t, &x, &y, &m, &Engine::cpu())?;
/// assert!((info.i_xt - std::f64::consts::LN_2).abs() < 1e-12);
/// assert!((info.i_ty - std::f64::consts::LN_2).abs() < 1e-12);
/// # Ok::<(), infoplane::Error>(())
/// ```
pub fn layer_info(
    t: &Dataset,
    x: &Symbols,
    y: &Symbols,
    method: &LayerMethod,
    kern: &dyn Kernels,
) -> Result<LayerInfo> {
    let start = Instant::now();
    same_n(t, "x (input symbols)", x.n())?;
    same_n(t, "y (labels)", y.n())?;
    let mut diag = Diagnostics::default();
    let mut seed = None;
    let (mut i_xt_lower, mut i_ty_lower, mut h_t_lower, mut h_y_given_t) = (None, None, None, None);
    // H(T) where the layer is symbolic: it bounds I(X;T) (and binned I(T;Y)) too.
    let mut h_t_bound = None;
    let (i_xt, i_ty, h_t) = match method {
        LayerMethod::Binned(b) => {
            let s = b.symbols_noted(t, kern, &mut diag)?;
            let mm = b.miller_madow();
            h_t_bound = Some(entropy_nats(&s, mm));
            diag.notes
                .push(format!("{} distinct binned patterns", s.alphabet()));
            h_y_given_t = Some(cond_entropy_nats(y, &s, mm)?);
            (
                mutual_info_nats(&s, x, mm)?,
                mutual_info_nats(&s, y, mm)?,
                entropy_nats(&s, mm),
            )
        }
        LayerMethod::Kde(k) => {
            let b = k.bounds(t, Some(y), kern)?;
            i_xt_lower = Some(b.i_xt_lower);
            i_ty_lower = b.i_ty_lower;
            h_t_lower = Some(b.h_lower);
            diag.notes
                .push(format!("noise variance σ² = {}", k.variance()));
            (b.i_xt_upper, b.i_ty_upper.unwrap_or(0.0), b.h_upper)
        }
        LayerMethod::Knn(m) => {
            let prep = m.prep();
            seed = prep.noise.then_some(prep.seed);
            let exact = Symbols::from_exact_rows(t);
            h_t_bound = Some(entropy_nats(&exact, false));
            let ts = prep.apply(t, 0, &mut diag)?;
            let h = kl_nats(&ts, m.k(), Norm::Chebyshev, kern)? + scale_back(&ts);
            if let Some(rep) = point_mass(&diag, m.k()) {
                let text = point_mass_text(rep, m.k());
                diag.notes.push(format!(
                    "h_t IS NOT AN ENTROPY HERE: {}: {text}, so the layer's differential entropy \
                     is −∞ and the kNN value only measures how the ties were broken; use the \
                     binned rows for H(T) (i_ty, Ross's estimator, is defined with point masses)",
                    rep.array
                ));
            }
            let ity = mixed_nats(&ts, y, m.k(), kern, &mut diag)?;
            diag.notes.push(
                "i_xt is the plug-in I(X;T) over the layer's exact activation patterns \
                 (a deterministic layer leaves kNN nothing to measure within an input)"
                    .into(),
            );
            (mutual_info_nats(&exact, x, false)?, ity, h)
        }
    };
    let units = method.units();
    for (q, v) in [
        ("I(X;T)", Some(i_xt)),
        ("I(T;Y)", Some(i_ty)),
        ("H(T)", Some(h_t)),
    ]
    .into_iter()
    .chain([
        ("I(X;T) lower", i_xt_lower),
        ("I(T;Y) lower", i_ty_lower),
        ("H(T) lower", h_t_lower),
    ]) {
        if let Some(v) = v {
            check_finite(q, method.name(), v)?;
        }
    }
    let values = RowValues {
        i_xt,
        i_ty,
        h_y_given_t,
        i_xt_lower,
        i_ty_lower,
        h_t_symbols: h_t_bound,
    };
    row_checks((method, units, t.n()), (x, y), &values, &mut diag);
    let conv = |v: f64| units.from_nats(v);
    Ok(LayerInfo {
        estimator: method.name().to_string(),
        i_xt: conv(i_xt),
        i_ty: conv(i_ty),
        h_t: conv(h_t),
        i_xt_lower: i_xt_lower.map(conv),
        i_ty_lower: i_ty_lower.map(conv),
        h_t_lower: h_t_lower.map(conv),
        h_y_given_t: h_y_given_t.map(conv),
        units,
        n: t.n(),
        d: t.d(),
        backend: kern.backend(),
        adapter: kern.device_name(),
        seconds: start.elapsed().as_secs_f64(),
        seed,
        diagnostics: diag,
    })
}

/// A plane row's values in nats, for [`row_checks`].
struct RowValues {
    i_xt: f64,
    i_ty: f64,
    h_y_given_t: Option<f64>,
    i_xt_lower: Option<f64>,
    i_ty_lower: Option<f64>,
    /// H(T) where the layer is symbolic (binned, the kNN row's exact patterns).
    h_t_symbols: Option<f64>,
}

/// The row's bound checks (see the module docs), as notes for raw negative
/// values and warnings for every excursion: I(X;T) in [0, H(X)], I(T;Y) in
/// [0, H(Y)], H(Y|T) in [0, H(Y)], lower values below the upper bounds.
fn row_checks(
    (method, units, n): (&LayerMethod, Units, usize),
    (x, y): (&Symbols, &Symbols),
    v: &RowValues,
    diag: &mut Diagnostics,
) {
    for (q, value) in [("I(X;T)", v.i_xt), ("I(T;Y)", v.i_ty)] {
        if value < 0.0 {
            diag.notes.push(format!(
                "raw {q} estimate is negative ({value:.3e} nats), reported unclamped"
            ));
        }
    }
    // Plug-in values are exact, the rest statistical.
    let (kind_xt, kind_ty) = match method {
        LayerMethod::Binned(b) => (b.bound_kind(), b.bound_kind()),
        LayerMethod::Kde(_) => (BoundKind::Statistical, BoundKind::Statistical),
        LayerMethod::Knn(_) => (BoundKind::Exact, BoundKind::Statistical),
    };
    let (h_x, h_y) = (entropy_nats(x, false), entropy_nats(y, false));
    let tol = match method {
        LayerMethod::Kde(_) => bounds::KDE_REL_TOL,
        _ => bounds::ROUND_OFF_REL_TOL,
    };
    let mut xt = Bounds::nonnegative(kind_xt)
        .at_most(h_x, "H(X) of the input symbols")
        .round_off(tol);
    let mut ty = Bounds::nonnegative(kind_ty)
        .at_most(h_y, "H(Y) of the labels")
        .round_off(tol);
    if let Some(h) = v.h_t_symbols {
        xt = xt.at_most(h, "H(T) of the layer's symbols");
        if kind_ty == BoundKind::Exact {
            ty = ty.at_most(h, "H(T) of the layer's symbols");
        }
    }
    let hyt = Bounds::nonnegative(kind_ty).at_most(h_y, "H(Y) of the labels");
    let loose = |b: &Bounds| Bounds {
        nonnegative: false,
        equals: None,
        ..b.clone()
    };
    let checks = [
        ("I(X;T)", Some(v.i_xt), xt.clone()),
        ("I(T;Y)", Some(v.i_ty), ty.clone()),
        ("H(Y|T)", v.h_y_given_t, hyt),
        // A lower bound below 0 is merely loose; above the upper bound it contradicts it.
        ("I(X;T) lower bound", v.i_xt_lower, loose(&xt)),
        ("I(T;Y) lower bound", v.i_ty_lower, loose(&ty)),
    ];
    for (quantity, value, b) in checks {
        if let Some(v) = value {
            let subject = Subject {
                quantity,
                estimator: method.name(),
                units,
                n,
            };
            diag.warnings.extend(bounds::check(&subject, v, &b));
        }
    }
}
