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
use super::scan::{map_units, Panels, ScanOrder, TileScan};
use super::tile::{self, Isa, QueryTiles, TileMetric, LANES, QT};
use crate::kernels::plan::TilePlan;
use crate::kernels::request::KnnRequest;
use crate::kernels::KnnOut;
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

pub(super) fn knn(plan: &TilePlan, isa: Isa, req: &KnnRequest<'_>) -> KnnOut {
    let (q, r, spec) = (req.q(), req.r(), req.spec());
    let (k, nq) = (spec.k, q.n());
    let mut kth = vec![0f32; nq];
    let mut indices = spec.want_indices.then(|| vec![0u32; nq * k]);
    if nq == 0 {
        return KnnOut { kth, indices };
    }
    let metric = TileMetric::new(&spec.metric, q.d());
    let fresh = |n: usize| (0..n).map(|_| KList::new(k)).collect::<Vec<_>>();
    // exclude-self: the queries are the references
    let order = ScanOrder::new(plan, q, r, spec.exclude_self, UNIT);
    let quant = matches!(metric, TileMetric::Chebyshev).then(|| {
        let sets = if spec.exclude_self {
            vec![r]
        } else {
            vec![q, r]
        };
        Quantizer::new(&sets, Span::Clipped)
    });
    if let Some(quant) = quant.filter(|qz| qz.resolution() >= MIN_RESOLUTION) {
        let set = CodedScan::new(plan, order, r, quant);
        let scan = CodedKnn {
            set: &set,
            metric: &metric,
            exclude_self: spec.exclude_self,
        };
        let walker = set.panels.outward(&metric);
        let lists = map_units(&scan, &walker, &set.units, isa, fresh);
        write_lists(&set.units, &set.queries, lists, &mut kth, &mut indices, k);
    } else {
        let panels = order.panels(r, plan, |_, v| v);
        let scan = ExactKnn {
            panels: &panels,
            queries: &order.queries,
            metric: &metric,
            exclude_self: spec.exclude_self,
        };
        let lists = map_units(&scan, &panels.outward(&metric), &order.units, isa, fresh);
        write_lists(
            &order.units,
            &order.queries,
            lists,
            &mut kth,
            &mut indices,
            k,
        );
    }
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

/// The k-lists by the f32 tile (squared Euclidean, or codes too coarse):
/// every visited pair's distance, offered when it may enter a list.
struct ExactKnn<'a> {
    panels: &'a Panels<f32, LANES>,
    queries: &'a QueryTiles<'a>,
    metric: &'a TileMetric,
    exclude_self: bool,
}

/// One query tile of [`ExactKnn`].
struct ExactTile<'a> {
    /// Position of the tile's first list in the unit's lists.
    off: usize,
    tn: usize,
    rows: [&'a [f32]; QT],
    me: [u32; QT],
    out: [[f32; LANES]; QT],
}

impl<'a> TileScan for ExactKnn<'a> {
    const ROWS: usize = QT;
    type State = ExactTile<'a>;
    type Acc = Vec<KList>;

    fn state(&self) -> ExactTile<'a> {
        ExactTile {
            off: 0,
            tn: 0,
            rows: [&[]; QT],
            me: [0; QT],
            out: [[0.0; LANES]; QT],
        }
    }

    #[inline(always)]
    fn begin(&self, st: &mut ExactTile<'a>, p: usize, end: usize, base: usize) -> (f32, f32) {
        let queries: &'a QueryTiles<'a> = self.queries;
        (st.off, st.tn) = (p - base, end - p);
        st.rows = queries.rows(p);
        st.me = std::array::from_fn(|t| queries.order[(p + t).min(end - 1)]);
        queries.key_range(&st.rows, st.tn)
    }

    #[inline(always)]
    fn threshold(&self, st: &ExactTile<'a>, lists: &Vec<KList>) -> f32 {
        lists[st.off..st.off + st.tn]
            .iter()
            .fold(f32::NEG_INFINITY, |m, l| m.max(l.worst()))
    }

    #[inline(always)]
    fn visit(&self, st: &mut ExactTile<'a>, pi: usize, lists: &mut Vec<KList>) {
        let panels = self.panels;
        tile::tile(
            self.metric,
            &st.rows,
            panels.panel(pi),
            panels.d,
            &mut st.out,
        );
        let idx = panels.indices(pi);
        let valid = (1u32 << panels.len[pi]) - 1;
        for (t, list) in lists[st.off..st.off + st.tn].iter_mut().enumerate() {
            let w = list.worst();
            // `<=`: a tie with a lower index than the k-th entry may still enter
            let mut m = 0u32;
            for l in 0..LANES {
                m |= u32::from(st.out[t][l] <= w) << l;
            }
            m &= valid;
            while m != 0 {
                let l = m.trailing_zeros() as usize;
                m &= m - 1;
                let j = idx[l];
                if !(self.exclude_self && j == st.me[t]) {
                    list.offer(st.out[t][l], j);
                }
            }
        }
    }

    #[inline(always)]
    fn finish(&self, _: &mut ExactTile<'a>, _: &mut Vec<KList>) {}
}

/// Query tiles that share one walk of the coded panels in [`CodedKnn`]:
/// each panel is read from memory once for all of them and then stays in
/// the L1 cache (a scan visits most panels, in an order the hardware
/// prefetchers cannot follow).
const GROUP: usize = 4;

/// The k-lists filtered by codes (max-norm): a panel's codes are held
/// against each tile of a group first, and the exact f32 distance is taken
/// only for the pairs whose codes allow them within the query's current k-th
/// distance (ties included). Those are offered as in [`ExactKnn`], so the
/// lists are the same.
struct CodedKnn<'a> {
    set: &'a CodedScan<'a>,
    metric: &'a TileMetric,
    exclude_self: bool,
}

/// One query tile of a group in [`CodedKnn`].
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

/// A group of query tiles walked together by [`CodedKnn`].
struct Group<'a> {
    tiles: Vec<Tile<'a>>,
    /// Tiles in use.
    used: usize,
    /// Sorted position of the accumulator's first list.
    base: usize,
    m: [[u8; CL]; QT],
    /// The code window of the last group's k-th distances (neighbouring
    /// queries have similar ones); a guess for the first.
    window: u8,
}

impl<'a> TileScan for CodedKnn<'a> {
    const ROWS: usize = QT * GROUP;
    type State = Group<'a>;
    type Acc = Vec<KList>;

    fn state(&self) -> Group<'a> {
        Group {
            tiles: (0..GROUP).map(|_| Tile::new()).collect(),
            used: 0,
            base: 0,
            m: [[0; CL]; QT],
            window: 32,
        }
    }

    #[inline(always)]
    fn begin(&self, st: &mut Group<'a>, g: usize, g_end: usize, base: usize) -> (f32, f32) {
        let set: &'a CodedScan<'a> = self.set;
        (st.used, st.base) = ((g_end - g).div_ceil(QT), base);
        let mut keys = (f32::INFINITY, f32::NEG_INFINITY);
        for (t, p) in st.tiles[..st.used].iter_mut().zip((g..g_end).step_by(QT)) {
            t.p = p;
            t.tn = (g_end - p).min(QT);
            t.rows = set.queries.rows(p);
            t.me = std::array::from_fn(|i| set.queries.order[(p + i).min(g_end - 1)]);
            set.column_order(p, st.window, &mut t.cols);
            set.broadcast(p, &t.cols, &mut t.qb);
            t.limit = [0; QT];
            t.limit[..t.tn].fill(u8::MAX);
            t.worst = f32::INFINITY;
            t.keys = set.queries.key_range(&t.rows, t.tn);
            keys = (keys.0.min(t.keys.0), keys.1.max(t.keys.1));
        }
        keys
    }

    #[inline(always)]
    fn threshold(&self, st: &Group<'a>, _: &Vec<KList>) -> f32 {
        st.tiles[..st.used]
            .iter()
            .fold(f32::NEG_INFINITY, |w, t| w.max(t.worst))
    }

    #[inline(always)]
    fn visit(&self, st: &mut Group<'a>, pi: usize, lists: &mut Vec<KList>) {
        let (set, m) = (self.set, &mut st.m);
        let panels = &set.panels;
        let codes = panels.panel(pi);
        let idx = panels.indices(pi);
        let valid = codes::lanes(usize::from(panels.len[pi]));
        let (lo, hi) = (panels.keys.lo[pi], panels.keys.hi[pi]);
        for t in st.tiles[..st.used].iter_mut() {
            // the walk's bound for this tile alone
            if self
                .metric
                .bound((lo - t.keys.1).max(t.keys.0 - hi).max(0.0))
                > t.worst
            {
                continue;
            }
            if !codes::code_tile_within(&t.qb, codes, &t.cols, &t.limit, m) {
                continue;
            }
            let lists = &mut lists[t.p - st.base..t.p - st.base + t.tn];
            for (i, list) in lists.iter_mut().enumerate() {
                // the pairs that may be within the k-th distance (ties included)
                let mut bits = codes::below_mask(&m[i], &[t.limit[i]; CL]) & valid;
                while bits != 0 {
                    let l = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    let j = idx[l];
                    if !(self.exclude_self && j == t.me[i]) {
                        list.offer(set.distance(t.rows[i], pi, l), j);
                    }
                }
                t.limit[i] = set.quant.knn_limit(list.worst());
            }
            t.worst = lists
                .iter()
                .fold(f32::NEG_INFINITY, |w, l| w.max(l.worst()));
        }
    }

    #[inline(always)]
    fn finish(&self, st: &mut Group<'a>, _: &mut Vec<KList>) {
        st.window = st.tiles[..st.used]
            .iter()
            .flat_map(|t| t.limit[..t.tn].iter())
            .max()
            .map_or(st.window, |&l| l.saturating_sub(1));
    }
}
