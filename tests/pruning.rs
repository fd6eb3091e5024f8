//! Adversarial data for the pruned CPU scans (sorted scan, one-byte code
//! bounds, code-filtered tiles): every case against an O(n²) brute force,
//! bit for bit. k-th distances, neighbour indices (ties to the lower index)
//! and counts must be identical whatever the data does to the pruning: ties
//! everywhere, duplicate rows, constant columns, outliers that stretch the
//! code step, tight clusters far apart, sizes that are not multiples of the
//! panel, tiny n, high d, radii exactly on distances or degenerate; on both
//! plan shapes, every vector path of the machine, and 1 and 2 threads.

mod common;

use infoplane::kernels::cpu::{CpuKernels, Isa};
use infoplane::kernels::plan::Limits;
use infoplane::kernels::{Boundary, CountSpec, Kernels, KnnSpec, Metric, Norm, Rows};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

// ---- the brute force ---------------------------------------------------------

use common::{count_brute, knn_brute};

// ---- the data ------------------------------------------------------------------

/// A named n × d data set.
struct Case {
    name: String,
    n: usize,
    d: usize,
    v: Vec<f32>,
}

fn case(name: &str, n: usize, d: usize, f: impl FnMut(usize, usize) -> f32) -> Case {
    let mut f = f;
    let v = (0..n * d).map(|i| f(i / d, i % d)).collect();
    Case {
        name: format!("{name} n={n} d={d}"),
        n,
        d,
        v,
    }
}

fn cases() -> Vec<Case> {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let mut out = Vec::new();
    for (n, d) in [
        (1, 1),
        (2, 3),
        (5, 2),
        (33, 4),
        (47, 9),
        (100, 20),
        (257, 40),
    ] {
        // many exact ties in every coordinate and distance
        let mut g = ChaCha8Rng::seed_from_u64(rng.random());
        out.push(case("grid", n, d, |_, _| {
            g.random_range(-3i32..=3) as f32 * 0.5
        }));
    }
    for (n, d) in [(35usize, 6usize), (96, 20), (130, 3)] {
        // every row three times (zero distances, k-th distance 0 for k <= 2)
        let mut g = ChaCha8Rng::seed_from_u64(rng.random());
        let base: Vec<f32> = (0..n.div_ceil(3) * d)
            .map(|_| g.random_range(-1.0f32..1.0))
            .collect();
        out.push(case("triplicates", n, d, |i, c| base[(i / 3) * d + c]));
    }
    {
        // some columns constant, and all of them
        let mut g = ChaCha8Rng::seed_from_u64(rng.random());
        out.push(case("constant columns", 90, 12, |_, c| {
            if c % 3 == 0 {
                7.25
            } else {
                g.random_range(-2.0f32..2.0)
            }
        }));
        out.push(case("all constant", 50, 5, |_, _| -0.5));
        out.push(case("signed zeros", 40, 3, |i, c| {
            if (i + c) % 2 == 0 {
                0.0
            } else {
                -0.0
            }
        }));
    }
    {
        // outliers: the code step is set by 1e6, the data lives in [-1, 1]
        let mut g = ChaCha8Rng::seed_from_u64(rng.random());
        out.push(case("outliers", 150, 8, |i, c| {
            if i == 3 && c == 1 {
                1e6
            } else if i == 77 {
                -3e5
            } else {
                g.random_range(-1.0f32..1.0)
            }
        }));
        // enough rows for the code range to be clipped to the bulk of each
        // column (knn), with outliers beyond it on both sides
        let mut g = ChaCha8Rng::seed_from_u64(rng.random());
        out.push(case("clipped outliers", 2500, 6, |i, c| {
            match (i % 97, c) {
                (5, 0) => 4e3,
                (6, 2) => -7e2,
                (7, _) => 50.0 + c as f32,
                _ => g.random_range(-1.0f32..1.0),
            }
        }));
        // clusters 1000 apart, 1e-3 wide (distances far below one code step)
        let mut g = ChaCha8Rng::seed_from_u64(rng.random());
        out.push(case("clusters", 200, 10, |i, c| {
            (i % 5) as f32 * 1000.0 + (c as f32) + g.random_range(0.0f32..1e-3)
        }));
        // values spanning many binades, and near-equal values one ulp apart
        let mut g = ChaCha8Rng::seed_from_u64(rng.random());
        out.push(case("binades", 120, 6, |_, _| {
            let e = g.random_range(-30i32..30);
            g.random_range(-1.0f32..1.0) * 2f32.powi(e)
        }));
        out.push(case("ulps", 64, 4, |i, c| {
            let mut x = 1.0f32;
            for _ in 0..(i * 7 + c) % 11 {
                x = x.next_up();
            }
            x
        }));
    }
    {
        // high d, few rows; and KSG-like correlated Gaussians
        let mut g = ChaCha8Rng::seed_from_u64(rng.random());
        out.push(case("high d", 70, 300, |_, _| g.random_range(-1.0f32..1.0)));
        let mut g = ChaCha8Rng::seed_from_u64(rng.random());
        let z: Vec<f32> = (0..600 * 20)
            .map(|_| {
                let u: f32 = g.random_range(f32::EPSILON..1.0);
                let v: f32 = g.random_range(0.0..1.0);
                (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
            })
            .collect();
        out.push(case("ksg joint", 600, 20, |i, c| {
            if c < 10 {
                z[i * 20 + c]
            } else {
                0.6 * z[i * 20 + c - 10] + 0.8 * z[i * 20 + c]
            }
        }));
    }
    out
}

/// Every twin configuration: plan limits × vector paths of this machine.
fn engines() -> Vec<(String, CpuKernels)> {
    let mut out = Vec::new();
    for (lname, limits) in [("cpu", Limits::cpu()), ("tiny", Limits::tiny())] {
        for isa in [Isa::Baseline, Isa::Avx2, Isa::Avx512] {
            let e = CpuKernels::with_limits(limits.clone()).with_isa(isa);
            if e.isa() == isa {
                out.push((format!("{lname}/{}", isa.name()), e));
            }
        }
    }
    out
}

/// Runs `f` on a rayon pool of `threads` threads.
fn on_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

// ---- knn -----------------------------------------------------------------------

fn check_knn(q: Rows<'_>, r: Rows<'_>, spec: &KnnSpec, what: &str) {
    let (kth, idx) = knn_brute(q, r, spec);
    for (name, e) in engines() {
        for threads in [1, 2] {
            let got = on_threads(threads, || e.knn(q, r, spec).unwrap());
            let ctx = format!("{what} {name} threads={threads} {spec:?}");
            assert_eq!(bits(&got.kth), bits(&kth), "kth: {ctx}");
            assert_eq!(got.indices.as_deref(), Some(&idx[..]), "indices: {ctx}");
        }
    }
}

#[test]
fn knn_is_exact_on_adversarial_data() {
    for c in cases() {
        let rows = Rows::new(&c.v, c.n, c.d).unwrap();
        for exclude_self in [true, false] {
            let avail = c.n - usize::from(exclude_self);
            for k in [1, 3, 8] {
                if k > avail {
                    continue;
                }
                for metric in [
                    Metric::chebyshev(),
                    Metric::blocks(Norm::Chebyshev, &[c.d / 2 + 1, c.d - c.d / 2 - 1])
                        .unwrap_or_else(|_| Metric::chebyshev()),
                ] {
                    let spec = KnnSpec {
                        k,
                        metric,
                        exclude_self,
                        want_indices: true,
                    };
                    check_knn(rows, rows, &spec, &c.name);
                }
            }
        }
    }
}

/// Queries from one case against references from another (named by the
/// start of their names), cut to the narrower width.
fn pairs_of_cases(pairs: &[(&str, &str)], mut f: impl FnMut(Rows<'_>, Rows<'_>, &str)) {
    let all = cases();
    let find = |name: &str| all.iter().find(|c| c.name.starts_with(name)).unwrap();
    for &(a, b) in pairs {
        let (qc, rc) = (find(a), find(b));
        let d = qc.d.min(rc.d);
        let qv: Vec<f32> = qc.v.chunks(qc.d).flat_map(|r| r[..d].to_vec()).collect();
        let rv: Vec<f32> = rc.v.chunks(rc.d).flat_map(|r| r[..d].to_vec()).collect();
        let q = Rows::new(&qv, qc.n, d).unwrap();
        let r = Rows::new(&rv, rc.n, d).unwrap();
        f(q, r, &format!("{} vs {}", qc.name, rc.name));
    }
}

/// Pairs of [`cases`] for the separate-set tests.
const PAIRS: [(&str, &str); 9] = [
    ("grid n=1 ", "grid n=33 "),
    ("grid n=47 ", "triplicates n=35 "),
    ("triplicates n=96 ", "triplicates n=130 "),
    ("signed zeros", "outliers"),
    ("binades", "grid n=2 "),
    ("clusters", "outliers"),
    ("clipped outliers", "ksg joint"),
    ("high d", "ksg joint"),
    ("ulps", "ulps"),
];

#[test]
fn knn_is_exact_with_separate_queries() {
    pairs_of_cases(&PAIRS, knn_separate);
}

fn knn_separate(q: Rows<'_>, r: Rows<'_>, what: &str) {
    for k in [1, 4] {
        if k > r.n() {
            continue;
        }
        let spec = KnnSpec {
            k,
            metric: Metric::chebyshev(),
            exclude_self: false,
            want_indices: true,
        };
        check_knn(q, r, &spec, what);
    }
}

// ---- radius_count --------------------------------------------------------------

/// Radii that sit on the data: the k-th distances themselves (boundary ties),
/// their neighbouring floats, and degenerate ones.
fn radii_for(rows: Rows<'_>, kind: usize) -> Vec<f32> {
    let n = rows.n();
    let k = 3.min(n.saturating_sub(1)).max(1);
    let base = if n > 1 {
        knn_brute(
            rows,
            rows,
            &KnnSpec {
                k,
                metric: Metric::chebyshev(),
                exclude_self: true,
                want_indices: false,
            },
        )
        .0
    } else {
        vec![1.0; n]
    };
    base.iter()
        .enumerate()
        .map(|(i, &r)| match (kind, i % 9) {
            (0, _) => r,
            (1, 0) => r.next_up(),
            (1, 1) => r.next_down(),
            (1, 2) => 0.0,
            (1, 3) => -1.0,
            (1, 4) => f32::INFINITY,
            (1, 5) => f32::NAN,
            (1, 6) => f32::MAX,
            (1, 7) => f32::MIN_POSITIVE,
            _ => r * 2.0,
        })
        .collect()
}

fn check_counts(q: Rows<'_>, r: Rows<'_>, radii: &[f32], spec: &CountSpec, what: &str) {
    let want = count_brute(q, r, radii, spec);
    for (name, e) in engines() {
        for threads in [1, 2] {
            let got = on_threads(threads, || e.radius_count(q, r, radii, spec).unwrap());
            assert_eq!(got, want, "{what} {name} threads={threads} {spec:?}");
        }
    }
}

#[test]
fn radius_count_is_exact_on_adversarial_data() {
    for c in cases() {
        let rows = Rows::new(&c.v, c.n, c.d).unwrap();
        for kind in [0, 1] {
            let radii = radii_for(rows, kind);
            for boundary in [Boundary::Less, Boundary::LessEqual] {
                for exclude_self in [true, false] {
                    let spec = CountSpec {
                        metric: Metric::chebyshev(),
                        boundary,
                        exclude_self,
                    };
                    check_counts(rows, rows, &radii, &spec, &c.name);
                }
            }
        }
    }
}

#[test]
fn radius_count_is_exact_with_separate_queries() {
    pairs_of_cases(&PAIRS, |q, r, what| {
        let radii = radii_for(q, 1);
        for boundary in [Boundary::Less, Boundary::LessEqual] {
            let spec = CountSpec {
                metric: Metric::chebyshev(),
                boundary,
                exclude_self: false,
            };
            check_counts(q, r, &radii, &spec, what);
        }
    });
}
