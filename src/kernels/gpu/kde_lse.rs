//! GPU side of `kde_lse` (`shaders/kde_lse.wgsl`): log Σ_j exp(−scale·‖q−r_j‖²),
//! the kernel-density sums of the Kolchinsky–Tracey bounds (Saxe et al. 2018).
//!
//! The GPU carries one running (max, scaled sum) per query across reference
//! blocks instead of one log-sum-exp per block as the CPU twin does: both are
//! exact merges, equal within `tolerance::KDE_LSE`. With reference slices
//! each slice carries its own (max, sum) and the shader's `merge` combines
//! them in slice order into the first region, the only one read back: the
//! value is deterministic and within the same tolerance.

use super::scan::{self, ColumnLayout, PairKernel};
use super::{GpuContext, PairParams};
use crate::error::Result;
use crate::kernels::plan::TilePlan;
use crate::kernels::request::KdeRequest;
use std::ops::Range;

struct Kde {
    scale: f32,
    exclude_self: bool,
    out: Vec<f32>,
}

impl PairKernel for Kde {
    fn params(&self) -> PairParams {
        PairParams {
            scale: self.scale,
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
            // No dispatch will start the sums: (0, 0), no reference, is the result.
            return Ok(vec![ctx.storage(
                "kde_lse",
                "max_sum",
                bytemuck::cast_slice(&vec![[0f32; 2]; qb.len()]),
            )?]);
        }
        let bytes = plan.state_buffer_bytes(qb.len(), 0);
        Ok(vec![ctx.scratch("kde_lse", "max_sum", bytes)?])
    }

    fn merges(&self) -> bool {
        true
    }

    fn end(
        &mut self,
        ctx: &GpuContext,
        _: &TilePlan,
        qb: Range<usize>,
        bufs: &[wgpu::Buffer],
    ) -> Result<()> {
        let ms: Vec<[f32; 2]> = ctx.read("kde_lse", &bufs[0], qb.len())?;
        for (o, [m, s]) in self.out[qb].iter_mut().zip(ms) {
            // s == 0: no reference was left (one row with exclude-self).
            *o = if s == 0.0 {
                f32::NEG_INFINITY
            } else {
                m + s.ln()
            };
        }
        Ok(())
    }
}

pub(super) fn kde_lse(
    ctx: &GpuContext,
    plan: &TilePlan,
    layout: &ColumnLayout,
    req: &KdeRequest<'_>,
) -> Result<Vec<f32>> {
    let mut kernel = Kde {
        scale: req.scale(),
        exclude_self: req.exclude_self(),
        out: vec![f32::NEG_INFINITY; req.q().n()],
    };
    scan::run(ctx, plan, layout, req.q(), req.r(), &mut kernel)?;
    Ok(kernel.out)
}
