//! Same input, seed and options give bit-identical results: across repeated
//! runs, across rayon thread counts (1, 2, 8), and across backends for the
//! max-norm (Chebyshev) estimators, whose neighbour distances are exact
//! (no rounding in a max of absolute differences) and whose digamma sums run
//! over points in a fixed order on the host.

use infoplane::estimators::{Estimate, Kde, KnnEntropy, Ksg, KsgVariant, Mixed, Symbols};
use infoplane::kernels::gpu_engine_for_tests;
use infoplane::{Dataset, Engine, Kernels};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const THREADS: [usize; 3] = [1, 2, 8];

fn data(seed: u64, n: usize, d: usize) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let v: Vec<f32> = (0..n * d).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    Dataset::new(format!("data{seed}"), v, n, d).unwrap()
}

/// Every estimate this file compares, as exact bit patterns.
fn estimates(kern: &dyn Kernels, with_kde: bool) -> Vec<(String, u64)> {
    let x = data(1, 700, 3);
    let y = data(2, 700, 2);
    let labels = Symbols::from_labels(&(0..700).map(|i| i % 4).collect::<Vec<i32>>());
    let mut out: Vec<Estimate> = vec![];
    for v in [KsgVariant::Ksg1, KsgVariant::Ksg2] {
        out.push(
            Ksg::params()
                .k(3)
                .variant(v)
                .seed(11)
                .check()
                .unwrap()
                .estimate_datasets(&x, &y, kern)
                .unwrap(),
        );
    }
    out.push(
        KnnEntropy::params()
            .k(4)
            .seed(11)
            .check()
            .unwrap()
            .estimate_dataset(&x, kern)
            .unwrap(),
    );
    out.push(
        Mixed::params()
            .k(3)
            .seed(11)
            .check()
            .unwrap()
            .estimate_dataset(&x, &labels, kern)
            .unwrap(),
    );
    if with_kde {
        out.push(
            Kde::params()
                .check()
                .unwrap()
                .mi_labels(&x, &labels, kern)
                .unwrap(),
        );
    }
    out.iter()
        .map(|e| (format!("{} {}", e.estimator, e.quantity), e.value.to_bits()))
        .collect()
}

#[test]
fn repeated_runs_are_bit_identical() {
    let cpu = Engine::cpu();
    let first = estimates(&cpu, true);
    for _ in 0..2 {
        assert_eq!(estimates(&cpu, true), first);
    }
}

#[test]
fn thread_counts_1_2_8_are_bit_identical() {
    let cpu = Engine::cpu();
    let mut all = vec![];
    for t in THREADS {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap();
        all.push((t, pool.install(|| estimates(&cpu, true))));
    }
    for (t, got) in &all[1..] {
        assert_eq!(got, &all[0].1, "{t} threads against 1 thread");
    }
}

#[test]
fn gpu_and_cpu_max_norm_estimators_are_bit_identical() {
    let Some(gpu) =
        gpu_engine_for_tests("determinism::gpu_and_cpu_max_norm_estimators_are_bit_identical")
    else {
        return;
    };
    let cpu = Engine::cpu();
    assert_eq!(estimates(&gpu, false), estimates(&cpu, false));
    // And the GPU against itself across runs.
    assert_eq!(estimates(&gpu, false), estimates(&gpu, false));
}
