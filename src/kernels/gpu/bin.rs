//! GPU side of `bin` (`shaders/bin.wgsl`): bin indices and 64-bit pattern
//! keys for the binning estimators (Shwartz-Ziv & Tishby 2017; Saxe et al.
//! 2018; Chelombiev et al. 2019).
//!
//! The host rounds the binning constants to f32 once, exactly as the CPU
//! twin ([`Binning::constants`]), so both backends
//! multiply by the same numbers.

use super::{BinParams, GpuContext};
use crate::error::Result;
use crate::kernels::plan::{KernelKind, TilePlan};
use crate::kernels::{BinOut, Binning, Rows};

pub(super) fn bin(
    ctx: &GpuContext,
    plan: &TilePlan,
    rows: Rows<'_>,
    binning: &Binning,
) -> Result<BinOut> {
    let d = rows.d();
    let mut out = BinOut {
        indices: vec![0; rows.n() * d],
        keys: vec![0; rows.n()],
    };
    if rows.n() == 0 {
        return Ok(out);
    }
    let mut params = BinParams {
        dim: d as u32,
        ..BinParams::default()
    };
    // Edges binning: all columns' cut points back to back, with start offsets.
    let mut starts = vec![0u32];
    let mut flat = Vec::new();
    let (scale, inv_width) = binning.constants();
    match binning {
        Binning::EqualRange { lo, bins, .. } => {
            params.mode = 0;
            params.lo = *lo;
            params.bins = *bins;
            params.scale = scale;
        }
        Binning::Width { width } => {
            params.mode = 1;
            params.width = *width;
            params.inv_width = inv_width;
        }
        Binning::Edges { edges } => {
            params.mode = 2;
            for e in edges {
                flat.extend_from_slice(e);
                starts.push(flat.len() as u32);
            }
        }
    }
    let starts = ctx.storage("bin", "edge_start", bytemuck::cast_slice(&starts))?;
    let edges = ctx.storage("bin", "edges", bytemuck::cast_slice(&flat))?;
    for b in plan.query_blocks() {
        let (gx, gy) = plan.workgroups(b.len());
        let p = BinParams {
            n_rows: b.len() as u32,
            groups_x: gx,
            ..params
        };
        let pbuf = ctx.uniform("bin", bytemuck::bytes_of(&p))?;
        let values = ctx.storage(
            "bin",
            "values",
            bytemuck::cast_slice(rows.slice(b.start, b.end).data()),
        )?;
        let idx = ctx.storage(
            "bin",
            "indices",
            bytemuck::cast_slice(&vec![0i32; b.len() * d]),
        )?;
        let keys = ctx.storage(
            "bin",
            "keys",
            bytemuck::cast_slice(&vec![[0u32; 2]; b.len()]),
        )?;
        ctx.dispatch(
            KernelKind::Bin,
            &[],
            &[&pbuf, &values, &starts, &edges, &idx, &keys],
            (gx, gy),
        )?;
        let got: Vec<i32> = ctx.read("bin", &idx, b.len() * d)?;
        out.indices[b.start * d..b.end * d].copy_from_slice(&got);
        let lanes: Vec<[u32; 2]> = ctx.read("bin", &keys, b.len())?;
        for (o, [lo, hi]) in out.keys[b].iter_mut().zip(lanes) {
            *o = (u64::from(hi) << 32) | u64::from(lo);
        }
    }
    Ok(out)
}
