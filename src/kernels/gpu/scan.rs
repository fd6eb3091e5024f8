//! The host side of `shaders/ref_scan.wgsl`: row packing and the dispatch
//! loop shared by knn, radius_count, kde_lse and pairwise.
//!
//! Rows go to the GPU as `vec4<f32>` with every column block zero-padded to
//! a multiple of 4 columns, so a vec4 never straddles two blocks of a block
//! metric (the KSG joint space, Kraskov et al. 2004) and zeros leave both
//! Chebyshev and squared-Euclidean distances unchanged. The loop walks the
//! plan's query blocks and, inside each, its reference blocks in ascending
//! order (which keeps knn's lower-index tie-break across blocks); a query
//! block's running state stays on the GPU between those dispatches. Every
//! dispatch of a call uses one pipeline, specialised with the norm and the
//! plan's [`ScanShape`](crate::kernels::plan::ScanShape) (query rows per
//! invocation, register path).
//!
//! With [`TilePlan::ref_slices`] > 1 each dispatch is a 3-D grid whose z is
//! the reference slice: slice z scans its `slice_rows` rows of the block
//! into its own partial state, and after the query block's last reference
//! block the kernel's `merge` entry point combines the slices on the GPU,
//! so only the merged result is read back.

use super::{
    scan_overrides, GpuContext, PairParams, NORM_CHEBYSHEV, NORM_SQ_BLOCKS, NORM_SQ_EUCLIDEAN,
};
use crate::error::Result;
use crate::kernels::plan::TilePlan;
use crate::kernels::{Metric, Norm, Rows};
use std::ops::Range;

/// Where each column block of a row goes in the padded vec4 row.
#[derive(Clone, Debug)]
pub struct ColumnLayout {
    /// `(source start, source end, destination start)` in floats.
    segments: Vec<(usize, usize, usize)>,
    vec4s: usize,
    /// Exclusive block ends in vec4 units.
    block_ends: Vec<u32>,
    norm: Norm,
}

impl ColumnLayout {
    /// The layout of `metric` for rows of `d` columns.
    pub fn new(metric: &Metric, d: usize) -> Self {
        let mut segments = Vec::new();
        let mut block_ends = Vec::new();
        let (mut start, mut vec4s) = (0, 0);
        for end in metric.block_ends(d) {
            segments.push((start, end, vec4s * 4));
            vec4s += (end - start).div_ceil(4);
            block_ends.push(vec4s as u32);
            start = end;
        }
        ColumnLayout {
            segments,
            vec4s,
            block_ends,
            norm: metric.norm(),
        }
    }

    /// Padded row width in floats (what the plan sizes buffers by).
    pub fn padded_dim(&self) -> usize {
        self.vec4s * 4
    }

    /// Rows `range` of `rows`, packed.
    pub fn pack(&self, rows: Rows<'_>, range: Range<usize>) -> Vec<f32> {
        let w = self.padded_dim();
        if w == rows.d() {
            return rows.slice(range.start, range.end).data().to_vec();
        }
        let mut out = vec![0f32; range.len() * w];
        for (dst, i) in out.chunks_exact_mut(w).zip(range) {
            let src = rows.row(i);
            for &(s, e, o) in &self.segments {
                dst[o..o + e - s].copy_from_slice(&src[s..e]);
            }
        }
        out
    }
}

/// What one query × reference kernel adds to the shared loop.
pub trait PairKernel {
    /// Kernel parameters common to all dispatches (k, boundary, scale, …).
    fn params(&self) -> PairParams;
    /// State and extra input buffers of a query block (bindings 4, 5, …),
    /// with room for the plan's reference slices.
    fn begin(
        &mut self,
        ctx: &GpuContext,
        plan: &TilePlan,
        qb: Range<usize>,
    ) -> Result<Vec<wgpu::Buffer>>;
    /// Whether the slices' states are merged by the shader's `merge` entry
    /// point, which binds the uniform and every buffer of [`PairKernel::begin`].
    fn merges(&self) -> bool {
        false
    }
    /// After each dispatch (pairwise reads its tile here).
    fn after_dispatch(
        &mut self,
        _ctx: &GpuContext,
        _qb: Range<usize>,
        _rb: Range<usize>,
        _bufs: &[wgpu::Buffer],
    ) -> Result<()> {
        Ok(())
    }
    /// After the last reference block of a query block (and the merge): read the results.
    fn end(
        &mut self,
        ctx: &GpuContext,
        plan: &TilePlan,
        qb: Range<usize>,
        bufs: &[wgpu::Buffer],
    ) -> Result<()>;
}

/// Runs `kernel` over every query block × reference block of `plan`.
pub fn run<K: PairKernel>(
    ctx: &GpuContext,
    plan: &TilePlan,
    layout: &ColumnLayout,
    q: Rows<'_>,
    r: Rows<'_>,
    kernel: &mut K,
) -> Result<()> {
    let kind = plan.kernel;
    let name = kind.name();
    if q.n() == 0 || r.n() == 0 {
        // Nothing to scan: the state a query block starts with is its result.
        if q.n() > 0 {
            let bufs = kernel.begin(ctx, plan, 0..q.n())?;
            kernel.end(ctx, plan, 0..q.n(), &bufs)?;
        }
        return Ok(());
    }
    let ends = ctx.storage(name, "block_ends", bytemuck::cast_slice(&layout.block_ends))?;
    let ref_blocks: Vec<_> = plan.ref_blocks().collect();
    // With one reference block the references are uploaded once for all query blocks.
    let whole_ref = if ref_blocks.len() == 1 {
        Some(ctx.storage(
            name,
            "references",
            bytemuck::cast_slice(&layout.pack(r, 0..r.n())),
        )?)
    } else {
        None
    };
    let base = base_params(kernel.params(), layout, plan);
    let overrides = scan_overrides(base.norm, plan);
    for qb in plan.query_blocks() {
        let qbuf = ctx.storage(
            name,
            "queries",
            bytemuck::cast_slice(&layout.pack(q, qb.clone())),
        )?;
        let state = kernel.begin(ctx, plan, qb.clone())?;
        let (gx, gy) = plan.workgroups(qb.len());
        for (b, rb) in ref_blocks.iter().enumerate() {
            let rbuf_block;
            let rbuf = match &whole_ref {
                Some(b) => b,
                None => {
                    rbuf_block = ctx.storage(
                        name,
                        "references",
                        bytemuck::cast_slice(&layout.pack(r, rb.clone())),
                    )?;
                    &rbuf_block
                }
            };
            let params = PairParams {
                n_q: qb.len() as u32,
                n_r: rb.len() as u32,
                q_offset: qb.start as u32,
                r_offset: rb.start as u32,
                groups_x: gx,
                slice_rows: plan.slice_rows as u32,
                slices: plan.ref_slices,
                first_block: u32::from(b == 0),
                ..base
            };
            let pbuf = ctx.uniform(name, bytemuck::bytes_of(&params))?;
            let mut bindings = vec![&pbuf, &qbuf, rbuf, &ends];
            bindings.extend(state.iter());
            let bound: Vec<_> = bindings
                .into_iter()
                .enumerate()
                .map(|(n, b)| (n as u32, b))
                .collect();
            ctx.dispatch_entry(kind, "main", &overrides, &bound, [gx, gy, plan.ref_slices])?;
            kernel.after_dispatch(ctx, qb.clone(), rb.clone(), &state)?;
        }
        if plan.ref_slices > 1 && kernel.merges() {
            merge(ctx, plan, base, qb.len(), &state)?;
        }
        kernel.end(ctx, plan, qb, &state)?;
    }
    Ok(())
}

/// The parameters every dispatch of a call shares: the kernel's own, and
/// the row layout's (width, norm, column blocks).
fn base_params(mut base: PairParams, layout: &ColumnLayout, plan: &TilePlan) -> PairParams {
    base.vec4s = layout.vec4s as u32;
    // Chebyshev over blocks is Chebyshev over the whole row.
    base.norm = match layout.norm {
        Norm::Chebyshev => NORM_CHEBYSHEV,
        Norm::SqEuclidean if layout.block_ends.len() > 1 => NORM_SQ_BLOCKS,
        Norm::SqEuclidean => NORM_SQ_EUCLIDEAN,
    };
    base.n_blocks = layout.block_ends.len() as u32;
    let reg = plan.shape.register_vec4s;
    debug_assert!(reg == 0 || reg as usize == layout.vec4s, "{plan:?}");
    if reg > 0 {
        // Block starts inside a register row (at most 16 vec4s) as bits.
        let inner = layout.block_ends.split_last().map_or(&[][..], |(_, b)| b);
        base.block_starts = inner.iter().fold(0, |m, &e| m | 1 << e);
    }
    base
}

/// The kernel's `merge` dispatch over a query block of `rows` rows: combines
/// the reference slices' states into the one read back.
fn merge(
    ctx: &GpuContext,
    plan: &TilePlan,
    base: PairParams,
    rows: usize,
    state: &[wgpu::Buffer],
) -> Result<()> {
    let (mx, my) = plan.merge_workgroups(rows);
    let params = PairParams {
        n_q: rows as u32,
        groups_x: mx,
        slices: plan.ref_slices,
        ..base
    };
    let pbuf = ctx.uniform(plan.kernel.name(), bytemuck::bytes_of(&params))?;
    let mut bound = vec![(0, &pbuf)];
    bound.extend((4..).zip(state.iter()));
    ctx.dispatch_entry(plan.kernel, "merge", &[], &bound, [mx, my, 1])
}
