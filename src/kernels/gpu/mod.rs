//! The GPU backend: the WGSL shaders in `shaders/` run through `wgpu`.
//!
//! (Being built: until then every constructor reports that no adapter is available.)

use super::{Backend, BinOut, Binning, CountSpec, Kernels, KnnOut, KnnSpec, Metric, Rows};
use crate::error::{Error, Result};

/// The GPU backend.
pub struct GpuKernels {
    name: String,
}

impl GpuKernels {
    /// Opens an adapter: a hardware one, or with `allow_software` also a software
    /// one (lavapipe). Errors when none exists.
    pub fn new(allow_software: bool) -> Result<Self> {
        let _ = allow_software;
        Err(Error::NoAdapter("the GPU backend is not built yet".into()))
    }

    /// Adapter name and backend.
    pub fn device_name(&self) -> String {
        self.name.clone()
    }

    fn unavailable(kernel: &'static str) -> Error {
        Error::Device {
            kernel,
            reason: "not available".into(),
        }
    }
}

impl Kernels for GpuKernels {
    fn backend(&self) -> Backend {
        Backend::Gpu
    }
    fn knn(&self, _q: Rows<'_>, _r: Rows<'_>, _spec: &KnnSpec) -> Result<KnnOut> {
        Err(Self::unavailable("knn"))
    }
    fn radius_count(
        &self,
        _q: Rows<'_>,
        _r: Rows<'_>,
        _radii: &[f32],
        _spec: &CountSpec,
    ) -> Result<Vec<u32>> {
        Err(Self::unavailable("radius_count"))
    }
    fn kde_lse(
        &self,
        _q: Rows<'_>,
        _r: Rows<'_>,
        _scale: f32,
        _exclude_self: bool,
    ) -> Result<Vec<f32>> {
        Err(Self::unavailable("kde_lse"))
    }
    fn bin(&self, _rows: Rows<'_>, _binning: &Binning) -> Result<BinOut> {
        Err(Self::unavailable("bin"))
    }
    fn pairwise(&self, _q: Rows<'_>, _r: Rows<'_>, _metric: &Metric) -> Result<Vec<f32>> {
        Err(Self::unavailable("pairwise"))
    }
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
    Vec::new()
}
