//! CPU twin of `shaders/pairwise.wgsl`: a full distance matrix (diagnostics,
//! `check`). Computed with the register-blocked tile of [`super::tile`], so
//! every entry has the bits of [`crate::kernels::Metric::distance`].

// Lane loops index several fixed-size arrays in step; the index form is the
// one LLVM turns into vector registers.
#![allow(clippy::needless_range_loop)]

use super::scan::Panels;
use super::tile::{self, dispatch, Isa, QueryTiles, TileMetric, LANES, QT};
use crate::kernels::plan::TilePlan;
use crate::kernels::{Metric, Rows};
use rayon::prelude::*;

pub(super) fn pairwise(
    plan: &TilePlan,
    isa: Isa,
    q: Rows<'_>,
    r: Rows<'_>,
    metric: &Metric,
) -> Vec<f32> {
    let (nq, nr) = (q.n(), r.n());
    let mut out = vec![0f32; nq * nr];
    if nr == 0 || nq == 0 {
        return out;
    }
    let tm = TileMetric::new(metric, q.d());
    let order: Vec<u32> = (0..nr as u32).collect();
    let panels: Panels<f32, LANES> = Panels::pack(r, &order, plan, None, |_, v| v);
    let queries = QueryTiles::unsorted(q);
    out.par_chunks_mut(QT * nr)
        .enumerate()
        .for_each(|(ti, rows_out)| {
            dispatch!(isa, || {
                let rows = queries.rows(ti * QT);
                let tn = rows_out.len() / nr;
                let mut acc = [[0f32; LANES]; QT];
                for pi in 0..panels.count() {
                    tile::tile(&tm, &rows, panels.panel(pi), panels.d, &mut acc);
                    let idx = panels.indices(pi);
                    for t in 0..tn {
                        for l in 0..usize::from(panels.len[pi]) {
                            rows_out[t * nr + idx[l] as usize] = acc[t][l];
                        }
                    }
                }
            })
        });
    out
}
