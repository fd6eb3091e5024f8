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
mod tile;

pub use knn::KList;
pub use tile::Isa;

/// Reference rows per panel of the f32 tile (squared-Euclidean scans, `kde_lse`, `pairwise`).
pub const F32_PANEL_ROWS: usize = tile::LANES;
/// Reference rows per panel of one-byte codes (max-norm `knn` and `radius_count`).
pub const CODE_PANEL_ROWS: usize = codes::CL;

use super::plan::{KernelKind, Limits, TilePlan};
use super::{checks, Backend, BinOut, Binning, CountSpec, Kernels, KnnOut, KnnSpec, Metric, Rows};
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

    fn plan(
        &self,
        kernel: KernelKind,
        nq: usize,
        nr: usize,
        d: usize,
        k: usize,
        edges: usize,
    ) -> Result<TilePlan> {
        TilePlan::new(kernel, nq, nr, d, k, edges, &self.limits)
    }
}

impl Kernels for CpuKernels {
    fn backend(&self) -> Backend {
        Backend::Cpu
    }

    fn knn(&self, q: Rows<'_>, r: Rows<'_>, spec: &KnnSpec) -> Result<KnnOut> {
        checks::knn(q, r, spec)?;
        let plan = self.plan(KernelKind::Knn, q.n(), r.n(), q.d(), spec.k, 0)?;
        Ok(knn::knn(&plan, self.isa, q, r, spec))
    }

    fn radius_count(
        &self,
        q: Rows<'_>,
        r: Rows<'_>,
        radii: &[f32],
        spec: &CountSpec,
    ) -> Result<Vec<u32>> {
        checks::radius_count(q, r, radii, spec)?;
        let plan = self.plan(KernelKind::RadiusCount, q.n(), r.n(), q.d(), 0, 0)?;
        Ok(radius_count::radius_count(
            &plan, self.isa, q, r, radii, spec,
        ))
    }

    fn kde_lse(
        &self,
        q: Rows<'_>,
        r: Rows<'_>,
        scale: f32,
        exclude_self: bool,
    ) -> Result<Vec<f32>> {
        checks::kde_lse(q, r, scale, exclude_self)?;
        let plan = self.plan(KernelKind::KdeLse, q.n(), r.n(), q.d(), 0, 0)?;
        Ok(kde_lse::kde_lse(&plan, self.isa, q, r, scale, exclude_self))
    }

    fn bin(&self, rows: Rows<'_>, binning: &Binning) -> Result<BinOut> {
        checks::bin(rows, binning)?;
        let edges = match binning {
            Binning::Edges { edges } => edges.iter().map(Vec::len).max().unwrap_or(0),
            _ => 0,
        };
        let plan = self.plan(KernelKind::Bin, rows.n(), 0, rows.d(), 0, edges)?;
        Ok(bin::bin(&plan, rows, binning))
    }

    fn pairwise(&self, q: Rows<'_>, r: Rows<'_>, metric: &Metric) -> Result<Vec<f32>> {
        checks::pair("pairwise", q, r, false)?;
        metric.check_dim(q.d())?;
        let plan = self.plan(KernelKind::Pairwise, q.n(), r.n(), q.d(), 0, 0)?;
        Ok(pairwise::pairwise(&plan, self.isa, q, r, metric))
    }
}
