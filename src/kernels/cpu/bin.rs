//! CPU twin of `shaders/bin.wgsl`: bin index of every value, pattern key of every row.

use crate::kernels::plan::TilePlan;
use crate::kernels::{pattern_key, BinOut, Binning, Rows};
use rayon::prelude::*;

/// Bin index of one value in column `c`; the shader computes the same f32 operations.
#[inline]
pub fn bin_index(binning: &Binning, t: f32, c: usize, equal_scale: f32, inv_width: f32) -> i32 {
    match binning {
        Binning::EqualRange { lo, bins, .. } => {
            let b = ((t - lo) * equal_scale).floor();
            b.clamp(0.0, (*bins - 1) as f32) as i32
        }
        Binning::Width { width } => {
            // floor(t / w) from a multiply by the rounded reciprocal, then
            // corrected by one step so that the result is exactly floor(t / w)
            // wherever the products are exact (both twins do the same).
            let mut b = (t * inv_width).floor();
            if (b + 1.0) * width <= t {
                b += 1.0;
            } else if b * width > t {
                b -= 1.0;
            }
            b.clamp(i32::MIN as f32, i32::MAX as f32) as i32
        }
        Binning::Edges { edges } => edges[c].partition_point(|&e| e <= t) as i32,
    }
}

pub(super) fn bin(_plan: &TilePlan, rows: Rows<'_>, binning: &Binning) -> BinOut {
    let (scale, inv_w) = binning.constants();
    let d = rows.d();
    let mut indices = vec![0i32; rows.n() * d];
    indices.par_chunks_mut(d).enumerate().for_each(|(i, out)| {
        for (c, (o, &t)) in out.iter_mut().zip(rows.row(i)).enumerate() {
            *o = bin_index(binning, t, c, scale, inv_w);
        }
    });
    let keys = indices.par_chunks(d).map(pattern_key).collect();
    BinOut { indices, keys }
}
