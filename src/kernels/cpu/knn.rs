//! CPU twin of `shaders/knn.wgsl`: k-th nearest neighbour by brute force over
//! reference blocks, the running k-list carried from block to block.

use crate::kernels::plan::TilePlan;
use crate::kernels::{KnnOut, KnnSpec, Rows};
use rayon::prelude::*;

/// A sorted list of the k best `(distance, index)` so far.
///
/// Order: ascending distance, ties by lower index. References are offered in
/// ascending index order, so a tie never displaces an earlier entry.
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

pub(super) fn knn(plan: &TilePlan, q: Rows<'_>, r: Rows<'_>, spec: &KnnSpec) -> KnnOut {
    let k = spec.k;
    let mut kth = vec![0f32; q.n()];
    let mut indices = spec.want_indices.then(|| vec![0u32; q.n() * k]);
    let blocks: Vec<_> = plan.query_blocks().collect();
    let results: Vec<Vec<KList>> = blocks
        .par_iter()
        .map(|qb| {
            let mut lists: Vec<KList> = (qb.start..qb.end).map(|_| KList::new(k)).collect();
            for rb in plan.ref_blocks() {
                for (li, i) in (qb.start..qb.end).enumerate() {
                    let qi = q.row(i);
                    let list = &mut lists[li];
                    for j in rb.clone() {
                        if spec.exclude_self && i == j {
                            continue;
                        }
                        list.offer(spec.metric.distance(qi, r.row(j)), j as u32);
                    }
                }
            }
            lists
        })
        .collect();
    for (qb, lists) in blocks.iter().zip(results) {
        for (i, list) in (qb.start..qb.end).zip(lists) {
            kth[i] = list.worst();
            if let Some(ix) = indices.as_mut() {
                ix[i * k..(i + 1) * k].copy_from_slice(list.indices());
            }
        }
    }
    KnnOut { kth, indices }
}
