//! CPU twin of `shaders/radius_count.wgsl`: neighbours within each query's own
//! radius (the marginal counts n_x, n_y of KSG, Kraskov et al. 2004 eqs. 8–9:
//! strict `<` for KSG-1, `<=` for KSG-2).
//!
//! Exact: the tile computes every distance that is not pruned with the
//! reference arithmetic, and a panel is skipped only when a lower bound on all
//! its distances already exceeds the largest radius of the query tile
//! ([`super::tile`]), so no pair that could count is ever skipped. Max-norm
//! counts classify pairs by their one-byte codes first ([`super::codes`]):
//! pairs the code bounds place surely inside or surely outside the radius are
//! counted (or not) without their f32 distance, which is computed, with the
//! reference arithmetic, only for the pairs the bounds cannot decide.

// Lane loops index several fixed-size arrays in step; the index form is the
// one LLVM turns into vector registers.
#![allow(clippy::needless_range_loop)]

use super::codes::{self, chebyshev, CodedPanels, CodedScan, Quantizer, Span, CL};
use super::tile::{self, dispatch, Isa, Panels, QueryTiles, Scan, TileMetric, LANES, QT};
use crate::kernels::plan::TilePlan;
use crate::kernels::{Boundary, CountSpec, Rows};
use rayon::prelude::*;
use std::ops::Range;

/// Queries per rayon work unit (a slice of one plan query block).
const UNIT: usize = 64 * QT;

/// Codes are used when the interquartile range of a typical column spans at
/// least this many of them. Coarser codes leave more pairs undecided, each at
/// the cost of an exact distance, and the f32 tile is faster then (measured on
/// Gaussian columns with one outlier stretching the step: the coded counts
/// stop paying below about 6, knn later, so the counts switch sooner).
const MIN_RESOLUTION: f64 = 8.0;

pub(super) fn radius_count(
    plan: &TilePlan,
    isa: Isa,
    q: Rows<'_>,
    r: Rows<'_>,
    radii: &[f32],
    spec: &CountSpec,
) -> Vec<u32> {
    let nq = q.n();
    let mut counts = vec![0u32; nq];
    if nq == 0 || r.n() == 0 {
        return counts;
    }
    let metric = TileMetric::new(&spec.metric, q.d());
    if matches!(metric, TileMetric::Chebyshev) {
        // exclude-self: the queries are the references
        let sets = if spec.exclude_self {
            vec![r]
        } else {
            vec![q, r]
        };
        let quant = Quantizer::new(&sets, Span::Full);
        if quant.resolution() >= MIN_RESOLUTION {
            return coded(plan, isa, q, r, radii, spec, quant);
        }
    }
    let (panels, queries, units) = tile::sorted_scan(plan, q, r, spec.exclude_self, UNIT);
    // Queries and references the same rows (the KSG marginal counts): each
    // unordered pair is computed once and counted for both ends. `==` is false
    // on NaN, which then takes the general path.
    if spec.exclude_self && q.data() == r.data() {
        let by_pos = symmetric(
            &panels,
            &queries,
            &metric,
            &units,
            isa,
            radii,
            spec.boundary,
        );
        for (p, c) in by_pos.into_iter().enumerate() {
            counts[queries.order[p] as usize] = c;
        }
        return counts;
    }
    let results: Vec<Vec<u32>> = units
        .par_iter()
        .map(|u| {
            dispatch!(isa, || count_unit(
                &panels,
                &queries,
                &metric,
                u.clone(),
                radii,
                spec.boundary,
                spec.exclude_self
            ))
        })
        .collect();
    for (u, part) in units.iter().zip(results) {
        for (p, c) in u.clone().zip(part) {
            counts[queries.order[p] as usize] = c;
        }
    }
    counts
}

/// Adds to `c[t]` the lanes `l < n` of `out[t]` that `admits` against `rad[t]`.
#[inline(always)]
fn add_counts(
    out: &[[f32; LANES]; QT],
    rad: &[f32; QT],
    n: usize,
    c: &mut [u32; QT],
    admits: impl Fn(f32, f32) -> bool,
) {
    if n == LANES {
        for t in 0..QT {
            let mut m = 0u32;
            for l in 0..LANES {
                m += u32::from(admits(out[t][l], rad[t]));
            }
            c[t] += m;
        }
    } else {
        for t in 0..QT {
            let mut m = 0u32;
            for l in 0..LANES {
                m += u32::from(admits(out[t][l], rad[t]) & (l < n));
            }
            c[t] += m;
        }
    }
}

/// The counts of the queries at sorted positions `unit` (squared Euclidean).
#[inline(always)]
fn count_unit(
    panels: &Panels,
    queries: &QueryTiles<'_>,
    metric: &TileMetric,
    unit: Range<usize>,
    radii: &[f32],
    boundary: Boundary,
    exclude_self: bool,
) -> Vec<u32> {
    let d = panels.d;
    let mut counts = vec![0u32; unit.len()];
    let mut out = [[0f32; LANES]; QT];
    for p in unit.clone().step_by(QT) {
        let tn = (unit.end - p).min(QT);
        let rows = queries.rows(p);
        let me: [u32; QT] = std::array::from_fn(|t| queries.order[(p + t).min(unit.end - 1)]);
        let rad: [f32; QT] = std::array::from_fn(|t| radii[me[t] as usize]);
        // f32::max skips a NaN radius (which admits nothing either way)
        let reach = rad[..tn].iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        let mut c = [0u32; QT];
        let mut scan = Scan::new(&panels.keys, queries.key_range(&rows, tn));
        while let Some(pi) = scan.next(&panels.keys, metric, reach) {
            tile::tile(metric, &rows, panels.panel(pi), d, &mut out);
            let n = usize::from(panels.len[pi]);
            match boundary {
                Boundary::Less => add_counts(&out, &rad, n, &mut c, |d, r| d < r),
                Boundary::LessEqual => add_counts(&out, &rad, n, &mut c, |d, r| d <= r),
            }
        }
        if exclude_self {
            // The point itself (distance exactly 0) was counted iff the boundary
            // admits 0: its panel has bound 0 and an all-zero lane, so it is never
            // skipped when 0 could count (radius >= 0), and never counted otherwise.
            for t in 0..tn {
                c[t] -= u32::from(boundary.admits(0.0, rad[t]));
            }
        }
        counts[p - unit.start..p - unit.start + tn].copy_from_slice(&c[..tn]);
    }
    counts
}

/// Counts when queries and references are the same rows, by sorted position
/// (squared Euclidean).
///
/// Why: `dist(i, j)` and `dist(j, i)` are the same f32 (a rounded difference
/// changes only its sign when swapped; squares and the per-block sums see the
/// same terms in the same order), so each pair with sorted positions `a < b` is
/// computed once and tested against both radii: half the distance work of the
/// general path, with the same counts. A panel is skipped only when its lower
/// bound exceeds both the query tile's largest radius and the panel's own
/// largest radius; the scan goes right only (the pairs on the left belong to
/// earlier tiles) and stops once the bound exceeds the largest radius of all
/// panels still ahead.
fn symmetric(
    panels: &Panels,
    queries: &QueryTiles<'_>,
    metric: &TileMetric,
    units: &[Range<usize>],
    isa: Isa,
    radii: &[f32],
    boundary: Boundary,
) -> Vec<u32> {
    let n = queries.order.len();
    let np = panels.count();
    // f32::max skips a NaN radius (which admits nothing either way)
    let prad: Vec<f32> = (0..np)
        .map(|pi| {
            panels.indices(pi)[..usize::from(panels.len[pi])]
                .iter()
                .fold(f32::NEG_INFINITY, |m, &j| m.max(radii[j as usize]))
        })
        .collect();
    let mut ahead = prad.clone();
    for i in (0..np.saturating_sub(1)).rev() {
        ahead[i] = ahead[i].max(ahead[i + 1]);
    }
    let ctx = SymCtx {
        panels,
        queries,
        metric,
        radii,
        prad: &prad,
        ahead: &ahead,
    };
    units
        .par_iter()
        .fold(
            || vec![0u32; n],
            |mut acc, u| {
                // one dispatch per boundary, so each body inlines into its ISA function
                match boundary {
                    Boundary::Less => {
                        dispatch!(isa, || sym_unit(&ctx, u.clone(), &mut acc, |d, r| d < r))
                    }
                    Boundary::LessEqual => {
                        dispatch!(isa, || sym_unit(&ctx, u.clone(), &mut acc, |d, r| d <= r))
                    }
                }
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

/// What every unit of [`symmetric`] reads.
struct SymCtx<'a> {
    panels: &'a Panels,
    queries: &'a QueryTiles<'a>,
    metric: &'a TileMetric,
    radii: &'a [f32],
    /// Largest radius of each panel's references.
    prad: &'a [f32],
    /// Largest radius of the panels from this one to the end.
    ahead: &'a [f32],
}

/// Adds to `acc` (by sorted position) the counts of the pairs `(a, b)`, `a` a
/// query of `unit`, `b > a`, for both ends.
#[inline(always)]
fn sym_unit(
    ctx: &SymCtx<'_>,
    unit: Range<usize>,
    acc: &mut [u32],
    admits: impl Fn(f32, f32) -> bool + Copy,
) {
    let panels = ctx.panels;
    let d = panels.d;
    let np = panels.count();
    let mut out = [[0f32; LANES]; QT];
    for p in unit.clone().step_by(QT) {
        let tn = (unit.end - p).min(QT);
        let rows = ctx.queries.rows(p);
        let rad: [f32; QT] = std::array::from_fn(|t| {
            ctx.radii[ctx.queries.order[(p + t).min(unit.end - 1)] as usize]
        });
        let reach_q = rad[..tn].iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        let (_, hi) = ctx.queries.key_range(&rows, tn);
        let mut c = [0u32; QT];
        // the panel holding position p: the first that may hold a b > p
        let first = panels
            .start
            .partition_point(|&s| s as usize <= p)
            .saturating_sub(1);
        for pi in first..np {
            let start = panels.start[pi] as usize;
            let len = usize::from(panels.len[pi]);
            if start + len <= p + 1 {
                continue;
            }
            // sorted along the key, so the bound only grows to the right
            let bound = ctx.metric.bound((panels.keys.lo[pi] - hi).max(0.0));
            if bound > reach_q.max(ctx.ahead[pi]) {
                break;
            }
            if bound > reach_q.max(ctx.prad[pi]) {
                continue;
            }
            tile::tile(ctx.metric, &rows, panels.panel(pi), d, &mut out);
            let idx = panels.indices(pi);
            let rrad: [f32; LANES] = std::array::from_fn(|l| ctx.radii[idx[l] as usize]);
            let mut lane = [0u32; LANES];
            if tn == QT && len == LANES && start >= p + QT {
                for t in 0..QT {
                    let mut m = 0u32;
                    for l in 0..LANES {
                        m += u32::from(admits(out[t][l], rad[t]));
                        lane[l] += u32::from(admits(out[t][l], rrad[l]));
                    }
                    c[t] += m;
                }
            } else {
                for t in 0..tn {
                    let mut m = 0u32;
                    for l in 0..LANES {
                        let pair = (l < len) & (start + l > p + t);
                        m += u32::from(admits(out[t][l], rad[t]) & pair);
                        lane[l] += u32::from(admits(out[t][l], rrad[l]) & pair);
                    }
                    c[t] += m;
                }
            }
            for l in 0..len {
                acc[start + l] += lane[l];
            }
        }
        for t in 0..tn {
            acc[p + t] += c[t];
        }
    }
}

/// [`radius_count`] for max-norm, with the pairs classified by their codes.
fn coded(
    plan: &TilePlan,
    isa: Isa,
    q: Rows<'_>,
    r: Rows<'_>,
    radii: &[f32],
    spec: &CountSpec,
    quant: Quantizer,
) -> Vec<u32> {
    let metric = &TileMetric::Chebyshev;
    let mut counts = vec![0u32; q.n()];
    let set = CodedScan::new(plan, q, r, spec.exclude_self, UNIT, quant);
    let by_pos: Vec<u32> = if spec.exclude_self && q.data() == r.data() {
        // as in the f32 path: `==` is false on NaN, which takes the general path
        coded_symmetric(&set, metric, isa, radii, spec.boundary)
    } else {
        let parts: Vec<Vec<u32>> = set
            .units
            .par_iter()
            .map(|u| {
                let (u, b, ex) = (u.clone(), spec.boundary, spec.exclude_self);
                match b {
                    Boundary::Less => dispatch!(isa, || coded_unit(
                        &set,
                        metric,
                        u,
                        radii,
                        (b, ex),
                        |d, r| d < r
                    )),
                    Boundary::LessEqual => dispatch!(isa, || coded_unit(
                        &set,
                        metric,
                        u,
                        radii,
                        (b, ex),
                        |d, r| d <= r
                    )),
                }
            })
            .collect();
        parts.concat()
    };
    for (p, c) in by_pos.into_iter().enumerate() {
        counts[set.queries.order[p] as usize] = c;
    }
    counts
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

    #[inline(always)]
    fn finish(mut self) -> [u32; QT] {
        self.flush();
        self.total
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

/// Resolves the undecided pairs of `bands` (one query tile's scan) by their
/// exact distances: `f(band, lane, distance)` for every lane of every band.
/// The row of the band two ahead is asked for first, so that its cache miss
/// overlaps the work on this one.
#[inline(always)]
fn resolve(
    panels: &CodedPanels,
    rows: &[&[f32]; QT],
    bands: &[Band],
    mut f: impl FnMut(&Band, usize, f32),
) {
    for (e, b) in bands.iter().enumerate() {
        if let Some(ahead) = bands.get(e + 2) {
            // every band has a lane
            let l = (ahead.query | ahead.reference).trailing_zeros() as usize;
            panels.prefetch_row(panels.start[ahead.pi as usize] as usize + l);
        }
        let start = panels.start[b.pi as usize] as usize;
        let mut bits = b.query | b.reference;
        while bits != 0 {
            let l = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            f(b, l, chebyshev(rows[b.t as usize], panels.row(start + l)));
        }
    }
}

/// The counts of the queries at sorted positions `unit` (max-norm, general path).
#[inline(always)]
fn coded_unit(
    set: &CodedScan<'_>,
    metric: &TileMetric,
    unit: Range<usize>,
    radii: &[f32],
    (boundary, exclude_self): (Boundary, bool),
    admits: impl Fn(f32, f32) -> bool,
) -> Vec<u32> {
    let panels = &set.panels;
    let d = panels.d;
    let mut counts = vec![0u32; unit.len()];
    let mut m = [[0u8; CL]; QT];
    let mut qb = Vec::new();
    // one entry per query and panel at most
    let mut bands = vec![Band::default(); set.panels.count() * QT + 1];
    let mut nb = 0;
    let cols: Vec<usize> = (0..d).collect();
    for p in unit.clone().step_by(QT) {
        let tn = (unit.end - p).min(QT);
        let rows = set.queries.rows(p);
        set.broadcast(p, &cols, &mut qb);
        let rad: [f32; QT] =
            std::array::from_fn(|t| radii[set.queries.order[(p + t).min(unit.end - 1)] as usize]);
        // padding queries (t >= tn) keep limits 0: nothing is sure or undecided
        let mut sure = [0u8; QT];
        let mut width = [0u8; QT];
        for t in 0..tn {
            let (may, s) = set.quant.count_limits(rad[t], boundary);
            sure[t] = s;
            width[t] = may - s;
        }
        // f32::max skips a NaN radius (which admits nothing either way)
        let reach = rad[..tn].iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        let mut c = LaneCounts::new();
        let mut extra = [0u32; QT];
        let mut scan = Scan::new(&panels.keys, set.queries.key_range(&rows, tn));
        while let Some(pi) = scan.next(&panels.keys, metric, reach) {
            codes::code_tile(&qb, panels.codes(pi), d, &mut m);
            let len = usize::from(panels.len[pi]);
            if len == CL {
                c.add_sure(&m, &sure);
            } else {
                let valid = codes::lanes(len);
                for t in 0..tn {
                    extra[t] += (codes::below_mask(&m[t], &[sure[t]; CL]) & valid).count_ones();
                }
            }
            let valid = codes::lanes(len);
            for t in 0..tn {
                let aq = codes::in_band(&m[t], &[sure[t]; CL], &[width[t]; CL]) & valid;
                bands[nb] = Band {
                    pi: pi as u32,
                    t: t as u32,
                    query: aq,
                    reference: 0,
                };
                nb += usize::from(aq != 0);
            }
        }
        resolve(panels, &rows, &bands[..nb], |b, _, dist| {
            let t = b.t as usize;
            extra[t] += u32::from(admits(dist, rad[t]));
        });
        nb = 0;
        let total = c.finish();
        for t in 0..tn {
            let mut n = total[t] + extra[t];
            if exclude_self {
                // The point itself (codes equal, distance 0) was counted iff the
                // boundary admits 0, as in the f32 path.
                n -= u32::from(boundary.admits(0.0, rad[t]));
            }
            counts[p - unit.start + t] = n;
        }
    }
    counts
}

/// [`symmetric`] with the pairs classified by their codes.
fn coded_symmetric(
    set: &CodedScan<'_>,
    metric: &TileMetric,
    isa: Isa,
    radii: &[f32],
    boundary: Boundary,
) -> Vec<u32> {
    let panels = &set.panels;
    let n = set.queries.order.len();
    let np = panels.count();
    let mut prad = vec![f32::NEG_INFINITY; np];
    // the references' own limits per lane; padding lanes keep 0 (nothing)
    let mut rsure = vec![0u8; np * CL];
    let mut rwidth = vec![0u8; np * CL];
    for pi in 0..np {
        let idx = panels.indices(pi);
        for l in 0..usize::from(panels.len[pi]) {
            let rad = radii[idx[l] as usize];
            // f32::max skips a NaN radius (which admits nothing either way)
            prad[pi] = prad[pi].max(rad);
            let (may, sure) = set.quant.count_limits(rad, boundary);
            rsure[pi * CL + l] = sure;
            rwidth[pi * CL + l] = may - sure;
        }
    }
    let mut ahead = prad.clone();
    for i in (0..np.saturating_sub(1)).rev() {
        ahead[i] = ahead[i].max(ahead[i + 1]);
    }
    let ctx = CodedSym {
        set,
        metric,
        radii,
        boundary,
        prad: &prad,
        ahead: &ahead,
        rsure: &rsure,
        rwidth: &rwidth,
    };
    set.units
        .par_iter()
        .fold(
            || vec![0u32; n],
            |mut acc, u| {
                match boundary {
                    Boundary::Less => {
                        dispatch!(isa, || coded_sym_unit(&ctx, u.clone(), &mut acc, |d, r| d
                            < r))
                    }
                    Boundary::LessEqual => {
                        dispatch!(isa, || coded_sym_unit(&ctx, u.clone(), &mut acc, |d, r| d
                            <= r))
                    }
                }
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

/// What every unit of [`coded_symmetric`] reads.
struct CodedSym<'a> {
    set: &'a CodedScan<'a>,
    metric: &'a TileMetric,
    radii: &'a [f32],
    boundary: Boundary,
    /// Largest radius of each panel's references.
    prad: &'a [f32],
    /// Largest radius of the panels from this one to the end.
    ahead: &'a [f32],
    /// Per panel and lane: the sure limit of the reference's own radius.
    rsure: &'a [u8],
    /// Per panel and lane: may limit − sure limit.
    rwidth: &'a [u8],
}

/// Adds to `acc` (by sorted position) the counts of the pairs `(a, b)`, `a` a
/// query of `unit`, `b > a`, for both ends; the panels visited are those of
/// [`sym_unit`].
#[inline(always)]
fn coded_sym_unit(
    ctx: &CodedSym<'_>,
    unit: Range<usize>,
    acc: &mut [u32],
    admits: impl Fn(f32, f32) -> bool,
) {
    let set = ctx.set;
    let panels = &set.panels;
    let d = panels.d;
    let np = panels.count();
    let mut m = [[0u8; CL]; QT];
    let mut qb = Vec::new();
    // one entry per query and panel at most
    let mut bands = vec![Band::default(); np * QT + 1];
    let mut nb = 0;

    let cols: Vec<usize> = (0..d).collect();
    for p in unit.clone().step_by(QT) {
        let tn = (unit.end - p).min(QT);
        let rows = set.queries.rows(p);
        set.broadcast(p, &cols, &mut qb);
        let rad: [f32; QT] = std::array::from_fn(|t| {
            ctx.radii[set.queries.order[(p + t).min(unit.end - 1)] as usize]
        });
        let mut sure = [0u8; QT];
        let mut width = [0u8; QT];
        for t in 0..tn {
            let (may, s) = set.quant.count_limits(rad[t], ctx.boundary);
            sure[t] = s;
            width[t] = may - s;
        }
        let reach_q = rad[..tn].iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        let (_, hi) = set.queries.key_range(&rows, tn);
        let mut c = LaneCounts::new();
        let mut extra = [0u32; QT];
        // the panel holding position p: the first that may hold a b > p
        let first = panels
            .start
            .partition_point(|&s| s as usize <= p)
            .saturating_sub(1);
        for pi in first..np {
            let start = panels.start[pi] as usize;
            let len = usize::from(panels.len[pi]);
            if start + len <= p + 1 {
                continue;
            }
            // sorted along the key, so the bound only grows to the right
            let bound = ctx.metric.bound((panels.keys.lo[pi] - hi).max(0.0));
            if bound > reach_q.max(ctx.ahead[pi]) {
                break;
            }
            if bound > reach_q.max(ctx.prad[pi]) {
                continue;
            }
            codes::code_tile(&qb, panels.codes(pi), d, &mut m);
            let rs: &[u8; CL] = ctx.rsure[pi * CL..(pi + 1) * CL].try_into().unwrap();
            let rw: &[u8; CL] = ctx.rwidth[pi * CL..(pi + 1) * CL].try_into().unwrap();
            let mut lane = [0u8; CL];
            let full = tn == QT && len == CL && start >= p + QT;
            if full {
                c.add_sure(&m, &sure);
                for t in 0..QT {
                    codes::add_below(&mut lane, &m[t], rs);
                }
            }
            for t in 0..tn {
                let pair = if full {
                    u32::MAX
                } else {
                    codes::lanes(len) & !codes::lanes((p + t + 1).saturating_sub(start))
                };
                if !full {
                    extra[t] += (codes::below_mask(&m[t], &[sure[t]; CL]) & pair).count_ones();
                    let mut bits = codes::below_mask(&m[t], rs) & pair;
                    while bits != 0 {
                        lane[bits.trailing_zeros() as usize] += 1;
                        bits &= bits - 1;
                    }
                }
                // recorded without a branch (whether a tile has undecided
                // pairs is a coin toss the branch predictor loses)
                let aq = codes::in_band(&m[t], &[sure[t]; CL], &[width[t]; CL]) & pair;
                let ar = codes::in_band(&m[t], rs, rw) & pair;
                bands[nb] = Band {
                    pi: pi as u32,
                    t: t as u32,
                    query: aq,
                    reference: ar,
                };
                nb += usize::from(aq | ar != 0);
            }
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
        resolve(panels, &rows, &bands[..nb], |b, l, dist| {
            let (t, pi) = (b.t as usize, b.pi as usize);
            if b.query >> l & 1 != 0 {
                extra[t] += u32::from(admits(dist, rad[t]));
            }
            if b.reference >> l & 1 != 0 {
                let j = panels.indices(pi)[l] as usize;
                acc[panels.start[pi] as usize + l] += u32::from(admits(dist, ctx.radii[j]));
            }
        });
        nb = 0;
        let total = c.finish();
        for t in 0..tn {
            acc[p + t] += total[t] + extra[t];
        }
    }
}
