//! The register-blocked distance tile shared by the CPU twins, and the
//! box-assisted scan that skips reference panels which cannot matter.
//!
//! Why: a plain loop over (query, reference) pairs reloads both rows for every
//! pair and leaves the vector units idle. Here references are packed
//! dimension-major in panels of [`LANES`] rows (the layout of the GPU tiles,
//! transposed for SIMD lanes), and [`QT`] queries are held against one panel,
//! so every loaded coordinate is used `QT` times and every broadcast query
//! coordinate `LANES` times (the faiss brute-force tiling, `gpu/impl/Distance.cu`,
//! on the CPU). The arithmetic per pair is exactly the reference order of
//! [`crate::kernels::Metric::distance`]: one rounded subtraction, abs, max for
//! max-norm; squares added in column order per block, then a max over blocks.
//! No FMA contraction happens (Rust never contracts), so every ISA path gives
//! the same bits.
//!
//! The pruned scans that hold query tiles against these panels live in
//! [`super::scan`].
//!
//! The ISA is chosen at run time ([`Isa::detect`]): the same generic loops are
//! compiled three times under `#[target_feature]` (AVX-512, AVX2+FMA, and the
//! baseline), so one binary uses the vector width of the machine it runs on.

// Lane loops index several fixed-size arrays in step; the index form is the
// one LLVM turns into vector registers.
#![allow(clippy::needless_range_loop)]

use crate::kernels::{Metric, Norm, Rows};
use std::sync::OnceLock;

/// References per panel (SIMD lanes across references).
pub(super) const LANES: usize = 16;
/// Queries held against one panel at a time.
pub(super) const QT: usize = 4;

/// The distance as the tile computes it.
#[derive(Clone, Debug)]
pub(super) enum TileMetric {
    /// max_c |q_c − r_c|.
    Chebyshev,
    /// max over blocks of Σ_{c ∈ block} (q_c − r_c)²; `ends` exclusive, last = d.
    SqEuclidean { ends: Vec<usize> },
}

impl TileMetric {
    pub(super) fn new(metric: &Metric, d: usize) -> Self {
        match metric.norm() {
            Norm::Chebyshev => TileMetric::Chebyshev,
            Norm::SqEuclidean => TileMetric::SqEuclidean {
                ends: metric.block_ends(d),
            },
        }
    }

    /// A lower bound on the distance of any pair whose `s` coordinates differ by at least `gap` (f32).
    #[inline]
    pub(super) fn bound(&self, gap: f32) -> f32 {
        match self {
            TileMetric::Chebyshev => gap,
            TileMetric::SqEuclidean { .. } => gap * gap,
        }
    }
}

/// Which instruction set the tile loops were compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// x86-64 AVX-512F (16 f32 lanes).
    Avx512,
    /// x86-64 AVX2 + FMA (8 f32 lanes).
    Avx2,
    /// Whatever the target's baseline is (SSE2 on x86-64, NEON on aarch64).
    Baseline,
}

impl Isa {
    /// The best ISA of this machine (detected once). `INFOPLANE_CPU_ISA=baseline|avx2`
    /// caps it, so tests and benches can compare the paths on one machine.
    pub fn detect() -> Isa {
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(|| {
            let best = Self::best_available();
            match std::env::var("INFOPLANE_CPU_ISA").as_deref() {
                Ok("baseline") => Isa::Baseline,
                Ok("avx2") if best == Isa::Avx512 => Isa::Avx2,
                _ => best,
            }
        })
    }

    /// `self`, or the best this machine has if it lacks `self` (never an unsupported path).
    pub fn or_available(self) -> Isa {
        let best = Self::best_available();
        if self.rank() > best.rank() {
            best
        } else {
            self
        }
    }

    fn rank(self) -> u8 {
        match self {
            Isa::Baseline => 0,
            Isa::Avx2 => 1,
            Isa::Avx512 => 2,
        }
    }

    fn best_available() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Isa::Avx2;
            }
        }
        Isa::Baseline
    }

    /// Short name for logs and the device name.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Baseline => "baseline",
        }
    }
}

/// Runs `f` (a generic, `#[inline(always)]` body) compiled for the detected ISA.
macro_rules! dispatch {
    ($isa:expr, $body:expr) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
            unsafe fn run_avx512<R>(f: impl FnOnce() -> R) -> R {
                f()
            }
            #[target_feature(enable = "avx2,fma")]
            unsafe fn run_avx2<R>(f: impl FnOnce() -> R) -> R {
                f()
            }
            match $isa {
                // SAFETY: `Isa::detect` returns these only when the CPU has the features.
                $crate::kernels::cpu::tile::Isa::Avx512 => unsafe { run_avx512($body) },
                // SAFETY: as above.
                $crate::kernels::cpu::tile::Isa::Avx2 => unsafe { run_avx2($body) },
                $crate::kernels::cpu::tile::Isa::Baseline => ($body)(),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = $isa;
            ($body)()
        }
    }};
}
pub(super) use dispatch;

/// `out[t][l]` = distance between query row `q[t]` and lane `l` of `panel`.
#[inline(always)]
pub(super) fn tile(
    metric: &TileMetric,
    q: &[&[f32]; QT],
    panel: &[f32],
    d: usize,
    out: &mut [[f32; LANES]; QT],
) {
    assert!(panel.len() == d * LANES && q.iter().all(|r| r.len() == d));
    match metric {
        TileMetric::Chebyshev => {
            let mut acc = [[0f32; LANES]; QT];
            for (c, r) in panel.chunks_exact(LANES).enumerate() {
                let r: &[f32; LANES] = r.try_into().unwrap();
                for t in 0..QT {
                    let qv = q[t][c];
                    for l in 0..LANES {
                        let x = (qv - r[l]).abs();
                        // `>`-select is `maxps`; identical to f32::max on non-NaN values
                        acc[t][l] = if x > acc[t][l] { x } else { acc[t][l] };
                    }
                }
            }
            *out = acc;
        }
        TileMetric::SqEuclidean { ends } => {
            let mut best = [[0f32; LANES]; QT];
            let mut start = 0;
            for &end in ends {
                let mut acc = [[0f32; LANES]; QT];
                for c in start..end {
                    let r: &[f32; LANES] = panel[c * LANES..(c + 1) * LANES].try_into().unwrap();
                    for t in 0..QT {
                        let qv = q[t][c];
                        for l in 0..LANES {
                            let x = qv - r[l];
                            acc[t][l] += x * x;
                        }
                    }
                }
                for t in 0..QT {
                    for l in 0..LANES {
                        best[t][l] = if acc[t][l] > best[t][l] {
                            acc[t][l]
                        } else {
                            best[t][l]
                        };
                    }
                }
                start = end;
            }
            *out = best;
        }
    }
}

/// Queries sorted like the references, grouped in tiles of [`QT`].
pub(super) struct QueryTiles<'a> {
    pub q: Rows<'a>,
    /// Sorted position → original query index.
    pub order: Vec<u32>,
    /// Sort column, when sorted.
    pub key: Option<usize>,
}

impl<'a> QueryTiles<'a> {
    /// The queries in their own order, unsorted (`kde_lse`, `pairwise`).
    pub fn unsorted(q: Rows<'a>) -> Self {
        QueryTiles {
            q,
            order: (0..q.n() as u32).collect(),
            key: None,
        }
    }

    /// Rows of tile starting at sorted position `p` (the last tile repeats its last query).
    #[inline(always)]
    pub fn rows(&self, p: usize) -> [&'a [f32]; QT] {
        let n = self.order.len();
        std::array::from_fn(|t| self.q.row(self.order[(p + t).min(n - 1)] as usize))
    }

    /// Sort-coordinate range of the first `n` rows of a tile.
    #[inline(always)]
    pub fn key_range(&self, rows: &[&[f32]; QT], n: usize) -> (f32, f32) {
        match self.key {
            Some(s) => rows[..n]
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), r| {
                    (lo.min(r[s]), hi.max(r[s]))
                }),
            None => (f32::NEG_INFINITY, f32::INFINITY),
        }
    }
}
