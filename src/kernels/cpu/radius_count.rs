//! CPU twin of `shaders/radius_count.wgsl`: neighbours within each query's own
//! radius (the marginal counts n_x, n_y of KSG, Kraskov et al. 2004 eqs. 8–9:
//! strict `<` for KSG-1, `<=` for KSG-2).
//!
//! Exact: every pair that is not pruned is classified with the reference
//! arithmetic, and a panel is skipped only when a lower bound on all its
//! distances already exceeds every radius that could admit it
//! ([`super::scan`]), so no pair that could count is ever skipped. Two
//! filters hold a query tile against a panel ([`Filter`]): [`Exact`] takes
//! every pair's f32 distance from the tile; [`Coded`] (max-norm) classifies
//! pairs by their one-byte codes first ([`super::codes`]): pairs the code
//! bounds place surely inside or surely outside the radius are counted (or
//! not) without their f32 distance, which is computed, with the reference
//! arithmetic, only for the pairs the bounds cannot decide.
//!
//! When the queries are the references (exclude-self on the same rows, the
//! KSG marginal counts) the scan is symmetric: `dist(i, j)` and `dist(j, i)`
//! are the same f32 (a rounded difference changes only its sign when swapped;
//! squares and the per-block sums see the same terms in the same order), so
//! each pair with sorted positions `a < b` is examined once, from `a`'s tile,
//! and tested against both radii: half the work, with the same counts.

// Lane loops index several fixed-size arrays in step; the index form is the
// one LLVM turns into vector registers.
#![allow(clippy::needless_range_loop)]

use super::codes::{self, chebyshev, CodedScan, Quantizer, Span, CL};
use super::scan::{fold_units, map_units, Panels, ScanOrder, TileScan, Walker};
use super::tile::{self, Isa, QueryTiles, TileMetric, LANES, QT};
use crate::kernels::plan::TilePlan;
use crate::kernels::request::CountRequest;
use crate::kernels::Boundary;
use std::ops::Range;

/// Queries per rayon work unit (a slice of one plan query block).
const UNIT: usize = 64 * QT;

/// Codes are used when the interquartile range of a typical column spans at
/// least this many of them. Coarser codes leave more pairs undecided, each at
/// the cost of an exact distance, and the f32 tile is faster then (measured on
/// Gaussian columns with one outlier stretching the step: the coded counts
/// stop paying below about 6, knn later, so the counts switch sooner).
const MIN_RESOLUTION: f64 = 8.0;

pub(super) fn radius_count(plan: &TilePlan, isa: Isa, req: &CountRequest<'_>) -> Vec<u32> {
    let (q, r, spec) = (req.q(), req.r(), req.spec());
    if q.n() == 0 || r.n() == 0 {
        return vec![0; q.n()];
    }
    // Queries and references the same rows: the symmetric scan. `==` is
    // false on NaN, which then takes the one-sided path.
    let same = spec.exclude_self && q.data() == r.data();
    let metric = TileMetric::new(&spec.metric, q.d());
    // exclude-self: the queries are the references
    let order = ScanOrder::new(plan, q, r, spec.exclude_self, UNIT);
    if matches!(metric, TileMetric::Chebyshev) {
        let sets = if spec.exclude_self {
            vec![r]
        } else {
            vec![q, r]
        };
        let quant = Quantizer::new(&sets, Span::Full);
        if quant.resolution() >= MIN_RESOLUTION {
            let set = CodedScan::new(plan, order, r, quant);
            let f = Coded::new(&set, req, same);
            return count(&f, &set.panels, &metric, &set.units, isa, req, same);
        }
    }
    let panels = order.panels(r, plan, |_, v| v);
    let f = Exact {
        panels: &panels,
        queries: &order.queries,
        metric: &metric,
    };
    count(&f, &panels, &metric, &order.units, isa, req, same)
}

/// The counts of every query (by original index) through filter `f` over
/// `panels`: symmetric with `same`, else one-sided.
fn count<F: Filter, T: Copy + Default, const L: usize>(
    f: &F,
    panels: &Panels<T, L>,
    metric: &TileMetric,
    units: &[Range<usize>],
    isa: Isa,
    req: &CountRequest<'_>,
    same: bool,
) -> Vec<u32> {
    let by_pos = if same {
        let reach = panels.reach(req.radii());
        let walker = panels.rightward(metric, &reach);
        by_position::<F, _, true>(f, &walker, units, isa, req)
    } else {
        by_position::<F, _, false>(f, &panels.outward(metric), units, isa, req)
    };
    let mut counts = vec![0u32; by_pos.len()];
    for (p, c) in by_pos.into_iter().enumerate() {
        counts[f.queries().order[p] as usize] = c;
    }
    counts
}

/// The counts by sorted position, one scan per boundary (so that each test
/// inlines into the ISA functions).
fn by_position<F: Filter, W: Walker, const SYM: bool>(
    f: &F,
    walker: &W,
    units: &[Range<usize>],
    isa: Isa,
    req: &CountRequest<'_>,
) -> Vec<u32> {
    match req.spec().boundary {
        Boundary::Less => scan::<F, W, _, SYM>(f, walker, units, isa, req, |d, r| d < r),
        Boundary::LessEqual => scan::<F, W, _, SYM>(f, walker, units, isa, req, |d, r| d <= r),
    }
}

/// The counts by sorted position with the boundary test `admits`.
fn scan<F: Filter, W: Walker, A: Fn(f32, f32) -> bool + Copy + Sync, const SYM: bool>(
    f: &F,
    walker: &W,
    units: &[Range<usize>],
    isa: Isa,
    req: &CountRequest<'_>,
    admits: A,
) -> Vec<u32> {
    let scan: Counts<'_, F, A, SYM> = Counts {
        f,
        radii: req.radii(),
        boundary: req.spec().boundary,
        exclude_self: req.spec().exclude_self,
        admits,
    };
    if SYM {
        fold_units(&scan, walker, units, isa, req.radii().len())
    } else {
        map_units(&scan, walker, units, isa, |n| vec![0u32; n]).concat()
    }
}

/// The query tile of a count.
struct Tile<'a> {
    /// Sorted position of the first query.
    p: usize,
    /// Queries in the tile (the rest of the `QT` rows repeat the last one).
    tn: usize,
    /// Sorted position of the accumulator's first entry.
    base: usize,
    rows: [&'a [f32]; QT],
    rad: [f32; QT],
    /// The largest radius of the tile.
    reach: f32,
    /// Every query's radius, by original index.
    radii: &'a [f32],
}

/// How a count holds a query tile against a panel: the f32 tile ([`Exact`])
/// or one-byte codes ([`Coded`]). `SYM`: the queries are the references, the
/// pairs are those right of each query, and the references' counts are
/// added to `acc` by sorted position.
trait Filter: Sync {
    /// Scratch of one tile's walk.
    type Scratch;
    fn queries(&self) -> &QueryTiles<'_>;
    fn scratch(&self) -> Self::Scratch;
    /// Before the walk.
    fn begin(&self, s: &mut Self::Scratch, tile: &Tile<'_>);
    /// Holds the tile against panel `pi`.
    fn visit<const SYM: bool>(
        &self,
        s: &mut Self::Scratch,
        tile: &Tile<'_>,
        pi: usize,
        acc: &mut [u32],
        admits: impl Fn(f32, f32) -> bool + Copy,
    );
    /// After the walk: the counts of the tile's queries (then reset).
    fn finish<const SYM: bool>(
        &self,
        s: &mut Self::Scratch,
        tile: &Tile<'_>,
        acc: &mut [u32],
        admits: impl Fn(f32, f32) -> bool + Copy,
    ) -> [u32; QT];
}

/// A radius count through filter `F` as a pruned scan; `A` is the boundary
/// test, `SYM` the symmetric scan.
struct Counts<'a, F, A, const SYM: bool> {
    f: &'a F,
    radii: &'a [f32],
    boundary: Boundary,
    exclude_self: bool,
    admits: A,
}

/// The state of one tile's walk.
struct CountState<'a, S> {
    tile: Tile<'a>,
    s: S,
}

impl<'a, F: Filter, A: Fn(f32, f32) -> bool + Copy + Sync, const SYM: bool> TileScan
    for Counts<'a, F, A, SYM>
{
    const ROWS: usize = QT;
    type State = CountState<'a, F::Scratch>;
    type Acc = Vec<u32>;

    fn state(&self) -> Self::State {
        CountState {
            tile: Tile {
                p: 0,
                tn: 0,
                base: 0,
                rows: [&[]; QT],
                rad: [0.0; QT],
                reach: 0.0,
                radii: self.radii,
            },
            s: self.f.scratch(),
        }
    }

    #[inline(always)]
    fn begin(&self, st: &mut Self::State, p: usize, end: usize, base: usize) -> (f32, f32) {
        let f: &'a F = self.f;
        let queries = f.queries();
        let t = &mut st.tile;
        (t.p, t.tn, t.base) = (p, end - p, base);
        t.rows = queries.rows(p);
        t.rad = std::array::from_fn(|i| self.radii[queries.order[(p + i).min(end - 1)] as usize]);
        // f32::max skips a NaN radius (which admits nothing either way)
        t.reach = t.rad[..t.tn]
            .iter()
            .fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        f.begin(&mut st.s, t);
        queries.key_range(&t.rows, t.tn)
    }

    #[inline(always)]
    fn threshold(&self, st: &Self::State, _: &Vec<u32>) -> f32 {
        st.tile.reach
    }

    #[inline(always)]
    fn visit(&self, st: &mut Self::State, pi: usize, acc: &mut Vec<u32>) {
        self.f
            .visit::<SYM>(&mut st.s, &st.tile, pi, acc, self.admits);
    }

    #[inline(always)]
    fn finish(&self, st: &mut Self::State, acc: &mut Vec<u32>) {
        let t = &st.tile;
        let c = self.f.finish::<SYM>(&mut st.s, t, acc, self.admits);
        for i in 0..t.tn {
            let mut n = c[i];
            if !SYM && self.exclude_self {
                // The point itself (distance exactly 0) was counted iff the
                // boundary admits 0: its panel has bound 0 and an all-zero
                // lane (equal codes), so it is never skipped when 0 could
                // count (radius >= 0), and never counted otherwise.
                n -= u32::from(self.boundary.admits(0.0, t.rad[i]));
            }
            acc[t.p - t.base + i] += n;
        }
    }
}

/// Counts by the f32 tile: every visited pair's distance.
struct Exact<'a> {
    panels: &'a Panels<f32, LANES>,
    queries: &'a QueryTiles<'a>,
    metric: &'a TileMetric,
}

/// Distances of the tile against one panel, and the tile's counts so far.
struct ExactScratch {
    out: [[f32; LANES]; QT],
    c: [u32; QT],
}

impl Filter for Exact<'_> {
    type Scratch = ExactScratch;

    fn queries(&self) -> &QueryTiles<'_> {
        self.queries
    }
    fn scratch(&self) -> ExactScratch {
        ExactScratch {
            out: [[0.0; LANES]; QT],
            c: [0; QT],
        }
    }
    #[inline(always)]
    fn begin(&self, _: &mut ExactScratch, _: &Tile<'_>) {}

    #[inline(always)]
    fn visit<const SYM: bool>(
        &self,
        s: &mut ExactScratch,
        tile: &Tile<'_>,
        pi: usize,
        acc: &mut [u32],
        admits: impl Fn(f32, f32) -> bool + Copy,
    ) {
        let panels = self.panels;
        tile::tile(
            self.metric,
            &tile.rows,
            panels.panel(pi),
            panels.d,
            &mut s.out,
        );
        let (out, rad, p, tn) = (&s.out, &tile.rad, tile.p, tile.tn);
        let (start, len) = (panels.start[pi] as usize, usize::from(panels.len[pi]));
        let idx = panels.indices(pi);
        let rrad: [f32; LANES] = if SYM {
            std::array::from_fn(|l| tile.radii[idx[l] as usize])
        } else {
            [0.0; LANES]
        };
        let mut lane = [0u32; LANES];
        if len == LANES && (!SYM || (tn == QT && start >= p + QT)) {
            // every lane a pair
            for t in 0..QT {
                let mut m = 0u32;
                for l in 0..LANES {
                    m += u32::from(admits(out[t][l], rad[t]));
                    if SYM {
                        lane[l] += u32::from(admits(out[t][l], rrad[l]));
                    }
                }
                s.c[t] += m;
            }
        } else {
            for t in 0..tn {
                let mut m = 0u32;
                for l in 0..LANES {
                    let pair = (l < len) & (!SYM || start + l > p + t);
                    m += u32::from(admits(out[t][l], rad[t]) & pair);
                    if SYM {
                        lane[l] += u32::from(admits(out[t][l], rrad[l]) & pair);
                    }
                }
                s.c[t] += m;
            }
        }
        if SYM {
            for l in 0..len {
                acc[start + l] += lane[l];
            }
        }
    }

    #[inline(always)]
    fn finish<const SYM: bool>(
        &self,
        s: &mut ExactScratch,
        _: &Tile<'_>,
        _: &mut [u32],
        _: impl Fn(f32, f32) -> bool + Copy,
    ) -> [u32; QT] {
        std::mem::take(&mut s.c)
    }
}

/// Counts by the one-byte codes (max-norm): the exact distance only for the
/// pairs the code bounds leave undecided.
struct Coded<'a> {
    set: &'a CodedScan<'a>,
    boundary: Boundary,
    /// Symmetric scans: per panel and lane the sure limit of the reference's
    /// own radius; padding lanes keep 0 (nothing).
    rsure: Vec<u8>,
    /// Per panel and lane: may limit − sure limit.
    rwidth: Vec<u8>,
}

impl<'a> Coded<'a> {
    fn new(set: &'a CodedScan<'a>, req: &CountRequest<'_>, same: bool) -> Self {
        let (panels, boundary) = (&set.panels, req.spec().boundary);
        let np = if same { panels.count() } else { 0 };
        let mut rsure = vec![0u8; np * CL];
        let mut rwidth = vec![0u8; np * CL];
        for pi in 0..np {
            let idx = panels.indices(pi);
            for l in 0..usize::from(panels.len[pi]) {
                let (may, sure) = set
                    .quant
                    .count_limits(req.radii()[idx[l] as usize], boundary);
                rsure[pi * CL + l] = sure;
                rwidth[pi * CL + l] = may - sure;
            }
        }
        Coded {
            set,
            boundary,
            rsure,
            rwidth,
        }
    }
}

/// Per-lane byte counters of the queries of a tile, added up before they can
/// overflow (each panel adds at most 1 per lane).
struct LaneCounts {
    c8: [[u8; CL]; QT],
    visits: u32,
    total: [u32; QT],
}

impl LaneCounts {
    fn new() -> Self {
        LaneCounts {
            c8: [[0; CL]; QT],
            visits: 0,
            total: [0; QT],
        }
    }

    /// Adds the lanes with `m[t][l] < sure[t]` (every lane a pair).
    #[inline(always)]
    fn add_sure(&mut self, m: &[[u8; CL]; QT], sure: &[u8; QT]) {
        for t in 0..QT {
            codes::add_below(&mut self.c8[t], &m[t], &[sure[t]; CL]);
        }
        self.visits += 1;
        if self.visits == u32::from(u8::MAX) {
            self.flush();
        }
    }

    #[inline(always)]
    fn flush(&mut self) {
        for t in 0..QT {
            self.total[t] += self.c8[t].iter().map(|&x| u32::from(x)).sum::<u32>();
            self.c8[t] = [0; CL];
        }
        self.visits = 0;
    }

    /// The counts so far; starts again from zero.
    #[inline(always)]
    fn take(&mut self) -> [u32; QT] {
        self.flush();
        std::mem::take(&mut self.total)
    }
}

/// The undecided pairs of one query and panel, recorded during a tile's scan
/// and resolved after it: lanes whose pair the code bounds leave undecided
/// for the query's count, and for the reference's (symmetric counts).
#[derive(Clone, Copy, Default)]
struct Band {
    pi: u32,
    t: u32,
    query: u32,
    reference: u32,
}

/// A tile's codes and limits, its counts so far, and its undecided pairs.
struct CodedScratch {
    m: [[u8; CL]; QT],
    /// The tile's codes, broadcast ([`CodedScan::broadcast`]); `cols` = 0..d.
    qb: Vec<[u8; CL]>,
    cols: Vec<usize>,
    /// Per query: the sure limit of its radius, and may − sure (0 for padding queries).
    sure: [u8; QT],
    width: [u8; QT],
    c: LaneCounts,
    /// Counts outside the byte counters (short panels, resolved pairs).
    extra: [u32; QT],
    /// One entry per query and panel at most.
    bands: Vec<Band>,
    nb: usize,
}

impl Filter for Coded<'_> {
    type Scratch = CodedScratch;

    fn queries(&self) -> &QueryTiles<'_> {
        &self.set.queries
    }
    fn scratch(&self) -> CodedScratch {
        CodedScratch {
            m: [[0; CL]; QT],
            qb: Vec::new(),
            cols: (0..self.set.panels.d).collect(),
            sure: [0; QT],
            width: [0; QT],
            c: LaneCounts::new(),
            extra: [0; QT],
            bands: vec![Band::default(); self.set.panels.count() * QT + 1],
            nb: 0,
        }
    }

    #[inline(always)]
    fn begin(&self, s: &mut CodedScratch, tile: &Tile<'_>) {
        self.set.broadcast(tile.p, &s.cols, &mut s.qb);
        // padding queries (t >= tn) keep limits 0: nothing is sure or undecided
        (s.sure, s.width) = ([0; QT], [0; QT]);
        for t in 0..tile.tn {
            let (may, sure) = self.set.quant.count_limits(tile.rad[t], self.boundary);
            s.sure[t] = sure;
            s.width[t] = may - sure;
        }
    }

    #[inline(always)]
    fn visit<const SYM: bool>(
        &self,
        s: &mut CodedScratch,
        tile: &Tile<'_>,
        pi: usize,
        acc: &mut [u32],
        _: impl Fn(f32, f32) -> bool + Copy,
    ) {
        let panels = &self.set.panels;
        codes::code_tile(&s.qb, panels.panel(pi), panels.d, &mut s.m);
        let (p, tn, m) = (tile.p, tile.tn, &s.m);
        let (start, len) = (panels.start[pi] as usize, usize::from(panels.len[pi]));
        let (rs, rw): (&[u8; CL], &[u8; CL]) = if SYM {
            let lanes = pi * CL..(pi + 1) * CL;
            let rs = self.rsure[lanes.clone()].try_into().unwrap();
            (rs, self.rwidth[lanes].try_into().unwrap())
        } else {
            (&[0; CL], &[0; CL])
        };
        let mut lane = [0u8; CL];
        let full = len == CL && (!SYM || (tn == QT && start >= p + QT));
        if full {
            s.c.add_sure(m, &s.sure);
            if SYM {
                for t in 0..QT {
                    codes::add_below(&mut lane, &m[t], rs);
                }
            }
        }
        for t in 0..tn {
            let pair = match (full, SYM) {
                (true, _) => u32::MAX,
                (false, false) => codes::lanes(len),
                (false, true) => {
                    codes::lanes(len) & !codes::lanes((p + t + 1).saturating_sub(start))
                }
            };
            if !full {
                s.extra[t] += (codes::below_mask(&m[t], &[s.sure[t]; CL]) & pair).count_ones();
                if SYM {
                    let mut bits = codes::below_mask(&m[t], rs) & pair;
                    while bits != 0 {
                        lane[bits.trailing_zeros() as usize] += 1;
                        bits &= bits - 1;
                    }
                }
            }
            // recorded without a branch (whether a tile has undecided pairs
            // is a coin toss the branch predictor loses)
            let aq = codes::in_band(&m[t], &[s.sure[t]; CL], &[s.width[t]; CL]) & pair;
            let ar = if SYM {
                codes::in_band(&m[t], rs, rw) & pair
            } else {
                0
            };
            s.bands[s.nb] = Band {
                pi: pi as u32,
                t: t as u32,
                query: aq,
                reference: ar,
            };
            s.nb += usize::from(aq | ar != 0);
        }
        if SYM {
            if len == CL {
                let a: &mut [u32; CL] = (&mut acc[start..start + CL]).try_into().unwrap();
                for l in 0..CL {
                    a[l] += u32::from(lane[l]);
                }
            } else {
                for l in 0..len {
                    acc[start + l] += u32::from(lane[l]);
                }
            }
        }
    }

    #[inline(always)]
    fn finish<const SYM: bool>(
        &self,
        s: &mut CodedScratch,
        tile: &Tile<'_>,
        acc: &mut [u32],
        admits: impl Fn(f32, f32) -> bool + Copy,
    ) -> [u32; QT] {
        let (set, extra) = (self.set, &mut s.extra);
        resolve(set, &tile.rows, &s.bands[..s.nb], |b, l, dist| {
            let (t, pi) = (b.t as usize, b.pi as usize);
            if !SYM || b.query >> l & 1 != 0 {
                extra[t] += u32::from(admits(dist, tile.rad[t]));
            }
            if SYM && b.reference >> l & 1 != 0 {
                let j = set.panels.indices(pi)[l] as usize;
                acc[set.panels.start[pi] as usize + l] += u32::from(admits(dist, tile.radii[j]));
            }
        });
        s.nb = 0;
        let total = s.c.take();
        let extra = std::mem::take(extra);
        std::array::from_fn(|t| total[t] + extra[t])
    }
}

/// Resolves the undecided pairs of `bands` (one query tile's scan) by their
/// exact distances: `f(band, lane, distance)` for every lane of every band.
/// The row of the band two ahead is asked for first, so that its cache miss
/// overlaps the work on this one.
#[inline(always)]
fn resolve(
    set: &CodedScan<'_>,
    rows: &[&[f32]; QT],
    bands: &[Band],
    mut f: impl FnMut(&Band, usize, f32),
) {
    for (e, b) in bands.iter().enumerate() {
        if let Some(ahead) = bands.get(e + 2) {
            // every band has a lane
            let l = (ahead.query | ahead.reference).trailing_zeros() as usize;
            set.prefetch_row(set.panels.start[ahead.pi as usize] as usize + l);
        }
        let start = set.panels.start[b.pi as usize] as usize;
        let mut bits = b.query | b.reference;
        while bits != 0 {
            let l = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            f(b, l, chebyshev(rows[b.t as usize], set.row(start + l)));
        }
    }
}
