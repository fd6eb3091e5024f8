//! GPU side of `radius_count` (`shaders/radius_count.wgsl`): the marginal
//! neighbour counts of KSG (Kraskov et al. 2004), Ross (2014) and
//! Frenzel–Pompe CMI, each query with its own radius.
//!
//! Counts of successive reference blocks, and of the reference slices of a
//! dispatch (atomic adds: exact in any order), add up in one zeroed storage
//! buffer; slices need no state of their own and no merge.

use super::scan::{self, ColumnLayout, PairKernel};
use super::{GpuContext, PairParams};
use crate::error::Result;
use crate::kernels::plan::TilePlan;
use crate::kernels::request::CountRequest;
use crate::kernels::{Boundary, CountSpec};
use std::ops::Range;

struct Count<'a> {
    radii: &'a [f32],
    spec: &'a CountSpec,
    counts: Vec<u32>,
}

impl PairKernel for Count<'_> {
    fn params(&self) -> PairParams {
        PairParams {
            exclude_self: self.spec.exclude_self.into(),
            boundary: match self.spec.boundary {
                Boundary::Less => 0,
                Boundary::LessEqual => 1,
            },
            ..PairParams::default()
        }
    }

    fn begin(
        &mut self,
        ctx: &GpuContext,
        _: &TilePlan,
        qb: Range<usize>,
    ) -> Result<Vec<wgpu::Buffer>> {
        Ok(vec![
            ctx.storage(
                "radius_count",
                "radii",
                bytemuck::cast_slice(&self.radii[qb.clone()]),
            )?,
            ctx.storage(
                "radius_count",
                "counts",
                bytemuck::cast_slice(&vec![0u32; qb.len()]),
            )?,
        ])
    }

    fn end(
        &mut self,
        ctx: &GpuContext,
        _: &TilePlan,
        qb: Range<usize>,
        bufs: &[wgpu::Buffer],
    ) -> Result<()> {
        let c: Vec<u32> = ctx.read("radius_count", &bufs[1], qb.len())?;
        self.counts[qb].copy_from_slice(&c);
        Ok(())
    }
}

pub(super) fn radius_count(
    ctx: &GpuContext,
    plan: &TilePlan,
    layout: &ColumnLayout,
    req: &CountRequest<'_>,
) -> Result<Vec<u32>> {
    let mut kernel = Count {
        radii: req.radii(),
        spec: req.spec(),
        counts: vec![0; req.q().n()],
    };
    scan::run(ctx, plan, layout, req.q(), req.r(), &mut kernel)?;
    Ok(kernel.counts)
}
