//! GPU side of `pairwise` (`shaders/pairwise.wgsl`): the full distance
//! matrix, one tile per dispatch, read back and placed after each dispatch.

use super::scan::{self, ColumnLayout, PairKernel};
use super::{GpuContext, PairParams};
use crate::error::Result;
use crate::kernels::plan::TilePlan;
use crate::kernels::Rows;
use std::ops::Range;

struct Pairwise {
    n_ref: usize,
    ref_block: usize,
    out: Vec<f32>,
}

impl PairKernel for Pairwise {
    fn params(&self) -> PairParams {
        PairParams::default()
    }

    fn begin(
        &mut self,
        ctx: &GpuContext,
        _: &TilePlan,
        qb: Range<usize>,
    ) -> Result<Vec<wgpu::Buffer>> {
        let n = qb.len() * self.ref_block.min(self.n_ref);
        Ok(vec![ctx.storage(
            "pairwise",
            "tile",
            bytemuck::cast_slice(&vec![0f32; n]),
        )?])
    }

    fn after_dispatch(
        &mut self,
        ctx: &GpuContext,
        qb: Range<usize>,
        rb: Range<usize>,
        bufs: &[wgpu::Buffer],
    ) -> Result<()> {
        let tile: Vec<f32> = ctx.read("pairwise", &bufs[0], qb.len() * rb.len())?;
        for (i, row) in qb.zip(tile.chunks_exact(rb.len())) {
            self.out[i * self.n_ref + rb.start..i * self.n_ref + rb.end].copy_from_slice(row);
        }
        Ok(())
    }

    fn end(
        &mut self,
        _: &GpuContext,
        _: &TilePlan,
        _: Range<usize>,
        _: &[wgpu::Buffer],
    ) -> Result<()> {
        Ok(())
    }
}

pub(super) fn pairwise(
    ctx: &GpuContext,
    plan: &TilePlan,
    layout: &ColumnLayout,
    q: Rows<'_>,
    r: Rows<'_>,
) -> Result<Vec<f32>> {
    let mut kernel = Pairwise {
        n_ref: r.n(),
        ref_block: plan.ref_block,
        out: vec![0f32; q.n() * r.n()],
    };
    scan::run(ctx, plan, layout, q, r, &mut kernel)?;
    Ok(kernel.out)
}
