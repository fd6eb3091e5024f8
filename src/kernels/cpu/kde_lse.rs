//! CPU twin of `shaders/kde_lse.wgsl`: log Σ_j exp(−scale·‖q−r_j‖²), the
//! pairwise-distance kernel sum of the Kolchinsky–Tracey KDE bounds
//! (Kolchinsky & Tracey 2017, Entropy 19(7) 361, eq. 10; Saxe et al. 2018).
//!
//! One running (max, sum) per query and plan reference block, blocks combined
//! exactly with [`lse_combine`]. Squared distances come from the register
//! tile of [`super::tile`] (bit-identical to the reference); the exponentials
//! use a branch-free polynomial ([`exp_nonpositive`]) that vectorises, so the
//! result agrees with the scalar reference within `tolerance::KDE_LSE`.

// Lane loops index several fixed-size arrays in step; the index form is the
// one LLVM turns into vector registers.
#![allow(clippy::needless_range_loop)]

use super::scan::Panels;
use super::tile::{self, dispatch, Isa, QueryTiles, TileMetric, LANES, QT};
use crate::kernels::plan::{lse_combine, TilePlan};
use crate::kernels::request::KdeRequest;
use rayon::prelude::*;

/// Queries per rayon work unit.
const UNIT: usize = 16 * QT;

/// e^x for x <= 0 (Cephes `expf`: x = n·ln2 + r, |r| <= ln2/2, degree-6
/// polynomial, 2^n from the exponent bits; about 2 ulp). Below −88 it returns 0
/// (e^−88 is under the smallest normal f32); −inf gives 0.
#[inline(always)]
pub(super) fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 · 2^23: adding and subtracting it rounds to the nearest integer
    const ROUND: f32 = 12_582_912.0;
    let xc = if x > -88.0 { x } else { -88.0 };
    let n = (xc * LOG2E + ROUND) - ROUND;
    let r = xc - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    let scale = f32::from_bits(((n as i32 + 127).max(0) as u32) << 23);
    if x > -88.0 {
        y * scale
    } else {
        0.0
    }
}

pub(super) fn kde_lse(plan: &TilePlan, isa: Isa, req: &KdeRequest<'_>) -> Vec<f32> {
    let (q, r) = (req.q(), req.r());
    let (scale, exclude_self) = (req.scale(), req.exclude_self());
    let nq = q.n();
    let mut out = vec![f32::NEG_INFINITY; nq];
    if nq == 0 || r.n() == 0 {
        return out;
    }
    let metric = TileMetric::SqEuclidean { ends: vec![q.d()] };
    let order: Vec<u32> = (0..r.n() as u32).collect();
    let panels: Panels<f32, LANES> = Panels::pack(r, &order, plan, None, |_, v| v);
    // panels never straddle a plan reference block: group them per block
    let mut block_panels = Vec::new();
    let mut first = 0;
    for b in plan.ref_blocks() {
        let n = b.len().div_ceil(LANES);
        block_panels.push(first..first + n);
        first += n;
    }
    let queries = QueryTiles::unsorted(q);
    out.par_chunks_mut(UNIT)
        .enumerate()
        .for_each(|(ui, unit_out)| {
            dispatch!(isa, || {
                let mut acc = [[0f32; LANES]; QT];
                for (ti, tile_out) in unit_out.chunks_mut(QT).enumerate() {
                    let p = ui * UNIT + ti * QT;
                    let tn = tile_out.len();
                    let rows = queries.rows(p);
                    for blk in &block_panels {
                        // running log-sum-exp per query: m = max exponent, s = Σ e^(e − m)
                        let mut m = [f32::NEG_INFINITY; QT];
                        let mut s = [0f32; QT];
                        for pi in blk.clone() {
                            tile::tile(&metric, &rows, panels.panel(pi), panels.d, &mut acc);
                            let idx = panels.indices(pi);
                            let n = usize::from(panels.len[pi]);
                            for t in 0..tn {
                                let me = (p + t) as u32;
                                let mut e = [f32::NEG_INFINITY; LANES];
                                let mut pm = f32::NEG_INFINITY;
                                for l in 0..LANES {
                                    let keep = l < n && !(exclude_self && idx[l] == me);
                                    e[l] = if keep {
                                        -scale * acc[t][l]
                                    } else {
                                        f32::NEG_INFINITY
                                    };
                                    pm = if e[l] > pm { e[l] } else { pm };
                                }
                                if pm > m[t] {
                                    s[t] *= exp_nonpositive(m[t] - pm);
                                    m[t] = pm;
                                }
                                if m[t] > f32::NEG_INFINITY {
                                    let mut sum = 0f32;
                                    for v in e {
                                        sum += exp_nonpositive(v - m[t]);
                                    }
                                    s[t] += sum;
                                }
                            }
                        }
                        for t in 0..tn {
                            let block = if m[t] == f32::NEG_INFINITY {
                                m[t]
                            } else {
                                m[t] + s[t].ln()
                            };
                            tile_out[t] = lse_combine(tile_out[t], block);
                        }
                    }
                }
            })
        });
    out
}

#[cfg(test)]
mod tests {
    use super::exp_nonpositive;

    /// A few ulp of e^x over the whole non-positive range the kernel feeds it.
    const EXP_REL: f32 = 5e-7;

    #[test]
    fn exp_polynomial_is_within_a_few_ulp() {
        let mut x = 0.0f32;
        while x > -87.0 {
            let (got, want) = (exp_nonpositive(x), x.exp());
            assert!(
                ((got - want) / want).abs() <= EXP_REL,
                "x = {x}: {got} vs {want}"
            );
            x -= 0.013_7;
        }
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_nonpositive(-100.0), 0.0);
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(-0.0), 1.0);
    }
}
