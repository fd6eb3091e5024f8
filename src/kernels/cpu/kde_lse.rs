//! CPU twin of `shaders/kde_lse.wgsl`: log Σ_j exp(−scale·‖q−r_j‖²), one
//! running (max, sum) per query and reference block, blocks combined exactly.

use crate::kernels::plan::{lse_combine, TilePlan};
use crate::kernels::{Metric, Rows};
use rayon::prelude::*;

pub(super) fn kde_lse(
    plan: &TilePlan,
    q: Rows<'_>,
    r: Rows<'_>,
    scale: f32,
    exclude_self: bool,
) -> Vec<f32> {
    let metric = Metric::sq_euclidean();
    let blocks: Vec<_> = plan.query_blocks().collect();
    let parts: Vec<Vec<f32>> = blocks
        .par_iter()
        .map(|qb| {
            let mut out = vec![f32::NEG_INFINITY; qb.len()];
            for rb in plan.ref_blocks() {
                for (li, i) in qb.clone().enumerate() {
                    let qi = q.row(i);
                    // running log-sum-exp: m = max exponent, s = Σ exp(e − m)
                    let mut m = f32::NEG_INFINITY;
                    let mut s = 0f32;
                    for j in rb.clone() {
                        if exclude_self && i == j {
                            continue;
                        }
                        let e = -scale * metric.distance(qi, r.row(j));
                        if e > m {
                            s = s * (m - e).exp() + 1.0;
                            m = e;
                        } else {
                            s += (e - m).exp();
                        }
                    }
                    let block = if m == f32::NEG_INFINITY {
                        m
                    } else {
                        m + s.ln()
                    };
                    out[li] = lse_combine(out[li], block);
                }
            }
            out
        })
        .collect();
    parts.concat()
}
