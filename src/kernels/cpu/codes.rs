//! One-byte codes of every coordinate, and the two-sided bounds they give on
//! max-norm distances: the filter-and-refine search of the vector-approximation
//! file (Weber, Schek & Blott 1998, "A quantitative analysis and performance
//! study for similarity-search methods in high-dimensional spaces", VLDB),
//! kept exact.
//!
//! Why: in the joint space of KSG (d = 20..40) the k-th distance is more than
//! one standard deviation, so most pairs lie within reach on any one
//! coordinate and neither the sorted scan nor bounding boxes skip many of them
//! (correlated Gaussians, n = 16,000, d = 20 + 20: the sorted scan visits 84 %
//! of the panels; a k-d ordering with a bounding box per panel would still
//! visit 97 %). What is left is making each examined pair cheap. A byte per
//! coordinate puts 32 pairs in an AVX2 register instead of 8 f32 ones, and the
//! max-norm of the code differences bounds the f32 distance from both sides;
//! only the pairs the bounds cannot decide get their exact distance, in f32
//! with the reference arithmetic ([`chebyshev`]). Results are unchanged to the
//! bit.
//!
//! The bounds. All columns share one step s = (widest column range) / 254;
//! column c has its own origin lo_c (its minimum over queries and references).
//! The code of v in column c is ⌊(v − lo_c)/s⌋ in 0..=254, computed in f64. For
//! values a, b of a column with codes a', b', |a − b|/s lies strictly between
//! |a' − b'| − 1 and |a' − b'| + 1 (up to the f64 rounding of the codes, below
//! 1e-13 code units, which [`SLACK`] covers). With M the largest code
//! difference of a pair over all columns and D its exact (real) max-norm
//! distance: (M − 1)·s < D < (M + 1)·s. The twins' f32 distance is fl(D)
//! (each |a_c − b_c| is rounded once, and rounding is monotone), so for an
//! f32 value x: fl(D) ≤ x needs D < next_up(x), and D ≤ next_down(x) ensures
//! fl(D) < x. [`Quantizer::below`] and [`Quantizer::within`] turn such a real
//! distance into a limit on M.
//!
//! Outliers: one extreme value stretches the step for every row and leaves
//! the codes too coarse to settle anything. `knn` needs only the lower bound,
//! which survives clipping each column to its bulk ([`Span::Clipped`]);
//! `radius_count` needs both, keeps the full range, and the callers fall back
//! to the f32 tile when the codes are coarse ([`Quantizer::resolution`]).

// Lane loops index several fixed-size arrays in step; the index form is the
// one LLVM turns into vector registers.
#![allow(clippy::needless_range_loop)]

use super::scan::{Panels, ScanOrder};
use super::tile::{QueryTiles, QT};
use crate::kernels::plan::TilePlan;
use crate::kernels::{Boundary, Rows};
use std::ops::Range;

/// References per code panel: one AVX2 register of codes.
pub(super) const CL: usize = 32;

/// The largest code; 255 stays free so that a limit of 255 admits every pair.
const TOP: f64 = 254.0;

/// Slack in code units for the f64 rounding of codes and limits (each below 1e-13).
const SLACK: f64 = 1e-9;

/// Columns between the early-exit checks of [`code_tile_within`].
const CHUNK: usize = 4;

/// How the code range of each column is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Span {
    /// From the column's smallest to its largest value: both bounds hold.
    Full,
    /// The column's central 99.8 % (estimated from a sample of rows); values
    /// beyond saturate at code 0 or 254. Saturating only brings codes closer
    /// together, so the lower bound (M − 1)·s < D still holds and the upper one
    /// does not: enough for `knn`, which needs only the lower. A few outliers
    /// then no longer stretch the step for every other row.
    Clipped,
}

/// Rows sampled per set for the column quantiles (every row of smaller sets).
const SAMPLE: usize = 2048;

/// The map from f32 coordinates to codes, shared by queries and references.
pub(super) struct Quantizer {
    /// Per column: the origin (smallest value of the column).
    lo: Vec<f64>,
    /// 1 / step.
    inv: f64,
    span: Span,
    /// The median over the columns that vary of their interquartile range, in
    /// codes (estimated from the sample): how finely the codes resolve the
    /// bulk of the data.
    resolution: f64,
}

impl Quantizer {
    /// Spans every column of every set (queries and references).
    pub fn new(sets: &[Rows<'_>], span: Span) -> Self {
        let d = sets.first().map_or(0, |r| r.d());
        let mut lo = vec![f32::INFINITY; d];
        let mut hi = vec![f32::NEG_INFINITY; d];
        if span == Span::Full {
            for rows in sets {
                for i in 0..rows.n() {
                    for (c, &v) in rows.row(i).iter().enumerate() {
                        lo[c] = lo[c].min(v);
                        hi[c] = hi[c].max(v);
                    }
                }
            }
        }
        // quartiles (and, clipped, the 0.1 % and 99.9 % quantiles) from a
        // strided sample of rows: any origin and step keep the bounds exact,
        // these only make the codes fine where the data is
        let sample: Vec<&[f32]> = sets
            .iter()
            .flat_map(|rows| {
                let m = rows.n().min(SAMPLE);
                (0..m).map(move |k| rows.row(k * rows.n() / m))
            })
            .collect();
        let mut iqr = vec![0f64; d];
        let mut col = Vec::with_capacity(sample.len());
        for c in 0..d {
            col.clear();
            col.extend(sample.iter().map(|row| row[c]));
            if col.is_empty() {
                continue;
            }
            let at = |p: f64| ((col.len() - 1) as f64 * p) as usize;
            let (i1, i2, i3, i4) = (at(0.001), at(0.25), at(0.75), at(0.999));
            let cmp = |a: &f32, b: &f32| a.total_cmp(b);
            col.select_nth_unstable_by(i2, cmp);
            if i1 < i2 {
                col[..i2].select_nth_unstable_by(i1, cmp);
            }
            col[i2..].select_nth_unstable_by(i3 - i2, cmp);
            col[i3..].select_nth_unstable_by(i4 - i3, cmp);
            iqr[c] = f64::from(col[i3]) - f64::from(col[i2]);
            if span == Span::Clipped {
                lo[c] = col[i1];
                hi[c] = col[i4];
            }
        }
        let widest = (0..d)
            .map(|c| f64::from(hi[c]) - f64::from(lo[c]))
            .fold(0.0, f64::max);
        // constant columns (or none): every code is 0 and step 1 bounds D = 0
        let inv = if widest > 0.0 && widest.is_finite() {
            TOP / widest
        } else {
            1.0
        };
        let mut varying: Vec<f64> = iqr.iter().filter(|&&x| x > 0.0).map(|x| x * inv).collect();
        varying.sort_by(f64::total_cmp);
        let resolution = varying.get(varying.len() / 2).copied().unwrap_or(0.0);
        let lo = lo
            .iter()
            .map(|&v| if v.is_finite() { f64::from(v) } else { 0.0 })
            .collect();
        Quantizer {
            lo,
            inv,
            span,
            resolution,
        }
    }

    /// The median interquartile range of the varying columns, in codes.
    pub fn resolution(&self) -> f64 {
        self.resolution
    }

    /// The code of `v` in column `c`.
    #[inline]
    pub fn code(&self, c: usize, v: f32) -> u8 {
        // truncation is the floor on 0..=TOP (and needs no libm call)
        ((f64::from(v) - self.lo[c]) * self.inv).clamp(0.0, TOP) as u8
    }

    /// A limit L such that a pair whose exact distance is at most `x` has M < L
    /// (`x` below 0 or NaN: 0, nothing; beyond the codes: 255, everything).
    #[inline]
    fn below(&self, x: f32) -> u8 {
        // D ≤ x and (M − 1)·s < D give M < x/s + 1
        limit(f64::from(x) * self.inv + 1.0 + SLACK)
    }

    /// A limit L such that every pair with M < L has exact distance at most `x`.
    #[inline]
    fn within(&self, x: f32) -> u8 {
        // D < (M + 1)·s ≤ x when M ≤ x/s − 1
        limit(f64::from(x) * self.inv - 1.0 - SLACK)
    }

    /// The pairs that may have f32 distance `<= w` (a k-list's current k-th
    /// distance, ties included) have M below this limit.
    #[inline]
    pub fn knn_limit(&self, w: f32) -> u8 {
        self.below(w.next_up())
    }

    /// `(may, sure)` for a radius: a pair that counts has M < may; a pair with
    /// M < sure counts. `sure <= may`.
    #[inline]
    pub fn count_limits(&self, radius: f32, boundary: Boundary) -> (u8, u8) {
        // the sure limit needs the upper bound, which clipping gives up
        debug_assert_eq!(self.span, Span::Full);
        match boundary {
            Boundary::Less => (self.below(radius), self.within(radius.next_down())),
            Boundary::LessEqual => (self.below(radius.next_up()), self.within(radius)),
        }
    }
}

/// `M <= ⌊t⌋` as a strict limit `⌊t⌋ + 1`, clamped to the byte (NaN: 0).
#[inline]
fn limit(t: f64) -> u8 {
    if t.is_nan() || t < 0.0 {
        0 // ⌊t⌋ + 1 <= 0, or NaN
    } else if t >= 254.0 {
        255
    } else {
        t as u8 + 1 // truncation is the floor for t >= 0
    }
}

/// max_c |a_c − b_c| in f32: the value of [`crate::kernels::Metric::distance`]
/// and of the tile (each term is rounded once and a max does not depend on
/// the order of its terms), eight columns at a time.
#[inline(always)]
pub(super) fn chebyshev(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let mut acc = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (a8.remainder(), b8.remainder());
    for (x, y) in a8.zip(b8) {
        for l in 0..8 {
            let v = (x[l] - y[l]).abs();
            acc[l] = if v > acc[l] { v } else { acc[l] };
        }
    }
    for (l, (x, y)) in ra.iter().zip(rb).enumerate() {
        let v = (x - y).abs();
        acc[l] = if v > acc[l] { v } else { acc[l] };
    }
    acc.iter().fold(0f32, |m, &v| if v > m { v } else { m })
}

/// Everything a coded scan reads: the references' codes in panels of [`CL`]
/// rows (dimension-major) and their f32 rows in the sorted order (row-major,
/// for the exact distances of the few pairs the codes do not settle), the
/// sorted queries with their codes, the quantizer and the work units.
pub(super) struct CodedScan<'a> {
    pub panels: Panels<u8, CL>,
    /// `n_ref × d`: the reference rows by sorted position.
    rows: Vec<f32>,
    pub queries: QueryTiles<'a>,
    /// `n_query × d` codes by sorted position.
    qcodes: Vec<u8>,
    /// Per column, `cdf[c·257 + v]`: how many references have a code below `v`.
    cdf: Vec<u32>,
    pub quant: Quantizer,
    pub units: Vec<Range<usize>>,
}

impl<'a> CodedScan<'a> {
    /// The references of `order` coded by `quant`.
    pub fn new(plan: &TilePlan, order: ScanOrder<'a>, r: Rows<'_>, quant: Quantizer) -> Self {
        let panels: Panels<u8, CL> = order.panels(r, plan, |c, v| quant.code(c, v));
        let d = r.d();
        let mut rows = Vec::with_capacity(order.r_order.len() * d);
        for &j in &order.r_order {
            rows.extend_from_slice(r.row(j as usize));
        }
        let q = order.queries.q;
        let mut qcodes = vec![0u8; order.queries.order.len() * d];
        for (p, &i) in order.queries.order.iter().enumerate() {
            for (c, &v) in q.row(i as usize).iter().enumerate() {
                qcodes[p * d + c] = quant.code(c, v);
            }
        }
        let mut cdf = vec![0u32; d * 257];
        for pi in 0..panels.count() {
            let codes = panels.panel(pi);
            for c in 0..d {
                for &v in &codes[c * CL..c * CL + usize::from(panels.len[pi])] {
                    cdf[c * 257 + usize::from(v) + 1] += 1;
                }
            }
        }
        for c in 0..d {
            for v in 0..256 {
                cdf[c * 257 + v + 1] += cdf[c * 257 + v];
            }
        }
        CodedScan {
            panels,
            rows,
            queries: order.queries,
            qcodes,
            cdf,
            quant,
            units: order.units,
        }
    }

    /// The exact f32 max-norm distance between `q` and lane `l` (valid) of panel `i`.
    #[inline(always)]
    pub fn distance(&self, q: &[f32], i: usize, l: usize) -> f32 {
        chebyshev(q, self.row(self.panels.start[i] as usize + l))
    }

    /// The reference row at sorted position `pos`.
    #[inline(always)]
    pub fn row(&self, pos: usize) -> &[f32] {
        let d = self.panels.d;
        &self.rows[pos * d..(pos + 1) * d]
    }

    /// Asks the cache for the row at sorted position `pos`, to be read a little later.
    #[inline(always)]
    pub fn prefetch_row(&self, pos: usize) {
        let row = self.row(pos);
        #[cfg(target_arch = "x86_64")]
        for line in [row.first(), row.last()].into_iter().flatten() {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            // SAFETY: SSE is part of the x86-64 baseline; a prefetch has no effect on memory.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(line).cast()) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = row;
    }

    /// The columns in the order the tile loop should take them for the tile
    /// at sorted position `p`: fewest references within `window` codes of the
    /// tile's queries first, so that the early exit of [`code_tile_within`]
    /// comes as soon as it can (a query far out in one column has few
    /// references near it there). Any order gives the same M.
    pub fn column_order(&self, p: usize, window: u8, cols: &mut Vec<usize>) {
        let d = self.panels.d;
        let n = self.queries.order.len();
        let w = usize::from(window);
        let mut near = vec![0u32; d];
        for t in 0..QT {
            let i = (p + t).min(n - 1);
            for (c, &v) in self.qcodes[i * d..(i + 1) * d].iter().enumerate() {
                let v = usize::from(v);
                let cdf = &self.cdf[c * 257..(c + 1) * 257];
                near[c] += cdf[(v + w + 1).min(256)] - cdf[v.saturating_sub(w)];
            }
        }
        cols.clear();
        cols.extend(0..d);
        cols.sort_by_key(|&c| (near[c], c));
    }

    /// The codes of the tile starting at sorted position `p` (the last tile
    /// repeats its last query) for the columns `cols`, each broadcast to a
    /// lane row: `out[k·QT + t]` holds query `t`'s code of column `cols[k]` in
    /// every lane, so the tile loop reads it as one vector instead of
    /// broadcasting a byte per step.
    #[inline(always)]
    pub fn broadcast(&self, p: usize, cols: &[usize], out: &mut Vec<[u8; CL]>) {
        let d = self.panels.d;
        let n = self.queries.order.len();
        out.clear();
        out.resize(cols.len() * QT, [0; CL]);
        for t in 0..QT {
            let i = (p + t).min(n - 1);
            let codes = &self.qcodes[i * d..(i + 1) * d];
            for (k, &c) in cols.iter().enumerate() {
                out[k * QT + t] = [codes[c]; CL];
            }
        }
    }
}

/// `out[t][l]` = M, the largest code difference between query `t` (codes
/// broadcast as by [`CodedScan::broadcast`]) and lane `l` of a code panel.
#[inline(always)]
pub(super) fn code_tile(qb: &[[u8; CL]], panel: &[u8], d: usize, out: &mut [[u8; CL]; QT]) {
    assert!(panel.len() == d * CL && qb.len() == d * QT);
    let mut acc = [[0u8; CL]; QT];
    for (r, q) in panel.chunks_exact(CL).zip(qb.chunks_exact(QT)) {
        step(&mut acc, q, r.try_into().unwrap());
    }
    *out = acc;
}

/// One column of the code tile.
#[inline(always)]
fn step(acc: &mut [[u8; CL]; QT], q: &[[u8; CL]], r: &[u8; CL]) {
    for t in 0..QT {
        for l in 0..CL {
            // max − min, not abs_diff: LLVM widens abs_diff to 32-bit lanes
            let x = q[t][l].max(r[l]) - q[t][l].min(r[l]);
            acc[t][l] = acc[t][l].max(x);
        }
    }
}

/// Like [`code_tile`] over the columns `cols` (in that order; `qb` broadcast
/// for them), but gives up (returns `false`, `out` undefined) as soon as every
/// pair has reached its query's limit (`M >= limit[t]`): M only grows with
/// more columns. Checked once per [`CHUNK`] columns.
#[inline(always)]
pub(super) fn code_tile_within(
    qb: &[[u8; CL]],
    panel: &[u8],
    cols: &[usize],
    limit: &[u8; QT],
    out: &mut [[u8; CL]; QT],
) -> bool {
    let d = cols.len();
    assert!(panel.len() == d * CL && qb.len() == d * QT);
    let mut acc = [[0u8; CL]; QT];
    let mut k0 = 0;
    while k0 < d {
        let k1 = (k0 + CHUNK).min(d);
        for (q, &c) in qb[k0 * QT..k1 * QT].chunks_exact(QT).zip(&cols[k0..k1]) {
            step(&mut acc, q, panel[c * CL..(c + 1) * CL].try_into().unwrap());
        }
        k0 = k1;
        if k0 < d && !any_below(&acc, limit, 0..CL) {
            return false;
        }
    }
    *out = acc;
    true
}

/// Whether any lane of `m[t]` is below `limit[t]`, over lanes `lanes` (a reduction
/// LLVM keeps in vector registers).
#[inline(always)]
pub(super) fn any_below(m: &[[u8; CL]; QT], limit: &[u8; QT], lanes: Range<usize>) -> bool {
    let mut v = [0u8; CL];
    for t in 0..QT {
        for l in lanes.clone() {
            v[l] |= limit[t].saturating_sub(m[t][l]);
        }
    }
    v.iter().fold(0, |a, &x| a | x) != 0
}

/// `acc[l] += 1` where `m[l] < limit[l]`.
///
/// Why intrinsics: LLVM turns `acc[l] += u8::from(m[l] < limit[l])` into
/// per-byte compares and carries instead of two vector instructions (the
/// boolean blocks its vectoriser across lanes). SSE2 is part of every x86-64,
/// so this is valid in each ISA variant of the tile loops.
#[inline(always)]
pub(super) fn add_below(acc: &mut [u8; CL], m: &[u8; CL], limit: &[u8; CL]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_add_epi8, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_storeu_si128,
            _mm_sub_epi8,
        };
        for h in 0..CL / 16 {
            // SAFETY: SSE2 is part of the x86-64 baseline (always enabled), and
            // bytes 16h..16h + 16 lie within the three 32-byte arrays
            // (unaligned loads and store).
            unsafe {
                let a = _mm_loadu_si128(m.as_ptr().add(16 * h).cast::<__m128i>());
                let b = _mm_loadu_si128(limit.as_ptr().add(16 * h).cast::<__m128i>());
                let c = acc.as_mut_ptr().add(16 * h).cast::<__m128i>();
                // ge = −1 where a >= b, else 0; acc − (−1) + ge adds 1 where a < b
                let ge = _mm_cmpeq_epi8(_mm_max_epu8(a, b), a);
                let minus_one = _mm_cmpeq_epi8(a, a);
                let sum = _mm_sub_epi8(_mm_loadu_si128(c), minus_one);
                _mm_storeu_si128(c, _mm_add_epi8(sum, ge));
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        for l in 0..CL {
            acc[l] += u8::from(m[l] < limit[l]);
        }
    }
}

/// Bit `l` set where `m[l]` lies in `[lo[l], lo[l] + width[l])`.
#[inline(always)]
pub(super) fn in_band(m: &[u8; CL], lo: &[u8; CL], width: &[u8; CL]) -> u32 {
    let mut v = [0u8; CL];
    for l in 0..CL {
        // nonzero iff m − lo (mod 256) < width; no boolean, so LLVM keeps it in vectors
        v[l] = width[l].saturating_sub(m[l].wrapping_sub(lo[l]));
    }
    nonzero_mask(&v)
}

/// Bit `l` set where `m[l] < limit[l]`.
#[inline(always)]
pub(super) fn below_mask(m: &[u8; CL], limit: &[u8; CL]) -> u32 {
    let mut v = [0u8; CL];
    for l in 0..CL {
        v[l] = limit[l].saturating_sub(m[l]);
    }
    nonzero_mask(&v)
}

/// Bit `l` set where `v[l] != 0`.
///
/// Why intrinsics: LLVM does not turn a loop of `bits |= u32::from(…) << l`
/// into a byte compare and `pmovmskb`. SSE2 is part of every x86-64, so this
/// is valid in each ISA variant of the tile loops (wider paths re-encode it).
#[inline(always)]
pub(super) fn nonzero_mask(v: &[u8; CL]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_setzero_si128,
        };
        let mut bits = 0u32;
        for h in 0..CL / 16 {
            // SAFETY: SSE2 is part of the x86-64 baseline (always enabled), and
            // bytes 16h..16h + 16 lie within the 32-byte array (an unaligned load).
            let zero = unsafe {
                let a = _mm_loadu_si128(v.as_ptr().add(16 * h).cast::<__m128i>());
                _mm_movemask_epi8(_mm_cmpeq_epi8(a, _mm_setzero_si128())) as u32
            };
            bits |= (!zero & 0xffff) << (16 * h);
        }
        bits
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut bits = 0u32;
        for l in 0..CL {
            bits |= u32::from(v[l] != 0) << l;
        }
        bits
    }
}

/// The first `n` lanes of a code panel.
#[inline(always)]
pub(super) fn lanes(n: usize) -> u32 {
    if n >= CL {
        u32::MAX
    } else {
        (1u32 << n) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bounds hold at the edges: limits from exact distances, ties, signs
    /// and the ends of the code range.
    #[test]
    fn limits_bound_the_f32_distance() {
        let vals: Vec<f32> = vec![
            -3.0,
            -2.5,
            -1.0,
            -0.3,
            -0.0,
            0.0,
            1e-8,
            0.1,
            0.3,
            0.3f32.next_up(),
            1.0,
            2.0,
            3.0f32.next_down(),
            3.0,
        ];
        let n = vals.len();
        let rows = Rows::new(&vals, n, 1).unwrap();
        let q = Quantizer::new(&[rows], Span::Full);
        for &a in &vals {
            for &b in &vals {
                let d = (a - b).abs();
                let m = q.code(0, a).abs_diff(q.code(0, b));
                for &x in &vals {
                    let x = x.abs();
                    for x in [x, x.next_up(), x.next_down()] {
                        if d <= x {
                            assert!(m < q.knn_limit(x), "{a} {b} {x}");
                        }
                        for bd in [Boundary::Less, Boundary::LessEqual] {
                            let (may, sure) = q.count_limits(x, bd);
                            assert!(sure <= may);
                            if bd.admits(d, x) {
                                assert!(m < may, "{a} {b} {x} {bd:?}");
                            }
                            if m < sure {
                                assert!(bd.admits(d, x), "{a} {b} {x} {bd:?}");
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(q.knn_limit(f32::INFINITY), 255);
        assert_eq!(q.count_limits(f32::NAN, Boundary::Less), (0, 0));
        assert_eq!(q.count_limits(-1.0, Boundary::LessEqual), (0, 0));
    }

    #[test]
    fn nonzero_mask_finds_the_lanes() {
        let mut x = 12345u32;
        for _ in 0..200 {
            let mut v = [0u8; CL];
            for l in 0..CL {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                v[l] = if x.is_multiple_of(3) {
                    (x >> 8) as u8 | 1
                } else {
                    0
                };
            }
            let want = (0..CL).fold(0u32, |b, l| b | u32::from(v[l] != 0) << l);
            assert_eq!(nonzero_mask(&v), want);
            let mut acc = v;
            let lim: [u8; CL] = std::array::from_fn(|l| v[(l + 7) % CL]);
            add_below(&mut acc, &v, &lim);
            for l in 0..CL {
                assert_eq!(acc[l], v[l] + u8::from(v[l] < lim[l]));
            }
            assert_eq!(
                below_mask(&v, &lim),
                (0..CL).fold(0, |b, l| b | u32::from(v[l] < lim[l]) << l)
            );
            // in use lo + width <= 255 (the may limit)
            let w: [u8; CL] = std::array::from_fn(|l| (255 - lim[l]) / 2);
            let band = (0..CL).fold(0, |b, l| {
                b | u32::from(
                    v[l] >= lim[l] && u32::from(v[l]) < u32::from(lim[l]) + u32::from(w[l]),
                ) << l
            });
            assert_eq!(in_band(&v, &lim, &w), band);
        }
    }

    #[test]
    fn clipped_codes_keep_the_lower_bound() {
        // 3000 rows: the sample's 0.1 % and 99.9 % quantiles cut the outliers off
        let vals: Vec<f32> = (0..3000)
            .map(|i| match i {
                17 => 1e4,
                1234 => -3e3,
                _ => ((i * 37 % 1000) as f32 - 500.0) / 250.0,
            })
            .collect();
        let rows = Rows::new(&vals, 3000, 1).unwrap();
        let q = Quantizer::new(&[rows], Span::Clipped);
        // the step follows the bulk ([-2, 2]), not the outliers
        assert!(q.resolution() > 100.0, "{}", q.resolution());
        let some = |step: usize| (0..3000).filter(move |&i| i % step == 0 || i == 17 || i == 1234);
        for i in some(7) {
            for j in some(11) {
                let (a, b) = (vals[i], vals[j]);
                let m = q.code(0, a).abs_diff(q.code(0, b));
                let d = (a - b).abs();
                assert!(m < q.knn_limit(d), "{a} {b}");
            }
        }
    }

    #[test]
    fn constant_columns_code_to_zero_and_admit_everything() {
        let vals = vec![2.5f32; 12];
        let rows = Rows::new(&vals, 4, 3).unwrap();
        let q = Quantizer::new(&[rows], Span::Full);
        assert!((0..3).all(|c| q.code(c, 2.5) == 0));
        assert!(q.knn_limit(0.0) > 0);
        assert!(q.count_limits(0.0, Boundary::LessEqual).0 > 0);
        assert_eq!(q.count_limits(0.0, Boundary::Less).1, 0);
    }
}
