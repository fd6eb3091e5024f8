//! GPU ↔ CPU parity: one generic body per case, run on the CPU twin (the
//! reference) and on the GPU backend (lavapipe in CI), in the manner of
//! vello's `compare_gpu_cpu.rs` and faiss's `TestGpuDistance.cu`.
//!
//! Chebyshev results (k-th distances, k indices with ties broken by the lower
//! index, counts, pairwise distances) must be identical to the bit; squared
//! Euclidean within `tolerance::F32_SUM` relative (counts may differ only for
//! references whose distance lies within that tolerance of the radius);
//! `kde_lse` within `tolerance::KDE_LSE`. Also here: tiling under tiny limits
//! (many blocks, 2-D grids, merges) and the lavapipe loop-bound canary.

use infoplane::kernels::cpu::CpuKernels;
use infoplane::kernels::gpu::GpuKernels;
use infoplane::kernels::plan::{self, KernelKind, Limits, LAVAPIPE_LOOP_LIMIT};
use infoplane::kernels::{
    gpu_engine_for_tests, tolerance, BinOut, Binning, Boundary, CountSpec, Kernels, KnnSpec,
    Metric, Norm, Rows,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Random rows on a fixed seed; `quantised` rounds to quarters so that many
/// distances tie exactly and the lower-index tie-break is exercised.
fn data(seed: u64, n: usize, d: usize, quantised: bool) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n * d)
        .map(|_| {
            let x: f32 = rng.random_range(-2.0..2.0);
            if quantised {
                (x * 4.0).round() / 4.0
            } else {
                x
            }
        })
        .collect()
}

fn rows(v: &[f32], d: usize) -> Rows<'_> {
    Rows::new(v, v.len() / d, d).unwrap()
}

fn close(a: f32, b: f32, rel: f32) -> bool {
    a == b || (a - b).abs() <= rel * a.abs().max(b.abs())
}

/// The GPU engine, or `None` after a loud SKIPPED line (a failure under
/// `INFOPLANE_REQUIRE_GPU=1`).
fn gpu(test: &str) -> Option<infoplane::Engine> {
    gpu_engine_for_tests(test)
}

/// One knn case on both backends.
fn check_knn(gpu: &dyn Kernels, cpu: &dyn Kernels, q: Rows<'_>, r: Rows<'_>, spec: &KnnSpec) {
    let what = format!(
        "knn nq={} nr={} d={} k={} {:?} self={}",
        q.n(),
        r.n(),
        q.d(),
        spec.k,
        spec.metric.norm(),
        spec.exclude_self
    );
    let want = cpu.knn(q, r, spec).unwrap();
    let got = gpu
        .knn(q, r, spec)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    if spec.metric.norm() == Norm::Chebyshev {
        assert_eq!(got, want, "{what}");
        return;
    }
    for (i, (g, w)) in got.kth.iter().zip(&want.kth).enumerate() {
        assert!(
            close(*g, *w, tolerance::F32_SUM),
            "{what}: query {i}: {g} vs {w}"
        );
    }
    // Indices may swap only between references at distances equal within the tolerance.
    if let (Some(gi), Some(wi)) = (&got.indices, &want.indices) {
        let k = spec.k;
        for i in 0..q.n() {
            for t in 0..k {
                let dg = spec
                    .metric
                    .distance(q.row(i), r.row(gi[i * k + t] as usize));
                let dw = spec
                    .metric
                    .distance(q.row(i), r.row(wi[i * k + t] as usize));
                assert!(
                    close(dg, dw, tolerance::F32_SUM),
                    "{what}: query {i} rank {t}"
                );
            }
        }
    }
}

/// One radius_count case: radii are the CPU's k-th distances, so many
/// distances sit exactly on the radius and the boundary matters.
fn check_count(
    gpu: &dyn Kernels,
    cpu: &dyn Kernels,
    q: Rows<'_>,
    r: Rows<'_>,
    radii: &[f32],
    spec: &CountSpec,
) {
    let what = format!(
        "radius_count nq={} nr={} d={} {:?} {:?} self={}",
        q.n(),
        r.n(),
        q.d(),
        spec.metric.norm(),
        spec.boundary,
        spec.exclude_self
    );
    let want = cpu.radius_count(q, r, radii, spec).unwrap();
    let got = gpu
        .radius_count(q, r, radii, spec)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    if spec.metric.norm() == Norm::Chebyshev {
        assert_eq!(got, want, "{what}");
        return;
    }
    for i in 0..q.n() {
        let near = (0..r.n())
            .filter(|&j| !(spec.exclude_self && i == j))
            .filter(|&j| {
                close(
                    spec.metric.distance(q.row(i), r.row(j)),
                    radii[i],
                    tolerance::F32_SUM,
                )
            })
            .count() as u32;
        assert!(
            got[i].abs_diff(want[i]) <= near,
            "{what}: query {i}: {} vs {} ({near} within tolerance of the radius)",
            got[i],
            want[i]
        );
    }
}

fn check_kde(gpu: &dyn Kernels, cpu: &dyn Kernels, q: Rows<'_>, r: Rows<'_>, scale: f32, ex: bool) {
    let what = format!(
        "kde_lse nq={} nr={} d={} scale={scale} self={ex}",
        q.n(),
        r.n(),
        q.d()
    );
    let want = cpu.kde_lse(q, r, scale, ex).unwrap();
    let got = gpu
        .kde_lse(q, r, scale, ex)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        // A log-sum-exp's error is relative to its size, and absolute near 0.
        let ok = g == w || (g - w).abs() <= tolerance::KDE_LSE * w.abs().max(1.0);
        assert!(ok, "{what}: query {i}: {g} vs {w}");
    }
}

fn check_pairwise(gpu: &dyn Kernels, cpu: &dyn Kernels, q: Rows<'_>, r: Rows<'_>, metric: &Metric) {
    let what = format!(
        "pairwise nq={} nr={} d={} {:?}",
        q.n(),
        r.n(),
        q.d(),
        metric.norm()
    );
    let want = cpu.pairwise(q, r, metric).unwrap();
    let got = gpu
        .pairwise(q, r, metric)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(got.len(), want.len(), "{what}");
    if metric.norm() == Norm::Chebyshev {
        assert_eq!(got, want, "{what}");
    } else {
        for (n, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                close(*g, *w, tolerance::F32_SUM),
                "{what}: entry {n}: {g} vs {w}"
            );
        }
    }
}

fn check_bin(gpu: &dyn Kernels, cpu: &dyn Kernels, x: Rows<'_>, binning: &Binning) {
    let want: BinOut = cpu.bin(x, binning).unwrap();
    let got = gpu
        .bin(x, binning)
        .unwrap_or_else(|e| panic!("bin {binning:?}: {e}"));
    assert_eq!(got, want, "bin n={} d={} {binning:?}", x.n(), x.d());
}

/// Every kNN-family kernel for one (n, d) shape, both norms, both self modes.
fn family(gpu: &dyn Kernels, cpu: &dyn Kernels, n: usize, d: usize, ks: &[usize], seed: u64) {
    // Tied (quantised) data matters most in few dimensions; wide rows run once
    // to keep the file within a few minutes on lavapipe.
    let variants: &[bool] = if n * d > 20_000 {
        &[d < 10]
    } else {
        &[false, true]
    };
    for &quantised in variants {
        let x = data(seed + quantised as u64, n, d, quantised);
        let x = rows(&x, d);
        for metric in [Metric::chebyshev(), Metric::sq_euclidean()] {
            for exclude_self in [false, true] {
                let available = n - exclude_self as usize;
                for &k in ks.iter().filter(|&&k| k <= available) {
                    let spec = KnnSpec {
                        k,
                        metric: metric.clone(),
                        exclude_self,
                        want_indices: true,
                    };
                    check_knn(gpu, cpu, x, x, &spec);
                }
                let Some(&k) = ks.iter().filter(|&&k| k <= available).max() else {
                    continue;
                };
                let radii = cpu
                    .knn(
                        x,
                        x,
                        &KnnSpec {
                            k,
                            metric: metric.clone(),
                            exclude_self,
                            want_indices: false,
                        },
                    )
                    .unwrap()
                    .kth;
                for boundary in [Boundary::Less, Boundary::LessEqual] {
                    let spec = CountSpec {
                        metric: metric.clone(),
                        boundary,
                        exclude_self,
                    };
                    check_count(gpu, cpu, x, x, &radii, &spec);
                }
            }
        }
        for exclude_self in [false, true] {
            check_kde(gpu, cpu, x, x, 0.5 / d as f32, exclude_self);
        }
    }
}

#[test]
fn knn_count_kde_small_shapes() {
    let Some(gpu) = gpu("knn_count_kde_small_shapes") else {
        return;
    };
    let cpu = CpuKernels::new();
    let mut seed = 1;
    for n in [1, 2, 63, 65] {
        for d in [1, 3, 17, 64, 300] {
            family(&gpu, &cpu, n, d, &[1, 3, 10], seed);
            seed += 10;
        }
    }
}

#[test]
fn knn_count_kde_n1000() {
    let Some(gpu) = gpu("knn_count_kde_n1000") else {
        return;
    };
    let cpu = CpuKernels::new();
    family(&gpu, &cpu, 1000, 1, &[1, 3, 10], 100);
    family(&gpu, &cpu, 1000, 3, &[1, 3, 10], 101);
    family(&gpu, &cpu, 1000, 17, &[3], 102);
    family(&gpu, &cpu, 1000, 64, &[10], 103);
    // Wide rows over several reference blocks (one call per norm).
    let x = data(104, 1000, 300, false);
    for metric in [Metric::chebyshev(), Metric::sq_euclidean()] {
        let spec = KnnSpec {
            k: 3,
            metric,
            exclude_self: true,
            want_indices: true,
        };
        check_knn(&gpu, &cpu, rows(&x, 300), rows(&x, 300), &spec);
    }
}

#[test]
fn knn_count_kde_n4097() {
    let Some(gpu) = gpu("knn_count_kde_n4097") else {
        return;
    };
    let cpu = CpuKernels::new();
    family(&gpu, &cpu, 4097, 1, &[1, 10], 200);
    family(&gpu, &cpu, 4097, 3, &[3], 210);
}

#[test]
fn distinct_query_and_reference_sets() {
    let Some(gpu) = gpu("distinct_query_and_reference_sets") else {
        return;
    };
    let cpu = CpuKernels::new();
    for (nq, nr, d) in [(65, 1000, 17), (1000, 63, 3), (3, 4097, 64)] {
        let q = data(300 + d as u64, nq, d, false);
        let r = data(400 + d as u64, nr, d, true);
        let (q, r) = (rows(&q, d), rows(&r, d));
        for metric in [Metric::chebyshev(), Metric::sq_euclidean()] {
            let spec = KnnSpec {
                k: 10,
                metric: metric.clone(),
                exclude_self: false,
                want_indices: true,
            };
            check_knn(&gpu, &cpu, q, r, &spec);
            let radii: Vec<f32> = cpu.knn(q, r, &spec).unwrap().kth;
            let spec = CountSpec {
                metric: metric.clone(),
                boundary: Boundary::LessEqual,
                exclude_self: false,
            };
            check_count(&gpu, &cpu, q, r, &radii, &spec);
            check_pairwise(&gpu, &cpu, q, r, &metric);
        }
        check_kde(&gpu, &cpu, q, r, 2.0, false);
    }
}

#[test]
fn block_metric_joint_space() {
    let Some(gpu) = gpu("block_metric_joint_space") else {
        return;
    };
    let cpu = CpuKernels::new();
    // KSG's joint space: each marginal keeps its own norm; widths not multiples of 4.
    for (widths, n) in [
        (vec![1, 1], 1000),
        (vec![3, 5], 65),
        (vec![17, 2, 6], 63),
        (vec![300, 1], 65),
    ] {
        let d: usize = widths.iter().sum();
        let x = data(500 + d as u64, n, d, d < 10);
        let x = rows(&x, d);
        for norm in [Norm::Chebyshev, Norm::SqEuclidean] {
            let metric = Metric::blocks(norm, &widths).unwrap();
            for exclude_self in [false, true] {
                let spec = KnnSpec {
                    k: 3,
                    metric: metric.clone(),
                    exclude_self,
                    want_indices: true,
                };
                check_knn(&gpu, &cpu, x, x, &spec);
                let radii = cpu.knn(x, x, &spec).unwrap().kth;
                for boundary in [Boundary::Less, Boundary::LessEqual] {
                    let spec = CountSpec {
                        metric: metric.clone(),
                        boundary,
                        exclude_self,
                    };
                    check_count(&gpu, &cpu, x, x, &radii, &spec);
                }
            }
            check_pairwise(&gpu, &cpu, x.slice(0, n.min(65)), x, &metric);
        }
    }
}

#[test]
fn pairwise_shapes() {
    let Some(gpu) = gpu("pairwise_shapes") else {
        return;
    };
    let cpu = CpuKernels::new();
    for (n, d) in [(1, 1), (2, 3), (63, 17), (65, 64), (65, 300), (1000, 3)] {
        let x = data(600 + (n * d) as u64, n, d, n % 2 == 1);
        let x = rows(&x, d);
        for metric in [Metric::chebyshev(), Metric::sq_euclidean()] {
            check_pairwise(&gpu, &cpu, x, x, &metric);
        }
    }
}

/// Values on bin edges, beyond the range, and large magnitudes.
fn bin_data(seed: u64, n: usize, d: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n * d)
        .map(|i| match i % 5 {
            0 => (rng.random_range(-40i32..40) as f32) * 0.05, // on edges of width 0.05 / [-1, 1] grids
            1 => rng.random_range(-1.5f32..1.5),
            2 => rng.random_range(-1e6f32..1e6),
            _ => rng.random_range(-1.0f32..1.0),
        })
        .collect()
}

#[test]
fn bin_all_binnings() {
    let Some(gpu) = gpu("bin_all_binnings") else {
        return;
    };
    let cpu = CpuKernels::new();
    for (n, d) in [
        (1, 1),
        (2, 3),
        (63, 17),
        (65, 64),
        (1000, 3),
        (4097, 1),
        (65, 300),
    ] {
        let x = bin_data(700 + (n * d) as u64, n, d);
        let x = rows(&x, d);
        check_bin(
            &gpu,
            &cpu,
            x,
            &Binning::EqualRange {
                lo: -1.0,
                hi: 1.0,
                bins: 30,
            },
        );
        check_bin(
            &gpu,
            &cpu,
            x,
            &Binning::EqualRange {
                lo: -0.3,
                hi: 0.7,
                bins: 1,
            },
        );
        check_bin(&gpu, &cpu, x, &Binning::Width { width: 0.05 });
        check_bin(&gpu, &cpu, x, &Binning::Width { width: 1e-7 });
        // Adaptive equal-mass edges per column (some columns with none, repeated cut points).
        let edges: Vec<Vec<f32>> = (0..d)
            .map(|c| {
                let mut col: Vec<f32> = (0..x.n()).map(|i| x.row(i)[c]).collect();
                col.sort_by(f32::total_cmp);
                let m = c % 7;
                (1..=m)
                    .map(|b| col[(b * col.len() / (m + 1)).min(col.len() - 1)])
                    .collect()
            })
            .collect();
        check_bin(&gpu, &cpu, x, &Binning::Edges { edges });
    }
}

#[test]
fn empty_and_degenerate_inputs() {
    let Some(gpu) = gpu("empty_and_degenerate_inputs") else {
        return;
    };
    let cpu = CpuKernels::new();
    let x = data(800, 1, 3, false);
    let x = rows(&x, 3);
    // One row with exclude-self: nothing left, −inf like the CPU.
    assert_eq!(
        gpu.kde_lse(x, x, 1.0, true).unwrap(),
        vec![f32::NEG_INFINITY]
    );
    assert_eq!(
        gpu.kde_lse(x, x, 1.0, true).unwrap(),
        cpu.kde_lse(x, x, 1.0, true).unwrap()
    );
    let empty = rows(&[], 3);
    let spec = CountSpec {
        metric: Metric::chebyshev(),
        boundary: Boundary::Less,
        exclude_self: false,
    };
    assert_eq!(gpu.radius_count(x, empty, &[1.0], &spec).unwrap(), vec![0]);
    assert!(gpu.radius_count(empty, x, &[], &spec).unwrap().is_empty());
    assert!(gpu
        .pairwise(x, empty, &Metric::chebyshev())
        .unwrap()
        .is_empty());
    // Bad input is an error value on the GPU exactly as on the CPU.
    let spec = KnnSpec {
        k: 1,
        metric: Metric::chebyshev(),
        exclude_self: true,
        want_indices: false,
    };
    assert!(gpu.knn(x, x, &spec).is_err());
    assert!(gpu.kde_lse(x, x, f32::NAN, false).is_err());
}

// ---- tiling: tiny limits force many blocks, 2-D grids and merges ----------

fn tiny_gpu(test: &str) -> Option<GpuKernels> {
    gpu(test)?;
    Some(GpuKernels::with_limits(true, Limits::tiny()).expect("an adapter was just opened"))
}

#[test]
fn tiling_gpu_tiny_limits_match_untiled() {
    let Some(tiny) = tiny_gpu("tiling_gpu_tiny_limits_match_untiled") else {
        return;
    };
    let cpu = CpuKernels::new();
    let (n, d) = (300, 17);
    let p = plan::TilePlan::new(KernelKind::Knn, n, n, 20, 10, 0, tiny.limits()).unwrap();
    assert!(
        p.query_blocks().count() > 1 && p.ref_blocks().count() > 1,
        "{p:?}"
    );
    let (gx, gy) = p.workgroups(p.query_block);
    assert!(gx <= 4, "grid {gx}×{gy}");
    family(&tiny, &cpu, n, d, &[1, 10], 900);
    let x = data(901, 70, 3, true);
    check_pairwise(&tiny, &cpu, rows(&x, 3), rows(&x, 3), &Metric::chebyshev());
    let x = bin_data(902, 700, 5);
    check_bin(&tiny, &cpu, rows(&x, 5), &Binning::Width { width: 0.05 });
}

#[test]
fn tiling_gpu_two_dimensional_grid() {
    let Some(g) = gpu("tiling_gpu_two_dimensional_grid") else {
        return;
    };
    drop(g);
    // Few workgroups per dimension, otherwise the device's limits: one query
    // block needs a 2-D grid of 64-invocation workgroups.
    let lim = Limits {
        max_workgroups_per_dim: 3,
        ..Limits::cpu()
    };
    let gpu = GpuKernels::with_limits(true, lim).unwrap();
    let cpu = CpuKernels::new();
    let p = plan::TilePlan::new(KernelKind::Knn, 1000, 1000, 4, 3, 0, gpu.limits()).unwrap();
    let (gx, gy) = p.workgroups(p.query_block.min(1000));
    assert!(gy > 1 && gx <= 3, "grid {gx}×{gy}");
    family(&gpu, &cpu, 1000, 3, &[3], 950);
}

#[test]
fn tiling_cpu_tiny_limits_match_untiled() {
    let tiny = CpuKernels::with_limits(Limits::tiny());
    let cpu = CpuKernels::new();
    family(&tiny, &cpu, 300, 17, &[1, 10], 960);
}

// ---- reference slices: several per dispatch, forced on any adapter -----------

/// The device's limits, but asking for far more invocations than the queries
/// give, so that every reference block is scanned as several slices (as on
/// a large GPU) whose partial states are merged.
fn sliced_gpu(test: &str) -> Option<GpuKernels> {
    gpu(test)?;
    let dev = GpuKernels::new(true).expect("an adapter was just opened");
    let lim = Limits {
        fill_invocations: 1 << 20,
        min_slice_rows: 8,
        ..dev.limits().clone()
    };
    Some(GpuKernels::with_limits(true, lim).unwrap())
}

#[test]
fn reference_slices_match_the_cpu() {
    let Some(gpu) = sliced_gpu("reference_slices_match_the_cpu") else {
        return;
    };
    let cpu = CpuKernels::new();
    for (n, d) in [(1000, 3), (4097, 1), (300, 17)] {
        let p = plan::TilePlan::new(KernelKind::Knn, n, n, d.max(4), 10, 0, gpu.limits()).unwrap();
        assert!(p.ref_slices > 1, "{p:?}");
    }
    // 4097 × 1 also spans several reference blocks under lavapipe's loop bound.
    let p = plan::TilePlan::new(KernelKind::Knn, 4097, 4097, 4, 10, 0, gpu.limits()).unwrap();
    if gpu.limits().max_loop_iterations != u64::MAX {
        assert!(p.ref_blocks().count() > 1, "{p:?}");
    }
    family(&gpu, &cpu, 1000, 3, &[1, 3, 10], 1200);
    family(&gpu, &cpu, 4097, 1, &[1, 10], 1210);
    family(&gpu, &cpu, 300, 17, &[3, 64], 1220);
}

/// Many exact duplicates: whole groups of references at the same distance,
/// spread over different slices, so the merge's lower-index tie-break decides.
#[test]
fn reference_slices_keep_the_lower_index_tie_break() {
    let Some(gpu) = sliced_gpu("reference_slices_keep_the_lower_index_tie_break") else {
        return;
    };
    let cpu = CpuKernels::new();
    let d = 2;
    let distinct = data(1300, 40, d, true);
    // Row i repeats distinct row (i * 7) % 40: copies sit far apart in index order.
    let x: Vec<f32> = (0..2000)
        .flat_map(|i| distinct[(i * 7 % 40) * d..(i * 7 % 40 + 1) * d].to_vec())
        .collect();
    let x = rows(&x, d);
    for metric in [Metric::chebyshev(), Metric::sq_euclidean()] {
        for exclude_self in [false, true] {
            for k in [1, 7, 50, 64] {
                let spec = KnnSpec {
                    k,
                    metric: metric.clone(),
                    exclude_self,
                    want_indices: true,
                };
                // Squared-Euclidean distances of duplicates are exact too (0, or the same sums).
                assert_eq!(
                    gpu.knn(x, x, &spec).unwrap(),
                    cpu.knn(x, x, &spec).unwrap(),
                    "k={k} {:?} self={exclude_self}",
                    metric.norm()
                );
            }
        }
    }
}

/// kde_lse over slices: within the log-sum tolerance of the CPU and of the
/// unsliced GPU, and the same bits on every run.
#[test]
fn reference_slices_kde_is_deterministic() {
    let Some(sliced) = sliced_gpu("reference_slices_kde_is_deterministic") else {
        return;
    };
    let plain = GpuKernels::new(true).unwrap();
    let cpu = CpuKernels::new();
    let (n, d) = (3000, 5);
    let x = data(1400, n, d, false);
    let x = rows(&x, d);
    let p = plan::TilePlan::new(KernelKind::KdeLse, n, n, 8, 0, 0, sliced.limits()).unwrap();
    assert!(p.ref_slices > 1, "{p:?}");
    check_kde(&sliced, &cpu, x, x, 0.3, true);
    let a = sliced.kde_lse(x, x, 0.3, true).unwrap();
    let b = sliced.kde_lse(x, x, 0.3, true).unwrap();
    assert!(
        a.iter().zip(&b).all(|(a, b)| a.to_bits() == b.to_bits()),
        "two runs differ"
    );
    for (s, u) in a.iter().zip(plain.kde_lse(x, x, 0.3, true).unwrap()) {
        assert!(
            (s - u).abs() <= tolerance::KDE_LSE * u.abs().max(1.0),
            "{s} vs {u}"
        );
    }
}

// ---- lavapipe canary -------------------------------------------------------

/// n_ref = 70,000 at d = 4: one untiled invocation would run far more than
/// lavapipe's 65,535 loop iterations (and silently return garbage); the plan
/// must cut it so that the GPU still agrees with the CPU.
#[test]
fn lavapipe_canary_long_reference_scan() {
    let Some(gpu) = gpu("lavapipe_canary_long_reference_scan") else {
        return;
    };
    let cpu = CpuKernels::new();
    let (nq, nr, d) = (130, 70_000, 4);
    for kernel in [KernelKind::Knn, KernelKind::RadiusCount, KernelKind::KdeLse] {
        let shape = plan::ScanShape::new(kernel, d, plan::GPU_MAX_QUERIES_PER_INVOCATION);
        let wg = plan::GPU_WORKGROUP_SIZE;
        let untiled = plan::loop_iterations(kernel, nr, d, 3, 0, wg, shape);
        assert!(untiled > LAVAPIPE_LOOP_LIMIT, "{kernel:?}: {untiled}");
    }
    let q = data(1000, nq, d, false);
    let r = data(1001, nr, d, true);
    let (q, r) = (rows(&q, d), rows(&r, d));
    for metric in [Metric::chebyshev(), Metric::sq_euclidean()] {
        let spec = KnnSpec {
            k: 3,
            metric: metric.clone(),
            exclude_self: false,
            want_indices: true,
        };
        check_knn(&gpu, &cpu, q, r, &spec);
        let radii = cpu.knn(q, r, &spec).unwrap().kth;
        let spec = CountSpec {
            metric,
            boundary: Boundary::Less,
            exclude_self: false,
        };
        check_count(&gpu, &cpu, q, r, &radii, &spec);
    }
    check_kde(&gpu, &cpu, q, r, 0.5, false);
    // Wide rows: d = 4096 puts the bound within a few dozen references.
    let d = 4096;
    let q = data(1002, 3, d, false);
    let r = data(1003, 200, d, false);
    // Rows wider than a tile are scanned in chunks; a column block crosses the chunk edge.
    for metric in [
        Metric::chebyshev(),
        Metric::sq_euclidean(),
        Metric::blocks(Norm::SqEuclidean, &[2050, 2046]).unwrap(),
    ] {
        let spec = KnnSpec {
            k: 5,
            metric,
            exclude_self: false,
            want_indices: true,
        };
        check_knn(&gpu, &cpu, rows(&q, d), rows(&r, d), &spec);
    }
}

/// The canary again with reference slices: each slice is held to the bound
/// on its own, and the merge too.
#[test]
fn lavapipe_canary_long_reference_scan_sliced() {
    let Some(gpu) = sliced_gpu("lavapipe_canary_long_reference_scan_sliced") else {
        return;
    };
    let cpu = CpuKernels::new();
    let (nq, nr, d) = (130, 70_000, 4);
    let p = plan::TilePlan::new(KernelKind::Knn, nq, nr, d, 3, 0, gpu.limits()).unwrap();
    assert!(p.ref_slices > 1, "{p:?}");
    assert!(
        p.loop_iterations <= gpu.limits().max_loop_iterations,
        "{p:?}"
    );
    let q = data(1000, nq, d, false);
    let r = data(1001, nr, d, true);
    let (q, r) = (rows(&q, d), rows(&r, d));
    let spec = KnnSpec {
        k: 3,
        metric: Metric::chebyshev(),
        exclude_self: false,
        want_indices: true,
    };
    check_knn(&gpu, &cpu, q, r, &spec);
    let radii = cpu.knn(q, r, &spec).unwrap().kth;
    let spec = CountSpec {
        metric: Metric::chebyshev(),
        boundary: Boundary::LessEqual,
        exclude_self: false,
    };
    check_count(&gpu, &cpu, q, r, &radii, &spec);
    check_kde(&gpu, &cpu, q, r, 0.5, false);
}

// ---- device faults and adapter listing ---------------------------------------

#[test]
fn injected_faults_are_errors_not_panics() {
    let Some(g) = gpu("injected_faults_are_errors_not_panics") else {
        return;
    };
    drop(g);
    let x = data(1100, 65, 3, false);
    let x = rows(&x, 3);
    let spec = KnnSpec {
        k: 3,
        metric: Metric::chebyshev(),
        exclude_self: true,
        want_indices: false,
    };
    let gpu = GpuKernels::new(true).unwrap();
    gpu.inject_fault(infoplane::kernels::gpu::Fault::OutOfMemory);
    let e = gpu.knn(x, x, &spec).unwrap_err();
    assert!(
        matches!(e, infoplane::Error::Device { kernel: "knn", .. }),
        "{e}"
    );
    assert!(e.to_string().contains("out of GPU memory"), "{e}");
    // The fault was one-shot: the next call works.
    assert!(gpu.knn(x, x, &spec).is_ok());
    gpu.inject_fault(infoplane::kernels::gpu::Fault::DeviceLost);
    let e = gpu.radius_count(
        x,
        x,
        &[1.0; 65],
        &CountSpec {
            metric: Metric::chebyshev(),
            boundary: Boundary::Less,
            exclude_self: false,
        },
    );
    let e = e.unwrap_err();
    assert!(e.to_string().contains("device lost"), "{e}");
    assert!(gpu.bin(x, &Binning::Width { width: 0.1 }).is_err());
}

#[test]
fn adapters_are_listed_and_software_is_never_auto() {
    let Some(g) = gpu("adapters_are_listed_and_software_is_never_auto") else {
        return;
    };
    let list = infoplane::kernels::gpu::list_adapters();
    assert!(!list.is_empty(), "an adapter was opened but none is listed");
    assert!(list.iter().filter(|a| a.auto_pick).count() <= 1);
    assert!(list.iter().all(|a| !(a.is_software && a.auto_pick)));
    assert!(list
        .iter()
        .all(|a| a.max_storage_binding_bytes > 0 && a.max_workgroups_per_dim > 0));
    assert!(!g.device_name().is_empty());
}
