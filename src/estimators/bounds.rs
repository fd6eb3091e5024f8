//! Bounds as invariants: what every estimate can be checked against.
//!
//! A mutual information is never negative, and I(·;V) of a discrete V never
//! exceeds H(V), the entropy of V (here the plug-in entropy of V's symbols:
//! the data's own distribution). A conditional entropy H(Y|T) lies in
//! [0, H(Y)]. When Y and Z are the same array, I(X;Y|Z) = 0 exactly. These
//! are properties of the quantity, so an estimate that leaves them says
//! something about the estimator on these data, and the user must hear it:
//!
//! * **Exact plug-in estimates** (discrete, binned without Miller–Madow) obey
//!   the bounds up to f64 round-off of their sums. A value beyond
//!   [`ROUND_OFF_REL_TOL`] (relative to max(1, |bound|)) would be a defect
//!   and is reported.
//! * **Statistical estimates** (KSG, Ross's mixed, Frenzel–Pompe, KDE,
//!   Miller–Madow corrected plug-in) carry bias and variance, so they can
//!   leave the bounds on finite samples (KSG's I(T;Y) slightly above H(Y) for
//!   a layer that determines the label, a raw value slightly below 0 for
//!   independent data). Every excursion beyond the round-off of the sums is
//!   reported, however small. The round-off is [`ROUND_OFF_REL_TOL`], except
//!   for KDE, whose log-sum-exps are f32 ([`KDE_REL_TOL`]): a layer whose
//!   points lie far apart gives I(X;T) = ln N up to that rounding.
//!
//! Reported means a line in [`super::Diagnostics::warnings`] (the command
//! line prints each on stderr as `warning: ...`) naming the quantity, its
//! value, the bound, how far outside it lies and why. The value itself is
//! never clipped: clipping would hide the estimator's behaviour from the
//! data (a plot may clip for drawing only).

use super::{Estimate, Units};

/// Round-off allowed on a bound, relative to max(1, |bound|): sums of
/// p ln p or of digammas in f64 round off near 1e-15.
pub const ROUND_OFF_REL_TOL: f64 = 1e-9;

/// Round-off allowed on the bounds of KDE estimates: their log-sum-exps come
/// from f32 kernels (`kernels::tolerance::KDE_LSE`).
pub const KDE_REL_TOL: f64 = 1e-5;

/// Whether only round-off, or also an estimator's bias and variance, can
/// carry its value across a bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BoundKind {
    /// Plug-in arithmetic on the empirical distribution: exact up to round-off.
    Exact,
    /// A statistical estimate: any excursion is reported.
    #[default]
    Statistical,
}

/// The provable range of one estimated quantity, all values in nats.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bounds {
    /// Exact or statistical (how strictly the bounds are applied).
    pub kind: BoundKind,
    /// The quantity is ≥ 0 (every mutual information and conditional entropy).
    pub nonnegative: bool,
    /// Upper bounds, each with what it is, e.g. `(0.693, "H(Y) of y.npy")`.
    pub upper: Vec<(f64, String)>,
    /// An identity the value must satisfy: `(target, why)`.
    pub equals: Option<(f64, String)>,
    /// Round-off allowed, relative to max(1, |bound|) (None: [`ROUND_OFF_REL_TOL`]).
    pub rel_tol: Option<f64>,
}

impl Bounds {
    /// A mutual information or conditional entropy: ≥ 0.
    pub fn nonnegative(kind: BoundKind) -> Bounds {
        Bounds {
            kind,
            nonnegative: true,
            ..Bounds::default()
        }
    }

    /// Adds an upper bound (nats) named `what`.
    pub fn at_most(mut self, bound_nats: f64, what: impl Into<String>) -> Bounds {
        self.upper.push((bound_nats, what.into()));
        self
    }

    /// Allows `rel` relative round-off instead of [`ROUND_OFF_REL_TOL`].
    pub fn round_off(mut self, rel: f64) -> Bounds {
        self.rel_tol = Some(rel);
        self
    }

    /// Requires the value to equal `target_nats` because `why`.
    pub fn equal_to(mut self, target_nats: f64, why: impl Into<String>) -> Bounds {
        self.equals = Some((target_nats, why.into()));
        self
    }
}

/// What is being checked, for the wording of a warning.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    /// "I(X;Y)", "I(T;Y)", "H(Y|T)", …
    pub quantity: &'a str,
    /// The estimator's name as reported ("mixed", "binned", …).
    pub estimator: &'a str,
    /// Units the warning speaks in.
    pub units: Units,
    /// Rows of the estimate (the sample size the bias depends on).
    pub n: usize,
}

fn tolerance(bounds: &Bounds, bound: f64) -> f64 {
    bounds.rel_tol.unwrap_or(ROUND_OFF_REL_TOL) * bound.abs().max(1.0)
}

fn why(kind: BoundKind, s: &Subject<'_>) -> String {
    match kind {
        BoundKind::Statistical => format!(
            "an estimator excursion (the bias and variance of {} at n = {}), not a property \
             of the data; the value is reported unclipped",
            s.estimator, s.n
        ),
        BoundKind::Exact => format!(
            "a plug-in estimate can cross it only by round-off (tolerance {ROUND_OFF_REL_TOL:e} \
             relative), so this is a defect of {}; the value is reported unclipped",
            s.estimator
        ),
    }
}

/// The warnings `value_nats` earns against `bounds` (empty when it lies within them).
pub fn check(s: &Subject<'_>, value_nats: f64, bounds: &Bounds) -> Vec<String> {
    let u = |v: f64| s.units.from_nats(v);
    let unit = match s.units {
        Units::Nats => "nats",
        Units::Bits => "bits",
    };
    let mut out = Vec::new();
    if !value_nats.is_finite() {
        return out;
    }
    if bounds.nonnegative && value_nats < -tolerance(bounds, 0.0) {
        out.push(format!(
            "{} = {:.6} {unit} is below 0, the lower bound of every MI and conditional \
             entropy, by {:.3e} {unit}: {}",
            s.quantity,
            u(value_nats),
            u(-value_nats),
            why(bounds.kind, s)
        ));
    }
    for (bound, what) in &bounds.upper {
        let excess = value_nats - bound;
        if bound.is_finite() && excess > tolerance(bounds, *bound) {
            let share = if *bound > 0.0 {
                format!(" ({:.2} % of the bound)", 100.0 * excess / bound)
            } else {
                String::new()
            };
            out.push(format!(
                "{} = {:.6} {unit} exceeds its upper bound {what} = {:.6} {unit} by {:.3e} \
                 {unit}{share}: {}",
                s.quantity,
                u(value_nats),
                u(*bound),
                u(excess),
                why(bounds.kind, s)
            ));
        }
    }
    if let Some((target, reason)) = &bounds.equals {
        let off = value_nats - target;
        // An identity holds for the Frenzel–Pompe construction exactly (same
        // neighbours, same counts); only the f64 mean of digammas rounds.
        if off.abs() > tolerance(bounds, *target) {
            out.push(format!(
                "{} = {:.6} {unit} should be {:.6} {unit} because {reason}; it is off by \
                 {:.3e} {unit}: {}",
                s.quantity,
                u(value_nats),
                u(*target),
                u(off),
                why(BoundKind::Statistical, s)
            ));
        }
    }
    out
}

/// Checks a finished estimate against further bounds (e.g. I(X;Y) ≤ H(Y)
/// for an integer Y the caller chose to treat as a measurement), adding
/// any warning to its diagnostics.
pub fn check_estimate(est: &mut Estimate, bounds: &Bounds) {
    let nats = match est.units {
        Units::Nats => est.value,
        Units::Bits => est.value * std::f64::consts::LN_2,
    };
    let subject = Subject {
        quantity: &est.quantity,
        estimator: &est.estimator,
        units: est.units,
        n: est.n,
    };
    let w = check(&subject, nats, bounds);
    est.diagnostics.warnings.extend(w);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Subject<'static> {
        Subject {
            quantity: "I(X;Y)",
            estimator: "mixed",
            units: Units::Nats,
            n: 100,
        }
    }

    #[test]
    fn statistical_excursions_beyond_round_off_are_all_reported() {
        let b = Bounds::nonnegative(BoundKind::Statistical).at_most(0.5, "H(Y)");
        assert!(check(&subject(), 0.25, &b).is_empty());
        assert!(check(&subject(), 0.5 + 1e-12, &b).is_empty());
        let w = check(&subject(), 0.5 + 1e-8, &b);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("exceeds its upper bound H(Y)") && w[0].contains("unclipped"));
        let w = check(&subject(), -1e-8, &b);
        assert!(
            w[0].contains("below 0") && w[0].contains("excursion"),
            "{w:?}"
        );
        let kde = b.round_off(KDE_REL_TOL);
        assert!(check(&subject(), 0.5 + 1e-6, &kde).is_empty());
    }

    #[test]
    fn exact_estimates_get_round_off_only() {
        let b = Bounds::nonnegative(BoundKind::Exact).at_most(2.0, "H(X)");
        assert!(check(&subject(), -1e-15, &b).is_empty());
        assert!(check(&subject(), 2.0 + 1e-12, &b).is_empty());
        let w = check(&subject(), 2.0 + 1e-6, &b);
        assert!(w[0].contains("defect"), "{w:?}");
    }

    #[test]
    fn identities_and_units() {
        let b = Bounds::default().equal_to(0.0, "Y and Z are the same array");
        assert!(check(&subject(), 1e-13, &b).is_empty());
        let mut s = subject();
        s.units = Units::Bits;
        let w = check(&s, -std::f64::consts::LN_2, &b);
        assert!(
            w[0].contains("-1.000000 bits") && w[0].contains("same array"),
            "{w:?}"
        );
    }
}
