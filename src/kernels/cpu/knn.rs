//! CPU twin of `shaders/knn.wgsl`: the k nearest references of every query
//! (the ε_i of KSG, Kraskov et al. 2004 eq. 8, and the r_i of
//! Kozachenko–Leonenko), by exact brute force over the reference blocks of the
//! [`TilePlan`] with box-assisted pruning ([`super::tile`]).
//!
//! The running k-list of a query is ordered by (distance, reference index), so
//! the result does not depend on the order in which references are visited:
//! sorting and skipping panels change the speed, never the answer.

// Lane loops index several fixed-size arrays in step; the index form is the
// one LLVM turns into vector registers.
#![allow(clippy::needless_range_loop)]

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

pub(super) fn knn(plan: &TilePlan, isa: Isa, q: Rows<'_>, r: Rows<'_>, spec: &KnnSpec) -> KnnOut {
    let k = spec.k;
    let nq = q.n();
    let mut kth = vec![0f32; nq];
    let mut indices = spec.want_indices.then(|| vec![0u32; nq * k]);
    if nq == 0 {
        return KnnOut { kth, indices };
    }
    let metric = TileMetric::new(&spec.metric, q.d());
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
    for (u, lists) in units.iter().zip(results) {
        for (p, list) in u.clone().zip(lists) {
            let i = queries.order[p] as usize;
            kth[i] = list.worst();
            if let Some(ix) = indices.as_mut() {
                ix[i * k..(i + 1) * k].copy_from_slice(list.indices());
            }
        }
    }
    KnnOut { kth, indices }
}

/// The k-lists of the queries at sorted positions `unit`.
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
        let mut scan = Scan::new(panels, queries.key_range(&rows, tn));
        while let Some(pi) = scan.next(panels, metric, worst(lists)) {
            let reach: [f32; QT] =
                std::array::from_fn(|t| lists.get(t).map_or(f32::NEG_INFINITY, KList::worst));
            if !tile::tile_within(metric, &rows, panels.panel(pi), d, &reach, &mut out) {
                continue;
            }
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
