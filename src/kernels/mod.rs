//! The five kernels every estimator stands on, and the backends that run them.
//!
//! Each kernel has one name across `shaders/<name>.wgsl`,
//! `src/kernels/cpu/<name>.rs` and `src/kernels/gpu/<name>.rs`. The CPU twin is
//! the reference: same tiles (from [`plan::TilePlan`]), same f32 arithmetic,
//! same boundary rules. Max-norm (Chebyshev) distances are exact in f32 (one
//! rounded subtraction, an abs, a max), so k-th distances and counts are
//! bit-identical between the backends; squared-Euclidean sums may differ in
//! the last bits (summation order), see [`tolerance`].
//!
//! Estimators talk to a [`Kernels`] implementation ([`Engine`]) and never know
//! which backend ran.

pub mod cpu;
pub mod gpu;
pub mod plan;
mod request;

pub use request::check_k;

use crate::error::{Error, Result};
use request::{Compute, Execute, Request};

/// Named tolerances for comparing the two backends (STYLE.md rule 8).
pub mod tolerance {
    /// Chebyshev distances and all counts: identical to the bit.
    pub const EXACT: f32 = 0.0;
    /// Relative tolerance for squared-Euclidean distances summed in a
    /// different order (d up to 4096 terms, each rounding at most 2^-24).
    pub const F32_SUM: f32 = 1e-5;
    /// Tolerance for `kde_lse` values, relative to `max(1, |value|)`: a
    /// log-sum-exp's error is the relative error of the sum, so it is absolute near 0.
    pub const KDE_LSE: f32 = 1e-5;
}

/// A borrowed row-major `n × d` matrix of f32 (the layout of [`crate::data::Dataset`]).
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a> {
    data: &'a [f32],
    n: usize,
    d: usize,
}

impl<'a> Rows<'a> {
    /// Wraps `data` as `n` rows of `d` columns. `d` must be at least 1 and
    /// `data.len()` must be `n * d`.
    pub fn new(data: &'a [f32], n: usize, d: usize) -> Result<Self> {
        if d == 0 {
            return Err(Error::shape("rows", "at least one column", "0 columns"));
        }
        if n.checked_mul(d) != Some(data.len()) {
            return Err(Error::shape(
                "rows",
                format!("{n} × {d} = {} values", n.saturating_mul(d)),
                format!("{} values", data.len()),
            ));
        }
        Ok(Rows { data, n, d })
    }
    /// Number of rows.
    pub fn n(&self) -> usize {
        self.n
    }
    /// Number of columns.
    pub fn d(&self) -> usize {
        self.d
    }
    /// The whole buffer, row-major.
    pub fn data(&self) -> &'a [f32] {
        self.data
    }
    /// Row `i`.
    pub fn row(&self, i: usize) -> &'a [f32] {
        &self.data[i * self.d..(i + 1) * self.d]
    }
    /// Rows `start..end` as a new view.
    pub fn slice(&self, start: usize, end: usize) -> Rows<'a> {
        Rows {
            data: &self.data[start * self.d..end * self.d],
            n: end - start,
            d: self.d,
        }
    }
}

/// The norm used inside one column block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Norm {
    /// max_c |a_c − b_c| (the KSG / NPEET / scikit-learn / JIDT convention).
    Chebyshev,
    /// Σ_c (a_c − b_c)², summed in column order on the CPU.
    SqEuclidean,
}

/// A distance: the maximum over column blocks of each block's norm.
///
/// With no blocks the whole row is one block. For Chebyshev, blocks change
/// nothing (a max of maxes) and are dropped. For squared Euclidean,
/// `dist(a, b) = max_b Σ_{c ∈ block b} (a_c − b_c)²`, the joint space of KSG
/// with each marginal keeping its own norm. A metric is data, not a shader.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Metric {
    norm: Norm,
    /// Exclusive end column of each block, strictly increasing; empty = one block.
    block_ends: Vec<usize>,
}

impl Metric {
    /// Max-norm over all columns.
    pub fn chebyshev() -> Self {
        Metric {
            norm: Norm::Chebyshev,
            block_ends: Vec::new(),
        }
    }
    /// Squared Euclidean over all columns.
    pub fn sq_euclidean() -> Self {
        Metric {
            norm: Norm::SqEuclidean,
            block_ends: Vec::new(),
        }
    }
    /// Max over consecutive column blocks of the given widths, each under `norm`.
    pub fn blocks(norm: Norm, widths: &[usize]) -> Result<Self> {
        if widths.contains(&0) {
            return Err(Error::param(
                "metric",
                "every column block needs at least one column",
            ));
        }
        if norm == Norm::Chebyshev || widths.len() <= 1 {
            return Ok(Metric {
                norm,
                block_ends: Vec::new(),
            });
        }
        let mut end = 0;
        let block_ends = widths
            .iter()
            .map(|w| {
                end += w;
                end
            })
            .collect();
        Ok(Metric { norm, block_ends })
    }
    /// The norm within blocks.
    pub fn norm(&self) -> Norm {
        self.norm
    }
    /// Exclusive block ends for rows of `d` columns (always at least one block).
    pub fn block_ends(&self, d: usize) -> Vec<usize> {
        if self.block_ends.is_empty() {
            vec![d]
        } else {
            self.block_ends.clone()
        }
    }
    /// Checks that the blocks cover exactly `d` columns.
    pub fn check_dim(&self, d: usize) -> Result<()> {
        match self.block_ends.last() {
            Some(&end) if end != d => Err(Error::shape(
                "metric column blocks",
                format!("blocks covering {d} columns"),
                format!("blocks covering {end} columns"),
            )),
            _ => Ok(()),
        }
    }
    /// Reference distance between two rows in f32, in the order the CPU twins use.
    pub fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        match self.norm {
            Norm::Chebyshev => a
                .iter()
                .zip(b)
                .fold(0.0f32, |m, (x, y)| m.max((x - y).abs())),
            Norm::SqEuclidean => {
                let mut start = 0;
                let mut best = 0.0f32;
                for end in self.block_ends(a.len()) {
                    let s: f32 = a[start..end]
                        .iter()
                        .zip(&b[start..end])
                        .map(|(x, y)| (x - y) * (x - y))
                        .sum();
                    best = best.max(s);
                    start = end;
                }
                best
            }
        }
    }
}

/// Which references a radius count includes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Boundary {
    /// dist < radius (KSG-1 marginal counts; faiss `range_search`).
    Less,
    /// dist <= radius (KSG-2 marginal counts).
    LessEqual,
}

impl Boundary {
    /// Whether `dist` counts against `radius`.
    #[inline]
    pub fn admits(self, dist: f32, radius: f32) -> bool {
        match self {
            Boundary::Less => dist < radius,
            Boundary::LessEqual => dist <= radius,
        }
    }
}

/// What [`Kernels::knn`] computes.
#[derive(Clone, Debug)]
pub struct KnnSpec {
    /// Which neighbour (1-based): the k-th nearest. 1 ≤ k ≤ 64 … see [`plan::MAX_K`].
    pub k: usize,
    /// Distance.
    pub metric: Metric,
    /// Query set and reference set are the same rows: query i never sees reference i.
    pub exclude_self: bool,
    /// Also return the k indices of the neighbours.
    pub want_indices: bool,
}

/// Output of [`Kernels::knn`].
#[derive(Clone, Debug, PartialEq)]
pub struct KnnOut {
    /// Per query: distance to its k-th nearest reference (squared for `SqEuclidean`).
    pub kth: Vec<f32>,
    /// When asked: per query, k reference indices in ascending distance,
    /// ties broken by the lower index (`n_query × k`, row-major).
    pub indices: Option<Vec<u32>>,
}

/// What [`Kernels::radius_count`] counts.
#[derive(Clone, Debug)]
pub struct CountSpec {
    /// Distance (compared with the radius in the same units: squared for `SqEuclidean`).
    pub metric: Metric,
    /// `<` or `<=`.
    pub boundary: Boundary,
    /// Query set and reference set are the same rows: reference i is not counted for query i.
    pub exclude_self: bool,
}

/// How [`Kernels::bin`] maps a value to a bin index.
#[derive(Clone, Debug, PartialEq)]
pub enum Binning {
    /// `bins` equal bins on `[lo, hi]`: `clamp(floor((t − lo) · (bins / (hi − lo))), 0, bins − 1)`,
    /// with `bins / (hi − lo)` rounded once to f32 on the host.
    EqualRange {
        /// Lower end.
        lo: f32,
        /// Upper end (> lo).
        hi: f32,
        /// Number of bins (≥ 1).
        bins: u32,
    },
    /// `floor(t / width)` (Saxe et al. 2018), may be negative.
    Width {
        /// Bin width (> 0).
        width: f32,
    },
    /// Per-column sorted cut points: index = number of cut points `<= t`
    /// (adaptive equal-mass bins, Chelombiev et al. 2019).
    Edges {
        /// `edges[c]` are the cut points of column c, ascending.
        edges: Vec<Vec<f32>>,
    },
}

impl Binning {
    /// The host-side constants `(bins / (hi − lo), 1 / width)`, rounded to f32
    /// once; both twins multiply by exactly these (shaders never divide).
    pub fn constants(&self) -> (f32, f32) {
        match self {
            Binning::EqualRange { lo, hi, bins } => (*bins as f32 / (hi - lo), 0.0),
            Binning::Width { width } => (0.0, 1.0 / width),
            Binning::Edges { .. } => (0.0, 0.0),
        }
    }
}

/// Output of [`Kernels::bin`].
#[derive(Clone, Debug, PartialEq)]
pub struct BinOut {
    /// Per row and column: bin index (`n × d`, row-major).
    pub indices: Vec<i32>,
    /// Per row: 64-bit key of the whole index vector ([`pattern_key`]).
    pub keys: Vec<u64>,
}

#[inline]
fn mix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// The 64-bit key of a row's bin-index vector, identical in `shaders/bin.wgsl`:
/// two 32-bit lanes, each `h = mix32(rotl(h, r) ^ v ^ salt)` per index, where
/// mix32 is the murmur3 finaliser. Keys group patterns; equal vectors always
/// have equal keys, and estimators confirm equal keys with the indices.
pub fn pattern_key(indices: &[i32]) -> u64 {
    let mut lo: u32 = 0x9e37_79b9;
    let mut hi: u32 = 0x7f4a_7c15 ^ (indices.len() as u32);
    for &v in indices {
        let v = v as u32;
        lo = mix32(lo.rotate_left(5) ^ v);
        hi = mix32(hi.rotate_left(7) ^ v ^ 0x27d4_eb2f);
    }
    ((hi as u64) << 32) | lo as u64
}

/// Which backend ran a kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The Rust CPU twins.
    Cpu,
    /// The WGSL shaders through wgpu.
    Gpu,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Cpu => "cpu",
            Backend::Gpu => "gpu",
        })
    }
}

/// What the user asked for (`--backend auto|gpu|cpu`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// A hardware adapter if there is one, else the CPU twins (logged).
    #[default]
    Auto,
    /// Any adapter, software (lavapipe) included; an error if there is none.
    Gpu,
    /// The CPU twins.
    Cpu,
}

impl std::str::FromStr for BackendChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(BackendChoice::Auto),
            "gpu" => Ok(BackendChoice::Gpu),
            "cpu" => Ok(BackendChoice::Cpu),
            other => Err(Error::param(
                "backend",
                format!("expected auto, gpu or cpu, got `{other}`"),
            )),
        }
    }
}

/// The kernel operations. Implemented by the CPU twins, the GPU backend and [`Engine`].
///
/// Inputs are assumed finite (a [`crate::data::Dataset`] guarantees it).
/// Every method validates shapes and returns an error, never panics: the
/// backends and the [`Engine`] check every call once, with one message per
/// rule, and plan it with one [`plan::TilePlan`] before they compute.
pub trait Kernels: Send + Sync {
    /// Which backend this is.
    fn backend(&self) -> Backend;

    /// A name for the device that runs the kernels (estimates report it).
    fn device_name(&self) -> String {
        self.backend().to_string()
    }

    /// For each query row: the distance to its k-th nearest reference row.
    ///
    /// Contract: with `exclude_self`, query i and reference i are the same point
    /// (`q.n() == r.n()`) and i is skipped. Requires `1 <= k <= n_ref` (minus one
    /// with `exclude_self`). Indices (when asked) are in ascending distance, ties
    /// broken by the lower reference index; distances for `SqEuclidean` are squared.
    fn knn(&self, q: Rows<'_>, r: Rows<'_>, spec: &KnnSpec) -> Result<KnnOut>;

    /// For each query row i: the number of reference rows j with
    /// `dist(q_i, r_j)` `<` (or `<=`) `radii[i]`, skipping j = i with `exclude_self`.
    fn radius_count(
        &self,
        q: Rows<'_>,
        r: Rows<'_>,
        radii: &[f32],
        spec: &CountSpec,
    ) -> Result<Vec<u32>>;

    /// For each query row: `log Σ_j exp(−scale · ‖q − r_j‖²)` (squared Euclidean),
    /// computed with a running maximum; `−inf` when no reference is left
    /// (one row with `exclude_self`). For a Gaussian kernel of variance σ², `scale = 1/(2σ²)`.
    fn kde_lse(&self, q: Rows<'_>, r: Rows<'_>, scale: f32, exclude_self: bool)
        -> Result<Vec<f32>>;

    /// Bin indices of every value and the pattern key of every row.
    fn bin(&self, rows: Rows<'_>, binning: &Binning) -> Result<BinOut>;

    /// The full `n_q × n_r` matrix of distances (row-major), for diagnostics.
    fn pairwise(&self, q: Rows<'_>, r: Rows<'_>, metric: &Metric) -> Result<Vec<f32>>;
}

/// For tests: a GPU engine on any adapter (lavapipe included), or `None` after
/// a loud `SKIPPED` line when there is none. With `INFOPLANE_REQUIRE_GPU=1`
/// (set by `scripts/test.sh`, so in CI) a missing adapter fails the test instead.
#[doc(hidden)]
pub fn gpu_engine_for_tests(test: &str) -> Option<Engine> {
    match Engine::new(BackendChoice::Gpu) {
        Ok(e) => Some(e),
        Err(e) => {
            if std::env::var("INFOPLANE_REQUIRE_GPU").is_ok_and(|v| v == "1") {
                panic!("{test}: INFOPLANE_REQUIRE_GPU=1 but no GPU adapter: {e}");
            }
            eprintln!("SKIPPED {test} on the GPU: no adapter ({e}); install mesa-vulkan-drivers for lavapipe");
            None
        }
    }
}

/// The engine the estimators use: one backend, chosen once.
///
/// Under `--backend auto` a GPU engine keeps the CPU twins beside it: when the
/// device fails (lost, out of memory, a problem the plan cannot tile), the
/// engine logs why, switches to the CPU for good, and finishes the call there,
/// with the CPU's result. An explicit `--backend gpu` reports the error instead.
pub struct Engine {
    inner: EngineInner,
    fallback: Option<cpu::CpuKernels>,
    fell_back: std::sync::atomic::AtomicBool,
}

enum EngineInner {
    Cpu(cpu::CpuKernels),
    Gpu(Box<gpu::GpuKernels>),
}

impl Engine {
    fn from_inner(inner: EngineInner, fallback: Option<cpu::CpuKernels>) -> Self {
        Engine {
            inner,
            fallback,
            fell_back: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The CPU twins with the default (cache-sized) plan limits.
    pub fn cpu() -> Self {
        Engine::from_inner(EngineInner::Cpu(cpu::CpuKernels::new()), None)
    }

    /// The engine for a user's choice. `Auto` takes a hardware adapter when one
    /// exists and falls back to the CPU otherwise (logged), also later if the
    /// device fails; `Gpu` takes any adapter, software included, and is an
    /// error without one.
    pub fn new(choice: BackendChoice) -> Result<Self> {
        match choice {
            BackendChoice::Cpu => Ok(Engine::cpu()),
            BackendChoice::Gpu => Ok(Engine::from_inner(
                EngineInner::Gpu(Box::new(gpu::GpuKernels::new(true)?)),
                None,
            )),
            BackendChoice::Auto => match gpu::GpuKernels::new(false) {
                Ok(g) => Ok(Engine::with_cpu_fallback(g)),
                Err(e @ Error::NoAdapter(_)) => {
                    log::info!("backend auto: using the CPU twins ({e})");
                    Ok(Engine::cpu())
                }
                // A failure, not an absence: said at the default log level.
                Err(e) => {
                    log::warn!("backend auto: {e}; falling back to the CPU twins");
                    Ok(Engine::cpu())
                }
            },
        }
    }

    /// A GPU engine that falls back to the CPU twins when the device fails
    /// (what `Auto` builds; public so tests can build it on a software adapter).
    #[doc(hidden)]
    pub fn with_cpu_fallback(gpu: gpu::GpuKernels) -> Self {
        Engine::from_inner(
            EngineInner::Gpu(Box::new(gpu)),
            Some(cpu::CpuKernels::new()),
        )
    }

    /// Test hook: the GPU meets `fault` on its next call (no effect on the CPU).
    /// [`gpu::Fault::AdapterRequest`] strikes the next engine opened on this
    /// thread instead ([`gpu::inject_at_open`]), whatever this engine runs on.
    #[doc(hidden)]
    pub fn inject_fault(&self, fault: gpu::Fault) {
        match (&self.inner, fault) {
            (_, gpu::Fault::AdapterRequest) => gpu::inject_at_open(fault),
            (EngineInner::Gpu(g), _) => g.inject_fault(fault),
            (EngineInner::Cpu(_), _) => {}
        }
    }

    /// A name for the device that runs the kernels (adapter name, or the CPU).
    pub fn device_name(&self) -> String {
        self.current().device_name()
    }

    /// The backend that runs the next call: the CPU twins once the engine fell back.
    fn current(&self) -> &dyn Compute {
        if self.fell_back.load(std::sync::atomic::Ordering::Acquire) {
            if let Some(cpu) = &self.fallback {
                return cpu;
            }
        }
        match &self.inner {
            EngineInner::Cpu(c) => c,
            EngineInner::Gpu(g) => g.as_ref(),
        }
    }

    /// Plans and runs a checked request on the current backend; on a device
    /// or planning failure with a fallback in place, logs it and runs the
    /// same request (planned again, for the CPU) on the CPU twins from then on.
    fn run<R: Request>(&self, req: &R) -> Result<R::Out> {
        match req.run(self.current()) {
            Err(
                e @ (Error::Device { .. }
                | Error::Plan { .. }
                | Error::NoAdapter(_)
                | Error::AdapterRequest(_)),
            ) if self.fallback.is_some()
                && !self.fell_back.load(std::sync::atomic::Ordering::Acquire) =>
            {
                log::warn!(
                    "backend auto: `{}` failed on the GPU ({e}); continuing on the CPU twins",
                    R::KERNEL.name()
                );
                self.fell_back
                    .store(true, std::sync::atomic::Ordering::Release);
                req.run(self.current())
            }
            other => other,
        }
    }
}

/// Calls are checked once (by the one [`Kernels`] implementation) and run
/// by [`Engine::run`].
impl Execute for Engine {
    fn backend(&self) -> Backend {
        self.current().backend()
    }
    fn device_name(&self) -> String {
        Engine::device_name(self)
    }
    fn execute<R: Request>(&self, req: &R) -> Result<R::Out> {
        self.run(req)
    }
}
