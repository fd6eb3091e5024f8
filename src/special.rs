//! Special functions for the estimators, in f64.
//!
//! The kNN estimators (Kraskov et al. 2004, eqs. 8–9; Kozachenko & Leonenko
//! 1987; Ross 2014; Frenzel & Pompe 2007) are sums of digammas of neighbour
//! counts, and the Kozachenko–Leonenko entropy needs the log-volume of the
//! unit ball of the norm. Both are computed here to about 1e-15 relative
//! accuracy so that the estimators' only error is statistical.

use crate::kernels::Norm;

/// Euler–Mascheroni constant γ = −ψ(1).
pub const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// Below this argument the recurrence ψ(x) = ψ(x + 1) − 1/x moves x up
/// before the asymptotic series is used; at x ≥ 10 the series truncated after
/// the B₁₄ term has error below 1e-17 relative.
const ASYMPTOTIC_FROM: f64 = 10.0;

/// The digamma function ψ(x) = Γ'(x)/Γ(x) for x > 0 (NaN for x ≤ 0 or NaN).
///
/// Recurrence up to x ≥ 10, then the asymptotic (Stirling) series
/// ψ(x) = ln x − 1/(2x) − Σ B₂ₙ/(2n x²ⁿ). Integer arguments are the ones the
/// kNN estimators use: ψ(n) = −γ + Σ_{j<n} 1/j.
///
/// ```
/// use infoplane::special::{digamma, EULER_GAMMA};
/// assert!((digamma(1.0) + EULER_GAMMA).abs() < 1e-15);
/// assert!((digamma(2.0) - (1.0 - EULER_GAMMA)).abs() < 1e-15);
/// ```
pub fn digamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    if x.is_infinite() {
        return f64::INFINITY;
    }
    let mut x = x;
    let mut shift = 0.0;
    while x < ASYMPTOTIC_FROM {
        shift -= 1.0 / x;
        x += 1.0;
    }
    let inv2 = 1.0 / (x * x);
    // B2n / (2n) for n = 1..7, Horner in 1/x².
    let series = inv2
        * (1.0 / 12.0
            - inv2
                * (1.0 / 120.0
                    - inv2
                        * (1.0 / 252.0
                            - inv2
                                * (1.0 / 240.0
                                    - inv2
                                        * (1.0 / 132.0
                                            - inv2 * (691.0 / 32760.0 - inv2 * (1.0 / 12.0)))))));
    shift + x.ln() - 0.5 / x - series
}

/// ln Γ(m/2) for a positive integer m, exact up to rounding: Γ(1/2) = √π,
/// Γ(1) = 1 and Γ(x + 1) = x Γ(x). Used for unit-ball volumes, where the
/// argument is always a half-integer.
pub fn ln_gamma_half(m: u64) -> f64 {
    assert!(m > 0, "ln_gamma_half needs m >= 1");
    let (mut acc, mut x) = if m.is_multiple_of(2) {
        (0.0, 1.0)
    } else {
        (0.5 * std::f64::consts::PI.ln(), 0.5)
    };
    let target = m as f64 / 2.0;
    while x < target {
        acc += x.ln();
        x += 1.0;
    }
    acc
}

/// ln of the volume of the unit ball in d dimensions for the given norm:
/// d·ln 2 for the max-norm (the cube [−1, 1]^d, NPEET's `d * log(2)`), and
/// (d/2)·ln π − ln Γ(d/2 + 1) for the Euclidean norm.
///
/// ```
/// use infoplane::kernels::Norm;
/// use infoplane::special::ln_unit_ball;
/// // The Euclidean unit disc has area π.
/// assert!((ln_unit_ball(2, Norm::SqEuclidean) - std::f64::consts::PI.ln()).abs() < 1e-15);
/// ```
pub fn ln_unit_ball(d: usize, norm: Norm) -> f64 {
    match norm {
        Norm::Chebyshev => d as f64 * std::f64::consts::LN_2,
        Norm::SqEuclidean => {
            0.5 * d as f64 * std::f64::consts::PI.ln() - ln_gamma_half(d as u64 + 2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative accuracy promised for ψ.
    const DIGAMMA_REL: f64 = 2e-15;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1.0)
    }

    #[test]
    fn digamma_known_values() {
        // Reference values (DLMF 5.4 and mpmath at 30 digits).
        let cases = [
            (0.5, -1.963_510_026_021_423_5),
            (1.0, -EULER_GAMMA),
            (1.5, 0.036_489_973_978_576_52),
            (3.0, 1.5 - EULER_GAMMA),
            (10.0, 2.251_752_589_066_721),
            (100.0, 4.600_161_852_738_087),
            (0.1, -10.423_754_940_411_076),
            (1e6, 13.815_510_057_964_191),
        ];
        for (x, want) in cases {
            let got = digamma(x);
            assert!(close(got, want, DIGAMMA_REL), "ψ({x}) = {got}, want {want}");
        }
    }

    #[test]
    fn digamma_integers_match_harmonic_sums() {
        let mut h = 0.0f64;
        for n in 1..2000u32 {
            let want = h - EULER_GAMMA;
            assert!(close(digamma(n as f64), want, DIGAMMA_REL), "ψ({n})");
            h += 1.0 / n as f64;
        }
    }

    #[test]
    fn digamma_rejects_non_positive() {
        assert!(digamma(0.0).is_nan());
        assert!(digamma(-1.5).is_nan());
    }

    #[test]
    fn unit_balls() {
        use std::f64::consts::PI;
        assert!(close(ln_unit_ball(1, Norm::SqEuclidean), 2f64.ln(), 1e-15));
        assert!(close(
            ln_unit_ball(3, Norm::SqEuclidean),
            (4.0 * PI / 3.0).ln(),
            1e-15
        ));
        assert!(close(
            ln_unit_ball(4, Norm::SqEuclidean),
            (PI * PI / 2.0).ln(),
            1e-15
        ));
        assert!(close(ln_unit_ball(5, Norm::Chebyshev), 32f64.ln(), 1e-15));
        assert!(close(ln_gamma_half(1), 0.5 * PI.ln(), 1e-15));
        assert!(close(ln_gamma_half(10), 24f64.ln(), 1e-15));
    }
}
