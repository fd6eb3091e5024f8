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
//! Exact pruning (DESIGN.md; the box-assisted search of Kraskov, Stögbauer &
//! Grassberger 2004, Phys. Rev. E 69, 066138, appendix): references and
//! queries are sorted along one coordinate `s`; a panel records the range of
//! `s` it holds. For every pair, `dist >= fl(|q_s − r_s|)` (max-norm: one term
//! of the max; block squared-Euclidean: one non-negative term of one block's
//! sum, and f32 rounding is monotone), and `fl(|q_s − r_s|)` is bounded below
//! by the f32 gap between the query tile's range and the panel's range. A panel
//! whose bound is strictly above every query's current threshold (k-th
//! distance, or radius) is skipped; panels are visited outward from the query
//! tile so the thresholds shrink early and a whole side stops at once.
//!
//! The ISA is chosen at run time ([`Isa::detect`]): the same generic loops are
//! compiled three times under `#[target_feature]` (AVX-512, AVX2+FMA, and the
//! baseline), so one binary uses the vector width of the machine it runs on.

// Lane loops index several fixed-size arrays in step; the index form is the
// one LLVM turns into vector registers.
#![allow(clippy::needless_range_loop)]

use crate::kernels::plan::TilePlan;
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

/// References packed for the tile: panels of [`LANES`] rows, dimension-major.
pub(super) struct Panels {
    pub d: usize,
    /// `n_panels × d × LANES`.
    pub data: Vec<f32>,
    /// `n_panels × LANES` original reference indices (padding lanes repeat a valid one).
    pub idx: Vec<u32>,
    /// Valid lanes per panel.
    pub len: Vec<u8>,
    /// Position in `order` of each panel's first lane (lane `l` holds `order[start + l]`).
    pub start: Vec<u32>,
    /// Range of the sort coordinate per panel (meaningless when unsorted).
    pub keys: Keys,
}

/// The range of the sort coordinate held by each panel, ascending along the
/// sorted order: what [`Scan`] bounds the distances with.
#[derive(Default)]
pub(super) struct Keys {
    pub lo: Vec<f32>,
    pub hi: Vec<f32>,
}

impl Keys {
    /// The range of panel `start..end` of `order` along column `key` (unbounded when unsorted).
    pub fn push(
        &mut self,
        r: Rows<'_>,
        order: &[u32],
        start: usize,
        end: usize,
        key: Option<usize>,
    ) {
        let (lo, hi) = match key {
            Some(s) => (
                r.row(order[start] as usize)[s],
                r.row(order[end - 1] as usize)[s],
            ),
            None => (f32::NEG_INFINITY, f32::INFINITY),
        };
        self.lo.push(lo);
        self.hi.push(hi);
    }

    pub fn count(&self) -> usize {
        self.lo.len()
    }
}

impl Panels {
    /// Packs `r` in the given order; panels never straddle a reference block of `plan`
    /// (so tiny plan limits exercise short panels and block edges).
    pub fn pack(r: Rows<'_>, order: &[u32], plan: &TilePlan, key: Option<usize>) -> Panels {
        let d = r.d();
        let mut p = Panels {
            d,
            data: Vec::new(),
            idx: Vec::new(),
            len: Vec::new(),
            start: Vec::new(),
            keys: Keys::default(),
        };
        let n_panels: usize = plan.ref_blocks().map(|b| b.len().div_ceil(LANES)).sum();
        p.data.reserve(n_panels * d * LANES);
        for block in plan.ref_blocks() {
            let mut start = block.start;
            while start < block.end {
                let end = (start + LANES).min(block.end);
                let base = p.data.len();
                p.data.resize(base + d * LANES, 0.0);
                for l in 0..LANES {
                    let pos = (start + l).min(end - 1);
                    let j = order[pos];
                    p.idx.push(j);
                    for (c, &v) in r.row(j as usize).iter().enumerate() {
                        p.data[base + c * LANES + l] = v;
                    }
                }
                p.keys.push(r, order, start, end, key);
                p.len.push((end - start) as u8);
                p.start.push(start as u32);
                start = end;
            }
        }
        p
    }

    pub fn count(&self) -> usize {
        self.len.len()
    }

    #[inline(always)]
    pub fn panel(&self, i: usize) -> &[f32] {
        &self.data[i * self.d * LANES..(i + 1) * self.d * LANES]
    }

    #[inline(always)]
    pub fn indices(&self, i: usize) -> &[u32] {
        &self.idx[i * LANES..(i + 1) * LANES]
    }
}

/// The order shared by the pruned scans (`knn`, `radius_count`): references
/// sorted along their widest column `key`, queries in the same order (the
/// references' own order when they are the same rows), and the work units:
/// query blocks of the plan cut into runs of `unit` rows.
pub(super) struct ScanOrder<'a> {
    pub key: usize,
    pub r_order: Vec<u32>,
    pub queries: QueryTiles<'a>,
    pub units: Vec<std::ops::Range<usize>>,
}

impl<'a> ScanOrder<'a> {
    pub fn new(plan: &TilePlan, q: Rows<'a>, r: Rows<'_>, same_rows: bool, unit: usize) -> Self {
        let key = sort_column(r);
        let r_order = sorted_order(r, key);
        let queries = QueryTiles {
            q,
            order: if same_rows {
                r_order.clone()
            } else {
                sorted_order(q, key)
            },
            key: Some(key),
        };
        let units = plan
            .query_blocks()
            .flat_map(|b| {
                (b.start..b.end)
                    .step_by(unit)
                    .map(move |u| u..(u + unit).min(b.end))
            })
            .collect();
        ScanOrder {
            key,
            r_order,
            queries,
            units,
        }
    }
}

/// [`ScanOrder`] with the references packed into f32 panels.
pub(super) fn sorted_scan<'a>(
    plan: &TilePlan,
    q: Rows<'a>,
    r: Rows<'_>,
    same_rows: bool,
    unit: usize,
) -> (Panels, QueryTiles<'a>, Vec<std::ops::Range<usize>>) {
    let o = ScanOrder::new(plan, q, r, same_rows, unit);
    let panels = Panels::pack(r, &o.r_order, plan, Some(o.key));
    (panels, o.queries, o.units)
}

/// The column with the widest range: the sort coordinate of the box-assisted scan.
pub(super) fn sort_column(r: Rows<'_>) -> usize {
    let d = r.d();
    let mut lo = vec![f32::INFINITY; d];
    let mut hi = vec![f32::NEG_INFINITY; d];
    for i in 0..r.n() {
        for (c, &v) in r.row(i).iter().enumerate() {
            lo[c] = lo[c].min(v);
            hi[c] = hi[c].max(v);
        }
    }
    (0..d)
        .max_by(|&a, &b| (hi[a] - lo[a]).total_cmp(&(hi[b] - lo[b])).then(b.cmp(&a)))
        .unwrap_or(0)
}

/// Row indices sorted by column `s` (ties by index, so equal sets sort identically).
pub(super) fn sorted_order(rows: Rows<'_>, s: usize) -> Vec<u32> {
    let mut order: Vec<u32> = (0..rows.n() as u32).collect();
    order.sort_unstable_by(|&a, &b| {
        rows.row(a as usize)[s]
            .total_cmp(&rows.row(b as usize)[s])
            .then(a.cmp(&b))
    });
    order
}

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

/// The panels that may hold a pair under the threshold for one query tile,
/// nearest first (a hand-driven iterator, so the caller's tile code stays
/// inline in the ISA-specific function instead of behind a closure).
pub(super) struct Scan {
    lo: f32,
    hi: f32,
    left: usize,
    right: usize,
    first: Option<usize>,
}

impl Scan {
    /// Starts at the panel where the tile's sort-coordinate range `(lo, hi)` begins.
    #[inline(always)]
    pub fn new(keys: &Keys, (lo, hi): (f32, f32)) -> Scan {
        let start = keys.lo.partition_point(|&v| v <= lo).saturating_sub(1);
        Scan {
            lo,
            hi,
            left: start,
            right: start + 1,
            first: (keys.count() > 0).then_some(start),
        }
    }

    /// The next panel to visit given the largest threshold of the tile's queries
    /// now (a k-th distance shrinks as neighbours are found; a radius stays).
    #[inline(always)]
    pub fn next(&mut self, keys: &Keys, metric: &TileMetric, threshold: f32) -> Option<usize> {
        if let Some(f) = self.first.take() {
            return Some(f);
        }
        let np = keys.count();
        let bl = (self.left > 0).then(|| metric.bound((self.lo - keys.hi[self.left - 1]).max(0.0)));
        let br = (self.right < np).then(|| metric.bound((keys.lo[self.right] - self.hi).max(0.0)));
        let (go_left, b) = match (bl, br) {
            (None, None) => return None,
            (Some(a), None) => (true, a),
            (None, Some(b)) => (false, b),
            (Some(a), Some(b)) => (a <= b, a.min(b)),
        };
        // Bounds only grow outward on each side and thresholds only shrink, so
        // once the nearer side is out of reach everything left is.
        if b > threshold {
            self.left = 0;
            self.right = np;
            return None;
        }
        if go_left {
            self.left -= 1;
            Some(self.left)
        } else {
            self.right += 1;
            Some(self.right - 1)
        }
    }
}
