//! The max-norm ceiling of this machine: a register-blocked loop that only
//! computes Chebyshev distances (4 queries × 16 references, references stored
//! dimension-major, running max in registers) over all n × n pairs on every
//! core, and keeps one number per query so the work is not optimised away.
//! No k-list, no counting, no pruning: the kernels in `benches/kernels.rs` are
//! reported as a fraction of this (BENCHMARKS.md).
//!
//! Id: `cpu/ceiling_maxnorm/{n}x{d}`, throughput in pairs/s.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::time::Duration;

const LANES: usize = 16;
const QT: usize = 4;

/// Per query tile: the smallest max-norm distance to any reference (a cheap sink).
#[inline(always)]
fn tile_rows(q: &[f32], panels: &[f32], d: usize, out: &mut [f32; QT]) {
    let mut best = [[f32::INFINITY; LANES]; QT];
    for panel in panels.chunks_exact(d * LANES) {
        let mut acc = [[0f32; LANES]; QT];
        for (c, r) in panel.chunks_exact(LANES).enumerate() {
            let r: &[f32; LANES] = r.try_into().unwrap();
            for t in 0..QT {
                let qv = q[t * d + c];
                for l in 0..LANES {
                    let x = (qv - r[l]).abs();
                    acc[t][l] = if x > acc[t][l] { x } else { acc[t][l] };
                }
            }
        }
        for t in 0..QT {
            for l in 0..LANES {
                best[t][l] = if acc[t][l] < best[t][l] {
                    acc[t][l]
                } else {
                    best[t][l]
                };
            }
        }
    }
    for t in 0..QT {
        out[t] = best[t].iter().fold(f32::INFINITY, |m, &x| m.min(x));
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2(q: &[f32], panels: &[f32], d: usize, out: &mut [f32; QT]) {
    tile_rows(q, panels, d, out)
}

fn ceiling(queries: &[f32], panels: &[f32], d: usize) -> f32 {
    #[cfg(target_arch = "x86_64")]
    let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
    queries
        .par_chunks(QT * d)
        .map(|q| {
            let mut out = [0f32; QT];
            #[cfg(target_arch = "x86_64")]
            if avx2 {
                // SAFETY: the features were detected above.
                unsafe { tile_avx2(q, panels, d, &mut out) };
                return out.iter().sum::<f32>();
            }
            tile_rows(q, panels, d, &mut out);
            out.iter().sum::<f32>()
        })
        .sum()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("ceiling_maxnorm");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for (n, d) in [(16384usize, 32usize), (16384, 20), (16384, 10)] {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let rows: Vec<f32> = (0..n * d).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        // dimension-major panels of 16 references
        let mut panels = vec![0f32; n * d];
        for p in 0..n / LANES {
            for c in 0..d {
                for l in 0..LANES {
                    panels[(p * d + c) * LANES + l] = rows[(p * LANES + l) * d + c];
                }
            }
        }
        g.throughput(Throughput::Elements((n * n) as u64));
        g.bench_function(format!("cpu/ceiling_maxnorm/{n}x{d}"), |b| {
            b.iter(|| ceiling(&rows, &panels, d))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
