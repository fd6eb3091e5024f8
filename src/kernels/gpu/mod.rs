//! The GPU backend: the WGSL shaders in `shaders/` run through `wgpu`.
//!
//! Every kernel of DESIGN.md's table is a compute shader here and a CPU twin
//! in `src/kernels/cpu/`; the twins are the reference in `tests/parity.rs`.
//! Work is cut by the one [`TilePlan`] into query blocks × reference blocks:
//! each dispatch uploads its blocks (so data larger than GPU memory streams
//! through), and the running result of a query block (k-list, count,
//! log-sum-exp (max, sum)) stays in a storage buffer between the dispatches
//! of its reference blocks, so that blocks merge exactly. The plan also keeps
//! every invocation under lavapipe's silent 65,535-loop-iteration bound on
//! software adapters.
//!
//! Shaders are held as `include_str!` constants in one table ([`SHADERS`]);
//! `shaders/common.wgsl` is prepended to each, and `shaders/ref_scan.wgsl`
//! (the tiled reference loop) to the four query × reference kernels.

mod bin;
pub mod context;
mod kde_lse;
mod knn;
mod pairwise;
mod radius_count;
mod scan;

pub use context::{inject_at_open, Fault, GpuContext, FAULT_ENV};

use super::plan::{
    slice_state_bytes, state_regions, KernelKind, Limits, TilePlan, GPU_MAX_QUERIES_PER_INVOCATION,
    GPU_QUERY_REGISTER_VEC4, GPU_TILE_VEC4, GPU_WORKGROUP_SIZE, LAVAPIPE_LOOP_LIMIT, MAX_K,
    MAX_REF_SLICES,
};
use super::request::{BinRequest, Compute, CountRequest, KdeRequest, KnnRequest, PairwiseRequest};
use super::{Backend, BinOut, KnnOut, Metric};
use crate::error::Result;

/// `shaders/common.wgsl`: constants, parameter structs, helpers.
pub const COMMON_WGSL: &str = include_str!("../../../shaders/common.wgsl");
/// `shaders/ref_scan.wgsl`: the tiled scan over a reference block.
pub const REF_SCAN_WGSL: &str = include_str!("../../../shaders/ref_scan.wgsl");

/// One kernel's shader.
#[derive(Clone, Copy, Debug)]
pub struct ShaderEntry {
    /// The kernel.
    pub kernel: KernelKind,
    /// Its own WGSL (without the preludes).
    pub source: &'static str,
    /// Whether `ref_scan.wgsl` is prepended (query × reference kernels).
    pub scans_refs: bool,
}

/// Every kernel's shader, by name (STYLE.md: one table of `include_str!` constants).
pub const SHADERS: [ShaderEntry; 5] = [
    ShaderEntry {
        kernel: KernelKind::Knn,
        source: include_str!("../../../shaders/knn.wgsl"),
        scans_refs: true,
    },
    ShaderEntry {
        kernel: KernelKind::RadiusCount,
        source: include_str!("../../../shaders/radius_count.wgsl"),
        scans_refs: true,
    },
    ShaderEntry {
        kernel: KernelKind::KdeLse,
        source: include_str!("../../../shaders/kde_lse.wgsl"),
        scans_refs: true,
    },
    ShaderEntry {
        kernel: KernelKind::Bin,
        source: include_str!("../../../shaders/bin.wgsl"),
        scans_refs: false,
    },
    ShaderEntry {
        kernel: KernelKind::Pairwise,
        source: include_str!("../../../shaders/pairwise.wgsl"),
        scans_refs: true,
    },
];

/// The full WGSL of a kernel as compiled: common.wgsl (+ ref_scan.wgsl) + the kernel's file.
pub fn shader_source(kernel: KernelKind) -> String {
    let entry = SHADERS
        .iter()
        .find(|s| s.kernel == kernel)
        .expect("every KernelKind has a shader in SHADERS");
    let mut src = String::from(COMMON_WGSL);
    if entry.scans_refs {
        src.push('\n');
        src.push_str(REF_SCAN_WGSL);
    }
    src.push('\n');
    src.push_str(entry.source);
    src
}

/// Constants the shaders declare in `common.wgsl`, which must equal these
/// host values (checked by `tests/shaders.rs`).
pub const SHADER_CONSTANTS: [(&str, u32); 6] = [
    ("WG_SIZE", GPU_WORKGROUP_SIZE),
    ("TILE_VEC4", GPU_TILE_VEC4 as u32),
    ("MAX_K", MAX_K as u32),
    ("MAX_QPI", GPU_MAX_QUERIES_PER_INVOCATION),
    ("QREG_VEC4", GPU_QUERY_REGISTER_VEC4 as u32),
    ("MAX_SLICES", MAX_REF_SLICES),
];

/// The override constants of `shaders/ref_scan.wgsl`, in the order
/// [`scan_overrides`] gives their values.
pub const SCAN_OVERRIDES: [&str; 3] = ["NORM", "QPI", "QV4"];

/// `NORM` values (`NORM_*` in `shaders/common.wgsl`).
pub const NORM_CHEBYSHEV: u32 = 0;
/// Squared Euclidean over one column block.
pub const NORM_SQ_EUCLIDEAN: u32 = 1;
/// Squared Euclidean per column block, the largest block wins.
pub const NORM_SQ_BLOCKS: u32 = 2;

/// The pipeline constants of one query × reference call: `NORM` (a
/// `NORM_*` value), and the plan's shape as `QPI` and `QV4`.
pub fn scan_overrides(norm: u32, plan: &TilePlan) -> [(&'static str, u32); 3] {
    [
        (SCAN_OVERRIDES[0], norm),
        (SCAN_OVERRIDES[1], plan.shape.queries),
        (SCAN_OVERRIDES[2], plan.shape.register_vec4s),
    ]
}

/// Uniform parameters of one query-block × reference-block dispatch
/// (`PairParams` in `shaders/common.wgsl`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PairParams {
    /// Query rows in this block.
    pub n_q: u32,
    /// Reference rows in this block.
    pub n_r: u32,
    /// Padded row width in vec4.
    pub vec4s: u32,
    /// Global index of the block's first query.
    pub q_offset: u32,
    /// Global index of the block's first reference.
    pub r_offset: u32,
    /// knn: neighbour rank.
    pub k: u32,
    /// 0 Chebyshev, 1 squared Euclidean.
    pub norm: u32,
    /// Number of column blocks.
    pub n_blocks: u32,
    /// 1: skip reference j == query i.
    pub exclude_self: u32,
    /// radius_count: 0 `<`, 1 `<=`.
    pub boundary: u32,
    /// kde_lse: exp(−scale · d).
    pub scale: f32,
    /// Workgroups along x of the (2-D) grid.
    pub groups_x: u32,
    /// Register path: bit c set when a column block starts at vec4 c > 0.
    pub block_starts: u32,
    /// Reference rows per slice (the grid's z is the slice).
    pub slice_rows: u32,
    /// Reference slices, each with its partial state (stride `n_q` queries).
    pub slices: u32,
    /// 1 for a query block's first reference block (knn starts empty lists).
    pub first_block: u32,
}

/// Uniform parameters of one bin dispatch (`BinParams` in `shaders/common.wgsl`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BinParams {
    /// Rows in this block.
    pub n_rows: u32,
    /// Columns.
    pub dim: u32,
    /// 0 equal range, 1 width, 2 edges.
    pub mode: u32,
    /// Equal range: number of bins.
    pub bins: u32,
    /// Equal range: lower end.
    pub lo: f32,
    /// Equal range: bins / (hi − lo), rounded once.
    pub scale: f32,
    /// Width binning: the width.
    pub width: f32,
    /// Width binning: 1 / width, rounded once.
    pub inv_width: f32,
    /// Workgroups along x of the (2-D) grid.
    pub groups_x: u32,
    /// Padding to 16 bytes.
    pub pad0: u32,
    /// Padding.
    pub pad1: u32,
    /// Padding.
    pub pad2: u32,
}

/// Largest single buffer the backend allocates, whatever the device allows:
/// blocks stay small next to GPU memory, so several fit at once and data of
/// any size streams through.
pub const MAX_BLOCK_BYTES: u64 = 256 << 20;

/// Coordinate pairs (query × reference × column) per dispatch: about 2 ms
/// on an H200 (measured at 65,536 × 32), some tens of milliseconds on a
/// laptop GPU, below the display watchdog; fewer, longer dispatches keep the
/// per-dispatch overhead small next to the register-blocked kernels.
const COORD_PAIRS_PER_DISPATCH: u64 = 1 << 32;

/// Safety factor on lavapipe's loop bound. Measured on llvmpipe (LLVM 15):
/// with d = 4 the bound cuts a loop short once the plan's model reaches
/// about 49,000 iterations (the driver counts some loops more than once per
/// trip, and the cut loop is then silently short: references go missing);
/// halving the bound keeps every kernel clear of it in the canary tests.
const LAVAPIPE_SAFETY: u64 = 2;

/// Invocations a dispatch should hold, in units of 8 × the adapter's
/// largest workgroup, by kind of adapter. wgpu does not report the number of
/// cores (SMs, CUs); an H100/H200 (132 SMs × 2,048 threads) reports 1,024
/// invocations per workgroup, so 32 units make 262,144 invocations, about
/// one full wave. Software adapters (lavapipe) run invocations on a few CPU
/// threads: more of them only adds the slices' overhead, so none there.
fn fill_units(device_type: wgpu::DeviceType) -> u64 {
    match device_type {
        wgpu::DeviceType::DiscreteGpu => 32,
        wgpu::DeviceType::IntegratedGpu => 4,
        wgpu::DeviceType::VirtualGpu | wgpu::DeviceType::Other => 8,
        wgpu::DeviceType::Cpu => 0,
    }
}

/// Fewest reference rows of a slice on a hardware adapter: a slice loads its
/// query rows and partial state once per dispatch and adds a merge step, so
/// it should scan at least a workgroup's worth of references.
const MIN_SLICE_ROWS: usize = GPU_WORKGROUP_SIZE as usize;

/// The plan limits for a device of type `device_type`.
pub fn plan_limits(limits: &wgpu::Limits, device_type: wgpu::DeviceType) -> Limits {
    let software = device_type == wgpu::DeviceType::Cpu;
    Limits {
        max_storage_binding_bytes: limits.max_storage_buffer_binding_size.min(MAX_BLOCK_BYTES),
        max_buffer_bytes: limits.max_buffer_size.min(MAX_BLOCK_BYTES),
        max_workgroups_per_dim: limits.max_compute_workgroups_per_dimension,
        workgroup_size: GPU_WORKGROUP_SIZE,
        queries_per_invocation: GPU_MAX_QUERIES_PER_INVOCATION,
        // Only lavapipe needs the bound, but it is harmless on any software adapter.
        max_loop_iterations: if software {
            LAVAPIPE_LOOP_LIMIT / LAVAPIPE_SAFETY
        } else {
            u64::MAX
        },
        max_coord_pairs_per_dispatch: COORD_PAIRS_PER_DISPATCH,
        fill_invocations: 8
            * u64::from(limits.max_compute_invocations_per_workgroup)
            * fill_units(device_type),
        min_slice_rows: MIN_SLICE_ROWS,
    }
}

/// The GPU backend.
pub struct GpuKernels {
    ctx: GpuContext,
    limits: Limits,
}

impl GpuKernels {
    /// Opens an adapter: a hardware one, or with `allow_software` also a software
    /// one (lavapipe). Errors when none exists.
    pub fn new(allow_software: bool) -> Result<Self> {
        let ctx = GpuContext::open(allow_software)?;
        let limits = plan_limits(ctx.limits(), ctx.info().device_type);
        log::info!(
            "GPU backend on {} ({:?}, {:?})",
            ctx.info().name,
            ctx.info().backend,
            ctx.info().device_type
        );
        Ok(GpuKernels { ctx, limits })
    }

    /// As [`GpuKernels::new`] but planning under tighter `limits` (tests use
    /// [`Limits::tiny`] to force many blocks, 2-D grids and merges). Each limit
    /// is capped by the device's, and the workgroup shape is the shaders';
    /// the time budget and the reference-slice settings are taken as given.
    pub fn with_limits(allow_software: bool, limits: Limits) -> Result<Self> {
        let mut g = Self::new(allow_software)?;
        let dev = g.limits.clone();
        g.limits = Limits {
            max_storage_binding_bytes: limits
                .max_storage_binding_bytes
                .min(dev.max_storage_binding_bytes),
            max_buffer_bytes: limits.max_buffer_bytes.min(dev.max_buffer_bytes),
            max_workgroups_per_dim: limits
                .max_workgroups_per_dim
                .min(dev.max_workgroups_per_dim),
            workgroup_size: GPU_WORKGROUP_SIZE,
            queries_per_invocation: limits
                .queries_per_invocation
                .clamp(1, GPU_MAX_QUERIES_PER_INVOCATION),
            max_loop_iterations: limits.max_loop_iterations.min(dev.max_loop_iterations),
            max_coord_pairs_per_dispatch: limits.max_coord_pairs_per_dispatch,
            // as given, so that tests can force reference slices on any adapter
            fill_invocations: limits.fill_invocations,
            min_slice_rows: limits.min_slice_rows,
        };
        Ok(g)
    }

    /// Adapter name and backend.
    pub fn device_name(&self) -> String {
        let i = self.ctx.info();
        format!("{} ({:?})", i.name, i.backend)
    }

    /// The plan limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Test hook: makes the next kernel call meet `fault`.
    #[doc(hidden)]
    pub fn inject_fault(&self, fault: Fault) {
        self.ctx.inject(fault);
    }
}

/// The backend computes checked requests ([`crate::kernels::Kernels`] checks and plans them).
impl Compute for GpuKernels {
    fn backend(&self) -> Backend {
        Backend::Gpu
    }

    fn device_name(&self) -> String {
        GpuKernels::device_name(self)
    }

    fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Rows go to the GPU with every column block padded to whole vec4s.
    fn row_width(&self, metric: &Metric, d: usize) -> usize {
        scan::ColumnLayout::new(metric, d).padded_dim()
    }

    fn knn(&self, req: &KnnRequest<'_>, plan: &TilePlan) -> Result<KnnOut> {
        let layout = scan::ColumnLayout::new(&req.spec().metric, req.q().d());
        self.ctx.scoped("knn", || {
            knn::knn(&self.ctx, plan, &layout, req.q(), req.r(), req.spec())
        })
    }

    fn radius_count(&self, req: &CountRequest<'_>, plan: &TilePlan) -> Result<Vec<u32>> {
        let layout = scan::ColumnLayout::new(&req.spec().metric, req.q().d());
        self.ctx.scoped("radius_count", || {
            radius_count::radius_count(&self.ctx, plan, &layout, req)
        })
    }

    fn kde_lse(&self, req: &KdeRequest<'_>, plan: &TilePlan) -> Result<Vec<f32>> {
        let layout = scan::ColumnLayout::new(req.metric(), req.q().d());
        self.ctx.scoped("kde_lse", || {
            kde_lse::kde_lse(&self.ctx, plan, &layout, req)
        })
    }

    fn bin(&self, req: &BinRequest<'_>, plan: &TilePlan) -> Result<BinOut> {
        self.ctx.scoped("bin", || {
            bin::bin(&self.ctx, plan, req.rows(), req.binning())
        })
    }

    fn pairwise(&self, req: &PairwiseRequest<'_>, plan: &TilePlan) -> Result<Vec<f32>> {
        let layout = scan::ColumnLayout::new(req.metric(), req.q().d());
        self.ctx.scoped("pairwise", || {
            pairwise::pairwise(&self.ctx, plan, &layout, req.q(), req.r())
        })
    }
}

/// Upper bound on the device bytes of the per-query partial states a call
/// of `kernel` keeps for `n_query` queries (`k` neighbours for knn): with
/// reference slices up to [`MAX_REF_SLICES`] regions per state buffer (one
/// more for knn's merged lists), each buffer within one binding of
/// [`MAX_BLOCK_BYTES`], and never less than one region. knn keeps two
/// buffers (distances, indices), kde_lse one, the other kernels none.
pub fn state_bytes(kernel: KernelKind, n_query: usize, k: usize) -> u64 {
    let buffers = match kernel {
        KernelKind::Knn => 2,
        KernelKind::KdeLse => 1,
        _ => 0,
    };
    let region = (n_query as u64).saturating_mul(slice_state_bytes(kernel, k));
    region
        .saturating_mul(state_regions(kernel, MAX_REF_SLICES))
        .min(MAX_BLOCK_BYTES)
        .max(region)
        .saturating_mul(buffers)
}

/// One adapter as `infoplane devices` shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AdapterInfo {
    /// Adapter name ("NVIDIA H100", "llvmpipe (LLVM 15.0.6, 256 bits)").
    pub name: String,
    /// Graphics API ("Vulkan", "Metal", "Dx12").
    pub backend: String,
    /// "DiscreteGpu", "IntegratedGpu", "VirtualGpu", "Cpu" (software), "Other".
    pub device_type: String,
    /// Driver name.
    pub driver: String,
    /// Driver version text.
    pub driver_info: String,
    /// A software rasteriser (lavapipe/llvmpipe, WARP, SwiftShader).
    pub is_software: bool,
    /// Whether `--backend auto` would pick this adapter.
    pub auto_pick: bool,
    /// Largest storage-buffer binding, bytes.
    pub max_storage_binding_bytes: u64,
    /// Largest buffer, bytes.
    pub max_buffer_bytes: u64,
    /// Largest workgroup count per dispatch dimension.
    pub max_workgroups_per_dim: u32,
    /// Workgroup (shared) memory, bytes.
    pub max_workgroup_storage_bytes: u32,
    /// Invocations per workgroup.
    pub max_invocations_per_workgroup: u32,
}

/// Every adapter on the native backends (Vulkan, Metal, DX12), hardware and software.
pub fn list_adapters() -> Vec<AdapterInfo> {
    let instance = context::instance();
    let adapters = context::adapters(&instance);
    let infos: Vec<_> = adapters.iter().map(|a| a.get_info()).collect();
    let auto = context::pick(&infos, false);
    adapters
        .iter()
        .zip(&infos)
        .enumerate()
        .map(|(n, (a, i))| {
            let l = a.limits();
            AdapterInfo {
                name: i.name.clone(),
                backend: format!("{:?}", i.backend),
                device_type: format!("{:?}", i.device_type),
                driver: i.driver.clone(),
                driver_info: i.driver_info.clone(),
                is_software: context::is_software(i),
                auto_pick: auto == Some(n),
                max_storage_binding_bytes: l.max_storage_buffer_binding_size,
                max_buffer_bytes: l.max_buffer_size,
                max_workgroups_per_dim: l.max_compute_workgroups_per_dimension,
                max_workgroup_storage_bytes: l.max_compute_workgroup_storage_size,
                max_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
            }
        })
        .collect()
}
