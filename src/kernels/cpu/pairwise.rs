//! CPU twin of `shaders/pairwise.wgsl`: a full distance matrix.

use crate::kernels::plan::TilePlan;
use crate::kernels::{Metric, Rows};
use rayon::prelude::*;

pub(super) fn pairwise(_plan: &TilePlan, q: Rows<'_>, r: Rows<'_>, metric: &Metric) -> Vec<f32> {
    let mut out = vec![0f32; q.n() * r.n()];
    if r.n() == 0 {
        return out;
    }
    out.par_chunks_mut(r.n()).enumerate().for_each(|(i, row)| {
        let qi = q.row(i);
        for (j, o) in row.iter_mut().enumerate() {
            *o = metric.distance(qi, r.row(j));
        }
    });
    out
}
