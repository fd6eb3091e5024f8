//! GPU side of `knn` (`shaders/knn.wgsl`): k-th nearest neighbour for
//! KSG (Kraskov et al. 2004, eqs. 8–9) and Kozachenko–Leonenko entropy.
//!
//! The running k-list of every query lives in two storage buffers
//! (distances, indices) for the whole of its query block, started at
//! (+inf, u32::MAX) like the CPU's `KList` by the first reference block's
//! dispatch, so reference blocks merge exactly. With reference slices each
//! slice has its own region of lists and the shader's `merge` writes the k
//! smallest of them by (distance, then lower index) to one more region, the
//! only one read back.

use super::scan::{self, ColumnLayout, PairKernel};
use super::{GpuContext, PairParams};
use crate::error::Result;
use crate::kernels::plan::{state_regions, TilePlan};
use crate::kernels::{KnnOut, KnnSpec, Rows};
use std::ops::Range;

struct Knn {
    k: usize,
    exclude_self: bool,
    kth: Vec<f32>,
    indices: Option<Vec<u32>>,
}

impl PairKernel for Knn {
    fn params(&self) -> PairParams {
        PairParams {
            k: self.k as u32,
            exclude_self: self.exclude_self.into(),
            ..PairParams::default()
        }
    }

    fn begin(
        &mut self,
        ctx: &GpuContext,
        plan: &TilePlan,
        qb: Range<usize>,
    ) -> Result<Vec<wgpu::Buffer>> {
        if plan.n_ref == 0 {
            // No dispatch will start the lists: the empty lists are the result.
            let n = qb.len() * self.k;
            return Ok(vec![
                ctx.storage(
                    "knn",
                    "best_dist",
                    bytemuck::cast_slice(&vec![f32::INFINITY; n]),
                )?,
                ctx.storage(
                    "knn",
                    "best_index",
                    bytemuck::cast_slice(&vec![u32::MAX; n]),
                )?,
            ]);
        }
        let bytes = plan.state_buffer_bytes(qb.len(), self.k);
        Ok(vec![
            ctx.scratch("knn", "best_dist", bytes)?,
            ctx.scratch("knn", "best_index", bytes)?,
        ])
    }

    fn merges(&self) -> bool {
        true
    }

    fn end(
        &mut self,
        ctx: &GpuContext,
        plan: &TilePlan,
        qb: Range<usize>,
        bufs: &[wgpu::Buffer],
    ) -> Result<()> {
        let k = self.k;
        let n = qb.len() * k;
        // The merged lists are in the last region (the only one with one slice).
        let start = (state_regions(plan.kernel, plan.ref_slices) as usize - 1) * n;
        let dist: Vec<f32> = ctx.read_at("knn", &bufs[0], start, n)?;
        for (i, list) in qb.clone().zip(dist.chunks_exact(k)) {
            self.kth[i] = list[k - 1];
        }
        if let Some(ix) = self.indices.as_mut() {
            let idx: Vec<u32> = ctx.read_at("knn", &bufs[1], start, n)?;
            ix[qb.start * k..qb.end * k].copy_from_slice(&idx);
        }
        Ok(())
    }
}

pub(super) fn knn(
    ctx: &GpuContext,
    plan: &TilePlan,
    layout: &ColumnLayout,
    q: Rows<'_>,
    r: Rows<'_>,
    spec: &KnnSpec,
) -> Result<KnnOut> {
    let mut kernel = Knn {
        k: spec.k,
        exclude_self: spec.exclude_self,
        kth: vec![0f32; q.n()],
        indices: spec.want_indices.then(|| vec![0u32; q.n() * spec.k]),
    };
    scan::run(ctx, plan, layout, q, r, &mut kernel)?;
    Ok(KnnOut {
        kth: kernel.kth,
        indices: kernel.indices,
    })
}
