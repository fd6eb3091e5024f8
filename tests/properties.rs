//! Properties of the kNN estimators over the data networks really produce:
//! clipped and rounded values, constant columns, point masses, offsets up to
//! 1e7, outliers, duplicated columns, multi-class and rare-class labels
//! (issues #17 and #14 item 5). Every case is generated here from fixed
//! seeds as f64 source values and loaded with `Dataset::from_f64`, the path
//! of float64 files.
//!
//! Asserted: symmetry of KSG (bitwise), row-permutation invariance,
//! translation invariance, 0 ≤ I(·;V) ≤ H(V) for discrete V, I(X;Y|X) = 0,
//! agreement with noise-free f64 references of KSG-1, Kozachenko–Leonenko,
//! Ross and Frenzel–Pompe written below (O(n²) loops), and the GPU on the
//! same tie-broken input.
//!
//! Exactness: "dyadic" data are multiples of 2^-20 within ±8 (at most 23
//! bits), so f32 holds every value and every difference exactly: f32
//! distances are the f64 distances, and the engine must agree with the
//! references to f64 summation round-off.

use infoplane::data::Dataset;
use infoplane::estimators::{
    BinScheme, Binned, Cmi, Discrete, Estimate, Kde, KnnEntropy, Ksg, KsgVariant, Mixed, Symbols,
};
use infoplane::kernels::gpu_engine_for_tests;
use infoplane::special::digamma;
use infoplane::Engine;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

// ---- tolerances -------------------------------------------------------------

/// The same counts summed in f64 in another order (or a different grouping
/// of the same terms): round-off of sums of a few hundred digammas.
const SUM_ROUNDOFF: f64 = 1e-12;
/// Spread allowed between two tie-breakings (another seed, or a row order
/// that deals the copies differently), in standard deviations of the
/// estimate over seeds 0..SEEDS measured in the test.
const TIE_SDS: f64 = 6.0;
/// Seeds used to measure that spread.
const SEEDS: u64 = 7;
/// Plug-in estimates (binned, discrete) against their exact bound H(V).
const PLUGIN_BOUND: f64 = 1e-12;
/// Ross's estimate against 0 ≤ I(X;Y) ≤ H(Y) at n = 1000 with k = 3: its
/// standard deviation on independent data at this n is about 0.012 nats
/// (scikit-learn's noise, measured with NumPy over 8 draws: 0.007 at
/// n = 4000, scaling as n^-1/2), and its bias there is below 0.01; 0.05 is
/// about four standard deviations.
const MIXED_BOUND: f64 = 0.05;
/// Our Ross estimate (mean over 4 tie-breaking seeds) against the f64
/// reference with scikit-learn's noise (mean over 4 noise draws) at
/// n = 4000: each side's standard deviation over draws is below 0.008
/// nats (NumPy, 8 draws), so the difference of the two means has a
/// standard deviation below 0.006; 0.025 is four of them.
const SKLEARN_TOL: f64 = 0.025;
/// I(X;Y|X) when X has ties (values on a 0.25 grid, about 40 copies each at
/// n = 1000): both copies of X are broken alike, so the estimate is
/// ψ(k) − ⟨ψ(n_yz + 1)⟩ ≥ 0, above 0 only where another point lies exactly
/// at the k-th distance; a few such points at n = 1000 give well under 0.01.
const CMI_TIED: f64 = 0.01;
/// KSG-1 on ReLU atoms against NPEET's 1e-10 noise in f64 (means of two
/// draws each, n = 1000, 4 + 4 dimensions): measured 0.722 against 0.720;
/// atoms spread finer than f32 resolves (2^-60 steps) gave 0.762, so half
/// that excursion still separates the two.
const NPEET_ATOMS: f64 = 0.02;
/// #14 item 5: KSG-1's spread over seeds 0..7 on heavy-tailed data.
const SEED_SPREAD: f64 = 1e-3;
/// Entropy of a·X against H(X) + d ln a when a·X is stored rescaled: each
/// k-th distance is rounded to f32 once more (relative error ≤ 2^-24,
/// ≤ 6e-8 in its log), so the mean of logs moves by less than 1e-7 per
/// column.
const RESCALE_TOL: f64 = 1e-6;

// ---- data ---------------------------------------------------------------------

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn normal(r: &mut ChaCha8Rng) -> f64 {
    r.sample(StandardNormal)
}

/// Rounds to a multiple of 2^-20 within ±8: f32 holds it and every
/// difference of two such values exactly.
fn dyadic(v: f64) -> f64 {
    (v.clamp(-7.9, 7.9) * 1048576.0).round() / 1048576.0
}

/// Multiples of 2^-16 whose sum is exactly 0 (the last value takes minus the
/// others' sum): the f64 mean is 0, so an offset c is centred away exactly
/// (origin c) and the stored values are these, at every offset.
fn dyadic_zero_mean(m: &Mat) -> Mat {
    let mut v: Vec<f64> =
        m.v.iter()
            .map(|x| (x.clamp(-7.9, 7.9) * 65536.0).round() / 65536.0)
            .collect();
    let last = v.len() - 1;
    v[last] = -v[..last].iter().sum::<f64>();
    Mat { v, ..m.clone() }
}

/// An `n × d` matrix of f64 source values, row-major.
#[derive(Clone, Debug)]
struct Mat {
    v: Vec<f64>,
    n: usize,
    d: usize,
}

impl Mat {
    fn row(&self, i: usize) -> &[f64] {
        &self.v[i * self.d..(i + 1) * self.d]
    }
    fn rows(&self) -> Vec<Vec<f64>> {
        (0..self.n).map(|i| self.row(i).to_vec()).collect()
    }
    fn map(&self, mut f: impl FnMut(f64) -> f64) -> Mat {
        Mat {
            v: self.v.iter().map(|&x| f(x)).collect(),
            n: self.n,
            d: self.d,
        }
    }
    fn ds(&self, name: &str) -> Dataset {
        Dataset::from_f64(name, &self.v, self.n, self.d).unwrap()
    }
    fn hstack(&self, o: &Mat) -> Mat {
        let mut v = Vec::with_capacity(self.v.len() + o.v.len());
        for i in 0..self.n {
            v.extend_from_slice(self.row(i));
            v.extend_from_slice(o.row(i));
        }
        Mat {
            v,
            n: self.n,
            d: self.d + o.d,
        }
    }
    fn permuted(&self, p: &[usize]) -> Mat {
        Mat {
            v: p.iter().flat_map(|&i| self.row(i).to_vec()).collect(),
            n: self.n,
            d: self.d,
        }
    }
}

/// d pairs (x_c, y_c) with correlation ρ, f64.
fn gauss_pair(n: usize, d: usize, rho: f64, seed: u64) -> (Mat, Mat) {
    let mut r = rng(seed);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for _ in 0..n * d {
        let a = normal(&mut r);
        x.push(a);
        y.push(rho * a + (1.0 - rho * rho).sqrt() * normal(&mut r));
    }
    (Mat { v: x, n, d }, Mat { v: y, n, d })
}

fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut r = rng(seed);
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        p.swap(i, r.random_range(0..=i));
    }
    p
}

/// Labels: `classes` classes, the last one rare (`rare` of the rows) when given.
fn labels(n: usize, classes: u32, rare: Option<f64>, seed: u64) -> Vec<u32> {
    let mut r = rng(seed);
    (0..n)
        .map(|_| match rare {
            Some(p) if r.random::<f64>() < p => classes - 1,
            Some(_) => r.random_range(0..classes - 1),
            None => r.random_range(0..classes),
        })
        .collect()
}

/// X that depends on the labels: class mean plus noise.
fn labelled(y: &[u32], spread: f64, seed: u64) -> Mat {
    let mut r = rng(seed);
    Mat {
        v: y.iter()
            .map(|&c| dyadic(c as f64 * 0.7 + spread * normal(&mut r)))
            .collect(),
        n: y.len(),
        d: 1,
    }
}

/// Whether every column's values are distinct.
fn tie_free(m: &Mat) -> bool {
    m.ds("check").tie_report().tied == 0
}

// ---- noise-free f64 references, O(n²) -------------------------------------------

fn cheb(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

fn kth(mut d: Vec<f64>, k: usize) -> f64 {
    *d.select_nth_unstable_by(k - 1, f64::total_cmp).1
}

fn strict_count(m: &[Vec<f64>], i: usize, r: f64) -> usize {
    (0..m.len())
        .filter(|&j| j != i && cheb(&m[i], &m[j]) < r)
        .count()
}

fn cat(a: &[Vec<f64>], b: &[Vec<f64>]) -> Vec<Vec<f64>> {
    a.iter()
        .zip(b)
        .map(|(p, q)| [p.clone(), q.clone()].concat())
        .collect()
}

/// Kraskov et al. eq. 8.
fn ref_ksg1(x: &[Vec<f64>], y: &[Vec<f64>], k: usize) -> f64 {
    let n = x.len();
    let z = cat(x, y);
    let (mut sx, mut sy) = (0.0, 0.0);
    for i in 0..n {
        let eps = kth(
            (0..n)
                .filter(|&j| j != i)
                .map(|j| cheb(&z[i], &z[j]))
                .collect(),
            k,
        );
        sx += digamma((strict_count(x, i, eps) + 1) as f64);
        sy += digamma((strict_count(y, i, eps) + 1) as f64);
    }
    digamma(k as f64) + digamma(n as f64) - (sx + sy) / n as f64
}

/// Kozachenko–Leonenko with the max-norm (unit ball volume 2^d).
fn ref_kl(x: &[Vec<f64>], k: usize) -> f64 {
    let n = x.len();
    let d = x[0].len() as f64;
    let mut s = 0.0;
    for i in 0..n {
        s += kth(
            (0..n)
                .filter(|&j| j != i)
                .map(|j| cheb(&x[i], &x[j]))
                .collect(),
            k,
        )
        .ln();
    }
    digamma(n as f64) - digamma(k as f64) + d * 2f64.ln() + d * s / n as f64
}

/// Ross eq. 2 as scikit-learn's `_compute_mi_cd` (labels seen once dropped).
fn ref_ross(x: &[Vec<f64>], y: &[u32], k: usize) -> f64 {
    let n = x.len();
    let mut counts = std::collections::HashMap::new();
    for &c in y {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let count_of = |c: u32| counts[&c];
    let kept: Vec<usize> = (0..n).filter(|&i| count_of(y[i]) > 1).collect();
    let (mut sk, mut sl, mut sm) = (0.0, 0.0, 0.0);
    for &i in &kept {
        let same: Vec<f64> = kept
            .iter()
            .filter(|&&j| j != i && y[j] == y[i])
            .map(|&j| cheb(&x[i], &x[j]))
            .collect();
        let ki = k.min(same.len());
        let r = kth(same, ki);
        let m = kept.iter().filter(|&&j| cheb(&x[i], &x[j]) < r).count();
        sk += digamma(ki as f64);
        sl += digamma(count_of(y[i]) as f64);
        sm += digamma(m.max(1) as f64);
    }
    let nk = kept.len() as f64;
    digamma(nk) + (sk - sl - sm) / nk
}

/// Frenzel–Pompe.
fn ref_cmi(x: &[Vec<f64>], y: &[Vec<f64>], z: &[Vec<f64>], k: usize) -> f64 {
    let n = x.len();
    let all = cat(&cat(x, y), z);
    let (xz, yz) = (cat(x, z), cat(y, z));
    let mut s = 0.0;
    for i in 0..n {
        let eps = kth(
            (0..n)
                .filter(|&j| j != i)
                .map(|j| cheb(&all[i], &all[j]))
                .collect(),
            k,
        );
        s += digamma((strict_count(&xz, i, eps) + 1) as f64)
            + digamma((strict_count(&yz, i, eps) + 1) as f64)
            - digamma((strict_count(z, i, eps) + 1) as f64);
    }
    digamma(k as f64) - s / n as f64
}

/// Ross in f64 on data prepared as scikit-learn's `mutual_info_classif`
/// does: each column divided by its standard deviation (no centring), then
/// 1e-10 · max(1, mean |x|) Gaussian noise.
fn ref_ross_sklearn(x: &Mat, y: &[u32], k: usize, seed: u64) -> f64 {
    let mut r = rng(seed);
    let mut v = x.v.clone();
    for c in 0..x.d {
        let col: Vec<f64> = (0..x.n).map(|i| x.v[i * x.d + c]).collect();
        let mean = col.iter().sum::<f64>() / x.n as f64;
        let sd = (col.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / x.n as f64).sqrt();
        let sd = if sd > 0.0 { sd } else { 1.0 };
        let mean_abs = col.iter().map(|a| (a / sd).abs()).sum::<f64>() / x.n as f64;
        for i in 0..x.n {
            v[i * x.d + c] = v[i * x.d + c] / sd + 1e-10 * mean_abs.max(1.0) * normal(&mut r);
        }
    }
    ref_ross(&Mat { v, n: x.n, d: x.d }.rows(), y, k)
}

// ---- the engine ----------------------------------------------------------------

fn ksg(x: &Dataset, y: &Dataset, v: KsgVariant, seed: u64, eng: &Engine) -> Estimate {
    Ksg::params()
        .variant(v)
        .seed(seed)
        .check()
        .unwrap()
        .estimate_datasets(x, y, eng)
        .unwrap()
}

fn mixed(x: &Dataset, y: &[u32], seed: u64, eng: &Engine) -> f64 {
    Mixed::params()
        .seed(seed)
        .check()
        .unwrap()
        .estimate_dataset(x, &Symbols::from_labels(y), eng)
        .unwrap()
        .value
}

fn cmi(x: &Dataset, y: &Dataset, z: &Dataset, seed: u64, eng: &Engine) -> f64 {
    Cmi::params()
        .seed(seed)
        .check()
        .unwrap()
        .estimate_datasets(x, y, z, eng)
        .unwrap()
        .value
}

fn kl(x: &Dataset, eng: &Engine) -> Result<Estimate, infoplane::Error> {
    KnnEntropy::params().check()?.estimate_dataset(x, eng)
}

fn h_labels(y: &[u32]) -> f64 {
    Discrete::params()
        .check()
        .unwrap()
        .entropy(&Symbols::from_labels(y))
        .unwrap()
        .value
}

fn sd(v: &[f64]) -> f64 {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|a| (a - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

/// A named X, Y pair of one data family.
struct Family {
    name: &'static str,
    x: Mat,
    y: Mat,
    ties: bool,
}

/// The families, n rows each. Y is continuous and depends on X. A family
/// counts as tied when any column holds a repeated value.
fn families(n: usize, seed: u64) -> Vec<Family> {
    let mut fs = family_data(n, seed);
    for f in fs.iter_mut() {
        f.ties |= !(tie_free(&f.x) && tie_free(&f.y));
    }
    fs
}

fn family_data(n: usize, seed: u64) -> Vec<Family> {
    let (g, h) = gauss_pair(n, 1, 0.8, seed);
    let (g2, h2) = gauss_pair(n, 2, 0.6, seed + 1);
    let g = g.map(dyadic);
    let h = h.map(dyadic);
    let mut outlier = g.clone();
    outlier.v[n / 3] = 1e6;
    let constant = g.map(|_| 1e6);
    vec![
        Family {
            name: "gaussian",
            x: g.clone(),
            y: h.clone(),
            ties: false,
        },
        Family {
            name: "gaussian 2+2",
            x: g2.map(dyadic),
            y: h2.map(dyadic),
            ties: false,
        },
        Family {
            name: "clipped",
            x: g.map(|v| v.clamp(-0.8, 0.8)),
            y: h.clone(),
            ties: true,
        },
        Family {
            name: "rounded",
            x: g.map(|v| (v * 10.0).round() / 10.0),
            y: h.map(|v| (v * 10.0).round() / 10.0),
            ties: true,
        },
        Family {
            name: "relu",
            x: g.map(|v| (v - 0.3).max(0.0)),
            y: h.clone(),
            ties: true,
        },
        Family {
            name: "constant column",
            x: g.hstack(&constant),
            y: h.clone(),
            ties: true,
        },
        Family {
            name: "duplicated column",
            x: g.hstack(&g),
            y: h.clone(),
            ties: false,
        },
        Family {
            name: "outlier",
            x: outlier,
            y: h.clone(),
            ties: false,
        },
        Family {
            name: "offset 1e7",
            x: g.map(|v| v + 1e7),
            y: h.map(|v| v - 3e6),
            ties: false,
        },
    ]
}

// ---- symmetry, permutation, translation -------------------------------------------

#[test]
fn ksg_is_symmetric_bitwise() {
    let cpu = Engine::cpu();
    for f in families(300, 1) {
        let (x, y) = (f.x.ds("x"), f.y.ds("y"));
        for v in [KsgVariant::Ksg1, KsgVariant::Ksg2] {
            let a = ksg(&x, &y, v, 0, &cpu).value;
            let b = ksg(&y, &x, v, 0, &cpu).value;
            assert_eq!(a.to_bits(), b.to_bits(), "{} {v:?}: {a} vs {b}", f.name);
        }
    }
}

#[test]
fn row_permutations_change_nothing_but_the_tie_breaking() {
    let cpu = Engine::cpu();
    let n = 300;
    for f in families(n, 2) {
        let p = permutation(n, 99);
        let (x, y) = (f.x.ds("x"), f.y.ds("y"));
        let (xp, yp) = (f.x.permuted(&p).ds("x"), f.y.permuted(&p).ds("y"));
        for v in [KsgVariant::Ksg1, KsgVariant::Ksg2] {
            let a = ksg(&x, &y, v, 0, &cpu).value;
            let b = ksg(&xp, &yp, v, 0, &cpu).value;
            let tol = if f.ties {
                let spread: Vec<f64> = (0..SEEDS).map(|s| ksg(&x, &y, v, s, &cpu).value).collect();
                TIE_SDS * sd(&spread) + SUM_ROUNDOFF
            } else {
                SUM_ROUNDOFF
            };
            assert!(
                (a - b).abs() <= tol,
                "{} {v:?}: {a} vs permuted {b} (tolerance {tol:e})",
                f.name
            );
        }
    }
}

#[test]
fn offsets_up_to_1e7_change_nothing() {
    // Dyadic data: every offset either leaves x + c an f32 number (no
    // centring, exact differences) or is centred away exactly in f64, so
    // every estimate is bitwise the same at every offset.
    let cpu = Engine::cpu();
    let n = 256;
    // The first seed whose draws hold no repeated value (2^-16 steps repeat
    // now and then at this n).
    let (x, y, z) = (3..)
        .map(|s| {
            let (x, y) = gauss_pair(n, 1, 0.8, s);
            let (z, _) = gauss_pair(n, 1, 0.0, s + 1000);
            (
                dyadic_zero_mean(&x),
                dyadic_zero_mean(&y),
                dyadic_zero_mean(&z),
            )
        })
        .find(|(x, y, z)| tie_free(x) && tie_free(y) && tie_free(z))
        .unwrap();
    let lab = labels(n, 3, None, 5);
    let base = |c: f64| {
        let xs = x.map(|v| v + c).ds("x");
        let ys = y.map(|v| v - c / 4.0).ds("y");
        let zs = z.map(|v| v + 2.0 * c).ds("z");
        vec![
            ksg(&xs, &ys, KsgVariant::Ksg1, 0, &cpu).value,
            ksg(&xs, &ys, KsgVariant::Ksg2, 0, &cpu).value,
            kl(&xs, &cpu).unwrap().value,
            mixed(&xs, &lab, 0, &cpu),
            cmi(&xs, &ys, &zs, 0, &cpu),
        ]
    };
    let at0 = base(0.0);
    for c in [1e3, -5e4, 1e6, -3e6, 1e7] {
        for (k, (a, b)) in at0.iter().zip(base(c)).enumerate() {
            assert_eq!(
                a.to_bits(),
                b.to_bits(),
                "estimate {k} at offset {c}: {a} vs {b}"
            );
        }
    }
    // With ties (values rounded to 0.1), an offset moves the copies to
    // another f32 grid: the same up to the tie-breaking's spread.
    let xr = x.map(|v| (v * 10.0).round() / 10.0);
    let spread: Vec<f64> = (0..SEEDS)
        .map(|s| ksg(&xr.ds("x"), &y.ds("y"), KsgVariant::Ksg1, s, &cpu).value)
        .collect();
    let tol = TIE_SDS * sd(&spread) + SUM_ROUNDOFF;
    for c in [1e3, 1e7] {
        let v = ksg(
            &xr.map(|v| v + c).ds("x"),
            &y.ds("y"),
            KsgVariant::Ksg1,
            0,
            &cpu,
        )
        .value;
        assert!(
            (v - spread[0]).abs() <= tol,
            "rounded at {c}: {v} vs {} ± {tol:e}",
            spread[0]
        );
    }
}

#[test]
fn far_offsets_of_general_f64_data_agree_with_the_f64_reference() {
    // #17 item 3: N(0, 1) + 1e6 or 1e7 in float64 gave KSG-1 0.68 / 0.0003
    // where 0.78 is right; the cast to f32 took the spread's bits.
    let cpu = Engine::cpu();
    let n = 300;
    let (x, y) = gauss_pair(n, 1, 0.85, 6);
    let want = ref_ksg1(&x.rows(), &y.rows(), 3);
    for c in [0.0, 1e6, 1e7, -1e7] {
        let got = ksg(
            &x.map(|v| v + c).ds("x"),
            &y.ds("y"),
            KsgVariant::Ksg1,
            0,
            &cpu,
        )
        .value;
        // Storing x − mean in f32 rounds each value once (2^-24 relative),
        // which can flip a count where a distance meets a radius to within
        // that rounding: a flip moves the estimate by at most 1/n.
        assert!(
            (got - want).abs() <= 2.0 / n as f64,
            "offset {c}: {got} vs {want}"
        );
    }
}

// ---- bounds ---------------------------------------------------------------------------

#[test]
fn discrete_sides_stay_within_zero_and_their_entropy() {
    let cpu = Engine::cpu();
    let n = 1000;
    for (name, lab) in [
        ("two classes", labels(n, 2, None, 7)),
        ("ten classes", labels(n, 10, None, 8)),
        ("rare class 3 %", labels(n, 4, Some(0.03), 9)),
    ] {
        let h = h_labels(&lab);
        let informative = labelled(&lab, 0.3, 10);
        let (g, _) = gauss_pair(n, 1, 0.0, 11);
        let xs: Vec<(&str, Mat)> = vec![
            ("informative", informative.clone()),
            ("clipped", informative.map(|v| v.clamp(0.5, 1.5))),
            ("rounded", informative.map(|v| v.round())),
            ("constant", informative.map(|_| 0.37)),
            ("independent relu", g.map(|v| v.max(0.0))),
            ("offset 1e7", informative.map(|v| v + 1e7)),
        ];
        for (xn, x) in xs {
            let t = x.ds("t");
            let m = mixed(&t, &lab, 0, &cpu);
            assert!(
                m >= -MIXED_BOUND && m <= h + MIXED_BOUND,
                "{name}, {xn}: mixed {m} outside [0, H(Y) = {h}]"
            );
            let b = Binned::params()
                .check()
                .unwrap()
                .mi_labels(&t, &Symbols::from_labels(&lab), &cpu)
                .unwrap()
                .value;
            assert!(
                b >= -PLUGIN_BOUND && b <= h + PLUGIN_BOUND,
                "{name}, {xn}: binned {b} outside [0, {h}]"
            );
            let s = Symbols::from_exact_rows(&t);
            let d = Discrete::params()
                .check()
                .unwrap()
                .mutual_info(&s, &Symbols::from_labels(&lab))
                .unwrap()
                .value;
            assert!(
                d >= -PLUGIN_BOUND && d <= h + PLUGIN_BOUND,
                "{name}, {xn}: discrete {d} outside [0, {h}]"
            );
        }
    }
}

#[test]
fn mixed_on_point_masses_matches_scikit_learns_noise() {
    // #17 item 1: T = clip(z, −1, 1), z = (2y − 1)/2 + 1.5 N(0, 1), binary y,
    // n = 4000 printed 1.11 > H(Y); a constant T printed 2.14; T rounded to
    // one decimal printed 1.00.
    let cpu = Engine::cpu();
    let n = 4000;
    let y = labels(n, 2, None, 12);
    let mut r = rng(13);
    let z: Vec<f64> = y
        .iter()
        .map(|&c| (2.0 * c as f64 - 1.0) / 2.0 + 1.5 * normal(&mut r))
        .collect();
    let z = Mat { v: z, n, d: 1 };
    let h = h_labels(&y);
    for (name, t) in [
        ("clipped", z.map(|v| v.clamp(-1.0, 1.0))),
        ("constant", z.map(|_| 0.37)),
        ("rounded", z.map(|v| (v * 10.0).round() / 10.0)),
    ] {
        let ds = t.ds("t");
        let ours: f64 = (0..4).map(|s| mixed(&ds, &y, s, &cpu)).sum::<f64>() / 4.0;
        let want: f64 = (0..4)
            .map(|s| ref_ross_sklearn(&t, &y, 3, 100 + s))
            .sum::<f64>()
            / 4.0;
        assert!(
            (ours - want).abs() < SKLEARN_TOL,
            "{name}: {ours} vs scikit-learn's noise {want}"
        );
        assert!(ours < h, "{name}: {ours} ≥ H(Y) = {h}");
    }
}

// ---- identities and references ---------------------------------------------------------

#[test]
fn cmi_given_x_itself_is_zero() {
    // #17 item 5: I(X;Y|Z = X) printed −0.077 at n = 1000 and −0.080 at
    // n = 50,000: independent noise on the two copies of X.
    let cpu = Engine::cpu();
    let n = 1000;
    let (x, y) = gauss_pair(n, 1, 0.7, 14);
    let (xs, ys) = (x.ds("x"), y.ds("y"));
    let got = cmi(&xs, &ys, &x.ds("z"), 0, &cpu);
    let stored = |d: &Dataset| -> Vec<Vec<f64>> {
        (0..d.n())
            .map(|i| (0..d.d()).map(|c| d.get(i, c) as f64).collect())
            .collect()
    };
    let want = ref_cmi(&stored(&xs), &stored(&ys), &stored(&xs), 3);
    assert!(want.abs() <= SUM_ROUNDOFF, "reference {want}");
    assert!(got.abs() <= SUM_ROUNDOFF, "{got}");
    // With ties, both copies of X are broken alike: the estimate stays at or
    // above 0 (only ties in distance can lower a count) and near it.
    let xr = x.map(|v| (v * 4.0).round() / 4.0);
    let got = cmi(&xr.ds("x"), &ys, &xr.ds("z"), 0, &cpu);
    assert!((-SUM_ROUNDOFF..CMI_TIED).contains(&got), "rounded: {got}");
}

#[test]
fn tie_free_data_agrees_with_the_f64_references() {
    let cpu = Engine::cpu();
    for (seed, n, d) in [
        (20u64, 60usize, 1usize),
        (21, 150, 2),
        (22, 300, 1),
        (23, 200, 3),
    ] {
        let (x, y) = gauss_pair(n, d, 0.6, seed);
        let (x, y) = (x.map(dyadic), y.map(dyadic));
        assert!(tie_free(&x) && tie_free(&y), "seed {seed}");
        let (xs, ys) = (x.ds("x"), y.ds("y"));
        let got = ksg(&xs, &ys, KsgVariant::Ksg1, 0, &cpu);
        let want = ref_ksg1(&x.rows(), &y.rows(), 3);
        assert!(
            (got.value - want).abs() <= SUM_ROUNDOFF,
            "ksg1 n={n}: {} vs {want}",
            got.value
        );
        assert_eq!(got.diagnostics.noise, None);
        let h = kl(&xs, &cpu).unwrap().value;
        let want = ref_kl(&x.rows(), 3);
        assert!((h - want).abs() <= SUM_ROUNDOFF, "kl n={n}: {h} vs {want}");
        for (classes, rare) in [(2, None), (5, None), (3, Some(0.05))] {
            let lab = labels(n, classes, rare, seed + 50);
            let got = mixed(&xs, &lab, 0, &cpu);
            let want = ref_ross(&x.rows(), &lab, 3);
            assert!(
                (got - want).abs() <= SUM_ROUNDOFF,
                "mixed n={n} {classes} classes: {got} vs {want}"
            );
        }
    }
}

#[test]
fn relu_atoms_in_ksg_match_npeets_infinitesimal_noise() {
    // Atoms at 0 in several ReLU units: f32 distances from a copy to the
    // rest of its column must still tell the copies apart, or whole atoms
    // tie at a k-th distance. The reference is KSG-1 in f64 with NPEET's
    // noise (1e-10 times a uniform draw added to every value).
    let cpu = Engine::cpu();
    let n = 1000;
    let (g, h) = gauss_pair(n, 4, 0.7, 80);
    let relu = g.map(|v| v.max(0.0));
    let (xs, ys) = (relu.ds("x"), h.ds("y"));
    let ours: f64 = (0..2)
        .map(|s| ksg(&xs, &ys, KsgVariant::Ksg1, s, &cpu).value)
        .sum::<f64>()
        / 2.0;
    let mut r = rng(81);
    let mut jitter = |m: &Mat| m.map(|v| v + 1e-10 * r.random::<f64>());
    let want: f64 = (0..2)
        .map(|_| ref_ksg1(&jitter(&relu).rows(), &jitter(&h).rows(), 3))
        .sum::<f64>()
        / 2.0;
    assert!(
        (ours - want).abs() < NPEET_ATOMS,
        "{ours} vs NPEET's noise {want}"
    );
}

#[test]
fn outliers_and_constant_columns_move_nothing() {
    // #17 item 4: one value of 1e6 among the rows moved KSG-1 from 0.78 to
    // 0.53 (the noise followed the column's largest value); a constant
    // column of 1e6 moved KSG-2 from 0.78 to 0.69.
    let cpu = Engine::cpu();
    let n = 300;
    let (x, y) = gauss_pair(n, 1, 0.85, 30);
    let (x, y) = (x.map(dyadic), y.map(dyadic));
    let ys = y.ds("y");
    for big in [1e6, 1e7] {
        let mut xo = x.clone();
        xo.v[7] = big;
        let got = ksg(&xo.ds("x"), &ys, KsgVariant::Ksg1, 0, &cpu).value;
        let want = ref_ksg1(&xo.rows(), &y.rows(), 3);
        // Only the outlier's own distances are rounded (f32's step at 1e6
        // is 0.06), which can change its own count: at most (ψ(n) − ψ(1))/n.
        let own = (digamma(n as f64) - digamma(1.0)) / n as f64;
        assert!((got - want).abs() <= own, "outlier {big}: {got} vs {want}");
    }
    for v in [KsgVariant::Ksg1, KsgVariant::Ksg2] {
        let alone = ksg(&x.ds("x"), &ys, v, 0, &cpu).value;
        for c in [0.0, -3.5, 1e6] {
            let with = x.hstack(&x.map(|_| c)).ds("x");
            let got = ksg(&with, &ys, v, 0, &cpu).value;
            assert_eq!(
                alone.to_bits(),
                got.to_bits(),
                "{v:?}, constant {c}: {got} vs {alone}"
            );
        }
        // A duplicated column is broken alike in both copies: nothing changes.
        let twice = ksg(&x.hstack(&x).ds("x"), &ys, v, 0, &cpu).value;
        assert_eq!(alone.to_bits(), twice.to_bits(), "{v:?} duplicated column");
        let xr = x.map(|v| (v * 8.0).round() / 8.0);
        let once = ksg(&xr.ds("x"), &ys, v, 0, &cpu).value;
        let twice = ksg(&xr.hstack(&xr).ds("x"), &ys, v, 0, &cpu).value;
        assert_eq!(
            once.to_bits(),
            twice.to_bits(),
            "{v:?} duplicated rounded column"
        );
    }
}

#[test]
fn scales_far_from_one_keep_the_entropy() {
    // #17 item 3: x · 1e-300 underflowed to zeros (entropy −13.1 instead of
    // about −689) and x · 1e300 was reported as holding inf.
    let cpu = Engine::cpu();
    let n = 500;
    let (x, _) = gauss_pair(n, 2, 0.0, 40);
    let x = x.map(dyadic);
    let h = kl(&x.ds("x"), &cpu).unwrap().value;
    for a in [1e-300, 1e-30, 1e30, 1e300] {
        let scaled = x.map(|v| v * a).ds("x");
        let want = h + 2.0 * a.ln();
        let got = kl(&scaled, &cpu).unwrap().value;
        assert!(
            (got - want).abs() <= RESCALE_TOL,
            "a = {a:e}: {got} vs {want}"
        );
        let std = KnnEntropy::params()
            .standardize(true)
            .check()
            .unwrap()
            .estimate_dataset(&scaled, &cpu)
            .unwrap()
            .value;
        let std0 = KnnEntropy::params()
            .standardize(true)
            .check()
            .unwrap()
            .estimate_dataset(&x.ds("x"), &cpu)
            .unwrap()
            .value;
        assert!(
            (std - (std0 + 2.0 * a.ln())).abs() <= RESCALE_TOL,
            "standardised a = {a:e}"
        );
    }
}

#[test]
fn point_masses_are_errors_for_entropy_and_notes_for_mi() {
    // #17 item 6: an all-zero column printed −13.1 (truth −∞), ReLU data with
    // 90 % zeros −10.8, set by the noise amplitude.
    let cpu = Engine::cpu();
    let n = 500;
    let (g, h) = gauss_pair(n, 1, 0.8, 50);
    let relu = g.map(|v| (v - 1.28).max(0.0));
    let zeros = relu.v.iter().filter(|&&v| v == 0.0).count();
    let e = kl(&relu.ds("relu.npy"), &cpu).unwrap_err().to_string();
    let share = format!("{:.1} % of rows", 100.0 * zeros as f64 / n as f64);
    assert!(
        e.contains("relu.npy") && e.contains(&format!("{zeros} copies of 0")) && e.contains(&share),
        "{e}"
    );
    assert!(e.contains("binned") && e.contains("mixed"), "{e}");
    let est = ksg(&relu.ds("relu.npy"), &h.ds("y"), KsgVariant::Ksg1, 0, &cpu);
    assert!(est
        .diagnostics
        .notes
        .iter()
        .any(|m| m.contains("point mass") && m.contains(&share)));
    // A few chance collisions are no point mass: no error, and the note says
    // how many values were equal, not "many copies".
    let mut few = g.map(dyadic);
    few.v[1] = few.v[0];
    let est = kl(&few.ds("x"), &cpu).unwrap();
    let note = est.diagnostics.notes.join(" ");
    assert!(
        note.contains("1 row equals") && note.contains("2 values"),
        "{note}"
    );
    assert!(!note.contains("many"), "{note}");
    assert!((1..=2).contains(&est.diagnostics.ties[0].moved));
}

#[test]
fn heavy_tails_do_not_make_the_seed_matter() {
    // #14 item 5: Student-t with one degree of freedom (Cauchy marginals),
    // 1 + 1 dimensions, n = 5000: KSG-1 moved by 0.008 nats between seeds
    // 0..7 when the noise followed each column's largest value.
    let cpu = Engine::cpu();
    let n = 5000;
    let mut r = rng(60);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let (a, b) = (normal(&mut r), normal(&mut r));
        let w = normal(&mut r).powi(2);
        x.push((a / w.sqrt()) as f32);
        y.push(((0.5 * a + 0.75f64.sqrt() * b) / w.sqrt()) as f32);
    }
    let xs = Dataset::new("x", x, n, 1).unwrap();
    let ys = Dataset::new("y", y, n, 1).unwrap();
    let v: Vec<f64> = (0..8)
        .map(|s| ksg(&xs, &ys, KsgVariant::Ksg1, s, &cpu).value)
        .collect();
    let spread =
        v.iter().cloned().fold(f64::MIN, f64::max) - v.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread < SEED_SPREAD, "seeds 0..7: {v:?}");
    if xs.tie_report().tied + ys.tie_report().tied == 0 {
        assert_eq!(spread, 0.0, "tie-free data: the seed must not matter");
    }
}

#[test]
fn kde_and_binning_see_the_source_values() {
    // KDE is translation invariant but its σ² is absolute; bin edges and
    // widths are absolute. Data stored centred or scaled by a power of two
    // must give what the source values give.
    let cpu = Engine::cpu();
    let n = 256;
    let (t, _) = gauss_pair(n, 2, 0.0, 90);
    let t = dyadic_zero_mean(&t.map(|v| v * 0.3));
    let lab = labels(n, 2, None, 91);
    let ys = Symbols::from_labels(&lab);
    let kde = Kde::params().check().unwrap();
    let b0 = kde.bounds(&t.ds("t"), Some(&ys), &cpu).unwrap();
    // An offset is centred away exactly (zero-mean dyadic data): same bits.
    let b7 = kde
        .bounds(&t.map(|v| v + 1e7).ds("t"), Some(&ys), &cpu)
        .unwrap();
    assert_eq!(format!("{b0:?}"), format!("{b7:?}"));
    // 2^70 · t is stored as a power of two times t; σ² · 4^70 gives the same
    // kernel arguments, so the same I bounds, and H moves by d · 70 ln 2
    // (f64 round-off only: the logs of σ² differ by 140 ln 2).
    let big = t.map(|v| v * 2f64.powi(70)).ds("t");
    assert_ne!(big.map().exponent(), 0);
    let kb = Kde::params()
        .variance(1e-3 * 2f64.powi(140))
        .check()
        .unwrap()
        .bounds(&big, Some(&ys), &cpu)
        .unwrap();
    let shift = 2.0 * 70.0 * 2f64.ln();
    for (a, b, s) in [
        (kb.i_xt_upper, b0.i_xt_upper, 0.0),
        (kb.i_xt_lower, b0.i_xt_lower, 0.0),
        (kb.i_ty_upper.unwrap(), b0.i_ty_upper.unwrap(), 0.0),
        (kb.i_ty_lower.unwrap(), b0.i_ty_lower.unwrap(), 0.0),
        (kb.h_upper, b0.h_upper, shift),
        (kb.h_lower, b0.h_lower, shift),
    ] {
        assert!((a - b - s).abs() <= SUM_ROUNDOFF, "{a} vs {b} + {s}");
    }
    // Binning sees fl32 of the source values, whatever is stored.
    for (m, scheme) in [
        (t.map(|v| v + 1e3), BinScheme::Width(0.05)),
        (
            t.map(|v| v * 2f64.powi(70)),
            BinScheme::Width(2f32.powi(66)),
        ),
        (t.map(|v| v + 1e3), BinScheme::Adaptive { bins: 8 }),
    ] {
        let stored = m.ds("t");
        assert!(!stored.map().is_identity());
        let plain = Dataset::new("t", m.v.iter().map(|&v| v as f32).collect(), n, 2).unwrap();
        let b = Binned::params().scheme(scheme.clone()).check().unwrap();
        let a = b.mi_labels(&stored, &ys, &cpu).unwrap().value;
        let want = b.mi_labels(&plain, &ys, &cpu).unwrap().value;
        assert_eq!(a.to_bits(), want.to_bits(), "{scheme:?}: {a} vs {want}");
    }
}

// ---- the GPU on the same tie-broken input -------------------------------------------------

#[test]
fn gpu_matches_cpu_on_tied_families() {
    let Some(gpu) = gpu_engine_for_tests("properties::gpu_matches_cpu_on_tied_families") else {
        return;
    };
    let cpu = Engine::cpu();
    let n = 200;
    let lab = labels(n, 3, Some(0.1), 70);
    for f in families(n, 71)
        .into_iter()
        .filter(|f| f.ties || f.name == "offset 1e7")
    {
        let (x, y) = (f.x.ds("x"), f.y.ds("y"));
        for v in [KsgVariant::Ksg1, KsgVariant::Ksg2] {
            let a = ksg(&x, &y, v, 3, &cpu).value;
            let b = ksg(&x, &y, v, 3, &gpu).value;
            assert_eq!(
                a.to_bits(),
                b.to_bits(),
                "{} {v:?}: cpu {a} vs gpu {b}",
                f.name
            );
        }
        let (a, b) = (mixed(&x, &lab, 3, &cpu), mixed(&x, &lab, 3, &gpu));
        assert_eq!(
            a.to_bits(),
            b.to_bits(),
            "{} mixed: cpu {a} vs gpu {b}",
            f.name
        );
        let (a, b) = (cmi(&x, &y, &x, 3, &cpu), cmi(&x, &y, &x, 3, &gpu));
        assert_eq!(
            a.to_bits(),
            b.to_bits(),
            "{} cmi: cpu {a} vs gpu {b}",
            f.name
        );
    }
}
