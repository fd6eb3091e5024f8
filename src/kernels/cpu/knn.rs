//! CPU twin of `shaders/knn.wgsl`: the k nearest references of every query
//! (the ε_i of KSG, Kraskov et al. 2004 eq. 8, and the r_i of
//! Kozachenko–Leonenko), by exact brute force over the reference blocks of the
//! [`TilePlan`] with box-assisted pruning ([`super::tile`]).
//!
//! The running k-list of a query is ordered by (distance, reference index), so
//! the result does not depend on the order in which references are visited:
//! sorting and skipping panels change the speed, never the answer. Max-norm
//! searches filter pairs with one-byte codes first ([`super::codes`]) and
//! take the exact f32 distance only where a pair may enter a k-list;
//! squared-Euclidean ones compute the f32 tile of every panel they visit.

// Lane loops index several fixed-size arrays in step; the index form is the
// one LLVM turns into vector registers.
#![allow(clippy::needless_range_loop)]

use super::codes::{self, CodedScan, Quantizer, Span, CL};
use super::tile::{self, dispatch, Isa, Panels, QueryTiles, Scan, TileMetric, LANES, QT};
use crate::kernels::plan::TilePlan;
use crate::kernels::{KnnOut, KnnSpec, Rows};
use rayon::prelude::*;
use std::ops::Range;

/// A sorted list of the k best `(distance, index)` so far.
///
/// Order: ascending distance, ties by lower index. An offer is kept when
/// `(distance, index)` is lexicographically below the current k-th entry, so the
/// list is the same whatever order the references are offered in.
#[derive(Clone, Debug)]
pub struct KList {
    dist: Vec<f32>,
    idx: Vec<u32>,
}

impl KList {
    /// An empty list of capacity k (padded with +inf / u32::MAX).
    pub fn new(k: usize) -> Self {
        KList {
            dist: vec![f32::INFINITY; k],
            idx: vec![u32::MAX; k],
        }
    }
    /// Current k-th distance (+inf until k entries are in).
    #[inline]
    pub fn worst(&self) -> f32 {
        *self.dist.last().expect("k >= 1")
    }
    /// Offers reference `j` at distance `d`.
    #[inline]
    pub fn offer(&mut self, d: f32, j: u32) {
        let k = self.dist.len();
        if !(d < self.dist[k - 1] || (d == self.dist[k - 1] && j < self.idx[k - 1])) {
            return;
        }
        let mut p = k - 1;
        while p > 0 && (d < self.dist[p - 1] || (d == self.dist[p - 1] && j < self.idx[p - 1])) {
            self.dist[p] = self.dist[p - 1];
            self.idx[p] = self.idx[p - 1];
            p -= 1;
        }
        self.dist[p] = d;
        self.idx[p] = j;
    }
    /// Distances, ascending.
    pub fn distances(&self) -> &[f32] {
        &self.dist
    }
    /// Indices in the order of [`KList::distances`].
    pub fn indices(&self) -> &[u32] {
        &self.idx
    }
}

/// Queries per rayon work unit (a slice of one plan query block): small enough
/// to balance two or more threads, large enough to amortise the task.
const UNIT: usize = 64 * QT;

/// Codes are used when the interquartile range of a typical column spans at
/// least this many of them; coarser codes let most pairs through to their
/// exact distance, and the f32 tile is faster then (measured on Gaussian
/// columns with one outlier stretching the step: the coded scan stops paying
/// below about 3).
const MIN_RESOLUTION: f64 = 4.0;

pub(super) fn knn(plan: &TilePlan, isa: Isa, q: Rows<'_>, r: Rows<'_>, spec: &KnnSpec) -> KnnOut {
    let k = spec.k;
    let nq = q.n();
    let mut kth = vec![0f32; nq];
    let mut indices = spec.want_indices.then(|| vec![0u32; nq * k]);
    if nq == 0 {
        return KnnOut { kth, indices };
    }
    let metric = TileMetric::new(&spec.metric, q.d());
    let quant = matches!(metric, TileMetric::Chebyshev).then(|| {
        // exclude-self: the queries are the references
        let sets = if spec.exclude_self {
            vec![r]
        } else {
            vec![q, r]
        };
        Quantizer::new(&sets, Span::Clipped)
    });
    if let Some(quant) = quant.filter(|qz| qz.resolution() >= MIN_RESOLUTION) {
        let set = CodedScan::new(plan, q, r, spec.exclude_self, UNIT, quant);
        let results: Vec<Vec<KList>> = set
            .units
            .par_iter()
            .map(|u| {
                dispatch!(isa, || coded_unit(
                    &set,
                    &metric,
                    u.clone(),
                    k,
                    spec.exclude_self
                ))
            })
            .collect();
        write_lists(&set.units, &set.queries, results, &mut kth, &mut indices, k);
        return KnnOut { kth, indices };
    }
    let (panels, queries, units) = tile::sorted_scan(plan, q, r, spec.exclude_self, UNIT);
    let results: Vec<Vec<KList>> = units
        .par_iter()
        .map(|u| {
            dispatch!(isa, || knn_unit(
                &panels,
                &queries,
                &metric,
                u.clone(),
                k,
                spec.exclude_self
            ))
        })
        .collect();
    write_lists(&units, &queries, results, &mut kth, &mut indices, k);
    KnnOut { kth, indices }
}

/// Stores the k-lists of the units (by sorted position) by original query index.
fn write_lists(
    units: &[Range<usize>],
    queries: &QueryTiles<'_>,
    results: Vec<Vec<KList>>,
    kth: &mut [f32],
    indices: &mut Option<Vec<u32>>,
    k: usize,
) {
    for (u, lists) in units.iter().zip(results) {
        for (p, list) in u.clone().zip(lists) {
            let i = queries.order[p] as usize;
            kth[i] = list.worst();
            if let Some(ix) = indices.as_mut() {
                ix[i * k..(i + 1) * k].copy_from_slice(list.indices());
            }
        }
    }
}

/// The k-lists of the queries at sorted positions `unit` (squared Euclidean).
#[inline(always)]
fn knn_unit(
    panels: &Panels,
    queries: &QueryTiles<'_>,
    metric: &TileMetric,
    unit: Range<usize>,
    k: usize,
    exclude_self: bool,
) -> Vec<KList> {
    let d = panels.d;
    let mut lists: Vec<KList> = unit.clone().map(|_| KList::new(k)).collect();
    let mut out = [[0f32; LANES]; QT];
    for p in unit.clone().step_by(QT) {
        let tn = (unit.end - p).min(QT);
        let rows = queries.rows(p);
        let me: [u32; QT] = std::array::from_fn(|t| queries.order[(p + t).min(unit.end - 1)]);
        let lists = &mut lists[p - unit.start..p - unit.start + tn];
        let worst = |lists: &[KList]| {
            lists
                .iter()
                .fold(f32::NEG_INFINITY, |m, l| m.max(l.worst()))
        };
        let mut scan = Scan::new(&panels.keys, queries.key_range(&rows, tn));
        while let Some(pi) = scan.next(&panels.keys, metric, worst(lists)) {
            tile::tile(metric, &rows, panels.panel(pi), d, &mut out);
            let idx = panels.indices(pi);
            let valid = (1u32 << panels.len[pi]) - 1;
            for (t, list) in lists.iter_mut().enumerate() {
                let w = list.worst();
                // `<=`: a tie with a lower index than the k-th entry may still enter
                let mut m = 0u32;
                for l in 0..LANES {
                    m |= u32::from(out[t][l] <= w) << l;
                }
                m &= valid;
                while m != 0 {
                    let l = m.trailing_zeros() as usize;
                    m &= m - 1;
                    let j = idx[l];
                    if !(exclude_self && j == me[t]) {
                        list.offer(out[t][l], j);
                    }
                }
            }
        }
    }
    lists
}

/// Query tiles that share one scan of the coded panels in [`coded_unit`]:
/// each panel is read from memory once for all of them and then stays in
/// the L1 cache (a scan visits most panels, in an order the hardware
/// prefetchers cannot follow).
const GROUP: usize = 4;

/// One query tile of a group in [`coded_unit`].
struct Tile<'a> {
    /// Sorted position of the first query.
    p: usize,
    /// Queries in the tile (the rest of the `QT` rows repeat the last one).
    tn: usize,
    rows: [&'a [f32]; QT],
    me: [u32; QT],
    /// Column order and broadcast codes for [`codes::code_tile_within`].
    cols: Vec<usize>,
    qb: Vec<[u8; CL]>,
    /// Code limits of the current k-th distances (0 for padding queries).
    limit: [u8; QT],
    /// The largest k-th distance of the tile.
    worst: f32,
    /// Range of the sort coordinate over the tile's queries.
    keys: (f32, f32),
}

impl Tile<'_> {
    fn new() -> Self {
        Tile {
            p: 0,
            tn: 0,
            rows: [&[]; QT],
            me: [0; QT],
            cols: Vec::new(),
            qb: Vec::new(),
            limit: [0; QT],
            worst: f32::INFINITY,
            keys: (0.0, 0.0),
        }
    }
}

/// [`knn_unit`] for max-norm, filtered by codes: a panel's codes are held
/// against each tile of a group first, and the exact f32 distance is taken
/// only for the pairs whose codes allow them within the query's current k-th
/// distance (ties included). Those are offered as in [`knn_unit`], so the
/// lists are the same.
#[inline(always)]
fn coded_unit(
    set: &CodedScan<'_>,
    metric: &TileMetric,
    unit: Range<usize>,
    k: usize,
    exclude_self: bool,
) -> Vec<KList> {
    let panels = &set.panels;
    let mut lists: Vec<KList> = unit.clone().map(|_| KList::new(k)).collect();
    let mut m = [[0u8; CL]; QT];
    let mut group: Vec<Tile<'_>> = (0..GROUP).map(|_| Tile::new()).collect();
    // the code window of the last group's k-th distances (neighbouring queries
    // have similar ones); a guess for the first
    let mut window = 32u8;
    for g in unit.clone().step_by(QT * GROUP) {
        let g_end = (g + QT * GROUP).min(unit.end);
        let tiles = &mut group[..(g_end - g).div_ceil(QT)];
        let mut keys = (f32::INFINITY, f32::NEG_INFINITY);
        for (t, p) in tiles.iter_mut().zip((g..g_end).step_by(QT)) {
            t.p = p;
            t.tn = (g_end - p).min(QT);
            t.rows = set.queries.rows(p);
            t.me = std::array::from_fn(|i| set.queries.order[(p + i).min(g_end - 1)]);
            set.column_order(p, window, &mut t.cols);
            set.broadcast(p, &t.cols, &mut t.qb);
            t.limit = [0; QT];
            t.limit[..t.tn].fill(u8::MAX);
            t.worst = f32::INFINITY;
            t.keys = set.queries.key_range(&t.rows, t.tn);
            keys = (keys.0.min(t.keys.0), keys.1.max(t.keys.1));
        }
        let lists = &mut lists[g - unit.start..g_end - unit.start];
        let mut scan = Scan::new(&panels.keys, keys);
        loop {
            let worst = tiles.iter().fold(f32::NEG_INFINITY, |w, t| w.max(t.worst));
            let Some(pi) = scan.next(&panels.keys, metric, worst) else {
                break;
            };
            let codes = panels.codes(pi);
            let idx = panels.indices(pi);
            let valid = codes::lanes(usize::from(panels.len[pi]));
            let (lo, hi) = (panels.keys.lo[pi], panels.keys.hi[pi]);
            for t in tiles.iter_mut() {
                // the scan's bound for this tile alone
                if metric.bound((lo - t.keys.1).max(t.keys.0 - hi).max(0.0)) > t.worst {
                    continue;
                }
                if !codes::code_tile_within(&t.qb, codes, &t.cols, &t.limit, &mut m) {
                    continue;
                }
                let lists = &mut lists[t.p - g..t.p - g + t.tn];
                for (i, list) in lists.iter_mut().enumerate() {
                    // the pairs that may be within the k-th distance (ties included)
                    let mut bits = codes::below_mask(&m[i], &[t.limit[i]; CL]) & valid;
                    while bits != 0 {
                        let l = bits.trailing_zeros() as usize;
                        bits &= bits - 1;
                        let j = idx[l];
                        if !(exclude_self && j == t.me[i]) {
                            list.offer(panels.distance(t.rows[i], pi, l), j);
                        }
                    }
                    t.limit[i] = set.quant.knn_limit(list.worst());
                }
                t.worst = lists
                    .iter()
                    .fold(f32::NEG_INFINITY, |w, l| w.max(l.worst()));
            }
        }
        window = tiles
            .iter()
            .flat_map(|t| t.limit[..t.tn].iter())
            .max()
            .map_or(window, |&l| l.saturating_sub(1));
    }
    lists
}
