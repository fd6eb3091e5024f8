//! The fast CPU twins (register-blocked tiles, box-assisted pruning, run-time
//! ISA dispatch) against the simple brute-force twins they replaced, which live
//! here as the reference: identical k-th distances, indices (ties broken by the
//! lower reference index) and counts, on random data full of ties, for every
//! metric, both boundaries, exclude-self on and off, tiny plan limits (many
//! blocks, short panels) and sizes that are not multiples of the tile.

mod common;

use infoplane::kernels::cpu::{CpuKernels, Isa};
use infoplane::kernels::plan::{lse_combine, Limits};
use infoplane::kernels::{tolerance, Boundary, CountSpec, Kernels, KnnSpec, Metric, Norm, Rows};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

// ---- the simple twins (reference) ------------------------------------------

use common::{count_brute as count_ref, knn_brute as knn_ref};

fn kde_ref(q: Rows<'_>, r: Rows<'_>, scale: f32, exclude_self: bool) -> Vec<f32> {
    let metric = Metric::sq_euclidean();
    (0..q.n())
        .map(|i| {
            let mut acc = f32::NEG_INFINITY;
            for j in 0..r.n() {
                if exclude_self && i == j {
                    continue;
                }
                acc = lse_combine(acc, -scale * metric.distance(q.row(i), r.row(j)));
            }
            acc
        })
        .collect()
}

// ---- data --------------------------------------------------------------------

/// Values on a coarse grid (many exact ties in every coordinate and distance).
fn quantised(rng: &mut ChaCha8Rng, n: usize, d: usize, levels: i32) -> Vec<f32> {
    (0..n * d)
        .map(|_| rng.random_range(-levels..=levels) as f32 * 0.25)
        .collect()
}

fn continuous(rng: &mut ChaCha8Rng, n: usize, d: usize) -> Vec<f32> {
    (0..n * d).map(|_| rng.random_range(-3.0f32..3.0)).collect()
}

fn metrics(d: usize) -> Vec<Metric> {
    let mut m = vec![Metric::chebyshev(), Metric::sq_euclidean()];
    if d >= 2 {
        let a = d / 2;
        m.push(Metric::blocks(Norm::SqEuclidean, &[a, d - a]).unwrap());
        m.push(Metric::blocks(Norm::Chebyshev, &[a, d - a]).unwrap());
    }
    if d >= 3 {
        m.push(Metric::blocks(Norm::SqEuclidean, &[1, 1, d - 2]).unwrap());
    }
    m
}

/// Every twin configuration the tests compare: plan limits × vector paths.
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

const SIZES: [(usize, usize); 7] = [
    (1, 1),
    (2, 3),
    (17, 1),
    (37, 7),
    (64, 16),
    (203, 20),
    (150, 33),
];

// ---- knn ---------------------------------------------------------------------

fn check_knn(e: &CpuKernels, name: &str, q: Rows<'_>, r: Rows<'_>, spec: &KnnSpec) {
    let got = e.knn(q, r, spec).unwrap();
    let (kth, idx) = knn_ref(q, r, spec);
    let ctx = format!(
        "{name} nq={} nr={} d={} k={} {:?} self={}",
        q.n(),
        r.n(),
        q.d(),
        spec.k,
        spec.metric,
        spec.exclude_self
    );
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&got.kth), bits(&kth), "kth: {ctx}");
    if spec.want_indices {
        assert_eq!(got.indices.as_deref(), Some(&idx[..]), "indices: {ctx}");
    } else {
        assert_eq!(got.indices, None, "{ctx}");
    }
}

#[test]
fn knn_matches_the_simple_twin_with_ties() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for (name, e) in engines() {
        for (n, d) in SIZES {
            let data = quantised(&mut rng, n, d, 3);
            let rows = Rows::new(&data, n, d).unwrap();
            for metric in metrics(d) {
                for exclude_self in [true, false] {
                    let avail = n - usize::from(exclude_self);
                    for k in [1, 3, 5] {
                        if k > avail {
                            continue;
                        }
                        let spec = KnnSpec {
                            k,
                            metric: metric.clone(),
                            exclude_self,
                            want_indices: true,
                        };
                        check_knn(&e, &name, rows, rows, &spec);
                    }
                }
            }
        }
    }
}

#[test]
fn knn_matches_on_separate_query_and_reference_sets() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    for (name, e) in engines() {
        for (nq, nr, d) in [(1, 9, 3), (33, 70, 5), (130, 41, 20), (70, 300, 2)] {
            let qd = quantised(&mut rng, nq, d, 4);
            let rd = continuous(&mut rng, nr, d)
                .into_iter()
                .map(|x| (x * 2.0).round() / 2.0)
                .collect::<Vec<_>>();
            let q = Rows::new(&qd, nq, d).unwrap();
            let r = Rows::new(&rd, nr, d).unwrap();
            for metric in metrics(d) {
                for want_indices in [true, false] {
                    let spec = KnnSpec {
                        k: 4.min(nr),
                        metric: metric.clone(),
                        exclude_self: false,
                        want_indices,
                    };
                    check_knn(&e, &name, q, r, &spec);
                }
            }
        }
    }
}

#[test]
fn knn_matches_on_continuous_data_at_ksg_shapes() {
    // joint space of KSG (10 + 10) and a KL-entropy width, k = 3 and the largest k
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let e = CpuKernels::new();
    for (n, d) in [(700, 20), (500, 32), (300, 4)] {
        let data = continuous(&mut rng, n, d);
        let rows = Rows::new(&data, n, d).unwrap();
        for metric in [
            Metric::chebyshev(),
            Metric::blocks(Norm::SqEuclidean, &[d / 2, d - d / 2]).unwrap(),
        ] {
            for k in [3, 64] {
                let spec = KnnSpec {
                    k,
                    metric: metric.clone(),
                    exclude_self: true,
                    want_indices: true,
                };
                check_knn(&e, "cpu", rows, rows, &spec);
            }
        }
    }
}

#[test]
fn knn_with_all_points_equal_takes_the_lowest_indices() {
    let data = vec![1.5f32; 40 * 3];
    let rows = Rows::new(&data, 40, 3).unwrap();
    for (name, e) in engines() {
        let spec = KnnSpec {
            k: 5,
            metric: Metric::chebyshev(),
            exclude_self: true,
            want_indices: true,
        };
        let got = e.knn(rows, rows, &spec).unwrap();
        assert!(got.kth.iter().all(|&x| x == 0.0), "{name}");
        assert_eq!(
            &got.indices.as_ref().unwrap()[..5],
            &[1, 2, 3, 4, 5],
            "{name}"
        );
        assert_eq!(
            &got.indices.as_ref().unwrap()[5..10],
            &[0, 2, 3, 4, 5],
            "{name}"
        );
        check_knn(&e, &name, rows, rows, &spec);
    }
}

// ---- radius_count -----------------------------------------------------------

fn check_counts(
    e: &CpuKernels,
    name: &str,
    q: Rows<'_>,
    r: Rows<'_>,
    radii: &[f32],
    spec: &CountSpec,
) {
    let got = e.radius_count(q, r, radii, spec).unwrap();
    let want = count_ref(q, r, radii, spec);
    assert_eq!(
        got,
        want,
        "{name} nq={} nr={} d={} {:?} {:?} self={}",
        q.n(),
        r.n(),
        q.d(),
        spec.metric,
        spec.boundary,
        spec.exclude_self
    );
}

#[test]
fn radius_count_matches_the_simple_twin_at_ksg_radii() {
    // radii equal to actual k-th distances: many distances sit exactly on the boundary
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    for (name, e) in engines() {
        for (n, d) in SIZES {
            if n < 4 {
                continue;
            }
            let data = quantised(&mut rng, n, d, 3);
            let rows = Rows::new(&data, n, d).unwrap();
            for metric in metrics(d) {
                let spec = KnnSpec {
                    k: 3,
                    metric: metric.clone(),
                    exclude_self: true,
                    want_indices: false,
                };
                let (radii, _) = knn_ref(rows, rows, &spec);
                for boundary in [Boundary::Less, Boundary::LessEqual] {
                    for exclude_self in [true, false] {
                        let spec = CountSpec {
                            metric: metric.clone(),
                            boundary,
                            exclude_self,
                        };
                        check_counts(&e, &name, rows, rows, &radii, &spec);
                    }
                }
            }
        }
    }
}

#[test]
fn radius_count_matches_with_odd_radii_and_separate_sets() {
    let mut rng = ChaCha8Rng::seed_from_u64(22);
    for (name, e) in engines() {
        for (nq, nr, d) in [(1, 1, 1), (45, 90, 3), (120, 33, 10), (64, 257, 20)] {
            let qd = continuous(&mut rng, nq, d);
            let rd = quantised(&mut rng, nr, d, 8);
            let q = Rows::new(&qd, nq, d).unwrap();
            let r = Rows::new(&rd, nr, d).unwrap();
            let radii: Vec<f32> = (0..nq)
                .map(|i| match i % 7 {
                    0 => 0.0,
                    1 => -1.0,
                    2 => f32::INFINITY,
                    3 => 0.25 * rng.random_range(0..12) as f32,
                    _ => rng.random_range(0.0f32..20.0),
                })
                .collect();
            for metric in metrics(d) {
                for boundary in [Boundary::Less, Boundary::LessEqual] {
                    let spec = CountSpec {
                        metric: metric.clone(),
                        boundary,
                        exclude_self: false,
                    };
                    check_counts(&e, &name, q, r, &radii, &spec);
                }
            }
        }
    }
}

#[test]
fn radius_count_with_no_references_is_zero() {
    let q = [1.0f32, 2.0];
    let e = CpuKernels::new();
    let spec = CountSpec {
        metric: Metric::chebyshev(),
        boundary: Boundary::LessEqual,
        exclude_self: false,
    };
    let got = e
        .radius_count(
            Rows::new(&q, 1, 2).unwrap(),
            Rows::new(&[], 0, 2).unwrap(),
            &[5.0],
            &spec,
        )
        .unwrap();
    assert_eq!(got, vec![0]);
}

// ---- pairwise, kde_lse -----------------------------------------------------

#[test]
fn pairwise_matches_metric_distance_bitwise() {
    let mut rng = ChaCha8Rng::seed_from_u64(31);
    for (name, e) in engines() {
        for (nq, nr, d) in [(1, 1, 1), (9, 35, 7), (70, 19, 20)] {
            let qd = continuous(&mut rng, nq, d);
            let rd = quantised(&mut rng, nr, d, 5);
            let q = Rows::new(&qd, nq, d).unwrap();
            let r = Rows::new(&rd, nr, d).unwrap();
            for metric in metrics(d) {
                let got = e.pairwise(q, r, &metric).unwrap();
                for i in 0..nq {
                    for j in 0..nr {
                        let want = metric.distance(q.row(i), r.row(j));
                        assert_eq!(
                            got[i * nr + j].to_bits(),
                            want.to_bits(),
                            "{name} ({i},{j}) {metric:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn kde_lse_matches_within_tolerance() {
    let mut rng = ChaCha8Rng::seed_from_u64(41);
    for (name, e) in engines() {
        for (n, d) in [(1, 3), (2, 1), (37, 7), (150, 20)] {
            let data = continuous(&mut rng, n, d);
            let rows = Rows::new(&data, n, d).unwrap();
            for scale in [0.05f32, 0.5, 8.0] {
                for exclude_self in [true, false] {
                    let got = e.kde_lse(rows, rows, scale, exclude_self).unwrap();
                    let want = kde_ref(rows, rows, scale, exclude_self);
                    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                        if w.is_infinite() {
                            assert_eq!(g, w, "{name} row {i}");
                        } else {
                            let tol = tolerance::KDE_LSE * w.abs().max(1.0);
                            assert!(
                                (g - w).abs() <= tol,
                                "{name} n={n} d={d} s={scale} row {i}: {g} vs {w}"
                            );
                        }
                    }
                }
            }
        }
    }
}
