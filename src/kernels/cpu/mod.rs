//! The CPU twins of the kernels: the reference every GPU result is compared with.
//!
//! Full implementations (STYLE.md rule 2): the same [`TilePlan`] shape as the
//! GPU (cache-sized blocks), the same f32 arithmetic and boundary rules, and
//! parallel over query blocks with rayon.

mod bin;
mod codes;
mod kde_lse;
mod knn;
mod pairwise;
mod radius_count;
mod scan;
mod tile;

pub use knn::KList;
pub use tile::Isa;

use super::plan::{KernelKind, Limits, TilePlan, MAX_K};
use super::request::{BinRequest, Compute, CountRequest, KdeRequest, KnnRequest, PairwiseRequest};
use super::{Backend, BinOut, KnnOut};
use crate::error::Result;

/// The CPU backend.
#[derive(Clone, Debug)]
pub struct CpuKernels {
    limits: Limits,
    isa: Isa,
}

impl Default for CpuKernels {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuKernels {
    /// With cache-sized blocks.
    pub fn new() -> Self {
        CpuKernels {
            limits: Limits::cpu(),
            isa: Isa::detect(),
        }
    }

    /// With the given plan limits (tests use [`Limits::tiny`] to force tiling).
    pub fn with_limits(limits: Limits) -> Self {
        CpuKernels {
            limits,
            isa: Isa::detect(),
        }
    }

    /// Runs the vector path `isa` (or the best this machine has, if it lacks
    /// `isa`); tests and benches use it to compare the paths on one machine.
    pub fn with_isa(mut self, isa: Isa) -> Self {
        self.isa = isa.or_available();
        self
    }

    /// The vector path the kernels run.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// "cpu (N threads, ISA)", the ISA being the vector path the twins run.
    pub fn device_name(&self) -> String {
        format!(
            "cpu ({} threads, {})",
            rayon::current_num_threads(),
            self.isa.name()
        )
    }
}

/// The backend computes checked requests ([`crate::kernels::Kernels`] checks and plans them).
impl Compute for CpuKernels {
    fn backend(&self) -> Backend {
        Backend::Cpu
    }

    fn device_name(&self) -> String {
        CpuKernels::device_name(self)
    }

    fn limits(&self) -> &Limits {
        &self.limits
    }

    fn knn(&self, req: &KnnRequest<'_>, plan: &TilePlan) -> Result<KnnOut> {
        Ok(knn::knn(plan, self.isa, req))
    }

    fn radius_count(&self, req: &CountRequest<'_>, plan: &TilePlan) -> Result<Vec<u32>> {
        Ok(radius_count::radius_count(plan, self.isa, req))
    }

    fn kde_lse(&self, req: &KdeRequest<'_>, plan: &TilePlan) -> Result<Vec<f32>> {
        Ok(kde_lse::kde_lse(plan, self.isa, req))
    }

    fn bin(&self, req: &BinRequest<'_>, plan: &TilePlan) -> Result<BinOut> {
        Ok(bin::bin(plan, req.rows(), req.binning()))
    }

    fn pairwise(&self, req: &PairwiseRequest<'_>, plan: &TilePlan) -> Result<Vec<f32>> {
        Ok(pairwise::pairwise(
            plan,
            self.isa,
            req.q(),
            req.r(),
            req.metric(),
        ))
    }
}

/// Host bytes of the working copy the twins make of the rows of one kNN
/// call of `n` rows in `dims` columns (the joint space, the widest): max-norm
/// scans keep the rows sorted as f32 and their one-byte codes (references in
/// panels of 32 rows padded per plan block, queries by row, and per worker
/// thread 16 queries' codes broadcast to 32 lanes); squared-Euclidean scans
/// keep f32 panels of 16 rows. Plus sort orders and per-row radii, limits or
/// counts. `src/memory.rs` states it before a run.
pub fn knn_working_bytes(n: usize, dims: usize, k: usize) -> u64 {
    let mul = |a: usize, b: usize| (a as u64).saturating_mul(b as u64);
    let plan = TilePlan::new(
        KernelKind::Knn,
        n,
        n,
        dims,
        k.clamp(1, MAX_K),
        0,
        &Limits::cpu(),
    );
    let padded = |panel: usize| {
        plan.as_ref()
            .map_or(mul(n, panel), |p| p.padded_refs(panel))
    };
    let broadcast = mul(rayon::current_num_threads(), dims).saturating_mul(16 * 32);
    let coded = padded(codes::CL)
        .saturating_mul(dims as u64)
        .saturating_add(mul(n, dims).saturating_mul(5))
        .saturating_add(broadcast);
    let f32_panels = padded(tile::LANES)
        .saturating_mul(dims as u64)
        .saturating_mul(4);
    coded.max(f32_panels).saturating_add(mul(n, 24))
}
