//! Throughput of every kernel on each backend, in pairs/s
//! (`Throughput::Elements(n_query × n_ref)`; values for `bin`).
//!
//! One criterion group per kernel; bench ids `{backend}/{kernel}/{n}x{d}`
//! (STYLE.md rule 11). GPU ids appear only when `Engine::new(BackendChoice::Gpu)`
//! finds an adapter; on a software adapter (lavapipe, ~2 M pairs/s) only small
//! sizes run, so the default run stays short.
//! Shapes follow the estimators: knn at d = 32 (the CPU target) and d = 20
//! (KSG-1 joint space 10 + 10, Kozachenko–Leonenko), radius counts at d = 10
//! with the per-query KSG radii of the joint space (strict `<`).
//! `INFOPLANE_CPU_ISA=baseline|avx2` runs the CPU twins on a narrower path.

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use infoplane::kernels::{
    BackendChoice, Binning, Boundary, CountSpec, Engine, Kernels, KnnSpec, Metric, Rows,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::time::Duration;

fn engines() -> Vec<(&'static str, Engine, bool)> {
    let mut out = vec![("cpu", Engine::cpu(), true)];
    match Engine::new(BackendChoice::Gpu) {
        Ok(g) => {
            let hardware = !g.device_name().to_lowercase().contains("llvmpipe");
            eprintln!("gpu benches on {}", g.device_name());
            out.push(("gpu", g, hardware));
        }
        Err(e) => eprintln!("gpu benches skipped: {e}"),
    }
    out
}

/// Gaussian rows; the second half of the columns correlated with the first
/// (ρ = 0.6), like the X, Y pairs KSG sees.
fn data(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut v = vec![0f32; n * d];
    for i in 0..n {
        for c in 0..d {
            let z: f32 = StandardNormal.sample(&mut rng);
            v[i * d + c] = if c >= d / 2 && d >= 2 {
                0.6 * v[i * d + c - d / 2] + 0.8 * z
            } else {
                z
            };
        }
    }
    v
}

fn short(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
}

fn knn(c: &mut Criterion) {
    let mut g = c.benchmark_group("knn");
    short(&mut g);
    for (backend, e, big) in engines() {
        let sizes: &[(usize, usize)] = if big {
            &[(16384, 32), (16000, 20), (20000, 20), (4096, 32)]
        } else {
            &[(1024, 32)]
        };
        for &(n, d) in sizes {
            let v = data(n, d, 1);
            let rows = Rows::new(&v, n, d).unwrap();
            let spec = KnnSpec {
                k: 3,
                metric: Metric::chebyshev(),
                exclude_self: true,
                want_indices: false,
            };
            g.throughput(Throughput::Elements((n * n) as u64));
            g.bench_function(format!("{backend}/knn/{n}x{d}"), |b| {
                b.iter(|| e.knn(rows, rows, &spec).unwrap())
            });
        }
    }
    g.finish();
}

fn radius_count(c: &mut Criterion) {
    let mut g = c.benchmark_group("radius_count");
    short(&mut g);
    for (backend, e, big) in engines() {
        let sizes: &[usize] = if big { &[16000, 4096] } else { &[1024] };
        for &n in sizes {
            // KSG-1: ε_i from the joint space (10 + 10), then counts in X (d = 10)
            let joint = data(n, 20, 2);
            let jr = Rows::new(&joint, n, 20).unwrap();
            let spec = KnnSpec {
                k: 3,
                metric: Metric::chebyshev(),
                exclude_self: true,
                want_indices: false,
            };
            let eps = Engine::cpu().knn(jr, jr, &spec).unwrap().kth;
            let x: Vec<f32> = joint.chunks(20).flat_map(|r| r[..10].to_vec()).collect();
            let xr = Rows::new(&x, n, 10).unwrap();
            let cs = CountSpec {
                metric: Metric::chebyshev(),
                boundary: Boundary::Less,
                exclude_self: true,
            };
            g.throughput(Throughput::Elements((n * n) as u64));
            g.bench_function(format!("{backend}/radius_count/{n}x10"), |b| {
                b.iter(|| e.radius_count(xr, xr, &eps, &cs).unwrap())
            });
        }
    }
    g.finish();
}

fn kde_lse(c: &mut Criterion) {
    let mut g = c.benchmark_group("kde_lse");
    short(&mut g);
    for (backend, e, big) in engines() {
        let (n, d) = (if big { 4096 } else { 1024 }, 32);
        let v = data(n, d, 3);
        let rows = Rows::new(&v, n, d).unwrap();
        g.throughput(Throughput::Elements((n * n) as u64));
        g.bench_function(format!("{backend}/kde_lse/{n}x{d}"), |b| {
            b.iter(|| e.kde_lse(rows, rows, 0.5, true).unwrap())
        });
    }
    g.finish();
}

fn pairwise(c: &mut Criterion) {
    let mut g = c.benchmark_group("pairwise");
    short(&mut g);
    for (backend, e, big) in engines() {
        let (n, d) = (if big { 2048 } else { 512 }, 32);
        let v = data(n, d, 4);
        let rows = Rows::new(&v, n, d).unwrap();
        for (name, metric) in [
            ("pairwise", Metric::chebyshev()),
            ("pairwise_sqeuclidean", Metric::sq_euclidean()),
        ] {
            g.throughput(Throughput::Elements((n * n) as u64));
            g.bench_function(format!("{backend}/{name}/{n}x{d}"), |b| {
                b.iter(|| e.pairwise(rows, rows, &metric).unwrap())
            });
        }
    }
    g.finish();
}

fn bin(c: &mut Criterion) {
    let mut g = c.benchmark_group("bin");
    short(&mut g);
    for (backend, e, _) in engines() {
        let (n, d) = (65536, 32);
        let v: Vec<f32> = data(n, d, 5).iter().map(|x| x.tanh()).collect();
        let rows = Rows::new(&v, n, d).unwrap();
        let binning = Binning::EqualRange {
            lo: -1.0,
            hi: 1.0,
            bins: 30,
        };
        g.throughput(Throughput::Elements((n * d) as u64));
        g.bench_function(format!("{backend}/bin/{n}x{d}"), |b| {
            b.iter(|| e.bin(rows, &binning).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, knn, radius_count, kde_lse, pairwise, bin);
criterion_main!(benches);
