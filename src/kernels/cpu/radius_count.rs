//! CPU twin of `shaders/radius_count.wgsl`: neighbours within each query's own radius.

use crate::kernels::plan::TilePlan;
use crate::kernels::{CountSpec, Rows};
use rayon::prelude::*;

pub(super) fn radius_count(
    plan: &TilePlan,
    q: Rows<'_>,
    r: Rows<'_>,
    radii: &[f32],
    spec: &CountSpec,
) -> Vec<u32> {
    let blocks: Vec<_> = plan.query_blocks().collect();
    let parts: Vec<Vec<u32>> = blocks
        .par_iter()
        .map(|qb| {
            let mut counts = vec![0u32; qb.len()];
            for rb in plan.ref_blocks() {
                for (li, i) in qb.clone().enumerate() {
                    let qi = q.row(i);
                    let mut c = 0u32;
                    for j in rb.clone() {
                        if spec.exclude_self && i == j {
                            continue;
                        }
                        c += spec
                            .boundary
                            .admits(spec.metric.distance(qi, r.row(j)), radii[i])
                            as u32;
                    }
                    counts[li] += c;
                }
            }
            counts
        })
        .collect();
    parts.concat()
}
