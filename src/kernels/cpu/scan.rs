//! The pruned scan of the CPU twins: one panel builder, one panel walk and
//! one driver, shared by `knn` and `radius_count` (f32 tile or byte codes,
//! one-sided or symmetric), the CPU side of `shaders/ref_scan.wgsl`.
//!
//! Exact pruning (DESIGN.md; the box-assisted search of Kraskov, Stögbauer &
//! Grassberger 2004, Phys. Rev. E 69, 066138, appendix): references and
//! queries are sorted along one coordinate `s`; a panel records the range of
//! `s` it holds. For every pair, `dist >= fl(|q_s − r_s|)` (max-norm: one term
//! of the max; block squared-Euclidean: one non-negative term of one block's
//! sum, and f32 rounding is monotone), and `fl(|q_s − r_s|)` is bounded below
//! by the f32 gap between the query tile's range and the panel's range. A panel
//! whose bound is strictly above every query's current threshold (k-th
//! distance, or radius) is skipped.
//!
//! Two walks visit the panels ([`Walker`]): [`Outward`] from the query rows'
//! own panel to both sides, nearest first, so the k-th distances shrink early
//! and a whole side stops at once; [`Rightward`] for symmetric counts
//! (queries = references), where each unordered pair is examined once from its
//! lower sorted position. What happens at a visited panel is the scan's own
//! ([`TileScan`]); [`walk_unit`] is the one loop that drives them all, and
//! [`map_units`] / [`fold_units`] run it over the plan's work units for the
//! detected ISA.

use super::tile::{dispatch, Isa, QueryTiles, TileMetric};
use crate::kernels::plan::TilePlan;
use crate::kernels::Rows;
use rayon::prelude::*;
use std::ops::Range;

/// The range of the sort coordinate held by each panel, ascending along the
/// sorted order: what the walks bound the distances with.
#[derive(Default)]
pub(super) struct Keys {
    pub lo: Vec<f32>,
    pub hi: Vec<f32>,
}

impl Keys {
    /// The range of panel `start..end` of `order` along column `key` (unbounded when unsorted).
    fn push(&mut self, r: Rows<'_>, order: &[u32], start: usize, end: usize, key: Option<usize>) {
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

/// References packed for a tile: panels of `L` rows, dimension-major (the
/// layout of the GPU tiles, transposed for SIMD lanes), each value of type
/// `T`: f32 for the distance tile, a one-byte code for the coded scans.
pub(super) struct Panels<T, const L: usize> {
    pub d: usize,
    /// `n_panels × d × L`.
    data: Vec<T>,
    /// `n_panels × L` original reference indices (padding lanes repeat a valid one).
    idx: Vec<u32>,
    /// Valid lanes per panel.
    pub len: Vec<u8>,
    /// Position in the order of each panel's first lane (lane `l` holds `order[start + l]`).
    pub start: Vec<u32>,
    /// Range of the sort coordinate per panel (unbounded when unsorted).
    pub keys: Keys,
}

impl<T: Copy + Default, const L: usize> Panels<T, L> {
    /// Packs `r` in `order`, every value as `value(column, v)`. Panels never
    /// straddle a reference block of `plan` (so tiny plan limits exercise
    /// short panels and block edges); `key` is the sort column.
    pub fn pack(
        r: Rows<'_>,
        order: &[u32],
        plan: &TilePlan,
        key: Option<usize>,
        value: impl Fn(usize, f32) -> T,
    ) -> Self {
        let d = r.d();
        let n_panels: usize = plan.ref_blocks().map(|b| b.len().div_ceil(L)).sum();
        let mut p = Panels {
            d,
            data: Vec::with_capacity(n_panels * d * L),
            idx: Vec::with_capacity(n_panels * L),
            len: Vec::with_capacity(n_panels),
            start: Vec::with_capacity(n_panels),
            keys: Keys::default(),
        };
        for block in plan.ref_blocks() {
            for start in block.clone().step_by(L) {
                let end = (start + L).min(block.end);
                let base = p.data.len();
                p.data.resize(base + d * L, T::default());
                for l in 0..L {
                    let j = order[(start + l).min(end - 1)];
                    p.idx.push(j);
                    for (c, &v) in r.row(j as usize).iter().enumerate() {
                        p.data[base + c * L + l] = value(c, v);
                    }
                }
                p.keys.push(r, order, start, end, key);
                p.len.push((end - start) as u8);
                p.start.push(start as u32);
            }
        }
        p
    }

    pub fn count(&self) -> usize {
        self.len.len()
    }

    /// Panel `i`: `d × L` values, dimension-major.
    #[inline(always)]
    pub fn panel(&self, i: usize) -> &[T] {
        &self.data[i * self.d * L..(i + 1) * self.d * L]
    }

    /// The original reference index of every lane of panel `i`.
    #[inline(always)]
    pub fn indices(&self, i: usize) -> &[u32] {
        &self.idx[i * L..(i + 1) * L]
    }

    /// The [`Outward`] walk over these panels.
    pub fn outward<'a>(&'a self, metric: &'a TileMetric) -> Outward<'a> {
        Outward {
            keys: &self.keys,
            metric,
        }
    }

    /// The per-panel radii of a symmetric scan whose reference `j` has radius
    /// `radii[j]`: each panel's largest (`own`), and the largest of the panels
    /// from it to the end (`ahead`). `f32::max` skips a NaN radius (which
    /// admits nothing either way).
    pub fn reach(&self, radii: &[f32]) -> Reach {
        let own: Vec<f32> = (0..self.count())
            .map(|pi| {
                self.indices(pi)[..usize::from(self.len[pi])]
                    .iter()
                    .fold(f32::NEG_INFINITY, |m, &j| m.max(radii[j as usize]))
            })
            .collect();
        let mut ahead = own.clone();
        for i in (0..ahead.len().saturating_sub(1)).rev() {
            ahead[i] = ahead[i].max(ahead[i + 1]);
        }
        Reach { own, ahead }
    }

    /// The [`Rightward`] walk over these panels with the radii `reach`.
    pub fn rightward<'a>(&'a self, metric: &'a TileMetric, reach: &'a Reach) -> Rightward<'a> {
        Rightward {
            keys: &self.keys,
            metric,
            start: &self.start,
            len: &self.len,
            own: &reach.own,
            ahead: &reach.ahead,
        }
    }
}

/// The largest radius of each panel's references (`own`) and of the panels
/// from each one to the end (`ahead`): what a [`Rightward`] walk skips and
/// stops by.
pub(super) struct Reach {
    own: Vec<f32>,
    ahead: Vec<f32>,
}

/// The order shared by the pruned scans (`knn`, `radius_count`): references
/// sorted along their widest column `key`, queries in the same order (the
/// references' own order when they are the same rows), and the work units:
/// query blocks of the plan cut into runs of `unit` rows.
pub(super) struct ScanOrder<'a> {
    pub key: usize,
    pub r_order: Vec<u32>,
    pub queries: QueryTiles<'a>,
    pub units: Vec<Range<usize>>,
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

    /// The references packed in this order as `L`-row panels of `value(column, v)`.
    pub fn panels<T: Copy + Default, const L: usize>(
        &self,
        r: Rows<'_>,
        plan: &TilePlan,
        value: impl Fn(usize, f32) -> T,
    ) -> Panels<T, L> {
        Panels::pack(r, &self.r_order, plan, Some(self.key), value)
    }
}

/// The column with the widest range: the sort coordinate of the box-assisted scan.
fn sort_column(r: Rows<'_>) -> usize {
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
fn sorted_order(rows: Rows<'_>, s: usize) -> Vec<u32> {
    let mut order: Vec<u32> = (0..rows.n() as u32).collect();
    order.sort_unstable_by(|&a, &b| {
        rows.row(a as usize)[s]
            .total_cmp(&rows.row(b as usize)[s])
            .then(a.cmp(&b))
    });
    order
}

/// One walk over the panels for one group of query rows.
pub(super) trait Walk {
    /// The next panel that may hold a pair under `threshold`, the largest
    /// threshold of the group now (a k-th distance shrinks as neighbours are
    /// found; a radius stays); `None` when no panel left can.
    fn next(&mut self, threshold: f32) -> Option<usize>;
}

/// Starts the walks of a scan over one set of panels.
pub(super) trait Walker: Sync {
    type Walk: Walk;
    /// The walk of the group whose first row is at sorted position `p` and
    /// whose rows span `range` on the sort coordinate.
    fn start(&self, p: usize, range: (f32, f32)) -> Self::Walk;
}

/// Every panel that may matter, outward from the group's own, nearest first.
pub(super) struct Outward<'a> {
    keys: &'a Keys,
    metric: &'a TileMetric,
}

impl<'a> Walker for Outward<'a> {
    type Walk = OutwardWalk<'a>;
    #[inline(always)]
    fn start(&self, _p: usize, (lo, hi): (f32, f32)) -> OutwardWalk<'a> {
        let start = self.keys.lo.partition_point(|&v| v <= lo).saturating_sub(1);
        OutwardWalk {
            keys: self.keys,
            metric: self.metric,
            lo,
            hi,
            left: start,
            right: start + 1,
            first: (self.keys.count() > 0).then_some(start),
        }
    }
}

/// The state of an [`Outward`] walk (a hand-driven iterator, so that the
/// scan's tile code stays inline in the ISA-specific function).
pub(super) struct OutwardWalk<'a> {
    keys: &'a Keys,
    metric: &'a TileMetric,
    lo: f32,
    hi: f32,
    left: usize,
    right: usize,
    first: Option<usize>,
}

impl Walk for OutwardWalk<'_> {
    #[inline(always)]
    fn next(&mut self, threshold: f32) -> Option<usize> {
        if let Some(f) = self.first.take() {
            return Some(f);
        }
        let (keys, metric) = (self.keys, self.metric);
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

/// The walk of symmetric counts (queries = references): from the panel
/// holding the group's first position to the right only (the pairs on the
/// left belong to earlier groups). Each pair is tested against both ends'
/// radii, so a panel is skipped only when its bound exceeds both the group's
/// largest radius and the panel's own, and the walk stops once the bound
/// exceeds the largest radius of all panels still ahead ([`Reach`]).
#[derive(Clone, Copy)]
pub(super) struct Rightward<'a> {
    keys: &'a Keys,
    metric: &'a TileMetric,
    start: &'a [u32],
    len: &'a [u8],
    own: &'a [f32],
    ahead: &'a [f32],
}

impl<'a> Walker for Rightward<'a> {
    type Walk = RightwardWalk<'a>;
    #[inline(always)]
    fn start(&self, p: usize, (_, hi): (f32, f32)) -> RightwardWalk<'a> {
        // the panel holding position p, unless p is its last lane: the first
        // that may hold a b > p (panels cover consecutive positions)
        let mut next = self
            .start
            .partition_point(|&s| s as usize <= p)
            .saturating_sub(1);
        if next < self.len.len() && self.start[next] as usize + usize::from(self.len[next]) <= p + 1
        {
            next += 1;
        }
        RightwardWalk { w: *self, next, hi }
    }
}

/// The state of a [`Rightward`] walk.
pub(super) struct RightwardWalk<'a> {
    w: Rightward<'a>,
    next: usize,
    hi: f32,
}

impl Walk for RightwardWalk<'_> {
    #[inline(always)]
    fn next(&mut self, threshold: f32) -> Option<usize> {
        let w = &self.w;
        while self.next < w.len.len() {
            let pi = self.next;
            self.next += 1;
            // sorted along the key, so the bound only grows to the right
            let bound = w.metric.bound((w.keys.lo[pi] - self.hi).max(0.0));
            if bound > threshold.max(w.ahead[pi]) {
                self.next = w.len.len();
                return None;
            }
            if bound > threshold.max(w.own[pi]) {
                continue;
            }
            return Some(pi);
        }
        None
    }
}

/// What a pruned scan does with the query rows that share one walk.
pub(super) trait TileScan: Sync {
    /// Query rows per walk (a tile of `QT`, or a group of tiles).
    const ROWS: usize;
    /// Scratch of one walk, reused by the next.
    type State;
    /// What a work unit writes, by sorted position.
    type Acc: Send;
    /// Fresh scratch.
    fn state(&self) -> Self::State;
    /// Sets up the rows at sorted positions `p..end` (`acc` starts at
    /// position `base`); returns the range of their sort coordinate.
    fn begin(&self, st: &mut Self::State, p: usize, end: usize, base: usize) -> (f32, f32);
    /// The largest threshold of the rows now.
    fn threshold(&self, st: &Self::State, acc: &Self::Acc) -> f32;
    /// Holds the rows against panel `pi`.
    fn visit(&self, st: &mut Self::State, pi: usize, acc: &mut Self::Acc);
    /// After the walk: the rows' results into `acc`.
    fn finish(&self, st: &mut Self::State, acc: &mut Self::Acc);
}

/// The one loop of every pruned scan: the rows of `unit` in groups of
/// `S::ROWS`, each group walked over the panels by `walker`.
#[inline(always)]
pub(super) fn walk_unit<S: TileScan, W: Walker>(
    scan: &S,
    walker: &W,
    unit: Range<usize>,
    base: usize,
    acc: &mut S::Acc,
) {
    let mut st = scan.state();
    for p in unit.clone().step_by(S::ROWS) {
        let end = (p + S::ROWS).min(unit.end);
        let range = scan.begin(&mut st, p, end, base);
        let mut walk = walker.start(p, range);
        while let Some(pi) = walk.next(scan.threshold(&st, acc)) {
            scan.visit(&mut st, pi, acc);
        }
        scan.finish(&mut st, acc);
    }
}

/// Runs `scan` on every unit in parallel, each into its own `acc(len)`
/// (positions from the unit's start), compiled for `isa`.
pub(super) fn map_units<S: TileScan, W: Walker>(
    scan: &S,
    walker: &W,
    units: &[Range<usize>],
    isa: Isa,
    acc: impl Fn(usize) -> S::Acc + Sync,
) -> Vec<S::Acc> {
    units
        .par_iter()
        .map(|u| {
            let mut a = acc(u.len());
            dispatch!(isa, || walk_unit(scan, walker, u.clone(), u.start, &mut a));
            a
        })
        .collect()
}

/// Runs `scan` on every unit in parallel, each adding into counts of all `n`
/// positions, summed at the end (symmetric counts add to both ends of a pair).
pub(super) fn fold_units<S: TileScan<Acc = Vec<u32>>, W: Walker>(
    scan: &S,
    walker: &W,
    units: &[Range<usize>],
    isa: Isa,
    n: usize,
) -> Vec<u32> {
    units
        .par_iter()
        .fold(
            || vec![0u32; n],
            |mut acc, u| {
                dispatch!(isa, || walk_unit(scan, walker, u.clone(), 0, &mut acc));
                acc
            },
        )
        .reduce(
            || vec![0u32; n],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    *x += y;
                }
                a
            },
        )
}
